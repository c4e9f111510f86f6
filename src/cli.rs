//! The command line: `serve` and the administration commands.

use crate::config::Config;
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use gatehouse_app::service::{self, Caller};
use gatehouse_app::{AppError, AppState, DeliveryMode};
use gatehouse_domain::{AccountNumber, SystemClock, Username, secret};
use gatehouse_store::{Scope, Store, Users, accounts};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "gatehouse",
    version,
    about = "Customer portal with external two-factor authentication"
)]
pub struct Cli {
    /// Data directory (SQLite database, configuration file).
    #[arg(
        long,
        env = "GATEHOUSE_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    data_dir: PathBuf,
    /// Configuration file (TOML); default DATA_DIR/gatehouse.toml if present.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// What to do; with none, `serve` (the portal on its configured address).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the portal.
    Serve {
        /// Address to listen on (overrides the configuration).
        #[arg(long)]
        listen: Option<String>,
        /// Also create a demo customer account with users, and deliver
        /// texts and calls to the virtual phone (`delivery = "virtual"`).
        #[arg(long)]
        demo: bool,
    },
    /// The delivery mode recorded in the database (none, virtual, gateway).
    DeliveryMode {
        #[command(subcommand)]
        command: DeliveryModeCommand,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Customer accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Portal users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Bearer API tokens.
    ApiToken {
        #[command(subcommand)]
        command: ApiTokenCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The credential inventory (Symantec Identity Protection).
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Monthly prices.
    Price {
        #[command(subcommand)]
        command: PriceCommand,
    },
    /// Promo codes.
    Promo {
        #[command(subcommand)]
        command: PromoCommand,
    },
    /// Master Services Agreement versions.
    Msa {
        #[command(subcommand)]
        command: MsaCommand,
    },
    /// Clients of the validation API.
    ApiClient {
        #[command(subcommand)]
        command: ApiClientCommand,
    },
    /// Monthly billing.
    Billing {
        #[command(subcommand)]
        command: BillingCommand,
    },
}

#[derive(Subcommand, Debug)]
enum BillingCommand {
    /// Close a month that has ended: one statement per account with charges.
    /// Running it again for a closed month changes nothing. Prints one line
    /// per statement and, last, the period's total.
    Run {
        /// The month, YYYY-MM.
        #[arg(long)]
        period: String,
        /// Also write the period's statements to this file as CSV.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum TokensCommand {
    /// Import a PSKC (RFC 6030) seed file; prints `imported N`.
    Import {
        file: PathBuf,
        /// The pre-shared AES-128 key, in hex.
        #[arg(long, conflicts_with = "passphrase_stdin")]
        preshared_key: Option<String>,
        /// Read the passphrase (PBKDF2) from standard input.
        #[arg(long)]
        passphrase_stdin: bool,
    },
    /// Register credentials that only the vendor's service validates;
    /// prints `added N`.
    AddRemote {
        /// A Credential ID (repeat for several).
        #[arg(long = "credential-id", required = true)]
        credential_ids: Vec<String>,
    },
    /// Issue soft credentials; prints `CREDENTIAL_ID otpauth://…` per line.
    IssueSoft {
        #[arg(long, default_value_t = 1)]
        count: usize,
    },
}

#[derive(Subcommand, Debug)]
enum PriceCommand {
    /// Set a method's monthly price.
    Set {
        /// symantec_vip or phonefactor.
        #[arg(long)]
        method: String,
        /// Minor units (cents).
        #[arg(long)]
        amount: i64,
        #[arg(long)]
        currency: String,
    },
}

#[derive(Subcommand, Debug)]
enum PromoCommand {
    /// Create a promo code.
    Create {
        #[arg(long)]
        code: String,
        #[arg(long, conflicts_with = "amount_off")]
        percent_off: Option<i64>,
        /// Minor units (cents) off each month.
        #[arg(long)]
        amount_off: Option<i64>,
        /// Billing months the discount applies to (default: for ever).
        #[arg(long)]
        months: Option<i64>,
        #[arg(long)]
        max_redemptions: Option<i64>,
        /// Last valid day, YYYY-MM-DD (UTC).
        #[arg(long)]
        valid_until: Option<String>,
        /// Only for this method.
        #[arg(long)]
        method: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum MsaCommand {
    /// Publish a new MSA version from a text file.
    Publish {
        #[arg(long)]
        version: String,
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum ApiClientCommand {
    /// Create an API client; prints its bearer secret.
    Create {
        #[arg(long)]
        name: String,
    },
    /// One line per API client: `ID NAME CREATED`.
    List,
    /// Revoke an API client by id: its secret is refused from then on.
    Revoke { id: i64 },
}

#[derive(Subcommand, Debug)]
enum AccountCommand {
    /// Create a customer account; prints its account number.
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user; prints the user id.
    Create {
        /// The account number.
        #[arg(long)]
        account: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        name: String,
        /// operator, admin or user.
        #[arg(long)]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ApiTokenCommand {
    /// Create a bearer token acting with the user's rights; prints it.
    Create {
        #[arg(long)]
        username: String,
        /// A label for the token.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Days until the token expires (1 to 366).
        #[arg(long, default_value_t = service::tokens::DEFAULT_DAYS)]
        expires_in_days: i64,
    },
    /// One line per live token: `ID USERNAME CREATED EXPIRES`.
    List {
        /// Only this user's tokens.
        #[arg(long)]
        username: Option<String>,
    },
    /// Revoke a token: it is refused from then on.
    Revoke {
        /// The token's ID, as `list` shows it.
        id: i64,
    },
}

#[derive(Subcommand, Debug)]
enum DeliveryModeCommand {
    /// Print the recorded mode and the mode of this configuration.
    Show,
    /// Record a mode on purpose (a deliberate change of delivery): every
    /// instance configured otherwise refuses to start from then on.
    Set {
        /// none, virtual or gateway.
        mode: String,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check the hash chain; prints `ok N entries` or names the first bad entry.
    Verify,
}

pub async fn run(mut cli: Cli) -> anyhow::Result<ExitCode> {
    // `gatehouse` alone serves the portal: the README's first command is
    // `cargo run --release` with no arguments (SPEC §11).
    let command = cli.command.take().unwrap_or(Command::Serve {
        listen: None,
        demo: false,
    });
    run_parsed(cli, command).await
}

async fn run_parsed(cli: Cli, command: Command) -> anyhow::Result<ExitCode> {
    let writes = !matches!(
        command,
        Command::Serve { .. } | Command::Migrate | Command::Audit { .. }
    );
    let (data_dir, config_path) = (cli.data_dir.clone(), cli.config.clone());
    let code = run_command(cli, command).await?;
    if writes {
        // Link this command's audit entries into the chain before exiting.
        let config = Config::load(&data_dir, config_path.as_deref())?;
        let store = open(&config, &data_dir).await?;
        gatehouse_store::audit::seal_all(&store).await?;
    }
    Ok(code)
}

async fn run_command(cli: Cli, command: Command) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(&cli.data_dir, cli.config.as_deref())?;
    if let Command::Serve { listen, demo } = &command {
        if let Some(l) = listen {
            config.listen = l.clone();
        }
        if *demo {
            config.delivery = Some(crate::config::DeliveryChoice::Virtual);
        }
    }
    init_tracing(&config, matches!(command, Command::Serve { .. }));
    match command {
        Command::Serve { demo, .. } => {
            serve_command(&config, &cli.data_dir, demo).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::DeliveryMode {
            command: DeliveryModeCommand::Show,
        } => {
            let st = state(&config, &cli.data_dir).await?;
            let recorded = service::delivery::recorded_mode(&st).await.map_err(human)?;
            println!("configured {}", st.config.delivery.mode());
            println!("recorded {}", recorded.as_deref().unwrap_or("(not yet)"));
            Ok(ExitCode::SUCCESS)
        }
        Command::DeliveryMode {
            command: DeliveryModeCommand::Set { mode },
        } => {
            let Some(mode) = DeliveryMode::parse(mode.trim()) else {
                bail!("the delivery mode is none, virtual or gateway, not \"{mode}\"");
            };
            let store = open(&config, &cli.data_dir).await?;
            // The configuration of this machine need not be the one the
            // servers run with, so it is not checked against `mode`.
            let st = AppState::new(
                store,
                Arc::new(SystemClock),
                gatehouse_app::AppConfig::default(),
                None,
            );
            let before = service::delivery::set_mode(&st, &Caller::cli(), mode)
                .await
                .map_err(human)?;
            println!(
                "delivery mode {mode} recorded (was {})",
                before.as_deref().unwrap_or("not recorded")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            open(&config, &cli.data_dir).await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Account {
            command: AccountCommand::Create { name },
        } => {
            let st = state(&config, &cli.data_dir).await?;
            let acc = service::accounts::create(&st, &Caller::cli(), &name)
                .await
                .map_err(human)?;
            println!("{}", acc.number);
            Ok(ExitCode::SUCCESS)
        }
        Command::User {
            command:
                UserCommand::Create {
                    account,
                    username,
                    email,
                    name,
                    role,
                    password_stdin,
                },
        } => {
            if !password_stdin {
                bail!("pass the password on standard input with --password-stdin");
            }
            let password = read_stdin_line()?;
            let st = state(&config, &cli.data_dir).await?;
            let number = AccountNumber::parse(&account).map_err(|e| anyhow::anyhow!(e.message))?;
            let acc = {
                let mut conn = st.store.conn().await?;
                accounts::find_by_number(&mut conn, number.as_str())
                    .await
                    .map_err(|_| anyhow::anyhow!("no account with number {number}"))?
            };
            let created = service::users::create(
                &st,
                &Caller::cli(),
                service::users::CreateUser {
                    account: Some(acc.id),
                    username,
                    email,
                    name,
                    role,
                    password: Some(password),
                    must_change_password: false,
                },
            )
            .await
            .map_err(human)?;
            println!("{}", created.user.id.0);
            Ok(ExitCode::SUCCESS)
        }
        Command::ApiToken { command } => {
            let st = state(&config, &cli.data_dir).await?;
            api_token_command(&st, command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tokens {
            command:
                TokensCommand::Import {
                    file,
                    preshared_key,
                    passphrase_stdin,
                },
        } => {
            let xml =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let key = match (preshared_key, passphrase_stdin) {
                (Some(hex_key), _) => {
                    let bytes = hex::decode(hex_key.trim())
                        .context("--preshared-key must be hex, e.g. 000102…0f")?;
                    Some(gatehouse_domain::pskc::DecryptionKey::PreShared(bytes))
                }
                (None, true) => Some(gatehouse_domain::pskc::DecryptionKey::Passphrase(
                    read_stdin_line()?,
                )),
                (None, false) => None,
            };
            let st = state(&config, &cli.data_dir).await?;
            let source = file
                .file_name()
                .map_or_else(|| "pskc".into(), |n| n.to_string_lossy().into_owned());
            let report = service::credentials::import_pskc(&st, &Caller::cli(), &xml, key, &source)
                .await
                .map_err(human)?;
            for (id, why) in &report.refused {
                eprintln!("refused {id}: {why}");
            }
            println!("imported {}", report.imported.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Tokens {
            command: TokensCommand::AddRemote { credential_ids },
        } => {
            let st = state(&config, &cli.data_dir).await?;
            let report = service::credentials::add_remote(&st, &Caller::cli(), &credential_ids)
                .await
                .map_err(human)?;
            for (id, why) in &report.refused {
                eprintln!("refused {id}: {why}");
            }
            println!("added {}", report.imported.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Tokens {
            command: TokensCommand::IssueSoft { count },
        } => {
            let st = state(&config, &cli.data_dir).await?;
            for c in service::credentials::issue_soft(&st, &Caller::cli(), count)
                .await
                .map_err(human)?
            {
                println!("{} {}", c.credential_id, c.uri);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Price {
            command:
                PriceCommand::Set {
                    method,
                    amount,
                    currency,
                },
        } => {
            let st = state(&config, &cli.data_dir).await?;
            service::catalog::set_price(&st, &Caller::cli(), &method, amount, &currency)
                .await
                .map_err(human)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Promo {
            command:
                PromoCommand::Create {
                    code,
                    percent_off,
                    amount_off,
                    months,
                    max_redemptions,
                    valid_until,
                    method,
                },
        } => {
            let st = state(&config, &cli.data_dir).await?;
            let p = service::catalog::NewPromo {
                code,
                percent_off,
                amount_off,
                months,
                max_redemptions,
                valid_until,
                method,
            };
            service::catalog::create_promo(&st, &Caller::cli(), p)
                .await
                .map_err(human)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Msa {
            command: MsaCommand::Publish { version, file },
        } => {
            let body = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let st = state(&config, &cli.data_dir).await?;
            service::catalog::publish_msa(&st, &Caller::cli(), &version, &body)
                .await
                .map_err(human)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ApiClient {
            command: ApiClientCommand::Create { name },
        } => {
            let st = state(&config, &cli.data_dir).await?;
            let secret = service::validate::create_client(&st, &Caller::cli(), &name)
                .await
                .map_err(human)?;
            println!("{secret}");
            Ok(ExitCode::SUCCESS)
        }
        Command::ApiClient {
            command: ApiClientCommand::List,
        } => {
            let st = state(&config, &cli.data_dir).await?;
            let clients = service::validate::list_clients(&st, &Caller::cli())
                .await
                .map_err(human)?;
            for c in clients {
                println!("{} {} {}", c.id, c.name, c.created_at.to_rfc3339());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ApiClient {
            command: ApiClientCommand::Revoke { id },
        } => {
            let st = state(&config, &cli.data_dir).await?;
            service::validate::revoke_client(&st, &Caller::cli(), id)
                .await
                .map_err(human)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Billing {
            command: BillingCommand::Run { period, csv },
        } => {
            let st = state(&config, &cli.data_dir).await?;
            let caller = Caller::cli();
            let out = service::billing::run(&st, &caller, &period)
                .await
                .map_err(human)?;
            if out.newly_closed {
                println!(
                    "closed {}: {} statement(s)",
                    out.period,
                    out.statements.len()
                );
            } else {
                println!(
                    "{} was already closed on {}; statements unchanged",
                    out.period,
                    out.closed_at.display()
                );
            }
            for s in &out.statements {
                println!(
                    "{} {}: {} line(s), {}",
                    s.account_number,
                    s.account_name,
                    s.lines.len(),
                    s.totals.display()
                );
            }
            if let Some(file) = csv {
                std::fs::write(&file, service::billing::to_csv(&out.statements)).with_context(
                    || {
                        format!(
                            "writing {} (the period is closed; run again to retry the CSV)",
                            file.display()
                        )
                    },
                )?;
                service::billing::record_export(
                    &st,
                    &caller,
                    out.period,
                    &out.statements,
                    &format!("written to {}", file.display()),
                )
                .await
                .map_err(human)?;
            }
            println!("total {}", out.total.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let store = open(&config, &cli.data_dir).await?;
            gatehouse_store::audit::seal_all(&store).await?;
            let mut conn = store.conn().await?;
            match gatehouse_store::audit::verify(&mut conn).await? {
                Ok(n) => {
                    println!("ok {n} entries");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("FAILED: {e}");
                    eprintln!("audit log verification failed: {e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}

/// Service errors carry messages meant for people; show them as they are.
async fn api_token_command(st: &AppState, command: ApiTokenCommand) -> anyhow::Result<()> {
    let caller = Caller::cli();
    match command {
        ApiTokenCommand::Create {
            username,
            name,
            expires_in_days,
        } => {
            let user = find_user(st, &username).await?;
            let created =
                service::tokens::create(st, &caller, user, Some(&name), Some(expires_in_days))
                    .await
                    .map_err(human)?;
            eprintln!(
                "token {} for {} expires {}",
                created.token.id,
                created.token.username,
                created.token.expires_at.to_rfc3339()
            );
            println!("{}", created.secret);
        }
        ApiTokenCommand::List { username } => {
            let user = match username {
                Some(u) => Some(find_user(st, &u).await?),
                None => None,
            };
            for t in service::tokens::list(st, &caller, user)
                .await
                .map_err(human)?
            {
                println!(
                    "{} {} {} {}",
                    t.id,
                    t.username,
                    t.created_at.to_rfc3339(),
                    t.expires_at.to_rfc3339()
                );
            }
        }
        ApiTokenCommand::Revoke { id } => {
            service::tokens::revoke(st, &caller, id)
                .await
                .map_err(|e| match e {
                    AppError::NotFound => anyhow::anyhow!("no API token with ID {id}"),
                    e => human(e),
                })?;
        }
    }
    Ok(())
}

async fn find_user(st: &AppState, username: &str) -> anyhow::Result<gatehouse_domain::UserId> {
    let username = Username::parse(username).map_err(|e| anyhow::anyhow!(e.message))?;
    let mut conn = st.store.conn().await?;
    Ok(Users::new(Scope::All)
        .find_by_username(&mut conn, username.as_str())
        .await
        .map_err(|_| anyhow::anyhow!("no user named {username}"))?
        .id)
}

fn human(e: AppError) -> anyhow::Error {
    if let AppError::Internal(cause) = &e {
        return anyhow::anyhow!("internal error: {cause}");
    }
    match e.field() {
        Some(f) => anyhow::anyhow!("{f}: {}", e.message()),
        None => anyhow::anyhow!("{}", e.message()),
    }
}

fn read_stdin_line() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading the password from standard input")?;
    let line = s.lines().next().unwrap_or("").to_owned();
    if line.is_empty() {
        bail!("no password on standard input");
    }
    Ok(line)
}

fn init_tracing(config: &Config, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if serving {
        config.log_level.as_str()
    } else {
        "warn"
    };
    let filter =
        EnvFilter::try_from_env("GATEHOUSE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn open(config: &Config, data_dir: &Path) -> anyhow::Result<Store> {
    let url = config.database_url(data_dir)?;
    Store::open(&url, config.database_max_connections)
        .await
        .with_context(|| "opening the database".to_string())
}

async fn state(config: &Config, data_dir: &Path) -> anyhow::Result<AppState> {
    let store = open(config, data_dir).await?;
    Ok(AppState::new(
        store,
        Arc::new(SystemClock),
        config.web(data_dir)?,
        None,
    ))
}

async fn serve_command(config: &Config, data_dir: &Path, demo: bool) -> anyhow::Result<()> {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    let store = open(config, data_dir).await?;
    let st = AppState::new(
        store,
        Arc::new(SystemClock),
        config.web(data_dir)?,
        Some(metrics),
    );
    let base = format!("http://{}", config.listen);
    let mode = st.config.delivery.mode();
    match service::delivery::check_mode(&st).await.map_err(human)? {
        service::delivery::ModeCheck::Recorded => {
            tracing::info!(mode = %mode, "recorded the delivery mode in the database");
        }
        service::delivery::ModeCheck::Matches => {}
        service::delivery::ModeCheck::Differs { recorded } => bail!(
            "refusing to start: this instance is configured for delivery mode {mode} ({}), \
             but the database records {recorded}. An instance delivering differently from the others \
             would send real users' texts and calls elsewhere (e.g. to the virtual phone). \
             Make this instance's configuration match, or, to change the delivery of every instance \
             on purpose, run `gatehouse delivery-mode set {mode}` and start again.",
            describe(mode)
        ),
    }
    if let Some(first) = service::accounts::first_run(&st).await.map_err(human)? {
        println!();
        println!("================================================================");
        println!(" Gatehouse first run: the provider account and an operator were created.");
        println!();
        println!("   Sign in at       {base}/login");
        println!("   Username         {}", first.username);
        println!("   Password         {}", first.one_time_password);
        println!();
        println!(" This one-time password is shown only now; you will choose your");
        println!(" own password at the first sign-in.");
        println!("================================================================");
        println!();
    }
    if demo {
        crate::cli::seed_demo(&st, &base).await?;
    }
    match mode {
        DeliveryMode::Virtual => {
            println!("****************************************************************");
            println!(" VIRTUAL DELIVERY (demo and test mode, chosen explicitly).");
            println!(" PhoneFactor texts and calls go to the VIRTUAL PHONE, not to real");
            println!(" phones: {base}/virtual-phone (each user sees only their own");
            println!(" numbers; operators see all). Anyone with a user's password can");
            println!(" read that user's codes there: do not use this for real users.");
            println!(" For production configure [twilio] or [http_sms] in gatehouse.toml.");
            println!("****************************************************************");
            tracing::warn!(
                "virtual delivery: PhoneFactor texts and calls go to the virtual phone, not to real phones"
            );
        }
        DeliveryMode::None => {
            println!("----------------------------------------------------------------");
            println!(" PhoneFactor is OFF: no delivery for texts and calls is configured,");
            println!(" so PhoneFactor cannot be ordered or activated.");
            println!(" To offer it, add a [twilio] or [http_sms] table to");
            println!(" gatehouse.toml (see the README), or for a demo start with");
            println!(" `serve --demo` or delivery = \"virtual\" (GATEHOUSE_DELIVERY=virtual),");
            println!(" then run `gatehouse delivery-mode set <mode>` once and restart.");
            println!("----------------------------------------------------------------");
            tracing::warn!(
                "no delivery for texts and calls configured: PhoneFactor cannot be ordered or activated"
            );
        }
        DeliveryMode::Gateway => {}
    }
    gatehouse_web::serve(st, &config.listen).await
}

/// Where a delivery mode comes from in the configuration.
fn describe(mode: DeliveryMode) -> &'static str {
    match mode {
        DeliveryMode::None => "no [twilio] or [http_sms] table, no delivery setting",
        DeliveryMode::Virtual => {
            "delivery = \"virtual\", GATEHOUSE_DELIVERY=virtual or serve --demo"
        }
        DeliveryMode::Gateway => "a [twilio] or [http_sms] table",
    }
}

/// `serve --demo`: a demo customer with an administrator and a few users.
pub async fn seed_demo(st: &AppState, base: &str) -> anyhow::Result<()> {
    let caller = Caller::cli();
    let existing = {
        let mut conn = st.store.conn().await?;
        Users::new(Scope::All)
            .find_by_username(&mut conn, "demo-admin")
            .await
            .is_ok()
    };
    if existing {
        println!("Demo account already present: sign in at {base}/login as demo-admin.");
        return Ok(());
    }
    let acc = service::accounts::create(st, &caller, "Demo Customer Ltd")
        .await
        .map_err(human)?;
    let admin_password = secret::one_time_password();
    let create = |username: &str, name: &str, role: &str, password: Option<String>| {
        service::users::CreateUser {
            account: Some(acc.id),
            username: username.into(),
            email: format!("{username}@demo.example"),
            name: name.into(),
            role: role.into(),
            password,
            must_change_password: false,
        }
    };
    service::users::create(
        st,
        &caller,
        create(
            "demo-admin",
            "Dana Admin",
            "admin",
            Some(admin_password.clone()),
        ),
    )
    .await
    .map_err(human)?;
    let mut demo_users = Vec::new();
    for (u, n) in [
        ("alice", "Alice Archer"),
        ("bob", "Bob Baker"),
        ("carol", "Carol Chen"),
        ("dave", "Dave Diaz"),
    ] {
        let created =
            service::users::create(st, &caller, create(&format!("demo-{u}"), n, "user", None))
                .await
                .map_err(human)?;
        demo_users.push((created.user.username, created.one_time_password));
    }
    // A catalog to order from, if the operator has not set one up yet.
    let (has_prices, has_msa) = {
        let mut conn = st.store.conn().await?;
        (
            gatehouse_store::catalog::price(&mut conn, "phonefactor")
                .await?
                .is_some(),
            gatehouse_store::catalog::current_msa(&mut conn)
                .await?
                .is_some(),
        )
    };
    if !has_prices {
        service::catalog::set_price(st, &caller, "symantec_vip", 500, "USD")
            .await
            .map_err(human)?;
        service::catalog::set_price(st, &caller, "phonefactor", 300, "USD")
            .await
            .map_err(human)?;
    }
    if !has_msa {
        service::catalog::publish_msa(
            st,
            &caller,
            "demo-1",
            "Demo Master Services Agreement\n\nThis agreement is for demonstration only.\n",
        )
        .await
        .map_err(human)?;
    }
    let soft = service::credentials::issue_soft(st, &caller, 3)
        .await
        .map_err(human)?;
    println!("Demo customer account {} created.", acc.number);
    println!("   Sign in at {base}/login as demo-admin with password {admin_password}");
    for (name, otp) in &demo_users {
        if let Some(p) = otp {
            println!("   Demo user {name}: one-time password {p} (changed at the first sign-in)");
        }
    }
    println!(
        "   Soft credentials for Symantec Identity Protection (add them to an authenticator app):"
    );
    for c in &soft {
        println!("     {} {}", c.credential_id, c.uri);
    }
    println!(
        "   Order PhoneFactor for a demo user and follow its texts and calls at {base}/virtual-phone"
    );
    Ok(())
}
