//! The revaluation step's configuration: where unrealized gains and losses go (per entity,
//! optionally per currency), which accounts are revalued, which rate type and rate date apply,
//! the profit-and-loss range, whether the gain or loss lines keep the bucket's dimensions, and
//! whether settled lines are left out. The JSON Schema returned by `describe` and the serde
//! types below describe the same shape; the host validates against the schema, serde parses,
//! and [`Config::validate`] checks what a schema cannot say clearly.

use std::collections::BTreeMap;

use closebook_plugin_sdk::chrono::NaiveDate;
use closebook_plugin_sdk::serde_json::{Value, json};
use closebook_plugin_sdk::wire::parse_date;
use closebook_plugin_sdk::{AccountNumber, CurrencyCode, PeriodName, StepError};
use serde::Deserialize;

/// The step's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The unrealized exchange gain account (credited when a revalued account is debited).
    pub gain_account: AccountNumber,
    /// The unrealized exchange loss account (debited when a revalued account is credited).
    pub loss_account: AccountNumber,
    /// Gain and loss accounts for particular transaction currencies, overriding the two above.
    #[serde(default)]
    pub per_currency: BTreeMap<CurrencyCode, GainLossAccounts>,
    /// Revalue exactly these accounts (each must be flagged `revalue`) instead of every flagged
    /// account.
    #[serde(default)]
    pub accounts: Option<Vec<AccountNumber>>,
    /// Revalue the flagged accounts whose numbers fall in this range (compared as text).
    #[serde(default)]
    pub range: Option<AccountRange>,
    /// The rate type for accounts that name none; the entity's default rate type when absent.
    #[serde(default)]
    pub rate_type: Option<String>,
    /// The date whose rates apply, `YYYY-MM-DD`; the run's as-of date (the period end) when
    /// absent.
    #[serde(default)]
    pub rate_date: Option<String>,
    /// The first period of the profit-and-loss range, in the run period's fiscal year; the run
    /// period itself when absent. Balance-sheet accounts always run from the year's opening.
    #[serde(default)]
    pub from_period: Option<PeriodName>,
    /// Whether the gain or loss line carries the revalued bucket's dimensions (the default).
    #[serde(default = "keep_dimensions_default")]
    pub keep_dimensions: bool,
    /// Leave out lines with an active settlement: bucket balances are then summed from the
    /// unsettled lines instead of read from the maintained balances.
    #[serde(default)]
    pub exclude_settled: bool,
}

/// A pair of unrealized gain and loss accounts.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GainLossAccounts {
    /// Credited with unrealized gains.
    pub gain_account: AccountNumber,
    /// Debited with unrealized losses.
    pub loss_account: AccountNumber,
}

/// An inclusive range of account numbers, compared as text like the ledger's account filters.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRange {
    /// The first account number of the range.
    pub from: AccountNumber,
    /// The last account number of the range.
    pub to: AccountNumber,
}

fn keep_dimensions_default() -> bool {
    true
}

impl Config {
    /// Checks what the schema leaves to the step: `accounts` and `range` exclude each other, a
    /// range runs forward, and the rate date is a date.
    pub fn validate(&self) -> Result<(), StepError> {
        if self.accounts.is_some() && self.range.is_some() {
            return Err(StepError::new(
                "the configuration names both `accounts` and `range`: give one of them, or neither to \
                 revalue every account flagged revalue",
            ));
        }
        if let Some(range) = &self.range
            && range.from > range.to
        {
            return Err(StepError::new(format!(
                "account range {} to {} is reversed: give the lower account number first",
                range.from, range.to
            )));
        }
        self.parsed_rate_date()?;
        Ok(())
    }

    /// The configured rate date, when there is one.
    pub fn parsed_rate_date(&self) -> Result<Option<NaiveDate>, StepError> {
        match &self.rate_date {
            None => Ok(None),
            Some(text) => parse_date(text)
                .map(Some)
                .map_err(|error| StepError::new(format!("rate_date {text:?} is not a date: {error}"))),
        }
    }

    /// The gain and loss accounts for a transaction currency: its own pair when configured,
    /// else the entity's.
    pub fn gain_loss_accounts(&self, currency: &CurrencyCode) -> GainLossAccounts {
        self.per_currency
            .get(currency)
            .cloned()
            .unwrap_or_else(|| GainLossAccounts {
                gain_account: self.gain_account.clone(),
                loss_account: self.loss_account.clone(),
            })
    }

    /// Every gain and loss account the configuration names, each once, in account order.
    pub fn all_gain_loss_accounts(&self) -> Vec<AccountNumber> {
        let mut accounts = vec![self.gain_account.clone(), self.loss_account.clone()];
        for pair in self.per_currency.values() {
            accounts.push(pair.gain_account.clone());
            accounts.push(pair.loss_account.clone());
        }
        accounts.sort();
        accounts.dedup();
        accounts
    }
}

