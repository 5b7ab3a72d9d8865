//! The ledger's self-check: walks an entity's entries in sequence, recomputes the hash chain,
//! checks that every entry balances, and recomputes every maintained balance from the posted
//! lines. A row changed, inserted or deleted directly in the SQLite file shows up as the first
//! entry whose hash or link no longer matches.
//!
//! A routine check starts from the entity's latest verification checkpoint, when there is one
//! (`closebook verify --checkpoint` records them): it checks the checkpoints' own chain, that the
//! checkpointed entry still has the hash recorded, the entries posted since, and that the stored
//! balances less what those entries add still have the digest the checkpoint recorded. It cannot
//! see a change to an older entry that left its balances alone; `--full` reads every entry again
//! and checks the latest checkpoint against what it recomputes.

use crate::error::LedgerError;
use crate::ids::{EntityId, PeriodName};
use crate::journal::{GENESIS_HASH, PostedEntry};
use crate::store::{AccountRows, BalanceRecord, CheckpointScope, Db, VerifyCheckpoint};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
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
    /// A checkpoint whose fields or link no longer give its hash.
    CheckpointBroken {
        checkpoint: i64,
        sequence: i64,
    },
    /// The entry a checkpoint covered up to no longer has the hash it recorded.
    CheckpointEntryChanged {
        checkpoint: i64,
        sequence: i64,
    },
    /// Routine check: the stored balances less the entries since the checkpoint differ from it.
    BalancesSinceCheckpoint {
        checkpoint: i64,
        sequence: i64,
    },
    /// Full check: the balances recomputed up to a checkpoint's entry differ from its digest.
    CheckpointBalances {
        checkpoint: i64,
        sequence: i64,
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
            Finding::CheckpointBroken { checkpoint, sequence } => write!(
                formatter,
                "verification checkpoint {checkpoint} (up to entry {sequence}) does not match its hash or the checkpoint before it: it was changed or one before it removed"
            ),
            Finding::CheckpointEntryChanged { checkpoint, sequence } => write!(
                formatter,
                "entry {sequence} no longer has the hash verification checkpoint {checkpoint} recorded: the chain was rewritten at or before it; `closebook verify --full` locates the change"
            ),
            Finding::BalancesSinceCheckpoint { checkpoint, sequence } => write!(
                formatter,
                "the stored balances, less what the entries after entry {sequence} add, differ from those verification checkpoint {checkpoint} recorded: a balance was changed; `closebook verify --full` names it"
            ),
            Finding::CheckpointBalances { checkpoint, sequence } => write!(
                formatter,
                "the balances recomputed from the lines up to entry {sequence} differ from those verification checkpoint {checkpoint} recorded: the checkpoint is not what a check of this ledger records"
            ),
        }
    }
}

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub entries_checked: u64,
    pub findings: Vec<Finding>,
    /// The checkpoint a routine check started after (None: it read every entry).
    pub since: Option<VerifyCheckpoint>,
    /// The last entry checked and its hash: what a checkpoint recorded now covers.
    pub last_sequence: i64,
    pub last_hash: String,
    /// The digest of the stored balances: those up to `last_sequence` when there are no findings.
    pub balances_sha256: String,
}

/// How much of an entity's ledger a whole-entity check reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyScope {
    /// The entries after the entity's latest checkpoint (every entry when it has none).
    SinceCheckpoint,
    /// Every entry from the first, and the latest checkpoint against what they add up to.
    Full,
}

