//! The pages, by domain: `pages/<domain>/` has a module per page and per group
//! of that page's components, and its `mod.rs` re-exports the pages the router
//! mounts. Pages of no domain (the overview, sign-in, the 404) are one file each.

pub mod admin;
pub mod checklist;
pub mod firewall;
pub mod health;
pub mod home;
pub mod login;
pub mod map;
pub mod not_found;
