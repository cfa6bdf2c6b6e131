//! Databases for tests. `cargo xtask test` runs the whole suite twice: once on
//! SQLite files, once with `SWITCHBOARD_TEST_POSTGRES` naming a throwaway
//! PostgreSQL cluster's admin URL, where every test gets a database of its own.

use std::path::Path;

use sqlx::{Connection as _, Executor as _};

/// The variable that selects PostgreSQL: an admin URL such as
/// `postgres://postgres@127.0.0.1:5433/postgres`.
pub const POSTGRES_VAR: &str = "SWITCHBOARD_TEST_POSTGRES";

/// A database URL for one test: a fresh PostgreSQL database when the run has
/// PostgreSQL, else a SQLite file in `dir`.
pub async fn database_url(dir: &Path) -> String {
    match postgres_database().await {
        Some(url) => url,
        None => format!("sqlite://{}", dir.join("test.db").display()),
    }
}

/// A fresh, empty PostgreSQL database when the run has PostgreSQL.
///
/// # Panics
/// The configured server cannot be reached: a test run that asked for
/// PostgreSQL must not quietly fall back to SQLite.
pub async fn postgres_database() -> Option<String> {
    let admin = std::env::var(POSTGRES_VAR).ok().filter(|u| !u.is_empty())?;
    let (base, _) = admin
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("{POSTGRES_VAR} must end in /DATABASE: {admin}"));
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random");
    let name = format!(
        "sb_test_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_VAR}={admin}: {e}"));
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create test database");
    let _ = conn.close().await;
    Some(format!("{base}/{name}"))
}

/// A user row for another domain's tests (someone to act, to create, to
/// tick), as the principal that acts as them. It has no password hash, so it
/// cannot sign in: accounts themselves are the `auth` crate's to test.
///
/// # Panics
/// The row cannot be written (a taken user name, no schema).
pub async fn user(
    db: &crate::Db,
    username: &str,
    display_name: &str,
    role: model::auth::Role,
) -> crate::Principal {
    use sqlx::Row as _;
    let row = sqlx::query(
        "INSERT INTO app_user (username, display_name, role, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, '', 0, 0) RETURNING id",
    )
    .bind(username)
    .bind(display_name)
    .bind(role.as_str())
    .fetch_one(db.pool())
    .await
    .expect("insert a test user");
    crate::Principal::User(model::auth::Me {
        id: row.try_get("id").expect("id"),
        username: username.into(),
        display_name: display_name.into(),
        role,
    })
}
