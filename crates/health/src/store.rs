//! The health tables as typed rows: one record per table read, each with its
//! column list written once ([`record!`]: the struct, its `COLUMNS`, reading by
//! those names and binding in that order), converted to the model's types; the
//! SQL that writes targets, statuses and events is built from the same lists.

use std::sync::LazyLock;

use model::health::{
    CheckKind, HealthEvent, HealthState, HttpCheck, StateChange, TargetLive, TargetSpec,
    TargetStatus, Timing,
};
use platform::{Error, Result};
use sqlx::{any::AnyRow, Row as _};

use crate::rollup;

/// A query on the `Any` driver, for binding records.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// A typed row: the struct, `COLUMNS` (its fields' names, in order), reading it
/// by those names (`sqlx::FromRow`) and binding it in that order (`bind`). The
/// fields are the `Any` driver's types (i64, String, Option); the conversions to
/// the model's types are beside each record.
macro_rules! record {
    ($(#[$meta:meta])* struct $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub(crate) struct $name {
            $($(#[$fmeta])* pub(crate) $field: $ty,)*
        }

        #[allow(dead_code, reason = "records that are only read are never bound")]
        impl $name {
            /// The columns, in the order [`Self::bind`] binds them.
            pub(crate) const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// Binds every column, in the order of [`Self::COLUMNS`].
            pub(crate) fn bind(self, q: AnyQuery<'_>) -> AnyQuery<'_> {
                q$(.bind(self.$field))*
            }
        }

        impl sqlx::FromRow<'_, AnyRow> for $name {
            fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
                Ok(Self { $($field: row.try_get(stringify!($field))?,)* })
            }
        }
    };
}

record! {
    /// The columns of `health_target` a target's settings are in (besides its
    /// `id` and `pool_id`): read by [`target_select`], written by [`insert_target`].
    struct TargetColumns {
        name: String,
        address: String,
        /// A [`CheckKind`]'s name (no CHECK constraint: an unknown one is skipped).
        kind: String,
        method: String,
        path: String,
        expect_status: Option<i64>,
        body_match: Option<String>,
        host: Option<String>,
        inter_ms: i64,
        fastinter_ms: i64,
        downinter_ms: i64,
        fall: i64,
        rise: i64,
        timeout_ms: i64,
        cert_warn_days: i64,
    }
}

record! {
    /// A row of `health_status`: the checker's latest view of a target. Every
    /// column is optional for reading through a LEFT JOIN (no row before the
    /// first check).
    struct StatusRecord {
        target_id: Option<i64>,
        state: Option<String>,
        health: Option<i64>,
        since_ms: Option<i64>,
        last_ok: Option<i64>,
        latency_ms: Option<i64>,
        message: Option<String>,
        warning: Option<String>,
        checked_ms: Option<i64>,
        /// The latest latencies, oldest first, comma-separated; `-` for a failure.
        recent: Option<String>,
        checks: Option<i64>,
        updated_ms: Option<i64>,
    }
}

record! {
    /// A row of `health_event`: an UP/DOWN change (its `id` orders them).
    struct EventRecord {
        target_id: i64,
        name: String,
        pool: String,
        from_state: String,
        to_state: String,
        at_ms: i64,
        message: String,
    }
}

record! {
    /// A pool with its site, as [`POOL_SELECT`] reads it.
    struct PoolRecord {
        id: i64,
        name: String,
        service: String,
        needed: i64,
        site: String,
        kind: String,
    }
}

record! {
    /// A target's pool and its state, for the roll-up.
    struct PoolStateRecord {
        pool_id: i64,
        state: Option<String>,
    }
}

record! {
    /// Who holds a job's lease (`job_lease`), and until when.
    struct LeaseRecord {
        holder: Option<String>,
        expires_ms: Option<i64>,
    }
}

/// A target as [`target_select`] reads it: its id, its settings, where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TargetRecord {
    pub(crate) id: i64,
    pub(crate) pool: String,
    pub(crate) site: String,
    pub(crate) columns: TargetColumns,
}

impl sqlx::FromRow<'_, AnyRow> for TargetRecord {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            pool: row.try_get("pool")?,
            site: row.try_get("site")?,
            columns: TargetColumns::from_row(row)?,
        })
    }
}

/// The joins every target read goes through (`t`, `p`, `s`).
pub(crate) const TARGET_FROM: &str = "FROM health_target t JOIN health_pool p ON p.id = t.pool_id \
     JOIN health_site s ON s.id = p.site_id";

/// `t.id, t.name, ..., p.name AS pool, s.name AS site`: what a [`TargetRecord`] reads.
pub(crate) fn target_select() -> String {
    let mut sql = String::from("t.id");
    for c in TargetColumns::COLUMNS {
        sql.push_str(", t.");
        sql.push_str(c);
    }
    sql + ", p.name AS pool, s.name AS site"
}

