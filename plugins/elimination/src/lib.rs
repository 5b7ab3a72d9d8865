//! The standard intercompany elimination step (DOMAIN.md §8). It reads the consolidated
//! balances of a consolidation entity (e.g. ACME-GROUP, as the consolidation step left them:
//! translated, at each member's ownership share, each line tagged with its member) from the
//! fiscal year's opening period through the run period, and proposes one entry in the
//! elimination entity (e.g. ACME-ELIM) that removes the intercompany balances the rules name.
//! The consolidated figures are the consolidation entity plus the elimination entity.
//!
//! A rule matches in one of two ways:
//! - **by trading partner**: member A's balances on the rule's accounts with partner B are
//!   matched against B's balances with partner A; each pair of members is one match;
//! - **by account pairs** (`counter_accounts`): the balances of the rule's accounts are matched
//!   against those of the counter accounts, whoever holds them.
//!
//! Both sides are reversed line by line in their own buckets. When the two sides do not net to
//! zero (a rate difference, a booking on one side only, an ownership share below 100 %) the
//! difference goes to the rule's difference account, so the entry balances, and a warning says
//! which members and amounts differ. A partner that is not a member of the consolidation is not
//! eliminated and is reported too.
//!
//! Like the consolidation step, it proposes only the difference to what the elimination entity
//! already holds over the same range, so a rerun replaces the earlier eliminations. Run the
//! task with review: the proposal waits for a reviewer before it posts.

mod config;

use std::collections::{BTreeMap, BTreeSet};

use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::{
    AccountFilter, AccountNumber, BalanceQuery, BalanceRow, CloseStep, Dimension, EntityId, JournalBuilder, Ledger,
    Level, PeriodInfo, ProposedLine, StepError, StepInfo, StepInput, StepOutput,
};

pub use config::{Config, RULES_MAX, Rule, schema};

/// The intercompany elimination step.
pub struct Elimination;

/// An eliminated balance: account and dimensions, ordered by name.
type BucketKey = (AccountNumber, Vec<Dimension>);

impl CloseStep for Elimination {
    fn describe() -> StepInfo {
        StepInfo::new(
            "elimination",
            env!("CARGO_PKG_VERSION"),
            "Eliminates intercompany balances of a consolidation into an elimination entity, matched by trading \
             partner or by account pairs, and reports the differences.",
        )
        .config_schema(schema())
    }

