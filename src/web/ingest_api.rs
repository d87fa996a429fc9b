//! HTTP side of the ingest paths: `POST /api/v1/write` (Prometheus remote
//! write 1.0), `POST /v1/metrics` (OTLP/HTTP) and `GET /federate`. The work
//! is in `crate::ingest`.

use super::params::Params;
use super::AppState;
use crate::ingest::otlp::{self, Encoding};
use crate::ingest::remote_write;
use crate::ingest::ReceiverStats;
use crate::tsdb::Matcher;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::atomic::Ordering::Relaxed;

/// Remote-write receiver counters for the whole process.
pub static REMOTE_WRITE_STATS: ReceiverStats = ReceiverStats::new();
/// OTLP receiver counters for the whole process.
pub static OTLP_STATS: ReceiverStats = ReceiverStats::new();

/// Routes of the ingest paths.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/write",
            post(write).layer(axum::extract::DefaultBodyLimit::max(remote_write::MAX_DECODED_BYTES)),
        )
        .route("/federate", get(federate).post(federate))
        // The OTLP/HTTP default path, and the one Prometheus serves it on.
        .route("/v1/metrics", post(otlp_metrics).layer(axum::extract::DefaultBodyLimit::max(otlp::MAX_DECODED_BYTES)))
        .route(
            "/api/v1/otlp/v1/metrics",
            post(otlp_metrics).layer(axum::extract::DefaultBodyLimit::max(otlp::MAX_DECODED_BYTES)),
        )
}

/// OTLP/HTTP metrics export: protobuf or JSON (as Content-Type says),
/// optionally gzip-compressed; answered in the request's encoding.
async fn otlp_metrics(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let content_type = header(header::CONTENT_TYPE);
    let encoding = match content_type.split(';').next().unwrap_or("").trim() {
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        other => {
            let msg =
                format!("otlp: unsupported Content-Type {other:?}; use application/x-protobuf or application/json");
            return (StatusCode::UNSUPPORTED_MEDIA_TYPE, msg).into_response();
        }
    };
    let gzip = match header(header::CONTENT_ENCODING).as_str() {
        "" | "identity" => false,
        "gzip" => true,
        other => {
            let msg = format!("otlp: unsupported Content-Encoding {other:?}; use gzip or none");
            return (StatusCode::UNSUPPORTED_MEDIA_TYPE, msg).into_response();
        }
    };
    OTLP_STATS.requests.fetch_add(1, Relaxed);
    let store = st.appendable.clone();
    let res = tokio::task::spawn_blocking(move || {
        let req = otlp::decode(&body, encoding, gzip)?;
        otlp::write(store.as_ref(), &req)
    })
    .await;
    let answer = |status: StatusCode, pb: Vec<u8>, json: serde_json::Value| -> Response {
        match encoding {
            Encoding::Protobuf => (status, [(header::CONTENT_TYPE, "application/x-protobuf")], pb).into_response(),
            Encoding::Json => (status, axum::Json(json)).into_response(),
        }
    };
    let failed = |status: StatusCode, code: i32, message: String| {
        let pb = prost::Message::encode_to_vec(&otlp::Status { code, message: message.clone() });
        answer(status, pb, serde_json::json!({"code": code, "message": message}))
    };
    match res {
        Ok(Ok(out)) => {
            OTLP_STATS.samples_appended.fetch_add(out.samples_appended, Relaxed);
            let rejected = out.points_rejected + out.samples_rejected;
            OTLP_STATS.samples_rejected.fetch_add(rejected, Relaxed);
            let (partial, json) = if rejected == 0 {
                (None, serde_json::json!({}))
            } else {
                let error_message = out.messages.join("; ");
                tracing::debug!(rejected, error = %error_message, "otlp: data points refused");
                (
                    Some(otlp::PartialSuccess {
                        rejected_data_points: rejected as i64,
                        error_message: error_message.clone(),
                    }),
                    serde_json::json!({"partialSuccess": {"rejectedDataPoints": rejected.to_string(), "errorMessage": error_message}}),
                )
            };
            let pb = prost::Message::encode_to_vec(&otlp::ExportMetricsServiceResponse { partial_success: partial });
            answer(StatusCode::OK, pb, json)
        }
        // gRPC codes: 3 INVALID_ARGUMENT (do not retry), 14 UNAVAILABLE (retry).
        Ok(Err(e)) if e.is_client_error() => {
            OTLP_STATS.bad_requests.fetch_add(1, Relaxed);
            failed(StatusCode::BAD_REQUEST, 3, e.to_string())
        }
        Ok(Err(e)) => failed(StatusCode::SERVICE_UNAVAILABLE, 14, e.to_string()),
        Err(e) => failed(StatusCode::INTERNAL_SERVER_ERROR, 13, format!("otlp: {e}")),
    }
}

async fn write(State(st): State<AppState>, body: Bytes) -> Response {
    let store = st.appendable.clone();
    // Decoding and appending are CPU and disk work: keep them off the async workers.
    let res = tokio::task::spawn_blocking(move || {
        let req = remote_write::decode(&body).inspect_err(|_| {
            REMOTE_WRITE_STATS.bad_requests.fetch_add(1, Relaxed);
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

/// The receivers' counters in the OpenMetrics text form, for `/metrics`.
pub(super) fn encode_stats() -> String {
    let mut out = String::new();
    for (prefix, what, s) in [("remote_write", "Remote-write", &REMOTE_WRITE_STATS), ("otlp", "OTLP", &OTLP_STATS)] {
        for (name, help, v) in [
            ("requests", format!("{what} requests received"), s.requests.load(Relaxed)),
            ("bad_requests", format!("{what} requests refused as malformed"), s.bad_requests.load(Relaxed)),
            ("samples_appended", format!("Samples stored from {what}"), s.samples_appended.load(Relaxed)),
            ("samples_rejected", format!("{what} samples or data points refused"), s.samples_rejected.load(Relaxed)),
        ] {
            let name = format!("sightline_{prefix}_{name}");
            out.push_str(&format!("# HELP {name} {help}.\n# TYPE {name} counter\n{name}_total {v}\n"));
        }
    }
    out
}
