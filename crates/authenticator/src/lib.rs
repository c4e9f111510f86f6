//! `authenticator`: the mobile-app stand-in for PhoneFactor (SPEC §3.2).
//!
//! It pairs with an activation from the link the portal shows, keeps its
//! Ed25519 key and the verification-code secret in a state file, lists the
//! requests waiting for it and answers them with device-signed calls
//! (`gatehouse_domain::device`). See docs/authenticator.md.
//!
//! The `authenticator` binary is a thin wrapper around [`run`], which the
//! process tests of the portal also call in-process.

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use gatehouse_domain::device::{
    DEVICE_HEADER, DeviceSigner, SIGNATURE_HEADER, TIMESTAMP_HEADER, canonical_request,
};
use gatehouse_domain::oath::{self, Kind, OathParams};
use gatehouse_domain::{Clock, SystemClock};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PAIR_SCHEME: &str = "gatehouse-authenticator://pair";

#[derive(Parser)]
#[command(
    name = "authenticator",
    version,
    about = "The Gatehouse authenticator: approves PhoneFactor sign-ins like the mobile app"
)]
struct Args {
    /// The file holding the pairing (server, device, keys). Written with
    /// mode 0600.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_AUTHENTICATOR_STATE",
        default_value = "./authenticator.json"
    )]
    state: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pairs with an activation, from the link the portal's Activate
    /// PhoneFactor page shows in Mobile app mode.
    Pair {
        /// `gatehouse-authenticator://pair?url=…&token=…&user=…&issuer=…&secret=…`
        uri: String,
    },
    /// Lists the requests waiting for an answer.
    Pending,
    /// Approves a request with the number the portal shows.
    Approve {
        /// The request (default: the only, or the oldest, pending request).
        #[arg(long)]
        id: Option<String>,
        /// The two-digit number shown on the sign-in or activation page (or,
        /// for a sign-in through RADIUS, the one `pending` lists).
        #[arg(long)]
        number: i64,
    },
    /// Denies a request.
    Deny {
        /// The request (default: the only, or the oldest, pending request).
        #[arg(long)]
        id: Option<String>,
    },
    /// Reports a request as fraud: the sign-in is refused, the user blocked
    /// and the administrators told.
    Fraud {
        /// The request (default: the only, or the oldest, pending request).
        #[arg(long)]
        id: Option<String>,
    },
    /// Prints the current 6-digit verification code (for when the app
    /// cannot be reached).
    Code,
}

/// What pairing leaves behind; everything later calls need.
#[derive(Serialize, Deserialize)]
struct State {
    /// The portal's base URL, e.g. `http://127.0.0.1:8080`.
    url: String,
    device_id: String,
    username: String,
    /// The Ed25519 private key's 32-byte seed, hex.
    seed: String,
    /// The verification-code (TOTP) secret, Base32.
    secret: String,
}

/// The parts of a pairing link.
#[derive(Debug, PartialEq, Eq)]
struct PairingLink {
    url: String,
    token: String,
    user: Option<String>,
    issuer: Option<String>,
    secret: String,
}

#[derive(Deserialize)]
struct PairResponse {
    device_id: String,
    username: String,
}

#[derive(Deserialize)]
struct PendingRequest {
    id: String,
    purpose: String,
    username: String,
    portal: String,
    expires_at: String,
    /// The number to confirm when no page shows it (a RADIUS sign-in).
    #[serde(default)]
    number: Option<i64>,
}

#[derive(Serialize)]
struct Answer<'a> {
    decision: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    number: Option<i64>,
}

#[derive(Deserialize)]
struct AnswerResponse {
    status: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

/// Where the commands write what they print: standard output and error
/// in the binary, buffers in tests.
type Output<'a> = &'a mut (dyn Write + Send);

/// Runs the authenticator as the command line `args` asks (the first item
/// is the program name, as in `std::env::args_os()`), writing to `out` and
/// `err` what the binary prints to standard output and error. Returns the
/// exit code: 0 on success, 1 when the command failed, 2 for a usage error
/// (0 for `--help` and `--version`).
///
/// Needs a Tokio runtime with the I/O and time drivers (the binary runs it
/// on a current-thread one). Its HTTP calls are asynchronous, so it can be
/// awaited on any runtime, a test's included.
pub async fn run<I, T>(args: I, out: &mut (dyn Write + Send), err: &mut (dyn Write + Send)) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => {
            let target: Output<'_> = if e.use_stderr() { err } else { out };
            let _ = write!(target, "{e}");
            return e.exit_code();
        }
    };
    match execute(args, out, err).await {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "authenticator: {e:#}");
            1
        }
    }
}

