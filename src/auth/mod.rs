//! Who may do what: users with roles (viewer < editor < admin), argon2
//! password hashes, browser sessions with a CSRF token, API tokens, HTTP
//! basic auth for Prometheus API clients, the one-time setup link, and the
//! access policy that gives every route a minimum role (`policy`).
//!
//! The web layer calls [`Auth::authenticate`] from its middleware
//! (`middleware`); the login, setup, users and tokens pages are in `pages`.

pub mod middleware;
pub mod pages;
pub mod policy;
pub mod redact;
pub mod signing;
pub mod stats;
pub mod store;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use store::{Session, Store, TokenInfo, UserInfo};

/// What a user or token may do; each role includes the ones below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads pages and query APIs.
    Viewer,
    /// Also changes dashboards, silences and rules, and pushes samples.
    Editor,
    /// Also manages users, tokens and the configuration.
    Admin,
}

impl Role {
    /// All roles, lowest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    /// The name used in the database, the config and the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// Parses `viewer`, `editor` or `admin`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Role, AuthError> {
        Role::parse(s).ok_or_else(|| AuthError::BadRole(s.to_string()))
    }
}

/// Errors of the auth store and the user/token commands.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// SQLite failed.
    #[error("auth store: {what}: {source}")]
    Db {
        /// What was being done.
        what: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// File system error.
    #[error("auth store: {0}")]
    Io(String),
    /// Hashing failed (should not happen with valid parameters).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// Not viewer, editor or admin.
    #[error("{0:?} is not a role; use viewer, editor or admin")]
    BadRole(String),
    /// A user or token name with characters outside the allowed set.
    #[error("{kind} name {name:?} must be 1-64 letters, digits, '.', '_', '@' or '-'")]
    BadName {
        /// "user" or "token".
        kind: &'static str,
        /// The name given.
        name: String,
    },
    /// The password is shorter than the minimum.
    #[error("the password must have at least {0} characters")]
    WeakPassword(usize),
    /// `user add` with a taken name.
    #[error("user {0:?} already exists")]
    UserExists(String),
    /// No user by that name.
    #[error("there is no user {0:?}")]
    NoSuchUser(String),
    /// Deleting the only admin.
    #[error("{0:?} is the last admin; add another admin first")]
    LastAdmin(String),
    /// `token create` with a taken name.
    #[error("token {0:?} already exists")]
    TokenExists(String),
    /// No token by that name.
    #[error("there is no token {0:?}")]
    NoSuchToken(String),
}

/// How a request proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// A browser session cookie; form POSTs must carry this CSRF token.
    Session {
        /// The session's CSRF token.
        csrf: String,
    },
    /// `Authorization: Bearer` with an API token.
    Token,
    /// `Authorization: Basic` with a user's password.
    Basic,
    /// No credentials; `web.anonymous_role` applies.
    Anonymous,
}

/// The authenticated caller of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// User or token name (`anonymous` without credentials).
    pub name: String,
    /// What the caller may do.
    pub role: Role,
    /// How the caller authenticated.
    pub via: Via,
}

/// Why a request is refused before its role is even looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Credentials were presented but are wrong, unknown or revoked.
    BadCredentials,
    /// The store could not be read.
    Internal(String),
}

/// Auth settings from `web:` in sightline.yml.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Role of requests without credentials; None (the default) = they are refused.
    pub anonymous_role: Option<Role>,
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// Mark cookies `Secure` (set when serving TLS).
    pub secure_cookies: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { anonymous_role: None, session_ttl: Duration::from_secs(12 * 3600), secure_cookies: false }
    }
}

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "sightline_session";

/// How long a verified basic-auth password is remembered, so that a
/// Grafana data source does not pay an argon2 hash on every query.
const BASIC_CACHE_TTL: Duration = Duration::from_secs(60);

