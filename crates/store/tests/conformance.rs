//! Store conformance: the same tests on SQLite (always) and on PostgreSQL
//! (when `GATEHOUSE_TEST_POSTGRES_URL` is set).

use gatehouse_domain::audit::{AuditRecord, ChainError};
use gatehouse_domain::lockout::LoginCounters;
use gatehouse_domain::oath::{OathParams, Validation};
use gatehouse_domain::session::SessionState;
use gatehouse_domain::{AccountId, Method, Role, Timestamp, UserId, UserStatus};
use gatehouse_store::sessions::{self, NewSession};
use gatehouse_store::testing::fresh;
use gatehouse_store::{
    NewUser, Scope, Store, StoreError, UserPatch, Users, accounts, audit, throttle, tokens,
};

const T0: Timestamp = Timestamp(1_764_460_800_000); // 2025-11-30

async fn account(store: &Store, number: &str) -> AccountId {
    let mut c = store.conn().await.unwrap();
    accounts::create(&mut c, number, &format!("Account {number}"), false, T0)
        .await
        .unwrap()
}

async fn user(store: &Store, acc: AccountId, name: &str, role: Role) -> UserId {
    let mut c = store.conn().await.unwrap();
    Users::new(Scope::All)
        .create(
            &mut c,
            &NewUser {
                account_id: acc,
                username: name,
                email: &format!("{name}@example.test"),
                name: &name.to_uppercase(),
                role,
                password_hash: "$argon2id$fake",
                must_change_password: false,
            },
            T0,
        )
        .await
        .unwrap()
}

fn record(action: &str, account: Option<i64>) -> AuditRecord {
    AuditRecord {
        at: T0,
        actor_id: None,
        actor: "cli".into(),
        account_id: account,
        action: action.into(),
        target: "user:1 (x)".into(),
        client_addr: "127.0.0.1".into(),
        outcome: "success".into(),
        detail: String::new(),
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let db = fresh().await;
    let again = Store::open(&db.url, 2)
        .await
        .expect("reopen applies nothing twice");
    again.ping().await.unwrap();
}

#[tokio::test]
async fn accounts_round_trip_and_numbers_are_unique() {
    let db = fresh().await;
    let s = &db.store;
    let a = account(s, "40000001").await;
    let mut c = s.conn().await.unwrap();
    let got = accounts::get(&mut c, a).await.unwrap();
    assert_eq!(got.number, "40000001");
    assert!(!got.is_provider);
    assert_eq!(
        accounts::find_by_number(&mut c, "40000001")
            .await
            .unwrap()
            .id,
        a
    );
    let dup = accounts::create(&mut c, "40000001", "Other", false, T0).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict { field: "number" })),
        "{dup:?}"
    );
    assert!(accounts::provider(&mut c).await.unwrap().is_none());
    let p = accounts::create(&mut c, "40000002", "Provider", true, T0)
        .await
        .unwrap();
    assert_eq!(accounts::provider(&mut c).await.unwrap().unwrap().id, p);
    assert!(matches!(
        accounts::get(&mut c, AccountId(999_999)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(accounts::list(&mut c).await.unwrap().len(), 2);
}

#[tokio::test]
async fn usernames_are_unique_across_accounts() {
    let db = fresh().await;
    let s = &db.store;
    let a = account(s, "40000001").await;
    let b = account(s, "40000002").await;
    user(s, a, "carol", Role::User).await;
    let mut c = s.conn().await.unwrap();
    let dup = Users::new(Scope::All)
        .create(
            &mut c,
            &NewUser {
                account_id: b,
                username: "carol",
                email: "c@example.test",
                name: "",
                role: Role::User,
                password_hash: "x",
                must_change_password: false,
            },
            T0,
        )
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict { field: "username" })),
        "{dup:?}"
    );
}

#[tokio::test]
async fn account_scope_cannot_reach_other_accounts() {
    let db = fresh().await;
    let s = &db.store;
    let a = account(s, "40000001").await;
    let b = account(s, "40000002").await;
    let alice = user(s, a, "alice", Role::Admin).await;
    let carol = user(s, a, "carol", Role::User).await;
    let bob = user(s, b, "bob", Role::Admin).await;
    let mut c = s.conn().await.unwrap();
    let view_b = Users::new(Scope::Account(b));

    let listed = view_b.list(&mut c, "", None, 1, 100).await.unwrap();
    assert_eq!(listed.total, 1);
    assert_eq!(listed.users[0].id, bob);
    // Even asking for account A explicitly yields nothing.
    assert_eq!(
        view_b
            .list(&mut c, "", Some(a), 1, 100)
            .await
            .unwrap()
            .total,
        0
    );
    assert!(matches!(
        view_b.get(&mut c, carol).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        view_b.find_by_username(&mut c, "carol").await,
        Err(StoreError::NotFound)
    ));
    let patch = UserPatch {
        name: Some("hacked".into()),
        ..Default::default()
    };
    assert!(matches!(
        view_b.update(&mut c, carol, &patch, T0).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        view_b.set_password(&mut c, carol, "h", false, T0).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        view_b.delete(&mut c, carol).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        view_b.password_hash(&mut c, carol).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        view_b
            .reserve_password_attempt(&mut c, carol, &Default::default(), T0)
            .await,
        Err(StoreError::NotFound)
    ));
    let foreign = NewUser {
        account_id: a,
        username: "mallory",
        email: "m@example.test",
        name: "",
        role: Role::User,
        password_hash: "x",
        must_change_password: false,
    };
    assert!(matches!(
        view_b.create(&mut c, &foreign, T0).await,
        Err(StoreError::NotFound)
    ));
    // Nothing changed for carol.
    let carol_now = Users::new(Scope::All).get(&mut c, carol).await.unwrap();
    assert_eq!(carol_now.name, "CAROL");

    // A user scope sees only itself.
    let own = Users::new(Scope::Own(carol));
    assert_eq!(own.list(&mut c, "", None, 1, 100).await.unwrap().total, 1);
    assert!(matches!(
        own.get(&mut c, alice).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(own.get(&mut c, carol).await.unwrap().username, "carol");
    assert_eq!(
        Users::new(Scope::Account(a)).count(&mut c).await.unwrap(),
        2
    );
}

#[tokio::test]
async fn listing_searches_pages_and_escapes_wildcards() {
    let db = fresh().await;
    let s = &db.store;
    let a = account(s, "40000001").await;
    for i in 0..30 {
        user(s, a, &format!("user{i:02}"), Role::User).await;
    }
    user(s, a, "under_score", Role::User).await;
    let mut c = s.conn().await.unwrap();
    let v = Users::new(Scope::Account(a));
    let p1 = v.list(&mut c, "", None, 1, 25).await.unwrap();
    assert_eq!(p1.total, 31);
    assert_eq!(p1.users.len(), 25);
    assert_eq!(p1.users[0].username, "under_score");
    let p2 = v.list(&mut c, "", None, 2, 25).await.unwrap();
    assert_eq!(p2.users.len(), 6);
    assert_eq!(
        v.list(&mut c, "USER1", None, 1, 25).await.unwrap().total,
        10
    );
    // `_` is a literal, not a one-character wildcard.
    assert_eq!(v.list(&mut c, "_", None, 1, 25).await.unwrap().total, 1);
    assert_eq!(v.list(&mut c, "%", None, 1, 25).await.unwrap().total, 0);
    // Name and e-mail match too (names are upper-cased usernames here).
    assert_eq!(
        v.list(&mut c, "example.test", None, 1, 25)
            .await
            .unwrap()
            .total,
        31
    );
}

#[tokio::test]
async fn updates_passwords_and_deletes() {
    let db = fresh().await;
    let s = &db.store;
    let a = account(s, "40000001").await;
    let id = user(s, a, "carol", Role::User).await;
    let mut c = s.conn().await.unwrap();
    let v = Users::new(Scope::Account(a));
    let patch = UserPatch {
        email: Some("new@example.test".into()),
        role: Some(Role::Admin),
        status: Some(UserStatus::Disabled),
        ..Default::default()
    };
    v.update(&mut c, id, &patch, T0).await.unwrap();
    let u = v.get(&mut c, id).await.unwrap();
    assert_eq!(
        (u.email.as_str(), u.role, u.status),
        ("new@example.test", Role::Admin, UserStatus::Disabled)
    );
    assert_eq!(u.name, "CAROL", "untouched fields keep their value");
    v.set_password(&mut c, id, "newhash", true, T0)
        .await
        .unwrap();
    assert_eq!(v.password_hash(&mut c, id).await.unwrap(), "newhash");
    assert!(v.get(&mut c, id).await.unwrap().must_change_password);
    v.delete(&mut c, id).await.unwrap();
    assert!(matches!(v.get(&mut c, id).await, Err(StoreError::NotFound)));
}

#[tokio::test]
async fn password_attempts_are_reserved_before_the_check_and_lock_at_the_limit() {
    use gatehouse_domain::lockout::LockoutPolicy;
    use throttle::Reservation;
    let db = fresh().await;
    let s = db.store.clone();
    let a = account(&s, "40000001").await;
    let id = user(&s, a, "carol", Role::User).await;
    let policy = LockoutPolicy::default();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = s.begin().await.unwrap();
            let r = Users::new(Scope::All)
                .reserve_password_attempt(&mut tx, id, &LockoutPolicy::default(), T0)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            r
        }));
    }
    let mut counts = Vec::new();
    let mut lasts = 0;
    for t in tasks {
        match t.await.unwrap() {
            Reservation::Reserved { count, last, .. } => {
                counts.push(count);
                lasts += usize::from(last);
            }
            Reservation::Refused { until } => assert_eq!(until, T0.plus_minutes(15)),
        }
    }
    counts.sort();
    assert_eq!(
        counts,
        (1..=10).collect::<Vec<i64>>(),
        "exactly ten attempts"
    );
    assert_eq!(lasts, 1, "one attempt took the last slot and locked");
    let mut c = s.conn().await.unwrap();
    let v = Users::new(Scope::All);
    let locked = LoginCounters {
        failures: 0,
        lockouts: 1,
        locked_until: Some(T0.plus_minutes(15)),
    };
    assert_eq!(v.get(&mut c, id).await.unwrap().counters, locked);
    // The lock runs out; the next lockout lasts twice as long.
    let later = T0.plus_minutes(15);
    for i in 1..=10 {
        let r = v
            .reserve_password_attempt(&mut c, id, &policy, later)
            .await
            .unwrap();
        assert!(
            matches!(r, Reservation::Reserved { count, last, .. } if count == i && last == (i == 10))
        );
    }
    assert_eq!(
        v.get(&mut c, id).await.unwrap().counters.locked_until,
        Some(later.plus_minutes(30))
    );
    // A right password on the attempt that locked lifts that lock.
    v.password_accepted(&mut c, id, true).await.unwrap();
    assert_eq!(v.get(&mut c, id).await.unwrap().counters, locked_after(1));
    let r = v
        .reserve_password_attempt(&mut c, id, &policy, later)
        .await
        .unwrap();
    assert!(matches!(r, Reservation::Reserved { count: 1, .. }));
    v.password_accepted(&mut c, id, false).await.unwrap();
    assert_eq!(v.get(&mut c, id).await.unwrap().counters.failures, 0);
    v.set_counters(&mut c, id, &locked).await.unwrap();
    assert_eq!(v.get(&mut c, id).await.unwrap().counters, locked);
    v.record_sign_in(&mut c, id, T0).await.unwrap();
    let u = v.get(&mut c, id).await.unwrap();
    assert_eq!(u.counters, LoginCounters::default());
    assert_eq!(u.last_login_at, Some(T0));
}