impl VerifyReport {
    /// What this check established, as a checkpoint to record; None when it found a problem.
    pub fn checkpoint(&self, entity: &EntityId) -> Option<crate::store::NewCheckpoint> {
        self.findings.is_empty().then(|| crate::store::NewCheckpoint {
            entity: entity.clone(),
            sequence: self.last_sequence,
            entry_hash: self.last_hash.clone(),
            balances_sha256: self.balances_sha256.clone(),
            scope: if self.since.is_some() {
                CheckpointScope::SinceCheckpoint
            } else {
                CheckpointScope::Full
            },
            entries_checked: self.entries_checked as i64,
        })
    }
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
        encode_key(&mut self.key, parts);
        if !self.sums.contains_key(self.key.as_str()) {
            self.sums.insert(self.key.clone(), [Decimal::ZERO; 4]);
        }
        self.sums.get_mut(self.key.as_str()).expect("inserted just above")
    }

    /// The recomputed values of a bucket, none when no line touched it.
    fn get(&mut self, parts: [&str; 4]) -> Option<&[Decimal; 4]> {
        encode_key(&mut self.key, parts);
        self.sums.get(self.key.as_str())
    }

    /// How many buckets lines touched.
    fn len(&self) -> usize {
        self.sums.len()
    }

    /// Each bucket's four parts, borrowed, with its values, in no order.
    fn iter(&self) -> impl Iterator<Item = ([&str; 4], [Decimal; 4])> {
        self.sums.iter().map(|(key, sums)| (decode_parts(key), *sums))
    }

    /// The buckets by their four parts, in order.
    fn into_map(self) -> BTreeMap<BucketKey, [Decimal; 4]> {
        self.sums
            .into_iter()
            .map(|(key, sums)| (decode_key(&key), sums))
            .collect()
    }

    /// `into_map` of the buckets so far, leaving them to be added to.
    fn to_map(&self) -> BTreeMap<BucketKey, [Decimal; 4]> {
        self.sums.iter().map(|(key, sums)| (decode_key(key), *sums)).collect()
    }
}

/// Writes a bucket's key into `key`: its four parts, each prefixed with its length and `:`.
fn encode_key(key: &mut String, parts: [&str; 4]) {
    use std::fmt::Write as _;
    key.clear();
    for part in parts {
        // Writing into a String cannot fail.
        let _ = write!(key, "{}:", part.len());
        key.push_str(part);
    }
}

/// The four parts of a key [`encode_key`] wrote, borrowed from it.
fn decode_parts(key: &str) -> [&str; 4] {
    let mut rest = key;
    let mut parts = [""; 4];
    for part in &mut parts {
        let (length, after) = rest.split_once(':').expect("a length written by `encode_key`");
        let length: usize = length.parse().expect("a length written by `encode_key`");
        let (value, after) = after.split_at(length);
        *part = value;
        rest = after;
    }
    parts
}

/// The four parts of a key [`encode_key`] wrote.
fn decode_key(key: &str) -> BucketKey {
    let [period, account, dimensions, currency] = decode_parts(key).map(str::to_owned);
    (period, account, dimensions, currency)
}

/// The SHA-256 of balances by bucket (per dimension set), as a checkpoint records them: each
/// bucket that is not all zero, in key order (period, account, dimensions, currency, compared as
/// text), its four parts each followed by a unit separator, then its four values normalised (so
/// `10.00` and `10` digest alike) as a 16-byte little-endian mantissa and a scale byte. A bucket
/// that is all zero digests as no bucket at all: a recomputation does not create it.
#[derive(Default)]
struct BalancesDigest {
    hasher: Sha256,
}

impl BalancesDigest {
    /// Adds the next bucket in key order.
    fn add(&mut self, parts: [&str; 4], values: &[Decimal; 4]) {
        if values.iter().all(Decimal::is_zero) {
            return;
        }
        for part in parts {
            self.hasher.update(part.as_bytes());
            self.hasher.update(b"\x1f");
        }
        for value in values {
            let value = value.normalize();
            self.hasher.update(value.mantissa().to_le_bytes());
            self.hasher.update([value.scale() as u8]);
        }
    }

    fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

/// [`BalancesDigest`] of balances held by bucket.
pub fn balances_digest(balances: &BTreeMap<BucketKey, [Decimal; 4]>) -> String {
    let mut digest = BalancesDigest::default();
    for (key, values) in balances {
        digest.add(bucket_parts(key), values);
    }
    digest.finish()
}

/// A bucket's four parts, borrowed.
fn bucket_parts((period, account, dimensions, currency): &BucketKey) -> [&str; 4] {
    [period, account, dimensions, currency]
}

/// A stored balance row's bucket, borrowed.
fn parts_of(record: &BalanceRecord) -> [&str; 4] {
    [
        record.period.as_str(),
        record.account.as_str(),
        &record.dimensions,
        record.currency.as_str(),
    ]
}

/// A stored balance row's four values.
fn values_of(record: &BalanceRecord) -> [Decimal; 4] {
    [record.amount, record.accounting_amount, record.debit, record.credit]
}

/// Adds `values` to `sums`, value by value.
fn add_values(sums: &mut [Decimal; 4], values: &[Decimal; 4]) -> Result<(), LedgerError> {
    for (sum, value) in sums.iter_mut().zip(values) {
        *sum = sum.checked_add(*value).ok_or(LedgerError::Overflow)?;
    }
    Ok(())
}

/// `from` less `values`, value by value.
fn difference(from: &[Decimal; 4], values: &[Decimal; 4]) -> Result<[Decimal; 4], LedgerError> {
    let mut result = *from;
    for (sum, value) in result.iter_mut().zip(values) {
        *sum = sum.checked_sub(*value).ok_or(LedgerError::Overflow)?;
    }
    Ok(result)
}

/// What a routine check concludes from the stored balances: the digest of the stored balances
/// less what the entries since the checkpoint add (to compare with the checkpoint's), and the
/// digest of the stored balances themselves (for a new checkpoint). One pass over the rows,
/// sorted in place and merged with the recomputed additions, without copying a key; the
/// per-account rows are checked against the stored rows summed over their dimensions.
fn digests_since(
    mut stored: Vec<BalanceRecord>,
    stored_accounts: &[BalanceRecord],
    added: &BTreeMap<BucketKey, [Decimal; 4]>,
    findings: &mut Vec<Finding>,
) -> Result<(String, String), LedgerError> {
    stored.sort_unstable_by(|left, right| parts_of(left).cmp(&parts_of(right)));
    let mut at_checkpoint = BalancesDigest::default();
    let mut now = BalancesDigest::default();
    let mut added = added.iter().peekable();
    let zero = [Decimal::ZERO; 4];
    for record in &stored {
        let parts = parts_of(record);
        // Buckets the entries since added to but that have no stored row come first.
        while let Some((key, values)) = added.next_if(|(key, _)| bucket_parts(key) < parts) {
            at_checkpoint.add(bucket_parts(key), &difference(&zero, values)?);
        }
        let values = values_of(record);
        let since = added
            .next_if(|(key, _)| bucket_parts(key) == parts)
            .map_or(&zero, |(_, since)| since);
        at_checkpoint.add(parts, &difference(&values, since)?);
        now.add(parts, &values);
    }
    for (key, values) in added {
        at_checkpoint.add(bucket_parts(key), &difference(&zero, values)?);
    }
    let summed = per_account(stored.iter().map(|record| (parts_of(record), values_of(record))))?;
    compare_buckets(&bucket_map(stored_accounts, false), &summed, findings);
    Ok((at_checkpoint.finish(), now.finish()))
}

/// How often a verify reports its progress, in entries checked.
pub const VERIFY_PROGRESS_ENTRIES: u64 = 10_000;

/// Checks one entity's chain and balances from its latest checkpoint on (every entry when it
/// has none).
pub fn verify_entity(db: &Db<'_>, entity: &EntityId) -> Result<VerifyReport, LedgerError> {
    verify_entity_with_progress(db, entity, VerifyScope::SinceCheckpoint, &mut |_| {})
}

/// Checks one entity's chain and balances over `scope`, calling `progress` with the entries
/// checked so far every [`VERIFY_PROGRESS_ENTRIES`] entries.
pub fn verify_entity_with_progress(
    db: &Db<'_>,
    entity: &EntityId,
    scope: VerifyScope,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport, LedgerError> {
    let _span = tracing::info_span!("verify.entity", entity = %entity, scope = ?scope).entered();
    db.require_entity(entity)?;
    let checkpoints = db.verify_checkpoints(entity)?;
    // The checkpoints' own chain first: a routine check relies on the latest.
    let mut findings = checkpoint_findings(db, entity, &checkpoints)?;
    let latest = checkpoints.last();
    // A routine check starts after the latest checkpoint; a full check reads from the first
    // entry and takes the digest of the balances as they stood at the latest checkpoint's.
    let (since, digest_at) = match scope {
        VerifyScope::SinceCheckpoint => (latest.cloned(), None),
        VerifyScope::Full => (None, latest.map(|checkpoint| checkpoint.sequence)),
    };
    let mut report = VerifyReport::default();
    let (mut expected_sequence, mut previous_hash) = match &since {
        Some(checkpoint) => (checkpoint.sequence + 1, checkpoint.entry_hash.clone()),
        None => (1, GENESIS_HASH.to_owned()),
    };
    // This thread reads the entries in sequence and notes gaps.
    let mut gaps: Vec<(i64, Finding)> = Vec::new();
    let checked = check_while_reading(digest_at, |check| {
        let mut visit = |entry: PostedEntry| {
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
        };
        match &since {
            Some(checkpoint) => db.for_each_entry_after(entity, checkpoint.sequence, &mut visit),
            None => db.for_each_entry(entity, &mut visit),
        }
    })?;
    // An entry's gap comes before its other findings (a stable sort keeps that order).
    let mut by_sequence = gaps;
    by_sequence.extend(checked.findings);
    by_sequence.sort_by_key(|(sequence, _)| *sequence);
    findings.extend(by_sequence.into_iter().map(|(_, finding)| finding));
    let (head_sequence, head_hash) = db.ledger_head(entity)?;
    if head_sequence != expected_sequence - 1 || head_hash != previous_hash {
        findings.push(Finding::HeadMismatch {
            head_sequence,
            last_sequence: expected_sequence - 1,
        });
    }
    let stored = db.all_balances(entity)?;
    let stored_accounts = db.all_account_balances(entity)?;
    let recomputed = checked.balances.into_map();
    // No entry after the digest's sequence: the digest is that of everything recomputed.
    let digest_at_checkpoint = checked
        .digest_at
        .or_else(|| digest_at.map(|_| balances_digest(&recomputed)));
    report.balances_sha256 = match &since {
        Some(checkpoint) => {
            // What the entries since add, taken off the stored balances, must leave the
            // balances the checkpoint recorded.
            let (at_checkpoint, now) = digests_since(stored, &stored_accounts, &recomputed, &mut findings)?;
            if at_checkpoint != checkpoint.balances_sha256 {
                findings.push(Finding::BalancesSinceCheckpoint {
                    checkpoint: checkpoint.id,
                    sequence: checkpoint.sequence,
                });
            }
            now
        }
        None => {
            let stored = bucket_map(&stored, true);
            compare_buckets(&stored, &recomputed, &mut findings);
            compare_buckets(
                &bucket_map(&stored_accounts, false),
                &per_account_of(&recomputed)?,
                &mut findings,
            );
            if let (Some(checkpoint), Some(digest)) = (latest, &digest_at_checkpoint)
                && *digest != checkpoint.balances_sha256
            {
                findings.push(Finding::CheckpointBalances {
                    checkpoint: checkpoint.id,
                    sequence: checkpoint.sequence,
                });
            }
            balances_digest(&stored)
        }
    };
    findings.truncate(FINDINGS_MAX);
    report.findings = findings;
    report.since = since;
    report.last_sequence = expected_sequence - 1;
    report.last_hash = previous_hash;
    tracing::info!(
        entries_checked = report.entries_checked,
        findings = report.findings.len(),
        "entity verified"
    );
    Ok(report)
}

/// The findings about an entity's checkpoints: each must give its hash and link to the one
/// before, and the entry it covered up to must still have the hash it recorded.
fn checkpoint_findings(
    db: &Db<'_>,
    entity: &EntityId,
    checkpoints: &[VerifyCheckpoint],
) -> Result<Vec<Finding>, LedgerError> {
    let mut findings = Vec::new();
    let mut previous_hash = GENESIS_HASH;
    for checkpoint in checkpoints {
        if checkpoint.previous_hash != previous_hash || checkpoint.compute_hash() != checkpoint.hash {
            findings.push(Finding::CheckpointBroken {
                checkpoint: checkpoint.id,
                sequence: checkpoint.sequence,
            });
        }
        if db.entry_hash_at(entity, checkpoint.sequence)?.as_deref() != Some(checkpoint.entry_hash.as_str()) {
            findings.push(Finding::CheckpointEntryChanged {
                checkpoint: checkpoint.id,
                sequence: checkpoint.sequence,
            });
        }
        previous_hash = &checkpoint.hash;
    }
    Ok(findings)
}

impl crate::ledger::Ledger {
    /// Records what a clean check of `entity` established as the entity's newest verification
    /// checkpoint, for a user holding `audit.read` there (a checkpoint decides what later routine
    /// checks read), with an audit record. None when the latest checkpoint already covers the
    /// entry the check ended at. A report with findings is refused: a checkpoint vouches for the
    /// ledger up to it.
    pub fn record_verify_checkpoint(
        &mut self,
        entity: &EntityId,
        report: &VerifyReport,
    ) -> Result<Option<VerifyCheckpoint>, LedgerError> {
        let checkpoint = report.checkpoint(entity).ok_or_else(|| {
            LedgerError::Invalid(format!(
                "no checkpoint recorded for {entity}: the check found {} problems; a checkpoint is recorded only after a clean check",
                report.findings.len()
            ))
        })?;
        self.authorize(crate::access::Permission::AuditRead, Some(entity))?;
        let actor = self.actor().clone();
        self.store().write(|db| {
            let recorded = db.append_verify_checkpoint(&checkpoint, &actor.user)?;
            if let Some(recorded) = &recorded {
                db.append_audit(
                    &actor,
                    "verify.checkpoint",
                    Some(entity),
                    &serde_json::json!({
                        "checkpoint": recorded.id,
                        "sequence": recorded.sequence,
                        "scope": recorded.scope.as_str(),
                        "entries_checked": recorded.entries_checked,
                    }),
                )?;
            }
            Ok(recorded)
        })
    }
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
    let checked = check_while_reading(None, |check| {
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
    let mut entry_findings = checked.findings;
    entry_findings.sort_by_key(|(sequence, _)| *sequence);
    findings.extend(entry_findings.into_iter().map(|(_, finding)| finding));
    let periods = std::slice::from_ref(period);
    let mut recomputed = checked.balances;
    // The stored balances of the period against the recomputed ones, row by row without
    // building either side's ordered map: when every row matches and no recomputed bucket is
    // missing from them, there is nothing to report. Otherwise the ordered comparison below
    // names every difference.
    let (mut matching, mut found) = (true, 0usize);
    db.balances_of_accounts(entity, periods, AccountRows::All, true, &mut |stored| {
        let values = [stored.amount, stored.accounting_amount, stored.debit, stored.credit];
        let parts = [period.as_str(), stored.account, stored.dimensions, stored.currency];
        match recomputed.get(parts) {
            Some(sums) => {
                found += 1;
                matching &= *sums == values;
            }
            None => matching &= values.iter().all(Decimal::is_zero),
        }
        Ok(())
    })?;
    let recomputed_accounts = per_account(recomputed.iter())?;
    if !(matching && found == recomputed.len()) {
        compare_buckets(
            &bucket_map(&db.balances(entity, periods)?, true),
            &recomputed.into_map(),
            &mut findings,
        );
    }
    compare_buckets(
        &bucket_map(&db.account_balances(entity, periods)?, false),
        &recomputed_accounts,
        &mut findings,
    );
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

/// What the checking thread returns.
struct Checked {
    /// The balances recomputed from the lines read.
    balances: Buckets,
    /// The findings, by sequence.
    findings: Vec<(i64, Finding)>,
    /// The digest of the balances up to the sequence asked for, when asked and entries came
    /// after it (otherwise it is the digest of `balances`, which the caller takes).
    digest_at: Option<String>,
}

/// Runs `read` on this thread (the connection stays on it), which hands `check` each entry with
/// the stored hash before it (none: a gap in the sequence); a second thread recomputes the
/// hashes and the balances meanwhile ([`check_entries`]), a chunk of entries at a time. With
/// `digest_at`, the entries must come in sequence order: the digest of the balances up to that
/// sequence is taken on the way.
fn check_while_reading(
    digest_at: Option<i64>,
    read: impl FnOnce(&mut dyn FnMut(PostedEntry, Option<String>)) -> Result<(), LedgerError>,
) -> Result<Checked, LedgerError> {
    std::thread::scope(|scope| {
        let (sender, receiver) =
            std::sync::mpsc::sync_channel::<Vec<(PostedEntry, Option<String>)>>(CHECK_CHUNKS_AHEAD);
        let checker = scope.spawn(move || check_entries(receiver, digest_at));
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
/// gap in the sequence), checked; returns the recomputed balances and the findings by sequence,
/// and the digest of the balances up to `digest_at` when asked.
fn check_entries(
    receiver: std::sync::mpsc::Receiver<Vec<(PostedEntry, Option<String>)>>,
    digest_at: Option<i64>,
) -> Result<Checked, LedgerError> {
    let mut recomputed = Buckets::default();
    let mut findings = Vec::new();
    let mut digest = None;
    for chunk in receiver {
        for (entry, stored_previous) in chunk {
            if digest.is_none()
                && let Some(at) = digest_at
                && entry.sequence > at
            {
                digest = Some(balances_digest(&recomputed.to_map()));
            }
            let mut entry_findings = Vec::new();
            match stored_previous {
                Some(previous_hash) => check_entry(&entry, &previous_hash, &mut recomputed, &mut entry_findings)?,
                None => {
                    entry_findings.push(Finding::SequenceGap {
                        expected: entry.sequence - 1,
                        found: entry.sequence,
                        key: entry.key.to_string(),
                    });
                    check_entry(&entry, &entry.previous_hash, &mut recomputed, &mut entry_findings)?;
                }
            }
            findings.extend(entry_findings.into_iter().map(|finding| (entry.sequence, finding)));
        }
    }
    Ok(Checked {
        balances: recomputed,
        findings,
        digest_at: digest,
    })
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

/// Stored balance rows by bucket; without their dimensions for `account_balances` rows.
fn bucket_map(records: &[BalanceRecord], with_dimensions: bool) -> BTreeMap<BucketKey, [Decimal; 4]> {
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
                values_of(record),
            )
        })
        .collect()
}

/// Balances by dimension set summed over the dimensions: what `account_balances` must hold.
fn per_account<'a>(
    balances: impl IntoIterator<Item = ([&'a str; 4], [Decimal; 4])>,
) -> Result<BTreeMap<BucketKey, [Decimal; 4]>, LedgerError> {
    let mut accounts: BTreeMap<[&str; 3], [Decimal; 4]> = BTreeMap::new();
    for ([period, account, _, currency], values) in balances {
        add_values(
            accounts
                .entry([period, account, currency])
                .or_insert([Decimal::ZERO; 4]),
            &values,
        )?;
    }
    Ok(accounts
        .into_iter()
        .map(|([period, account, currency], sums)| {
            (
                (
                    period.to_owned(),
                    account.to_owned(),
                    String::new(),
                    currency.to_owned(),
                ),
                sums,
            )
        })
        .collect())
}

/// [`per_account`] of balances held by bucket.
fn per_account_of(
    balances: &BTreeMap<BucketKey, [Decimal; 4]>,
) -> Result<BTreeMap<BucketKey, [Decimal; 4]>, LedgerError> {
    per_account(balances.iter().map(|(key, values)| (bucket_parts(key), *values)))
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
mod tests;
