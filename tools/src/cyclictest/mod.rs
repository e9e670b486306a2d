//! `takt-cyclictest`: the cyclictest measurement on takt's rt set-up.
//! Threads wake at absolute deadlines on CLOCK_MONOTONIC and record the
//! wake-up latency; output in cyclictest's formats (thread lines,
//! histogram, `--json`) plus takt's environment header, HdrHistogram
//! interval log and `--wake hybrid|spin`.
//!
//! - [`flags`]: the command line and the per-thread plans.
//! - [`measure`]: the per-thread loop and its sans-I/O core.
//! - [`output`]: cyclictest-format text and JSON.
//! - [`parse`]: reads that text back (rt-tests' and ours alike).
//! - [`run`](self::main): threads, live display, reports.

pub mod flags;
pub mod measure;
pub mod output;
pub mod parse;
mod session;

pub use flags::CyclictestArgs;
pub use session::main;

/// Help text after the flags.
pub const AFTER_HELP: &str = "\
Examples:
  takt-cyclictest -m -p 80 -i 1000 -l 10000 -q -h 400 -t 2 -a
  takt-cyclictest -m -p 80 -i 1000 -D 1m -t 1 -a 1 --wake hybrid --margin 50
  takt-cyclictest -p 80 -t -a -h 1000 --histfile hist.txt --json run.json --hist-log run.hlog

Latency = the CLOCK_MONOTONIC reading right after waking - the deadline, in
us like cyclictest (kept in ns in HDR histograms; the JSON and interval log
have ns). Deadlines a stall passed are skipped, as cyclictest does.
--wake spin at SCHED_FIFO never leaves the CPU: the kernel's real-time
throttling (kernel.sched_rt_runtime_us, 950000 of 1000000 by default) then
stops the thread for 50 ms every second, which shows as ~50 ms maxima.
--wake hybrid spins only for the margin.
The run ends after -l loops (when the first thread has done them), after -D,
or on Ctrl-C/SIGTERM; the summary, histogram and files are written in every
case.

Exit status:
  0  the run ended and its output was written
  1  the real-time set-up failed (the message says what is missing:
     CAP_SYS_NICE, RLIMIT_RTPRIO, RLIMIT_MEMLOCK, ...) or a file could not
     be written
  2  bad flags";
