//! A panicking test leaves no server behind: a [`Server`]'s process is
//! killed and reaped when the test's locals are dropped while unwinding.
//!
//! `a_panicking_test_leaves_no_server_behind` runs this test binary again,
//! for `panics_with_a_server_running` only, which — asked to through an
//! environment variable — starts a server, writes down its process id and
//! panics. Had the server been left running, it would outlive that test
//! process (re-parented, still `gatehouse serve`).

use super::server::{Options, Server};

/// Where `panics_with_a_server_running` writes the server's process id;
/// without it, that test does nothing.
const PID_FILE: &str = "PROCESS_TESTS_PANIC_WITH_SERVER_PID_FILE";

#[tokio::test]
async fn panics_with_a_server_running() {
    let Some(file) = std::env::var_os(PID_FILE) else {
        return;
    };
    let server = Server::fresh(Options::new()).await;
    std::fs::write(&file, server.pid().to_string()).unwrap();
    panic!("on purpose, with gatehouse serve {} running", server.pid());
}

#[cfg(target_os = "linux")]
#[test]
fn a_panicking_test_leaves_no_server_behind() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pid");
    let o = Command::new(std::env::current_exe().unwrap())
        .args([
            "leak::panics_with_a_server_running",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(PID_FILE, &file)
        .output()
        .unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !o.status.success() && output.contains("on purpose") && output.contains("1 failed"),
        "the test ran and panicked: {output}"
    );
    let pid = std::fs::read_to_string(&file).expect("the server had started");
    // Gone: not running, and not a zombie either (the test reaped it).
    let left = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default();
    if left.contains("gatehouse") && left.contains("serve") {
        let _ = Command::new("kill").args(["-9", &pid]).status();
        panic!("the panicking test left its server running: {pid} {left}");
    }
}
