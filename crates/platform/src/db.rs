//! The database handle: connecting to SQLite or PostgreSQL, applying migrations,
//! and the change feed that tells every replica what changed.
//!
//! SQLite (a file, WAL mode) is the embedded default; a `postgres://` URL selects
//! PostgreSQL for several replicas. Both go through sqlx's `Any` driver, so every
//! query in this crate is written once, with `$1, $2 ...` placeholders (both
//! engines read them), BIGINT-wide integers and 0/1 flags. Where the two engines
//! need different DDL, the migration has a PostgreSQL twin in
//! `migrations/postgres/` (see `MIGRATIONS`).

use std::{borrow::Cow, path::Path, str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::{Migration, MigrationSource, MigrationType, Migrator},
    AnyPool, ConnectOptions as _, Executor as _, SqlSafeStr,
};

use crate::{events::Bus, Error, Result};

/// The database engine behind a [`Db`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// One file, one process: the embedded default.
    Sqlite,
    /// A server shared by several replicas.
    Postgres,
}

impl Engine {
    /// Reads the engine off a database URL.
    ///
    /// # Errors
    /// A scheme that is neither `sqlite:` nor `postgres:`/`postgresql:`.
    pub fn of_url(url: &str) -> Result<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ => Err(Error::invalid(format!(
                "database URL must start with sqlite: or postgres: (got {:?})",
                if scheme.len() > 20 { "?" } else { scheme }
            ))),
        }
    }

    /// A short lowercase name, for logs and `/healthz`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// One schema version: the SQL SQLite runs and the SQL PostgreSQL runs.
#[derive(Debug)]
pub struct Step {
    pub version: i64,
    pub description: &'static str,
    /// `migrations/NNNN_name.sql`.
    pub sqlite: &'static str,
    /// The same file when it is portable, else its twin under `migrations/postgres/`
    /// (a twin that only adds to the portable file says so in its first lines).
    pub postgres: &'static str,
}

macro_rules! sql_file {
    ($name:literal) => {
        include_str!(concat!("../../../migrations/", $name))
    };
}

/// Every schema version, in order, compiled into the binary so the server needs
/// no files beside it. `tests::every_migration_file_is_listed` keeps this list
/// and the folders in step.
pub const MIGRATIONS: &[Step] = &[
    Step {
        version: 1,
        description: "schema",
        sqlite: sql_file!("0001_schema.sql"),
        postgres: sql_file!("postgres/0001_schema.sql"),
    },
    Step {
        version: 2,
        description: "migration checklist template",
        sqlite: sql_file!("0002_checklist_template.sql"),
        postgres: concat!(
            include_str!("../../../migrations/0002_checklist_template.sql"),
            "\n",
            include_str!("../../../migrations/postgres/0002_checklist_template.sql"),
        ),
    },
    Step {
        version: 3,
        description: "accounts",
        sqlite: sql_file!("0003_accounts.sql"),
        postgres: sql_file!("postgres/0003_accounts.sql"),
    },
    Step {
        version: 4,
        description: "job leases and runs",
        sqlite: sql_file!("0004_jobs.sql"),
        postgres: sql_file!("postgres/0004_jobs.sql"),
    },
    Step {
        version: 5,
        description: "geography, towns, outlets",
        sqlite: sql_file!("0005_geography.sql"),
        postgres: sql_file!("postgres/0005_geography.sql"),
    },
    Step {
        version: 6,
        description: "working migrations and their checklists",
        sqlite: sql_file!("0006_migrations.sql"),
        postgres: sql_file!("postgres/0006_migrations.sql"),
    },
    Step {
        version: 7,
        description: "health targets, status and events",
        sqlite: sql_file!("0007_health.sql"),
        postgres: sql_file!("postgres/0007_health.sql"),
    },
    Step {
        version: 8,
        description: "firewall inventories and the audit of applies",
        sqlite: sql_file!("0008_firewall.sql"),
        postgres: sql_file!("postgres/0008_firewall.sql"),
    },
    Step {
        version: 9,
        description: "sign-in throttle per account and address, reserved atomically",
        sqlite: sql_file!("0009_login_throttle.sql"),
        postgres: sql_file!("postgres/0009_login_throttle.sql"),
    },
    Step {
        version: 10,
        description: "indexes for retention",
        sqlite: sql_file!("0010_retention.sql"),
        postgres: sql_file!("0010_retention.sql"),
    },
    Step {
        version: 11,
        description: "health target kinds unchecked by the database",
        sqlite: sql_file!("0011_health_kind_unchecked.sql"),
        postgres: sql_file!("postgres/0011_health_kind_unchecked.sql"),
    },
];

