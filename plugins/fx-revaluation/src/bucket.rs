//! Revaluation buckets: the balance of one account × dimension set × transaction currency over
//! a period range, in the transaction currency and in accounting currency. Normally they come
//! straight from the ledger's maintained balances; when settled lines are to be left out, the
//! ledger cannot sum them away, so the buckets are summed here from the account's unsettled
//! lines, page by page.

use std::collections::BTreeMap;

use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::{
    AccountFilter, AccountNumber, BalanceQuery, CurrencyCode, Dimension, EntityId, Ledger, LineQuery, PeriodName,
    StepError, canonical_dimensions,
};

/// The balance of one account × dimension set × transaction currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Every dimension value of the bucket, ordered by name.
    pub dimensions: Vec<Dimension>,
    /// The transaction currency.
    pub currency: CurrencyCode,
    /// The net amount in the transaction currency.
    pub amount: Decimal,
    /// The net amount in accounting currency, earlier revaluations included.
    pub accounting_amount: Decimal,
}

/// Which account and period range to read.
pub struct BucketQuery<'query> {
    /// The entity to read.
    pub entity: &'query EntityId,
    /// The account to read.
    pub account: &'query AccountNumber,
    /// The first period of the range, inclusive.
    pub from_period: &'query PeriodName,
    /// The last period of the range, inclusive.
    pub to_period: &'query PeriodName,
}

/// The account's buckets over the range, every currency included, ordered by dimension set and
/// currency. With `exclude_settled`, lines carrying an active settlement are left out.
pub fn buckets(ledger: &dyn Ledger, query: &BucketQuery<'_>, exclude_settled: bool) -> Result<Vec<Bucket>, StepError> {
    if exclude_settled {
        buckets_from_unsettled_lines(ledger, query)
    } else {
        buckets_from_balances(ledger, query)
    }
}

/// One balance query with every dimension kept.
fn buckets_from_balances(ledger: &dyn Ledger, query: &BucketQuery<'_>) -> Result<Vec<Bucket>, StepError> {
    let balance_query = BalanceQuery::new(query.entity.clone(), query.from_period.clone(), query.to_period.clone())
        .accounts(AccountFilter::List(vec![query.account.clone()]))
        .group_by("*");
    let mut buckets: Vec<Bucket> = ledger
        .balances(&balance_query)?
        .into_iter()
        .filter(|row| &row.account == query.account)
        .map(|row| Bucket {
            dimensions: row.dimensions,
            currency: row.currency,
            amount: row.amount,
            accounting_amount: row.accounting_amount,
        })
        .collect();
    buckets.sort_by(|left, right| bucket_order(left).cmp(&bucket_order(right)));
    Ok(buckets)
}

/// Sums the account's unsettled lines per dimension set and currency, following the line
/// cursor across every page.
fn buckets_from_unsettled_lines(ledger: &dyn Ledger, query: &BucketQuery<'_>) -> Result<Vec<Bucket>, StepError> {
    let line_query = LineQuery::new(
        query.entity.clone(),
        query.account.clone(),
        query.from_period.clone(),
        query.to_period.clone(),
    )
    .exclude_settled();
    let mut sums: BTreeMap<(String, CurrencyCode), Bucket> = BTreeMap::new();
    let mut lines_read: u64 = 0;
    for line in ledger.all_lines(line_query) {
        let line = line?;
        lines_read += 1;
        let mut dimensions = line.dimensions;
        dimensions.sort();
        let key = (canonical_dimensions(&dimensions), line.currency.clone());
        let bucket = sums.entry(key).or_insert_with(|| Bucket {
            dimensions,
            currency: line.currency,
            amount: Decimal::ZERO,
            accounting_amount: Decimal::ZERO,
        });
        bucket.amount = checked_sum(bucket.amount, line.amount, query.account)?;
        bucket.accounting_amount = checked_sum(bucket.accounting_amount, line.accounting_amount, query.account)?;
    }
    ledger.debug(&format!(
        "account {}: summed {lines_read} unsettled lines into {} buckets",
        query.account,
        sums.len()
    ));
    Ok(sums.into_values().collect())
}

fn checked_sum(total: Decimal, amount: Decimal, account: &AccountNumber) -> Result<Decimal, StepError> {
    total.checked_add(amount).ok_or_else(|| {
        StepError::new(format!(
            "the unsettled lines of account {account} overflow when summed: narrow the period range"
        ))
    })
}

/// The order buckets are revalued and posted in: the ledger's order of dimension sets (their
/// canonical text), then currency.
fn bucket_order(bucket: &Bucket) -> (String, &CurrencyCode) {
    (canonical_dimensions(&bucket.dimensions), &bucket.currency)
}