async fn execute(args: Args, out: Output<'_>, err: Output<'_>) -> Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!(
            "gatehouse-authenticator/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .context("cannot set up the HTTP client")?;
    match args.command {
        Command::Pair { uri } => pair(&http, &args.state, &uri, out).await,
        Command::Pending => {
            let state = load(&args.state)?;
            let requests = pending(&http, &state).await?;
            if requests.is_empty() {
                writeln!(out, "no pending requests")?;
            }
            for r in requests {
                write!(
                    out,
                    "{} {} {} {} expires {}",
                    r.id, r.purpose, r.username, r.portal, r.expires_at
                )?;
                // No page shows this one's number: confirm it with
                // `approve ID --number N` if it is the sign-in you started.
                match r.number {
                    Some(n) => writeln!(out, " number {n:02}")?,
                    None => writeln!(out)?,
                }
            }
            Ok(())
        }
        Command::Approve { id, number } => {
            answer(&http, &args.state, id, "approve", Some(number), out, err).await
        }
        Command::Deny { id } => answer(&http, &args.state, id, "deny", None, out, err).await,
        Command::Fraud { id } => answer(&http, &args.state, id, "fraud", None, out, err).await,
        Command::Code => {
            let state = load(&args.state)?;
            writeln!(
                out,
                "{}",
                current_code(&state, SystemClock.now().seconds())?
            )?;
            Ok(())
        }
    }
}

async fn pair(http: &reqwest::Client, state_file: &Path, uri: &str, out: Output<'_>) -> Result<()> {
    let link = parse_pairing_link(uri)?;
    let base = Url::parse(&link.url)
        .with_context(|| format!("the pairing link's url {:?} is not a URL", link.url))?;
    if !matches!(base.scheme(), "http" | "https") {
        bail!(
            "the pairing link's url must be http or https, not {}",
            base.scheme()
        );
    }
    // Check the secret now rather than when the first code is asked for.
    oath::secret_from_base32(&link.secret)
        .map_err(|e| anyhow!("the pairing link's secret is not usable: {e}"))?;
    let signer = DeviceSigner::generate();
    let body = serde_json::json!({
        "token": link.token,
        "public_key": signer.public_key().to_base64(),
    });
    let url = endpoint(&link.url, "/api/v1/authenticator/pair")?;
    let resp = http
        .post(url.clone())
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let paired: PairResponse = read_json(resp).await?;
    let state = State {
        url: link.url.trim_end_matches('/').to_owned(),
        device_id: paired.device_id,
        username: paired.username,
        seed: hex::encode(signer.seed()),
        secret: link.secret,
    };
    save(state_file, &state)?;
    writeln!(out, "paired {} as {}", state.device_id, state.username)?;
    Ok(())
}

async fn pending(http: &reqwest::Client, state: &State) -> Result<Vec<PendingRequest>> {
    let resp = signed(
        http,
        state,
        Method::GET,
        "/api/v1/authenticator/requests",
        Vec::new(),
    )
    .await?;
    read_json(resp).await
}

async fn answer(
    http: &reqwest::Client,
    state_file: &Path,
    id: Option<String>,
    decision: &str,
    number: Option<i64>,
    out: Output<'_>,
    err: Output<'_>,
) -> Result<()> {
    let state = load(state_file)?;
    let id = match id {
        Some(id) => id,
        None => {
            let mut requests = pending(http, &state).await?;
            if requests.is_empty() {
                bail!("no pending requests to answer");
            }
            if requests.len() > 1 {
                writeln!(
                    err,
                    "authenticator: {} requests are pending; answering the oldest, {} (use --id to choose)",
                    requests.len(),
                    requests[0].id
                )?;
            }
            requests.swap_remove(0).id
        }
    };
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        bail!("{id:?} is not a request id (letters, digits, _ and -)");
    }
    let body = serde_json::to_vec(&Answer { decision, number })?;
    let resp = signed(
        http,
        &state,
        Method::POST,
        &format!("/api/v1/authenticator/requests/{id}/answer"),
        body,
    )
    .await?;
    let answered: AnswerResponse = read_json(resp).await?;
    writeln!(out, "{}", answered.status)?;
    Ok(())
}

/// Sends a device-signed request: the signature covers the method, the
/// path and query as sent, the timestamp and the exact body bytes.
async fn signed(
    http: &reqwest::Client,
    state: &State,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> Result<reqwest::Response> {
    let signer = signer(state)?;
    let url = endpoint(&state.url, path)?;
    let path_and_query = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let timestamp = SystemClock.now().millis();
    let signature = signer.sign(&canonical_request(
        method.as_str(),
        &path_and_query,
        timestamp,
        &body,
    ));
    let mut request = http
        .request(method, url.clone())
        .header(DEVICE_HEADER, &state.device_id)
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature);
    if !body.is_empty() {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
    }
    request
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))
}

/// The server's answer as `T`, or its `{"error"}` message as the error.
async fn read_json<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .context("the server's answer was cut off")?;
    if !status.is_success() {
        let message = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|e| e.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_owned());
        return Err(match status {
            StatusCode::UNAUTHORIZED => anyhow!("refused ({status}): {message}"),
            _ => anyhow!("{message} ({status})"),
        });
    }
    serde_json::from_slice(&bytes)
        .with_context(|| format!("the server's answer is not what was expected ({status})"))
}

fn endpoint(base: &str, path: &str) -> Result<Url> {
    let joined = format!("{}{path}", base.trim_end_matches('/'));
    Url::parse(&joined).with_context(|| format!("{joined:?} is not a URL"))
}

