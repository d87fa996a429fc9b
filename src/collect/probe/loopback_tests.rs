//! Probes against small servers on 127.0.0.1 (HTTP, HTTPS, TCP, DNS over UDP and TCP).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};

use super::testutil::{module, value};
use super::*;

const SERVER_DER: &[u8] = include_bytes!("testdata/server.der");
const CA_DER: &[u8] = include_bytes!("testdata/ca.der");
const KEY_DER: &[u8] = include_bytes!("testdata/server.key.der");
/// notAfter of testdata/server.der (the CA outlives it).
const SERVER_NOT_AFTER: f64 = 2_110_647_851.0;

fn ca_path() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/src/collect/probe/testdata/ca.pem").to_string()
}

fn acceptor() -> tokio_rustls::TlsAcceptor {
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(SERVER_DER.to_vec()), CertificateDer::from(CA_DER.to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(KEY_DER.to_vec())),
        )
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

/// Answers by path: /ok, /chunked, /redirect, /missing, /slow.
async fn serve_http<S: AsyncRead + AsyncWrite + Unpin>(stream: S) {
    let mut r = BufReader::new(stream);
    let mut first = String::new();
    if r.read_line(&mut first).await.is_err() {
        return;
    }
    let mut authorization = None;
    loop {
        let mut line = String::new();
        match r.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {
                if let Some(v) = line.strip_prefix("Authorization: ") {
                    authorization = Some(v.trim().to_string());
                }
            }
        }
    }
    let path = first.split(' ').nth(1).unwrap_or("/").to_string();
    let resp: Vec<u8> = match path.as_str() {
        "/ok" => b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nX-App: sightline-test\r\n\r\nhello sightline".to_vec(),
        "/chunked" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".to_vec(),
        "/redirect" => b"HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n".to_vec(),
        "/short" => b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\nabc".to_vec(),
        "/to-auth" => b"HTTP/1.1 302 Found\r\nLocation: /auth\r\nContent-Length: 0\r\n\r\n".to_vec(),
        p if p.starts_with("/elsewhere/") => {
            // Redirect to the same server under another host name (localhost vs 127.0.0.1).
            let port = &p["/elsewhere/".len()..];
            format!("HTTP/1.1 302 Found\r\nLocation: http://localhost:{port}/auth\r\nContent-Length: 0\r\n\r\n")
                .into_bytes()
        }
        "/auth" => match authorization {
            Some(a) => format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{a}", a.len()).into_bytes(),
            None => b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".to_vec(),
        },
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()
        }
        _ => b"HTTP/1.0 404 Not Found\r\n\r\nnot here".to_vec(),
    };
    let w = r.get_mut();
    let _ = w.write_all(&resp).await;
    let _ = w.shutdown().await;
}

/// Starts an HTTP (or HTTPS) server on a free loopback port.
async fn http_server(tls: bool) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = acceptor();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if tls {
                    if let Ok(s) = acceptor.accept(s).await {
                        serve_http(s).await;
                    }
                } else {
                    serve_http(s).await;
                }
            });
        }
    });
    addr
}

async fn run(yaml: &str, target: &str) -> (Vec<Family>, Option<ProbeError>) {
    Probe::new(&module(yaml)).expect("module is valid").run_detailed(target).await
}

