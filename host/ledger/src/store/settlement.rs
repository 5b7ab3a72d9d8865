//! Ledger settlement (open-item matching): which posted lines a settlement marks, which
//! settlements are reversed, and the open items of an account.

use super::Db;
use super::line::{LINE_KEY, LineRecord};
use super::row::{Fields, all, first};
use super::sql::{CopyRows, Row, args};
use crate::error::LedgerError;
use crate::ids::{AccountNumber, EntityId, FiscalYearName, PeriodName, UserId};
use rust_decimal::Decimal;

/// A settlement with an id reserved for it (`reserve_settlement_ids`), written later with
/// others (`insert_settlements`).
pub struct NewSettlement {
    pub id: i64,
    pub entity: EntityId,
    pub account: AccountNumber,
    pub fiscal_year: FiscalYearName,
    pub created_by: UserId,
    pub created_at: String,
    pub run_id: Option<String>,
}

/// A posted line as settlement sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementLine {
    pub entity: EntityId,
    pub account: AccountNumber,
    /// The line's period; its entity's calendar says which fiscal year that is.
    pub period: PeriodName,
    pub accounting_amount: Decimal,
    pub active_settlement: Option<i64>,
}

impl SettlementLine {
    fn from_row(row: &Row<'_>) -> Result<Self, LedgerError> {
        let fields = Fields::new(row, "lines", LINE_KEY);
        Ok(SettlementLine {
            entity: EntityId(fields.text("entity_id")?),
            account: AccountNumber(fields.text("account")?),
            period: PeriodName(fields.text("period")?),
            accounting_amount: fields.decimal("accounting_amount")?,
            active_settlement: fields.optional_integer("active_settlement")?,
        })
    }
}

