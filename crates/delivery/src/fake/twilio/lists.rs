//! The list endpoints (`GET …/Messages.json`, `GET …/Calls.json`): filters,
//! pages and Twilio's list shape, newest first.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::resources::{authorized, call_json, message_json, param, twilio_error};
use super::{FakeCall, FakeMessage, Shared};
use crate::fake::{lock, random_hex};
use crate::twilio::API_VERSION;
use crate::twilio::signature::form_pairs;

/// A list request: `To`, `From`, `PageSize` (default 50, at most 1000) and
/// `Page` (from 0); newest first.
struct ListQuery {
    to: Option<String>,
    from: Option<String>,
    page_size: usize,
    page: usize,
}

fn list_query(query: Option<&str>) -> Result<ListQuery, Box<Response>> {
    let pairs = form_pairs(query.unwrap_or_default().as_bytes());
    let number = |name: &str, default: usize| -> Result<usize, Box<Response>> {
        match param(&pairs, name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| Box::new(twilio_error(400, 20001, &format!("Invalid {name}: {v}")))),
        }
    };
    let page_size = number("PageSize", 50)?;
    if !(1..=1000).contains(&page_size) {
        return Err(Box::new(twilio_error(
            400,
            20001,
            "PageSize must be between 1 and 1000",
        )));
    }
    Ok(ListQuery {
        to: param(&pairs, "To").map(str::to_owned),
        from: param(&pairs, "From").map(str::to_owned),
        page_size,
        page: number("Page", 0)?,
    })
}

/// One page of `items` (already filtered, newest first) in Twilio's list
/// shape under `key`.
fn list_page(
    shared: &Shared,
    leaf: &str,
    key: &str,
    q: &ListQuery,
    items: Vec<serde_json::Value>,
) -> Response {
    let mut filter = form_urlencoded::Serializer::new(String::new());
    if let Some(to) = &q.to {
        filter.append_pair("To", to);
    }
    if let Some(from) = &q.from {
        filter.append_pair("From", from);
    }
    filter.append_pair("PageSize", &q.page_size.to_string());
    let filter = filter.finish();
    let path = format!("/{API_VERSION}/Accounts/{}/{leaf}", shared.account_sid);
    let start = q.page.saturating_mul(q.page_size);
    let total = items.len();
    let page: Vec<serde_json::Value> = items.into_iter().skip(start).take(q.page_size).collect();
    let page_uri = |n: usize| format!("{path}?{filter}&Page={n}");
    let next_page_uri = if start + page.len() < total {
        json!(format!(
            "{}&PageToken=PA{}",
            page_uri(q.page + 1),
            random_hex(8)
        ))
    } else {
        serde_json::Value::Null
    };
    let previous_page_uri = if q.page > 0 {
        json!(page_uri(q.page - 1))
    } else {
        serde_json::Value::Null
    };
    let end = (start + page.len()).saturating_sub(1);
    let mut answer = json!({
        "first_page_uri": page_uri(0),
        "next_page_uri": next_page_uri,
        "previous_page_uri": previous_page_uri,
        "page": q.page,
        "page_size": q.page_size,
        "start": start,
        "end": end,
        "uri": page_uri(q.page),
    });
    answer[key] = serde_json::Value::Array(page);
    (StatusCode::OK, axum::Json(answer)).into_response()
}

fn admit_list(shared: &Shared, sid: &str, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let mut state = lock(&shared.state);
    state.list_count += 1;
    if !authorized(shared, sid, headers) {
        return Err(Box::new(twilio_error(401, 20003, "Authenticate")));
    }
    if let Some(status) = state.failure {
        return Err(Box::new(twilio_error(
            status,
            20500,
            "Internal Server Error",
        )));
    }
    Ok(())
}

pub(super) async fn list_messages(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(response) = admit_list(&shared, &sid, &headers) {
        return *response;
    }
    let q = match list_query(query.as_deref()) {
        Ok(q) => q,
        Err(response) => return *response,
    };
    let items: Vec<serde_json::Value> = {
        let state = lock(&shared.state);
        let mut found: Vec<&FakeMessage> = state
            .messages
            .iter()
            .filter(|m| q.to.as_deref().is_none_or(|t| m.to == t))
            .filter(|m| {
                q.from
                    .as_deref()
                    .is_none_or(|f| m.from.as_deref() == Some(f))
            })
            .collect();
        // Newest first; the later of two created in the same millisecond.
        found.reverse();
        found.sort_by_key(|x| std::cmp::Reverse(x.date_created));
        found
            .into_iter()
            .map(|m| message_json(&shared.account_sid, m))
            .collect()
    };
    list_page(&shared, "Messages.json", "messages", &q, items)
}

pub(super) async fn list_calls(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(response) = admit_list(&shared, &sid, &headers) {
        return *response;
    }
    let q = match list_query(query.as_deref()) {
        Ok(q) => q,
        Err(response) => return *response,
    };
    let items: Vec<serde_json::Value> = {
        let state = lock(&shared.state);
        let mut found: Vec<&FakeCall> = state
            .calls
            .iter()
            .filter(|c| q.to.as_deref().is_none_or(|t| c.to == t))
            .filter(|c| q.from.as_deref().is_none_or(|f| c.from == f))
            .collect();
        found.reverse();
        found.sort_by_key(|x| std::cmp::Reverse(x.date_created));
        found
            .into_iter()
            .map(|c| call_json(&shared.account_sid, c))
            .collect()
    };
    list_page(&shared, "Calls.json", "calls", &q, items)
}