fn locked_after(lockouts: i64) -> LoginCounters {
    LoginCounters {
        failures: 0,
        lockouts,
        locked_until: None,
    }
}

#[tokio::test]
async fn sessions_lifecycle() {
    let db = fresh().await;
    let s = &db.store;
    let a = account(s, "40000001").await;
    let id = user(s, a, "carol", Role::User).await;
    let mut c = s.conn().await.unwrap();
    for h in ["h1", "h2", "h3"] {
        sessions::insert(
            &mut c,
            &NewSession {
                id_hash: h,
                user_id: Some(id),
                state: SessionState::Authenticated,
                csrf_token: "csrf",
                client_addr: "127.0.0.1",
                expires_at: T0.plus_minutes(30),
            },
            T0,
        )
        .await
        .unwrap();
    }
    let got = sessions::get(&mut c, "h1").await.unwrap();
    assert_eq!(
        (got.user_id, got.state, got.csrf_token.as_str()),
        (Some(id), SessionState::Authenticated, "csrf")
    );
    sessions::touch(&mut c, "h1", T0.plus_minutes(5), T0.plus_minutes(35))
        .await
        .unwrap();
    assert_eq!(
        sessions::get(&mut c, "h1").await.unwrap().last_seen_at,
        T0.plus_minutes(5)
    );
    assert_eq!(
        sessions::delete_for_user(&mut c, id, Some("h1"))
            .await
            .unwrap(),
        2
    );
    assert!(sessions::get(&mut c, "h2").await.is_err());
    assert_eq!(
        sessions::purge_expired(&mut c, T0.plus_minutes(34), 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        sessions::purge_expired(&mut c, T0.plus_minutes(35), 100)
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        sessions::get(&mut c, "h1").await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn deleting_a_user_ends_sessions_and_tokens() {
    let db = fresh().await;
    let s = &db.store;
    let a = account(s, "40000001").await;
    let id = user(s, a, "carol", Role::User).await;
    let mut c = s.conn().await.unwrap();
    tokens::create(&mut c, id, "t", "digest1", T0, T0.plus_minutes(60))
        .await
        .unwrap();
    assert_eq!(tokens::user_for(&mut c, "digest1", T0).await.unwrap(), id);
    assert!(matches!(
        tokens::create(&mut c, id, "t2", "digest1", T0, T0.plus_minutes(60)).await,
        Err(StoreError::Conflict { .. })
    ));
    sessions::insert(
        &mut c,
        &NewSession {
            id_hash: "h",
            user_id: Some(id),
            state: SessionState::Authenticated,
            csrf_token: "x",
            client_addr: "",
            expires_at: T0,
        },
        T0,
    )
    .await
    .unwrap();
    Users::new(Scope::All).delete(&mut c, id).await.unwrap();
    assert!(tokens::user_for(&mut c, "digest1", T0).await.is_err());
    assert!(sessions::get(&mut c, "h").await.is_err());
}

#[tokio::test]
async fn api_tokens_expire_revoke_and_list_only_live_ones() {
    let db = fresh().await;
    let s = &db.store;
    let a = account(s, "40000001").await;
    let b = account(s, "40000002").await;
    let carol = user(s, a, "carol", Role::User).await;
    let dave = user(s, b, "dave", Role::User).await;
    let mut c = s.conn().await.unwrap();
    let end = T0.plus_minutes(60);
    let t1 = tokens::create(&mut c, carol, "one", "d1", T0, end)
        .await
        .unwrap();
    let t2 = tokens::create(&mut c, carol, "two", "d2", T0, end)
        .await
        .unwrap();
    let t3 = tokens::create(&mut c, dave, "three", "d3", T0, end)
        .await
        .unwrap();
    let ids = |v: Vec<tokens::ApiToken>| v.iter().map(|t| t.id).collect::<Vec<_>>();
    use tokens::TokenFilter;
    assert_eq!(
        ids(tokens::list_live(&mut c, TokenFilter::All, T0)
            .await
            .unwrap()),
        vec![t1, t2, t3]
    );
    assert_eq!(
        ids(tokens::list_live(&mut c, TokenFilter::Account(b), T0)
            .await
            .unwrap()),
        vec![t3]
    );
    assert_eq!(
        ids(tokens::list_live(&mut c, TokenFilter::User(carol), T0)
            .await
            .unwrap()),
        vec![t1, t2]
    );
    // Live up to the last millisecond before `expires_at`.
    let last = Timestamp(end.millis() - 1);
    assert_eq!(tokens::user_for(&mut c, "d1", last).await.unwrap(), carol);
    assert!(tokens::user_for(&mut c, "d1", end).await.is_err());
    assert!(
        tokens::list_live(&mut c, TokenFilter::All, end)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !tokens::revoke(&mut c, t1, end).await.unwrap(),
        "expired already"
    );
    // Revoked: refused, not listed, revoked once.
    assert!(tokens::revoke(&mut c, t1, T0).await.unwrap());
    assert!(!tokens::revoke(&mut c, t1, T0).await.unwrap());
    assert!(tokens::user_for(&mut c, "d1", T0).await.is_err());
    assert_eq!(tokens::get(&mut c, t1).await.unwrap().revoked_at, Some(T0));
    // All of a user's at once; others untouched.
    assert_eq!(tokens::revoke_for_user(&mut c, carol, T0).await.unwrap(), 1);
    assert!(tokens::user_for(&mut c, "d2", T0).await.is_err());
    assert_eq!(tokens::user_for(&mut c, "d3", T0).await.unwrap(), dave);
}

#[tokio::test]
async fn throttle_reserves_exactly_the_limit_under_concurrency() {
    use throttle::Reservation;
    let db = fresh().await;
    let s = db.store.clone();
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = s.begin().await.unwrap();
            let r = throttle::reserve(&mut tx, "k", 10, 900, T0).await.unwrap();
            tx.commit().await.unwrap();
            r
        }));
    }
    let mut counts = Vec::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Reservation::Reserved { count, last, .. } => {
                assert_eq!(last, count == 10);
                counts.push(count);
            }
            Reservation::Refused { until } => {
                assert_eq!(until, T0.plus_seconds(900));
                refused += 1;
            }
        }
    }
    counts.sort();
    assert_eq!(counts, (1..=10).collect::<Vec<i64>>(), "exactly the limit");
    assert_eq!(refused, 30);
    let mut c = s.conn().await.unwrap();
    assert_eq!(throttle::count(&mut c, "k", 900, T0).await.unwrap(), 10);
    assert_eq!(
        throttle::count(&mut c, "k", 900, T0.plus_seconds(900))
            .await
            .unwrap(),
        0
    );
    // A granted slot given back can be taken again; a refused one gives nothing.
    let refusal = throttle::reserve(&mut c, "k", 10, 900, T0.plus_seconds(899))
        .await
        .unwrap();
    assert!(!refusal.is_reserved());
    throttle::release(&mut c, "k", refusal).await.unwrap();
    assert_eq!(throttle::count(&mut c, "k", 900, T0).await.unwrap(), 10);
    let slot = throttle::reserve(&mut c, "other", 10, 900, T0)
        .await
        .unwrap();
    throttle::release(&mut c, "other", slot).await.unwrap();
    assert_eq!(throttle::count(&mut c, "other", 900, T0).await.unwrap(), 0);
    // A new window starts when the old one has ended; a slot of the old
    // window is not given back to the new one.
    let old = Reservation::Reserved {
        count: 10,
        window_start: T0,
        last: true,
    };
    let r = throttle::reserve(&mut c, "k", 10, 900, T0.plus_seconds(901))
        .await
        .unwrap();
    assert_eq!(
        r,
        Reservation::Reserved {
            count: 1,
            window_start: T0.plus_seconds(901),
            last: false
        }
    );
    throttle::release(&mut c, "k", old).await.unwrap();
    assert_eq!(
        throttle::count(&mut c, "k", 900, T0.plus_seconds(901))
            .await
            .unwrap(),
        1
    );
    throttle::clear(&mut c, "k").await.unwrap();
    assert_eq!(throttle::count(&mut c, "k", 900, T0).await.unwrap(), 0);
    assert!(
        !throttle::reserve(&mut c, "k", 0, 900, T0)
            .await
            .unwrap()
            .is_reserved(),
        "a limit of zero allows nothing"
    );
}

