//! `/admin`: users, active sessions, share links and the audit log (admins
//! only). `overview` is the page, `tables` its tables.

pub mod overview;
pub mod tables;

pub use overview::AdminPage;
