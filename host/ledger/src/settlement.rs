//! Ledger settlement (open-item matching): posted lines of one settlement-enabled account, in
//! one fiscal year, whose accounting amounts sum to exactly zero are marked with a settlement
//! id. Reversing a settlement releases its lines. Settlements are append-only: a reversal is a
//! new record, never an update.

use crate::error::LedgerError;
use crate::ids::{EntityId, UserId};
use crate::period::PeriodStatus;
use crate::store::Db;
use rust_decimal::Decimal;
use std::collections::BTreeSet;

/// Lines one settlement may mark: a bound on one transaction's work.
pub const SETTLEMENT_LINES_MAX: usize = 10_000;

fn refused(message: String) -> LedgerError {
    LedgerError::Invalid(message)
}

/// Settles the given posted lines of an entity; returns the settlement id.
pub fn settle(
    db: &Db<'_>,
    entity: &EntityId,
    line_ids: &[i64],
    user: &UserId,
    run_id: Option<&str>,
) -> Result<i64, LedgerError> {
    let unique: BTreeSet<i64> = line_ids.iter().copied().collect();
    if unique.len() < 2 {
        return Err(refused("a settlement needs at least two different lines".to_owned()));
    }
    if unique.len() > SETTLEMENT_LINES_MAX {
        return Err(refused(format!(
            "a settlement may mark at most {SETTLEMENT_LINES_MAX} lines"
        )));
    }
    let record = db.require_entity(entity)?;
    let mut account = None;
    let mut fiscal_year = None;
    let mut total = Decimal::ZERO;
    for line_id in &unique {
        let line = db
            .line_for_settlement(*line_id)?
            .ok_or_else(|| refused(format!("line {line_id} does not exist")))?;
        if &line.entity != entity {
            return Err(refused(format!(
                "line {line_id} belongs to entity {}, not {entity}",
                line.entity
            )));
        }
        if let Some(settlement) = line.active_settlement {
            return Err(refused(format!(
                "line {line_id} is already settled by settlement {settlement}"
            )));
        }
        match &account {
            None => account = Some(line.account.clone()),
            Some(first) if first != &line.account => {
                return Err(refused(format!(
                    "lines {} are on accounts {first} and {}: a settlement stays on one account",
                    line_id, line.account
                )));
            }
            Some(_) => {}
        }
        match &fiscal_year {
            None => fiscal_year = Some(line.fiscal_year.clone()),
            Some(first) if first != &line.fiscal_year => {
                return Err(refused(format!(
                    "line {line_id} is in {} and another in {first}: settlement never crosses fiscal years",
                    line.fiscal_year
                )));
            }
            Some(_) => {}
        }
        total = total.checked_add(line.accounting_amount).ok_or(LedgerError::Overflow)?;
    }
    let account = account.expect("at least two lines were read");
    let fiscal_year = fiscal_year.expect("at least two lines were read");
    let account_record = db
        .account(&record.chart, &account)?
        .ok_or_else(|| LedgerError::not_found("account", account.as_str()))?;
    if !account_record.settle {
        return Err(refused(format!(
            "account {account} is not enabled for settlement; set `settle = true` in setup"
        )));
    }
    if !total.is_zero() {
        return Err(refused(format!(
            "the lines sum to {total} in accounting currency, not zero: only lines that net to zero settle"
        )));
    }
    let closing = crate::ids::PeriodName::new(format!("{fiscal_year}-closing"));
    if db.period_statuses(entity)?.get(&closing) == Some(&PeriodStatus::PermanentlyClosed) {
        return Err(refused(format!(
            "fiscal year {fiscal_year} of entity {entity} is closed: no settling in a closed year"
        )));
    }
    db.insert_settlement(
        entity,
        &account,
        &fiscal_year,
        &unique.into_iter().collect::<Vec<_>>(),
        user,
        run_id,
    )
}

/// Reverses a settlement, releasing its lines.
pub fn unsettle(db: &Db<'_>, entity: &EntityId, settlement_id: i64, user: &UserId) -> Result<(), LedgerError> {
    let (owner, reversed) = db
        .settlement_state(settlement_id)?
        .ok_or_else(|| LedgerError::not_found("settlement", settlement_id.to_string()))?;
    if &owner != entity {
        return Err(refused(format!(
            "settlement {settlement_id} belongs to entity {owner}, not {entity}"
        )));
    }
    if reversed {
        return Err(refused(format!("settlement {settlement_id} is already reversed")));
    }
    let fiscal_year = db.settlement_fiscal_year(settlement_id)?;
    let closing = crate::ids::PeriodName::new(format!("{fiscal_year}-closing"));
    if db.period_statuses(entity)?.get(&closing) == Some(&PeriodStatus::PermanentlyClosed) {
        return Err(refused(format!(
            "fiscal year {fiscal_year} of entity {entity} is closed: its settlements stay"
        )));
    }
    db.insert_settlement_reversal(settlement_id, user)
}
