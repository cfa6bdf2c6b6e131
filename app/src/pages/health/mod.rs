//! `/health?state=&pool=&q=`: sites, pools and every checked backend, live;
//! HAProxy's own stats beside our checks; DNS readiness; the UP/DOWN timeline.
//! `overview` is the page, `backends` the backends table and its forms,
//! `panels` the rest.

pub mod backends;
pub mod overview;
pub mod panels;

pub use overview::HealthPage;
