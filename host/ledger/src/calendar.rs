//! Fiscal calendars: fiscal years named `FY2026` by the calendar year in which they end, each
//! split into an opening period, twelve monthly operating periods named `YYYY-MM`, and a closing
//! period. A calendar may start in any month.
//!
//! Choices written down here (DOMAIN.md leaves them open):
//! - The opening period `FY2026-opening` is one day long: the first day of the fiscal year.
//! - The closing period `FY2026-closing` has the dates of the last operating period.
//! - A date belongs to its monthly operating period unless an entry names the opening or closing
//!   period explicitly.

use crate::entity::Entity;
use crate::error::LedgerError;
use crate::ids::{CalendarId, EntityId, FiscalYearName, PeriodName};
use crate::store::Db;
use chrono::{Datelike, Months, NaiveDate};
use serde::Serialize;

/// The earliest and latest fiscal years a calendar may hold: far enough for any real ledger,
/// near enough that date arithmetic can never overflow.
pub const FISCAL_YEAR_END_MIN: i32 = 1900;
pub const FISCAL_YEAR_END_MAX: i32 = 9998;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeriodKind {
    Opening,
    Operating,
    Closing,
}

impl PeriodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Opening => "opening",
            PeriodKind::Operating => "operating",
            PeriodKind::Closing => "closing",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "opening" => Some(PeriodKind::Opening),
            "operating" => Some(PeriodKind::Operating),
            "closing" => Some(PeriodKind::Closing),
            _ => None,
        }
    }
}

/// One fiscal year of a calendar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FiscalYear {
    pub name: FiscalYearName,
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// The calendar year in which the fiscal year ends (2026 for `FY2026`).
    pub end_year: i32,
}

/// One period of a fiscal year.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Period {
    pub name: PeriodName,
    pub kind: PeriodKind,
    pub fiscal_year: FiscalYearName,
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// Orders periods across years: `end_year * 100 + n`, with the opening period n = 0, the
    /// operating periods 1..=12 and the closing period 13.
    pub ordinal: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("start month {0} is not a month (1 to 12)")]
    StartMonth(u32),
    #[error("`{0}` is not a fiscal year name (expected FY followed by the year it ends in, e.g. FY2026)")]
    FiscalYearName(String),
    #[error("`{0}` is not a period name (expected YYYY-MM, FY2026-opening or FY2026-closing)")]
    PeriodName(String),
    #[error("fiscal year {0} is outside the supported range FY{FISCAL_YEAR_END_MIN}..FY{FISCAL_YEAR_END_MAX}")]
    OutOfRange(String),
}

/// A fiscal calendar: only its start month is needed to derive every year and period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FiscalCalendar {
    start_month: u32,
}

impl FiscalCalendar {
    pub fn new(start_month: u32) -> Result<Self, CalendarError> {
        if !(1..=12).contains(&start_month) {
            return Err(CalendarError::StartMonth(start_month));
        }
        Ok(Self { start_month })
    }

    pub fn start_month(self) -> u32 {
        self.start_month
    }

    /// The calendar year in which the fiscal year containing `date` ends.
    pub fn fiscal_year_end_of(self, date: NaiveDate) -> i32 {
        if self.start_month == 1 || date.month() < self.start_month {
            date.year()
        } else {
            date.year() + 1
        }
    }

    pub fn fiscal_year(self, end_year: i32) -> Result<FiscalYear, CalendarError> {
        if !(FISCAL_YEAR_END_MIN..=FISCAL_YEAR_END_MAX).contains(&end_year) {
            return Err(CalendarError::OutOfRange(format!("FY{end_year}")));
        }
        let start_year = if self.start_month == 1 { end_year } else { end_year - 1 };
        let start = NaiveDate::from_ymd_opt(start_year, self.start_month, 1).expect("year and month are in range");
        let end = start + Months::new(12) - chrono::Days::new(1);
        Ok(FiscalYear {
            name: fiscal_year_name(end_year),
            start,
            end,
            end_year,
        })
    }

    pub fn fiscal_year_named(self, name: &str) -> Result<FiscalYear, CalendarError> {
        self.fiscal_year(parse_fiscal_year_name(name)?)
    }

