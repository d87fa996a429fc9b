//! HTTP side of the ingest paths: `POST /api/v1/write` (Prometheus remote
//! write 1.0) and `GET /federate`. The work is in `crate::ingest`.

use super::params::Params;
use super::AppState;
use crate::ingest::remote_write::{self, RemoteWriteStats};
use crate::tsdb::Matcher;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::atomic::AtomicU64;

/// Receiver counters for the whole process.
pub static REMOTE_WRITE_STATS: RemoteWriteStats = RemoteWriteStats {
    requests: AtomicU64::new(0),
    bad_requests: AtomicU64::new(0),
    samples_appended: AtomicU64::new(0),
    samples_rejected: AtomicU64::new(0),
};

/// Routes of the ingest paths.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/write",
            post(write).layer(axum::extract::DefaultBodyLimit::max(remote_write::MAX_DECODED_BYTES)),
        )
        .route("/federate", get(federate).post(federate))
}

async fn write(State(st): State<AppState>, body: Bytes) -> Response {
    let store = st.appendable.clone();
    // Decoding and appending are CPU and disk work: keep them off the async workers.
    let res = tokio::task::spawn_blocking(move || {
        let req = remote_write::decode(&body).inspect_err(|_| {
            REMOTE_WRITE_STATS.bad_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })?;
        remote_write::write(store.as_ref(), &req, &REMOTE_WRITE_STATS)
    })
    .await;
    match res {
        Ok(Ok(_)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => {
            let status = if e.is_client_error() { StatusCode::BAD_REQUEST } else { StatusCode::INTERNAL_SERVER_ERROR };
            tracing::debug!(error = %e, "remote write refused");
            (status, format!("{e}\n")).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("remote write: {e}\n")).into_response(),
    }
}

async fn federate(State(st): State<AppState>, p: Params) -> Response {
    let sets = match match_sets(&p) {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let (q, info) = (st.querier.clone(), st.info.clone());
    let res = tokio::task::spawn_blocking(move || {
        crate::ingest::federate(q.as_ref(), &sets, &info.external_labels, crate::tsdb::now_millis())
    })
    .await;
    match res {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("federation: {e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("federation: {e}\n")).into_response(),
    }
}

/// Each `match[]` selector as matcher sets (a selector with `or` gives several).
fn match_sets(p: &Params) -> Result<Vec<Vec<Matcher>>, String> {
    let all = p.all("match[]");
    if all.is_empty() {
        return Err("federation: no match[] parameter given".into());
    }
    let mut sets = Vec::new();
    for m in all {
        sets.extend(crate::promql::series_selector(&m).map_err(|e| format!("federation: match[] {m:?}: {e}"))?);
    }
    Ok(sets)
}

/// The receiver's counters in the OpenMetrics text form, for `/metrics`.
pub(super) fn encode_stats() -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let s = &REMOTE_WRITE_STATS;
    let mut out = String::new();
    for (name, help, v) in [
        ("sightline_remote_write_requests", "Remote-write requests received", s.requests.load(Relaxed)),
        (
            "sightline_remote_write_bad_requests",
            "Remote-write requests refused as malformed",
            s.bad_requests.load(Relaxed),
        ),
        (
            "sightline_remote_write_samples_appended",
            "Samples stored from remote write",
            s.samples_appended.load(Relaxed),
        ),
        (
            "sightline_remote_write_samples_rejected",
            "Remote-write samples refused by the store",
            s.samples_rejected.load(Relaxed),
        ),
    ] {
        out.push_str(&format!("# HELP {name} {help}.\n# TYPE {name} counter\n{name}_total {v}\n"));
    }
    out
}
