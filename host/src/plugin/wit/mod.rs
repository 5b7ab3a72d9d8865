//! The plugin boundary: every version of the `closebook:plugin` interface this host runs, behind
//! one version-neutral façade. Each version has a module (`since_v0_1.rs`, …) holding its
//! generated bindings and their conversions to the host's own types (`plugin::types`); the rest
//! of the host never names a WIT type. Supporting a new version adds a module here, a variant
//! of [`CloseStepPre`] and an entry in [`SUPPORTED_INTERFACE_VERSIONS`], and touches nothing
//! outside this folder.

#[macro_use]
mod shared;
mod since_v0_1;
mod since_v0_2;

use wasmtime::component::{InstancePre, Linker};
use wasmtime::{Engine, Store};

use super::runtime::RunState;
use super::types::{StepInfo, StepInput, StepOutput};

/// The versions of the `closebook:plugin` package this host runs. A version is added here together
/// with the module that converts it, and never removed while plugins built for it exist.
pub const SUPPORTED_INTERFACE_VERSIONS: &[&str] = &[since_v0_1::INTERFACE_VERSION, since_v0_2::INTERFACE_VERSION];

/// The interfaces of the package a close step may import, in any supported version.
pub(crate) const IMPORTABLE_INTERFACES: &[&str] = &["types", "ledger", "log"];

/// The functions a close step must export, in every supported version.
pub(crate) const REQUIRED_EXPORTS: &[&str] = &["describe", "run"];

/// Adds the imports of every supported version to `linker`; their names carry the version, so
/// they coexist.
pub(crate) fn add_to_linker(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    since_v0_1::add_to_linker(linker)?;
    since_v0_2::add_to_linker(linker)
}

/// A close step compiled and pre-instantiated for the interface version it was built for.
pub(crate) enum CloseStepPre {
    V0_1(since_v0_1::Pre),
    V0_2(since_v0_2::Pre),
}

impl CloseStepPre {
    /// Pre-instantiates a component built for `interface_version` (one of
    /// [`SUPPORTED_INTERFACE_VERSIONS`], already checked against its imports).
    pub(crate) fn new(interface_version: &str, instance_pre: InstancePre<RunState>) -> wasmtime::Result<Self> {
        match interface_version {
            since_v0_1::INTERFACE_VERSION => since_v0_1::Pre::new(instance_pre).map(Self::V0_1),
            since_v0_2::INTERFACE_VERSION => since_v0_2::Pre::new(instance_pre).map(Self::V0_2),
            other => Err(wasmtime::Error::msg(format!(
                "interface version {other} is not supported (supported: {})",
                SUPPORTED_INTERFACE_VERSIONS.join(", ")
            ))),
        }
    }

    pub(crate) fn engine(&self) -> &Engine {
        match self {
            Self::V0_1(pre) => pre.engine(),
            Self::V0_2(pre) => pre.engine(),
        }
    }

    /// Instantiates the step in `store` and calls its `describe` export.
    pub(crate) fn describe(&self, store: &mut Store<RunState>) -> wasmtime::Result<StepInfo> {
        match self {
            Self::V0_1(pre) => pre.describe(store),
            Self::V0_2(pre) => pre.describe(store),
        }
    }

    /// Instantiates the step in `store` and calls its `run` export; a failure the step reports
    /// itself (`step-error`) is its message.
    pub(crate) fn run(
        &self,
        store: &mut Store<RunState>,
        input: &StepInput,
    ) -> wasmtime::Result<Result<StepOutput, String>> {
        match self {
            Self::V0_1(pre) => pre.run(store, input),
            Self::V0_2(pre) => pre.run(store, input),
        }
    }
}
