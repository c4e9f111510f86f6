//! The one way these tests start `gatehouse serve` ([`Server`]) and run its
//! other commands ([`gatehouse`], [`ok`]).
//!
//! A [`Server`] owns its process, its data directory, its port and its log
//! file. Dropping it kills the process and waits for it, so a test that
//! panics (its locals are dropped while unwinding) never leaves a server
//! running; `leak.rs` checks exactly that.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a server may take to answer `/healthz` (a debug build on a
/// busy machine, running migrations on a fresh database).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How many times a start is retried on a new port when the chosen one was
/// taken between choosing and binding it.
const PORT_ATTEMPTS: usize = 5;

/// `gatehouse --data-dir DIR`, without the environment's database: every
/// command of these tests runs on the directory's SQLite database.
pub fn command(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    c.arg("--data-dir")
        .arg(dir)
        .env_remove("GATEHOUSE_DATABASE_URL");
    c
}

/// Runs `gatehouse --data-dir DIR ARGS…`, with `stdin` as its standard input.
pub fn gatehouse(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = command(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gatehouse");
    let mut input = child.stdin.take().expect("piped stdin");
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// The last line of a successful command's output (the test fails with
/// the command's standard error otherwise).
pub fn last_line(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", stderr(o));
    stdout(o).lines().last().unwrap_or("").trim().to_owned()
}

/// Runs a command that must succeed; returns the last line it printed.
pub fn ok(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let o = gatehouse(dir, args, stdin);
    assert!(
        o.status.success(),
        "gatehouse {args:?} failed: {}",
        stderr(&o)
    );
    last_line(&o)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// How a server is started.
#[derive(Clone, Debug)]
pub struct Options {
    /// `GATEHOUSE_DELIVERY`; `None` removes it (the configuration decides).
    delivery: Option<&'static str>,
    /// `GATEHOUSE_DELIVERY_WORKER`; `None` keeps the default (on).
    worker: Option<bool>,
    /// Further environment variables.
    env: Vec<(String, String)>,
    /// No command at all, as `cargo run` starts it: run from the directory,
    /// data in `DIR/data` (`GATEHOUSE_DATA_DIR`), the address from
    /// `GATEHOUSE_LISTEN`.
    bare: bool,
}

impl Default for Options {
    /// `serve` with the virtual phone (PhoneFactor needs a delivery).
    fn default() -> Self {
        Self {
            delivery: Some("virtual"),
            worker: None,
            env: Vec::new(),
            bare: false,
        }
    }
}

impl Options {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs the delivery worker in this instance, or not.
    pub fn worker(mut self, on: bool) -> Self {
        self.worker = Some(on);
        self
    }

    /// No `GATEHOUSE_DELIVERY`: the delivery the configuration gives.
    pub fn configured_delivery(mut self) -> Self {
        self.delivery = None;
        self
    }

    /// Sets a further variable (e.g. a `GATEHOUSE_*` setting).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `gatehouse` with no arguments (see the field).
    pub fn no_command(mut self) -> Self {
        self.bare = true;
        self
    }
}

/// A server process that ended before it answered `/healthz`.
pub struct Exited {
    /// The data directory, given back for the test to look into.
    pub dir: TempDir,
    pub status: ExitStatus,
    /// Standard output and error.
    pub log: String,
}

/// A running `gatehouse serve` (or bare `gatehouse`), killed when dropped.
pub struct Server {
    // Fields drop in order: the process is killed before the directory it
    // uses is removed.
    process: Process,
    port: u16,
    log: PathBuf,
    starts: usize,
    dir: TempDir,
}

/// The server's process: killed and waited for when dropped, whatever the
/// test is doing (returning, failing an assertion, panicking in here).
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Process {
    /// SIGKILL (no graceful shutdown), then reaps it.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Waits until `/healthz` on `port` answers 200, or returns the exit
    /// status if the process ends first; fails the test with the log after
    /// [`START_TIMEOUT`].
    async fn wait_healthy(&mut self, port: u16, log: &Path) -> Result<(), ExitStatus> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}/healthz");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Err(status);
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status() == reqwest::StatusCode::OK
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                panic!(
                    "gatehouse did not answer {url} within {START_TIMEOUT:?}: {}",
                    read_log(log, 0).trim_end()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Server {
    /// A server on a new, empty data directory.
    pub async fn fresh(options: Options) -> Self {
        Self::start(tempfile::tempdir().unwrap(), options).await
    }

    /// A server on `dir`, answering `/healthz`; the test fails with the
    /// server's log if it does not start.
    pub async fn start(dir: TempDir, options: Options) -> Self {
        match Self::try_start(dir, options).await {
            Ok(server) => server,
            Err(e) => panic!(
                "gatehouse did not start ({}): {}",
                e.status,
                e.log.trim_end()
            ),
        }
    }

    /// Like [`Server::start`], but a server that exits on its own is
    /// returned as an error (its status and log) rather than failing.
    pub async fn try_start(dir: TempDir, options: Options) -> Result<Self, Exited> {
        let log = dir.path().join("server.log");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port();
            let from = std::fs::metadata(&log).map_or(0, |m| m.len());
            let mut process = Process(spawn(dir.path(), &log, port, &options, attempt));
            match process.wait_healthy(port, &log).await {
                Ok(()) => {
                    return Ok(Server {
                        process,
                        port,
                        log,
                        starts: attempt,
                        dir,
                    });
                }
                // Someone took the port between choosing and binding it.
                Err(_)
                    if attempt < PORT_ATTEMPTS
                        && read_log(&log, from).contains("cannot listen on") => {}
                Err(status) => {
                    return Err(Exited {
                        log: read_log(&log, 0),
                        dir,
                        status,
                    });
                }
            }
        }
    }

    /// Kills the process (SIGKILL: no graceful shutdown) and waits for it.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Kills the process if it still runs, and starts a new one on the same
    /// directory and port with `options`; the clients of the old one talk
    /// to the new one.
    pub async fn restart(&mut self, options: Options) {
        self.kill();
        self.starts += 1;
        self.process = Process(spawn(
            self.dir.path(),
            &self.log,
            self.port,
            &options,
            self.starts,
        ));
        if let Err(status) = self.process.wait_healthy(self.port, &self.log).await {
            panic!(
                "gatehouse did not start again ({status}): {}",
                self.log().trim_end()
            );
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.process.0.id()
    }

    /// The data directory (for a bare start, the directory the process runs
    /// in; its data are then in `data/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the server wrote so far (standard output and error), from
    /// all its starts.
    pub fn log(&self) -> String {
        read_log(&self.log, 0)
    }
}

fn read_log(log: &Path, from: u64) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let from = usize::try_from(from).unwrap_or(0).min(text.len());
    String::from_utf8_lossy(&text[from..]).into_owned()
}

/// A port nobody listened on a moment ago. Another process may take it
/// before the server binds it; [`Server::try_start`] then tries another.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(dir: &Path, log: &Path, port: u16, options: &Options, start: usize) -> Child {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("the server's log file");
    writeln!(file, "--- start {start}, port {port}, {options:?}").unwrap();
    let listen = format!("127.0.0.1:{port}");
    let mut c = if options.bare {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        c.current_dir(dir)
            .env("GATEHOUSE_DATA_DIR", dir.join("data"))
            .env("GATEHOUSE_LISTEN", &listen)
            .env_remove("GATEHOUSE_DATABASE_URL");
        c
    } else {
        let mut c = command(dir);
        c.args(["serve", "--listen", &listen]);
        c
    };
    match options.delivery {
        Some(mode) => c.env("GATEHOUSE_DELIVERY", mode),
        None => c.env_remove("GATEHOUSE_DELIVERY"),
    };
    if let Some(on) = options.worker {
        c.env("GATEHOUSE_DELIVERY_WORKER", on.to_string());
    }
    c.envs(options.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("start gatehouse")
}
