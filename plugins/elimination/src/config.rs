//! The elimination step's configuration: the entity that receives the eliminations, the
//! consolidated entity they are read from, the dimensions that say which member holds a balance
//! and who its trading partner is, and the rules. A rule names intercompany accounts and either
//! matches them member against trading partner, or (with `counter_accounts`) one group of
//! accounts against another. The JSON Schema returned by `describe` and the serde types below
//! describe the same shape; the host validates against the schema, serde parses, and
//! [`Config::validate`] checks what a schema cannot say clearly.

use std::collections::BTreeSet;

use closebook_plugin_sdk::serde_json::{Value, json};
use closebook_plugin_sdk::{AccountNumber, DimensionInfo, EntityId, StepError};
use serde::Deserialize;

/// The most rules one elimination step may have: each costs a balance query.
pub const RULES_MAX: usize = 100;

/// One elimination rule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A name for messages, e.g. `intercompany balances`.
    pub name: String,
    /// The intercompany accounts.
    pub accounts: Vec<AccountNumber>,
    /// When given, the rule matches `accounts` against these accounts as a whole, whoever holds
    /// them; when not, it matches each member's balances with a trading partner against the
    /// partner's balances with that member.
    #[serde(default)]
    pub counter_accounts: Vec<AccountNumber>,
    /// Where what does not match goes, so that the elimination entry balances.
    pub difference_account: AccountNumber,
}

impl Rule {
    /// Whether the rule matches member against trading partner (no counter accounts).
    pub fn by_partner(&self) -> bool {
        self.counter_accounts.is_empty()
    }
}

/// The step's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The entity that receives the eliminations, e.g. ACME-ELIM.
    pub elimination_entity: EntityId,
    /// The consolidated entity whose balances are eliminated; the run entity when not given.
    #[serde(default)]
    pub consolidation_entity: Option<EntityId>,
    /// The dimension whose value is the member holding a balance (the consolidation step's
    /// `member_dimension`).
    #[serde(default)]
    pub member_dimension: Option<String>,
    /// The trading-partner dimension, e.g. `partner`.
    #[serde(default)]
    pub partner_dimension: Option<String>,
    /// The rules.
    pub rules: Vec<Rule>,
}

impl Config {
    /// Checks what the schema leaves to the step: one to [`RULES_MAX`] rules, each with
    /// accounts, no account in two rules or on both sides of one, the two dimensions (existing
    /// and different) when a rule matches by partner.
    pub fn validate(&self, dimensions: &[DimensionInfo]) -> Result<(), StepError> {
        if self.rules.is_empty() {
            return Err(StepError::new("rules is empty: give at least one elimination rule"));
        }
        if self.rules.len() > RULES_MAX {
            return Err(StepError::new(format!(
                "rules has {} rules, more than {RULES_MAX}: merge rules that share a difference account",
                self.rules.len()
            )));
        }
        let mut seen: BTreeSet<&AccountNumber> = BTreeSet::new();
        for rule in &self.rules {
            if rule.accounts.is_empty() {
                return Err(StepError::new(format!(
                    "rule {:?} has no accounts: list its intercompany accounts",
                    rule.name
                )));
            }
            for account in rule.accounts.iter().chain(&rule.counter_accounts) {
                if !seen.insert(account) {
                    return Err(StepError::new(format!(
                        "account {account} appears twice in the rules (rule {:?}): an account is eliminated by one \
                         rule, on one side",
                        rule.name
                    )));
                }
            }
            if rule.by_partner() {
                self.partner_dimensions(dimensions).map_err(|error| {
                    StepError::new(format!("rule {:?} matches by trading partner: {error}", rule.name))
                })?;
            }
        }
        Ok(())
    }

    /// The member and trading-partner dimension names, when both are configured, exist and differ.
    pub fn partner_dimensions(&self, dimensions: &[DimensionInfo]) -> Result<(&str, &str), StepError> {
        let (Some(member), Some(partner)) = (&self.member_dimension, &self.partner_dimension) else {
            return Err(StepError::new(
                "give member_dimension and partner_dimension, or counter_accounts to match by accounts",
            ));
        };
        if member == partner {
            return Err(StepError::new(format!(
                "member_dimension and partner_dimension are both {member:?}: the member holding a balance and its \
                 trading partner need two dimensions"
            )));
        }
        for name in [member, partner] {
            if !dimensions.iter().any(|dimension| &dimension.name == name) {
                return Err(StepError::new(format!(
                    "dimension {name:?} does not exist: declare it in the setup"
                )));
            }
        }
        Ok((member, partner))
    }
}

