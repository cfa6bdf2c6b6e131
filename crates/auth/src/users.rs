//! Accounts: the first admin, adding users, roles, password resets and
//! disabling, and the checks on names and passwords.

use model::auth::Permission;
use model::auth::{limits, Me, Role, UserSummary};
use platform::{format_time, Error, Principal, Result};
use sqlx::Row as _;

use crate::{password, AuthService, Client, MIN_PASSWORD_LEN};

impl AuthService {
    /// Creates the first admin with a random password when there are no users
    /// at all. Returns the user name and the password, to be shown once.
    ///
    /// # Errors
    /// Database errors.
    pub async fn ensure_first_admin(&self) -> Result<Option<(String, String)>> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM app_user")
            .fetch_one(self.db.pool())
            .await?;
        if count > 0 {
            return Ok(None);
        }
        let password = password::random_password()?;
        self.insert_user("admin", "Administrator", Role::Admin, &password)
            .await?;
        self.audit_system("user.create", "admin", "first admin created at first start")
            .await?;
        Ok(Some(("admin".to_owned(), password)))
    }

    /// Adds a user (admins only, or the command line with `actor = None`).
    ///
    /// # Errors
    /// Permission, a taken or malformed user name, a short password.
    pub async fn add_user(
        &self,
        actor: Option<(&Principal, &Client)>,
        username: &str,
        display_name: &str,
        role: Role,
        password: &str,
    ) -> Result<i64> {
        if let Some((p, _)) = actor {
            p.require(Permission::ManageUsers)?;
        }
        let username = username.trim();
        validate_username(username)?;
        let display = if display_name.trim().is_empty() {
            username
        } else {
            display_name.trim()
        };
        validate_display_name(display)?;
        let id = self.insert_user(username, display, role, password).await?;
        let detail = format!("role {}", role.as_str());
        match actor {
            Some((p, c)) => self.audit(p, c, "user.create", username, &detail).await?,
            None => self.audit_system("user.create", username, &detail).await?,
        }
        Ok(id)
    }

    async fn insert_user(
        &self,
        username: &str,
        display_name: &str,
        role: Role,
        password: &str,
    ) -> Result<i64> {
        check_password(password)?;
        let hash = self.hash(password).await?;
        let now = self.clock.now();
        let res = sqlx::query(
            "INSERT INTO app_user (username, display_name, role, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(username)
        .bind(display_name)
        .bind(role.as_str())
        .bind(hash)
        .bind(now)
        .bind(now)
        .fetch_one(self.db.pool())
        .await;
        match res {
            Ok(row) => Ok(row.try_get("id")?),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(Error::invalid(
                format!("the user name {username:?} is taken"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Every user, for the admin page.
    ///
    /// # Errors
    /// Permission; database errors.
    pub async fn list_users(&self, who: &Principal) -> Result<Vec<UserSummary>> {
        who.require(Permission::ManageUsers)?;
        let now = self.clock.now();
        let rows = sqlx::query(
            "SELECT u.id, u.username, u.display_name, u.role, u.disabled, u.created_at, \
             (SELECT COUNT(*) FROM app_session s WHERE s.user_id = u.id AND s.expires_at > $1) AS sessions \
             FROM app_user u ORDER BY u.username",
        )
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get("role")?;
                Ok(UserSummary {
                    id: r.try_get("id")?,
                    username: r.try_get("username")?,
                    display_name: r.try_get("display_name")?,
                    role: stored_role(&role)?,
                    disabled: r.try_get::<i64, _>("disabled")? != 0,
                    created_at: format_time(r.try_get("created_at")?),
                    active_sessions: r.try_get("sessions")?,
                })
            })
            .collect()
    }

    /// Changes a user's role. An admin cannot demote themselves (someone must
    /// stay able to manage users).
    ///
    /// # Errors
    /// Permission, unknown user, self-demotion; database errors.
    pub async fn set_role(
        &self,
        who: &Principal,
        client: &Client,
        user_id: i64,
        role: Role,
    ) -> Result<()> {
        let me = who.require(Permission::ManageUsers)?;
        if me.id == user_id && role != Role::Admin {
            return Err(Error::invalid("you cannot take admin away from yourself"));
        }
        let name = self.username_of(user_id).await?;
        sqlx::query("UPDATE app_user SET role = $1, updated_at = $2 WHERE id = $3")
            .bind(role.as_str())
            .bind(self.clock.now())
            .bind(user_id)
            .execute(self.db.pool())
            .await?;
        self.audit(who, client, "user.role", &name, role.as_str())
            .await
    }

    /// Sets a new random password (shown once to the admin) and ends the
    /// user's sessions.
    ///
    /// # Errors
    /// Permission, unknown user; database errors.
    pub async fn reset_password(
        &self,
        who: &Principal,
        client: &Client,
        user_id: i64,
    ) -> Result<String> {
        who.require(Permission::ManageUsers)?;
        let name = self.username_of(user_id).await?;
        let password = password::random_password()?;
        let hash = self.hash(&password).await?;
        let mut tx = self.db.pool().begin().await?;
        sqlx::query("UPDATE app_user SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(self.clock.now())
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        delete_sessions_of(&mut *tx, user_id).await?;
        tx.commit().await?;
        self.audit(who, client, "user.reset_password", &name, "sessions ended")
            .await?;
        Ok(password)
    }

    /// Disables (ending their sessions) or re-enables a user.
    ///
    /// # Errors
    /// Permission, unknown user, disabling yourself; database errors.
    pub async fn set_disabled(
        &self,
        who: &Principal,
        client: &Client,
        user_id: i64,
        disabled: bool,
    ) -> Result<()> {
        let me = who.require(Permission::ManageUsers)?;
        if me.id == user_id && disabled {
            return Err(Error::invalid("you cannot disable your own account"));
        }
        let name = self.username_of(user_id).await?;
        let mut tx = self.db.pool().begin().await?;
        sqlx::query("UPDATE app_user SET disabled = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(disabled))
            .bind(self.clock.now())
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if disabled {
            delete_sessions_of(&mut *tx, user_id).await?;
        }
        tx.commit().await?;
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        self.audit(who, client, action, &name, "").await
    }

    async fn username_of(&self, user_id: i64) -> Result<String> {
        sqlx::query_scalar("SELECT username FROM app_user WHERE id = $1")
            .bind(user_id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {user_id}")))
    }
}

pub(crate) fn me_from_row(row: &sqlx::any::AnyRow) -> Result<Me> {
    let role: String = row.try_get("role")?;
    Ok(Me {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        role: stored_role(&role)?,
    })
}

pub(crate) fn stored_role(name: &str) -> Result<Role> {
    Role::from_name(name).ok_or_else(|| Error::Internal(format!("stored role {name:?}")))
}

/// Ends every session of a user; answers how many there were.
pub(crate) async fn delete_sessions_of<'e>(
    ex: impl sqlx::any::AnyExecutor<'e>,
    user_id: i64,
) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM app_session WHERE user_id = $1")
        .bind(user_id)
        .execute(ex)
        .await?
        .rows_affected())
}

pub(crate) fn validate_username(name: &str) -> Result<()> {
    let ok = (2..=limits::USERNAME_MAX).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "a user name is 2 to {} letters, digits or . _ - @",
            limits::USERNAME_MAX
        )))
    }
}

pub(crate) fn validate_display_name(name: &str) -> Result<()> {
    if name.chars().count() > limits::DISPLAY_NAME_MAX || name.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "a display name is at most {} characters, on one line",
            limits::DISPLAY_NAME_MAX
        )));
    }
    Ok(())
}

pub(crate) fn check_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(Error::invalid(format!(
            "a password needs at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if n > limits::PASSWORD_MAX {
        return Err(Error::invalid(format!(
            "a password has at most {} characters",
            limits::PASSWORD_MAX
        )));
    }
    Ok(())
}
