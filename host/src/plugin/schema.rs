//! The configuration schema a plugin declares, checked before it is compiled and used. A schema
//! is plugin code the host runs: a 2 KB schema of `allOf`s nested through `$ref`s takes time
//! exponential in its depth to evaluate, and one with 200,000 `pattern`s takes gigabytes to
//! compile. So a schema is bounded in size (`CONFIG_SCHEMA_BYTES_MAX`, checked with the rest of
//! `describe()`), in nesting, in the number of regular expressions and in the number of
//! subschemas one value of the configuration can be evaluated against, following `$ref`s; its
//! regular expressions run on the `regex` engine, which is linear in time, with a bounded
//! compiled size. Anything beyond a bound is refused, naming the plugin and the limit.

use std::collections::HashMap;

use anyhow::Context as _;
use closebook_ledger::journal::escape_control_characters;
use jsonschema::PatternOptions;
use serde_json::Value;

use super::types::StepInfo;

/// Levels of JSON nesting a schema may have. Every standard step's schema has fewer than 10.
pub const CONFIG_SCHEMA_DEPTH_MAX: usize = 32;
/// Regular expressions a schema may hold: `pattern`s, `patternProperties` keys and
/// `format: regex`. Each is compiled when the schema is loaded.
pub const CONFIG_SCHEMA_PATTERNS_MAX: usize = 64;
/// Characters one regular expression may have.
pub const CONFIG_SCHEMA_PATTERN_CHARS_MAX: usize = 1_000;
/// Bytes one compiled regular expression, and its lazy DFA cache, may take.
pub const CONFIG_SCHEMA_REGEX_BYTES_MAX: usize = 1024 * 1024;
/// Subschemas one value of a configuration may be evaluated against, counting every `$ref`
/// followed and every branch of `allOf`, `anyOf`, `oneOf`, `if` and the rest. Validation time is
/// at most this times the size of the configuration. A standard step's schema counts a few
/// hundred; nested `allOf`s through `$ref`s double it at each level.
pub const CONFIG_SCHEMA_EVALUATIONS_MAX: u64 = 10_000;

/// Keywords whose values are data, never subschemas: nothing under them is evaluated.
const DATA_KEYWORDS: &[&str] = &[
    "const",
    "enum",
    "default",
    "examples",
    "$comment",
    "description",
    "title",
];
/// Keywords that hold subschemas only reached through a `$ref`.
const DEFINITION_KEYWORDS: &[&str] = &["$defs", "definitions"];

/// Checks a configuration against the JSON Schema a step declares. Remote `$ref`s cannot
/// resolve (the validator is built without network or file access), so they are refused too.
pub fn validate_config(info: &StepInfo, config: &str) -> anyhow::Result<Value> {
    let instance: Value = serde_json::from_str(config)
        .with_context(|| format!("the configuration of plugin {} is not JSON", info.name))?;
    let schema: Value = serde_json::from_str(&info.config_schema)
        .with_context(|| format!("plugin {} declares a config schema that is not JSON", info.name))?;
    check_schema(&schema).map_err(|reason| {
        anyhow::anyhow!(
            "plugin {} declares a config schema that is refused: {reason}",
            info.name
        )
    })?;
    let patterns = PatternOptions::regex()
        .size_limit(CONFIG_SCHEMA_REGEX_BYTES_MAX)
        .dfa_size_limit(CONFIG_SCHEMA_REGEX_BYTES_MAX);
    let validator = jsonschema::options()
        .with_pattern_options(patterns)
        .build(&schema)
        .map_err(|error| {
            anyhow::anyhow!(
                "plugin {} declares an unusable config schema: {}",
                info.name,
                escape_control_characters(&error.to_string())
            )
        })?;
    let problems: Vec<String> = validator
        .iter_errors(&instance)
        .take(20)
        .map(|error| {
            // The message may quote the schema, which is plugin text.
            let path = error.instance_path().to_string();
            let problem = if path.is_empty() {
                format!("{error}")
            } else {
                format!("{path}: {error}")
            };
            escape_control_characters(&problem).into_owned()
        })
        .collect();
    anyhow::ensure!(
        problems.is_empty(),
        "the configuration does not match the schema of plugin {}:\n  {}",
        info.name,
        problems.join("\n  ")
    );
    Ok(instance)
}

