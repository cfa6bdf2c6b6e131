//! Accounts: users and roles, password sign-in with throttling, sessions in
//! the database, share links for map viewers, and the audit log.
//!
//! Sign-in throttling: an attempt first reserves its try (a failure row per
//! address+user and per address, counted and written in one transaction that
//! holds the address's row in `login_attempt_lock`, so concurrent attempts
//! take turns), and only then may hash; success deletes the reservation.
//! Password hashing runs under a semaphore sized to the cores: an attempt that
//! cannot get a turn within `hash_wait` is refused with
//! [`Error::Overloaded`] (503) rather than queued without bound.
//!
//! Every entry point that changes something takes the acting [`Principal`]
//! and checks its permission here, so the web layer cannot forget to.

mod audit;
mod password;

mod share;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

pub use model::auth::{limits, Me, Permission, Role};
use model::auth::{SessionSummary, UserSummary};
use sha2::{Digest as _, Sha256};
use sqlx::Row;

pub use self::{password::random_password, share::ShareGrant};
pub use platform::{format_time, Clock, Principal};
use platform::{Db, Error, Result};

/// Where a request came from, for throttling and the audit log.
#[derive(Clone, Debug, Default)]
pub struct Client {
    pub addr: String,
    pub user_agent: String,
}

/// Session lifetimes and sign-in throttling.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// A session unused this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute_timeout: Duration,
    /// Failed sign-ins allowed per account from one address within `failure_window`.
    pub max_failures: u32,
    /// Failed sign-ins allowed from one address (any accounts) within `failure_window`.
    pub max_address_failures: u32,
    pub failure_window: Duration,
    /// Password hashes (sign-in checks, new passwords) computed at once; each
    /// takes about 19 MiB and a core for a moment.
    pub max_concurrent_hashes: usize,
    /// How long an attempt waits for a hashing turn before it is refused (503).
    pub hash_wait: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(8 * 3600),
            absolute_timeout: Duration::from_secs(7 * 24 * 3600),
            max_failures: 5,
            max_address_failures: 20,
            failure_window: Duration::from_secs(15 * 60),
            max_concurrent_hashes: std::thread::available_parallelism().map_or(2, usize::from),
            hash_wait: Duration::from_secs(3),
        }
    }
}

/// A new session: the secret for the cookie and who it signs in.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// The cookie value. Only its SHA-256 is stored.
    pub token: String,
    pub me: Me,
    pub max_age: Duration,
}

/// Users, sessions, share links and the audit log.
#[derive(Clone, Debug)]
pub struct AuthService {
    db: Db,
    config: AuthConfig,
    clock: Clock,
    hashing: Arc<Hashing>,
}

/// The turns for password hashing, and how many checks ran.
#[derive(Debug)]
struct Hashing {
    turns: tokio::sync::Semaphore,
    verifications: AtomicU64,
}

/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = limits::PASSWORD_MIN;

impl AuthService {
    #[must_use]
    pub fn new(db: Db, config: AuthConfig, clock: Clock) -> Self {
        let hashing = Arc::new(Hashing {
            turns: tokio::sync::Semaphore::new(config.max_concurrent_hashes.max(1)),
            verifications: AtomicU64::new(0),
        });
        Self {
            db,
            config,
            clock,
            hashing,
        }
    }

    /// How many password checks (argon2 verifications) sign-ins have run.
    #[must_use]
    pub fn verifications(&self) -> u64 {
        self.hashing.verifications.load(Ordering::Relaxed)
    }

