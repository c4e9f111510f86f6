//! Monthly billing: a three-month fixture against hand-computed figures,
//! idempotent runs, refused periods, current charges, CSV, isolation,
//! pages and audit entries.

use crate::support::*;
use axum::http::StatusCode;
use gatehouse_domain::billing::Period;
use gatehouse_domain::{AccountId, Timestamp, UserId};
use gatehouse_store::orders::{self, NewOrder};
use gatehouse_web::service::Caller;
use gatehouse_web::service::billing as svc;
use serde_json::json;

/// Midnight UTC of a day, plus `hours`.
fn day(period: &str, d: i64, hours: i64) -> Timestamp {
    let p = Period::parse(period).unwrap();
    Timestamp(p.start().0 + (d - 1) * 86_400_000 + hours * 3_600_000)
}

struct Promo(&'static str, i64, Option<i64>);

/// Places an order (and its subscription) at `at`, as the order service
/// would record it, with the price and promo terms given.
#[allow(clippy::too_many_arguments)]
async fn place(
    app: &App,
    account: AccountId,
    user: UserId,
    username: &str,
    method: &str,
    price: i64,
    promo: Option<Promo>,
    at: Timestamp,
) {
    let number = format!("EA-{:08}", at.0 % 100_000_000 + user.0);
    let key = format!("k-{}-{method}-{}", user.0, at.0);
    let mut conn = app.st.store.conn().await.unwrap();
    orders::place(
        &mut conn,
        &NewOrder {
            number: &number,
            account_id: account,
            user_id: user,
            username,
            method: gatehouse_domain::Method::parse(method).unwrap(),
            credential_id: None,
            monthly_price: price,
            currency: "USD",
            promo_code: promo.as_ref().map(|_| "PROMO"),
            promo_kind: promo.as_ref().map(|p| p.0),
            promo_value: promo.as_ref().map(|p| p.1),
            promo_months: promo.as_ref().and_then(|p| p.2),
            msa_version: "2026.1",
            msa_sha256: "x",
            acknowledged_by: user,
            acknowledged_name: username,
            acknowledged_addr: "127.0.0.1",
            idempotency_key: &key,
        },
        at,
    )
    .await
    .unwrap();
}

async fn remove(app: &App, user: UserId, method: &str, at: Timestamp) {
    let mut conn = app.st.store.conn().await.unwrap();
    let user = gatehouse_store::Users::system()
        .get(&mut conn, user)
        .await
        .unwrap();
    let method = gatehouse_domain::Method::parse(method).unwrap();
    assert!(orders::end(&mut conn, &user, method, at).await.unwrap());
}

/// An operator (in the provider's account), signed in through the API and
/// through the login page.
async fn operator(app: &App) -> (Client, Client) {
    let provider = app.provider().await;
    app.user(provider.id, "op-billing", "operator").await;
    let api = app.signed_in("op-billing").await;
    let mut page = app.client();
    let r = page.page_login("op-billing", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    (api, page)
}

/// The statement of `account` in a list.
fn of(list: &[svc::StatementView], account: AccountId) -> &svc::StatementView {
    list.iter()
        .find(|s| s.account_id == account)
        .unwrap_or_else(|| panic!("no statement for {account:?}"))
}

async fn footprint(app: &App) -> (i64, i64, i64, i64) {
    let mut conn = app.st.store.conn().await.unwrap();
    gatehouse_store::billing::footprint(&mut conn)
        .await
        .unwrap()
}

/// Accounts Alpha and Beta with orders across January–March 2026:
///
/// | user | method | ordered | removed | price | promo |
/// |---|---|---|---|---|---|
/// | amy (A) | symantec_vip | 2025-12-20 | — | 500 | — |
/// | ben (A) | phonefactor | 2026-01-16 | — | 300 | 50 % for 2 months |
/// | cat (A) | symantec_vip | 2026-01-01 | 2026-02-15 | 500 | — |
/// | ben (A) | symantec_vip | 2026-02-10 | — | 600 (new price) | 100 % for 1 month |
/// | dan (A) | phonefactor | 2026-03-05 | 2026-03-05 (same day) | 300 | — |
/// | dan (A) | phonefactor | 2026-03-10 | 2026-03-20 | 300 | — |
/// | eve (B) | symantec_vip | 2026-02-01 | — | 500 | 200 off for ever |
/// | fay (B) | phonefactor | 2026-01-31 | — | 300 | 800 off for ever (more than the price) |
async fn fixture(app: &App) -> (AccountId, AccountId) {
    let (a, _) = app.account("Alpha Billing").await;
    let (b, _) = app.account("Beta Billing").await;
    let amy = app.user(a, "amy", "user").await;
    let ben = app.user(a, "ben", "user").await;
    let cat = app.user(a, "cat", "user").await;
    let dan = app.user(a, "dan", "user").await;
    let eve = app.user(b, "eve", "user").await;
    let fay = app.user(b, "fay", "user").await;
    place(
        app,
        a,
        amy,
        "amy",
        "symantec_vip",
        500,
        None,
        day("2025-12", 20, 9),
    )
    .await;
    place(
        app,
        a,
        ben,
        "ben",
        "phonefactor",
        300,
        Some(Promo("percent", 50, Some(2))),
        day("2026-01", 16, 23),
    )
    .await;
    place(
        app,
        a,
        cat,
        "cat",
        "symantec_vip",
        500,
        None,
        day("2026-01", 1, 0),
    )
    .await;
    remove(app, cat, "symantec_vip", day("2026-02", 15, 8)).await;
    place(
        app,
        a,
        ben,
        "ben",
        "symantec_vip",
        600,
        Some(Promo("percent", 100, Some(1))),
        day("2026-02", 10, 12),
    )
    .await;
    place(
        app,
        a,
        dan,
        "dan",
        "phonefactor",
        300,
        None,
        day("2026-03", 5, 1),
    )
    .await;
    remove(app, dan, "phonefactor", day("2026-03", 5, 2)).await;
    place(
        app,
        a,
        dan,
        "dan",
        "phonefactor",
        300,
        None,
        day("2026-03", 10, 1),
    )
    .await;
    remove(app, dan, "phonefactor", day("2026-03", 20, 1)).await;
    place(
        app,
        b,
        eve,
        "eve",
        "symantec_vip",
        500,
        Some(Promo("amount", 200, None)),
        day("2026-02", 1, 0),
    )
    .await;
    place(
        app,
        b,
        fay,
        "fay",
        "phonefactor",
        300,
        Some(Promo("amount", 800, None)),
        day("2026-01", 31, 22),
    )
    .await;
    (a, b)
}

fn line<'a>(
    s: &'a svc::StatementView,
    user: &str,
    method: &str,
) -> &'a gatehouse_store::billing::Line {
    s.lines
        .iter()
        .find(|l| l.username == user && l.method == method)
        .unwrap_or_else(|| panic!("no line {user} {method} in {:?}", s.lines))
}

