//! Test guest `statement-items`, built for `closebook:plugin@0.2.0`: reads the bank statement
//! imported for an account and period (`ledger.statement`) and the account's posted lines of the
//! period (`ledger.lines`), matches them one to one by amount, and proposes a reconciling item
//! for each line on one side only: a statement line missing from the ledger adjusts the
//! statement by its negation, a ledger line missing from the statement (an outstanding cheque)
//! by its amount. Each statement line left over is also a finding. Configuration:
//! `{"account": "1000"}`.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.2", world: "close-step" });

use closebook::plugin::ledger;
use closebook::plugin::types::{Finding, Level, LineQuery, Message, ProposedReconcilingItem, StatementQuery};
use serde_json::Value;

struct StatementItems;

/// A decimal's text without a `+`, trailing fraction zeros or a negative zero, so equal amounts
/// compare equal as text.
fn normalized(amount: &str) -> String {
    let amount = amount.trim_start_matches('+');
    let (sign, digits) = match amount.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", amount),
    };
    let digits = match digits.split_once('.') {
        Some((whole, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                whole.to_owned()
            } else {
                format!("{whole}.{fraction}")
            }
        }
        None => digits.to_owned(),
    };
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() || digits.starts_with('.') {
        format!("0{digits}")
    } else {
        digits.to_owned()
    };
    if digits == "0" {
        digits
    } else {
        format!("{sign}{digits}")
    }
}

fn negated(amount: &str) -> String {
    match amount.strip_prefix('-') {
        Some(rest) => rest.to_owned(),
        None => format!("-{amount}"),
    }
}

fn failed(message: impl Into<String>) -> StepError {
    StepError {
        message: message.into(),
    }
}

impl Guest for StatementItems {
    fn describe() -> StepInfo {
        StepInfo {
            name: "statement-items".to_string(),
            version: "0.2.0".to_string(),
            summary: "Proposes reconciling items for statement and ledger lines that do not match.".to_string(),
            config_schema: r#"{"type":"object","required":["account"],"properties":{"account":{"type":"string"}}}"#
                .to_string(),
        }
    }

    fn run(input: StepInput) -> Result<StepOutput, StepError> {
        let config: Value = serde_json::from_str(&input.config).map_err(|error| failed(error.to_string()))?;
        let account = config["account"].as_str().unwrap_or_default().to_owned();
        let period = input.period.name.clone();
        let statement = ledger::statement(&StatementQuery {
            entity: input.entity.clone(),
            account: account.clone(),
            period: period.clone(),
            dimensions: Vec::new(),
        })
        .map_err(|error| failed(error.message))?
        .ok_or_else(|| failed(format!("no statement is imported for account {account} in {period}")))?;
        let mut ledger_lines = Vec::new();
        let mut after = None;
        loop {
            let page = ledger::lines(&LineQuery {
                entity: input.entity.clone(),
                account: account.clone(),
                from_period: period.clone(),
                to_period: period.clone(),
                after,
                limit: 1000,
                include_settled: true,
            })
            .map_err(|error| failed(error.message))?;
            ledger_lines.extend(page.lines);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let mut matched = vec![false; ledger_lines.len()];
        let mut items = Vec::new();
        let mut findings = Vec::new();
        let item = |amount: String, explanation: String, reference: String| ProposedReconcilingItem {
            entity: input.entity.clone(),
            account: account.clone(),
            dimensions: Vec::new(),
            period: period.clone(),
            amount,
            explanation,
            expected_clear: input.period.end.clone(),
            reference,
        };
        for line in &statement.lines {
            let found = ledger_lines
                .iter()
                .enumerate()
                .position(|(index, posted)| !matched[index] && normalized(&posted.amount) == normalized(&line.amount));
            match found {
                Some(index) => matched[index] = true,
                None => {
                    items.push(item(
                        negated(&line.amount),
                        format!("on the statement, not in the ledger: {}", line.description),
                        line.reference.clone(),
                    ));
                    findings.push(Finding {
                        entity: input.entity.clone(),
                        account: account.clone(),
                        dimensions: Vec::new(),
                        measure: "statement line without a ledger line".to_string(),
                        current: line.amount.clone(),
                        baseline: "0".to_string(),
                        threshold: "any amount".to_string(),
                        explanation_required: true,
                        message: format!(
                            "statement line {} ({}) has no ledger line",
                            line.line_no, line.reference
                        ),
                    });
                }
            }
        }
        for (index, posted) in ledger_lines.iter().enumerate() {
            if !matched[index] {
                items.push(item(
                    posted.amount.clone(),
                    format!(
                        "in the ledger, not on the statement: {} {}",
                        posted.entry_key, posted.description
                    ),
                    posted.entry_key.clone(),
                ));
            }
        }
        Ok(StepOutput {
            entries: Vec::new(),
            settlements: Vec::new(),
            messages: vec![Message {
                level: Level::Info,
                text: format!(
                    "read statement {} ({} lines, closing {}) and {} ledger lines; {} reconciling items",
                    statement.source,
                    statement.lines.len(),
                    statement.closing,
                    ledger_lines.len(),
                    items.len()
                ),
            }],
            reconciling_items: items,
            cleared_items: Vec::new(),
            findings,
        })
    }
}

export!(StatementItems);
