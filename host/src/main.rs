//! The `closebook` binary: parse the command line, run it, map the outcome to an exit code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    closebook::exit_code(closebook::commands::run(closebook::cli::Cli::parse()))
}
