//! The server's integration tests: one binary, shared helpers in `util`.

mod bad_inputs;
mod checklist;
mod edge;
mod events;
mod http;
mod map;
mod roles;
mod tiles;
mod util;
