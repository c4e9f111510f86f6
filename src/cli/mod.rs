//! The command line: `serve` and the administration commands.

use crate::config::Config;
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use gatehouse_app::Store;
use gatehouse_app::service::{self, Caller};
use gatehouse_app::{AppError, AppState, DeliveryMode};
use gatehouse_domain::{AccountNumber, SystemClock, Username, secret};
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
    /// RADIUS clients (VPN concentrators, gateways) of the RADIUS front end.
    RadiusClient {
        #[command(subcommand)]
        command: radius::RadiusClientCommand,
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

mod commands;
mod radius;
mod serve;

use commands::*;
pub use serve::*;

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
        let st = plain_state(&config, &data_dir).await?;
        service::audit::seal(&st).await.map_err(human)?;
    }
    Ok(code)
}