fn signer(state: &State) -> Result<DeviceSigner> {
    let seed: [u8; 32] = hex::decode(state.seed.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow!("the state file's key is damaged; pair again"))?;
    Ok(DeviceSigner::from_seed(&seed))
}

/// The verification code at `unix_seconds`: TOTP of the pairing secret,
/// as the server checks it (RFC 6238, SHA-1, 6 digits, 30 s).
fn current_code(state: &State, unix_seconds: i64) -> Result<String> {
    let secret = oath::secret_from_base32(&state.secret)
        .map_err(|e| anyhow!("the state file's secret is damaged ({e}); pair again"))?;
    let params = OathParams::vip_totp();
    let Kind::Totp { period } = params.kind else {
        bail!("the verification code is time-based");
    };
    let step = oath::totp_step(unix_seconds, period);
    let counter = u64::try_from(step).context("the clock is before 1970")?;
    Ok(oath::hotp(&secret, counter, params.digits, params.alg))
}

fn parse_pairing_link(uri: &str) -> Result<PairingLink> {
    let uri = uri.trim();
    let query = uri
        .strip_prefix(PAIR_SCHEME)
        .and_then(|rest| rest.strip_prefix('?'))
        .ok_or_else(|| {
            anyhow!("a pairing link starts with {PAIR_SCHEME}? (copy it from the Activate PhoneFactor page)")
        })?;
    let (mut url, mut token, mut user, mut issuer, mut secret) = (None, None, None, None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value)
            .with_context(|| format!("the pairing link's {key} is not percent-encoded text"))?;
        match key {
            "url" => url = Some(value),
            "token" => token = Some(value),
            "user" => user = Some(value),
            "issuer" => issuer = Some(value),
            "secret" => secret = Some(value),
            _ => {} // Later portals may add parameters.
        }
    }
    let required = |v: Option<String>, name: &str| {
        v.filter(|s| !s.is_empty())
            .ok_or_else(|| anyhow!("the pairing link has no {name}"))
    };
    Ok(PairingLink {
        url: required(url, "url")?,
        token: required(token, "token")?,
        user,
        issuer,
        secret: required(secret, "secret")?,
    })
}

/// RFC 3986 percent-decoding (a `+` stays a `+`: the portal encodes spaces
/// as `%20`).
fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| anyhow!("a % is not followed by two hex digits"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| anyhow!("not UTF-8"))
}

fn load(path: &Path) -> Result<State> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the state file {} (pair first with `authenticator pair LINK`)",
            path.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("the state file {} is damaged; pair again", path.display()))
}

/// Writes the state atomically (a temporary file in the same directory,
/// synced, then renamed over), readable by the owner only: it holds the
/// private key.
fn save(path: &Path, state: &State) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(&serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow!("cannot write the state file {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_links_parse_and_bad_ones_are_refused() {
        let link = parse_pairing_link(
            "gatehouse-authenticator://pair?url=http%3A//127.0.0.1%3A8080&token=gh_p_abc&user=frank%20o&issuer=Gatehouse&secret=JBSWY3DPEHPK3PXP",
        )
        .unwrap();
        assert_eq!(
            link,
            PairingLink {
                url: "http://127.0.0.1:8080".into(),
                token: "gh_p_abc".into(),
                user: Some("frank o".into()),
                issuer: Some("Gatehouse".into()),
                secret: "JBSWY3DPEHPK3PXP".into(),
            }
        );
        assert!(parse_pairing_link("otpauth://totp/x?secret=AAAA").is_err());
        assert!(parse_pairing_link("gatehouse-authenticator://pair?url=x&secret=AA").is_err());
        assert!(
            parse_pairing_link("gatehouse-authenticator://pair?url=%zz&token=t&secret=A").is_err()
        );
    }

    #[test]
    fn the_code_is_rfc_6238_totp() {
        // RFC 6238 Appendix B, SHA-1, T = 59 s: 94287082 (8 digits); the
        // 6-digit code is its last six.
        let state = State {
            url: String::new(),
            device_id: String::new(),
            username: String::new(),
            seed: String::new(),
            secret: oath::secret_to_base32(b"12345678901234567890"),
        };
        assert_eq!(current_code(&state, 59).unwrap(), "287082");
        assert_eq!(current_code(&state, 1_111_111_109).unwrap(), "081804");
    }

    #[test]
    fn state_is_written_owner_only_and_read_back() {
        let dir = std::env::temp_dir().join(format!("authenticator-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("state.json");
        let state = State {
            url: "http://x".into(),
            device_id: "dev_1".into(),
            username: "frank".into(),
            seed: hex::encode([7u8; 32]),
            secret: "JBSWY3DPEHPK3PXP".into(),
        };
        save(&file, &state).unwrap();
        save(&file, &state).unwrap(); // Replaces an existing file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let back = load(&file).unwrap();
        assert_eq!(back.device_id, "dev_1");
        assert_eq!(signer(&back).unwrap().seed(), [7u8; 32]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
