//! `takt-talker --schedule FILE --device SPEC`: send a schedule's streams
//! on one device, each frame at its launch time, and report the transmit
//! error (actual - scheduled launch time) per stream.
//!
//! [`main`] does what a binary does (device spec, schedule file, signals,
//! progress line, reports); [`run_on`] is the run itself on any
//! `RingDevice`, so tests give it one end of the simulated wire.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use takt_drivers::{Counters, DeviceSpec, RingDevice};
use takt_scheduler::{rt, Schedule};
use takt_stack::clock::SchedClock;
use takt_stack::frer::Ports;
use takt_stack::progress::Progress;
use takt_stack::sidecar::Sidecars;
use takt_stack::stats::RunStats;
use takt_stack::talker::{Talker, TalkerOptions, TalkerSummary};

use crate::control_args::{self, ControlArgs, ControlSettings};
use crate::ports_args::{self, Devices};
use crate::ptp_args::{PtpArgs, PtpSettings};
use crate::rt_args::{RtArgs, RtSetup};
use crate::run::{self, RunArgs, RunError, DEFAULT_LEAD_NS};
use crate::time_sync::{Setup, Side, TimeSync};

const TOOL: &str = "takt-talker";

pub const AFTER_HELP: &str = "\
Example:
  takt-listener --schedule docs/examples/two-class-250us.toml --device xdp:eth1@0 --duration 12s
  takt-talker --schedule docs/examples/two-class-250us.toml --device xdp:eth0@0 --duration 10s
      Start the listener on the receiving host, then the talker on the
      sending one (same schedule file, clocks synchronised by PTP): the
      talker sends every stream's frames at their launch times for 10 s and
      prints, per stream, frames sent, late frames (that could not leave
      before their gate closed) and the transmit error percentiles.
  takt-talker --schedule s.toml --device packet:eth0 --cycles 4000 --report json --histfile tx.hist
      Run 4000 cycles, print the report as JSON and write the transmit
      error as a cyclictest-format histogram.
  takt-talker --schedule s.toml --device xdp:eth0@0 --cpu 1 --priority 80 --wake hybrid --margin 20us
      Run the data path on CPU 1 as SCHED_FIFO 80 with memory locked,
      sleeping until 20 us before each frame and spinning the rest; the
      first stderr line says what the thread got (rt: pinned to CPU 1
      (not isolated), SCHED_FIFO 80, memory locked, ...).
  takt-talker --schedule docs/examples/control-plane.toml --device packet:eth0 --ip 10.77.0.1/24 --linger 5s
      Also answer ARP and ping on 10.77.0.1 and the UDP status / schedule
      service on port 9700 (`takt control status 10.77.0.1`, `takt control
      schedule 10.77.0.1 new.toml`), sending only inside best-effort gate
      windows; keep answering for 5 s after the run (docs/control-plane.md).
  takt-talker --schedule docs/examples/time-sync.toml --device packet:eth0 --ptp master --duration 60s
      Also be the gPTP grandmaster on eth0 (PTP frames only in the [ptp]
      class's windows): a takt-listener --ptp slave or a ptp4l on the other
      host locks to this clock (docs/time-sync.md).
  takt-talker --schedule docs/examples/time-sync.toml --device xdp:eth0@0 --ptp linuxptp --sync-threshold 1us --sync-wait 30s
      ptp4l owns eth0's time: start once its port is SLAVE with |offset|
      <= 1 us (or MASTER), waiting up to 30 s, else exit 1 saying why; a
      loss of sync during the run is counted and what was sent meanwhile
      is marked (unsynced).
  takt-talker --schedule docs/examples/round-trip.toml --device packet:eth0 --duration 10s --wake spin --rtt-outlier 500us
      With a takt-listener --mirror on the other end: every \"ping\" comes
      back as \"pong\" (return_of in the schedule); the report has per
      stream a round trip (returned, lost, late, outliers beyond 500 us,
      rtt and, with receive stamps, rtt_device percentiles). --wake spin
      polls for returns all the time; nanosleep/hybrid look every 250 us,
      which the rtt includes (docs/round-trip.md).
  takt-talker --schedule docs/examples/frer.toml --device packet:eth0 --device packet:eth1 --duration 10s
      Two ports (port 0 = eth0, port 1 = eth1): each stream with ports =
      [0, 1] and redundancy = \"frer\" leaves on both at the same launch
      time, each copy with the same 802.1CB R-TAG sequence number; the
      report has each port's device counters and, per replicated stream,
      the R-TAG numbers generated and the copies sent on each port
      (docs/redundancy.md).

Devices (--device):
  packet:IFNAME       AF_PACKET on an interface
  xdp:IFNAME          AF_XDP on every receive queue of an interface
  xdp:IFNAME@QUEUE    AF_XDP on one queue (an interface with one queue)
  vfio:DDDD:BB:DD.F   an Intel 82574L bound to vfio-pci
  sim                 the simulated wire joins two ports in one process:
                      use `takt loopback FILE` for it
(packet needs CAP_NET_RAW; xdp needs CAP_NET_RAW, CAP_BPF and
CAP_NET_ADMIN and attaches its own XDP program to the interface while it
runs; vfio needs the NIC bound to vfio-pci and an IOMMU: docs/net-mdev.md.)

On a terminal a progress line is redrawn once a second (-q: none). Ctrl-C
ends the run early; the report and histogram files are still written.
";

/// Flags of `takt-talker`.
#[derive(clap::Args, Clone, Debug)]
pub struct TalkerArgs {
    /// Schedule file (TOML; docs/schedule-format.md)
    #[arg(long, value_name = "FILE")]
    pub schedule: PathBuf,
    /// Device to send on: packet:IFNAME, xdp:IFNAME[@QUEUE] or vfio:DDDD:BB:DD.F;
    /// once per port (port 0 first) when the schedule's streams use several
    #[arg(long, value_name = "SPEC", value_parser = run::device_arg, required = true)]
    pub device: Vec<DeviceSpec>,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub rt: RtArgs,
    #[command(flatten)]
    pub control: ControlArgs,
    #[command(flatten)]
    pub ptp: PtpArgs,
    #[command(flatten)]
    pub rtt: crate::mirror_args::RttArgs,
    #[command(flatten)]
    pub device_tuning: crate::device_args::DeviceArgs,
    /// After the run, keep answering ARP, ping and status requests this
    /// long (the counters as they ended), e.g. 5s
    #[arg(long, value_name = "DURATION", value_parser = run::duration_arg)]
    pub linger: Option<u64>,
}

/// How to run, besides the device and the schedule.
#[derive(Clone, Debug)]
pub struct TalkerConfig {
    /// `until` as [`RunArgs::until`] gives it: a duration counts from the
    /// first cycle.
    pub talker: TalkerOptions,
    /// The first cycle starts at least this long after the call.
    pub lead_ns: u64,
    /// Write an HdrHistogram interval log of the transmit error here.
    pub hist_log: Option<PathBuf>,
    /// Backend name for the report (`packet`, `xdp`, ...).
    pub backend: String,
    /// The real-time set-up of the data-path thread, done right before its
    /// loop (None: none, and no `rt` in the report).
    pub rt: Option<RtSetup>,
    /// Answer ARP, ping and the UDP service in the loop's idle time.
    pub control: Option<ControlSettings>,
    /// Keep the control plane answering this long after the run.
    pub linger_ns: u64,
    /// The host clock: the system clock, or one skewed from it (test aid).
    pub clock: run::HostClock,
    /// Time synchronisation (None: off).
    pub ptp: Option<PtpSettings>,
    /// The device as given (for ptp4l: its interface).
    pub device: DeviceSpec,
    /// No notes on stderr (`-q`).
    pub quiet: bool,
    /// Write per-frame records here (`--frames-log`).
    pub frames_log: Option<takt_stack::frames::FramesLogConfig>,
    /// Measure round trips against a mirror (the schedule has returns).
    pub round_trip: Option<takt_stack::round_trip::RoundTripOptions>,
}

impl Default for TalkerConfig {
    fn default() -> Self {
        TalkerConfig {
            talker: TalkerOptions::default(),
            lead_ns: DEFAULT_LEAD_NS,
            hist_log: None,
            backend: String::new(),
            rt: None,
            control: None,
            linger_ns: 0,
            round_trip: None,
            clock: run::HostClock::default(),
            ptp: None,
            device: DeviceSpec::Sim,
            quiet: false,
            frames_log: None,
        }
    }
}

/// Everything a talker run measured.
#[derive(Debug)]
pub struct TalkerRun {
    /// Per stream: frames sent, late, transmit error.
    pub stats: RunStats,
    pub summary: TalkerSummary,
    pub counters: Counters,
    /// The schedule as it ran (base times moved to the start).
    pub schedule: Schedule,
}

/// How long after the last launch time a launch-time device's counters
/// are read.
const COUNTERS_SETTLE_NS: u64 = 20_000_000;

/// Send `schedule` on `dev` until the run's end or SIGINT/SIGTERM.
/// `progress` gets the talker's figures.
pub fn run_on(
    dev: &mut dyn RingDevice,
    schedule: &Schedule,
    cfg: &TalkerConfig,
    progress: &Progress,
) -> Result<TalkerRun, RunError> {
    let clock = schedule.clock();
    run::check_talker_clock(dev.info(), clock)?;
    let sched_clock = SchedClock::new(
        cfg.clock.build(clock),
        run::rx_offset_ns(dev.info(), clock)?,
    );
    let names: Vec<&str> = schedule.streams().iter().map(|s| s.name.as_str()).collect();
    // Before the real-time set-up: the log's writer thread stays unpinned.
    let log = run::open_hist_log(
        cfg.hist_log.as_deref(),
        &names,
        sched_clock.now_ns(),
        cfg.ptp.is_some(),
    )?;
    let frames = crate::frames_args::open(
        cfg.frames_log.as_ref(),
        takt_stack::frames::LogEnd::Talker,
        &*dev,
        clock,
        &names,
        sched_clock.now_ns(),
    )?;
    // Also before: its worker thread stays unpinned and SCHED_OTHER.
    let running: control_args::Running = Arc::new(Mutex::new(None));
    let mut sidecars = Sidecars::for_talker();
    if let Some(c) = &cfg.control {
        let report = control_args::report_template(&names, dev, &cfg.backend, clock);
        sidecars.set_control(control_args::talker_plane(
            c,
            cfg.ptp.as_ref().and_then(|p| p.file.as_ref()),
            schedule,
            dev,
            sched_clock.now_ns(),
            report,
            Arc::clone(&running),
        )?);
    }
    // Also before: the PTP port's thread (or ptp4l's watcher).
    let mut time_sync = match &cfg.ptp {
        Some(p) => Some(TimeSync::start(
            &Setup {
                settings: p,
                tool: TOOL,
                spec: &cfg.device,
                side: Side::Talker,
                quiet: cfg.quiet,
                hist_log: cfg.hist_log.is_some(),
                guard_band_ns: cfg.control.as_ref().map_or(0, |c| c.resolved.guard_band_ns),
            },
            schedule,
            &*dev,
            &sched_clock,
        )?),
        None => None,
    };
    // On the thread that runs the loop, and before the start is fixed:
    // locking memory takes a while, which must not eat into the lead.
    let rt_guard = cfg.rt.as_ref().map(RtSetup::enter).transpose()?;
    if let Some(ts) = &mut time_sync {
        // A NIC filters destinations in hardware: PTP's groups too.
        dev.accept_destinations(&takt_stack::ptp::profile::PTP_DESTINATIONS)?;
        ts.install(&mut sidecars);
        ts.wait_for_sync(&mut sidecars, dev, schedule, &sched_clock, cfg.talker.wake)?;
    }
    let begin_ns = sched_clock.now_ns() + cfg.lead_ns;
    let sched = schedule.started_at(begin_ns);
    let start_ns = sched.oper().base_time_ns();
    let mut opts = cfg.talker;
    opts.until = run::absolute_until(opts.until, &sched, begin_ns);
    // Even with -q: a run that sends nothing for a long time (or at all)
    // must not look like a run that works.
    if let Some(note) = run::first_cycle_note(&sched, begin_ns, opts.until) {
        eprintln!("{TOOL}: {note}");
    }
    let mut stats = RunStats::new(names.iter().copied());
    stats.rt = rt_guard.as_ref().map(|g| g.report().clone());

    if let Some(plane) = sidecars.control_mut() {
        plane.set_run_info(start_ns, stats.rt.clone());
    }
    let mut talker = Talker::new(&sched, &*dev, opts)
        .with_clock(sched_clock.clone())
        .with_sidecars(sidecars);
    if let Some(ts) = &time_sync {
        talker = talker.with_sync(ts.sync());
    }
    if let Some(log) = log {
        talker = talker.with_hist_log(log);
    }
    if let Some(f) = frames {
        talker = talker.with_frames_log(f);
    }
    if let Some(o) = cfg.round_trip {
        let mut dsts = crate::mirror_args::return_destinations(schedule);
        if cfg.ptp.is_some() {
            dsts.extend(takt_stack::ptp::profile::PTP_DESTINATIONS);
        }
        dev.accept_destinations(&dsts)?;
        talker = talker.with_round_trip(o, &*dev);
    }
    // The stage metrics this device lets the talker fill (docs/reports.md).
    talker.prepare_stats(&mut stats.streams);
    if cfg.control.is_some() {
        *running.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Arc::clone(talker.schedule()), opts.until));
    }
    let (summary, heap) = rt::count_allocations(|| talker.run(dev, &mut stats.streams, progress));
    if cfg.linger_ns > 0 && !summary.interrupted {
        let end = sched_clock.now_ns().saturating_add(cfg.linger_ns);
        talker.serve_control_until(dev, &stats.streams, summary.cycles, end);
    }
    if let Some(plane) = talker.take_control() {
        stats.control = Some(plane.finish());
    }
    if let Some(mut r) = talker.take_round_trip() {
        r.finish(&mut stats.streams);
    }
    if let Some(ts) = time_sync {
        stats.ptp = Some(ts.finish(talker.take_ptp(), &stats));
    }
    drop(rt_guard);
    crate::frames_args::finish(
        cfg.frames_log.as_ref(),
        talker.take_frames_log(),
        &mut stats,
    );
    stats.data_path_allocations =
        rt::allocation_counting_active().then_some(heap.allocs + heap.frees);
    let end_ns = sched_clock.now_ns();
    if let Some(log) = talker.take_hist_log() {
        log.finish(end_ns).map_err(takt_stack::StackError::from)?;
    }
    stats.started_ns = start_ns;
    stats.elapsed_ns = end_ns.saturating_sub(start_ns);
    stats.cycles = summary.cycles;
    stats.device = dev.info().name.clone();
    stats.backend = cfg.backend.clone();
    stats.clock = clock.as_str().into();
    // A device that holds frames until their launch times may still hold
    // the last ones (or learn only later that it dropped them, as ETF
    // does): read its counters once they are due.
    if let Some(last) = summary
        .last_launch_ns
        .filter(|_| dev.info().caps.launch_time)
    {
        rt::wait_until(
            &sched_clock,
            last + COUNTERS_SETTLE_NS,
            rt::WakeConfig::default(),
        );
    }
    stats.device_counters = Some(dev.counters());
    Ok(TalkerRun {
        stats,
        summary,
        counters: dev.counters(),
        schedule: sched,
    })
}

