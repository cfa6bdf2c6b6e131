//! `/firewall`: EC2 instances per region, the regions that could not be read,
//! the host's rules, the pending plan as a diff, apply (when enabled), sync
//! now, and the history of runs and applies. Live on the `firewall` and `job`
//! change feeds; every part reads without JavaScript. `overview` is the page,
//! `plan` the rules and the plan, `inventory` the instances, `history` the
//! runs and applies.

pub mod history;
pub mod inventory;
pub mod overview;
pub mod plan;

pub use overview::FirewallPage;

/// Rules and instances shown before "and N more".
const SHOWN: usize = 300;
