//! What `takt loopback`, `takt-talker` and `takt-listener` share: the run
//! flags, loading the schedule, opening the device and checking its clock,
//! the once-a-second progress line, and writing the reports at the end
//! (also after SIGINT/SIGTERM).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use takt_drivers::{DeviceInfo, DeviceSpec, DriverError, RingDevice};
use takt_scheduler::config::{self, ConfigError};
use takt_scheduler::{rt, units, ClockId, Schedule, Validation};
use takt_stack::plan::{duration_end_ns, Until};
use takt_stack::progress::Progress;
use takt_stack::stats::{
    json_report, save_histfile, text_report, HistfileColumn, HistfileOptions, RunStats,
};
use takt_stack::talker::TalkerOptions;
use takt_stack::StackError;

use crate::rt_args::RtArgs;

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
  1  a runtime failure: the device could not be opened, the real-time
     set-up was refused (--cpu, --priority), a report file could not be
     written, ...
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
    /// time — 50ms on the simulated wire — else 0)
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
    #[command(flatten)]
    pub frames: crate::frames_args::FramesArgs,
}

pub fn duration_arg(s: &str) -> Result<u64, String> {
    units::parse_duration_ns(s)
}

impl RunArgs {
    /// How long the run lasts. `Until::Time` holds the *duration* here (it
    /// counts from the first cycle, which is only known once the run
    /// starts): see [`absolute_until`].
    pub fn until(&self) -> Until {
        match (self.duration, self.cycles) {
            (Some(d), _) => Until::Time(d),
            (None, Some(n)) => Until::Cycles(n),
            (None, None) => Until::Forever,
        }
    }

    /// The talker options these flags give (`until` as in [`RunArgs::until`]).
    pub fn talker_options(&self) -> TalkerOptions {
        TalkerOptions {
            advance_ns: self.advance,
            batch: self.batch.into(),
            until: self.until(),
            wake: rt::WakeConfig::default(),
        }
    }
}

/// `until` with a duration turned into the end time of a run that begins
/// at `begin_ns` with `sched` (already `started_at(begin_ns)`): see
/// [`duration_end_ns`].
pub fn absolute_until(until: Until, sched: &Schedule, begin_ns: u64) -> Until {
    match until {
        Until::Time(d) => Until::Time(duration_end_ns(sched, begin_ns, d)),
        other => other,
    }
}

/// What to tell a user whose run's first cycle is far away (`sched`
/// started at `begin_ns`, ending at `until` as [`absolute_until`] gives
/// it): that the run ends before it (nothing will be sent), or when it
/// comes when that is more than a minute away. `None` otherwise.
pub fn first_cycle_note(sched: &Schedule, begin_ns: u64, until: Until) -> Option<String> {
    let first = sched.oper().base_time_ns();
    let wait = first.saturating_sub(begin_ns);
    match until {
        Until::Time(end) if first >= end => Some(format!(
            "the first cycle starts in {} (base_time {first} ns), after this run ends (in {}): nothing will be sent; give a longer --duration or an earlier base_time",
            units::format_ns(wait),
            units::format_ns(end.saturating_sub(begin_ns)),
        )),
        _ if wait > takt_scheduler::schedule::FAR_FIRST_CYCLE_NS => Some(format!(
            "the first cycle starts in {} (base_time {first} ns): nothing is sent until then",
            units::format_ns(wait)
        )),
        _ => None,
    }
}

/// The clock a run's schedule clock is built on: the schedule's system
/// clock, optionally run at an offset and drift from it (`--clock-offset`,
/// `--clock-drift`: a test aid that makes one machine's namespaces behave
/// like hosts whose clocks disagree).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostClock {
    pub skew: takt_scheduler::HostSkew,
}

