//! Switchboard's HTTP server: configuration, state, routes and shutdown.
//! `main.rs` only parses the command line and calls [`run`].

pub mod config;
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
    let db = state.services.db.clone();
    let app = routes::router(state);
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    tracing::info!(
        "listening on http://{}",
        listener.local_addr().context("local address")?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server failed")?;
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