    /// The fourteen periods of a fiscal year in order: opening, twelve months, closing.
    pub fn periods(self, year: &FiscalYear) -> Vec<Period> {
        let base = i64::from(year.end_year) * 100;
        let mut periods = Vec::with_capacity(14);
        periods.push(Period {
            name: PeriodName::new(format!("{}-opening", year.name)),
            kind: PeriodKind::Opening,
            fiscal_year: year.name.clone(),
            start: year.start,
            end: year.start,
            ordinal: base,
        });
        for month_index in 0..12u32 {
            let start = year.start + Months::new(month_index);
            let end = start + Months::new(1) - chrono::Days::new(1);
            periods.push(Period {
                name: operating_period_name(start),
                kind: PeriodKind::Operating,
                fiscal_year: year.name.clone(),
                start,
                end,
                ordinal: base + i64::from(month_index) + 1,
            });
        }
        let last = periods.last().expect("twelve operating periods were pushed").clone();
        periods.push(Period {
            name: PeriodName::new(format!("{}-closing", year.name)),
            kind: PeriodKind::Closing,
            fiscal_year: year.name.clone(),
            start: last.start,
            end: last.end,
            ordinal: base + 13,
        });
        periods
    }

    /// The operating period that contains `date`.
    pub fn operating_period_of(self, date: NaiveDate) -> Result<Period, CalendarError> {
        let year = self.fiscal_year(self.fiscal_year_end_of(date))?;
        // Computed directly instead of building the year's fourteen periods and searching them:
        // an import resolves one period per entry. A test checks both agree on every day.
        let months_since_start =
            (date.year() - year.start.year()) * 12 + date.month0() as i32 - year.start.month0() as i32;
        let month_index = u32::try_from(months_since_start).expect("a date of a fiscal year is not before its start");
        assert!(month_index < 12, "{date} lies outside fiscal year {}", year.name);
        let start = year.start + Months::new(month_index);
        let end = start + Months::new(1) - chrono::Days::new(1);
        Ok(Period {
            name: operating_period_name(start),
            kind: PeriodKind::Operating,
            fiscal_year: year.name,
            start,
            end,
            ordinal: i64::from(year.end_year) * 100 + i64::from(month_index) + 1,
        })
    }

    /// Finds a period by name: `YYYY-MM`, `FY2026-opening` or `FY2026-closing`.
    pub fn period_named(self, name: &str) -> Result<Period, CalendarError> {
        let invalid = || CalendarError::PeriodName(name.to_owned());
        if let Some((year, kind)) = name.rsplit_once('-')
            && (kind == "opening" || kind == "closing")
        {
            let year = self.fiscal_year_named(year).map_err(|_| invalid())?;
            let periods = self.periods(&year);
            let period = if kind == "opening" {
                periods.first()
            } else {
                periods.last()
            };
            return Ok(period.expect("a year has periods").clone());
        }
        let (year, month) = name.split_once('-').ok_or_else(invalid)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(invalid());
        }
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let month: u32 = month.parse().map_err(|_| invalid())?;
        let date = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(invalid)?;
        self.operating_period_of(date)
    }
}

/// The periods of one entity's calendar, in order, to look one up by name: every command, report
/// and close step that names "this entity's period X" finds it here, and is refused with one
/// message ([`UnknownPeriod`]) when the calendar has no such period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityPeriods {
    pub entity: EntityId,
    pub calendar: CalendarId,
    /// Every period of every fiscal year set up in the calendar, ordered by `ordinal`.
    pub periods: Vec<Period>,
}

impl EntityPeriods {
    /// The periods of the calendar of `entity`, a record already read.
    pub fn of(db: &Db<'_>, entity: &Entity) -> Result<Self, LedgerError> {
        Ok(Self {
            entity: entity.id.clone(),
            calendar: entity.calendar.clone(),
            periods: db.periods(&entity.calendar, None)?,
        })
    }

    /// The periods of the calendar of the entity `id`; refused when the entity does not exist.
    pub fn of_entity(db: &Db<'_>, id: &EntityId) -> Result<Self, LedgerError> {
        Self::of(db, &db.require_entity(id)?)
    }

    /// The period named `name`, or None: for callers to whom a missing period is not an error.
    pub fn find(&self, name: &PeriodName) -> Option<&Period> {
        self.periods.iter().find(|period| &period.name == name)
    }

    /// Where the period named `name` stands in [`Self::periods`], or None.
    pub fn position(&self, name: &PeriodName) -> Option<usize> {
        self.periods.iter().position(|period| &period.name == name)
    }

    /// The period named `name`; refused, naming the entity, its calendar and the fiscal years it
    /// has, when there is none.
    pub fn named(&self, name: &PeriodName) -> Result<&Period, UnknownPeriod> {
        self.find(name).ok_or_else(|| self.unknown(name))
    }

    /// The refusal of a period name this calendar does not have.
    pub fn unknown(&self, name: &PeriodName) -> UnknownPeriod {
        let mut fiscal_years: Vec<FiscalYearName> = Vec::new();
        for period in &self.periods {
            if fiscal_years.last() != Some(&period.fiscal_year) {
                fiscal_years.push(period.fiscal_year.clone());
            }
        }
        UnknownPeriod {
            period: name.clone(),
            entity: self.entity.clone(),
            calendar: self.calendar.clone(),
            fiscal_years,
        }
    }
}

