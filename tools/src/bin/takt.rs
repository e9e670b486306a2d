//! `takt`: schedule tools. Flags are parsed here; the work is in the
//! `takt_tools` library, one module per subcommand.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use takt_tools::check;

#[derive(Parser, Debug)]
#[command(
    name = "takt",
    version,
    about = "takt: tools for time-triggered TSN schedules",
    after_help = "Example:\n  takt check docs/examples/two-class-250us.toml\n\nSee `takt check --help` for the exit status."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate schedule files and print one cycle of each
    ///
    /// For every valid file: the gate control list entries, each stream's
    /// frames on the wire, and utilisation per traffic class (or, with
    /// --json, the normalised schedule).
    #[command(after_help = check::AFTER_HELP)]
    Check(check::CheckArgs),
}

fn main() -> ExitCode {
    // Usage errors exit 2 and --help/--version exit 0 inside parse().
    match Cli::parse().command {
        Command::Check(args) => check::main(&args),
    }
}
