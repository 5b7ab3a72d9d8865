//! The reconciliation operations of the ledger, one per `closebook reconcile` command: each
//! checks the caller's permission, then reads or writes in one transaction, refusing with
//! nothing written.

use super::proposals::write_clearing;
use super::*;

impl Ledger {
    /// The reconciliation of `scope`, for a reader of the entity.
    pub fn reconciliation(&mut self, scope: &ReconcileScope) -> Result<Reconciliation, LedgerError> {
        self.authorize(Permission::LedgerRead, Some(&scope.entity))?;
        self.read(|db| reconciliation(db, scope))
    }

    /// The reconciliations of the entity's period, for a reader of the entity.
    pub fn reconciliations(
        &mut self,
        entity: &EntityId,
        period: &PeriodName,
    ) -> Result<Vec<Reconciliation>, LedgerError> {
        self.authorize(Permission::LedgerRead, Some(entity))?;
        self.read(|db| reconciliations(db, entity, period))
    }

    /// The lines of the latest statement of `scope`.
    pub fn statement_lines(&mut self, scope: &ReconcileScope) -> Result<Vec<StatementLine>, LedgerError> {
        self.authorize(Permission::LedgerRead, Some(&scope.entity))?;
        self.read(|db| match db.independent_balances(scope)?.pop() {
            Some(balance) if balance.kind == IndependentKind::Statement => db.statement_lines(balance.id),
            _ => Ok(Vec::new()),
        })
    }

    /// Imports a bank statement for `scope` from CSV `content` named `source`, with its opening
    /// and closing balances. Refused, writing nothing, when a line is unreadable or dated
    /// outside the period, when opening plus the lines is not the closing balance, or when the
    /// opening balance is not the closing balance of the account's statement of the period
    /// before. The same file with the same balances again is a no-op; another replaces it.
    pub fn import_statement(
        &mut self,
        scope: &ReconcileScope,
        source: &str,
        content: &[u8],
        opening: Decimal,
        closing: Decimal,
    ) -> Result<StatementImport, LedgerError> {
        self.authorize(Permission::ClosePrepare, Some(&scope.entity))?;
        if content.len() > STATEMENT_BYTES_MAX {
            return Err(LedgerError::input(
                source,
                format!(
                    "the statement is {} bytes, over the limit of {STATEMENT_BYTES_MAX} (STATEMENT_BYTES_MAX): split it by period",
                    content.len()
                ),
            ));
        }
        let text = std::str::from_utf8(content)
            .map_err(|_| LedgerError::input(source, "the statement is not UTF-8 text: export it as CSV in UTF-8"))?;
        let sha256 = sha256_hex(content);
        let actor = self.actor().clone();
        self.store().write(|db| {
            let loader = Loader::new(db, &scope.entity)?;
            loader.require_changeable(scope)?;
            let target = loader.periods.named(&scope.period)?.clone();
            for (name, balance) in [("opening", opening), ("closing", closing)] {
                check_amount(balance, loader.minor_units, &loader.currency)
                    .map_err(|problem| LedgerError::input(source, format!("the {name} balance: {problem}")))?;
            }
            let lines = parse_statement(text, source, &target, loader.minor_units, &loader.currency)?;
            let mut sum = opening;
            for line in &lines {
                sum = sum.checked_add(line.amount).ok_or(LedgerError::Overflow)?;
            }
            if sum != closing {
                return Err(LedgerError::input(
                    source,
                    format!(
                        "opening balance {opening} plus the {} lines ({}) is {sum}, not the closing balance {closing}: check the balances given and that the file holds every line",
                        lines.len(),
                        sum.checked_sub(opening).ok_or(LedgerError::Overflow)?
                    ),
                ));
            }
            let previous = db.independent_balances(scope)?.pop();
            if let Some(latest) = &previous
                && latest.sha256.as_deref() == Some(sha256.as_str())
                && latest.opening == Some(opening)
                && latest.closing == closing
            {
                return Ok(StatementImport {
                    lines: lines.len(),
                    repeated: true,
                    replaced: None,
                });
            }
            // The statement of the period before, if the account has one, closes at this one's
            // opening balance: a gap means a statement or a line is missing.
            let mut earlier: Vec<(i64, PeriodName, IndependentBalance)> = Vec::new();
            for (period, balance) in db.latest_statements(&scope.entity, &scope.account, &scope.dimensions)? {
                if let Ok(found) = loader.periods.named(&period)
                    && found.ordinal < target.ordinal
                {
                    earlier.push((found.ordinal, period, balance));
                }
            }
            if let Some((_, period, balance)) = earlier.into_iter().max_by_key(|(ordinal, _, _)| *ordinal)
                && balance.closing != opening
            {
                return Err(LedgerError::input(
                    source,
                    format!(
                        "opening balance {opening} is not the closing balance {} of the account's {period} statement ({}): check the balance given, or import the statements in between first",
                        balance.closing, balance.source
                    ),
                ));
            }
            let id = db.insert_independent_balance(
                scope,
                &NewIndependentBalance {
                    kind: IndependentKind::Statement,
                    opening: Some(opening),
                    closing,
                    source,
                    sha256: Some(&sha256),
                    lines: &lines,
                },
                &actor,
            )?;
            db.append_audit(
                &actor,
                "reconcile.statement",
                Some(&scope.entity),
                &json!({ "scope": scope, "id": id, "source": source, "sha256": sha256, "opening": opening, "closing": closing, "lines": lines.len(), "replaces": previous.as_ref().map(|balance| balance.id) }),
            )?;
            record_withdrawal(db, &reconciliation(db, scope)?, &actor)?;
            Ok(StatementImport {
                lines: lines.len(),
                repeated: false,
                replaced: previous.map(|balance| balance.id),
            })
        })
    }

