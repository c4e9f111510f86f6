//! The process tests: the `gatehouse` binary run as a real process (its
//! command line and `serve`), and the authenticator against it.
//!
//! - `server`: the one way to start a server (`Server`, which never
//!   outlives its test) and to run the other commands;
//! - `http`: the one HTTP client (reqwest, cookies, the CSRF token);
//! - `cli`, `serve`, `authenticator`, `crash`, `radius`: the tests;
//! - `leak`: that a panicking test leaves no server behind.

mod authenticator;
mod cli;
mod crash;
mod http;
mod leak;
mod radius;
mod serve;
mod server;
