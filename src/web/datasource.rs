//! Where a page's queries run: Sightline's own engine and store, or a
//! Prometheus-compatible query API elsewhere (`datasources:` in the config),
//! so dashboards keep working when the data lives in a bigger store.
//!
//! The remote side is asked to evaluate whole expressions (`query_range`,
//! `query`) and list label values; only the answers cross the network.

use crate::config::datasources::{DataSourceConfig, LOCAL};
use crate::promql::{Engine, Value};
use crate::tsdb::{Labels, Matcher, Querier, Series, TsdbError};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Series with their points, or why the query failed (shown on the panel).
pub type SeriesData = Result<Vec<(Labels, Vec<(i64, f64)>)>, String>;

/// Runs PromQL for pages and lists label values for dashboard variables.
pub trait QuerySource: Send + Sync {
    /// A range query (`start`..=`end` every `step`, all in ms).
    fn range(&self, expr: &str, start: i64, end: i64, step: i64) -> SeriesData;
    /// An instant query at `t` (ms).
    fn instant(&self, expr: &str, t: i64) -> SeriesData;
    /// The store behind the source, for label listings.
    fn querier(&self) -> &dyn Querier;
}

/// This Sightline: the engine over the local store.
pub struct LocalSource<'a> {
    pub engine: &'a Engine,
    pub querier: &'a dyn Querier,
}

impl QuerySource for LocalSource<'_> {
    fn range(&self, expr: &str, start: i64, end: i64, step: i64) -> SeriesData {
        let r = self.engine.range_query(self.querier, expr, start, end, step).map_err(|e| e.to_string())?;
        match r.value {
            Value::Matrix(series) => Ok(series.into_iter().map(|s| (s.labels, points(s.samples))).collect()),
            _ => Err("expected a range vector".into()),
        }
    }

    fn instant(&self, expr: &str, t: i64) -> SeriesData {
        let r = self.engine.instant_query(self.querier, expr, t).map_err(|e| e.to_string())?;
        Ok(match r.value {
            Value::Vector(v) => v.into_iter().map(|s| (s.labels, vec![(s.t, s.v)])).collect(),
            Value::Scalar { t, v } => vec![(Labels::new(), vec![(t, v)])],
            Value::Matrix(m) => m.into_iter().map(|s| (s.labels, points(s.samples))).collect(),
            Value::String { .. } => Vec::new(),
        })
    }

    fn querier(&self) -> &dyn Querier {
        self.querier
    }
}

fn points(samples: Vec<crate::tsdb::Sample>) -> Vec<(i64, f64)> {
    samples.into_iter().map(|p| (p.t, p.v)).collect()
}

