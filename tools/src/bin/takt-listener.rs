//! `takt-listener`: receive a schedule's streams on a device and measure
//! them. Flags are parsed here; the work is in `takt_tools::listener`.

use std::process::ExitCode;

use clap::Parser;
use takt_tools::{listener, run};

/// Counts heap operations of the data-path threads, so every report can say
/// how many there were (the house rule: none). Other threads are not counted.
#[global_allocator]
static ALLOC: takt_scheduler::rt::CountingAllocator = takt_scheduler::rt::CountingAllocator;

#[derive(Parser, Debug)]
#[command(
    name = "takt-listener",
    version,
    about = "takt-listener: receive a TSN schedule's streams on a device and measure their latency",
    long_about = "\
takt-listener: receive a TSN schedule's streams on a device and measure their
latency.

The report gives, per stream, frames received, lost, duplicates and reordered
(from the sequence numbers) and the one-way latency (receive time - the
talker's transmit time carried in each frame).",
    after_help = format!("{}\n{}\n{}\n{}\n\n{}\n\n{}", listener::AFTER_HELP, takt_tools::rt_args::RT_HELP, takt_tools::ptp_args::PTP_HELP, takt_tools::device_args::DEVICE_HELP, takt_tools::ports_args::PORTS_HELP, run::EXIT_STATUS_HELP)
)]
struct Cli {
    #[command(flatten)]
    args: listener::ListenerArgs,
}

fn main() -> ExitCode {
    // Usage errors (and a malformed --device) exit 2, --help/--version 0,
    // inside parse().
    listener::main(&Cli::parse().args)
}
