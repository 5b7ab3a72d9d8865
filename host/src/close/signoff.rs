//! Sign-offs: a manual task's preparer and reviewer, and the review of a step's proposal, which
//! posts it. A sign-off approves what the reviewer can see: it is refused when the figures the
//! task computed have changed since, and the proposal is validated again when it posts.

use super::config::{Task, TaskKind};
use super::review::{ProposedEntryView, posted_entries};
use super::stale::{changes_since_run, describe_changes, late_reads, mark_stale, refuse_changed_signoff};
use super::{CloseContext, finding, task_state};
use crate::step::{PostError, StepRecord, post_record};
use anyhow::Context as _;
use closebook_ledger::LedgerError;
use closebook_ledger::access::Permission;
use closebook_ledger::close_task::TaskStatus;
use closebook_ledger::ids::EntityId;
use closebook_ledger::store::{CloseTaskRecord, Db};
use serde_json::json;

/// What a sign-off did.
pub struct Signoff {
    /// One line for the terminal, e.g. `task review-accruals of ACME-US is prepared`.
    pub summary: String,
    /// The entries a review posted, as they were posted.
    pub posted: Vec<ProposedEntryView>,
}

/// Signs off a task: a manual task's preparer, then (when the task has a reviewer) its
/// reviewer; or the review of a step's proposal, which posts it.
pub fn signoff(
    context: &CloseContext<'_>,
    entity: &EntityId,
    task_id: &str,
    review: bool,
    note: Option<&str>,
    shown_run: Option<&str>,
) -> anyhow::Result<Signoff> {
    let task = context
        .config
        .task(task_id)
        .with_context(|| format!("close {} has no task {task_id}", context.config.name))?;
    let entities = context.entities()?;
    let all_entities = context.close_entities()?;
    anyhow::ensure!(
        entities.contains(entity),
        "entity {entity} is not part of close {}",
        context.config.name
    );
    super::ensure_runs_in(task, entity)?;
    // Checked before anything is written, even a stale mark.
    context.authorize(
        if review {
            Permission::CloseReview
        } else {
            Permission::ClosePrepare
        },
        entity,
    )?;
    mark_stale(context, &all_entities)?;
    let mut ledger = context.ledger()?;
    let store = ledger.store();
    let (state, waiting) = task_state(store, context, &all_entities, entity, task)?;
    if let Some(stale) = state.as_ref().filter(|state| state.status == TaskStatus::Stale)
        && matches!(task.kind, TaskKind::Plugin { .. })
    {
        // Why it is stale comes first: what it waits on is stale for the same reason.
        anyhow::bail!(no_signoff_reason(task, &task.kind, review, stale));
    }
    anyhow::ensure!(
        waiting.is_empty(),
        "task {task_id} of {entity} cannot be signed off: it waits on {}",
        waiting.join(", ")
    );
    let user = context.actor.user.to_string();
    // What the sign-off is decided on: its transaction refuses it when the task was changed
    // since (another sign-off of it, from another server or terminal, got there first).
    let read = state.clone();
    let record = state.unwrap_or_else(|| context.record(entity, task_id));
    // A sign-off from a page signs what the page showed: the run it showed (none: "") must be
    // the run the task holds, or a rerun since then would be signed unseen.
    let held = record.held_run().unwrap_or_default();
    if let Some(shown) = shown_run
        && shown != held
    {
        let describe = |run: &str| {
            if run.is_empty() {
                "no run".to_owned()
            } else {
                format!("run {run}")
            }
        };
        anyhow::bail!(
            "task {task_id} of {entity} changed since the page was shown: it now holds {} (the page showed {}), so nothing was signed; reload the page, check what it shows and sign off again",
            describe(held),
            describe(shown),
        );
    }
    // A step's findings: every one that needs it is explained for the figures of this run
    // before anyone signs the task off, and its reviewer explained none of them.
    if matches!(task.kind, TaskKind::Plugin { .. }) {
        let views = store.read(|db| finding::finding_views(db, &record))?;
        if let Some(refusal) = finding::unexplained_refusal(task_id, entity, &views) {
            anyhow::bail!(refusal);
        }
        let explainers = finding::explainers(&views);
        anyhow::ensure!(
            !review || !explainers.contains(&user),
            "{user} explained findings of task {task_id} of {entity}; someone else reviews it (a review checks the preparer's explanations)"
        );
    }
    let prepares_a_step = matches!(task.kind, TaskKind::Plugin { .. }) && record.status == TaskStatus::AwaitingSignoff;
    if !review
        && (matches!(task.kind, TaskKind::Manual { .. }) || prepares_a_step)
        && task.reviewer.as_deref() != Some(user.as_str())
    {
        ensure_preparer(context, task, entity, "prepare")?;
    }
    if let Some(reviewer) = &task.reviewer
        && review
    {
        anyhow::ensure!(
            reviewer == &user,
            "task {task_id} is reviewed by {reviewer}, not {user}"
        );
    }
    let signed = match (&task.kind, review) {
        (TaskKind::Manual { .. }, false) => prepare(task, &record, &user, note)?,
        (TaskKind::Manual { .. }, true) => review_manual(task, &record, &user)?,
        (TaskKind::Plugin { .. }, true) if record.status == TaskStatus::AwaitingReview => {
            return review_proposal(context, &all_entities, task, (record, read.as_ref()), &user, note);
        }
        // A step without review whose findings waited for its preparer (then its reviewer,
        // when it has one), as a manual task does.
        (TaskKind::Plugin { .. }, false) if record.status == TaskStatus::AwaitingSignoff => {
            prepare(task, &record, &user, note)?
        }
        (TaskKind::Plugin { .. }, true) if record.status == TaskStatus::Prepared => {
            anyhow::ensure!(
                record.ran_by.as_deref() != Some(user.as_str()),
                "the reviewer of task {task_id} must not be the user who ran the step ({user})"
            );
            review_manual(task, &record, &user)?
        }
        (kind, review) => anyhow::bail!(no_signoff_reason(task, kind, review, &record)),
    };
    save_signoff(context, &all_entities, (&record, read.as_ref()), signed, review, note)?;
    let status = if task.reviewer.is_some() && !review {
        TaskStatus::Prepared
    } else {
        TaskStatus::SignedOff
    };
    Ok(Signoff {
        summary: format!("task {task_id} of {entity} is {status}"),
        posted: Vec::new(),
    })
}

