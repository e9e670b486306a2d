//! `takt`: schedule tools. Flags are parsed here; the work is in the
//! `takt_tools` library, one module per subcommand.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use takt_tools::{check, control_client, doctor, export, frames_cmd, import, loopback};

/// Counts heap operations of the data-path threads, so every report can say
/// how many there were (the house rule: none). Other threads are not counted.
#[global_allocator]
static ALLOC: takt_scheduler::rt::CountingAllocator = takt_scheduler::rt::CountingAllocator;

#[derive(Parser, Debug)]
#[command(
    name = "takt",
    version,
    about = "takt: tools for time-triggered TSN schedules",
    after_help = "Examples:\n  takt check docs/examples/two-class-250us.toml\n  takt loopback docs/examples/two-class-250us.toml --duration 5s\n  takt control status 10.77.0.1\n  takt frames run.frames --summary\n  takt export taprio docs/examples/two-class-250us.toml --dev eth0\n  takt doctor --cpu 1\n\nSee `takt <command> --help` for each command's flags and exit status."
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
    /// Run the schedule's talker and listener over the simulated wire
    ///
    /// Both ends in one process, no NIC and no root needed: every stream's
    /// frames are sent at their launch times over a simulated link at the
    /// schedule's speed; the report gives lost/late frames, the transmit
    /// error and the one-way latency per stream.
    #[command(after_help = format!("{}\n{}", loopback::AFTER_HELP, takt_tools::run::EXIT_STATUS_HELP))]
    Loopback(loopback::LoopbackArgs),
    /// Ask a running takt-talker or takt-listener over UDP
    ///
    /// `status` prints its live report; `schedule` sends a talker a new
    /// schedule. Protocol: docs/control-plane.md.
    Control(control_client::ControlArgs),
    /// Print a frames log (--frames-log) as CSV, printf lines or histograms
    ///
    /// One CSV row per record (stage times S W H T R A and their
    /// differences), or lines in a --printf-format, or with --summary the
    /// run report's per-stream histograms recomputed from the records.
    #[command(after_help = frames_cmd::AFTER_HELP)]
    Frames(frames_cmd::FramesCmdArgs),
    /// Write a schedule as tc-taprio, IEEE 802.1Q YANG or Qcc
    ///
    /// `taprio`: the tc command line(s) that install the schedule's gates
    /// in the kernel's Qbv qdisc; `yang`: the gate parameter table as
    /// RFC 7951 JSON; `qcc`: each stream as a talker group for a CNC.
    Export(export::ExportArgs),
    /// Read a tc-taprio or IEEE 802.1Q YANG gate schedule into a schedule file
    ///
    /// The gate lists become [schedule] and [admin]; streams cannot be
    /// derived from these formats and are left for you to add.
    Import(import::ImportArgs),
    /// Check this machine for what spoils a real-time run, with the fix for each
    #[command(after_help = doctor::AFTER_HELP)]
    Doctor(doctor::DoctorArgs),
}

fn main() -> ExitCode {
    // Usage errors exit 2 and --help/--version exit 0 inside parse().
    match Cli::parse().command {
        Command::Check(args) => check::main(&args),
        Command::Loopback(args) => loopback::main(&args),
        Command::Control(args) => control_client::main(&args),
        Command::Frames(args) => frames_cmd::main(&args),
        Command::Export(args) => export::main(&args),
        Command::Import(args) => import::main(&args),
        Command::Doctor(args) => doctor::main(&args),
    }
}
