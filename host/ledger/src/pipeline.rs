//! The reading side of a journal import, run on its own thread ahead of the writer: it reads
//! the file, fingerprints and validates each entry and, for a posting import, stamps it with
//! its place in the hash chain. The writer (the thread holding the SQLite transaction) is left
//! with the idempotency check, the inserts and the balance sums. On a 2-core machine the two
//! halves run side by side; chunks of entries cross a bounded channel, so the entries in flight
//! are bounded whatever the size of the file.
//!
//! The reader also refuses an entry key that appears twice in one file: the writer cannot tell
//! a key posted earlier in the same transaction from one imported before, and would report the
//! second occurrence as "already imported". For that it remembers a 128-bit hash of every key
//! read with the place its entry starts: about 50 bytes per entry (50 MB for a million), the
//! only part of an import that grows with the file, and about half of what the keys themselves
//! would take. Two different keys share a 128-bit hash with a chance below 10^-26 in a file of
//! a million entries, far less than the SHA-256 fingerprints entries are compared by.

use crate::ids::EntryKey;
use crate::import::JournalItem;
use crate::journal::{EntryRefusal, NewEntry, PostingRules, Refusal, ValidEntry};
use crate::store::{StagedEntry, Stager};
use rustc_hash::FxHashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::mpsc::SyncSender;

/// Entries per message from the reader to the writer: large enough that the channel's cost
/// per entry is negligible.
pub(crate) const CHUNK_ENTRIES: usize = 256;
/// Messages the reader may be ahead of the writer: what bounds the entries in flight.
pub(crate) const CHUNKS_AHEAD: usize = 8;

/// One item of the file, as the reader hands it over; `S` is what a valid entry carries (see
/// [`Stage`]).
pub(crate) enum ReadItem<S> {
    /// Lines the reader could not make an entry of.
    Unreadable(EntryRefusal),
    Entry {
        entry: NewEntry,
        fingerprint: String,
        checked: Checked<S>,
    },
}

/// What the rules said of an entry.
pub(crate) enum Checked<S> {
    Refused(Vec<EntryRefusal>),
    /// Valid, with what the import's writer needs of it.
    Valid(S),
}

/// What the reader does with a valid entry for the writer: an import that keeps drafts needs
/// nothing of it ([`KeepDrafts`]); a posting import needs it stamped with its place in the hash
/// chain ([`Stager`]). The type says which, so a posting import never meets an unstamped entry.
pub(crate) trait Stage: Send {
    type Staged: Send;
    fn stage(&mut self, valid: ValidEntry) -> Self::Staged;
}

impl Stage for Stager {
    type Staged = Box<StagedEntry>;

    fn stage(&mut self, valid: ValidEntry) -> Box<StagedEntry> {
        Box::new(Stager::stage(self, valid))
    }
}

/// The stage of an import that keeps drafts: the entry itself is what it writes.
pub(crate) struct KeepDrafts;

impl Stage for KeepDrafts {
    type Staged = ();

    fn stage(&mut self, _valid: ValidEntry) {}
}

/// Reads `items` to the end, or until the writer hangs up, sending them in chunks.
pub(crate) fn read_ahead<S: Stage>(
    items: impl Iterator<Item = JournalItem>,
    rules: &PostingRules,
    mut stage: S,
    sender: &SyncSender<Vec<ReadItem<S::Staged>>>,
    import_span: &tracing::Span,
) {
    let mut chunk = Vec::with_capacity(CHUNK_ENTRIES);
    let mut keys_read = KeysRead::default();
    // One span a chunk (not an entry), closed before the chunk is sent so that waiting for the
    // writer is not counted as reading.
    let chunk_span = || tracing::debug_span!(parent: import_span, "import.read").entered();
    let mut reading = chunk_span();
    for (index, item) in items.enumerate() {
        chunk.push(match item {
            Err(refusal) => ReadItem::Unreadable(refusal),
            Ok(entry) => match keys_read.repeated(&entry, index) {
                Some(refusal) => ReadItem::Unreadable(refusal),
                None => {
                    let fingerprint = entry.fingerprint();
                    let checked = match rules.validate_fingerprinted(&entry, fingerprint.clone()) {
                        Err(refusals) => Checked::Refused(refusals),
                        Ok(valid) => Checked::Valid(stage.stage(valid)),
                    };
                    ReadItem::Entry {
                        entry,
                        fingerprint,
                        checked,
                    }
                }
            },
        });
        if chunk.len() == CHUNK_ENTRIES {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ENTRIES));
            drop(reading);
            if sender.send(full).is_err() {
                // The writer stopped (too many refusals, or an error): nothing more is needed.
                return;
            }
            reading = chunk_span();
        }
    }
    drop(reading);
    if !chunk.is_empty() {
        let _ = sender.send(chunk);
    }
}

/// The keys of the entries read so far, each as a 128-bit hash with where its entry starts in
/// the file: the line of a CSV file, or the position (from 1) of an entry in a JSON array, whose
/// entries carry no line numbers.
#[derive(Default)]
struct KeysRead {
    starts: FxHashMap<(u64, u64), u64>,
}

impl KeysRead {
    /// Notes the entry's key, or refuses the entry when its key was read before.
    fn repeated(&mut self, entry: &NewEntry, index: usize) -> Option<EntryRefusal> {
        let line = entry.lines.first().and_then(|line| line.source_line);
        let start = line.unwrap_or(index as u64 + 1);
        let first = *self.starts.entry(key_hash(&entry.key)).or_insert(start);
        if first == start {
            return None;
        }
        let places = if line.is_some() { "lines" } else { "entries" };
        Some(EntryRefusal {
            key: entry.key.clone(),
            source_line: line,
            reason: Refusal::Malformed {
                message: repeated_key_message(&entry.key, places, first, start),
            },
        })
    }
}

/// Two SipHash values of the key, each over a different prefix: 128 bits.
fn key_hash(key: &EntryKey) -> (u64, u64) {
    let half = |prefix: u8| {
        let mut hasher = DefaultHasher::new();
        prefix.hash(&mut hasher);
        key.as_str().hash(&mut hasher);
        hasher.finish()
    };
    (half(0), half(1))
}

/// `entry SE-401 appears twice in this file (lines 3 and 9); give each entry its own key`.
fn repeated_key_message(key: &EntryKey, places: &str, first: u64, second: u64) -> String {
    format!("entry {key} appears twice in this file ({places} {first} and {second}); give each entry its own key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::CsvJournalReader;
    use crate::period::Module;

    #[test]
    fn a_key_read_twice_is_refused_with_both_places() {
        // Proves the reader names the first and the repeated place of a key, and lets the
        // first through.
        let csv = "entry,date,account,amount\nA,2026-01-05,1000,1\nA,2026-01-05,4000,-1\nB,2026-01-05,1000,1\nA,2026-01-06,1000,2\n";
        let mut keys_read = KeysRead::default();
        let results: Vec<Option<String>> = CsvJournalReader::new(csv.as_bytes(), "x.csv", Module::Ledger)
            .unwrap()
            .enumerate()
            .map(|(index, item)| {
                keys_read
                    .repeated(&item.unwrap(), index)
                    .map(|refusal| refusal.to_string())
            })
            .collect();
        assert_eq!(
            results,
            [
                None,
                None,
                Some(
                    "line 5: entry A: entry A appears twice in this file (lines 2 and 5); give each entry its own key"
                        .to_owned()
                )
            ]
        );
    }
}
