//! `takt-cyclictest`: cyclictest's wake-up latency measurement on takt's
//! real-time set-up. Flags are parsed here; the work is in
//! `takt_tools::cyclictest`.

use std::process::ExitCode;

use clap::Parser;
use takt_tools::cyclictest;

/// Counts heap operations of the measurement threads, so the output can say
/// how many there were (the house rule: none). Other threads are not counted.
#[global_allocator]
static ALLOC: takt_scheduler::rt::CountingAllocator = takt_scheduler::rt::CountingAllocator;

#[derive(Parser, Debug)]
#[command(
    name = "takt-cyclictest",
    version,
    // -h is cyclictest's histogram flag; help is --help.
    disable_help_flag = true,
    about = "takt-cyclictest: cyclictest's wake-up latency measurement, with takt's real-time set-up",
    long_about = "\
takt-cyclictest: cyclictest's wake-up latency measurement, with takt's
real-time set-up.

Each thread wakes at absolute deadlines an interval apart on CLOCK_MONOTONIC
and records how late it woke. The flags, the thread lines and the histogram
are rt-tests' cyclictest's where the meaning is the same (-h is the
histogram; help is --help), so its command lines and scripts work unchanged.
takt adds --wake hybrid|spin, the HdrHistogram interval log (--hist-log) and a
header with the real-time environment the threads run in.",
    after_help = cyclictest::AFTER_HELP
)]
struct Cli {
    #[command(flatten)]
    args: cyclictest::CyclictestArgs,
}

fn main() -> ExitCode {
    // Usage errors exit 2, --help/--version 0, inside parse().
    cyclictest::main(&Cli::parse().args)
}
