//! Balances to carry and the lines that carry them. A bucket is the balance of one account ×
//! dimension set × transaction currency over the closed year, in the transaction currency and
//! in accounting currency; the carrying line keeps all three, so that the new year can still
//! revalue and settle it. Unsettled lines of settlement accounts can be carried one by one.

use std::collections::BTreeMap;

use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::{
    AccountNumber, BalanceQuery, CurrencyCode, Dimension, EntityId, Ledger, LineQuery, PeriodName, PostedLine,
    ProposedLine, StepError,
};

/// The balance of one account × dimension set × transaction currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// The account.
    pub account: AccountNumber,
    /// Every dimension value of the bucket, ordered by name.
    pub dimensions: Vec<Dimension>,
    /// The transaction currency.
    pub currency: CurrencyCode,
    /// The net amount in the transaction currency.
    pub amount: Decimal,
    /// The net amount in accounting currency, revaluations included.
    pub accounting_amount: Decimal,
}

impl Bucket {
    /// Whether the bucket holds nothing in either currency.
    pub fn is_zero(&self) -> bool {
        self.amount.is_zero() && self.accounting_amount.is_zero()
    }

    /// The order buckets are carried in, and the key lines are matched to their bucket by.
    pub fn key(&self) -> BucketKey {
        (
            self.account.clone(),
            canonical_dimensions(&self.dimensions),
            self.currency.clone(),
        )
    }

    /// The same bucket with both amounts negated: what zeroes it.
    pub fn negated(&self) -> Self {
        Self {
            amount: -self.amount,
            accounting_amount: -self.accounting_amount,
            ..self.clone()
        }
    }

    /// `account currency [dimensions]`, for messages.
    pub fn label(&self) -> String {
        if self.dimensions.is_empty() {
            format!("account {} {}", self.account, self.currency)
        } else {
            format!(
                "account {} {} [{}]",
                self.account,
                self.currency,
                canonical_dimensions(&self.dimensions)
            )
        }
    }
}

/// Account, canonical dimension text, currency.
pub type BucketKey = (AccountNumber, String, CurrencyCode);

/// Every non-zero bucket of every account over the period range, in account, dimension set and
/// currency order.
pub fn buckets(
    ledger: &dyn Ledger,
    entity: &EntityId,
    from_period: &PeriodName,
    to_period: &PeriodName,
) -> Result<Vec<Bucket>, StepError> {
    let query = BalanceQuery::new(entity.clone(), from_period.clone(), to_period.clone()).group_by("*");
    let mut buckets: Vec<Bucket> = ledger
        .balances(&query)?
        .into_iter()
        .map(|row| {
            let mut dimensions = row.dimensions;
            dimensions.sort();
            Bucket {
                account: row.account,
                dimensions,
                currency: row.currency,
                amount: row.amount,
                accounting_amount: row.accounting_amount,
            }
        })
        .filter(|bucket| !bucket.is_zero())
        .collect();
    // The host sends them in this order already; the sort keeps the step's output independent
    // of that, and compares without building a key (a stable sort of sorted rows is one
    // comparison per row).
    buckets.sort_by(|left, right| {
        left.account
            .cmp(&right.account)
            .then_with(|| canonical_bytes(&left.dimensions).cmp(canonical_bytes(&right.dimensions)))
            .then_with(|| left.currency.cmp(&right.currency))
    });
    Ok(buckets)
}

/// The bytes of [`canonical_dimensions`]' text, without building it: two sets compare as
/// their texts do.
fn canonical_bytes(dimensions: &[Dimension]) -> impl Iterator<Item = u8> + '_ {
    dimensions.iter().enumerate().flat_map(|(index, dimension)| {
        (index > 0)
            .then_some(b';')
            .into_iter()
            .chain(dimension.name.bytes())
            .chain(std::iter::once(b'='))
            .chain(dimension.value.bytes())
    })
}

/// The unsettled posted lines of one account over the period range, following the line cursor
/// across every page (the SDK stops after `LINE_PAGES_MAX` pages).
pub fn unsettled_lines(
    ledger: &dyn Ledger,
    entity: &EntityId,
    account: &AccountNumber,
    from_period: &PeriodName,
    to_period: &PeriodName,
) -> Result<Vec<PostedLine>, StepError> {
    let query =
        LineQuery::new(entity.clone(), account.clone(), from_period.clone(), to_period.clone()).exclude_settled();
    let mut lines = Vec::new();
    for line in ledger.all_lines(query) {
        lines.push(line?);
    }
    Ok(lines)
}

/// The lines that post a bucket, and whether it had to be split.
///
/// A bucket in the accounting currency is one accounting-currency line. A foreign bucket is one
/// line in its currency with its accounting amount, unless the two cannot travel together: the
/// ledger accepts an amount of 0 with an accounting amount only from a revaluation run, and
/// refuses opposite signs. Such a bucket (left by revaluations or by settling lines booked at
/// different rates) is split into the transaction amount at accounting amount 0 and the
/// accounting amount on an accounting-currency line of the same account and dimensions, so
/// that both totals still carry exactly.
pub fn bucket_lines(
    bucket: &Bucket,
    accounting_currency: &CurrencyCode,
    description: &str,
) -> Result<(Vec<ProposedLine>, bool), StepError> {
    let line = |amount: Decimal| {
        ProposedLine::new(bucket.account.clone(), amount)
            .dimensions(bucket.dimensions.iter().cloned())
            .description(description)
    };
    if &bucket.currency == accounting_currency {
        if bucket.amount != bucket.accounting_amount {
            return Err(StepError::new(format!(
                "{} holds {} in the accounting currency but {} as its accounting amount: the ledger is inconsistent",
                bucket.label(),
                bucket.amount,
                bucket.accounting_amount
            )));
        }
        return Ok((vec![line(bucket.amount)], false));
    }
    let travels_together = !bucket.amount.is_zero()
        && (bucket.accounting_amount.is_zero()
            || bucket.amount.is_sign_negative() == bucket.accounting_amount.is_sign_negative());
    if travels_together {
        let carried = line(bucket.amount)
            .currency(bucket.currency.clone())
            .accounting_amount(bucket.accounting_amount);
        return Ok((vec![carried], false));
    }
    let mut lines = Vec::with_capacity(2);
    if !bucket.amount.is_zero() {
        lines.push(
            line(bucket.amount)
                .currency(bucket.currency.clone())
                .accounting_amount(Decimal::ZERO),
        );
    }
    lines.push(line(bucket.accounting_amount));
    Ok((lines, true))
}

