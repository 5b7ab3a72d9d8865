//! Which plugins this host can run: the `closebook:plugin` interface versions it supports, and the
//! check of a compiled component's imports and exports that happens before it is instantiated.
//! A plugin built for another version is refused with both versions named, rather than failing
//! to link with a type mismatch somewhere inside a record.

use std::collections::BTreeSet;

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use super::error::PluginError;
use super::sandbox::{is_linked_wasi_interface, is_stubbed_wasi_interface};
use super::wit::{IMPORTABLE_INTERFACES, REQUIRED_EXPORTS, SUPPORTED_INTERFACE_VERSIONS};

/// The WIT package close steps are written against.
pub const INTERFACE_PACKAGE: &str = "closebook:plugin";

/// Checks that `component` is a close step for a supported interface version and imports only
/// what the sandbox links; returns the interface version it was built for.
pub(crate) fn check_component(plugin: &str, component: &Component, engine: &Engine) -> Result<String, PluginError> {
    let component_type = component.component_type();
    let package_prefix = format!("{INTERFACE_PACKAGE}/");

    let mut versions = BTreeSet::new();
    let mut unsupported_import = None;
    for (import, _) in component_type.imports(engine) {
        if let Some(interface_and_version) = import.strip_prefix(&package_prefix) {
            let (interface, version) = interface_and_version
                .split_once('@')
                .unwrap_or((interface_and_version, "(none)"));
            versions.insert(version.to_string());
            if !IMPORTABLE_INTERFACES.contains(&interface) {
                unsupported_import.get_or_insert_with(|| import.to_string());
            }
        } else if !is_linked_wasi_interface(import) && !is_stubbed_wasi_interface(import) {
            unsupported_import.get_or_insert_with(|| import.to_string());
        }
    }

    // The version is checked first: a plugin for another version usually imports other things
    // too, and the version is what the user has to fix.
    let version = match versions.len() {
        0 => {
            return Err(PluginError::NotACloseStep {
                plugin: plugin.to_string(),
                reason: format!(
                    "it imports no {INTERFACE_PACKAGE} interface, so the interface version it was built for is unknown"
                ),
            });
        }
        1 => versions.pop_first().unwrap_or_default(),
        _ => {
            return Err(PluginError::MixedInterfaceVersions {
                plugin: plugin.to_string(),
                found: versions.into_iter().collect::<Vec<_>>().join(", "),
            });
        }
    };
    if !SUPPORTED_INTERFACE_VERSIONS.contains(&version.as_str()) {
        return Err(PluginError::UnsupportedInterfaceVersion {
            plugin: plugin.to_string(),
            found: version,
            supported: SUPPORTED_INTERFACE_VERSIONS.join(", "),
        });
    }
    if let Some(import) = unsupported_import {
        return Err(PluginError::UnsupportedImport {
            plugin: plugin.to_string(),
            import,
        });
    }

    for export in REQUIRED_EXPORTS {
        match component_type.get_export(engine, export) {
            Some(item) if matches!(item.ty, ComponentItem::ComponentFunc(_)) => {}
            Some(_) => {
                return Err(PluginError::NotACloseStep {
                    plugin: plugin.to_string(),
                    reason: format!("its export `{export}` is not a function"),
                });
            }
            None => {
                return Err(PluginError::NotACloseStep {
                    plugin: plugin.to_string(),
                    reason: format!("it does not export `{export}`"),
                });
            }
        }
    }
    Ok(version)
}