    /// Records a subledger figure for `scope`, with its source (the report it comes from).
    pub fn set_subledger_balance(
        &mut self,
        scope: &ReconcileScope,
        balance: Decimal,
        source: &str,
    ) -> Result<SubledgerEntry, LedgerError> {
        self.authorize(Permission::ClosePrepare, Some(&scope.entity))?;
        let source = source.trim();
        if source.is_empty() {
            return Err(refused(
                "a subledger figure needs its source: give --source \"receivables aging report of 31 Jan\"".to_owned(),
            ));
        }
        let actor = self.actor().clone();
        self.store().write(|db| {
            let loader = Loader::new(db, &scope.entity)?;
            loader.require_changeable(scope)?;
            check_amount(balance, loader.minor_units, &loader.currency).map_err(refused)?;
            let previous = db.independent_balances(scope)?.pop();
            // The same figure from the same source again changes nothing.
            if let Some(latest) = &previous
                && latest.kind == IndependentKind::Subledger
                && latest.closing == balance
                && latest.source == source
            {
                return Ok(SubledgerEntry::Unchanged);
            }
            let id = db.insert_independent_balance(
                scope,
                &NewIndependentBalance {
                    kind: IndependentKind::Subledger,
                    opening: None,
                    closing: balance,
                    source,
                    sha256: None,
                    lines: &[],
                },
                &actor,
            )?;
            db.append_audit(
                &actor,
                "reconcile.subledger",
                Some(&scope.entity),
                &json!({ "scope": scope, "id": id, "balance": balance, "source": source, "replaces": previous.as_ref().map(|balance| balance.id) }),
            )?;
            record_withdrawal(db, &reconciliation(db, scope)?, &actor)?;
            Ok(SubledgerEntry::Entered {
                replaced: previous.map(|balance| balance.id),
            })
        })
    }

