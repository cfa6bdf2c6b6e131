//! The state built once at start-up and shared by every request.

use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use services::{auth::AuthConfig, db::PoolSettings, Db, JobSettings, Services};

use crate::Config;

/// Everything a handler may need. Axum clones the state for every request and
/// every middleware, so it is one reference count to clone (the fields, read
/// through `Deref`, hold strings and a dozen handles).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
#[derive(Debug)]
pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub map_settings: app::pages::map::MapSettings,
    pub services: Services,
    pub http: HttpSettings,
    /// Cancelled when the server begins to shut down: long-lived responses
    /// (event streams) end on it, so a graceful shutdown does not wait on them.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The security headers every response gets (see `headers.rs`).
    pub headers: crate::headers::SecurityHeaders,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Leptos's routes read their options from the state.
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// How the server treats HTTP details that depend on where it is deployed.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Session cookies carry `Secure`.
    pub cookie_secure: bool,
    /// Whether and how the client address comes from `X-Forwarded-For`.
    pub forwarded: crate::forwarded::ForwardedPolicy,
    /// Features per vector page (the seed's KML chunks held 250).
    pub features_per_page: u32,
    /// How long a response may take to start before it becomes a 503.
    pub request_timeout: std::time::Duration,
    /// When the map draws vectors and when coverage tiles.
    pub auto_mode: model::geo::AutoMode,
}

impl AppState {
    /// Opens the database (migrating it) and wires the services.
    ///
    /// # Errors
    /// The database cannot be opened or migrated.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        // Config files first: a mistake in one stops the start before anything is opened.
        let firewall = match &config.firewall_config {
            Some(path) => Some(services::firewall::FirewallConfig::load(path)?),
            None => None,
        };
        let url = config.database_url();
        let pool = PoolSettings {
            max_connections: config.db_connections,
            ..PoolSettings::default()
        };
        let db = Db::connect_with(&url, &pool)
            .await
            .with_context(|| format!("cannot open the database {}", redact(&url)))?;
        tracing::info!(database = %redact(&url), engine = db.engine().name(), "database ready");
        let mut jobs = JobSettings {
            housekeeping_every: std::time::Duration::from_secs(config.housekeeping_every),
            retention: config.retention.0.clone(),
            tiles: services::tiles::TileSettings {
                memory_bytes: usize::try_from(config.tile_cache_mb * 1024 * 1024)
                    .unwrap_or(usize::MAX),
                disk: config.tile_cache_dir.clone(),
                disk_max_bytes: config.tile_cache_max_bytes,
                cache_empty: !config.no_empty_tile_cache,
                ..services::tiles::TileSettings::default()
            },
            checks: services::probe::ProbeConfig {
                dns_server: config.check_dns,
                timeout: std::time::Duration::from_secs(config.check_timeout),
                extra_roots_pem: match &config.check_ca {
                    Some(path) => std::fs::read(path)
                        .with_context(|| format!("cannot read the CA file {}", path.display()))?,
                    None => Vec::new(),
                },
                expiry_warn_days: config.check_expiry_warn_days,
            },
            health: services::health::HealthSettings::default(),
            firewall,
        };
        jobs.health = services::health::HealthSettings {
            config: match &config.health_config {
                Some(path) => services::health::HealthConfig::load(path)?,
                None => services::health::HealthConfig::this_server(&config.bind.to_string()),
            },
            probe: services::probe::ProbeConfig {
                extra_roots_pem: jobs.checks.extra_roots_pem.clone(),
                ..jobs.checks.clone()
            },
            checker: services::health::CheckerSettings {
                extra_roots_pem: jobs.checks.extra_roots_pem.clone(),
                ..services::health::CheckerSettings::default()
            },
            ..services::health::HealthSettings::default()
        };
        if let Some(queue) = config.tile_render_queue {
            // Checked by clap: 1 to 100 000.
            jobs.tiles.render_queue = usize::try_from(queue).unwrap_or(usize::MAX);
        }
        let services = Services::with_jobs(db, AuthConfig::default(), &jobs);
        services
            .health
            .apply_config()
            .await
            .context("cannot store the health config")?;
        services
            .atlas
            .seed(config.demo_outlets as usize)
            .await
            .context("cannot load the map data")?;
        services
            .tiles
            .prepare_disk()
            .await
            .context("cannot prepare the tile disk cache")?;
        Ok(Self::new(config, services))
    }

    /// State over services that already exist (tests build their own).
    #[must_use]
    pub fn new(config: &Config, services: Services) -> Self {
        let site_root = config.site_root.to_string_lossy().into_owned();
        if !config
            .site_root
            .join("pkg")
            .join(format!("{}.js", app::OUTPUT_NAME))
            .exists()
        {
            tracing::warn!(
                site_root = %site_root,
                "the site has not been built: pages render but will not hydrate (run `cargo xtask build`)"
            );
        }
        let leptos_options = LeptosOptions::builder()
            .output_name(app::OUTPUT_NAME)
            .site_root(site_root)
            .site_pkg_dir("pkg")
            .site_addr(config.bind)
            .env(leptos::config::Env::PROD)
            .build();
        Self(Arc::new(Shared {
            leptos_options,
            map_settings: app::pages::map::MapSettings {
                basemap_url: config.basemap_url.clone(),
                attribution: config.basemap_attribution.clone(),
            },
            services,
            shutdown: tokio_util::sync::CancellationToken::new(),
            headers: crate::headers::SecurityHeaders::new(config.basemap_url.as_deref()),
            http: HttpSettings {
                cookie_secure: config.cookie_secure,
                forwarded: crate::forwarded::ForwardedPolicy {
                    trust: config.trust_forwarded_for,
                    proxies: config.trusted_proxy.clone(),
                },
                features_per_page: config.features_per_page,
                request_timeout: std::time::Duration::from_millis(config.request_timeout_ms),
                auto_mode: model::geo::AutoMode {
                    max_vector_features: config.vector_max_features,
                    min_vector_zoom: config.vector_min_zoom,
                },
            },
        }))
    }
}

/// The URL without its password, for logs and messages.
#[must_use]
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            super::redact("postgres://sb:s3cret@db:5432/sb"),
            "postgres://sb:***@db:5432/sb"
        );
        assert_eq!(super::redact("postgres://sb@db/sb"), "postgres://sb@db/sb");
        assert_eq!(super::redact("sqlite:///x.db"), "sqlite:///x.db");
    }
}