#[tokio::test]
async fn http_ok_reports_blackbox_metrics() {
    let addr = http_server(false).await;
    let (f, err) = run("prober: http\n", &format!("http://127.0.0.1:{}/ok", addr.port())).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(value(&f, "probe_success", &[]), Some(1.0));
    assert_eq!(value(&f, "probe_http_status_code", &[]), Some(200.0));
    assert_eq!(value(&f, "probe_http_content_length", &[]), Some(15.0));
    assert_eq!(value(&f, "probe_http_uncompressed_body_length", &[]), Some(15.0));
    assert_eq!(value(&f, "probe_http_version", &[]), Some(1.1));
    assert_eq!(value(&f, "probe_http_ssl", &[]), Some(0.0));
    assert_eq!(value(&f, "probe_http_redirects", &[]), Some(0.0));
    assert_eq!(value(&f, "probe_failed_due_to_regex", &[]), Some(0.0));
    assert_eq!(value(&f, "probe_http_last_modified_timestamp_seconds", &[]), Some(784_111_777.0));
    assert_eq!(value(&f, "probe_ip_protocol", &[]), Some(4.0));
    let phases = f.iter().find(|x| x.name == "probe_http_duration_seconds").unwrap();
    assert_eq!(phases.samples.len(), 5);
    assert!(value(&f, "probe_http_duration_seconds", &[("phase", "processing")]).unwrap() > 0.0);
    assert_eq!(value(&f, "probe_http_duration_seconds", &[("phase", "tls")]), Some(0.0));
    assert!(value(&f, "probe_duration_seconds", &[]).unwrap() > 0.0);
    assert!(f.iter().all(|x| x.kind == FamilyKind::Gauge));
    let names: Vec<&str> = f.iter().map(|x| x.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[tokio::test]
async fn http_target_without_scheme_and_404() {
    let addr = http_server(false).await;
    let (f, err) = run("prober: http\n", &format!("127.0.0.1:{}/missing", addr.port())).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
    assert_eq!(value(&f, "probe_http_status_code", &[]), Some(404.0));
    assert_eq!(value(&f, "probe_http_version", &[]), Some(1.0));
    assert!(err.unwrap().to_string().contains("status code 404"));
    let (f, _) =
        run("prober: http\nhttp:\n  valid_status_codes: [404]\n", &format!("127.0.0.1:{}/missing", addr.port())).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(1.0));
    assert_eq!(value(&f, "probe_http_uncompressed_body_length", &[]), Some(8.0));
    assert_eq!(value(&f, "probe_http_content_length", &[]), Some(-1.0));
}

#[tokio::test]
async fn http_body_and_header_regexes() {
    let addr = http_server(false).await;
    let url = format!("http://127.0.0.1:{}/ok", addr.port());
    let (f, _) = run("prober: http\nhttp:\n  fail_if_body_not_matches_regexp: ['hello s\\w+']\n", &url).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(1.0));
    let (f, err) = run("prober: http\nhttp:\n  fail_if_body_matches_regexp: ['sightline']\n", &url).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
    assert_eq!(value(&f, "probe_failed_due_to_regex", &[]), Some(1.0));
    assert!(err.unwrap().to_string().contains("body matched"));
    let (f, _) = run("prober: http\nhttp:\n  fail_if_body_not_matches_regexp: ['goodbye']\n", &url).await;
    assert_eq!(value(&f, "probe_failed_due_to_regex", &[]), Some(1.0));
    let hdr = "prober: http\nhttp:\n  fail_if_header_not_matches:\n    - header: x-app\n      regexp: '^sightline-'\n";
    assert_eq!(value(&run(hdr, &url).await.0, "probe_success", &[]), Some(1.0));
    let hdr = "prober: http\nhttp:\n  fail_if_header_not_matches:\n    - header: X-Missing\n      regexp: 'x'\n";
    assert_eq!(value(&run(hdr, &url).await.0, "probe_success", &[]), Some(0.0));
    let hdr = "prober: http\nhttp:\n  fail_if_header_matches:\n    - header: X-App\n      regexp: 'test$'\n";
    assert_eq!(value(&run(hdr, &url).await.0, "probe_success", &[]), Some(0.0));
}

