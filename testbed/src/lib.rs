//! Real processes on loopback, for the tests that drive the built server from
//! outside (the replicas scenario, `server/tests/replicas`) and for `cargo xtask`
//! (the browser tests' server, the benchmarks): the `switchboard` binary as a
//! child process, HAProxy with the deployment guide's configuration, moto's EC2
//! server, and a bare HTTP/1.0 client. Every process is stopped when its handle
//! is dropped. Nothing here installs anything: `cargo xtask` does (its
//! `tools.rs`), and a missing program is named in the error.

pub mod haproxy;
pub mod http;
pub mod moto;
pub mod server;
