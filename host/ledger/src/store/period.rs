//! Period control per entity: each period's status (open, on hold, permanently closed) and each
//! module's access in it (all, none, a user group).

use super::Db;
use super::row::{Fields, all};
use super::sql::args;
use crate::error::LedgerError;
use crate::ids::{EntityId, PeriodName};
use crate::period::{Module, ModuleAccess, PeriodStatus};
use std::collections::HashMap;

impl Db<'_> {
    pub fn period_statuses(&self, entity: &EntityId) -> Result<HashMap<PeriodName, PeriodStatus>, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT entity_id, period, status FROM period_status WHERE entity_id = ?1")?;
        let rows = all(&mut statement, args![entity.as_str()], |row| {
            let fields = Fields::new(row, "period_status", &["entity_id", "period"]);
            Ok((
                PeriodName(fields.text("period")?),
                fields.parsed("status", "a period status", PeriodStatus::parse)?,
            ))
        })?;
        Ok(rows.into_iter().collect())
    }

    pub fn set_period_status(
        &self,
        entity: &EntityId,
        period: &PeriodName,
        status: PeriodStatus,
    ) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO period_status (entity_id, period, status) VALUES (?1, ?2, ?3)
             ON CONFLICT (entity_id, period) DO UPDATE SET status = excluded.status",
            args![entity.as_str(), period.as_str(), status.as_str()],
        )?;
        Ok(())
    }

    pub fn module_access(&self, entity: &EntityId) -> Result<HashMap<(PeriodName, Module), ModuleAccess>, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT entity_id, period, module, level FROM module_access WHERE entity_id = ?1")?;
        let rows = all(&mut statement, args![entity.as_str()], |row| {
            let fields = Fields::new(row, "module_access", &["entity_id", "period", "module"]);
            Ok((
                (
                    PeriodName(fields.text("period")?),
                    fields.parsed("module", "a module", Module::parse)?,
                ),
                fields.parsed("level", "a module access level", ModuleAccess::parse)?,
            ))
        })?;
        Ok(rows.into_iter().collect())
    }

    pub fn set_module_access(
        &self,
        entity: &EntityId,
        period: &PeriodName,
        module: Module,
        level: &ModuleAccess,
    ) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO module_access (entity_id, period, module, level) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (entity_id, period, module) DO UPDATE SET level = excluded.level",
            args![entity.as_str(), period.as_str(), module.as_str(), level.to_text()],
        )?;
        Ok(())
    }
}
