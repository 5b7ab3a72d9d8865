//! Legal entities: accounting currency, calendar, chart, retained earnings and rounding
//! accounts.

use super::Db;
use super::row::{Fields, all, first};
use super::sql::{Row, args};
use crate::entity::Entity;
use crate::error::LedgerError;
use crate::ids::{AccountNumber, CalendarId, ChartId, CurrencyCode, EntityId, RateType};

const ENTITY_COLUMNS: &str = "id, name, currency, calendar_id, chart_id, retained_earnings_account, default_rate_type, penny_rounding_account, penny_tolerance";

impl Entity {
    fn from_row(row: &Row<'_>) -> Result<Self, LedgerError> {
        let fields = Fields::new(row, "entities", &["id"]);
        Ok(Entity {
            id: EntityId(fields.text("id")?),
            name: fields.text("name")?,
            currency: CurrencyCode(fields.text("currency")?),
            calendar: CalendarId(fields.text("calendar_id")?),
            chart: ChartId(fields.text("chart_id")?),
            retained_earnings_account: AccountNumber(fields.text("retained_earnings_account")?),
            default_rate_type: RateType(fields.text("default_rate_type")?),
            penny_rounding_account: fields.optional_text("penny_rounding_account")?.map(AccountNumber),
            penny_tolerance: fields.decimal("penny_tolerance")?,
        })
    }
}

impl Db<'_> {
    pub fn upsert_entity(&self, entity: &Entity) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO entities (id, name, currency, calendar_id, chart_id, retained_earnings_account, default_rate_type, penny_rounding_account, penny_tolerance)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, currency = excluded.currency, calendar_id = excluded.calendar_id,
                chart_id = excluded.chart_id, retained_earnings_account = excluded.retained_earnings_account,
                default_rate_type = excluded.default_rate_type, penny_rounding_account = excluded.penny_rounding_account,
                penny_tolerance = excluded.penny_tolerance",
            args![
                entity.id.as_str(),
                entity.name,
                entity.currency.as_str(),
                entity.calendar.as_str(),
                entity.chart.as_str(),
                entity.retained_earnings_account.as_str(),
                entity.default_rate_type.as_str(),
                entity.penny_rounding_account.as_ref().map(|account| account.as_str()),
                entity.penny_tolerance.to_string()
            ],
        )?;
        Ok(())
    }

    pub fn entity(&self, id: &EntityId) -> Result<Option<Entity>, LedgerError> {
        let mut statement = self
            .connection
            .prepare(&format!("SELECT {ENTITY_COLUMNS} FROM entities WHERE id = ?1"))?;
        first(&mut statement, args![id.as_str()], Entity::from_row)
    }

    /// The entity, or an error naming it.
    pub fn require_entity(&self, id: &EntityId) -> Result<Entity, LedgerError> {
        self.entity(id)?
            .ok_or_else(|| LedgerError::not_found("entity", id.as_str()))
    }

    pub fn entities(&self) -> Result<Vec<Entity>, LedgerError> {
        let mut statement = self
            .connection
            .prepare(&format!("SELECT {ENTITY_COLUMNS} FROM entities ORDER BY id"))?;
        all(&mut statement, args![], Entity::from_row)
    }
}