impl HostClock {
    /// A fresh disciplined clock over `clock` (one per run: PTP steers it).
    pub fn build(&self, clock: ClockId) -> Arc<takt_scheduler::DisciplinedClock> {
        takt_scheduler::DisciplinedClock::new(
            takt_scheduler::clock::TimeSource::System(clock),
            self.skew,
        )
    }
}

/// The first cycle starts at least this long after a run is set up.
pub const DEFAULT_LEAD_NS: u64 = 20_000_000;

/// Why a talker or listener run could not start or finish. Bad input
/// (exit 2) or a runtime failure (exit 1): see [`RunError::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Device(#[from] DriverError),
    #[error(
        "{device} holds frames until launch times on the {device_clock} clock, \
         but the schedule runs on {schedule_clock}: {hint}"
    )]
    ClockMismatch {
        device: String,
        device_clock: String,
        schedule_clock: ClockId,
        hint: String,
    },
    #[error(
        "{device} runs on a virtual clock (a simulation driven by hand): \
         a run needs a device whose timestamps are on a real clock"
    )]
    VirtualClock { device: String },
    #[error("cannot read the {clock} clock of {device}: {source}")]
    ReadClock {
        device: String,
        clock: String,
        #[source]
        source: nix::Error,
    },
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error(transparent)]
    Rt(#[from] rt::RtError),
    #[error("control plane: {0}")]
    Control(#[from] takt_stack::control::plane::PlaneError),
    /// The PTP settings cannot work with this schedule or device.
    #[error("{0}")]
    PtpConfig(String),
    /// The PTP port could not start.
    #[error("{0}")]
    PtpSetup(String),
    /// The clock is not in sync and the run may not start.
    #[error("{0}")]
    NotSynced(String),
}

impl RunError {
    /// 2 when the fix is in the input (device spec, schedule clock), else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Device(e) => driver_exit_code(e),
            RunError::ClockMismatch { .. } => EXIT_BAD_INPUT,
            RunError::Control(takt_stack::control::plane::PlaneError::Config(_)) => EXIT_BAD_INPUT,
            RunError::Control(_) => EXIT_RUNTIME,
            RunError::PtpConfig(_) => EXIT_BAD_INPUT,
            RunError::PtpSetup(_) | RunError::NotSynced(_) => EXIT_RUNTIME,
            RunError::VirtualClock { .. }
            | RunError::ReadClock { .. }
            | RunError::Stack(_)
            | RunError::Rt(_) => EXIT_RUNTIME,
        }
    }
}

/// A bad or unusable device spec is bad input (2); a backend that is not
/// built or fails to open is a runtime failure (1).
pub fn driver_exit_code(e: &DriverError) -> u8 {
    match e {
        DriverError::BadSpec { .. }
        | DriverError::Unsupported(_)
        | DriverError::NoSuchPciDevice { .. }
        | DriverError::WrongPciDevice { .. }
        | DriverError::BadOptions { .. } => EXIT_BAD_INPUT,
        DriverError::NotBuilt { .. }
        | DriverError::Io { .. }
        | DriverError::NotBoundToVfio { .. }
        | DriverError::NoIommu { .. }
        | DriverError::GroupNotViable { .. }
        | DriverError::PermissionDenied { .. }
        | DriverError::MemlockTooLow { .. }
        | DriverError::DeviceNotReady { .. } => EXIT_RUNTIME,
    }
}

/// `--device` as clap parses it: the spec parser's reason on failure.
pub fn device_arg(s: &str) -> Result<DeviceSpec, String> {
    s.parse::<DeviceSpec>().map_err(|e| match e {
        DriverError::BadSpec { reason, .. } => reason,
        other => other.to_string(),
    })
}

/// The backend of a spec as reports name it: `sim`, `packet`, `xdp`, `vfio`.
pub fn backend_name(spec: &DeviceSpec) -> &'static str {
    match spec {
        DeviceSpec::Sim => "sim",
        DeviceSpec::Packet { .. } => "packet",
        DeviceSpec::Xdp { .. } => "xdp",
        DeviceSpec::Vfio { .. } => "vfio",
    }
}

