//! `close.toml`: the plugins a close pins, its tasks and their dependencies, the entities it
//! covers and its working-day calendar. Everything that can be checked before a run is checked
//! on load — unknown tasks in `after`, cycles, unknown plugins or built-ins, a plugin whose file
//! no longer matches its pinned hash, configuration that fails a step's schema — and refused
//! with a message naming the task.

use crate::package::{PackageCheck, TrustPolicy, TrustSection, check_package};
use crate::plugin::LimitOverrides;
use anyhow::Context as _;
use chrono::{Datelike, NaiveDate, Weekday};
use closebook_ledger::ids::{AccountNumber, EntityId};
use closebook_ledger::period::{Module, PeriodStatus};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Tasks one close may hold: a bound on the graph the engine walks every round.
pub const CLOSE_TASKS_MAX: usize = 500;

/// How far from the period end a task may be due, in working days: a year.
pub const DUE_WORKING_DAYS_MAX: u32 = 260;

/// Calendar days the search for a due date walks per working day asked for: a year, far more
/// than any weekend and holiday list leaves between two working days, so the walk always ends.
const DUE_DATE_CALENDAR_DAYS_PER_WORKING_DAY_MAX: u32 = 366;

/// The built-in steps.
pub const BUILTINS: [&str; 7] = [
    "verify-journals-posted",
    "period-status",
    "trial-balance-check",
    "post-adjustments",
    "reports",
    "recurring-journals",
    "reconcile",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseFile {
    close: CloseSection,
    #[serde(default)]
    calendar: CalendarSection,
    #[serde(default)]
    plugins: BTreeMap<String, PluginEntry>,
    #[serde(default, rename = "task")]
    tasks: Vec<TaskSection>,
    /// Which publishers' keys may sign the plugins, and whether a signature is required.
    #[serde(default)]
    trust: TrustSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseSection {
    name: String,
    /// `"all"` or a list of entity ids.
    entities: toml::Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarSection {
    #[serde(default)]
    weekend: Option<Vec<String>>,
    /// Dates, written as TOML dates or as "YYYY-MM-DD" strings.
    #[serde(default)]
    holidays: Vec<toml::Value>,
}

/// A plugin as close.toml declares it: a file pinned by hash, or a registry location and a
/// version requirement that close.lock pins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginEntry {
    path: Option<PathBuf>,
    sha256: Option<String>,
    oci: Option<String>,
    version: Option<String>,
}

/// A plugin the close loads: the file (for a registry plugin, its place in the digest-keyed
/// cache) and the SHA-256 it must have.
#[derive(Debug, Clone)]
pub struct PluginPin {
    pub path: PathBuf,
    pub sha256: String,
    /// Where a registry plugin is pulled from when the cache lacks it.
    pub source: Option<RegistryPin>,
}

/// A registry plugin's pin in close.lock.
#[derive(Debug, Clone)]
pub struct RegistryPin {
    pub location: crate::package::registry::Location,
    pub manifest_digest: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskSection {
    id: String,
    name: String,
    #[serde(default)]
    area: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    reviewer: Option<String>,
    #[serde(default)]
    preparers: Vec<String>,
    #[serde(default)]
    after: Vec<String>,
    #[serde(default)]
    due: i32,
    #[serde(default)]
    review: bool,
    #[serde(default)]
    revaluation: bool,
    #[serde(default)]
    year_end: bool,
    #[serde(default)]
    step: Option<String>,
    #[serde(default)]
    manual: Option<String>,
    #[serde(default)]
    config: Option<toml::Value>,
    #[serde(default)]
    limits: Option<LimitsSection>,
    /// Other entities the step may read (`"E"`) or read and post to (`"E:post"`).
    #[serde(default)]
    allow: Vec<String>,
    /// Only these entities of the close run the task (a group-level task signed once).
    #[serde(default)]
    entities: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    fuel: Option<u64>,
    memory_bytes: Option<u64>,
    wall_time_ms: Option<u64>,
    output_bytes: Option<u64>,
    log_bytes: Option<u64>,
    query_rows: Option<u64>,
}

/// What a task does.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskKind {
    Plugin { plugin: String },
    Builtin(Builtin),
    Manual { instructions: String },
}

impl TaskKind {
    /// The kind as the trace names it: `plugin`, `builtin` or `manual`.
    pub fn name(&self) -> &'static str {
        match self {
            TaskKind::Plugin { .. } => "plugin",
            TaskKind::Builtin(_) => "builtin",
            TaskKind::Manual { .. } => "manual",
        }
    }
}

/// A dependency: a task of the same entity, or of every entity of the close (`*:id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub task: String,
    pub every_entity: bool,
}

