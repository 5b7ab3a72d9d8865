//! The standard bank-matching close step (DOMAIN.md section 13, interface 0.2): reads the bank
//! statement imported for an account and period, the account's posted lines of the period and
//! the reconciling items carried into it, and
//! - clears a carried item the statement now shows (an outstanding cheque presented, a deposit
//!   in transit credited: a statement line of the item's amount), or the ledger now books (a
//!   bank fee first seen on an earlier statement: a ledger line of the opposite amount);
//! - matches each other statement line with one ledger line of the same accounting amount whose
//!   date is within `date_window_days`, preferring a line whose entry key or description holds
//!   the statement line's reference, then the nearest date;
//! - proposes a reconciling item for each line left on one side only: a ledger line not on the
//!   statement adds its amount (an outstanding cheque is negative), a statement line not in the
//!   ledger adds its negation, and is also a finding the preparer must explain.
//!
//! Matches are not proposals: they leave nothing to record, and the step's message counts them.
//! Run twice, it proposes nothing twice: the host does not record an item already open as
//! proposed, and an item the first run cleared still takes its statement or ledger line (the
//! query returns it, flagged cleared), so the line is not proposed as new. Lines of zero are
//! left alone.

use closebook_plugin_sdk::chrono::{Days, NaiveDate};
use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::serde_json::{Value, json};
use closebook_plugin_sdk::{
    AccountNumber, Clearing, CloseStep, Finding, Ledger, Level, LineQuery, OpenItem, PostedLine, ReconcilingItem,
    StatementLine, StatementQuery, StepError, StepInfo, StepInput, StepOutput,
};
use serde::Deserialize;

/// The widest date window, in days, between a statement line and the ledger line it matches.
pub const DATE_WINDOW_DAYS_MAX: u32 = 31;

/// Characters of a statement or ledger description quoted in an item's explanation: the host
/// takes explanations of at most 1,000.
pub const QUOTED_DESCRIPTION_CHARS_MAX: usize = 200;

/// `text`, cut to [`QUOTED_DESCRIPTION_CHARS_MAX`] characters with `…` when longer.
fn quoted(text: &str) -> String {
    if text.chars().count() <= QUOTED_DESCRIPTION_CHARS_MAX {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(QUOTED_DESCRIPTION_CHARS_MAX - 1).collect();
    cut.push('…');
    cut
}

/// The step's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The bank account reconciled.
    pub account: AccountNumber,
    /// How many days a statement line's date may be from the ledger line it matches.
    #[serde(default = "date_window_default")]
    pub date_window_days: u32,
}

fn date_window_default() -> u32 {
    3
}

/// The JSON Schema (draft 2020-12) of [`Config`].
pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "bank-match configuration",
        "type": "object",
        "additionalProperties": false,
        "required": ["account"],
        "properties": {
            "account": {
                "description": "The bank account reconciled, with a statement imported for the period (`closebook reconcile import-statement`).",
                "type": "string",
                "minLength": 1
            },
            "date_window_days": {
                "description": "How many days a statement line's date may be from the ledger line it matches.",
                "type": "integer",
                "minimum": 0,
                "maximum": DATE_WINDOW_DAYS_MAX,
                "default": 3
            }
        }
    })
}

/// The bank-matching step.
pub struct BankMatch;

impl CloseStep for BankMatch {
    fn describe() -> StepInfo {
        StepInfo::new(
            "bank-match",
            env!("CARGO_PKG_VERSION"),
            "Matches a bank statement with the ledger and proposes reconciling items for the rest.",
        )
        .config_schema(schema())
    }

