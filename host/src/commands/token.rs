//! `closebook token create|list|revoke`: API tokens for the CLI's remote mode and automation.

use super::Context;
use crate::cli::{Format, TokenCommand};
use crate::credentials;
use crate::output::{Table, print, print_json, print_table};
use anyhow::Context as _;
use closebook_ledger::store::ApiToken;

pub fn run(context: &Context, command: TokenCommand) -> anyhow::Result<()> {
    let mut ledger = context.open_ledger()?;
    match command {
        TokenCommand::Create {
            user,
            name,
            expires,
            format,
        } => {
            let lifetime = credentials::parse_lifetime(&expires)?;
            let expires_at = chrono::Utc::now()
                .checked_add_signed(lifetime)
                .with_context(|| format!("--expires {expires} ends after the year 262143; give a shorter lifetime"))?
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let token = credentials::new_api_token()?;
            let record = ledger
                .create_api_token(&user, &name, &credentials::sha256_hex(&token), &expires_at)
                .with_context(|| format!("creating an API token for {user}"))?;
            if format.format == Format::Json {
                return print_json(&serde_json::json!({ "token": token, "record": record }));
            }
            print(&format!(
                "API token {} ({}) for {user}, valid until {expires_at}:\n\n    {token}\n\nIt is shown only now: store it where the program that uses it reads it (e.g. CLOSEBOOK_TOKEN).\n",
                record.id, record.name
            ))
        }
        TokenCommand::List { user, format } => {
            let tokens = ledger.api_tokens(user.as_deref())?;
            match format.format {
                Format::Json => print_json(&tokens),
                other => print_table(&tokens_table(&tokens), other),
            }
        }
        TokenCommand::Revoke { id } => {
            let token = ledger.revoke_api_token(id)?;
            print(&format!(
                "API token {id} ({}) of {} is revoked since {}\n",
                token.name,
                token.user,
                token.revoked_at.as_deref().unwrap_or("now")
            ))
        }
    }
}

fn tokens_table(tokens: &[ApiToken]) -> Table {
    let mut table = Table::new(&[
        ("Id", true),
        ("User", false),
        ("Name", false),
        ("Created", false),
        ("Expires", false),
        ("Last used", false),
        ("Revoked", false),
    ]);
    for token in tokens {
        table.row(vec![
            token.id.to_string(),
            token.user.clone(),
            token.name.clone(),
            token.created_at.clone(),
            token.expires_at.clone(),
            token.last_used_at.clone().unwrap_or_else(|| "never".to_owned()),
            token.revoked_at.clone().unwrap_or_default(),
        ]);
    }
    table
}
