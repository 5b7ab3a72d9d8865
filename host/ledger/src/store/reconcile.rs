//! Account reconciliations: the accounts an entity reconciles and their materiality, the
//! independent balances (bank statements with their lines, subledger figures), reconciling
//! items and their clearing, evidence files, and the append-only history of preparation,
//! review and withdrawal. The rules are configuration; everything else is append-only.

use super::Db;
use super::row::{Fields, all, first};
use super::sql::{Arg, Row, args};
use crate::access::Actor;
use crate::error::LedgerError;
use crate::ids::{AccountNumber, EntityId, PeriodName, UserId};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

/// What a reconciliation is of: an account of an entity, optionally only its lines carrying
/// some dimension values (`dimensions`, canonical text, empty for all), in one period.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ReconcileScope {
    pub entity: EntityId,
    pub account: AccountNumber,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dimensions: String,
    pub period: PeriodName,
}

impl ReconcileScope {
    /// "account 1000 of ACME-US for 2026-01", with its dimension values when it has some.
    pub fn describe(&self) -> String {
        let dimensions = if self.dimensions.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.dimensions)
        };
        format!(
            "account {}{dimensions} of {} for {}",
            self.account, self.entity, self.period
        )
    }
}

/// `[[reconciliation]]`: an account the entity reconciles, and above what an unexplained
/// difference blocks its sign-off: `materiality` (an amount) and/or `materiality_percent` (of
/// the GL balance's magnitude). Without either, any unexplained difference blocks it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReconciliationRule {
    pub account: AccountNumber,
    pub materiality: Option<Decimal>,
    pub materiality_percent: Option<Decimal>,
}

/// Where an independent balance comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IndependentKind {
    /// A bank statement imported with its lines.
    Statement,
    /// A subledger figure entered with its source.
    Subledger,
}

impl IndependentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IndependentKind::Statement => "statement",
            IndependentKind::Subledger => "subledger",
        }
    }
}

/// The balance a reconciliation compares the GL with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IndependentBalance {
    pub id: i64,
    pub kind: IndependentKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opening: Option<Decimal>,
    pub closing: Decimal,
    /// The statement's file name, or the subledger figure's source as entered.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub created_by: UserId,
    pub created_at: String,
}

/// One line of an imported bank statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatementLine {
    pub line_no: i64,
    pub date: NaiveDate,
    pub amount: Decimal,
    pub reference: String,
    pub description: String,
}

/// A reconciling item: an amount that explains part of the difference between the GL and the
/// independent balance (an outstanding cheque, a deposit in transit), added to the independent
/// balance. Open from its period on until cleared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReconcilingItem {
    pub id: i64,
    pub dimensions: String,
    /// The period it was opened in.
    pub period: PeriodName,
    pub amount: Decimal,
    pub explanation: String,
    pub expected_clear: NaiveDate,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reference: String,
    pub created_by: UserId,
    pub created_at: String,
    /// The close step run that proposed it, when a step did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleared: Option<ItemClearing>,
}

/// When and by whom a reconciling item was cleared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemClearing {
    pub period: PeriodName,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub by: UserId,
    pub at: String,
}

/// An evidence file attached to a reconciliation (its content is read on its own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub id: i64,
    pub file_name: String,
    pub sha256: String,
    pub bytes: i64,
    pub added_by: UserId,
    pub added_at: String,
}

/// A step in a reconciliation's sign-off history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignoffAction {
    Prepared,
    Reviewed,
    /// The sign-off was withdrawn because what it signed changed.
    Withdrawn,
}

impl SignoffAction {
    pub fn as_str(self) -> &'static str {
        match self {
            SignoffAction::Prepared => "prepared",
            SignoffAction::Reviewed => "reviewed",
            SignoffAction::Withdrawn => "withdrawn",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            SignoffAction::Prepared,
            SignoffAction::Reviewed,
            SignoffAction::Withdrawn,
        ]
        .into_iter()
        .find(|action| action.as_str() == text)
    }
}

/// One sign-off step, with the figures it was taken on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReconciliationSignoff {
    pub action: SignoffAction,
    pub user: UserId,
    /// How the user's identity was proven (`declared` is unverified).
    pub identity: String,
    pub at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub gl_balance: Decimal,
    pub independent: Option<Decimal>,
    pub items: Decimal,
    pub unexplained: Option<Decimal>,
    /// The SHA-256 of what was signed: GL balance, independent balance and open items.
    pub fingerprint: String,
    /// The entity's ledger sequence when it was taken: later entries are what changed.
    pub sequence: i64,
}

