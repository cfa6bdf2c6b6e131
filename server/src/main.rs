//! `switchboard`: serve the app. See `switchboard --help`.

use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: a cached tile's request made a dozen
/// small allocations, and glibc's free lists were a sixth of its CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = match server::Config::from_args(std::env::args_os()) {
        Ok(config) => config,
        Err(server::config::ConfigError::Exit(code)) => return code,
        Err(server::config::ConfigError::Invalid(message)) => {
            eprintln!("switchboard: {message}");
            return ExitCode::from(2);
        }
    };
    config.init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match &config.command {
        Some(server::config::Command::User(cmd)) => runtime.block_on(server::user(&config, cmd)),
        Some(server::config::Command::Import(cmd)) => {
            runtime.block_on(server::import(&config, cmd))
        }
        Some(server::config::Command::Tiles(cmd)) => {
            runtime.block_on(server::seed_tiles(&config, cmd))
        }
        Some(server::config::Command::Serve) | None => runtime.block_on(server::run(config)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("switchboard: {e:#}");
            ExitCode::FAILURE
        }
    }
}