#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub name: String,
    pub area: String,
    pub owner: String,
    pub reviewer: Option<String>,
    /// Users or groups who may prepare the task besides its owner (each also needs
    /// `close.prepare` in the entity).
    pub preparers: Vec<String>,
    pub after: Vec<Dependency>,
    pub due_working_days: i32,
    pub review: bool,
    pub revaluation: bool,
    /// The step may post into the next fiscal year's opening period, as year-end close does.
    pub year_end: bool,
    pub kind: TaskKind,
    /// The step's configuration as JSON.
    pub config: serde_json::Value,
    pub limits: LimitOverrides,
    pub allow: Vec<(String, bool)>,
    /// The entities of the close that run the task; every entity when none.
    pub entities: Option<BTreeSet<String>>,
}

impl Task {
    /// Whether the task runs in `entity` (a task limited to some entities has no state, row or
    /// sign-off in the others, and a task of those others does not wait on it).
    pub fn runs_in(&self, entity: &EntityId) -> bool {
        self.entities
            .as_ref()
            .is_none_or(|entities| entities.contains(entity.as_str()))
    }
}

/// Which entities a close covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityScope {
    All,
    List(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct CloseConfig {
    pub name: String,
    pub entities: EntityScope,
    pub weekend: Vec<Weekday>,
    pub holidays: BTreeSet<NaiveDate>,
    /// Plugin name -> absolute path and pinned hash.
    pub plugins: BTreeMap<String, PluginPin>,
    /// In dependency order.
    pub tasks: Vec<Task>,
    /// The signatures the close requires and the keys it trusts (`[trust]`).
    pub trust: TrustPolicy,
    /// The close.toml it was read from, as given: refusals name it.
    pub file: PathBuf,
    /// The folder of close.toml: relative paths in it are relative to here.
    pub directory: PathBuf,
}

fn weekday(text: &str) -> Option<Weekday> {
    Some(match text.to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    })
}

/// The pin of the registry plugin `name` (`oci`, `requirement` as close.toml gives them) from
/// close.lock, refused when the lock does not pin it for this source and requirement.
fn registry_pin(
    name: &str,
    oci: &str,
    requirement: &str,
    lock: &crate::package::registry::LockFile,
    close_file: &Path,
) -> anyhow::Result<PluginPin> {
    use crate::package::registry::{Location, cache_path};
    let location = Location::parse(oci).with_context(|| format!("plugin {name}"))?;
    let parsed = semver::VersionReq::parse(requirement).map_err(|error| {
        anyhow::anyhow!("plugin {name}: version `{requirement}` is not a version requirement (like ^1.2): {error}")
    })?;
    let add = format!(
        "closebook plugin add {name} {location}:{requirement} --config {}",
        close_file.display()
    );
    let locked = lock.get(name).with_context(|| {
        format!("plugin {name} comes from {location}, and close.lock does not pin it yet: run `{add}`")
    })?;
    anyhow::ensure!(
        locked.source == location.to_string() && locked.requirement == requirement,
        "plugin {name}: close.lock pins {} {} for `{}`, but close.toml asks for {location} `{requirement}`: run `{add}` to lock what close.toml asks for",
        locked.source,
        locked.version,
        locked.requirement
    );
    let version = semver::Version::parse(&locked.version)
        .with_context(|| format!("plugin {name}: close.lock has version `{}`", locked.version))?;
    anyhow::ensure!(
        parsed.matches(&version),
        "plugin {name}: close.lock pins version {version}, which does not match `{requirement}`: run `{add}`"
    );
    Ok(PluginPin {
        path: cache_path(close_file, &locked.component_sha256),
        sha256: locked.component_sha256.to_ascii_lowercase(),
        source: Some(RegistryPin {
            location,
            manifest_digest: locked.manifest_digest.clone(),
        }),
    })
}

