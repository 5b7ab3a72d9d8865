//! Findings of a task's step (interface 0.2: flux variances and the like) and their
//! explanations. A step reports findings; the host checks them, keeps them with the run, and
//! holds the task's sign-off until the preparer has explained every finding that needs it
//! (`closebook close explain`). An explanation is bound to the figures it explains: a rerun
//! after a late journal that finds other figures reopens the finding.

use super::CloseContext;
use crate::plugin::types::Finding;
use anyhow::Context as _;
use closebook_ledger::LedgerError;
use closebook_ledger::access::Permission;
use closebook_ledger::close_task::TaskStatus;
use closebook_ledger::dimension::{self, DimensionValues};
use closebook_ledger::ids::{AccountNumber, EntityId};
use closebook_ledger::store::{CloseTaskRecord, Db, FindingExplanation, FindingKey, FindingRecord, FindingTask};
use serde::Serialize;
use serde_json::json;

/// The most characters an explanation may have.
pub const EXPLANATION_CHARS_MAX: usize = 2_000;

/// Where a finding stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingStatus {
    /// Explained for the figures it has now.
    Explained,
    /// Needs an explanation and has none.
    Unexplained,
    /// Was explained for other figures: the balance changed since (a late journal).
    Reopened,
    /// Needs no explanation and has none.
    Noted,
}

impl FindingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Explained => "explained",
            FindingStatus::Unexplained => "unexplained",
            FindingStatus::Reopened => "reopened",
            FindingStatus::Noted => "noted",
        }
    }

    /// Whether it holds up the task's sign-off.
    pub fn blocks_signoff(self, finding: &FindingRecord) -> bool {
        finding.explanation_required && matches!(self, FindingStatus::Unexplained | FindingStatus::Reopened)
    }
}

/// A finding of the task's last run with where it stands and its explanation.
#[derive(Clone, Debug, Serialize)]
pub struct FindingView {
    #[serde(flatten)]
    pub finding: FindingRecord,
    pub status: FindingStatus,
    /// The latest explanation of these figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<FindingExplanation>,
    /// For a reopened finding: the latest explanation of the same account and measure, given
    /// for other figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub earlier: Option<FindingExplanation>,
}

impl FindingView {
    /// `6100` or `6100 (department=300)`, with what was measured.
    pub fn subject(&self) -> String {
        subject(&self.finding.key)
    }
}

/// What a finding is of, for a message: a step wrote the measure, so control characters are
/// shown escaped.
fn subject(key: &FindingKey) -> String {
    let text = if key.dimensions.is_empty() {
        format!("{} ({})", key.account, key.measure)
    } else {
        format!("{} {} ({})", key.account, key.dimensions, key.measure)
    };
    crate::output::visible(&text).into_owned()
}

/// How many findings a message names; the rest are counted (`close show` lists them all).
const FINDINGS_QUOTED_MAX: usize = 5;

/// `a, b, c` of at most [`FINDINGS_QUOTED_MAX`] subjects, with `and N more`.
fn quoted_subjects(subjects: &[String]) -> String {
    let mut text = subjects[..subjects.len().min(FINDINGS_QUOTED_MAX)].join(", ");
    if subjects.len() > FINDINGS_QUOTED_MAX {
        text.push_str(&format!(" and {} more", subjects.len() - FINDINGS_QUOTED_MAX));
    }
    text
}

