//! `takt-talker`: send a schedule's streams on a device. Flags are parsed
//! here; the work is in `takt_tools::talker`.

use std::process::ExitCode;

use clap::Parser;
use takt_tools::{run, talker};

/// Counts heap operations of the data-path threads, so every report can say
/// how many there were (the house rule: none). Other threads are not counted.
#[global_allocator]
static ALLOC: takt_scheduler::rt::CountingAllocator = takt_scheduler::rt::CountingAllocator;

#[derive(Parser, Debug)]
#[command(
    name = "takt-talker",
    version,
    about = "takt-talker: send a TSN schedule's streams on a device, each frame at its launch time",
    long_about = "\
takt-talker: send a TSN schedule's streams on a device, each frame at its
launch time.

Every stream's frames go out at offset + i * spacing in each cycle of the
schedule; a frame that cannot leave before its gate closes is counted late
and not sent. The report gives, per stream, frames sent, late frames and the
transmit error (actual - scheduled launch time).",
    after_help = format!("{}\n{}\n{}\n{}\n\n{}\n\n{}", talker::AFTER_HELP, takt_tools::rt_args::RT_HELP, takt_tools::ptp_args::PTP_HELP, takt_tools::device_args::DEVICE_HELP, takt_tools::ports_args::PORTS_HELP, run::EXIT_STATUS_HELP)
)]
struct Cli {
    #[command(flatten)]
    args: talker::TalkerArgs,
}

fn main() -> ExitCode {
    // Usage errors (and a malformed --device) exit 2, --help/--version 0,
    // inside parse().
    talker::main(&Cli::parse().args)
}
