//! `gatehouse radius-client …`: the RADIUS clients (SPEC §11, §12).

use super::{human, read_stdin_line, state};
use crate::config::Config;
use anyhow::Result;
use clap::Subcommand;
use gatehouse_app::service::{self, Caller};
use std::path::Path;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub(super) enum RadiusClientCommand {
    /// Register a RADIUS client (a VPN concentrator, a gateway); prints its
    /// shared secret (generated, unless given on standard input).
    Create {
        #[arg(long)]
        name: String,
        /// The customer account whose users it may authenticate.
        #[arg(long)]
        account: String,
        /// The source address or CIDR range it sends from.
        #[arg(long)]
        address: String,
        /// `password-and-code` (default) or `code-only`.
        #[arg(long)]
        mode: Option<String>,
        /// Read the shared secret from standard input instead of generating one.
        #[arg(long)]
        secret_stdin: bool,
        /// Accept users without a second factor on their password alone.
        #[arg(long)]
        allow_password_only: bool,
        /// Old gear that cannot send Message-Authenticator (BlastRADIUS,
        /// CVE-2024-3596: avoid).
        #[arg(long)]
        no_message_authenticator: bool,
        /// Between password and code (`,` by default; empty for none).
        #[arg(long)]
        separator: Option<String>,
        /// How long a request may be held (a phone call), seconds (60).
        #[arg(long)]
        timeout_secs: Option<i64>,
        /// `Class` sent with every Access-Accept.
        #[arg(long)]
        class: Option<String>,
        /// `Filter-Id` sent with every Access-Accept.
        #[arg(long)]
        filter_id: Option<String>,
    },
    /// One line per client: `NAME ACCOUNT ADDRESS MODE`.
    List,
    /// Remove a client by name: its requests are dropped from then on.
    Remove { name: String },
}

pub(super) async fn run(
    command: RadiusClientCommand,
    config: &Config,
    data_dir: &Path,
) -> Result<ExitCode> {
    let st = state(config, data_dir).await?;
    let caller = Caller::cli();
    match command {
        RadiusClientCommand::Create {
            name,
            account,
            address,
            mode,
            secret_stdin,
            allow_password_only,
            no_message_authenticator,
            separator,
            timeout_secs,
            class,
            filter_id,
        } => {
            let secret = if secret_stdin {
                Some(read_stdin_line()?)
            } else {
                None
            };
            let new = service::radius::NewClient {
                name,
                account_number: account,
                address,
                mode,
                secret,
                allow_missing_message_authenticator: no_message_authenticator,
                allow_password_only,
                separator,
                timeout_secs,
                class,
                filter_id,
            };
            let secret = service::radius::create_client(&st, &caller, &new)
                .await
                .map_err(human)?;
            println!("{secret}");
        }
        RadiusClientCommand::List => {
            for c in service::radius::list_clients(&st, &caller)
                .await
                .map_err(human)?
            {
                println!("{} {} {} {}", c.name, c.account_number, c.address, c.mode);
            }
        }
        RadiusClientCommand::Remove { name } => {
            service::radius::remove_client(&st, &caller, &name)
                .await
                .map_err(human)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
