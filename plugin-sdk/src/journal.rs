//! What a step proposes to post: [`ProposedEntry`] with its [`ProposedLine`]s, and
//! [`ProposedSettlement`]. [`JournalBuilder`] assembles an entry and refuses to build one whose
//! accounting-currency amounts do not sum to zero, so an unbalanced proposal is caught in the
//! step's own tests rather than by the host at review time.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::ids::{AccountNumber, CurrencyCode, EntityId, LineId, PeriodName};
use crate::ledger::Dimension;

/// The fewest lines an entry may have: double entry needs a debit and a credit.
pub const ENTRY_LINES_MIN: usize = 2;

/// A journal line a step proposes. Debit is positive, credit negative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposedLine {
    /// The main account.
    pub account: AccountNumber,
    /// Financial dimension values.
    pub dimensions: Vec<Dimension>,
    /// The transaction currency; the entity's accounting currency when `None`.
    pub currency: Option<CurrencyCode>,
    /// The amount in the transaction currency.
    pub amount: Decimal,
    /// The accounting-currency amount; the host converts at the entity's default rate when
    /// `None`.
    pub accounting_amount: Option<Decimal>,
    /// The line's own description; the entry's when `None`.
    pub description: Option<String>,
}

impl ProposedLine {
    /// A line in the accounting currency, without dimensions: positive debits, negative
    /// credits.
    pub fn new(account: impl Into<AccountNumber>, amount: Decimal) -> Self {
        Self {
            account: account.into(),
            dimensions: Vec::new(),
            currency: None,
            amount,
            accounting_amount: None,
            description: None,
        }
    }

    /// Adds a dimension value.
    pub fn dimension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.dimensions.push(Dimension::new(name, value));
        self
    }

    /// Adds several dimension values.
    pub fn dimensions(mut self, dimensions: impl IntoIterator<Item = Dimension>) -> Self {
        self.dimensions.extend(dimensions);
        self
    }

    /// Sets the transaction currency.
    pub fn currency(mut self, currency: impl Into<CurrencyCode>) -> Self {
        self.currency = Some(currency.into());
        self
    }

    /// Sets the accounting-currency amount, for a line in a foreign currency.
    pub fn accounting_amount(mut self, amount: Decimal) -> Self {
        self.accounting_amount = Some(amount);
        self
    }

    /// Sets the line's description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// A journal entry a step proposes. Build one with [`JournalBuilder`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposedEntry {
    /// The entity to post in.
    pub entity: EntityId,
    /// The period to post in; the operating period of `date` when `None`. Name it to post in
    /// an opening or closing period.
    pub period: Option<PeriodName>,
    /// The entry date.
    pub date: NaiveDate,
    /// The entry's description.
    pub description: String,
    /// The lines; their accounting-currency amounts sum to zero.
    pub lines: Vec<ProposedLine>,
    /// When given, the host also posts the reversing entry on this date.
    pub reversal_date: Option<NaiveDate>,
}

impl ProposedEntry {
    /// The sum of the lines' accounting-currency amounts, which is zero for a balanced entry.
    /// A line counts at its `accounting_amount` when given, else at its `amount` when it is in
    /// the accounting currency: `currency` is `None` or equals `accounting_currency`. A foreign
    /// line without an accounting amount cannot be counted and is refused.
    pub fn imbalance(&self, accounting_currency: Option<&CurrencyCode>) -> Result<Decimal, JournalError> {
        let mut total = Decimal::ZERO;
        for (position, line) in self.lines.iter().enumerate() {
            let accounting_amount = match (&line.accounting_amount, &line.currency) {
                (Some(accounting_amount), _) => *accounting_amount,
                (None, None) => line.amount,
                (None, Some(currency)) if Some(currency) == accounting_currency => line.amount,
                (None, Some(currency)) => {
                    return Err(JournalError::AccountingAmountUnknown {
                        line: position + 1,
                        account: line.account.clone(),
                        currency: currency.clone(),
                    });
                }
            };
            total = total
                .checked_add(accounting_amount)
                .ok_or_else(|| JournalError::Overflow {
                    description: self.description.clone(),
                })?;
        }
        Ok(total)
    }
}

/// A settlement a step proposes: posted lines of one account, in one fiscal year, whose
/// accounting-currency amounts sum to exactly zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposedSettlement {
    /// The entity the lines belong to.
    pub entity: EntityId,
    /// The lines to mark settled.
    pub line_ids: Vec<LineId>,
}

