//! `serve`: logging, the store, the application state, the demo data.

use super::*;

pub(super) fn init_tracing(config: &Config, serving: bool) {
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

pub(super) async fn open(config: &Config, data_dir: &Path) -> anyhow::Result<Store> {
    let url = config.database_url(data_dir)?;
    let Some(durability) = gatehouse_app::Durability::parse(config.durability.trim()) else {
        anyhow::bail!(
            "durability is \"normal\" or \"full\", not \"{}\"",
            config.durability
        );
    };
    Store::open_with(&url, config.database_max_connections, durability)
        .await
        .with_context(|| "opening the database".to_string())
}

/// The application over the database alone, without this machine's
/// delivery and validation settings: for commands that only read or record
/// (audit verification, sealing, the recorded delivery mode).
pub(super) async fn plain_state(config: &Config, data_dir: &Path) -> anyhow::Result<AppState> {
    let store = open(config, data_dir).await?;
    Ok(AppState::new(
        store,
        Arc::new(SystemClock),
        gatehouse_app::AppConfig::default(),
        None,
    ))
}

pub(super) async fn state(config: &Config, data_dir: &Path) -> anyhow::Result<AppState> {
    let store = open(config, data_dir).await?;
    Ok(AppState::new(
        store,
        Arc::new(SystemClock),
        config.web(data_dir)?,
        None,
    ))
}

/// How often histogram samples are folded into the metrics' summaries
/// (the exporter's own default).
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

pub(super) async fn serve_command(
    config: &Config,
    data_dir: &Path,
    demo: bool,
) -> anyhow::Result<()> {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    // A recorder installed without the exporter's own HTTP listener has no
    // upkeep task: histogram samples would pile up in memory until
    // `/metrics` is scraped (about 9 MiB a minute under the soak's load).
    // Drain them every few seconds, as the exporter's listener would.
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(METRICS_UPKEEP);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
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
    if let Some(radius) = &config.radius {
        start_radius(&st, &radius.listen).await?;
    }
    gatehouse_web::serve(st, config.http(), &config.listen).await
}

/// Starts the RADIUS front end on `listen` (UDP), beside the portal.
async fn start_radius(st: &AppState, listen: &str) -> anyhow::Result<()> {
    let socket = tokio::net::UdpSocket::bind(listen)
        .await
        .with_context(|| format!("binding the RADIUS address {listen} (radius.listen)"))?;
    let handler = gatehouse_radius::AppHandler::new(st.clone())
        .await
        .map_err(human)?;
    handler.keep_current();
    tracing::info!(listen = %socket.local_addr()?, "RADIUS front end listening");
    println!("RADIUS front end on udp://{listen}");
    tokio::spawn(async move {
        if let Err(e) = gatehouse_radius::serve(socket, handler, std::future::pending()).await {
            tracing::error!(error = %e, "the RADIUS front end stopped");
        }
    });
    Ok(())
}

/// Where a delivery mode comes from in the configuration.
pub(super) fn describe(mode: DeliveryMode) -> &'static str {
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
    let existing = match service::tokens::owner_named(st, &caller, "demo-admin").await {
        Ok(_) => true,
        Err(AppError::NotFound) => false,
        Err(e) => return Err(human(e)),
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
    let has_prices = service::catalog::prices(st)
        .await
        .map_err(human)?
        .iter()
        .any(|p| p.method == "phonefactor");
    let has_msa = service::catalog::current_msa(st)
        .await
        .map_err(human)?
        .is_some();
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