/// SHA-256 of a text as lower-case hex.
pub fn text_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// SHA-256 of a file as lower-case hex.
pub fn file_sha256(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

impl CloseConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text, path).with_context(|| format!("loading {}", path.display()))
    }

    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Self> {
        let file: CloseFile =
            toml::from_str(text).map_err(|error| anyhow::anyhow!("{}", error.to_string().trim_end()))?;
        let directory = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let entities = match &file.close.entities {
            toml::Value::String(all) if all == "all" => EntityScope::All,
            toml::Value::Array(items) => EntityScope::List(
                items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map(str::to_owned)
                            .context("close.entities lists entity ids as strings")
                    })
                    .collect::<anyhow::Result<_>>()?,
            ),
            other => anyhow::bail!("close.entities is `{other}`; write \"all\" or a list of entity ids"),
        };
        let weekend = match &file.calendar.weekend {
            None => vec![Weekday::Sat, Weekday::Sun],
            Some(days) => days
                .iter()
                .map(|day| weekday(day).with_context(|| format!("calendar.weekend: `{day}` is not a day of the week")))
                .collect::<anyhow::Result<_>>()?,
        };
        let distinct_weekend_days: BTreeSet<String> = weekend.iter().map(|day: &Weekday| day.to_string()).collect();
        anyhow::ensure!(
            distinct_weekend_days.len() < 7,
            "calendar.weekend names every day of the week; a close needs working days"
        );
        anyhow::ensure!(
            file.tasks.len() <= CLOSE_TASKS_MAX,
            "the close has {} tasks; at most {CLOSE_TASKS_MAX} are allowed",
            file.tasks.len()
        );
        anyhow::ensure!(!file.tasks.is_empty(), "the close has no [[task]]");
        let mut lock: Option<crate::package::registry::LockFile> = None;
        let mut plugins: BTreeMap<String, PluginPin> = BTreeMap::new();
        for (name, entry) in file.plugins {
            let pin = match entry {
                PluginEntry {
                    path: Some(pin_path),
                    sha256: Some(sha256),
                    oci: None,
                    version: None,
                } => PluginPin {
                    path: if pin_path.is_absolute() {
                        pin_path
                    } else {
                        directory.join(pin_path)
                    },
                    sha256: sha256.to_ascii_lowercase(),
                    source: None,
                },
                PluginEntry {
                    path: None,
                    sha256: None,
                    oci: Some(oci),
                    version: Some(requirement),
                } => {
                    if lock.is_none() {
                        lock = Some(crate::package::registry::LockFile::read(path)?);
                    }
                    let lock = lock.as_ref().expect("the lock was just read");
                    registry_pin(&name, &oci, &requirement, lock, path)?
                }
                _ => anyhow::bail!(
                    "plugin {name}: write {name} = {{ path = \"FILE.wasm\", sha256 = \"…\" }} for a file, or {name} = {{ oci = \"oci://HOST/NAMESPACE/NAME\", version = \"^1.2\" }} for a registry plugin"
                ),
            };
            plugins.insert(name, pin);
        }
        for (name, pin) in &plugins {
            anyhow::ensure!(
                pin.sha256.len() == 64 && pin.sha256.bytes().all(|byte| byte.is_ascii_hexdigit()),
                "plugin {name}: sha256 `{}` is not a SHA-256 (64 hexadecimal characters); pin the file's hash, e.g. from `sha256sum {}`",
                pin.sha256,
                pin.path.display()
            );
        }
        let trust = TrustPolicy::from_section(&file.trust).map_err(|error| anyhow::anyhow!(error))?;
        let ids: BTreeSet<&str> = file.tasks.iter().map(|task| task.id.as_str()).collect();
        let mut tasks = Vec::with_capacity(file.tasks.len());
        let mut seen = BTreeSet::new();
        for section in &file.tasks {
            let close_entities = match &entities {
                EntityScope::All => None,
                EntityScope::List(list) => Some(list.as_slice()),
            };
            let task = Self::parse_task(section, &ids, &plugins, close_entities)
                .with_context(|| format!("task {}", section.id))?;
            anyhow::ensure!(seen.insert(task.id.clone()), "task id {} is used twice", task.id);
            tasks.push(task);
        }
        let tasks = dependency_order(tasks)?;
        let mut holidays = BTreeSet::new();
        for holiday in &file.calendar.holidays {
            let text = match holiday {
                toml::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let date: NaiveDate = text
                .parse()
                .with_context(|| format!("calendar.holidays: `{text}` is not a date (YYYY-MM-DD)"))?;
            holidays.insert(date);
        }
        Ok(Self {
            name: file.close.name,
            entities,
            weekend,
            holidays,
            plugins,
            tasks,
            trust,
            directory,
            file: path.to_path_buf(),
        })
    }

    fn parse_task(
        section: &TaskSection,
        ids: &BTreeSet<&str>,
        plugins: &BTreeMap<String, PluginPin>,
        close_entities: Option<&[String]>,
    ) -> anyhow::Result<Task> {
        anyhow::ensure!(
            !section.id.is_empty()
                && section
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "the task id `{}` must be letters, digits, - or _",
            section.id
        );
        let kind = match (&section.step, &section.manual) {
            (Some(_), Some(_)) => anyhow::bail!("a task has either `step` or `manual`, not both"),
            (None, None) => anyhow::bail!(
                "the task needs `step = \"plugin:NAME\"`, `step = \"builtin:NAME\"` or `manual = \"what to do\"`"
            ),
            (None, Some(instructions)) => TaskKind::Manual {
                instructions: instructions.clone(),
            },
            (Some(step), None) => match step.split_once(':') {
                Some(("plugin", name)) => {
                    anyhow::ensure!(plugins.contains_key(name), "plugin {name} is not declared in [plugins]");
                    TaskKind::Plugin {
                        plugin: name.to_owned(),
                    }
                }
                Some(("builtin", name)) => TaskKind::Builtin(Builtin::parse(name, &builtin_config(section)?)?),
                _ => anyhow::bail!("step `{step}` is neither plugin:NAME nor builtin:NAME"),
            },
        };
        let mut after = Vec::new();
        for dependency in &section.after {
            let (every_entity, task) = match dependency.strip_prefix("*:") {
                Some(task) => (true, task),
                None => (false, dependency.as_str()),
            };
            anyhow::ensure!(
                ids.contains(task),
                "`after` names task {task}, which does not exist in this close"
            );
            anyhow::ensure!(
                task != section.id,
                "the task cannot wait for itself (`*:{task}` names itself in its own entity)"
            );
            after.push(Dependency {
                task: task.to_owned(),
                every_entity,
            });
        }
        let config = builtin_config(section)?;
        let limits = section.limits.as_ref().map(|limits| LimitOverrides {
            fuel: limits.fuel,
            memory_bytes: limits.memory_bytes,
            wall_time_ms: limits.wall_time_ms,
            output_bytes: limits.output_bytes,
            log_bytes: limits.log_bytes,
            query_rows: limits.query_rows,
        });
        let entities = match &section.entities {
            None => None,
            Some(list) => {
                anyhow::ensure!(
                    !list.is_empty(),
                    "`entities = []` runs the task nowhere; name at least one entity or leave `entities` out"
                );
                if let Some(close_entities) = close_entities {
                    for entity in list {
                        anyhow::ensure!(
                            close_entities.contains(entity),
                            "`entities` names {entity}, which is not an entity of this close (its entities: {})",
                            close_entities.join(", ")
                        );
                    }
                }
                Some(list.iter().cloned().collect())
            }
        };
        let mut allow = Vec::new();
        for allowed in &section.allow {
            match allowed.split_once(':') {
                Some((entity, "post")) => allow.push((entity.to_owned(), true)),
                None => allow.push((allowed.clone(), false)),
                Some(_) => anyhow::bail!("allow `{allowed}`: write ENTITY or ENTITY:post"),
            }
        }
        anyhow::ensure!(
            !(section.review && matches!(kind, TaskKind::Manual { .. })),
            "`review = true` is for steps; a manual task is signed off"
        );
        anyhow::ensure!(
            !section.review || section.reviewer.is_some(),
            "`review = true` needs `reviewer`, the person who approves the proposal"
        );
        anyhow::ensure!(
            section.due.unsigned_abs() <= DUE_WORKING_DAYS_MAX,
            "due = {} is more than {DUE_WORKING_DAYS_MAX} working days from the period end",
            section.due
        );
        Ok(Task {
            id: section.id.clone(),
            name: section.name.clone(),
            area: section.area.clone().unwrap_or_else(|| "GL".to_owned()),
            owner: section.owner.clone().unwrap_or_default(),
            reviewer: section.reviewer.clone(),
            preparers: section.preparers.clone(),
            after,
            due_working_days: section.due,
            review: section.review,
            revaluation: section.revaluation,
            year_end: section.year_end,
            kind,
            config,
            limits: limits.unwrap_or_default(),
            allow,
            entities,
        })
    }

    pub fn task(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|task| task.id == id)
    }

    /// Reads the plugin `name` and checks it before anything compiles it: its file against the
    /// pinned hash, then its signature against the close's trust policy and its package
    /// metadata. The bytes returned are the ones checked, so the file cannot change between the
    /// check and the load.
    pub fn read_plugin(&self, name: &str) -> anyhow::Result<(Vec<u8>, PackageCheck)> {
        let pin = self
            .plugins
            .get(name)
            .with_context(|| format!("plugin {name} is not declared in [plugins]"))?;
        // A registry plugin missing from the cache is pulled by the digest close.lock pins,
        // and kept only if its bytes have the SHA-256 the lock pins.
        if let Some(source) = &pin.source
            && !pin.path.exists()
        {
            let pulled = crate::package::registry::pull_digest(&source.location, &source.manifest_digest)
                .with_context(|| {
                    format!(
                        "plugin {name} is not in the cache ({}) and could not be pulled",
                        pin.path.display()
                    )
                })?;
            anyhow::ensure!(
                pulled.component_sha256 == pin.sha256,
                "plugin {name}: {}@{} holds a component with sha256 {}, but close.lock pins {}: the registry does not serve what was locked; do not use it (run `closebook plugin update --config {}` to review what it serves now)",
                source.location,
                source.manifest_digest,
                pulled.component_sha256,
                pin.sha256,
                self.file.display()
            );
            crate::package::registry::cache_component(&self.file, &pin.sha256, &pulled.wasm)?;
        }
        let wasm = crate::package::pin::read_component(name, &pin.path)?;
        let actual = hex::encode(Sha256::digest(&wasm));
        anyhow::ensure!(
            actual == pin.sha256,
            "plugin {name}: {} has sha256 {actual}, but {} pins {}; the file changed since it was reviewed: pin the new hash only after reviewing it (`closebook plugin pin {}`)",
            pin.path.display(),
            self.file.display(),
            pin.sha256,
            self.file.display()
        );
        let package = check_package(name, &wasm, &self.trust).with_context(|| format!("{}", self.file.display()))?;
        Ok((wasm, package))
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !self.weekend.contains(&date.weekday()) && !self.holidays.contains(&date)
    }

    /// The due date `days` working days after (before, when negative) the period end; day 0
    /// is the period end itself, or the next working day when it is not one.
    pub fn due_date(&self, period_end: NaiveDate, days: i32) -> NaiveDate {
        let mut date = period_end;
        if days == 0 {
            while !self.is_working_day(date) {
                date = date.succ_opt().unwrap_or(date);
            }
            return date;
        }
        let mut remaining = days.unsigned_abs();
        let mut steps = 0u32;
        while remaining > 0 && steps < DUE_DATE_CALENDAR_DAYS_PER_WORKING_DAY_MAX * (days.unsigned_abs() + 1) {
            date = if days > 0 {
                date.succ_opt().unwrap_or(date)
            } else {
                date.pred_opt().unwrap_or(date)
            };
            if self.is_working_day(date) {
                remaining -= 1;
            }
            steps += 1;
        }
        date
    }

    /// Every task that depends on `task` (directly or through others), same entity or `*:`.
    /// Every task `task` waits on, directly or through others.
    pub fn upstream_of(&self, task: &str) -> BTreeSet<String> {
        let mut found: BTreeSet<String> = BTreeSet::new();
        let mut frontier = vec![task.to_owned()];
        while let Some(current) = frontier.pop() {
            let Some(candidate) = self.task(&current) else {
                continue;
            };
            for dependency in &candidate.after {
                if found.insert(dependency.task.clone()) {
                    frontier.push(dependency.task.clone());
                }
            }
        }
        found
    }

    /// The entities other than `entity` that a sign-off of `task` covers, each with the tasks
    /// that read it: the entities the task's step and the steps before it may read (`allow`).
    /// A consolidation reads its members, so the sign-off of the elimination after it covers
    /// them too: what it approved was computed from them.
    pub fn entities_read_for_signoff(&self, task: &str, entity: &EntityId) -> BTreeMap<EntityId, BTreeSet<String>> {
        let mut covered: BTreeMap<EntityId, BTreeSet<String>> = BTreeMap::new();
        let mut tasks = self.upstream_of(task);
        tasks.insert(task.to_owned());
        for id in tasks {
            let Some(reader) = self.task(&id) else {
                continue;
            };
            for (other, _post) in &reader.allow {
                if other != entity.as_str() {
                    covered
                        .entry(EntityId::new(other.clone()))
                        .or_default()
                        .insert(id.clone());
                }
            }
        }
        covered
    }

    /// Refuses people the ledger does not know: an owner or reviewer who is not a user in the
    /// ledger's setup, and a reviewer who is also the task's owner (who prepares it).
    pub fn check_people(&self, users: &BTreeSet<String>, groups: &BTreeSet<String>) -> anyhow::Result<()> {
        for task in &self.tasks {
            for preparer in &task.preparers {
                anyhow::ensure!(
                    users.contains(preparer) || groups.contains(preparer),
                    "{}: task {}: preparer {preparer} is neither a user nor a group of the ledger; declare it with [[user]] or [[group]] in the setup file, or name an existing one",
                    self.file.display(),
                    task.id
                );
                anyhow::ensure!(
                    task.reviewer.as_deref() != Some(preparer.as_str()),
                    "{}: task {}: the reviewer {preparer} is also one of its preparers; a reviewer must be someone other than the preparer: name another reviewer",
                    self.file.display(),
                    task.id
                );
            }
            let mut people = vec![("owner", &task.owner)];
            if let Some(reviewer) = &task.reviewer {
                people.push(("reviewer", reviewer));
            }
            for (role, user) in people {
                anyhow::ensure!(
                    user.is_empty() || users.contains(user),
                    "{}: task {}: {role} {user} is not a user of the ledger (users: {}); add them under [[user]] in the setup file and run `closebook setup apply`, or name an existing user",
                    self.file.display(),
                    task.id,
                    users.iter().cloned().collect::<Vec<_>>().join(", ")
                );
            }
            anyhow::ensure!(
                task.reviewer.as_deref() != Some(task.owner.as_str()),
                "{}: task {}: the reviewer {} is also its owner; a reviewer must be someone other than the preparer: name another reviewer",
                self.file.display(),
                task.id,
                task.owner
            );
        }
        Ok(())
    }

    pub fn downstream_of(&self, task: &str) -> BTreeSet<String> {
        let mut found: BTreeSet<String> = BTreeSet::new();
        let mut frontier = vec![task.to_owned()];
        while let Some(current) = frontier.pop() {
            for candidate in &self.tasks {
                if candidate.after.iter().any(|dependency| dependency.task == current)
                    && found.insert(candidate.id.clone())
                {
                    frontier.push(candidate.id.clone());
                }
            }
        }
        found
    }
}