    fn run(input: StepInput, ledger: &dyn Ledger) -> Result<StepOutput, StepError> {
        let config: Config = input.parse_config()?;
        if config.date_window_days > DATE_WINDOW_DAYS_MAX {
            return Err(StepError::new(format!(
                "date_window_days {} is out of range: give 0 to {DATE_WINDOW_DAYS_MAX}",
                config.date_window_days
            )));
        }
        input.require_post_access()?;
        let account = config.account.clone();
        let query = StatementQuery::new(input.entity.clone(), account.clone(), input.period.name.clone());
        let Some(statement) = ledger.statement(&query)? else {
            return Err(StepError::new(format!(
                "no statement is imported for account {account} of {} in {}: import it with `closebook reconcile import-statement --entity {} --account {account} --period {} …`",
                input.entity, input.period.name, input.entity, input.period.name
            )));
        };
        // Items opened in earlier periods (those this step cleared in the period before
        // included, flagged); this period's own are the host's to keep once.
        let carried: Vec<OpenItem> = ledger
            .reconciling_items(&query)?
            .into_iter()
            .filter(|item| item.period != input.period.name)
            .collect();
        let mut posted = Vec::new();
        for line in ledger.all_lines(LineQuery::new(
            input.entity.clone(),
            account.clone(),
            input.period.name.clone(),
            input.period.name.clone(),
        )) {
            posted.push(line?);
        }
        let matching = Matching::new(&statement.lines, &posted, &carried, config.date_window_days);
        let mut output = StepOutput::new();
        for (item, note) in matching.cleared.iter().filter(|(item, _)| !item.cleared) {
            output.push_clearing(Clearing {
                entity: input.entity.clone(),
                item_id: item.id,
                period: input.period.name.clone(),
                note: note.clone(),
            });
        }
        let expected_clear = input
            .period
            .end
            .checked_add_days(Days::new(u64::from(config.date_window_days)))
            .unwrap_or(input.period.end);
        for line in matching.ledger_only() {
            output.push_reconciling_item(ReconcilingItem {
                entity: input.entity.clone(),
                account: account.clone(),
                dimensions: Vec::new(),
                period: input.period.name.clone(),
                amount: line.accounting_amount,
                explanation: format!(
                    "in the ledger, not on the statement: {} {} ({}, line {})",
                    line.entry_key,
                    quoted(&line.description),
                    line.date,
                    line.id
                ),
                expected_clear,
                reference: line.entry_key.clone(),
            });
        }
        for line in matching.statement_only() {
            output.push_reconciling_item(ReconcilingItem {
                entity: input.entity.clone(),
                account: account.clone(),
                dimensions: Vec::new(),
                period: input.period.name.clone(),
                amount: -line.amount,
                explanation: format!(
                    "on the statement, not in the ledger: {} ({}, {}, statement line {})",
                    quoted(&line.description),
                    quoted(&line.reference),
                    line.date,
                    line.line_no
                ),
                expected_clear,
                reference: line.reference.clone(),
            });
            output.push_finding(Finding {
                entity: input.entity.clone(),
                account: account.clone(),
                dimensions: Vec::new(),
                // The line's number names the finding, so that each line's explanation is its own.
                measure: format!("statement line {} without a ledger line", line.line_no),
                current: line.amount,
                baseline: Decimal::ZERO,
                threshold: "any amount".to_owned(),
                explanation_required: true,
                message: format!(
                    "statement line {} ({}, {}, {}) has no ledger line: book it, or explain it",
                    line.line_no,
                    line.date,
                    quoted(&line.reference),
                    quoted(&line.description)
                ),
            });
        }
        let text = format!(
            "account {account}: {} of {} statement lines matched ({} by reference), {} carried items cleared, {} reconciling items proposed",
            matching.matched,
            statement.lines.len(),
            matching.by_reference,
            output.cleared_items.len(),
            output.reconciling_items.len()
        );
        ledger.info(&text);
        output.push_message(Level::Info, text);
        Ok(output)
    }
}

closebook_plugin_sdk::export_step!(BankMatch);

/// The outcome of matching a statement with the ledger and the carried items.
struct Matching<'a> {
    statement: &'a [StatementLine],
    posted: &'a [PostedLine],
    statement_used: Vec<bool>,
    posted_used: Vec<bool>,
    cleared: Vec<(&'a OpenItem, String)>,
    matched: usize,
    by_reference: usize,
}

