//! Security: users and tokens on the command line, the setup link, sessions
//! with CSRF, roles on every route, basic auth, anonymous access, headers,
//! rate limits, body limits, redaction and XSS escaping. Each test starts
//! the real binary on a loopback port.

mod util;

use sightline::auth::policy::{Access, POLICY};
use sightline::auth::Role;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use util::{cli, encode, http, Resp, Server};

const SELF_SCRAPE: &str = "global: {scrape_interval: 1s, evaluation_interval: 1s}\nhost: {enabled: false}\nscrape_configs:\n  - job_name: sightline\n    static_configs: [{targets: ['{SELF}']}]\n";

fn get(s: &Server, path: &str, headers: &[(&str, &str)]) -> Resp {
    http(&s.addr, "GET", path, headers, b"").unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn post_form(s: &Server, path: &str, headers: &[(&str, &str)], form: &str) -> Resp {
    let mut h = vec![("Content-Type", "application/x-www-form-urlencoded")];
    h.extend_from_slice(headers);
    http(&s.addr, "POST", path, &h, form.as_bytes()).unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Creates tokens for each role (and an admin user) in `data` before the server starts.
fn seed(data: &std::path::Path) -> [String; 3] {
    let d = data.to_str().unwrap();
    let (ok, _, err) = cli(&["user", "add", "root", "--role", "admin", "--data", d], "rootpassword\n");
    assert!(ok, "{err}");
    Role::ALL.map(|r| {
        let (ok, out, err) = cli(&["token", "create", &format!("t-{r}"), "--role", r.as_str(), "--data", d], "");
        assert!(ok, "{err}");
        out.trim().to_string()
    })
}

/// The session cookie from a response's Set-Cookie ("name=value").
fn session_cookie(r: &Resp) -> String {
    let set = r.header("set-cookie").unwrap_or_else(|| panic!("no Set-Cookie: {r:?}"));
    set.split(';').next().unwrap().to_string()
}

/// The CSRF token of the hidden form field on a page.
fn csrf_of(html: &str) -> String {
    let marker = r#"name="_csrf" value=""#;
    let at = html.find(marker).unwrap_or_else(|| panic!("no CSRF field in:\n{html}")) + marker.len();
    html[at..].split('"').next().unwrap().to_string()
}

#[test]
fn user_and_token_commands() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let d = d.to_str().unwrap();
    let (ok, out, err) = cli(&["user", "add", "alice", "--role", "admin", "--data", d], "correct horse\n");
    assert!(ok, "{err}");
    assert!(out.contains("added user alice (admin)"), "{out}");
    let (ok, _, err) = cli(&["user", "add", "alice", "--role", "viewer", "--data", d], "another password\n");
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = cli(&["user", "add", "bob", "--role", "boss", "--data", d], "another password\n");
    assert!(!ok && err.contains("not a role"), "{err}");
    let (ok, _, err) = cli(&["user", "add", "bob", "--role", "viewer", "--data", d], "short\n");
    assert!(!ok && err.contains("at least 8"), "{err}");
    assert!(cli(&["user", "add", "bob", "--role", "viewer", "--data", d], "bob password\n").0);
    let (_, out, _) = cli(&["user", "list", "--data", d], "");
    assert_eq!(out, "alice\tadmin\nbob\tviewer\n");
    assert!(cli(&["user", "passwd", "bob", "--data", d], "new bob password\n").0);
    let (ok, _, err) = cli(&["user", "del", "alice", "--data", d], "");
    assert!(!ok && err.contains("last admin"), "{err}");
    assert!(cli(&["user", "del", "bob", "--data", d], "").0);
    let (_, out, _) = cli(&["user", "list", "--data", d], "");
    assert_eq!(out, "alice\tadmin\n");

    let (ok, token, err) = cli(&["token", "create", "grafana", "--role", "viewer", "--data", d], "");
    assert!(ok, "{err}");
    assert!(token.trim().starts_with("sl_") && err.contains("shown only this once"), "{token} {err}");
    let (_, out, _) = cli(&["token", "list", "--data", d], "");
    assert!(out.starts_with("grafana\tviewer\tnever used"), "{out}");
    assert!(!out.contains(token.trim()), "token list never shows the token");
    // Only the hash is stored.
    let db = std::fs::read(dir.path().join("data/sightline.db")).unwrap();
    assert!(!db.windows(token.trim().len()).any(|w| w == token.trim().as_bytes()));

    // The server accepts the token and the password; revocation applies at once.
    let s = Server::launch(SELF_SCRAPE, dir.path(), &dir.path().join("data"), &[]);
    let t = token.trim();
    assert_eq!(get(&s, "/api/v1/query?query=1", &[("Authorization", &bearer(t))]).status, 200);
    assert!(cli(&["token", "revoke", "grafana", "--data", d], "").0);
    let r = get(&s, "/api/v1/query?query=1", &[("Authorization", &bearer(t))]);
    assert_eq!(r.status, 401, "{r:?}");
    let (ok, _, err) = cli(&["token", "revoke", "grafana", "--data", d], "");
    assert!(!ok && err.contains("no token"), "{err}");
}

/// Starts the binary with stderr piped and returns it with the setup link it printed.
fn start_reading_setup_link(dir: &std::path::Path) -> (util::Server, String) {
    let port = util::free_port();
    let addr = format!("127.0.0.1:{port}");
    let cfg = dir.join("sightline.yml");
    std::fs::write(&cfg, SELF_SCRAPE.replace("{SELF}", &addr)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(["--config", cfg.to_str().unwrap(), "--listen", &addr, "--data"])
        .arg(dir.join("data"))
        .args(["--log-level", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("/setup?token=") {
                let _ = tx.send(line[at..].trim().to_string());
            }
        }
    });
    let link = rx.recv_timeout(Duration::from_secs(20)).expect("a setup link on the console");
    let server = util::Server { child, addr, data: dir.join("data"), _dir: None };
    (server, link)
}

#[test]
fn first_start_setup_link_then_sessions_csrf_and_logout() {
    let dir = tempfile::tempdir().unwrap();
    let (s, link) = start_reading_setup_link(dir.path());
    // Nothing but health, readiness, assets and the setup page until the first admin exists.
    assert_eq!(get(&s, "/-/healthy", &[]).status, 200);
    assert_eq!(get(&s, "/-/ready", &[]).status, 200);
    assert_eq!(get(&s, "/assets/style.css", &[]).status, 200);
    let home = get(&s, "/", &[]);
    assert_eq!((home.status, home.header("location")), (303, Some("/setup")));
    for path in ["/api/v1/query?query=up", "/metrics", "/federate?match[]=up", "/api/v2/alerts"] {
        assert_eq!(get(&s, path, &[]).status, 401, "{path}");
    }
    assert_eq!(post_form(&s, "/-/reload", &[], "").status, 401);
    let setup = get(&s, &link, &[]);
    assert_eq!(setup.status, 200);
    let token = link.split("token=").nth(1).unwrap();
    assert!(setup.body.contains(token), "the form carries the token");
    // A wrong token is refused; the right one creates the admin and signs in.
    let bad = post_form(&s, "/setup", &[], "token=nope&user=root&password=rootpassword&password2=rootpassword");
    assert_eq!(bad.status, 400);
    let ok =
        post_form(&s, "/setup", &[], &format!("token={token}&user=root&password=rootpassword&password2=rootpassword"));
    assert_eq!(ok.status, 303, "{ok:?}");
    let set_cookie = ok.header("set-cookie").unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(set_cookie.contains(attr), "{attr} missing: {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "no TLS here: {set_cookie}");
    // The link is spent.
    let again =
        post_form(&s, "/setup", &[], &format!("token={token}&user=x&password=rootpassword&password2=rootpassword"));
    assert_eq!(again.status, 400);

    let cookie = session_cookie(&ok);
    let page = get(&s, "/silences", &[("Cookie", &cookie)]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Sign out root"), "logout button");
    let csrf = csrf_of(&page.body);
    assert!(csrf.len() >= 40, "{csrf}");
    let form = "matchers=alertname%3D%22X%22&duration=1h&created_by=me&comment=test";
    // Without the CSRF token, or with a wrong one: 403.
    let r = post_form(&s, "/silences", &[("Cookie", &cookie)], form);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.body.contains("CSRF"));
    let r = post_form(&s, "/silences", &[("Cookie", &cookie)], &format!("{form}&_csrf=wrong{csrf}"));
    assert_eq!(r.status, 403);
    // With it: done.
    let r = post_form(&s, "/silences", &[("Cookie", &cookie)], &format!("{form}&_csrf={}", encode(&csrf)));
    assert!(r.status == 303 || r.status == 200, "{r:?}");
    let silences = get(&s, "/api/v2/silences", &[("Cookie", &cookie)]);
    assert!(silences.body.contains("\"X\""), "{}", silences.body);
    // The multipart import form carries it too.
    let boundary = "XyZ";
    let mp = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"json\"\r\n\r\nnot json\r\n--{boundary}--\r\n"
    );
    let ct = format!("multipart/form-data; boundary={boundary}");
    let r = http(&s.addr, "POST", "/dashboards/import", &[("Cookie", &cookie), ("Content-Type", &ct)], mp.as_bytes())
        .unwrap();
    assert_ne!(r.status, 403, "{r:?}");
    let r = http(
        &s.addr,
        "POST",
        "/dashboards/import",
        &[("Cookie", &cookie), ("Content-Type", &ct)],
        mp.replace(&csrf, "x").as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 403);

    // Every page shows the sign-out form with the session's token, and each POST form carries it.
    for path in [
        "/",
        "/d/sightline?range=5m",
        "/explore?q=up",
        "/dashboards/new",
        "/d/sightline/edit",
        "/receivers",
        "/admin/tokens",
    ] {
        let r = get(&s, path, &[("Cookie", &cookie)]);
        assert_eq!(r.status, 200, "{path}");
        assert!(r.body.contains("Sign out root"), "{path}: no sign-out form");
        let forms = r.body.matches("method=\"post\"").count();
        let fields = r.body.matches(&format!(r#"name="_csrf" value="{csrf}""#)).count();
        assert_eq!(forms, fields, "{path}: {forms} POST forms, {fields} carry the CSRF token");
    }
    // Logout ends the session server-side.
    let r = post_form(&s, "/logout", &[("Cookie", &cookie)], &format!("_csrf={}", encode(&csrf)));
    assert_eq!(r.status, 303);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    let r = get(&s, "/silences", &[("Cookie", &cookie)]);
    assert_eq!(r.status, 303);
    assert!(r.header("location").unwrap().starts_with("/login?next="), "{r:?}");

    // Sign in again: a wrong password is refused, the right one gives a new session.
    let r = post_form(&s, "/login", &[], "user=root&password=wrongpassword&next=%2Ftargets");
    assert_eq!(r.status, 401);
    let r = post_form(&s, "/login", &[("Origin", "https://evil.example")], "user=root&password=rootpassword");
    assert_eq!(r.status, 403, "cross-site sign-in refused");
    let origin = format!("http://{}", s.addr);
    let r = post_form(&s, "/login", &[("Origin", &origin)], "user=root&password=rootpassword&next=%2Ftargets");
    assert_eq!((r.status, r.header("location")), (303, Some("/targets")));
    let r = post_form(&s, "/login", &[], "user=root&password=rootpassword&next=https%3A%2F%2Fevil.example%2F");
    assert_eq!(r.header("location"), Some("/"), "no open redirect");
    let cookie2 = session_cookie(&r);
    assert_ne!(cookie, cookie2);
    assert_eq!(get(&s, "/", &[("Cookie", &cookie2)]).status, 200);
}

/// `path` with its `{param}` parts filled in.
fn concrete(pattern: &str) -> String {
    pattern
        .replace("{uid}", "sightline")
        .replace("{name}", "nobody")
        .replace("{id}", "00000000-0000-0000-0000-000000000000")
}

/// Whether the guard refused (401/403 as plain text, or a redirect to sign in).
fn refused(r: &Resp) -> bool {
    let plain = r.header("content-type").is_some_and(|c| c.starts_with("text/plain"));
    ((r.status == 401 || r.status == 403) && plain)
        || (r.status == 303 && r.header("location").is_some_and(|l| l.starts_with("/login") || l == "/setup"))
}

#[test]
fn every_route_checks_its_role_for_anonymous_viewer_editor_and_admin() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tokens = seed(&data);
    let s = Server::launch(SELF_SCRAPE, dir.path(), &data, &["api_rate_limit: 1000000", "metrics_rate_limit: 1000000"]);
    let callers: [(Option<Role>, Option<String>); 4] = [
        (None, None),
        (Some(Role::Viewer), Some(bearer(&tokens[0]))),
        (Some(Role::Editor), Some(bearer(&tokens[1]))),
        (Some(Role::Admin), Some(bearer(&tokens[2]))),
    ];
    let mut checked = 0;
    for (pattern, method, access) in POLICY {
        // Skipped only where a call would end the test's own access.
        if *pattern == "/logout" {
            continue;
        }
        let path = concrete(pattern);
        for (role, auth) in &callers {
            let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
            if let Some(a) = auth {
                headers.push(("Authorization", a.as_str()));
            }
            let r = http(&s.addr, method, &path, &headers, b"").unwrap();
            let allowed = match (access, role) {
                (Access::Public, _) => true,
                (Access::Min(_) | Access::Signed(_), None) => false,
                (Access::Min(min) | Access::Signed(min), Some(r)) => r >= min,
            };
            assert_eq!(
                !refused(&r),
                allowed,
                "{method} {path} as {role:?}: expected {}, got {} {:?} {}",
                if allowed { "allowed" } else { "refused" },
                r.status,
                r.header("location"),
                r.body.chars().take(200).collect::<String>()
            );
            if !allowed && role.is_some() {
                assert_eq!(r.status, 403, "{method} {path} as {role:?}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 4 * 60, "{checked}");
    // A route nobody decided on does not exist: unknown paths are 401 before 404.
    assert_eq!(get(&s, "/no/such/page", &[]).status, 303);
    assert_eq!(get(&s, "/no/such/page", &[("Authorization", &bearer(&tokens[0]))]).status, 404);
    // Chart images for Slack: refused without credentials unless the link is signed with the server's key.
    let chart = "/api/v1/alert_chart.png?expr=up&end=1700000000000";
    assert_eq!(get(&s, chart, &[]).status, 401);
    let conn = rusqlite::Connection::open(data.join("sightline.db")).unwrap();
    let key: Vec<u8> =
        conn.query_row("SELECT value FROM auth_settings WHERE name = 'url_signing_key'", [], |r| r.get(0)).unwrap();
    sightline::auth::signing::init(key.try_into().unwrap());
    let signed = sightline::auth::signing::sign(chart);
    let r = get(&s, &signed, &[]);
    assert!(!refused(&r) && (r.status == 200 || r.status == 404), "{r:?}");
    assert_eq!(get(&s, &signed.replace("expr=up", "expr=other"), &[]).status, 401, "tampered link");
    // Methods a route does not take answer 405, for anyone.
    assert_eq!(http(&s.addr, "PUT", "/-/reload", &[], b"").unwrap().status, 405);
    assert_eq!(
        http(&s.addr, "DELETE", "/api/v1/query", &[("Authorization", &bearer(&tokens[2]))], b"").unwrap().status,
        405
    );
    // Wrong or malformed credentials are refused, never treated as anonymous.
    assert_eq!(get(&s, "/api/v1/query?query=1", &[("Authorization", "Bearer sl_wrong")]).status, 401);
    assert_eq!(get(&s, "/api/v1/query?query=1", &[("Authorization", "Digest x")]).status, 401);
    let r = get(&s, "/api/v1/query?query=1", &[]);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"Sightline\""));

    // Basic auth with a user's password, as Grafana's data source sends it.
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode("root:rootpassword");
    assert_eq!(get(&s, "/api/v1/query?query=1", &[("Authorization", &format!("Basic {b}"))]).status, 200);
    let b = base64::engine::general_purpose::STANDARD.encode("root:wrong-password");
    assert_eq!(get(&s, "/api/v1/query?query=1", &[("Authorization", &format!("Basic {b}"))]).status, 401);

    // The self-scrape still works with authentication on (in-process token).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = get(&s, "/api/v1/query?query=up%7Bjob%3D%22sightline%22%7D", &[("Authorization", &bearer(&tokens[0]))]);
        if r.body.contains("\"value\"") && r.body.contains("\"1\"") {
            break;
        }
        assert!(Instant::now() < deadline, "self-scrape never came up: {}", r.body);
        std::thread::sleep(Duration::from_millis(300));
    }
    // ... while /metrics without a token is refused.
    assert_eq!(get(&s, "/metrics", &[]).status, 401);
    let m = get(&s, "/metrics", &[("Authorization", &bearer(&tokens[0]))]);
    assert_eq!(m.status, 200);
    assert!(
        m.body.contains("sightline_http_refused_requests_total{kind=\"auth\",reason=\"forbidden\"}"),
        "refusals are counted"
    );
}

#[test]
fn anonymous_role_from_the_config() {
    let s = Server::start_secure(&format!("{SELF_SCRAPE}web:\n  anonymous_role: viewer\n"));
    assert_eq!(get(&s, "/", &[]).status, 200);
    assert_eq!(get(&s, "/api/v1/query?query=1", &[]).status, 200);
    let r = post_form(&s, "/-/reload", &[], "");
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(post_form(&s, "/silences", &[], "matchers=a%3D%22b%22").status, 403);
    assert_eq!(get(&s, "/admin/users", &[]).status, 403);
}

#[test]
fn security_headers_on_every_response() {
    let s = Server::start_secure(SELF_SCRAPE);
    for (path, status) in
        [("/-/healthy", 200), ("/assets/sightline.js", 200), ("/login", 200), ("/", 303), ("/api/v1/query", 401)]
    {
        let r = get(&s, path, &[]);
        assert_eq!(r.status, status, "{path}");
        let csp = r.header("content-security-policy").unwrap_or_else(|| panic!("{path}: no CSP"));
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        let script_src = csp.split(';').find(|d| d.trim().starts_with("script-src")).unwrap();
        assert!(!script_src.contains("unsafe-inline"), "{csp}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert!(r.header("referrer-policy").is_some(), "{path}");
    }
    // No inline scripts or event handlers in any template or the sign-in page.
    let templates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/templates");
    let re = regex::Regex::new(r#"\son[a-z]+\s*="#).unwrap();
    for entry in std::fs::read_dir(templates).unwrap() {
        let path = entry.unwrap().path();
        let html = std::fs::read_to_string(&path).unwrap().to_ascii_lowercase();
        for m in html.match_indices("<script") {
            assert!(html[m.0..].split('>').next().unwrap().contains(" src="), "{}: inline <script>", path.display());
        }
        assert!(!re.is_match(&html), "{}: inline event handler", path.display());
    }
}

#[test]
fn brute_force_login_is_rate_limited_and_health_never_is() {
    // The self-scrape (every second here) has its own /metrics budget, apart from other loopback clients.
    let s = Server::start_secure(&format!("{SELF_SCRAPE}web:\n  login_rate_limit: 5\n  metrics_rate_limit: 3\n"));
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..12 {
        let r = post_form(&s, "/login", &[], &format!("user=root&password=guess{i}"));
        if r.status == 429 {
            retry_after = r.header("retry-after").map(str::to_string);
        }
        statuses.push(r.status);
    }
    assert!(statuses[..5].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let secs: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    // /metrics has its own limit (a token or user is needed anyway).
    let metrics: Vec<u16> = (0..5).map(|_| get(&s, "/metrics", &[]).status).collect();
    assert_eq!(metrics, [401, 401, 401, 429, 429]);
    // Health checks never are limited.
    for _ in 0..200 {
        assert_eq!(get(&s, "/-/healthy", &[]).status, 200);
    }
}

#[test]
fn api_rate_limit_answers_429() {
    let s = Server::start_secure(&format!("{SELF_SCRAPE}web:\n  anonymous_role: viewer\n  api_rate_limit: 10\n"));
    let statuses: Vec<u16> = (0..14).map(|_| get(&s, "/api/v1/query?query=1", &[]).status).collect();
    assert_eq!(&statuses[..10], &[200; 10]);
    assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");
    // Pages are not counted against the API limit.
    assert_eq!(get(&s, "/", &[]).status, 200);
}

#[test]
fn request_bodies_over_the_limit_are_refused() {
    let s = Server::start(&format!("{SELF_SCRAPE}web:\n  max_request_body_bytes: 2048\n"));
    let big = format!("query={}", "1".repeat(5000));
    let r = post_form(&s, "/api/v1/query", &[], &big);
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(post_form(&s, "/api/v1/query", &[], "query=1").status, 200);
}

#[test]
fn secrets_are_redacted_in_the_status_page_and_api() {
    let cfg = format!(
        "{SELF_SCRAPE}  - job_name: other\n    basic_auth: {{username: prom, password: hunter2hunter2}}\n    static_configs: [{{targets: ['127.0.0.1:1']}}]\nalertmanager:\n  global:\n    smtp_auth_password: smtpsecret99\n  route: {{receiver: hook}}\n  receivers:\n    - name: hook\n      webhook_configs: [{{url: 'http://127.0.0.1:5001/hook?key=webhookkey77'}}]\n"
    );
    let s = Server::start(&cfg);
    let api = get(&s, "/api/v1/status/config", &[]);
    let page = get(&s, "/status", &[]);
    assert_eq!((api.status, page.status), (200, 200));
    for body in [&api.body, &page.body] {
        for secret in ["hunter2hunter2", "smtpsecret99", "webhookkey77"] {
            assert!(!body.contains(secret), "{secret} shown");
        }
        assert!(body.contains("username: prom"), "the rest of the config is still shown");
    }
    assert!(api.body.contains("<secret>"), "{}", api.body);
    // Alertmanager's status API shows its configuration too.
    let am = get(&s, "/api/v2/status", &[]);
    assert_eq!(am.status, 200);
    for secret in ["smtpsecret99", "webhookkey77"] {
        assert!(!am.body.contains(secret), "{secret} shown by /api/v2/status: {}", am.body);
    }
    assert!(am.body.contains("<secret>"), "{}", am.body);
}

#[test]
fn hostile_label_values_and_titles_are_escaped() {
    let evil_script = "<script>alert(1)</script>";
    let evil_img = "\"><img src=x onerror=alert(1)>";
    let metric =
        format!("# TYPE evil gauge\nevil{{a=\"{}\",b=\"{}\"}} 1\n", evil_script, evil_img.replace('"', "\\\""));
    let target = util::Target::start(&metric);
    // An alert whose labels and annotations carry the hostile values too.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("evil.rules.yml"),
        "groups:\n  - name: evil\n    interval: 1s\n    rules:\n      - alert: EvilAlert\n        expr: evil > 0\n        labels: {copy: '{{ $labels.b }}'}\n        annotations: {summary: 'A {{ $labels.a }} B {{ $labels.b }}'}\n",
    )
    .unwrap();
    let cfg = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nhost: {{enabled: false}}\nrule_files: [evil.rules.yml]\nscrape_configs:\n  - job_name: evil\n    static_configs:\n      - targets: ['{}']\n        labels: {{team: '{}'}}\n",
        target.addr,
        evil_img.replace('\'', "''")
    );
    let s = Server::start_in(&cfg, dir.path(), &dir.path().join("data"));
    s.wait_for("evil", 15, |r| r.len() == 1);
    s.wait_for("ALERTS{alertname=\"EvilAlert\"}", 15, |r| !r.is_empty());
    let title = format!("{evil_script}{evil_img}");
    let yaml = format!(
        "uid: evil\ntitle: '{}'\nrows:\n  - title: '{}'\n    panels:\n      - title: '{}'\n        type: table\n        targets:\n          - expr: evil\n            legend: '{{{{a}}}} {{{{b}}}}'\n",
        title.replace('\'', "''"),
        title.replace('\'', "''"),
        title.replace('\'', "''")
    );
    let r = post_form(&s, "/dashboards/save", &[], &format!("yaml={}&action=save_as", encode(&yaml)));
    assert_eq!(r.status, 303, "{}", r.body);
    let pages = [
        "/targets".to_string(),
        "/dashboards".to_string(),
        "/d/evil?range=5m".to_string(),
        "/d/evil/edit".to_string(),
        format!("/explore?q={}&range=5m", encode("evil")),
        format!("/explore?q={}&range=5m&tab=table", encode("evil")),
        "/".to_string(),
        "/alerts".to_string(),
        "/rules".to_string(),
        "/history".to_string(),
    ];
    for p in &pages {
        let r = get(&s, p, &[]);
        assert_eq!(r.status, 200, "{p}");
        let lower = r.body.to_ascii_lowercase();
        assert!(!lower.contains("<script>alert"), "{p}: raw <script>");
        assert!(!lower.contains("<img src=x"), "{p}: raw <img>");
        assert!(!lower.contains("onerror=alert(1)>"), "{p}: unescaped attribute");
    }
    let alerts = get(&s, "/alerts", &[]).body;
    assert!(alerts.contains("EvilAlert"), "{alerts}");
    assert!(
        alerts.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
            || alerts.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "alert labels shown escaped: {alerts}"
    );
    // The values are there, escaped.
    let d = get(&s, "/dashboards", &[]).body;
    assert!(
        d.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || d.contains("&#60;script&#62;"),
        "title shown escaped"
    );
}

#[test]
fn scrape_limit_refusals_are_counted() {
    let many = util::Target::start("a 1\nb 2\nc 3\nd 4\n");
    let long = util::Target::start(&format!("x{{v=\"{}\"}} 1\n", "v".repeat(100)));
    let cfg = format!(
        "global: {{scrape_interval: 1s}}\nhost: {{enabled: false}}\nscrape_configs:\n  - job_name: many\n    sample_limit: 2\n    static_configs: [{{targets: ['{}']}}]\n  - job_name: long\n    label_value_length_limit: 10\n    static_configs: [{{targets: ['{}']}}]\n",
        many.addr, long.addr
    );
    let s = Server::start(&cfg);
    s.wait_for("up == 0", 15, |r| r.len() == 2);
    let m = get(&s, "/metrics", &[]).body;
    let value = |limit: &str| -> f64 {
        let key = format!("sightline_scrapes_refused_by_limit_total{{limit=\"{limit}\"}} ");
        let line = m.lines().find(|l| l.starts_with(&key)).unwrap_or_else(|| panic!("{key} missing:\n{m}"));
        line[key.len()..].parse().unwrap()
    };
    assert!(value("sample_limit") >= 1.0);
    assert!(value("label_value_length_limit") >= 1.0);
    assert_eq!(value("label_limit"), 0.0);
}

#[test]
fn query_limit_refusals_are_counted() {
    let target = util::Target::start("m{i=\"1\"} 1\nm{i=\"2\"} 2\nm{i=\"3\"} 3\n");
    let cfg = format!(
        "global: {{scrape_interval: 1s}}\nquery: {{max_samples: 100}}\nhost: {{enabled: false}}\nscrape_configs:\n  - job_name: app\n    static_configs: [{{targets: ['{}']}}]\n",
        target.addr
    );
    let s = Server::start(&cfg);
    s.wait_for("m", 15, |r| r.len() == 3);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let r = get(&s, &format!("/api/v1/query_range?query=m&start={}&end={now}&step=1", now - 60), &[]);
    assert_eq!(r.status, 422, "{}", r.body);
    let m = get(&s, "/metrics", &[]).body;
    assert!(m.contains("sightline_http_refused_requests_total{kind=\"query\",reason=\"too_many_samples\"} 1"), "{m}");
}
