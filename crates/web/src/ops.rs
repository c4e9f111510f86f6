//! Operations endpoints: liveness, readiness, Prometheus metrics, and the
//! request metrics middleware.

use crate::AppState;
use crate::extract::Ctx;
use crate::routing::Routes;
use crate::routing::get;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gatehouse_domain::Role;
use std::net::SocketAddr;
use std::time::Instant;

pub fn routes() -> Routes {
    Routes::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
}

/// Liveness: the process answers. Touches nothing else on purpose.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the database answers.
async fn readyz(State(st): State<AppState>) -> Response {
    match st.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

/// Who may read `/metrics`: a scraper with the configured metrics token
/// (`Authorization: Bearer …`), an operator, or — when no token is
/// configured — a direct connection from this host (loopback, not relayed
/// by a proxy). Metrics tell sign-in rates, failures and queue depths:
/// useful to an attacker timing a guessing campaign, so not public.
async fn metrics_allowed(parts: &mut Parts, st: &AppState) -> bool {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let (Some(want), Some(given)) = (&st.config.metrics_token, bearer) {
        return gatehouse_domain::secret::ct_eq(want, given);
    }
    // Behind a reverse proxy (`trust_forwarded_for`) every request comes
    // from loopback, so loopback says nothing there.
    let direct_loopback = !crate::extract::http_config(parts).trust_forwarded_for
        && parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|c| c.0.ip().is_loopback())
        && !parts.headers.contains_key("x-forwarded-for")
        && !parts.headers.contains_key("forwarded");
    if st.config.metrics_token.is_none() && direct_loopback {
        return true;
    }
    if bearer.is_some() {
        // A bearer that is not the metrics token may be a user's API token.
        return match Ctx::from_request_parts(parts, st).await {
            Ok(ctx) => ctx.user().is_some_and(|u| u.role == Role::Operator),
            Err(_) => false,
        };
    }
    Ctx::from_request_parts(parts, st)
        .await
        .is_ok_and(|ctx| ctx.user().is_some_and(|u| u.role == Role::Operator))
}

async fn metrics_page(State(st): State<AppState>, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    if !metrics_allowed(&mut parts, &st).await {
        return (
            StatusCode::FORBIDDEN,
            "Metrics are served to this host, to operators and with the metrics token.\n",
        )
            .into_response();
    }
    let body = st.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Counts requests by route pattern and status, and times them.
pub async fn track_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("gatehouse_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("gatehouse_http_request_duration_seconds", "route" => route)
        .record(start.elapsed().as_secs_f64());
    resp
}
