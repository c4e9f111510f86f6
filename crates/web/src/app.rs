use crate::routing::Routes;
use crate::{api, ops, pages};
use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

pub use gatehouse_app::{AppConfig, AppState, DELIVERY_NOT_CONFIGURED, Delivery, DeliveryMode};

/// Every route of the application (pages, API, operations), as
/// registered: what the access-matrix test walks.
pub fn route_table() -> Vec<crate::routing::RouteInfo> {
    all_routes(None).into_parts().1
}

fn all_routes(state: Option<&AppState>) -> Routes {
    let pages = match state {
        Some(state) => pages::routes().map_router(|r| {
            r.layer(axum::middleware::from_fn_with_state(
                state.clone(),
                pages::with_navigation,
            ))
        }),
        None => pages::routes(),
    };
    Routes::new()
        .merge(pages)
        .nest("/api/v1", api::routes())
        .merge(api::openapi_routes())
        .merge(ops::routes())
}

/// Settings of the HTTP front end alone (the application's are in
/// [`AppConfig`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpConfig {
    /// Mark cookies `Secure` and name them `__Host-…` (served over TLS,
    /// directly or behind a proxy). On by itself when the application's
    /// `public_url` is `https://…`.
    pub secure_cookies: bool,
    /// Take the client address from the last `X-Forwarded-For` hop (only
    /// behind a trusted reverse proxy).
    pub trust_forwarded_for: bool,
}

/// The whole application with the default HTTP settings (plain HTTP, no
/// proxy; `Secure` cookies if `public_url` is https).
pub fn router(state: AppState) -> Router {
    router_with(state, HttpConfig::default())
}

/// The whole application: pages, API, operations endpoints, and the
/// security headers every response carries.
pub fn router_with(state: AppState, mut http: HttpConfig) -> Router {
    http.secure_cookies |= state.config.public_url.starts_with("https://");
    let (routes, _) = all_routes(Some(&state)).into_parts();
    // Served over HTTPS (Secure cookies): browsers are told to keep to it.
    let hsts = http.secure_cookies.then(|| {
        SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        )
    });
    routes
        // The last resort: a handler that panics answers 500 (logged)
        // instead of dropping the connection; counted by the metrics
        // around it, and made uniform by `uniform_errors` outside.
        .route_layer(tower_http::catch_panic::CatchPanicLayer::custom(
            crate::error::panicked,
        ))
        .route_layer(axum::middleware::from_fn(ops::track_metrics))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(1024 * 1024))
        // Outside the limit layer, so that its 413 gets the error format
        // too; inside the header layers, so that every answer it makes
        // carries them.
        .layer(axum::middleware::from_fn(crate::error::uniform_errors))
        .layer(tower::util::option_layer(hsts))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(axum::Extension(http))
        // One span per request (method and path, never the query: it may
        // carry a `next` or a marker), so "request failed" and every other
        // event of a handler say which request they belong to.
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<axum::body::Body>| {
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                })
                // A 5xx is logged once, at ERROR, under the reference its
                // answer names (`gatehouse_app::error::internal_message`).
                .on_failure(
                    tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG),
                ),
        )
        .with_state(state)
}
