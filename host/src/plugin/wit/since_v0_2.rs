//! Version 0.2.0 of the `closebook:plugin` interface (`plugin-sdk/wit/v0.2/`): everything of 0.1
//! (expanded from `shared.rs`), plus the `ledger.statement` query, proposed reconciling items
//! and findings. Nothing outside `wit/` names a type of this module.

use wasmtime::component::{HasData, InstancePre, Linker};
use wasmtime::{Engine, Store};

use self::closebook::plugin::types as wit;
use self::closebook::plugin::{ledger, log};
use crate::plugin::ledger::LedgerGate;
use crate::plugin::runtime::RunState;
use crate::plugin::step_log::SharedStepLog;
use crate::plugin::types;

// Every import is `trappable`, as in 0.1.
wasmtime::component::bindgen!({
    path: "../plugin-sdk/wit/v0.2",
    world: "close-step",
    imports: { default: trappable },
});

/// The interface version these bindings are for, as a component names it in its imports.
pub(super) const INTERFACE_VERSION: &str = "0.2.0";

close_step_glue!();

impl ledger::Host for LedgerGate {
    ledger_queries_since_v0_1!();

    fn statement(
        &mut self,
        query: wit::StatementQuery,
    ) -> wasmtime::Result<Result<Option<wit::BankStatement>, wit::QueryError>> {
        let query = types::StatementQuery {
            entity: query.entity,
            account: query.account,
            period: query.period,
            dimensions: list(query.dimensions),
        };
        Ok(LedgerGate::statement(self, query)?
            .map(|statement| statement.map(Into::into))
            .map_err(Into::into))
    }

    fn reconciling_items(
        &mut self,
        query: wit::StatementQuery,
    ) -> wasmtime::Result<Result<Vec<wit::OpenItem>, wit::QueryError>> {
        let query = types::StatementQuery {
            entity: query.entity,
            account: query.account,
            period: query.period,
            dimensions: list(query.dimensions),
        };
        Ok(LedgerGate::reconciling_items(self, query)?
            .map(list)
            .map_err(Into::into))
    }
}

conversions_since_v0_1!();

// What 0.2 adds.

impl From<wit::StepOutput> for types::StepOutput {
    fn from(output: wit::StepOutput) -> Self {
        Self {
            entries: list(output.entries),
            settlements: list(output.settlements),
            messages: list(output.messages),
            reconciling_items: list(output.reconciling_items),
            cleared_items: list(output.cleared_items),
            findings: list(output.findings),
        }
    }
}

impl From<wit::ProposedReconcilingItem> for types::ProposedReconcilingItem {
    fn from(item: wit::ProposedReconcilingItem) -> Self {
        Self {
            entity: item.entity,
            account: item.account,
            dimensions: list(item.dimensions),
            period: item.period,
            amount: item.amount,
            explanation: item.explanation,
            expected_clear: item.expected_clear,
            reference: item.reference,
        }
    }
}

impl From<wit::ProposedClearing> for types::ProposedClearing {
    fn from(clearing: wit::ProposedClearing) -> Self {
        Self {
            entity: clearing.entity,
            item_id: clearing.item_id,
            period: clearing.period,
            note: clearing.note,
        }
    }
}

impl From<types::OpenItemInfo> for wit::OpenItem {
    fn from(item: types::OpenItemInfo) -> Self {
        Self {
            id: item.id,
            period: item.period,
            cleared: item.cleared,
            amount: item.amount,
            explanation: item.explanation,
            expected_clear: item.expected_clear,
            reference: item.reference,
        }
    }
}

impl From<wit::Finding> for types::Finding {
    fn from(finding: wit::Finding) -> Self {
        Self {
            entity: finding.entity,
            account: finding.account,
            dimensions: list(finding.dimensions),
            measure: finding.measure,
            current: finding.current,
            baseline: finding.baseline,
            threshold: finding.threshold,
            explanation_required: finding.explanation_required,
            message: finding.message,
        }
    }
}

impl From<types::StatementInfo> for wit::BankStatement {
    fn from(statement: types::StatementInfo) -> Self {
        Self {
            source: statement.source,
            opening: statement.opening,
            closing: statement.closing,
            lines: list(statement.lines),
        }
    }
}

impl From<types::StatementLineInfo> for wit::StatementLine {
    fn from(line: types::StatementLineInfo) -> Self {
        Self {
            line_no: line.line_no,
            date: line.date,
            amount: line.amount,
            reference: line.reference,
            description: line.description,
        }
    }
}
