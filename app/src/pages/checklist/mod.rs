//! Migration checklists: the list of migrations (`list`), one migration's
//! working checklist (`migration`, with its sections and points in `items` and
//! its automated checks in `checks`) and the read-only copy a share link
//! opens, and the template staff edit (`template`). `components` holds what
//! several of them show.

pub mod checks;
pub mod components;
pub mod items;
pub mod list;
pub mod migration;
pub mod template;

pub(crate) use checks::verdict_class;
pub use list::ChecklistPage;
pub use migration::{MigrationPage, SharedChecklist};
pub use template::TemplatePage;
