//! Test guest `propose`: returns the entries and settlements written in its configuration,
//! untouched, so host tests can send any proposal (unbalanced, malformed decimals, forbidden
//! entities…) through the real boundary and check that the host refuses it.
//!
//! Configuration: `{"entries": [{"entity", "date", "period"?, "description", "reversal_date"?,
//! "lines": [{"account", "amount", "currency"?, "accounting_amount"?, "dimensions"?: {..}}]}],
//! "settlements": [{"entity", "line_ids": [..]}]}`.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

use closebook::plugin::types::{Dimension, ProposedEntry, ProposedLine, ProposedSettlement};
use serde_json::Value;

struct Propose;

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl Guest for Propose {
    fn describe() -> StepInfo {
        StepInfo {
            name: "propose".to_string(),
            version: "0.1.0".to_string(),
            summary: "Proposes what its configuration says.".to_string(),
            config_schema: r#"{"type":"object"}"#.to_string(),
        }
    }

    fn run(input: StepInput) -> Result<StepOutput, StepError> {
        let config: Value = serde_json::from_str(&input.config).map_err(|error| StepError {
            message: error.to_string(),
        })?;
        let mut entries = Vec::new();
        for entry in config.get("entries").and_then(Value::as_array).into_iter().flatten() {
            let mut lines = Vec::new();
            for line in entry.get("lines").and_then(Value::as_array).into_iter().flatten() {
                let dimensions = line
                    .get("dimensions")
                    .and_then(Value::as_object)
                    .map(|map| {
                        map.iter()
                            .map(|(name, value)| Dimension {
                                name: name.clone(),
                                value: value.as_str().unwrap_or_default().to_owned(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                lines.push(ProposedLine {
                    account: text(line, "account").unwrap_or_default(),
                    dimensions,
                    currency: text(line, "currency"),
                    amount: text(line, "amount").unwrap_or_default(),
                    accounting_amount: text(line, "accounting_amount"),
                    description: text(line, "description"),
                });
            }
            entries.push(ProposedEntry {
                entity: text(entry, "entity").unwrap_or_else(|| input.entity.clone()),
                period: text(entry, "period"),
                date: text(entry, "date").unwrap_or_else(|| input.as_of.clone()),
                description: text(entry, "description").unwrap_or_default(),
                lines,
                reversal_date: text(entry, "reversal_date"),
            });
        }
        let settlements = config
            .get("settlements")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|settlement| ProposedSettlement {
                entity: text(settlement, "entity").unwrap_or_else(|| input.entity.clone()),
                line_ids: settlement
                    .get("line_ids")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_u64)
                    .collect(),
            })
            .collect();
        Ok(StepOutput {
            entries,
            settlements,
            messages: Vec::new(),
        })
    }
}

export!(Propose);