/// `h.target_id, h.state, ...`: what a [`StatusRecord`] reads, from `h`.
pub(crate) fn status_select() -> String {
    StatusRecord::COLUMNS
        .iter()
        .map(|c| format!("h.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sites and pools, by site and name.
pub(crate) const POOL_SELECT: &str = "SELECT p.id, p.name, p.service, p.needed, s.name AS site, \
     s.kind FROM health_pool p JOIN health_site s ON s.id = p.site_id ORDER BY s.name, p.name";

/// A row that needs no one's attention: UP, its last check passed, no warning.
/// (A target not checked yet has no status row: not healthy.)
pub(crate) const HEALTHY: &str =
    "COALESCE(h.state = 'up' AND h.last_ok = 1 AND h.warning IS NULL, FALSE)";

/// A stored target whose kind this version does not know (the database no
/// longer refuses one): the checker and the page skip it.
#[derive(Debug, thiserror::Error)]
#[error("target {id} ({name:?}) has a check kind this version does not know: {kind:?}")]
pub(crate) struct UnknownKind {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) kind: String,
}

fn u32_of(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

impl TryFrom<TargetRecord> for TargetSpec {
    type Error = UnknownKind;

    fn try_from(r: TargetRecord) -> std::result::Result<Self, UnknownKind> {
        let c = r.columns;
        let Some(kind) = CheckKind::from_name(&c.kind) else {
            return Err(UnknownKind {
                id: r.id,
                name: c.name,
                kind: c.kind,
            });
        };
        Ok(Self {
            id: r.id,
            name: c.name,
            pool: r.pool,
            address: c.address,
            kind,
            http: HttpCheck {
                method: c.method,
                path: c.path,
                expect_status: c.expect_status.and_then(|s| u16::try_from(s).ok()),
                body_match: c.body_match,
                host: c.host,
            },
            timing: Timing {
                inter_ms: u32_of(c.inter_ms),
                fastinter_ms: u32_of(c.fastinter_ms),
                downinter_ms: u32_of(c.downinter_ms),
                fall: u32_of(c.fall),
                rise: u32_of(c.rise),
                timeout_ms: u32_of(c.timeout_ms),
            },
            cert_warn_days: u32_of(c.cert_warn_days),
        })
    }
}

impl From<&TargetSpec> for TargetColumns {
    fn from(s: &TargetSpec) -> Self {
        let t = &s.timing;
        Self {
            name: s.name.clone(),
            address: s.address.clone(),
            kind: s.kind.as_str().to_owned(),
            method: s.http.method.clone(),
            path: s.http.path.clone(),
            expect_status: s.http.expect_status.map(i64::from),
            body_match: s.http.body_match.clone(),
            host: s.http.host.clone(),
            inter_ms: i64::from(t.inter_ms),
            fastinter_ms: i64::from(t.fastinter_ms),
            downinter_ms: i64::from(t.downinter_ms),
            fall: i64::from(t.fall),
            rise: i64::from(t.rise),
            timeout_ms: i64::from(t.timeout_ms),
            cert_warn_days: i64::from(s.cert_warn_days),
        }
    }
}

/// The target, if it can be checked: one of an unknown kind is left out with a
/// warning (it never stops the checker or the page).
pub(crate) fn checkable(r: TargetRecord) -> Option<TargetSpec> {
    TargetSpec::try_from(r)
        .inspect_err(|e| tracing::warn!("{e}: skipped"))
        .ok()
}

/// `up` is UP; anything else DOWN.
fn state_of(s: &str) -> HealthState {
    if s == "up" {
        HealthState::Up
    } else {
        HealthState::Down
    }
}

impl StatusRecord {
    /// The row for `s` as written at `now_ms`.
    pub(crate) fn written(s: &TargetStatus, now_ms: i64) -> Self {
        let last = s.last.as_ref();
        Self {
            target_id: Some(s.id),
            state: Some(s.state.as_str().to_owned()),
            health: Some(i64::from(s.health)),
            since_ms: Some(s.since_ms),
            last_ok: Some(i64::from(last.is_some_and(|l| l.ok))),
            latency_ms: Some(i64::from(last.map_or(0, |l| l.latency_ms))),
            message: Some(last.map_or_else(String::new, |l| l.message.clone())),
            warning: last.and_then(|l| l.warning.clone()),
            checked_ms: Some(last.map_or(0, |l| l.at_ms)),
            recent: Some(recent_text(&s.recent)),
            checks: Some(i64::try_from(s.checks).unwrap_or(i64::MAX)),
            updated_ms: Some(now_ms),
        }
    }

    /// What the page shows of target `id` (all zero before its first check).
    pub(crate) fn live(self, id: i64) -> TargetLive {
        let number = |v: Option<i64>| v.unwrap_or(0);
        TargetLive {
            id,
            state: self.state.as_deref().map(state_of),
            health: u32_of(number(self.health)),
            since_ms: number(self.since_ms),
            latency_ms: u32_of(number(self.latency_ms)),
            ok: number(self.last_ok) != 0,
            message: self.message.unwrap_or_default(),
            warning: self.warning,
            checked_ms: number(self.checked_ms),
            recent: recent_parse(self.recent.as_deref().unwrap_or_default()),
            checks: u64::try_from(number(self.checks)).unwrap_or(0),
            updated_ms: number(self.updated_ms),
        }
    }
}

impl From<&StateChange> for EventRecord {
    fn from(c: &StateChange) -> Self {
        Self {
            target_id: c.target_id,
            name: c.name.clone(),
            pool: c.pool.clone(),
            from_state: c.from.as_str().to_owned(),
            to_state: c.to.as_str().to_owned(),
            at_ms: c.at_ms,
            message: c.message.clone(),
        }
    }
}

impl From<EventRecord> for HealthEvent {
    fn from(r: EventRecord) -> Self {
        Self {
            target_id: r.target_id,
            name: r.name,
            pool: r.pool,
            from: state_of(&r.from_state),
            to: state_of(&r.to_state),
            at_ms: r.at_ms,
            message: r.message,
        }
    }
}

impl From<PoolRecord> for rollup::Pool {
    fn from(r: PoolRecord) -> Self {
        Self {
            id: r.id,
            name: r.name,
            site: r.site,
            site_kind: r.kind,
            service: r.service,
            needed: u32_of(r.needed),
        }
    }
}

impl PoolStateRecord {
    pub(crate) fn state(&self) -> Option<HealthState> {
        self.state.as_deref().map(state_of)
    }
}

/// `$from, $from+1, ...`: `count` numbered placeholders.
fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inserts a target into the pool named `pool`; with `if_missing`, an existing
/// target of that name is left alone. The new id, or `None` for an unknown pool
/// (or an existing target with `if_missing`).
///
/// # Errors
/// [`Error::Invalid`] when the pool already has a target of that name; database errors.
pub(crate) async fn insert_target(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    pool: &str,
    spec: &TargetSpec,
    if_missing: bool,
) -> Result<Option<i64>> {
    let columns = TargetColumns::COLUMNS;
    let sql = format!(
        "INSERT INTO health_target (pool_id, {}) SELECT id, {} FROM health_pool WHERE name = $1{} \
         RETURNING id",
        columns.join(", "),
        placeholders(2, columns.len()),
        if if_missing {
            " ON CONFLICT (pool_id, name) DO NOTHING"
        } else {
            ""
        },
    );
    let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pool);
    let row = TargetColumns::from(spec)
        .bind(query)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d)
                if d.message().contains("UNIQUE") || d.message().contains("unique") =>
            {
                Error::invalid_field(
                    "name",
                    format!("pool {pool:?} already has a target called {:?}", spec.name),
                )
            }
            other => other.into(),
        })?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

