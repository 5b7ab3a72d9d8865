//! The verify module's tests: the whole-ledger check from a checkpoint and in full, and the
//! digest and bucket keys they rely on.

use super::*;
use crate::ledger::Ledger;
use crate::store::NewCheckpoint;
use crate::test_fixtures::{import_csv, one_entity_ledger};

fn entity() -> EntityId {
    EntityId::new("E")
}

/// A ledger with one two-line entry per key, 1000 against 4000, in January.
fn ledger_with(keys: &[&str]) -> Ledger {
    let mut ledger = one_entity_ledger("auditor");
    import(&mut ledger, keys);
    ledger
}

fn import(ledger: &mut Ledger, keys: &[&str]) {
    let mut journal = String::from("entry,date,account,amount\n");
    for (index, key) in keys.iter().enumerate() {
        let amount = format!("{}.25", index + 1);
        journal.push_str(&format!("{key},2026-01-{:02},1000,{amount}\n", index + 2));
        journal.push_str(&format!("{key},2026-01-{:02},4000,-{amount}\n", index + 2));
    }
    import_csv(ledger, &journal).unwrap();
}

fn check(ledger: &mut Ledger, scope: VerifyScope) -> VerifyReport {
    ledger
        .read(|db| verify_entity_with_progress(db, &entity(), scope, &mut |_| {}))
        .unwrap()
}

/// A full check, then a checkpoint at its end.
fn checkpoint(ledger: &mut Ledger) -> VerifyCheckpoint {
    let report = check(ledger, VerifyScope::Full);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    ledger.record_verify_checkpoint(&entity(), &report).unwrap().unwrap()
}

/// Runs SQL on the database as someone with sqlite3 or psql would, with the append-only triggers
/// gone.
fn tamper(ledger: &mut Ledger, sql: &str) {
    ledger.store().tamper(sql).unwrap();
}

fn findings(report: &VerifyReport) -> Vec<String> {
    report.findings.iter().map(ToString::to_string).collect()
}

#[test]
fn a_routine_check_reads_only_the_entries_since_the_checkpoint_and_sees_a_change_among_them() {
    let mut ledger = ledger_with(&["A", "B", "C"]);
    let first = checkpoint(&mut ledger);
    assert_eq!(
        (first.sequence, first.scope, first.entries_checked),
        (3, CheckpointScope::Full, 3)
    );
    import(&mut ledger, &["D", "E"]);
    let routine = check(&mut ledger, VerifyScope::SinceCheckpoint);
    assert_eq!(routine.entries_checked, 2, "only D and E are read");
    assert_eq!(routine.since.as_ref().map(|since| since.id), Some(first.id));
    assert!(routine.findings.is_empty(), "{:?}", routine.findings);
    // A checkpoint after a routine check chains to the first and covers D and E.
    let second = ledger.record_verify_checkpoint(&entity(), &routine).unwrap().unwrap();
    assert_eq!(
        (second.sequence, second.scope, second.entries_checked),
        (5, CheckpointScope::SinceCheckpoint, 2)
    );
    assert_eq!(second.previous_hash, first.hash);
    assert!(
        ledger.record_verify_checkpoint(&entity(), &routine).unwrap().is_none(),
        "nothing new to cover"
    );
    assert_eq!(check(&mut ledger, VerifyScope::SinceCheckpoint).entries_checked, 0);
    // A line of an entry after the latest checkpoint changed in the file.
    import(&mut ledger, &["F"]);
    tamper(
        &mut ledger,
        "UPDATE lines SET amount = '9.00', accounting_amount = '9.00' WHERE account = '1000' AND entry_id = (SELECT id FROM entries WHERE entry_key = 'F');",
    );
    let routine = check(&mut ledger, VerifyScope::SinceCheckpoint);
    assert_eq!(routine.entries_checked, 1);
    let found = findings(&routine);
    assert!(
        found
            .iter()
            .any(|finding| finding.starts_with("entry 6 (F) does not match its hash")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|finding| finding.starts_with("entry 6 (F) does not balance")),
        "{found:?}"
    );
    assert!(routine.checkpoint(&entity()).is_none(), "no checkpoint over a finding");
    assert!(ledger.record_verify_checkpoint(&entity(), &routine).is_err());
}

#[test]
fn a_change_before_the_checkpoint_is_found_by_the_full_check_and_by_the_routine_one_where_it_shows() {
    // An older entry's description changed: its balances are untouched, so the routine
    // check cannot see it (the documented limit); the full check can.
    let mut ledger = ledger_with(&["A", "B", "C"]);
    let recorded = checkpoint(&mut ledger);
    tamper(
        &mut ledger,
        "UPDATE entries SET description = 'changed' WHERE entry_key = 'A';",
    );
    assert!(check(&mut ledger, VerifyScope::SinceCheckpoint).findings.is_empty());
    let full = findings(&check(&mut ledger, VerifyScope::Full));
    assert_eq!(full.len(), 1, "{full:?}");
    assert!(full[0].starts_with("entry 1 (A) does not match its hash"), "{full:?}");

    // A stored balance from before the checkpoint changed: the routine check sees it.
    tamper(
        &mut ledger,
        "UPDATE balances SET amount = '0.01', accounting_amount = '0.01', debit = '0.01' WHERE account = '1000';",
    );
    let routine = findings(&check(&mut ledger, VerifyScope::SinceCheckpoint));
    assert!(
        routine.iter().any(|finding| finding.contains(&format!(
            "differ from those verification checkpoint {} recorded",
            recorded.id
        ))),
        "{routine:?}"
    );
    assert!(
        routine
            .iter()
            .any(|finding| finding.starts_with("balance of account 1000 [] USD in 2026-01")),
        "account_balances no longer sum the balances: {routine:?}"
    );

    // The checkpointed entry itself rewritten, with a hash that fits its fields.
    let mut ledger = ledger_with(&["A", "B", "C"]);
    checkpoint(&mut ledger);
    tamper(&mut ledger, "UPDATE entries SET hash = 'f00d' WHERE entry_key = 'C';");
    let routine = findings(&check(&mut ledger, VerifyScope::SinceCheckpoint));
    assert!(
        routine
            .iter()
            .any(|finding| finding.starts_with("entry 3 no longer has the hash verification checkpoint")),
        "{routine:?}"
    );
}

