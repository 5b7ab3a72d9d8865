//! Period control: the status of each entity's period (Open, On hold, Permanently closed) and
//! module access (All, None, a user group). Posting needs status Open and access for the
//! posting user's module; status beats every other right.

use crate::ids::UserId;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeriodStatus {
    Open,
    OnHold,
    PermanentlyClosed,
}

impl PeriodStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodStatus::Open => "open",
            PeriodStatus::OnHold => "on-hold",
            PeriodStatus::PermanentlyClosed => "permanently-closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(PeriodStatus::Open),
            "on-hold" => Some(PeriodStatus::OnHold),
            "permanently-closed" => Some(PeriodStatus::PermanentlyClosed),
            _ => None,
        }
    }
}

/// The source module of a journal line; module access is granted per module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Module {
    Ledger,
    Receivables,
    Payables,
    Inventory,
    Close,
}

impl Module {
    pub const ALL: [Module; 5] = [
        Module::Ledger,
        Module::Receivables,
        Module::Payables,
        Module::Inventory,
        Module::Close,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Module::Ledger => "ledger",
            Module::Receivables => "receivables",
            Module::Payables => "payables",
            Module::Inventory => "inventory",
            Module::Close => "close",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Module::ALL.into_iter().find(|module| module.as_str() == text)
    }
}

/// Who may post in a module of a period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "level", content = "group")]
pub enum ModuleAccess {
    All,
    None,
    Group(String),
}

impl ModuleAccess {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "all" => Some(ModuleAccess::All),
            "none" => Some(ModuleAccess::None),
            other => other
                .strip_prefix("group:")
                .filter(|group| !group.is_empty())
                .map(|group| ModuleAccess::Group(group.to_owned())),
        }
    }

    pub fn to_text(&self) -> String {
        match self {
            ModuleAccess::All => "all".to_owned(),
            ModuleAccess::None => "none".to_owned(),
            ModuleAccess::Group(group) => format!("group:{group}"),
        }
    }

    /// Whether `user` (member of `groups`) may post under this access level.
    pub fn allows(&self, user: &UserId, groups: &[String]) -> bool {
        let _ = user;
        match self {
            ModuleAccess::All => true,
            ModuleAccess::None => false,
            ModuleAccess::Group(group) => groups.iter().any(|member_of| member_of == group),
        }
    }
}

/// Why a status change is refused.
pub fn check_status_change(from: PeriodStatus, to: PeriodStatus) -> Result<(), &'static str> {
    if from == PeriodStatus::PermanentlyClosed && to != PeriodStatus::PermanentlyClosed {
        return Err("a permanently closed period can never be reopened");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanently_closed_is_final() {
        assert!(check_status_change(PeriodStatus::PermanentlyClosed, PeriodStatus::Open).is_err());
        assert!(check_status_change(PeriodStatus::PermanentlyClosed, PeriodStatus::OnHold).is_err());
        assert!(check_status_change(PeriodStatus::OnHold, PeriodStatus::Open).is_ok());
        assert!(check_status_change(PeriodStatus::Open, PeriodStatus::PermanentlyClosed).is_ok());
    }

    #[test]
    fn module_access_levels() {
        let user = UserId::new("alice");
        let closers = vec!["closers".to_owned()];
        assert!(ModuleAccess::All.allows(&user, &[]));
        assert!(!ModuleAccess::None.allows(&user, &closers));
        assert!(ModuleAccess::Group("closers".into()).allows(&user, &closers));
        assert!(!ModuleAccess::Group("auditors".into()).allows(&user, &closers));
        assert_eq!(
            ModuleAccess::parse("group:closers"),
            Some(ModuleAccess::Group("closers".into()))
        );
        assert_eq!(ModuleAccess::parse("group:"), None);
        assert_eq!(ModuleAccess::parse("some"), None);
    }
}
