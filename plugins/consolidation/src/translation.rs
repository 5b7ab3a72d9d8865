//! Currency translation of one member entity (DOMAIN.md §8): its balances from the opening
//! period of the fiscal year through the run period, in its accounting currency, become
//! balances in the consolidation currency at the member's ownership share:
//!
//! - assets and liabilities at the **current** rate on the as-of date (the period end);
//! - equity other than retained earnings (share capital) at the **historical** rate;
//! - retained earnings: the opening balance as the prior consolidation translated it, plus the
//!   year's movements at each period's average rate. The opening balance is, in this order: the
//!   configuration's `opening_retained_earnings` (an explicit override, at 100 %); for a member
//!   in another currency, what the consolidation entity itself carries into the year for the
//!   member (its opening period's retained earnings tagged with the member dimension: last
//!   year's consolidation, closed by its year-end, already translated and at the share); or the
//!   member's own balance when the currencies are the same;
//! - profit-and-loss movements at each period's **average** rate, period by period, so that the
//!   year to date is the sum of the translated months and never the year's total at one rate.
//!
//! What is left is the translation difference (CTA): the amount that makes the member's
//! translated balances net to zero. Every amount is the member's functional amount × rate ×
//! share, rounded once to the consolidation currency; the CTA absorbs the rounding too.

use std::collections::BTreeMap;

use closebook_plugin_sdk::chrono::NaiveDate;
use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::{
    AccountInfo, AccountNumber, AccountType, BalanceQuery, CurrencyCode, CurrencyInfo, Dimension, EntityId, EntityInfo,
    Ledger, PeriodInfo, PeriodKind, PeriodName, StepError,
};

use crate::config::{Config, Member};

/// A consolidated balance: the consolidation account and the line's dimensions, ordered by name.
pub type BucketKey = (AccountNumber, Vec<Dimension>);

/// One member's translated balances and the rates that produced them.
#[derive(Clone, Debug)]
pub struct MemberTranslation {
    /// The member's accounting currency.
    pub currency: CurrencyCode,
    /// Translated balances per consolidation bucket, the CTA not included.
    pub balances: BTreeMap<BucketKey, Decimal>,
    /// The translation difference: minus the sum of `balances`.
    pub translation_difference: Decimal,
    /// The current rate (assets and liabilities).
    pub current_rate: Decimal,
    /// The historical rate (share capital).
    pub historical_rate: Decimal,
    /// The average rate of each period with profit-and-loss movements, in calendar order.
    pub average_rates: Vec<(PeriodName, Decimal)>,
}

/// What the translation needs besides the member: the consolidation currency, the periods of
/// the year up to the run period, and the as-of date.
pub struct Target<'a> {
    /// The consolidation entity (the run entity), whose opening period carries last year's
    /// translated retained earnings of each member.
    pub group: &'a EntityId,
    /// The step's configuration: rate types, account mapping, member dimension.
    pub config: &'a Config,
    /// The consolidation entity's accounting currency.
    pub currency: &'a CurrencyInfo,
    /// From the year's opening period through the run period, in calendar order.
    pub periods: &'a [PeriodInfo],
    /// The date of the current and historical rates: the run's as-of date (the period end).
    pub as_of: NaiveDate,
}

/// A member's functional balances per bucket, before translation.
type Functional = BTreeMap<BucketKey, Decimal>;

/// How a member account is translated.
enum Treatment {
    Current,
    Historical,
    RetainedEarnings,
    ProfitAndLoss,
}

