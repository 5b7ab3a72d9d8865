//! Declarative setup: one TOML file describes currencies, fiscal calendars, charts of accounts,
//! dimensions, users and groups, legal entities and exchange rates. Applying it creates what is
//! missing and updates what changed; applying it twice changes nothing. Changes that would
//! rewrite the meaning of posted history (an entity's currency or calendar, an account's type)
//! are refused once there are postings.

use crate::account::{Account, AccountType};
use crate::calendar::{FiscalCalendar, parse_fiscal_year_name};
use crate::dimension::is_valid_dimension_text;
use crate::entity::Entity;
use crate::error::LedgerError;
use crate::ids::{AccountNumber, CalendarId, ChartId, CurrencyCode, EntityId, PeriodName, RateType};
use crate::money::parse_amount_text;
use crate::period::Module;
use crate::rate::ExchangeRate;
use crate::store::Db;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Fiscal years one calendar may declare in one setup file: a bound on the periods it creates.
pub const CALENDAR_YEARS_MAX: i32 = 200;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupFile {
    #[serde(default, rename = "currency")]
    pub currencies: Vec<CurrencySetup>,
    #[serde(default, rename = "calendar")]
    pub calendars: Vec<CalendarSetup>,
    #[serde(default, rename = "chart")]
    pub charts: Vec<ChartSetup>,
    #[serde(default, rename = "dimension")]
    pub dimensions: Vec<DimensionSetup>,
    #[serde(default, rename = "group")]
    pub groups: Vec<GroupSetup>,
    #[serde(default, rename = "user")]
    pub users: Vec<UserSetup>,
    #[serde(default, rename = "entity")]
    pub entities: Vec<EntitySetup>,
    #[serde(default, rename = "rate")]
    pub rates: Vec<RateSetup>,
    #[serde(default, rename = "role")]
    pub roles: Vec<RoleSetup>,
    #[serde(default, rename = "grant")]
    pub grants: Vec<GrantSetup>,
    #[serde(default)]
    pub security: Option<SecuritySetup>,
    #[serde(default, rename = "journal_approval")]
    pub journal_approvals: Vec<JournalApprovalSetup>,
    #[serde(default, rename = "recurring_journal")]
    pub recurring_journals: Vec<RecurringJournalSetup>,
    #[serde(default, rename = "reconciliation")]
    pub reconciliations: Vec<ReconciliationSetup>,
}

impl SetupFile {
    /// The controls the file sets, as the audit record of its application keeps them: the
    /// approval rules and recurring journal templates in full (they replace what was there, so
    /// the trail is where their history is). Null when it sets none.
    pub fn controls_for_audit(&self) -> serde_json::Value {
        if self.journal_approvals.is_empty() && self.recurring_journals.is_empty() && self.reconciliations.is_empty() {
            return serde_json::Value::Null;
        }
        serde_json::json!({
            "journal_approval": self.journal_approvals,
            "recurring_journal": self.recurring_journals,
            "reconciliation": self.reconciliations,
        })
    }

    /// Whether applying the file changes who may do what: users, groups, roles, grants or the
    /// security settings (which needs `users.admin`, not only `setup.apply`).
    pub fn changes_access(&self) -> bool {
        !self.users.is_empty()
            || !self.groups.is_empty()
            || !self.roles.is_empty()
            || !self.grants.is_empty()
            || self.security.is_some()
            || !self.journal_approvals.is_empty()
    }
}

/// `[[journal_approval]]`: journals of an entity that need a second person's approval before
/// they post (`approval`): every journal, or those of `module`, optionally only those whose
/// debits in accounting currency exceed `above`. The rules a file gives an entity replace the
/// ones it had. A control over who may post alone, so applying them needs `users.admin`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JournalApprovalSetup {
    pub entity: String,
    #[serde(default)]
    pub module: Option<String>,
    #[serde(default)]
    pub above: Option<String>,
    /// `off = true`, alone for its entity: the entity's journals no longer need approval.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub off: bool,
}

/// `[[reconciliation]]`: an account the entity reconciles each period (`reconcile`), and the
/// materiality above which an unexplained difference blocks its sign-off: `materiality` (an
/// amount) and/or `materiality_percent` (of the GL balance's magnitude), the lower applying.
/// Without either, any unexplained difference blocks it. The accounts a file gives an entity
/// replace the ones it had; `off = true`, alone for the entity, removes them.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationSetup {
    pub entity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub off: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materiality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materiality_percent: Option<String>,
}

