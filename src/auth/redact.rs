//! Hides secrets in configuration text before it is shown
//! (`/api/v1/status/config`, the status page): passwords, tokens, API keys,
//! SMTP credentials and the secret part of receiver URLs become `<secret>`.

use regex::{Captures, Regex};
use std::sync::OnceLock;

/// What replaces a secret, as Prometheus shows it.
pub const SECRET: &str = "<secret>";

fn secret_keys() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // A key whose name says it holds a secret (not a *_file path), in block or flow style.
        Regex::new(
            r#"(?m)(?P<k>(?:^|[\s{,\-])(?:[A-Za-z0-9_]*(?:password|passwd|secret|token|api_key|routing_key|service_key|credentials|auth_identity))\s*:[ \t]*)(?P<v>'(?:[^']|'')*'|"(?:[^"\\]|\\.)*"|[^\s,}#\[][^,}#\n]*)"#,
        )
        .expect("valid regex")
    })
}

fn url_keys() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?m)(?P<k>(?:^|[\s{,\-])(?:url|[A-Za-z0-9_]*_url)\s*:[ \t]*)(?P<v>'(?:[^']|'')*'|"(?:[^"\\]|\\.)*"|[^\s,}#\[][^,}#\n]*)"#,
        )
        .expect("valid regex")
    })
}

/// Keeps a URL's scheme and host, hides user info, path and query (where
/// webhook keys live): `https://hooks.slack.com/<secret>`.
pub fn redact_url(url: &str) -> String {
    let (quote, inner) = match url.chars().next() {
        Some(q @ ('\'' | '"')) if url.len() >= 2 && url.ends_with(q) => (q.to_string(), &url[1..url.len() - 1]),
        _ => (String::new(), url),
    };
    let inner = inner.trim();
    let Some((scheme, rest)) = inner.split_once("://") else {
        return format!("{quote}{SECRET}{quote}");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let tail = &rest[authority.len()..];
    let has_userinfo = authority.contains('@');
    if tail.trim_matches('/').is_empty() && !has_userinfo {
        return format!("{quote}{inner}{quote}");
    }
    format!("{quote}{scheme}://{host}/{SECRET}{quote}")
}

/// `yaml` with every secret value replaced by `<secret>`.
pub fn redact_yaml(yaml: &str) -> String {
    let out = secret_keys().replace_all(yaml, |c: &Captures| {
        let v = c["v"].trim_end();
        if v.is_empty() || v == "~" || v == "null" || v == "''" || v == "\"\"" {
            return c[0].to_string();
        }
        format!("{}{SECRET}", &c["k"])
    });
    url_keys().replace_all(&out, |c: &Captures| format!("{}{}", &c["k"], redact_url(c["v"].trim_end()))).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_passwords_tokens_and_keys() {
        let y = "scrape_configs:\n  - job_name: a\n    basic_auth: {username: prom, password: hunter22}\n    bearer_token: \"abc.def\"\n    authorization:\n      credentials: 'xyz'\n    password_file: /etc/pass\nalertmanager:\n  global:\n    smtp_auth_password: smtppw\n    smtp_auth_username: me\n  receivers:\n    - name: pd\n      pagerduty_configs: [{routing_key: R0UT1NG}]\n    - name: tg\n      telegram_configs:\n        - bot_token: 123:ABC\n          chat_id: 42\n";
        let r = redact_yaml(y);
        for secret in ["hunter22", "abc.def", "xyz", "smtppw", "R0UT1NG", "123:ABC"] {
            assert!(!r.contains(secret), "{secret} still in:\n{r}");
        }
        for kept in
            ["username: prom", "password_file: /etc/pass", "smtp_auth_username: me", "chat_id: 42", "job_name: a"]
        {
            assert!(r.contains(kept), "{kept} lost:\n{r}");
        }
        assert!(r.contains("password: <secret>}"), "{r}");
    }

    #[test]
    fn hides_the_secret_part_of_urls() {
        let y = "receivers:\n  - name: s\n    slack_configs:\n      - api_url: https://hooks.slack.com/services/T0/B0/KEY123\n    webhook_configs: [{url: 'http://user:pw@hook.example:5001/hook?token=T'}]\n    ntfy: {url: 'https://ntfy.sh'}\n";
        let r = redact_yaml(y);
        for secret in ["KEY123", "user:pw", "token=T", "5001/hook"] {
            assert!(!r.contains(secret), "{secret} still in:\n{r}");
        }
        assert!(r.contains("api_url: https://hooks.slack.com/<secret>"), "{r}");
        assert!(r.contains("url: 'http://hook.example:5001/<secret>'"), "{r}");
        assert!(r.contains("url: 'https://ntfy.sh'"), "{r}");
    }
}
