//! Migration checklists: the template staff edit, the working checklist each
//! migration copies from it, and the automated checks that verify its points.

mod export;
mod form;
mod migrations;
mod store;
mod template;
pub mod time;

use std::collections::HashMap;

use model::checklist::{AutomatedCheck, Template, TemplateItem, TemplateSection};
use sqlx::Row;

use platform::{Clock, Db, Error, Result};
use probe::ProbeConfig;

pub use export::{csv, markdown};
pub use migrations::{share_selection, shared_id, DEFAULT_TTL_LIMIT};

/// The slug of the template the migrations ship.
pub const DEFAULT_TEMPLATE: &str = "site-service-migration";

/// Every automated check, in the order pages show them.
pub const CHECKS: [AutomatedCheck; 4] = [
    AutomatedCheck::DnsTtl,
    AutomatedCheck::TlsCertificate,
    AutomatedCheck::ServicePorts,
    AutomatedCheck::HttpHost,
];

/// Templates, migrations and their checks.
#[derive(Clone, Debug)]
pub struct ChecklistService {
    db: Db,
    clock: Clock,
    probe: ProbeConfig,
}

impl ChecklistService {
    /// The service with the system DNS and default check settings.
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self::with(db, Clock::default(), ProbeConfig::default())
    }

    /// The service on `clock`, checking with `probe`'s settings.
    #[must_use]
    pub fn with(db: Db, clock: Clock, probe: ProbeConfig) -> Self {
        Self { db, clock, probe }
    }

    /// The template `slug` with its sections and items, in order.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown slug; database errors.
    #[tracing::instrument(skip(self), err)]
    pub async fn template(&self, slug: &str) -> Result<Template> {
        let pool = self.db.pool();
        let head =
            sqlx::query("SELECT id, name, description FROM checklist_template WHERE slug = $1")
                .bind(slug)
                .fetch_optional(pool)
                .await?
                .ok_or_else(|| Error::NotFound(format!("checklist template {slug:?}")))?;
        let template_id: i64 = head.try_get("id")?;

        let sections = sqlx::query(
            "SELECT id, slug, title, summary FROM checklist_template_section \
             WHERE template_id = $1 ORDER BY position",
        )
        .bind(template_id)
        .fetch_all(pool)
        .await?;
        let items = sqlx::query(
            "SELECT i.id, i.section_id, i.text, i.guidance, i.automated_check, i.retired_at \
             FROM checklist_template_item i \
             JOIN checklist_template_section s ON s.id = i.section_id \
             WHERE s.template_id = $1 ORDER BY i.section_id, i.position",
        )
        .bind(template_id)
        .fetch_all(pool)
        .await?;

        let mut by_section: HashMap<i64, Vec<TemplateItem>> = HashMap::new();
        for row in items {
            let check: Option<String> = row.try_get("automated_check")?;
            by_section
                .entry(row.try_get("section_id")?)
                .or_default()
                .push(TemplateItem {
                    id: row.try_get("id")?,
                    text: row.try_get("text")?,
                    guidance: row.try_get("guidance")?,
                    automated_check: check.as_deref().and_then(AutomatedCheck::from_name),
                    retired: row.try_get::<Option<i64>, _>("retired_at")?.is_some(),
                });
        }
        let sections = sections
            .into_iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                Ok(TemplateSection {
                    slug: row.try_get("slug")?,
                    title: row.try_get("title")?,
                    summary: row.try_get("summary")?,
                    items: by_section.remove(&id).unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>>>()?;

        Ok(Template {
            slug: slug.to_owned(),
            name: head.try_get("name")?,
            description: head.try_get("description")?,
            sections,
        })
    }
}

#[cfg(test)]
mod migration_tests;
#[cfg(test)]
mod tests {
    use super::*;

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = platform::testing::database_url(dir.path()).await;
        let db = Db::connect(&url).await.expect("connect");
        (dir, db)
    }

    #[tokio::test]
    async fn the_shipped_template_has_every_section_of_the_seed_in_order() {
        let (_dir, db) = db().await;
        let t = ChecklistService::new(db)
            .template(DEFAULT_TEMPLATE)
            .await
            .expect("template");
        let titles: Vec<&str> = t.sections.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Planning",
                "Services",
                "SSL",
                "Email",
                "DNS",
                "Permissions",
                "Cache",
                "Networking",
                "Security",
                "Optimizations",
                "Load balancing",
                "Monitoring",
                "Database",
                "Other"
            ]
        );
        assert!(
            t.sections.iter().all(|s| !s.items.is_empty()),
            "an empty section"
        );
        assert_eq!(t.item_count(), 40);
        // The DNS section opens with the TTL point, verifiable by machine.
        let dns = &t.sections[4];
        assert_eq!(dns.items[0].automated_check, Some(AutomatedCheck::DnsTtl));
        assert!(dns.items[0].text.contains("TTL"));
    }

    #[tokio::test]
    async fn every_stored_check_name_is_known() {
        let (_dir, db) = db().await;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT automated_check FROM checklist_template_item WHERE automated_check IS NOT NULL",
        )
        .fetch_all(db.pool())
        .await
        .expect("names");
        assert!(!names.is_empty());
        for n in names {
            assert!(AutomatedCheck::from_name(&n).is_some(), "{n}");
        }
    }

    #[tokio::test]
    async fn an_unknown_template_is_not_found() {
        let (_dir, db) = db().await;
        let err = ChecklistService::new(db)
            .template("nope")
            .await
            .expect_err("unknown");
        assert!(matches!(err, Error::NotFound(_)));
    }
}
