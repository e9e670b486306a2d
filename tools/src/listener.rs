//! `takt-listener --schedule FILE --device SPEC`: receive a schedule's
//! streams on one device and report, per stream, frames received, lost,
//! duplicates, reordered and the one-way latency (rx time - tx time).
//!
//! [`main`] does what a binary does (device spec, schedule file, signals,
//! progress line, reports); [`run_on`] is the run itself on any
//! `RingDevice`, so tests give it one end of the simulated wire.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use takt_drivers::{Counters, DeviceSpec, RingDevice};
use takt_scheduler::{rt, Schedule};
use takt_stack::clock::SchedClock;
use takt_stack::frer::Ports;
use takt_stack::listener::{Listener, ListenerSummary};
use takt_stack::plan::{duration_end_ns, Until};
use takt_stack::progress::Progress;
use takt_stack::sidecar::Sidecars;
use takt_stack::stats::{RunStats, RxRejected};
use takt_stack::StackError;

use crate::control_args::{self, ControlArgs, ControlSettings};
use crate::ports_args::{self, Devices};
use crate::ptp_args::{PtpArgs, PtpSettings};
use crate::rt_args::{RtArgs, RtSetup};
use crate::run::{self, RunArgs, RunError, DEFAULT_LEAD_NS};
use crate::time_sync::{Setup, Side, TimeSync};

const TOOL: &str = "takt-listener";

/// With `--cycles`, the listener keeps polling this long after the end of
/// the last cycle, for frames still on their way.
pub const DRAIN_NS: u64 = 20_000_000;

pub const AFTER_HELP: &str = "\
Example:
  takt-listener --schedule docs/examples/two-class-250us.toml --device xdp:eth1@0 --duration 12s --histfile lat.hist
  takt-talker --schedule docs/examples/two-class-250us.toml --device xdp:eth0@0 --duration 10s
      Start the listener on the receiving host, then the talker on the
      sending one (same schedule file, clocks synchronised by PTP). The
      listener prints, per stream, frames received, lost, duplicates,
      reordered and the one-way latency percentiles, and writes the latency
      as a cyclictest-format histogram to lat.hist.
  takt-listener --schedule s.toml --device packet:eth1 --report json --hist-log lat.hlog
      Listen until Ctrl-C, then print the report as JSON; lat.hlog gets an
      HdrHistogram interval log with one histogram per stream and second.
  takt-listener --schedule s.toml --device xdp:eth1@0 --cpu 1 --priority 80
      Busy-poll on CPU 1 as SCHED_FIFO 80 with memory locked; stderr says
      what the thread got, and the report has an rt line (JSON: rt).
  takt-listener --schedule s.toml --device packet:eth1 --ip 10.77.0.2/24
      Also answer ARP, ping and `takt control status 10.77.0.2` with the
      frames that are not stream frames (docs/control-plane.md).
  takt-listener --schedule docs/examples/time-sync.toml --device packet:eth1 --ptp slave --duration 70s --hist-log rx.hlog
      Lock this host's clock to the grandmaster (gPTP, e.g. the talker
      with --ptp master) and measure latency on it. Frames measured before
      the lock (or after a loss of sync) are counted apart (unsynced,
      latency_unsynced_ns); rx.hlog also gets the offset from the master
      (tag ptp.offset). The report's ptp line says when it locked.
  takt-listener --schedule docs/examples/round-trip.toml --device packet:eth1 --mirror --duration 12s
  takt-talker --schedule docs/examples/round-trip.toml --device packet:eth0 --duration 10s --wake spin
      Send every \"ping\" frame back as \"pong\" in its window (return_of in
      the schedule); the talker reports the round trip per stream (rtt,
      outliers beyond 2 cycles, lost, late). No clock sync needed: the
      mirror follows the talker's clock from the frames' tx times
      (docs/round-trip.md).
  takt-listener --schedule docs/examples/frer.toml --device packet:eth2 --device packet:eth3 --duration 12s
  takt-talker --schedule docs/examples/frer.toml --device packet:eth0 --device packet:eth1 --duration 10s
      Two disjoint paths, eth0 -> eth2 and eth1 -> eth3: the listener
      passes the first copy of each R-TAG sequence number and discards the
      other, so a path that dies loses nothing. Its report has per port
      the device counters and per replicated stream the 802.1CB counters
      (passed, discarded, out of order, rogue, lost, resets, latent
      errors), for the stream and for each member path, with each path's
      latency, so skew between the paths shows (docs/redundancy.md).

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

