//! The ledger's self-check: walks an entity's entries in sequence, recomputes the hash chain,
//! checks that every entry balances, and recomputes every maintained balance from the posted
//! lines. A row changed, inserted or deleted directly in the SQLite file shows up as the first
//! entry whose hash or link no longer matches.

use crate::error::LedgerError;
use crate::ids::{EntityId, PeriodName};
use crate::journal::{GENESIS_HASH, PostedEntry};
use crate::store::{BalanceRecord, Db};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Findings one check reports before it stops listing: the first ones locate the damage.
pub const FINDINGS_MAX: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    SequenceGap {
        expected: i64,
        found: i64,
        key: String,
    },
    BrokenLink {
        sequence: i64,
        key: String,
    },
    HashMismatch {
        sequence: i64,
        key: String,
    },
    Unbalanced {
        sequence: i64,
        key: String,
        total: Decimal,
    },
    HeadMismatch {
        head_sequence: i64,
        last_sequence: i64,
    },
    BalanceMismatch {
        period: String,
        account: String,
        dimensions: String,
        currency: String,
        stored: String,
        recomputed: String,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::SequenceGap { expected, found, key } => write!(
                formatter,
                "sequence gap: expected entry {expected}, found {found} ({key}): an entry was deleted or inserted"
            ),
            Finding::BrokenLink { sequence, key } => write!(
                formatter,
                "entry {sequence} ({key}) does not link to the hash of the entry before it: the chain was cut here"
            ),
            Finding::HashMismatch { sequence, key } => write!(
                formatter,
                "entry {sequence} ({key}) does not match its hash: it or its lines were changed after posting"
            ),
            Finding::Unbalanced { sequence, key, total } => write!(
                formatter,
                "entry {sequence} ({key}) does not balance: its lines sum to {total}"
            ),
            Finding::HeadMismatch {
                head_sequence,
                last_sequence,
            } => {
                write!(
                    formatter,
                    "the ledger head says {head_sequence} entries but the chain ends at {last_sequence}: entries were deleted or added at the end"
                )
            }
            Finding::BalanceMismatch {
                period,
                account,
                dimensions,
                currency,
                stored,
                recomputed,
            } => write!(
                formatter,
                "balance of account {account} [{dimensions}] {currency} in {period}: stored {stored}, recomputed from lines {recomputed}"
            ),
        }
    }
}

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub entries_checked: u64,
    pub findings: Vec<Finding>,
}

type BucketKey = (String, String, String, String);

/// Balances recomputed from lines, by bucket (period, account, dimensions, currency). While
/// lines are added, a bucket is found by one string of its four parts, each prefixed with its
/// length, in a hash map, without allocating: a B-tree of four strings compared part by part,
/// with a key allocated per line, was a third of a whole-ledger verify.
#[derive(Default)]
struct Buckets {
    sums: HashMap<String, [Decimal; 4]>,
    key: String,
}

impl Buckets {
    fn bucket(&mut self, parts: [&str; 4]) -> &mut [Decimal; 4] {
        self.key.clear();
        for part in parts {
            self.key.push_str(&part.len().to_string());
            self.key.push(':');
            self.key.push_str(part);
        }
        if !self.sums.contains_key(self.key.as_str()) {
            self.sums.insert(self.key.clone(), [Decimal::ZERO; 4]);
        }
        self.sums.get_mut(self.key.as_str()).expect("inserted just above")
    }

    /// The buckets by their four parts, in order.
    fn into_map(self) -> BTreeMap<BucketKey, [Decimal; 4]> {
        self.sums
            .into_iter()
            .map(|(key, sums)| {
                let mut rest = key.as_str();
                let mut parts = Vec::with_capacity(4);
                while let Some((length, after)) = rest.split_once(':') {
                    let length: usize = length.parse().expect("a length written by `bucket`");
                    let (part, after) = after.split_at(length);
                    parts.push(part.to_owned());
                    rest = after;
                }
                let [period, account, dimensions, currency]: [String; 4] =
                    parts.try_into().expect("four parts written by `bucket`");
                ((period, account, dimensions, currency), sums)
            })
            .collect()
    }
}

/// How often a verify reports its progress, in entries checked.
pub const VERIFY_PROGRESS_ENTRIES: u64 = 10_000;