#[tokio::test]
async fn audit_chain_holds_under_concurrent_appends_and_sealers() {
    let db = fresh().await;
    let s = db.store.clone();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = s.begin().await.unwrap();
            audit::append(&mut tx, &record(&format!("a{i}"), Some(i % 2)))
                .await
                .unwrap();
            tx.commit().await.unwrap();
            // Several sealers race, as several instances would.
            audit::seal_pending(&s, 5).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    audit::seal_all(&s).await.unwrap();
    let mut c = s.conn().await.unwrap();
    assert_eq!(audit::verify(&mut c).await.unwrap(), Ok(24));
    let (page, total) = audit::page(&mut c, Scope::Account(AccountId(1)), 1, 5)
        .await
        .unwrap();
    assert_eq!(total, 12);
    assert_eq!(page.len(), 5);
    assert!(page.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let all = audit::all(&mut c, Scope::All).await.unwrap();
    assert!(
        audit::all(&mut c, Scope::Own(UserId(1)))
            .await
            .unwrap()
            .is_empty(),
        "a user's own scope reaches no account's log"
    );
    assert_eq!(all.len(), 24);
    assert!(
        all.iter().all(|e| e.seq.is_some() && e.hash.is_some()),
        "all sealed"
    );
    assert_eq!(
        audit::seal_all(&s).await.unwrap(),
        0,
        "nothing left to seal"
    );
}

#[tokio::test]
async fn audit_log_is_append_only_and_tampering_is_detected() {
    let db = fresh().await;
    let s = &db.store;
    let mut c = s.conn().await.unwrap();
    for i in 0..5 {
        audit::append(&mut c, &record(&format!("a{i}"), None))
            .await
            .unwrap();
    }
    let unsealed = sqlx::query("UPDATE audit_log SET outcome = 'failure' WHERE id = 1")
        .execute(&mut *c)
        .await;
    assert!(
        unsealed.is_err(),
        "even before sealing, content cannot change"
    );
    assert_eq!(audit::seal_all(s).await.unwrap(), 5);
    let upd = sqlx::query("UPDATE audit_log SET outcome = 'failure' WHERE seq = 3")
        .execute(&mut *c)
        .await;
    assert!(upd.is_err(), "the database refuses edits");
    let reseal = sqlx::query("UPDATE audit_log SET hash = 'x' WHERE seq = 3")
        .execute(&mut *c)
        .await;
    assert!(reseal.is_err(), "sealed entries are final");
    let del = sqlx::query("DELETE FROM audit_log WHERE seq = 2")
        .execute(&mut *c)
        .await;
    assert!(del.is_err(), "the database refuses deletions");
    assert_eq!(audit::verify(&mut c).await.unwrap(), Ok(5));

    // Someone with full database access drops the guard and edits an entry.
    drop_guards(s, &mut c).await;
    sqlx::query("UPDATE audit_log SET outcome = 'failure' WHERE seq = 3")
        .execute(&mut *c)
        .await
        .unwrap();
    assert_eq!(
        audit::verify(&mut c).await.unwrap(),
        Err(ChainError::Content { seq: 3 })
    );
}

#[tokio::test]
async fn audit_deletions_are_detected() {
    let db = fresh().await;
    let s = &db.store;
    let mut c = s.conn().await.unwrap();
    for i in 0..5 {
        audit::append(&mut c, &record(&format!("a{i}"), None))
            .await
            .unwrap();
    }
    audit::seal_all(s).await.unwrap();
    drop_guards(s, &mut c).await;
    sqlx::query("DELETE FROM audit_log WHERE seq = 5")
        .execute(&mut *c)
        .await
        .unwrap();
    assert_eq!(
        audit::verify(&mut c).await.unwrap(),
        Err(ChainError::Truncated { last: 4, head: 5 })
    );
    sqlx::query("DELETE FROM audit_log WHERE seq = 2")
        .execute(&mut *c)
        .await
        .unwrap();
    assert_eq!(
        audit::verify(&mut c).await.unwrap(),
        Err(ChainError::Gap {
            seq: 3,
            expected: 2
        })
    );
}

async fn drop_guards(s: &Store, c: &mut gatehouse_store::Conn) {
    let sql = match s.backend() {
        gatehouse_store::Backend::Sqlite => {
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;"
        }
        gatehouse_store::Backend::Postgres => "DROP TRIGGER audit_log_no_update ON audit_log;",
    };
    sqlx::raw_sql(sql).execute(&mut *c).await.unwrap();
}

async fn credential(store: &Store, id: &str) -> i64 {
    let mut c = store.conn().await.unwrap();
    gatehouse_store::credentials::insert(
        &mut c,
        &gatehouse_store::credentials::NewCredential {
            credential_id: id,
            params: OathParams::vip_totp(),
            next_counter: 0,
            sealed_secret: Some(&[1, 2, 3]),
            validation: Validation::Local,
            source: "test",
        },
        T0,
    )
    .await
    .unwrap()
}

/// A user `name` of account `a` with the credential `cid` assigned: the
/// user's id and the credential's.
async fn user_with_credential(s: &Store, a: AccountId, name: &str, cid: &str) -> (UserId, i64) {
    let u = user(s, a, name, Role::User).await;
    let cred = credential(s, cid).await;
    let mut c = s.conn().await.unwrap();
    let found = Users::system().get(&mut c, u).await.unwrap();
    assert!(
        gatehouse_store::credentials::assign(&mut c, cred, &found)
            .await
            .unwrap()
    );
    (u, cred)
}

/// The fast path's write of `step` for the credential `cred` of account
/// `a`'s user `u`, with its audit entry.
fn accept_step(
    a: AccountId,
    u: UserId,
    cred: i64,
    step: i64,
) -> gatehouse_store::code_check::Accept {
    gatehouse_store::code_check::Accept {
        credential: cred,
        user: u,
        step_or_counter: step,
        next_counter: 0,
        drift: 0,
        now: T0,
        max_failures: 10,
        audit: record("security_code", Some(a.0)),
    }
}

#[tokio::test]
async fn accepting_a_step_is_atomic_and_forward_only() {
    use gatehouse_store::credentials;
    let db = fresh().await;
    let s = db.store.clone();
    let id = credential(&s, "VSST00000001").await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = s.conn().await.unwrap();
            credentials::accept(&mut c, id, 100, 0, 0, T0, false)
                .await
                .unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1, "one step is accepted once");
    let mut c = s.conn().await.unwrap();
    assert!(
        !credentials::accept(&mut c, id, 99, 0, 0, T0, false)
            .await
            .unwrap(),
        "never backwards"
    );
    assert!(
        credentials::accept(&mut c, id, 101, 0, 1, T0, false)
            .await
            .unwrap()
    );
    let got = credentials::by_credential_id(&mut c, "VSST00000001")
        .await
        .unwrap();
    assert_eq!(
        (got.last_used, got.drift, got.sealed_secret.as_deref()),
        (Some(101), 1, Some(&[1u8, 2, 3][..]))
    );
    // Locked or disabled credentials accept nothing.
    credentials::lock(&mut c, id, T0.plus_minutes(5))
        .await
        .unwrap();
    assert!(
        !credentials::accept(&mut c, id, 102, 0, 0, T0, false)
            .await
            .unwrap()
    );
    assert!(
        credentials::accept(&mut c, id, 102, 0, 0, T0.plus_minutes(5), false)
            .await
            .unwrap(),
        "the lock ran out"
    );
    credentials::set_enabled(&mut c, id, false).await.unwrap();
    assert!(
        !credentials::accept(&mut c, id, 103, 0, 0, T0, false)
            .await
            .unwrap()
    );
    let until = T0.plus_minutes(60);
    assert!(
        !credentials::reserve_attempt(&mut c, id, 10, until, T0)
            .await
            .unwrap()
            .is_reserved(),
        "a disabled credential gives no attempt"
    );
    credentials::set_enabled(&mut c, id, true).await.unwrap();
    for _ in 0..2 {
        assert!(
            credentials::reserve_attempt(&mut c, id, 10, until, T0.plus_minutes(5))
                .await
                .unwrap()
                .is_reserved()
        );
    }
    credentials::unlock(&mut c, id).await.unwrap();
    assert_eq!(
        credentials::by_credential_id(&mut c, "VSST00000001")
            .await
            .unwrap()
            .failures,
        0
    );
    let dup = credentials::insert(
        &mut c,
        &credentials::NewCredential {
            credential_id: "VSST00000001",
            params: OathParams::vip_totp(),
            next_counter: 0,
            sealed_secret: None,
            validation: Validation::Local,
            source: "again",
        },
        T0,
    )
    .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict { .. })),
        "never overwritten"
    );
}

