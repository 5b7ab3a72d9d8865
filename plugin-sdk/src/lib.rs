//! The closebook plugin SDK: write a period-end close step in Rust as one [`CloseStep`]
//! implementation, register it with [`export_step!`], build it for `wasm32-wasip2`, and
//! unit-test it natively against [`testing::TestLedger`]. Steps see Rust types
//! ([`rust_decimal::Decimal`] for money, [`chrono::NaiveDate`] for dates, newtypes for ids);
//! the WIT contract (`closebook:plugin@0.2.0`, world `close-step`) and its text encodings stay
//! behind the boundary in a private module.
//!
//! ```
//! use closebook_plugin_sdk::{
//!     AccountFilter, BalanceQuery, CloseStep, JournalBuilder, Ledger, StepError, StepInfo,
//!     StepInput, StepOutput,
//! };
//!
//! /// Moves the period's balance of account 1999 (suspense) to 6999 (other expenses).
//! struct ClearSuspense;
//!
//! impl CloseStep for ClearSuspense {
//!     fn describe() -> StepInfo {
//!         StepInfo::new("clear-suspense", "0.1.0", "Clears the suspense account.")
//!     }
//!
//!     fn run(input: StepInput, ledger: &dyn Ledger) -> Result<StepOutput, StepError> {
//!         input.require_post_access()?;
//!         let query = BalanceQuery::new(input.entity.clone(), input.period.name.clone(),
//!             input.period.name.clone())
//!             .accounts(AccountFilter::List(vec!["1999".into()]));
//!         let mut output = StepOutput::new();
//!         for row in ledger.balances(&query)? {
//!             if row.accounting_amount.is_zero() {
//!                 continue;
//!             }
//!             let entry = JournalBuilder::new(input.entity.clone(), input.period.end,
//!                 "Clear suspense")
//!                 .credit("1999", row.accounting_amount)
//!                 .debit("6999", row.accounting_amount)
//!                 .build()?;
//!             output.push_entry(entry);
//!         }
//!         Ok(output)
//!     }
//! }
//!
//! closebook_plugin_sdk::export_step!(ClearSuspense);
//! ```

#![warn(missing_docs)]

mod guest;
mod ids;
mod journal;
mod ledger;
mod money;
mod paging;
mod reconcile;
mod step;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wire;

pub use chrono;
pub use rust_decimal;
pub use serde_json;

pub use ids::{AccountNumber, CurrencyCode, EntityId, EntryId, LineId, PeriodName, SettlementId};
pub use journal::{ENTRY_LINES_MIN, JournalBuilder, JournalError, ProposedEntry, ProposedLine, ProposedSettlement};
pub use ledger::{
    AccountFilter, AccountInfo, AccountType, BalanceQuery, BalanceRow, CurrencyInfo, Dimension, DimensionInfo,
    EntityInfo, LINE_PAGE_SIZE_DEFAULT, Ledger, LinePage, LineQuery, PeriodInfo, PeriodKind, PeriodStatus, PostedLine,
    QueryError, canonical_dimensions,
};
pub use money::{MINOR_UNITS_MAX, Remainder, SplitError, round_to_minor_units, split_by_weights};
pub use paging::{LINE_PAGES_MAX, Lines};
pub use reconcile::{Clearing, Finding, OpenItem, ReconcilingItem, Statement, StatementLine, StatementQuery};
pub use step::{CloseStep, EntityAccess, Level, Message, StepError, StepInfo, StepInput, StepOutput};

/// What [`export_step!`] expands to reach. Not part of the SDK's API: it may change in any
/// release.
#[doc(hidden)]
pub mod __private {
    pub use crate::guest::bindings;
}

/// Registers a [`CloseStep`] as the plugin's `describe` and `run` exports. Call it once, at the
/// top level of the plugin crate, with the step's type:
///
/// ```ignore
/// closebook_plugin_sdk::export_step!(ManagementFee);
/// ```
///
/// The exports are emitted only when compiling for `wasm32`; natively the macro just checks
/// that the type implements [`CloseStep`], so the same crate builds for unit tests.
#[macro_export]
macro_rules! export_step {
    ($step:ty) => {
        const _: () = {
            fn closebook_step_must_implement_close_step<Step: $crate::CloseStep>() {}
            let _ = closebook_step_must_implement_close_step::<$step>;
        };

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type ClosebookExportedStep = $step;
            $crate::__private::bindings::export!(
                ClosebookExportedStep with_types_in $crate::__private::bindings
            );
        };
    };
}
