//! The server's integration tests: one binary, shared helpers in `util`.

mod events;
mod http;
mod roles;
mod util;