/// Refused unless the acting user is one of the task's preparers (close.toml's owner and
/// `preparers`; anyone with close.prepare when it names none). `doing` says what was refused,
/// e.g. `prepare`.
pub(super) fn ensure_preparer(
    context: &CloseContext<'_>,
    task: &Task,
    entity: &EntityId,
    doing: &str,
) -> anyhow::Result<()> {
    let mut preparers = task.preparers.clone();
    if !task.owner.is_empty() {
        preparers.push(task.owner.clone());
    }
    anyhow::ensure!(
        preparers.is_empty() || context.acting_user_is_one_of(&preparers)?,
        "{} may not {doing} task {} of {entity}: it is prepared by {} (close.toml's owner{}); act as one of them",
        context.actor.user,
        task.id,
        preparers.join(", "),
        if task.preparers.is_empty() {
            ""
        } else {
            " and preparers"
        }
    );
    Ok(())
}

/// The preparer's sign-off of a manual task.
fn prepare(task: &Task, record: &CloseTaskRecord, user: &str, note: Option<&str>) -> anyhow::Result<CloseTaskRecord> {
    let task_id = &task.id;
    let entity = &record.entity;
    if task.reviewer.as_deref() == Some(user) {
        anyhow::ensure!(
            record.status != TaskStatus::Prepared,
            "task {task_id} of {entity} is prepared by {} and waits for your review: add --review",
            record.prepared_by.as_deref().unwrap_or("its preparer")
        );
        anyhow::bail!("{user} is the reviewer of task {task_id}; someone else prepares it");
    }
    anyhow::ensure!(
        matches!(
            record.status,
            TaskStatus::Pending | TaskStatus::AwaitingSignoff | TaskStatus::Stale
        ),
        "task {task_id} of {entity} is {}{}; nothing to sign off",
        record.status,
        match (&record.prepared_by, record.status) {
            (Some(preparer), TaskStatus::Prepared | TaskStatus::SignedOff) => format!(" (prepared by {preparer})"),
            _ => String::new(),
        }
    );
    Ok(CloseTaskRecord {
        prepared_by: Some(user.to_owned()),
        reviewed_by: None,
        message: note.map(str::to_owned),
        status: if task.reviewer.is_some() {
            TaskStatus::Prepared
        } else {
            TaskStatus::SignedOff
        },
        ..record.clone()
    })
}

