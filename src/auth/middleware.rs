//! The request guard: authenticates every request, applies the access
//! policy, checks the CSRF token of session form POSTs, and adds the
//! security headers to every response.

use super::policy::{self, Access};
use super::stats::{count, Refused};
use super::{Auth, Principal, Refusal, Via};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Name of the hidden form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";
/// Header that may carry the CSRF token instead (scripts).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What the guard needs: the auth service and the largest body it reads
/// to find a CSRF token.
#[derive(Clone)]
pub struct Guard {
    /// Authentication.
    pub auth: Arc<Auth>,
    /// Request body limit in bytes.
    pub max_body: usize,
}

/// Paths answered like an API (401 with a Basic challenge) rather than
/// with a redirect to the login page.
fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
        || path.starts_with("/-/")
        || path == "/metrics"
        || path == "/federate"
        || path == "/v1/metrics"
}

fn plain(status: StatusCode, msg: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{msg}\n")).into_response()
}

fn unauthorized(path: &str, msg: &str) -> Response {
    let mut r = plain(StatusCode::UNAUTHORIZED, msg);
    if is_api(path) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Sightline\""));
    }
    r
}

fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The axum middleware: authentication, access policy and CSRF.
pub async fn guard(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let access = match req.extensions().get::<MatchedPath>() {
        Some(p) => match policy::lookup(p.as_str(), method.as_str()) {
            Some(a) => a,
            // Other methods of a decided route: 405, without running anything.
            None if policy::decided_path(p.as_str()) => {
                return plain(StatusCode::METHOD_NOT_ALLOWED, &format!("{method} is not allowed here"));
            }
            None => {
                tracing::error!(route = p.as_str(), %method, "route has no access decision; refused");
                return plain(StatusCode::FORBIDDEN, "this route has no access decision (src/auth/policy.rs)");
            }
        },
        None => policy::UNMATCHED,
    };
    let access = match access {
        Access::Signed(_) if super::signing::verify(&path, req.uri().query()) => Access::Public,
        Access::Signed(role) => Access::Min(role),
        a => a,
    };
    let min = match access {
        Access::Signed(role) => role,
        Access::Public => {
            // Sign-in and setup forms have no session yet to bind a CSRF token to:
            // a browser's cross-site POST is recognised by its Origin instead.
            if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) && cross_origin(req.headers()) {
                count(Refused::Csrf);
                return plain(StatusCode::FORBIDDEN, "cross-site form submission refused");
            }
            return super::with_principal(None, next.run(req)).await;
        }
        Access::Min(role) => role,
    };

    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let cookie = req.headers().get(header::COOKIE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let auth = g.auth.clone();
    let decided = tokio::task::spawn_blocking(move || {
        let who = auth.authenticate(authorization.as_deref(), cookie.as_deref());
        let setup = matches!(who, Ok(None)) && auth.needs_setup();
        (who, setup)
    })
    .await;
    let (who, needs_setup) = match decided {
        Ok(d) => d,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("authentication failed: {e}")),
    };
    let principal = match who {
        Ok(Some(p)) => p,
        Ok(None) if needs_setup => {
            count(Refused::Unauthenticated);
            return if is_api(&path) || method != Method::GET {
                unauthorized(&path, "Sightline has no users yet: open the setup link printed on its console")
            } else {
                see_other("/setup")
            };
        }
        Ok(None) => {
            count(Refused::Unauthenticated);
            return if is_api(&path) || method != Method::GET {
                unauthorized(&path, "authentication required: sign in, or send a bearer token or basic auth")
            } else {
                let next = req.uri().path_and_query().map_or("/", |p| p.as_str());
                see_other(&format!(
                    "/login?next={}",
                    form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                ))
            };
        }
        Err(Refusal::BadCredentials) => {
            count(Refused::BadCredentials);
            tracing::warn!(%path, "refused a request with wrong, unknown or revoked credentials");
            return unauthorized(&path, "wrong, unknown or revoked credentials");
        }
        Err(Refusal::Internal(e)) => {
            return plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("authentication failed: {e}"));
        }
    };
    if principal.role < min {
        count(Refused::Forbidden);
        return plain(
            StatusCode::FORBIDDEN,
            &format!("{} {path} needs the {min} role; {} is {}", method, principal.name, principal.role),
        );
    }
    let req = match &principal.via {
        Via::Session { csrf } if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) => {
            match check_csrf(req, csrf, g.max_body).await {
                Ok(req) => req,
                Err(resp) => return resp,
            }
        }
        _ => req,
    };
    let mut req = req;
    req.extensions_mut().insert(principal.clone());
    super::with_principal(Some(principal), next.run(req)).await
}

