//! Add External Authentication (the help article's steps, with its labels)
//! and the administrators' recovery actions for a user's credential.

use super::{FieldExtra, FormErrors, PageResult, alert, csrf_input, field, layout, require_admin};
use crate::AppState;
use crate::error::AppError;
use crate::error::AppErrorExt as _;
use crate::extract::{Ctx, PageUser};
use crate::pages::Form;
use crate::routing::Routes;
use crate::routing::get;
use crate::service::credentials as creds;
use crate::service::orders::{self as svc, Checked, OrderInput, Placed};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
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
    Routes::new()
        .route(
            "/users/{id}/external-authentication",
            get(page_wizard).post(wizard_submit),
        )
        .route("/orders/{number}", get(page_order))
        .route("/msa/{version}", get(page_msa))
        .route(
            "/users/{id}/external-authentication/remove",
            get(page_remove).post(remove_submit),
        )
        .route(
            "/users/{id}/security-code/temporary",
            get(page_temporary).post(temporary_submit),
        )
        .route(
            "/users/{id}/security-code/unlock",
            get(page_unlock).post(unlock_submit),
        )
        .route(
            "/users/{id}/security-code/sync",
            get(page_sync).post(sync_submit),
        )
        .route(
            "/users/{id}/security-code/disable",
            get(page_disable).post(disable_submit),
        )
        .route(
            "/users/{id}/security-code/enable",
            get(page_enable).post(enable_submit),
        )
        .route(
            "/users/{id}/phonefactor/clear-block",
            get(page_clear_block).post(clear_block_submit),
        )
        .route(
            "/users/{id}/phonefactor/deactivate",
            get(page_pf_deactivate).post(pf_deactivate_submit),
        )
        .route(
            "/users/{id}/phonefactor/bypass",
            get(page_bypass).post(bypass_submit),
        )
}
