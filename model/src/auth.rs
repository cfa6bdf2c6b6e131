//! Who may do what: roles, permissions and the matrix between them.

use serde::{Deserialize, Serialize};

/// What a signed-in person is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Works the map, checklists and health configuration; plans firewall changes.
    Staff,
    /// Everything: users, firewall apply.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Staff, Role::Admin];

    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Staff => "staff",
            Self::Admin => "admin",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The least role that holds `permission`: the whole role matrix in one place.
    #[must_use]
    pub fn least_for(permission: Permission) -> Role {
        use Permission as P;
        match permission {
            P::ViewDashboard => Role::Viewer,
            P::EditMap
            | P::WorkChecklists
            | P::EditChecklistTemplates
            | P::ConfigureHealth
            | P::PlanFirewall
            | P::ManageShareLinks => Role::Staff,
            P::ApplyFirewall | P::ManageUsers | P::ViewAudit => Role::Admin,
        }
    }

    /// Whether this role may do `permission` (roles are ordered: admin > staff > viewer).
    #[must_use]
    pub fn allows(self, permission: Permission) -> bool {
        self >= Role::least_for(permission)
    }
}

/// Something a request may want to do. Every server function and route names one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// Read the map, health, firewall and checklist pages.
    ViewDashboard,
    /// Import outlets and regions, edit map data.
    EditMap,
    /// Tick items of working checklists.
    WorkChecklists,
    /// Add, reword, reorder and retire template items.
    EditChecklistTemplates,
    /// Change health check targets and pools.
    ConfigureHealth,
    /// Plan firewall changes (dry runs).
    PlanFirewall,
    /// Apply firewall changes.
    ApplyFirewall,
    /// Create, list and revoke share links.
    ManageShareLinks,
    /// Add users, change roles, reset passwords, disable accounts, end sessions.
    ManageUsers,
    /// Read the audit log.
    ViewAudit,
}

impl Permission {
    pub const ALL: [Permission; 10] = [
        Permission::ViewDashboard,
        Permission::EditMap,
        Permission::WorkChecklists,
        Permission::EditChecklistTemplates,
        Permission::ConfigureHealth,
        Permission::PlanFirewall,
        Permission::ApplyFirewall,
        Permission::ManageShareLinks,
        Permission::ManageUsers,
        Permission::ViewAudit,
    ];
}

/// The bounds of the account and audit fields: the forms' `maxlength` and the
/// services' checks read these numbers (counted in characters).
pub mod limits {
    /// A user name: 2 to this many letters, digits or `. _ - @`.
    pub const USERNAME_MAX: usize = 40;
    /// The name shown for a user.
    pub const DISPLAY_NAME_MAX: usize = 100;
    /// The shortest password accepted.
    pub const PASSWORD_MIN: usize = 10;
    /// The longest password accepted (argon2 hashes whatever it is given).
    pub const PASSWORD_MAX: usize = 1024;
    /// A share link's label.
    pub const SHARE_LABEL_MAX: usize = 100;
    /// A share link's selection (`county:...,area:...` or `migration:<id>`).
    pub const SHARE_SELECTION_MAX: usize = 200;
    /// An audit entry's target (what was acted on); longer ones are cut, marked `…`.
    pub const AUDIT_TARGET_MAX: usize = 200;
    /// An audit entry's detail; longer ones are cut, marked `…`.
    pub const AUDIT_DETAIL_MAX: usize = 1000;
    /// A browser's user agent as stored with a session.
    pub const USER_AGENT_MAX: usize = 200;
}

/// The signed-in person, as the pages see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

impl Me {
    #[must_use]
    pub fn can(&self, permission: Permission) -> bool {
        self.role.allows(permission)
    }
}

/// A user as the admin page lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: String,
    pub active_sessions: i64,
}

/// An active session as the admin page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// A short, non-secret handle (the first characters of the stored hash).
    pub handle: String,
    pub username: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub client_addr: String,
    pub user_agent: String,
}

/// A share link as its lists show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareLinkSummary {
    pub id: i64,
    pub label: String,
    pub selection: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub state: ShareState,
    pub open_count: i64,
}

/// Whether a share link still opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShareState {
    Active,
    Expired,
    Revoked,
}

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub client_addr: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_the_matrix_is_monotonic() {
        for p in Permission::ALL {
            // Whatever a viewer may do, staff may; whatever staff may, an admin may.
            assert!(!Role::Viewer.allows(p) || Role::Staff.allows(p), "{p:?}");
            assert!(!Role::Staff.allows(p) || Role::Admin.allows(p), "{p:?}");
            assert!(Role::Admin.allows(p), "admin lacks {p:?}");
        }
        assert!(!Role::Staff.allows(Permission::ApplyFirewall));
        assert!(Role::Staff.allows(Permission::PlanFirewall));
        assert!(!Role::Viewer.allows(Permission::WorkChecklists));
        assert!(Role::Viewer.allows(Permission::ViewDashboard));
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::from_name(r.as_str()), Some(r));
        }
        assert_eq!(Role::from_name("root"), None);
    }
}