/// Translates one member's balances into the consolidation currency at its ownership share.
pub fn translate_member(
    ledger: &dyn Ledger,
    target: &Target<'_>,
    member: &Member,
) -> Result<MemberTranslation, StepError> {
    let entity = ledger.entity(&member.entity)?;
    let chart: BTreeMap<AccountNumber, AccountInfo> = ledger
        .accounts(&member.entity)?
        .into_iter()
        .map(|account| (account.number.clone(), account))
        .collect();
    let share = member.ownership_percent / Decimal::ONE_HUNDRED;
    let current_rate = rate(ledger, &entity, target, &target.config.current_rate_type, target.as_of)?;
    let historical_rate = rate(
        ledger,
        &entity,
        target,
        &target.config.historical_rate_type,
        target.as_of,
    )?;

    let mut current: Functional = BTreeMap::new();
    let mut historical: Functional = BTreeMap::new();
    let mut opening_retained_earnings: Functional = BTreeMap::new();
    let mut balances: BTreeMap<BucketKey, Decimal> = BTreeMap::new();
    let mut average_rates = Vec::new();
    for period in target.periods {
        let query = BalanceQuery::new(member.entity.clone(), period.name.clone(), period.name.clone()).group_by("*");
        // Movements of this period translated at its average rate, per bucket.
        let mut movements: Functional = BTreeMap::new();
        for row in ledger.balances(&query)? {
            if row.accounting_amount.is_zero() {
                continue;
            }
            let Some(account) = chart.get(&row.account) else {
                return Err(StepError::new(format!(
                    "account {} holds a balance in {} but is not in the chart of member {}",
                    row.account, period.name, member.entity
                )));
            };
            let key = bucket_key(target.config, &member.entity, &row.account, row.dimensions);
            let bucket = match treatment(account, &entity) {
                Treatment::Current => &mut current,
                Treatment::Historical => &mut historical,
                Treatment::RetainedEarnings if period.kind == PeriodKind::Opening => &mut opening_retained_earnings,
                Treatment::RetainedEarnings | Treatment::ProfitAndLoss => &mut movements,
            };
            *bucket.entry(key).or_default() += row.accounting_amount;
        }
        if movements.values().all(|amount| amount.is_zero()) {
            continue;
        }
        let average_rate = rate(ledger, &entity, target, &target.config.average_rate_type, period.end)?;
        average_rates.push((period.name.clone(), average_rate));
        add_translated(&mut balances, movements, average_rate, share, target.currency)?;
    }
    add_translated(&mut balances, current, current_rate, share, target.currency)?;
    add_translated(&mut balances, historical, historical_rate, share, target.currency)?;
    let opening_total: Decimal = opening_retained_earnings.values().copied().sum();
    let carried = if member.opening_retained_earnings.is_none() && entity.currency != target.currency.code {
        carried_retained_earnings(ledger, target, member, &entity)?
    } else {
        BTreeMap::new()
    };
    match member.opening_retained_earnings {
        // The explicit override: the prior consolidation's figure, at 100 %, on one line
        // without dimensions.
        Some(translated) => {
            let key = bucket_key(
                target.config,
                &member.entity,
                &entity.retained_earnings_account,
                Vec::new(),
            );
            add_translated(
                &mut balances,
                BTreeMap::from([(key, translated)]),
                Decimal::ONE,
                share,
                target.currency,
            )?;
        }
        None if entity.currency == target.currency.code => {
            add_translated(
                &mut balances,
                opening_retained_earnings,
                Decimal::ONE,
                share,
                target.currency,
            )?;
        }
        // Already translated and at the share: taken as the group carries it, bucket by bucket,
        // so the consolidation proposes nothing for it.
        None if !carried.is_empty() => {
            add_translated(&mut balances, carried, Decimal::ONE, Decimal::ONE, target.currency)?;
        }
        None if opening_total.is_zero() => {}
        None => {
            return Err(StepError::new(format!(
                "member {} keeps its books in {} and opens the year with retained earnings of {opening_total} {}, \
                 but {} carries none for it into {}: give opening_retained_earnings for it, the retained earnings \
                 the prior consolidation translated into {} (at 100 %), or consolidate and close the prior year in {} \
                 with member_dimension set",
                member.entity,
                entity.currency,
                entity.currency,
                target.group,
                target.periods.first().map_or("the year", |period| period.name.as_str()),
                target.currency.code,
                target.group
            )));
        }
    }
    balances.retain(|_, amount| !amount.is_zero());
    let sum: Decimal = balances.values().copied().sum();
    // Zero stays 0 rather than -0 in messages.
    let translation_difference = if sum.is_zero() { Decimal::ZERO } else { -sum };
    Ok(MemberTranslation {
        currency: entity.currency,
        balances,
        translation_difference,
        current_rate,
        historical_rate,
        average_rates,
    })
}

