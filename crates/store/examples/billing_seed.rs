//! Seeds a database for the billing benchmark: ACCOUNTS accounts, each with
//! SUBS subscriptions (half the number of users, each with both methods),
//! inserted directly with multi-row statements.
//!
//!     cargo run --release -p gatehouse-store --example billing_seed -- URL [ACCOUNTS] [SUBS] [PERIOD]
//!
//! URL is `sqlite://DATA_DIR/gatehouse.db` or `postgres://…`; defaults 1000
//! accounts × 100 subscriptions, for the last month that has ended. In that
//! month 70 % of the subscriptions run all month, 20 % start in it and 10 %
//! end in it; every fifth order has 50 % off for 3 months and every seventh
//! 100 off for ever.

use gatehouse_domain::billing::Period;
use gatehouse_domain::{Clock, SystemClock};
use gatehouse_store::{Store, accounts};
use sqlx::Row;
use std::collections::HashMap;

type Error = Box<dyn std::error::Error>;

const DAY: i64 = 86_400_000;

/// `($1,…,$c),($c+1,…)` for `rows` rows of `cols` columns.
fn values(rows: usize, cols: usize) -> String {
    let mut s = String::new();
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            s.push_str(&format!("${}", r * cols + c + 1));
        }
        s.push(')');
    }
    s
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: billing_seed URL [ACCOUNTS] [SUBS] [PERIOD]")?;
    let n_accounts: usize = args.next().map_or(Ok(1000), |s| s.parse())?;
    let subs: usize = args.next().map_or(Ok(100), |s| s.parse())?;
    let now = SystemClock.now();
    let period = match args.next() {
        Some(p) => Period::parse(&p).map_err(|e| e.message)?,
        None => Period::containing(now).prev(),
    };
    let store = Store::open(&url, 2).await?;
    let started = std::time::Instant::now();
    let users_per_account = subs.div_ceil(2);
    let mut tx = store.begin().await?;
    for a in 0..n_accounts {
        let number = format!("{:08}", 70_000_000 + a);
        let account =
            accounts::create(&mut tx, &number, &format!("Bench Customer {a}"), false, now).await?;
        let sql = format!(
            "INSERT INTO users (account_id, username, email, name, role, status, password_hash, \
             created_at, updated_at) VALUES {}",
            values(users_per_account, 9)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for u in 0..users_per_account {
            let name = format!("b{a}u{u}");
            q = q
                .bind(account.0)
                .bind(name.clone())
                .bind(format!("{name}@bench.example"))
                .bind("")
                .bind("user")
                .bind("active")
                .bind("$argon2id$not-a-real-hash")
                .bind(now.millis())
                .bind(now.millis());
        }
        q.execute(&mut *tx).await?;
        let ids: HashMap<String, i64> =
            sqlx::query("SELECT username, id FROM users WHERE account_id = $1")
                .bind(account.0)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<_, sqlx::Error>>()?;

        // Subscription i: user i / 2, method by parity.
        let spec = |i: usize| {
            let method = if i.is_multiple_of(2) {
                "symantec_vip"
            } else {
                "phonefactor"
            };
            let price: i64 = if i.is_multiple_of(2) { 500 } else { 300 };
            let day = (i as i64 * 7 + a as i64) % period.days();
            let (start, end) = match i % 10 {
                0..=6 => (period.start().0 - (10 + day) * DAY, None),
                7 | 8 => (period.start().0 + day * DAY + 3_600_000, None),
                _ => (
                    period.start().0 - 5 * DAY,
                    Some(period.start().0 + day * DAY + 7_200_000),
                ),
            };
            let promo: Option<(&str, i64, Option<i64>)> = if i.is_multiple_of(5) {
                Some(("percent", 50, Some(3)))
            } else if i.is_multiple_of(7) {
                Some(("amount", 100, None))
            } else {
                None
            };
            (method, price, start, end, promo)
        };
        let sql = format!(
            "INSERT INTO orders (number, account_id, user_id, username, method, monthly_price, \
             currency, promo_code, promo_kind, promo_value, promo_months, msa_version, msa_sha256, \
             acknowledged_by, acknowledged_name, acknowledged_at, acknowledged_addr, \
             idempotency_key, created_at) VALUES {}",
            values(subs, 19)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for i in 0..subs {
            let (method, price, start, _, promo) = spec(i);
            let username = format!("b{a}u{}", i / 2);
            let user = ids[&username];
            q = q
                .bind(format!("EB-{a:04}-{i:05}"))
                .bind(account.0)
                .bind(user)
                .bind(username)
                .bind(method)
                .bind(price)
                .bind("USD")
                .bind(promo.map(|_| "BENCH"))
                .bind(promo.map(|p| p.0))
                .bind(promo.map(|p| p.1))
                .bind(promo.and_then(|p| p.2))
                .bind("bench")
                .bind("bench")
                .bind(user)
                .bind("bench")
                .bind(start)
                .bind("127.0.0.1")
                .bind(format!("bench-{i}"))
                .bind(start);
        }
        q.execute(&mut *tx).await?;
        let orders: HashMap<String, (i64, i64)> =
            sqlx::query("SELECT number, id, user_id FROM orders WHERE account_id = $1")
                .bind(account.0)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?))))
                .collect::<Result<_, sqlx::Error>>()?;
        let sql = format!(
            "INSERT INTO subscriptions (order_id, account_id, user_id, method, status, started_at, \
             ended_at) VALUES {}",
            values(subs, 7)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for i in 0..subs {
            let (method, _, start, end, _) = spec(i);
            let (order, user) = orders[&format!("EB-{a:04}-{i:05}")];
            q = q
                .bind(order)
                .bind(account.0)
                .bind(user)
                .bind(method)
                .bind(if end.is_some() { "ended" } else { "active" })
                .bind(start)
                .bind(end);
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    store.close().await;
    eprintln!(
        "seeded {n_accounts} accounts × {subs} subscriptions for {period} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("{period}");
    Ok(())
}