/// `INSERT INTO health_status (target_id, state, ...) VALUES `.
static STATUS_INSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO health_status ({}) VALUES ",
        StatusRecord::COLUMNS.join(", ")
    )
});

/// `ON CONFLICT (target_id) DO UPDATE SET state = excluded.state, ...`.
static STATUS_UPSERT: LazyLock<String> = LazyLock::new(|| {
    let set: Vec<String> = StatusRecord::COLUMNS
        .iter()
        .filter(|c| **c != "target_id")
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(" ON CONFLICT (target_id) DO UPDATE SET {}", set.join(", "))
});

/// Writes `rows` to `health_status` in one statement (insert or update).
///
/// # Errors
/// Database errors (a target deleted since has no row to refer to).
pub(crate) async fn upsert_statuses(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: Vec<StatusRecord>,
) -> std::result::Result<(), sqlx::Error> {
    let sql = platform::db::values_sql(&STATUS_INSERT, StatusRecord::COLUMNS.len(), rows.len())
        + &STATUS_UPSERT;
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for r in rows {
        q = r.bind(q);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// Records an UP/DOWN change in `health_event`.
///
/// # Errors
/// Database errors.
pub(crate) async fn insert_event(db: &platform::Db, change: &StateChange) -> Result<()> {
    let columns = EventRecord::COLUMNS;
    let sql = format!(
        "INSERT INTO health_event ({}) VALUES ({})",
        columns.join(", "),
        placeholders(1, columns.len())
    );
    EventRecord::from(change)
        .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The latest UP/DOWN changes, newest first.
///
/// # Errors
/// Database errors.
pub(crate) async fn events(db: &platform::Db, limit: u32) -> Result<Vec<HealthEvent>> {
    let sql = format!(
        "SELECT {} FROM health_event ORDER BY id DESC LIMIT $1",
        EventRecord::COLUMNS.join(", ")
    );
    let rows: Vec<EventRecord> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(i64::from(limit))
        .fetch_all(db.pool())
        .await?;
    Ok(rows.into_iter().map(HealthEvent::from).collect())
}

/// `3,-,5`: latencies, `-` for a failed check.
fn recent_text(recent: &[Option<u32>]) -> String {
    let mut s = String::with_capacity(recent.len() * 4);
    for (i, r) in recent.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        match r {
            Some(ms) => s.push_str(itoa::Buffer::new().format(*ms)),
            None => s.push('-'),
        }
    }
    s
}

fn recent_parse(text: &str) -> Vec<Option<u32>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().ok())
        .collect()
}