/// `takt-talker` with parsed flags: exit 0, 1 or 2 as `run::EXIT_STATUS_HELP`.
pub fn main(args: &TalkerArgs) -> ExitCode {
    let run::Prepared { loaded, ptp, devs } = match run::prepare(
        TOOL,
        &args.schedule,
        &args.device,
        &args.run,
        &args.rt,
        &args.ptp,
        &args.device_tuning,
    ) {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let control = match args
        .control
        .settings(loaded.control.as_ref(), &args.schedule)
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{TOOL}: error: {e}");
            return ExitCode::from(run::EXIT_BAD_INPUT);
        }
    };
    let schedule = loaded.schedule;
    if args.rtt.given() && !schedule.has_returns() {
        eprintln!("{TOOL}: error: --rtt-outlier/--rtt-timeout: the schedule has no return stream: add a [[stream]] with return_of = \"NAME\" (docs/round-trip.md)");
        return ExitCode::from(run::EXIT_BAD_INPUT);
    }
    // Port 0 names the run (backend, ptp4l's interface).
    let first = args.device[0].clone();
    let cfg = TalkerConfig {
        round_trip: args.rtt.options(&schedule),
        control,
        clock: run::HostClock {
            skew: args.ptp.host_skew(),
        },
        ptp,
        backend: run::backend_name(&first).into(),
        device: first,
        quiet: args.run.quiet,
        frames_log: args.run.frames.config(),
        linger_ns: args.linger.unwrap_or(0),
        talker: TalkerOptions {
            wake: args.rt.wake_config(),
            ..args.run.talker_options()
        },
        hist_log: args.run.hist_log.clone(),
        rt: Some(RtSetup {
            config: args.rt.config(),
            quiet: args.run.quiet,
            tool: TOOL,
        }),
        ..TalkerConfig::default()
    };
    if !args.run.quiet {
        for dev in &devs {
            if let Some(note) = dev.launch_time_note() {
                eprintln!("{TOOL}: {note}");
            }
        }
    }
    let mut devices = match devs.len() {
        1 => Devices::One(devs.into_iter().next().expect("one device")),
        _ => match Ports::new(devs, &schedule) {
            Ok(p) => Devices::Ports(Box::new(p)),
            Err(e) => {
                eprintln!("{TOOL}: error: {}", ports_args::ports_error(&e));
                return ExitCode::from(run::EXIT_BAD_INPUT);
            }
        },
    };
    let progress = Arc::new(Progress::default());
    let line = {
        let p = Arc::clone(&progress);
        run::ProgressLine::start(args.run.quiet, move || run::progress_text(Some(&p), None))
    };
    let result = run_on(devices.as_dyn(), &schedule, &cfg, &progress);
    drop(line);
    match result {
        Ok(mut done) => {
            devices.fill_report(&mut done.stats);
            run::write_reports(&done.stats, &args.run, |s| &s.tx_error_ns)
        }
        Err(e) => {
            eprintln!("{TOOL}: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
