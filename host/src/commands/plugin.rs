//! `closebook plugin inspect|run|new`; `package|keygen|sign|pin` are in `plugin_package.rs`.
//!
//! Everything a plugin says is untrusted text, so the text output shows it through
//! [`visible`]: a control character in a log line, a message or stdout is printed escaped and
//! cannot rewrite the terminal or forge a line. JSON output keeps it exact.

use super::{Context, read_file};
use crate::cli::{Format, LimitArgs, PluginCommand};
use crate::output::{Table, grouped, print, print_json, visible};
use crate::package::{PackageCheck, SignatureStatus, TrustPolicy};
use crate::plugin::{LimitOverrides, Limits, LoadedPlugin, PluginRuntime};
use crate::step::{StepRequest, post_step, run_step};
use anyhow::Context as _;
use closebook_ledger::ids::{EntityId, PeriodName};
use closebook_ledger::money::parse_decimal;
use closebook_ledger::proposal::Dimension;
use std::path::{Path, PathBuf};

/// Where compiled plugins are cached: `CLOSEBOOK_CACHE`, else `.closebook-cache` beside the
/// ledger file, so that a second run never recompiles. A ledger in PostgreSQL has no folder:
/// its cache is the user's (`$XDG_CACHE_HOME/closebook`, else `~/.cache/closebook`).
pub fn cache_directory(db: &Path) -> PathBuf {
    if let Some(directory) = std::env::var_os("CLOSEBOOK_CACHE") {
        return PathBuf::from(directory);
    }
    if closebook_ledger::store::postgres::url_of(db).is_some() {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        return base.join("closebook");
    }
    let parent = db
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parent.join(".closebook-cache")
}

/// Loads a plugin file outside a close: its package is read and checked first (a signature
/// that does not verify, or a package that needs a newer closebook, is refused before
/// compiling; with no close there is no trust policy to require a signature), and the bytes
/// checked are the bytes compiled.
pub fn load_plugin(db: &Path, file: &Path) -> anyhow::Result<(PluginRuntime, LoadedPlugin, PackageCheck)> {
    let label = file
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string());
    let wasm = crate::package::pin::read_component(&label, file)?;
    let package = crate::package::check_package(&label, &wasm, &TrustPolicy::default())?;
    let runtime = PluginRuntime::new(&cache_directory(db))?;
    let plugin = runtime
        .load(&label, &wasm)
        .with_context(|| format!("loading plugin {}", file.display()))?;
    Ok((runtime, plugin, package))
}

pub fn limits_from(arguments: &LimitArgs) -> anyhow::Result<Limits> {
    Ok(Limits::default().with_overrides(&LimitOverrides {
        fuel: arguments.fuel,
        memory_bytes: arguments.memory_bytes,
        wall_time_ms: arguments.wall_time_ms,
        output_bytes: arguments.output_bytes,
        log_bytes: arguments.log_bytes,
        query_rows: arguments.query_rows,
    })?)
}

