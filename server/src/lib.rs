//! Switchboard's HTTP server: configuration, state, routes and shutdown.
//! `main.rs` only parses the command line and calls [`run`].

pub mod api;
pub mod auth;
pub mod checklist;
pub mod config;
pub mod events;
pub mod features;
pub mod firewall;
pub mod forwarded;
pub mod headers;
pub mod import;
pub mod routes;
pub mod state;
pub mod tiles;

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
    let follower = follow_data_changes(&state.services);
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    tracing::info!(
        "listening on http://{}",
        listener.local_addr().context("local address")?
    );
    serve(listener, state, shutdown_signal())
        .await
        .context("server failed")?;
    scheduler.abort();
    follower.abort();
    tracing::info!("shutting down: closing the database");
    tokio::time::timeout(Duration::from_secs(10), db.close())
        .await
        .ok();
    Ok(())
}

/// Serves the app on `listener` until `signal` completes, then shuts down
/// gracefully: the state's `shutdown` token is cancelled first, so event
/// streams end and in-flight requests finish, and nothing open keeps the
/// server up.
///
/// # Errors
/// The listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shutdown = state.shutdown.clone();
    let app = routes::router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        signal.await;
        shutdown.cancel();
    })
    .await
}

/// When another replica changes the map's data (an import), or the change
/// feed had to reconnect, this replica reloads its atlas: pages and tile keys
/// then use the new data version everywhere.
fn follow_data_changes(services: &services::Services) -> tokio::task::JoinHandle<()> {
    use tokio::sync::broadcast::error::RecvError;
    let atlas = services.atlas.clone();
    let mut rx = services.db.bus().subscribe();
    tokio::spawn(async move {
        loop {
            let reload = match rx.recv().await {
                Ok(event) => {
                    (event.topic == "data" && event.origin != services::replica_id())
                        || event.topic == "resync"
                }
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => break,
            };
            if reload {
                match atlas.reload().await {
                    Ok(a) => tracing::info!(version = a.version(), "map data reloaded"),
                    Err(e) => tracing::warn!("map data not reloaded: {e}"),
                }
            }
        }
    })
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

/// `switchboard user add` and `switchboard user unlock`.
///
/// # Errors
/// The database cannot be opened, or the user is refused (taken name, short
/// password, a malformed name to unlock).
pub async fn user(config: &Config, command: &config::UserCommand) -> anyhow::Result<()> {
    let url = config.database_url();
    let db = services::Db::connect(&url)
        .await
        .with_context(|| format!("cannot open the database {}", state::redact(&url)))?;
    let services = services::Services::new(db, services::auth::AuthConfig::default());
    let result = match command {
        config::UserCommand::Add {
            username,
            role,
            display_name,
            password_stdin,
        } => add_user(&services, username, *role, display_name, *password_stdin).await,
        config::UserCommand::Unlock { username } => {
            let n = services
                .auth
                .unlock(username)
                .await
                .with_context(|| format!("cannot unlock {username}"))?;
            println!("unlocked {username}: {n} failed sign-in(s) cleared");
            Ok(())
        }
    };
    services.db.close().await;
    result
}

/// `switchboard user add`: creates a user from the command line.
async fn add_user(
    services: &services::Services,
    username: &str,
    role: services::auth::Role,
    display_name: &str,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let (password, show) = if password_stdin {
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
        .add_user(None, username, display_name, role, &password)
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
    Ok(())
}

/// `switchboard import outlets FILE [--replace]`.
///
/// # Errors
/// The database cannot be opened, the file cannot be read, or it has problems
/// (every one is listed; nothing is imported then).
pub async fn import(config: &Config, command: &config::ImportCommand) -> anyhow::Result<()> {
    let (file, what) = match command {
        config::ImportCommand::Outlets { file, .. } => (file, "outlet(s)"),
        config::ImportCommand::Regions { file } => (file, "region(s)"),
    };
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let Ok(text) = String::from_utf8(bytes) else {
        anyhow::bail!(
            "{} was not imported: {} is not UTF-8 text (save it as UTF-8)",
            file.display(),
            file.display()
        );
    };
    let state = AppState::build(config).await?;
    let name = file.to_string_lossy();
    let atlas = &state.services.atlas;
    let (n, action, detail) = match command {
        config::ImportCommand::Outlets { replace, .. } => {
            let n = atlas.import_outlets_unchecked(&name, &text, *replace).await;
            let detail = if *replace { ", replacing all" } else { "" };
            (n, "outlets.import", detail)
        }
        config::ImportCommand::Regions { .. } => (
            atlas.import_regions_unchecked(&name, &text).await,
            "regions.import",
            "",
        ),
    };
    let n = n
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("{} was not imported", file.display()))?;
    state
        .services
        .auth
        .audit_system(action, &name, &format!("{n} {what}{detail}"))
        .await?;
    println!("imported {n} {what} from {}", file.display());
    state.services.db.close().await;
    Ok(())
}

/// `switchboard tiles seed`: renders every tile over a selection's bounds for a
/// zoom range, showing progress on stderr, then a summary on stdout.
///
/// # Errors
/// A bad zoom range or selection, or the database cannot be opened.
pub async fn seed_tiles(config: &Config, command: &config::TilesCommand) -> anyhow::Result<()> {
    use std::io::{IsTerminal as _, Write as _};
    let config::TilesCommand::Seed {
        sel,
        kinds,
        zooms,
        scale,
    } = command;
    let (from, to) = match zooms.split_once('-') {
        Some((a, b)) => (a.trim().parse::<u8>(), b.trim().parse::<u8>()),
        None => (zooms.trim().parse::<u8>(), zooms.trim().parse::<u8>()),
    };
    let (Ok(from), Ok(to)) = (from, to) else {
        anyhow::bail!("--zooms must look like 6-10 or 8 (got {zooms:?})");
    };
    if from > to || to > services::tiles::MAX_ZOOM {
        anyhow::bail!(
            "--zooms {zooms}: from 0 to {} and low to high",
            services::tiles::MAX_ZOOM
        );
    }
    let state = AppState::build(config).await?;
    let tiles = &state.services.tiles;
    let key = tiles
        .key(&[(sel.clone(), kinds.clone())])
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let atlas = state
        .services
        .atlas
        .atlas()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let bounds = atlas.bounds(
        &atlas
            .select(sel, kinds)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let mut all = Vec::new();
    for z in from..=to {
        let nw = services::tiles::TileId::containing(bounds[0], bounds[3], z, *scale);
        let se = services::tiles::TileId::containing(bounds[2], bounds[1], z, *scale);
        for x in nw.x..=se.x {
            for y in nw.y..=se.y {
                all.push(services::tiles::TileId::new(u32::from(z), x, y, *scale)?);
            }
        }
    }
    let encoded = tiles
        .signed(&key)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // The reach shapes first, as a running server has them after its first
    // tiles of a selection (and as a renderer reads its data before drawing).
    let preparing = std::time::Instant::now();
    let prepared = atlas.prepare_reach(
        &atlas
            .select(sel, kinds)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let preparing = preparing.elapsed();
    let started = std::time::Instant::now();
    let total = all.len();
    let (mut covered, mut bytes) = (0usize, 0usize);
    let live = std::io::stderr().is_terminal();
    for (i, tile) in all.into_iter().enumerate() {
        let t = tiles
            .get(&encoded, tile)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if !t.empty {
            covered += 1;
            bytes += t.png.len();
        }
        let done = i + 1;
        if live || done == total || done % 100 == 0 {
            let filled = done * 30 / total.max(1);
            let bar = format!(
                "[{}{}] {done}/{total} tiles",
                "#".repeat(filled),
                ".".repeat(30 - filled)
            );
            if live {
                eprint!("\r{bar}");
            } else {
                eprintln!("{bar}");
            }
            let _ = std::io::stderr().flush();
        }
    }
    if live {
        eprintln!();
    }
    println!(
        "seeded {total} tiles of {sel} at zooms {from}-{to} ({covered} with coverage, {} KB of PNG) in {:.2} s ({:.2} ms a tile); data version {}",
        bytes / 1024,
        started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64() * 1000.0 / total.max(1) as f64,
        key.version
    );
    println!(
        "(the reach shapes of {prepared} outlets were prepared first, in {:.2} s)",
        preparing.as_secs_f64()
    );
    state.services.db.close().await;
    Ok(())
}
