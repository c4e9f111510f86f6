//! The administration commands, each a thin call of an application
//! service.

use super::*;

pub(super) async fn run_command(cli: Cli, command: Command) -> anyhow::Result<ExitCode> {
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
            // The configuration of this machine need not be the one the
            // servers run with, so it is not checked against `mode`.
            let st = plain_state(&config, &cli.data_dir).await?;
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
            let account = match service::accounts::id_of_number(&st, &number).await {
                Ok(id) => id,
                Err(AppError::NotFound) => bail!("no account with number {number}"),
                Err(e) => return Err(human(e)),
            };
            let created = service::users::create(
                &st,
                &Caller::cli(),
                service::users::CreateUser {
                    account: Some(account),
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
        Command::RadiusClient { command } => {
            super::radius::run(command, &config, &cli.data_dir).await
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
            let st = plain_state(&config, &cli.data_dir).await?;
            match service::audit::verify(&st, &Caller::cli())
                .await
                .map_err(human)?
            {
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
pub(super) async fn api_token_command(
    st: &AppState,
    command: ApiTokenCommand,
) -> anyhow::Result<()> {
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

pub(super) async fn find_user(
    st: &AppState,
    username: &str,
) -> anyhow::Result<gatehouse_domain::UserId> {
    let username = Username::parse(username).map_err(|e| anyhow::anyhow!(e.message))?;
    match service::tokens::owner_named(st, &Caller::cli(), username.as_str()).await {
        Ok(id) => Ok(id),
        Err(AppError::NotFound) => Err(anyhow::anyhow!("no user named {username}")),
        Err(e) => Err(human(e)),
    }
}

pub(super) fn human(e: AppError) -> anyhow::Error {
    if let AppError::Internal(cause) = &e {
        return anyhow::anyhow!("internal error: {cause}");
    }
    match e.field() {
        Some(f) => anyhow::anyhow!("{f}: {}", e.message()),
        None => anyhow::anyhow!("{}", e.message()),
    }
}

pub(super) fn read_stdin_line() -> anyhow::Result<String> {
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
