//! Local fakes for tests (cargo feature `fake`), each a real server on
//! `127.0.0.1:0` speaking the same wire format as the provider:
//!
//! * [`FakeTwilio`]: the Messages and Calls resources of a Twilio-compatible
//!   API, and a caller that answers a placed call and presses keys
//!   ([`FakeTwilio::answer_call`]).
//! * [`FakeSmsGateway`]: records what an [`HttpSmsGateway`](crate::HttpSmsGateway)
//!   sends and answers a configurable status.
//! * [`FakeSmtp`]: a plain-text SMTP server (no TLS) that keeps what it
//!   receives.
//!
//! They keep everything in memory and compare secrets with `==`: test tools,
//! not for deployment. Dropping one stops it.
//!
//! ```ignore
//! let twilio = FakeTwilio::start().await;
//! let gateway = twilio.gateway("+14155550100");          // a TwilioGateway aimed at the fake
//! gateway.place_call(&call).await?;
//! let sid = twilio.calls()[0].sid.clone();
//! // The fake POSTs the call's instructions URL (signed), reads the <Gather>,
//! // and POSTs its action with the keys pressed (signed): "#" approves, "0#" reports fraud.
//! let answered = twilio.answer_call(&sid, "0#").await?;
//! assert_eq!(answered.action.unwrap().digits, "0");
//! ```

mod sms;
mod smtp;
mod twilio;

pub use sms::{FakeSmsGateway, FakeSmsRequest};
pub use smtp::{FakeSmtp, ReceivedMail};
pub use twilio::{AnsweredCall, FakeCall, FakeCallError, FakeMessage, FakeTwilio, GatherAction};

use std::sync::{Mutex, MutexGuard, PoisonError};

/// A poisoned lock only means another test thread panicked; the data is
/// still what the test wants to look at.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `n` random bytes as lower-case hex (sids, tokens).
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if getrandom::fill(&mut bytes).is_err() {
        // Uniqueness within a test is all that matters.
        static FALLBACK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let v = FALLBACK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (v >> ((i % 8) * 8)) as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Binds `127.0.0.1:0` and serves `router` until the handle is aborted.
async fn serve(router: axum::Router) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0 for a fake");
    let addr = listener.local_addr().expect("local address of a fake");
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, handle)
}
