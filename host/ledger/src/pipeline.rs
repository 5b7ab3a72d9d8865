//! The reading side of a journal import, run on its own thread ahead of the writer: it reads
//! the file, fingerprints and validates each entry and, for a posting import, stamps it with
//! its place in the hash chain. The writer (the thread holding the SQLite transaction) is left
//! with the idempotency check, the inserts and the balance sums. On a 2-core machine the two
//! halves run side by side; chunks of entries cross a bounded channel, so memory stays bounded
//! whatever the size of the file.

use crate::import::JournalItem;
use crate::journal::{EntryRefusal, NewEntry, PostingRules};
use crate::store::{StagedEntry, Stager};
use std::sync::mpsc::SyncSender;

/// Entries per message from the reader to the writer: large enough that the channel's cost
/// per entry is negligible.
pub(crate) const CHUNK_ENTRIES: usize = 256;
/// Messages the reader may be ahead of the writer: what bounds the entries in flight.
pub(crate) const CHUNKS_AHEAD: usize = 8;

/// One item of the file, as the reader hands it over.
pub(crate) enum ReadItem {
    /// Lines the reader could not make an entry of.
    Unreadable(EntryRefusal),
    Entry {
        entry: NewEntry,
        fingerprint: String,
        checked: Checked,
    },
}

/// What the rules said of an entry.
pub(crate) enum Checked {
    Refused(Vec<EntryRefusal>),
    /// Valid, for an import that keeps drafts.
    Valid,
    /// Valid and stamped for posting.
    Staged(Box<StagedEntry>),
}

/// Reads `items` to the end, or until the writer hangs up, sending them in chunks.
pub(crate) fn read_ahead(
    items: impl Iterator<Item = JournalItem>,
    rules: &PostingRules,
    mut stager: Option<Stager>,
    sender: &SyncSender<Vec<ReadItem>>,
) {
    let mut chunk = Vec::with_capacity(CHUNK_ENTRIES);
    for item in items {
        chunk.push(match item {
            Err(refusal) => ReadItem::Unreadable(refusal),
            Ok(entry) => {
                let fingerprint = entry.fingerprint();
                let checked = match rules.validate_fingerprinted(&entry, fingerprint.clone()) {
                    Err(refusals) => Checked::Refused(refusals),
                    Ok(valid) => match stager.as_mut() {
                        Some(stager) => Checked::Staged(Box::new(stager.stage(valid))),
                        None => Checked::Valid,
                    },
                };
                ReadItem::Entry {
                    entry,
                    fingerprint,
                    checked,
                }
            }
        });
        if chunk.len() == CHUNK_ENTRIES {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ENTRIES));
            if sender.send(full).is_err() {
                // The writer stopped (too many refusals, or an error): nothing more is needed.
                return;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = sender.send(chunk);
    }
}