    /// A turn to hash, or [`Error::Overloaded`] after `hash_wait`.
    async fn hashing_turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        match tokio::time::timeout(self.config.hash_wait, self.hashing.turns.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(Error::Internal("the hashing semaphore closed".into())),
            Err(_) => {
                tracing::warn!("sign-in refused: every password-hashing turn is busy");
                Err(Error::Overloaded {
                    what: "sign-ins".into(),
                    retry_after_secs: self.config.hash_wait.as_secs().max(1),
                })
            }
        }
    }

    /// Checks `password` against `stored` (or a hash nobody has, spending the
    /// same time) in a hashing turn.
    async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool> {
        let _turn = self.hashing_turn().await?;
        self.hashing.verifications.fetch_add(1, Ordering::Relaxed);
        match stored {
            Some(hash) => password::verify(password, hash).await,
            None => password::verify_dummy(password).await.map(|()| false),
        }
    }

    /// A new argon2id hash of `password`, in a hashing turn.
    async fn hash(&self, password: &str) -> Result<String> {
        let _turn = self.hashing_turn().await?;
        password::hash(password).await
    }

    /// The clock this service reads.
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

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

    /// Checks a user name and password, throttled per account and address and
    /// per address, and opens a new session (a new id every time: no fixation).
    ///
    /// The attempt's failure rows are written before the password is checked
    /// (see [`AuthService::reserve_attempt`]), so however many attempts arrive
    /// at once, at most `max_failures` of them per account and address reach
    /// argon2. A success deletes its own reservation and the account's failures
    /// from that address.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a user name longer than any can be (nothing is
    /// stored), [`Error::Throttled`], [`Error::Overloaded`] when every hashing
    /// turn is taken, [`Error::LoginFailed`] (for a wrong name, a wrong
    /// password and a disabled account alike), database errors.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: &Client,
    ) -> Result<NewSession> {
        let username = username.trim();
        if username.chars().count() > limits::USERNAME_MAX {
            return Err(Error::invalid(format!(
                "a user name has at most {} characters",
                limits::USERNAME_MAX
            )));
        }
        // A name no account can have (and an overlong password) fails at
        // once: no throttle row, no hash, and no timing to learn from.
        if validate_username(username).is_err() || password.chars().count() > limits::PASSWORD_MAX {
            return Err(Error::LoginFailed);
        }
        let now = self.clock.now();
        let keys = ThrottleKeys::new(username, &client.addr);
        let reservation = self.reserve_attempt(&keys, now).await?;

        let checked = async {
            let row = sqlx::query(
                "SELECT id, username, display_name, role, password_hash, disabled FROM app_user WHERE username = $1",
            )
            .bind(username)
            .fetch_optional(self.db.pool())
            .await?;
            let verified = match &row {
                Some(r) => {
                    let hash: String = r.try_get("password_hash")?;
                    let disabled = r.try_get::<i64, _>("disabled")? != 0;
                    self.verify(password, Some(&hash)).await? && !disabled
                }
                // The same time as a real check: timing must not tell names apart.
                None => self.verify(password, None).await?,
            };
            Ok::<_, Error>(row.filter(|_| verified))
        }
        .await;
        let row = match checked {
            Ok(Some(row)) => row,
            Ok(None) => {
                // The reservation stays: it is this failure's record.
                self.audit_raw(None, username, client, "auth.login_failed", username, "")
                    .await?;
                return Err(Error::LoginFailed);
            }
            Err(e) => {
                // No guess was made (no hashing turn, the database): give the try back.
                self.release_attempt(&reservation).await;
                return Err(e);
            }
        };
        self.release_attempt(&reservation).await;
        sqlx::query("DELETE FROM login_failure WHERE key = $1")
            .bind(&keys.account)
            .execute(self.db.pool())
            .await?;
        let me = me_from_row(&row)?;
        let token = password::random_token()?;
        let expires = now + secs(self.config.absolute_timeout);
        sqlx::query(
            "INSERT INTO app_session (id, user_id, created_at, last_seen_at, expires_at, client_addr, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token_hash(&token))
        .bind(me.id)
        .bind(now)
        .bind(now)
        .bind(expires)
        .bind(&client.addr)
        .bind(truncate(&client.user_agent, limits::USER_AGENT_MAX))
        .execute(self.db.pool())
        .await?;
        self.audit(
            &Principal::User(me.clone()),
            client,
            "auth.login",
            &me.username,
            "",
        )
        .await?;
        Ok(NewSession {
            token,
            me,
            max_age: self.config.absolute_timeout,
        })
    }

    /// Reserves one try for a sign-in: in one transaction holding the
    /// address's `login_attempt_lock` row (attempts from one address take
    /// turns; every key below names the address), counts the failures in the
    /// window per account+address and per address, refuses when either is at
    /// its limit, else writes a failure row for each and answers their ids.
    async fn reserve_attempt(&self, keys: &ThrottleKeys, now: i64) -> Result<Vec<i64>> {
        let window = secs(self.config.failure_window);
        let since = now - window;
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO login_attempt_lock (key, at) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET at = excluded.at",
        )
        .bind(&keys.address)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM login_failure WHERE (key = $1 OR key = $2) AND at < $3")
            .bind(&keys.account)
            .bind(&keys.address)
            .bind(since)
            .execute(&mut *tx)
            .await?;
        let limits = [
            (&keys.account, self.config.max_failures),
            (&keys.address, self.config.max_address_failures),
        ];
        for (key, limit) in limits {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n, MIN(at) AS first FROM login_failure WHERE key = $1 AND at >= $2",
            )
            .bind(key)
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
            let n: i64 = row.try_get("n")?;
            if n >= i64::from(limit) {
                let first: Option<i64> = row.try_get("first")?;
                tx.rollback().await?;
                let retry = (first.unwrap_or(now) + window - now).max(1);
                return Err(Error::Throttled {
                    retry_after_secs: u64::try_from(retry).unwrap_or(1),
                });
            }
        }
        let mut ids = Vec::with_capacity(2);
        for key in [&keys.account, &keys.address] {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO login_failure (key, at) VALUES ($1, $2) RETURNING id",
            )
            .bind(key)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Deletes a reservation (the attempt succeeded, or never got to guess).
    /// A failure here leaves the rows to expire with the window.
    async fn release_attempt(&self, ids: &[i64]) {
        for id in ids {
            if let Err(e) = sqlx::query("DELETE FROM login_failure WHERE id = $1")
                .bind(id)
                .execute(self.db.pool())
                .await
            {
                tracing::warn!("a sign-in reservation was not released: {e}");
            }
        }
    }

    /// Clears the sign-in throttle of a user name, from every address
    /// (`switchboard user unlock`). Answers how many failures it removed.
    ///
    /// # Errors
    /// A malformed user name; database errors.
    pub async fn unlock(&self, username: &str) -> Result<u64> {
        let username = username.trim();
        validate_username(username)?;
        let prefix = ThrottleKeys::account_prefix(username);
        let prefix_len = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
        let mut tx = self.db.pool().begin().await?;
        // The addresses this user failed from: their per-address counts go
        // too, or an office behind one address stays locked after an unlock.
        let addresses: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT substr(key, CAST($1 AS INTEGER) + 1) FROM login_failure \
             WHERE substr(key, 1, CAST($1 AS INTEGER)) = $2",
        )
        .bind(prefix_len)
        .bind(&prefix)
        .fetch_all(&mut *tx)
        .await?;
        let mut n =
            sqlx::query("DELETE FROM login_failure WHERE substr(key, 1, CAST($1 AS INTEGER)) = $2")
                .bind(prefix_len)
                .bind(&prefix)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        for addr in &addresses {
            n += sqlx::query("DELETE FROM login_failure WHERE key = $1")
                .bind(format!("{ADDRESS_PREFIX}{addr}"))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        self.audit_system(
            "user.unlock",
            username,
            &format!("{n} sign-in failure(s) cleared"),
        )
        .await?;
        Ok(n)
    }

    /// Housekeeping: deletes expired sessions, idle sessions and sign-in
    /// failures older than the throttle window. Returns what it removed.
    ///
    /// # Errors
    /// Database errors.
    pub async fn prune(&self) -> Result<String> {
        let now = self.clock.now();
        let sessions =
            sqlx::query("DELETE FROM app_session WHERE expires_at <= $1 OR last_seen_at <= $2")
                .bind(now)
                .bind(now - secs(self.config.idle_timeout))
                .execute(self.db.pool())
                .await?
                .rows_affected();
        let failures = sqlx::query("DELETE FROM login_failure WHERE at < $1")
            .bind(now - secs(self.config.failure_window))
            .execute(self.db.pool())
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM login_attempt_lock WHERE at < $1")
            .bind(now - secs(self.config.failure_window))
            .execute(self.db.pool())
            .await?;
        Ok(format!(
            "removed {sessions} expired session(s) and {failures} old sign-in failure(s)"
        ))
    }

    /// The principal a session cookie stands for; `Anonymous` when the token is
    /// unknown, expired (idle or absolute) or its user is disabled.
    ///
    /// # Errors
    /// Database errors.
    pub async fn session(&self, token: &str) -> Result<Principal> {
        self.lookup(token, true).await
    }

    /// As [`AuthService::session`], without counting as activity: for a
    /// long-lived stream re-checking its session, which must not keep an idle
    /// session alive past its idle timeout.
    ///
    /// # Errors
    /// Database errors.
    pub async fn peek_session(&self, token: &str) -> Result<Principal> {
        self.lookup(token, false).await
    }

    async fn lookup(&self, token: &str, touch: bool) -> Result<Principal> {
        let now = self.clock.now();
        let id = token_hash(token);
        let row = sqlx::query(
            "SELECT u.id, u.username, u.display_name, u.role, u.disabled, s.last_seen_at, s.expires_at \
             FROM app_session s JOIN app_user u ON u.id = s.user_id WHERE s.id = $1",
        )
        .bind(&id)
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else {
            return Ok(Principal::Anonymous);
        };
        let last_seen: i64 = row.try_get("last_seen_at")?;
        let expires: i64 = row.try_get("expires_at")?;
        let disabled = row.try_get::<i64, _>("disabled")? != 0;
        if disabled || now >= expires || now - last_seen >= secs(self.config.idle_timeout) {
            sqlx::query("DELETE FROM app_session WHERE id = $1")
                .bind(&id)
                .execute(self.db.pool())
                .await?;
            return Ok(Principal::Anonymous);
        }
        // Touch at most once a minute: reads stay reads.
        if touch && now - last_seen >= 60 {
            sqlx::query("UPDATE app_session SET last_seen_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&id)
                .execute(self.db.pool())
                .await?;
        }
        Ok(Principal::User(me_from_row(&row)?))
    }

    /// Ends one session.
    ///
    /// # Errors
    /// Database errors.
    pub async fn logout(&self, token: &str, client: &Client) -> Result<()> {
        let who = self.session(token).await?;
        sqlx::query("DELETE FROM app_session WHERE id = $1")
            .bind(token_hash(token))
            .execute(self.db.pool())
            .await?;
        if let Principal::User(me) = &who {
            self.audit(&who, client, "auth.logout", &me.username, "")
                .await?;
        }
        Ok(())
    }

    /// Ends every session of the signed-in user ("sign out everywhere").
    ///
    /// # Errors
    /// Unauthenticated; database errors.
    pub async fn logout_everywhere(&self, who: &Principal, client: &Client) -> Result<u64> {
        let me = who.user().ok_or(Error::Unauthenticated)?;
        let n = delete_sessions_of(self.db.pool(), me.id).await?;
        self.audit(
            who,
            client,
            "auth.logout_everywhere",
            &me.username,
            &format!("{n} session(s)"),
        )
        .await?;
        Ok(n)
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

    /// Active sessions of every user, newest first.
    ///
    /// # Errors
    /// Permission; database errors.
    pub async fn list_sessions(&self, who: &Principal) -> Result<Vec<SessionSummary>> {
        who.require(Permission::ManageUsers)?;
        let rows = sqlx::query(
            "SELECT s.id, u.username, s.created_at, s.last_seen_at, s.client_addr, s.user_agent \
             FROM app_session s JOIN app_user u ON u.id = s.user_id WHERE s.expires_at > $1 \
             ORDER BY s.last_seen_at DESC LIMIT 200",
        )
        .bind(self.clock.now())
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok(SessionSummary {
                    handle: id[..12].to_owned(),
                    username: r.try_get("username")?,
                    created_at: format_time(r.try_get("created_at")?),
                    last_seen_at: format_time(r.try_get("last_seen_at")?),
                    client_addr: r.try_get("client_addr")?,
                    user_agent: r.try_get("user_agent")?,
                })
            })
            .collect()
    }

    /// Ends the session whose handle (hash prefix) is given.
    ///
    /// # Errors
    /// Permission, unknown handle; database errors.
    pub async fn end_session(&self, who: &Principal, client: &Client, handle: &str) -> Result<()> {
        who.require(Permission::ManageUsers)?;
        if handle.len() != 12 || !handle.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::invalid("not a session handle"));
        }
        let n = sqlx::query("DELETE FROM app_session WHERE substr(id, 1, 12) = $1")
            .bind(handle)
            .execute(self.db.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound(format!("session {handle}")));
        }
        self.audit(who, client, "session.end", handle, "").await
    }

    async fn username_of(&self, user_id: i64) -> Result<String> {
        sqlx::query_scalar("SELECT username FROM app_user WHERE id = $1")
            .bind(user_id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {user_id}")))
    }
}

