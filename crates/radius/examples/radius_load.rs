//! Load generator for the RADIUS front end: real Access-Requests (with
//! Message-Authenticator) over loopback UDP, each a distinct valid TOTP
//! code of one of the users `bench_seed` made (`bench0…`, all on the
//! RFC 6238 test seed).
//!
//!     radius_load SERVER SECRET USERS SECONDS [CONCURRENCY] [PASSWORD] [BIND] [FIRST_USER]
//!
//! Without PASSWORD the `User-Password` is the code alone (a code-only
//! client); with it, `PASSWORD,CODE` (password-and-code). Each worker owns
//! its users (worker w: users w, w + CONCURRENCY, …) and sends one request
//! at a time; a user's code of this time step, then of the next (both
//! valid), so no code is sent twice. Prints Access-Accepts per second,
//! latency percentiles, rejects and timeouts.

use gatehouse_domain::oath::{self, HashAlg};
use gatehouse_domain::{Clock as _, SystemClock};
use gatehouse_radius::client::{AccessRequest, Code, Connection};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SEED: &[u8] = b"12345678901234567890";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!(
            "usage: radius_load SERVER SECRET USERS SECONDS [CONCURRENCY] [PASSWORD] [BIND] [FIRST_USER]"
        );
        std::process::exit(2);
    }
    let server: SocketAddr = args[0].parse().expect("SERVER as IP:PORT");
    let secret = Arc::new(args[1].clone().into_bytes());
    let users: usize = args[2].parse().expect("USERS");
    let seconds: u64 = args[3].parse().expect("SECONDS");
    let concurrency: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(64);
    let password = args.get(5).filter(|s| !s.is_empty()).cloned();
    let bind = args
        .get(6)
        .filter(|s| !s.is_empty())
        .map_or("127.0.0.1", String::as_str)
        .to_owned();
    let first_user: usize = args.get(7).and_then(|s| s.parse().ok()).unwrap_or(0);
    let step0 = oath::totp_step(SystemClock.now().seconds(), 30);
    let codes = Arc::new([
        oath::hotp(SEED, step0 as u64, 6, HashAlg::Sha1),
        oath::hotp(SEED, step0 as u64 + 1, 6, HashAlg::Sha1),
    ]);
    let (accepts, rejects, timeouts) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (secret, codes, password, bind) = (
            secret.clone(),
            codes.clone(),
            password.clone(),
            bind.clone(),
        );
        let (accepts, rejects, timeouts) = (accepts.clone(), rejects.clone(), timeouts.clone());
        tasks.push(tokio::spawn(async move {
            let local: SocketAddr = format!("{bind}:0").parse().unwrap();
            let conn = Connection::open_from(local, server, &secret, Duration::from_secs(5))
                .await
                .expect("a UDP socket");
            let mut latencies = Vec::new();
            'rounds: for code in codes.iter() {
                for user in (w..users).step_by(concurrency) {
                    if Instant::now() >= deadline {
                        break 'rounds;
                    }
                    let pw = match &password {
                        Some(p) => format!("{p},{code}"),
                        None => code.clone(),
                    };
                    let request =
                        AccessRequest::new(format!("bench{}", first_user + user)).password(pw);
                    let t = Instant::now();
                    match conn.exchange(&request).await {
                        Ok(r) if r.code == Code::Accept => {
                            accepts.fetch_add(1, Ordering::Relaxed);
                            latencies.push(t.elapsed());
                        }
                        Ok(_) => {
                            rejects.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            timeouts.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = started
        .elapsed()
        .as_secs_f64()
        .min(seconds as f64)
        .max(0.001);
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let a = accepts.load(Ordering::Relaxed);
    println!(
        "Access-Accept/s: {:.1} ({a} accepts in {elapsed:.1} s, {concurrency} in flight); p50 {:.2} ms, p99 {:.2} ms; rejects {}, timeouts {}",
        a as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        rejects.load(Ordering::Relaxed),
        timeouts.load(Ordering::Relaxed),
    );
}