/// Checks one entity's chain and balances.
pub fn verify_entity(db: &Db<'_>, entity: &EntityId) -> Result<VerifyReport, LedgerError> {
    verify_entity_with_progress(db, entity, &mut |_| {})
}

/// `verify_entity`, calling `progress` with the entries checked so far every
/// [`VERIFY_PROGRESS_ENTRIES`] entries.
pub fn verify_entity_with_progress(
    db: &Db<'_>,
    entity: &EntityId,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport, LedgerError> {
    let _span = tracing::info_span!("verify.entity", entity = %entity).entered();
    db.require_entity(entity)?;
    let mut report = VerifyReport::default();
    let mut expected_sequence = 1;
    let mut previous_hash = GENESIS_HASH.to_owned();
    // This thread reads the entries in sequence and notes gaps.
    let mut gaps: Vec<(i64, Finding)> = Vec::new();
    let (recomputed, entry_findings) = check_while_reading(|check| {
        db.for_each_entry(entity, |entry| {
            report.entries_checked += 1;
            if report.entries_checked.is_multiple_of(VERIFY_PROGRESS_ENTRIES) {
                progress(report.entries_checked);
            }
            if entry.sequence != expected_sequence {
                gaps.push((
                    entry.sequence,
                    Finding::SequenceGap {
                        expected: expected_sequence,
                        found: entry.sequence,
                        key: entry.key.to_string(),
                    },
                ));
            }
            expected_sequence = entry.sequence + 1;
            let linked_to = std::mem::replace(&mut previous_hash, entry.hash.clone());
            check(entry, Some(linked_to));
            Ok(())
        })
    })?;
    // An entry's gap comes before its other findings (a stable sort keeps that order).
    let mut by_sequence = gaps;
    by_sequence.extend(entry_findings);
    by_sequence.sort_by_key(|(sequence, _)| *sequence);
    let mut findings: Vec<Finding> = by_sequence.into_iter().map(|(_, finding)| finding).collect();
    let (head_sequence, head_hash) = db.ledger_head(entity)?;
    if head_sequence != expected_sequence - 1 || head_hash != previous_hash {
        findings.push(Finding::HeadMismatch {
            head_sequence,
            last_sequence: expected_sequence - 1,
        });
    }
    compare_balances(
        &db.all_balances(entity)?,
        &db.all_account_balances(entity)?,
        &recomputed,
        &mut findings,
    )?;
    findings.truncate(FINDINGS_MAX);
    report.findings = findings;
    tracing::info!(
        entries_checked = report.entries_checked,
        findings = report.findings.len(),
        "entity verified"
    );
    Ok(report)
}

/// Checks one period of an entity at a cost that follows the period's size, not the ledger's:
/// every entry of the period against its own hash and the stored hash of the entry before it
/// in the chain, that each balances, and the period's maintained balances (per dimension set
/// and per account) against its lines. The close's trial-balance check runs it. What it cannot
/// see from one period (an entry deleted from another period, a cut at the chain's head) is
/// `verify_entity`'s job, which `closebook verify` runs over the whole ledger.
pub fn verify_period(db: &Db<'_>, entity: &EntityId, period: &PeriodName) -> Result<VerifyReport, LedgerError> {
    db.require_entity(entity)?;
    let mut report = VerifyReport::default();
    let mut findings = Vec::new();
    // This thread reads the entries and finds the stored hash before each.
    let (recomputed, mut entry_findings) = check_while_reading(|check| {
        // The stored hash of the entry visited last: the one before in the chain when the
        // period's entries are consecutive, which saves looking it up.
        let mut last_visited: Option<(i64, String)> = None;
        db.for_each_entry_in_period(entity, period, |entry| {
            report.entries_checked += 1;
            let stored_previous = match last_visited.take() {
                Some((sequence, hash)) if sequence == entry.sequence - 1 => Some(hash),
                _ => db.entry_hash_at(entity, entry.sequence - 1)?,
            };
            last_visited = Some((entry.sequence, entry.hash.clone()));
            check(entry, stored_previous);
            Ok(())
        })
    })?;
    // Each entry's findings come with its sequence: the entries come in posting order, the
    // findings are reported in sequence order (a stable sort keeps one entry's in order).
    entry_findings.sort_by_key(|(sequence, _)| *sequence);
    findings.extend(entry_findings.into_iter().map(|(_, finding)| finding));
    let periods = std::slice::from_ref(period);
    compare_balances(
        &db.balances(entity, periods)?,
        &db.account_balances(entity, periods)?,
        &recomputed,
        &mut findings,
    )?;
    findings.truncate(FINDINGS_MAX);
    report.findings = findings;
    tracing::info!(
        entries_checked = report.entries_checked,
        findings = report.findings.len(),
        "entity verified"
    );
    Ok(report)
}

/// Entries per message from the reading thread to the checking one.
const CHECK_CHUNK_ENTRIES: usize = 256;
/// Messages the reader may be ahead of the checker.
const CHECK_CHUNKS_AHEAD: usize = 8;

/// What the checking thread returns: the recomputed balances, and the findings by sequence.
type Checked = (BTreeMap<BucketKey, [Decimal; 4]>, Vec<(i64, Finding)>);

/// Runs `read` on this thread (the connection stays on it), which hands `check` each entry with
/// the stored hash before it (none: a gap in the sequence); a second thread recomputes the
/// hashes and the balances meanwhile ([`check_entries`]), a chunk of entries at a time.
fn check_while_reading(
    read: impl FnOnce(&mut dyn FnMut(PostedEntry, Option<String>)) -> Result<(), LedgerError>,
) -> Result<Checked, LedgerError> {
    std::thread::scope(|scope| {
        let (sender, receiver) =
            std::sync::mpsc::sync_channel::<Vec<(PostedEntry, Option<String>)>>(CHECK_CHUNKS_AHEAD);
        let checker = scope.spawn(move || check_entries(receiver));
        let mut chunk = Vec::with_capacity(CHECK_CHUNK_ENTRIES);
        let read = read(&mut |entry, stored_previous| {
            chunk.push((entry, stored_previous));
            if chunk.len() == CHECK_CHUNK_ENTRIES {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHECK_CHUNK_ENTRIES));
                // A closed channel means the checker stopped on an error, which join reports.
                let _ = sender.send(full);
            }
        });
        if !chunk.is_empty() {
            let _ = sender.send(chunk);
        }
        drop(sender);
        let checked = checker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        read?;
        checked
    })
}

