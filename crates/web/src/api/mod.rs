//! The JSON API under `/api/v1` (SPEC §7, §11) and its OpenAPI document.

mod accounts;
mod audit;
mod billing;
mod catalog;
mod external;
mod openapi;
pub mod phonefactor;
mod radius;
mod session;
mod tokens;
mod users;

use crate::error::AppError;
use crate::routing::Routes;
use crate::routing::{get, post};
use axum::extract::{FromRequest, Request};
use openapi::Completion;
use serde::de::DeserializeOwned;
use utoipa::OpenApi;

pub fn routes() -> Routes {
    Routes::new()
        .route("/login", post(session::login))
        .route("/session", get(session::session_get))
        .route("/logout", post(session::logout))
        .route("/me/password", post(session::password_change))
        .route("/me/sessions", get(session::my_sessions))
        .route("/me/sessions/end", post(session::my_session_end))
        .route(
            "/me/sessions/end-others",
            post(session::my_sessions_end_others),
        )
        .route("/users", get(users::user_list).post(users::user_create))
        .route(
            "/users/{id}",
            get(users::user_get)
                .patch(users::user_update)
                .delete(users::user_delete),
        )
        .route(
            "/users/{id}/reset-password",
            post(users::user_reset_password),
        )
        .route(
            "/accounts",
            get(accounts::account_list).post(accounts::account_create),
        )
        .route("/audit", get(audit::audit_list))
        .route("/login/security-code", post(external::login_security_code))
        .route(
            "/users/{id}/external-authentication/quote",
            post(external::quote),
        )
        .route(
            "/users/{id}/external-authentication/orders",
            post(external::order_place),
        )
        .route(
            "/users/{id}/external-authentication/{method}",
            crate::routing::delete(external::remove),
        )
        .route(
            "/users/{id}/security-code/temporary",
            post(external::temporary),
        )
        .route("/users/{id}/security-code/unlock", post(external::unlock))
        .route("/users/{id}/security-code/sync", post(external::sync))
        .route("/users/{id}/security-code/disable", post(external::disable))
        .route("/users/{id}/security-code/enable", post(external::enable))
        .route("/validate", post(external::validate_code))
        .route("/prices", get(catalog::price_list))
        .route("/prices/{method}", crate::routing::put(catalog::price_set))
        .route(
            "/promo-codes",
            get(catalog::promo_list).post(catalog::promo_create),
        )
        .route("/msa", get(catalog::msa_current).post(catalog::msa_publish))
        .route("/tokens", get(catalog::token_list))
        .route("/tokens/import", post(catalog::token_import))
        .route("/tokens/soft", post(catalog::token_soft))
        .route(
            "/api-clients",
            get(catalog::api_client_list).post(catalog::api_client_create),
        )
        .route(
            "/api-clients/{id}",
            crate::routing::delete(catalog::api_client_revoke),
        )
        .route("/radius-clients", get(radius::list).post(radius::create))
        .route(
            "/radius-clients/{name}",
            crate::routing::delete(radius::remove),
        )
        .route(
            "/api-tokens",
            get(tokens::api_token_list).post(tokens::api_token_create),
        )
        .route(
            "/api-tokens/{id}",
            crate::routing::delete(tokens::api_token_revoke),
        )
        .route("/orders/{number}", get(catalog::order_get))
        .route("/login/phonefactor/start", post(phonefactor::login_start))
        .route("/login/phonefactor/verify", post(phonefactor::login_verify))
        .route("/login/phonefactor/status", get(phonefactor::login_status))
        .route("/me/phonefactor", get(phonefactor::me))
        .route(
            "/me/phonefactor/activation",
            post(phonefactor::activation_start),
        )
        .route(
            "/me/phonefactor/activation/verify",
            post(phonefactor::activation_verify),
        )
        .route(
            "/me/phonefactor/activation/status",
            get(phonefactor::activation_status),
        )
        .route(
            "/me/phonefactor/deactivate",
            post(phonefactor::me_deactivate),
        )
        .route(
            "/users/{id}/phonefactor/deactivate",
            post(phonefactor::user_deactivate),
        )
        .route(
            "/users/{id}/phonefactor/clear-block",
            post(phonefactor::user_clear_block),
        )
        .route(
            "/users/{id}/phonefactor/bypass",
            post(phonefactor::user_bypass),
        )
        .route(
            "/virtual-phone/{e164}/messages",
            get(phonefactor::vp_messages).post(phonefactor::vp_reply),
        )
        .route("/virtual-phone/{e164}/calls", get(phonefactor::vp_calls))
        .route(
            "/virtual-phone/{e164}/calls/{id}/keys",
            post(phonefactor::vp_keys),
        )
        .route(
            "/virtual-phone/{e164}/notifications",
            get(phonefactor::vp_notifications),
        )
        .route("/authenticator/pair", post(phonefactor::app_pair))
        .route("/authenticator/requests", get(phonefactor::app_requests))
        .route(
            "/authenticator/requests/{id}/answer",
            post(phonefactor::app_answer),
        )
        .route(
            "/telephony/twilio/voice/{challenge}",
            post(crate::twilio::twilio_voice),
        )
        .route(
            "/telephony/twilio/gather/{challenge}",
            post(crate::twilio::twilio_gather),
        )
        .route("/telephony/twilio/sms", post(crate::twilio::twilio_sms))
        .route(
            "/telephony/twilio/status",
            post(crate::twilio::twilio_status),
        )
        .route("/billing/statements", get(billing::billing_statements))
        .route(
            "/billing/statements/csv",
            get(billing::billing_statements_csv),
        )
        .route("/billing/current", get(billing::billing_current))
        .route("/billing/run", post(billing::billing_run))
        .fallback(|| async { crate::error::HttpError(AppError::NotFound) })
}

