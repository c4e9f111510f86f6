//! `serve` over UDP on 127.0.0.1, driven by the crate's client and by
//! FreeRADIUS's radclient. One test binary, one module per driver.

mod radclient;
mod rust_client;
mod support;