/// The reviewer's sign-off of a prepared manual task.
fn review_manual(task: &Task, record: &CloseTaskRecord, user: &str) -> anyhow::Result<CloseTaskRecord> {
    let task_id = &task.id;
    let entity = &record.entity;
    anyhow::ensure!(
        task.reviewer.is_some(),
        "task {task_id} has no reviewer in close.toml: its preparer's sign-off completes it (sign off without --review)"
    );
    anyhow::ensure!(
        record.status != TaskStatus::SignedOff,
        "task {task_id} of {entity} is already reviewed (by {}); nothing to sign off",
        record.reviewed_by.as_deref().unwrap_or("its reviewer")
    );
    anyhow::ensure!(
        record.status == TaskStatus::Prepared,
        "task {task_id} of {entity} is {}; the preparer signs off first",
        record.status
    );
    anyhow::ensure!(
        record.prepared_by.as_deref() != Some(user),
        "the reviewer of task {task_id} must not be its preparer ({user})"
    );
    Ok(CloseTaskRecord {
        reviewed_by: Some(user.to_owned()),
        status: TaskStatus::SignedOff,
        ..record.clone()
    })
}

/// Why a task cannot be signed off as asked, naming the true reason and the fix.
fn no_signoff_reason(task: &Task, kind: &TaskKind, review: bool, record: &CloseTaskRecord) -> String {
    let task_id = &task.id;
    let entity = &record.entity;
    match kind {
        TaskKind::Builtin(builtin) => format!(
            "task {task_id} is the built-in step builtin:{}: it completes when `closebook close run` runs it; there is nothing to sign off",
            builtin.name()
        ),
        TaskKind::Plugin { .. } if review && record.status == TaskStatus::AwaitingSignoff => format!(
            "task {task_id} of {entity} waits for its preparer's sign-off of its findings first (`closebook close signoff` without --review)"
        ),
        TaskKind::Plugin { .. } if !review && record.status == TaskStatus::Prepared => format!(
            "task {task_id} of {entity} is prepared by {} and waits for its review: add --review (its reviewer signs it off)",
            record.prepared_by.as_deref().unwrap_or("its preparer")
        ),
        TaskKind::Plugin { .. } if record.status == TaskStatus::SignedOff => format!(
            "task {task_id} of {entity} is already signed off{}; nothing to sign off",
            record
                .reviewed_by
                .as_deref()
                .or(record.prepared_by.as_deref())
                .map(|signer| format!(" (by {signer})"))
                .unwrap_or_default()
        ),
        TaskKind::Plugin { .. } if !task.review => format!(
            "task {task_id} is a plugin step without review: it posts when `closebook close run` runs it; there is nothing to sign off (set `review = true` and a reviewer in close.toml to review its proposals)"
        ),
        TaskKind::Plugin { .. } if record.status == TaskStatus::Stale => format!(
            "task {task_id} of {entity} cannot be signed off: the ledger changed after the task ran, so its figures are out of date ({}); run the close again (`closebook close run`), then sign off",
            record.message.as_deref().unwrap_or("stale")
        ),
        TaskKind::Plugin { .. } if !review && record.status == TaskStatus::AwaitingReview => format!(
            "task {task_id} of {entity} waits for the review of its proposal: add --review (its reviewer signs it off)"
        ),
        TaskKind::Plugin { .. } if record.status == TaskStatus::Done && record.reviewed_by.is_some() => format!(
            "task {task_id} of {entity} is already reviewed (by {}) and posted; nothing to sign off",
            record.reviewed_by.as_deref().unwrap_or_default()
        ),
        _ => format!(
            "task {task_id} of {entity} is {}: a step is signed off with --review once its proposal waits for review (run `closebook close run` first)",
            record.status
        ),
    }
}

