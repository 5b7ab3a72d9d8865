//! The allocation step's configuration: the method, the source (ledger balances selected by
//! accounts, dimensions and periods, or a fixed amount), the basis for the basis method, the
//! destinations, the offset, where the rounding remainder goes and what a zero source does. The
//! JSON Schema returned by `describe` (`config.schema.json`, shared with the Python and
//! JavaScript allocation steps) and the serde types below describe the same shape; the host
//! validates against the schema, serde parses, and [`Config::validate`] checks what a schema
//! cannot say clearly (percentages summing to 100, fields that belong to one method).

use std::collections::BTreeMap;

use closebook_plugin_sdk::rust_decimal::Decimal;
use closebook_plugin_sdk::serde_json::Value;
use closebook_plugin_sdk::wire::{deserialize_decimal, deserialize_optional_decimal};
use closebook_plugin_sdk::{AccountFilter, AccountNumber, CurrencyCode, PeriodName, Remainder, StepError};
use serde::Deserialize;

/// The most destinations one allocation may have: each costs a line, and a basis allocation one
/// balance query per destination.
pub const DESTINATIONS_MAX: usize = 1000;

/// Dimension values by dimension name, e.g. `{ "department": "300" }`.
pub type DimensionValues = BTreeMap<String, String>;

/// How the amount is shared among the destinations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Each destination names a `percent`; the percentages sum to 100.
    FixedPercentage,
    /// Each destination names a `weight`; shares are proportional to the weights.
    FixedWeight,
    /// Every destination gets the same share.
    Equally,
    /// Shares are proportional to each destination's balance of the basis accounts.
    Basis,
}

impl Method {
    /// The method's name as written in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Self::FixedPercentage => "fixed-percentage",
            Self::FixedWeight => "fixed-weight",
            Self::Equally => "equally",
            Self::Basis => "basis",
        }
    }
}

/// Which periods a balance covers when `from_period` is not given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// The movements of `to_period` (the run period by default) alone.
    #[default]
    Period,
    /// From the first period of the fiscal year (its opening period) to `to_period`: the
    /// balance as of that period's end.
    YearToDate,
}

/// Which share receives the rounding remainder, so that the entry balances to the cent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemainderPlacement {
    /// The last destination with a non-zero weight.
    #[default]
    Last,
    /// The destination with the largest weight (the last of them on a tie).
    Largest,
}

impl From<RemainderPlacement> for Remainder {
    fn from(placement: RemainderPlacement) -> Self {
        match placement {
            RemainderPlacement::Last => Remainder::Last,
            RemainderPlacement::Largest => Remainder::Largest,
        }
    }
}

/// What a source of zero does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnZeroSource {
    /// Fail the step with a message, so the close stops and someone looks.
    #[default]
    Stop,
    /// Propose nothing and say so in a message.
    Skip,
}

/// An inclusive range of account numbers, compared as text.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRange {
    /// The first account of the range.
    pub from: AccountNumber,
    /// The last account of the range.
    pub to: AccountNumber,
}

/// Ledger balances to allocate, or to weigh by: accounts (a list or a range), dimension values
/// every line must carry, and a period range.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceSelection {
    /// These accounts.
    #[serde(default)]
    pub accounts: Option<Vec<AccountNumber>>,
    /// Or the accounts of this range.
    #[serde(default)]
    pub account_range: Option<AccountRange>,
    /// Only lines carrying every one of these dimension values.
    #[serde(default)]
    pub dimensions: DimensionValues,
    /// The periods covered when `from_period` is not given.
    #[serde(default)]
    pub scope: Scope,
    /// The first period of the range.
    #[serde(default)]
    pub from_period: Option<PeriodName>,
    /// The last period of the range; the run period when absent.
    #[serde(default)]
    pub to_period: Option<PeriodName>,
}

impl BalanceSelection {
    /// The account filter, once [`BalanceSelection::validate`] has passed.
    pub fn account_filter(&self) -> AccountFilter {
        match (&self.accounts, &self.account_range) {
            (Some(accounts), _) => AccountFilter::List(accounts.clone()),
            (None, Some(range)) => AccountFilter::Range(range.from.clone(), range.to.clone()),
            (None, None) => AccountFilter::All,
        }
    }

    /// Checks that exactly one of `accounts` and `account_range` is given and that the period
    /// fields do not contradict each other. `what` names the selection in messages.
    fn validate(&self, what: &str) -> Result<(), StepError> {
        match (&self.accounts, &self.account_range) {
            (Some(_), Some(_)) => {
                return Err(StepError::new(format!(
                    "{what} names both accounts and account_range: give one of them"
                )));
            }
            (None, None) => {
                return Err(StepError::new(format!(
                    "{what} names no accounts: give accounts or account_range"
                )));
            }
            (Some(accounts), None) if accounts.is_empty() => {
                return Err(StepError::new(format!("{what} has an empty accounts list")));
            }
            (None, Some(range)) if range.from > range.to => {
                return Err(StepError::new(format!(
                    "{what} has account_range from {} to {}: the first account must not come after the last",
                    range.from, range.to
                )));
            }
            _ => {}
        }
        if self.scope == Scope::YearToDate && self.from_period.is_some() {
            return Err(StepError::new(format!(
                "{what} names both scope \"year-to-date\" and from_period: give one of them"
            )));
        }
        Ok(())
    }
}

