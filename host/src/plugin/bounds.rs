//! What a plugin may say about itself and propose, in text: bounds on every field of `describe()`
//! and on every text of a step output, checked as soon as the guest returns them. The host builds
//! run ids and entry keys from the step name and prints every field to people, so an unbounded
//! field could fill the ledger (a 4 MiB name copied into every entry key) or break rendering; a
//! control character in an id could rewrite the reader's terminal. The limits on ledger texts are
//! the ledger's own (`closebook_ledger::journal`), so a proposal meets exactly the bounds an
//! import meets.

use closebook_ledger::journal::{
    ACCOUNT_CHARS_MAX, CODE_CHARS_MAX, DESCRIPTION_CHARS_MAX, DIMENSION_CHARS_MAX, ENTITY_CHARS_MAX, Refusal,
    check_id_text, check_text_length,
};

use super::error::PluginError;
use super::types::{Dimension, Finding, ProposedEntry, ProposedLine, ProposedReconcilingItem, StepInfo, StepOutput};

/// Characters a step name may have. The name starts every run id and entry key the step posts.
pub const STEP_NAME_CHARS_MAX: usize = 64;
/// Characters a step version may have (`1.4.0-beta.2+build.7` is 20).
pub const STEP_VERSION_CHARS_MAX: usize = 64;
/// Characters a step summary may have: a paragraph for `plugin inspect`.
pub const STEP_SUMMARY_CHARS_MAX: usize = 1_000;
/// Bytes of JSON a step's configuration schema may have. The largest standard step's schema is
/// about 4 KB; a schema is compiled and evaluated by the host, so its size is part of its cost.
pub const CONFIG_SCHEMA_BYTES_MAX: usize = 64 * 1024;
/// Characters a message (`step-output.messages`) or a step error may have.
pub const MESSAGE_CHARS_MAX: usize = 4_000;
/// Reconciling items, clearings or findings one step output may hold: a month of a busy bank
/// account's exceptions, with room to spare. Each is checked against the ledger when it posts.
pub const RECONCILIATION_PROPOSALS_MAX: usize = 10_000;
/// Characters a proposed decimal (amount) may have: 28 digits, a sign and a point fit easily.
pub const DECIMAL_CHARS_MAX: usize = 64;

/// Checks every field of `describe()`. The name may hold only ASCII letters, digits, `-`, `_`
/// and `.`: it becomes part of run ids and entry keys, which people type and read.
pub fn check_step_info(plugin: &str, info: &StepInfo) -> Result<(), PluginError> {
    let refused = |field: &'static str, reason: String| PluginError::DescribeRefused {
        plugin: plugin.to_string(),
        field,
        reason,
    };
    let length = |field: &'static str, text: &str, maximum_chars: usize| {
        check_text_length(field, text, maximum_chars).map_err(|refusal| refused(field, refusal.to_string()))
    };
    length("name", &info.name, STEP_NAME_CHARS_MAX)?;
    if info.name.is_empty() {
        return Err(refused("name", "the name is empty".to_string()));
    }
    let allowed = |character: char| character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.');
    if !info.name.chars().all(allowed) {
        return Err(refused(
            "name",
            format!(
                "the name `{}` may hold only ASCII letters, digits, `-`, `_` and `.`",
                closebook_ledger::journal::quoted_for_message(&info.name),
            ),
        ));
    }
    check_id_text("version", &info.version, STEP_VERSION_CHARS_MAX)
        .map_err(|refusal| refused("version", refusal.to_string()))?;
    length("summary", &info.summary, STEP_SUMMARY_CHARS_MAX)?;
    if info.config_schema.len() > CONFIG_SCHEMA_BYTES_MAX {
        return Err(refused(
            "config-schema",
            format!(
                "the config schema is {} bytes long; at most {CONFIG_SCHEMA_BYTES_MAX} are allowed",
                info.config_schema.len()
            ),
        ));
    }
    Ok(())
}

