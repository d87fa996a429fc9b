//! Counters of refusals, exported on `/metrics`: authentication and access
//! refusals, CSRF failures, rate limiting and oversized bodies of HTTP
//! requests, and scrapes refused by their limits (body size, sample limit,
//! label count and length).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// No credentials where they are needed (401).
    Unauthenticated,
    /// Wrong, unknown or revoked credentials (401).
    BadCredentials,
    /// Role too low (403).
    Forbidden,
    /// Session form POST without the right CSRF token (403).
    Csrf,
    /// Failed sign-in (wrong user name or password).
    FailedLogin,
    /// Body larger than `web.max_request_body_bytes` (413).
    BodyTooLarge,
    /// 429 from the login rate limit.
    RateLimitedLogin,
    /// 429 from the API rate limit.
    RateLimitedApi,
    /// 429 from the /metrics rate limit.
    RateLimitedMetrics,
    /// An API query stopped by `query.timeout`.
    QueryTimeout,
    /// An API query refused by `query.max_samples`.
    QueryTooManySamples,
}

const N: usize = 11;
static COUNTS: [AtomicU64; N] = [const { AtomicU64::new(0) }; N];

impl Refused {
    const ALL: [Refused; N] = [
        Refused::Unauthenticated,
        Refused::BadCredentials,
        Refused::Forbidden,
        Refused::Csrf,
        Refused::FailedLogin,
        Refused::BodyTooLarge,
        Refused::RateLimitedLogin,
        Refused::RateLimitedApi,
        Refused::RateLimitedMetrics,
        Refused::QueryTimeout,
        Refused::QueryTooManySamples,
    ];

    fn index(self) -> usize {
        Refused::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }

    fn label(self) -> (&'static str, &'static str) {
        match self {
            Refused::Unauthenticated => ("auth", "unauthenticated"),
            Refused::BadCredentials => ("auth", "bad_credentials"),
            Refused::Forbidden => ("auth", "forbidden"),
            Refused::Csrf => ("auth", "csrf"),
            Refused::FailedLogin => ("auth", "failed_login"),
            Refused::BodyTooLarge => ("limit", "body_too_large"),
            Refused::RateLimitedLogin => ("rate_limit", "login"),
            Refused::RateLimitedApi => ("rate_limit", "api"),
            Refused::RateLimitedMetrics => ("rate_limit", "metrics"),
            Refused::QueryTimeout => ("query", "timeout"),
            Refused::QueryTooManySamples => ("query", "too_many_samples"),
        }
    }
}

/// Counts one refusal.
pub fn count(r: Refused) {
    COUNTS[r.index()].fetch_add(1, Relaxed);
}

/// How many refusals of this kind were counted.
pub fn get(r: Refused) -> u64 {
    COUNTS[r.index()].load(Relaxed)
}

/// A scrape limit that refused a scrape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScrapeLimit {
    /// `body_size_limit`.
    BodySize,
    /// `sample_limit`.
    Samples,
    /// `label_limit`.
    LabelCount,
    /// `label_name_length_limit`.
    LabelNameLength,
    /// `label_value_length_limit`.
    LabelValueLength,
}

const SCRAPE_LIMITS: [(ScrapeLimit, &str); 5] = [
    (ScrapeLimit::BodySize, "body_size_limit"),
    (ScrapeLimit::Samples, "sample_limit"),
    (ScrapeLimit::LabelCount, "label_limit"),
    (ScrapeLimit::LabelNameLength, "label_name_length_limit"),
    (ScrapeLimit::LabelValueLength, "label_value_length_limit"),
];
static SCRAPE_COUNTS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

fn scrape_index(l: ScrapeLimit) -> usize {
    SCRAPE_LIMITS.iter().position(|(k, _)| *k == l).unwrap_or(0)
}

/// Counts one scrape refused by `limit`.
pub fn count_scrape(limit: ScrapeLimit) {
    SCRAPE_COUNTS[scrape_index(limit)].fetch_add(1, Relaxed);
}

/// How many scrapes `limit` refused.
pub fn get_scrape(limit: ScrapeLimit) -> u64 {
    SCRAPE_COUNTS[scrape_index(limit)].load(Relaxed)
}

/// The counters in OpenMetrics text (without `# EOF`).
pub fn encode() -> String {
    let name = "sightline_http_refused_requests";
    let mut out = format!(
        "# HELP {name} HTTP requests refused by authentication, access policy, CSRF check, rate limits, size or query limits.\n# TYPE {name} counter\n"
    );
    for r in Refused::ALL {
        let (kind, reason) = r.label();
        out.push_str(&format!("{name}_total{{kind=\"{kind}\",reason=\"{reason}\"}} {}\n", get(r)));
    }
    let name = "sightline_scrapes_refused_by_limit";
    out.push_str(&format!(
        "# HELP {name} Scrapes refused because the target broke a limit of its scrape config.\n# TYPE {name} counter\n"
    ));
    for (limit, label) in SCRAPE_LIMITS {
        out.push_str(&format!("{name}_total{{limit=\"{label}\"}} {}\n", get_scrape(limit)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_up_in_the_exposition() {
        let before = get(Refused::Csrf);
        count(Refused::Csrf);
        assert_eq!(get(Refused::Csrf), before + 1);
        let text = encode();
        assert!(text.contains(&format!(
            "sightline_http_refused_requests_total{{kind=\"auth\",reason=\"csrf\"}} {}",
            before + 1
        )));
        assert_eq!(text.matches("sightline_http_refused_requests_total{").count(), N);
        let before = get_scrape(ScrapeLimit::Samples);
        count_scrape(ScrapeLimit::Samples);
        assert!(encode()
            .contains(&format!("sightline_scrapes_refused_by_limit_total{{limit=\"sample_limit\"}} {}", before + 1)));
    }
}
