//! The command line's remote mode (`--server URL`): the command runs on a close workspace
//! server as the user of the API token in `CLOSEBOOK_TOKEN`. Reports, periods, journals,
//! settlements, the year-end history and the close
//! are run by the server's own command code, which sends back what it printed, so output and
//! exit codes are those of local mode; a journal file is read here and sent to the import API.

use crate::cli::{CloseCommand, Command, ImportCommand, ReportCommand, StatementOutput, YearEndCommand};
use crate::close::config::CloseConfig;
use crate::output::print;
use anyhow::Context as _;
use serde_json::{Value, json};

/// The options that name the local ledger and user: the server decides both.
const LOCAL_OPTIONS: [&str; 3] = ["--server", "--db", "--as"];

pub fn run(server: &str, command: Command) -> anyhow::Result<()> {
    let token = std::env::var("CLOSEBOOK_TOKEN")
        .ok()
        .filter(|token| !token.trim().is_empty())
        .context(
            "--server needs an API token in CLOSEBOOK_TOKEN: create one with `closebook token create --user USER --name NAME` on the server's ledger",
        )?;
    let client = Client {
        base: server.trim_end_matches('/').to_owned(),
        token,
    };
    match command {
        Command::Import(ImportCommand::Journals {
            file,
            entity,
            module,
            post,
            delimiter,
            ..
        }) => {
            let source = file.display().to_string();
            let body = std::fs::read(&file).with_context(|| format!("reading {source}"))?;
            let is_json = file
                .extension()
                .is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
            let mut query = vec![
                ("entity", entity.clone()),
                ("module", module.module().as_str().to_owned()),
                ("post", post.to_string()),
                ("source", source.clone()),
                ("format", if is_json { "json" } else { "csv" }.to_owned()),
            ];
            if let Some(delimiter) = delimiter.delimiter {
                query.push(("delimiter", (delimiter as char).to_string()));
            }
            let summary: closebook_ledger::ledger::ImportSummary =
                serde_json::from_value(client.post_bytes("/api/v1/journals/import", &query, body)?)
                    .context("reading the server's answer")?;
            print(&format!(
                "{}\n",
                super::import::summary_line(&source, &entity, post, &summary)
            ))
        }
        Command::Report(
            ReportCommand::BalanceSheet {
                output: StatementOutput { output: Some(path), .. },
                ..
            }
            | ReportCommand::IncomeStatement {
                output: StatementOutput { output: Some(path), .. },
                ..
            },
        ) => anyhow::bail!(
            "--output writes a file where the command runs; with --server, leave it out and redirect the output instead: > {}",
            path.display()
        ),
        Command::Reconcile(reconcile) if !super::reconcile::runs_remotely(&reconcile) => anyhow::bail!(
            "this reconcile command reads or writes a file where the command runs, so it runs only on a local ledger file: leave out --server (or unset CLOSEBOOK_SERVER); with --server, closebook runs reconcile subledger, item, prepare, review, show and report (without --output)"
        ),
        Command::Report(_)
        | Command::Reconcile(_)
        | Command::Period(_)
        | Command::Journal(_)
        | Command::Settle(_)
        | Command::YearEnd(YearEndCommand::Reverse { .. } | YearEndCommand::History { .. })
        | Command::Close(
            CloseCommand::Run { .. }
            | CloseCommand::Signoff { .. }
            | CloseCommand::Explain { .. }
            | CloseCommand::Show { .. }
            | CloseCommand::Status { .. }
            | CloseCommand::History { .. },
        ) => {
            let arguments = remote_arguments(std::env::args().skip(1).collect())?;
            let answer = client.post_json("/api/v1/cli", &json!({ "args": arguments }))?;
            if let Some(stdout) = answer["stdout"].as_str() {
                print(stdout)?;
            }
            match answer["error"].as_str() {
                Some(error) => Err(anyhow::anyhow!("{error}")),
                None => Ok(()),
            }
        }
        _ => anyhow::bail!(
            "this command runs only on a local ledger file: leave out --server (or unset CLOSEBOOK_SERVER); with --server, closebook runs import journals, report, period, journal, settle, reconcile, year-end reverse|history and close run|signoff|explain|status|show|history"
        ),
    }
}

/// The command line as the server should run it: without the options that name the local
/// ledger and user, and with a close.toml path replaced by the name of its close (the server
/// runs the close it was started with under that name).
fn remote_arguments(arguments: Vec<String>) -> anyhow::Result<Vec<String>> {
    let mut remote = Vec::with_capacity(arguments.len());
    let mut iterator = arguments.into_iter();
    while let Some(argument) = iterator.next() {
        if LOCAL_OPTIONS.contains(&argument.as_str()) {
            iterator.next();
            continue;
        }
        if LOCAL_OPTIONS
            .iter()
            .any(|option| argument.starts_with(&format!("{option}=")))
        {
            continue;
        }
        let config = if argument == "--config" {
            Some(iterator.next().unwrap_or_default())
        } else {
            argument.strip_prefix("--config=").map(str::to_owned)
        };
        match config {
            Some(path) => {
                let close = CloseConfig::load(std::path::Path::new(&path))?;
                remote.push("--config".to_owned());
                remote.push(close.name);
            }
            None => remote.push(argument),
        }
    }
    Ok(remote)
}

struct Client {
    base: String,
    token: String,
}

impl Client {
    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder().http_status_as_error(false).build().into()
    }

    fn answer(&self, response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> anyhow::Result<Value> {
        let mut response = response.with_context(|| format!("reaching the server at {}", self.base))?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer of {}", self.base))?;
        let value: Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "the server at {} answered {status} with something that is not closebook's JSON: is it a closebook server?",
                self.base
            )
        })?;
        if status.is_success() || value.get("stdout").is_some() {
            return Ok(value);
        }
        let message = value["detail"]
            .as_str()
            .or_else(|| value["error"].as_str())
            .unwrap_or("the server refused the request");
        Err(anyhow::anyhow!("{message}"))
    }

    fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = Self::agent()
            .post(&format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.token))
            .send_json(body);
        self.answer(response)
    }

    fn post_bytes(&self, path: &str, query: &[(&str, String)], body: Vec<u8>) -> anyhow::Result<Value> {
        let mut request = Self::agent()
            .post(&format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.token));
        for (name, value) in query {
            request = request.query(name, value);
        }
        self.answer(request.send(&body[..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_options_are_not_sent_to_the_server() {
        let arguments: Vec<String> = [
            "--server",
            "http://x",
            "--db=a.db",
            "report",
            "trial-balance",
            "--as",
            "bob",
            "--entity",
            "E",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            remote_arguments(arguments).unwrap(),
            ["report", "trial-balance", "--entity", "E"]
        );
    }
}
