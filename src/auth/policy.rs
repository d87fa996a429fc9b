//! The access policy: one row per (route pattern, method) with the least
//! role that may use it. The middleware refuses a route that has no row
//! (deny by default), and `tests/security_routes.rs` walks every row for
//! anonymous, viewer, editor and admin callers, while the unit test below
//! checks that every `.route(...)` in `src/web` and `src/auth` has a row.

use super::Role;

/// Who may use a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, even before the first admin exists (health, assets, login, setup).
    Public,
    /// At least this role.
    Min(Role),
    /// Anyone with a valid signed link (`auth::signing`), else at least this role.
    Signed(Role),
}

use Access::{Min, Public, Signed};
use Role::{Admin, Editor, Viewer};

/// Every route of the router: (axum path pattern, method, access).
pub const POLICY: &[(&str, &str, Access)] = &[
    // Health and assets.
    ("/-/healthy", "GET", Public),
    ("/-/ready", "GET", Public),
    ("/assets/style.css", "GET", Public),
    ("/assets/sightline.js", "GET", Public),
    // Sign-in and first-start setup.
    ("/login", "GET", Public),
    ("/login", "POST", Public),
    ("/setup", "GET", Public),
    ("/setup", "POST", Public),
    ("/logout", "POST", Min(Viewer)),
    // Admin pages: users and tokens.
    ("/admin/users", "GET", Min(Admin)),
    ("/admin/users", "POST", Min(Admin)),
    ("/admin/users/{name}/delete", "POST", Min(Admin)),
    ("/admin/users/{name}/password", "POST", Min(Admin)),
    ("/admin/tokens", "GET", Min(Admin)),
    ("/admin/tokens", "POST", Min(Admin)),
    ("/admin/tokens/{name}/revoke", "POST", Min(Admin)),
    ("/-/reload", "POST", Min(Admin)),
    // Self-monitoring: a token (or user) with any role.
    ("/metrics", "GET", Min(Viewer)),
    // Prometheus API v1: reads (POST is the same query as a form body).
    ("/api/v1/query", "GET", Min(Viewer)),
    ("/api/v1/query", "POST", Min(Viewer)),
    ("/api/v1/query_range", "GET", Min(Viewer)),
    ("/api/v1/query_range", "POST", Min(Viewer)),
    ("/api/v1/series", "GET", Min(Viewer)),
    ("/api/v1/series", "POST", Min(Viewer)),
    ("/api/v1/labels", "GET", Min(Viewer)),
    ("/api/v1/labels", "POST", Min(Viewer)),
    ("/api/v1/label/{name}/values", "GET", Min(Viewer)),
    ("/api/v1/targets", "GET", Min(Viewer)),
    ("/api/v1/metadata", "GET", Min(Viewer)),
    ("/api/v1/status/buildinfo", "GET", Min(Viewer)),
    ("/api/v1/status/config", "GET", Min(Viewer)),
    ("/api/v1/status/runtimeinfo", "GET", Min(Viewer)),
    ("/api/v1/status/flags", "GET", Min(Viewer)),
    ("/api/v1/status/tsdb", "GET", Min(Viewer)),
    ("/api/v1/targets/metadata", "GET", Min(Viewer)),
    ("/api/v1/query_exemplars", "GET", Min(Viewer)),
    ("/api/v1/query_exemplars", "POST", Min(Viewer)),
    ("/api/v1/format_query", "GET", Min(Viewer)),
    ("/api/v1/format_query", "POST", Min(Viewer)),
    ("/api/v1/parse_query", "GET", Min(Viewer)),
    ("/api/v1/parse_query", "POST", Min(Viewer)),
    // Chart images in notifications: Slack fetches them without credentials, by signed link.
    ("/api/v1/alert_chart.png", "GET", Signed(Viewer)),
    ("/api/v1/rules", "GET", Min(Viewer)),
    ("/api/v1/rules", "POST", Min(Viewer)),
    ("/api/v1/alerts", "GET", Min(Viewer)),
    ("/api/v1/alerts", "POST", Min(Viewer)),
    ("/federate", "GET", Min(Viewer)),
    ("/federate", "POST", Min(Viewer)),
    // Pushing samples changes the data: editors (or an editor token).
    ("/api/v1/write", "POST", Min(Editor)),
    ("/api/v1/otlp/v1/metrics", "POST", Min(Editor)),
    ("/v1/metrics", "POST", Min(Editor)),
    // Alertmanager API v2.
    ("/api/v2/status", "GET", Min(Viewer)),
    ("/api/v2/receivers", "GET", Min(Viewer)),
    ("/api/v2/alerts", "GET", Min(Viewer)),
    ("/api/v2/alerts", "POST", Min(Editor)),
    ("/api/v2/alerts/groups", "GET", Min(Viewer)),
    ("/api/v2/silences", "GET", Min(Viewer)),
    ("/api/v2/silences", "POST", Min(Editor)),
    ("/api/v2/silence/{id}", "GET", Min(Viewer)),
    ("/api/v2/silence/{id}", "DELETE", Min(Editor)),
    // Pages.
    ("/", "GET", Min(Viewer)),
    ("/targets", "GET", Min(Viewer)),
    ("/status", "GET", Min(Viewer)),
    ("/explore", "GET", Min(Viewer)),
    ("/alerts", "GET", Min(Viewer)),
    ("/rules", "GET", Min(Viewer)),
    ("/receivers", "GET", Min(Viewer)),
    ("/history", "GET", Min(Viewer)),
    ("/graph", "GET", Min(Viewer)),
    ("/receivers/{name}/test", "POST", Min(Editor)),
    ("/silences", "GET", Min(Viewer)),
    ("/silences", "POST", Min(Editor)),
    ("/silences/{id}/expire", "POST", Min(Editor)),
    ("/dashboards", "GET", Min(Viewer)),
    ("/d/{uid}", "GET", Min(Viewer)),
    ("/dashboards/new", "GET", Min(Editor)),
    ("/dashboards/save", "POST", Min(Editor)),
    ("/dashboards/import", "GET", Min(Editor)),
    ("/dashboards/import", "POST", Min(Editor)),
    ("/d/{uid}/edit", "GET", Min(Editor)),
    ("/d/{uid}/delete", "POST", Min(Editor)),
];

