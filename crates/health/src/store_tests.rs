//! The health tables: what is written is read back field for field, and the
//! migration that lets the code own the list of check kinds keeps every row.

use model::health::{CheckKind, HealthState, HttpCheck, TargetSpec, Timing};
use platform::Db;

use super::{
    store::{self, StatusRecord},
    target_spec, HealthConfig, HealthService, HealthSettings, PoolConfig, SiteConfig, TargetConfig,
};

/// A site, a pool and `web-1` (http), as a database at schema 10 holds them;
/// `web-1` has a status row and an event.
async fn rows_at_schema_10(db: &Db) -> i64 {
    let pool = db.pool();
    sqlx::query("INSERT INTO health_site (name, kind) VALUES ('London', 'datacentre')")
        .execute(pool)
        .await
        .expect("site");
    sqlx::query(
        "INSERT INTO health_pool (site_id, name, service, needed) \
         SELECT id, 'web-lon', 'web', 1 FROM health_site",
    )
    .execute(pool)
    .await
    .expect("pool");
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO health_target (pool_id, name, address, kind, method, path, expect_status, \
         body_match, host, inter_ms, fastinter_ms, downinter_ms, fall, rise, timeout_ms, cert_warn_days) \
         SELECT id, 'web-1', '10.0.0.1:80', 'http', 'HEAD', '/healthz', 204, 'ok', 'shop.example', \
         2000, 1000, 5000, 3, 2, 1500, 21 FROM health_pool RETURNING id",
    )
    .fetch_one(pool)
    .await
    .expect("target");
    sqlx::query(
        "INSERT INTO health_status (target_id, state, health, since_ms, last_ok, latency_ms, message, \
         warning, checked_ms, recent, checks, updated_ms) \
         VALUES ($1, 'up', 4, 10, 1, 3, 'HTTP 204 in 3 ms', NULL, 20, '3,-,5', 7, 30)",
    )
    .bind(id)
    .execute(pool)
    .await
    .expect("status");
    sqlx::query(
        "INSERT INTO health_event (target_id, name, pool, from_state, to_state, at_ms, message) \
         VALUES ($1, 'web-1', 'web-lon', 'down', 'up', 15, 'HTTP 204 in 3 ms')",
    )
    .bind(id)
    .execute(pool)
    .await
    .expect("event");
    id
}

/// On SQLite the migration rebuilds health_target with foreign keys on in
/// every connection: a plain DROP TABLE would cascade to the statuses.
#[tokio::test]
async fn targets_statuses_and_events_survive_the_migration_that_drops_the_kind_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = platform::testing::database_url(dir.path()).await;
    let db = Db::connect_at_version(&url, 10).await.expect("db at 10");
    let id = rows_at_schema_10(&db).await;
    let refused = sqlx::query("UPDATE health_target SET kind = 'udp'")
        .execute(db.pool())
        .await;
    assert!(refused.is_err(), "schema 10 checks the kind");

    db.migrate().await.expect("migrate to the latest");

    let service = HealthService::new(db.clone(), HealthSettings::default());
    let specs = service.specs().await.expect("specs");
    assert_eq!(
        specs,
        [TargetSpec {
            id,
            name: "web-1".into(),
            pool: "web-lon".into(),
            address: "10.0.0.1:80".into(),
            kind: CheckKind::Http,
            http: HttpCheck {
                method: "HEAD".into(),
                path: "/healthz".into(),
                expect_status: Some(204),
                body_match: Some("ok".into()),
                host: Some("shop.example".into()),
            },
            timing: Timing {
                inter_ms: 2000,
                fastinter_ms: 1000,
                downinter_ms: 5000,
                fall: 3,
                rise: 2,
                timeout_ms: 1500,
            },
            cert_warn_days: 21,
        }]
    );
    let status: StatusRecord = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM health_status h",
        store::status_select()
    )))
    .fetch_one(db.pool())
    .await
    .expect("the status row survived");
    let live = status.live(id);
    assert_eq!(
        (live.state, live.health, live.recent, live.checks),
        (Some(HealthState::Up), 4, vec![Some(3), None, Some(5)], 7)
    );
    let events = service.events(10).await.expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].target_id, events[0].to), (id, HealthState::Up));

    // The kind is no longer the database's to check; references still are.
    sqlx::query("UPDATE health_target SET kind = 'udp' WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await
        .expect("any kind is stored");
    assert!(
        service.specs().await.expect("specs").is_empty(),
        "an unknown kind is skipped"
    );
    let orphan = sqlx::query(
        "INSERT INTO health_status (target_id, state, health, since_ms, last_ok, latency_ms, \
         message, checked_ms, recent, checks, updated_ms) \
         VALUES (999, 'up', 0, 0, 1, 0, '', 0, '', 0, 0)",
    )
    .execute(db.pool())
    .await;
    assert!(orphan.is_err(), "foreign keys are on again");
    sqlx::query("DELETE FROM health_target WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await
        .expect("delete");
    let statuses: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM health_status")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(statuses, 0, "deleting a target still deletes its status");
}

/// Every setting is written to its own column and read back from it (the
/// insert and the select share one column list).
#[tokio::test]
async fn a_target_is_read_back_as_it_was_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::connect(&platform::testing::database_url(dir.path()).await)
        .await
        .expect("db");
    let target = TargetConfig {
        name: "web-1".into(),
        address: "10.0.0.1:8443".into(),
        check: Some("https".into()),
        method: Some("head".into()),
        path: Some("/healthz".into()),
        expect_status: Some(204),
        body_match: Some("ok".into()),
        host: Some("shop.example".into()),
        inter: Some(2100),
        fastinter: Some(1100),
        downinter: Some(5100),
        fall: Some(4),
        rise: Some(5),
        timeout: Some(1600),
        cert_warn_days: Some(30),
    };
    let service = HealthService::new(
        db,
        HealthSettings {
            config: HealthConfig {
                sites: vec![SiteConfig {
                    name: "London".into(),
                    kind: "datacentre".into(),
                }],
                pools: vec![PoolConfig {
                    name: "web-lon".into(),
                    site: "London".into(),
                    service: "web".into(),
                    needed: 1,
                    targets: vec![target.clone()],
                }],
                ..HealthConfig::default()
            },
            ..HealthSettings::default()
        },
    );
    service.apply_config().await.expect("config");
    let specs = service.specs().await.expect("specs");
    let id = specs.first().map(|s| s.id).expect("one target");
    assert_eq!(
        specs,
        [target_spec(id, "web-lon", &target).expect("a valid target")]
    );
}
