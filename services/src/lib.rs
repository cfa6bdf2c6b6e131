//! Switchboard's backend: everything the server functions and routes call.
//!
//! No Leptos and no HTTP in here: each module takes plain values, talks to the
//! database (or the shipped data) and answers typed results with a typed error.

pub mod auth;
pub mod checklist;
pub mod db;
pub mod error;
pub mod geo;

pub use db::Db;
pub use error::{Error, Result};

/// The services the web layer needs, built once at start-up and cloned cheaply
/// into every request (everything inside is reference counted).
#[derive(Clone, Debug)]
pub struct Services {
    pub db: Db,
    pub auth: auth::AuthService,
    pub checklist: checklist::ChecklistService,
    pub geo: geo::GeoService,
}

impl Services {
    /// Wires every service over one database handle.
    #[must_use]
    pub fn new(db: Db, auth: auth::AuthConfig) -> Self {
        Self {
            auth: auth::AuthService::new(db.clone(), auth, auth::Clock::default()),
            checklist: checklist::ChecklistService::new(db.clone()),
            geo: geo::GeoService::shipped(),
            db,
        }
    }
}