/// A new independent balance, with its statement lines when it is a statement.
pub struct NewIndependentBalance<'a> {
    pub kind: IndependentKind,
    pub opening: Option<Decimal>,
    pub closing: Decimal,
    pub source: &'a str,
    pub sha256: Option<&'a str>,
    pub lines: &'a [StatementLine],
}

/// A new reconciling item.
pub struct NewReconcilingItem<'a> {
    pub amount: Decimal,
    pub explanation: &'a str,
    pub expected_clear: NaiveDate,
    pub reference: &'a str,
    /// The close step run proposing it, if a step does.
    pub run_id: Option<&'a str>,
}

const BALANCE_COLUMNS: &str = "id, kind, opening, closing, source, sha256, created_by, created_at";

fn read_balance(row: &Row<'_>) -> Result<IndependentBalance, LedgerError> {
    let fields = Fields::new(row, "reconciliation_balances", &["id"]);
    Ok(IndependentBalance {
        id: fields.integer("id")?,
        kind: fields.parsed("kind", "statement or subledger", |text| match text {
            "statement" => Some(IndependentKind::Statement),
            "subledger" => Some(IndependentKind::Subledger),
            _ => None,
        })?,
        opening: fields.optional_decimal("opening")?,
        closing: fields.decimal("closing")?,
        source: fields.text("source")?,
        sha256: fields.optional_text("sha256")?,
        created_by: UserId::new(fields.text("created_by")?),
        created_at: fields.text("created_at")?,
    })
}

const ITEM_COLUMNS: &str = "i.id, i.account, i.dimensions, i.period, i.amount, i.explanation, i.expected_clear, i.reference, i.created_by, i.created_at, i.run_id,
     c.period AS cleared_period, c.note AS cleared_note, c.cleared_by, c.cleared_at";

/// The parameters `?1` to `?4` of a query of one reconciliation: entity, account, dimensions and
/// period.
fn scope_key(scope: &ReconcileScope) -> [&dyn Arg; 4] {
    [&scope.entity.0, &scope.account.0, &scope.dimensions, &scope.period.0]
}

/// A reconciling item row of [`ITEM_COLUMNS`], with its account.
fn read_item(row: &Row<'_>) -> Result<(AccountNumber, ReconcilingItem), LedgerError> {
    let fields = Fields::new(row, "reconciling_items", &["id"]);
    let cleared = match fields.optional_text("cleared_period")? {
        Some(period) => Some(ItemClearing {
            period: PeriodName(period),
            note: fields.text("cleared_note")?,
            by: UserId::new(fields.text("cleared_by")?),
            at: fields.text("cleared_at")?,
        }),
        None => None,
    };
    Ok((
        AccountNumber::new(fields.text("account")?),
        ReconcilingItem {
            id: fields.integer("id")?,
            dimensions: fields.text("dimensions")?,
            period: PeriodName(fields.text("period")?),
            amount: fields.decimal("amount")?,
            explanation: fields.text("explanation")?,
            expected_clear: fields.date("expected_clear")?,
            reference: fields.text("reference")?,
            created_by: UserId::new(fields.text("created_by")?),
            created_at: fields.text("created_at")?,
            run_id: fields.optional_text("run_id")?,
            cleared,
        },
    ))
}

