//! Sign-in, sign-out, first-start setup, and the admin pages for users and
//! API tokens. Handlers parse, call the store on a blocking thread, render.

use super::store::MIN_PASSWORD_LEN;
use super::{Auth, Role};
use crate::web::AppState;
use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

type Fields = HashMap<String, String>;

/// Routes of the auth pages (their access is in `policy`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/setup", get(setup_form).post(setup_submit))
        .route("/logout", post(logout))
        .route("/admin/users", get(users_page).post(add_user))
        .route("/admin/users/{name}/delete", post(delete_user))
        .route("/admin/users/{name}/password", post(set_password))
        .route("/admin/tokens", get(tokens_page).post(create_token))
        .route("/admin/tokens/{name}/revoke", post(revoke_token))
}

/// The login route on its own, so the web layer can put the login rate
/// limit on it alone.
pub fn login_routes() -> Router<AppState> {
    Router::new().route("/login", get(login_form).post(login_submit))
}

fn render(t: impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("template error: {e}")).into_response(),
    }
}

fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    r
}

/// Only local paths are followed after sign-in (no open redirect).
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") {
        next
    } else {
        "/"
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Response> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("internal error: {e}")).into_response())
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: &'static str,
    next: String,
    user: String,
    error: String,
}

async fn login_form(Query(q): Query<Fields>) -> Response {
    let next = safe_next(q.get("next").map_or("/", String::as_str)).to_string();
    render(LoginPage { nav: "", next, user: String::new(), error: String::new() }, StatusCode::OK)
}

async fn login_submit(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(f): Form<Fields>,
) -> Response {
    let user = f.get("user").cloned().unwrap_or_default();
    let password = f.get("password").cloned().unwrap_or_default();
    let next = safe_next(f.get("next").map_or("/", String::as_str)).to_string();
    let auth = st.auth.clone();
    let u = user.clone();
    let result = blocking(move || -> Result<Option<(String, String)>, super::AuthError> {
        match auth.store.verify_password(&u, &password)? {
            Some(_) => {
                let (id, _csrf) = auth.store.create_session(&u, auth.settings.session_ttl.as_millis() as i64)?;
                let cookie = auth.session_cookie(&id);
                Ok(Some((id, cookie)))
            }
            None => Ok(None),
        }
    })
    .await;
    match result {
        Ok(Ok(Some((_, cookie)))) => {
            tracing::info!(user = %user, peer = %peer.ip(), "signed in");
            redirect(&next, Some(cookie))
        }
        Ok(Ok(None)) => {
            // Logged without the password; repeated failures also hit the login rate limit.
            super::stats::count(super::stats::Refused::FailedLogin);
            tracing::warn!(user = %user, peer = %peer.ip(), "failed sign-in");
            render(
                LoginPage { nav: "", next, user, error: "Wrong user name or password.".into() },
                StatusCode::UNAUTHORIZED,
            )
        }
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(r) => r,
    }
}

async fn logout(State(st): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let id = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| super::cookie_value(c, super::SESSION_COOKIE))
        .map(str::to_string);
    let auth = st.auth.clone();
    if let Some(id) = id {
        let a = auth.clone();
        if let Ok(Err(e)) = blocking(move || a.store.delete_session(&id)).await {
            tracing::error!(error = %e, "ending a session failed");
        }
    }
    redirect("/login", Some(auth.clear_cookie()))
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    nav: &'static str,
    token: String,
    user: String,
    error: String,
    min_len: usize,
}

