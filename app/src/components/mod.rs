//! Pieces the pages share.

pub mod errors;
pub mod live;
pub mod shell;
