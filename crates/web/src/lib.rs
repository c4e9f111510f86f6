//! Gatehouse's web layer: the portal's pages, the JSON API and operations
//! endpoints — adapters over the application services of `gatehouse-app`,
//! which hold the flows, their permission checks and audit entries.
//!
//! Layout:
//! - [`pages`]: server-rendered HTML (maud), forms with CSRF tokens.
//! - [`api`]: `/api/v1` JSON handlers and the OpenAPI document.
//! - [`extract`]: who is calling (session cookie or bearer token), client
//!   address, CSRF checks.

pub mod api;
mod app;
pub mod error;
pub mod extract;
mod ops;
pub mod pages;
pub mod routing;
mod server;
pub mod twilio;

pub use app::{
    AppConfig, AppState, DELIVERY_NOT_CONFIGURED, Delivery, DeliveryMode, HttpConfig, route_table,
    router, router_with,
};
pub use error::{AppError, HttpError};
/// The application services, re-exported for the adapters in this crate.
pub use gatehouse_app::service;
pub use server::serve;
