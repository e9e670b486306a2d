//! The real-time flags of the data-path binaries (`--cpu`, `--priority`,
//! `--wake`, `--margin`, `--no-mlock`, `--no-dma-latency`) and running
//! `rt::prepare` with them: checked before the device is opened, applied on
//! the data-path thread right before its loop, and printed.

use takt_scheduler::rt::{self, RtConfig, RtError, RtGuard, RtReport, Wake, WakeConfig};
use takt_scheduler::units;

/// Help text shared by the binaries' after-help.
pub const RT_HELP: &str = "\
Real time (--cpu, --priority, --wake, --margin):
  --cpu N pins the data-path thread to CPU N. --priority P runs it
  SCHED_FIFO P (needs root, CAP_SYS_NICE or `ulimit -r P`), locks the
  process's memory (mlockall; --no-mlock: don't) and holds
  /dev/cpu_dma_latency at 0 (root; --no-dma-latency: don't). What the
  thread got is printed on stderr (-q: warnings only) and goes into the
  report. A step that is refused ends the run with exit 1 naming what is
  missing. --wake: how the talker waits for each frame: nanosleep
  (absolute clock_nanosleep), hybrid (sleep to --margin before, then spin)
  or spin (one whole CPU). The listener busy-polls either way.
  e.g. --cpu 1 --priority 80 --wake hybrid --margin 20us";

/// `--cpu`, `--priority`, `--wake`, `--margin`: how the data-path thread runs.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RtArgs {
    /// Pin the data-path thread to this CPU
    #[arg(long, value_name = "N")]
    pub cpu: Option<usize>,
    /// Run the data-path thread SCHED_FIFO at this priority (1-99); also
    /// locks memory and holds /dev/cpu_dma_latency at 0
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u8).range(1..=99))]
    pub priority: Option<u8>,
    /// How the talker waits for each frame: nanosleep, hybrid (sleep, then
    /// spin for --margin) or spin
    #[arg(long, default_value = "nanosleep", value_name = "MODE", value_parser = wake_arg)]
    pub wake: Wake,
    /// --wake hybrid: stop sleeping this long before the time and spin
    #[arg(long, default_value = "50us", value_name = "DURATION", value_parser = units::parse_duration_ns)]
    pub margin: u64,
    /// With --priority: do not lock memory (mlockall)
    #[arg(long)]
    pub no_mlock: bool,
    /// With --priority: do not hold /dev/cpu_dma_latency at 0
    #[arg(long)]
    pub no_dma_latency: bool,
}

fn wake_arg(s: &str) -> Result<Wake, String> {
    s.parse()
}

impl RtArgs {
    /// What `rt::prepare` gets. A real-time priority brings locked memory,
    /// a pre-faulted stack and the dma latency request with it: without
    /// them a SCHED_FIFO thread still waits for page faults and deep idle
    /// exits.
    pub fn config(&self) -> RtConfig {
        let realtime = self.priority.is_some();
        let lock_memory = realtime && !self.no_mlock;
        RtConfig {
            cpu: self.cpu,
            priority: self.priority,
            lock_memory,
            prefault_stack_bytes: if lock_memory {
                rt::DEFAULT_PREFAULT_STACK_BYTES
            } else {
                0
            },
            dma_latency: realtime && !self.no_dma_latency,
        }
    }

    pub fn wake_config(&self) -> WakeConfig {
        WakeConfig {
            mode: self.wake,
            margin_ns: self.margin,
        }
    }
}

/// Try the thread-local steps (CPU, priority) on a scratch thread, which
/// takes them with it when it ends, so a refusal is reported before the
/// device is opened and the schedule started.
pub fn check(cfg: &RtConfig) -> Result<(), RtError> {
    let scratch = RtConfig {
        cpu: cfg.cpu,
        priority: cfg.priority,
        ..RtConfig::default()
    };
    std::thread::scope(|s| s.spawn(|| rt::prepare(&scratch).map(drop)).join()).unwrap_or(Ok(()))
}

/// The real-time set-up a run does on its data-path thread.
#[derive(Clone, Debug)]
pub struct RtSetup {
    pub config: RtConfig,
    /// Print only warnings, not the summary.
    pub quiet: bool,
    /// Prefix of the printed lines, e.g. `takt-talker`.
    pub tool: &'static str,
}

impl RtSetup {
    /// Prepare the calling thread and print what it got: the summary
    /// (unless quiet) and every warning.
    pub fn enter(&self) -> Result<RtGuard, RtError> {
        let guard = rt::prepare(&self.config)?;
        print_report(self.tool, guard.report(), self.quiet);
        Ok(guard)
    }
}

/// The summary line (unless `quiet`) and the warnings, on stderr.
pub fn print_report(tool: &str, report: &RtReport, quiet: bool) {
    if !quiet {
        eprintln!("{tool}: {}", report.summary());
    }
    for w in &report.warnings {
        eprintln!("{tool}: warning: {w}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        rt: RtArgs,
    }

    #[test]
    fn flags_parse_into_a_config() {
        let cli = Cli::try_parse_from(["t", "--wake", "spin", "--margin", "20us"]).unwrap();
        assert_eq!(
            cli.rt.wake_config(),
            WakeConfig {
                mode: Wake::Spin,
                margin_ns: 20_000
            }
        );
        assert!(!cli.rt.config().lock_memory && !cli.rt.config().dma_latency);
        let cli = Cli::try_parse_from(["t", "--cpu", "1", "--priority", "80"]).unwrap();
        let cfg = cli.rt.config();
        assert_eq!((cfg.cpu, cfg.priority), (Some(1), Some(80)));
        assert!(cfg.lock_memory && cfg.dma_latency && cfg.prefault_stack_bytes > 0);
        let cli = Cli::try_parse_from(["t", "--priority", "1", "--no-mlock", "--no-dma-latency"])
            .unwrap();
        assert!(!cli.rt.config().lock_memory && !cli.rt.config().dma_latency);
        assert_eq!(Cli::try_parse_from(["t"]).unwrap().rt.wake, Wake::Nanosleep);
        for bad in [
            &["t", "--wake", "x"][..],
            &["t", "--priority", "0"],
            &["t", "--priority", "100"],
            &["t", "--margin", "soon"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn check_refuses_a_missing_cpu_and_leaves_this_thread_alone() {
        let before = rt::allowed_cpus();
        let cfg = RtConfig {
            cpu: Some(nix::sched::CpuSet::count()),
            ..RtConfig::default()
        };
        let e = check(&cfg).unwrap_err();
        assert!(matches!(e, RtError::NoSuchCpu { .. }), "{e}");
        assert!(check(&RtConfig {
            cpu: before.first().copied(),
            ..RtConfig::default()
        })
        .is_ok());
        assert_eq!(rt::allowed_cpus(), before);
    }
}
