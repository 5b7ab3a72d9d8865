//! The consolidation step's configuration: the member entities with their ownership share, the
//! account mapping from member accounts to consolidation accounts, the rate types of the
//! translation, the account that receives the translation difference (CTA), and an optional
//! dimension that tags every consolidated line with the member it came from. The JSON Schema
//! returned by `describe` and the serde types below describe the same shape; the host validates
//! against the schema, serde parses, and [`Config::validate`] checks what a schema cannot say
//! clearly.

use std::collections::{BTreeMap, BTreeSet};

use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::serde_json::{Value, json};
use closebook_plugin_sdk::wire::{DECIMAL_PATTERN, deserialize_decimal, deserialize_optional_decimal};
use closebook_plugin_sdk::{AccountNumber, DimensionInfo, EntityId, StepError};
use serde::Deserialize;

/// The most member entities one consolidation may have: each costs a balance query per period
/// of the year.
pub const MEMBERS_MAX: usize = 100;

/// The largest ownership share, in percent: proportional consolidation takes at most the whole.
pub const OWNERSHIP_PERCENT_MAX: Decimal = Decimal::ONE_HUNDRED;

/// One member entity of the consolidation.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The member's entity id.
    pub entity: EntityId,
    /// The share of every balance the consolidation takes, in percent (0 < share <= 100).
    #[serde(deserialize_with = "deserialize_decimal")]
    pub ownership_percent: Decimal,
    /// The member's opening retained earnings as the prior consolidation translated them, in
    /// the consolidation currency and at 100 %: retained earnings are rolled forward from it.
    /// An explicit override: without it, a member whose accounting currency is not the
    /// consolidation's takes what the consolidation entity carries into the year for it (its
    /// opening period's retained earnings tagged with the member, needs `member_dimension`).
    /// Needed in the first consolidated year, when the group carries nothing yet.
    #[serde(default, deserialize_with = "deserialize_optional_decimal")]
    pub opening_retained_earnings: Option<Decimal>,
}

/// The step's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The member entities.
    pub members: Vec<Member>,
    /// The equity account of the consolidation entity that receives the translation difference.
    pub cta_account: AccountNumber,
    /// Member account → consolidation account; an account not listed keeps its number.
    #[serde(default)]
    pub account_map: BTreeMap<AccountNumber, AccountNumber>,
    /// The rate type of assets and liabilities, looked up on the as-of date (period end).
    #[serde(default = "current_rate_type")]
    pub current_rate_type: String,
    /// The rate type of profit-and-loss movements, looked up on each period's last day.
    #[serde(default = "average_rate_type")]
    pub average_rate_type: String,
    /// The rate type of equity other than retained earnings (share capital), looked up on the
    /// as-of date: the latest historical rate.
    #[serde(default = "historical_rate_type")]
    pub historical_rate_type: String,
    /// A dimension whose value on every consolidated line is the member's entity id, so that
    /// eliminations can tell which member holds an intercompany balance.
    #[serde(default)]
    pub member_dimension: Option<String>,
}

fn current_rate_type() -> String {
    "spot".to_owned()
}

fn average_rate_type() -> String {
    "average".to_owned()
}

fn historical_rate_type() -> String {
    "historical".to_owned()
}

impl Config {
    /// Checks what the schema leaves to the step: at least one member and at most
    /// [`MEMBERS_MAX`], each once, not the consolidation entity itself, an ownership share in
    /// (0, 100], and a member dimension that exists with every member as a value.
    pub fn validate(&self, consolidation_entity: &EntityId, dimensions: &[DimensionInfo]) -> Result<(), StepError> {
        if self.members.is_empty() {
            return Err(StepError::new("members is empty: name at least one member entity"));
        }
        if self.members.len() > MEMBERS_MAX {
            return Err(StepError::new(format!(
                "members lists {} entities, more than {MEMBERS_MAX}: split the consolidation into sub-groups",
                self.members.len()
            )));
        }
        let mut seen = BTreeSet::new();
        for member in &self.members {
            if &member.entity == consolidation_entity {
                return Err(StepError::new(format!(
                    "member {} is the consolidation entity itself: remove it from members",
                    member.entity
                )));
            }
            if !seen.insert(&member.entity) {
                return Err(StepError::new(format!(
                    "member {} is listed twice: list each member once",
                    member.entity
                )));
            }
            if member.ownership_percent <= Decimal::ZERO || member.ownership_percent > OWNERSHIP_PERCENT_MAX {
                return Err(StepError::new(format!(
                    "member {} has ownership_percent {}: it must be above 0 and at most {OWNERSHIP_PERCENT_MAX}",
                    member.entity, member.ownership_percent
                )));
            }
        }
        if let Some(name) = &self.member_dimension {
            let Some(dimension) = dimensions.iter().find(|dimension| &dimension.name == name) else {
                return Err(StepError::new(format!(
                    "member_dimension {name:?} does not exist: declare it in the setup, or remove member_dimension"
                )));
            };
            for member in &self.members {
                if !dimension.values.iter().any(|value| value == member.entity.as_str()) {
                    return Err(StepError::new(format!(
                        "dimension {name} has no value {}: add the member's entity id to its values in the setup",
                        member.entity
                    )));
                }
            }
        }
        Ok(())
    }

