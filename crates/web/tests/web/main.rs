//! Route-level tests of the portal and the API, on SQLite (always) and on
//! PostgreSQL (when `GATEHOUSE_TEST_POSTGRES_URL` is set).

mod billing;
mod isolation;
mod limits;
mod ops;
mod pages;
mod phonefactor;
mod signin;
mod support;
mod symantec;
mod users;
