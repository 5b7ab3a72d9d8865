//! The year-end step's configuration: how profit and loss lands on retained earnings per
//! dimension (close all or close single), whether unsettled lines of settlement accounts are
//! carried one by one, and whether closing entries zero the old year's profit and loss in its
//! closing period. The JSON Schema returned by `describe` and the serde types below describe
//! the same shape; the host validates against the schema, serde parses, and
//! [`Config::validate`] checks what a schema cannot say clearly.

use std::collections::BTreeMap;

use closebook_plugin_sdk::serde_json::{Value, json};
use closebook_plugin_sdk::{Dimension, DimensionInfo, StepError};
use serde::Deserialize;

/// How the profit-and-loss balances are transferred to retained earnings per dimension.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DimensionMode {
    /// One retained-earnings line per dimension combination of the profit-and-loss balances.
    #[default]
    CloseAll,
    /// One retained-earnings line with the configured dimension values (none when empty).
    CloseSingle,
}

impl DimensionMode {
    /// The configuration's spelling, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::CloseAll => "close-all",
            Self::CloseSingle => "close-single",
        }
    }
}

/// The step's configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Close all (the default) or close single.
    #[serde(default)]
    pub dimension_mode: DimensionMode,
    /// With close single: the dimension values of the retained-earnings line; empty for a line
    /// without dimensions.
    #[serde(default)]
    pub single_dimensions: BTreeMap<String, String>,
    /// Carry the unsettled lines of accounts flagged `settle` one by one instead of one balance
    /// per bucket, so that settlement goes on in the new year.
    #[serde(default)]
    pub carry_unsettled_lines: bool,
    /// Also propose a closing entry in the year's closing period that zeroes every
    /// profit-and-loss bucket against retained earnings.
    #[serde(default)]
    pub closing_entries: bool,
}

impl Config {
    /// Checks what the schema leaves to the step: dimension values only with close single, and
    /// each one a known value of a known dimension.
    pub fn validate(&self, dimensions: &[DimensionInfo]) -> Result<(), StepError> {
        if self.dimension_mode == DimensionMode::CloseAll && !self.single_dimensions.is_empty() {
            return Err(StepError::new(
                "single_dimensions is given with dimension_mode close-all: set dimension_mode to close-single, or \
                 remove single_dimensions",
            ));
        }
        for (name, value) in &self.single_dimensions {
            let Some(dimension) = dimensions.iter().find(|dimension| &dimension.name == name) else {
                return Err(StepError::new(format!(
                    "single_dimensions names dimension {name:?}, which does not exist: fix the step configuration"
                )));
            };
            if !dimension.values.contains(value) {
                return Err(StepError::new(format!(
                    "single_dimensions gives {name}={value}, which is not a value of dimension {name}: fix the step \
                     configuration"
                )));
            }
        }
        Ok(())
    }

    /// The dimensions of the close-single retained-earnings line, ordered by name.
    pub fn single_dimension_set(&self) -> Vec<Dimension> {
        self.single_dimensions
            .iter()
            .map(|(name, value)| Dimension::new(name.clone(), value.clone()))
            .collect()
    }
}

/// The JSON Schema (draft 2020-12) of [`Config`].
pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "year-end configuration",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "dimension_mode": {
                "description": "close-all: one retained-earnings line per dimension combination of the profit-and-loss balances; close-single: one line with single_dimensions.",
                "enum": ["close-all", "close-single"],
                "default": "close-all"
            },
            "single_dimensions": {
                "description": "With close-single: the dimension values of the retained-earnings line ({name: value}); empty for none.",
                "type": "object",
                "additionalProperties": { "type": "string", "minLength": 1 }
            },
            "carry_unsettled_lines": {
                "description": "Carry the unsettled lines of accounts flagged settle one by one instead of one balance per bucket.",
                "type": "boolean",
                "default": false
            },
            "closing_entries": {
                "description": "Also propose a closing entry in the year's closing period zeroing profit and loss against retained earnings.",
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

    fn dimensions() -> Vec<DimensionInfo> {
        vec![DimensionInfo {
            name: "department".to_owned(),
            values: vec!["100".to_owned(), "200".to_owned()],
        }]
    }

    #[test]
    fn defaults_close_all_without_options() {
        // An empty configuration is a plain year-end close.
        let config = parse(json!({})).unwrap();
        config.validate(&dimensions()).unwrap();
        assert_eq!(config.dimension_mode, DimensionMode::CloseAll);
        assert!(!config.carry_unsettled_lines);
        assert!(!config.closing_entries);
    }

    #[test]
    fn reads_a_full_configuration() {
        // Every field parses; the single dimension set comes out ordered by name.
        let config = parse(json!({
            "dimension_mode": "close-single",
            "single_dimensions": { "department": "100" },
            "carry_unsettled_lines": true,
            "closing_entries": true
        }))
        .unwrap();
        config.validate(&dimensions()).unwrap();
        assert_eq!(config.single_dimension_set(), [Dimension::new("department", "100")]);
        assert!(config.carry_unsettled_lines);
        assert!(config.closing_entries);
    }

    #[test]
    fn refuses_unknown_fields_and_contradictions() {
        // A typo, an unknown mode, dimensions with close-all and unknown dimension values are
        // each refused with a reason.
        assert!(parse(json!({ "closing_entry": true })).is_err());
        assert!(parse(json!({ "dimension_mode": "close-some" })).is_err());
        let both = parse(json!({ "single_dimensions": { "department": "100" } })).unwrap();
        assert!(
            both.validate(&dimensions())
                .unwrap_err()
                .message
                .starts_with("single_dimensions is given with dimension_mode close-all")
        );
        let unknown = parse(json!({
            "dimension_mode": "close-single", "single_dimensions": { "region": "EU" }
        }))
        .unwrap();
        assert!(
            unknown
                .validate(&dimensions())
                .unwrap_err()
                .message
                .contains("\"region\", which does not exist")
        );
        let value = parse(json!({
            "dimension_mode": "close-single", "single_dimensions": { "department": "300" }
        }))
        .unwrap();
        assert!(
            value
                .validate(&dimensions())
                .unwrap_err()
                .message
                .contains("department=300, which is not a value")
        );
    }

    #[test]
    fn schema_is_closed_draft_2020_12() {
        // The host validates against it; unknown properties are refused.
        let schema = schema();
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["properties"].as_object().unwrap().len(), 4);
    }
}