    /// The consolidation account of a member account.
    pub fn map_account(&self, account: &AccountNumber) -> AccountNumber {
        self.account_map
            .get(account)
            .cloned()
            .unwrap_or_else(|| account.clone())
    }
}

/// The JSON Schema (draft 2020-12) of [`Config`].
pub fn schema() -> Value {
    let decimal = json!({ "type": "string", "pattern": DECIMAL_PATTERN });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "consolidation configuration",
        "type": "object",
        "additionalProperties": false,
        "required": ["members", "cta_account"],
        "properties": {
            "members": {
                "description": "The member entities, each with the share of its balances the consolidation takes.",
                "type": "array",
                "minItems": 1,
                "maxItems": MEMBERS_MAX,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["entity", "ownership_percent"],
                    "properties": {
                        "entity": { "type": "string", "minLength": 1 },
                        "ownership_percent": decimal,
                        "opening_retained_earnings": decimal
                    }
                }
            },
            "cta_account": {
                "description": "The equity account that receives the currency translation difference.",
                "type": "string",
                "minLength": 1
            },
            "account_map": {
                "description": "Member account number -> consolidation account number; unlisted accounts keep their number.",
                "type": "object",
                "additionalProperties": { "type": "string", "minLength": 1 }
            },
            "current_rate_type": { "type": "string", "minLength": 1, "default": "spot" },
            "average_rate_type": { "type": "string", "minLength": 1, "default": "average" },
            "historical_rate_type": { "type": "string", "minLength": 1, "default": "historical" },
            "member_dimension": {
                "description": "A dimension set to the member's entity id on every consolidated line.",
                "type": "string",
                "minLength": 1
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
        vec![DimensionInfo {
            name: "company".to_owned(),
            values: vec!["P".to_owned(), "S".to_owned()],
        }]
    }

    #[test]
    fn reads_a_full_configuration_with_defaults() {
        // Rate types default to spot, average and historical; the map renames one account.
        let config = parse(json!({
            "members": [
                { "entity": "P", "ownership_percent": "100" },
                { "entity": "S", "ownership_percent": "60", "opening_retained_earnings": "-4200.00" }
            ],
            "cta_account": "3800",
            "account_map": { "6010": "6000" },
            "member_dimension": "company"
        }))
        .unwrap();
        config.validate(&EntityId::new("G"), &dimensions()).unwrap();
        assert_eq!(config.current_rate_type, "spot");
        assert_eq!(config.average_rate_type, "average");
        assert_eq!(config.historical_rate_type, "historical");
        assert_eq!(config.map_account(&"6010".into()), "6000");
        assert_eq!(config.map_account(&"1000".into()), "1000");
        assert_eq!(
            config.members[1].opening_retained_earnings,
            Some(Decimal::new(-420000, 2))
        );
    }

    #[test]
    fn refuses_bad_members() {
        // No members, a share of 0 or above 100, a duplicate, the group itself and a member
        // that is not a value of the member dimension are each refused with a reason.
        let group = EntityId::new("G");
        let refusal = |members: Value, dimension: Option<&str>| {
            let mut config = json!({ "members": members, "cta_account": "3800" });
            if let Some(dimension) = dimension {
                config["member_dimension"] = json!(dimension);
            }
            parse(config)
                .unwrap()
                .validate(&group, &dimensions())
                .unwrap_err()
                .message
        };
        assert!(refusal(json!([]), None).starts_with("members is empty"));
        assert!(refusal(json!([{ "entity": "S", "ownership_percent": "0" }]), None).contains("ownership_percent 0"));
        assert!(refusal(json!([{ "entity": "S", "ownership_percent": "100.01" }]), None).contains("100.01"));
        assert!(
            refusal(
                json!([{ "entity": "S", "ownership_percent": "50" }, { "entity": "S", "ownership_percent": "50" }]),
                None
            )
            .contains("listed twice")
        );
        assert!(refusal(json!([{ "entity": "G", "ownership_percent": "100" }]), None).contains("consolidation entity"));
        assert!(
            refusal(json!([{ "entity": "X", "ownership_percent": "100" }]), Some("company"))
                .contains("dimension company has no value X")
        );
        assert!(
            refusal(json!([{ "entity": "S", "ownership_percent": "100" }]), Some("region")).contains("does not exist")
        );
    }

    #[test]
    fn refuses_numbers_and_unknown_fields() {
        // Decimals are strings (a JSON number may have passed through a float); typos are refused.
        assert!(
            parse(json!({ "members": [{ "entity": "S", "ownership_percent": 60 }], "cta_account": "3800" })).is_err()
        );
        assert!(parse(json!({ "members": [], "cta_account": "3800", "cta": "3800" })).is_err());
    }

    #[test]
    fn schema_is_closed_draft_2020_12() {
        // The host validates against it; unknown properties are refused.
        let schema = schema();
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["required"], json!(["members", "cta_account"]));
    }
}
