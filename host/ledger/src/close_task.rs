//! The state of one close task (close × entity × period × task) and the rules of its
//! transitions, kept in the ledger crate because the store persists it and every front end (the
//! CLI now, the server later) reads it the same way.
//!
//! What a task read when it ran ([`TaskReads`]) is recorded with it, so that a later posting
//! that changes those figures marks it stale instead of leaving a close at 100 % with wrong
//! numbers.

use crate::ids::{AccountNumber, EntityId, PeriodName};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// Where a task stands. Stored as its kebab-case name in `close_tasks.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskStatus {
    /// Not run yet, or reset to run again (`--rerun`).
    #[default]
    Pending,
    /// A step posted its output, or a built-in step passed.
    Done,
    /// The last run failed; the message says why. Running the close again retries it.
    Failed,
    /// A step's proposal waits for its reviewer (`review = true`); nothing is posted yet.
    AwaitingReview,
    /// A manual task waits for its preparer.
    AwaitingSignoff,
    /// A manual task's preparer signed off; its reviewer has not yet.
    Prepared,
    /// A manual task signed off by its preparer (and reviewer, when it has one).
    SignedOff,
    /// Something it read (or a task before it) changed after it completed: its figures no
    /// longer hold, and the next `close run` computes it again.
    Stale,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 8] = [
        TaskStatus::Pending,
        TaskStatus::Done,
        TaskStatus::Failed,
        TaskStatus::AwaitingReview,
        TaskStatus::AwaitingSignoff,
        TaskStatus::Prepared,
        TaskStatus::SignedOff,
        TaskStatus::Stale,
    ];

    /// Complete for the tasks that wait on it, and for the close's percentage.
    pub fn is_complete(self) -> bool {
        matches!(self, TaskStatus::Done | TaskStatus::SignedOff)
    }

    /// Waits for a person (a reviewer or a preparer), not for the close to run it.
    pub fn waits_for_a_person(self) -> bool {
        matches!(
            self,
            TaskStatus::AwaitingReview | TaskStatus::AwaitingSignoff | TaskStatus::Prepared
        )
    }

    /// Holds figures a later posting can invalidate: what a staleness check looks at.
    pub fn holds_figures(self) -> bool {
        self.is_complete() || matches!(self, TaskStatus::Prepared | TaskStatus::AwaitingReview)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Done => "done",
            TaskStatus::Failed => "failed",
            TaskStatus::AwaitingReview => "awaiting-review",
            TaskStatus::AwaitingSignoff => "awaiting-signoff",
            TaskStatus::Prepared => "prepared",
            TaskStatus::SignedOff => "signed-off",
            TaskStatus::Stale => "stale",
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A stored status this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a task status (expected one of pending, done, failed, awaiting-review, awaiting-signoff, prepared, signed-off, stale)"
)]
pub struct UnknownTaskStatus(pub String);

impl FromStr for TaskStatus {
    type Err = UnknownTaskStatus;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        TaskStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| UnknownTaskStatus(text.to_owned()))
    }
}

/// Which accounts of an entity a task read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccountsRead {
    /// Every account (a query without an account filter, a built-in step's check).
    All,
    /// Only these accounts.
    Only(BTreeSet<AccountNumber>),
}

impl AccountsRead {
    pub fn contains(&self, account: &AccountNumber) -> bool {
        match self {
            AccountsRead::All => true,
            AccountsRead::Only(accounts) => accounts.contains(account),
        }
    }

    /// Both reads together.
    pub fn merge(&mut self, other: AccountsRead) {
        match (&mut *self, other) {
            (AccountsRead::All, _) => {}
            (_, AccountsRead::All) => *self = AccountsRead::All,
            (AccountsRead::Only(mine), AccountsRead::Only(theirs)) => mine.extend(theirs),
        }
    }
}

/// What a task read of one entity when it ran: the ledger position it read at, and the accounts
/// and periods its figures come from. A posting after that position, on one of those accounts
/// and in one of those periods, changes what it computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRead {
    /// The entity's ledger sequence the task read at.
    pub sequence: i64,
    pub accounts: AccountsRead,
    /// Ranges of account numbers read (inclusive, compared as text), kept as ranges so that an
    /// account added to the chart after the run, inside one, counts as read.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub account_ranges: BTreeSet<(AccountNumber, AccountNumber)>,
    /// The periods read, by name; `None` for every period up to the close period in its fiscal
    /// year (what a built-in step or a sign-off covers).
    pub periods: Option<BTreeSet<PeriodName>>,
}

