use crate::support::*;
use axum::http::StatusCode;

#[tokio::test]
async fn pages_redirect_to_login_and_back() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut client = app.client();
    let r = client.get("/users?q=alpha").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login?next=/users%3Fq%3Dalpha");
    let page = client.get("/login?next=/users%3Fq%3Dalpha").await;
    assert!(
        page.text
            .contains("<label for=\"f-username\">Username</label>")
    );
    let csrf = Client::csrf_in(&page.text);
    let r = client
        .form(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", &c.admin_name()),
                ("password", PASSWORD),
                ("next", "/users?q=alpha"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/users?q=alpha")
    );
    // An off-site `next` is ignored.
    let mut other = app.client();
    let page = other.get("/login").await;
    let csrf = Client::csrf_in(&page.text);
    let r = other
        .form(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", &c.admin_name()),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/users");
}

#[tokio::test]
async fn login_page_shows_one_generic_error_and_needs_its_csrf_token() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut client = app.client();
    let page = client.get("/login").await;
    let csrf = Client::csrf_in(&page.text);
    let r = client
        .form(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", &c.user_name()),
                ("password", "wrong"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text.contains("The username or password is incorrect."));
    assert!(
        r.text.contains(&format!("value=\"{}\"", c.user_name())),
        "the username is kept"
    );
    let r = client
        .form(
            "/login",
            &[
                ("csrf", "forged"),
                ("username", &c.user_name()),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text.contains("The form has expired"));
    let mut cookieless = app.client();
    let r = cookieless
        .form(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", &c.user_name()),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "a token from another session does not count"
    );
}

#[tokio::test]
async fn users_screen_lists_searches_and_pages() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    for i in 0..30 {
        app.user(c.id, &format!("member{i:02}"), "user").await;
    }
    let mut admin = app.client();
    admin.page_login(&c.admin_name(), PASSWORD).await;
    let r = admin.get("/users").await;
    assert_eq!(r.status, StatusCode::OK);
    for needle in [
        "<h1>Users</h1>",
        "External Authentication",
        "Actions",
        "Add User",
        "Search users",
        "Edit User",
        "Reset Password",
        "Disable User",
        "Delete User",
        "Showing 1–25 of 32",
        "Page 1 of 2",
    ] {
        assert!(r.text.contains(needle), "{needle}");
    }
    assert!(r.text.contains(">None<"), "no external authentication yet");
    let r = admin.get("/users?page=2").await;
    assert!(r.text.contains("Showing 26–32 of 32"));
    let r = admin.get("/users?q=member1").await;
    assert!(r.text.contains("Showing 1–10 of 10"));
    assert!(!r.text.contains("member20"));
    let r = admin
        .get(&format!("/users/{}/action?action=edit", c.user.0))
        .await;
    assert_eq!(r.location(), format!("/users/{}/edit", c.user.0));
    let r = admin
        .get(&format!("/users/{}/action?action=../../x", c.user.0))
        .await;
    assert_eq!(r.location(), "/users");
}