/// Checks every text of a step output against the limits the ledger applies when posting, plus
/// those of the fields the ledger never stores (dates, decimals and messages are quoted in
/// messages and printed).
pub fn check_step_output(plugin: &str, output: &StepOutput) -> Result<(), PluginError> {
    for (index, entry) in output.entries.iter().enumerate() {
        check_entry(entry).map_err(|(place, reason)| PluginError::ProposalRefused {
            plugin: plugin.to_string(),
            place: match place {
                Some(line) => format!("entry {}, line {line}", index + 1),
                None => format!("entry {}", index + 1),
            },
            reason: Box::new(reason),
        })?;
    }
    for (index, settlement) in output.settlements.iter().enumerate() {
        check_id_text("entity", &settlement.entity, ENTITY_CHARS_MAX).map_err(|reason| {
            PluginError::ProposalRefused {
                plugin: plugin.to_string(),
                place: format!("settlement {}", index + 1),
                reason: Box::new(reason),
            }
        })?;
    }
    for (index, message) in output.messages.iter().enumerate() {
        check_text_length("message", &message.text, MESSAGE_CHARS_MAX).map_err(|reason| {
            PluginError::ProposalRefused {
                plugin: plugin.to_string(),
                place: format!("message {}", index + 1),
                reason: Box::new(reason),
            }
        })?;
    }
    let refused = |place: String, reason: Refusal| PluginError::ProposalRefused {
        plugin: plugin.to_string(),
        place,
        reason: Box::new(reason),
    };
    for (what, count) in [
        ("reconciling items", output.reconciling_items.len()),
        ("clearings", output.cleared_items.len()),
        ("findings", output.findings.len()),
    ] {
        if count > RECONCILIATION_PROPOSALS_MAX {
            return Err(PluginError::ProposalRefused {
                plugin: plugin.to_string(),
                place: what.to_string(),
                reason: Box::new(Refusal::Malformed {
                    message: format!(
                        "the output holds {count} {what}; at most {RECONCILIATION_PROPOSALS_MAX} are allowed (RECONCILIATION_PROPOSALS_MAX)"
                    ),
                }),
            });
        }
    }
    for (index, item) in output.reconciling_items.iter().enumerate() {
        check_reconciling_item(item).map_err(|reason| refused(format!("reconciling item {}", index + 1), reason))?;
    }
    for (index, clearing) in output.cleared_items.iter().enumerate() {
        check_id_text("entity", &clearing.entity, ENTITY_CHARS_MAX)
            .and_then(|()| check_id_text("period", &clearing.period, CODE_CHARS_MAX))
            .and_then(|()| check_text_length("clearing note", &clearing.note, DESCRIPTION_CHARS_MAX))
            .map_err(|reason| refused(format!("clearing {}", index + 1), reason))?;
    }
    for (index, finding) in output.findings.iter().enumerate() {
        check_finding(finding).map_err(|reason| refused(format!("finding {}", index + 1), reason))?;
    }
    Ok(())
}

fn check_dimensions(dimensions: &[Dimension]) -> Result<(), Refusal> {
    for dimension in dimensions {
        check_id_text("dimension name", &dimension.name, DIMENSION_CHARS_MAX)?;
        check_id_text("dimension value", &dimension.value, DIMENSION_CHARS_MAX)?;
    }
    Ok(())
}

fn check_reconciling_item(item: &ProposedReconcilingItem) -> Result<(), Refusal> {
    check_id_text("entity", &item.entity, ENTITY_CHARS_MAX)?;
    check_id_text("account", &item.account, ACCOUNT_CHARS_MAX)?;
    check_dimensions(&item.dimensions)?;
    check_id_text("period", &item.period, CODE_CHARS_MAX)?;
    check_id_text("amount", &item.amount, DECIMAL_CHARS_MAX)?;
    check_text_length("explanation", &item.explanation, DESCRIPTION_CHARS_MAX)?;
    check_id_text("expected clearing date", &item.expected_clear, CODE_CHARS_MAX)?;
    check_text_length("reference", &item.reference, DESCRIPTION_CHARS_MAX)
}

