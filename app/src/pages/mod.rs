//! One module per page.

pub mod admin;
pub mod checklist;
pub mod firewall;
pub mod health;
pub mod home;
pub mod import;
pub mod login;
pub mod map;
pub mod not_found;
pub mod share;
