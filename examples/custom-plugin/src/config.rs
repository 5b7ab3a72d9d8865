//! The management fee step's configuration: which revenue accounts form the fee base, the fee
//! percentage, where the fee is booked, and whether it is split by a dimension. The JSON Schema
//! returned by `describe` and the serde type below describe the same shape; the host validates
//! against the schema, serde parses.

use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::serde_json::{Value, json};
use closebook_plugin_sdk::wire::deserialize_decimal;
use closebook_plugin_sdk::{AccountNumber, StepError};
use serde::Deserialize;

/// The largest fee percentage accepted: a fee above the whole revenue is a typing mistake.
pub const PERCENT_MAX: Decimal = Decimal::ONE_HUNDRED;

/// The step's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Revenue accounts whose period balance is the fee base.
    pub source_accounts: Vec<AccountNumber>,
    /// The fee as a percentage of revenue, e.g. `"2.5"`; a string so it never passes a float.
    #[serde(deserialize_with = "deserialize_decimal")]
    pub percent: Decimal,
    /// The expense account debited with the fee.
    pub expense_account: AccountNumber,
    /// The accrued liability account credited with the fee.
    pub accrual_account: AccountNumber,
    /// When given, the fee is computed per value of this dimension and the expense lines carry
    /// it; otherwise one fee on the total.
    #[serde(default)]
    pub dimension: Option<String>,
    /// Reverse the accrual on the first day of the next period (the default), as accruals
    /// usually are once the invoice arrives.
    #[serde(default = "reverse_default")]
    pub reverse: bool,
}

fn reverse_default() -> bool {
    true
}

impl Config {
    /// Checks what the schema cannot: the percentage's range.
    pub fn validate(&self) -> Result<(), StepError> {
        if self.percent <= Decimal::ZERO || self.percent > PERCENT_MAX {
            return Err(StepError::new(format!(
                "percent {} is out of range: give a percentage above 0 and at most {PERCENT_MAX}",
                self.percent
            )));
        }
        Ok(())
    }
}

/// The JSON Schema (draft 2020-12) of [`Config`].
pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "management-fee configuration",
        "type": "object",
        "additionalProperties": false,
        "required": ["source_accounts", "percent", "expense_account", "accrual_account"],
        "properties": {
            "source_accounts": {
                "description": "Revenue accounts whose period balance is the fee base.",
                "type": "array",
                "items": { "type": "string", "minLength": 1 },
                "minItems": 1
            },
            "percent": {
                "description": "The fee as a percentage of revenue, written as a decimal string.",
                "type": "string",
                "pattern": "^[0-9]+(\\.[0-9]+)?$"
            },
            "expense_account": {
                "description": "The expense account debited with the fee.",
                "type": "string",
                "minLength": 1
            },
            "accrual_account": {
                "description": "The accrued liability account credited with the fee.",
                "type": "string",
                "minLength": 1
            },
            "dimension": {
                "description": "Compute the fee per value of this dimension.",
                "type": "string",
                "minLength": 1
            },
            "reverse": {
                "description": "Reverse the accrual on the first day of the next period.",
                "type": "boolean",
                "default": true
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: Value) -> Result<Config, closebook_plugin_sdk::serde_json::Error> {
        Config::deserialize(value)
    }

    #[test]
    fn reads_a_full_configuration() {
        // Every field parses, the percentage exactly.
        let config = parse(json!({
            "source_accounts": ["4000", "4100"],
            "percent": "2.5",
            "expense_account": "6500",
            "accrual_account": "2150",
            "dimension": "department",
            "reverse": false
        }))
        .unwrap();
        assert_eq!(config.percent, Decimal::new(25, 1));
        assert_eq!(config.source_accounts.len(), 2);
        assert_eq!(config.dimension.as_deref(), Some("department"));
        assert!(!config.reverse);
    }

    #[test]
    fn refuses_a_float_percentage_and_unknown_fields() {
        // A JSON number could have been rounded through a float; a typo'd field is a mistake.
        let base = |percent: Value| {
            json!({
                "source_accounts": ["4000"], "percent": percent,
                "expense_account": "6500", "accrual_account": "2150"
            })
        };
        assert!(parse(base(json!(2.5))).is_err());
        assert!(parse(base(json!("2.5"))).unwrap().reverse);
        let mut typo = base(json!("2.5"));
        typo["dimensoin"] = json!("department");
        assert!(parse(typo).is_err());
    }

    #[test]
    fn refuses_percentages_out_of_range() {
        // Zero and above one hundred are refused; one hundred itself is allowed.
        for (percent, valid) in [("0", false), ("100", true), ("100.01", false), ("0.01", true)] {
            let config = parse(json!({
                "source_accounts": ["4000"], "percent": percent,
                "expense_account": "6500", "accrual_account": "2150"
            }))
            .unwrap();
            assert_eq!(config.validate().is_ok(), valid, "percent {percent}");
        }
    }
}
