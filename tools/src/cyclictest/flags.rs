//! `takt-cyclictest`'s flags: rt-tests' cyclictest flags where the meaning
//! is the same (so its command lines work unchanged), plus takt's own
//! (`--wake`, `--margin`, `--hist-log`). [`CyclictestArgs::plan`] checks
//! them together and turns them into one [`ThreadPlan`] per thread.

use std::path::PathBuf;

use takt_scheduler::rt::{self, Wake, WakeConfig, DEFAULT_MARGIN_NS};
use takt_scheduler::units;

use super::measure::ThreadPlan;

/// cyclictest's default interval (us).
pub const DEFAULT_INTERVAL_US: u64 = 1000;
/// cyclictest's default distance between the threads' intervals (us).
pub const DEFAULT_DISTANCE_US: u64 = 500;

/// cyclictest's flags (the subset whose meaning takt shares) and takt's.
/// `-h` is the histogram, as in cyclictest; help is `--help` only.
#[derive(clap::Args, Clone, Debug)]
pub struct CyclictestArgs {
    /// Lock current and future memory (mlockall)
    #[arg(short = 'm', long = "mlockall")]
    pub mlockall: bool,
    /// SCHED_FIFO priority of the measurement threads, 1..=99 (default: not real-time)
    #[arg(short = 'p', long = "priority", value_name = "PRIO",
          value_parser = clap::value_parser!(u8).range(1..=99))]
    pub priority: Option<u8>,
    /// Base interval of thread 0 in us
    #[arg(short = 'i', long = "interval", value_name = "US", default_value_t = DEFAULT_INTERVAL_US,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000_000))]
    pub interval_us: u64,
    /// Distance between the threads' intervals in us (thread i runs at
    /// interval + i * distance; 0 with -h, as in cyclictest)
    #[arg(short = 'd', long = "distance", value_name = "US", default_value_t = DEFAULT_DISTANCE_US)]
    pub distance_us: u64,
    /// Loops per thread; 0 = endless. The run ends when the first thread has done them
    #[arg(short = 'l', long = "loops", value_name = "LOOPS", default_value_t = 0)]
    pub loops: u64,
    /// Run this long: seconds, or with a unit: 500ms, 10s, 1m, 2h, 1d
    #[arg(short = 'D', long = "duration", value_name = "TIME", value_parser = duration_arg)]
    pub duration_ns: Option<u64>,
    /// Number of threads; -t without a number: one per CPU (default 1)
    #[arg(short = 't', long = "threads", value_name = "NUM", num_args = 0..=1,
          default_missing_value = "0")]
    pub threads: Option<usize>,
    /// Pin thread i to CPU i; -a CPUSET (e.g. 1 or 0,2-3): to those CPUs, round robin
    #[arg(short = 'a', long = "affinity", value_name = "CPUSET", num_args = 0..=1,
          default_missing_value = "")]
    pub affinity: Option<String>,
    /// Print a summary only at the end (no live lines)
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Print a latency histogram of US 1-us buckets at the end
    #[arg(short = 'h', long = "histogram", value_name = "US",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub histogram: Option<u32>,
    /// Like -h, plus cyclictest's summary column over all threads
    #[arg(short = 'H', long = "histofall", value_name = "US", conflicts_with = "histogram",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub histofall: Option<u32>,
    /// Write the histogram here instead of to stdout (needs -h or -H)
    #[arg(long = "histfile", value_name = "PATH")]
    pub histfile: Option<PathBuf>,
    /// Write the final results as JSON here (cyclictest's layout plus a "takt" object)
    #[arg(long = "json", value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Accepted for cyclictest compatibility: clock_nanosleep is what runs anyway
    #[arg(short = 'n', long = "nanosleep")]
    pub nanosleep: bool,
    /// How each thread waits for its deadline: nanosleep (clock_nanosleep,
    /// as cyclictest), hybrid (sleep to deadline - margin, then spin) or spin
    #[arg(long = "wake", value_name = "MODE", default_value = "nanosleep", value_parser = wake_arg)]
    pub wake: Wake,
    /// Hybrid wake: how early the sleep ends before the deadline (us, or with a unit: 50us)
    #[arg(long = "margin", value_name = "US", value_parser = margin_arg)]
    pub margin_ns: Option<u64>,
    /// Write an HdrHistogram interval log (1 s intervals, one tag per thread) here
    #[arg(long = "hist-log", value_name = "PATH")]
    pub hist_log: Option<PathBuf>,
    /// Print help
    #[arg(long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// A flag combination that cannot run, with what to change.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("--histfile needs -h US (or -H US): the histogram's bucket count")]
    HistfileWithoutHistogram,
    #[error("--margin only applies to --wake hybrid (now --wake {0})")]
    MarginWithoutHybrid(Wake),
    #[error("-a {given}: {reason}")]
    BadCpuSet { given: String, reason: String },
    #[error("-t {0}: at most 1024 threads")]
    TooManyThreads(usize),
    #[error("no CPU is available to this process (sched_getaffinity returned none)")]
    NoCpus,
}

