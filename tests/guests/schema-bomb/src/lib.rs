//! Test guest `schema-bomb`: its config schema nests `allOf` 30 levels deep through `$defs`,
//! each level naming the one below twice, so validating `{}` would take 2^30 evaluations (issue
//! 17, weakness 4: 42 s at depth 30). The schema is under 2 KB. `run` proposes nothing.

wit_bindgen::generate!({ path: "../../../plugin-sdk/wit/v0.1", world: "close-step" });

struct SchemaBomb;

/// The schema: `level0` is `{"type":"object"}`, `levelN` is `allOf` of `levelN-1` twice.
fn schema(depth: usize) -> String {
    let mut definitions = vec![r#""level0":{"type":"object"}"#.to_string()];
    for level in 1..=depth {
        let below = level - 1;
        definitions.push(format!(
            r##""level{level}":{{"allOf":[{{"$ref":"#/$defs/level{below}"}},{{"$ref":"#/$defs/level{below}"}}]}}"##
        ));
    }
    format!(
        r##"{{"$defs":{{{}}},"$ref":"#/$defs/level{depth}"}}"##,
        definitions.join(",")
    )
}

impl Guest for SchemaBomb {
    fn describe() -> StepInfo {
        StepInfo {
            name: "schema-bomb".to_string(),
            version: "0.1.0".to_string(),
            summary: "Declares a config schema that takes exponential time to evaluate.".to_string(),
            config_schema: schema(30),
        }
    }

    fn run(_input: StepInput) -> Result<StepOutput, StepError> {
        Ok(StepOutput {
            entries: Vec::new(),
            settlements: Vec::new(),
            messages: Vec::new(),
        })
    }
}

export!(SchemaBomb);
