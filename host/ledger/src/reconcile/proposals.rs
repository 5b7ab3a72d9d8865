//! What close steps propose for reconciliations (interface 0.2): reconciling items and the
//! clearing of open ones, checked with the rules of `closebook reconcile item add|clear` and
//! recorded with the run that proposed them, each entity's chart and calendar read once a batch.

use super::*;

/// The checks of what close steps propose for reconciliations, each entity's chart, calendar
/// and period statuses read once however many items and clearings a batch holds.
#[derive(Default)]
pub struct ProposalChecks {
    loaders: BTreeMap<EntityId, Loader>,
}

impl ProposalChecks {
    fn loader(&mut self, db: &Db<'_>, entity: &EntityId) -> Result<&Loader, LedgerError> {
        if !self.loaders.contains_key(entity) {
            self.loaders.insert(entity.clone(), Loader::new(db, entity)?);
        }
        Ok(&self.loaders[entity])
    }

    /// Checks that reconciling item `item` of the entity may clear in `period` (the rules of
    /// `closebook reconcile item clear`) without writing: returns the reconciliation it clears
    /// in.
    pub(crate) fn clearing(
        &mut self,
        db: &Db<'_>,
        entity: &EntityId,
        item: i64,
        period: &PeriodName,
    ) -> Result<ReconcileScope, LedgerError> {
        check_clearing(db, self.loader(db, entity)?, item, period)
    }

    /// Clears item `item` of the entity in `period` for a close step's run, as
    /// [`ProposalChecks::clearing`] checks it. The caller records the withdrawals, once per
    /// reconciliation ([`record_withdrawals`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn clear(
        &mut self,
        db: &Db<'_>,
        entity: &EntityId,
        item: i64,
        period: &PeriodName,
        note: &str,
        actor: &Actor,
        run_id: &str,
    ) -> Result<ReconcileScope, LedgerError> {
        write_clearing(db, self.loader(db, entity)?, item, period, note, actor, Some(run_id))
    }

    /// Checks reconciling item `proposal` a close step proposed, held to the rules of
    /// `closebook reconcile item add`, without writing.
    pub(crate) fn item(
        &mut self,
        db: &Db<'_>,
        proposal: &crate::proposal::ProposedReconcilingItem,
    ) -> Result<CheckedItem, LedgerError> {
        check_proposed_item(db, self.loader(db, &EntityId::new(proposal.entity.clone()))?, proposal)
    }
}

fn check_clearing(db: &Db<'_>, loader: &Loader, item: i64, period: &PeriodName) -> Result<ReconcileScope, LedgerError> {
    let entity = &loader.entity;
    let clearing = loader.periods.named(period)?.ordinal;
    let Some((account, found)) = db.reconciling_item(entity, item)? else {
        return Err(refused(format!(
            "entity {entity} has no reconciling item {item}: `closebook reconcile show` lists an account's items with their ids"
        )));
    };
    if let Some(cleared) = &found.cleared {
        return Err(refused(format!(
            "reconciling item {item} cleared in {} already ({} by {})",
            cleared.period, cleared.at, cleared.by
        )));
    }
    let scope = ReconcileScope {
        entity: entity.clone(),
        account,
        dimensions: found.dimensions.clone(),
        period: period.clone(),
    };
    loader.require_changeable(&scope)?;
    if clearing < loader.ordinal(&found.period)? {
        return Err(refused(format!(
            "reconciling item {item} was opened in {}, so it cannot clear in the earlier period {period}",
            found.period
        )));
    }
    Ok(scope)
}

/// Clears reconciling item `item` of the loader's entity in `period`, in the caller's
/// transaction: the rules of `closebook reconcile item clear`, for a person and a close step
/// alike (`run_id` names the step's run in the audit trail). Returns the reconciliation it
/// cleared in, whose sign-off the caller checks for a withdrawal.
pub(super) fn write_clearing(
    db: &Db<'_>,
    loader: &Loader,
    item: i64,
    period: &PeriodName,
    note: &str,
    actor: &Actor,
    run_id: Option<&str>,
) -> Result<ReconcileScope, LedgerError> {
    let scope = check_clearing(db, loader, item, period)?;
    db.insert_item_clearing(item, period, note.trim(), actor)?;
    db.append_audit(
        actor,
        "reconcile.clear",
        Some(&scope.entity),
        &json!({ "item": item, "account": scope.account, "period": period, "note": note.trim(), "run_id": run_id }),
    )?;
    Ok(scope)
}

