//! Request parameters as Prometheus's API reads them: from the query string
//! and, for POST, from a form body; repeated keys (`match[]`) kept in order.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::Method;

/// All parameters of a request.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut pairs: Vec<(String, String)> =
            req.uri().query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        let is_form = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if req.method() == Method::POST && is_form {
            if let Ok(body) = Bytes::from_request(req, state).await {
                pairs.extend(form_urlencoded::parse(&body).into_owned());
            }
        }
        Ok(Params(pairs))
    }
}

/// Parses a Prometheus API time: float Unix seconds or RFC 3339. Returns ms.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() {
            return Ok((secs * 1000.0).round() as i64);
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    Err(format!("cannot parse {s:?} to a valid timestamp"))
}

/// Parses a step or timeout: float seconds or a Prometheus duration. Returns ms.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() {
            return Ok((secs * 1000.0).round() as i64);
        }
    }
    crate::config::parse_duration(s)
        .map(|d| d.as_millis() as i64)
        .map_err(|_| format!("cannot parse {s:?} to a valid duration"))
}

/// Formats ms as RFC 3339 with milliseconds, UTC.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(parse_time("1435781451.781"), Ok(1_435_781_451_781));
        assert_eq!(parse_time("2015-07-01T20:10:51.781Z"), Ok(1_435_781_451_781));
        assert_eq!(parse_time("2015-07-01T22:10:51.781+02:00"), Ok(1_435_781_451_781));
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_duration_ms("15"), Ok(15_000));
        assert_eq!(parse_duration_ms("1m30s"), Ok(90_000));
        assert_eq!(rfc3339(1_435_781_451_781), "2015-07-01T20:10:51.781Z");
    }
}