#[derive(Debug)]
struct Embedded(Engine);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> futures_core::future::BoxFuture<
        'static,
        std::result::Result<Vec<Migration>, sqlx::error::BoxDynError>,
    > {
        Box::pin(async move {
            Ok(MIGRATIONS
                .iter()
                .map(|step| {
                    let sql = match self.0 {
                        Engine::Sqlite => step.sqlite,
                        Engine::Postgres => step.postgres,
                    };
                    // As sqlx's own file source: a first line `-- no-transaction`
                    // runs the file outside the migration's transaction (it
                    // manages its own, e.g. to turn SQLite's foreign keys off).
                    let no_tx = sql.starts_with("-- no-transaction");
                    Migration::new(
                        step.version,
                        Cow::Borrowed(step.description),
                        MigrationType::Simple,
                        sql.into_sql_str(),
                        no_tx,
                    )
                })
                .collect())
        })
    }
}

/// Pool sizes and timeouts. The acquire timeout is how long a request waits for
/// a connection before it answers 503, e.g. while PostgreSQL restarts.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// A pooled connection to the app's database, and its change feed.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    engine: Engine,
    bus: Arc<Bus>,
}

impl Db {
    /// Connects to `url` with the default pool settings. See [`Db::connect_with`].
    ///
    /// # Errors
    /// An unsupported URL, an unreachable database or a failed migration.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, &PoolSettings::default()).await
    }

    /// Connects to `url`, creating the SQLite file (and its folder) when missing,
    /// applies every pending migration (on PostgreSQL under an advisory lock, so
    /// replicas starting together take turns) and starts the change feed.
    ///
    /// # Errors
    /// An unsupported URL, an unreachable database or a failed migration.
    pub async fn connect_with(url: &str, settings: &PoolSettings) -> Result<Self> {
        let db = Self::open(url, settings).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Connects like [`Db::connect`], with the schema brought only up to
    /// `version`: a migration's test writes rows as they were before it, then
    /// calls [`Db::migrate`].
    ///
    /// # Errors
    /// As [`Db::connect`].
    #[cfg(feature = "test-support")]
    pub async fn connect_at_version(url: &str, version: i64) -> Result<Self> {
        let db = Self::open(url, &PoolSettings::default()).await?;
        let migrator = Migrator::new(Embedded(db.engine)).await?;
        migrator.run_to(version, &db.pool).await?;
        Ok(db)
    }

    /// The pool and the change feed, the schema as it is.
    async fn open(url: &str, settings: &PoolSettings) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let engine = Engine::of_url(url)?;
        let options = match engine {
            Engine::Sqlite => sqlite_options(url)?,
            Engine::Postgres => AnyConnectOptions::from_str(url)?,
        }
        .disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let bus = Bus::start(engine, url, &pool).await?;
        Ok(Self {
            pool,
            engine,
            bus: Arc::new(bus),
        })
    }

    /// Applies the embedded migrations that have not run yet.
    ///
    /// # Errors
    /// A migration that fails, or one that was changed after it ran.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = Migrator::new(Embedded(self.engine)).await?;
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Takes every connection the pool will give within `wait`, and keeps them
    /// until the returned guard drops: tests use it to make the database hang.
    #[cfg(feature = "test-support")]
    pub async fn hold_every_connection(
        &self,
        wait: Duration,
    ) -> Vec<sqlx::pool::PoolConnection<sqlx::Any>> {
        let mut held = Vec::new();
        while let Ok(Ok(conn)) = tokio::time::timeout(wait, self.pool.acquire()).await {
            held.push(conn);
        }
        held
    }

    /// The pool, for the domain crates' queries (the one query text runs on both engines).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which engine this is.
    #[must_use]
    pub const fn engine(&self) -> Engine {
        self.engine
    }

    /// The change feed: publish here, subscribe here, on every replica.
    #[must_use]
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Answers whether the database responds (for `/healthz`).
    ///
    /// # Errors
    /// The database does not answer.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection (on shutdown), checkpointing SQLite's WAL.
    pub async fn close(&self) {
        self.bus.stop();
        self.pool.close().await;
    }
}