fn check_finding(finding: &Finding) -> Result<(), Refusal> {
    check_id_text("entity", &finding.entity, ENTITY_CHARS_MAX)?;
    check_id_text("account", &finding.account, ACCOUNT_CHARS_MAX)?;
    check_dimensions(&finding.dimensions)?;
    check_text_length("measure", &finding.measure, DESCRIPTION_CHARS_MAX)?;
    check_id_text("current", &finding.current, DECIMAL_CHARS_MAX)?;
    check_id_text("baseline", &finding.baseline, DECIMAL_CHARS_MAX)?;
    check_text_length("threshold", &finding.threshold, DESCRIPTION_CHARS_MAX)?;
    check_text_length("finding message", &finding.message, MESSAGE_CHARS_MAX)
}

/// The first text of an entry beyond its bounds, with the line it is on (counted from 1).
fn check_entry(entry: &ProposedEntry) -> Result<(), (Option<usize>, Refusal)> {
    let whole = |result: Result<(), Refusal>| result.map_err(|reason| (None, reason));
    whole(check_id_text("entity", &entry.entity, ENTITY_CHARS_MAX))?;
    if let Some(period) = &entry.period {
        whole(check_id_text("period", period, CODE_CHARS_MAX))?;
    }
    whole(check_id_text("date", &entry.date, CODE_CHARS_MAX))?;
    if let Some(date) = &entry.reversal_date {
        whole(check_id_text("reversal date", date, CODE_CHARS_MAX))?;
    }
    whole(check_text_length(
        "entry description",
        &entry.description,
        DESCRIPTION_CHARS_MAX,
    ))?;
    for (index, line) in entry.lines.iter().enumerate() {
        check_line(line).map_err(|reason| (Some(index + 1), reason))?;
    }
    Ok(())
}