#[test]
fn an_edited_or_forged_checkpoint_is_reported() {
    // Edited in the file: its hash no longer fits.
    let mut ledger = ledger_with(&["A", "B"]);
    checkpoint(&mut ledger);
    tamper(&mut ledger, "UPDATE verify_checkpoints SET sequence = 1;");
    let routine = findings(&check(&mut ledger, VerifyScope::SinceCheckpoint));
    assert!(
        routine
            .iter()
            .any(|finding| finding.starts_with("verification checkpoint 1 (up to entry 1) does not match its hash")),
        "{routine:?}"
    );

    // Written through the store with a digest no check computed: the routine check sees
    // that the balances do not fit it, the full check that its entries do not add up to it.
    let mut ledger = ledger_with(&["A", "B"]);
    let report = check(&mut ledger, VerifyScope::Full);
    ledger
        .store()
        .write(|db| {
            db.append_verify_checkpoint(
                &NewCheckpoint {
                    balances_sha256: "0".repeat(64),
                    ..report.checkpoint(&entity()).unwrap()
                },
                &crate::ids::UserId::new("mallory"),
            )
        })
        .unwrap();
    let routine = findings(&check(&mut ledger, VerifyScope::SinceCheckpoint));
    assert_eq!(routine.len(), 1, "{routine:?}");
    assert!(
        routine[0].starts_with("the stored balances, less what the entries after entry 2 add"),
        "{routine:?}"
    );
    let full = findings(&check(&mut ledger, VerifyScope::Full));
    assert_eq!(full.len(), 1, "{full:?}");
    assert!(
        full[0].starts_with("the balances recomputed from the lines up to entry 2 differ"),
        "{full:?}"
    );
}

#[test]
fn balances_first_made_after_the_checkpoint_are_checked_too() {
    // Entries since the checkpoint in another month make new balance rows: clean while
    // they are there, found when one is deleted from the file.
    let mut ledger = ledger_with(&["A", "B"]);
    checkpoint(&mut ledger);
    import_csv(
        &mut ledger,
        "entry,date,account,amount\nF1,2026-02-03,1000,4.00\nF1,2026-02-03,4000,-4.00\n",
    )
    .unwrap();
    let routine = check(&mut ledger, VerifyScope::SinceCheckpoint);
    assert_eq!(routine.entries_checked, 1);
    assert!(routine.findings.is_empty(), "{:?}", routine.findings);
    tamper(
        &mut ledger,
        "DELETE FROM balances WHERE period = '2026-02' AND account = '4000';",
    );
    let found = findings(&check(&mut ledger, VerifyScope::SinceCheckpoint));
    assert!(
        found
            .iter()
            .any(|finding| finding.starts_with("the stored balances, less what")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|finding| finding.starts_with("balance of account 4000 [] USD in 2026-02")),
        "{found:?}"
    );
}

#[test]
fn the_full_check_digests_the_balances_as_they_stood_at_the_checkpoint() {
    // Entries after the checkpoint do not change what the full check compares with it.
    let mut ledger = ledger_with(&["A", "B"]);
    checkpoint(&mut ledger);
    import(&mut ledger, &["C", "D"]);
    let full = check(&mut ledger, VerifyScope::Full);
    assert_eq!(full.entries_checked, 4);
    assert!(full.findings.is_empty(), "{:?}", full.findings);
}

#[test]
fn the_balances_digest_ignores_scale_and_all_zero_buckets() {
    let key = |account: &str| {
        (
            "2026-01".to_owned(),
            account.to_owned(),
            String::new(),
            "USD".to_owned(),
        )
    };
    let values = |text: &str| {
        let value: Decimal = text.parse().unwrap();
        [value, value, value, Decimal::ZERO]
    };
    let plain = BTreeMap::from([(key("1000"), values("10"))]);
    let scaled = BTreeMap::from([(key("1000"), values("10.00")), (key("2000"), values("0.00"))]);
    assert_eq!(balances_digest(&plain), balances_digest(&scaled));
    let other = BTreeMap::from([(key("1000"), values("10.01"))]);
    assert_ne!(balances_digest(&plain), balances_digest(&other));
    let moved = BTreeMap::from([(key("1001"), values("10"))]);
    assert_ne!(balances_digest(&plain), balances_digest(&moved));
}

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
