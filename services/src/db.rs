//! The database handle: connecting, configuring SQLite, applying migrations.
//!
//! SQLite (a file, WAL mode) is the embedded default. The URL scheme is checked
//! here so that PostgreSQL, for several replicas, slots in at this one seam.

use std::{borrow::Cow, str::FromStr, time::Duration};

use sqlx::{
    migrate::{Migration, MigrationSource, MigrationType, Migrator},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    SqlSafeStr, SqlitePool,
};

use crate::{Error, Result};

/// Every migration in `migrations/`, in order, compiled into the binary so the
/// server needs no files beside it. `tests::every_migration_file_is_listed`
/// keeps this list and the folder in step.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../../migrations/0001_schema.sql"),
    ),
    (
        2,
        "migration checklist template",
        include_str!("../../migrations/0002_checklist_template.sql"),
    ),
    (
        3,
        "accounts",
        include_str!("../../migrations/0003_accounts.sql"),
    ),
];

#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> futures_core::future::BoxFuture<
        'static,
        std::result::Result<Vec<Migration>, sqlx::error::BoxDynError>,
    > {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        sql.into_sql_str(),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// A pooled connection to the app's database.
#[derive(Clone, Debug)]
pub struct Db {
    pool: SqlitePool,
}

impl Db {
    /// Connects to `url`, creating the SQLite file (and its folder) when missing,
    /// and applies every pending migration.
    ///
    /// # Errors
    /// An unsupported URL, an unreachable database or a failed migration.
    pub async fn connect(url: &str) -> Result<Self> {
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            return Err(Error::Invalid(
                "PostgreSQL is not supported by this build yet: use a sqlite: URL".into(),
            ));
        }
        if !url.starts_with("sqlite:") {
            return Err(Error::Invalid(format!(
                "database URL must start with sqlite: (got {:?})",
                url.split(':').next().unwrap_or_default()
            )));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    Error::Invalid(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        let db = Self { pool };
        db.migrate().await?;
        Ok(db)
    }

    /// Applies the embedded migrations that have not run yet.
    ///
    /// # Errors
    /// A migration that fails, or one that was changed after it ran.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = Migrator::new(Embedded).await?;
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The pool, for the services in this crate.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Answers whether the database responds (for `/healthz`).
    ///
    /// # Errors
    /// The database does not answer.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection (on shutdown), checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_listed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| {
                std::path::Path::new(n)
                    .extension()
                    .is_some_and(|e| e == "sql")
            })
            .collect();
        files.sort();
        assert_eq!(files.len(), MIGRATIONS.len(), "migrations/ has {files:?}");
        for (file, (version, _, _)) in files.iter().zip(MIGRATIONS) {
            let prefix: i64 = file[..4].parse().expect("NNNN_ prefix");
            assert_eq!(prefix, *version, "{file} is out of order in MIGRATIONS");
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
        for url in ["postgres://localhost/x", "mysql://x", "nonsense"] {
            let err = Db::connect(url).await.expect_err(url);
            assert!(matches!(err, Error::Invalid(_)), "{url}: {err:?}");
        }
    }
}