#[tokio::test]
async fn one_credential_per_user_and_one_active_subscription_per_method() {
    use gatehouse_store::{credentials, orders};
    let db = fresh().await;
    let s = &db.store;
    let a = account(s, "40000001").await;
    let u = user(s, a, "carol", Role::User).await;
    let c1 = credential(s, "VSST00000001").await;
    let c2 = credential(s, "VSST00000002").await;
    let mut c = s.conn().await.unwrap();
    let carol = Users::system().get(&mut c, u).await.unwrap();
    assert!(credentials::assign(&mut c, c1, &carol).await.unwrap());
    assert!(
        !credentials::assign(&mut c, c1, &carol).await.unwrap(),
        "already assigned"
    );
    assert!(
        credentials::assign(&mut c, c2, &carol).await.is_err(),
        "one credential per user"
    );
    let order = |key: &'static str, number: &'static str| orders::NewOrder {
        number,
        account_id: a,
        user_id: u,
        username: "carol",
        method: Method::SymantecVip,
        credential_id: Some("VSST00000001"),
        monthly_price: 500,
        currency: "USD",
        promo_code: None,
        promo_kind: None,
        promo_value: None,
        promo_months: None,
        msa_version: "1",
        msa_sha256: "x",
        acknowledged_by: u,
        acknowledged_name: "carol",
        acknowledged_addr: "127.0.0.1",
        idempotency_key: key,
    };
    orders::place(&mut c, &order("k1", "EA-1"), T0)
        .await
        .unwrap();
    let again = orders::place(&mut c, &order("k1", "EA-2"), T0).await;
    assert!(
        matches!(
            again,
            Err(StoreError::Conflict {
                field: "idempotency_key"
            })
        ),
        "{again:?}"
    );
    let mut tx = s.begin().await.unwrap();
    let second = orders::place(&mut tx, &order("k2", "EA-3"), T0).await;
    assert!(
        matches!(second, Err(StoreError::Conflict { field: "method" })),
        "{second:?}"
    );
    drop(tx);
    let active = orders::active_for_users(&mut c, std::slice::from_ref(&carol))
        .await
        .unwrap();
    assert_eq!(active.len(), 1);
    assert!(
        orders::end(&mut c, &carol, Method::SymantecVip, T0.plus_minutes(1))
            .await
            .unwrap()
    );
    assert!(
        !orders::end(&mut c, &carol, Method::SymantecVip, T0)
            .await
            .unwrap()
    );
    assert!(
        orders::active_for_users(&mut c, std::slice::from_ref(&carol))
            .await
            .unwrap()
            .is_empty()
    );
    orders::place(&mut c, &order("k3", "EA-4"), T0)
        .await
        .unwrap();
    assert_eq!(orders::count(&mut c, Scope::Account(a)).await.unwrap(), 2);
    assert_eq!(orders::count(&mut c, Scope::Nobody).await.unwrap(), 0);
    // An order is read within a scope: its account's or all; another
    // account's scope and a user's own scope find nothing.
    let other = account(s, "40000002").await;
    for scope in [Scope::All, Scope::Account(a)] {
        assert_eq!(
            orders::by_number(&mut c, scope, "EA-4")
                .await
                .unwrap()
                .number,
            "EA-4"
        );
    }
    for scope in [Scope::Account(other), Scope::Own(u), Scope::Nobody] {
        assert!(matches!(
            orders::by_number(&mut c, scope, "EA-4").await,
            Err(StoreError::NotFound)
        ));
    }
}

#[tokio::test]
async fn promo_redemptions_never_exceed_the_maximum() {
    use gatehouse_store::catalog::{self, PromoRow};
    let db = fresh().await;
    let s = db.store.clone();
    {
        let mut c = s.conn().await.unwrap();
        let row = PromoRow {
            code: "LIMITED".into(),
            kind: "percent".into(),
            value: 10,
            months: None,
            max_redemptions: Some(3),
            redemptions: 0,
            valid_from: None,
            valid_until: None,
            method: None,
            created_at: T0,
        };
        catalog::insert_promo(&mut c, &row).await.unwrap();
        assert!(matches!(
            catalog::insert_promo(&mut c, &row).await,
            Err(StoreError::Conflict { field: "code" })
        ));
    }
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = s.conn().await.unwrap();
            catalog::redeem_promo(&mut c, "LIMITED").await.unwrap()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 3);
    let mut c = s.conn().await.unwrap();
    assert_eq!(
        catalog::promo(&mut c, "LIMITED")
            .await
            .unwrap()
            .unwrap()
            .redemptions,
        3
    );
    catalog::publish_msa(&mut c, "1", "text", "h", T0)
        .await
        .unwrap();
    catalog::publish_msa(&mut c, "2", "text 2", "h2", T0)
        .await
        .unwrap();
    assert_eq!(
        catalog::current_msa(&mut c).await.unwrap().unwrap().version,
        "2"
    );
    assert!(matches!(
        catalog::publish_msa(&mut c, "1", "x", "y", T0).await,
        Err(StoreError::Conflict { field: "version" })
    ));
    catalog::set_price(&mut c, "symantec_vip", 500, "USD", T0)
        .await
        .unwrap();
    catalog::set_price(&mut c, "symantec_vip", 700, "USD", T0)
        .await
        .unwrap();
    assert_eq!(
        catalog::price(&mut c, "symantec_vip")
            .await
            .unwrap()
            .unwrap()
            .amount,
        700
    );
}