pub fn run(context: &Context, command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::New { name, dir, lang } => super::plugin_new::run_new(&name, &dir, lang),
        PluginCommand::Inspect { file, format } => inspect(context, &file, format.format),
        PluginCommand::Package {
            file,
            manifest,
            name,
            package_version,
            summary,
            authors,
            license,
            homepage,
            minimum_closebook,
            readme,
            output,
        } => super::plugin_package::package(
            &file,
            super::plugin_package::PackageOptions {
                manifest,
                name,
                version: package_version,
                summary,
                authors,
                license,
                homepage,
                minimum_closebook,
                readme,
            },
            output.as_deref(),
        ),
        PluginCommand::Keygen { out } => super::plugin_package::keygen(&out),
        PluginCommand::Sign { file, key, output } => super::plugin_package::sign_file(&file, &key, output.as_deref()),
        PluginCommand::Pin { config, output } => super::plugin_package::pin(&config, output.as_deref()),
        PluginCommand::Publish { file, target } => super::plugin_registry::publish(&file, &target),
        PluginCommand::Add { name, source, config } => super::plugin_registry::add(&name, &source, &config),
        PluginCommand::Update { config, yes } => super::plugin_registry::update(&config, yes),
        PluginCommand::Run {
            file,
            entity,
            period,
            config,
            config_file,
            as_of,
            allow,
            post,
            revaluation,
            year_end,
            limits,
            format,
        } => {
            let entity_arg = entity.clone();
            let config = match (config, config_file) {
                (Some(config), _) => config,
                (None, Some(path)) => read_file(&path)?,
                (None, None) => "{}".to_owned(),
            };
            let mut other_entities: Vec<(EntityId, bool)> = Vec::new();
            for allowed in allow {
                let (entity, post_there) = match allowed.split_once(':') {
                    Some((entity, "post")) => (entity.to_owned(), true),
                    Some((_, other)) => {
                        anyhow::bail!("--allow {allowed}: `{other}` is not `post`; write ENTITY or ENTITY:post")
                    }
                    None => (allowed.clone(), false),
                };
                anyhow::ensure!(
                    entity != entity_arg,
                    "--allow {allowed}: the step always reads and posts its own entity"
                );
                anyhow::ensure!(
                    !other_entities.iter().any(|(seen, _)| seen.as_str() == entity),
                    "--allow names entity {entity} twice; name each entity once"
                );
                other_entities.push((EntityId::new(entity), post_there));
            }
            let request = StepRequest {
                entity: EntityId::new(entity),
                period: PeriodName::new(period),
                as_of,
                config,
                other_entities,
                task: None,
                limits: limits_from(&limits)?,
                allow_revaluation_lines: revaluation,
                allow_next_year_opening: year_end,
            };
            run_plugin(context, &file, &request, post, format.format)
        }
    }
}

fn inspect(context: &Context, file: &Path, format: Format) -> anyhow::Result<()> {
    // The package and signature are read from the bytes before the component is compiled; a
    // signature that does not verify is refused, naming its key id.
    let (_runtime, plugin, package) = load_plugin(&context.db, file)?;
    let info = plugin.describe(&Limits::default())?;
    let schema: serde_json::Value =
        serde_json::from_str(&info.config_schema).unwrap_or(serde_json::Value::String(info.config_schema.clone()));
    let sha256 = hex::encode(plugin.sha256());
    let (signature_status, signature_key_id, signature_key) = match &package.signature {
        SignatureStatus::Unsigned => ("unsigned", None, None),
        SignatureStatus::Valid { key } => ("valid", Some(key.key_id()), Some(key.to_string())),
        SignatureStatus::Invalid { key_id, .. } => ("invalid", Some(key_id.clone()), None),
    };
    if format == Format::Json {
        return print_json(&serde_json::json!({
            "name": info.name,
            "version": info.version,
            "summary": info.summary,
            "interface_version": plugin.interface_version(),
            "sha256": sha256,
            "config_schema": schema,
            "package": package.metadata,
            "signature": {
                "status": signature_status,
                "key_id": signature_key_id,
                "public_key": signature_key,
                "reason": match &package.signature {
                    SignatureStatus::Invalid { reason, .. } => Some(reason.clone()),
                    _ => None,
                },
            },
        }));
    }
    let mut text = String::new();
    match &package.metadata {
        Some(metadata) => {
            text.push_str(&format!(
                "package:           {} {}
summary:           {}
authors:           {}
license:           {}
homepage:          {}
interface version: {}
needs closebook:   {} or later
",
                visible(&metadata.name),
                visible(&metadata.version),
                visible(&metadata.summary),
                if metadata.authors.is_empty() {
                    "(none)".to_owned()
                } else {
                    visible(&metadata.authors.join(", ")).into_owned()
                },
                visible(metadata.license.as_deref().unwrap_or("(none)")),
                visible(metadata.homepage.as_deref().unwrap_or("(none)")),
                visible(&metadata.interface_version),
                visible(&metadata.minimum_closebook_version),
            ));
            if metadata.interface_version != plugin.interface_version() {
                text.push_str(&format!(
                    "warning: the package says interface {}, but the component is built for {}: package it again
",
                    visible(&metadata.interface_version),
                    plugin.interface_version()
                ));
            }
        }
        None => text.push_str(
            "package:           none (`closebook plugin package` embeds it)
",
        ),
    }
    text.push_str(&format!(
        "signature:         {}
",
        super::plugin_package::signature_label(&package)
    ));
    if let Some(key) = &signature_key {
        text.push_str(&format!(
            "signer's key:      {key}
"
        ));
    }
    text.push_str(&format!(
        "\nthe step says (describe):\nname:              {}\nversion:           {}\nsummary:           {}\ninterface version: {}\nsha256:            {sha256}\nconfig schema:\n{}\n\npin it in close.toml:\n  [plugins]\n  {} = {{ path = \"{}\", sha256 = \"{sha256}\" }}\n",
        visible(&info.name),
        visible(&info.version),
        visible(&info.summary),
        plugin.interface_version(),
        // Line by line: the schema's own line breaks are layout (a newline inside one of its
        // strings is escaped by the JSON already), anything else is shown escaped.
        serde_json::to_string_pretty(&schema)?
            .lines()
            .map(|line| visible(line).into_owned())
            .collect::<Vec<_>>()
            .join("\n"),
        visible(&info.name),
        visible(&file.display().to_string()),
    ));
    if let Some(readme) = package
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.readme.as_deref())
    {
        text.push_str(&format!("\nREADME:\n{}\n", visible_lines(readme)));
    }
    print(&text)
}