/// The authentication service shared by the middleware and the pages.
pub struct Auth {
    /// Users, tokens and sessions.
    pub store: Arc<Store>,
    /// From `web:`.
    pub settings: Settings,
    /// The one-time setup token while no user exists.
    setup_token: Mutex<Option<String>>,
    /// Tokens that live only in memory (the self-scrape's), by SHA-256.
    internal_tokens: Mutex<HashMap<String, (String, Role)>>,
    /// SHA-256 of "user:password" → (role, verified at).
    basic_cache: Mutex<HashMap<String, (Role, Instant)>>,
    /// Set once a user exists (never unset: the last admin cannot be deleted).
    has_users: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Auth {
    /// The service over `store`. When no user exists yet, a one-time setup
    /// token is made; [`Auth::setup_token`] returns it for the console.
    pub fn new(store: Arc<Store>, settings: Settings) -> Result<Auth, AuthError> {
        let has_users = store.user_count()? > 0;
        let setup = if has_users { None } else { Some(store::random_secret()) };
        Ok(Auth {
            store,
            settings,
            setup_token: Mutex::new(setup),
            internal_tokens: Mutex::new(HashMap::new()),
            basic_cache: Mutex::new(HashMap::new()),
            has_users: AtomicBool::new(has_users),
        })
    }

    /// The setup token, while no user exists.
    pub fn setup_token(&self) -> Option<String> {
        lock(&self.setup_token).clone()
    }

    /// Whether `token` is the current setup token (compared in constant time).
    pub fn check_setup_token(&self, token: &str) -> bool {
        lock(&self.setup_token).as_deref().is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes()))
    }

    /// Creates the first admin with the setup token; the token is spent.
    pub fn complete_setup(&self, token: &str, name: &str, password: &str) -> Result<(), SetupError> {
        let mut guard = lock(&self.setup_token);
        let valid = guard.as_deref().is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes()));
        if !valid {
            return Err(SetupError::BadToken);
        }
        if self.store.user_count().map_err(SetupError::Store)? > 0 {
            *guard = None;
            return Err(SetupError::AlreadyDone);
        }
        self.store.add_user(name, Role::Admin, password).map_err(SetupError::Store)?;
        *guard = None;
        self.has_users.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// True while nobody can sign in: no user exists and anonymous access is off.
    /// Blocking (reads the store when no user was seen yet, since `user add`
    /// may run beside the server).
    pub fn needs_setup(&self) -> bool {
        if self.settings.anonymous_role.is_some() || self.has_users.load(Ordering::SeqCst) {
            return false;
        }
        if self.store.user_count().unwrap_or(0) > 0 {
            self.has_users.store(true, Ordering::SeqCst);
            *lock(&self.setup_token) = None;
            return false;
        }
        true
    }

    /// Registers a token that lives only in this process (e.g. for the
    /// self-scrape) and returns it.
    pub fn internal_token(&self, name: &str, role: Role) -> String {
        let token = format!("sl_{}", store::random_secret());
        lock(&self.internal_tokens).insert(store::sha256_hex(&token), (name.to_string(), role));
        token
    }

    /// Whether an `Authorization` header value carries an in-memory token
    /// (the self-scrape's). Cheap: no store access.
    pub fn is_internal_token(&self, authorization: &str) -> bool {
        let Some(token) = authorization.strip_prefix("Bearer ") else { return false };
        lock(&self.internal_tokens).contains_key(&store::sha256_hex(token.trim()))
    }

    /// Who sent a request with these `Authorization` and `Cookie` header
    /// values. Ok(None): no credentials and no anonymous role. Blocking
    /// (SQLite, argon2): call it from `spawn_blocking`.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        cookie: Option<&str>,
    ) -> Result<Option<Principal>, Refusal> {
        let internal = |e: AuthError| Refusal::Internal(e.to_string());
        if let Some(value) = authorization {
            let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
            let rest = rest.trim();
            if scheme.eq_ignore_ascii_case("bearer") {
                let hash = store::sha256_hex(rest);
                if let Some((name, role)) = lock(&self.internal_tokens).get(&hash).cloned() {
                    return Ok(Some(Principal { name, role, via: Via::Token }));
                }
                return match self.store.token_role(rest).map_err(internal)? {
                    Some((name, role)) => Ok(Some(Principal { name, role, via: Via::Token })),
                    None => Err(Refusal::BadCredentials),
                };
            }
            if scheme.eq_ignore_ascii_case("basic") {
                let Some((user, password)) = decode_basic(rest) else {
                    return Err(Refusal::BadCredentials);
                };
                return match self.verify_basic(&user, &password).map_err(internal)? {
                    Some(role) => Ok(Some(Principal { name: user, role, via: Via::Basic })),
                    None => Err(Refusal::BadCredentials),
                };
            }
            return Err(Refusal::BadCredentials);
        }
        if let Some(id) = cookie.and_then(|c| cookie_value(c, SESSION_COOKIE)) {
            if let Some(s) = self.store.session(id).map_err(internal)? {
                return Ok(Some(Principal { name: s.user, role: s.role, via: Via::Session { csrf: s.csrf } }));
            }
            // A stale cookie falls through to anonymous access, as if absent.
        }
        Ok(self.settings.anonymous_role.map(|role| Principal {
            name: "anonymous".to_string(),
            role,
            via: Via::Anonymous,
        }))
    }

    fn verify_basic(&self, user: &str, password: &str) -> Result<Option<Role>, AuthError> {
        let key = store::sha256_hex(&format!("{user}:{password}"));
        {
            let mut cache = lock(&self.basic_cache);
            cache.retain(|_, (_, at)| at.elapsed() < BASIC_CACHE_TTL);
            if let Some((role, _)) = cache.get(&key) {
                return Ok(Some(*role));
            }
        }
        let role = self.store.verify_password(user, password)?;
        if let Some(role) = role {
            lock(&self.basic_cache).insert(key, (role, Instant::now()));
        }
        Ok(role)
    }

    /// Forgets cached basic-auth verifications (after a password or user change).
    pub fn forget_cached_passwords(&self) {
        lock(&self.basic_cache).clear();
    }

    /// The `Set-Cookie` value that starts a session.
    pub fn session_cookie(&self, id: &str) -> String {
        let secure = if self.settings.secure_cookies { "; Secure" } else { "" };
        format!(
            "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            self.settings.session_ttl.as_secs()
        )
    }

    /// The `Set-Cookie` value that ends a session.
    pub fn clear_cookie(&self) -> String {
        let secure = if self.settings.secure_cookies { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
    }
}