/// A fixed amount to allocate, in the accounting currency unless `currency` says otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedAmount {
    /// The amount; positive allocates debits to the destinations.
    #[serde(deserialize_with = "deserialize_decimal")]
    pub amount: Decimal,
    /// The transaction currency; the entity's accounting currency when absent.
    #[serde(default)]
    pub currency: Option<CurrencyCode>,
}

/// Where the amount to allocate comes from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    /// The net accounting-currency balance of ledger accounts.
    Ledger(BalanceSelection),
    /// A fixed amount.
    Fixed(FixedAmount),
}

/// One destination: a line that receives a share.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// The account; the source's account when absent (the source must then be one account).
    #[serde(default)]
    pub account: Option<AccountNumber>,
    /// The dimension values the line carries.
    #[serde(default)]
    pub dimensions: DimensionValues,
    /// The share in percent, for `fixed-percentage`.
    #[serde(default, deserialize_with = "deserialize_optional_decimal")]
    pub percent: Option<Decimal>,
    /// The weight, for `fixed-weight`.
    #[serde(default, deserialize_with = "deserialize_optional_decimal")]
    pub weight: Option<Decimal>,
    /// For `basis`: the dimension values that select this destination's basis balance, in
    /// place of `dimensions`.
    #[serde(default)]
    pub basis_dimensions: Option<DimensionValues>,
}

impl Destination {
    /// The dimension values that select this destination's basis balance.
    pub fn basis_filter(&self) -> &DimensionValues {
        self.basis_dimensions.as_ref().unwrap_or(&self.dimensions)
    }
}

/// The line that balances the allocation.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offset {
    /// The account credited with the allocated amount.
    pub account: AccountNumber,
    /// The dimension values of the offset line.
    #[serde(default)]
    pub dimensions: DimensionValues,
}

/// The step's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How the amount is shared.
    pub method: Method,
    /// What is allocated.
    pub source: Source,
    /// The balances that weigh the destinations, for `basis`.
    #[serde(default)]
    pub basis: Option<BalanceSelection>,
    /// The lines receiving shares, in order.
    pub destinations: Vec<Destination>,
    /// The line crediting the source. When absent with a ledger source, every source balance
    /// (account and dimensions) is credited with its own amount, which clears the source.
    #[serde(default)]
    pub offset: Option<Offset>,
    /// Which destination takes the rounding remainder.
    #[serde(default)]
    pub remainder: RemainderPlacement,
    /// What a source of zero does.
    #[serde(default)]
    pub on_zero_source: OnZeroSource,
    /// The entry description; a default naming the method and the period when absent.
    #[serde(default)]
    pub description: Option<String>,
}

