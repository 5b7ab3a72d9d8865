//! The canonical text of a dimension set: `name=value` pairs sorted by name and joined with
//! `;`, e.g. `cost-center=CC7;department=100`. The ledger keys balances and dimension sets by
//! it and orders rows by it; the SDK's test harness and the standard steps order buckets the
//! same way, so a step's output matches the host's order.

/// Separates the pairs of a set.
pub const PAIR_SEPARATOR: char = ';';

/// Separates a dimension's name from its value.
pub const NAME_VALUE_SEPARATOR: char = '=';

/// The canonical text of `pairs` (name, value), which must already be sorted by name, as a
/// `BTreeMap` iterates; [`canonical_text_of_unsorted`] sorts first. The ledger keeps one value
/// per name; pairs that repeat a name are all written.
pub fn canonical_text<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut text = String::new();
    let mut previous_name: Option<&str> = None;
    for (name, value) in pairs {
        debug_assert!(
            previous_name.is_none_or(|previous| previous <= name),
            "dimension names must be sorted: {previous_name:?} before {name:?}"
        );
        previous_name = Some(name);
        if !text.is_empty() {
            text.push(PAIR_SEPARATOR);
        }
        text.push_str(name);
        text.push(NAME_VALUE_SEPARATOR);
        text.push_str(value);
    }
    text
}

/// The canonical text of `pairs` in any order.
pub fn canonical_text_of_unsorted<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
    pairs.sort_unstable();
    canonical_text(pairs)
}

/// The (name, value) pairs of a canonical text, in its order; the inverse of [`canonical_text`].
/// A piece without a separator is skipped.
pub fn parse_canonical_text(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split(PAIR_SEPARATOR)
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| pair.split_once(NAME_VALUE_SEPARATOR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_sorted_by_name_and_round_trip() {
        // Any input order gives one text, and parsing it gives the pairs back in name order.
        let text = canonical_text_of_unsorted([("department", "100"), ("cost-center", "CC7")]);
        assert_eq!(text, "cost-center=CC7;department=100");
        assert_eq!(
            parse_canonical_text(&text).collect::<Vec<_>>(),
            [("cost-center", "CC7"), ("department", "100")]
        );
        assert_eq!(canonical_text([("cost-center", "CC7"), ("department", "100")]), text);
    }

    #[test]
    fn the_empty_set_is_the_empty_text() {
        assert_eq!(canonical_text([]), "");
        assert_eq!(parse_canonical_text("").count(), 0);
    }
}
