//! Password sign-in with throttling: an attempt first reserves its try (a
//! failure row per address+user and per address, counted and written in one
//! transaction that holds the address's row in `login_attempt_lock`, so
//! concurrent attempts take turns), and only then may hash; success deletes
//! the reservation. IPv6 clients are counted by their /64.

use model::auth::limits;
use platform::{Error, Principal, Result};
use sqlx::Row as _;

use crate::{
    clip, password, secs, token_hash, truncate,
    users::{me_from_row, validate_username},
    AuthService, Client, NewSession,
};

impl AuthService {
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
    #[tracing::instrument(skip_all, fields(addr = %client.addr))]
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
    #[tracing::instrument(skip(self), err)]
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