fn amounts(s: &svc::StatementView) -> Vec<(String, String, i64, i64, i64)> {
    s.lines
        .iter()
        .map(|l| {
            (
                l.username.clone(),
                l.method.clone(),
                l.days,
                l.discount,
                l.amount,
            )
        })
        .collect()
}

#[tokio::test]
async fn three_months_match_hand_computed_statements() {
    let app = spawn_app().await;
    let (a, b) = fixture(&app).await;
    app.clock.set(day("2026-04", 2, 10));
    let cli = Caller::cli();
    let s = |v: &str| v.to_owned();

    // January (31 days).
    //   amy: whole month 500.
    //   ben pf: 16 days (16th–31st); gross 300×16/31 = 154.84 → 155;
    //           discount 150×16/31 = 77.42 → 77; amount 78.
    //   cat: whole month 500.
    //   fay: 1 day; gross 300/31 = 9.68 → 10; discount 300/31 → 10; amount 0.
    let jan = svc::run(&app.st, &cli, "2026-01").await.unwrap();
    assert!(jan.newly_closed);
    assert_eq!(jan.statements.len(), 2);
    let (ja, jb) = (of(&jan.statements, a), of(&jan.statements, b));
    assert_eq!(
        amounts(ja),
        vec![
            (s("amy"), s("symantec_vip"), 31, 0, 500),
            (s("ben"), s("phonefactor"), 16, 77, 78),
            (s("cat"), s("symantec_vip"), 31, 0, 500),
        ]
    );
    assert_eq!(line(ja, "ben", "phonefactor").gross, 155);
    assert_eq!(amounts(jb), vec![(s("fay"), s("phonefactor"), 1, 10, 0)]);
    assert_eq!(ja.totals.display(), "10.78 USD");
    assert_eq!(jb.totals.display(), "0.00 USD");
    assert_eq!(jan.total.display(), "10.78 USD");

    // February (28 days).
    //   amy 500; ben pf month 1 of 2: 300 − 150 = 150; cat: 14 days (1st–14th,
    //   removed on the 15th) = 250; ben vip at the new price 600, 19 days
    //   (10th–28th): gross 600×19/28 = 407.14 → 407, 100 % off → 0;
    //   eve 500 − 200 = 300; fay 300 − 300 = 0.
    let feb = svc::run(&app.st, &cli, "2026-02").await.unwrap();
    let (fa, fb) = (of(&feb.statements, a), of(&feb.statements, b));
    assert_eq!(
        amounts(fa),
        vec![
            (s("amy"), s("symantec_vip"), 28, 0, 500),
            (s("ben"), s("phonefactor"), 28, 150, 150),
            (s("ben"), s("symantec_vip"), 19, 407, 0),
            (s("cat"), s("symantec_vip"), 14, 0, 250),
        ]
    );
    assert_eq!(line(fa, "ben", "symantec_vip").monthly_price, 600);
    assert_eq!(line(fa, "amy", "symantec_vip").monthly_price, 500);
    assert_eq!(
        amounts(fb),
        vec![
            (s("eve"), s("symantec_vip"), 28, 200, 300),
            (s("fay"), s("phonefactor"), 28, 300, 0),
        ]
    );
    assert_eq!(
        (fa.totals.display(), fb.totals.display()),
        (s("9.00 USD"), s("3.00 USD"))
    );
    assert_eq!(feb.total.display(), "12.00 USD");

    // March (31 days).
    //   amy 500; ben pf promo over: 300; ben vip promo over: 600;
    //   dan: the same-day order costs nothing; the second, 10th–19th =
    //   10 days: 300×10/31 = 96.77 → 97; eve 300; fay 0.
    let mar = svc::run(&app.st, &cli, "2026-03").await.unwrap();
    let (ma, mb) = (of(&mar.statements, a), of(&mar.statements, b));
    assert_eq!(
        amounts(ma),
        vec![
            (s("amy"), s("symantec_vip"), 31, 0, 500),
            (s("ben"), s("phonefactor"), 31, 0, 300),
            (s("ben"), s("symantec_vip"), 31, 0, 600),
            (s("dan"), s("phonefactor"), 10, 0, 97),
        ]
    );
    assert_eq!(
        amounts(mb),
        vec![
            (s("eve"), s("symantec_vip"), 31, 200, 300),
            (s("fay"), s("phonefactor"), 31, 300, 0),
        ]
    );
    assert_eq!(mar.total.display(), "17.97 USD");
    assert!(
        mar.statements
            .iter()
            .flat_map(|s| &s.lines)
            .all(|l| l.amount >= 0 && l.amount == l.gross - l.discount)
    );
}