impl EntityRead {
    /// Everything of the entity up to the close period: a superset for a task whose reads are
    /// not known query by query.
    pub fn everything(sequence: i64) -> Self {
        Self {
            sequence,
            accounts: AccountsRead::All,
            account_ranges: BTreeSet::new(),
            periods: None,
        }
    }

    /// Nothing yet, at `sequence`: queries add to it.
    pub fn nothing(sequence: i64) -> Self {
        Self {
            sequence,
            accounts: AccountsRead::Only(BTreeSet::new()),
            account_ranges: BTreeSet::new(),
            periods: Some(BTreeSet::new()),
        }
    }

    /// Adds a range of account numbers (inclusive, compared as text) read by one query.
    pub fn add_range(
        &mut self,
        first: AccountNumber,
        last: AccountNumber,
        periods: impl IntoIterator<Item = PeriodName>,
    ) {
        self.account_ranges.insert((first, last));
        if let Some(read) = &mut self.periods {
            read.extend(periods);
        }
    }

    /// Whether the task read `account`: listed, in a range, or every account.
    pub fn covers_account(&self, account: &AccountNumber) -> bool {
        self.accounts.contains(account)
            || self
                .account_ranges
                .iter()
                .any(|(first, last)| first <= account && account <= last)
    }

    /// Adds one query's accounts and periods.
    pub fn add(&mut self, accounts: AccountsRead, periods: impl IntoIterator<Item = PeriodName>) {
        self.accounts.merge(accounts);
        if let Some(read) = &mut self.periods {
            read.extend(periods);
        }
    }

    /// Whether the task read anything of the entity's postings.
    pub fn is_empty(&self) -> bool {
        (matches!(&self.accounts, AccountsRead::Only(accounts) if accounts.is_empty())
            && self.account_ranges.is_empty())
            || self.periods.as_ref().is_some_and(BTreeSet::is_empty)
    }
}

/// What a task read, by entity.
pub type TaskReads = BTreeMap<EntityId, EntityRead>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_as_itself_and_an_unknown_one_is_an_error() {
        // Proves the stored names round-trip and a corrupt value is refused, never defaulted.
        for status in TaskStatus::ALL {
            assert_eq!(status.as_str().parse::<TaskStatus>(), Ok(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::from(status.as_str())
            );
        }
        assert_eq!(
            "finished".parse::<TaskStatus>(),
            Err(UnknownTaskStatus("finished".to_owned()))
        );
    }

    #[test]
    fn only_done_and_signed_off_are_complete() {
        // Proves the rule the dependencies and the close's percentage rely on.
        let complete: Vec<TaskStatus> = TaskStatus::ALL
            .into_iter()
            .filter(|status| status.is_complete())
            .collect();
        assert_eq!(complete, [TaskStatus::Done, TaskStatus::SignedOff]);
    }

    #[test]
    fn reading_every_account_absorbs_a_list() {
        // Proves a query without an account filter widens the recorded read to every account.
        let mut read = EntityRead::nothing(7);
        assert!(read.is_empty());
        read.add(
            AccountsRead::Only(BTreeSet::from([AccountNumber::new("6100")])),
            [PeriodName::new("2026-01")],
        );
        assert!(read.accounts.contains(&AccountNumber::new("6100")));
        assert!(!read.accounts.contains(&AccountNumber::new("6200")));
        read.add(AccountsRead::All, [PeriodName::new("2026-02")]);
        assert!(read.accounts.contains(&AccountNumber::new("6200")));
        assert_eq!(read.periods.as_ref().map(BTreeSet::len), Some(2));
        assert!(!read.is_empty());
    }

    #[test]
    fn a_range_covers_accounts_added_to_the_chart_after_the_run() {
        // Proves a range is kept as a range: 6150, created after the run, is inside 6000-6999.
        let mut read = EntityRead::nothing(3);
        read.add_range(
            AccountNumber::new("6000"),
            AccountNumber::new("6999"),
            [PeriodName::new("2026-01")],
        );
        assert!(!read.is_empty());
        assert!(read.covers_account(&AccountNumber::new("6150")));
        assert!(!read.covers_account(&AccountNumber::new("7000")));
    }
}
