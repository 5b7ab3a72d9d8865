//! `closebook user set-password`: a user's password for the close workspace server.

use super::Context;
use crate::cli::UserCommand;
use crate::credentials;
use crate::output::print;
use anyhow::Context as _;
use std::io::{BufRead as _, IsTerminal as _};

pub fn run(context: &Context, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::SetPassword { user } => {
            let password = read_new_password(&user)?;
            let hash = credentials::hash_password(&password)?;
            context
                .open_ledger()?
                .set_password(&user, &hash)
                .with_context(|| format!("setting the password of {user}"))?;
            print(&format!(
                "password of {user} set; every session of {user} was signed out\n"
            ))
        }
    }
}

/// The new password: typed twice at a prompt that does not echo, or the first line of stdin
/// when it is not a terminal (a script, a password manager's pipe).
fn read_new_password(user: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        let password = password.strip_suffix('\r').unwrap_or(password);
        anyhow::ensure!(
            !password.is_empty(),
            "stdin gave no password: pipe it in as the first line, or run the command at a terminal to be prompted"
        );
        return Ok(password.to_owned());
    }
    let first = rpassword::prompt_password(format!("New password for {user}: ")).context("reading the password")?;
    credentials::check_password(&first)?;
    let again = rpassword::prompt_password("The same again: ").context("reading the password")?;
    anyhow::ensure!(first == again, "the two passwords differ; nothing was changed");
    Ok(first)
}
