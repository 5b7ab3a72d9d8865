//! Recurring journal templates, kept as JSON per entity and id (configuration that `setup
//! apply` replaces; the entries they generate are ordinary posted entries).

use super::Db;
use super::row::{Fields, all};
use super::sql::args;
use crate::error::LedgerError;
use crate::ids::EntityId;
use crate::recurring::RecurringTemplate;

impl Db<'_> {
    /// Adds the template, or replaces the entity's template of the same id.
    pub fn upsert_recurring_template(&self, template: &RecurringTemplate) -> Result<(), LedgerError> {
        let body = serde_json::to_string(template).map_err(|error| LedgerError::Invalid(error.to_string()))?;
        self.connection
            .prepare(
                "INSERT INTO recurring_journals (entity_id, id, template, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (entity_id, id) DO UPDATE SET template = excluded.template, updated_at = excluded.updated_at",
            )?
            .execute(args![
                template.entity.as_str(),
                template.id,
                body,
                crate::now_text()
            ])?;
        Ok(())
    }

    /// Removes the entity's templates (before `setup apply` writes the file's set).
    pub fn delete_recurring_templates(&self, entity: &EntityId) -> Result<(), LedgerError> {
        self.connection
            .prepare("DELETE FROM recurring_journals WHERE entity_id = ?1")?
            .execute(args![entity.as_str()])?;
        Ok(())
    }

    /// The entity's templates, by id.
    pub fn recurring_templates(&self, entity: &EntityId) -> Result<Vec<RecurringTemplate>, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT entity_id, id, template FROM recurring_journals WHERE entity_id = ?1 ORDER BY id")?;
        all(&mut statement, args![entity.as_str()], |row| {
            Fields::new(row, "recurring_journals", &["entity_id", "id"]).parsed(
                "template",
                "a recurring journal template (JSON)",
                |text| serde_json::from_str(text).ok(),
            )
        })
    }
}