Latency needs the talker's and the listener's clocks in step (PTP). When
the device timestamps on another clock than the schedule's, the offset
between the two is measured at the start and applied to every timestamp.
--duration counts from the first cycle (from the start when a base_time
in the future puts the first cycle further away than one cycle); --cycles
ends 20 ms after the
schedule's cycles would have ended; with neither, listening ends on
Ctrl-C/SIGTERM, and the report and histogram files are still written.
On a terminal a progress line is redrawn once a second (-q: none).
";

/// Flags of `takt-listener`.
#[derive(clap::Args, Clone, Debug)]
pub struct ListenerArgs {
    /// Schedule file (TOML; docs/schedule-format.md), the one the talker runs
    #[arg(long, value_name = "FILE")]
    pub schedule: PathBuf,
    /// Device to receive on: packet:IFNAME, xdp:IFNAME[@QUEUE] or vfio:DDDD:BB:DD.F;
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
    pub mirror: crate::mirror_args::MirrorArgs,
    #[command(flatten)]
    pub device_tuning: crate::device_args::DeviceArgs,
}

/// How to run, besides the device and the schedule.
#[derive(Clone, Debug)]
pub struct ListenerConfig {
    /// As [`RunArgs::until`] gives it: a duration counts from the first
    /// cycle; `Forever` listens until SIGINT/SIGTERM.
    pub until: Until,
    /// The first cycle starts at least this long after the call (the
    /// talker's rule, so both ends agree on where cycles start).
    pub lead_ns: u64,
    /// With `Until::Cycles`, poll this long after the last cycle's end.
    pub drain_ns: u64,
    /// Write an HdrHistogram interval log of the latency here.
    pub hist_log: Option<PathBuf>,
    /// Backend name for the report (`packet`, `xdp`, ...).
    pub backend: String,
    /// The real-time set-up of the data-path thread, done right before its
    /// loop (None: none, and no `rt` in the report).
    pub rt: Option<RtSetup>,
    /// Answer ARP, ping and status requests with the frames that are not
    /// stream frames.
    pub control: Option<ControlSettings>,
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
    /// How the sync phase waits between looks (the `--wake` flags).
    pub wake: rt::WakeConfig,
    /// `--mirror`: send the forward streams back (docs/round-trip.md).
    pub mirror: Option<takt_stack::mirror::MirrorOptions>,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            until: Until::Forever,
            lead_ns: DEFAULT_LEAD_NS,
            drain_ns: DRAIN_NS,
            mirror: None,
            hist_log: None,
            backend: String::new(),
            rt: None,
            control: None,
            clock: run::HostClock::default(),
            ptp: None,
            device: DeviceSpec::Sim,
            quiet: false,
            frames_log: None,
            wake: rt::WakeConfig::default(),
        }
    }
}

/// Everything a listener run measured.
#[derive(Debug)]
pub struct ListenerRun {
    /// Per stream: frames received, lost, duplicates, reordered, latency.
    pub stats: RunStats,
    pub summary: ListenerSummary,
    pub counters: Counters,
    /// Added to the device's rx timestamps (0: same clock as the schedule).
    pub rx_offset_ns: i64,
    /// The schedule as it ran (base times moved to the start).
    pub schedule: Schedule,
}

/// When the listener stops polling, ns on the schedule clock (0: on a
/// signal only), for a run whose schedule is `sched` (already started at
/// `begin_ns`).
pub fn deadline_ns(sched: &Schedule, begin_ns: u64, until: Until, drain_ns: u64) -> u64 {
    let start = sched.oper().base_time_ns();
    match until {
        Until::Time(d) => duration_end_ns(sched, begin_ns, d),
        Until::Cycles(n) => sched
            .cycle(n)
            .map(|c| c.start_ns)
            .unwrap_or_else(|| start.saturating_add(n.saturating_mul(sched.oper().cycle_time_ns())))
            .saturating_add(drain_ns),
        Until::Forever => 0,
    }
}

/// Receive `schedule`'s streams on `dev` until the run's end or
/// SIGINT/SIGTERM. `progress` gets the listener's figures.
pub fn run_on(
    dev: &mut dyn RingDevice,
    schedule: &Schedule,
    cfg: &ListenerConfig,
    progress: &Progress,
) -> Result<ListenerRun, RunError> {
    let sched_clock = listener_clock(dev.info(), schedule, cfg)?;
    run_on_clock(dev, schedule, cfg, progress, sched_clock)
}

/// The clock a listener run measures on: the schedule's (as `cfg.clock`
/// builds it), with the offset of `info`'s receive stamps from it.
pub fn listener_clock(
    info: &takt_drivers::DeviceInfo,
    schedule: &Schedule,
    cfg: &ListenerConfig,
) -> Result<SchedClock, RunError> {
    let clock = schedule.clock();
    let rx_offset_ns = run::rx_offset_ns(info, clock)?;
    Ok(SchedClock::new(cfg.clock.build(clock), rx_offset_ns))
}

