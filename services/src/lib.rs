//! Switchboard's backend facade: wires the domain crates (`atlas`, `auth`,
//! `checklist`, `firewall`, `health`, with `platform` and `probe` under them)
//! into one [`Services`] for the web layer, and re-exports them under their
//! names so `services::atlas::AtlasService` reads as before. Housekeeping lives
//! here because it prunes every domain's history tables.
//!
//! No Leptos and no HTTP in here: each crate takes plain values, talks to the
//! database (or the shipped data) and answers typed results with a typed error.

pub mod housekeeping;

#[cfg(test)]
mod boundaries_tests;

pub use ::atlas::{self, geo, tiles};
pub use ::auth;
pub use ::checklist;
pub use ::firewall;
pub use ::health;
pub use ::probe;
#[cfg(any(test, feature = "test-support"))]
pub use platform::testing;
pub use platform::{
    csv_out, db, error, events, host_name, jobs, replica_id, Db, Engine, Error, Result,
};

/// The services the web layer needs, built once at start-up and cloned cheaply
/// into every request (everything inside is reference counted).
#[derive(Clone, Debug)]
pub struct Services {
    pub db: Db,
    pub auth: auth::AuthService,
    pub checklist: checklist::ChecklistService,
    pub geo: geo::GeoService,
    /// Backends' health, the checker job.
    pub health: health::HealthService,
    /// EC2 instances to host firewall rules, the sync job.
    pub firewall: firewall::FirewallService,
    /// The scheduled jobs; `server` starts their loop, tests drive them by hand.
    pub scheduler: jobs::Scheduler,
    /// The reach map's data.
    pub atlas: atlas::AtlasService,
    /// Coverage tiles over the atlas.
    pub tiles: tiles::TileService,
}

/// Settings of the background work: job timings and the tile caches.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// Pruning expired sessions, old sign-in failures and history past its
    /// retention.
    pub housekeeping_every: std::time::Duration,
    /// How long each history table keeps its rows.
    pub retention: housekeeping::Retention,
    /// The tile caches.
    pub tiles: tiles::TileSettings,
    /// How the checklist's automated checks reach DNS, TLS and ports.
    pub checks: probe::ProbeConfig,
    /// Health targets, the checker and its peers.
    pub health: health::HealthSettings,
    /// The firewall sync, when configured.
    pub firewall: Option<firewall::FirewallConfig>,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            housekeeping_every: std::time::Duration::from_secs(600),
            retention: housekeeping::Retention::default(),
            tiles: tiles::TileSettings::default(),
            checks: probe::ProbeConfig::default(),
            health: health::HealthSettings::default(),
            firewall: None,
        }
    }
}

impl Services {
    /// Wires every service over one database handle.
    #[must_use]
    pub fn new(db: Db, auth: auth::AuthConfig) -> Self {
        Self::with_jobs(db, auth, &JobSettings::default())
    }

    /// Wires every service, with the built-in jobs on `jobs`' timings.
    #[must_use]
    pub fn with_jobs(db: Db, auth: auth::AuthConfig, jobs: &JobSettings) -> Self {
        let auth = auth::AuthService::new(db.clone(), auth, auth::Clock::default());
        let atlas_service = atlas::AtlasService::new(db.clone());
        let housekeeping =
            housekeeping::Housekeeping::new(db.clone(), auth.clone(), jobs.retention.clone());
        let health = health::HealthService::new(db.clone(), jobs.health.clone());
        let firewall = firewall::FirewallService::new(db.clone(), jobs.firewall.clone());
        let mut registered = vec![housekeeping.job(jobs.housekeeping_every), health.job()];
        registered.extend(firewall.job());
        let scheduler = jobs::Scheduler::new(jobs::Jobs::new(db.clone()), registered);
        Self {
            auth,
            checklist: checklist::ChecklistService::with(
                db.clone(),
                auth::Clock::default(),
                jobs.checks.clone(),
            ),
            geo: geo::GeoService::shipped(),
            health,
            firewall,
            scheduler,
            tiles: tiles::TileService::new(atlas_service.clone(), jobs.tiles.clone()),
            atlas: atlas_service,
            db,
        }
    }
}
