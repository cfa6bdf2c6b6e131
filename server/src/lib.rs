//! Switchboard's HTTP server: configuration, state, routes and shutdown.
//! `main.rs` only parses the command line and calls [`run`].

pub mod auth;
pub mod config;
pub mod events;
pub mod features;
pub mod routes;
pub mod state;

use std::time::Duration;

use anyhow::Context as _;
pub use config::Config;
pub use state::AppState;

/// Builds the state, binds, serves until SIGTERM or ctrl-c, then closes the
/// database.
///
/// # Errors
/// The database cannot be opened, or the address cannot be bound.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let state = AppState::build(&config).await?;
    if let Some((user, password)) = state.services.auth.ensure_first_admin().await? {
        // Shown once, on the terminal only: never logged.
        eprintln!(
            "\n  First start: created the admin account.\n    user name: {user}\n    password:  {password}\n  Sign in and change it (Admin > Users). It is not shown again.\n"
        );
    }
    let db = state.services.db.clone();
    // Every replica runs the scheduler; the job leases pick one per due run.
    let scheduler = state.services.scheduler.spawn(Duration::from_secs(1));
    let app = routes::router(state);
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    tracing::info!(
        "listening on http://{}",
        listener.local_addr().context("local address")?
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("server failed")?;
    scheduler.abort();
    tracing::info!("shutting down: closing the database");
    tokio::time::timeout(Duration::from_secs(10), db.close())
        .await
        .ok();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

/// `switchboard user add`: creates a user from the command line.
///
/// # Errors
/// The database cannot be opened, or the user is refused (taken name, short password).
pub async fn add_user(config: &Config, command: &config::UserCommand) -> anyhow::Result<()> {
    let config::UserCommand::Add {
        username,
        role,
        display_name,
        password_stdin,
    } = command;
    let url = config.database_url();
    let db = services::Db::connect(&url)
        .await
        .with_context(|| format!("cannot open the database {}", state::redact(&url)))?;
    let services = services::Services::new(db, services::auth::AuthConfig::default());
    let (password, show) = if *password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        (line.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        (services::auth::random_password()?, true)
    };
    services
        .auth
        .add_user(None, username, display_name, *role, &password)
        .await
        .with_context(|| format!("cannot add {username}"))?;
    if show {
        println!(
            "added {username} ({}) with password: {password}",
            role.as_str()
        );
    } else {
        println!("added {username} ({})", role.as_str());
    }
    services.db.close().await;
    Ok(())
}
