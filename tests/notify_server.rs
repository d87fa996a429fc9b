//! Notifications through the real binary: the PNG chart route over the
//! PromQL engine, the history page, `/graph` links, and an invalid
//! alertmanager.yml refused on reload with every error, the running
//! configuration kept.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use util::Server;

/// GET returning (status, headers, raw body bytes).
fn get_raw(addr: &str, path: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("no header end");
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[end + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if n == 0 || b.len() < i + 2 + n {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[(i + 2 + n + 2).min(b.len())..];
    }
    out
}

fn post(addr: &str, path: &str) -> (u16, String) {
    util::http_post_form(addr, path, "").unwrap()
}

const AM: &str = "route:\n  receiver: hook\n  group_wait: 1h\nreceivers:\n  - name: hook\n    webhook_configs: [{url: 'http://127.0.0.1:9/hook'}]\n";

fn config() -> String {
    "global:\n  scrape_interval: 1s\nhost: {enabled: false}\ndefault_rules: false\nalertmanager_config_file: am.yml\nscrape_configs:\n  - job_name: self\n    static_configs: [{targets: ['{SELF}']}]\n".to_string()
}

#[test]
fn chart_route_history_page_graph_links_and_reload_validation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("am.yml"), AM).unwrap();
    let server = Server::start_in(&config(), dir.path(), &dir.path().join("data"));
    server.wait_for("up", 20, |r| !r.is_empty());

    // The PNG route draws the expression over the last hour from the store.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (status, head, png) = loop {
        let r = get_raw(&server.addr, "/api/v1/alert_chart.png?expr=up");
        if r.0 == 200 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status, 200, "{head} {}", String::from_utf8_lossy(&png));
    assert!(head.to_ascii_lowercase().contains("content-type: image/png"), "{head}");
    assert_eq!(png[..8], [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]);
    // Width and height from the IHDR chunk.
    let w = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let h = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert_eq!((w, h), (sightline::notify::chart::WIDTH, sightline::notify::chart::HEIGHT));
    let end = chrono::Utc::now().timestamp_millis();
    let (status, _, _) = get_raw(&server.addr, &format!("/api/v1/alert_chart.png?expr=up&end={end}"));
    assert_eq!(status, 200);
    let (status, _, body) = get_raw(&server.addr, "/api/v1/alert_chart.png?expr=up%28");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = get_raw(&server.addr, "/api/v1/alert_chart.png");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("expr"));
    let (status, _, _) = get_raw(&server.addr, "/api/v1/alert_chart.png?expr=no_such_metric");
    assert_eq!(status, 404);

    // Prometheus-style generator URLs open explore.
    let (status, head, _) = get_raw(&server.addr, "/graph?g0.expr=up+%3D%3D+0&g0.tab=1");
    assert_eq!(status, 303, "{head}");
    assert!(
        head.contains("location: /explore?q=up+%3D%3D+0") || head.contains("Location: /explore?q=up+%3D%3D+0"),
        "{head}"
    );

    // The history page shows a test notification's attempt, and filters.
    let (status, _) = post(&server.addr, "/receivers/hook/test");
    assert_eq!(status, 200);
    let (status, html) = server.get("/history");
    assert_eq!(status, 200);
    assert!(html.contains("Notification history"), "{html}");
    assert!(html.contains("test notification → hook"), "{html}");
    assert!(html.contains("webhook[0] attempt 1"), "{html}");
    let (_, html) = server.get("/history?q=SightlineTestNotification");
    assert!(html.contains("test notification → hook"), "{html}");
    let (_, html) = server.get("/history?q=nothing-matches-this");
    assert!(html.contains("No notification matches"), "{html}");

    // An invalid alertmanager.yml: every error with its line, the old config kept.
    let before = server.api("/api/v2/status")["config"]["original"].clone();
    std::fs::write(
        dir.path().join("am.yml"),
        "route:\n  receiver: hook\n  routes:\n    - receiver: nope\nreceivers:\n  - name: hook\n    webhook_configs: [{send_resolved: true}]\n",
    )
    .unwrap();
    let (status, body) = post(&server.addr, "/-/reload");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("am.yml:4: undefined receiver \"nope\" used in route"), "{body}");
    assert!(body.contains("am.yml:6: receiver \"hook\": one of url or url_file must be configured"), "{body}");
    assert_eq!(server.api("/api/v2/status")["config"]["original"], before);
    // A fixed file is picked up.
    std::fs::write(dir.path().join("am.yml"), AM.replace("1h", "2h")).unwrap();
    let (status, body) = post(&server.addr, "/-/reload");
    assert_eq!(status, 200, "{body}");
    assert!(server.api("/api/v2/status")["config"]["original"].as_str().unwrap().contains("2h"));
}