#[tokio::test]
async fn billing_sources_statements_and_immutability() {
    use gatehouse_store::billing::{self, Line, NewStatement};
    use gatehouse_store::orders;
    let db = fresh().await;
    let s = &db.store;
    let a = account(s, "40000001").await;
    let b = account(s, "40000002").await;
    let ua = user(s, a, "anna", Role::User).await;
    let ub = user(s, b, "bert", Role::User).await;
    let day = 86_400_000;
    let mut c = s.conn().await.unwrap();
    for (acc, u, name, key, at, promo) in [
        (a, ua, "anna", "k1", T0, Some(("percent", 50, Some(2)))),
        (b, ub, "bert", "k2", Timestamp(T0.0 + 3 * day), None),
    ] {
        orders::place(
            &mut c,
            &orders::NewOrder {
                number: key,
                account_id: acc,
                user_id: u,
                username: name,
                method: Method::PhoneFactor,
                credential_id: None,
                monthly_price: 300,
                currency: "USD",
                promo_code: promo.map(|_| "HALF"),
                promo_kind: promo.map(|p| p.0),
                promo_value: promo.map(|p| p.1),
                promo_months: promo.and_then(|p| p.2),
                msa_version: "1",
                msa_sha256: "x",
                acknowledged_by: u,
                acknowledged_name: name,
                acknowledged_addr: "127.0.0.1",
                idempotency_key: key,
            },
            at,
        )
        .await
        .unwrap();
    }
    let ub_row = Users::system().get(&mut c, ub).await.unwrap();
    orders::end(
        &mut c,
        &ub_row,
        Method::PhoneFactor,
        Timestamp(T0.0 + 5 * day),
    )
    .await
    .unwrap();
    // A window that bert's subscription (T0+3d … T0+5d) overlaps, and one
    // after it ended.
    let all = billing::sources(&mut c, T0, Timestamp(T0.0 + 10 * day), Scope::All)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|x| x.username.as_str()).collect::<Vec<_>>(),
        ["anna", "bert"]
    );
    assert_eq!(all[0].promo_kind.as_deref(), Some("percent"));
    assert_eq!(
        (all[0].promo_value, all[0].promo_months),
        (Some(50), Some(2))
    );
    assert_eq!(all[1].ended_at, Some(Timestamp(T0.0 + 5 * day)));
    assert_eq!(all[1].account_number, "40000002");
    let later = billing::sources(
        &mut c,
        Timestamp(T0.0 + 6 * day),
        Timestamp(T0.0 + 9 * day),
        Scope::All,
    )
    .await
    .unwrap();
    assert_eq!(later.len(), 1);
    let only_b = billing::sources(&mut c, T0, Timestamp(T0.0 + 10 * day), Scope::Account(b))
        .await
        .unwrap();
    assert_eq!(only_b.len(), 1);
    drop(c);

    // Closing: once only; statements and lines round-trip.
    let lines: Vec<Line> = (0..1203)
        .map(|i| Line {
            user_id: Some(ua),
            username: format!("anna{i}"),
            method: "phonefactor".into(),
            order_number: "k1".into(),
            days: 30,
            days_in_month: 30,
            monthly_price: 300,
            gross: 300,
            discount: 150,
            amount: 150,
            currency: "USD".into(),
        })
        .collect();
    let mut tx = s.begin().await.unwrap();
    assert!(
        billing::mark_closed(&mut tx, "2025-11", T0, "cli")
            .await
            .unwrap()
    );
    billing::insert_statements(
        &mut tx,
        "2025-11",
        T0,
        &[NewStatement {
            account_id: a,
            account_number: "40000001",
            account_name: "Account 40000001",
            lines: lines.clone(),
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut c = s.conn().await.unwrap();
    assert!(
        !billing::mark_closed(&mut c, "2025-11", T0, "again")
            .await
            .unwrap()
    );
    let got = billing::statements(&mut c, Some("2025-11"), Scope::All)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].lines, lines,
        "every line, in order (several batches)"
    );
    assert!(
        billing::statements(&mut c, None, Scope::Account(b))
            .await
            .unwrap()
            .is_empty()
    );
    let closed = billing::closed_period(&mut c, "2025-11")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.closed_by, "cli");
    let before = billing::footprint(&mut c).await.unwrap();
    assert_eq!(before, (1, 1, 1203, 1203 * 150));

    // Closed rows cannot be changed or removed, even by direct SQL.
    for sql in [
        "UPDATE statement_lines SET amount = 0",
        "DELETE FROM statement_lines",
        "UPDATE statements SET account_name = 'x'",
        "DELETE FROM statements",
        "UPDATE billing_periods SET closed_by = 'x'",
        "DELETE FROM billing_periods",
    ] {
        assert!(
            sqlx::query(sql).execute(&mut *c).await.is_err(),
            "{sql} succeeded"
        );
    }
    // A second statement for the same account and period is refused.
    let mut tx = s.begin().await.unwrap();
    let dup = billing::insert_statements(
        &mut tx,
        "2025-11",
        T0,
        &[NewStatement {
            account_id: a,
            account_number: "40000001",
            account_name: "x",
            lines: vec![],
        }],
    )
    .await;
    assert!(dup.is_err());
    drop(tx);
    assert_eq!(billing::footprint(&mut c).await.unwrap(), before);
}

#[tokio::test]
async fn credential_and_temporary_code_attempts_are_reserved_up_to_the_limit() {
    use gatehouse_store::credentials;
    use throttle::Reservation;
    let db = fresh().await;
    let s = db.store.clone();
    let id = credential(&s, "VSST00000002").await;
    let until = T0.plus_minutes(60);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = s.begin().await.unwrap();
            let r = credentials::reserve_attempt(&mut tx, id, 10, until, T0)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            r
        }));
    }
    let mut counts = Vec::new();
    let mut lasts = 0;
    for t in tasks {
        if let Reservation::Reserved { count, last, .. } = t.await.unwrap() {
            counts.push(count);
            lasts += usize::from(last);
        }
    }
    counts.sort();
    assert_eq!(
        counts,
        (1..=10).collect::<Vec<i64>>(),
        "exactly ten attempts"
    );
    assert_eq!(lasts, 1);
    let mut c = s.conn().await.unwrap();
    let got = credentials::by_credential_id(&mut c, "VSST00000002")
        .await
        .unwrap();
    assert_eq!((got.failures, got.locked_until), (10, Some(until)));
    // The attempt that locked may still succeed (and lifts the lock);
    // others may not.
    assert!(
        !credentials::accept(&mut c, id, 5, 0, 0, T0, false)
            .await
            .unwrap()
    );
    assert!(
        credentials::accept(&mut c, id, 5, 0, 0, T0, true)
            .await
            .unwrap()
    );
    let got = credentials::by_credential_id(&mut c, "VSST00000002")
        .await
        .unwrap();
    assert_eq!((got.failures, got.locked_until), (0, None));
    // A slot given back (no verdict on the code) counts nothing.
    let r = credentials::reserve_attempt(&mut c, id, 10, until, T0)
        .await
        .unwrap();
    assert!(r.is_reserved());
    credentials::release_attempt(&mut c, id, false)
        .await
        .unwrap();
    assert_eq!(
        credentials::by_credential_id(&mut c, "VSST00000002")
            .await
            .unwrap()
            .failures,
        0
    );

    // Temporary codes: tries of their own, exactly the limit, concurrently.
    let acc = account(&s, "40000002").await;
    let carol = user(&s, acc, "carol", Role::User).await;
    let carol = Users::system().get(&mut c, carol).await.unwrap();
    credentials::set_temporary_code(&mut c, &carol, "h1", T0.plus_minutes(60), true, "cli", T0)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        let carol = carol.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = s.begin().await.unwrap();
            let r = credentials::reserve_temporary_attempt(&mut tx, &carol, 5, T0)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            r.map(|t| t.attempts)
        }));
    }
    let mut tries: Vec<i64> = Vec::new();
    for t in tasks {
        tries.extend(t.await.unwrap());
    }
    tries.sort();
    assert_eq!(tries, vec![1, 2, 3, 4, 5], "exactly five tries");
    assert!(
        credentials::end_spent_temporary_code(&mut c, &carol, "h1", 5)
            .await
            .unwrap()
    );
    assert!(
        credentials::temporary_code(&mut c, &carol)
            .await
            .unwrap()
            .is_none()
    );
    // A reusable code gets its try back when right; a single-use one is
    // consumed once; an expired one gives no try.
    credentials::set_temporary_code(&mut c, &carol, "h2", T0.plus_minutes(60), false, "cli", T0)
        .await
        .unwrap();
    let t = credentials::reserve_temporary_attempt(&mut c, &carol, 5, T0)
        .await
        .unwrap()
        .unwrap();
    assert!(
        credentials::temporary_code_used(&mut c, &carol, &t)
            .await
            .unwrap()
    );
    assert_eq!(
        credentials::temporary_code(&mut c, &carol)
            .await
            .unwrap()
            .unwrap()
            .attempts,
        0
    );
    credentials::set_temporary_code(&mut c, &carol, "h3", T0.plus_minutes(60), true, "cli", T0)
        .await
        .unwrap();
    let t = credentials::reserve_temporary_attempt(&mut c, &carol, 5, T0)
        .await
        .unwrap()
        .unwrap();
    assert!(
        credentials::temporary_code_used(&mut c, &carol, &t)
            .await
            .unwrap()
    );
    assert!(
        !credentials::temporary_code_used(&mut c, &carol, &t)
            .await
            .unwrap()
    );
    credentials::set_temporary_code(&mut c, &carol, "h4", T0.plus_minutes(60), true, "cli", T0)
        .await
        .unwrap();
    assert!(
        credentials::reserve_temporary_attempt(&mut c, &carol, 5, T0.plus_minutes(60))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
}