/// Why the setup form was refused.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Wrong or spent setup token.
    #[error("the setup link is invalid or was already used")]
    BadToken,
    /// A user exists already.
    #[error("setup is already done; sign in instead")]
    AlreadyDone,
    /// The name or password was refused, or the store failed.
    #[error("{0}")]
    Store(AuthError),
}

/// Byte comparison whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// (user, password) from the part of a Basic header after "Basic ".
fn decode_basic(b64: &str) -> Option<(String, String)> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.trim())
}

tokio::task_local! {
    /// The current request's principal, for templates (CSRF field, user menu).
    static CURRENT: Option<Principal>;
}

/// Runs `f` with `principal` visible to [`csrf_token`] and [`signed_in_user`].
pub async fn with_principal<F: std::future::Future>(principal: Option<Principal>, f: F) -> F::Output {
    CURRENT.scope(principal, f).await
}

/// The CSRF token of the current request's session, for the hidden form
/// field (`assets/templates/csrf.html`); empty without a session.
pub fn csrf_token() -> String {
    CURRENT
        .try_with(|p| match p {
            Some(Principal { via: Via::Session { csrf }, .. }) => csrf.clone(),
            _ => String::new(),
        })
        .unwrap_or_default()
}

/// The signed-in user's name (sessions only), for the logout button.
pub fn signed_in_user() -> String {
    CURRENT
        .try_with(|p| match p {
            Some(Principal { name, via: Via::Session { .. }, .. }) => name.clone(),
            _ => String::new(),
        })
        .unwrap_or_default()
}