    fn run(input: StepInput, ledger: &dyn Ledger) -> Result<StepOutput, StepError> {
        let config: Config = input.parse_config()?;
        let dimensions = ledger.dimensions();
        config.validate(&dimensions)?;
        let source = config
            .consolidation_entity
            .clone()
            .unwrap_or_else(|| input.entity.clone());
        let target = config.elimination_entity.clone();
        check_access(&input, &source, &target)?;
        let source_info = ledger.entity(&source)?;
        let target_info = ledger.entity(&target)?;
        if source_info.currency != target_info.currency {
            return Err(StepError::new(format!(
                "elimination entity {target} keeps its books in {} but consolidation entity {source} in {}: give the \
                 elimination entity the consolidation currency",
                target_info.currency, source_info.currency
            )));
        }
        let chart: BTreeSet<AccountNumber> = ledger
            .accounts(&target)?
            .into_iter()
            .filter(|account| !account.blocked)
            .map(|account| account.number)
            .collect();
        let periods = year_to_date(ledger, &input)?;
        let (Some(first), Some(last)) = (periods.first(), periods.last()) else {
            return Err(StepError::new(format!(
                "fiscal year {} has no periods up to {}",
                input.period.fiscal_year, input.period.name
            )));
        };
        let range = Range {
            source: &source,
            first: first.name.as_str(),
            last: last.name.as_str(),
        };

        let mut output = StepOutput::new();
        let mut eliminations: BTreeMap<BucketKey, Decimal> = BTreeMap::new();
        for rule in &config.rules {
            for account in rule
                .accounts
                .iter()
                .chain(&rule.counter_accounts)
                .chain([&rule.difference_account])
            {
                if !chart.contains(account) {
                    return Err(StepError::new(format!(
                        "rule {:?}: account {account} does not exist or is blocked in elimination entity {target}: add \
                         it to its chart",
                        rule.name
                    )));
                }
            }
            let matches = if rule.by_partner() {
                let (member, partner) = config.partner_dimensions(&dimensions)?;
                match_by_partner(ledger, &range, rule, member, partner, &mut output)?
            } else {
                match_by_accounts(ledger, &range, rule)?
            };
            for matched in matches {
                report(ledger, rule, &matched, &mut output);
                for (key, amount) in matched.lines() {
                    *eliminations.entry(key).or_default() -= amount;
                }
                if !matched.difference().is_zero() {
                    *eliminations
                        .entry((rule.difference_account.clone(), Vec::new()))
                        .or_default() += matched.difference();
                }
            }
        }

        // What the elimination entity already holds over the same range: only the difference
        // is proposed, so a rerun replaces the earlier eliminations.
        let held = BalanceQuery::new(target.clone(), range.first, range.last).group_by("*");
        for row in ledger.balances(&held)? {
            *eliminations.entry((row.account, row.dimensions)).or_default() -= row.accounting_amount;
        }
        eliminations.retain(|_, amount| !amount.is_zero());
        if eliminations.is_empty() {
            let text = format!(
                "{target} already holds the eliminations of {} to {}: nothing to post",
                range.first, range.last
            );
            ledger.info(&text);
            output.push_message(Level::Info, text);
            return Ok(output);
        }
        let mut builder = JournalBuilder::new(
            target.clone(),
            input.period.end,
            format!(
                "Intercompany eliminations of {source}, {} to {}",
                range.first, range.last
            ),
        )
        .period(input.period.name.clone());
        for ((account, dimensions), amount) in eliminations {
            builder.push_line(ProposedLine::new(account, amount).dimensions(dimensions));
        }
        output.push_entry(builder.build()?);
        Ok(output)
    }
}

closebook_plugin_sdk::export_step!(Elimination);

/// The consolidation entity and the period range read.
struct Range<'a> {
    source: &'a EntityId,
    first: &'a str,
    last: &'a str,
}

/// One match: two sides that should net to zero.
struct Match {
    /// What is matched, for messages: `ACME-US ↔ ACME-DE` or `1300 ↔ 2400`.
    left_name: String,
    right_name: String,
    left: Vec<BalanceRow>,
    right: Vec<BalanceRow>,
}

impl Match {
    fn total(rows: &[BalanceRow]) -> Decimal {
        rows.iter().map(|row| row.accounting_amount).sum()
    }

    /// What is left when both sides are eliminated: zero when they match.
    fn difference(&self) -> Decimal {
        Self::total(&self.left) + Self::total(&self.right)
    }

    /// Every eliminated balance, per bucket.
    fn lines(&self) -> Vec<(BucketKey, Decimal)> {
        self.left
            .iter()
            .chain(&self.right)
            .map(|row| ((row.account.clone(), row.dimensions.clone()), row.accounting_amount))
            .collect()
    }
}

fn report(ledger: &dyn Ledger, rule: &Rule, matched: &Match, output: &mut StepOutput) {
    let left = Match::total(&matched.left);
    let right = Match::total(&matched.right);
    let difference = matched.difference();
    let (level, text) = if difference.is_zero() {
        (
            Level::Info,
            format!(
                "rule {:?}: {} {left} against {} {right} match and are eliminated",
                rule.name, matched.left_name, matched.right_name
            ),
        )
    } else {
        (
            Level::Warning,
            format!(
                "rule {:?}: {} holds {left} but {} holds {right}: they differ by {difference}, which goes to {} for \
                 review",
                rule.name, matched.left_name, matched.right_name, rule.difference_account
            ),
        )
    };
    ledger.log(level, &text);
    output.push_message(level, text);
}

