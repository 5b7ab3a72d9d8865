//! Financial dimensions (department, cost center…) and dimension sets. A line's dimensions are
//! kept as one canonical text, `cost-center=CC7;department=100` (names sorted), so that balances
//! can be keyed by it and two equal sets are always spelled the same way.

use std::collections::BTreeMap;

/// The dimension values of one line, by dimension name.
pub type DimensionValues = BTreeMap<String, String>;

/// Characters that would make the canonical text ambiguous.
const RESERVED_CHARACTERS: [char; 3] = ['=', ';', '\n'];

/// Whether a dimension name or value can be stored in a canonical set.
pub fn is_valid_dimension_text(text: &str) -> bool {
    !text.is_empty() && text.trim() == text && !text.contains(RESERVED_CHARACTERS)
}

/// `{department: 100, cost-center: CC7}` -> `cost-center=CC7;department=100` (the text is the
/// `closebook-wire` crate's, shared with the plugin SDK).
pub fn canonical(values: &DimensionValues) -> String {
    closebook_wire::dimension::canonical_text(values.iter().map(|(name, value)| (name.as_str(), value.as_str())))
}

/// The inverse of `canonical`.
pub fn parse_canonical(text: &str) -> DimensionValues {
    closebook_wire::dimension::parse_canonical_text(text)
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// Keeps only the named dimensions (all of them for `*`).
pub fn project(values: &DimensionValues, keep: &[String]) -> DimensionValues {
    if keep.iter().any(|name| name == "*") {
        return values.clone();
    }
    values
        .iter()
        .filter(|(name, _)| keep.contains(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_is_sorted_and_round_trips() {
        let values: DimensionValues = [
            ("department".to_owned(), "100".to_owned()),
            ("cost-center".to_owned(), "CC7".to_owned()),
        ]
        .into();
        let text = canonical(&values);
        assert_eq!(text, "cost-center=CC7;department=100");
        assert_eq!(parse_canonical(&text), values);
        assert_eq!(canonical(&DimensionValues::new()), "");
        assert!(parse_canonical("").is_empty());
    }

    #[test]
    fn projection_keeps_named_dimensions() {
        let values = parse_canonical("cost-center=CC7;department=100");
        assert_eq!(
            canonical(&project(&values, &["department".to_owned()])),
            "department=100"
        );
        assert_eq!(project(&values, &["*".to_owned()]), values);
        assert!(project(&values, &[]).is_empty());
    }

    #[test]
    fn reserved_characters_are_refused() {
        assert!(is_valid_dimension_text("CC7"));
        assert!(!is_valid_dimension_text("a=b"));
        assert!(!is_valid_dimension_text("a;b"));
        assert!(!is_valid_dimension_text(" 100"));
        assert!(!is_valid_dimension_text(""));
    }
}