/// Saves a manual task's sign-off, unless the figures it covers changed since the task ran.
fn save_signoff(
    context: &CloseContext<'_>,
    all_entities: &[EntityId],
    (before_signoff, read): (&CloseTaskRecord, Option<&CloseTaskRecord>),
    mut signed: CloseTaskRecord,
    review: bool,
    note: Option<&str>,
) -> anyhow::Result<()> {
    let entity = before_signoff.entity.clone();
    let mut ledger = context.ledger()?;
    let refused = ledger.store().write(|db| {
        if let Some(refusal) = changed_since_read(db, context, before_signoff, read)? {
            return Ok(Some(refusal));
        }
        let (reviewed_sequences, changes) = changes_since_run(db, context, before_signoff)?;
        if !changes.is_empty() {
            return refuse_changed_signoff(db, context, all_entities, before_signoff, &changes).map(Some);
        }
        signed.signoff_sequence = Some(db.ledger_head(&entity)?.0);
        signed.signoff_sequences = reviewed_sequences;
        db.save_close_task(
            &signed,
            &context.actor,
            if review { "reviewed" } else { "signed-off" },
            &json!({ "note": note }),
        )?;
        Ok(None)
    })?;
    if let Some(refusal) = refused {
        anyhow::bail!(refusal);
    }
    Ok(())
}

/// Why a sign-off is refused when the task's stored state is no longer `read`, the state it
/// was decided on (`None`: the task had no state yet): someone signed it off, reviewed it or ran
/// it again meanwhile. Checked in the sign-off's own write transaction, so of two sign-offs of
/// one task sent at once, from two servers or two terminals, exactly one is made.
fn changed_since_read(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    record: &CloseTaskRecord,
    read: Option<&CloseTaskRecord>,
) -> Result<Option<String>, LedgerError> {
    let now = db.close_task(&context.config.name, &record.entity, &context.period, &record.task)?;
    if now.as_ref() == read {
        return Ok(None);
    }
    let now = now.map_or_else(
        || "it has no state".to_owned(),
        |now| {
            let by = now
                .reviewed_by
                .as_deref()
                .or(now.prepared_by.as_deref())
                .or(now.ran_by.as_deref())
                .map(|user| format!(" by {user}"))
                .unwrap_or_default();
            format!("it is now {}{by}", now.status)
        },
    );
    Ok(Some(format!(
        "task {} of {} changed while it was being signed off: {now}, so nothing was signed; look at it again (`closebook close show --task {}`) and sign off if it still needs it",
        record.task, record.entity, record.task
    )))
}

/// The changes since a step ran that refuse its review: the entries that changed what it read.
/// A proposal recorded before reads were (migration 7) falls back to the entities its sign-off
/// covers, any posting there.
fn review_changes(
    db: &Db<'_>,
    context: &CloseContext<'_>,
    record: &CloseTaskRecord,
) -> Result<(std::collections::BTreeMap<EntityId, i64>, super::stale::LateEntries), LedgerError> {
    let (reviewed_sequences, changes) = changes_since_run(db, context, record)?;
    if record.run_reads.is_empty() {
        return Ok((reviewed_sequences, changes));
    }
    Ok((reviewed_sequences, late_reads(db, context, record)?))
}