// ---- The test databases ------------------------------------------------

/// A transaction dropped without a commit (a handler that returns an error
/// half-way) leaves its ROLLBACK queued on the connection, which goes back
/// to the pool still holding its locks. Dropping the test database must not
/// wait for them: on PostgreSQL the schema's `DROP … CASCADE` waited for
/// those locks, and the runtime that would have sent the ROLLBACK was the
/// one blocked in the drop, so the test never ended.
#[tokio::test]
async fn a_test_database_is_dropped_though_a_transaction_was_left_open() {
    let db = fresh().await;
    {
        let mut tx = db.store.begin().await.unwrap();
        gatehouse_store::delivery::any_due(&mut tx, T0)
            .await
            .unwrap();
    }
    let (done, dropped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(db);
        let _ = done.send(());
    });
    // Blocks this test's runtime, as the end of a test does.
    assert!(
        dropped
            .recv_timeout(std::time::Duration::from_secs(60))
            .is_ok(),
        "the test database was not dropped within a minute"
    );
}

// ---- The delivery queue ------------------------------------------------

mod delivery_queue {
    use super::T0;
    use gatehouse_store::delivery::{self, StatusRecorded};
    use gatehouse_store::testing::fresh;

    const PHONE: &str = "+14155550123";
    const LEASE: i64 = 30_000;

    async fn queued(c: &mut gatehouse_store::Conn, kind: &str) -> i64 {
        let kind = gatehouse_domain::outbox::MessageKind::parse(kind).expect("a message kind");
        delivery::enqueue(c, kind, PHONE, "", b"sealed", None, T0)
            .await
            .unwrap()
    }