impl Db<'_> {
    /// Lines of an entry that belong to a settlement not reversed.
    pub fn settled_line_count(&self, entry_id: i64) -> Result<i64, LedgerError> {
        self.connection.one(
            "SELECT COUNT(*) FROM lines l JOIN settlement_lines sl ON sl.line_id = l.id
             LEFT JOIN settlement_reversals r ON r.settlement_id = sl.settlement_id
             WHERE l.entry_id = ?1 AND r.settlement_id IS NULL",
            args![entry_id],
            |row| row.get(0),
        )
    }

    /// A posted line with what settlement needs to know about it.
    pub fn line_for_settlement(&self, line_id: i64) -> Result<Option<SettlementLine>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT l.id AS line_id, l.entity_id, l.account, l.period, l.accounting_amount,
                (SELECT sl.settlement_id FROM settlement_lines sl LEFT JOIN settlement_reversals r ON r.settlement_id = sl.settlement_id
                 WHERE sl.line_id = l.id AND r.settlement_id IS NULL LIMIT 1) AS active_settlement
             FROM lines l WHERE l.id = ?1",
        )?;
        first(&mut statement, args![line_id], SettlementLine::from_row)
    }

    /// [`Db::line_for_settlement`] of many lines in one query, read in line order: the lines a
    /// batch of settlements marks, without a random seek per line. Lines that do not exist are
    /// absent from the answer.
    pub fn lines_for_settlement(&self, line_ids: &[i64]) -> Result<Vec<(i64, SettlementLine)>, LedgerError> {
        let ids = serde_json::to_string(line_ids).unwrap_or_default();
        let mut statement = self.connection.prepare(
            "SELECT l.id AS line_id, l.entity_id, l.account, l.period, l.accounting_amount,
                (SELECT sl.settlement_id FROM settlement_lines sl LEFT JOIN settlement_reversals r ON r.settlement_id = sl.settlement_id
                 WHERE sl.line_id = l.id AND r.settlement_id IS NULL LIMIT 1) AS active_settlement
             FROM lines l WHERE l.id IN (SELECT CAST(value AS BIGINT) FROM json_each(?1)) ORDER BY l.id",
        )?;
        all(&mut statement, args![ids], |row| {
            let id = Fields::new(row, "lines", LINE_KEY).integer("line_id")?;
            Ok((id, SettlementLine::from_row(row)?))
        })
    }

    /// The active settlement of each of the given lines that has one: (line id, settlement id).
    pub fn active_settlements(&self, line_ids: &[i64]) -> Result<Vec<(i64, i64)>, LedgerError> {
        let ids = serde_json::to_string(line_ids).unwrap_or_default();
        let mut statement = self.connection.prepare(
            "SELECT sl.line_id, sl.settlement_id FROM settlement_lines sl LEFT JOIN settlement_reversals r ON r.settlement_id = sl.settlement_id
             WHERE sl.line_id IN (SELECT CAST(value AS BIGINT) FROM json_each(?1)) AND r.settlement_id IS NULL
             ORDER BY sl.line_id",
        )?;
        all(&mut statement, args![ids], |row| {
            let fields = Fields::new(row, "settlement_lines", &["settlement_id", "line_id"]);
            Ok((fields.integer("line_id")?, fields.integer("settlement_id")?))
        })
    }

    /// Records a settlement; its lines are written by [`Db::insert_settlement_lines`].
    pub fn insert_settlement(
        &self,
        entity: &EntityId,
        account: &AccountNumber,
        fiscal_year: &FiscalYearName,
        (user, created_at): (&UserId, &str),
        run_id: Option<&str>,
    ) -> Result<i64, LedgerError> {
        let id = self.connection.insert_returning_id(
            "INSERT INTO settlements (entity_id, account, fiscal_year, created_by, created_at, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            args![entity.as_str(), account.as_str(), fiscal_year.as_str(), user.as_str(), created_at, run_id],
        )?;
        Ok(id)
    }

    /// PostgreSQL: `count` settlement ids, ascending, for settlements [`Self::insert_settlements`]
    /// writes later (one round trip for all of them). None on SQLite, whose settlements are
    /// inserted one by one (`insert_settlement`), as fast there as together.
    pub fn reserve_settlement_ids(&self, count: usize) -> Result<Vec<i64>, LedgerError> {
        if !self.connection.is_postgres() || count == 0 {
            return Ok(Vec::new());
        }
        Ok(self.connection.reserve_ids("settlements", count)?.collect())
    }

    /// Writes settlements whose ids were reserved (PostgreSQL, one `COPY`).
    pub fn insert_settlements(&self, settlements: &[NewSettlement]) -> Result<(), LedgerError> {
        if settlements.is_empty() {
            return Ok(());
        }
        let mut rows = CopyRows::default();
        for settlement in settlements {
            rows.number(settlement.id)
                .text(settlement.entity.as_str())
                .text(settlement.account.as_str())
                .text(settlement.fiscal_year.as_str())
                .text(settlement.created_by.as_str())
                .text(&settlement.created_at)
                .field(settlement.run_id.as_deref())
                .end_row();
        }
        self.connection.copy_in(
            "COPY settlements (id, entity_id, account, fiscal_year, created_by, created_at, run_id) FROM STDIN",
            rows.text.as_bytes(),
        )?;
        Ok(())
    }

    /// Marks lines with their settlements: (settlement id, line id) pairs. PostgreSQL writes
    /// them with one `COPY`.
    pub fn insert_settlement_lines(&self, marks: impl IntoIterator<Item = (i64, i64)>) -> Result<(), LedgerError> {
        if self.connection.is_postgres() {
            let mut rows = CopyRows::default();
            for (settlement_id, line_id) in marks {
                rows.number(settlement_id).number(line_id).end_row();
            }
            if !rows.text.is_empty() {
                self.connection.copy_in(
                    "COPY settlement_lines (settlement_id, line_id) FROM STDIN",
                    rows.text.as_bytes(),
                )?;
            }
            return Ok(());
        }
        let mut statement = self
            .connection
            .prepare("INSERT INTO settlement_lines (settlement_id, line_id) VALUES (?1, ?2)")?;
        for (settlement_id, line_id) in marks {
            statement.execute(args![settlement_id, line_id])?;
        }
        Ok(())
    }

    /// The entity a settlement belongs to and whether it was reversed.
    pub fn settlement_state(&self, settlement_id: i64) -> Result<Option<(EntityId, bool)>, LedgerError> {
        let mut statement = self.connection.prepare(
            "SELECT s.id, s.entity_id, r.settlement_id IS NOT NULL AS reversed
             FROM settlements s LEFT JOIN settlement_reversals r ON r.settlement_id = s.id WHERE s.id = ?1",
        )?;
        first(&mut statement, args![settlement_id], |row| {
            let fields = Fields::new(row, "settlements", &["id"]);
            Ok((EntityId(fields.text("entity_id")?), fields.flag("reversed")?))
        })
    }

    pub fn settlement_fiscal_year(&self, settlement_id: i64) -> Result<FiscalYearName, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT id, fiscal_year FROM settlements WHERE id = ?1")?;
        let fiscal_year = first(&mut statement, args![settlement_id], |row| {
            Fields::new(row, "settlements", &["id"]).text("fiscal_year")
        })?;
        fiscal_year
            .map(FiscalYearName)
            .ok_or_else(|| LedgerError::not_found("settlement", settlement_id.to_string()))
    }

    /// Active settlements of an entity's account, with their lines, for reports.
    pub fn open_items(
        &self,
        entity: &EntityId,
        account: &AccountNumber,
        limit: usize,
    ) -> Result<Vec<LineRecord>, LedgerError> {
        let periods: Vec<PeriodName> = {
            let mut statement = self.connection.prepare(
                "SELECT DISTINCT entity_id, account, period FROM lines WHERE entity_id = ?1 AND account = ?2 ORDER BY period",
            )?;
            all(&mut statement, args![entity.as_str(), account.as_str()], |row| {
                Ok(PeriodName(
                    Fields::new(row, "lines", &["entity_id", "account", "period"]).text("period")?,
                ))
            })?
        };
        self.account_lines(entity, account, &periods, 0, limit, false)
    }

    pub fn insert_settlement_reversal(&self, settlement_id: i64, user: &UserId) -> Result<(), LedgerError> {
        self.connection.execute(
            "INSERT INTO settlement_reversals (settlement_id, reversed_by, reversed_at) VALUES (?1, ?2, ?3)",
            args![settlement_id, user.as_str(), crate::now_text()],
        )?;
        Ok(())
    }
}