#[tokio::test]
async fn add_user_form_shows_field_errors_then_creates() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut admin = app.client();
    admin.page_login(&c.admin_name(), PASSWORD).await;
    let form = admin.get("/users/new").await;
    let csrf = Client::csrf_in(&form.text);
    let r = admin
        .form(
            "/users/new",
            &[
                ("csrf", &csrf),
                ("username", "newbie"),
                ("email", "nope"),
                ("name", "New"),
                ("role", "user"),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text.contains("id=\"f-email-error\""),
        "error next to the e-mail field"
    );
    assert!(r.text.contains("value=\"newbie\""), "input kept");
    let r = admin
        .form(
            "/users/new",
            &[
                ("csrf", &csrf),
                ("username", "newbie"),
                ("email", "newbie@example.test"),
                ("name", "New"),
                ("role", "user"),
                ("password", ""),
                ("must_change_password", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("id=\"one-time-password\""));
    let list = admin.get("/users?q=newbie").await;
    assert!(list.text.contains("newbie@example.test"));
    let r = admin
        .form(
            "/users/new",
            &[
                ("csrf", "bad"),
                ("username", "other"),
                ("email", "o@example.test"),
                ("role", "user"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn first_operator_sign_in_forces_a_new_password() {
    let app = spawn_app().await;
    let first = gatehouse_web::service::accounts::first_run(&app.st)
        .await
        .unwrap()
        .unwrap();
    let mut op = app.client();
    let r = op.page_login("operator", &first.one_time_password).await;
    assert_eq!(r.location(), "/password");
    assert_eq!(
        op.get("/users").await.location(),
        "/password",
        "nothing else until changed"
    );
    let page = op.get("/password").await;
    assert!(page.text.contains("One-time password"));
    let csrf = Client::csrf_in(&page.text);
    let r = op
        .form(
            "/password",
            &[
                ("csrf", &csrf),
                ("current_password", &first.one_time_password),
                ("new_password", "Operator-Passphrase-1"),
                ("confirm_password", "Operator-Passphrase-2"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("do not match"));
    let r = op
        .form(
            "/password",
            &[
                ("csrf", &csrf),
                ("current_password", &first.one_time_password),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
        )
        .await;
    assert!(
        r.text.contains("id=\"f-new_password-error\""),
        "policy error next to the new password"
    );
    let r = op
        .form(
            "/password",
            &[
                ("csrf", &csrf),
                ("current_password", &first.one_time_password),
                ("new_password", "Operator-Passphrase-1"),
                ("confirm_password", "Operator-Passphrase-1"),
            ],
        )
        .await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/users"));
    let users = op.get("/users").await;
    assert!(users.text.contains("Accounts"), "the operator's navigation");
    assert!(users.text.contains("<th scope=\"col\">Account</th>"));
}

#[tokio::test]
async fn actions_change_users_through_confirmation_pages() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut admin = app.client();
    admin.page_login(&c.admin_name(), PASSWORD).await;
    let id = c.user.0;
    let page = admin.get(&format!("/users/{id}/disable")).await;
    assert!(page.text.contains("Disable User"));
    let csrf = Client::csrf_in(&page.text);
    let r = admin
        .form(&format!("/users/{id}/disable"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.location(), "/users?notice=disabled");
    assert!(admin.get("/users").await.text.contains("Enable User"));
    let r = admin
        .form(&format!("/users/{id}/reset-password"), &[("csrf", &csrf)])
        .await;
    assert!(r.text.contains("id=\"one-time-password\""));
    let r = admin
        .form(
            &format!("/users/{id}/edit"),
            &[
                ("csrf", &csrf),
                ("name", "Renamed"),
                ("email", "renamed@example.test"),
                ("role", "user"),
                ("status", "active"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/users?notice=updated");
    assert!(
        admin
            .get("/users")
            .await
            .text
            .contains("renamed@example.test")
    );
    let r = admin
        .form(&format!("/users/{id}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.location(), "/users?notice=deleted");
    assert!(
        !admin
            .get("/users")
            .await
            .text
            .contains("renamed@example.test")
    );
    let r = admin
        .form(&format!("/users/{}/delete", c.admin.0), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "cannot delete oneself"
    );
}

#[tokio::test]
async fn security_page_and_sign_out() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    app.client().api_login(&c.user_name(), "wrong").await;
    let mut user = app.client();
    let r = user.page_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.location(), "/security");
    let page = user.get("/security").await;
    assert!(page.text.contains("Security Settings"));
    assert!(page.text.contains("Recent sign-in activity"));
    assert!(
        page.text.contains("badge-failure"),
        "the failed attempt is listed"
    );
    assert_eq!(user.get("/users").await.status, StatusCode::FORBIDDEN);
    let csrf = Client::csrf_in(&page.text);
    let r = user.form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.location(), "/login?signed_out=1");
    assert_eq!(user.get("/security").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn error_pages_keep_the_signed_in_navigation() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut admin = app.client();
    admin.page_login(&c.admin_name(), PASSWORD).await;
    let r = admin.get("/users/999999/edit").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text.contains("Not found"));
    assert!(
        r.text.contains("Sign out") && r.text.contains("href=\"/users\""),
        "navigation kept"
    );
    let anonymous = app.client().get("/no-such-page").await;
    assert_eq!(anonymous.status, StatusCode::NOT_FOUND);
    assert!(!anonymous.text.contains("Sign out"));
}

#[tokio::test]
async fn ones_own_row_offers_change_password_not_reset() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut admin = app.client();
    admin.page_login(&c.admin_name(), PASSWORD).await;
    let page = admin.get("/users").await.text;
    let own = &page[page.find(&format!("action-{}", c.admin.0)).unwrap()..];
    let own = &own[..own.find("</select>").unwrap()];
    assert!(
        own.contains("Change Password")
            && !own.contains("Reset Password")
            && !own.contains("Delete User"),
        "{own}"
    );
    let r = admin
        .get(&format!(
            "/users/{}/action?action=change-password",
            c.admin.0
        ))
        .await;
    assert_eq!(r.location(), "/password");
    let csrf = Client::csrf_in(&page);
    let r = admin
        .form(
            &format!("/users/{}/reset-password", c.admin.0),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        admin.get("/users").await.status,
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test]
async fn a_form_that_cannot_be_read_gets_the_error_page() {
    let app = spawn_app().await;
    let c = app.customer("frm").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    // A field of the wrong kind: the portal's error page (HTML, 422, the
    // API's status for a body of the wrong shape), not the framework's
    // plain text; nothing changes.
    let csrf = admin.csrf.clone().unwrap_or_default();
    let r = admin
        .form(
            &format!("/users/{}/security-code/temporary", c.user.0),
            &[("csrf", csrf.as_str()), ("hours", "soon")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(
        r.headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        r.headers
    );
    assert!(r.text.contains("Cannot do that"), "{}", r.text);
    assert!(r.text.contains("The form could not be read"), "{}", r.text);
}