impl Config {
    /// Checks what the schema does not: the fields each method needs and refuses, the
    /// percentages' sum, the source's account selection, and that a fixed source has an offset.
    pub fn validate(&self) -> Result<(), StepError> {
        if self.destinations.is_empty() {
            return Err(StepError::new("destinations is empty: give at least one destination"));
        }
        if self.destinations.len() > DESTINATIONS_MAX {
            return Err(StepError::new(format!(
                "{} destinations is more than the {DESTINATIONS_MAX} an allocation may have",
                self.destinations.len()
            )));
        }
        let single_source_account = match &self.source {
            Source::Ledger(selection) => selection.accounts.as_ref().is_some_and(|accounts| accounts.len() == 1),
            Source::Fixed(_) => false,
        };
        if !single_source_account
            && let Some(index) = self
                .destinations
                .iter()
                .position(|destination| destination.account.is_none())
        {
            return Err(StepError::new(format!(
                "destination {} has no account and the source is not one ledger account: name its account",
                index + 1
            )));
        }
        match &self.source {
            Source::Ledger(selection) => selection.validate("the ledger source")?,
            Source::Fixed(_) => {
                if self.offset.is_none() {
                    return Err(StepError::new(
                        "a fixed source needs an offset: name the account that balances the allocation",
                    ));
                }
            }
        }
        match (&self.basis, self.method) {
            (Some(basis), Method::Basis) => basis.validate("the basis")?,
            (None, Method::Basis) => {
                return Err(StepError::new(
                    "method \"basis\" needs a basis: name the accounts whose balances weigh the destinations",
                ));
            }
            (Some(_), method) => {
                return Err(StepError::new(format!(
                    "a basis is given but the method is \"{}\": use method \"basis\" or remove the basis",
                    method.name()
                )));
            }
            (None, _) => {}
        }
        let mut percent_total = Decimal::ZERO;
        for (index, destination) in self.destinations.iter().enumerate() {
            let number = index + 1;
            let wants_percent = self.method == Method::FixedPercentage;
            let wants_weight = self.method == Method::FixedWeight;
            match (destination.percent, wants_percent) {
                (None, true) => {
                    return Err(StepError::new(format!(
                        "destination {number} has no percent: method \"fixed-percentage\" needs one on every destination"
                    )));
                }
                (Some(_), false) => {
                    return Err(StepError::new(format!(
                        "destination {number} has a percent but the method is \"{}\": remove it",
                        self.method.name()
                    )));
                }
                (Some(percent), true) => {
                    if percent.is_sign_negative() && !percent.is_zero() {
                        return Err(StepError::new(format!(
                            "destination {number} has percent {percent}: percentages must be zero or more"
                        )));
                    }
                    percent_total += percent;
                }
                (None, false) => {}
            }
            match (destination.weight, wants_weight) {
                (None, true) => {
                    return Err(StepError::new(format!(
                        "destination {number} has no weight: method \"fixed-weight\" needs one on every destination"
                    )));
                }
                (Some(_), false) => {
                    return Err(StepError::new(format!(
                        "destination {number} has a weight but the method is \"{}\": remove it",
                        self.method.name()
                    )));
                }
                (Some(weight), true) if weight.is_sign_negative() && !weight.is_zero() => {
                    return Err(StepError::new(format!(
                        "destination {number} has weight {weight}: weights must be zero or more"
                    )));
                }
                _ => {}
            }
            if destination.basis_dimensions.is_some() && self.method != Method::Basis {
                return Err(StepError::new(format!(
                    "destination {number} has basis_dimensions but the method is \"{}\": remove them",
                    self.method.name()
                )));
            }
        }
        if self.method == Method::FixedPercentage && percent_total != Decimal::ONE_HUNDRED {
            return Err(StepError::new(format!(
                "the destinations' percentages sum to {percent_total}, not 100: fix them so the whole amount is allocated"
            )));
        }
        Ok(())
    }
}

/// The configuration schema's text: one JSON file that the Rust, Python and JavaScript
/// allocation steps all return from `describe` (scripts/build-polyglot-plugins embeds it in the
/// other two), so the host validates their configuration the same way.
pub const SCHEMA_TEXT: &str = include_str!("../config.schema.json");

