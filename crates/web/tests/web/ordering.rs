//! What the order flow must not allow: a wizard proof of possession used
//! twice (moving a credential's counter backwards), and quote or order
//! answers that tell an administrator about credentials outside their
//! account.

use crate::support::*;
use axum::http::StatusCode;
use gatehouse_store::credentials;
use serde_json::json;

const CRED: &str = "VSST00000007";

/// The value of the hidden field `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name}"))
        + marker.len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// The wizard's first step with the current code; the sealed proof and the
/// idempotency key of the second step.
async fn continue_with_code(
    app: &App,
    admin: &mut Client,
    url: &str,
    csrf: &str,
) -> (String, String) {
    let code = app.totp(0);
    let step2 = admin
        .form(
            url,
            &[
                ("csrf", csrf),
                ("action", "continue"),
                ("method", "symantec_vip"),
                ("credential_id", CRED),
                ("security_code", &code),
            ],
        )
        .await;
    assert_eq!(step2.status, StatusCode::OK, "{}", step2.text);
    (
        hidden(&step2.text, "proof"),
        hidden(&step2.text, "idempotency_key"),
    )
}

async fn place(admin: &mut Client, url: &str, csrf: &str, proof: &str, key: &str) -> Resp {
    admin
        .form(
            url,
            &[
                ("csrf", csrf),
                ("action", "order"),
                ("method", "symantec_vip"),
                ("credential_id", CRED),
                ("msa_version", "2026.1"),
                ("msa_acknowledged", "yes"),
                ("idempotency_key", key),
                ("proof", proof),
            ],
        )
        .await
}

async fn last_used(app: &App) -> Option<i64> {
    let mut conn = app.st.store.conn().await.unwrap();
    credentials::by_credential_id(&mut conn, CRED)
        .await
        .unwrap()
        .last_used
}

fn step(app: &App) -> i64 {
    use gatehouse_domain::Clock;
    gatehouse_domain::oath::totp_step(app.clock.now().seconds(), 30)
}

#[tokio::test]
async fn an_old_wizard_proof_is_not_accepted_into_a_later_order() {
    let app = spawn_app().await;
    app.catalog().await;
    app.credential(CRED, false).await;
    let c = app.customer("alpha").await;
    let mut api = app.signed_in(&c.admin_name()).await;
    let mut admin = app.client();
    admin.page_login(&c.admin_name(), PASSWORD).await;
    let url = format!("/users/{}/external-authentication", c.user.0);
    let csrf = Client::csrf_in(&admin.get(&url).await.text);
    let remove = format!(
        "/api/v1/users/{}/external-authentication/symantec_vip",
        c.user.0
    );

    // First order, with its proof: the code counts as used.
    let (old_proof, key) = continue_with_code(&app, &mut admin, &url, &csrf).await;
    let r = place(&mut admin, &url, &csrf, &old_proof, &key).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(last_used(&app).await, Some(step(&app)));
    assert_eq!(api.delete(&remove).await.status, StatusCode::NO_CONTENT);

    // Ten minutes later, a second order moves the counter on.
    app.clock.advance_seconds(600);
    let mut admin = app.client();
    admin.page_login(&c.admin_name(), PASSWORD).await;
    let csrf = Client::csrf_in(&admin.get(&url).await.text);
    let (proof, key) = continue_with_code(&app, &mut admin, &url, &csrf).await;
    let r = place(&mut admin, &url, &csrf, &proof, &key).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let moved = last_used(&app).await;
    assert_eq!(moved, Some(step(&app)));
    let mut api = app.signed_in(&c.admin_name()).await;
    assert_eq!(api.delete(&remove).await.status, StatusCode::NO_CONTENT);

    // The first order's proof, replayed into a third order: refused, and
    // the counter stays where it is (it would go back 20 steps).
    let r = place(&mut admin, &url, &csrf, &old_proof, "replay-key").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.text.contains("f-security_code-error"), "{}", r.text);
    assert_eq!(last_used(&app).await, moved);
    // The second order's proof, used again: refused the same way.
    let r = place(&mut admin, &url, &csrf, &proof, "again-key").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(last_used(&app).await, moved);
    {
        let mut conn = app.st.store.conn().await.unwrap();
        let user = gatehouse_store::Users::system()
            .get(&mut conn, c.user)
            .await
            .unwrap();
        assert!(
            gatehouse_store::orders::active_for_users(&mut conn, &[user])
                .await
                .unwrap()
                .is_empty(),
            "no order was placed"
        );
    }

    // A fresh proof works, but not once it is older than half an hour.
    app.clock.advance_seconds(60);
    let (fresh, key) = continue_with_code(&app, &mut admin, &url, &csrf).await;
    app.clock.advance_seconds(31 * 60);
    let mut admin = app.client();
    admin.page_login(&c.admin_name(), PASSWORD).await;
    let csrf = Client::csrf_in(&admin.get(&url).await.text);
    let r = place(&mut admin, &url, &csrf, &fresh, &key).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let (fresh, key) = continue_with_code(&app, &mut admin, &url, &csrf).await;
    let r = place(&mut admin, &url, &csrf, &fresh, &key).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(last_used(&app).await, Some(step(&app)));
}

#[tokio::test]
async fn quote_and_order_do_not_reveal_credentials_of_other_accounts() {
    let app = spawn_app().await;
    app.catalog().await;
    let held = "VSST00000010";
    let disabled = "VSST00000011";
    let unknown = "VSST99999999";
    let own = "VSST00000012";
    for id in [held, disabled, own] {
        app.credential(id, false).await;
    }
    {
        let mut conn = app.st.store.conn().await.unwrap();
        let c = credentials::by_credential_id(&mut conn, disabled)
            .await
            .unwrap();
        credentials::set_enabled(&mut conn, c.id, false)
            .await
            .unwrap();
    }
    let a = app.customer("alpha").await;
    let b = app.customer("beta").await;
    let mut admin_b = app.signed_in(&b.admin_name()).await;
    let r = order(&mut admin_b, b.user, held, "b-order").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mut admin_a = app.signed_in(&a.admin_name()).await;
    let r = order(&mut admin_a, a.admin, own, "a-order").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    // One answer for unknown, held by another account, and disabled.
    let quote = format!("/api/v1/users/{}/external-authentication/quote", a.user.0);
    let mut answers = Vec::new();
    for id in [unknown, held, disabled] {
        let q = admin_a
            .post(
                &quote,
                json!({"method": "symantec_vip", "credential_id": id}),
            )
            .await;
        let o = order(&mut admin_a, a.user, id, &format!("try-{id}")).await;
        for r in [q, o] {
            answers.push((
                r.status,
                r.json()["field"].clone(),
                r.json()["error"].as_str().unwrap().replace(id, "ID"),
            ));
        }
    }
    assert_eq!(answers[0].0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answers[0].1, "credential_id");
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "one answer for all: {answers:#?}"
    );

    // Within the account the administrator may be told who has it.
    let r = admin_a
        .post(
            &quote,
            json!({"method": "symantec_vip", "credential_id": own}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.text.contains(&a.admin_name()), "{}", r.text);
}