/// A period name that an entity's calendar does not have.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "period {period} does not exist in calendar {calendar} of entity {entity}{}",
    fiscal_years_hint(fiscal_years)
)]
pub struct UnknownPeriod {
    pub period: PeriodName,
    pub entity: EntityId,
    pub calendar: CalendarId,
    /// The fiscal years set up in the calendar, in order.
    pub fiscal_years: Vec<FiscalYearName>,
}

impl From<UnknownPeriod> for LedgerError {
    fn from(error: UnknownPeriod) -> Self {
        LedgerError::Invalid(error.to_string())
    }
}

/// How to name a period that exists: the calendar's fiscal years, or how to set one up.
fn fiscal_years_hint(fiscal_years: &[FiscalYearName]) -> String {
    const FORMS: &str = "YYYY-MM, FY2026-opening or FY2026-closing";
    const SETUP: &str = "add the year to the calendar in setup (last_year) and apply it again";
    match fiscal_years {
        [] => format!(", which has no fiscal years: {SETUP}"),
        [only] => format!(", which has fiscal year {only}: name one of its periods ({FORMS}) or {SETUP}"),
        [first, .., last] => {
            format!(", which has fiscal years {first} to {last}: name one of their periods ({FORMS}) or {SETUP}")
        }
    }
}

pub fn fiscal_year_name(end_year: i32) -> FiscalYearName {
    FiscalYearName::new(format!("FY{end_year}"))
}

pub fn parse_fiscal_year_name(name: &str) -> Result<i32, CalendarError> {
    let invalid = || CalendarError::FiscalYearName(name.to_owned());
    let digits = name.strip_prefix("FY").ok_or_else(invalid)?;
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    digits.parse().map_err(|_| invalid())
}