/// What `schedule` makes a device receive at the most: every stream's
/// frames per second at the shorter of the two cycles, and the longest
/// frame (the drivers size their receive rings from it).
pub fn rx_load(schedule: &Schedule) -> takt_drivers::RxLoad {
    let cycle_ns = schedule
        .admin()
        .map_or(u64::MAX, |a| a.cycle_time_ns())
        .min(schedule.oper().cycle_time_ns())
        .max(1);
    let per_cycle: u128 = schedule
        .streams()
        .iter()
        .map(|s| u128::from(s.frames_per_cycle))
        .sum();
    let fps = (per_cycle * 1_000_000_000).div_ceil(u128::from(cycle_ns));
    takt_drivers::RxLoad {
        frames_per_sec: u64::try_from(fps).unwrap_or(u64::MAX),
        max_frame_len: schedule
            .streams()
            .iter()
            .map(|s| s.frame_size as usize)
            .max()
            .unwrap_or(0),
    }
}

/// Open the device with receive rings sized for `load`, printing why not
/// (prefixed with `tool`).
pub fn open_device(
    tool: &str,
    spec: &DeviceSpec,
    load: Option<takt_drivers::RxLoad>,
) -> Result<Box<dyn RingDevice>, ExitCode> {
    open_tuned_device(tool, spec, load, &takt_drivers::DeviceTuning::default())
}

/// As [`open_device`], with `tuning` (the device flags) applied.
pub fn open_tuned_device(
    tool: &str,
    spec: &DeviceSpec,
    load: Option<takt_drivers::RxLoad>,
    tuning: &takt_drivers::DeviceTuning,
) -> Result<Box<dyn RingDevice>, ExitCode> {
    takt_drivers::spec::open_tuned(spec, load, tuning).map_err(|e| {
        eprintln!("{tool}: --device {spec}: {e}");
        ExitCode::from(driver_exit_code(&e))
    })
}

/// What takt-talker and takt-listener have before running.
pub struct Prepared {
    pub loaded: config::Loaded,
    /// Time synchronisation (`None`: off).
    pub ptp: Option<crate::ptp_args::PtpSettings>,
    /// One per `--device`, port 0 first.
    pub devs: Vec<Box<dyn RingDevice>>,
}

/// What takt-talker and takt-listener do before running, in the order that
/// gives the most useful error first: check the device flags and that each
/// port is its own device, load the schedule, check the PTP settings
/// against it and the number of ports, try the real-time set-up's CPU and
/// priority, open the devices (port 0 first), catch SIGINT/SIGTERM.
pub fn prepare(
    tool: &str,
    schedule: &Path,
    devices: &[DeviceSpec],
    args: &RunArgs,
    rt_args: &RtArgs,
    ptp_args: &crate::ptp_args::PtpArgs,
    device_args: &crate::device_args::DeviceArgs,
) -> Result<Prepared, ExitCode> {
    let bad = |e: String| {
        eprintln!("{tool}: error: {e}");
        ExitCode::from(EXIT_BAD_INPUT)
    };
    for device in devices {
        device_args.check(device).map_err(bad)?;
    }
    crate::ports_args::check_distinct(devices).map_err(bad)?;
    let loaded = load_schedule_file(schedule, args.allow_overbooking)?;
    let ptp = ptp_settings(tool, ptp_args, loaded.ptp.as_ref(), &loaded.schedule)?;
    crate::ports_args::check_ptp(ptp.is_some(), devices.len()).map_err(bad)?;
    crate::ports_args::check_count(&loaded.schedule, devices.len()).map_err(bad)?;
    if let Err(e) = crate::rt_args::check(&rt_args.config()) {
        eprintln!("{tool}: {e}");
        return Err(ExitCode::from(EXIT_RUNTIME));
    }
    let load = Some(rx_load(&loaded.schedule));
    let devs = devices
        .iter()
        .map(|d| open_tuned_device(tool, d, load, &device_args.tuning()))
        .collect::<Result<Vec<_>, _>>()?;
    catch_signals()?;
    Ok(Prepared { loaded, ptp, devs })
}