/// An entry that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The entry has fewer than two lines.
    #[error(
        "entry {description:?} has {count} line(s): an entry needs at least {ENTRY_LINES_MIN}, a \
         debit and a credit"
    )]
    TooFewLines {
        /// The entry's description.
        description: String,
        /// How many lines it has.
        count: usize,
    },
    /// The accounting-currency amounts do not sum to zero.
    #[error(
        "entry {description:?} does not balance: debits {debit} and credits {credit} differ by \
         {difference} in accounting currency"
    )]
    Unbalanced {
        /// The entry's description.
        description: String,
        /// The sum of positive accounting amounts.
        debit: Decimal,
        /// The sum of negative accounting amounts, as a positive number.
        credit: Decimal,
        /// Debits minus credits.
        difference: Decimal,
    },
    /// A foreign-currency line has no accounting amount, so the balance cannot be checked.
    #[error(
        "line {line} (account {account}) is in {currency} without an accounting amount: give the \
         accounting amount, or name the accounting currency on the builder when {currency} is it"
    )]
    AccountingAmountUnknown {
        /// The one-based line number.
        line: usize,
        /// The line's account.
        account: AccountNumber,
        /// The line's currency.
        currency: CurrencyCode,
    },
    /// The amounts overflow `Decimal`.
    #[error("the amounts of entry {description:?} overflow when summed")]
    Overflow {
        /// The entry's description.
        description: String,
    },
}

/// Assembles a [`ProposedEntry`] and checks that it balances.
///
/// ```
/// use closebook_plugin_sdk::{JournalBuilder, chrono::NaiveDate, rust_decimal::Decimal};
///
/// let date = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
/// let entry = JournalBuilder::new("ACME", date, "Accrue January audit fee")
///     .debit("6100", Decimal::new(150000, 2))
///     .credit("2100", Decimal::new(150000, 2))
///     .reversal_date(NaiveDate::from_ymd_opt(2026, 2, 1).unwrap())
///     .build()
///     .unwrap();
/// assert_eq!(entry.lines.len(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct JournalBuilder {
    entry: ProposedEntry,
    accounting_currency: Option<CurrencyCode>,
}

impl JournalBuilder {
    /// Starts an entry with no lines.
    pub fn new(entity: impl Into<EntityId>, date: NaiveDate, description: impl Into<String>) -> Self {
        Self {
            entry: ProposedEntry {
                entity: entity.into(),
                period: None,
                date,
                description: description.into(),
                lines: Vec::new(),
                reversal_date: None,
            },
            accounting_currency: None,
        }
    }

    /// Posts in this period instead of the operating period of the date (an opening or
    /// closing period).
    pub fn period(mut self, period: impl Into<PeriodName>) -> Self {
        self.entry.period = Some(period.into());
        self
    }

    /// Asks the host to post the reversing entry on this date.
    pub fn reversal_date(mut self, date: NaiveDate) -> Self {
        self.entry.reversal_date = Some(date);
        self
    }

    /// Names the entity's accounting currency, so that lines which name it explicitly count at
    /// their amount in the balance check.
    pub fn accounting_currency(mut self, currency: impl Into<CurrencyCode>) -> Self {
        self.accounting_currency = Some(currency.into());
        self
    }

    /// Adds a line.
    pub fn line(mut self, line: ProposedLine) -> Self {
        self.entry.lines.push(line);
        self
    }

    /// Adds a line, for loops that cannot chain.
    pub fn push_line(&mut self, line: ProposedLine) {
        self.entry.lines.push(line);
    }

    /// Adds an accounting-currency line of `amount` (a negative amount becomes a credit).
    pub fn debit(self, account: impl Into<AccountNumber>, amount: Decimal) -> Self {
        self.line(ProposedLine::new(account, amount))
    }

    /// Adds an accounting-currency line of `-amount` (a negative amount becomes a debit).
    pub fn credit(self, account: impl Into<AccountNumber>, amount: Decimal) -> Self {
        self.line(ProposedLine::new(account, -amount))
    }

    /// The lines so far.
    pub fn lines(&self) -> &[ProposedLine] {
        &self.entry.lines
    }

    /// The sum of the accounting-currency amounts so far; zero when the entry balances.
    pub fn imbalance(&self) -> Result<Decimal, JournalError> {
        self.entry.imbalance(self.accounting_currency.as_ref())
    }

