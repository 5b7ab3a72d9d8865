//! The top-level sections of a component, read without compiling it: where each custom section
//! starts and ends, and which `closebook:plugin` interface version the component imports or
//! exports. Everything here reads untrusted bytes, so it only walks the section structure with
//! `wasmparser` (the parser wasmtime itself uses), never descends into nested modules, and
//! refuses anything it cannot read instead of guessing.

use std::ops::Range;

use wasmparser::{Chunk, Parser, Payload};

use super::PackageError;

/// One custom section at the top level of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomSection<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
    /// The whole section in the file: its id byte, size, name and data.
    pub range: Range<usize>,
}

/// What the top level of a component holds that packages care about.
#[derive(Debug, Default)]
pub struct ComponentSections<'a> {
    pub custom: Vec<CustomSection<'a>>,
    /// The `closebook:plugin` versions named by the component's imports and exports.
    pub interface_versions: Vec<String>,
    /// The end of the last section: the length of the component.
    pub end: usize,
}

/// The WIT package whose version a component's imports and exports name.
const INTERFACE_PREFIX: &str = "closebook:plugin/";

/// Walks the top-level sections of `wasm`, a component. Nested modules and components are
/// skipped whole (their custom sections belong to them, not to the package).
pub fn read_sections<'a>(plugin: &str, wasm: &'a [u8]) -> Result<ComponentSections<'a>, PackageError> {
    let unreadable = |reason: String| PackageError::Unreadable {
        plugin: plugin.to_owned(),
        reason,
    };
    if wasm.get(..4) != Some(b"\0asm".as_slice()) {
        return Err(unreadable(
            "it is not a WebAssembly component (it does not start with the component header)".to_owned(),
        ));
    }
    let mut parser = Parser::new(0);
    let mut offset = 0usize;
    let mut sections = ComponentSections::default();
    let mut is_component = false;
    loop {
        let rest = &wasm[offset..];
        let (consumed, payload) = match parser.parse(rest, true) {
            Ok(Chunk::Parsed { consumed, payload }) => (consumed, payload),
            Ok(Chunk::NeedMoreData(_)) => return Err(unreadable("the file ends inside a section".to_owned())),
            Err(error) => return Err(unreadable(error.to_string())),
        };
        let start = offset;
        offset += consumed;
        match payload {
            Payload::Version { encoding, .. } => {
                is_component = encoding == wasmparser::Encoding::Component;
                if !is_component {
                    return Err(unreadable("it is a core module, not a component".to_owned()));
                }
            }
            Payload::ModuleSection { unchecked_range, .. } | Payload::ComponentSection { unchecked_range, .. } => {
                // The parser has already stepped over the nested binary; only its header was
                // consumed here, so the input skips the rest.
                let length = unchecked_range.end.saturating_sub(unchecked_range.start);
                offset = offset
                    .checked_add(length)
                    .filter(|end| *end <= wasm.len())
                    .ok_or_else(|| unreadable("a nested module runs past the end of the file".to_owned()))?;
            }
            Payload::CustomSection(reader) => sections.custom.push(CustomSection {
                name: reader.name(),
                data: reader.data(),
                range: start..offset,
            }),
            Payload::ComponentImportSection(reader) => {
                for import in reader {
                    let import = import.map_err(|error| unreadable(error.to_string()))?;
                    note_interface(&mut sections.interface_versions, import.name.name);
                }
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|error| unreadable(error.to_string()))?;
                    note_interface(&mut sections.interface_versions, export.name.name);
                }
            }
            Payload::End(end) => {
                sections.end = end;
                break;
            }
            _ => {}
        }
    }
    if !is_component || sections.end != wasm.len() {
        return Err(unreadable("bytes follow the end of the component".to_owned()));
    }
    Ok(sections)
}

fn note_interface(versions: &mut Vec<String>, name: &str) {
    if let Some((_, version)) = name
        .strip_prefix(INTERFACE_PREFIX)
        .and_then(|rest| rest.split_once('@'))
        && !versions.iter().any(|seen| seen == version)
    {
        versions.push(version.to_owned());
    }
}

/// `wasm` with a custom section `name` holding `data` appended at the end.
pub fn append_custom_section(wasm: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
    let section = wasm_encoder::CustomSection {
        name: name.into(),
        data: data.into(),
    };
    let mut output = Vec::with_capacity(wasm.len() + data.len() + name.len() + 16);
    output.extend_from_slice(wasm);
    output.push(wasm_encoder::ComponentSection::id(&section));
    wasm_encoder::Encode::encode(&section, &mut output);
    output
}

/// `wasm` without the top-level custom sections for which `remove` is true.
pub fn without_sections(wasm: &[u8], sections: &ComponentSections<'_>, remove: impl Fn(&str) -> bool) -> Vec<u8> {
    let mut output = Vec::with_capacity(wasm.len());
    let mut kept_from = 0;
    for section in &sections.custom {
        if remove(section.name) {
            output.extend_from_slice(&wasm[kept_from..section.range.start]);
            kept_from = section.range.end;
        }
    }
    output.extend_from_slice(&wasm[kept_from..]);
    output
}