/// The JSON Schema (draft 2020-12) of [`Config`].
pub fn schema() -> Value {
    let accounts = json!({ "type": "array", "items": { "type": "string", "minLength": 1 } });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "elimination configuration",
        "type": "object",
        "additionalProperties": false,
        "required": ["elimination_entity", "rules"],
        "properties": {
            "elimination_entity": {
                "description": "The entity that receives the elimination entries.",
                "type": "string",
                "minLength": 1
            },
            "consolidation_entity": {
                "description": "The consolidated entity whose balances are eliminated; default the run entity.",
                "type": "string",
                "minLength": 1
            },
            "member_dimension": {
                "description": "The dimension naming the member that holds a balance.",
                "type": "string",
                "minLength": 1
            },
            "partner_dimension": {
                "description": "The trading-partner dimension.",
                "type": "string",
                "minLength": 1
            },
            "rules": {
                "type": "array",
                "minItems": 1,
                "maxItems": RULES_MAX,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name", "accounts", "difference_account"],
                    "properties": {
                        "name": { "type": "string", "minLength": 1 },
                        "accounts": accounts,
                        "counter_accounts": accounts,
                        "difference_account": { "type": "string", "minLength": 1 }
                    }
                }
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

    fn dimensions() -> Vec<DimensionInfo> {
        ["company", "partner"]
            .into_iter()
            .map(|name| DimensionInfo {
                name: name.to_owned(),
                values: vec!["P".to_owned(), "S".to_owned()],
            })
            .collect()
    }

    #[test]
    fn reads_partner_and_account_pair_rules() {
        // A rule without counter accounts matches by partner; one with them by accounts.
        let config = parse(json!({
            "elimination_entity": "E",
            "member_dimension": "company",
            "partner_dimension": "partner",
            "rules": [
                { "name": "balances", "accounts": ["1300", "2400"], "difference_account": "3800" },
                { "name": "loans", "accounts": ["1400"], "counter_accounts": ["2500"], "difference_account": "3800" }
            ]
        }))
        .unwrap();
        config.validate(&dimensions()).unwrap();
        assert!(config.rules[0].by_partner());
        assert!(!config.rules[1].by_partner());
    }

    #[test]
    fn refuses_contradictions() {
        // No rules, an account in two rules, and a partner rule without the two dimensions (or
        // with one dimension twice) are each refused with a reason.
        let refusal = |value: Value| parse(value).unwrap().validate(&dimensions()).unwrap_err().message;
        assert!(refusal(json!({ "elimination_entity": "E", "rules": [] })).starts_with("rules is empty"));
        assert!(
            refusal(json!({ "elimination_entity": "E", "rules": [
                { "name": "a", "accounts": ["1300"], "counter_accounts": ["2400"], "difference_account": "3800" },
                { "name": "b", "accounts": ["2400"], "counter_accounts": ["1400"], "difference_account": "3800" }
            ] }))
            .contains("account 2400 appears twice")
        );
        assert!(
            refusal(json!({ "elimination_entity": "E", "rules": [
                { "name": "a", "accounts": ["1300", "2400"], "difference_account": "3800" }
            ] }))
            .contains("give member_dimension and partner_dimension")
        );
        assert!(
            refusal(
                json!({ "elimination_entity": "E", "member_dimension": "partner", "partner_dimension": "partner",
                "rules": [{ "name": "a", "accounts": ["1300"], "difference_account": "3800" }] })
            )
            .contains("need two dimensions")
        );
        assert!(
            refusal(
                json!({ "elimination_entity": "E", "member_dimension": "member", "partner_dimension": "partner",
                "rules": [{ "name": "a", "accounts": ["1300"], "difference_account": "3800" }] })
            )
            .contains("\"member\" does not exist")
        );
        assert!(parse(json!({ "elimination_entity": "E", "rules": [], "rule": [] })).is_err());
    }

    #[test]
    fn schema_is_closed_draft_2020_12() {
        // The host validates against it; unknown properties are refused.
        let schema = schema();
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["required"], json!(["elimination_entity", "rules"]));
    }
}