/// The findings a step reported, checked against the ledger: of the entity the step ran for,
/// on an account of its chart, with figures that are decimals and well-formed dimension
/// values. A refusal names the finding and what is wrong with it.
pub fn checked_findings(db: &Db<'_>, entity: &EntityId, findings: &[Finding]) -> anyhow::Result<Vec<FindingRecord>> {
    if findings.is_empty() {
        return Ok(Vec::new());
    }
    let chart = db.require_entity(entity)?.chart;
    let accounts = db.accounts(&chart)?;
    let mut checked = Vec::with_capacity(findings.len());
    for (index, finding) in findings.iter().enumerate() {
        let number = index + 1;
        anyhow::ensure!(
            finding.entity == entity.as_str(),
            "finding {number} is of entity {}; a step reports findings of the entity it runs for ({entity})",
            finding.entity
        );
        anyhow::ensure!(
            accounts
                .iter()
                .any(|account| account.number.as_str() == finding.account),
            "finding {number} names account {}, which is not in the chart of {entity}",
            finding.account
        );
        anyhow::ensure!(
            !finding.measure.trim().is_empty(),
            "finding {number} (account {}) does not say what it measured",
            finding.account
        );
        // The boundary's decimal grammar, as for amounts (no `+`, no `_`, no exponent).
        let figure = |name: &str, text: &str| {
            closebook_ledger::money::parse_decimal(text).ok().with_context(|| {
                format!(
                    "finding {number} (account {}): {name} `{text}` is not a decimal number",
                    finding.account
                )
            })
        };
        let mut values = DimensionValues::new();
        for value in &finding.dimensions {
            anyhow::ensure!(
                dimension::is_valid_dimension_text(&value.name) && dimension::is_valid_dimension_text(&value.value),
                "finding {number} (account {}): dimension `{}={}` is not a dimension name and value",
                finding.account,
                value.name,
                value.value
            );
            values.insert(value.name.clone(), value.value.clone());
        }
        checked.push(FindingRecord {
            key: FindingKey {
                account: AccountNumber::new(finding.account.clone()),
                dimensions: dimension::canonical(&values),
                measure: finding.measure.clone(),
                current: figure("current", &finding.current)?,
                baseline: figure("baseline", &finding.baseline)?,
            },
            threshold: finding.threshold.clone(),
            explanation_required: finding.explanation_required,
            message: finding.message.clone(),
        });
    }
    Ok(checked)
}

/// The task a close task record is of, for the finding store.
pub fn finding_task(record: &CloseTaskRecord) -> FindingTask<'_> {
    FindingTask {
        close: &record.close,
        entity: &record.entity,
        period: &record.period,
        task: &record.task,
    }
}

/// The findings of the task's last run, each with where it stands.
pub fn finding_views(db: &Db<'_>, record: &CloseTaskRecord) -> Result<Vec<FindingView>, LedgerError> {
    let Some(run_id) = record.held_run() else {
        return Ok(Vec::new());
    };
    let findings = db.findings(run_id)?;
    if findings.is_empty() {
        return Ok(Vec::new());
    }
    let explanations = db.finding_explanations(&finding_task(record))?;
    Ok(findings
        .into_iter()
        .map(|finding| {
            let explanation = explanations
                .iter()
                .rev()
                .find(|explanation| explanation.key == finding.key)
                .cloned();
            let earlier = match explanation {
                Some(_) => None,
                None => explanations
                    .iter()
                    .rev()
                    .find(|explanation| explanation.key.same_subject(&finding.key))
                    .cloned(),
            };
            let status = match (&explanation, &earlier) {
                (Some(_), _) => FindingStatus::Explained,
                (None, Some(_)) => FindingStatus::Reopened,
                (None, None) if finding.explanation_required => FindingStatus::Unexplained,
                (None, None) => FindingStatus::Noted,
            };
            FindingView {
                finding,
                status,
                explanation,
                earlier,
            }
        })
        .collect())
}

/// Why the task cannot be signed off while findings wait for an explanation, with the command
/// that explains them; None when none does.
pub fn unexplained_refusal(task_id: &str, entity: &EntityId, views: &[FindingView]) -> Option<String> {
    let waiting: Vec<String> = views
        .iter()
        .filter(|view| view.status.blocks_signoff(&view.finding))
        .map(|view| match view.status {
            FindingStatus::Reopened => format!(
                "{} (reopened: the figure changed since it was explained)",
                view.subject()
            ),
            _ => view.subject(),
        })
        .collect();
    if waiting.is_empty() {
        return None;
    }
    Some(format!(
        "task {task_id} of {entity} cannot be signed off: {} finding{} need{} an explanation from its preparer: {}; explain each with `closebook close explain --task {task_id} --entity {entity} --account ACCOUNT --text \"…\"`",
        waiting.len(),
        if waiting.len() == 1 { "" } else { "s" },
        if waiting.len() == 1 { "s" } else { "" },
        quoted_subjects(&waiting)
    ))
}

