//! Editing the template: add, reword, reorder and retire points. Every edit
//! bumps the template's revision; running checklists keep their own copy.

use model::{auth::Permission, checklist::AutomatedCheck};
use sqlx::Row;

use super::ChecklistService;
use platform::{Error, Principal, Result};

fn text_ok(text: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 500 {
        return Err(Error::invalid(
            "a point is a sentence of up to 500 characters",
        ));
    }
    Ok(text.to_owned())
}

fn guidance_ok(guidance: &str) -> Result<Option<String>> {
    let g = guidance.trim();
    if g.chars().count() > 1000 {
        return Err(Error::invalid("guidance is at most 1000 characters"));
    }
    Ok((!g.is_empty()).then(|| g.to_owned()))
}

impl ChecklistService {
    /// Adds a point at the end of a section of the default template.
    ///
    /// # Errors
    /// Permission; [`Error::Invalid`]; [`Error::NotFound`] for an unknown
    /// section; database errors.
    pub async fn add_template_item(
        &self,
        who: &Principal,
        section_slug: &str,
        text: &str,
        guidance: &str,
        check: Option<AutomatedCheck>,
    ) -> Result<i64> {
        who.require(Permission::EditChecklistTemplates)?;
        let text = text_ok(text)?;
        let guidance = guidance_ok(guidance)?;
        let mut tx = self.db.pool().begin().await?;
        let section: i64 = sqlx::query_scalar(
            "SELECT s.id FROM checklist_template_section s JOIN checklist_template t ON t.id = s.template_id \
             WHERE t.slug = $1 AND s.slug = $2",
        )
        .bind(super::DEFAULT_TEMPLATE)
        .bind(section_slug)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("template section {section_slug:?}")))?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO checklist_template_item (section_id, position, text, guidance, automated_check) \
             SELECT $1, COALESCE(MAX(position), 0) + 1, $2, $3, $4 FROM checklist_template_item WHERE section_id = $1 \
             RETURNING id",
        )
        .bind(section)
        .bind(text)
        .bind(guidance)
        .bind(check.map(|c| c.as_str().to_owned()))
        .fetch_one(&mut *tx)
        .await?;
        bump(&mut tx).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Rewords a point (and its guidance).
    ///
    /// # Errors
    /// Permission; [`Error::Invalid`]; [`Error::NotFound`]; database errors.
    pub async fn reword_template_item(
        &self,
        who: &Principal,
        item_id: i64,
        text: &str,
        guidance: &str,
    ) -> Result<()> {
        who.require(Permission::EditChecklistTemplates)?;
        let text = text_ok(text)?;
        let guidance = guidance_ok(guidance)?;
        let mut tx = self.db.pool().begin().await?;
        let n = sqlx::query(
            "UPDATE checklist_template_item SET text = $1, guidance = $2 WHERE id = $3",
        )
        .bind(text)
        .bind(guidance)
        .bind(item_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::NotFound(format!("template point {item_id}")));
        }
        bump(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Retires a point (new migrations leave it out) or brings it back.
    ///
    /// # Errors
    /// Permission; [`Error::NotFound`]; database errors.
    pub async fn retire_template_item(
        &self,
        who: &Principal,
        item_id: i64,
        retire: bool,
    ) -> Result<()> {
        who.require(Permission::EditChecklistTemplates)?;
        let mut tx = self.db.pool().begin().await?;
        let n = sqlx::query("UPDATE checklist_template_item SET retired_at = $1 WHERE id = $2")
            .bind(retire.then(|| self.clock.now()))
            .bind(item_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound(format!("template point {item_id}")));
        }
        bump(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves a point one place up or down in its section (the first stays
    /// first, the last stays last).
    ///
    /// # Errors
    /// Permission; [`Error::NotFound`]; database errors.
    pub async fn move_template_item(&self, who: &Principal, item_id: i64, up: bool) -> Result<()> {
        who.require(Permission::EditChecklistTemplates)?;
        let mut tx = self.db.pool().begin().await?;
        let row =
            sqlx::query("SELECT section_id, position FROM checklist_template_item WHERE id = $1")
                .bind(item_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| Error::NotFound(format!("template point {item_id}")))?;
        let (section, position): (i64, i64) =
            (row.try_get("section_id")?, row.try_get("position")?);
        let neighbour = if up {
            "SELECT id, position FROM checklist_template_item WHERE section_id = $1 AND position < $2 ORDER BY position DESC LIMIT 1"
        } else {
            "SELECT id, position FROM checklist_template_item WHERE section_id = $1 AND position > $2 ORDER BY position LIMIT 1"
        };
        let Some(other) = sqlx::query(neighbour)
            .bind(section)
            .bind(position)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(());
        };
        let (other_id, other_position): (i64, i64) =
            (other.try_get("id")?, other.try_get("position")?);
        // Positions are unique in a section: swap through a free one.
        for (id, pos) in [
            (item_id, -1),
            (other_id, position),
            (item_id, other_position),
        ] {
            sqlx::query("UPDATE checklist_template_item SET position = $1 WHERE id = $2")
                .bind(pos)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        bump(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn bump(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<()> {
    sqlx::query("UPDATE checklist_template SET revision = revision + 1 WHERE slug = $1")
        .bind(super::DEFAULT_TEMPLATE)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