#[tokio::test]
async fn http_credentials_are_sent_and_never_shown() {
    let addr = http_server(false).await;
    let url = format!("http://127.0.0.1:{}/auth", addr.port());
    let (f, _) = run("prober: http\n", &url).await;
    assert_eq!(value(&f, "probe_http_status_code", &[]), Some(401.0));
    // base64("user:pass") = dXNlcjpwYXNz
    let basic = "prober: http\nhttp:\n  basic_auth:\n    username: user\n    password: pass\n  fail_if_body_not_matches_regexp: ['^Basic dXNlcjpwYXNz$']\n";
    let (f, err) = run(basic, &url).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(value(&f, "probe_success", &[]), Some(1.0));
    let bearer =
        "prober: http\nhttp:\n  bearer_token: s3cret\n  fail_if_body_not_matches_regexp: ['^Bearer s3cret$']\n";
    assert_eq!(value(&run(bearer, &url).await.0, "probe_success", &[]), Some(1.0));
    let in_url = format!("http://user:pass@127.0.0.1:{}/auth", addr.port());
    let m = "prober: http\nhttp:\n  fail_if_body_not_matches_regexp: ['^Basic dXNlcjpwYXNz$']\n";
    assert_eq!(value(&run(m, &in_url).await.0, "probe_success", &[]), Some(1.0));
    // Kept across a same-host redirect, dropped when the host changes.
    let to_auth = format!("http://127.0.0.1:{}/to-auth", addr.port());
    assert_eq!(value(&run(basic, &to_auth).await.0, "probe_success", &[]), Some(1.0));
    let elsewhere = format!("http://127.0.0.1:{0}/elsewhere/{0}", addr.port());
    let ip4 = basic.replace("http:\n", "http:\n  preferred_ip_protocol: ip4\n");
    let (f, _) = run(&ip4, &elsewhere).await;
    assert_eq!(value(&f, "probe_http_redirects", &[]), Some(1.0));
    assert_eq!(value(&f, "probe_http_status_code", &[]), Some(401.0));
    // Secrets stay out of Debug output and error messages.
    let m = module("prober: http\nhttp:\n  bearer_token: s3cret\n  basic_auth:\n    username: u\n    password: pa55\n");
    let shown = format!("{m:?}");
    assert!(!shown.contains("s3cret") && !shown.contains("pa55"), "{shown}");
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let (_, err) = run("prober: http\n", &format!("http://user:hunter2@{closed}/")).await;
    assert!(!format!("{err:?} {}", err.as_ref().unwrap()).contains("hunter2"));
    let both = "prober: http\nhttp:\n  bearer_token: a\n  basic_auth:\n    username: u\n";
    assert!(Probe::new(&module(both)).is_err());
}

#[tokio::test]
async fn http_valid_versions() {
    let addr = http_server(false).await;
    let url = format!("http://127.0.0.1:{}/missing", addr.port());
    let only11 = "prober: http\nhttp:\n  valid_status_codes: [404]\n  valid_http_versions: [HTTP/1.1]\n";
    let (f, err) = run(only11, &url).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
    assert!(err.unwrap().to_string().contains("HTTP/1.0 is not one of valid_http_versions"));
    assert!(Probe::new(&module("prober: http\nhttp:\n  valid_http_versions: [HTTP/2.0]\n")).is_err());
}

#[tokio::test]
async fn http_redirects_chunked_and_ssl_checks() {
    let addr = http_server(false).await;
    let (f, err) = run("prober: http\n", &format!("http://127.0.0.1:{}/redirect", addr.port())).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(value(&f, "probe_http_redirects", &[]), Some(1.0));
    assert_eq!(value(&f, "probe_http_status_code", &[]), Some(200.0));
    let (f, _) =
        run("prober: http\nhttp:\n  follow_redirects: false\n", &format!("http://127.0.0.1:{}/redirect", addr.port()))
            .await;
    assert_eq!(value(&f, "probe_http_status_code", &[]), Some(302.0));
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
    let (f, _) = run("prober: http\n", &format!("http://127.0.0.1:{}/chunked", addr.port())).await;
    assert_eq!(value(&f, "probe_http_uncompressed_body_length", &[]), Some(11.0));
    assert_eq!(value(&f, "probe_http_content_length", &[]), Some(-1.0));
    // A body shorter than its Content-Length (and a length no buffer is made for).
    let short = format!("http://127.0.0.1:{}/short", addr.port());
    let (f, err) = run("prober: http\nhttp:\n  body_size_limit: 200000000000\n", &short).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
    assert!(err.unwrap().to_string().contains("body ended after 3 of 100000000000 bytes"));
    let (_, err) = run("prober: http\n", &short).await;
    assert!(err.unwrap().to_string().contains("exceeds the limit"));
    let (f, err) =
        run("prober: http\nhttp:\n  fail_if_not_ssl: true\n", &format!("http://127.0.0.1:{}/ok", addr.port())).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
    assert!(err.unwrap().to_string().contains("fail_if_not_ssl"));
}

#[tokio::test]
async fn http_timeout_and_refused() {
    let addr = http_server(false).await;
    let start = std::time::Instant::now();
    let (f, err) = run("prober: http\ntimeout: 300ms\n", &format!("http://127.0.0.1:{}/slow", addr.port())).await;
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
    assert!(matches!(err, Some(ProbeError::Timeout(_))));
    // What was measured before the deadline is still reported.
    assert!(value(&f, "probe_http_duration_seconds", &[("phase", "connect")]).unwrap() > 0.0);

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let (f, err) = run("prober: http\n", &format!("http://{closed}/")).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
    assert!(matches!(err, Some(ProbeError::Connect { .. })), "{err:?}");
}