impl<'a> Matching<'a> {
    fn new(statement: &'a [StatementLine], posted: &'a [PostedLine], carried: &'a [OpenItem], window: u32) -> Self {
        let mut matching = Matching {
            statement,
            posted,
            statement_used: vec![false; statement.len()],
            posted_used: vec![false; posted.len()],
            cleared: Vec::new(),
            matched: 0,
            by_reference: 0,
        };
        matching.clear_carried(carried);
        matching.match_lines(window);
        matching
    }

    /// A carried item clears against a statement line of its amount (it reached the bank),
    /// one naming its reference first, or a ledger line of the opposite amount (the ledger
    /// booked it).
    fn clear_carried(&mut self, carried: &'a [OpenItem]) {
        for item in carried {
            let reference = item.reference.trim().to_lowercase();
            let on_statement = (0..self.statement.len())
                .filter(|&index| !self.statement_used[index] && self.statement[index].amount == item.amount)
                .min_by_key(|&index| {
                    let line = &self.statement[index];
                    let named = !reference.is_empty() && line.reference.to_lowercase().contains(&reference);
                    (!named, index)
                });
            if let Some(index) = on_statement {
                self.statement_used[index] = true;
                let line = &self.statement[index];
                self.cleared.push((
                    item,
                    format!("statement line {} ({}, {})", line.line_no, line.date, line.reference),
                ));
                continue;
            }
            let in_ledger = (0..self.posted.len())
                .find(|&index| !self.posted_used[index] && self.posted[index].accounting_amount == -item.amount);
            if let Some(index) = in_ledger {
                self.posted_used[index] = true;
                let line = &self.posted[index];
                self.cleared
                    .push((item, format!("ledger entry {} ({})", line.entry_key, line.date)));
            }
        }
    }

    /// Each statement line takes one unused ledger line of its amount within the window: one
    /// that names its reference first, then the nearest in date, then the oldest.
    fn match_lines(&mut self, window: u32) {
        for (index, line) in self.statement.iter().enumerate() {
            if self.statement_used[index] || line.amount.is_zero() {
                continue;
            }
            let reference = line.reference.trim().to_lowercase();
            let candidate = (0..self.posted.len())
                .filter(|&candidate| !self.posted_used[candidate])
                .filter(|&candidate| self.posted[candidate].accounting_amount == line.amount)
                .filter(|&candidate| days_apart(self.posted[candidate].date, line.date) <= u64::from(window))
                .min_by_key(|&candidate| {
                    let posted = &self.posted[candidate];
                    let named = !reference.is_empty()
                        && (posted.entry_key.to_lowercase().contains(&reference)
                            || posted.description.to_lowercase().contains(&reference));
                    (!named, days_apart(posted.date, line.date), posted.id)
                });
            if let Some(candidate) = candidate {
                let posted = &self.posted[candidate];
                if !reference.is_empty()
                    && (posted.entry_key.to_lowercase().contains(&reference)
                        || posted.description.to_lowercase().contains(&reference))
                {
                    self.by_reference += 1;
                }
                self.posted_used[candidate] = true;
                self.statement_used[index] = true;
                self.matched += 1;
            }
        }
    }

    /// Ledger lines neither matched nor clearing a carried item, with an amount.
    fn ledger_only(&self) -> impl Iterator<Item = &'a PostedLine> + '_ {
        self.posted
            .iter()
            .zip(&self.posted_used)
            .filter(|(line, used)| !**used && !line.accounting_amount.is_zero())
            .map(|(line, _)| line)
    }

    /// Statement lines neither matched nor clearing a carried item, with an amount.
    fn statement_only(&self) -> impl Iterator<Item = &'a StatementLine> + '_ {
        self.statement
            .iter()
            .zip(&self.statement_used)
            .filter(|(line, used)| !**used && !line.amount.is_zero())
            .map(|(line, _)| line)
    }
}