/// The JSON Schema (draft 2020-12) of [`Config`].
pub fn schema() -> Value {
    let account = json!({ "type": "string", "minLength": 1 });
    let gain_loss_pair = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["gain_account", "loss_account"],
        "properties": {
            "gain_account": account,
            "loss_account": account
        }
    });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "fx-revaluation configuration",
        "type": "object",
        "additionalProperties": false,
        "required": ["gain_account", "loss_account"],
        "not": { "required": ["accounts", "range"] },
        "properties": {
            "gain_account": {
                "description": "The unrealized exchange gain account, credited with gains.",
                "type": "string",
                "minLength": 1
            },
            "loss_account": {
                "description": "The unrealized exchange loss account, debited with losses.",
                "type": "string",
                "minLength": 1
            },
            "per_currency": {
                "description": "Gain and loss accounts per transaction currency, overriding the entity's.",
                "type": "object",
                "propertyNames": { "pattern": "^[A-Z]{3}$" },
                "additionalProperties": gain_loss_pair
            },
            "accounts": {
                "description": "Revalue exactly these accounts (each flagged revalue) instead of every flagged account.",
                "type": "array",
                "items": account,
                "minItems": 1,
                "uniqueItems": true
            },
            "range": {
                "description": "Revalue the flagged accounts in this inclusive range of account numbers.",
                "type": "object",
                "additionalProperties": false,
                "required": ["from", "to"],
                "properties": { "from": account, "to": account }
            },
            "rate_type": {
                "description": "The rate type for accounts that name none; the entity's default rate type when absent.",
                "type": "string",
                "minLength": 1
            },
            "rate_date": {
                "description": "The date whose rates apply (YYYY-MM-DD); the run's as-of date when absent.",
                "type": "string",
                "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
            },
            "from_period": {
                "description": "The first period of the profit-and-loss range, in the run period's fiscal year; the run period when absent.",
                "type": "string",
                "minLength": 1
            },
            "keep_dimensions": {
                "description": "Whether the gain or loss line keeps the revalued bucket's dimensions.",
                "type": "boolean",
                "default": true
            },
            "exclude_settled": {
                "description": "Leave out lines with an active settlement.",
                "type": "boolean",
                "default": false
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
        // Every field parses; per-currency accounts override the entity's for that currency only.
        let config = parse(json!({
            "gain_account": "7100",
            "loss_account": "7200",
            "per_currency": { "GBP": { "gain_account": "7150", "loss_account": "7250" } },
            "range": { "from": "1000", "to": "2999" },
            "rate_type": "closing",
            "rate_date": "2026-01-30",
            "from_period": "2026-01",
            "keep_dimensions": false,
            "exclude_settled": true
        }))
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.gain_loss_accounts(&"GBP".into()).gain_account, "7150");
        assert_eq!(config.gain_loss_accounts(&"EUR".into()).loss_account, "7200");
        assert_eq!(config.parsed_rate_date().unwrap(), NaiveDate::from_ymd_opt(2026, 1, 30));
        assert_eq!(config.all_gain_loss_accounts().len(), 4);
        assert!(!config.keep_dimensions);
        assert!(config.exclude_settled);
    }

    #[test]
    fn defaults_keep_dimensions_and_include_settled_lines() {
        // The two flags default to what an accountant expects without configuring them.
        let config = parse(json!({ "gain_account": "7100", "loss_account": "7200" })).unwrap();
        assert!(config.keep_dimensions);
        assert!(!config.exclude_settled);
        assert_eq!(config.parsed_rate_date().unwrap(), None);
    }

    #[test]
    fn refuses_unknown_fields_and_contradictions() {
        // A typo'd field, accounts together with a range, a reversed range and a bad date are
        // each refused with a reason.
        assert!(parse(json!({ "gain_account": "7100", "loss_account": "7200", "gain_acount": "x" })).is_err());
        let both = parse(json!({
            "gain_account": "7100", "loss_account": "7200",
            "accounts": ["1200"], "range": { "from": "1000", "to": "1999" }
        }))
        .unwrap();
        assert!(
            both.validate()
                .unwrap_err()
                .message
                .contains("both `accounts` and `range`")
        );
        let reversed = parse(json!({
            "gain_account": "7100", "loss_account": "7200", "range": { "from": "2000", "to": "1000" }
        }))
        .unwrap();
        assert!(reversed.validate().unwrap_err().message.contains("is reversed"));
        let bad_date =
            parse(json!({ "gain_account": "7100", "loss_account": "7200", "rate_date": "2026-02-30" })).unwrap();
        assert!(
            bad_date
                .validate()
                .unwrap_err()
                .message
                .starts_with("rate_date \"2026-02-30\" is not a date")
        );
    }

    #[test]
    fn schema_is_closed_draft_2020_12() {
        // The host validates against it; unknown properties are refused at every level.
        let schema = schema();
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["properties"]["range"]["additionalProperties"], false);
        assert_eq!(
            schema["properties"]["per_currency"]["additionalProperties"]["additionalProperties"],
            false
        );
        let properties = schema["properties"].as_object().unwrap();
        assert_eq!(properties.len(), 10);
    }
}