/// Multi-line text from a plugin with each line's control characters escaped, the line breaks
/// kept.
fn visible_lines(text: &str) -> String {
    text.lines()
        .map(|line| visible(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn run_plugin(context: &Context, file: &Path, request: &StepRequest, post: bool, format: Format) -> anyhow::Result<()> {
    let (_runtime, plugin, _package) = load_plugin(&context.db, file)?;
    let preview = run_step(&context.db, &plugin, request).with_context(|| {
        format!(
            "running plugin {} for {} {}",
            plugin.name(),
            request.entity,
            request.period
        )
    })?;
    let usage = preview.run.usage;
    let outcome = if post {
        let mut ledger = context.open_ledger()?;
        Some(post_step(&mut ledger, &plugin, &preview)?)
    } else {
        None
    };
    // A dry run applies every posting rule too, so what it shows is what --post would post.
    let refused = if post {
        None
    } else {
        preview
            .record(&plugin)
            .ok()
            .and_then(|record| crate::step::check_proposals(&context.db, &record, &context.actor.user).err())
    };
    if format == Format::Json {
        print_json(&serde_json::json!({
            "refused": refused.as_ref().map(|error| format!("{error:#}")),
            "run_id": preview.run_id,
            "plugin": { "name": preview.info.name, "version": preview.info.version, "sha256": hex::encode(plugin.sha256()) },
            "output": preview.run.output.as_ref().map_err(|error| error.to_string()),
            "log": preview.run.log,
            "fuel_consumed": usage.fuel_consumed,
            "rows_read": usage.rows_read,
            "duration_ms": usage.duration.as_secs_f64() * 1000.0,
            "posted": outcome,
        }))?;
        return match refused {
            Some(error) => Err(error),
            None => Ok(()),
        };
    }
    let mut text = format!(
        "plugin {} {} on {} {}\n",
        visible(&preview.info.name),
        visible(&preview.info.version),
        request.entity,
        request.period
    );
    for record in &preview.run.log.records {
        text.push_str(&format!(
            "  log {}: {}\n",
            level_name(record.level),
            visible(&record.message)
        ));
    }
    for (name, stream) in [("stdout", &preview.run.log.stdout), ("stderr", &preview.run.log.stderr)] {
        for line in stream.lines() {
            text.push_str(&format!("  {name}: {}\n", visible(line)));
        }
    }
    if preview.run.log.truncated {
        text.push_str(&format!(
            "  log truncated: the step said more than its log limit of {} bytes; the rest was dropped (raise `log_bytes` to keep more)\n",
            request.limits.log_bytes()
        ));
    }
    let output = match &preview.run.output {
        Ok(output) => output,
        Err(error) => {
            print(&text)?;
            anyhow::bail!("{error}");
        }
    };
    text.push_str(&format!(
        "\n{} proposed entries, {} proposed settlements\n",
        output.entries.len(),
        output.settlements.len()
    ));
    let mut table = Table::new(&[
        ("#", true),
        ("Entity", false),
        ("Date", false),
        ("Account", false),
        ("Dimensions", false),
        ("Currency", false),
        ("Amount", true),
        ("Accounting", true),
        ("Description", false),
    ]);
    let show = |text: &str| {
        parse_decimal(text)
            .map(grouped)
            .unwrap_or_else(|_| format!("{text} (not a decimal)"))
    };
    for (index, entry) in output.entries.iter().enumerate() {
        for (line_index, line) in entry.lines.iter().enumerate() {
            let first = line_index == 0;
            let dimensions: Vec<String> = line.dimensions.iter().map(Dimension::pair).collect();
            table.row(vec![
                if first { (index + 1).to_string() } else { String::new() },
                if first { entry.entity.clone() } else { String::new() },
                if first { entry.date.clone() } else { String::new() },
                line.account.clone(),
                dimensions.join(";"),
                line.currency.clone().unwrap_or_default(),
                show(&line.amount),
                line.accounting_amount.as_deref().map(show).unwrap_or_default(),
                // A line's own description, else the entry's (which every line inherits).
                line.description.clone().unwrap_or_else(|| {
                    if first {
                        entry.description.clone()
                    } else {
                        String::new()
                    }
                }),
            ]);
        }
    }
    if !table.is_empty() {
        text.push('\n');
        text.push_str(&table.render());
    }
    for settlement in &output.settlements {
        text.push_str(&format!(
            "settle in {}: lines {:?}\n",
            visible(&settlement.entity),
            settlement.line_ids
        ));
    }
    for item in &output.reconciling_items {
        text.push_str(&format!(
            "reconciling item in {} account {}{} for {}: {}, {} (expected to clear by {}{})\n",
            visible(&item.entity),
            visible(&item.account),
            dimensions_text(&item.dimensions),
            visible(&item.period),
            show(&item.amount),
            visible(&item.explanation),
            visible(&item.expected_clear),
            if item.reference.is_empty() {
                String::new()
            } else {
                format!(", reference {}", visible(&item.reference))
            }
        ));
    }
    for clearing in &output.cleared_items {
        text.push_str(&format!(
            "clear reconciling item {} of {} in {}: {}\n",
            clearing.item_id,
            visible(&clearing.entity),
            visible(&clearing.period),
            visible(&clearing.note)
        ));
    }
    for finding in &output.findings {
        text.push_str(&format!(
            "finding in {} account {}{}: {} {} against {}, {}{}: {}\n",
            visible(&finding.entity),
            visible(&finding.account),
            dimensions_text(&finding.dimensions),
            visible(&finding.measure),
            show(&finding.current),
            show(&finding.baseline),
            visible(&finding.threshold),
            if finding.explanation_required {
                ", to be explained"
            } else {
                ""
            },
            visible(&finding.message)
        ));
    }
    for message in &output.messages {
        text.push_str(&format!("{}: {}\n", level_name(message.level), visible(&message.text)));
    }
    text.push_str(&format!(
        "\nfuel {} units, {} ledger rows read, {:.1} ms\n",
        grouped(usage.fuel_consumed.into()),
        usage.rows_read,
        usage.duration.as_secs_f64() * 1000.0
    ));
    match outcome {
        Some(outcome) => text.push_str(&format!(
            "posted {} entries and {} settlements{} as run {}\n",
            outcome.entries.len(),
            outcome.settlements.len(),
            match (outcome.reconciling_items.len(), outcome.cleared_items.len()) {
                (0, 0) => String::new(),
                (recorded, 0) => format!(", and recorded {recorded} reconciling items"),
                (recorded, cleared) => format!(", recorded {recorded} reconciling items and cleared {cleared}"),
            },
            outcome.run_id
        )),
        None if refused.is_some() => {
            text.push_str("dry run: nothing was posted, and --post would refuse these proposals (below)\n")
        }
        None => text.push_str("dry run: nothing was posted (add --post to post)\n"),
    }
    print(&text)?;
    match refused {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn level_name(level: crate::plugin::types::Level) -> &'static str {
    use crate::plugin::types::Level;
    match level {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warning => "warning",
        Level::Error => "error",
    }
}

/// ` (department=100;partner=P1)`, or nothing without dimensions.
fn dimensions_text(dimensions: &[crate::plugin::types::Dimension]) -> String {
    if dimensions.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = dimensions
        .iter()
        .map(|dimension| visible(&dimension.pair()).into_owned())
        .collect();
    format!(" ({})", pairs.join(";"))
}
