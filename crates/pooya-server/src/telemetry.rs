//! Request logs, request ids and Prometheus metrics.
//!
//! A log line names the route *template* (`/v1/cards/{pan}`), never the path a client sent, so a
//! PAN in a URL never reaches a log. Every request runs in a span carrying its request id: the
//! client's `x-request-id` when it is sane (1 to 64 visible ASCII characters), else a new one; the
//! id is echoed in the `x-request-id` response header.
//!
//! Metrics go through the `metrics` facade to a Prometheus recorder installed once per process
//! ([`install_metrics`]); `GET /metrics` (admin key) renders it. No metric carries a PAN, a mobile
//! number or any other value a client sent: labels are route templates, methods, status codes and
//! fixed words.

use std::sync::{Arc, OnceLock};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

use crate::error::ApiError;
use crate::extract::{AdminRole, Authorized};
use crate::state::AppState;

pub const REQUEST_ID: &str = "x-request-id";

/// Seconds: from 1 ms to 10 s (Argon2 checks take tens of milliseconds).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static METRICS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's Prometheus recorder (no HTTP listener of its own: `/metrics` renders
/// it). Idempotent; `None` when another recorder was installed first.
pub fn install_metrics() -> Option<&'static PrometheusHandle> {
    METRICS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "pooya_http_requests_total",
        "HTTP requests by method, route template and status"
    );
    describe_histogram!(
        "pooya_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by method and route template"
    );
    describe_counter!(
        "pooya_verifications_total",
        "Answers of /v1/verify by ISO 8583 response code and reason"
    );
    describe_counter!(
        "pooya_enrollments_total",
        "App tokens enrolled (second enrollment message accepted)"
    );
    describe_counter!(
        "pooya_activations_total",
        "ATM activations of the dynamic password service, by channel (app, sms)"
    );
    describe_counter!(
        "pooya_lockouts_total",
        "Dynamic password services locked by too many failures (R5)"
    );
    describe_gauge!(
        "pooya_outbox_queued",
        "SMS waiting in the outbox (read by the delivery worker)"
    );
    describe_gauge!(
        "pooya_outbox_oldest_age_seconds",
        "Age of the oldest SMS waiting in the outbox (0 when none waits)"
    );
    describe_counter!(
        "pooya_sms_sent_total",
        "SMS handed to the provider by this server"
    );
    describe_counter!(
        "pooya_sms_delivery_failures_total",
        "SMS deliveries that failed, by outcome (retry, given_up, refused)"
    );
    describe_counter!(
        "pooya_store_errors_total",
        "Requests refused with 503 because the store was unavailable"
    );
    describe_counter!(
        "pooya_commit_contention_total",
        "Requests refused with 503 contention: every commit lost its race to concurrent changes"
    );
}

/// `GET /metrics`: the Prometheus text format, for an admin key.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/metrics", get(render))
}

async fn render(_: Authorized<AdminRole>, State(s): State<Arc<AppState>>) -> Response {
    // The gauge as of now, whatever the worker last saw.
    if let Ok((st, now)) = s.issuer.outbox_status().await {
        record_outbox(st.queued, st.oldest_queued_at, now);
    }
    match install_metrics() {
        Some(h) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            h.render(),
        )
            .into_response(),
        None => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics_unavailable",
            "no metrics recorder is installed in this process",
        )
        .into_response(),
    }
}

/// The outbox gauges from the store's `outbox_status`.
pub fn record_outbox(queued: i64, oldest_queued_at: Option<i64>, now_ms: i64) {
    metrics::gauge!("pooya_outbox_queued").set(queued as f64);
    let age = oldest_queued_at.map_or(0, |t| (now_ms - t).max(0));
    metrics::gauge!("pooya_outbox_oldest_age_seconds").set(age as f64 / 1000.0);
}

/// One `/v1/verify` answer.
pub fn record_verify(response_code: &'static str, reason: &'static str) {
    metrics::counter!("pooya_verifications_total", "code" => response_code, "reason" => reason)
        .increment(1);
}

/// A `/v1/verify` answer's verdict, which the handler leaves in the response's extensions for
/// the request line: fixed words only, never the card number or the password.
#[derive(Clone, Copy, Debug)]
pub struct VerdictLog {
    pub response_code: &'static str,
    pub reason: &'static str,
}

/// The client's request id if it is sane, else a new one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id)
}

fn new_request_id() -> String {
    let bytes: [u8; 12] = rand::random();
    data_encoding::HEXLOWER.encode(&bytes)
}

pub async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".into());
    let id = request_id(&req);
    let span = tracing::info_span!("request", request_id = %id);
    let started = std::time::Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    let micros = elapsed.as_micros() as u64;
    span.in_scope(|| match res.extensions().get::<VerdictLog>() {
        Some(v) => tracing::info!(
            %method,
            %route,
            status,
            response_code = v.response_code,
            reason = v.reason,
            micros,
            "request"
        ),
        None => tracing::info!(%method, %route, status, micros, "request"),
    });
    let method = method.to_string();
    metrics::histogram!(
        "pooya_http_request_duration_seconds",
        &[("method", method.clone()), ("route", route.clone())]
    )
    .record(elapsed.as_secs_f64());
    metrics::counter!(
        "pooya_http_requests_total",
        &[
            ("method", method),
            ("route", route),
            ("status", status.to_string())
        ]
    )
    .increment(1);
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: Option<&str>) -> Request {
        let mut b = axum::http::Request::builder();
        if let Some(id) = id {
            b = b.header(REQUEST_ID, id);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn request_ids_are_taken_when_sane() {
        assert_eq!(request_id(&req(Some("abc-123"))), "abc-123");
        let long = "x".repeat(65);
        for bad in [Some(""), Some("has space"), Some(long.as_str()), None] {
            let id = request_id(&req(bad));
            assert_eq!(id.len(), 24, "{bad:?}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_ne!(request_id(&req(None)), request_id(&req(None)));
    }
}