/// Matches each member's balances with a partner against the partner's with that member.
fn match_by_partner(
    ledger: &dyn Ledger,
    range: &Range<'_>,
    rule: &Rule,
    member_dimension: &str,
    partner_dimension: &str,
    output: &mut StepOutput,
) -> Result<Vec<Match>, StepError> {
    let members = members(ledger, range, member_dimension)?;
    let query = BalanceQuery::new(range.source.clone(), range.first, range.last)
        .accounts(AccountFilter::List(rule.accounts.clone()))
        .group_by("*");
    let mut pairs: BTreeMap<(String, String), Match> = BTreeMap::new();
    for row in ledger.balances(&query)? {
        if row.accounting_amount.is_zero() {
            continue;
        }
        let Some(partner) = value_of(&row, partner_dimension) else {
            continue;
        };
        let Some(member) = value_of(&row, member_dimension) else {
            warn(
                ledger,
                output,
                format!(
                    "rule {:?}: account {} holds {} with {partner_dimension} {partner} but no {member_dimension}: \
                     not eliminated; consolidate with member_dimension {member_dimension:?}",
                    rule.name, row.account, row.accounting_amount
                ),
            );
            continue;
        };
        if !members.contains(&partner) || partner == member {
            warn(
                ledger,
                output,
                format!(
                    "rule {:?}: {member} holds {} on account {} with {partner_dimension} {partner}, which is not \
                     another member of the consolidation: not eliminated",
                    rule.name, row.accounting_amount, row.account
                ),
            );
            continue;
        }
        let (left, right) = if member < partner {
            (member.clone(), partner.clone())
        } else {
            (partner.clone(), member.clone())
        };
        let matched = pairs.entry((left.clone(), right.clone())).or_insert_with(|| Match {
            left_name: left.clone(),
            right_name: right,
            left: Vec::new(),
            right: Vec::new(),
        });
        if member == left {
            matched.left.push(row);
        } else {
            matched.right.push(row);
        }
    }
    Ok(pairs.into_values().collect())
}