#[tokio::test]
async fn rerunning_a_closed_period_changes_nothing() {
    let app = spawn_app().await;
    fixture(&app).await;
    app.clock.set(day("2026-04", 2, 10));
    let cli = Caller::cli();
    let first = svc::run(&app.st, &cli, "2026-02").await.unwrap();
    let before = footprint(&app).await;
    assert_eq!(before, (1, 2, 6, 1200));

    // Later changes to subscriptions do not reopen the closed month.
    let mut conn = app.st.store.conn().await.unwrap();
    let amy = gatehouse_store::Users::new(gatehouse_store::Scope::All)
        .find_by_username(&mut conn, "amy")
        .await
        .unwrap();
    drop(conn);
    remove(&app, amy.id, "symantec_vip", day("2026-04", 2, 11)).await;
    app.clock.set(day("2026-05", 20, 0));

    let again = svc::run(&app.st, &cli, " 2026-02 ").await.unwrap();
    assert!(!again.newly_closed);
    assert_eq!(again.statements, first.statements);
    assert_eq!(again.total, first.total);
    assert_eq!(again.closed_at, first.closed_at);
    assert_eq!(footprint(&app).await, before);
}

#[tokio::test]
async fn concurrent_runs_close_a_period_once() {
    let app = spawn_app().await;
    fixture(&app).await;
    app.clock.set(day("2026-04", 2, 10));
    let cli = Caller::cli();
    let (x, y) = tokio::join!(
        svc::run(&app.st, &cli, "2026-03"),
        svc::run(&app.st, &cli, "2026-03")
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_ne!(x.newly_closed, y.newly_closed, "exactly one run closes it");
    assert_eq!(x.statements, y.statements);
    assert_eq!(footprint(&app).await, (1, 2, 6, 1797));
}

#[tokio::test]
async fn unfinished_and_bad_periods_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    fixture(&app).await;
    app.clock.set(day("2026-04", 15, 10));
    let cli = Caller::cli();
    for (period, says) in [
        ("2026-04", "current month"),
        ("2026-05", "future"),
        ("2030-01", "future"),
        ("2026-4", "YYYY-MM"),
        ("2026-13", "01 to 12"),
        ("", "YYYY-MM"),
    ] {
        let e = svc::run(&app.st, &cli, period).await.unwrap_err();
        assert_eq!(
            gatehouse_web::error::status_of(&e),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{period}"
        );
        assert_eq!(e.field(), Some("period"));
        assert!(e.message().contains(says), "{period}: {}", e.message());
    }
    assert_eq!(footprint(&app).await, (0, 0, 0, 0));
    // Only the operator closes periods.
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let r = admin
        .post("/api/v1/billing/run", json!({"period": "2026-03"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = app
        .client()
        .post("/api/v1/billing/run", json!({"period": "2026-03"}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(footprint(&app).await, (0, 0, 0, 0));
}

/// Orders through the API, then the current charges, a run, statements,
/// CSV and audit entries, as each role sees them.
#[tokio::test]
async fn current_charges_statements_and_csv_through_the_api() {
    let app = spawn_app().await;
    app.catalog().await;
    app.credential("VSST00000001", false).await;
    app.credential("VSST00000002", false).await;
    let alpha = app.customer("alpha").await;
    let beta = app.customer("beta").await;
    let mut a_admin = app.signed_in(&alpha.admin_name()).await;
    let mut b_admin = app.signed_in(&beta.admin_name()).await;
    // T0 is 2025-11-30: one day of November.
    let r = order(&mut a_admin, alpha.user, "VSST00000001", "k1").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = order(&mut b_admin, beta.user, "VSST00000002", "k2").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    let cur = a_admin.get("/api/v1/billing/current").await;
    assert_eq!(cur.status, StatusCode::OK, "{}", cur.text);
    let cur = cur.json();
    assert_eq!(cur["period"], "2025-11");
    let st = cur["statements"].as_array().unwrap();
    assert_eq!(st.len(), 1, "only the caller's account: {cur}");
    assert_eq!(st[0]["status"], "open");
    let l = &st[0]["lines"][0];
    assert_eq!(
        (
            &l["username"],
            l["days"].as_i64(),
            l["monthly_price"].as_i64(),
            l["amount"].as_i64()
        ),
        (&json!("alpha-user"), Some(1), Some(500), Some(17)),
        "500 × 1/30 = 16.67 → 17: {cur}"
    );
    assert!(!cur.to_string().contains("beta-"));

    // December 10th: November can be closed; December so far is 10 days.
    // (Sessions have timed out by then: sign in again.)
    app.clock.set(day("2025-12", 10, 12));
    let (mut op, _) = operator(&app).await;
    let mut a_admin = app.signed_in(&alpha.admin_name()).await;
    let cur = a_admin.get("/api/v1/billing/current").await.json();
    assert_eq!(cur["statements"][0]["lines"][0]["days"], 10);
    assert_eq!(
        cur["statements"][0]["lines"][0]["amount"], 161,
        "500 × 10/31 = 161.29: {cur}"
    );

    let r = op
        .post("/api/v1/billing/run", json!({"period": "2025-12"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.json()["field"], "period");
    let r = op
        .post("/api/v1/billing/run", json!({"period": "2025-11"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let run = r.json();
    assert_eq!(run["newly_closed"], true);
    assert_eq!(run["totals"], json!([{"currency": "USD", "amount": 34}]));

    // Each administrator sees their own statement only.
    let mine = a_admin
        .get("/api/v1/billing/statements?period=2025-11")
        .await
        .json();
    assert_eq!(mine["statements"].as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(
        mine["statements"][0]["account_number"],
        alpha.number.as_str()
    );
    assert_eq!(mine["statements"][0]["status"], "closed");
    assert_eq!(mine["totals"], json!([{"currency": "USD", "amount": 17}]));
    let other = a_admin
        .get(&format!(
            "/api/v1/billing/statements?account={}",
            beta.number
        ))
        .await
        .json();
    assert_eq!(other["statements"], json!([]), "{other}");
    let all = op.get("/api/v1/billing/statements").await.json();
    assert_eq!(all["statements"].as_array().unwrap().len(), 2);
    let bad = a_admin.get("/api/v1/billing/statements?period=nov").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["field"], "period");

    // CSV: a header and one record per line; another account's is a 404.
    let csv = a_admin
        .get("/api/v1/billing/statements/csv?period=2025-11")
        .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let rows: Vec<&str> = csv.text.lines().collect();
    assert_eq!(
        rows[0],
        "period,account_number,account_name,username,method,order_number,days,days_in_month,monthly_price_minor,gross_minor,discount_minor,amount_minor,currency"
    );
    assert_eq!(rows.len(), 2, "{}", csv.text);
    assert!(
        rows[1].starts_with(&format!(
            "2025-11,{},alpha Hosting,alpha-user,symantec_vip,EA-",
            alpha.number
        )),
        "{}",
        rows[1]
    );
    assert!(rows[1].ends_with(",1,30,500,17,0,17,USD"), "{}", rows[1]);
    let r = a_admin
        .get(&format!(
            "/api/v1/billing/statements/csv?period=2025-11&account={}",
            beta.number
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = a_admin
        .get("/api/v1/billing/statements/csv?period=2025-10")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let all_csv = op
        .get("/api/v1/billing/statements/csv?period=2025-11")
        .await;
    assert_eq!(all_csv.text.lines().count(), 3);

    // A plain user sees no charges.
    app.user(alpha.id, "alpha-plain", "user").await;
    let mut user = app.signed_in("alpha-plain").await;
    assert_eq!(
        user.get("/api/v1/billing/current").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        user.get("/api/v1/billing/statements").await.status,
        StatusCode::FORBIDDEN
    );

    // Audit: the run (operator's log) and each download (the account's log).
    let log = op.get("/api/v1/audit").await.json();
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "billing_run").count(),
        1,
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "billing_statement_download")
            .count(),
        2,
        "{actions:?}"
    );
    let mine = a_admin.get("/api/v1/audit").await.json();
    assert!(
        mine["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "billing_statement_download"
                && e["target"] == format!("statement:2025-11:{}", alpha.number).as_str())
    );

    let doc = op.get("/api/openapi.json").await.json();
    for p in [
        "/api/v1/billing/statements",
        "/api/v1/billing/current",
        "/api/v1/billing/statements/csv",
        "/api/v1/billing/run",
    ] {
        assert!(
            doc["paths"].get(p).is_some(),
            "{p} missing from the OpenAPI document"
        );
    }
}

#[tokio::test]
async fn billing_pages_for_administrators_and_the_operator() {
    let app = spawn_app().await;
    let (a, _) = fixture(&app).await;
    app.clock.set(day("2026-04", 2, 10));
    app.user(a, "alpha-boss", "admin").await;
    let mut admin = app.client();
    let r = admin.page_login("alpha-boss", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let page = admin.get("/billing").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("href=\"/billing\""), "navigation link");
    assert!(page.text.contains("Current charges, 2026-04 so far"));
    // amy and ben's two subscriptions run on: 2 days each of April.
    assert!(page.text.contains("<td>amy</td>") && page.text.contains("<td>ben</td>"));
    assert!(
        !page.text.contains("<td>eve</td>") && !page.text.contains("<td>fay</td>"),
        "nothing of another account"
    );
    assert!(page.text.contains("No statements yet"));
    assert!(
        !page.text.contains("Run billing"),
        "no run button for administrators"
    );

    // The operator closes March from the page.
    let (_, mut opc) = operator(&app).await;
    let page = opc.get("/billing").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Run billing"));
    assert!(
        page.text.contains("value=\"2026-03\""),
        "defaults to the last month that ended"
    );
    let csrf = Client::csrf_in(&page.text);
    let r = opc
        .form("/billing/run", &[("csrf", &csrf), ("period", "2026-04")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("current month"), "{}", r.text);
    assert!(r.text.contains("Nothing was closed."));
    let r = opc
        .form("/billing/run", &[("csrf", "forged"), ("period", "2026-03")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(footprint(&app).await, (0, 0, 0, 0));
    let r = opc
        .form("/billing/run", &[("csrf", &csrf), ("period", "2026-03")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(r.location(), "/billing?period=2026-03&notice=closed");
    let page = opc.get(r.location()).await;
    assert!(
        page.text.contains("2 statement(s), total 17.97 USD"),
        "{}",
        page.text
    );
    let r = opc
        .form("/billing/run", &[("csrf", &csrf), ("period", "2026-03")])
        .await;
    assert_eq!(r.location(), "/billing?period=2026-03&notice=unchanged");

    // The administrator now has a statement to open and download.
    let page = admin.get("/billing").await;
    assert!(
        page.text.contains("2026-03</strong> — 14.97 USD"),
        "{}",
        page.text
    );
    let href = "/billing/statements.csv?period=2026-03&amp;account=";
    let at = page.text.find(href).expect("a CSV link");
    let link = &page.text[at..at + page.text[at..].find('"').unwrap()];
    let csv = admin.get(&link.replace("&amp;", "&")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("gatehouse-statement-2026-03-")
    );
    assert_eq!(csv.text.lines().count(), 5, "{}", csv.text);

    // Users have no billing page.
    let (b, _) = app.account("Gamma").await;
    app.user(b, "gus", "user").await;
    let mut gus = app.client();
    gus.page_login("gus", PASSWORD).await;
    assert_eq!(gus.get("/billing").await.status, StatusCode::FORBIDDEN);
}