/// A task's `config` table as JSON.
fn builtin_config(section: &TaskSection) -> anyhow::Result<serde_json::Value> {
    let config_toml = section.config.clone().unwrap_or(toml::Value::Table(Default::default()));
    serde_json::to_value(&config_toml).context("the config table cannot be read as JSON")
}

/// A built-in step with its settings, read once when close.toml loads.
#[derive(Debug, Clone, PartialEq)]
pub enum Builtin {
    /// No draft of these modules is dated in the period.
    VerifyJournalsPosted { modules: Vec<Module> },
    /// Sets the period's status in the task's entity.
    PeriodStatus { status: PeriodStatus },
    /// The trial balance nets to zero and the period's entries verify.
    TrialBalanceCheck,
    /// Posts reviewed adjustment journals, each pinned by its SHA-256; `None` for an entity
    /// without a file (when the files are given per entity).
    PostAdjustments { files: AdjustmentFiles },
    /// Posts the entity's recurring journals due in the period (setup's `[[recurring_journal]]`):
    /// the templates named, or all of them.
    RecurringJournals { templates: Option<Vec<String>> },
    /// Waits until each of these accounts' reconciliations for the period is reviewed for its
    /// current figures (`closebook reconcile`).
    Reconcile { accounts: Vec<AccountNumber> },
    /// Writes the period's reports into a folder (relative to close.toml).
    Reports { folder: PathBuf },
}