/// The checking half of a verify: each entry with the stored hash before it (none: a
/// gap in the sequence), checked; returns the recomputed balances and the findings by sequence.
fn check_entries(
    receiver: std::sync::mpsc::Receiver<Vec<(PostedEntry, Option<String>)>>,
) -> Result<Checked, LedgerError> {
    let mut recomputed = Buckets::default();
    let mut entry_findings = Vec::new();
    for chunk in receiver {
        for (entry, stored_previous) in chunk {
            let mut findings = Vec::new();
            match stored_previous {
                Some(previous_hash) => check_entry(&entry, &previous_hash, &mut recomputed, &mut findings)?,
                None => {
                    findings.push(Finding::SequenceGap {
                        expected: entry.sequence - 1,
                        found: entry.sequence,
                        key: entry.key.to_string(),
                    });
                    check_entry(&entry, &entry.previous_hash, &mut recomputed, &mut findings)?;
                }
            }
            entry_findings.extend(findings.into_iter().map(|finding| (entry.sequence, finding)));
        }
    }
    Ok((recomputed.into_map(), entry_findings))
}

/// Checks one entry (its hash, its link to the hash before it, that it balances) and adds its
/// lines to the recomputed balances.
fn check_entry(
    entry: &PostedEntry,
    previous_hash: &str,
    recomputed: &mut Buckets,
    findings: &mut Vec<Finding>,
) -> Result<(), LedgerError> {
    if entry.previous_hash != previous_hash {
        findings.push(Finding::BrokenLink {
            sequence: entry.sequence,
            key: entry.key.to_string(),
        });
    }
    if entry.compute_hash() != entry.hash {
        findings.push(Finding::HashMismatch {
            sequence: entry.sequence,
            key: entry.key.to_string(),
        });
    }
    let mut total = Decimal::ZERO;
    for line in &entry.lines {
        total = total.checked_add(line.accounting_amount).ok_or(LedgerError::Overflow)?;
        let bucket = recomputed.bucket([
            entry.period.as_str(),
            line.account.as_str(),
            &line.dimensions,
            line.currency.as_str(),
        ]);
        bucket[0] += line.amount;
        bucket[1] += line.accounting_amount;
        if line.accounting_amount.is_sign_positive() {
            bucket[2] += line.accounting_amount;
        } else {
            bucket[3] -= line.accounting_amount;
        }
    }
    if !total.is_zero() || entry.lines.is_empty() {
        findings.push(Finding::Unbalanced {
            sequence: entry.sequence,
            key: entry.key.to_string(),
            total,
        });
    }
    Ok(())
}

