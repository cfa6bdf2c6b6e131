//! Plain data that both sides speak: the services return it, the server
//! functions send it, the browser renders it. Serde only; it compiles to wasm32.

pub mod auth;
pub mod checklist;
pub mod firewall;
pub mod geo;
pub mod health;
pub mod problems;