    /// An unknown outcome is flagged for a lookup, keeps the attempt's start
    /// for the lookup's window, and a later send keeps the earlier start.
    #[tokio::test]
    async fn delivery_unknown_outcomes_are_flagged_for_a_lookup() {
        let db = fresh().await;
        let mut c = db.store.conn().await.unwrap();
        let id = queued(&mut c, "sms").await;
        let claim = delivery::claim(&mut c, id, T0, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert!(!claim.check_first);
        assert_eq!(claim.available_at, T0.plus_seconds(30));
        assert!(
            delivery::begin_send(&mut c, &claim, T0, LEASE)
                .await
                .unwrap()
        );
        delivery::mark_unknown(&mut c, id, "timed out", T0.plus_seconds(30))
            .await
            .unwrap();
        let row = delivery::get(&mut c, id).await.unwrap();
        assert_eq!(row.status, gatehouse_domain::outbox::OutboxStatus::Queued);
        assert!(row.check_first);
        assert_eq!(row.attempt_started_at, Some(T0));
        assert_eq!(row.last_error.as_deref(), Some("timed out"));
        assert!(row.body.is_some(), "kept for a resend");

        // Not due before the delay; then claimed with the flag.
        assert!(
            delivery::claim_due(&mut c, T0.plus_seconds(29), LEASE)
                .await
                .unwrap()
                .is_none()
        );
        let t1 = T0.plus_seconds(31);
        let claim = delivery::claim_due(&mut c, t1, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert!(claim.check_first);
        assert_eq!(claim.attempts, 2);
        // A failed lookup keeps the flag.
        delivery::retry_later(&mut c, id, "lookup: busy", t1.plus_seconds(5))
            .await
            .unwrap();
        let t2 = t1.plus_seconds(5);
        let claim = delivery::claim_due(&mut c, t2, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert!(claim.check_first);
        // Not found: the send clears the flag and keeps the earlier start.
        assert!(
            delivery::begin_send(&mut c, &claim, t2, LEASE)
                .await
                .unwrap()
        );
        let row = delivery::get(&mut c, id).await.unwrap();
        assert!(!row.check_first);
        assert_eq!(row.attempt_started_at, Some(T0));
        assert_eq!(row.available_at, t2.plus_seconds(30));
        delivery::mark_sent(&mut c, id, "SM1", t2).await.unwrap();
        let row = delivery::get(&mut c, id).await.unwrap();
        assert_eq!(
            (row.status.as_str(), row.provider_ref.as_deref()),
            ("sent", Some("SM1"))
        );
        assert!(row.body.is_none());
    }

    /// A claim of a message still `sending` (its worker died) is flagged;
    /// the dead worker's claim can no longer start a send.
    #[tokio::test]
    async fn delivery_a_claim_whose_lease_ran_out_is_flagged_and_fenced() {
        let db = fresh().await;
        let mut c = db.store.conn().await.unwrap();
        let id = queued(&mut c, "call").await;
        let dead = delivery::claim_due(&mut c, T0, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert!(
            delivery::begin_send(&mut c, &dead, T0, LEASE)
                .await
                .unwrap()
        );
        // The lease holds…
        assert!(
            delivery::claim_due(&mut c, T0.plus_seconds(29), LEASE)
                .await
                .unwrap()
                .is_none()
        );
        // …then runs out.
        let t1 = T0.plus_seconds(31);
        let claim = delivery::claim(&mut c, id, t1, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert!(claim.check_first);
        assert_eq!(claim.attempt_started_at, Some(T0));
        // The first worker wakes up: its claim is no longer the row's.
        assert!(
            !delivery::begin_send(&mut c, &dead, t1, LEASE)
                .await
                .unwrap()
        );
        assert!(
            delivery::begin_send(&mut c, &claim, t1, LEASE)
                .await
                .unwrap()
        );
        // The outcome writes of a message no longer sending change nothing.
        delivery::mark_sent(&mut c, id, "CA1", t1).await.unwrap();
        delivery::mark_unknown(&mut c, id, "late", t1)
            .await
            .unwrap();
        delivery::retry_later(&mut c, id, "late", t1).await.unwrap();
        delivery::mark_failed(&mut c, id, "late", t1).await.unwrap();
        delivery::mark_sent(&mut c, id, "CA2", t1).await.unwrap();
        let row = delivery::get(&mut c, id).await.unwrap();
        assert_eq!(
            (row.status.as_str(), row.provider_ref.as_deref()),
            ("sent", Some("CA1"))
        );
        assert!(!row.check_first);
    }

    #[tokio::test]
    async fn delivery_status_callbacks_record_and_resolve() {
        let db = fresh().await;
        let mut c = db.store.conn().await.unwrap();
        // Sent: statuses are recorded; a late intermediate one does not
        // replace a final one; another reference is ignored.
        let sent = queued(&mut c, "sms").await;
        let claim = delivery::claim(&mut c, sent, T0, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert!(
            delivery::begin_send(&mut c, &claim, T0, LEASE)
                .await
                .unwrap()
        );
        delivery::mark_sent(&mut c, sent, "SM1", T0).await.unwrap();
        for s in ["sent", "delivered", "sent"] {
            assert_eq!(
                delivery::record_provider_status(&mut c, sent, "SM1", s, T0)
                    .await
                    .unwrap(),
                StatusRecorded::Recorded
            );
        }
        let row = delivery::get(&mut c, sent).await.unwrap();
        assert_eq!(row.provider_status.as_deref(), Some("delivered"));
        assert_eq!(
            delivery::record_provider_status(&mut c, sent, "SM9", "failed", T0)
                .await
                .unwrap(),
            StatusRecorded::Ignored
        );
        assert_eq!(
            delivery::record_provider_status(&mut c, 9_999, "SM1", "delivered", T0)
                .await
                .unwrap(),
            StatusRecorded::Ignored
        );

        // Waiting with an unknown outcome: resolved as sent, once.
        let unknown = queued(&mut c, "call").await;
        let claim = delivery::claim(&mut c, unknown, T0, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert!(
            delivery::begin_send(&mut c, &claim, T0, LEASE)
                .await
                .unwrap()
        );
        delivery::mark_unknown(&mut c, unknown, "timed out", T0.plus_seconds(30))
            .await
            .unwrap();
        let t1 = T0.plus_seconds(3);
        assert_eq!(
            delivery::record_provider_status(&mut c, unknown, "CA7", "completed", t1)
                .await
                .unwrap(),
            StatusRecorded::Resolved
        );
        assert_eq!(
            delivery::record_provider_status(&mut c, unknown, "CA7", "completed", t1)
                .await
                .unwrap(),
            StatusRecorded::Recorded
        );
        let row = delivery::get(&mut c, unknown).await.unwrap();
        assert_eq!(row.status, gatehouse_domain::outbox::OutboxStatus::Sent);
        assert_eq!(row.provider_ref.as_deref(), Some("CA7"));
        assert_eq!(row.provider_status.as_deref(), Some("completed"));
        assert!(!row.check_first);
        assert!(row.body.is_none());
        assert!(
            delivery::claim_due(&mut c, T0.plus_seconds(60), LEASE)
                .await
                .unwrap()
                .is_none(),
            "nothing left to send or look up"
        );

        // Failed because the outcome stayed unknown: a callback still
        // resolves it; failed for another reason: ignored.
        let gave_up = queued(&mut c, "sms").await;
        delivery::claim(&mut c, gave_up, T0, LEASE)
            .await
            .unwrap()
            .unwrap();
        delivery::mark_unknown(&mut c, gave_up, "timed out", T0)
            .await
            .unwrap();
        delivery::claim(&mut c, gave_up, T0, LEASE)
            .await
            .unwrap()
            .unwrap();
        delivery::mark_failed(&mut c, gave_up, "outcome unknown", T0)
            .await
            .unwrap();
        assert_eq!(
            delivery::record_provider_status(&mut c, gave_up, "SM5", "delivered", T0)
                .await
                .unwrap(),
            StatusRecorded::Resolved
        );
        let refused = queued(&mut c, "sms").await;
        delivery::claim(&mut c, refused, T0, LEASE)
            .await
            .unwrap()
            .unwrap();
        delivery::mark_failed(&mut c, refused, "refused: 21211", T0)
            .await
            .unwrap();
        assert_eq!(
            delivery::record_provider_status(&mut c, refused, "SM6", "delivered", T0)
                .await
                .unwrap(),
            StatusRecorded::Ignored
        );
        // E-mail is not a text or call.
        let mail = queued(&mut c, "email").await;
        assert_eq!(
            delivery::record_provider_status(&mut c, mail, "SM8", "delivered", T0)
                .await
                .unwrap(),
            StatusRecorded::Ignored
        );
    }

    #[tokio::test]
    async fn delivery_lookups_exclude_other_messages_references() {
        let db = fresh().await;
        let mut c = db.store.conn().await.unwrap();
        let mut ids = Vec::new();
        for (i, r) in ["CA1", "CA2"].iter().enumerate() {
            let id = queued(&mut c, "call").await;
            delivery::claim(&mut c, id, T0, LEASE)
                .await
                .unwrap()
                .unwrap();
            delivery::mark_sent(&mut c, id, r, T0.plus_seconds(i as i64 * 60))
                .await
                .unwrap();
            ids.push(id);
        }
        let text = queued(&mut c, "sms").await;
        delivery::claim(&mut c, text, T0, LEASE)
            .await
            .unwrap()
            .unwrap();
        delivery::mark_sent(&mut c, text, "SM1", T0).await.unwrap();
        let this = queued(&mut c, "call").await;
        let refs = delivery::provider_refs_since(
            &mut c,
            gatehouse_domain::outbox::MessageKind::Call,
            PHONE,
            T0,
            this,
        )
        .await
        .unwrap();
        assert_eq!(refs, ["CA1", "CA2"]);
        let refs = delivery::provider_refs_since(
            &mut c,
            gatehouse_domain::outbox::MessageKind::Call,
            PHONE,
            T0.plus_seconds(30),
            this,
        )
        .await
        .unwrap();
        assert_eq!(refs, ["CA2"]);
        let refs = delivery::provider_refs_since(
            &mut c,
            gatehouse_domain::outbox::MessageKind::Call,
            PHONE,
            T0,
            ids[0],
        )
        .await
        .unwrap();
        assert_eq!(refs, ["CA2"], "never its own");
        let refs = delivery::provider_refs_since(
            &mut c,
            gatehouse_domain::outbox::MessageKind::Call,
            "+14155550199",
            T0,
            this,
        )
        .await
        .unwrap();
        assert!(refs.is_empty());
    }
}

#[tokio::test]
async fn housekeeping_deletes_old_rows_in_batches_and_keeps_live_ones() {
    let db = fresh().await;
    let s = &db.store;
    let mut c = s.conn().await.unwrap();
    let day = 24 * 60;
    for i in 0..7 {
        let at = if i < 5 { T0 } else { T0.plus_minutes(3 * day) };
        let slot = throttle::reserve(&mut c, &format!("k{i}"), 5, 60, at)
            .await
            .unwrap();
        assert!(matches!(slot, throttle::Reservation::Reserved { .. }));
    }
    let before = T0.plus_minutes(2 * day);
    assert_eq!(throttle::purge_stale(&mut c, before, 3).await.unwrap(), 3);
    assert_eq!(throttle::purge_stale(&mut c, before, 3).await.unwrap(), 2);
    assert_eq!(throttle::purge_stale(&mut c, before, 3).await.unwrap(), 0);
    // The two counters of the recent window are still counting.
    let again = throttle::reserve(&mut c, "k5", 5, 60, T0.plus_minutes(3 * day))
        .await
        .unwrap();
    assert!(
        matches!(again, throttle::Reservation::Reserved { count: 2, .. }),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_checkpoint_truncates_the_sqlite_log() {
    let db = fresh().await;
    let s = &db.store;
    if s.backend() != gatehouse_store::Backend::Sqlite {
        assert_eq!(s.checkpoint().await.unwrap(), None);
        assert_eq!(s.wal_bytes(), 0);
        return;
    }
    for i in 0..50 {
        account(s, &format!("4100{i:04}")).await;
    }
    assert!(s.wal_bytes() > 0, "writes went to the log");
    let done = s.checkpoint().await.unwrap().expect("SQLite checkpoints");
    assert!(!done.busy, "{done:?}");
    assert_eq!(s.wal_bytes(), 0, "TRUNCATE leaves an empty log");
    // The data is all there, read back after the log was emptied.
    let mut c = s.conn().await.unwrap();
    assert!(accounts::find_by_number(&mut c, "41000049").await.is_ok());
}

#[tokio::test]
async fn a_right_code_is_accepted_once_through_the_fast_path() {
    use gatehouse_store::code_check;
    let db = fresh().await;
    let s = &db.store;
    let a = account(s, "40000001").await;
    let (u, cred) = user_with_credential(s, a, "carol", "VSST00000001").await;
    let row = code_check::read(s, "carol", "client:1")
        .await
        .unwrap()
        .expect("carol exists");
    assert_eq!(row.user.id, u);
    assert_eq!(row.credential.as_ref().map(|c| c.id), Some(cred));
    assert!(!row.has_temporary_code);
    assert_eq!(row.throttle, None);
    assert!(
        code_check::read(s, "nobody", "client:1")
            .await
            .unwrap()
            .is_none()
    );
    let accept = |step| accept_step(a, u, cred, step);
    // 32 concurrent tries of one step: exactly one is accepted.
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let s = s.clone();
        let a = accept(100);
        tasks.push(tokio::spawn(async move {
            code_check::accept(&s, a).await.unwrap()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += usize::from(t.await.unwrap());
    }
    assert_eq!(accepted, 1, "one step, one acceptance");
    assert!(
        !code_check::accept(s, accept(99)).await.unwrap(),
        "backwards"
    );
    assert!(
        code_check::accept(s, accept(101)).await.unwrap(),
        "forwards"
    );
    // Read, decision and write in one trip (one job of the group-commit
    // writer on SQLite): 32 concurrent checks of one step, one acceptance.
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let s = s.clone();
        let a = accept(200);
        tasks.push(tokio::spawn(async move {
            let decide: code_check::Decide = Box::new(move |row| {
                assert_eq!(row.user.username, "carol");
                Some(a)
            });
            code_check::check(&s, "carol", "client:1", decide)
                .await
                .unwrap()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += usize::from(t.await.unwrap());
    }
    assert_eq!(accepted, 1, "one step, one acceptance");
    let never: code_check::Decide = Box::new(|_| panic!("no row for an unknown user"));
    assert!(
        !code_check::check(s, "nobody", "client:1", never)
            .await
            .unwrap()
    );
    let mut c = s.conn().await.unwrap();
    let entries = audit::all(&mut c, Scope::System).await.unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.record.action == "security_code")
            .count(),
        3,
        "one audit entry per acceptance"
    );
}

#[tokio::test]
async fn the_fast_path_does_not_accept_for_a_user_disabled_or_blocked_meanwhile() {
    use gatehouse_store::code_check;
    let db = fresh().await;
    let s = &db.store;
    let a = account(s, "40000001").await;
    let (u, cred) = user_with_credential(s, a, "dave", "VSST00000009").await;
    let mut c = s.conn().await.unwrap();
    let dave = Users::system().get(&mut c, u).await.unwrap();
    let accept = |step| accept_step(a, u, cred, step);
    // Disabled after the code was checked: the write refuses it.
    sqlx::query("UPDATE users SET status = 'disabled' WHERE id = $1")
        .bind(u.0)
        .execute(&mut *c)
        .await
        .unwrap();
    assert!(!code_check::accept(s, accept(10)).await.unwrap());
    sqlx::query("UPDATE users SET status = 'active' WHERE id = $1")
        .bind(u.0)
        .execute(&mut *c)
        .await
        .unwrap();
    // Blocked after a fraud report: refused too; once the block is over,
    // accepted.
    gatehouse_store::phonefactor::await_activation(&mut c, &dave, T0)
        .await
        .unwrap();
    gatehouse_store::phonefactor::set_fraud_block(&mut c, &dave, T0.plus_minutes(60), T0)
        .await
        .unwrap();
    assert!(!code_check::accept(s, accept(11)).await.unwrap());
    gatehouse_store::phonefactor::clear_fraud_block(&mut c, &dave, T0)
        .await
        .unwrap();
    assert!(code_check::accept(s, accept(12)).await.unwrap());
}

#[tokio::test]
async fn concurrent_checks_of_many_users_each_get_their_own_answer() {
    // On PostgreSQL these run in batches: each check must get the answer
    // for its own user, and the write must still refuse what the rules
    // refuse, whatever the decision said.
    use gatehouse_store::{code_check, credentials};
    let db = fresh().await;
    let s = &db.store;
    let a = account(s, "40000002").await;
    let mut users = Vec::new();
    for i in 0..24 {
        let name = format!("batch{i}");
        let u = user(s, a, &name, Role::User).await;
        let cred = credential(s, &format!("VSSB{i:08}")).await;
        let mut c = s.conn().await.unwrap();
        let found = Users::system().get(&mut c, u).await.unwrap();
        assert!(credentials::assign(&mut c, cred, &found).await.unwrap());
        if i % 3 == 2 {
            sqlx::query("UPDATE users SET status = 'disabled' WHERE id = $1")
                .bind(u.0)
                .execute(&mut *c)
                .await
                .unwrap();
        }
        users.push((i, name, u, cred));
    }
    let mut tasks = Vec::new();
    for (i, name, u, cred) in users {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let expected = name.clone();
            let decide: code_check::Decide = Box::new(move |row| {
                // Only ever this check's own user (and credential).
                (row.user.username == expected
                    && row.credential.as_ref().map(|c| c.id) == Some(cred)
                    && i % 3 != 1)
                    .then(|| accept_step(a, u, cred, 7))
            });
            let ok = code_check::check(&s, &name, "client:9", decide)
                .await
                .unwrap();
            (i, ok)
        }));
    }
    for t in tasks {
        let (i, ok) = t.await.unwrap();
        assert_eq!(ok, i % 3 == 0, "batch{i}");
    }
    let mut c = s.conn().await.unwrap();
    let audited = audit::all(&mut c, Scope::System)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.record.action == "security_code")
        .count();
    assert_eq!(audited, 8, "one audit entry per acceptance");
}

#[tokio::test]
async fn two_instances_checking_one_code_accept_it_once() {
    // Two stores on one database (two instances of the server): 16
    // concurrent checks of one step through each, exactly one accepted.
    use gatehouse_store::code_check;
    let db = fresh().await;
    let s = &db.store;
    let other = gatehouse_store::Store::open(&db.url, 4).await.unwrap();
    let a = account(s, "40000003").await;
    let (u, cred) = user_with_credential(s, a, "erin", "VSST00000031").await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = if i % 2 == 0 { s.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move {
            let decide: code_check::Decide = Box::new(move |_| Some(accept_step(a, u, cred, 300)));
            code_check::check(&store, "erin", "client:2", decide)
                .await
                .unwrap()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += usize::from(t.await.unwrap());
    }
    assert_eq!(accepted, 1, "one step, one acceptance, across instances");
    other.close().await;
}

#[tokio::test]
async fn a_batch_does_not_wait_for_a_credential_another_transaction_holds() {
    // PostgreSQL: a credential row locked elsewhere (a slow transaction) is
    // skipped by the batch — that check is left to the full check — and
    // never holds up the others.
    use gatehouse_store::code_check;
    let db = fresh().await;
    let s = &db.store;
    if s.backend() != gatehouse_store::Backend::Postgres {
        return;
    }
    let a = account(s, "40000004").await;
    let mut creds = Vec::new();
    for name in ["held", "free"] {
        let (u, cred) = user_with_credential(s, a, name, &format!("VSSH{:08}", creds.len())).await;
        creds.push((name, u, cred));
    }
    let mut holder = s.begin().await.unwrap();
    sqlx::query("SELECT id FROM credentials WHERE id = $1 FOR UPDATE")
        .bind(creds[0].2)
        .fetch_all(&mut *holder)
        .await
        .unwrap();
    let check = |name: &'static str, u: gatehouse_domain::UserId, cred: i64| {
        let s = s.clone();
        async move {
            let decide: code_check::Decide = Box::new(move |_| Some(accept_step(a, u, cred, 5)));
            tokio::time::timeout(
                std::time::Duration::from_secs(5),
                code_check::check(&s, name, "client:3", decide),
            )
            .await
            .expect("answered without waiting for the lock")
            .unwrap()
        }
    };
    let (held, free) = tokio::join!(
        check(creds[0].0, creds[0].1, creds[0].2),
        check(creds[1].0, creds[1].1, creds[1].2)
    );
    assert!(!held, "the held credential is left to the full check");
    assert!(free, "the other is accepted meanwhile");
    holder.commit().await.unwrap();
    assert!(
        check(creds[0].0, creds[0].1, creds[0].2).await,
        "and once free, accepted"
    );
}