pub fn operating_period_name(date: NaiveDate) -> PeriodName {
    PeriodName::new(format!("{:04}-{:02}", date.year(), date.month()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    // Proves a period is found by name in an entity's periods, and that a name the calendar does
    // not have is refused with one message naming the entity, the calendar and its fiscal years.
    #[test]
    fn entity_periods_find_a_period_by_name_or_refuse_it_with_the_years_set_up() {
        let calendar = FiscalCalendar::new(1).unwrap();
        let years: Vec<Period> = [2025, 2026]
            .into_iter()
            .flat_map(|end_year| calendar.periods(&calendar.fiscal_year(end_year).unwrap()))
            .collect();
        let periods = |periods: Vec<Period>| EntityPeriods {
            entity: EntityId::new("ACME"),
            calendar: CalendarId::new("standard"),
            periods,
        };
        let two_years = periods(years.clone());
        let march = PeriodName::new("2026-03");
        assert_eq!(two_years.named(&march).unwrap().start, date("2026-03-01"));
        assert_eq!(two_years.position(&march), Some(14 + 3));
        let missing = PeriodName::new("2031-01");
        assert_eq!(two_years.find(&missing), None);
        assert_eq!(
            two_years.named(&missing).unwrap_err().to_string(),
            "period 2031-01 does not exist in calendar standard of entity ACME, which has fiscal years FY2025 to \
             FY2026: name one of their periods (YYYY-MM, FY2026-opening or FY2026-closing) or add the year to the \
             calendar in setup (last_year) and apply it again"
        );
        let one_year = periods(years[14..].to_vec());
        assert!(
            one_year
                .named(&missing)
                .unwrap_err()
                .to_string()
                .contains("entity ACME, which has fiscal year FY2026: name one of its periods")
        );
        assert_eq!(
            periods(Vec::new()).named(&missing).unwrap_err().to_string(),
            "period 2031-01 does not exist in calendar standard of entity ACME, which has no fiscal years: \
             add the year to the calendar in setup (last_year) and apply it again"
        );
    }

    // Proves the direct month arithmetic of `operating_period_of` finds the same period as the
    // list of the year's periods, for every day of two years of a calendar- and a July-year.
    #[test]
    fn operating_period_of_matches_the_period_list_on_every_day() {
        for start_month in [1, 7] {
            let calendar = FiscalCalendar::new(start_month).unwrap();
            let mut day = date("2025-01-01");
            while day <= date("2026-12-31") {
                let found = calendar.operating_period_of(day).unwrap();
                let year = calendar.fiscal_year(calendar.fiscal_year_end_of(day)).unwrap();
                let listed = calendar
                    .periods(&year)
                    .into_iter()
                    .find(|period| period.kind == PeriodKind::Operating && period.start <= day && day <= period.end)
                    .unwrap();
                assert_eq!(found, listed, "start month {start_month}, {day}");
                day = day.succ_opt().unwrap();
            }
        }
    }

    #[test]
    fn calendar_year_calendar_has_fourteen_named_periods() {
        let calendar = FiscalCalendar::new(1).unwrap();
        let year = calendar.fiscal_year(2026).unwrap();
        assert_eq!(year.start, date("2026-01-01"));
        assert_eq!(year.end, date("2026-12-31"));
        let periods = calendar.periods(&year);
        let names: Vec<&str> = periods.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names.len(), 14);
        assert_eq!(names[0], "FY2026-opening");
        assert_eq!(names[1], "2026-01");
        assert_eq!(names[12], "2026-12");
        assert_eq!(names[13], "FY2026-closing");
        assert_eq!(
            (periods[0].start, periods[0].end),
            (date("2026-01-01"), date("2026-01-01"))
        );
        assert_eq!(
            (periods[2].start, periods[2].end),
            (date("2026-02-01"), date("2026-02-28"))
        );
        // The closing period has the dates of the last operating period.
        assert_eq!(
            (periods[13].start, periods[13].end),
            (date("2026-12-01"), date("2026-12-31"))
        );
        assert!(periods.windows(2).all(|pair| pair[0].ordinal < pair[1].ordinal));
    }

    #[test]
    fn fiscal_year_starting_in_july_is_named_by_its_end_year() {
        let calendar = FiscalCalendar::new(7).unwrap();
        let year = calendar.fiscal_year(2026).unwrap();
        assert_eq!(year.start, date("2025-07-01"));
        assert_eq!(year.end, date("2026-06-30"));
        assert_eq!(calendar.fiscal_year_end_of(date("2025-07-01")), 2026);
        assert_eq!(calendar.fiscal_year_end_of(date("2025-06-30")), 2025);
        assert_eq!(calendar.fiscal_year_end_of(date("2026-06-30")), 2026);
        let periods = calendar.periods(&year);
        assert_eq!(periods[1].name.as_str(), "2025-07");
        assert_eq!(periods[12].name.as_str(), "2026-06");
        assert_eq!(periods[13].name.as_str(), "FY2026-closing");
        assert_eq!(periods[13].start, date("2026-06-01"));
    }

    #[test]
    fn every_start_month_gives_twelve_contiguous_months() {
        for start_month in 1..=12 {
            let calendar = FiscalCalendar::new(start_month).unwrap();
            let year = calendar.fiscal_year(2030).unwrap();
            let periods = calendar.periods(&year);
            let operating: Vec<&Period> = periods.iter().filter(|p| p.kind == PeriodKind::Operating).collect();
            assert_eq!(operating.len(), 12);
            assert_eq!(operating[0].start, year.start);
            assert_eq!(operating[11].end, year.end);
            for pair in operating.windows(2) {
                assert_eq!(
                    pair[0].end.succ_opt().unwrap(),
                    pair[1].start,
                    "start month {start_month}"
                );
            }
            assert_eq!(year.end.year(), 2030);
        }
    }

    #[test]
    fn february_of_a_leap_year_ends_on_the_29th() {
        let calendar = FiscalCalendar::new(3).unwrap();
        let period = calendar.period_named("2028-02").unwrap();
        assert_eq!(period.end, date("2028-02-29"));
        assert_eq!(period.fiscal_year.as_str(), "FY2028");
        let year = calendar.fiscal_year(2028).unwrap();
        assert_eq!(year.end, date("2028-02-29"));
    }

    #[test]
    fn period_names_parse_and_unknown_names_are_refused() {
        let calendar = FiscalCalendar::new(4).unwrap();
        let period = calendar.period_named("FY2027-opening").unwrap();
        assert_eq!(period.start, date("2026-04-01"));
        assert_eq!(period.kind, PeriodKind::Opening);
        let period = calendar.period_named("FY2027-closing").unwrap();
        assert_eq!(period.start, date("2027-03-01"));
        assert_eq!(period.kind, PeriodKind::Closing);
        let period = calendar.period_named("2026-03").unwrap();
        assert_eq!(period.fiscal_year.as_str(), "FY2026");
        for bad in [
            "2026-13",
            "2026-1",
            "26-01",
            "FY26-opening",
            "FY2026-middle",
            "2026",
            "",
            "FY2026",
        ] {
            assert!(calendar.period_named(bad).is_err(), "{bad} was accepted");
        }
        assert!(FiscalCalendar::new(0).is_err());
        assert!(FiscalCalendar::new(13).is_err());
        assert!(parse_fiscal_year_name("FY20261").is_err());
    }
}