/// The task note's part about findings: `1 finding needs an explanation (6100 (movement vs
/// prior period))`, or None when none needs one.
pub fn findings_note(views: &[FindingView]) -> Option<String> {
    let waiting: Vec<String> = views
        .iter()
        .filter(|view| view.status.blocks_signoff(&view.finding))
        .map(FindingView::subject)
        .collect();
    match waiting.len() {
        0 => None,
        1 => Some(format!("1 finding needs an explanation: {}", waiting[0])),
        count => Some(format!(
            "{count} findings need an explanation: {}",
            quoted_subjects(&waiting)
        )),
    }
}

/// The users who explained findings of the task's last run: none of them may review it.
pub fn explainers(views: &[FindingView]) -> Vec<String> {
    let mut users: Vec<String> = views
        .iter()
        .filter_map(|view| view.explanation.as_ref())
        .map(|explanation| explanation.explained_by.to_string())
        .collect();
    users.sort();
    users.dedup();
    users
}

/// What to explain: the finding's account, optionally its dimension values and measure.
pub struct ExplainTarget<'a> {
    pub account: &'a str,
    /// `NAME=VALUE` pairs: the finding of exactly these dimension values (none: of the whole
    /// account); None for the account's findings whatever their dimension values.
    pub dimensions: Option<&'a [String]>,
    pub measure: Option<&'a str>,
}

/// Records the acting user's explanation of the findings of `task_id` of `entity` that match
/// `target`, for the figures its last run found. Returns what was explained, one line each.
pub fn explain(
    context: &CloseContext<'_>,
    entity: &EntityId,
    task_id: &str,
    target: &ExplainTarget<'_>,
    text: &str,
) -> anyhow::Result<Vec<String>> {
    let task = context
        .config
        .task(task_id)
        .with_context(|| format!("close {} has no task {task_id}", context.config.name))?;
    anyhow::ensure!(
        context.entities()?.contains(entity),
        "entity {entity} is not part of close {}",
        context.config.name
    );
    super::ensure_runs_in(task, entity)?;
    context.authorize(Permission::ClosePrepare, entity)?;
    let text = text.trim();
    anyhow::ensure!(
        !text.is_empty(),
        "the explanation is empty: say why the figure moved, e.g. --text \"storage rent from February\""
    );
    anyhow::ensure!(
        text.chars().count() <= EXPLANATION_CHARS_MAX,
        "the explanation has {} characters; the most is {EXPLANATION_CHARS_MAX}: keep the detail in evidence",
        text.chars().count()
    );
    let user = context.actor.user.to_string();
    anyhow::ensure!(
        task.reviewer.as_deref() != Some(user.as_str()),
        "{user} reviews task {task_id}; its preparer explains the findings, so that the review is by someone else"
    );
    super::signoff::ensure_preparer(context, task, entity, "explain the findings of")?;
    let mut values = DimensionValues::new();
    for pair in target.dimensions.unwrap_or_default() {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("dimension `{pair}` is not NAME=VALUE, like department=100"))?;
        anyhow::ensure!(
            values.insert(name.to_owned(), value.to_owned()).is_none(),
            "dimension {name} is given twice: give it once"
        );
    }
    let dimensions = dimension::canonical(&values);
    let all_entities = context.close_entities()?;
    super::stale::mark_stale(context, &all_entities)?;
    let mut ledger = context.ledger()?;
    let explained = ledger.store().write(|db| {
        let refuse = |message: String| Err(LedgerError::Invalid(message));
        let Some(record) = db.close_task(&context.config.name, entity, &context.period, task_id)? else {
            return refuse(format!(
                "task {task_id} of {entity} has not run for {}: run the close (`closebook close run`), then explain its findings",
                context.period
            ));
        };
        match record.status {
            TaskStatus::Stale => {
                return refuse(format!(
                    "task {task_id} of {entity} is stale ({}): its findings are of figures that have changed; run the close again (`closebook close run`), then explain the findings of the new run",
                    record.message.as_deref().unwrap_or("the ledger changed after it ran")
                ));
            }
            TaskStatus::Done | TaskStatus::SignedOff if record.reviewed_by.is_some() || record.prepared_by.is_some() => {
                return refuse(format!(
                    "task {task_id} of {entity} is already signed off (by {}); its findings were explained before",
                    record
                        .reviewed_by
                        .as_deref()
                        .or(record.prepared_by.as_deref())
                        .unwrap_or_default()
                ));
            }
            TaskStatus::Prepared => {
                return refuse(format!(
                    "task {task_id} of {entity} is prepared by {}: its reviewer reviews the explanations that were signed off; to change one, run the task again (`closebook close run --rerun {task_id}`) and prepare it again",
                    record.prepared_by.as_deref().unwrap_or("its preparer")
                ));
            }
            _ => {}
        }
        let views = finding_views(db, &record)?;
        if views.is_empty() {
            return refuse(format!(
                "task {task_id} of {entity} has no findings in its last run{}; there is nothing to explain",
                record.run_id.as_deref().map(|run| format!(" ({run})")).unwrap_or_default()
            ));
        }
        let matching: Vec<&FindingView> = views
            .iter()
            .filter(|view| {
                view.finding.key.account.as_str() == target.account
                    && (target.dimensions.is_none() || view.finding.key.dimensions == dimensions)
                    && target.measure.is_none_or(|measure| view.finding.key.measure == measure)
            })
            .collect();
        if matching.is_empty() {
            let subjects: Vec<String> = views.iter().map(FindingView::subject).collect();
            return refuse(format!(
                "task {task_id} of {entity} found no variance on account {}{}{} in its last run; its findings are: {}",
                target.account,
                if dimensions.is_empty() {
                    String::new()
                } else {
                    format!(" ({dimensions})")
                },
                target.measure.map(|measure| format!(" measured as {measure}")).unwrap_or_default(),
                quoted_subjects(&subjects)
            ));
        }
        let run_id = record.run_id.clone().unwrap_or_default();
        let task_ref = finding_task(&record);
        let mut explained = Vec::new();
        for view in &matching {
            let id = db.insert_finding_explanation(&task_ref, &view.finding.key, text, &run_id, &context.actor)?;
            explained.push((id, view));
        }
        let details = json!({
            "run_id": run_id,
            "explanations": explained.iter().map(|(id, view)| json!({
                "id": id,
                "account": view.finding.key.account,
                "dimensions": view.finding.key.dimensions,
                "measure": view.finding.key.measure,
                "current": view.finding.key.current.to_string(),
                "baseline": view.finding.key.baseline.to_string(),
            })).collect::<Vec<_>>(),
            "text": text,
        });
        // The task's history says who explained what; its state is unchanged.
        db.save_close_task(&record, &context.actor, "explained", &details)?;
        Ok(explained
            .iter()
            .map(|(_, view)| {
                format!(
                    "explained {}: {} against {}",
                    view.subject(),
                    view.finding.key.current,
                    view.finding.key.baseline
                )
            })
            .collect())
    })?;
    Ok(explained)
}