    /// Adds a reconciling item opened in `scope`'s period; returns its id.
    pub fn add_reconciling_item(
        &mut self,
        scope: &ReconcileScope,
        amount: Decimal,
        explanation: &str,
        expected_clear: NaiveDate,
        reference: &str,
    ) -> Result<i64, LedgerError> {
        self.authorize(Permission::ClosePrepare, Some(&scope.entity))?;
        let explanation = explanation.trim();
        if explanation.is_empty() {
            return Err(refused(
                "a reconciling item needs an explanation: give --explanation \"outstanding cheque 402\"".to_owned(),
            ));
        }
        if amount.is_zero() {
            return Err(refused(
                "a reconciling item of 0 explains nothing: give its amount, negative for what reduces the independent balance (an outstanding cheque), positive for what adds to it (a deposit in transit)".to_owned(),
            ));
        }
        let actor = self.actor().clone();
        self.store().write(|db| {
            let loader = Loader::new(db, &scope.entity)?;
            loader.require_changeable(scope)?;
            check_amount(amount, loader.minor_units, &loader.currency).map_err(refused)?;
            let id = db.insert_reconciling_item(
                scope,
                &NewReconcilingItem {
                    amount,
                    explanation,
                    expected_clear,
                    reference: reference.trim(),
                    run_id: None,
                },
                &actor,
            )?;
            db.append_audit(
                &actor,
                "reconcile.item",
                Some(&scope.entity),
                &json!({ "scope": scope, "item": id, "amount": amount, "explanation": explanation, "expected_clear": expected_clear.to_string(), "reference": reference.trim() }),
            )?;
            record_withdrawal(db, &reconciliation(db, scope)?, &actor)?;
            Ok(id)
        })
    }

    /// Clears reconciling item `item` of the entity in `period`: it is open in the periods
    /// before, not from `period` on.
    pub fn clear_reconciling_item(
        &mut self,
        entity: &EntityId,
        item: i64,
        period: &PeriodName,
        note: &str,
    ) -> Result<ReconcileScope, LedgerError> {
        self.authorize(Permission::ClosePrepare, Some(entity))?;
        let actor = self.actor().clone();
        self.store().write(|db| {
            let scope = write_clearing(db, &Loader::new(db, entity)?, item, period, note, &actor, None)?;
            record_withdrawal(db, &reconciliation(db, &scope)?, &actor)?;
            Ok(scope)
        })
    }

    /// Attaches evidence file `file_name` with `content` to `scope`; returns its id and
    /// SHA-256. Refused over [`EVIDENCE_BYTES_MAX`] or when empty.
    pub fn attach_evidence(
        &mut self,
        scope: &ReconcileScope,
        file_name: &str,
        content: &[u8],
    ) -> Result<(i64, String), LedgerError> {
        self.authorize(Permission::ClosePrepare, Some(&scope.entity))?;
        if content.len() > EVIDENCE_BYTES_MAX {
            return Err(refused(format!(
                "evidence file {file_name} is {} bytes, over the limit of {EVIDENCE_BYTES_MAX} bytes (EVIDENCE_BYTES_MAX, 10 MiB): attach a smaller export, or split it",
                content.len()
            )));
        }
        if content.is_empty() {
            return Err(refused(format!(
                "evidence file {file_name} is empty: attach the file that supports the reconciliation"
            )));
        }
        let sha256 = sha256_hex(content);
        let actor = self.actor().clone();
        self.store().write(|db| {
            let id = db.insert_evidence(scope, file_name, &sha256, content, &actor)?;
            db.append_audit(
                &actor,
                "reconcile.evidence",
                Some(&scope.entity),
                &json!({ "scope": scope, "evidence": id, "file": file_name, "sha256": sha256, "bytes": content.len() }),
            )?;
            Ok((id, sha256.clone()))
        })
    }

    /// Evidence file `id` of the entity: its name and content, checked against its SHA-256.
    pub fn evidence_file(&mut self, entity: &EntityId, id: i64) -> Result<(String, Vec<u8>), LedgerError> {
        self.authorize(Permission::LedgerRead, Some(entity))?;
        let Some((name, sha256, content)) = self.read(|db| db.evidence_content(entity, id))? else {
            return Err(refused(format!(
                "entity {entity} has no evidence file {id}: `closebook reconcile show` lists a reconciliation's files with their ids"
            )));
        };
        if sha256_hex(&content) != sha256 {
            return Err(LedgerError::Damaged {
                detail: format!("evidence file {id} no longer has the SHA-256 it was stored with"),
            });
        }
        Ok((name, content))
    }

