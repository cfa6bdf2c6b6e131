//! Who is asking, and whether their role allows what they ask.

use model::auth::{Me, Permission, Role};

use crate::{Error, Result};

/// Who is asking: nobody, or a signed-in user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User(Me),
}

impl Principal {
    /// The user, when `permission` is theirs; otherwise 401 or 403 errors.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] for nobody; [`Error::Forbidden`] for a role
    /// below what `permission` needs.
    pub fn require(&self, permission: Permission) -> Result<&Me> {
        match self {
            Self::Anonymous => Err(Error::Unauthenticated),
            Self::User(me) if me.role.allows(permission) => Ok(me),
            Self::User(me) => Err(Error::Forbidden {
                role: me.role.as_str(),
                needs: Role::least_for(permission).as_str(),
            }),
        }
    }

    /// The signed-in user, if any.
    #[must_use]
    pub fn user(&self) -> Option<&Me> {
        match self {
            Self::User(me) => Some(me),
            Self::Anonymous => None,
        }
    }
}
