//! `takt loopback FILE`: talker and listener in one process on the
//! simulated wire — takt's main job with no NIC and no root.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use takt_drivers::sim::{parse_spec, LinkFaults};
use takt_scheduler::units;
use takt_stack::loopback::{self, LoopbackConfig};
use takt_stack::progress::Progress;

use crate::run::{self, RunArgs, EXIT_BAD_INPUT, EXIT_RUNTIME};

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
  takt loopback docs/examples/frer.toml --duration 6s \\
      --link 0:loss=5%,down=1s+1s,seed=1 \\
      --link 1:loss=5%,delay=200us,jitter=400us,down=3s+1s,seed=2
      FRER on two simulated links (the schedule's streams with ports = [0, 1]
      and redundancy = \"frer\"): each frame leaves on both with an R-TAG and
      the listener passes the first copy. Link 0 loses 5 % and is down from
      1 s to 2 s into the run, link 1 loses 5 %, is 200-600 us slower (so
      copies arrive in either order) and is down from 3 s to 4 s. The
      application gets every frame once and in order but those lost on both
      links (~0.25 %, and 5 % of each outage); the frer block shows the
      stream's recovery (passed, discarded, lost, ...) and each member
      path's own counters and latency, the ports block each link's tx,
      rx, tx_drops and link_down. Same seeds, same losses: a run repeats
      exactly (docs/redundancy.md, \"On the simulated wire\").

--link PORT:SPEC sets the faults of simulated link PORT (one --link per
port; a port without one is a perfect wire). SPEC is KEY=VALUE,... with
  loss=P%     each frame lost with probability P (or ppm=N)
  delay=D     added to every frame (ns, us, ms, s)
  jitter=D    a further 0..=D per frame; a link never reorders its own frames
  down=S+L    link down from S to S+L after the first cycle (repeatable)
  seed=N      seeds loss and jitter: the same seed gives the same pattern

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
    /// Faults of simulated link PORT, e.g. 1:loss=5%,delay=50us,jitter=20us,down=2s+2s,seed=7
    /// (repeatable: once per port; see below)
    #[arg(long = "link", value_name = "PORT:SPEC", value_parser = parse_link)]
    pub links: Vec<(usize, LinkFaults)>,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn main(args: &LoopbackArgs) -> ExitCode {
    let schedule = match run::load_schedule(&args.schedule, args.run.allow_overbooking) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let links = match links_by_port(&args.links, schedule.ports_needed()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("takt loopback: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if let Err(code) = run::catch_signals() {
        return code;
    }
    let cfg = LoopbackConfig {
        links,
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

const LINK_EXAMPLE: &str = "e.g. --link 1:loss=5%,delay=50us,jitter=20us,down=2s+2s,seed=7";

/// `PORT:SPEC` of `--link`.
fn parse_link(v: &str) -> Result<(usize, LinkFaults), String> {
    let Some((port, spec)) = v.split_once(':') else {
        return Err(format!("write PORT:SPEC, {LINK_EXAMPLE}"));
    };
    let port = port.trim().parse::<usize>().map_err(|_| {
        format!("port `{port}` is not a port number: write PORT:SPEC with PORT 0, 1, ..., {LINK_EXAMPLE}")
    })?;
    let faults = parse_spec(spec).map_err(|e| e.to_string())?;
    Ok((port, faults))
}

/// The faults of each port the schedule uses, by port; a port given twice
/// or one the schedule does not use is refused, saying what to write.
fn links_by_port(given: &[(usize, LinkFaults)], ports: usize) -> Result<Vec<LinkFaults>, String> {
    let mut out = vec![LinkFaults::default(); ports];
    let mut seen = vec![false; ports];
    for (port, faults) in given {
        let Some(slot) = out.get_mut(*port) else {
            let uses = if ports == 1 {
                "port 0 only (its streams have no `ports` key)".to_string()
            } else {
                format!("ports 0..={}", ports - 1)
            };
            return Err(format!(
                "--link {port}:...: the schedule uses {uses}; give --link PORT:SPEC for one of those"
            ));
        };
        if std::mem::replace(&mut seen[*port], true) {
            return Err(format!(
                "--link {port} given twice: put all faults of a link in one SPEC, \
                 e.g. --link {port}:loss=1%,down=2s+1s,down=5s+1s"
            ));
        }
        *slot = faults.clone();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_checked_against_the_ports_the_schedule_uses() {
        let l = |v: &str| parse_link(v).unwrap();
        let got = links_by_port(&[l("1:loss=5%,seed=3")], 2).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[0].is_none());
        assert_eq!((got[1].loss_ppm, got[1].seed), (50_000, 3));
        let e = links_by_port(&[l("2:loss=1%")], 2).unwrap_err();
        assert!(e.contains("ports 0..=1"), "{e}");
        let e = links_by_port(&[l("1:loss=1%")], 1).unwrap_err();
        assert!(e.contains("port 0 only"), "{e}");
        let e = links_by_port(&[l("0:loss=1%"), l("0:delay=1us")], 2).unwrap_err();
        assert!(e.contains("given twice"), "{e}");
        for bad in ["loss=5%", "x:loss=5%", "0:loss=5", "0:drop=1%"] {
            let e = parse_link(bad).unwrap_err();
            assert!(e.contains("e.g."), "{bad}: {e}");
        }
    }
}