/// Matches the rule's accounts against its counter accounts as a whole.
fn match_by_accounts(ledger: &dyn Ledger, range: &Range<'_>, rule: &Rule) -> Result<Vec<Match>, StepError> {
    let side = |accounts: &[AccountNumber]| -> Result<Vec<BalanceRow>, StepError> {
        let query = BalanceQuery::new(range.source.clone(), range.first, range.last)
            .accounts(AccountFilter::List(accounts.to_vec()))
            .group_by("*");
        Ok(ledger
            .balances(&query)?
            .into_iter()
            .filter(|row| !row.accounting_amount.is_zero())
            .collect())
    };
    let names = |accounts: &[AccountNumber]| {
        accounts
            .iter()
            .map(AccountNumber::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let matched = Match {
        left_name: format!("accounts {}", names(&rule.accounts)),
        right_name: format!("accounts {}", names(&rule.counter_accounts)),
        left: side(&rule.accounts)?,
        right: side(&rule.counter_accounts)?,
    };
    if matched.left.is_empty() && matched.right.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![matched])
}

/// The members of the consolidation: every value of the member dimension the source holds.
fn members(ledger: &dyn Ledger, range: &Range<'_>, member_dimension: &str) -> Result<BTreeSet<String>, StepError> {
    let query = BalanceQuery::new(range.source.clone(), range.first, range.last).group_by(member_dimension);
    Ok(ledger
        .balances(&query)?
        .iter()
        .filter_map(|row| value_of(row, member_dimension))
        .collect())
}

fn value_of(row: &BalanceRow, dimension: &str) -> Option<String> {
    row.dimensions
        .iter()
        .find(|value| value.name == dimension)
        .map(|value| value.value.clone())
}

fn warn(ledger: &dyn Ledger, output: &mut StepOutput, text: String) {
    ledger.warning(&text);
    output.push_message(Level::Warning, text);
}

/// Refuses a task that may not read the consolidation entity or post into the elimination entity.
fn check_access(input: &StepInput, source: &EntityId, target: &EntityId) -> Result<(), StepError> {
    if !input.entities.iter().any(|access| &access.entity == source) {
        return Err(StepError::new(format!(
            "the task may not read consolidation entity {source}: add it to the task's allow list"
        )));
    }
    if !input.may_post(target) {
        return Err(StepError::new(format!(
            "the task may not post into elimination entity {target}: add \"{target}:post\" to the task's allow list \
             (or --allow {target}:post with plugin run)"
        )));
    }
    Ok(())
}

/// The periods of the run's fiscal year from its first (opening) period through the run period.
fn year_to_date(ledger: &dyn Ledger, input: &StepInput) -> Result<Vec<PeriodInfo>, StepError> {
    let periods = ledger.periods(&input.entity, Some(&input.period.fiscal_year))?;
    let Some(position) = periods.iter().position(|period| period.name == input.period.name) else {
        return Err(StepError::new(format!(
            "period {} is not in fiscal year {} of entity {}",
            input.period.name, input.period.fiscal_year, input.entity
        )));
    };
    Ok(periods.into_iter().take(position + 1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use closebook_plugin_sdk::serde_json::{Value, json};
    use closebook_plugin_sdk::testing::{TestLedger, date, decimal};
    use closebook_plugin_sdk::{AccountInfo, AccountType, EntityAccess, EntityInfo};

    /// A consolidated group G (as the consolidation step leaves it: lines tagged with the member
    /// in `company`) and an empty elimination entity X. P lent S 1,000 (P's receivable 1300,
    /// S's payable 2400) and charged it a fee of 300 (P's income 4100) that S booked at 280
    /// (S's expense 6900).
    fn ledger() -> TestLedger {
        let mut ledger = TestLedger::new();
        ledger.add_currency("USD", 2);
        ledger.add_dimension("company", ["P", "S", "T"]);
        ledger.add_dimension("partner", ["P", "S", "T"]);
        for id in ["G", "X"] {
            ledger.add_entity(EntityInfo::new(id, id, "USD", "3900", "spot"));
            for (number, account_type) in [
                ("1000", AccountType::Asset),
                ("1300", AccountType::Asset),
                ("2400", AccountType::Liability),
                ("3800", AccountType::Equity),
                ("3900", AccountType::Equity),
                ("4100", AccountType::Revenue),
                ("6900", AccountType::Expense),
                ("7900", AccountType::Expense),
            ] {
                ledger.add_account(id, AccountInfo::new(number, number, account_type));
            }
            ledger.add_fiscal_year(id, 2026);
        }
        post(
            &mut ledger,
            "2026-01-31",
            &[
                ("1300", "1000", &[("company", "P"), ("partner", "S")]),
                ("1000", "-1000", &[("company", "P")]),
                ("1000", "1000", &[("company", "S")]),
                ("2400", "-1000", &[("company", "S"), ("partner", "P")]),
                ("1000", "300", &[("company", "P")]),
                ("4100", "-300", &[("company", "P"), ("partner", "S")]),
                ("6900", "280", &[("company", "S"), ("partner", "P")]),
                ("1000", "-280", &[("company", "S")]),
            ],
        );
        ledger
    }

    /// A fixture line: account, amount, dimension values.
    type Line<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

    fn post(ledger: &mut TestLedger, day: &str, lines: &[Line<'_>]) {
        let mut builder = JournalBuilder::new("G", date(day), "consolidated");
        for (account, amount, dimensions) in lines {
            builder.push_line(
                ProposedLine::new(*account, decimal(amount))
                    .dimensions(dimensions.iter().map(|(name, value)| Dimension::new(*name, *value))),
            );
        }
        ledger.post(builder.build().unwrap());
    }

    fn config() -> Value {
        json!({
            "elimination_entity": "X",
            "member_dimension": "company",
            "partner_dimension": "partner",
            "rules": [
                { "name": "balances", "accounts": ["1300", "2400"], "difference_account": "3800" },
                { "name": "fees", "accounts": ["4100", "6900"], "difference_account": "7900" }
            ]
        })
    }

    fn input(ledger: &TestLedger, config: Value) -> StepInput {
        let mut input = ledger.step_input("G", "2026-01", config);
        input.entities = vec![
            EntityAccess {
                entity: "G".into(),
                post: false,
            },
            EntityAccess {
                entity: "X".into(),
                post: true,
            },
        ];
        input
    }

    /// Per account, G + X over January: the consolidated balances after elimination.
    fn consolidated(ledger: &TestLedger) -> BTreeMap<String, Decimal> {
        let mut rows: BTreeMap<String, Decimal> = BTreeMap::new();
        for entity in ["G", "X"] {
            for row in ledger
                .balances(&BalanceQuery::new(entity, "FY2026-opening", "2026-01"))
                .unwrap()
            {
                *rows.entry(row.account.to_string()).or_default() += row.accounting_amount;
            }
        }
        rows
    }

    #[test]
    fn eliminates_intercompany_balances_to_zero_and_reports_the_fee_mismatch() {
        // The loan nets to zero in G + X; the fee differs by 20 (300 income, 280 expense): both
        // sides are eliminated, the -20 goes to 7900, and a warning names both members' amounts.
        let mut ledger = ledger();
        let output = ledger.run_step::<Elimination>(input(&ledger, config())).unwrap();
        assert_eq!(output.entries.len(), 1);
        assert_eq!(output.entries[0].entity, "X");
        let warnings: Vec<&str> = output
            .messages
            .iter()
            .filter(|message| message.level == Level::Warning)
            .map(|message| message.text.as_str())
            .collect();
        assert_eq!(
            warnings,
            ["rule \"fees\": P holds -300 but S holds 280: they differ by -20, which goes to 7900 for review"]
        );
        ledger.post_output(&output);
        let totals = consolidated(&ledger);
        assert_eq!(totals["1300"], Decimal::ZERO);
        assert_eq!(totals["2400"], Decimal::ZERO);
        assert_eq!(totals["4100"], Decimal::ZERO);
        assert_eq!(totals["6900"], Decimal::ZERO);
        assert_eq!(totals["7900"], decimal("-20"));
        let elimination_total: Decimal = ledger.posted_lines("X").iter().map(|line| line.accounting_amount).sum();
        assert_eq!(elimination_total, Decimal::ZERO);
    }

    #[test]
    fn a_rerun_proposes_nothing_new() {
        // Once posted, the same eliminations are not proposed again.
        let mut ledger = ledger();
        let first = ledger.run_step::<Elimination>(input(&ledger, config())).unwrap();
        ledger.post_output(&first);
        let second = ledger.run_step::<Elimination>(input(&ledger, config())).unwrap();
        assert!(second.entries.is_empty());
        assert!(
            second
                .messages
                .iter()
                .any(|message| message.text.contains("nothing to post"))
        );
    }

    #[test]
    fn account_pairs_match_whoever_holds_them() {
        // Matched by account pairs, 1300 against 2400 nets to zero with no difference line.
        let ledger = ledger();
        let config = json!({
            "elimination_entity": "X",
            "rules": [{ "name": "loans", "accounts": ["1300"], "counter_accounts": ["2400"], "difference_account": "3800" }]
        });
        let output = ledger.run_step::<Elimination>(input(&ledger, config)).unwrap();
        let lines: Vec<(&str, Decimal)> = output.entries[0]
            .lines
            .iter()
            .map(|line| (line.account.as_str(), line.amount))
            .collect();
        assert_eq!(lines, [("1300", decimal("-1000")), ("2400", decimal("1000"))]);
        assert!(output.messages.iter().all(|message| message.level == Level::Info));
    }

    #[test]
    fn a_partner_outside_the_consolidation_is_reported_not_eliminated() {
        // P's receivable from T (not a member of G) stays in place and is reported.
        let mut ledger = ledger();
        post(
            &mut ledger,
            "2026-01-31",
            &[
                ("1300", "50", &[("company", "P"), ("partner", "T")]),
                ("1000", "-50", &[("company", "P")]),
            ],
        );
        let output = ledger.run_step::<Elimination>(input(&ledger, config())).unwrap();
        assert!(output.messages.iter().any(|message| message.level == Level::Warning
            && message.text.contains("partner T, which is not another member")));
        ledger.post_output(&output);
        assert_eq!(consolidated(&ledger)["1300"], decimal("50"));
    }

    #[test]
    fn refuses_without_posting_access_to_the_elimination_entity() {
        // The default harness input may post only into G: the step refuses and proposes nothing.
        let ledger = ledger();
        let error = ledger
            .run_step::<Elimination>(ledger.step_input("G", "2026-01", config()))
            .unwrap_err();
        assert!(
            error.message.contains("may not post into elimination entity X"),
            "{error}"
        );
    }
}