/// The JSON Schema (draft 2020-12) of [`Config`].
pub fn schema() -> Value {
    // The file is a constant of this crate; `schema_file_is_json_and_matches_the_limits` proves it
    // parses, so a failure here cannot depend on input.
    closebook_plugin_sdk::serde_json::from_str(SCHEMA_TEXT).expect("config.schema.json is valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use closebook_plugin_sdk::serde_json::json;

    #[test]
    fn schema_file_is_json_and_matches_the_limits() {
        // config.schema.json parses, and the limits it repeats are the ones this crate enforces.
        let schema = schema();
        assert_eq!(
            schema["properties"]["destinations"]["maxItems"],
            json!(DESTINATIONS_MAX)
        );
        assert_eq!(schema["required"], json!(["method", "source", "destinations"]));
        let decimal_fields = [
            &schema["properties"]["destinations"]["items"]["properties"]["percent"],
            &schema["properties"]["destinations"]["items"]["properties"]["weight"],
            &schema["properties"]["source"]["oneOf"][1]["properties"]["fixed"]["properties"]["amount"],
        ];
        for field in decimal_fields {
            assert_eq!(field["pattern"], closebook_plugin_sdk::wire::DECIMAL_PATTERN);
        }
    }

    fn parse(value: Value) -> Result<Config, closebook_plugin_sdk::serde_json::Error> {
        Config::deserialize(value)
    }

    fn percentages(percents: &[&str]) -> Value {
        json!({
            "method": "fixed-percentage",
            "source": { "ledger": { "accounts": ["6100"] } },
            "destinations": percents
                .iter()
                .enumerate()
                .map(|(index, percent)| json!({ "dimensions": { "department": format!("{}00", index + 1) },
                    "percent": percent }))
                .collect::<Vec<_>>()
        })
    }

    #[test]
    fn reads_a_full_configuration() {
        // Every field parses, decimals exactly, enums by their kebab-case names.
        let config = parse(json!({
            "method": "basis",
            "source": { "ledger": { "account_range": { "from": "6100", "to": "6199" },
                "dimensions": { "department": "300" }, "scope": "year-to-date", "to_period": "2026-03" } },
            "basis": { "accounts": ["6000"], "from_period": "2026-01" },
            "destinations": [
                { "account": "6100", "dimensions": { "department": "100" } },
                { "account": "6100", "dimensions": { "department": "200" },
                  "basis_dimensions": { "department": "250" } }
            ],
            "offset": { "account": "6190", "dimensions": { "department": "300" } },
            "remainder": "largest",
            "on_zero_source": "skip",
            "description": "Rent by headcount"
        }))
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.method, Method::Basis);
        assert_eq!(config.remainder, RemainderPlacement::Largest);
        assert_eq!(config.on_zero_source, OnZeroSource::Skip);
        let Source::Ledger(source) = &config.source else {
            panic!("a ledger source");
        };
        assert_eq!(source.scope, Scope::YearToDate);
        assert_eq!(
            source.account_filter(),
            AccountFilter::Range("6100".into(), "6199".into())
        );
        assert_eq!(config.destinations[1].basis_filter()["department"], "250");
        assert_eq!(config.destinations[0].basis_filter()["department"], "100");
    }

    #[test]
    fn reads_a_fixed_source_and_refuses_floats_and_typos() {
        // A fixed amount is a decimal string; a JSON number or an unknown field is refused.
        let fixed = |amount: Value| {
            json!({
                "method": "equally",
                "source": { "fixed": { "amount": amount, "currency": "EUR" } },
                "destinations": [{ "account": "6100" }],
                "offset": { "account": "2100" }
            })
        };
        let config = parse(fixed(json!("1000.00"))).unwrap();
        assert_eq!(
            config.source,
            Source::Fixed(FixedAmount {
                amount: Decimal::new(100000, 2),
                currency: Some("EUR".into())
            })
        );
        assert!(parse(fixed(json!(1000.0))).is_err());
        let mut typo = fixed(json!("1.00"));
        typo["remainer"] = json!("last");
        assert!(parse(typo).is_err());
        let mut weight_as_number = percentages(&["100"]);
        weight_as_number["destinations"][0]["percent"] = json!(100);
        assert!(parse(weight_as_number).is_err());
    }

    #[test]
    fn percentages_must_sum_to_one_hundred() {
        // 50 + 30 + 20 = 100 is accepted; 50 + 30 + 19.99 = 99.99 is refused with the sum.
        parse(percentages(&["50", "30", "20"])).unwrap().validate().unwrap();
        let error = parse(percentages(&["50", "30", "19.99"]))
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(
            error.message,
            "the destinations' percentages sum to 99.99, not 100: fix them so the whole amount is allocated"
        );
    }

    #[test]
    fn each_method_takes_only_its_own_fields() {
        // A weight under fixed-percentage, a missing weight, a basis without the basis method
        // and a fixed source without an offset are each refused with the reason.
        let mut config = percentages(&["100"]);
        config["destinations"][0]["weight"] = json!("1");
        let error = parse(config).unwrap().validate().unwrap_err();
        assert!(
            error
                .message
                .contains("has a weight but the method is \"fixed-percentage\"")
        );

        let mut config = percentages(&["100"]);
        config["method"] = json!("fixed-weight");
        config["destinations"][0].as_object_mut().unwrap().remove("percent");
        let error = parse(config).unwrap().validate().unwrap_err();
        assert!(error.message.starts_with("destination 1 has no weight"));

        let mut config = percentages(&["100"]);
        config["method"] = json!("equally");
        config["destinations"][0].as_object_mut().unwrap().remove("percent");
        config["basis"] = json!({ "accounts": ["6000"] });
        let error = parse(config).unwrap().validate().unwrap_err();
        assert!(
            error
                .message
                .starts_with("a basis is given but the method is \"equally\"")
        );

        let config = parse(json!({
            "method": "equally",
            "source": { "fixed": { "amount": "1.00" } },
            "destinations": [{ "account": "6100" }]
        }))
        .unwrap();
        assert!(
            config
                .validate()
                .unwrap_err()
                .message
                .starts_with("a fixed source needs an offset")
        );
    }

    #[test]
    fn a_selection_names_its_accounts_once() {
        // Both accounts and a range, or neither, or a reversed range are refused.
        let selection = |value: Value| BalanceSelection::deserialize(value).unwrap().validate("the basis");
        assert!(selection(json!({ "accounts": ["6000"], "account_range": { "from": "6000", "to": "6999" } })).is_err());
        assert!(selection(json!({ "dimensions": { "department": "100" } })).is_err());
        assert!(selection(json!({ "account_range": { "from": "6999", "to": "6000" } })).is_err());
        assert!(selection(json!({ "accounts": ["6000"], "scope": "year-to-date", "from_period": "2026-01" })).is_err());
        assert!(selection(json!({ "account_range": { "from": "6000", "to": "6999" } })).is_ok());
    }
}
