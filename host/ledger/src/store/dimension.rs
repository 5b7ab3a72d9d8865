//! Financial dimensions (department, cost center…) and their values, each of which may be
//! blocked for new postings.

use super::Db;
use super::row::{Fields, all};
use super::sql::args;
use crate::error::LedgerError;
use std::collections::HashMap;

impl Db<'_> {
    pub fn upsert_dimension(&self, name: &str, description: &str) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO dimensions (name, description) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET description = excluded.description",
            args![name, description],
        )?;
        Ok(())
    }

    pub fn upsert_dimension_value(
        &self,
        dimension: &str,
        value: &str,
        description: &str,
        blocked: bool,
    ) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO dimension_values (dimension, value, description, blocked) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (dimension, value) DO UPDATE SET description = excluded.description, blocked = excluded.blocked",
            args![dimension, value, description, blocked],
        )?;
        Ok(())
    }

    /// Dimension name -> value -> blocked.
    pub fn dimensions(&self) -> Result<HashMap<String, HashMap<String, bool>>, LedgerError> {
        let mut dimensions: HashMap<String, HashMap<String, bool>> = HashMap::new();
        let mut statement = self.connection.prepare("SELECT name FROM dimensions")?;
        let names = all(&mut statement, args![], |row| {
            Fields::new(row, "dimensions", &["name"]).text("name")
        })?;
        for name in names {
            dimensions.entry(name).or_default();
        }
        let mut statement = self
            .connection
            .prepare("SELECT dimension, value, blocked FROM dimension_values")?;
        let rows = all(&mut statement, args![], |row| {
            let fields = Fields::new(row, "dimension_values", &["dimension", "value"]);
            Ok((
                fields.text("dimension")?,
                fields.text("value")?,
                fields.flag("blocked")?,
            ))
        })?;
        for (dimension, value, blocked) in rows {
            dimensions.entry(dimension).or_default().insert(value, blocked);
        }
        Ok(dimensions)
    }
}