#[tokio::test]
async fn https_reports_certificate_expiry_and_tls_version() {
    let addr = http_server(true).await;
    let url = format!("https://localhost:{}/ok", addr.port());
    let yaml =
        format!("prober: http\nhttp:\n  preferred_ip_protocol: ip4\n  tls_config:\n    ca_file: {}\n", ca_path());
    let (f, err) = run(&yaml, &url).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(value(&f, "probe_success", &[]), Some(1.0));
    assert_eq!(value(&f, "probe_http_ssl", &[]), Some(1.0));
    assert_eq!(value(&f, "probe_ssl_earliest_cert_expiry", &[]), Some(SERVER_NOT_AFTER));
    assert_eq!(value(&f, "probe_tls_version_info", &[("version", "TLS 1.3")]), Some(1.0));
    assert!(value(&f, "probe_http_duration_seconds", &[("phase", "tls")]).unwrap() > 0.0);

    // Without the test CA the chain is untrusted...
    let (f, err) = run("prober: http\n", &url).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
    assert!(matches!(err, Some(ProbeError::Tls { .. })), "{err:?}");
    // ...unless verification is off; the expiry is still read.
    let (f, err) = run("prober: http\nhttp:\n  tls_config:\n    insecure_skip_verify: true\n", &url).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(value(&f, "probe_ssl_earliest_cert_expiry", &[]), Some(SERVER_NOT_AFTER));
    let (f, _) =
        run("prober: http\nhttp:\n  fail_if_ssl: true\n  tls_config:\n    insecure_skip_verify: true\n", &url).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
}

/// A line-based server: sends a banner, answers "hello" with "world".
async fn banner_server(tls: bool) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = acceptor();
    async fn talk<S: AsyncRead + AsyncWrite + Unpin>(s: S) {
        let mut r = BufReader::new(s);
        let _ = r.get_mut().write_all(b"SSH-2.0-SightlineTest\r\n").await;
        let mut line = String::new();
        if r.read_line(&mut line).await.is_ok() && line.trim() == "hello" {
            let _ = r.get_mut().write_all(b"world\n").await;
        }
        let _ = r.get_mut().shutdown().await;
    }
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if tls {
                    if let Ok(s) = acceptor.accept(s).await {
                        talk(s).await;
                    }
                } else {
                    talk(s).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn tcp_query_response_dialogue() {
    let addr = banner_server(false).await;
    let ok = "prober: tcp\ntcp:\n  query_response:\n    - expect: '^SSH-2\\.0-'\n    - send: hello\n    - expect: '^world$'\n";
    let (f, err) = run(ok, &addr.to_string()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(value(&f, "probe_success", &[]), Some(1.0));
    assert_eq!(value(&f, "probe_failed_due_to_regex", &[]), Some(0.0));
    // The server closes after a wrong line: no line matched before the end.
    let bad = "prober: tcp\ntcp:\n  query_response:\n    - send: bye\n    - expect: '^world$'\n";
    let (f, err) = run(bad, &addr.to_string()).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
    assert_eq!(value(&f, "probe_failed_due_to_regex", &[]), Some(1.0));
    assert!(err.unwrap().to_string().contains("query_response[1]"));
    // A server that stays silent runs into the deadline instead.
    let silent = "prober: tcp\ntimeout: 300ms\ntcp:\n  query_response:\n    - expect: '^SSH-'\n    - expect: '^220 '\n";
    let (f, err) = run(silent, &addr.to_string()).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
    assert!(matches!(err, Some(ProbeError::Timeout(_))), "{err:?}");
    let (f, err) = run("prober: tcp\n", "127.0.0.1").await;
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
    assert!(err.unwrap().to_string().contains("host:port"));
}

#[tokio::test]
async fn tcp_over_tls_reports_expiry() {
    let addr = banner_server(true).await;
    let yaml = format!(
        "prober: tcp\ntcp:\n  tls: true\n  tls_config:\n    ca_file: {}\n    server_name: localhost\n  query_response:\n    - expect: '^SSH-'\n",
        ca_path()
    );
    let (f, err) = run(&yaml, &addr.to_string()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(value(&f, "probe_ssl_earliest_cert_expiry", &[]), Some(SERVER_NOT_AFTER));
    assert_eq!(value(&f, "probe_success", &[]), Some(1.0));
}

/// A DNS server answering every query with dns::tests::response_for;
/// names starting with "nx" get NXDOMAIN.
async fn dns_servers() -> (SocketAddr, SocketAddr) {
    fn answer(q: &[u8]) -> Vec<u8> {
        let rcode = if q.get(13..15) == Some(b"nx") { 3 } else { 0 };
        super::dns::tests::response_for(q, rcode)
    }
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let udp_addr = udp.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 512];
        while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
            // A stray datagram with the wrong id first: the prober must skip it.
            let mut stray = answer(&buf[..n]);
            stray[0] ^= 0xff;
            let _ = udp.send_to(&stray, peer).await;
            let _ = udp.send_to(&answer(&buf[..n]), peer).await;
        }
    });
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            tokio::spawn(async move {
                let mut len = [0u8; 2];
                if s.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                if s.read_exact(&mut q).await.is_err() {
                    return;
                }
                let a = answer(&q);
                let mut framed = (a.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&a);
                let _ = s.write_all(&framed).await;
            });
        }
    });
    (udp_addr, tcp_addr)
}