/// A Prometheus-compatible HTTP API. Calls block the calling thread (pages
/// render on blocking threads), driving the request on the server's runtime.
pub struct RemoteSource {
    pub config: DataSourceConfig,
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

/// The configured remote sources by name.
pub type RemoteSources = BTreeMap<String, Arc<RemoteSource>>;

/// Builds a client per configured source.
pub fn remote_sources(configs: &[DataSourceConfig], runtime: tokio::runtime::Handle) -> Result<RemoteSources, String> {
    crate::scrape::ensure_crypto_provider();
    let mut out = BTreeMap::new();
    for c in configs {
        let client = reqwest::Client::builder()
            .timeout(c.timeout)
            .user_agent(concat!("Sightline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("datasource {}: {e}", c.name))?;
        out.insert(c.name.clone(), Arc::new(RemoteSource { config: c.clone(), client, runtime: runtime.clone() }));
    }
    Ok(out)
}

/// Picks the source a dashboard, panel or Explore names (`None` or
/// `"sightline"`: the local one).
pub fn pick<'a>(
    name: Option<&str>,
    local: &'a LocalSource<'a>,
    remotes: &'a RemoteSources,
) -> Result<&'a dyn QuerySource, String> {
    match name {
        None | Some("") | Some(LOCAL) => Ok(local),
        Some(n) => match remotes.get(n) {
            Some(r) => Ok(r.as_ref()),
            None => Err(format!("no datasource named {n:?} (see datasources: in the config)")),
        },
    }
}

impl RemoteSource {
    /// Calls `path` with form `params` (POSTed, so long queries fit, except
    /// label values, which Prometheus serves on GET only) and returns the
    /// `data` member of a Prometheus API answer, or the answer's error.
    fn call(&self, path: &str, params: &[(&str, String)]) -> Result<serde_json::Value, String> {
        let c = &self.config;
        let form = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        let mut req = if path.starts_with("/api/v1/label/") {
            self.client.get(format!("{}{path}?{form}", c.url))
        } else {
            self.client
                .post(format!("{}{path}", c.url))
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form)
        };
        if let Some(auth) = &c.auth {
            req = auth.apply(req);
        }
        for (k, v) in &c.headers {
            req = req.header(k, v);
        }
        let fut = async move {
            let resp = req.send().await.map_err(|e| e.without_url().to_string())?;
            let status = resp.status();
            let body = resp.bytes().await.map_err(|e| e.without_url().to_string())?;
            Ok::<_, String>((status, body))
        };
        let (status, body) = self.runtime.block_on(fut).map_err(|e| format!("datasource {}: {e}", c.name))?;
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            format!(
                "datasource {}: HTTP {status}, not a Prometheus API answer: {}",
                c.name,
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )
        })?;
        if v["status"] != "success" {
            return Err(format!("datasource {}: {}", c.name, v["error"].as_str().unwrap_or("request failed")));
        }
        Ok(v["data"].clone())
    }
}

impl QuerySource for RemoteSource {
    fn range(&self, expr: &str, start: i64, end: i64, step: i64) -> SeriesData {
        let data = self.call(
            "/api/v1/query_range",
            &[("query", expr.to_string()), ("start", secs(start)), ("end", secs(end)), ("step", secs(step))],
        )?;
        parse_result(&data)
    }

    fn instant(&self, expr: &str, t: i64) -> SeriesData {
        parse_result(&self.call("/api/v1/query", &[("query", expr.to_string()), ("time", secs(t))])?)
    }

    fn querier(&self) -> &dyn Querier {
        self
    }
}

/// Label listings through the API, so dashboard variables (`label_values(...)`)
/// work against the remote store too.
impl Querier for RemoteSource {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, TsdbError> {
        // Raw samples: a range selector evaluated at maxt.
        let expr = format!("{}[{}ms]", selector(matchers), (maxt - mint).max(1));
        let found = self.instant(&expr, maxt).map_err(remote_error)?;
        Ok(found
            .into_iter()
            .map(|(labels, pts)| Series {
                labels,
                samples: pts.into_iter().map(|(t, v)| crate::tsdb::Sample { t, v }).collect(),
            })
            .collect())
    }

    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Labels>, TsdbError> {
        let data = self
            .call("/api/v1/series", &[("match[]", selector(matchers)), ("start", secs(mint)), ("end", secs(maxt))])
            .map_err(remote_error)?;
        Ok(data.as_array().map(|a| a.iter().map(labels_of).collect()).unwrap_or_default())
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, TsdbError> {
        let mut params = vec![("start", secs(mint)), ("end", secs(maxt))];
        if !matchers.is_empty() {
            params.push(("match[]", selector(matchers)));
        }
        strings(self.call("/api/v1/labels", &params).map_err(remote_error)?)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, TsdbError> {
        let mut params = vec![("start", secs(mint)), ("end", secs(maxt))];
        if !matchers.is_empty() {
            params.push(("match[]", selector(matchers)));
        }
        let path =
            format!("/api/v1/label/{}/values", form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>());
        strings(self.call(&path, &params).map_err(remote_error)?)
    }
}

fn remote_error(e: String) -> TsdbError {
    TsdbError::Io { path: "the remote API".into(), source: std::io::Error::other(e) }
}

fn strings(v: serde_json::Value) -> Result<Vec<String>, TsdbError> {
    Ok(v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default())
}

/// Milliseconds as the API's seconds (with a fraction when needed).
fn secs(ms: i64) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
    }
}