/// The reviewer's sign-off of a step's proposal: validated again against the ledger as it is
/// now, and posted with the task's completion in one transaction.
fn review_proposal(
    context: &CloseContext<'_>,
    all_entities: &[EntityId],
    task: &Task,
    (record, read): (CloseTaskRecord, Option<&CloseTaskRecord>),
    user: &str,
    note: Option<&str>,
) -> anyhow::Result<Signoff> {
    let task_id = &task.id;
    let entity = record.entity.clone();
    anyhow::ensure!(
        record.ran_by.as_deref() != Some(user),
        "the reviewer of task {task_id} must not be the user who ran the step ({user})"
    );
    anyhow::ensure!(
        record
            .config_sha256
            .as_deref()
            .is_none_or(|ran_with| ran_with == super::config_sha256(task)),
        "the config of task {task_id} in close.toml changed since it proposed these entries; run `closebook close run --rerun {task_id}` to propose with the new config, then review"
    );
    let proposal = record
        .proposal
        .clone()
        .context("the proposal of the task is missing; run the close again")?;
    let mut step_record: StepRecord =
        serde_json::from_str(&proposal).context("the stored proposal is unreadable; run the close with --rerun")?;
    // What the step read is checked account by account (`review_changes`): a posting elsewhere
    // in its entities since it ran does not refuse the review, so the whole-entity check of a
    // fresh run does not apply.
    step_record.sequences.clear();
    let mut ledger = context.ledger()?;
    let refused = ledger.store().write(|db| {
        if let Some(refusal) = changed_since_read(db, context, &record, read)? {
            return Ok(Some(refusal));
        }
        let (_, changes) = review_changes(db, context, &record)?;
        if changes.is_empty() {
            return Ok(None);
        }
        refuse_changed_signoff(db, context, all_entities, &record, &changes).map(Some)
    })?;
    if let Some(refusal) = refused {
        anyhow::bail!(refusal);
    }
    let reviewed = CloseTaskRecord {
        status: TaskStatus::Done,
        reviewed_by: Some(user.to_owned()),
        proposal: None,
        message: note.map(str::to_owned),
        ..record.clone()
    };
    let mut changed_meanwhile = None;
    let posted = post_record(&mut ledger, &step_record, |db, outcome| {
        // Checked again with the posting: a review of the task made meanwhile, or a journal
        // that landed since the checks above, undoes the posting rather than posting twice or
        // approving unseen.
        if let Some(refusal) = changed_since_read(db, context, &record, read)? {
            changed_meanwhile = Some(refusal.clone());
            return Err(LedgerError::Invalid(refusal));
        }
        let (reviewed_sequences, changes) = review_changes(db, context, &record)?;
        if !changes.is_empty() {
            let message = format!(
                "the ledger changed while task {task_id} was being signed off ({}), so nothing was posted; sign off again (`closebook close run` first if the task is then stale)",
                describe_changes(&changes)
            );
            changed_meanwhile = Some(message.clone());
            return Err(LedgerError::Invalid(message));
        }
        // Posted under a suffixed id (a rerun of a run that posted no entry): its findings
        // go with it.
        if let Some(proposed) = record.run_id.as_deref().filter(|proposed| *proposed != outcome.run_id) {
            db.insert_findings(
                &finding::finding_task(&record),
                &outcome.run_id,
                &db.findings(proposed)?,
            )?;
        }
        let sequence = db.ledger_head(&entity)?.0;
        let done = CloseTaskRecord {
            entries_posted: outcome.entries.len() as i64,
            run_id: Some(outcome.run_id.clone()),
            signoff_sequence: Some(sequence),
            signoff_sequences: reviewed_sequences,
            ..reviewed.clone()
        };
        db.save_close_task(
            &done,
            &context.actor,
            "reviewed",
            &json!({ "note": note, "run_id": outcome.run_id }),
        )
    });
    if let Some(message) = changed_meanwhile {
        anyhow::bail!(message);
    }
    let outcome = match posted {
        Ok(outcome) => outcome,
        Err(PostError::SnapshotMoved(moved)) => return Err(moved.into()),
        Err(PostError::Refused(error)) => {
            return Err(error.context(format!(
                "the proposal of task {task_id} no longer passes the posting rules, so nothing was posted; fix the cause and run `closebook close run --rerun {task_id}` to propose again"
            )));
        }
    };
    let mut ledger = context.ledger()?;
    let store = ledger.store();
    let posted = store.read(|db| posted_entries(db, &outcome.run_id))?;
    Ok(Signoff {
        summary: format!(
            "reviewed task {task_id} of {entity}: posted {} entries",
            outcome.entries.len()
        ),
        posted,
    })
}