/// Compares the stored balances (per dimension set, and per account without dimensions) with
/// the ones recomputed from the lines, adding a finding per difference.
fn compare_balances(
    balances: &[BalanceRecord],
    account_balances: &[BalanceRecord],
    recomputed: &BTreeMap<BucketKey, [Decimal; 4]>,
    findings: &mut Vec<Finding>,
) -> Result<(), LedgerError> {
    let stored_of = |records: &[BalanceRecord], with_dimensions: bool| -> BTreeMap<BucketKey, [Decimal; 4]> {
        records
            .iter()
            .map(|record| {
                (
                    (
                        record.period.to_string(),
                        record.account.to_string(),
                        if with_dimensions {
                            record.dimensions.clone()
                        } else {
                            String::new()
                        },
                        record.currency.to_string(),
                    ),
                    [record.amount, record.accounting_amount, record.debit, record.credit],
                )
            })
            .collect()
    };
    compare_buckets(&stored_of(balances, true), recomputed, findings);
    // The per-account totals must be the per-dimension balances summed over dimensions.
    let mut recomputed_accounts: BTreeMap<BucketKey, [Decimal; 4]> = BTreeMap::new();
    for ((period, account, _, currency), values) in recomputed {
        let sums = recomputed_accounts
            .entry((period.clone(), account.clone(), String::new(), currency.clone()))
            .or_insert([Decimal::ZERO; 4]);
        for (sum, value) in sums.iter_mut().zip(values) {
            *sum = sum.checked_add(*value).ok_or(LedgerError::Overflow)?;
        }
    }
    compare_buckets(&stored_of(account_balances, false), &recomputed_accounts, findings);
    Ok(())
}

/// Adds a finding for every bucket whose stored values differ from the recomputed ones.
fn compare_buckets(
    stored: &BTreeMap<BucketKey, [Decimal; 4]>,
    recomputed: &BTreeMap<BucketKey, [Decimal; 4]>,
    findings: &mut Vec<Finding>,
) {
    let keys: std::collections::BTreeSet<&BucketKey> = stored.keys().chain(recomputed.keys()).collect();
    for key in keys {
        let zero = [Decimal::ZERO; 4];
        let stored_value = stored.get(key).unwrap_or(&zero);
        let recomputed_value = recomputed.get(key).unwrap_or(&zero);
        if stored_value != recomputed_value {
            let show = |values: &[Decimal; 4]| {
                format!(
                    "amount {} accounting {} debit {} credit {}",
                    values[0], values[1], values[2], values[3]
                )
            };
            findings.push(Finding::BalanceMismatch {
                period: key.0.clone(),
                account: key.1.clone(),
                dimensions: key.2.clone(),
                currency: key.3.clone(),
                stored: show(stored_value),
                recomputed: show(recomputed_value),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_keep_parts_apart_whatever_they_hold() {
        // Proves the one-string key never merges two buckets or mangles a part: parts that
        // hold the length prefix's own characters, are empty, or are not ASCII.
        let mut buckets = Buckets::default();
        let parts = [
            ["2026-01", "1000", "", "USD"],
            ["2026-01", "1000", "cost_center=1:2", "USD"],
            ["2026-01", "10001", ":", "USD"],
            ["2026-01", "1000", "3:abc", "USD"],
            ["2026-0", "11000", "", "USD"],
            ["2026-01", "1000", "région=Île", "EUR"],
        ];
        for (index, part) in parts.iter().enumerate() {
            buckets.bucket(*part)[0] += Decimal::from(index as i64 + 1);
        }
        buckets.bucket(parts[1])[0] += Decimal::from(10);
        let map = buckets.into_map();
        assert_eq!(map.len(), parts.len());
        for (index, [period, account, dimensions, currency]) in parts.iter().enumerate() {
            let key = (
                period.to_string(),
                account.to_string(),
                dimensions.to_string(),
                currency.to_string(),
            );
            let expected = Decimal::from(index as i64 + 1) + if index == 1 { Decimal::from(10) } else { Decimal::ZERO };
            assert_eq!(map[&key][0], expected, "{key:?}");
        }
    }
}