/// The adjustment journals of a `post-adjustments` task.
#[derive(Debug, Clone, PartialEq)]
pub enum AdjustmentFiles {
    /// One file for every entity.
    Every(AdjustmentFile),
    /// A file per entity; the others have none.
    PerEntity(BTreeMap<String, AdjustmentFile>),
}

/// A reviewed journal file and the hash it was reviewed at.
#[derive(Debug, Clone, PartialEq)]
pub struct AdjustmentFile {
    /// As written in close.toml: relative to its folder.
    pub file: PathBuf,
    /// Lower-case hex.
    pub sha256: String,
}

impl AdjustmentFiles {
    /// The file for `entity`, if it has one.
    pub fn for_entity(&self, entity: &str) -> Option<&AdjustmentFile> {
        match self {
            AdjustmentFiles::Every(file) => Some(file),
            AdjustmentFiles::PerEntity(files) => files.get(entity),
        }
    }
}

impl Builtin {
    /// The name after `builtin:` in close.toml.
    pub fn name(&self) -> &'static str {
        match self {
            Builtin::VerifyJournalsPosted { .. } => "verify-journals-posted",
            Builtin::PeriodStatus { .. } => "period-status",
            Builtin::TrialBalanceCheck => "trial-balance-check",
            Builtin::PostAdjustments { .. } => "post-adjustments",
            Builtin::Reports { .. } => "reports",
            Builtin::RecurringJournals { .. } => "recurring-journals",
            Builtin::Reconcile { .. } => "reconcile",
        }
    }

    /// Reads `builtin:NAME` and its `config` table, refusing an unknown name, an unknown
    /// setting or a missing or malformed one, naming it.
    pub fn parse(name: &str, config: &serde_json::Value) -> anyhow::Result<Self> {
        anyhow::ensure!(
            BUILTINS.contains(&name),
            "unknown built-in step `{name}` (known: {})",
            BUILTINS.join(", ")
        );
        let object = config.as_object().context("the config is a table")?;
        let allowed: &[&str] = match name {
            "verify-journals-posted" => &["modules"],
            "period-status" => &["status"],
            "post-adjustments" => &["file", "sha256", "files"],
            "reports" => &["folder"],
            "recurring-journals" => &["templates"],
            "reconcile" => &["accounts"],
            _ => &[],
        };
        for key in object.keys() {
            anyhow::ensure!(
                allowed.contains(&key.as_str()),
                "built-in {name} has no setting `{key}` (it takes: {})",
                allowed.join(", ")
            );
        }
        Ok(match name {
            "verify-journals-posted" => {
                let modules = object
                    .get("modules")
                    .and_then(|modules| modules.as_array())
                    .context("verify-journals-posted needs `modules = [\"receivables\", …]`")?;
                let mut parsed = Vec::with_capacity(modules.len());
                for module in modules {
                    let module = module.as_str().unwrap_or_default();
                    parsed.push(Module::parse(module).with_context(|| {
                        format!("`{module}` is not a module (ledger, receivables, payables, inventory, close)")
                    })?);
                }
                Builtin::VerifyJournalsPosted { modules: parsed }
            }
            "period-status" => {
                let status = object
                    .get("status")
                    .and_then(|status| status.as_str())
                    .context("period-status needs `status = \"on-hold\"` (or open, permanently-closed)")?;
                Builtin::PeriodStatus {
                    status: PeriodStatus::parse(status)
                        .with_context(|| format!("`{status}` is not open, on-hold or permanently-closed"))?,
                }
            }
            "trial-balance-check" => Builtin::TrialBalanceCheck,
            "post-adjustments" => {
                let pinned = |value: &serde_json::Value| {
                    let file = value.get("file").and_then(|file| file.as_str())?;
                    let sha256 = value.get("sha256").and_then(|hash| hash.as_str())?;
                    Some(AdjustmentFile {
                        file: PathBuf::from(file),
                        sha256: sha256.to_ascii_lowercase(),
                    })
                };
                let files = match object.get("files").and_then(|files| files.as_object()) {
                    Some(files) => {
                        let mut per_entity = BTreeMap::new();
                        for (entity, pin) in files {
                            let pin = pinned(pin)
                                .with_context(|| format!("post-adjustments: files.{entity} needs `file` and `sha256`"))?;
                            per_entity.insert(entity.clone(), pin);
                        }
                        AdjustmentFiles::PerEntity(per_entity)
                    }
                    None => AdjustmentFiles::Every(pinned(config).context(
                        "post-adjustments needs `file` (the reviewed journal) and `sha256` (its hash), or `files = { ENTITY = { file, sha256 } }`",
                    )?),
                };
                Builtin::PostAdjustments { files }
            }
            "reports" => Builtin::Reports {
                folder: PathBuf::from(
                    object
                        .get("folder")
                        .and_then(|folder| folder.as_str())
                        .context("reports needs `folder`")?,
                ),
            },
            "recurring-journals" => Builtin::RecurringJournals {
                templates: match object.get("templates") {
                    None => None,
                    Some(templates) => Some(
                        templates
                            .as_array()
                            .filter(|templates| !templates.is_empty())
                            .and_then(|templates| {
                                templates
                                    .iter()
                                    .map(|id| id.as_str().map(str::to_owned))
                                    .collect::<Option<Vec<_>>>()
                            })
                            .context(
                                "recurring-journals: `templates` is a list of template ids, e.g. [\"rent\"] (leave it out for every template of the entity)",
                            )?,
                    ),
                },
            },
            "reconcile" => Builtin::Reconcile {
                accounts: object
                    .get("accounts")
                    .and_then(|accounts| accounts.as_array())
                    .filter(|accounts| !accounts.is_empty())
                    .and_then(|accounts| {
                        accounts
                            .iter()
                            .map(|account| account.as_str().map(|text| AccountNumber::new(text.to_owned())))
                            .collect::<Option<Vec<_>>>()
                    })
                    .context("reconcile needs `accounts`, the accounts whose reconciliations must be reviewed, e.g. [\"1000\"]")?,
            },
            other => unreachable!("{other} is in BUILTINS and has a parse arm"),
        })
    }

    /// Whether its result depends on the entity's postings, so a later posting makes it stale:
    /// the trial-balance check and the reports do; the draft check reads drafts, the
    /// adjustments come from files, and the period status is checked on its own.
    pub fn reads_the_ledger(&self) -> bool {
        matches!(
            self,
            Builtin::TrialBalanceCheck | Builtin::Reports { .. } | Builtin::Reconcile { .. }
        )
    }
}

