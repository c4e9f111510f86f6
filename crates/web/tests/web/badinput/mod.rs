//! Bad input everywhere: every route the router registers, sent what a
//! careless or hostile client sends — fields of 100,000 characters, bodies
//! over the 1 MiB limit, bytes that are not UTF-8, NUL characters, the wrong
//! content type, markup, SQL metacharacters, long and tricky Unicode — and
//! each answer judged:
//!
//! - never a 5xx; a refusal is a 4xx in the usual format (the JSON error
//!   body of SPEC §11 on the API, the portal's page on pages) and says what
//!   was wrong (not a bare "Bad Request" or the framework's text);
//! - a refused request stores nothing: every row of every table is the same
//!   after it (sessions and throttles aside, and the audit log and failure
//!   counters of the routes that count failed attempts, where the payload
//!   itself must still not be stored);
//! - markup that a free-text field takes is shown escaped: no HTML answer
//!   of the sweep, and no page an operator, administrator or user can reach
//!   afterwards, carries it raw;
//! - SQL metacharacters are data: a search for them finds nothing.
//!
//! `TABLE` says, for each route, who calls it and what its input is, field
//! by field, with the rule each field follows. The routes come from the
//! router: one missing from `TABLE` fails the test, so a new route cannot
//! be added without saying what bad input it refuses.
//!
//! Each route gets a fresh database. `SWEEP_ONLY=<route>` runs one route;
//! `SWEEP_DEBUG=1` prints every request and answer.

mod cases;
mod fixture;
mod judge;
mod shown;
mod table;
mod values;

use crate::support::*;
use axum::http::{Method, StatusCode, header};
use fixture::*;
use gatehouse_domain::session::SessionState;
use gatehouse_domain::{AccountId, Role, UserId};
use gatehouse_store::{Scope, Users};
use gatehouse_web::service::{Caller, orders, validate};
use judge::*;
use serde_json::{Map, Value, json};
use shown::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use table::*;
use values::*;

async fn sweep_route(entry: &Entry, method: Method, pattern: &str) -> (Vec<String>, usize) {
    let twilio = matches!(entry.input, Input::Twilio(_));
    let mut sweep = Sweep {
        f: Fixture::new(twilio).await,
        entry,
        method,
        pattern,
        is_api: pattern.starts_with("/api/"),
        failures: Vec::new(),
        markup_taken: false,
        requests: 0,
    };
    match entry.input {
        Input::Nothing => sweep.sweep_nothing().await,
        Input::Form(fields) => sweep.sweep_form(fields).await,
        Input::Json(fields) => sweep.sweep_json(fields).await,
        Input::Query(fields) => sweep.sweep_query(fields).await,
        Input::Upload => sweep.sweep_upload().await,
        Input::Twilio(fields) => sweep.sweep_twilio(fields).await,
    }
    sweep.sweep_path().await;
    if sweep.markup_taken {
        pages_escape(&mut sweep).await;
    }
    (sweep.failures, sweep.requests)
}

#[tokio::test]
async fn every_route_refuses_bad_input_stores_nothing_and_escapes_what_it_shows() {
    let routes = gatehouse_web::route_table();
    let keys: BTreeSet<String> = routes
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let mut table: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for e in TABLE {
        table.entry(e.route).or_default().push(e);
    }
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !table.contains_key(k.as_str()))
        .collect();
    let stale: Vec<&&str> = table.keys().filter(|k| !keys.contains(**k)).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "routes without a row in TABLE: {missing:#?}\nrows for routes that do not exist: {stale:?}"
    );
    let only = std::env::var("SWEEP_ONLY").ok();
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    let mut requests = 0;
    for r in &routes {
        let key = format!("{} {}", r.method, r.path);
        if only.as_deref().is_some_and(|o| o != key) {
            continue;
        }
        for entry in &table[key.as_str()] {
            let (f, n) = sweep_route(entry, r.method.clone(), &r.path).await;
            failures.extend(f);
            requests += n;
        }
    }
    println!(
        "{requests} requests in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
