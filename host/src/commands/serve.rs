//! `closebook serve`: the close workspace server.

use super::Context;
use crate::cli::ServeArgs;
use crate::close::config::CloseConfig;
use crate::credentials::parse_lifetime;
use crate::server::{AppState, LoadedClose, ServerConfig};
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn run(context: &Context, arguments: ServeArgs) -> anyhow::Result<()> {
    let mut closes = BTreeMap::new();
    for path in &arguments.closes {
        let config = CloseConfig::load(path)?;
        let name = config.name.clone();
        anyhow::ensure!(
            !closes.contains_key(&name),
            "two --close files name close {name}: give each close once"
        );
        closes.insert(
            name,
            LoadedClose {
                config,
                path: path.clone(),
            },
        );
    }
    let session_idle = parse_lifetime(&arguments.session_idle).context("--session-idle")?;
    let session_max = parse_lifetime(&arguments.session_max).context("--session-max")?;
    let state = Arc::new(AppState::new(ServerConfig {
        db: context.db.clone(),
        closes,
        session_idle,
        session_max,
        secure_cookies: arguments.secure_cookies || arguments.tls_cert.is_some(),
        trusted_proxies: arguments.trusted_proxies.clone(),
    }));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the server's runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&arguments.listen)
            .await
            .with_context(|| {
                format!(
                    "listening on {}: is another server using the port? choose another with --listen",
                    arguments.listen
                )
            })?;
        let address = listener.local_addr()?;
        let tls = match (&arguments.tls_cert, &arguments.tls_key) {
            (Some(cert), Some(key)) => Some(
                axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .with_context(|| {
                        format!(
                            "reading the TLS certificate {} and key {}: both must be PEM files, the key unencrypted",
                            cert.display(),
                            key.display()
                        )
                    })?,
            ),
            _ => None,
        };
        // The address (with the port the system chose for :0) is what scripts and tests read.
        eprintln!(
            "closebook serve: the close workspace of {} is at {}://{address}/ (stop with ctrl-c)",
            super::shown(&context.db),
            if tls.is_some() { "https" } else { "http" }
        );
        crate::server::serve(listener, tls, state).await
    })
}
