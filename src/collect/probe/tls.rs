//! TLS for probes (rustls), the TLS metrics, and reading a certificate's
//! expiry out of its DER encoding.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::{ProbeError, Recorder};

/// TLS settings of a module (blackbox_exporter's `tls_config`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Accept any certificate (expiry is still reported).
    pub insecure_skip_verify: bool,
    /// PEM file of CA certificates to trust instead of the built-in web roots.
    pub ca_file: Option<PathBuf>,
    /// Name to verify the certificate against (and send as SNI) instead of the target's host.
    pub server_name: Option<String>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls client configuration once per probe module.
pub(crate) fn client_config(cfg: &TlsConfig) -> Result<Arc<ClientConfig>, ProbeError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ProbeError::TlsConfig(e.to_string()))?;
    let config = if cfg.insecure_skip_verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(provider()))).with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        match &cfg.ca_file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| ProbeError::TlsConfig(format!("reading ca_file {}: {e}", path.display())))?;
                for c in certs {
                    let c = c.map_err(|e| ProbeError::TlsConfig(format!("parsing ca_file {}: {e}", path.display())))?;
                    roots.add(c).map_err(|e| {
                        ProbeError::TlsConfig(format!("certificate in ca_file {}: {e}", path.display()))
                    })?;
                }
                if roots.is_empty() {
                    return Err(ProbeError::TlsConfig(format!("ca_file {} holds no certificate", path.display())));
                }
            }
            None => {
                roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// For `insecure_skip_verify`: checks signatures (so the handshake is sound)
/// but not the certificate chain or name.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Performs the handshake over `io` and records the TLS metrics.
pub(crate) async fn handshake<IO: AsyncRead + AsyncWrite + Unpin>(
    config: &Arc<ClientConfig>,
    cfg: &TlsConfig,
    host: &str,
    io: IO,
    rec: &mut Recorder,
) -> Result<TlsStream<IO>, ProbeError> {
    let name = cfg.server_name.as_deref().unwrap_or(host);
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    let server_name = ServerName::try_from(bare.to_string())
        .map_err(|e| ProbeError::TlsConfig(format!("invalid server name {name:?}: {e}")))?;
    let stream = TlsConnector::from(Arc::clone(config))
        .connect(server_name, io)
        .await
        .map_err(|source| ProbeError::Tls { host: name.to_string(), source })?;
    let conn = stream.get_ref().1;
    if let Some(certs) = conn.peer_certificates() {
        if let Some(earliest) = certs.iter().filter_map(|c| not_after(c.as_ref())).min() {
            rec.set("probe_ssl_earliest_cert_expiry", "Returns last SSL chain expiry in unixtime", earliest as f64);
        }
    }
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
        _ => "unknown",
    };
    rec.set_with(
        "probe_tls_version_info",
        "Returns the TLS version used or NaN when unknown",
        &[("version", version)],
        1.0,
    );
    Ok(stream)
}

/// One DER element: (tag, contents, rest).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The notAfter of an X.509 certificate, as Unix seconds.
pub(crate) fn not_after(cert: &[u8]) -> Option<i64> {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version?, serial,
    //   signature, issuer, validity SEQUENCE { notBefore, notAfter }, … }, … }
    let (0x30, cert, _) = der(cert)? else { return None };
    let (0x30, mut tbs, _) = der(cert)? else { return None };
    let (tag, _, rest) = der(tbs)?;
    if tag == 0xa0 {
        tbs = rest; // explicit version present
        let (0x02, _, rest) = der(tbs)? else { return None };
        tbs = rest;
    } else if tag == 0x02 {
        tbs = rest;
    } else {
        return None;
    }
    let (0x30, _, rest) = der(tbs)? else { return None }; // signature algorithm
    let (0x30, _, rest) = der(rest)? else { return None }; // issuer
    let (0x30, validity, _) = der(rest)? else { return None };
    let (_, _, rest) = der(validity)?; // notBefore
    let (tag, time, _) = der(rest)?;
    parse_asn1_time(tag, time)
}

/// UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) to Unix seconds.
fn parse_asn1_time(tag: u8, t: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(t).ok()?.strip_suffix('Z')?;
    if !s.is_ascii() {
        return None; // also keeps the byte slicing below on char boundaries
    }
    let (year, rest) = match tag {
        0x17 if s.len() == 12 => {
            let yy: i64 = s[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        0x18 if s.len() == 14 => (s[..4].parse().ok()?, &s[4..]),
        _ => return None,
    };
    let num = |r: std::ops::Range<usize>| rest.get(r).and_then(|x| x.parse::<i64>().ok());
    let (mo, d, h, mi, se) = (num(0..2)?, num(2..4)?, num(4..6)?, num(6..8)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(year, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER_DER: &[u8] = include_bytes!("testdata/server.der");
    const CA_DER: &[u8] = include_bytes!("testdata/ca.der");

    #[test]
    fn not_after_of_test_certificates() {
        // Values from `openssl x509 -noout -enddate` when the fixtures were made.
        assert_eq!(not_after(SERVER_DER), Some(2_110_647_851));
        assert_eq!(not_after(CA_DER), Some(2_426_007_851));
        assert_eq!(not_after(&SERVER_DER[..100]), None);
        assert_eq!(not_after(b"not a certificate"), None);
    }

    #[test]
    fn asn1_times() {
        assert_eq!(parse_asn1_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(parse_asn1_time(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(parse_asn1_time(0x18, b"20500101000000Z"), Some(2_524_608_000));
        assert_eq!(parse_asn1_time(0x18, b"20501301000000Z"), None);
        assert_eq!(parse_asn1_time(0x17, b"7001010000Z"), None);
        assert_eq!(parse_asn1_time(0x17, "7é0101000000Z".as_bytes()), None);
    }

    #[test]
    fn ca_file_errors_name_the_file() {
        let cfg = TlsConfig { ca_file: Some("/nonexistent/ca.pem".into()), ..TlsConfig::default() };
        let e = client_config(&cfg).err().unwrap().to_string();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}
