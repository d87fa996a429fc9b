//! HTTPS from `web.tls_cert_file`/`web.tls_key_file`: served with rustls,
//! the certificate re-read when the files change, cookies marked Secure,
//! and the self-scrape still working over TLS.

mod util;

use std::path::Path;
use std::time::{Duration, Instant};
use util::{cli, Server};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Self-signed test certificates: the test compares the served certificate itself instead.
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn served_cert(c: &reqwest::Client, url: &str) -> Vec<u8> {
    let r = c.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let info = r.extensions().get::<reqwest::tls::TlsInfo>().expect("TLS info");
    info.peer_certificate().expect("a certificate").to_vec()
}

fn pem_der(path: &Path) -> Vec<u8> {
    use base64::Engine;
    let pem = std::fs::read_to_string(path).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_reloads_the_certificate_and_marks_cookies_secure() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::copy(fixture("a.crt"), &cert).unwrap();
    std::fs::copy(fixture("a.key"), &key).unwrap();
    let d = data.to_str().unwrap().to_string();
    let (ok, _, err) = cli(&["user", "add", "root", "--role", "admin", "--data", &d], "rootpassword\n");
    assert!(ok, "{err}");
    let (ok, token, err) = cli(&["token", "create", "t", "--role", "viewer", "--data", &d], "");
    assert!(ok, "{err}");
    let token = token.trim().to_string();
    let config = "global: {scrape_interval: 1s}\nhost: {enabled: false}\nscrape_configs:\n  - job_name: sightline\n    static_configs: [{targets: ['{SELF}']}]\nweb:\n  tls_cert_file: tls.crt\n  tls_key_file: tls.key\n";
    // The util's readiness probe speaks plain HTTP; start the process without it.
    let port = util::free_port();
    let addr = format!("127.0.0.1:{port}");
    std::fs::write(dir.path().join("sightline.yml"), config.replace("{SELF}", &addr)).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(["--config", dir.path().join("sightline.yml").to_str().unwrap(), "--listen", &addr, "--data", &d])
        .args(["--log-level", "warn"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _server = Server { child, addr: addr.clone(), data: data.clone(), _dir: None };
    let c = client();
    let base = format!("https://{addr}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.get(format!("{base}/-/ready")).send().await.is_err() {
        assert!(Instant::now() < deadline, "never ready over HTTPS");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Plain HTTP is not spoken.
    assert!(!matches!(util::http_get(&addr, "/-/healthy"), Ok((200, _))));
    assert_eq!(served_cert(&c, &format!("{base}/-/healthy")).await, pem_der(&fixture("a.crt")));

    // Cookies are Secure under TLS.
    let r = c
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user=root&password=rootpassword")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure") && cookie.contains("HttpOnly"), "{cookie}");

    // The self-scrape goes over HTTPS with its in-process token.
    loop {
        let r = c
            .get(format!("{base}/api/v1/query?query=up%7Bjob%3D%22sightline%22%7D"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let body = r.text().await.unwrap();
        if body.contains("\"1\"]") {
            break;
        }
        assert!(Instant::now() < deadline + Duration::from_secs(10), "self-scrape over TLS failed: {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // New files are picked up by later handshakes.
    std::fs::copy(fixture("b.crt"), &cert).unwrap();
    std::fs::copy(fixture("b.key"), &key).unwrap();
    let want = pem_der(&fixture("b.crt"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // A fresh client: a kept-alive connection would keep the old handshake.
        if served_cert(&client(), &format!("{base}/-/healthy")).await == want {
            break;
        }
        assert!(Instant::now() < deadline, "certificate never reloaded");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