/// The line carrying one unsettled posted line: its amount, currency, accounting amount,
/// dimensions and description.
pub fn posted_line(line: &PostedLine, accounting_currency: &CurrencyCode) -> ProposedLine {
    let carried = ProposedLine::new(line.account.clone(), line.amount)
        .dimensions(line.dimensions.iter().cloned())
        .description(line.description.clone());
    if &line.currency == accounting_currency {
        carried
    } else {
        carried
            .currency(line.currency.clone())
            .accounting_amount(line.accounting_amount)
    }
}

/// Sums amounts per key, refusing an overflow.
pub fn add_to(sums: &mut BTreeMap<BucketKey, Bucket>, bucket: Bucket) -> Result<(), StepError> {
    let key = bucket.key();
    match sums.get_mut(&key) {
        None => {
            sums.insert(key, bucket);
        }
        Some(total) => {
            let overflow = || StepError::new(format!("the balance of {} overflows", bucket.label()));
            total.amount = total.amount.checked_add(bucket.amount).ok_or_else(overflow)?;
            total.accounting_amount = total
                .accounting_amount
                .checked_add(bucket.accounting_amount)
                .ok_or_else(overflow)?;
        }
    }
    Ok(())
}

/// A dimension set as text, `cost-center=CC7;department=100`, as the ledger orders and shows it.
pub fn canonical_dimensions(dimensions: &[Dimension]) -> String {
    let mut text = String::new();
    write_canonical_dimensions(&mut text, dimensions);
    text
}

/// Appends [`canonical_dimensions`]' text to `text`.
pub fn write_canonical_dimensions(text: &mut String, dimensions: &[Dimension]) {
    for (index, dimension) in dimensions.iter().enumerate() {
        if index > 0 {
            text.push(';');
        }
        text.push_str(&dimension.name);
        text.push('=');
        text.push_str(&dimension.value);
    }
}

#[cfg(test)]
mod tests {
    use closebook_plugin_sdk::testing::decimal;

    use super::*;

    fn bucket(currency: &str, amount: &str, accounting_amount: &str) -> Bucket {
        Bucket {
            account: "1200".into(),
            dimensions: vec![Dimension::new("department", "100")],
            currency: currency.into(),
            amount: decimal(amount),
            accounting_amount: decimal(accounting_amount),
        }
    }

    #[test]
    fn dimension_sets_compare_as_their_canonical_texts() {
        // `department=10;partner=X` sorts after `department=100` as text (';' after '0'),
        // although "10" < "100" as values: the comparison must follow the text.
        let sets = [
            vec![],
            vec![Dimension::new("department", "10"), Dimension::new("partner", "X")],
            vec![Dimension::new("department", "100")],
            vec![Dimension::new("department", "10")],
            vec![
                Dimension::new("cost-center", "CC7"),
                Dimension::new("department", "100"),
            ],
            vec![Dimension::new("department", "1")],
        ];
        for left in &sets {
            for right in &sets {
                assert_eq!(
                    canonical_bytes(left).cmp(canonical_bytes(right)),
                    canonical_dimensions(left).cmp(&canonical_dimensions(right)),
                    "{left:?} against {right:?}"
                );
            }
        }
    }

    #[test]
    fn a_foreign_bucket_keeps_its_currency_and_accounting_amount() {
        // 500 EUR carried at 833.33 USD stays 500 EUR / 833.33 on one line.
        let (lines, split) = bucket_lines(&bucket("EUR", "500.00", "833.33"), &"USD".into(), "carried").unwrap();
        assert!(!split);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].currency.as_ref().unwrap(), "EUR");
        assert_eq!(lines[0].amount, decimal("500.00"));
        assert_eq!(lines[0].accounting_amount, Some(decimal("833.33")));
        assert_eq!(lines[0].dimensions, [Dimension::new("department", "100")]);
    }

    #[test]
    fn a_bucket_the_ledger_would_refuse_as_one_line_is_split() {
        // 0 EUR at 12.00 USD (a revaluation left over) becomes an accounting-currency line;
        // 10 EUR at −2.00 USD becomes 10 EUR at 0 plus −2.00 USD. Both totals are kept.
        let (lines, split) = bucket_lines(&bucket("EUR", "0.00", "12.00"), &"USD".into(), "carried").unwrap();
        assert!(split);
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].currency.clone(), lines[0].amount), (None, decimal("12.00")));
        let (lines, split) = bucket_lines(&bucket("EUR", "10.00", "-2.00"), &"USD".into(), "carried").unwrap();
        assert!(split);
        assert_eq!(lines[0].amount, decimal("10.00"));
        assert_eq!(lines[0].accounting_amount, Some(Decimal::ZERO));
        assert_eq!((lines[1].currency.clone(), lines[1].amount), (None, decimal("-2.00")));
    }
}