#[tokio::test]
async fn dns_over_udp_and_tcp() {
    let (udp, tcp) = dns_servers().await;
    let yaml = "prober: dns\ndns:\n  query_name: example.com\n  query_type: A\n  validate_answer_rrs:\n    fail_if_not_matches_regexp: ['\\tA\\t192\\.0\\.2\\.1$']\n";
    let (f, err) = run(yaml, &udp.to_string()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(value(&f, "probe_success", &[]), Some(1.0));
    assert_eq!(value(&f, "probe_dns_query_succeeded", &[]), Some(1.0));
    assert_eq!(value(&f, "probe_dns_answer_rrs", &[]), Some(1.0));
    assert_eq!(value(&f, "probe_dns_authority_rrs", &[]), Some(1.0));
    assert_eq!(value(&f, "probe_dns_additional_rrs", &[]), Some(0.0));
    assert!(value(&f, "probe_dns_duration_seconds", &[("phase", "request")]).unwrap() > 0.0);
    assert!(value(&f, "probe_dns_lookup_time_seconds", &[]).is_some());

    let tcp_yaml = format!("{yaml}  transport_protocol: tcp\n");
    let (f, err) = run(&tcp_yaml, &tcp.to_string()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(value(&f, "probe_dns_answer_rrs", &[]), Some(1.0));

    let (f, err) = run("prober: dns\ndns:\n  query_name: nx.example.com\n", &udp.to_string()).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
    assert_eq!(value(&f, "probe_dns_query_succeeded", &[]), Some(1.0));
    assert!(err.unwrap().to_string().contains("NXDOMAIN"));
    let (f, _) =
        run("prober: dns\ndns:\n  query_name: nx.example.com\n  valid_rcodes: [NXDOMAIN]\n", &udp.to_string()).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(1.0));

    let wrong = "prober: dns\ndns:\n  query_name: example.com\n  validate_answer_rrs:\n    fail_if_matches_regexp: ['192\\.0\\.2\\.1']\n";
    let (f, _) = run(wrong, &udp.to_string()).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
}

#[tokio::test]
async fn dns_without_an_answer_times_out() {
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let (f, err) = run("prober: dns\ntimeout: 200ms\ndns:\n  query_name: example.com\n", &addr.to_string()).await;
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
    assert_eq!(value(&f, "probe_dns_query_succeeded", &[]), Some(0.0));
    assert!(matches!(err, Some(ProbeError::Timeout(_))));
    // with_timeout overrides the module's deadline.
    let p = Probe::new(&module("prober: dns\ndns:\n  query_name: example.com\n")).unwrap();
    assert_eq!(p.timeout(), Duration::from_secs(10));
    let p = p.with_timeout(Duration::from_millis(100));
    let start = std::time::Instant::now();
    let f = p.run(&addr.to_string()).await;
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(value(&f, "probe_success", &[]), Some(0.0));
    drop(silent);
}
