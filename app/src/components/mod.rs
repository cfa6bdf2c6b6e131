//! Pieces the pages share.

pub mod errors;
pub mod live;
pub mod share_links;
pub mod shell;