/// Orders tasks so every task comes after the ones it waits for; refuses a cycle, naming it.
fn dependency_order(tasks: Vec<Task>) -> anyhow::Result<Vec<Task>> {
    let mut remaining: Vec<Task> = tasks;
    let mut ordered: Vec<Task> = Vec::with_capacity(remaining.len());
    while !remaining.is_empty() {
        let placed: BTreeSet<String> = ordered.iter().map(|task| task.id.clone()).collect();
        let ready = remaining.iter().position(|task| {
            task.after.iter().all(|dependency| {
                placed.contains(&dependency.task) || (dependency.every_entity && dependency.task == task.id)
            })
        });
        match ready {
            Some(index) => ordered.push(remaining.remove(index)),
            None => {
                let names: Vec<&str> = remaining.iter().map(|task| task.id.as_str()).collect();
                anyhow::bail!(
                    "the tasks {} wait for each other in a cycle; remove one of their `after` entries",
                    names.join(", ")
                );
            }
        }
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tasks: &str) -> anyhow::Result<CloseConfig> {
        CloseConfig::parse(
            &format!("[close]\nname = \"test\"\nentities = \"all\"\n{tasks}"),
            Path::new("close.toml"),
        )
    }

    #[test]
    fn tasks_are_ordered_by_dependency() {
        let config = parse("[[task]]\nid = \"b\"\nname = \"B\"\nmanual = \"x\"\nafter = [\"a\"]\n[[task]]\nid = \"a\"\nname = \"A\"\nmanual = \"y\"\n").unwrap();
        let ids: Vec<&str> = config.tasks.iter().map(|task| task.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(config.downstream_of("a"), BTreeSet::from(["b".to_owned()]));
    }

    #[test]
    fn cycles_unknown_tasks_and_unknown_steps_are_refused_by_name() {
        let cycle = parse(
            "[[task]]\nid = \"a\"\nname = \"A\"\nmanual = \"x\"\nafter = [\"b\"]\n[[task]]\nid = \"b\"\nname = \"B\"\nmanual = \"y\"\nafter = [\"a\"]\n",
        );
        assert!(format!("{:#}", cycle.unwrap_err()).contains("the tasks a, b wait for each other in a cycle"));
        let unknown = parse("[[task]]\nid = \"a\"\nname = \"A\"\nmanual = \"x\"\nafter = [\"nope\"]\n");
        assert!(
            format!("{:#}", unknown.unwrap_err()).contains("task a: `after` names task nope, which does not exist")
        );
        let builtin = parse("[[task]]\nid = \"a\"\nname = \"A\"\nstep = \"builtin:magic\"\n");
        assert!(format!("{:#}", builtin.unwrap_err()).contains("unknown built-in step `magic`"));
        let plugin = parse("[[task]]\nid = \"a\"\nname = \"A\"\nstep = \"plugin:fx\"\n");
        assert!(format!("{:#}", plugin.unwrap_err()).contains("plugin fx is not declared in [plugins]"));
    }

    #[test]
    fn a_registry_plugin_needs_its_pin_in_close_lock() {
        // Proves issue 21's lock rule at load: a registry plugin close.lock does not pin is
        // refused with the `plugin add` command that pins it; a half-declared plugin is refused.
        let folder = tempfile::tempdir().unwrap();
        let close_file = folder.path().join("close.toml");
        let text = "[close]\nname = \"t\"\nentities = \"all\"\n[plugins]\nfee = { oci = \"oci://127.0.0.1:5000/acme/fee\", version = \"^1.2\" }\n[[task]]\nid = \"a\"\nname = \"A\"\nstep = \"plugin:fee\"\n";
        let refused = format!("{:#}", CloseConfig::parse(text, &close_file).unwrap_err());
        assert!(
            refused.contains("plugin fee comes from oci://127.0.0.1:5000/acme/fee, and close.lock does not pin it yet: run `closebook plugin add fee oci://127.0.0.1:5000/acme/fee:^1.2 --config"),
            "{refused}"
        );
        let half = text.replace(", version = \"^1.2\"", "");
        let refused = format!("{:#}", CloseConfig::parse(&half, &close_file).unwrap_err());
        assert!(refused.contains("plugin fee: write fee = { path"), "{refused}");
    }

    #[test]
    fn due_dates_count_working_days() {
        let config = CloseConfig::parse(
            "[close]\nname = \"t\"\nentities = \"all\"\n[calendar]\nholidays = [2026-02-02]\n[[task]]\nid = \"a\"\nname = \"A\"\nmanual = \"x\"\n",
            Path::new("close.toml"),
        )
        .unwrap();
        let end = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(); // a Saturday
        assert_eq!(
            config.due_date(end, 0),
            NaiveDate::from_ymd_opt(2026, 2, 3).unwrap(),
            "Monday Feb 2 is a holiday"
        );
        assert_eq!(config.due_date(end, 1), NaiveDate::from_ymd_opt(2026, 2, 3).unwrap());
        assert_eq!(config.due_date(end, 3), NaiveDate::from_ymd_opt(2026, 2, 5).unwrap());
        assert_eq!(config.due_date(end, -1), NaiveDate::from_ymd_opt(2026, 1, 30).unwrap());
    }
}