fn me_from_row(row: &sqlx::any::AnyRow) -> Result<Me> {
    let role: String = row.try_get("role")?;
    Ok(Me {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        role: stored_role(&role)?,
    })
}

fn stored_role(name: &str) -> Result<Role> {
    Role::from_name(name).ok_or_else(|| Error::Internal(format!("stored role {name:?}")))
}

/// Ends every session of a user; answers how many there were.
async fn delete_sessions_of<'e>(ex: impl sqlx::any::AnyExecutor<'e>, user_id: i64) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM app_session WHERE user_id = $1")
        .bind(user_id)
        .execute(ex)
        .await?
        .rows_affected())
}

/// The throttle's keys for one attempt: the account from this address, and
/// the address. (`login` only gets here with a valid user name, which has no
/// `|`, so a key's account prefix is exact.)
struct ThrottleKeys {
    account: String,
    address: String,
}

impl ThrottleKeys {
    fn new(username: &str, addr: &str) -> Self {
        let addr = throttle_address(addr);
        Self {
            account: format!("{}{addr}", Self::account_prefix(username)),
            address: format!("{ADDRESS_PREFIX}{addr}"),
        }
    }

    fn account_prefix(username: &str) -> String {
        format!("user:{}|addr:", username.to_lowercase())
    }
}

