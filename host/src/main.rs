//! The `closebook` binary: parse the command line, run it, map the outcome to an exit code.

use clap::{CommandFactory as _, FromArgMatches as _};

/// mimalloc rather than the system allocator: an import allocates entries on its reading thread
/// and frees them on its writing thread, which glibc's malloc serves slowly. Built without
/// transparent huge pages (the workspace's `no_thp`): the kernel zeroes each 2 MiB page when it
/// is first touched, again after mimalloc returns it, and that cost more than it saved.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // A copy of this binary started to compile a plugin under a memory limit (not a command a
    // person runs, so not in the clap definitions).
    if let Some(exit_code) = closebook::plugin::run_compile_subcommand() {
        return exit_code;
    }
    closebook::plugin::compile_in_child_processes();
    // `Cli::parse`, keeping the matches: diagnostics read the command's name and `--timings`.
    let matches = closebook::cli::Cli::command().get_matches();
    let cli = closebook::cli::Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let diagnostics = closebook::diagnostics::Diagnostics::start(closebook::diagnostics::Options::of(&cli, &matches));
    let outcome = {
        let _command =
            tracing::info_span!("command", command = closebook::diagnostics::command_name(&matches)).entered();
        let outcome = closebook::commands::run(cli);
        if let Err(error) = &outcome {
            // Printed on stderr as always (below); a log collector gets it with its spans too.
            tracing::info!(error = format!("{error:#}"), "command failed");
        }
        outcome
    };
    diagnostics.finish();
    closebook::exit_code(outcome)
}
