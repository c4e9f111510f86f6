//! Server time of the Users screen for an account with 10,000 users
//! (SPEC §9: p50 ≤ 20 ms). Runs on SQLite, or on PostgreSQL when
//! `GATEHOUSE_TEST_POSTGRES_URL` is set.
//!
//!     cargo bench -p gatehouse-web --bench users_screen

use axum::body::Body;
use axum::http::{Request, header};
use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_domain::session::SessionState;
use gatehouse_domain::{Role, SystemClock};
use gatehouse_store::{NewUser, Scope, Users, testing};
use gatehouse_web::service::{Caller, accounts, auth};
use gatehouse_web::{AppConfig, AppState, router};
use std::sync::Arc;
use tower::ServiceExt;

const USERS: usize = 10_000;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (app, cookie, _db) = rt.block_on(async {
        let db = testing::fresh().await;
        let st = AppState::new(
            db.store.clone(),
            Arc::new(SystemClock),
            AppConfig::default(),
            None,
        );
        let acc = accounts::create(&st, &Caller::cli(), "Big Customer")
            .await
            .unwrap();
        let users = Users::new(Scope::All);
        let mut tx = st.store.begin().await.unwrap();
        let mut admin = None;
        for i in 0..USERS {
            let name = format!("user{i:05}");
            let id = users
                .create(
                    &mut tx,
                    &NewUser {
                        account_id: acc.id,
                        username: &name,
                        email: &format!("{name}@example.test"),
                        name: &format!("User Number {i}"),
                        role: if i == 0 { Role::Admin } else { Role::User },
                        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$unused",
                        must_change_password: false,
                    },
                    st.now(),
                )
                .await
                .unwrap();
            admin.get_or_insert(id);
        }
        let admin = users.get(&mut tx, admin.unwrap()).await.unwrap();
        let issued = auth::issue_session(
            &st,
            &mut tx,
            Some(&admin),
            SessionState::Authenticated,
            "bench",
            None,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        (router(st), format!("{}={}", auth::COOKIE, issued.token), db)
    });
    let get = |path: &'static str| {
        let app = app.clone();
        let cookie = cookie.clone();
        async move {
            let req = Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap();
            let resp = app.oneshot(req).await.unwrap();
            assert!(resp.status().is_success(), "{}", resp.status());
            axum::body::to_bytes(resp.into_body(), 1 << 22)
                .await
                .unwrap()
                .len()
        }
    };
    let mut g = c.benchmark_group("users_screen_10k");
    g.bench_function("first_page", |b| b.iter(|| rt.block_on(get("/users"))));
    g.bench_function("page_200", |b| {
        b.iter(|| rt.block_on(get("/users?page=200")))
    });
    g.bench_function("search", |b| {
        b.iter(|| rt.block_on(get("/users?q=number%20123")))
    });
    g.bench_function("api_first_page", |b| {
        b.iter(|| rt.block_on(get("/api/v1/users")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