/// [`run_on`] on `sched_clock` (from [`listener_clock`]), the clock the
/// caller also gave `frer::Ports` for its per-member latencies.
pub fn run_on_clock(
    dev: &mut dyn RingDevice,
    schedule: &Schedule,
    cfg: &ListenerConfig,
    progress: &Progress,
    sched_clock: SchedClock,
) -> Result<ListenerRun, RunError> {
    let clock = schedule.clock();
    let rx_offset_ns = sched_clock.device_offset_ns();
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
        takt_stack::frames::LogEnd::Listener,
        &*dev,
        clock,
        &names,
        sched_clock.now_ns(),
    )?;
    // Also before: its worker thread stays unpinned and SCHED_OTHER.
    let mut sidecars = Sidecars::for_listener();
    if let Some(c) = &cfg.control {
        let report = control_args::report_template(&names, dev, &cfg.backend, clock);
        sidecars.set_control(control_args::listener_plane(
            c,
            schedule,
            dev,
            sched_clock.now_ns(),
            report,
        )?);
    }
    // Also before: the PTP port's thread (or ptp4l's watcher).
    let mut time_sync = match &cfg.ptp {
        Some(p) => Some(TimeSync::start(
            &Setup {
                settings: p,
                tool: TOOL,
                spec: &cfg.device,
                side: Side::Listener,
                quiet: cfg.quiet,
                hist_log: cfg.hist_log.is_some(),
                guard_band_ns: 0,
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
    // A NIC filters destinations in hardware: ask for the streams' groups
    // (and PTP's, for the sync phase).
    let mut dsts: Vec<[u8; 6]> = schedule.streams().iter().map(|s| s.dst_mac).collect();
    if cfg.ptp.is_some() {
        dsts.extend(takt_stack::ptp::profile::PTP_DESTINATIONS);
    }
    dev.accept_destinations(&dsts)?;
    if let Some(ts) = &mut time_sync {
        ts.install(&mut sidecars);
        ts.wait_for_sync(&mut sidecars, dev, schedule, &sched_clock, cfg.wake)?;
    }
    let begin_ns = sched_clock.now_ns() + cfg.lead_ns;
    let sched = schedule.started_at(begin_ns);
    let start_ns = sched.oper().base_time_ns();
    let deadline = AtomicU64::new(deadline_ns(&sched, begin_ns, cfg.until, cfg.drain_ns));
    // Even with -q: a run that receives nothing for a long time (or at
    // all) must not look like a run that works.
    let until = run::absolute_until(cfg.until, &sched, begin_ns);
    if let Some(note) = run::first_cycle_note(&sched, begin_ns, until) {
        eprintln!("{TOOL}: {note}");
    }
    let mut stats = RunStats::new(names.iter().copied());
    stats.rt = rt_guard.as_ref().map(|g| g.report().clone());

    if let Some(plane) = sidecars.control_mut() {
        plane.set_run_info(start_ns, stats.rt.clone());
    }
    let mut listener = Listener::new(&sched, sched_clock.clone())
        .with_sidecars(sidecars)
        .with_wake(cfg.wake);
    if let Some(ts) = &time_sync {
        listener = listener.with_sync(ts.sync());
    }
    if let Some(log) = log {
        listener = listener.with_hist_log(log);
    }
    if let Some(f) = frames {
        listener = listener.with_frames_log(f);
    }
    if let Some(m) = cfg.mirror {
        let mirror = takt_stack::mirror::Mirror::new(schedule, &*dev, sched_clock.clone(), m);
        listener = listener.with_mirror(mirror);
    }
    // The stage metrics this device lets the listener fill (docs/reports.md).
    listener.prepare_stats(dev.info(), &mut stats.streams);
    let (summary, heap) =
        rt::count_allocations(|| listener.run(dev, &mut stats.streams, &deadline, progress));
    if let Some(plane) = listener.take_control() {
        stats.control = Some(plane.finish());
    }
    if let Some(mut m) = listener.take_mirror() {
        stats.mirror = Some(crate::mirror_args::mirror_report(&mut m, dev));
    }
    if let Some(ts) = time_sync {
        stats.ptp = Some(ts.finish(listener.take_ptp(), &stats));
    }
    drop(rt_guard);
    crate::frames_args::finish(
        cfg.frames_log.as_ref(),
        listener.take_frames_log(),
        &mut stats,
    );
    stats.data_path_allocations =
        rt::allocation_counting_active().then_some(heap.allocs + heap.frees);
    let end_ns = sched_clock.now_ns();
    if let Some(log) = listener.take_hist_log() {
        log.finish(end_ns).map_err(StackError::from)?;
    }
    // Cycles the run spanned (at most the ones asked for).
    let seen = sched.cycle_at(end_ns).map_or(0, |c| c.index + 1);
    stats.cycles = match cfg.until {
        Until::Cycles(n) => seen.min(n),
        _ => seen,
    };
    stats.started_ns = start_ns;
    stats.elapsed_ns = end_ns.saturating_sub(start_ns);
    stats.device = dev.info().name.clone();
    stats.backend = cfg.backend.clone();
    stats.clock = clock.as_str().into();
    stats.device_counters = Some(dev.counters());
    stats.rx_rejected = Some(RxRejected {
        truncated: summary.truncated,
        other: summary.other_frames,
    });
    Ok(ListenerRun {
        stats,
        summary,
        counters: dev.counters(),
        rx_offset_ns,
        schedule: sched,
    })
}

/// `takt-listener` with parsed flags: exit 0, 1 or 2 as `run::EXIT_STATUS_HELP`.
pub fn main(args: &ListenerArgs) -> ExitCode {
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
    let mirror = match args.mirror.options(&schedule) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{TOOL}: error: {e}");
            return ExitCode::from(run::EXIT_BAD_INPUT);
        }
    };
    // Port 0 names the run (backend, ptp4l's interface).
    let first = args.device[0].clone();
    let cfg = ListenerConfig {
        control,
        mirror,
        clock: run::HostClock {
            skew: args.ptp.host_skew(),
        },
        ptp,
        backend: run::backend_name(&first).into(),
        device: first,
        quiet: args.run.quiet,
        frames_log: args.run.frames.config(),
        wake: args.rt.wake_config(),
        until: args.run.until(),
        hist_log: args.run.hist_log.clone(),
        rt: Some(RtSetup {
            config: args.rt.config(),
            quiet: args.run.quiet,
            tool: TOOL,
        }),
        ..ListenerConfig::default()
    };
    // Ports put each copy's receive stamp on the clock the listener
    // measures on, so per-member latencies and the stream's agree.
    let sched_clock = match listener_clock(devs[0].info(), &schedule, &cfg) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{TOOL}: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    let mut devices = match devs.len() {
        1 => Devices::One(devs.into_iter().next().expect("one device")),
        _ => match Ports::new(devs, &schedule) {
            Ok(p) => Devices::Ports(Box::new(p.with_clock(sched_clock.clone()))),
            Err(e) => {
                eprintln!("{TOOL}: error: {}", ports_args::ports_error(&e));
                return ExitCode::from(run::EXIT_BAD_INPUT);
            }
        },
    };
    let progress = Arc::new(Progress::default());
    let line = {
        let p = Arc::clone(&progress);
        run::ProgressLine::start(args.run.quiet, move || run::progress_text(None, Some(&p)))
    };
    let result = run_on_clock(devices.as_dyn(), &schedule, &cfg, &progress, sched_clock);
    drop(line);
    match result {
        Ok(mut done) => {
            devices.fill_report(&mut done.stats);
            run::write_reports(&done.stats, &args.run, |s| &s.latency_ns)
        }
        Err(e) => {
            eprintln!("{TOOL}: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn deadline_follows_the_run_length() {
        // 250 us cycles, first cycle at 1 ms.
        let s = fixtures::two_class_schedule().started_at(1_000_000 - 1);
        assert_eq!(s.oper().base_time_ns(), 1_000_000);
        let begin = 1_000_000 - 1;
        assert_eq!(deadline_ns(&s, begin, Until::Forever, DRAIN_NS), 0);
        assert_eq!(
            deadline_ns(&s, begin, Until::Time(5_000), DRAIN_NS),
            1_005_000
        );
        assert_eq!(
            deadline_ns(&s, begin, Until::Cycles(4), DRAIN_NS),
            1_000_000 + 4 * 250_000 + DRAIN_NS
        );
    }

    #[test]
    fn deadline_counts_cycles_across_an_admin_switch() {
        // Oper 250 us cycles until #7999 (stretched to 350 us), then admin
        // 200 us cycles from 2.0001 s.
        let s = fixtures::admin_schedule();
        assert_eq!(deadline_ns(&s, 0, Until::Cycles(8000), 0), 2_000_100_000);
        assert_eq!(deadline_ns(&s, 0, Until::Cycles(8002), 7), 2_000_500_007);
    }
}
