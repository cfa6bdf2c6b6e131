//! The state built once at start-up and shared by every request.

use anyhow::Context as _;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use services::{auth::AuthConfig, Db, Services};

use crate::Config;

/// Everything a handler may need. Cloning is cheap.
#[derive(Clone, Debug, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub services: Services,
    pub http: HttpSettings,
}

/// How the server treats HTTP details that depend on where it is deployed.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpSettings {
    /// Session cookies carry `Secure`.
    pub cookie_secure: bool,
    /// The client address comes from `X-Forwarded-For`.
    pub trust_forwarded: bool,
}

impl AppState {
    /// Opens the database (migrating it) and wires the services.
    ///
    /// # Errors
    /// The database cannot be opened or migrated.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let url = config.database_url();
        let db = Db::connect(&url)
            .await
            .with_context(|| format!("cannot open the database {url}"))?;
        tracing::info!(database = %url, "database ready");
        Ok(Self::new(config, Services::new(db, AuthConfig::default())))
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
        Self {
            leptos_options,
            services,
            http: HttpSettings {
                cookie_secure: config.cookie_secure,
                trust_forwarded: config.trust_forwarded_for,
            },
        }
    }
}