fn check_line(line: &ProposedLine) -> Result<(), Refusal> {
    check_id_text("account", &line.account, ACCOUNT_CHARS_MAX)?;
    check_dimensions(&line.dimensions)?;
    if let Some(currency) = &line.currency {
        check_id_text("currency", currency, CODE_CHARS_MAX)?;
    }
    check_id_text("amount", &line.amount, DECIMAL_CHARS_MAX)?;
    if let Some(amount) = &line.accounting_amount {
        check_id_text("accounting amount", amount, DECIMAL_CHARS_MAX)?;
    }
    if let Some(description) = &line.description {
        check_text_length("line description", description, DESCRIPTION_CHARS_MAX)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> StepInfo {
        StepInfo {
            name: name.to_string(),
            version: "0.1.0".to_string(),
            summary: "A step.".to_string(),
            config_schema: r#"{"type":"object"}"#.to_string(),
        }
    }

    // Proves a step name beyond its bound is refused by length, without quoting it.
    #[test]
    fn long_step_name_is_refused_by_length() {
        let error = check_step_info("big", &info(&"x".repeat(4 * 1024 * 1024))).unwrap_err();
        assert_eq!(
            error.to_string(),
            "plugin big: describe() returned a name that is refused: the name is 4194304 characters long; at most 64 are allowed"
        );
    }

    // Proves a step name with a control character is refused, the character shown escaped.
    #[test]
    fn step_name_with_an_escape_is_refused_escaped() {
        let error = check_step_info("evil", &info("fee\u{1b}[2J")).unwrap_err();
        let message = error.to_string();
        assert!(!message.contains('\u{1b}'), "{message}");
        assert!(message.contains("fee\\u{1b}[2J"), "{message}");
    }

    // Proves an output with more reconciling items than RECONCILIATION_PROPOSALS_MAX is refused
    // before the host looks at any of them.
    #[test]
    fn too_many_reconciling_items_are_refused() {
        let item = super::super::types::ProposedReconcilingItem {
            entity: "ACME-US".to_string(),
            account: "1000".to_string(),
            dimensions: Vec::new(),
            period: "2026-01".to_string(),
            amount: "1.00".to_string(),
            explanation: "x".to_string(),
            expected_clear: "2026-02-01".to_string(),
            reference: String::new(),
        };
        let mut output = output(Vec::new(), Vec::new());
        output.reconciling_items = vec![item; RECONCILIATION_PROPOSALS_MAX + 1];
        let message = check_step_output("many", &output).unwrap_err().to_string();
        assert!(
            message.contains(
                "the output holds 10001 reconciling items; at most 10000 are allowed (RECONCILIATION_PROPOSALS_MAX)"
            ),
            "{message}"
        );
        output.reconciling_items.truncate(RECONCILIATION_PROPOSALS_MAX);
        check_step_output("many", &output).unwrap();
    }

    // Proves ordinary names pass.
    #[test]
    fn ordinary_step_names_pass() {
        for name in ["management-fee", "fx_revaluation", "year.end2"] {
            check_step_info("ok", &info(name)).unwrap();
        }
    }

    fn output(entries: Vec<ProposedEntry>, messages: Vec<&str>) -> StepOutput {
        StepOutput {
            entries,
            settlements: Vec::new(),
            messages: messages
                .into_iter()
                .map(|text| super::super::types::Message {
                    level: super::super::types::Level::Info,
                    text: text.to_string(),
                })
                .collect(),
            ..StepOutput::default()
        }
    }

    fn entry(line: ProposedLine) -> ProposedEntry {
        ProposedEntry {
            entity: "ACME-US".to_string(),
            period: None,
            date: "2026-03-31".to_string(),
            description: String::new(),
            lines: vec![line],
            reversal_date: None,
        }
    }

    fn line() -> ProposedLine {
        ProposedLine {
            account: "1000".to_string(),
            dimensions: Vec::new(),
            currency: None,
            amount: "1.00".to_string(),
            accounting_amount: None,
            description: None,
        }
    }

    // Proves each text of a step output is bounded, the refusal naming where and which field.
    #[test]
    fn step_output_texts_are_bounded() {
        let long_message = "m".repeat(MESSAGE_CHARS_MAX + 1);
        let error = check_step_output("p", &output(Vec::new(), vec!["fine", &long_message])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "plugin p proposed message 2, which is refused: the message is 4001 characters long; at most 4000 are allowed; nothing was posted"
        );
        let mut amount = line();
        amount.amount = "9".repeat(DECIMAL_CHARS_MAX + 1);
        let error = check_step_output("p", &output(vec![entry(amount)], Vec::new())).unwrap_err();
        assert!(
            error.to_string().contains(
                "entry 1, line 1, which is refused: the amount is 65 characters long; at most 64 are allowed"
            ),
            "{error}"
        );
        let mut dimension = line();
        dimension.dimensions.push(super::super::types::Dimension {
            name: "d".repeat(DIMENSION_CHARS_MAX + 1),
            value: "100".to_string(),
        });
        let error = check_step_output("p", &output(vec![entry(dimension)], Vec::new())).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("the dimension name is 65 characters long; at most 64 are allowed"),
            "{error}"
        );
        let mut currency = line();
        currency.currency = Some("USD\u{1b}".to_string());
        let error = check_step_output("p", &output(vec![entry(currency)], Vec::new())).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("the currency `USD\\u{1b}` contains a control character"),
            "{error}"
        );
        check_step_output("p", &output(vec![entry(line())], vec!["fine"])).unwrap();
    }

    // Proves the other fields of describe() are bounded too.
    #[test]
    fn describe_fields_beyond_their_bounds_are_refused() {
        let mut summary = info("ok");
        summary.summary = "s".repeat(STEP_SUMMARY_CHARS_MAX + 1);
        assert!(
            check_step_info("p", &summary)
                .unwrap_err()
                .to_string()
                .ends_with("a summary that is refused: the summary is 1001 characters long; at most 1000 are allowed")
        );
        let mut version = info("ok");
        version.version = "1.0\n".to_string();
        assert!(
            check_step_info("p", &version)
                .unwrap_err()
                .to_string()
                .contains("the version `1.0\\u{a}` contains a control character")
        );
        let mut schema = info("ok");
        schema.config_schema = " ".repeat(CONFIG_SCHEMA_BYTES_MAX + 1);
        assert_eq!(
            check_step_info("p", &schema).unwrap_err().to_string(),
            "plugin p: describe() returned a config-schema that is refused: the config schema is 65537 bytes long; at most 65536 are allowed"
        );
    }
}
