//! Add External Authentication (the help article's steps, with its labels)
//! and the administrators' recovery actions for a user's credential.

use super::{FieldExtra, FormErrors, PageResult, alert, csrf_input, field, layout, require_admin};
use crate::AppState;
use crate::error::AppError;
use crate::error::AppErrorExt as _;
use crate::extract::{Ctx, PageUser};
use crate::pages::Form;
use crate::routing::{Methods, Routes, get};
use crate::service::credentials as creds;
use crate::service::orders::{self as svc, Checked, OrderInput, Placed};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use gatehouse_app::model::User;
use gatehouse_domain::pricing::format_money;
use gatehouse_domain::{Method, UserId, secret};
use maud::{Markup, html};
use serde::Deserialize;

mod recovery;
mod wizard;

use recovery::*;
use wizard::*;

pub fn routes() -> Routes {
    let routes = Routes::new()
        .route(
            "/users/{id}/external-authentication",
            get(page_wizard).post(wizard_submit),
        )
        .route("/orders/{number}", get(page_order))
        .route("/msa/{version}", get(page_msa))
        .route(
            "/users/{id}/security-code/temporary",
            get(page_temporary).post(temporary_submit),
        )
        .route(
            "/users/{id}/security-code/sync",
            get(page_sync).post(sync_submit),
        );
    // The other recovery actions: their paths are in `RecoveryAction::route`.
    RecoveryAction::ALL
        .into_iter()
        .fold(routes, |routes, a| routes.route(a.route(), a.handlers()))
}
