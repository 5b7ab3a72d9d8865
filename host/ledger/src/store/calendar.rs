//! Fiscal calendars: their fiscal years and periods (opening, operating, closing), which every
//! entity's dates and period names come from.

use super::Db;
use super::row::{Fields, all, first};
use super::sql::args;
use crate::calendar::{FiscalCalendar, FiscalYear, Period, PeriodKind};
use crate::error::LedgerError;
use crate::ids::{CalendarId, EntityId, FiscalYearName, PeriodName};

impl Period {
    fn from_row(fields: &Fields<'_>) -> Result<Self, LedgerError> {
        Ok(Period {
            name: PeriodName(fields.text("name")?),
            kind: fields.parsed("kind", "a period kind", PeriodKind::parse)?,
            fiscal_year: FiscalYearName(fields.text("fiscal_year")?),
            start: fields.date("start_date")?,
            end: fields.date("end_date")?,
            ordinal: fields.integer("ordinal")?,
        })
    }
}

impl Db<'_> {
    pub fn calendar_start_month(&self, calendar: &CalendarId) -> Result<Option<u32>, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT id, start_month FROM calendars WHERE id = ?1")?;
        first(&mut statement, args![calendar.as_str()], |row| {
            Fields::new(row, "calendars", &["id"]).whole("start_month")
        })
    }

    pub fn insert_calendar(&self, calendar: &CalendarId, start_month: u32) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO calendars (id, start_month) VALUES (?1, ?2)",
            args![calendar.as_str(), start_month],
        )?;
        Ok(())
    }

    pub fn calendar(&self, calendar: &CalendarId) -> Result<FiscalCalendar, LedgerError> {
        let start_month = self
            .calendar_start_month(calendar)?
            .ok_or_else(|| LedgerError::not_found("calendar", calendar.as_str()))?;
        FiscalCalendar::new(start_month).map_err(|error| LedgerError::Invalid(error.to_string()))
    }

    /// Adds a fiscal year and its periods; a year that exists is left as it is.
    pub fn insert_fiscal_year(
        &self,
        calendar: &CalendarId,
        year: &FiscalYear,
        periods: &[Period],
    ) -> Result<bool, LedgerError> {
        let inserted = self.connection.execute(
            "INSERT INTO fiscal_years (calendar_id, name, start_date, end_date) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (calendar_id, name) DO NOTHING",
            args![
                calendar.as_str(),
                year.name.as_str(),
                year.start.to_string(),
                year.end.to_string()
            ],
        )?;
        let mut statement = self.connection.prepare(
            "INSERT INTO periods (calendar_id, name, fiscal_year, kind, ordinal, start_date, end_date) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (calendar_id, name) DO NOTHING",
        )?;
        for period in periods {
            statement.execute(args![
                calendar.as_str(),
                period.name.as_str(),
                period.fiscal_year.as_str(),
                period.kind.as_str(),
                period.ordinal,
                period.start.to_string(),
                period.end.to_string()
            ])?;
        }
        Ok(inserted > 0)
    }

    pub fn fiscal_years(&self, calendar: &CalendarId) -> Result<Vec<FiscalYearName>, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT calendar_id, name FROM fiscal_years WHERE calendar_id = ?1 ORDER BY start_date")?;
        all(&mut statement, args![calendar.as_str()], |row| {
            Ok(FiscalYearName(
                Fields::new(row, "fiscal_years", &["calendar_id", "name"]).text("name")?,
            ))
        })
    }

    /// What an entity's periods depend on, cheap to read: the entity's calendar, and the
    /// largest row id and the number of rows of `periods`. Periods are only ever inserted (a
    /// whole fiscal year at a time, by setup), so a list read earlier stands while this is
    /// unchanged. None when the entity does not exist.
    pub fn periods_version(&self, entity: &EntityId) -> Result<Option<PeriodsVersion>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT e.calendar_id, (SELECT max(rowid) FROM periods), (SELECT count(*) FROM periods)
             FROM entities e WHERE e.id = ?1",
        )?;
        first(&mut statement, args![entity.as_str()], |row| {
            let fields = Fields::new(row, "entities", &["calendar_id"]);
            Ok(PeriodsVersion {
                calendar: CalendarId::new(fields.text(0)?),
                last_row: fields.optional_integer(1)?.unwrap_or(0),
                rows: fields.integer(2)?,
            })
        })
    }

    /// Periods of a calendar in order, optionally of one fiscal year.
    pub fn periods(
        &self,
        calendar: &CalendarId,
        fiscal_year: Option<&FiscalYearName>,
    ) -> Result<Vec<Period>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT calendar_id, name, kind, fiscal_year, start_date, end_date, ordinal FROM periods
             WHERE calendar_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR fiscal_year = ?2) ORDER BY ordinal",
        )?;
        all(
            &mut statement,
            args![calendar.as_str(), fiscal_year.map(|year| year.as_str())],
            |row| Period::from_row(&Fields::new(row, "periods", &["calendar_id", "name"])),
        )
    }
}

/// See [`Db::periods_version`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodsVersion {
    pub calendar: CalendarId,
    pub last_row: i64,
    pub rows: i64,
}
