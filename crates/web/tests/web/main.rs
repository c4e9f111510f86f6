//! Route-level tests of the portal and the API, on SQLite (always) and on
//! PostgreSQL (when `GATEHOUSE_TEST_POSTGRES_URL` is set).

mod api_doc;
mod attacks;
mod badinput;
mod billing;
mod isolation;
mod limits;
mod matrix;
mod ops;
mod ordering;
mod pages;
mod phonefactor;
mod radius;
mod roles;
mod sessions;
mod signin;
mod support;
mod symantec;
mod tokens;
mod users;
mod virtual_phone;
