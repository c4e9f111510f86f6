//! Completes the OpenAPI document so that it tells the whole truth about
//! every operation: who may call it (its security requirement) and every
//! status it can answer, each error with the body of SPEC §11 and an
//! example.
//!
//! The handlers' annotations declare the answers particular to each
//! operation (a 409 for a duplicate, a 404 for a missing order). The
//! answers every operation of a kind can give come from the framework and
//! the shared extractors, and are added here by rule, so that a new
//! operation cannot forget them:
//!
//! | status | declared for | why |
//! |---|---|---|
//! | 400 | a body or parameters | JSON that does not parse; a path or query parameter not of its type |
//! | 401 | every operation | a bearer token, session or device signature that is not valid (any caller may send one) |
//! | 403 | every operation | the caller's role or account does not allow it; a session's write without its CSRF token |
//! | 404 | path parameters | nothing of that id in the caller's view |
//! | 409 | every write | a duplicate (a unique name, key or number), or a state that does not allow it |
//! | 413 | a body | a body over 1 MiB |
//! | 415 | a body | a body that is not `application/json` |
//! | 422 | a body or parameters | a field refused (the error names it); JSON of the wrong shape |
//! | 429 | every operation | a throttle or attempt limit; `Retry-After` says when to try again |

use super::ErrorBody;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr};

/// Operations anyone may call: no credentials needed (a session cookie, if
/// sent, is used).
const PUBLIC: &[&str] = &["login", "session_get", "logout", "app_pair"];

/// The steps of signing in: the session cookie of a sign-in in progress.
const SIGN_IN_STEPS: &[&str] = &[
    "login_security_code",
    "login_start",
    "login_verify",
    "login_status",
];

/// The signed-in user's own settings: a session cookie only (at the step of
/// signing in each belongs to), never a bearer token.
const SESSION_ONLY: &[&str] = &[
    "password_change",
    "my_sessions",
    "my_session_end",
    "my_sessions_end_others",
    "me",
    "activation_start",
    "activation_verify",
    "activation_status",
];

/// The authenticator app's calls: signed by a paired device.
const DEVICE_SIGNED: &[&str] = &["app_requests", "app_answer"];

/// The validation API: an API client's secret as bearer.
const API_CLIENT: &[&str] = &["validate_code"];

pub(super) struct Completion;

impl utoipa::Modify for Completion {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for item in doc.paths.paths.values_mut() {
            if let Some(op) = &mut item.get {
                complete(op, false);
            }
            for op in [
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                complete(op, true);
            }
        }
    }
}

fn complete(op: &mut Operation, write: bool) {
    let id = op.operation_id.clone().unwrap_or_default();
    let is = |list: &[&str]| list.contains(&id.as_str());
    op.security = Some(if is(PUBLIC) {
        // An empty requirement: none needed; the session is optional.
        vec![SecurityRequirement::default(), scheme("session")]
    } else if is(SIGN_IN_STEPS) || is(SESSION_ONLY) {
        vec![scheme("session")]
    } else if is(DEVICE_SIGNED) {
        vec![scheme("device")]
    } else if is(API_CLIENT) {
        vec![scheme("api_client")]
    } else {
        vec![scheme("bearer"), scheme("session")]
    });

    let params = op.parameters.as_deref().unwrap_or_default();
    let has = |place: ParameterIn| {
        params.iter().any(|p| match p {
            RefOr::T(p) => p.parameter_in == place,
            RefOr::Ref(_) => false,
        })
    };
    let path_params = has(ParameterIn::Path);
    let query_params = has(ParameterIn::Query);
    let header_params = has(ParameterIn::Header);
    let body = op.request_body.is_some();

    let mut add = |status: u16, when: bool| {
        let key = status.to_string();
        if when && !op.responses.responses.contains_key(&key) {
            op.responses
                .responses
                .insert(key, RefOr::T(error_response(status)));
        }
    };
    add(400, body || path_params || query_params || header_params);
    add(401, true);
    add(403, true);
    add(404, path_params);
    add(409, write);
    add(413, body);
    add(415, body);
    add(422, body || path_params || query_params);
    add(429, true);

    // Errors the annotations declared get the same description, example and
    // headers as the added ones (the annotations name only the body).
    for (key, resp) in op.responses.responses.iter_mut() {
        let Ok(status) = key.parse::<u16>() else {
            continue;
        };
        if status >= 400
            && let RefOr::T(r) = resp
            && r.description.is_empty()
        {
            *r = error_response(status);
        }
    }
}

fn scheme(name: &str) -> SecurityRequirement {
    SecurityRequirement::new(name, Vec::<String>::new())
}

/// An error answer: its description, the error body and an example.
fn error_response(status: u16) -> utoipa::openapi::response::Response {
    let (description, example) = match status {
        400 => (
            "The request is malformed: a body that is not JSON, or a path, query or header parameter not of its type.",
            serde_json::json!({"error": "Failed to parse the request body as JSON: trailing comma at line 1 column 17"}),
        ),
        401 => (
            "No valid credentials: no session or bearer token, an expired or revoked one, a wrong password or code, or a step of signing in not done.",
            serde_json::json!({"error": "Sign in first."}),
        ),
        403 => (
            "Not allowed for this caller (its role or account), or a session's write without its CSRF token.",
            serde_json::json!({"error": "Only administrators can do that."}),
        ),
        404 => (
            "Nothing of that id in the caller's view.",
            serde_json::json!({"error": "Not found."}),
        ),
        409 => (
            "In conflict with the current state (a duplicate, or a state that does not allow it).",
            serde_json::json!({"error": "That username is taken.", "field": "username"}),
        ),
        413 => (
            "The request body is larger than 1 MiB.",
            serde_json::json!({"error": "The request body is larger than 1 MiB."}),
        ),
        415 => (
            "The body is not `application/json`.",
            serde_json::json!({"error": "Send the body as JSON, with Content-Type: application/json."}),
        ),
        422 => (
            "A value is refused (`field` names it), or the JSON has a missing or unknown field or a wrong type.",
            serde_json::json!({"error": "Enter a valid e-mail address.", "field": "email"}),
        ),
        429 => (
            "Too many attempts; `Retry-After` says in how many seconds to try again.",
            serde_json::json!({"error": "Too many attempts; try again in 60 seconds."}),
        ),
        _ => ("Refused.", serde_json::json!({"error": "Refused."})),
    };
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(
            <ErrorBody as utoipa::ToSchema>::name(),
        )))
        .example(Some(example))
        .build();
    let mut resp = ResponseBuilder::new()
        .description(description)
        .content("application/json", content);
    if status == 429 {
        resp = resp.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::Integer),
                ))
                .description(Some("Seconds to wait before trying again."))
                .build(),
        );
    }
    if status == 401 {
        resp = resp.header(
            "WWW-Authenticate",
            HeaderBuilder::new()
                .schema(Some(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::String),
                ))
                .build(),
        );
    }
    resp.build()
}