/// The PTP settings from the flags over the file's `[ptp]`, checked
/// against the schedule (a bad class exits 2, printed with `tool`).
pub fn ptp_settings(
    tool: &str,
    args: &crate::ptp_args::PtpArgs,
    section: Option<&takt_scheduler::config::PtpSection>,
    schedule: &Schedule,
) -> Result<Option<crate::ptp_args::PtpSettings>, ExitCode> {
    let Some(settings) = args.resolve(section) else {
        return Ok(None);
    };
    crate::ptp_args::PtpArgs::check(&settings, schedule).map_err(|e| {
        eprintln!("{tool}: {e}");
        ExitCode::from(EXIT_BAD_INPUT)
    })?;
    Ok(Some(settings))
}

/// `tai`, `monotonic`, `realtime`, or the raw clock id.
pub fn clock_name(id: nix::time::ClockId) -> String {
    schedule_clock(id).map_or_else(|| format!("id {}", id.as_raw()), |c| c.as_str().into())
}

/// The schedule clock a device clock is, if it is one of them.
fn schedule_clock(id: nix::time::ClockId) -> Option<ClockId> {
    [ClockId::Tai, ClockId::Monotonic, ClockId::Realtime]
        .into_iter()
        .find(|c| c.to_nix() == id)
}

/// The device's real clock; a virtual one cannot run in real time.
fn device_clock(info: &DeviceInfo) -> Result<nix::time::ClockId, RunError> {
    info.clock.ok_or_else(|| RunError::VirtualClock {
        device: info.name.clone(),
    })
}

/// A talker gives the device launch times on the schedule clock: a device
/// that honours launch times must keep them on that clock. (Without launch
/// time the device clock does not matter: frames leave when queued.)
pub fn check_talker_clock(info: &DeviceInfo, clock: ClockId) -> Result<(), RunError> {
    let dev = device_clock(info)?;
    if !info.caps.launch_time || dev == clock.to_nix() {
        return Ok(());
    }
    let hint = match schedule_clock(dev) {
        Some(c) => format!("set clock = \"{c}\" in the schedule's [schedule] table"),
        None => "run the schedule on the device's clock".into(),
    };
    Err(RunError::ClockMismatch {
        device: info.name.clone(),
        device_clock: clock_name(dev),
        schedule_clock: clock,
        hint,
    })
}

/// What to add to the device's rx timestamps to put them on the schedule
/// clock: 0 when they are the same clock, else `schedule now - device now`,
/// read as the closest of a few back-to-back pairs.
pub fn rx_offset_ns(info: &DeviceInfo, clock: ClockId) -> Result<i64, RunError> {
    let dev = device_clock(info)?;
    if dev == clock.to_nix() {
        return Ok(0);
    }
    clock_offset_ns(clock, dev).map_err(|source| RunError::ReadClock {
        device: info.name.clone(),
        clock: clock_name(dev),
        source,
    })
}

/// `schedule now - device now` in ns, from the tightest of 5 readings
/// (schedule, device, schedule) taken back to back.
pub fn clock_offset_ns(schedule: ClockId, device: nix::time::ClockId) -> Result<i64, nix::Error> {
    let ns = |t: nix::sys::time::TimeSpec| t.tv_sec() as i128 * 1_000_000_000 + t.tv_nsec() as i128;
    let mut best: Option<(u64, i64)> = None;
    for _ in 0..5 {
        let a = schedule.now_ns();
        let d = ns(nix::time::clock_gettime(device)?);
        let b = schedule.now_ns();
        let spread = b.saturating_sub(a);
        let mid = i128::from(a) + i128::from(spread / 2);
        let offset = (mid - d).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        if best.is_none_or(|(s, _)| spread < s) {
            best = Some((spread, offset));
        }
    }
    Ok(best.map_or(0, |(_, o)| o))
}