/// Durations as cyclictest writes them (a number of seconds, or with m, h,
/// d) and as takt does (500ms, 10s).
pub fn duration_arg(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let scale = match t.chars().last() {
        Some('m') if !t.ends_with("ms") => Some(60),
        Some('h') => Some(3600),
        Some('d') => Some(86_400),
        Some(c) if c.is_ascii_digit() => Some(1),
        _ => None,
    };
    if let Some(scale) = scale {
        let digits = t.trim_end_matches(['m', 'h', 'd']);
        if let Ok(n) = digits.parse::<u64>() {
            return n
                .checked_mul(scale * 1_000_000_000)
                .ok_or_else(|| format!("\"{s}\" is too long a duration"));
        }
    }
    units::parse_duration_ns(t).map_err(|_| {
        format!("\"{s}\" is not a duration: write seconds (10) or a number with a unit: 500ms, 10s, 1m, 2h, 1d")
    })
}

fn wake_arg(s: &str) -> Result<Wake, String> {
    s.parse::<Wake>()
        .map_err(|_| format!("\"{s}\" is not a wake mode: use nanosleep, hybrid or spin"))
}

/// `--margin`: a plain number is us (like every cyclictest time flag).
fn margin_arg(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(us) => us
            .checked_mul(1000)
            .ok_or_else(|| format!("\"{s}\" us is too large")),
        Err(_) => units::parse_duration_ns(s),
    }
}

