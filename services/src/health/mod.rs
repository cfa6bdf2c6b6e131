pub mod alerts;
pub mod haproxy;