/// Matchers as a PromQL selector, `{}` when there are none (every remote accepts `{__name__=~".+"}`).
fn selector(matchers: &[Matcher]) -> String {
    if matchers.is_empty() {
        return r#"{__name__=~".+"}"#.into();
    }
    // Go's %q quoting (as Alertmanager prints matchers) is valid PromQL string syntax.
    let parts: Vec<String> = matchers.iter().map(crate::notify::matchers::format_matcher).collect();
    format!("{{{}}}", parts.join(","))
}

fn labels_of(v: &serde_json::Value) -> Labels {
    Labels::from_pairs(
        v.as_object().into_iter().flatten().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))),
    )
}

/// The `data` of a query answer as series: vectors, matrices and scalars.
/// A point that is not `[seconds, "value"]` makes the whole answer an error.
pub fn parse_result(data: &serde_json::Value) -> SeriesData {
    let point = |p: &serde_json::Value| -> Result<(i64, f64), String> {
        let bad = || format!("bad point {p} in the answer");
        let t = p.get(0).and_then(serde_json::Value::as_f64).ok_or_else(bad)?;
        let v = match p.get(1).and_then(serde_json::Value::as_str).ok_or_else(bad)? {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            s => s.parse().map_err(|_| bad())?,
        };
        Ok(((t * 1000.0).round() as i64, v))
    };
    let items = |v: &serde_json::Value| v.as_array().cloned().unwrap_or_default();
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("matrix") => items(result)
            .iter()
            .map(|s| Ok((labels_of(&s["metric"]), items(&s["values"]).iter().map(point).collect::<Result<_, _>>()?)))
            .collect(),
        Some("vector") => {
            items(result).iter().map(|s| Ok((labels_of(&s["metric"]), vec![point(&s["value"])?]))).collect()
        }
        Some("scalar") => Ok(vec![(Labels::new(), vec![point(result)?])]),
        Some("string") => Ok(Vec::new()),
        other => Err(format!("unexpected resultType {other:?} from the datasource")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_into_series() {
        let m = serde_json::json!({"resultType": "matrix", "result": [
            {"metric": {"__name__": "up", "job": "a"}, "values": [[1700000000, "1"], [1700000015.5, "+Inf"]]}]});
        let got = parse_result(&m).unwrap();
        assert_eq!(got[0].0.get("job"), Some("a"));
        assert_eq!(got[0].1, vec![(1_700_000_000_000, 1.0), (1_700_000_015_500, f64::INFINITY)]);
        let v = serde_json::json!({"resultType": "vector", "result": [{"metric": {}, "value": [10, "2.5"]}]});
        assert_eq!(parse_result(&v).unwrap()[0].1, vec![(10_000, 2.5)]);
        let s = serde_json::json!({"resultType": "scalar", "result": [10, "3"]});
        assert_eq!(parse_result(&s).unwrap()[0].1, vec![(10_000, 3.0)]);
        assert!(parse_result(&serde_json::json!({"resultType": "weird"})).is_err());
    }

    #[test]
    fn selectors_and_times_as_the_api_wants_them() {
        assert_eq!(secs(1500), "1.500");
        assert_eq!(secs(-1500), "-2.500");
        assert_eq!(secs(3000), "3");
        let m = [Matcher::equal("job", "a\"b"), Matcher::new(crate::tsdb::MatchKind::Regex, "x", "1|2").unwrap()];
        assert_eq!(selector(&m), r#"{job="a\"b",x=~"1|2"}"#);
    }
}