const ADDRESS_PREFIX: &str = "addr:";

/// The address the throttle counts: an IPv4 address as it is, an IPv6 one by
/// its /64 (one subscriber's or host's network: stepping through its 2^64
/// addresses must not buy new tries), IPv4-mapped IPv6 as IPv4; anything
/// else (an unknown peer) cut to 64 characters.
fn throttle_address(addr: &str) -> String {
    use std::net::{IpAddr, Ipv6Addr};
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => format!(
                "{}/64",
                Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))
            ),
        },
        Err(_) => clip(addr, 64).into_owned(),
    }
}

fn validate_username(name: &str) -> Result<()> {
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

fn validate_display_name(name: &str) -> Result<()> {
    if name.chars().count() > limits::DISPLAY_NAME_MAX || name.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "a display name is at most {} characters, on one line",
            limits::DISPLAY_NAME_MAX
        )));
    }
    Ok(())
}

fn check_password(password: &str) -> Result<()> {
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

pub(crate) fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// At most `max` characters of `s`.
fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// At most `max` characters of `s`; a cut one ends with `…` (within `max`).
pub(crate) fn clip(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some(_) => {
            let keep = s
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(s.len(), |(i, _)| i);
            std::borrow::Cow::Owned(format!("{}…", &s[..keep]))
        }
        None => std::borrow::Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod tests;