/// Why a schema is beyond the bounds, as a sentence naming the limit.
fn check_schema(schema: &Value) -> Result<(), String> {
    let mut census = Census::default();
    census.visit(schema, 1)?;
    if census.patterns > CONFIG_SCHEMA_PATTERNS_MAX {
        return Err(format!(
            "it holds {} regular expressions; at most {CONFIG_SCHEMA_PATTERNS_MAX} are allowed",
            census.patterns
        ));
    }
    let mut evaluations = Evaluations {
        root: schema,
        known: HashMap::new(),
        in_progress: Vec::new(),
    };
    let count = evaluations.count(schema, "")?;
    if count > CONFIG_SCHEMA_EVALUATIONS_MAX {
        return Err(format!(
            "one value may be evaluated against {count} subschemas (following `$ref`s); at most {CONFIG_SCHEMA_EVALUATIONS_MAX} are allowed"
        ));
    }
    Ok(())
}

/// Nesting and regular expressions, counted in one pass over the schema text.
#[derive(Default)]
struct Census {
    patterns: usize,
}

impl Census {
    fn visit(&mut self, value: &Value, depth: usize) -> Result<(), String> {
        if depth > CONFIG_SCHEMA_DEPTH_MAX {
            return Err(format!(
                "it is nested more than {CONFIG_SCHEMA_DEPTH_MAX} levels deep; at most {CONFIG_SCHEMA_DEPTH_MAX} are allowed"
            ));
        }
        match value {
            Value::Object(object) => {
                for (key, child) in object {
                    match (key.as_str(), child) {
                        ("pattern", Value::String(pattern)) => self.pattern(pattern)?,
                        ("format", Value::String(format)) if format == "regex" => self.patterns += 1,
                        ("patternProperties", Value::Object(patterns)) => {
                            for pattern in patterns.keys() {
                                self.pattern(pattern)?;
                            }
                        }
                        _ => {}
                    }
                    self.visit(child, depth + 1)?;
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.visit(item, depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn pattern(&mut self, pattern: &str) -> Result<(), String> {
        self.patterns += 1;
        let length_chars = pattern.chars().count();
        if length_chars > CONFIG_SCHEMA_PATTERN_CHARS_MAX {
            return Err(format!(
                "a regular expression is {length_chars} characters long; at most {CONFIG_SCHEMA_PATTERN_CHARS_MAX} are allowed"
            ));
        }
        Ok(())
    }
}

/// Counts, for each subschema, how many subschemas one value may be evaluated against from it:
/// itself, its children, and the targets of its `$ref`s. Counts are kept per JSON pointer, so
/// a subschema reached by many `$ref`s is counted once and the walk is linear in the schema;
/// a `$ref` back into a subschema being counted (a recursive schema) counts one, since
/// recursion is bounded by the depth of the configuration, not by the schema.
struct Evaluations<'a> {
    root: &'a Value,
    known: HashMap<String, u64>,
    in_progress: Vec<String>,
}

impl Evaluations<'_> {
    fn count(&mut self, value: &Value, pointer: &str) -> Result<u64, String> {
        if let Some(count) = self.known.get(pointer) {
            return Ok(*count);
        }
        if self.in_progress.iter().any(|open| open == pointer) {
            return Ok(1);
        }
        self.in_progress.push(pointer.to_string());
        let mut total: u64 = 1;
        match value {
            Value::Object(object) => {
                for (key, child) in object {
                    let key = key.as_str();
                    if DATA_KEYWORDS.contains(&key) || DEFINITION_KEYWORDS.contains(&key) {
                        continue;
                    }
                    if key == "$dynamicRef" || key == "$recursiveRef" {
                        return Err(format!("it uses `{key}`; only `$ref`s of the form `#/…` are allowed"));
                    }
                    if key == "$ref" {
                        let target = child.as_str().unwrap_or_default();
                        let Some(target_pointer) = target.strip_prefix('#') else {
                            return Err(format!(
                                "it has a `$ref` to `{}`; only `$ref`s within the schema, of the form `#/…`, are allowed",
                                closebook_ledger::journal::quoted_for_message(target)
                            ));
                        };
                        let root = self.root;
                        let Some(resolved) = root.pointer(target_pointer) else {
                            return Err(format!(
                                "it has a `$ref` to `{}`, which names nothing in the schema",
                                closebook_ledger::journal::quoted_for_message(target)
                            ));
                        };
                        total = total.saturating_add(self.count(resolved, target_pointer)?);
                        continue;
                    }
                    let child_pointer = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                    total = total.saturating_add(self.count(child, &child_pointer)?);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    total = total.saturating_add(self.count(item, &format!("{pointer}/{index}"))?);
                }
            }
            _ => total = 0,
        }
        self.in_progress.pop();
        self.known.insert(pointer.to_string(), total);
        if total > CONFIG_SCHEMA_EVALUATIONS_MAX {
            return Err(format!(
                "one value may be evaluated against more than {CONFIG_SCHEMA_EVALUATIONS_MAX} subschemas (following `$ref`s); at most {CONFIG_SCHEMA_EVALUATIONS_MAX} are allowed"
            ));
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info(schema: &Value) -> StepInfo {
        StepInfo {
            name: "schema-test".to_string(),
            version: "0.1.0".to_string(),
            summary: String::new(),
            config_schema: schema.to_string(),
        }
    }

    /// `allOf` nested `depth` levels through `$defs`, each level naming the one below twice:
    /// 2^depth evaluations in a schema of a few hundred bytes.
    fn nested_all_of(depth: usize) -> Value {
        let mut definitions = serde_json::Map::new();
        definitions.insert("level0".to_string(), json!({"type": "object"}));
        for level in 1..=depth {
            let below = format!("#/$defs/level{}", level - 1);
            definitions.insert(
                format!("level{level}"),
                json!({"allOf": [{"$ref": below}, {"$ref": below}]}),
            );
        }
        json!({"$defs": definitions, "$ref": format!("#/$defs/level{depth}")})
    }

    // Proves nested `allOf`s through `$ref`s are refused before they are evaluated (issue 17,
    // weakness 4: depth 30 took 42 s), and that the check itself is quick.
    #[test]
    fn exponential_schema_is_refused_quickly() {
        let started = std::time::Instant::now();
        let error = validate_config(&info(&nested_all_of(30)), "{}").unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(
            error.to_string(),
            "plugin schema-test declares a config schema that is refused: one value may be evaluated against more than 10000 subschemas (following `$ref`s); at most 10000 are allowed"
        );
        // A shallow version of the same shape is fine.
        validate_config(&info(&nested_all_of(5)), "{}").unwrap();
    }

    // Proves the number of regular expressions is bounded.
    #[test]
    fn too_many_patterns_are_refused() {
        let properties: serde_json::Map<String, Value> = (0..65)
            .map(|index| (format!("p{index}"), json!({"type": "string", "pattern": "^a+$"})))
            .collect();
        let error = validate_config(&info(&json!({"properties": properties})), "{}").unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("it holds 65 regular expressions; at most 64 are allowed"),
            "{error}"
        );
    }

    // Proves deep nesting is refused with the limit.
    #[test]
    fn deep_nesting_is_refused() {
        let mut schema = json!({"type": "object"});
        for _ in 0..20 {
            schema = json!({"not": {"not": schema}});
        }
        let error = validate_config(&info(&schema), "{}").unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("it is nested more than 32 levels deep; at most 32 are allowed"),
            "{error}"
        );
    }

    // Proves a recursive schema (a tree) is still accepted, and validates.
    #[test]
    fn recursive_schema_is_accepted() {
        let schema = json!({"$defs": {"node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}, "$ref": "#/$defs/node"});
        validate_config(&info(&schema), r#"{"children":[{"children":[]}]}"#).unwrap();
        assert!(validate_config(&info(&schema), r#"{"children":[1]}"#).is_err());
    }

    // Proves a schema's regular expressions run on the linear-time engine: a pattern that
    // backtracks catastrophically elsewhere validates a long string at once.
    #[test]
    fn patterns_run_in_linear_time() {
        let schema = json!({"properties": {"text": {"type": "string", "pattern": "^(a+)+$"}}});
        let config = json!({"text": format!("{}b", "a".repeat(10_000))}).to_string();
        let started = std::time::Instant::now();
        assert!(validate_config(&info(&schema), &config).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