/// Whether the request carries an `Origin` whose host:port is not the
/// `Host` it was sent to (requests without `Origin` are not browsers' cross-site POSTs).
fn cross_origin(headers: &axum::http::HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return false };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest).trim_end_matches('/');
    origin == "null" || !origin_host.eq_ignore_ascii_case(host)
}

/// Passes the request on when it carries the session's CSRF token (header,
/// or the `_csrf` field of a urlencoded or multipart form); 403 otherwise.
async fn check_csrf(req: Request, expected: &str, max_body: usize) -> Result<Request, Response> {
    let forbidden = || {
        count(Refused::Csrf);
        plain(StatusCode::FORBIDDEN, "missing or wrong CSRF token: reload the page and try again")
    };
    if let Some(v) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return if super::constant_time_eq(v.as_bytes(), expected.as_bytes()) { Ok(req) } else { Err(forbidden()) };
    }
    let content_type =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, max_body).await {
        Ok(b) => b,
        Err(_) => {
            count(Refused::BodyTooLarge);
            return Err(plain(StatusCode::PAYLOAD_TOO_LARGE, &format!("request body over {max_body} bytes")));
        }
    };
    let found = form_csrf(&content_type, &bytes);
    if !found.is_some_and(|t| super::constant_time_eq(t.as_bytes(), expected.as_bytes())) {
        return Err(forbidden());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The `_csrf` field of a form body.
pub fn form_csrf(content_type: &str, body: &[u8]) -> Option<String> {
    let ct = content_type.to_ascii_lowercase();
    if ct.starts_with("application/x-www-form-urlencoded") {
        return form_urlencoded::parse(body).find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.into_owned());
    }
    if ct.starts_with("multipart/form-data") {
        // The part whose header names the field; its value ends at the next CRLF.
        let text = String::from_utf8_lossy(body);
        let marker = format!("name=\"{CSRF_FIELD}\"");
        let at = text.find(&marker)?;
        let after = &text[at + marker.len()..];
        let value_start = after.find("\r\n\r\n")? + 4;
        let value = &after[value_start..];
        return Some(value[..value.find("\r\n").unwrap_or(value.len())].to_string());
    }
    None
}

/// Refuses (413, counted) a request whose declared body is over the limit
/// before anything reads it; streamed bodies are capped by axum's
/// `DefaultBodyLimit` where they are read.
pub async fn body_size_limit(State(max): State<usize>, req: Request, next: Next) -> Response {
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        count(Refused::BodyTooLarge);
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body over {max} bytes (web.max_request_body_bytes)"),
        );
    }
    next.run(req).await
}

/// Content-Security-Policy of every response: no inline or foreign
/// scripts; inline style attributes stay allowed (chart colours and sizes).
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                       object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers to every response.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    resp
}

/// The principal the guard attached to a request (None on public routes).
pub fn principal(req_extensions: &axum::http::Extensions) -> Option<&Principal> {
    req_extensions.get::<Principal>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_field_from_forms() {
        assert_eq!(
            form_csrf("application/x-www-form-urlencoded", b"a=1&_csrf=tok%2Fen&b=2").as_deref(),
            Some("tok/en")
        );
        assert_eq!(form_csrf("application/x-www-form-urlencoded", b"a=1"), None);
        let mp = "--X\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\nabc123\r\n--X\r\nContent-Disposition: form-data; name=\"json\"\r\n\r\n{}\r\n--X--\r\n";
        assert_eq!(form_csrf("multipart/form-data; boundary=X", mp.as_bytes()).as_deref(), Some("abc123"));
        assert_eq!(form_csrf("application/json", b"{\"_csrf\":\"x\"}"), None);
    }

    #[test]
    fn cross_origin_posts_are_recognised() {
        let h = |origin: Option<&str>| {
            let mut m = axum::http::HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9900"));
            if let Some(o) = origin {
                m.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
            }
            m
        };
        assert!(!cross_origin(&h(None)));
        assert!(!cross_origin(&h(Some("http://127.0.0.1:9900"))));
        assert!(cross_origin(&h(Some("https://evil.example"))));
        assert!(cross_origin(&h(Some("http://127.0.0.1:9901"))));
        assert!(cross_origin(&h(Some("null"))));
    }

    #[test]
    fn api_paths_get_a_challenge_not_a_redirect() {
        assert!(is_api("/api/v1/query") && is_api("/metrics") && is_api("/-/reload") && is_api("/federate"));
        assert!(!is_api("/") && !is_api("/dashboards"));
        let r = unauthorized("/api/v1/query", "no");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
        assert!(!unauthorized("/alerts", "no").headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