fn days_apart(left: NaiveDate, right: NaiveDate) -> u64 {
    left.signed_duration_since(right).num_days().unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use closebook_plugin_sdk::testing::{TestLedger, date, decimal};
    use closebook_plugin_sdk::{AccountInfo, AccountType, EntityInfo, JournalBuilder, ProposedLine, Statement};

    fn ledger() -> TestLedger {
        let mut ledger = TestLedger::new();
        ledger
            .add_currency("USD", 2)
            .add_entity(EntityInfo::new("US", "Acme US", "USD", "3900", "spot"))
            .add_account("US", AccountInfo::new("1000", "Cash at bank", AccountType::Asset))
            .add_account("US", AccountInfo::new("6100", "Rent", AccountType::Expense))
            .add_account("US", AccountInfo::new("4000", "Sales", AccountType::Revenue))
            .add_fiscal_year("US", 2026);
        ledger
    }

    /// Posts `cash` to 1000 against `other`; the harness keys entries TEST-000001, … in order.
    fn post(ledger: &mut TestLedger, description: &str, day: &str, cash: &str, other: &str) {
        let amount = decimal(cash);
        let entry = JournalBuilder::new("US", date(day), description)
            .line(ProposedLine::new("1000", amount))
            .line(ProposedLine::new(other, -amount))
            .build()
            .unwrap();
        ledger.post(entry);
    }

    fn line(line_no: u32, day: &str, amount: &str, reference: &str) -> StatementLine {
        StatementLine {
            line_no,
            date: date(day),
            amount: decimal(amount),
            reference: reference.to_owned(),
            description: format!("bank {reference}"),
        }
    }

    #[test]
    fn januarys_outstanding_cheque_is_an_item_and_februarys_statement_clears_it() {
        // January: +25,000.00 received on the 10th (bank: the 12th), rent cheque −4,500.00 on
        // the 28th not yet presented.
        let mut ledger = ledger();
        post(&mut ledger, "AR-002", "2026-01-10", "25000.00", "4000");
        post(&mut ledger, "GL-002", "2026-01-28", "-4500.00", "6100");
        ledger.add_statement(
            "US",
            "1000",
            "2026-01",
            Statement {
                source: "jan.csv".to_owned(),
                opening: decimal("0"),
                closing: decimal("25000.00"),
                lines: vec![line(2, "2026-01-12", "25000.00", "TRF-1")],
            },
        );
        let config = json!({ "account": "1000" });
        let output = ledger
            .run_step::<BankMatch>(ledger.step_input("US", "2026-01", config.clone()))
            .unwrap();
        assert_eq!(output.reconciling_items.len(), 1);
        let cheque = &output.reconciling_items[0];
        assert_eq!(cheque.amount, decimal("-4500.00"));
        assert_eq!(cheque.reference, "TEST-000002");
        assert!(output.findings.is_empty() && output.cleared_items.is_empty());

        // February: the statement shows the cheque on the 4th and a fee of −35.00 the ledger
        // does not have; the carried cheque clears, the fee is an item (+35.00) and a finding.
        ledger.add_open_item(
            "US",
            "1000",
            "2026-02",
            OpenItem {
                id: 7,
                period: "2026-01".into(),
                cleared: false,
                amount: decimal("-4500.00"),
                explanation: cheque.explanation.clone(),
                expected_clear: cheque.expected_clear,
                reference: cheque.reference.clone(),
            },
        );
        ledger.add_statement(
            "US",
            "1000",
            "2026-02",
            Statement {
                source: "feb.csv".to_owned(),
                opening: decimal("25000.00"),
                closing: decimal("20465.00"),
                lines: vec![
                    line(2, "2026-02-04", "-4500.00", "CHQ-1187"),
                    line(3, "2026-02-27", "-35.00", "FEE"),
                ],
            },
        );
        let output = ledger
            .run_step::<BankMatch>(ledger.step_input("US", "2026-02", config))
            .unwrap();
        assert_eq!(output.cleared_items.len(), 1);
        assert_eq!(output.cleared_items[0].item_id, 7);
        assert_eq!(output.reconciling_items.len(), 1);
        assert_eq!(output.reconciling_items[0].amount, decimal("35.00"));
        assert_eq!(output.findings.len(), 1);
        assert!(
            output.messages[0].text.contains("1 carried items cleared"),
            "{:?}",
            output.messages
        );
    }

    #[test]
    fn run_again_it_sees_what_it_cleared_and_proposes_nothing_new_for_it() {
        // February ran once: the cheque (item 7) cleared against CHQ-1187. The query now
        // returns it flagged cleared; it still takes its statement line.
        let mut ledger = ledger();
        post(&mut ledger, "rent", "2026-01-28", "-4500.00", "6100");
        ledger.add_statement(
            "US",
            "1000",
            "2026-02",
            Statement {
                source: "feb.csv".to_owned(),
                opening: decimal("0"),
                closing: decimal("-4535.00"),
                lines: vec![
                    line(2, "2026-02-04", "-4500.00", "CHQ-1187"),
                    line(3, "2026-02-27", "-35.00", "FEE"),
                ],
            },
        );
        ledger.add_open_item(
            "US",
            "1000",
            "2026-02",
            OpenItem {
                id: 7,
                period: "2026-01".into(),
                cleared: true,
                amount: decimal("-4500.00"),
                explanation: "rent cheque".to_owned(),
                expected_clear: date("2026-02-03"),
                reference: "TEST-000001".to_owned(),
            },
        );
        let output = ledger
            .run_step::<BankMatch>(ledger.step_input("US", "2026-02", json!({ "account": "1000" })))
            .unwrap();
        assert!(output.cleared_items.is_empty());
        assert_eq!(output.reconciling_items.len(), 1);
        assert_eq!(output.reconciling_items[0].amount, decimal("35.00"));
    }

    #[test]
    fn a_statement_line_of_zero_is_left_alone() {
        let mut ledger = ledger();
        ledger.add_statement(
            "US",
            "1000",
            "2026-01",
            Statement {
                source: "jan.csv".to_owned(),
                opening: decimal("0"),
                closing: decimal("0"),
                lines: vec![line(2, "2026-01-15", "0.00", "NOTE")],
            },
        );
        let output = ledger
            .run_step::<BankMatch>(ledger.step_input("US", "2026-01", json!({ "account": "1000" })))
            .unwrap();
        assert!(output.reconciling_items.is_empty() && output.findings.is_empty());
    }

    #[test]
    fn a_reference_wins_over_a_nearer_date_and_the_window_bounds_a_match() {
        let mut ledger = ledger();
        post(&mut ledger, "INV-1", "2026-01-14", "100.00", "4000");
        post(&mut ledger, "INV-2", "2026-01-15", "100.00", "4000");
        post(&mut ledger, "INV-3", "2026-01-02", "70.00", "4000");
        ledger.add_statement(
            "US",
            "1000",
            "2026-01",
            Statement {
                source: "jan.csv".to_owned(),
                opening: decimal("0"),
                closing: decimal("170.00"),
                lines: vec![
                    line(2, "2026-01-15", "100.00", "INV-1"),
                    line(3, "2026-01-20", "70.00", "X"),
                ],
            },
        );
        let output = ledger
            .run_step::<BankMatch>(ledger.step_input("US", "2026-01", json!({ "account": "1000" })))
            .unwrap();
        // INV-1 matched by reference, so INV-2 is in the ledger only; 70.00 is 18 days from
        // INV-3, beyond the 3-day window: both sides stay unmatched.
        let references: Vec<&str> = output
            .reconciling_items
            .iter()
            .map(|item| item.reference.as_str())
            .collect();
        assert_eq!(references, ["TEST-000002", "TEST-000003", "X"]);
        assert!(
            output.messages[0]
                .text
                .contains("1 of 2 statement lines matched (1 by reference)")
        );
    }

    #[test]
    fn without_a_statement_the_step_says_how_to_import_one() {
        let ledger = ledger();
        let error = ledger
            .run_step::<BankMatch>(ledger.step_input("US", "2026-01", json!({ "account": "1000" })))
            .unwrap_err();
        assert!(
            error
                .message
                .contains("closebook reconcile import-statement --entity US --account 1000"),
            "{}",
            error.message
        );
    }
}