/// Access to a request that matched no route (a 404 for those allowed to
/// see it): viewers, so that unauthenticated callers learn nothing.
pub const UNMATCHED: Access = Min(Viewer);

/// The access decision for a matched route pattern and method; HEAD is
/// decided as GET. None: the route has no decision (refused by the middleware).
pub fn lookup(pattern: &str, method: &str) -> Option<Access> {
    let method = if method == "HEAD" { "GET" } else { method };
    POLICY.iter().find(|(p, m, _)| *p == pattern && *m == method).map(|(_, _, a)| *a)
}

/// Whether the policy has any row for this route pattern.
pub fn decided_path(pattern: &str) -> bool {
    POLICY.iter().any(|(p, _, _)| *p == pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.route("PATH", get(..).post(..))` call in a source file, as
    /// (path, METHOD) pairs.
    fn routes_in(src: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let methods = regex::Regex::new(r"(?:^|[^\w])(get|post|put|delete|patch)\(").unwrap();
        let mut rest = src;
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            // The call's text up to its closing parenthesis.
            let mut depth = 1;
            let mut end = rest.len();
            for (j, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let call = &rest[..end];
            let Some(path) = call.split('"').nth(1) else { continue };
            for m in methods.captures_iter(call) {
                out.push((path.to_string(), m[1].to_ascii_uppercase()));
            }
        }
        out
    }

    #[test]
    fn every_route_in_the_source_has_a_decision() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut seen = Vec::new();
        for dir in ["web", "auth"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                // This file's own scanner test holds sample `.route(` text.
                if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("policy.rs") {
                    let src = std::fs::read_to_string(&path).unwrap();
                    for (p, m) in routes_in(&src) {
                        assert!(
                            lookup(&p, &m).is_some(),
                            "{}: route {m} {p} has no access decision in src/auth/policy.rs",
                            path.display()
                        );
                        seen.push((p, m));
                    }
                }
            }
        }
        // The scan found the router (guards against the scan silently matching nothing).
        assert!(seen.len() >= 40, "only {} routes found", seen.len());
        // And every policy row is a real route (no stale rows).
        for (p, m, _) in POLICY {
            assert!(seen.iter().any(|(sp, sm)| sp == p && sm == m), "policy row {m} {p} matches no route");
        }
    }

    #[test]
    fn route_scanner_reads_multi_line_and_chained_methods() {
        let src = r#"Router::new().route("/a", get(x).post(y)).route(
            "/b/{id}",
            delete(post_thing).layer(L::max(3)),
        )"#;
        assert_eq!(
            routes_in(src),
            [("/a".into(), "GET".into()), ("/a".into(), "POST".into()), ("/b/{id}".into(), "DELETE".into())]
        );
    }

    #[test]
    fn lookup_decides_head_as_get_and_unknown_as_none() {
        assert_eq!(lookup("/-/healthy", "HEAD"), Some(Public));
        assert_eq!(lookup("/-/reload", "POST"), Some(Min(Admin)));
        assert_eq!(lookup("/-/reload", "GET"), None);
        assert_eq!(lookup("/nowhere", "GET"), None);
        assert!(decided_path("/-/reload") && !decided_path("/nowhere"));
    }
}
