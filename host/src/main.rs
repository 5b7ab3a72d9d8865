//! The `closebook` binary: parse the command line, run it, map the outcome to an exit code.

use clap::Parser;

/// mimalloc rather than the system allocator: an import allocates entries on its reading thread
/// and frees them on its writing thread, which glibc's malloc serves slowly.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // A copy of this binary started to compile a plugin under a memory limit (not a command a
    // person runs, so not in the clap definitions).
    if let Some(exit_code) = closebook::plugin::run_compile_subcommand() {
        return exit_code;
    }
    closebook::plugin::compile_in_child_processes();
    closebook::exit_code(closebook::commands::run(closebook::cli::Cli::parse()))
}
