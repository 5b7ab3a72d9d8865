//! The `closebook` binary: parse the command line, run it, map the outcome to an exit code.

use clap::Parser;

/// mimalloc rather than the system allocator: an import allocates entries on its reading thread
/// and frees them on its writing thread, which glibc's malloc serves slowly.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    closebook::exit_code(closebook::commands::run(closebook::cli::Cli::parse()))
}
