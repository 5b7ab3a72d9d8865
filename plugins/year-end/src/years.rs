//! The two fiscal years a year-end close touches: the year being closed (its first period, its
//! last operating period, its closing period) and the next year, whose opening period receives
//! the carried balances. Here live the refusals about the calendar: a run outside the end of
//! the year, a next year that does not exist, a next year without an opening period.

use closebook_plugin_sdk::chrono::NaiveDate;
use closebook_plugin_sdk::{Ledger, PeriodInfo, PeriodKind, PeriodName, StepError, StepInput};

/// The periods of the closed year and of the next year that the step reads and posts in.
#[derive(Clone, Debug)]
pub struct Years {
    /// The fiscal year being closed, `FY2026`.
    pub closed_year: String,
    /// The next fiscal year, `FY2027`.
    pub next_year: String,
    /// The closed year's first period (its opening period when it has one).
    pub first_period: PeriodName,
    /// The closed year's last period (its closing period when it has one): balances are read
    /// from the first period through this one.
    pub last_period: PeriodName,
    /// The closed year's closing period and its end date (the year's last day), if any.
    pub closing_period: Option<(PeriodName, NaiveDate)>,
    /// The next year's opening period and its first day.
    pub next_opening: (PeriodName, NaiveDate),
}

impl Years {
    /// Reads the calendar around the run period: refuses a run outside the closed year's last
    /// operating period or closing period, and a next year that does not exist or has no
    /// opening period.
    pub fn new(input: &StepInput, ledger: &dyn Ledger) -> Result<Self, StepError> {
        let entity = &input.entity;
        let closed_year = input.period.fiscal_year.clone();
        let periods = ledger.periods(entity, Some(&closed_year))?;
        let last_operating = periods.iter().rev().find(|period| period.kind == PeriodKind::Operating);
        let is_year_end = match input.period.kind {
            PeriodKind::Closing => true,
            PeriodKind::Operating => last_operating.is_some_and(|period| period.name == input.period.name),
            PeriodKind::Opening => false,
        };
        if !is_year_end {
            let allowed = last_operating
                .map(|period| period.name.to_string())
                .unwrap_or_else(|| "the last operating period".to_owned());
            return Err(StepError::new(format!(
                "year-end close runs in the last operating period or the closing period of a fiscal year, not in \
                 {}: run it for {closed_year} in {allowed} or {closed_year}-closing",
                input.period.name
            )));
        }
        let (Some(first), Some(last)) = (periods.first(), periods.last()) else {
            return Err(StepError::new(format!(
                "fiscal year {closed_year} of entity {entity} has no periods"
            )));
        };
        let closing_period = periods
            .iter()
            .rev()
            .find(|period| period.kind == PeriodKind::Closing)
            .map(|period| (period.name.clone(), period.end));

        let next_year = next_fiscal_year(&closed_year)?;
        let next_periods = ledger.periods(entity, Some(&next_year))?;
        if next_periods.is_empty() {
            return Err(StepError::new(format!(
                "fiscal year {next_year} does not exist for entity {entity}: year-end close of {closed_year} \
                 carries balances into {next_year}'s opening period; add {next_year} to the fiscal calendar first"
            )));
        }
        let Some(next_opening) = next_periods
            .iter()
            .find(|period| period.kind == PeriodKind::Opening)
            .map(|period: &PeriodInfo| (period.name.clone(), period.start))
        else {
            return Err(StepError::new(format!(
                "fiscal year {next_year} of entity {entity} has no opening period to carry balances into: add one \
                 to the fiscal calendar"
            )));
        };
        Ok(Self {
            closed_year,
            next_year,
            first_period: first.name.clone(),
            last_period: last.name.clone(),
            closing_period,
            next_opening,
        })
    }
}

/// `FY2026` → `FY2027`: fiscal years are named by the calendar year in which they end.
fn next_fiscal_year(name: &str) -> Result<String, StepError> {
    let year: Option<i32> = name.strip_prefix("FY").and_then(|digits| digits.parse().ok());
    let Some(next) = year.and_then(|year| year.checked_add(1)) else {
        return Err(StepError::new(format!(
            "fiscal year {name:?} is not named FY followed by its year: the next fiscal year cannot be found"
        )));
    };
    Ok(format!("FY{next}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_year_is_named_by_the_following_calendar_year() {
        // FY2026 ends in 2026; the next year ends in 2027.
        assert_eq!(next_fiscal_year("FY2026").unwrap(), "FY2027");
        assert!(next_fiscal_year("2026").is_err());
        assert!(next_fiscal_year("FYabc").is_err());
    }
}
