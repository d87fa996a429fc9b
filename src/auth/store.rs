//! The `auth_*` tables in `<data dir>/sightline.db`: users (argon2 password
//! hashes), API tokens (SHA-256 of the token, never the token) and browser
//! sessions (SHA-256 of the session id). Own connection, like the notifier's
//! store, so the TSDB writer is never blocked by a login.

use super::{AuthError, Role};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Mutex;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS auth_users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS auth_tokens (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_ms INTEGER NOT NULL,
    last_used_ms INTEGER);
CREATE TABLE IF NOT EXISTS auth_settings (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS auth_sessions (
    id_hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL, expires_ms INTEGER NOT NULL);
";

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// A user as listed (never the hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    /// Login name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// Milliseconds since the epoch.
    pub created_ms: i64,
}

/// An API token as listed (never the token or its hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token's name (what `token revoke` takes).
    pub name: String,
    /// What a request carrying it may do.
    pub role: Role,
    /// Milliseconds since the epoch.
    pub created_ms: i64,
    /// Last request that used it, if any.
    pub last_used_ms: Option<i64>,
}

/// A live browser session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The signed-in user.
    pub user: String,
    /// The user's role now (a role change applies to open sessions at once).
    pub role: Role,
    /// The session's CSRF token, required on every form POST.
    pub csrf: String,
    /// Milliseconds since the epoch.
    pub expires_ms: i64,
}

/// The SQLite-backed user, token and session store. Every call blocks:
/// call it from `spawn_blocking` or a command-line path.
pub struct Store {
    conn: Mutex<Connection>,
}

fn db(what: &'static str) -> impl FnOnce(rusqlite::Error) -> AuthError {
    move |source| AuthError::Db { what, source }
}

/// Hex SHA-256: how tokens and session ids are stored.
pub fn sha256_hex(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 random bytes as URL-safe base64 (43 characters).
pub fn random_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Checks a user or token name: 1–64 characters of letters, digits, `._@-`.
pub fn check_name(kind: &'static str, name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::BadName { kind, name: name.to_string() })
    }
}

fn check_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AuthError::WeakPassword(MIN_PASSWORD_LEN));
    }
    Ok(())
}

/// An argon2id hash (PHC string) of `password` with a random salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_hash(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash of a password nobody has, verified when the user does not exist
/// so that a login for an unknown name costs as long as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_secret()).unwrap_or_default())
}