/// SQLite options: the file is created (with its folder) when missing.
fn sqlite_options(url: &str) -> Result<AnyConnectOptions> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err(Error::invalid("the sqlite: URL names no file"));
    }
    if path != ":memory:" {
        if let Some(parent) = Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    Error::invalid(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
        }
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(AnyConnectOptions::from_str(&format!(
        "sqlite://{path}?{query}"
    ))?)
}

/// `head` followed by `rows` groups of `cols` numbered placeholders:
/// `($1,$2),($3,$4)`, for one multi-row statement.
pub fn values_sql(head: &str, cols: usize, rows: usize) -> String {
    let mut sql = String::from(head);
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push(',');
            }
            n += 1;
            sql.push('$');
            sql.push_str(&n.to_string());
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_listed() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
        let sql_files = |dir: &str| -> Vec<String> {
            let mut files: Vec<String> = std::fs::read_dir(dir)
                .expect("migrations folder")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .filter(|n| Path::new(n).extension().is_some_and(|e| e == "sql"))
                .collect();
            files.sort();
            files
        };
        let files = sql_files(root);
        assert_eq!(files.len(), MIGRATIONS.len(), "migrations/ has {files:?}");
        for (file, step) in files.iter().zip(MIGRATIONS) {
            let prefix: i64 = file[..4].parse().expect("NNNN_ prefix");
            assert_eq!(prefix, step.version, "{file} is out of order in MIGRATIONS");
            let text = std::fs::read_to_string(format!("{root}/{file}")).expect("read");
            assert_eq!(
                step.sqlite, text,
                "{file} is not SQLite's text of its version"
            );
            let twin = format!("{root}/postgres/{file}");
            if let Ok(pg) = std::fs::read_to_string(&twin) {
                assert!(
                    step.postgres.contains(&pg),
                    "{twin} is not used by its version"
                );
            } else {
                assert_eq!(
                    step.postgres, text,
                    "{file} has no twin, so it must be portable"
                );
            }
        }
        for twin in sql_files(&format!("{root}/postgres")) {
            assert!(
                files.contains(&twin),
                "postgres/{twin} has no portable file"
            );
        }
    }

    #[tokio::test]
    async fn creates_the_file_in_wal_mode_and_migrates_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/switchboard.db");
        let url = format!("sqlite://{}", path.display());
        let db = Db::connect(&url).await.expect("first connect");
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(db.pool())
            .await
            .expect("pragma");
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(db.pool())
            .await
            .expect("pragma");
        assert_eq!(fk, 1);
        db.close().await;
        assert!(path.exists());
        // A second start finds every migration applied and changes nothing.
        let db = Db::connect(&url).await.expect("second connect");
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(db.pool())
            .await
            .expect("count");
        assert_eq!(applied, i64::try_from(MIGRATIONS.len()).expect("small"));
    }

    #[tokio::test]
    async fn refuses_urls_it_cannot_serve() {
        for url in ["mysql://x", "nonsense", "sqlite://"] {
            let err = Db::connect(url).await.expect_err(url);
            assert!(matches!(err, Error::Invalid(_)), "{url}: {err:?}");
        }
    }

    /// On PostgreSQL (when the test run has one), several replicas starting at
    /// once on an empty database all come up, and the schema is applied once.
    #[tokio::test]
    async fn replicas_starting_together_migrate_once() {
        let Some(url) = crate::testing::postgres_database().await else {
            return;
        };
        let starts = (0..4).map(|_| Db::connect(&url));
        let dbs: Vec<Db> = futures_util::future::try_join_all(starts)
            .await
            .expect("every replica starts");
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(dbs[0].pool())
            .await
            .expect("count");
        assert_eq!(applied, i64::try_from(MIGRATIONS.len()).expect("small"));
        for db in dbs {
            db.close().await;
        }
    }

    /// Both engines end up with the same tables and columns: a query that runs
    /// on one runs on the other.
    #[tokio::test]
    async fn both_engines_have_the_same_tables_and_columns() {
        let Some(pg_url) = crate::testing::postgres_database().await else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let lite = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .expect("sqlite");
        let pg = Db::connect(&pg_url).await.expect("postgres");
        let mut lite_cols: Vec<(String, String)> = sqlx::query_as(
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'",
        )
        .fetch_all(lite.pool())
        .await
        .expect("sqlite columns");
        let mut pg_cols: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name::TEXT, column_name::TEXT FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
        )
        .fetch_all(pg.pool())
        .await
        .expect("postgres columns");
        lite_cols.sort();
        pg_cols.sort();
        assert_eq!(lite_cols, pg_cols);
    }
}
