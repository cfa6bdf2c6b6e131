//! Working migrations: created from the template, ticked by many people at
//! once, verified by the automated checks.

use std::collections::HashMap;

use model::{
    auth::Permission,
    checklist::{
        AutomatedCheck, CheckReport, ItemChange, ItemState, Migration, MigrationItem,
        MigrationSection, MigrationSummary, NewMigration, Progress,
    },
};
use sqlx::Row;

use crate::{
    form::validate,
    store::{by, check_order, check_run, item, lines, state, summary, summary_columns},
    time, ChecklistService,
};
use platform::{Error, Principal, Result};
use probe::{Service, ServicePort};

/// The TTL limit when the form leaves it empty: five minutes.
pub const DEFAULT_TTL_LIMIT: u32 = 300;
/// The longest note on a point.
const MAX_NOTE: usize = 2000;

impl ChecklistService {
    /// Creates a migration with its own copy of the template's points in use.
    ///
    /// # Errors
    /// Permission; [`Error::Invalid`] listing every problem of the form (nothing
    /// is stored then); database errors.
    #[tracing::instrument(skip_all, err)]
    pub async fn create_migration(&self, who: &Principal, new: &NewMigration) -> Result<i64> {
        let me = who.require(Permission::WorkChecklists)?;
        let v = validate(new)?;
        let slug = super::DEFAULT_TEMPLATE;
        let template = self.template(slug).await?;
        let revision: i64 =
            sqlx::query_scalar("SELECT revision FROM checklist_template WHERE slug = $1")
                .bind(slug)
                .fetch_one(self.db.pool())
                .await?;
        let services: Vec<String> = v.services.iter().map(ToString::to_string).collect();
        let mut tx = self.db.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO migration (name, domains, source_server, target_server, services, \
             window_start, window_end, time_zone, owner, ttl_limit, template_slug, template_revision, \
             created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
        )
        .bind(&v.name)
        .bind(v.domains.join("\n"))
        .bind(&v.source)
        .bind(&v.target)
        .bind(services.join("\n"))
        .bind(v.start)
        .bind(v.end)
        .bind(&v.zone)
        .bind(&v.owner)
        .bind(i64::from(v.ttl_limit))
        .bind(slug)
        .bind(revision)
        .bind(me.id)
        .bind(self.clock.now())
        .fetch_one(&mut *tx)
        .await?;
        let mut position = 0_i64;
        for section in &template.sections {
            let live: Vec<_> = section.items.iter().filter(|i| !i.retired).collect();
            if live.is_empty() {
                continue;
            }
            position += 1;
            let section_id: i64 = sqlx::query_scalar(
                "INSERT INTO migration_section (migration_id, position, slug, title, summary) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(id)
            .bind(position)
            .bind(&section.slug)
            .bind(&section.title)
            .bind(&section.summary)
            .fetch_one(&mut *tx)
            .await?;
            for (n, item) in (1_i64..).zip(live) {
                sqlx::query(
                    "INSERT INTO migration_item (migration_id, section_id, position, text, guidance, automated_check) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(section_id)
                .bind(n)
                .bind(&item.text)
                .bind(item.guidance.clone())
                .bind(item.automated_check.map(|c| c.as_str().to_owned()))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        self.changed(id, None).await;
        Ok(id)
    }

    /// Every migration, soonest window first, with its progress; times in `viewer`'s zone.
    ///
    /// # Errors
    /// Permission; database errors.
    pub async fn list_migrations(
        &self,
        who: &Principal,
        viewer: &str,
    ) -> Result<Vec<MigrationSummary>> {
        who.require(Permission::ViewDashboard)?;
        let pool = self.db.pool();
        let counts = sqlx::query(
            "SELECT migration_id, state, COUNT(*) AS n FROM migration_item GROUP BY migration_id, state",
        )
        .fetch_all(pool)
        .await?;
        let mut progress: HashMap<i64, Progress> = HashMap::new();
        for row in counts {
            let p = progress.entry(row.try_get("migration_id")?).or_default();
            let n: i64 = row.try_get("n")?;
            for _ in 0..n {
                p.add(state(&row)?);
            }
        }
        let rows = sqlx::query(concat!(
            "SELECT ",
            summary_columns!(),
            " FROM migration m ORDER BY m.window_start, m.id"
        ))
        .fetch_all(pool)
        .await?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                summary(row, viewer, progress.remove(&id).unwrap_or_default())
            })
            .collect()
    }

    /// A migration, its checklist and the latest run of each check, with times
    /// in `viewer`'s zone. Needs [`Permission::ViewDashboard`]; a share link's
    /// holder reads it through [`Self::shared_migration`].
    ///
    /// # Errors
    /// Permission; [`Error::NotFound`]; database errors.
    pub async fn migration(&self, who: &Principal, id: i64, viewer: &str) -> Result<Migration> {
        who.require(Permission::ViewDashboard)?;
        self.read_migration(id, viewer).await
    }

    /// The migration a share link grants (`migration:<id>`), read-only.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the grant is not for a migration; database errors.
    pub async fn shared_migration(&self, selection: &str, viewer: &str) -> Result<Migration> {
        let id = shared_id(selection)
            .ok_or_else(|| Error::NotFound("a migration behind this link".into()))?;
        self.read_migration(id, viewer).await
    }

    async fn read_migration(&self, id: i64, viewer: &str) -> Result<Migration> {
        let pool = self.db.pool();
        let head = sqlx::query(concat!(
            "SELECT ",
            summary_columns!(),
            ", m.services, m.ttl_limit, m.created_at, t.name AS template_name \
             FROM migration m JOIN checklist_template t ON t.slug = m.template_slug WHERE m.id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("migration {id}")))?;
        let (zone, tz) = time::zone_or_utc(viewer);
        let sections = sqlx::query(
            "SELECT id, slug, title, summary FROM migration_section WHERE migration_id = $1 ORDER BY position",
        )
        .bind(id)
        .fetch_all(pool)
        .await?;
        let items = sqlx::query(
            "SELECT id, section_id, text, guidance, automated_check, state, note, changed_by, changed_at, revision \
             FROM migration_item WHERE migration_id = $1 ORDER BY section_id, position",
        )
        .bind(id)
        .fetch_all(pool)
        .await?;
        let mut by_section: HashMap<i64, Vec<MigrationItem>> = HashMap::new();
        for row in &items {
            by_section
                .entry(row.try_get("section_id")?)
                .or_default()
                .push(item(row, &zone, &tz)?);
        }
        let mut total = Progress::default();
        let sections = sections
            .iter()
            .map(|row| {
                let items = by_section
                    .remove(&row.try_get::<i64, _>("id")?)
                    .unwrap_or_default();
                let mut progress = Progress::default();
                for i in &items {
                    progress.add(i.state);
                    total.add(i.state);
                }
                Ok(MigrationSection {
                    slug: row.try_get("slug")?,
                    title: row.try_get("title")?,
                    summary: row.try_get("summary")?,
                    items,
                    progress,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let checks = sqlx::query(
            "SELECT check_name, verdict, summary, evidence, elapsed_ms, ran_by, ran_at FROM migration_check \
             WHERE id IN (SELECT MAX(id) FROM migration_check WHERE migration_id = $1 GROUP BY check_name)",
        )
        .bind(id)
        .fetch_all(pool)
        .await?;
        let mut checks = checks
            .iter()
            .map(|row| check_run(row, &zone, &tz))
            .collect::<Result<Vec<_>>>()?;
        checks.sort_by_key(|c| check_order(c.report.check));
        let activity = self.changes(id, Migration::ACTIVITY, &zone, &tz).await?;
        let ttl: i64 = head.try_get("ttl_limit")?;
        Ok(Migration {
            services: lines(&head.try_get::<String, _>("services")?),
            ttl_limit: u32::try_from(ttl).unwrap_or(DEFAULT_TTL_LIMIT),
            template_name: head.try_get("template_name")?,
            created_at: time::shown(head.try_get("created_at")?, &zone, &tz),
            summary: summary(&head, &zone, total)?,
            sections,
            checks,
            activity,
            viewer_zone: zone,
        })
    }

    /// Sets a point's state and note. `seen_revision` is the revision the person
    /// was looking at: when someone changed the point since, nothing is stored
    /// and the error says who changed it to what. Points are separate rows, so
    /// people ticking different points never conflict.
    ///
    /// # Errors
    /// Permission; [`Error::Invalid`] for a blocked point without a note or a
    /// note too long; [`Error::NotFound`]; [`Error::Conflict`]; database errors.
    #[allow(clippy::too_many_arguments)]
    pub async fn tick(
        &self,
        who: &Principal,
        migration_id: i64,
        item_id: i64,
        state: ItemState,
        note: &str,
        seen_revision: Option<i64>,
    ) -> Result<MigrationItem> {
        let me = who.require(Permission::WorkChecklists)?;
        let note = note.trim();
        if note.chars().count() > MAX_NOTE {
            return Err(Error::invalid(format!(
                "a note is at most {MAX_NOTE} characters"
            )));
        }
        if state == ItemState::Blocked && note.is_empty() {
            return Err(Error::invalid("say in the note what blocks this point"));
        }
        let now = self.clock.now();
        let name = by(me);
        let mut tx = self.db.pool().begin().await?;
        macro_rules! update {
            () => {
                "UPDATE migration_item SET state = $1, note = $2, changed_by = $3, changed_at = $4, \
                 revision = revision + 1 WHERE id = $5 AND migration_id = $6"
            };
        }
        let done = match seen_revision {
            Some(rev) => sqlx::query(concat!(update!(), " AND revision = $7"))
                .bind(state.as_str())
                .bind(note)
                .bind(&name)
                .bind(now)
                .bind(item_id)
                .bind(migration_id)
                .bind(rev),
            None => sqlx::query(update!())
                .bind(state.as_str())
                .bind(note)
                .bind(&name)
                .bind(now)
                .bind(item_id)
                .bind(migration_id),
        }
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            drop(tx);
            return Err(self.why_not_ticked(migration_id, item_id).await);
        }
        sqlx::query(
            "INSERT INTO migration_item_change (migration_id, item_id, state, note, changed_by, changed_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(migration_id)
        .bind(item_id)
        .bind(state.as_str())
        .bind(note)
        .bind(&name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT id, text, guidance, automated_check, state, note, changed_by, changed_at, revision \
             FROM migration_item WHERE id = $1",
        )
        .bind(item_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        self.changed(migration_id, Some(item_id)).await;
        let (zone, tz) = time::zone_or_utc("UTC");
        item(&row, &zone, &tz)
    }

    async fn why_not_ticked(&self, migration_id: i64, item_id: i64) -> Error {
        let row = sqlx::query(
            "SELECT state, changed_by, changed_at FROM migration_item WHERE id = $1 AND migration_id = $2",
        )
        .bind(item_id)
        .bind(migration_id)
        .fetch_optional(self.db.pool())
        .await;
        match row {
            Err(e) => e.into(),
            Ok(None) => Error::NotFound(format!("point {item_id} of migration {migration_id}")),
            Ok(Some(row)) => {
                let by: Option<String> = row.try_get("changed_by").ok().flatten();
                let at: Option<i64> = row.try_get("changed_at").ok().flatten();
                let state = state(&row).map_or("?", |s| s.label());
                Error::Conflict(format!(
                    "{} set this point to \"{state}\" at {} since you loaded it; your change was not saved: look at it and choose again",
                    by.unwrap_or_else(|| "someone".into()),
                    at.map_or_else(|| "?".into(), platform::format_time)
                ))
            }
        }
    }

    /// The latest ticks of a migration, newest first: who set which point to what.
    async fn changes(
        &self,
        migration_id: i64,
        limit: u32,
        zone: &str,
        tz: &jiff::tz::TimeZone,
    ) -> Result<Vec<ItemChange>> {
        let rows = sqlx::query(
            "SELECT c.item_id, i.text, c.state, c.note, c.changed_by, c.changed_at \
             FROM migration_item_change c JOIN migration_item i ON i.id = c.item_id \
             WHERE c.migration_id = $1 ORDER BY c.id DESC LIMIT $2",
        )
        .bind(migration_id)
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ItemChange {
                    item_id: r.try_get("item_id")?,
                    item_text: r.try_get("text")?,
                    state: state(r)?,
                    note: r.try_get("note")?,
                    by: r.try_get("changed_by")?,
                    at: time::shown(r.try_get("changed_at")?, zone, tz),
                })
            })
            .collect()
    }

    /// Runs one automated check against the migration's target, stores the
    /// report with its evidence and answers it.
    ///
    /// # Errors
    /// Permission; [`Error::NotFound`]; database errors. A check that cannot
    /// reach what it checks is not an error: its report says why.
    #[tracing::instrument(skip(self, who), err)]
    pub async fn run_check(
        &self,
        who: &Principal,
        migration_id: i64,
        check: AutomatedCheck,
    ) -> Result<CheckReport> {
        let me = who.require(Permission::WorkChecklists)?;
        let row = sqlx::query(
            "SELECT domains, target_server, services, ttl_limit, window_start FROM migration WHERE id = $1",
        )
        .bind(migration_id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("migration {migration_id}")))?;
        let services: Vec<ServicePort> = lines(&row.try_get::<String, _>("services")?)
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        // The HTTP and TLS checks use the plan's HTTP and HTTPS ports.
        let port_of = |service: Service| {
            services
                .iter()
                .find(|s| s.service == service)
                .map_or_else(|| ServicePort::default_for(service).port, |s| s.port)
        };
        let target = probe::MigrationTarget {
            names: lines(&row.try_get::<String, _>("domains")?),
            target: row.try_get("target_server")?,
            http_port: port_of(Service::Http),
            https_port: port_of(Service::Https),
            services,
            ttl_limit: u32::try_from(row.try_get::<i64, _>("ttl_limit")?)
                .unwrap_or(DEFAULT_TTL_LIMIT),
            moved: self.clock.now() >= row.try_get::<i64, _>("window_start")?,
        };
        let report = probe::run(check, &self.probe, &target).await;
        let evidence = serde_json::to_string(&report.evidence)
            .map_err(|e| Error::Internal(format!("evidence does not serialise: {e}")))?;
        sqlx::query(
            "INSERT INTO migration_check (migration_id, check_name, verdict, summary, evidence, elapsed_ms, ran_by, ran_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(migration_id)
        .bind(check.as_str())
        .bind(report.verdict.as_str())
        .bind(&report.summary)
        .bind(evidence)
        .bind(i64::try_from(report.elapsed_ms).unwrap_or(i64::MAX))
        .bind(by(me))
        .bind(self.clock.now())
        .execute(self.db.pool())
        .await?;
        self.changed(migration_id, None).await;
        Ok(report)
    }

    /// Runs several checks at once (each waits on the network, not the CPU).
    ///
    /// # Errors
    /// As [`Self::run_check`].
    #[tracing::instrument(skip(self, who), err)]
    pub async fn run_checks(
        &self,
        who: &Principal,
        migration_id: i64,
        checks: &[AutomatedCheck],
    ) -> Result<Vec<CheckReport>> {
        let mut set = tokio::task::JoinSet::new();
        for (n, &check) in checks.iter().enumerate() {
            let (svc, who) = (self.clone(), who.clone());
            set.spawn(async move { (n, svc.run_check(&who, migration_id, check).await) });
        }
        let mut reports = Vec::new();
        while let Some(done) = set.join_next().await {
            let (n, report) = done.map_err(|e| Error::Internal(format!("a check failed: {e}")))?;
            reports.push((n, report?));
        }
        reports.sort_by_key(|(n, _)| *n);
        Ok(reports.into_iter().map(|(_, r)| r).collect())
    }

    /// Tells live pages on every replica that a migration changed. Losing the
    /// event loses nothing stored: pages also reload on their own actions.
    async fn changed(&self, migration_id: i64, item_id: Option<i64>) {
        let data = serde_json::json!({ "migration": migration_id, "item": item_id });
        if let Err(e) = self.db.bus().publish("checklist", data).await {
            tracing::warn!(error = %e, "checklist event not published");
        }
    }
}

/// The migration id a share link's grant names (`migration:<id>`).
#[must_use]
pub fn shared_id(selection: &str) -> Option<i64> {
    selection.strip_prefix("migration:")?.parse().ok()
}

/// The grant a share link to a migration carries.
#[must_use]
pub fn share_selection(migration_id: i64) -> String {
    format!("migration:{migration_id}")
}
