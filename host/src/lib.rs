//! closebook: the host. The command line (`cli`, `commands`), output rendering, and — built on
//! the `closebook-ledger` crate — everything a close needs around the ledger.

pub mod cli;
pub mod close;
pub mod commands;
pub mod credentials;
pub mod diagnostics;
pub mod output;
pub mod package;
pub mod plugin;
pub mod server;
pub mod statements;
pub mod step;

/// Maps a command's outcome to the process exit code, in one place: 0 on success (a closed
/// pipe, as in `closebook report … | head`, is success too), 1 with the error chain on stderr.
pub fn exit_code(outcome: anyhow::Result<()>) -> std::process::ExitCode {
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