/// "0,2-3" into [0, 2, 3]; every CPU must be in `allowed`.
pub fn parse_cpu_set(given: &str, allowed: &[usize]) -> Result<Vec<usize>, FlagError> {
    let bad = |reason: String| FlagError::BadCpuSet {
        given: given.to_string(),
        reason,
    };
    let mut cpus = Vec::new();
    for part in given.split(',') {
        let part = part.trim();
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let num = |x: &str| {
            x.trim().parse::<usize>().map_err(|_| {
                bad(format!(
                    "\"{part}\" is not a CPU number or range: write e.g. 1, 0,2 or 2-3"
                ))
            })
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi {
            return Err(bad(format!("range {part} runs backwards: write {hi}-{lo}")));
        }
        cpus.extend(lo..=hi);
    }
    if let Some(c) = cpus.iter().find(|c| !allowed.contains(c)) {
        return Err(bad(format!(
            "CPU {c} is not available to this process; available: {}",
            cpu_list(allowed)
        )));
    }
    Ok(cpus)
}

/// [0, 1, 2, 5] as "0-2,5".
pub fn cpu_list(cpus: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

impl CyclictestArgs {
    /// Histogram buckets (-h or -H) and whether -H's summary column is on.
    pub fn histogram_buckets(&self) -> Option<(u32, bool)> {
        match (self.histogram, self.histofall) {
            (Some(n), _) => Some((n, false)),
            (None, Some(n)) => Some((n, true)),
            (None, None) => None,
        }
    }

    /// The wake-up configuration the flags give.
    pub fn wake_config(&self) -> WakeConfig {
        WakeConfig {
            mode: self.wake,
            margin_ns: self.margin_ns.unwrap_or(DEFAULT_MARGIN_NS),
        }
    }

    /// One plan per thread, with the CPUs this process may use (`allowed`,
    /// from `rt::allowed_cpus()`).
    pub fn plan(&self, allowed: &[usize]) -> Result<Vec<ThreadPlan>, FlagError> {
        if self.histfile.is_some() && self.histogram_buckets().is_none() {
            return Err(FlagError::HistfileWithoutHistogram);
        }
        if self.margin_ns.is_some() && self.wake != Wake::Hybrid {
            return Err(FlagError::MarginWithoutHybrid(self.wake));
        }
        let threads = match self.threads {
            None => 1,
            Some(0) => allowed.len().max(1),
            Some(n) => n,
        };
        if threads > 1024 {
            return Err(FlagError::TooManyThreads(threads));
        }
        let cpus: Option<Vec<usize>> = match self.affinity.as_deref() {
            None => None,
            Some("") => {
                if allowed.is_empty() {
                    return Err(FlagError::NoCpus);
                }
                Some(allowed.to_vec())
            }
            Some(set) => Some(parse_cpu_set(set, allowed)?),
        };
        // cyclictest runs every thread at the same interval in histogram mode.
        let distance_ns = if self.histogram_buckets().is_some() {
            0
        } else {
            self.distance_us * 1000
        };
        let buckets = self.histogram_buckets().map(|(n, _)| n);
        Ok((0..threads)
            .map(|i| ThreadPlan {
                index: i,
                cpu: cpus.as_ref().map(|c| c[i % c.len()]),
                priority: self.priority,
                lock_memory: self.mlockall,
                interval_ns: self.interval_us * 1000 + i as u64 * distance_ns,
                loops: self.loops,
                wake: self.wake_config(),
                overflow_buckets: buckets,
            })
            .collect())
    }
}

/// The CPUs this process may run on (for `-a` and `-t` without a number).
pub fn allowed_cpus() -> Vec<usize> {
    rt::allowed_cpus()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    #[command(disable_help_flag = true)]
    struct Cli {
        #[command(flatten)]
        args: CyclictestArgs,
    }

    fn parse(line: &str) -> Result<CyclictestArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("t").chain(line.split_whitespace())).map(|c| c.args)
    }

    #[test]
    fn cyclictest_command_lines_parse() {
        let a = parse("-m -p 80 -i 1000 -l 10000 -q -h 400 -t 2 -a").unwrap();
        assert!(a.mlockall && a.quiet);
        assert_eq!(a.priority, Some(80));
        assert_eq!((a.interval_us, a.loops), (1000, 10000));
        assert_eq!(a.histogram, Some(400));
        assert_eq!(a.threads, Some(2));
        assert_eq!(a.affinity.as_deref(), Some(""));
        let a = parse("-t -a 1 -n --histogram=20 --json=x.json -D 1m").unwrap();
        assert_eq!(a.threads, Some(0));
        assert_eq!(a.affinity.as_deref(), Some("1"));
        assert_eq!(a.duration_ns, Some(60_000_000_000));
        assert!(a.nanosleep);
        let a = parse("-t2 --wake hybrid --margin 30").unwrap();
        assert_eq!(a.threads, Some(2));
        assert_eq!(a.wake_config().margin_ns, 30_000);
        assert!(parse("-p 0").is_err());
        assert!(parse("--wake sleep").is_err());
        assert!(parse("-h 0").is_err());
    }

    #[test]
    fn durations_in_cyclictest_and_takt_units() {
        assert_eq!(duration_arg("10").unwrap(), 10_000_000_000);
        assert_eq!(duration_arg("2h").unwrap(), 7_200_000_000_000);
        assert_eq!(duration_arg("1d").unwrap(), 86_400_000_000_000);
        assert_eq!(duration_arg("500ms").unwrap(), 500_000_000);
        assert_eq!(duration_arg("1.5s").unwrap(), 1_500_000_000);
        let e = duration_arg("soon").unwrap_err();
        assert!(e.contains("500ms, 10s, 1m"), "{e}");
    }

    #[test]
    fn plans_follow_cyclictest() {
        let allowed = [0, 1];
        let p = parse("-t 3 -a -p 80 -i 1000")
            .unwrap()
            .plan(&allowed)
            .unwrap();
        let cpus: Vec<_> = p.iter().map(|t| t.cpu).collect();
        assert_eq!(cpus, [Some(0), Some(1), Some(0)]);
        let iv: Vec<_> = p.iter().map(|t| t.interval_ns).collect();
        assert_eq!(iv, [1_000_000, 1_500_000, 2_000_000]);
        // Histogram mode: same interval for all, as cyclictest.
        let p = parse("-t 2 -h 10 -d 300").unwrap().plan(&allowed).unwrap();
        assert!(p
            .iter()
            .all(|t| t.interval_ns == 1_000_000 && t.cpu.is_none()));
        assert_eq!(parse("-t").unwrap().plan(&allowed).unwrap().len(), 2);
        let p = parse("-t 2 -a 1").unwrap().plan(&allowed).unwrap();
        assert!(p.iter().all(|t| t.cpu == Some(1)));
    }

    #[test]
    fn bad_combinations_say_what_to_change() {
        let allowed = [0, 1];
        let e = parse("--histfile h.txt")
            .unwrap()
            .plan(&allowed)
            .unwrap_err();
        assert_eq!(e, FlagError::HistfileWithoutHistogram);
        let e = parse("--margin 20").unwrap().plan(&allowed).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--margin only applies to --wake hybrid (now --wake nanosleep)"
        );
        let e = parse("-a 4").unwrap().plan(&allowed).unwrap_err();
        assert_eq!(
            e.to_string(),
            "-a 4: CPU 4 is not available to this process; available: 0-1"
        );
        let e = parse("-a 1-x").unwrap().plan(&allowed).unwrap_err();
        assert!(e.to_string().contains("not a CPU number or range"), "{e}");
    }

    #[test]
    fn cpu_lists_are_compact() {
        assert_eq!(cpu_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(parse_cpu_set("3-5,0", &[0, 3, 4, 5]).unwrap(), [3, 4, 5, 0]);
    }
}
