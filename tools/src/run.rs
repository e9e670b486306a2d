//! What `takt loopback`, `takt-talker` and `takt-listener` share: the run
//! flags, loading the schedule, the once-a-second progress line, and
//! writing the reports at the end (also after SIGINT/SIGTERM).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use takt_scheduler::config::{self, ConfigError};
use takt_scheduler::{rt, units, Schedule, Validation};
use takt_stack::plan::Until;
use takt_stack::progress::Progress;
use takt_stack::stats::{
    json_report, save_histfile, text_report, HistfileColumn, HistfileOptions, RunStats,
};

/// The run finished (or was stopped by a signal) and its reports were written.
pub const EXIT_OK: u8 = 0;
/// Something failed while running or writing results.
pub const EXIT_RUNTIME: u8 = 1;
/// Bad input: flags, schedule file or device spec.
pub const EXIT_BAD_INPUT: u8 = 2;

pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  the run ended (after --duration/--cycles, or on Ctrl-C/SIGTERM) and its
     reports were written
  1  a runtime failure: the device could not be opened, a report file could
     not be written, ...
  2  bad input: a flag, the schedule file (FILE:LINE:COL on stderr) or the
     device spec";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

/// Flags every run takes.
#[derive(clap::Args, Clone, Debug)]
pub struct RunArgs {
    /// Run this long, e.g. 10s, 500ms (default: until Ctrl-C)
    #[arg(long, value_parser = duration_arg, conflicts_with = "cycles")]
    pub duration: Option<u64>,
    /// Run this many schedule cycles
    #[arg(long)]
    pub cycles: Option<u64>,
    /// Final report on stdout
    #[arg(long, value_enum, default_value = "text")]
    pub report: ReportFormat,
    /// Write an HdrHistogram interval log (1 s intervals) here
    #[arg(long, value_name = "PATH")]
    pub hist_log: Option<PathBuf>,
    /// Write a cyclictest-format histogram (1 us buckets) here
    #[arg(long, value_name = "PATH")]
    pub histfile: Option<PathBuf>,
    /// Buckets (us) of the --histfile histogram; larger values are overflows
    #[arg(long, default_value_t = 1000, value_name = "US")]
    pub hist_buckets: u32,
    /// Queue each frame this long before its launch time, e.g. 50us
    /// (default: 200us when the device holds frames until their launch
    /// time — 20ms on the simulated wire — else 0)
    #[arg(long, value_parser = duration_arg, value_name = "DURATION")]
    pub advance: Option<u64>,
    /// Most frames per burst handed to the ring
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub batch: u16,
    /// Accept a schedule whose frames overlap on the wire (to see what
    /// overbooking does: late frames and queueing latency)
    #[arg(long)]
    pub allow_overbooking: bool,
    /// No progress line
    #[arg(short, long)]
    pub quiet: bool,
}

fn duration_arg(s: &str) -> Result<u64, String> {
    units::parse_duration_ns(s)
}

impl RunArgs {
    /// How long the talker runs: a duration counts from the first cycle.
    pub fn until(&self) -> Until {
        match (self.duration, self.cycles) {
            (Some(d), _) => Until::Time(d),
            (None, Some(n)) => Until::Cycles(n),
            (None, None) => Until::Forever,
        }
    }
}

/// Load the schedule, printing positioned errors and warnings.
pub fn load_schedule(path: &Path, allow_overbooking: bool) -> Result<Schedule, ExitCode> {
    let validation = if allow_overbooking {
        Validation::AllowOverbooking
    } else {
        Validation::Full
    };
    match config::load_file_with(path, validation) {
        Ok(loaded) => {
            for (d, _) in &loaded.warnings {
                eprintln!("{}", d.warning());
            }
            Ok(loaded.schedule)
        }
        Err(e @ ConfigError(_)) => {
            eprintln!("{e}");
            Err(ExitCode::from(EXIT_BAD_INPUT))
        }
    }
}

/// Catch SIGINT/SIGTERM so the run ends cleanly and the reports get written.
pub fn catch_signals() -> Result<(), ExitCode> {
    rt::install_stop_signals().map_err(|e| {
        eprintln!("cannot install the SIGINT/SIGTERM handler: {e}");
        ExitCode::from(EXIT_RUNTIME)
    })
}

/// The progress line, redrawn once a second on stderr while a terminal is
/// there and `-q` was not given. Stops (and clears the line) on drop.
pub struct ProgressLine {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressLine {
    /// `line` renders the current figures.
    pub fn start(quiet: bool, line: impl Fn() -> String + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut err = std::io::stderr();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_secs(1));
                    let _ = write!(err, "\r\x1b[K{}", line());
                    let _ = err.flush();
                }
                let _ = write!(err, "\r\x1b[K");
            })
        });
        ProgressLine { stop, thread }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One line for a progress snapshot pair (talker, listener) or a single one.
pub fn progress_text(tx: Option<&Progress>, rx: Option<&Progress>) -> String {
    match (tx, rx) {
        (Some(t), Some(r)) => {
            let (t, r) = (t.snapshot(), r.snapshot());
            let mut s = r.line("latency");
            s = s.replacen(
                &format!("frames {}", r.frames),
                &format!("sent {}  received {}", t.frames, r.frames),
                1,
            );
            s.replacen("late 0", &format!("late {}", t.late), 1)
        }
        (Some(t), None) => t.snapshot().line("tx error"),
        (None, Some(r)) => r.snapshot().line("latency"),
        (None, None) => String::new(),
    }
}

/// Print the report and write the histogram file. Returns the exit code.
pub fn write_reports(
    stats: &RunStats,
    args: &RunArgs,
    metric: fn(&takt_stack::stats::StreamStats) -> &takt_stack::stats::Metric,
) -> ExitCode {
    let mut code = EXIT_OK;
    if let Some(path) = &args.histfile {
        let columns: Vec<HistfileColumn> = stats
            .streams
            .iter()
            .map(|s| HistfileColumn::new(metric(s)))
            .collect();
        let opts = HistfileOptions {
            buckets: args.hist_buckets,
            ..HistfileOptions::default()
        };
        if let Err(e) = save_histfile(path, &columns, &opts) {
            eprintln!("{e}");
            code = EXIT_RUNTIME;
        }
    }
    let report = match args.report {
        ReportFormat::Text => text_report(stats),
        ReportFormat::Json => json_report(stats),
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{}", report.trim_end())
        .and_then(|_| out.flush())
        .is_err()
    {
        code = EXIT_RUNTIME;
    }
    ExitCode::from(code)
}
