//! Gatehouse's web layer: the portal's pages, the JSON API and operations
//! endpoints, on top of application services that hold the flows.
//!
//! Layout:
//! - [`service`]: the flows (sign-in, user administration, accounts) with
//!   their permission checks and audit entries; no HTTP in there.
//! - [`pages`]: server-rendered HTML (maud), forms with CSRF tokens.
//! - [`api`]: `/api/v1` JSON handlers and the OpenAPI document.
//! - [`extract`]: who is calling (session cookie or bearer token), client
//!   address, CSRF checks.

pub mod api;
mod app;
mod error;
pub mod extract;
mod ops;
pub mod pages;
pub mod routing;
mod server;
pub mod service;

pub use app::{
    AppState, DELIVERY_NOT_CONFIGURED, Delivery, DeliveryMode, WebConfig, route_table, router,
};
pub use error::AppError;
pub use server::serve;