/// `[[recurring_journal]]`: a template the close step `builtin:recurring-journals` posts from
/// (`recurring`). Amounts are text in the decimal grammar, never TOML floats.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecurringJournalSetup {
    pub id: String,
    pub entity: String,
    pub description: String,
    /// `monthly`, `quarterly` or `yearly`.
    pub schedule: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub until: Option<String>,
    pub lines: Vec<RecurringLineSetup>,
}

/// One line of a `[[recurring_journal]]`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecurringLineSetup {
    pub account: String,
    #[serde(default)]
    pub dimensions: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub amount: Option<String>,
    #[serde(default)]
    pub percent_of: Option<String>,
    #[serde(default)]
    pub percent: Option<String>,
    #[serde(default)]
    pub balance: bool,
    #[serde(default)]
    pub description: String,
}

/// `[security]`: the ledger's administrator (named on its first setup) and whether `--as` may
/// name a user other than the one the operating-system account maps to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySetup {
    pub administrator: String,
    #[serde(default)]
    pub trust_declared_users: bool,
}

/// `[[role]]`: a named set of permissions from the fixed list (`docs/security.md`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSetup {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub permissions: Vec<String>,
}

/// `[[grant]]`: a role given to a user or a group, in every entity or the ones listed. The
/// grants a file names for a user or group replace that user's or group's grants.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSetup {
    pub role: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub entities: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrencySetup {
    pub code: String,
    #[serde(default)]
    pub name: Option<String>,
    pub minor_units: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSetup {
    pub id: String,
    /// The month the fiscal year starts in, 1 to 12.
    pub start_month: u32,
    /// First and last fiscal year to create, e.g. `FY2025` and `FY2027`.
    pub first_year: String,
    pub last_year: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartSetup {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, alias = "account")]
    pub accounts: Vec<AccountSetup>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSetup {
    pub number: String,
    pub name: String,
    #[serde(rename = "type")]
    pub account_type: AccountType,
    #[serde(default)]
    pub revalue: bool,
    #[serde(default)]
    pub settle: bool,
    #[serde(default)]
    pub rate_type: Option<String>,
    #[serde(default)]
    pub fixed_currency: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub blocked: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DimensionSetup {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub values: Vec<DimensionValueSetup>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum DimensionValueSetup {
    Plain(String),
    Detailed {
        value: String,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        blocked: bool,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSetup {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSetup {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// The operating-system account acting as this user in local mode.
    #[serde(default)]
    pub os_user: Option<String>,
    /// A blocked user stays in the history but may not act.
    #[serde(default)]
    pub blocked: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitySetup {
    pub id: String,
    pub name: String,
    pub currency: String,
    pub calendar: String,
    pub chart: String,
    pub retained_earnings_account: String,
    #[serde(default = "default_rate_type")]
    pub default_rate_type: String,
    #[serde(default)]
    pub penny_rounding_account: Option<String>,
    #[serde(default = "default_penny_tolerance")]
    pub penny_tolerance: String,
}

fn default_rate_type() -> String {
    "spot".to_owned()
}

fn default_penny_tolerance() -> String {
    "0.01".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSetup {
    pub from: String,
    pub to: String,
    #[serde(rename = "type")]
    pub rate_type: String,
    /// A TOML date (`date = 2026-01-31`) or a string (`date = "2026-01-31"`), as close.toml
    /// takes its holidays; kept as text and parsed with the rate.
    #[serde(deserialize_with = "date_text")]
    pub date: String,
    pub rate: String,
}

/// A date written as a TOML date or as a string, as its text.
fn date_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match toml::Value::deserialize(deserializer)? {
        toml::Value::String(text) => Ok(text),
        toml::Value::Datetime(date) => Ok(date.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a date like 2026-01-31 (a TOML date or a string), found {} `{other}`",
            other.type_str()
        ))),
    }
}

/// What applying a setup file did, by kind.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SetupSummary {
    pub currencies: usize,
    pub calendars: usize,
    pub fiscal_years_created: usize,
    pub accounts: usize,
    pub dimension_values: usize,
    pub users: usize,
    pub groups: usize,
    pub entities: usize,
    pub rates: usize,
    /// `[[journal_approval]]` rules applied.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub journal_approval_rules: usize,
    /// `[[recurring_journal]]` templates added or replaced.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub recurring_journals: usize,
    /// `[[reconciliation]]` accounts applied.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reconciliations: usize,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

impl SetupFile {
    pub fn parse(text: &str, path: &str) -> Result<Self, LedgerError> {
        toml::from_str(text).map_err(|error| LedgerError::input(path, error.to_string().trim_end().to_owned()))
    }
}

fn invalid(message: String) -> LedgerError {
    LedgerError::Invalid(message)
}

/// Applies a setup file inside the caller's write transaction.
pub fn apply(db: &Db<'_>, setup: &SetupFile) -> Result<SetupSummary, LedgerError> {
    let mut summary = SetupSummary::default();
    for currency in &setup.currencies {
        if currency.code.len() != 3 || !currency.code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(invalid(format!(
                "currency `{}`: a currency code is three capital letters, like USD",
                currency.code
            )));
        }
        if currency.minor_units > 8 {
            return Err(invalid(format!(
                "currency {}: minor_units {} is more than 8",
                currency.code, currency.minor_units
            )));
        }
        db.upsert_currency(
            &currency.code,
            currency.name.as_deref().unwrap_or(&currency.code),
            currency.minor_units,
        )?;
        summary.currencies += 1;
    }
    for calendar in &setup.calendars {
        summary.fiscal_years_created += apply_calendar(db, calendar)?;
        summary.calendars += 1;
    }
    for chart in &setup.charts {
        let chart_id = ChartId::new(chart.id.clone());
        db.upsert_chart(&chart_id, chart.name.as_deref().unwrap_or(&chart.id))?;
        for account in &chart.accounts {
            apply_account(db, &chart_id, account)?;
            summary.accounts += 1;
        }
    }
    for dimension in &setup.dimensions {
        if !is_valid_dimension_text(&dimension.name) {
            return Err(invalid(format!(
                "dimension name `{}` is empty or contains `=` or `;`",
                dimension.name
            )));
        }
        db.upsert_dimension(
            &dimension.name,
            dimension.description.as_deref().unwrap_or(&dimension.name),
        )?;
        for value in &dimension.values {
            let (value, name, blocked) = match value {
                DimensionValueSetup::Plain(value) => (value, None, false),
                DimensionValueSetup::Detailed { value, name, blocked } => (value, name.as_deref(), *blocked),
            };
            if !is_valid_dimension_text(value) {
                return Err(invalid(format!(
                    "dimension {}: value `{value}` is empty or contains `=` or `;`",
                    dimension.name
                )));
            }
            db.upsert_dimension_value(&dimension.name, value, name.unwrap_or(value), blocked)?;
            summary.dimension_values += 1;
        }
    }
    for group in &setup.groups {
        db.upsert_group(&group.id, group.name.as_deref().unwrap_or(&group.id))?;
        summary.groups += 1;
    }
    for user in &setup.users {
        db.upsert_user(&user.id, user.name.as_deref().unwrap_or(&user.id))?;
        for group in &user.groups {
            if !db.group_exists(group)? {
                return Err(invalid(format!(
                    "user {}: group {group} does not exist; declare it with [[group]]",
                    user.id
                )));
            }
        }
        db.set_user_groups(&user.id, &user.groups)?;
        apply_user_access(db, user)?;
        summary.users += 1;
    }
    for entity in &setup.entities {
        apply_entity(db, entity)?;
        summary.entities += 1;
    }
    apply_roles_and_grants(db, setup)?;
    apply_journal_approvals(db, &setup.journal_approvals)?;
    summary.journal_approval_rules = setup.journal_approvals.len();
    apply_reconciliations(db, &setup.reconciliations)?;
    summary.reconciliations = setup.reconciliations.len();
    // The templates a file gives an entity replace the ones it had: a template left out (or
    // renamed) stops posting.
    let mut replaced = std::collections::BTreeSet::new();
    for recurring in &setup.recurring_journals {
        if replaced.insert(recurring.entity.as_str()) {
            db.delete_recurring_templates(&EntityId::new(recurring.entity.clone()))?;
        }
        apply_recurring_journal(db, recurring)?;
        summary.recurring_journals += 1;
    }
    if let Some(security) = &setup.security {
        if !db.user_ids()?.contains(&security.administrator) {
            return Err(invalid(format!(
                "[security] administrator {} is not a user: declare it with [[user]] id = \"{}\"",
                security.administrator, security.administrator
            )));
        }
        db.set_security(&security.administrator, security.trust_declared_users)?;
    }
    for rate in &setup.rates {
        let rate = parse_rate(&rate.from, &rate.to, &rate.rate_type, &rate.date, &rate.rate)?;
        check_rate_currencies(db, &rate)?;
        db.upsert_rate(&rate)?;
        summary.rates += 1;
    }
    Ok(summary)
}

fn apply_calendar(db: &Db<'_>, setup: &CalendarSetup) -> Result<usize, LedgerError> {
    let calendar_id = CalendarId::new(setup.id.clone());
    let calendar =
        FiscalCalendar::new(setup.start_month).map_err(|error| invalid(format!("calendar {}: {error}", setup.id)))?;
    match db.calendar_start_month(&calendar_id)? {
        Some(existing) if existing != setup.start_month => {
            return Err(invalid(format!(
                "calendar {}: start month cannot change from {existing} to {} once created; create a new calendar",
                setup.id, setup.start_month
            )));
        }
        Some(_) => {}
        None => db.insert_calendar(&calendar_id, setup.start_month)?,
    }
    let first = parse_fiscal_year_name(&setup.first_year)
        .map_err(|error| invalid(format!("calendar {}: {error}", setup.id)))?;
    let last =
        parse_fiscal_year_name(&setup.last_year).map_err(|error| invalid(format!("calendar {}: {error}", setup.id)))?;
    if last < first || last - first >= CALENDAR_YEARS_MAX {
        return Err(invalid(format!(
            "calendar {}: years {} to {} must be in order and at most {CALENDAR_YEARS_MAX} years",
            setup.id, setup.first_year, setup.last_year
        )));
    }
    let mut created = 0;
    for end_year in first..=last {
        let year = calendar
            .fiscal_year(end_year)
            .map_err(|error| invalid(format!("calendar {}: {error}", setup.id)))?;
        let periods = calendar.periods(&year);
        if db.insert_fiscal_year(&calendar_id, &year, &periods)? {
            created += 1;
        }
    }
    Ok(created)
}

/// Creates or updates one account; refuses a type change once the account has postings.
pub fn apply_account(db: &Db<'_>, chart: &ChartId, setup: &AccountSetup) -> Result<(), LedgerError> {
    if setup.number.trim().is_empty() || setup.number.trim() != setup.number {
        return Err(invalid(format!(
            "account number `{}` is empty or has spaces around it",
            setup.number
        )));
    }
    let number = AccountNumber::new(setup.number.clone());
    if let Some(existing) = db.account(chart, &number)?
        && existing.account_type != setup.account_type
        && db.account_has_lines(chart, &number)?
    {
        return Err(invalid(format!(
            "account {}: type cannot change from {} to {} because it has postings; create a new account and reclassify",
            setup.number,
            existing.account_type.as_str(),
            setup.account_type.as_str()
        )));
    }
    let currencies = db.currencies()?;
    if let Some(currency) = &setup.fixed_currency
        && !currencies.contains_key(&CurrencyCode::new(currency.clone()))
    {
        return Err(invalid(format!(
            "account {}: fixed currency {currency} does not exist",
            setup.number
        )));
    }
    db.upsert_account(
        chart,
        &Account {
            number,
            name: setup.name.clone(),
            account_type: setup.account_type,
            revalue: setup.revalue,
            settle: setup.settle,
            rate_type: setup.rate_type.clone().map(RateType),
            fixed_currency: setup.fixed_currency.clone().map(CurrencyCode),
            category: setup.category.clone(),
            blocked: setup.blocked,
        },
    )
}

fn apply_user_access(db: &Db<'_>, user: &UserSetup) -> Result<(), LedgerError> {
    if user.id.trim().is_empty() {
        return Err(invalid("a [[user]] has an empty id".to_owned()));
    }
    if let Some(account) = &user.os_user {
        if account.trim().is_empty() {
            return Err(invalid(format!("user {}: os_user is empty", user.id)));
        }
        if let Some(other) = db.user_of_os_account(account, &user.id)? {
            return Err(invalid(format!(
                "user {}: operating-system account {account} is already mapped to user {other}; one account acts as one user",
                user.id
            )));
        }
    }
    db.set_user_access(&user.id, user.blocked, user.os_user.as_deref())
}

/// Checks a recurring journal template against the entity's chart and calendar and stores it.
fn apply_recurring_journal(db: &Db<'_>, setup: &RecurringJournalSetup) -> Result<(), LedgerError> {
    use crate::recurring::{RecurringTemplate, Schedule, TemplateLine};
    let context = |problem: String| invalid(format!("recurring journal {}: {problem}", setup.id));
    let entity_id = EntityId::new(setup.entity.clone());
    let entity = db.entity(&entity_id)?.ok_or_else(|| {
        context(format!(
            "entity {} does not exist; declare it with [[entity]]",
            setup.entity
        ))
    })?;
    let schedule = match setup.schedule.as_str() {
        "monthly" => Schedule::Monthly,
        "quarterly" => Schedule::Quarterly,
        "yearly" => Schedule::Yearly,
        other => {
            return Err(context(format!(
                "schedule `{other}` is not monthly, quarterly or yearly"
            )));
        }
    };
    let amount = |text: &Option<String>, what: &str| -> Result<Option<Decimal>, LedgerError> {
        text.as_deref()
            .map(|text| {
                crate::money::parse_decimal(text)
                    .map_err(|error| context(format!("{what} = \"{text}\" is not an amount: {error}")))
            })
            .transpose()
    };
    let accounts = db.accounts(&entity.chart)?;
    let mut lines = Vec::with_capacity(setup.lines.len());
    for line in &setup.lines {
        for account in std::iter::once(&line.account).chain(line.percent_of.as_ref()) {
            if !accounts.iter().any(|known| known.number.as_str() == account) {
                return Err(context(format!(
                    "account {account} is not in chart {} of entity {}",
                    entity.chart, setup.entity
                )));
            }
        }
        lines.push(TemplateLine {
            account: AccountNumber::new(line.account.clone()),
            dimensions: line.dimensions.clone(),
            amount: amount(&line.amount, "amount")?,
            percent_of: line.percent_of.clone().map(AccountNumber::new),
            percent: amount(&line.percent, "percent")?,
            balance: line.balance,
            description: line.description.clone(),
        });
    }
    // Operating periods only (YYYY-MM): they compare as text in calendar order.
    let period = |text: &Option<String>, what: &str| -> Result<Option<PeriodName>, LedgerError> {
        text.as_deref()
            .map(|text| {
                let operating = text.len() == 7
                    && text.as_bytes()[4] == b'-'
                    && NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").is_ok();
                if operating {
                    Ok(PeriodName::new(text.to_owned()))
                } else {
                    Err(context(format!(
                        "{what} = \"{text}\" is not an operating period like 2026-01"
                    )))
                }
            })
            .transpose()
    };
    let from = period(&setup.from, "from")?;
    let until = period(&setup.until, "until")?;
    if let (Some(from), Some(until)) = (&from, &until)
        && from.as_str() > until.as_str()
    {
        return Err(context(format!("from = \"{from}\" is after until = \"{until}\"")));
    }
    let template = RecurringTemplate {
        id: setup.id.clone(),
        entity: entity_id,
        description: setup.description.clone(),
        schedule,
        from,
        until,
        lines,
        updated_by: None,
    };
    template.check().map_err(invalid)?;
    db.upsert_recurring_template(&template)
}

/// Records `user` as the author of the recurring journal templates `setup` applied (called once
/// the applying user is known: a ledger's first setup names its administrator).
pub fn stamp_template_authors(db: &Db<'_>, setup: &SetupFile, user: &crate::ids::UserId) -> Result<(), LedgerError> {
    for recurring in &setup.recurring_journals {
        let entity = EntityId::new(recurring.entity.clone());
        for mut template in db.recurring_templates(&entity)? {
            if template.id == recurring.id {
                template.updated_by = Some(user.clone());
                db.upsert_recurring_template(&template)?;
            }
        }
    }
    Ok(())
}

/// Replaces the approval rules of every entity the file gives rules.
fn apply_journal_approvals(db: &Db<'_>, approvals: &[JournalApprovalSetup]) -> Result<(), LedgerError> {
    let mut rules: std::collections::BTreeMap<&str, Vec<crate::store::ApprovalRule>> = Default::default();
    let mut off = std::collections::BTreeSet::new();
    for approval in approvals {
        let entity = EntityId::new(approval.entity.clone());
        if db.entity(&entity)?.is_none() {
            return Err(invalid(format!(
                "a [[journal_approval]] names entity {entity}, which does not exist; declare it with [[entity]]"
            )));
        }
        if approval.off {
            if approval.module.is_some() || approval.above.is_some() {
                return Err(invalid(format!(
                    "[[journal_approval]] of entity {entity}: off = true removes every rule of the entity, so it takes no module or above"
                )));
            }
            if rules
                .get(approval.entity.as_str())
                .is_some_and(|given| !given.is_empty())
            {
                return Err(invalid(format!(
                    "entity {entity} has a [[journal_approval]] with off = true and another rule: give either"
                )));
            }
            off.insert(approval.entity.as_str());
            rules.entry(approval.entity.as_str()).or_default();
            continue;
        }
        let module = match approval.module.as_deref() {
            None => None,
            Some("close") => {
                return Err(invalid(format!(
                    "[[journal_approval]] of entity {entity}: module `close` is not a journal module: close steps' proposals are controlled by plugin.post and task reviews (review = true); give ledger, receivables, payables or inventory"
                )));
            }
            Some(text) => Some(Module::parse(text).ok_or_else(|| {
                invalid(format!(
                    "[[journal_approval]] of entity {entity}: module `{text}` is not one of {}",
                    Module::ALL.map(Module::as_str).join(", ")
                ))
            })?),
        };
        let above = match approval.above.as_deref() {
            None => None,
            Some(text) => match crate::money::parse_decimal(text) {
                Ok(above) if !above.is_sign_negative() => Some(above),
                _ => {
                    return Err(invalid(format!(
                        "[[journal_approval]] of entity {entity}: above = \"{text}\" is not an amount of zero or more, like \"10000.00\""
                    )));
                }
            },
        };
        if off.contains(approval.entity.as_str()) {
            return Err(invalid(format!(
                "entity {entity} has a [[journal_approval]] with off = true and another rule: give either"
            )));
        }
        let entity_rules = rules.entry(approval.entity.as_str()).or_default();
        if entity_rules.iter().any(|rule| rule.module == module) {
            return Err(invalid(format!(
                "entity {entity} has two [[journal_approval]] rules for {}: give one",
                module.map_or("every module", Module::as_str)
            )));
        }
        entity_rules.push(crate::store::ApprovalRule { module, above });
    }
    for (entity, entity_rules) in rules {
        db.replace_approval_rules(&EntityId::new(entity.to_owned()), &entity_rules)?;
    }
    Ok(())
}

/// Replaces the reconciled accounts of every entity the file lists some for.
fn apply_reconciliations(db: &Db<'_>, reconciliations: &[ReconciliationSetup]) -> Result<(), LedgerError> {
    let mut rules: std::collections::BTreeMap<&str, Vec<crate::store::ReconciliationRule>> = Default::default();
    let mut off = std::collections::BTreeSet::new();
    for reconciliation in reconciliations {
        let entity = EntityId::new(reconciliation.entity.clone());
        let Some(record) = db.entity(&entity)? else {
            return Err(invalid(format!(
                "a [[reconciliation]] names entity {entity}, which does not exist; declare it with [[entity]]"
            )));
        };
        let given = rules
            .get(reconciliation.entity.as_str())
            .is_some_and(|given| !given.is_empty());
        if reconciliation.off {
            if reconciliation.account.is_some()
                || reconciliation.materiality.is_some()
                || reconciliation.materiality_percent.is_some()
                || given
            {
                return Err(invalid(format!(
                    "[[reconciliation]] of entity {entity}: off = true removes every reconciled account of the entity, so it is given alone, with no account or materiality"
                )));
            }
            off.insert(reconciliation.entity.as_str());
            rules.entry(reconciliation.entity.as_str()).or_default();
            continue;
        }
        if off.contains(reconciliation.entity.as_str()) {
            return Err(invalid(format!(
                "[[reconciliation]] of entity {entity}: off = true removes every reconciled account of the entity, so it is given alone, with no account or materiality"
            )));
        }
        let Some(account) = &reconciliation.account else {
            return Err(invalid(format!(
                "[[reconciliation]] of entity {entity} needs the account reconciled: account = \"1000\" (or off = true, alone, to remove the entity's)"
            )));
        };
        let account = crate::ids::AccountNumber::new(account.clone());
        let minor_units = db.minor_units(&record.currency)?;
        if db.account(&record.chart, &account)?.is_none() {
            return Err(invalid(format!(
                "[[reconciliation]] of entity {entity}: account {account} is not in its chart {}",
                record.chart
            )));
        }
        let amount = |name: &str, text: Option<&str>, most: Option<rust_decimal::Decimal>| match text {
            None => Ok(None),
            Some(text) => match crate::money::parse_decimal(text) {
                Ok(value)
                    if !value.is_sign_negative()
                        && most.is_none_or(|most| value <= most)
                        && (most.is_some() || crate::money::decimals_used(value) <= minor_units) =>
                {
                    Ok(Some(value))
                }
                _ => Err(invalid(format!(
                    "[[reconciliation]] of entity {entity}, account {account}: {name} = \"{text}\" is not {}",
                    if most.is_some() {
                        "a percentage from 0 to 100, like \"0.5\""
                    } else {
                        "an amount of zero or more with the currency's decimals at most, like \"10.00\""
                    }
                ))),
            },
        };
        let rule = crate::store::ReconciliationRule {
            materiality: amount("materiality", reconciliation.materiality.as_deref(), None)?,
            materiality_percent: amount(
                "materiality_percent",
                reconciliation.materiality_percent.as_deref(),
                Some(rust_decimal::Decimal::ONE_HUNDRED),
            )?,
            account,
        };
        let entity_rules = rules.entry(reconciliation.entity.as_str()).or_default();
        if entity_rules.iter().any(|given| given.account == rule.account) {
            return Err(invalid(format!(
                "entity {entity} has two [[reconciliation]] entries for account {}: give one",
                rule.account
            )));
        }
        entity_rules.push(rule);
    }
    for (entity, entity_rules) in rules {
        db.replace_reconciliation_rules(&EntityId::new(entity.to_owned()), &entity_rules)?;
    }
    Ok(())
}

fn apply_roles_and_grants(db: &Db<'_>, setup: &SetupFile) -> Result<(), LedgerError> {
    use crate::access::{Grant, Permission, Principal};
    for role in &setup.roles {
        let mut permissions = std::collections::BTreeSet::new();
        for text in &role.permissions {
            let permission = Permission::parse(text).ok_or_else(|| {
                let known: Vec<&str> = Permission::ALL.iter().map(|permission| permission.as_str()).collect();
                invalid(format!(
                    "role {}: `{text}` is not a permission; the permissions are {}",
                    role.id,
                    known.join(", ")
                ))
            })?;
            permissions.insert(permission);
        }
        db.upsert_role(&role.id, role.name.as_deref().unwrap_or(&role.id), &permissions)?;
    }
    let mut principals = std::collections::BTreeSet::new();
    let mut grants = Vec::with_capacity(setup.grants.len());
    for grant in &setup.grants {
        if !db.role_exists(&grant.role)? {
            return Err(invalid(format!(
                "a [[grant]] names role {}, which does not exist; declare it with [[role]]",
                grant.role
            )));
        }
        let principal = match (&grant.user, &grant.group) {
            (Some(user), None) if db.user_ids()?.contains(user) => Principal::User(user.clone()),
            (Some(user), None) => {
                return Err(invalid(format!(
                    "a [[grant]] of role {} names user {user}, who is not declared; declare it with [[user]]",
                    grant.role
                )));
            }
            (None, Some(group)) if db.group_exists(group)? => Principal::Group(group.clone()),
            (None, Some(group)) => {
                return Err(invalid(format!(
                    "a [[grant]] of role {} names group {group}, which does not exist; declare it with [[group]]",
                    grant.role
                )));
            }
            _ => {
                return Err(invalid(format!(
                    "a [[grant]] of role {} must name exactly one of user = \"…\" or group = \"…\"",
                    grant.role
                )));
            }
        };
        let entities = match &grant.entities {
            None => None,
            Some(list) => {
                let mut entities = std::collections::BTreeSet::new();
                for entity in list {
                    let entity = EntityId::new(entity.clone());
                    if db.entity(&entity)?.is_none() {
                        return Err(invalid(format!(
                            "a [[grant]] of role {} names entity {entity}, which does not exist",
                            grant.role
                        )));
                    }
                    entities.insert(entity);
                }
                Some(entities)
            }
        };
        principals.insert(principal.clone());
        grants.push(Grant {
            role: grant.role.clone(),
            principal,
            entities,
        });
    }
    db.replace_grants(&principals, &grants)
}

fn apply_entity(db: &Db<'_>, setup: &EntitySetup) -> Result<(), LedgerError> {
    let context = |message: String| invalid(format!("entity {}: {message}", setup.id));
    let id = EntityId::new(setup.id.clone());
    let currency = CurrencyCode::new(setup.currency.clone());
    if !db.currencies()?.contains_key(&currency) {
        return Err(context(format!(
            "currency {} does not exist; declare it with [[currency]]",
            setup.currency
        )));
    }
    let calendar = CalendarId::new(setup.calendar.clone());
    if db.calendar_start_month(&calendar)?.is_none() {
        return Err(context(format!(
            "calendar {} does not exist; declare it with [[calendar]]",
            setup.calendar
        )));
    }
    let chart = ChartId::new(setup.chart.clone());
    if !db.chart_exists(&chart)? {
        return Err(context(format!(
            "chart {} does not exist; declare it with [[chart]]",
            setup.chart
        )));
    }
    let retained_earnings = AccountNumber::new(setup.retained_earnings_account.clone());
    match db.account(&chart, &retained_earnings)? {
        None => {
            return Err(context(format!(
                "retained earnings account {retained_earnings} does not exist in chart {chart}"
            )));
        }
        Some(account) if account.account_type != AccountType::Equity => {
            return Err(context(format!(
                "retained earnings account {retained_earnings} is {}, not equity",
                account.account_type.as_str()
            )));
        }
        Some(_) => {}
    }
    let penny_rounding_account = setup.penny_rounding_account.clone().map(AccountNumber);
    if let Some(number) = &penny_rounding_account {
        match db.account(&chart, number)? {
            None => {
                return Err(context(format!(
                    "penny-rounding account {number} does not exist in chart {chart}"
                )));
            }
            Some(account) if account.blocked => {
                return Err(context(format!("penny-rounding account {number} is blocked")));
            }
            Some(account) if account.fixed_currency.as_ref().is_some_and(|fixed| fixed != &currency) => {
                return Err(context(format!(
                    "penny-rounding account {number} is fixed to another currency than {currency}"
                )));
            }
            Some(_) => {}
        }
    }
    let penny_tolerance =
        parse_amount_text(&setup.penny_tolerance).map_err(|error| context(format!("penny_tolerance: {error}")))?;
    if penny_tolerance.is_sign_negative() {
        return Err(context("penny_tolerance cannot be negative".to_owned()));
    }
    if let Some(existing) = db.entity(&id)?
        && db.entry_count(Some(&id))? > 0
    {
        if existing.currency != currency {
            return Err(context(format!(
                "accounting currency cannot change from {} to {currency} once entries are posted",
                existing.currency
            )));
        }
        if existing.calendar != calendar {
            return Err(context(format!(
                "calendar cannot change from {} to {calendar} once entries are posted",
                existing.calendar
            )));
        }
        if existing.chart != chart {
            return Err(context(format!(
                "chart cannot change from {} to {chart} once entries are posted",
                existing.chart
            )));
        }
    }
    db.upsert_entity(&Entity {
        id,
        name: setup.name.clone(),
        currency,
        calendar,
        chart,
        retained_earnings_account: retained_earnings,
        default_rate_type: RateType::new(setup.default_rate_type.clone()),
        penny_rounding_account,
        penny_tolerance,
    })
}

/// Parses one rate from its text fields, refusing a zero or negative rate.
pub fn parse_rate(from: &str, to: &str, rate_type: &str, date: &str, rate: &str) -> Result<ExchangeRate, LedgerError> {
    let effective = NaiveDate::from_str(date.trim())
        .map_err(|_| invalid(format!("rate {from}/{to}: `{date}` is not a date (YYYY-MM-DD)")))?;
    let value = parse_amount_text(rate).map_err(|error| {
        let problem = crate::import::amount_format_problem(rate).unwrap_or_else(|| error.to_string());
        invalid(format!("rate {from}/{to} on {date}: {problem}"))
    })?;
    if value <= rust_decimal::Decimal::ZERO {
        return Err(invalid(format!(
            "rate {from}/{to} on {date}: a rate must be positive, not {value}"
        )));
    }
    if from == to {
        return Err(invalid(format!(
            "rate {from}/{to} on {date}: a rate needs two different currencies"
        )));
    }
    if rate_type.trim().is_empty() {
        return Err(invalid(format!("rate {from}/{to} on {date}: the rate type is empty")));
    }
    Ok(ExchangeRate {
        from: from.trim().into(),
        to: to.trim().into(),
        rate_type: rate_type.trim().into(),
        effective,
        rate: value,
    })
}

pub fn check_rate_currencies(db: &Db<'_>, rate: &ExchangeRate) -> Result<(), LedgerError> {
    let currencies = db.currencies()?;
    for currency in [&rate.from, &rate.to] {
        if !currencies.contains_key(currency) {
            return Err(invalid(format!(
                "rate {}/{} on {}: currency {currency} does not exist",
                rate.from, rate.to, rate.effective
            )));
        }
    }
    Ok(())
}
