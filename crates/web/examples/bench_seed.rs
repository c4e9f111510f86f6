//! Seeds a data directory for the validation API benchmark: one account,
//! N users `bench0…`, each with an assigned TOTP credential (all with the
//! RFC 6238 test seed, so one code per time step serves every user). With
//! HOTP_USERS, the first that many get an HOTP credential instead (same
//! seed: one code per counter value), which the soak test uses for a
//! sustained stream of distinct valid codes.
//!
//!     cargo run --release -p gatehouse-web --example bench_seed -- DATA_DIR N [HOTP_USERS]
//!
//! Uses the data directory's `master.key` (creating it if missing), so the
//! server started on the same directory can open the sealed seeds.

use gatehouse_domain::seal::MasterKey;
use gatehouse_domain::{Clock, Role, SystemClock};
use gatehouse_store::credentials::{self, NewCredential};
use gatehouse_store::{NewUser, Scope, Store, Users, accounts};

const SEED: &[u8] = b"12345678901234567890";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "./data".into()));
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(50_000);
    let hotp_users: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    std::fs::create_dir_all(&dir)?;
    let key_path = dir.join("master.key");
    let key = match std::fs::read_to_string(&key_path) {
        Ok(hex) => MasterKey::from_hex(hex.trim()).map_err(|e| anyhow::anyhow!("{e}"))?,
        Err(_) => {
            let k = MasterKey::generate();
            std::fs::write(&key_path, format!("{}\n", k.to_hex()))?;
            k
        }
    };
    let url = std::env::var("GATEHOUSE_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.join("gatehouse.db").display()));
    let store = Store::open(&url, 4).await?;
    let now = SystemClock.now();
    let started = std::time::Instant::now();
    let phc = gatehouse_domain::password::hash("Bench-Password-2026");
    let mut tx = store.begin().await?;
    let account = accounts::create(&mut tx, "99999999", "Bench Customer", false, now).await?;
    let users = Users::new(Scope::All);
    for i in 0..n {
        let name = format!("bench{i}");
        let id = users
            .create(
                &mut tx,
                &NewUser {
                    account_id: account,
                    username: &name,
                    email: &format!("{name}@bench.example"),
                    name: "",
                    role: Role::User,
                    password_hash: &phc,
                    must_change_password: false,
                },
                now,
            )
            .await?;
        let cid = format!("BNCH{i:08}");
        let sealed = key.seal(SEED, cid.as_bytes());
        let c = credentials::insert(
            &mut tx,
            &NewCredential {
                credential_id: &cid,
                params: if i < hotp_users {
                    gatehouse_domain::oath::OathParams::hotp_default()
                } else {
                    gatehouse_domain::oath::OathParams::vip_totp()
                },
                next_counter: 0,
                sealed_secret: Some(&sealed),
                validation: gatehouse_domain::oath::Validation::Local,
                source: "bench",
            },
            now,
        )
        .await?;
        let user = users.get(&mut tx, id).await?;
        credentials::assign(&mut tx, c, &user).await?;
    }
    tx.commit().await?;
    eprintln!(
        "seeded {n} users with credentials in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
