//! Add External Authentication (the help article's steps, with its labels)
//! and the administrators' recovery actions for a user's credential, with
//! the Users screen's Actions drop-down that leads to them.

use super::{FieldExtra, FormErrors, PageResult, alert, csrf_input, field, layout, require_admin};
use crate::AppState;
use crate::error::AppError;
use crate::error::AppErrorExt as _;
use crate::extract::{Ctx, PageUser};
use crate::pages::Form;
use crate::pages::form::Path;
use crate::routing::{Methods, Routes, get};
use crate::service::credentials as creds;
use crate::service::orders::{self as svc, AuthState, Checked, ExternalAuth, Placed};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use gatehouse_app::model::User;
use gatehouse_domain::pricing::format_money;
use gatehouse_domain::{Method, UserId, UserStatus, secret};
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

/// The entries of a user's Actions drop-down: (value, label).
pub(super) fn actions_for(
    viewer: &User,
    u: &User,
    ext: &[ExternalAuth],
) -> Vec<(&'static str, &'static str)> {
    let mut a = vec![("edit", "Edit User")];
    if ext.len() < Method::ALL.len() {
        a.push(("add-external-authentication", "Add External Authentication"));
    }
    if let Some(s) = ext.iter().find(|e| e.method == Method::SymantecVip) {
        a.push((
            "remove-external-authentication",
            "Remove External Authentication",
        ));
        a.push(("temporary-security-code", "Temporary Security Code"));
        if s.state == AuthState::Locked {
            a.push(("unlock-credential", "Unlock Credential"));
        }
        a.push(("synchronize-credential", "Synchronize Credential"));
        if s.state == AuthState::Disabled {
            a.push(("enable-credential", "Enable Credential"));
        } else {
            a.push(("disable-credential", "Disable Credential"));
        }
    }
    if let Some(p) = ext.iter().find(|e| e.method == Method::PhoneFactor) {
        if !a.contains(&(
            "remove-external-authentication",
            "Remove External Authentication",
        )) {
            a.push((
                "remove-external-authentication",
                "Remove External Authentication",
            ));
        }
        if p.state == AuthState::Blocked {
            a.push(("clear-fraud-block", "Clear Fraud Block"));
        }
        if p.state == AuthState::Active {
            a.push(("phonefactor-bypass", "Grant One-time Bypass"));
        }
        if matches!(
            p.state,
            AuthState::Active | AuthState::AwaitingActivation | AuthState::Blocked
        ) {
            a.push(("deactivate-phonefactor", "Deactivate PhoneFactor"));
        }
    }
    if viewer.id == u.id {
        // One's own password is changed, not reset (a reset ends one's session).
        a.push(("change-password", "Change Password"));
    } else {
        a.push(("reset-password", "Reset Password"));
        match u.status {
            UserStatus::Active => a.push(("disable", "Disable User")),
            UserStatus::Disabled => a.push(("enable", "Enable User")),
        }
        a.push(("delete", "Delete User"));
    }
    a
}