/// Records the withdrawal of each of `scopes`' sign-offs its figures no longer support. A
/// clearing changes the items of its period and every later one; the period it clears in is
/// the one a sign-off is withdrawn for here (later ones show it on read).
pub(crate) fn record_withdrawals(
    db: &Db<'_>,
    scopes: &std::collections::BTreeSet<ReconcileScope>,
    actor: &Actor,
) -> Result<(), LedgerError> {
    for scope in scopes {
        record_withdrawal(db, &reconciliation(db, scope)?, actor)?;
    }
    Ok(())
}

/// A reconciling item a close step proposed, checked: what `closebook reconcile item add`
/// would record.
pub struct CheckedItem {
    pub(crate) scope: ReconcileScope,
    amount: Decimal,
    explanation: String,
    expected_clear: NaiveDate,
    reference: String,
}

fn check_proposed_item(
    db: &Db<'_>,
    loader: &Loader,
    proposal: &crate::proposal::ProposedReconcilingItem,
) -> Result<CheckedItem, LedgerError> {
    let dimensions: Vec<String> = proposal
        .dimensions
        .iter()
        .map(crate::proposal::Dimension::pair)
        .collect();
    let scope = loader.scope(
        db,
        &AccountNumber::new(proposal.account.clone()),
        &dimensions,
        &PeriodName::new(proposal.period.clone()),
    )?;
    loader.require_changeable(&scope)?;
    let amount = crate::money::parse_decimal(&proposal.amount).map_err(|error| refused(error.to_string()))?;
    check_amount(amount, loader.minor_units, &loader.currency).map_err(refused)?;
    if amount.is_zero() {
        return Err(refused("a reconciling item of 0 explains nothing".to_owned()));
    }
    let explanation = proposal.explanation.trim();
    if explanation.is_empty() {
        return Err(refused("a reconciling item needs an explanation".to_owned()));
    }
    let expected_clear = NaiveDate::parse_from_str(&proposal.expected_clear, "%Y-%m-%d").map_err(|_| {
        refused(format!(
            "expected clearing date `{}` is not a date like 2026-02-05",
            proposal.expected_clear
        ))
    })?;
    Ok(CheckedItem {
        scope,
        amount,
        explanation: explanation.to_owned(),
        expected_clear,
        reference: proposal.reference.trim().to_owned(),
    })
}

/// Records checked items a close step proposed in run `run_id`, in the caller's transaction:
/// each reconciliation is read once, an item already open in its period with the same amount,
/// reference and explanation (a rerun proposing it again, or the same item twice) is recorded
/// once, and each reconciliation gets one audit record. Returns the ids written and the
/// reconciliations they changed, whose sign-offs the caller checks ([`record_withdrawals`]).
pub(crate) fn record_proposed_items(
    db: &Db<'_>,
    items: Vec<CheckedItem>,
    actor: &Actor,
    run_id: &str,
) -> Result<(Vec<i64>, Vec<ReconcileScope>), LedgerError> {
    let mut by_scope: BTreeMap<ReconcileScope, Vec<CheckedItem>> = BTreeMap::new();
    for item in items {
        by_scope.entry(item.scope.clone()).or_default().push(item);
    }
    let mut ids = Vec::new();
    let mut changed = Vec::new();
    for (scope, items) in by_scope {
        let current = reconciliation(db, &scope)?;
        let mut known: std::collections::BTreeSet<(Decimal, String, String)> = current
            .items
            .iter()
            .chain(&current.cleared)
            .filter(|open| open.period == scope.period)
            .map(|open| {
                (
                    open.amount.normalize(),
                    open.reference.clone(),
                    open.explanation.clone(),
                )
            })
            .collect();
        let mut written = Vec::new();
        for item in items {
            if !known.insert((
                item.amount.normalize(),
                item.reference.clone(),
                item.explanation.clone(),
            )) {
                continue;
            }
            written.push(db.insert_reconciling_item(
                &scope,
                &NewReconcilingItem {
                    amount: item.amount,
                    explanation: &item.explanation,
                    expected_clear: item.expected_clear,
                    reference: &item.reference,
                    run_id: Some(run_id),
                },
                actor,
            )?);
        }
        if written.is_empty() {
            continue;
        }
        db.append_audit(
            actor,
            "reconcile.item",
            Some(&scope.entity),
            &json!({ "scope": scope, "items": written, "run_id": run_id }),
        )?;
        ids.extend(written);
        changed.push(scope);
    }
    Ok((ids, changed))
}
