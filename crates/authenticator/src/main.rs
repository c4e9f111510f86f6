//! `authenticator`: the mobile-app stand-in for PhoneFactor (SPEC §3.2).
//! Everything is in the library; see `gatehouse_authenticator::run`.

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let code = gatehouse_authenticator::run(
        std::env::args_os(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
    .await;
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
