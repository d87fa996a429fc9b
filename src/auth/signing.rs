//! Signed links: a URL that Sightline hands to someone who cannot sign in
//! (Slack fetching a chart image) carries `sig`, an HMAC-SHA256 of its path
//! and query under a key kept in the database, and routes whose policy is
//! `Access::Signed` answer it without credentials. Anything else about the
//! URL changed, and the signature no longer matches.

use sha2::{Digest, Sha256};
use std::sync::OnceLock;

static KEY: OnceLock<[u8; 32]> = OnceLock::new();

/// Sets the signing key once per process (at server start).
pub fn init(key: [u8; 32]) {
    let _ = KEY.set(key);
}

fn hmac(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    // HMAC (RFC 2104) with SHA-256: block size 64 bytes.
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(key);
    let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let ih = Sha256::new().chain_update(&inner).chain_update(msg).finalize();
    Sha256::new().chain_update(&outer).chain_update(ih).finalize().into()
}

fn sig_of(key: &[u8; 32], path_and_query: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hmac(key, path_and_query.as_bytes()))
}

/// `path_and_query` with `&sig=…` appended, or unchanged when no key was set
/// (outside a server, e.g. unit tests).
pub fn sign(path_and_query: &str) -> String {
    match KEY.get() {
        Some(key) => sign_with(key, path_and_query),
        None => path_and_query.to_string(),
    }
}

fn sign_with(key: &[u8; 32], path_and_query: &str) -> String {
    let sep = if path_and_query.contains('?') { '&' } else { '?' };
    format!("{path_and_query}{sep}sig={}", sig_of(key, path_and_query))
}

/// Whether `path` + `query` ends with a valid `sig` over everything before it.
pub fn verify(path: &str, query: Option<&str>) -> bool {
    KEY.get().is_some_and(|key| verify_with(key, path, query))
}

fn verify_with(key: &[u8; 32], path: &str, query: Option<&str>) -> bool {
    let Some(query) = query else { return false };
    let (unsigned, sig) = match query.rsplit_once("&sig=") {
        Some((rest, sig)) => (format!("{path}?{rest}"), sig),
        None => match query.strip_prefix("sig=") {
            Some(sig) => (path.to_string(), sig),
            None => return false,
        },
    };
    super::constant_time_eq(sig_of(key, &unsigned).as_bytes(), sig.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // Key "Jefe" padded with zeros is the same HMAC key as "Jefe" itself.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        let mac = hmac(&key, b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn signed_links_verify_and_tampering_breaks_them() {
        // The process-wide key stays unset here: other unit tests build unsigned links.
        let key = [7u8; 32];
        let url = sign_with(&key, "/api/v1/alert_chart.png?expr=up&end=1000");
        let (path, query) = url.split_once('?').unwrap();
        assert!(verify_with(&key, path, Some(query)));
        assert!(!verify_with(&[8u8; 32], path, Some(query)), "another server's key");
        assert!(!verify_with(&key, path, Some(&query.replace("expr=up", "expr=secret"))));
        assert!(!verify_with(&key, "/api/v1/other", Some(query)));
        assert!(!verify_with(&key, path, Some("expr=up&end=1000")));
        assert!(!verify_with(&key, path, None));
        assert_eq!(sign("/x?a=1"), "/x?a=1", "no key: unsigned");
        assert!(!verify(path, Some(query)), "no key: nothing verifies");
    }
}