    /// The preparer signs off `scope`: refused without an independent balance, with an
    /// unexplained difference above the materiality, or when it is signed off already. With
    /// `expected` (the [`Reconciliation::fingerprint`] of the figures the preparer was shown),
    /// also refused when the figures are no longer those.
    pub fn prepare_reconciliation(
        &mut self,
        scope: &ReconcileScope,
        note: &str,
        expected: Option<&str>,
    ) -> Result<Reconciliation, LedgerError> {
        self.authorize(Permission::ClosePrepare, Some(&scope.entity))?;
        self.sign_reconciliation(scope, SignoffAction::Prepared, note, expected)
    }

    /// Another user reviews a prepared `scope`: refused when it is not prepared for its current
    /// figures, or when the reviewer prepared it or supplied its statement, figure or items.
    /// With `expected` (the [`Reconciliation::fingerprint`] of the figures the reviewer was
    /// shown), also refused when the figures are no longer those.
    pub fn review_reconciliation(
        &mut self,
        scope: &ReconcileScope,
        note: &str,
        expected: Option<&str>,
    ) -> Result<Reconciliation, LedgerError> {
        self.authorize(Permission::CloseReview, Some(&scope.entity))?;
        self.sign_reconciliation(scope, SignoffAction::Reviewed, note, expected)
    }

    fn sign_reconciliation(
        &mut self,
        scope: &ReconcileScope,
        action: SignoffAction,
        note: &str,
        expected: Option<&str>,
    ) -> Result<Reconciliation, LedgerError> {
        let actor = self.actor().clone();
        let note = note.trim();
        self.store().write(|db| {
            let current = reconciliation(db, scope)?;
            // Compared with what this transaction read and then signs, so an entry posted
            // after the signer was shown the figures can never be signed unseen. Checked before
            // the sign-off's own rules: figures that changed are the reason, whatever else the
            // new ones would refuse.
            if let Some(expected) = expected
                && expected != current.fingerprint
            {
                return Err(refused(format!(
                    "the figures of {} changed since the page was shown, so nothing was signed: reload the page, check the figures again and sign off what it shows",
                    scope.describe()
                )));
            }
            check_signoff(&current, action, &actor.user)?;
            record_withdrawal(db, &current, &actor)?;
            db.insert_reconciliation_signoff(scope, &signoff(db, &current, action, &actor, note)?)?;
            db.append_audit(
                &actor,
                match action {
                    SignoffAction::Prepared => "reconcile.prepare",
                    _ => "reconcile.review",
                },
                Some(&scope.entity),
                &json!({ "scope": scope, "gl_balance": current.gl_balance, "independent": current.independent.as_ref().map(|balance| balance.closing), "items": current.items_total, "unexplained": current.unexplained, "note": note }),
            )?;
            reconciliation(db, scope)
        })
    }

    /// Refused unless each of `accounts` of the entity is reviewed for the period's current
    /// figures: what the close step `builtin:reconcile` checks.
    pub fn require_reconciled(
        &mut self,
        entity: &EntityId,
        period: &PeriodName,
        accounts: &[AccountNumber],
    ) -> Result<Vec<Reconciliation>, LedgerError> {
        self.authorize(Permission::LedgerRead, Some(entity))?;
        // A check only: it writes nothing, not even a withdrawal it finds (the next change to
        // that reconciliation records it).
        let reconciliations = self.read(|db| {
            let mut loader = Loader::new(db, entity)?;
            let mut found = Vec::with_capacity(accounts.len());
            for account in accounts {
                let scope = loader.scope(db, account, &[], period)?;
                found.push(loader.load(db, &scope)?);
            }
            Ok(found)
        })?;
        let waiting: Vec<String> = reconciliations
            .iter()
            .filter(|reconciliation| !reconciliation.is_reviewed())
            .map(|reconciliation| {
                format!(
                    "{} is {}",
                    reconciliation.scope.account,
                    reconciliation.status.describe()
                )
            })
            .collect();
        if !waiting.is_empty() {
            return Err(refused(format!(
                "{} of {} accounts of {entity} are not reviewed for {period}: {}; prepare with `closebook reconcile prepare`, then another user reviews with `closebook reconcile review`, and run the close again",
                waiting.len(),
                reconciliations.len(),
                waiting.join("; ")
            )));
        }
        Ok(reconciliations)
    }
}