    /// The entry, when it has at least two lines and its accounting-currency amounts sum to
    /// exactly zero.
    pub fn build(self) -> Result<ProposedEntry, JournalError> {
        if self.entry.lines.len() < ENTRY_LINES_MIN {
            return Err(JournalError::TooFewLines {
                description: self.entry.description,
                count: self.entry.lines.len(),
            });
        }
        let imbalance = self.imbalance()?;
        if !imbalance.is_zero() {
            let (debit, credit) = self.turnover();
            return Err(JournalError::Unbalanced {
                description: self.entry.description,
                debit,
                credit,
                difference: imbalance,
            });
        }
        Ok(self.entry)
    }

    /// The entry without any check, for an entry whose foreign lines the host converts (it
    /// validates every proposal anyway) or for a test that needs a broken entry.
    pub fn build_unchecked(self) -> ProposedEntry {
        self.entry
    }

    /// Debit and credit totals in accounting currency, for the unbalanced-entry message. Only
    /// called after `imbalance` succeeded, so every line has a known accounting amount.
    fn turnover(&self) -> (Decimal, Decimal) {
        let mut debit = Decimal::ZERO;
        let mut credit = Decimal::ZERO;
        for line in &self.entry.lines {
            let amount = line.accounting_amount.unwrap_or(line.amount);
            if amount.is_sign_negative() {
                credit += -amount;
            } else {
                debit += amount;
            }
        }
        (debit, credit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(text: &str) -> Decimal {
        crate::wire::parse_decimal(text).unwrap()
    }

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()
    }

    #[test]
    fn builds_a_balanced_entry() {
        // A debit and an equal credit build, with the sign convention debit positive.
        let entry = JournalBuilder::new("ACME", date(), "accrual")
            .debit("6100", decimal("1500.00"))
            .credit("2100", decimal("1500.00"))
            .build()
            .unwrap();
        assert_eq!(entry.lines[0].amount, decimal("1500.00"));
        assert_eq!(entry.lines[1].amount, decimal("-1500.00"));
        assert_eq!(entry.period, None);
    }

    #[test]
    fn refuses_an_unbalanced_entry_with_its_totals() {
        // A cent off is refused, and the error names both totals and the difference.
        let error = JournalBuilder::new("ACME", date(), "accrual")
            .debit("6100", decimal("1500.00"))
            .credit("2100", decimal("1499.99"))
            .build()
            .unwrap_err();
        assert_eq!(
            error,
            JournalError::Unbalanced {
                description: "accrual".to_owned(),
                debit: decimal("1500.00"),
                credit: decimal("1499.99"),
                difference: decimal("0.01"),
            }
        );
        assert_eq!(
            error.to_string(),
            "entry \"accrual\" does not balance: debits 1500.00 and credits 1499.99 differ by 0.01 \
             in accounting currency"
        );
    }

    #[test]
    fn refuses_an_entry_with_one_line() {
        // A single zero line sums to zero but is not double entry.
        let error = JournalBuilder::new("ACME", date(), "lonely")
            .debit("6100", Decimal::ZERO)
            .build()
            .unwrap_err();
        assert!(matches!(error, JournalError::TooFewLines { count: 1, .. }));
    }

    #[test]
    fn foreign_lines_balance_on_their_accounting_amount() {
        // 100 EUR booked at 108.00 USD against a USD line balances; without the accounting
        // amount the check cannot be made and is refused.
        let balanced = JournalBuilder::new("ACME", date(), "fx")
            .line(
                ProposedLine::new("1200", decimal("100.00"))
                    .currency("EUR")
                    .accounting_amount(decimal("108.00")),
            )
            .credit("4000", decimal("108.00"))
            .build();
        assert!(balanced.is_ok());
        let error = JournalBuilder::new("ACME", date(), "fx")
            .line(ProposedLine::new("1200", decimal("100.00")).currency("EUR"))
            .credit("4000", decimal("108.00"))
            .build()
            .unwrap_err();
        assert_eq!(
            error,
            JournalError::AccountingAmountUnknown {
                line: 1,
                account: "1200".into(),
                currency: "EUR".into(),
            }
        );
    }

    #[test]
    fn lines_naming_the_accounting_currency_count_at_their_amount() {
        // Copying the currency from a balance row is fine once the builder knows it.
        let entry = JournalBuilder::new("ACME", date(), "usd")
            .accounting_currency("USD")
            .line(ProposedLine::new("1200", decimal("10")).currency("USD"))
            .credit("4000", decimal("10"))
            .build();
        assert!(entry.is_ok());
    }
}
