//! The map's pages: the reach map (`reach`, with its URL in `query` and its
//! region tree in `tree`), the share links page and the shared map a link
//! opens (`share`), and the outlet and region import (`import`). `canvas` is
//! the Leaflet container the reach map and the shared map both show.

pub mod canvas;
pub mod import;
pub mod query;
pub mod reach;
pub mod share;
pub mod tree;

pub use canvas::MapSettings;
pub use import::ImportPage;
pub use reach::MapPage;
pub use share::{ShareLinksPage, SharedMapPage};