#[cfg(test)]
mod tests {
    use super::*;
    use closebook_ledger::Ledger;
    use closebook_ledger::access::{Actor, IdentityMethod};
    use closebook_ledger::ids::{PeriodName, UserId};
    use closebook_ledger::setup::SetupFile;
    use closebook_ledger::store::Store;
    use rust_decimal::Decimal;

    const SETUP: &str = r#"
        [[currency]]
        code = "USD"
        minor_units = 2
        [[calendar]]
        id = "standard"
        start_month = 1
        first_year = "FY2026"
        last_year = "FY2026"
        [[chart]]
        id = "C"
        accounts = [{ number = "3900", name = "Retained earnings", type = "equity" }, { number = "6100", name = "Rent", type = "expense" }]
        [[entity]]
        id = "E"
        name = "E"
        currency = "USD"
        calendar = "standard"
        chart = "C"
        retained_earnings_account = "3900"
    "#;

    fn ledger() -> Ledger {
        let mut ledger = Ledger::from_store(Store::open_in_memory().unwrap(), UserId::new("test"));
        ledger
            .apply_setup(&SetupFile::parse(SETUP, "setup.toml").unwrap(), "setup.toml")
            .unwrap();
        ledger
    }

    fn rent(entity: &str, account: &str, current: &str) -> Finding {
        Finding {
            entity: entity.to_owned(),
            account: account.to_owned(),
            dimensions: Vec::new(),
            measure: "movement vs prior period".to_owned(),
            current: current.to_owned(),
            baseline: "4500.00".to_owned(),
            threshold: "|change| >= 1000.00 and >= 10 %".to_owned(),
            explanation_required: true,
            message: "rent moved".to_owned(),
        }
    }