/// Whether the current request's caller is an admin (to show admin links).
pub fn is_admin() -> bool {
    CURRENT.try_with(|p| p.as_ref().is_some_and(|p| p.role == Role::Admin)).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(anon: Option<Role>) -> Auth {
        let store = Arc::new(Store::open_in_memory().unwrap());
        Auth::new(store, Settings { anonymous_role: anon, ..Settings::default() }).unwrap()
    }

    #[test]
    fn roles_are_ordered_and_parsed() {
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn setup_token_is_single_use() {
        let a = auth(None);
        assert!(a.needs_setup());
        let t = a.setup_token().expect("no users yet: a setup token");
        assert!(matches!(a.complete_setup("wrong", "root", "password1"), Err(SetupError::BadToken)));
        a.complete_setup(&t, "root", "password1").unwrap();
        assert!(!a.needs_setup());
        assert!(a.setup_token().is_none());
        assert!(matches!(a.complete_setup(&t, "root2", "password1"), Err(SetupError::BadToken)));
        assert_eq!(a.store.verify_password("root", "password1").unwrap(), Some(Role::Admin));
    }

    #[test]
    fn authenticate_each_way() {
        use base64::Engine;
        let a = auth(None);
        a.store.add_user("ann", Role::Editor, "password1").unwrap();
        assert_eq!(a.authenticate(None, None), Ok(None));
        let token = a.store.create_token("ci", Role::Viewer).unwrap();
        let p = a.authenticate(Some(&format!("Bearer {token}")), None).unwrap().unwrap();
        assert_eq!((p.name.as_str(), p.role, p.via), ("ci", Role::Viewer, Via::Token));
        assert_eq!(a.authenticate(Some("Bearer sl_nope"), None), Err(Refusal::BadCredentials));
        let basic = base64::engine::general_purpose::STANDARD.encode("ann:password1");
        let p = a.authenticate(Some(&format!("Basic {basic}")), None).unwrap().unwrap();
        assert_eq!((p.role, p.via), (Role::Editor, Via::Basic));
        let wrong = base64::engine::general_purpose::STANDARD.encode("ann:password2");
        assert_eq!(a.authenticate(Some(&format!("Basic {wrong}")), None), Err(Refusal::BadCredentials));
        let (id, csrf) = a.store.create_session("ann", 60_000).unwrap();
        let p = a.authenticate(None, Some(&format!("theme=dark; {SESSION_COOKIE}={id}"))).unwrap().unwrap();
        assert_eq!(p.via, Via::Session { csrf });
        let internal = a.internal_token("self-scrape", Role::Viewer);
        assert!(a.is_internal_token(&format!("Bearer {internal}")) && !a.is_internal_token(&format!("Bearer {token}")));
        assert_eq!(a.authenticate(Some(&format!("Bearer {internal}")), None).unwrap().unwrap().name, "self-scrape");
        assert_eq!(a.authenticate(Some("Digest abc"), None), Err(Refusal::BadCredentials));
    }

    #[test]
    fn anonymous_role_applies_without_credentials_only() {
        let a = auth(Some(Role::Viewer));
        assert!(!a.needs_setup());
        let p = a.authenticate(None, Some("sightline_session=stale")).unwrap().unwrap();
        assert_eq!((p.role, p.via), (Role::Viewer, Via::Anonymous));
        assert_eq!(a.authenticate(Some("Bearer sl_wrong"), None), Err(Refusal::BadCredentials));
    }

    #[test]
    fn cookies() {
        let a = auth(None);
        let c = a.session_cookie("abc");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"), "{c}");
        let a = Auth::new(
            Arc::new(Store::open_in_memory().unwrap()),
            Settings { secure_cookies: true, ..Settings::default() },
        )
        .unwrap();
        assert!(a.session_cookie("abc").ends_with("; Secure"));
        assert_eq!(cookie_value("a=1; sightline_session=xyz; b=2", SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie_value("a=1", SESSION_COOKIE), None);
    }
}
