//! The text forms that the closebook host and the plugin SDK must agree on, owned once: the
//! decimal grammar `-?[0-9]+(\.[0-9]+)?` with its digit limits ([`decimal`]), and the canonical
//! text of a dimension set ([`dimension`]). The host's ledger and the SDK word their own error
//! messages (their audiences differ); the rules are here.
//!
//! It depends on nothing but `rust_decimal`: the SDK is compiled to `wasm32-wasip2` and must
//! stay small, and the host must not depend on the SDK's WIT bindings.

pub mod decimal;
pub mod dimension;

pub use decimal::{
    DECIMAL_PATTERN, DECIMAL_SCALE_MAX, DECIMAL_SIGNIFICANT_DIGITS_MAX, DecimalTextError, parse_decimal,
};