    fn record(run_id: &str) -> CloseTaskRecord {
        CloseTaskRecord {
            close: "c".to_owned(),
            entity: EntityId::new("E"),
            period: PeriodName::new("2026-02"),
            task: "flux".to_owned(),
            status: TaskStatus::AwaitingReview,
            run_id: Some(run_id.to_owned()),
            ..CloseTaskRecord::default()
        }
    }

    #[test]
    fn a_finding_of_another_entity_an_unknown_account_or_a_figure_that_is_no_decimal_is_refused() {
        let mut ledger = ledger();
        let entity = EntityId::new("E");
        let mut check = |findings: &[Finding]| {
            ledger
                .read(|db| Ok(checked_findings(db, &entity, findings).map_err(|error| error.to_string())))
                .unwrap()
        };
        assert_eq!(
            check(&[rent("E", "6100", "6000.00"), rent("D", "6100", "6000.00")]).unwrap_err(),
            "finding 2 is of entity D; a step reports findings of the entity it runs for (E)"
        );
        assert_eq!(
            check(&[rent("E", "6999", "6000.00")]).unwrap_err(),
            "finding 1 names account 6999, which is not in the chart of E"
        );
        assert_eq!(
            check(&[rent("E", "6100", "6,000")]).unwrap_err(),
            "finding 1 (account 6100): current `6,000` is not a decimal number"
        );
        // The boundary's grammar, which Decimal's own parser is looser than.
        for loose in ["+6000.00", "6_000.00"] {
            assert!(check(&[rent("E", "6100", loose)]).is_err(), "{loose}");
        }
        let checked = check(&[rent("E", "6100", "6000.00")]).unwrap();
        assert_eq!(checked[0].key.current, Decimal::new(600000, 2));
    }

    #[test]
    fn an_explanation_holds_for_its_figures_and_a_changed_figure_reopens_the_finding() {
        let mut ledger = ledger();
        let actor = Actor {
            user: UserId::new("bob"),
            method: IdentityMethod::OsUser,
        };
        let (first, rerun, late) = (record("run-1"), record("run-2"), record("run-3"));
        let views = ledger
            .store()
            .write(|db| {
                let entity = EntityId::new("E");
                for (record, current) in [(&first, "6000.00"), (&rerun, "6000.00"), (&late, "6500.00")] {
                    let findings = checked_findings(db, &entity, &[rent("E", "6100", current)]).unwrap();
                    db.insert_findings(&finding_task(record), record.run_id.as_deref().unwrap(), &findings)?;
                }
                let before = finding_views(db, &first)?;
                let key = before[0].finding.key.clone();
                db.insert_finding_explanation(&finding_task(&first), &key, "storage rent", "run-1", &actor)?;
                Ok([
                    before,
                    finding_views(db, &first)?,
                    finding_views(db, &rerun)?,
                    finding_views(db, &late)?,
                ])
            })
            .unwrap();
        let [before, explained, rerun, late] = views;
        // A failed task keeps the id of a run it could not cancel, not its findings.
        let failed = CloseTaskRecord {
            status: TaskStatus::Failed,
            ..record("run-1")
        };
        assert!(ledger.read(|db| finding_views(db, &failed)).unwrap().is_empty());
        assert_eq!(before[0].status, FindingStatus::Unexplained);
        assert!(unexplained_refusal_text(&before).contains("1 finding needs an explanation"));
        assert_eq!(explained[0].status, FindingStatus::Explained);
        assert_eq!(explainers(&explained), vec!["bob".to_owned()]);
        // A rerun that finds the same figures finds them explained; other figures reopen it.
        assert_eq!(rerun[0].status, FindingStatus::Explained);
        assert_eq!(late[0].status, FindingStatus::Reopened);
        assert_eq!(late[0].earlier.as_ref().unwrap().text, "storage rent");
        assert!(unexplained_refusal_text(&late).contains("(reopened: the figure changed since it was explained)"));
        assert!(findings_note(&explained).is_none());
    }

    fn unexplained_refusal_text(views: &[FindingView]) -> String {
        unexplained_refusal("flux", &EntityId::new("E"), views).unwrap_or_default()
    }
}
