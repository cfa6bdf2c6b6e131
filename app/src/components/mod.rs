//! Pieces the pages share.

pub mod errors;
pub mod shell;