impl Store {
    /// Opens (creating the tables if needed) the store in `data_dir/sightline.db`.
    pub fn open(data_dir: &Path) -> Result<Store, AuthError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| AuthError::Io(format!("creating {}: {e}", data_dir.display())))?;
        Self::init(Connection::open(data_dir.join("sightline.db")).map_err(db("open database"))?)
    }

    /// An in-memory store, for tests.
    pub fn open_in_memory() -> Result<Store, AuthError> {
        Self::init(Connection::open_in_memory().map_err(db("open in-memory database"))?)
    }

    fn init(conn: Connection) -> Result<Store, AuthError> {
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(db("set busy timeout"))?;
        // WAL may already be on (the TSDB sets it); in-memory databases refuse it, harmlessly.
        let _ = conn.pragma_update(None, "journal_mode", "WAL");
        conn.execute_batch(SCHEMA).map_err(db("create auth tables"))?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key that signs links (`auth::signing`), made on first use and kept,
    /// so links sent before a restart stay valid.
    pub fn signing_key(&self) -> Result<[u8; 32], AuthError> {
        let conn = self.conn();
        let fresh: [u8; 32] = rand::random();
        conn.execute(
            "INSERT OR IGNORE INTO auth_settings (name, value) VALUES ('url_signing_key', ?1)",
            params![fresh.to_vec()],
        )
        .map_err(db("store signing key"))?;
        let v: Vec<u8> = conn
            .query_row("SELECT value FROM auth_settings WHERE name = 'url_signing_key'", [], |r| r.get(0))
            .map_err(db("read signing key"))?;
        v.try_into().map_err(|_| AuthError::Io("auth_settings.url_signing_key is not 32 bytes".into()))
    }

    /// How many users exist.
    pub fn user_count(&self) -> Result<usize, AuthError> {
        let n: i64 =
            self.conn().query_row("SELECT COUNT(*) FROM auth_users", [], |r| r.get(0)).map_err(db("count users"))?;
        Ok(n as usize)
    }

    /// Adds a user; fails when the name is taken.
    pub fn add_user(&self, name: &str, role: Role, password: &str) -> Result<(), AuthError> {
        check_name("user", name)?;
        check_password(password)?;
        let hash = hash_password(password)?;
        let n = self
            .conn()
            .execute(
                "INSERT OR IGNORE INTO auth_users (name, role, hash, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![name, role.as_str(), hash, now_ms()],
            )
            .map_err(db("add user"))?;
        if n == 0 {
            return Err(AuthError::UserExists(name.to_string()));
        }
        Ok(())
    }

    /// Sets a user's password and signs out the user's sessions.
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), AuthError> {
        check_password(password)?;
        let hash = hash_password(password)?;
        let conn = self.conn();
        let n = conn
            .execute("UPDATE auth_users SET hash = ?2 WHERE name = ?1", params![name, hash])
            .map_err(db("set password"))?;
        if n == 0 {
            return Err(AuthError::NoSuchUser(name.to_string()));
        }
        conn.execute("DELETE FROM auth_sessions WHERE user = ?1", params![name]).map_err(db("end sessions"))?;
        Ok(())
    }

    /// Deletes a user and the user's sessions. The last admin cannot be
    /// deleted, so the server never locks everybody out.
    pub fn delete_user(&self, name: &str) -> Result<(), AuthError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(db("begin"))?;
        let role: Option<String> = tx
            .query_row("SELECT role FROM auth_users WHERE name = ?1", params![name], |r| r.get(0))
            .optional()
            .map_err(db("find user"))?;
        let Some(role) = role else {
            return Err(AuthError::NoSuchUser(name.to_string()));
        };
        if role == Role::Admin.as_str() {
            let admins: i64 = tx
                .query_row("SELECT COUNT(*) FROM auth_users WHERE role = 'admin'", [], |r| r.get(0))
                .map_err(db("count admins"))?;
            if admins <= 1 {
                return Err(AuthError::LastAdmin(name.to_string()));
            }
        }
        tx.execute("DELETE FROM auth_users WHERE name = ?1", params![name]).map_err(db("delete user"))?;
        tx.execute("DELETE FROM auth_sessions WHERE user = ?1", params![name]).map_err(db("end sessions"))?;
        tx.commit().map_err(db("commit"))
    }

    /// Every user, by name.
    pub fn list_users(&self) -> Result<Vec<UserInfo>, AuthError> {
        let conn = self.conn();
        let mut st =
            conn.prepare("SELECT name, role, created_ms FROM auth_users ORDER BY name").map_err(db("list users"))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
            .map_err(db("list users"))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, role, created_ms) = row.map_err(db("list users"))?;
            out.push(UserInfo { name, role: Role::parse(&role).unwrap_or(Role::Viewer), created_ms });
        }
        Ok(out)
    }

    /// The user's role when `password` is right. Takes as long for an
    /// unknown name as for a wrong password.
    pub fn verify_password(&self, name: &str, password: &str) -> Result<Option<Role>, AuthError> {
        let row: Option<(String, String)> = self
            .conn()
            .query_row("SELECT role, hash FROM auth_users WHERE name = ?1", params![name], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(db("find user"))?;
        match row {
            Some((role, hash)) if verify_hash(password, &hash) => Ok(Role::parse(&role)),
            Some(_) => Ok(None),
            None => {
                verify_hash(password, dummy_hash());
                Ok(None)
            }
        }
    }

    /// Creates an API token and returns it: the only time it is visible.
    pub fn create_token(&self, name: &str, role: Role) -> Result<String, AuthError> {
        check_name("token", name)?;
        let token = format!("sl_{}", random_secret());
        let n = self
            .conn()
            .execute(
                "INSERT OR IGNORE INTO auth_tokens (name, role, hash, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![name, role.as_str(), sha256_hex(&token), now_ms()],
            )
            .map_err(db("create token"))?;
        if n == 0 {
            return Err(AuthError::TokenExists(name.to_string()));
        }
        Ok(token)
    }

    /// Revokes (deletes) a token by name.
    pub fn revoke_token(&self, name: &str) -> Result<(), AuthError> {
        let n = self.conn().execute("DELETE FROM auth_tokens WHERE name = ?1", params![name]).map_err(db("revoke"))?;
        if n == 0 {
            return Err(AuthError::NoSuchToken(name.to_string()));
        }
        Ok(())
    }

    /// Every token, by name.
    pub fn list_tokens(&self) -> Result<Vec<TokenInfo>, AuthError> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT name, role, created_ms, last_used_ms FROM auth_tokens ORDER BY name")
            .map_err(db("list tokens"))?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, Option<i64>>(3)?))
            })
            .map_err(db("list tokens"))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, role, created_ms, last_used_ms) = row.map_err(db("list tokens"))?;
            out.push(TokenInfo { name, role: Role::parse(&role).unwrap_or(Role::Viewer), created_ms, last_used_ms });
        }
        Ok(out)
    }

    /// The name and role of a presented token, recording its use.
    pub fn token_role(&self, token: &str) -> Result<Option<(String, Role)>, AuthError> {
        let hash = sha256_hex(token);
        let conn = self.conn();
        let row: Option<(String, String)> = conn
            .query_row("SELECT name, role FROM auth_tokens WHERE hash = ?1", params![hash], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(db("find token"))?;
        let Some((name, role)) = row else { return Ok(None) };
        // Coarse (one write a minute per token at most) so a busy scraper does not write on every request.
        let now = now_ms();
        conn.execute(
            "UPDATE auth_tokens SET last_used_ms = ?2 WHERE hash = ?1 AND COALESCE(last_used_ms, 0) < ?2 - 60000",
            params![hash, now],
        )
        .map_err(db("record token use"))?;
        Ok(Role::parse(&role).map(|r| (name, r)))
    }

    /// Starts a session for `user`; returns (session id, CSRF token). Only
    /// the id's hash is stored.
    pub fn create_session(&self, user: &str, ttl_ms: i64) -> Result<(String, String), AuthError> {
        let id = random_secret();
        let csrf = random_secret();
        let now = now_ms();
        let conn = self.conn();
        conn.execute("DELETE FROM auth_sessions WHERE expires_ms < ?1", params![now]).map_err(db("purge sessions"))?;
        conn.execute(
            "INSERT INTO auth_sessions (id_hash, user, csrf, expires_ms) VALUES (?1, ?2, ?3, ?4)",
            params![sha256_hex(&id), user, csrf, now + ttl_ms],
        )
        .map_err(db("create session"))?;
        Ok((id, csrf))
    }

    /// The live session with this id (expired ones are gone).
    pub fn session(&self, id: &str) -> Result<Option<Session>, AuthError> {
        let row = self
            .conn()
            .query_row(
                "SELECT s.user, u.role, s.csrf, s.expires_ms FROM auth_sessions s JOIN auth_users u ON u.name = s.user \
                 WHERE s.id_hash = ?1 AND s.expires_ms > ?2",
                params![sha256_hex(id), now_ms()],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?)),
            )
            .optional()
            .map_err(db("find session"))?;
        Ok(row.and_then(|(user, role, csrf, expires_ms)| {
            Role::parse(&role).map(|role| Session { user, role, csrf, expires_ms })
        }))
    }

    /// Ends a session (logout).
    pub fn delete_session(&self, id: &str) -> Result<(), AuthError> {
        self.conn()
            .execute("DELETE FROM auth_sessions WHERE id_hash = ?1", params![sha256_hex(id)])
            .map_err(db("end session"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_roles_and_passwords() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.user_count().unwrap(), 0);
        s.add_user("alice", Role::Admin, "correct horse").unwrap();
        assert!(matches!(s.add_user("alice", Role::Viewer, "another one"), Err(AuthError::UserExists(_))));
        assert!(matches!(s.add_user("bob", Role::Viewer, "short"), Err(AuthError::WeakPassword(_))));
        assert!(matches!(s.add_user("bad name", Role::Viewer, "long enough"), Err(AuthError::BadName { .. })));
        assert_eq!(s.verify_password("alice", "correct horse").unwrap(), Some(Role::Admin));
        assert_eq!(s.verify_password("alice", "wrong horse").unwrap(), None);
        assert_eq!(s.verify_password("nobody", "correct horse").unwrap(), None);
        s.set_password("alice", "battery staple").unwrap();
        assert_eq!(s.verify_password("alice", "correct horse").unwrap(), None);
        assert_eq!(s.verify_password("alice", "battery staple").unwrap(), Some(Role::Admin));
        // The hash is argon2id, never the password.
        let hash: String =
            s.conn().query_row("SELECT hash FROM auth_users WHERE name='alice'", [], |r| r.get(0)).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("battery"));
    }

    #[test]
    fn signing_key_is_made_once_and_kept() {
        let s = Store::open_in_memory().unwrap();
        let k = s.signing_key().unwrap();
        assert_eq!(s.signing_key().unwrap(), k);
        assert_ne!(k, [0u8; 32]);
    }

    #[test]
    fn last_admin_cannot_be_deleted() {
        let s = Store::open_in_memory().unwrap();
        s.add_user("root", Role::Admin, "password1").unwrap();
        s.add_user("ed", Role::Editor, "password2").unwrap();
        assert!(matches!(s.delete_user("root"), Err(AuthError::LastAdmin(_))));
        s.delete_user("ed").unwrap();
        assert!(matches!(s.delete_user("ed"), Err(AuthError::NoSuchUser(_))));
        let names: Vec<_> = s.list_users().unwrap().into_iter().map(|u| u.name).collect();
        assert_eq!(names, ["root"]);
    }

    #[test]
    fn tokens_are_stored_hashed_and_revocable() {
        let s = Store::open_in_memory().unwrap();
        let t = s.create_token("grafana", Role::Viewer).unwrap();
        assert!(t.starts_with("sl_") && t.len() > 40, "{t}");
        assert_eq!(s.token_role(&t).unwrap(), Some(("grafana".into(), Role::Viewer)));
        assert_eq!(s.token_role("sl_wrong").unwrap(), None);
        let stored: String =
            s.conn().query_row("SELECT hash FROM auth_tokens WHERE name='grafana'", [], |r| r.get(0)).unwrap();
        assert_eq!(stored, sha256_hex(&t));
        assert!(matches!(s.create_token("grafana", Role::Admin), Err(AuthError::TokenExists(_))));
        assert!(s.list_tokens().unwrap()[0].last_used_ms.is_some());
        s.revoke_token("grafana").unwrap();
        assert_eq!(s.token_role(&t).unwrap(), None);
        assert!(matches!(s.revoke_token("grafana"), Err(AuthError::NoSuchToken(_))));
    }

    #[test]
    fn sessions_expire_and_follow_the_user() {
        let s = Store::open_in_memory().unwrap();
        s.add_user("ann", Role::Editor, "password1").unwrap();
        s.add_user("root", Role::Admin, "password1").unwrap();
        let (id, csrf) = s.create_session("ann", 60_000).unwrap();
        let sess = s.session(&id).unwrap().unwrap();
        assert_eq!((sess.user.as_str(), sess.role, sess.csrf.as_str()), ("ann", Role::Editor, csrf.as_str()));
        assert_eq!(s.session("not-an-id").unwrap(), None);
        let (old, _) = s.create_session("ann", -1).unwrap();
        assert_eq!(s.session(&old).unwrap(), None, "expired");
        // A password change ends every session of that user.
        s.set_password("ann", "password2").unwrap();
        assert_eq!(s.session(&id).unwrap(), None);
        let (id, _) = s.create_session("ann", 60_000).unwrap();
        s.delete_session(&id).unwrap();
        assert_eq!(s.session(&id).unwrap(), None);
        let (id, _) = s.create_session("ann", 60_000).unwrap();
        s.delete_user("ann").unwrap();
        assert_eq!(s.session(&id).unwrap(), None);
    }
}