/// The member's retained earnings the consolidation entity carries into the year: its balances
/// in the year's opening period on the member's (mapped) retained earnings account, tagged with
/// the member in the member dimension, per bucket. Last year's consolidation put them there,
/// translated and at the share, and the group's year-end closed that year's translated profit
/// and loss into them. Empty without a member dimension (the group's balances cannot be told
/// apart by member) or when the year has no opening period.
fn carried_retained_earnings(
    ledger: &dyn Ledger,
    target: &Target<'_>,
    member: &Member,
    entity: &EntityInfo,
) -> Result<Functional, StepError> {
    let Some(dimension) = &target.config.member_dimension else {
        return Ok(BTreeMap::new());
    };
    let Some(opening) = target
        .periods
        .first()
        .filter(|period| period.kind == PeriodKind::Opening)
    else {
        return Ok(BTreeMap::new());
    };
    let account = target.config.map_account(&entity.retained_earnings_account);
    let query = BalanceQuery::new(target.group.clone(), opening.name.clone(), opening.name.clone()).group_by("*");
    let mut carried: Functional = BTreeMap::new();
    for row in ledger.balances(&query)? {
        let of_member = row
            .dimensions
            .iter()
            .any(|value| &value.name == dimension && value.value == member.entity.as_str());
        if row.account != account || !of_member || row.accounting_amount.is_zero() {
            continue;
        }
        let mut dimensions = row.dimensions;
        dimensions.sort();
        *carried.entry((row.account, dimensions)).or_default() += row.accounting_amount;
    }
    Ok(carried)
}

/// The consolidation bucket of a member balance: the mapped account, and the dimensions with
/// the member dimension (when configured) set to the member's id.
pub fn bucket_key(
    config: &Config,
    member: &EntityId,
    account: &AccountNumber,
    mut dimensions: Vec<Dimension>,
) -> BucketKey {
    if let Some(name) = &config.member_dimension {
        dimensions.retain(|dimension| &dimension.name != name);
        dimensions.push(Dimension::new(name.clone(), member.as_str()));
        dimensions.sort();
    }
    (config.map_account(account), dimensions)
}

fn treatment(account: &AccountInfo, entity: &EntityInfo) -> Treatment {
    match account.account_type {
        AccountType::Asset | AccountType::Liability => Treatment::Current,
        AccountType::Equity if account.number == entity.retained_earnings_account => Treatment::RetainedEarnings,
        AccountType::Equity => Treatment::Historical,
        AccountType::Revenue | AccountType::Expense => Treatment::ProfitAndLoss,
    }
}

/// Adds functional amounts × rate × share, each rounded to the consolidation currency.
fn add_translated(
    balances: &mut BTreeMap<BucketKey, Decimal>,
    functional: Functional,
    rate: Decimal,
    share: Decimal,
    currency: &CurrencyInfo,
) -> Result<(), StepError> {
    for (key, amount) in functional {
        let product = amount
            .checked_mul(rate)
            .and_then(|value| value.checked_mul(share))
            .ok_or_else(|| {
                StepError::new(format!(
                    "translating {amount} on account {} at rate {rate} overflows: check the rate",
                    key.0
                ))
            })?;
        *balances.entry(key).or_default() += currency.round(product);
    }
    Ok(())
}

/// The rate from the member's currency to the consolidation currency, refused when missing.
fn rate(
    ledger: &dyn Ledger,
    member: &EntityInfo,
    target: &Target<'_>,
    rate_type: &str,
    on: NaiveDate,
) -> Result<Decimal, StepError> {
    ledger
        .rate(&member.currency, &target.currency.code, rate_type, on)?
        .ok_or_else(|| {
            StepError::new(format!(
                "no {rate_type} rate from {} to {} on or before {on}, needed to translate member {}: import one",
                member.currency, target.currency.code, member.id
            ))
        })
}
