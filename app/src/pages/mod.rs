//! One module per page.

pub mod checklist;
pub mod firewall;
pub mod health;
pub mod home;
pub mod map;
pub mod not_found;