/// Load the schedule, printing positioned errors and warnings.
pub fn load_schedule(path: &Path, allow_overbooking: bool) -> Result<Schedule, ExitCode> {
    load_schedule_file(path, allow_overbooking).map(|l| l.schedule)
}

/// As [`load_schedule`], keeping the file's other sections.
pub fn load_schedule_file(
    path: &Path,
    allow_overbooking: bool,
) -> Result<config::Loaded, ExitCode> {
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
            Ok(loaded)
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
    if let Some(e) = stats.frames_log.as_ref().and_then(|f| f.error.as_ref()) {
        eprintln!("{e}");
        code = EXIT_RUNTIME;
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

/// The `--hist-log` interval log of a run's streams, opened now (its writer
/// thread starts here, before the real-time set-up, so it stays unpinned
/// and SCHED_OTHER, as the progress line does). `ptp`: also a
/// `ptp.offset` series (the offset from the PTP master).
pub fn open_hist_log(
    path: Option<&Path>,
    names: &[&str],
    now_ns: u64,
    ptp: bool,
) -> Result<Option<takt_stack::stats::IntervalLog>, RunError> {
    let Some(path) = path else { return Ok(None) };
    let cfg = takt_stack::stats::IntervalLogConfig::new(std::time::SystemTime::now());
    let mut tags = takt_stack::stats::stream_tags(names);
    if ptp {
        tags.push(takt_stack::talker::PTP_OFFSET_TAG.to_string());
    }
    let log = takt_stack::stats::IntervalLog::create(path, &tags, now_ns, &cfg)
        .map_err(StackError::from)?;
    Ok(Some(log))
}

#[cfg(test)]
mod tests {
    use super::*;
    use takt_drivers::{Capabilities, DeviceInfo};

    fn info(clock: Option<nix::time::ClockId>, launch_time: bool) -> DeviceInfo {
        DeviceInfo {
            name: "packet:eth0".into(),
            mac: [2, 0, 0, 0, 0, 1],
            link_speed_bps: 1_000_000_000,
            buf_size: 2048,
            pool_size: 64,
            caps: Capabilities {
                launch_time,
                max_batch: 32,
                ..Capabilities::default()
            },
            clock,
        }
    }

    #[test]
    fn device_errors_map_to_exit_codes() {
        let spec = |s: &str| s.parse::<DeviceSpec>();
        let bad = spec("eth0").unwrap_err();
        assert_eq!(driver_exit_code(&bad), EXIT_BAD_INPUT);
        let sim = takt_drivers::spec::open(&DeviceSpec::Sim).err().unwrap();
        assert_eq!(driver_exit_code(&sim), EXIT_BAD_INPUT);
        // A missing interface is bad input; a device that will not come up
        // is a runtime failure. (Not opened for real: xdp on an interface
        // that exists would attach a program to it.)
        let missing = takt_drivers::spec::open(&spec("xdp:takt-none0@0").unwrap())
            .err()
            .unwrap();
        assert_eq!(driver_exit_code(&missing), EXIT_BAD_INPUT);
        let down = takt_drivers::DriverError::DeviceNotReady {
            device: "xdp:eth9@0".into(),
            what: "interface eth9 is down".into(),
        };
        assert_eq!(driver_exit_code(&down), EXIT_RUNTIME);
        assert_eq!(RunError::from(down).exit_code(), EXIT_RUNTIME);
    }

    #[test]
    fn device_arg_gives_the_reason_and_backend_names_the_kind() {
        assert_eq!(device_arg("xdp:eth0@2").unwrap().to_string(), "xdp:eth0@2");
        let e = device_arg("eth0").unwrap_err();
        assert!(e.starts_with("unknown backend \"eth0\""), "{e}");
        for (s, kind) in [
            ("sim", "sim"),
            ("packet:eth0", "packet"),
            ("xdp:eth0", "xdp"),
            ("vfio:00:02.0", "vfio"),
        ] {
            assert_eq!(backend_name(&s.parse().unwrap()), kind);
        }
    }

    #[test]
    fn the_rx_load_is_the_schedules_frame_rate_and_longest_frame() {
        let text = include_str!("../../docs/examples/single-stream-1ms.toml");
        let loaded = config::parse_str(text, "single-stream-1ms.toml").unwrap();
        let load = rx_load(&loaded.schedule);
        assert_eq!(load.frames_per_sec, 1000);
        assert_eq!(load.max_frame_len, 128);
        // 200 frames in a 200 ms stall; the packet ring has a slot for
        // each and more.
        assert_eq!(load.frames_in_stall(), 200);
        let o = takt_drivers::packet::PacketOptions::for_load(Some(load));
        assert!(o.rx_slots() >= 200, "{o:?}");
    }

    #[test]
    fn a_duration_counts_from_the_start() {
        // The first cycle is within one cycle of the start: from there.
        let s = crate::fixtures::two_class_schedule().started_at(100);
        let first = s.oper().base_time_ns();
        assert!(first > 100 && first - 100 <= s.oper().cycle_time_ns());
        assert_eq!(
            absolute_until(Until::Time(5), &s, 100),
            Until::Time(first + 5)
        );
        assert_eq!(absolute_until(Until::Cycles(5), &s, 100), Until::Cycles(5));
        assert_eq!(absolute_until(Until::Forever, &s, 100), Until::Forever);
    }

    #[test]
    fn talker_clock_must_match_only_with_launch_time() {
        let tai = Some(ClockId::Tai.to_nix());
        let mono = Some(ClockId::Monotonic.to_nix());
        assert!(check_talker_clock(&info(tai, true), ClockId::Tai).is_ok());
        assert!(check_talker_clock(&info(mono, false), ClockId::Tai).is_ok());
        let e = check_talker_clock(&info(mono, true), ClockId::Tai).unwrap_err();
        assert_eq!(e.exit_code(), EXIT_BAD_INPUT);
        assert_eq!(
            e.to_string(),
            "packet:eth0 holds frames until launch times on the monotonic clock, but the \
             schedule runs on tai: set clock = \"monotonic\" in the schedule's [schedule] table"
        );
        let e = check_talker_clock(&info(None, false), ClockId::Tai).unwrap_err();
        assert!(matches!(e, RunError::VirtualClock { .. }));
        assert_eq!(e.exit_code(), EXIT_RUNTIME);
    }

    #[test]
    fn rx_offset_is_zero_on_the_same_clock_and_measured_on_another() {
        let tai = Some(ClockId::Tai.to_nix());
        assert_eq!(rx_offset_ns(&info(tai, true), ClockId::Tai).unwrap(), 0);
        let expected = ClockId::Realtime.now_ns() as i64 - ClockId::Monotonic.now_ns() as i64;
        let got = rx_offset_ns(
            &info(Some(ClockId::Monotonic.to_nix()), false),
            ClockId::Realtime,
        )
        .unwrap();
        assert!((got - expected).abs() < 50_000_000, "{got} vs {expected}");
        // A clock against itself: the offset is only the read-out skew.
        let same = clock_offset_ns(ClockId::Monotonic, ClockId::Monotonic.to_nix()).unwrap();
        assert!(same.abs() < 1_000_000, "{same}");
        assert!(rx_offset_ns(&info(None, false), ClockId::Tai).is_err());
    }

    #[test]
    fn clock_names() {
        assert_eq!(clock_name(ClockId::Tai.to_nix()), "tai");
        assert_eq!(clock_name(nix::time::ClockId::CLOCK_BOOTTIME), "id 7");
    }
}