async fn setup_form(State(st): State<AppState>, Query(q): Query<Fields>) -> Response {
    let token = q.get("token").cloned().unwrap_or_default();
    let auth = st.auth.clone();
    let t = token.clone();
    let valid = match blocking(move || auth.needs_setup() && auth.check_setup_token(&t)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (token, error) = match (token.is_empty(), valid) {
        (true, _) => (String::new(), String::new()),
        (false, true) => (token, String::new()),
        (false, false) => (String::new(), "This setup link is invalid or was already used.".to_string()),
    };
    render(SetupPage { nav: "", token, user: String::new(), error, min_len: MIN_PASSWORD_LEN }, StatusCode::OK)
}

async fn setup_submit(State(st): State<AppState>, Form(f): Form<Fields>) -> Response {
    let token = f.get("token").cloned().unwrap_or_default();
    let user = f.get("user").cloned().unwrap_or_default();
    let password = f.get("password").cloned().unwrap_or_default();
    let again = f.get("password2").cloned().unwrap_or_default();
    let page = |error: String, token: String, user: String| {
        render(SetupPage { nav: "", token, user, error, min_len: MIN_PASSWORD_LEN }, StatusCode::BAD_REQUEST)
    };
    if password != again {
        return page("The two passwords differ.".into(), token, user);
    }
    let auth = st.auth.clone();
    let (t, u) = (token.clone(), user.clone());
    let result = blocking(move || -> Result<String, String> {
        auth.complete_setup(&t, &u, &password).map_err(|e| e.to_string())?;
        let (id, _) =
            auth.store.create_session(&u, auth.settings.session_ttl.as_millis() as i64).map_err(|e| e.to_string())?;
        Ok(auth.session_cookie(&id))
    })
    .await;
    match result {
        Ok(Ok(cookie)) => {
            tracing::info!(user = %user, "first admin created with the setup link");
            redirect("/", Some(cookie))
        }
        Ok(Err(e)) => {
            let auth = st.auth.clone();
            let t = token.clone();
            // Keep the form while the token is still good (e.g. a short password).
            let still = blocking(move || auth.check_setup_token(&t)).await.unwrap_or(false);
            page(e, if still { token } else { String::new() }, user)
        }
        Err(r) => r,
    }
}

fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

struct UserRow {
    name: String,
    role: Role,
    created: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: &'static str,
    users: Vec<UserRow>,
    error: String,
    note: String,
}

async fn users_response(auth: Arc<Auth>, error: String, note: String) -> Response {
    let status = if error.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    match blocking(move || auth.store.list_users()).await {
        Ok(Ok(list)) => {
            let users = list
                .into_iter()
                .map(|u| UserRow { name: u.name, role: u.role, created: format_ms(u.created_ms) })
                .collect();
            render(UsersPage { nav: "admin", users, error, note }, status)
        }
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(r) => r,
    }
}

async fn users_page(State(st): State<AppState>) -> Response {
    users_response(st.auth.clone(), String::new(), String::new()).await
}

async fn add_user(State(st): State<AppState>, Form(f): Form<Fields>) -> Response {
    let name = f.get("user").cloned().unwrap_or_default();
    let password = f.get("password").cloned().unwrap_or_default();
    let role = f.get("role").map_or("viewer", String::as_str).parse::<Role>();
    let auth = st.auth.clone();
    let n = name.clone();
    let result = match role {
        Ok(role) => blocking(move || auth.store.add_user(&n, role, &password).map_err(|e| e.to_string())).await,
        Err(e) => Ok(Err(e.to_string())),
    };
    match result {
        Ok(Ok(())) => {
            tracing::info!(user = %name, "user added");
            users_response(st.auth.clone(), String::new(), format!("User {name} added.")).await
        }
        Ok(Err(e)) => users_response(st.auth.clone(), e, String::new()).await,
        Err(r) => r,
    }
}

async fn delete_user(State(st): State<AppState>, Path(name): Path<String>) -> Response {
    let auth = st.auth.clone();
    let n = name.clone();
    match blocking(move || auth.store.delete_user(&n)).await {
        Ok(Ok(())) => {
            st.auth.forget_cached_passwords();
            tracing::info!(user = %name, "user deleted");
            users_response(st.auth.clone(), String::new(), format!("User {name} deleted.")).await
        }
        Ok(Err(e)) => users_response(st.auth.clone(), e.to_string(), String::new()).await,
        Err(r) => r,
    }
}

async fn set_password(State(st): State<AppState>, Path(name): Path<String>, Form(f): Form<Fields>) -> Response {
    let password = f.get("password").cloned().unwrap_or_default();
    let auth = st.auth.clone();
    let n = name.clone();
    match blocking(move || auth.store.set_password(&n, &password)).await {
        Ok(Ok(())) => {
            st.auth.forget_cached_passwords();
            tracing::info!(user = %name, "password changed");
            users_response(st.auth.clone(), String::new(), format!("Password of {name} changed.")).await
        }
        Ok(Err(e)) => users_response(st.auth.clone(), e.to_string(), String::new()).await,
        Err(r) => r,
    }
}

struct TokenRow {
    name: String,
    role: Role,
    created: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    nav: &'static str,
    tokens: Vec<TokenRow>,
    error: String,
    new_name: String,
    new_token: String,
}

async fn tokens_response(auth: Arc<Auth>, error: String, new_name: String, new_token: String) -> Response {
    let status = if error.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    match blocking(move || auth.store.list_tokens()).await {
        Ok(Ok(list)) => {
            let tokens = list
                .into_iter()
                .map(|t| TokenRow {
                    name: t.name,
                    role: t.role,
                    created: format_ms(t.created_ms),
                    last_used: t.last_used_ms.map_or_else(|| "never".to_string(), format_ms),
                })
                .collect();
            let mut r = render(TokensPage { nav: "admin", tokens, error, new_name, new_token }, status);
            // The page may show a fresh token: keep it out of caches.
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(r) => r,
    }
}

async fn tokens_page(State(st): State<AppState>) -> Response {
    tokens_response(st.auth.clone(), String::new(), String::new(), String::new()).await
}

async fn create_token(State(st): State<AppState>, Form(f): Form<Fields>) -> Response {
    let name = f.get("name").cloned().unwrap_or_default();
    let role = f.get("role").map_or("viewer", String::as_str).parse::<Role>();
    let auth = st.auth.clone();
    let n = name.clone();
    let result = match role {
        Ok(role) => blocking(move || auth.store.create_token(&n, role).map_err(|e| e.to_string())).await,
        Err(e) => Ok(Err(e.to_string())),
    };
    match result {
        Ok(Ok(token)) => {
            tracing::info!(token = %name, "API token created");
            tokens_response(st.auth.clone(), String::new(), name, token).await
        }
        Ok(Err(e)) => tokens_response(st.auth.clone(), e, String::new(), String::new()).await,
        Err(r) => r,
    }
}

async fn revoke_token(State(st): State<AppState>, Path(name): Path<String>) -> Response {
    let auth = st.auth.clone();
    let n = name.clone();
    match blocking(move || auth.store.revoke_token(&n)).await {
        Ok(Ok(())) => {
            tracing::info!(token = %name, "API token revoked");
            tokens_response(st.auth.clone(), String::new(), String::new(), String::new()).await
        }
        Ok(Err(e)) => tokens_response(st.auth.clone(), e.to_string(), String::new(), String::new()).await,
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next("/d/host?from=1"), "/d/host?from=1");
        assert_eq!(safe_next("//evil.example/"), "/");
        assert_eq!(safe_next("/\\evil.example/"), "/");
        assert_eq!(safe_next("https://evil.example/"), "/");
    }
}
