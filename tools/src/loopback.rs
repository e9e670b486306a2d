//! `takt loopback FILE`: talker and listener in one process on the
//! simulated wire — takt's main job with no NIC and no root.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use takt_scheduler::units;
use takt_stack::loopback::{self, LoopbackConfig};
use takt_stack::progress::Progress;

use crate::run::{self, RunArgs, EXIT_RUNTIME};

pub const AFTER_HELP: &str = "\
Example:
  takt loopback docs/examples/two-class-250us.toml --duration 5s
      Send the schedule's streams for 5 s over a simulated 1 Gbps wire
      (the speed comes from the schedule's [link]) and print, per stream,
      frames sent/received, lost, duplicates, reordered, late, the transmit
      error (actual - scheduled) and the one-way latency percentiles.
  takt loopback overbooked.toml --allow-overbooking --cycles 1000 --report json
      Run a schedule whose frames collide on the wire, to see the late
      frames and queueing latency it causes.

On a terminal a progress line is redrawn once a second (-q: none). Ctrl-C
ends the run early; the report and histogram files are still written.
";

/// Flags of `takt loopback`.
#[derive(clap::Args, Clone, Debug)]
pub struct LoopbackArgs {
    /// Schedule file (TOML; docs/schedule-format.md)
    #[arg(value_name = "FILE")]
    pub schedule: PathBuf,
    /// Propagation delay of the simulated cable, e.g. 500ns
    #[arg(long, default_value = "0", value_parser = units::parse_duration_ns, value_name = "DURATION")]
    pub propagation: u64,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn main(args: &LoopbackArgs) -> ExitCode {
    let schedule = match run::load_schedule(&args.schedule, args.run.allow_overbooking) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Err(code) = run::catch_signals() {
        return code;
    }
    let cfg = LoopbackConfig {
        talker: args.run.talker_options(),
        propagation_ns: args.propagation,
        hist_log: args.run.hist_log.clone(),
        frames_log: args.run.frames.config(),
        ..LoopbackConfig::default()
    };
    // As the run will start (within a few ms): a word if its first cycle
    // is far away or after its end, even with -q.
    let begin = schedule.clock().now_ns() + cfg.lead_ns;
    let started = schedule.started_at(begin);
    let until = run::absolute_until(cfg.talker.until, &started, begin);
    if let Some(note) = run::first_cycle_note(&started, begin, until) {
        eprintln!("takt loopback: {note}");
    }
    let (tx, rx) = (Arc::new(Progress::default()), Arc::new(Progress::default()));
    let line = {
        let (tx, rx) = (Arc::clone(&tx), Arc::clone(&rx));
        run::ProgressLine::start(args.run.quiet, move || {
            run::progress_text(Some(&tx), Some(&rx))
        })
    };
    let result = loopback::run(&schedule, &cfg, (&tx, &rx));
    drop(line);
    match result {
        Ok(done) => run::write_reports(&done.stats, &args.run, |s| &s.latency_ns),
        Err(e) => {
            eprintln!("takt loopback: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