impl Db<'_> {
    /// Replaces the entity's reconciliation rules.
    pub fn replace_reconciliation_rules(
        &self,
        entity: &EntityId,
        rules: &[ReconciliationRule],
    ) -> Result<(), LedgerError> {
        self.connection
            .prepare("DELETE FROM reconciliation_rules WHERE entity_id = ?1")?
            .execute(args![entity.as_str()])?;
        let mut insert = self.connection.prepare(
            "INSERT INTO reconciliation_rules (entity_id, account, materiality, materiality_percent) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for rule in rules {
            insert.execute(args![
                entity.as_str(),
                rule.account.as_str(),
                rule.materiality.map(|amount| amount.to_string()),
                rule.materiality_percent.map(|percent| percent.to_string()),
            ])?;
        }
        Ok(())
    }

    /// The entity's reconciliation rules, by account.
    pub fn reconciliation_rules(&self, entity: &EntityId) -> Result<Vec<ReconciliationRule>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT account, materiality, materiality_percent FROM reconciliation_rules WHERE entity_id = ?1 ORDER BY account",
        )?;
        all(&mut statement, args![entity.as_str()], |row| {
            let fields = Fields::new(row, "reconciliation_rules", &["account"]);
            Ok(ReconciliationRule {
                account: AccountNumber::new(fields.text("account")?),
                materiality: fields.optional_decimal("materiality")?,
                materiality_percent: fields.optional_decimal("materiality_percent")?,
            })
        })
    }

    /// Records an independent balance for `scope` (and its statement lines); returns its id.
    pub fn insert_independent_balance(
        &self,
        scope: &ReconcileScope,
        balance: &NewIndependentBalance<'_>,
        actor: &Actor,
    ) -> Result<i64, LedgerError> {
        let id = self.connection.insert_returning_id(
            "INSERT INTO reconciliation_balances (entity_id, account, dimensions, period, kind, opening, closing, source, sha256, created_by, identity, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            args![
                scope.entity.as_str(),
                scope.account.as_str(),
                scope.dimensions,
                scope.period.as_str(),
                balance.kind.as_str(),
                balance.opening.map(|amount| amount.to_string()),
                balance.closing.to_string(),
                balance.source,
                balance.sha256,
                actor.user.as_str(),
                actor.method.as_str(),
                crate::now_text(),
            ],
        )?;
        let mut insert = self.connection.prepare(
            "INSERT INTO statement_lines (balance_id, line_no, date, amount, reference, description) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for line in balance.lines {
            insert.execute(args![
                id,
                line.line_no,
                line.date.to_string(),
                line.amount.to_string(),
                line.reference,
                line.description
            ])?;
        }
        Ok(id)
    }

    /// The independent balances recorded for `scope`, oldest first: the last one counts.
    pub fn independent_balances(&self, scope: &ReconcileScope) -> Result<Vec<IndependentBalance>, LedgerError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {BALANCE_COLUMNS} FROM reconciliation_balances
             WHERE entity_id = ?1 AND account = ?2 AND dimensions = ?3 AND period = ?4 ORDER BY id"
        ))?;
        all(&mut statement, &scope_key(scope), read_balance)
    }

    /// The latest statement of the account (and dimensions) in each period that has one, by
    /// period name.
    pub fn latest_statements(
        &self,
        entity: &EntityId,
        account: &AccountNumber,
        dimensions: &str,
    ) -> Result<Vec<(PeriodName, IndependentBalance)>, LedgerError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT period, {BALANCE_COLUMNS} FROM reconciliation_balances b
             WHERE entity_id = ?1 AND account = ?2 AND dimensions = ?3 AND kind = 'statement'
               AND id = (SELECT max(id) FROM reconciliation_balances o
                         WHERE o.entity_id = b.entity_id AND o.account = b.account AND o.dimensions = b.dimensions
                           AND o.period = b.period AND o.kind = 'statement')
             ORDER BY period"
        ))?;
        all(
            &mut statement,
            args![entity.as_str(), account.as_str(), dimensions],
            |row| {
                let period = PeriodName(Fields::new(row, "reconciliation_balances", &["id"]).text("period")?);
                Ok((period, read_balance(row)?))
            },
        )
    }

    /// The lines of statement `balance_id`, in file order.
    pub fn statement_lines(&self, balance_id: i64) -> Result<Vec<StatementLine>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT line_no, date, amount, reference, description FROM statement_lines WHERE balance_id = ?1 ORDER BY line_no",
        )?;
        all(&mut statement, args![balance_id], |row| {
            let fields = Fields::new(row, "statement_lines", &["line_no"]);
            Ok(StatementLine {
                line_no: fields.integer("line_no")?,
                date: fields.date("date")?,
                amount: fields.decimal("amount")?,
                reference: fields.text("reference")?,
                description: fields.text("description")?,
            })
        })
    }

    /// Adds a reconciling item opened in `scope`'s period; returns its id.
    pub fn insert_reconciling_item(
        &self,
        scope: &ReconcileScope,
        item: &NewReconcilingItem<'_>,
        actor: &Actor,
    ) -> Result<i64, LedgerError> {
        let id = self.connection.insert_returning_id(
            "INSERT INTO reconciling_items (entity_id, account, dimensions, period, amount, explanation, expected_clear, reference, created_by, identity, created_at, run_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            args![
                scope.entity.as_str(),
                scope.account.as_str(),
                scope.dimensions,
                scope.period.as_str(),
                item.amount.to_string(),
                item.explanation,
                item.expected_clear.to_string(),
                item.reference,
                actor.user.as_str(),
                actor.method.as_str(),
                crate::now_text(),
                item.run_id,
            ],
        )?;
        Ok(id)
    }

    /// Every reconciling item of the account (and dimensions), with its clearing, oldest
    /// first; `dimensions` None gives every dimension scope.
    pub fn reconciling_items(
        &self,
        entity: &EntityId,
        account: Option<&AccountNumber>,
        dimensions: Option<&str>,
    ) -> Result<Vec<(AccountNumber, ReconcilingItem)>, LedgerError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {ITEM_COLUMNS} FROM reconciling_items i LEFT JOIN reconciling_item_clearings c ON c.item_id = i.id
             WHERE i.entity_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR i.account = ?2)
               AND (CAST(?3 AS TEXT) IS NULL OR i.dimensions = ?3) ORDER BY i.id"
        ))?;
        all(
            &mut statement,
            args![entity.as_str(), account.map(AccountNumber::as_str), dimensions],
            read_item,
        )
    }

    /// Reconciling item `id` of the entity, with its account and clearing.
    pub fn reconciling_item(
        &self,
        entity: &EntityId,
        id: i64,
    ) -> Result<Option<(AccountNumber, ReconcilingItem)>, LedgerError> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {ITEM_COLUMNS} FROM reconciling_items i LEFT JOIN reconciling_item_clearings c ON c.item_id = i.id
             WHERE i.entity_id = ?1 AND i.id = ?2"
        ))?;
        first(&mut statement, args![entity.as_str(), id], read_item)
    }

    /// Records that reconciling item `item` cleared in `period`.
    pub fn insert_item_clearing(
        &self,
        item: i64,
        period: &PeriodName,
        note: &str,
        actor: &Actor,
    ) -> Result<(), LedgerError> {
        self.connection
            .prepare(
                "INSERT INTO reconciling_item_clearings (item_id, period, note, cleared_by, identity, cleared_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(args![
                item,
                period.as_str(),
                note,
                actor.user.as_str(),
                actor.method.as_str(),
                crate::now_text()
            ])?;
        Ok(())
    }

    /// Stores an evidence file for `scope`; returns its id.
    pub fn insert_evidence(
        &self,
        scope: &ReconcileScope,
        file_name: &str,
        sha256: &str,
        content: &[u8],
        actor: &Actor,
    ) -> Result<i64, LedgerError> {
        let id = self.connection.insert_returning_id(
            "INSERT INTO reconciliation_evidence (entity_id, account, dimensions, period, file_name, sha256, bytes, content, added_by, identity, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            args![
                scope.entity.as_str(),
                scope.account.as_str(),
                scope.dimensions,
                scope.period.as_str(),
                file_name,
                sha256,
                content.len() as i64,
                content,
                actor.user.as_str(),
                actor.method.as_str(),
                crate::now_text(),
            ],
        )?;
        Ok(id)
    }

    /// The evidence files of `scope`, oldest first, without their content.
    pub fn evidence(&self, scope: &ReconcileScope) -> Result<Vec<Evidence>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT id, file_name, sha256, bytes, added_by, added_at FROM reconciliation_evidence
             WHERE entity_id = ?1 AND account = ?2 AND dimensions = ?3 AND period = ?4 ORDER BY id",
        )?;
        all(&mut statement, &scope_key(scope), |row| {
            let fields = Fields::new(row, "reconciliation_evidence", &["id"]);
            Ok(Evidence {
                id: fields.integer("id")?,
                file_name: fields.text("file_name")?,
                sha256: fields.text("sha256")?,
                bytes: fields.integer("bytes")?,
                added_by: UserId::new(fields.text("added_by")?),
                added_at: fields.text("added_at")?,
            })
        })
    }

    /// Evidence file `id` of the entity: its name, SHA-256 and content.
    pub fn evidence_content(
        &self,
        entity: &EntityId,
        id: i64,
    ) -> Result<Option<(String, String, Vec<u8>)>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT file_name, sha256, content FROM reconciliation_evidence WHERE entity_id = ?1 AND id = ?2",
        )?;
        first(&mut statement, args![entity.as_str(), id], |row| {
            let fields = Fields::new(row, "reconciliation_evidence", &["id"]);
            let content: Vec<u8> = row.get("content")?;
            Ok((fields.text("file_name")?, fields.text("sha256")?, content))
        })
    }

    /// Appends a sign-off step for `scope`.
    pub fn insert_reconciliation_signoff(
        &self,
        scope: &ReconcileScope,
        signoff: &ReconciliationSignoff,
    ) -> Result<(), LedgerError> {
        self.connection
            .prepare(
                "INSERT INTO reconciliation_signoffs (entity_id, account, dimensions, period, action, user_id, identity, at, note, gl_balance, independent, items, unexplained, fingerprint, sequence)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?
            .execute(args![
                scope.entity.as_str(),
                scope.account.as_str(),
                scope.dimensions,
                scope.period.as_str(),
                signoff.action.as_str(),
                signoff.user.as_str(),
                signoff.identity,
                signoff.at,
                signoff.note,
                signoff.gl_balance.to_string(),
                signoff.independent.map(|amount| amount.to_string()),
                signoff.items.to_string(),
                signoff.unexplained.map(|amount| amount.to_string()),
                signoff.fingerprint,
                signoff.sequence,
            ])?;
        Ok(())
    }

    /// The sign-off history of `scope`, oldest first.
    pub fn reconciliation_signoffs(&self, scope: &ReconcileScope) -> Result<Vec<ReconciliationSignoff>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT id, action, user_id, identity, at, note, gl_balance, independent, items, unexplained, fingerprint, sequence
             FROM reconciliation_signoffs WHERE entity_id = ?1 AND account = ?2 AND dimensions = ?3 AND period = ?4 ORDER BY id",
        )?;
        all(&mut statement, &scope_key(scope), |row| {
            let fields = Fields::new(row, "reconciliation_signoffs", &["id"]);
            Ok(ReconciliationSignoff {
                action: fields.parsed("action", "prepared, reviewed or withdrawn", SignoffAction::parse)?,
                user: UserId::new(fields.text("user_id")?),
                identity: fields.text("identity")?,
                at: fields.text("at")?,
                note: fields.text("note")?,
                gl_balance: fields.decimal("gl_balance")?,
                independent: fields.optional_decimal("independent")?,
                items: fields.decimal("items")?,
                unexplained: fields.optional_decimal("unexplained")?,
                fingerprint: fields.text("fingerprint")?,
                sequence: fields.integer("sequence")?,
            })
        })
    }

    /// The entries of the entity posted after `sequence`, dated in `periods`, with a line on
    /// `account`: each such line's entry key and dimension values (canonical text), in posting
    /// order. Read from the entries posted since (few, after a sign-off), not the account's
    /// lines (many, on a busy account).
    pub fn account_lines_after(
        &self,
        entity: &EntityId,
        sequence: i64,
        periods: &[&str],
        account: &AccountNumber,
    ) -> Result<Vec<(String, String)>, LedgerError> {
        let periods = serde_json::to_string(periods).map_err(|error| LedgerError::Invalid(error.to_string()))?;
        // CROSS JOIN keeps SQLite from driving the join from the account's lines.
        let mut statement = self.connection.prepare(
            "SELECT e.entry_key, s.canonical FROM entries e CROSS JOIN lines l CROSS JOIN dimension_sets s
             WHERE e.entity_id = ?1 AND e.sequence > ?2 AND e.period IN (SELECT value FROM json_each(?3))
               AND l.entry_id = e.id AND l.account = ?4 AND s.id = l.dimension_set_id
             ORDER BY e.sequence, l.line_no",
        )?;
        all(
            &mut statement,
            args![entity.as_str(), sequence, periods, account.as_str()],
            |row| {
                let fields = Fields::new(row, "entries", &["entry_key"]);
                Ok((fields.text("entry_key")?, fields.text("canonical")?))
            },
        )
    }

    /// The (account, dimensions) scopes of the entity with a statement, subledger figure,
    /// evidence or sign-off in `period`, or with any reconciling item.
    pub fn reconciliation_scopes(
        &self,
        entity: &EntityId,
        period: &PeriodName,
    ) -> Result<Vec<(AccountNumber, String)>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT account, dimensions FROM reconciliation_balances WHERE entity_id = ?1 AND period = ?2
             UNION SELECT account, dimensions FROM reconciliation_signoffs WHERE entity_id = ?1 AND period = ?2
             UNION SELECT account, dimensions FROM reconciliation_evidence WHERE entity_id = ?1 AND period = ?2
             UNION SELECT account, dimensions FROM reconciling_items WHERE entity_id = ?1
             ORDER BY 1, 2",
        )?;
        all(&mut statement, args![entity.as_str(), period.as_str()], |row| {
            let fields = Fields::new(row, "reconciliation_balances", &["account"]);
            Ok((AccountNumber::new(fields.text("account")?), fields.text("dimensions")?))
        })
    }
}