/// Refuses `action` on `current` by `user`, naming why and what to do.
fn check_signoff(current: &Reconciliation, action: SignoffAction, user: &UserId) -> Result<(), LedgerError> {
    let scope = &current.scope;
    let what = scope.describe();
    let entity = &scope.entity;
    let mut flags = format!(
        "--entity {entity} --account {} --period {}",
        scope.account, scope.period
    );
    for (name, value) in dimension::parse_canonical(&scope.dimensions) {
        flags.push_str(&format!(" --dimension {name}={value}"));
    }
    let Some(unexplained) = current.unexplained else {
        return Err(refused(format!(
            "{what} has no independent balance to reconcile with: import the bank statement (`closebook reconcile import-statement {flags} FILE`) or enter the subledger figure (`closebook reconcile subledger {flags} --balance AMOUNT --source TEXT`)"
        )));
    };
    if current.material() == Some(true) {
        return Err(refused(format!(
            "{what} has an unexplained difference of {} (GL {} − independent {} − reconciling items {}), above its materiality of {}: add reconciling items that explain it (`closebook reconcile item add {flags} --amount … --explanation … --expected-clear …`) or correct the ledger; nothing was signed",
            current.money(unexplained),
            current.money(current.gl_balance),
            current.money(
                current
                    .independent
                    .as_ref()
                    .map_or(Decimal::ZERO, |balance| balance.closing)
            ),
            current.money(current.items_total),
            current.materiality_text()
        )));
    }
    match (action, &current.status) {
        (SignoffAction::Prepared, ReconcileStatus::Unreconciled { .. }) => Ok(()),
        (SignoffAction::Prepared, status) => Err(refused(format!(
            "{what} is {} already: nothing to prepare",
            status.describe()
        ))),
        (SignoffAction::Reviewed, ReconcileStatus::Prepared { by, .. }) => {
            if by == user {
                return Err(refused(format!(
                    "{user} prepared {what}: another user with close.review must review it"
                )));
            }
            if let Some(balance) = &current.independent
                && &balance.created_by == user
            {
                return Err(refused(format!(
                    "{user} entered the {} balance of {what}: another user with close.review must review it",
                    balance.kind.as_str()
                )));
            }
            if let Some(item) = current.items.iter().find(|item| &item.created_by == user) {
                return Err(refused(format!(
                    "{user} added reconciling item {} of {what}: another user with close.review must review it",
                    item.id
                )));
            }
            if let Some(item) = current
                .cleared
                .iter()
                .find(|item| item.cleared.as_ref().is_some_and(|cleared| &cleared.by == user))
            {
                return Err(refused(format!(
                    "{user} cleared reconciling item {} of {what} in {}: another user with close.review must review it",
                    item.id, scope.period
                )));
            }
            Ok(())
        }
        (SignoffAction::Reviewed, ReconcileStatus::Reviewed { by, .. }) => Err(refused(format!(
            "{what} is reviewed by {by} already: nothing to review"
        ))),
        (SignoffAction::Reviewed, status) => Err(refused(format!(
            "{what} is {}: only a prepared reconciliation is reviewed; its preparer signs it off with `closebook reconcile prepare {flags}`",
            status.describe()
        ))),
        (SignoffAction::Withdrawn, _) => Ok(()),
    }
}
