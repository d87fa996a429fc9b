//! HTTPS: a listener that completes TLS handshakes (rustls) off the accept
//! loop, with the certificate and key read from PEM files and re-read when
//! either file changes (checked at most once a second, on handshakes).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or parsed.
    #[error("{path}: {why}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn file_err(path: &Path, why: impl ToString) -> TlsError {
    TlsError::File { path: path.to_path_buf(), why: why.to_string() }
}

/// Loads a PEM certificate chain and private key.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_err(cert, format!("cannot read certificates: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(cert, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_err(cert, "no CERTIFICATE block found"));
    }
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, format!("no usable private key: {e}")))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key_der)
        .map_err(|e| file_err(key, format!("unsupported private key: {e}")))?;
    Ok(CertifiedKey::new(certs, signer))
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Serves the current certificate, reloading it when its files change.
/// A broken new pair is logged and the previous one kept.
#[derive(Debug)]
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// (last check, modification times seen).
    seen: Mutex<(Instant, Option<SystemTime>, Option<SystemTime>)>,
}

impl ReloadingCert {
    /// Loads the pair now (an error here stops start-up).
    pub fn new(cert: &Path, key: &Path) -> Result<ReloadingCert, TlsError> {
        let ck = load_certified_key(cert, key)?;
        Ok(ReloadingCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Arc::new(ck)),
            seen: Mutex::new((Instant::now(), modified(cert), modified(key))),
        })
    }

    /// Re-reads the files if they changed since the last look (at most once a second).
    pub fn refresh(&self) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.0.elapsed() < Duration::from_secs(1) {
            return;
        }
        seen.0 = Instant::now();
        let (c, k) = (modified(&self.cert), modified(&self.key));
        if (c, k) == (seen.1, seen.2) {
            return;
        }
        match load_certified_key(&self.cert, &self.key) {
            Ok(ck) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ck);
                (seen.1, seen.2) = (c, k);
                tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
            }
            // Half-written files are common during renewal: keep the old pair and retry next time.
            Err(e) => tracing::warn!(error = %e, "TLS certificate not reloaded; keeping the previous one"),
        }
    }

    fn get(&self) -> Arc<CertifiedKey> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        Some(self.get())
    }
}

/// A server config (HTTP/1.1) around a reloading certificate.
pub fn server_config(cert: Arc<ReloadingCert>) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// How long a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An axum listener yielding TLS streams. Handshakes run in their own
/// tasks, so a slow client never holds up the others.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Wraps a bound TCP listener.
    pub fn new(tcp: TcpListener, config: rustls::ServerConfig) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    break;
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The accept task is gone only when the runtime shuts down.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
    }

    #[test]
    fn loads_pem_and_reports_bad_files() {
        assert!(load_certified_key(&testdata("a.crt"), &testdata("a.key")).is_ok());
        let e = load_certified_key(&testdata("a.key"), &testdata("a.key")).unwrap_err().to_string();
        assert!(e.contains("a.key") && e.contains("CERTIFICATE"), "{e}");
        let e = load_certified_key(&testdata("a.crt"), &testdata("missing.key")).unwrap_err().to_string();
        assert!(e.contains("missing.key"), "{e}");
    }

    #[test]
    fn reloads_when_the_files_change_and_keeps_the_old_pair_when_broken() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::copy(testdata("a.crt"), &cert).unwrap();
        std::fs::copy(testdata("a.key"), &key).unwrap();
        let r = ReloadingCert::new(&cert, &key).unwrap();
        let first = r.get().cert[0].clone();
        // A broken write is ignored.
        std::fs::write(&cert, "garbage").unwrap();
        r.seen.lock().unwrap().0 -= Duration::from_secs(2);
        r.refresh();
        assert_eq!(r.get().cert[0], first);
        // A new valid pair is picked up.
        std::fs::copy(testdata("b.crt"), &cert).unwrap();
        std::fs::copy(testdata("b.key"), &key).unwrap();
        let later = SystemTime::now() + Duration::from_secs(5);
        for p in [&cert, &key] {
            std::fs::File::options().write(true).open(p).unwrap().set_modified(later).unwrap();
        }
        r.seen.lock().unwrap().0 -= Duration::from_secs(2);
        r.refresh();
        assert_ne!(r.get().cert[0], first);
    }
}