pub fn openapi_routes() -> Routes {
    Routes::new().route(
        "/api/openapi.json",
        get(|| async { axum::Json(ApiDoc::openapi()) }),
    )
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse API",
        description = "Customer portal with external two-factor authentication. \
            Errors are `{\"error\": message, \"field\": name?}`. Calls authenticated by the \
            session cookie send `X-CSRF-Token` (from `GET /api/v1/session`) on writes; calls \
            with `Authorization: Bearer <token>` need none. Twilio's callbacks under \
            `/api/v1/telephony/twilio/` are not part of this API: they answer TwiML to Twilio, \
            authenticated by its request signature."
    ),
    paths(
        session::login,
        session::session_get,
        session::logout,
        session::password_change,
        session::my_sessions,
        session::my_session_end,
        session::my_sessions_end_others,
        users::user_list,
        users::user_create,
        users::user_get,
        users::user_update,
        users::user_delete,
        users::user_reset_password,
        accounts::account_list,
        accounts::account_create,
        audit::audit_list,
        external::login_security_code,
        external::quote,
        external::order_place,
        external::remove,
        external::temporary,
        external::unlock,
        external::sync,
        external::disable,
        external::enable,
        external::validate_code,
        catalog::price_list,
        catalog::price_set,
        catalog::promo_list,
        catalog::promo_create,
        catalog::msa_current,
        catalog::msa_publish,
        catalog::token_list,
        catalog::token_import,
        catalog::token_soft,
        catalog::api_client_create,
        catalog::api_client_list,
        catalog::api_client_revoke,
        radius::create,
        radius::list,
        radius::remove,
        tokens::api_token_list,
        tokens::api_token_create,
        tokens::api_token_revoke,
        catalog::order_get,
        phonefactor::login_start,
        phonefactor::login_verify,
        phonefactor::login_status,
        phonefactor::me,
        phonefactor::activation_start,
        phonefactor::activation_verify,
        phonefactor::activation_status,
        phonefactor::me_deactivate,
        phonefactor::user_deactivate,
        phonefactor::user_clear_block,
        phonefactor::user_bypass,
        phonefactor::vp_messages,
        phonefactor::vp_reply,
        phonefactor::vp_calls,
        phonefactor::vp_keys,
        phonefactor::vp_notifications,
        phonefactor::app_pair,
        phonefactor::app_requests,
        phonefactor::app_answer,
        billing::billing_statements,
        billing::billing_statements_csv,
        billing::billing_current,
        billing::billing_run,
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecurityAddon, &Completion)
)]
pub struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A user's API token (`gatehouse api-token create` or `POST /api/v1/api-tokens`), acting with the user's rights.",
                    ))
                    .build(),
            ),
        );
        // The validation API's callers: an API client's secret, not a
        // user's token.
        components.add_security_scheme(
            "api_client",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API client's secret (`gatehouse api-client create`); a user's API token is refused.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::service::auth::COOKIE,
                "The session cookie of `POST /api/v1/login`; named `__Host-gatehouse_session` where the portal marks cookies Secure (`secure_cookies`, or a `public_url` of https). Writes send `X-CSRF-Token` from `GET /api/v1/session`.",
            ))),
        );
        // The authenticator app: its device id here, with a timestamp and
        // an Ed25519 signature of the request in the headers beside it
        // (`gatehouse_domain::device`).
        components.add_security_scheme(
            "device",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                gatehouse_domain::device::DEVICE_HEADER,
                "The paired device's id; the request also carries the device's timestamp and signature headers.",
            ))),
        );
    }
}

/// The error body of every failed call.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A message for a person.
    pub error: String,
    /// The request field the error is about, if any.
    pub field: Option<String>,
}

/// `Json` whose rejections use our error format, with the framework's
/// statuses: 415 for a body that is not `application/json`, 400 for one
/// that is not JSON, 422 for JSON of the wrong shape (a missing or unknown
/// field, a wrong type), 413 for one over the limit.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = axum::response::Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => {
                let message = match &rej {
                    JsonRejection::MissingJsonContentType(_) => {
                        "Send the body as JSON, with Content-Type: application/json.".to_owned()
                    }
                    _ if rej.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                        crate::error::TOO_LARGE.to_owned()
                    }
                    _ => rej.body_text(),
                };
                Err(crate::error::error_response(rej.status(), &message, None))
            }
        }
    }
}

pub use crate::extract::page_or_first;
