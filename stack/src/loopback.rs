//! Talker and listener in one process, joined by the simulated wire: the
//! talker on the calling thread (port a), the listener busy-polling on a
//! second thread (port b).
//!
//! A schedule that uses several ports (802.1CB FRER, docs/redundancy.md)
//! gets one simulated pair per port: the talker's ends behind one
//! `frer::Ports`, the listener's behind another, so replication and
//! elimination run as they do on real NICs. Each link can have its own
//! faults (loss, delay, jitter, outages: `LoopbackConfig::links`).

use crate::clock::SchedClock;
use crate::frer::Ports;
use crate::listener::{Listener, ListenerSummary};
use crate::plan::{duration_end_ns, Until};
use crate::progress::Progress;
use crate::stats::{merge_interval_logs, stream_tags, IntervalLog, IntervalLogConfig, RunStats};
use crate::stats::{FrerReport, PortReport};
use crate::talker::{Talker, TalkerOptions, TalkerSummary};
use crate::StackError;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;
use takt_drivers::sim::{self, LinkFaults, SimClock, SimConfig, SimLink, SimPort};
use takt_drivers::{Counters, RingDevice};
use takt_scheduler::{rt, Schedule};

/// Default advance on the simulated wire. The sim holds each frame until
/// its launch time, as ETF or a NIC's launch-time feature would, so queueing
/// early costs nothing and rides out scheduling stalls of the host: on the
/// 2-vCPU VMs this was built on, cyclictest at SCHED_FIFO 80 saw maxima of
/// 1 to 36 ms (docs/latency.md).
pub const SIM_ADVANCE_NS: u64 = 50_000_000;

#[derive(Clone, Debug)]
pub struct LoopbackConfig {
    pub talker: TalkerOptions,
    /// Propagation delay of the simulated cable.
    pub propagation_ns: u64,
    /// The first cycle starts at least this long after the call.
    pub lead_ns: u64,
    /// The listener keeps polling this long after the last launch.
    pub drain_ns: u64,
    /// Write an HdrHistogram interval log of tx error and latency here.
    pub hist_log: Option<PathBuf>,
    /// Write per-frame records here: the talker's (tx) and the listener's
    /// (rx) into one file, each through its own ring.
    pub frames_log: Option<crate::frames::FramesLogConfig>,
    /// What each simulated link does to its frames, by port (`takt
    /// loopback --link PORT:SPEC`); a port without an entry has a perfect
    /// wire. Outages count from the run's first cycle.
    pub links: Vec<LinkFaults>,
}

impl Default for LoopbackConfig {
    fn default() -> Self {
        LoopbackConfig {
            talker: TalkerOptions::default(),
            propagation_ns: 0,
            lead_ns: 20_000_000,
            drain_ns: 20_000_000,
            hist_log: None,
            frames_log: None,
            links: Vec::new(),
        }
    }
}

/// Everything a loopback run measured.
pub struct LoopbackRun {
    /// Per stream: the talker's counters and tx error merged with the
    /// listener's counters and latency.
    pub stats: RunStats,
    pub talker: TalkerSummary,
    pub listener: ListenerSummary,
    /// The talker's device counters (over every port: `stats.ports` has
    /// them one by one).
    pub port_a: Counters,
    /// The listener's.
    pub port_b: Counters,
    /// The schedule as it ran (base times moved to the start).
    pub schedule: Schedule,
    /// Each simulated link, by port (drop counts of its faults).
    pub links: Vec<SimLink>,
}

impl std::fmt::Debug for LoopbackRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackRun")
            .field("stats", &self.stats)
            .field("talker", &self.talker)
            .field("listener", &self.listener)
            .field("port_a", &self.port_a)
            .field("port_b", &self.port_b)
            .field("schedule", &self.schedule)
            .field("links", &self.links.len())
            .finish()
    }
}

/// Which end of the simulated wire a port is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Talker,
    Listener,
}

/// What a run over several ports drives in place of simulated port `port`
/// of `End`: the port itself, or a wrapper around it (tests tap or forge
/// frames there).
pub type WrapPort<'w> = dyn FnMut(End, usize, SimPort) -> Box<dyn RingDevice> + 'w;

/// The two ends of the run: one port each, or several behind `Ports`.
// One per run, held where the run is set up: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
enum Ends {
    One(SimPort, SimPort),
    Many(Ports, Ports),
}

impl Ends {
    fn split(&mut self) -> (&mut dyn RingDevice, &mut dyn RingDevice) {
        match self {
            Ends::One(a, b) => (a, b),
            Ends::Many(a, b) => (a, b),
        }
    }
}

/// Run `schedule` over a fresh simulated wire at the schedule's link speed.
/// `progress.0` gets the talker's figures, `progress.1` the listener's.
pub fn run(
    schedule: &Schedule,
    cfg: &LoopbackConfig,
    progress: (&Progress, &Progress),
) -> Result<LoopbackRun, StackError> {
    run_wrapped(schedule, cfg, progress, &mut |_, _, port| Box::new(port))
}

/// [`run`], with each simulated port of a run over several ports handed
/// to `wrap` before `Ports` takes it (a one-port run drives its pair as
/// it is).
pub fn run_wrapped(
    schedule: &Schedule,
    cfg: &LoopbackConfig,
    progress: (&Progress, &Progress),
    wrap: &mut WrapPort<'_>,
) -> Result<LoopbackRun, StackError> {
    let clock = schedule.clock();
    let advance_ns = cfg.talker.advance_ns.unwrap_or(SIM_ADVANCE_NS);
    let in_flight = frames_in_flight(schedule, advance_ns);
    // One pair per port, each with its link's faults; outages are given
    // from the first cycle and moved there once it is fixed.
    let mut pairs = build_pairs(schedule, cfg, in_flight);
    // The statistics, stage metrics too (MiBs), before the start is fixed:
    // their set-up must not eat into the lead.
    let names: Vec<&str> = schedule.streams().iter().map(|s| s.name.as_str()).collect();
    let mut tx_stats = RunStats::new(names.iter().copied());
    let mut rx_stats = RunStats::new(names.iter().copied());
    let (tx_src, rx_src) = (
        crate::stages::transmit_stamps(pairs[0].0.info()).map(|s| s.as_str()),
        pairs[0].1.info().caps.rx_stamps,
    );
    for (t, r) in tx_stats.streams.iter_mut().zip(&mut rx_stats.streams) {
        t.stages.enable_talker(tx_src);
        let pickup = rx_src != takt_drivers::StampSource::ReceivePoll;
        r.stages.enable_listener(rx_src.as_str(), pickup, false);
    }
    let begin_ns = clock.now_ns() + cfg.lead_ns;
    let first_cycle = schedule.started_at(begin_ns).oper().base_time_ns();
    for (a, b, _) in &mut pairs {
        a.shift_outages(first_cycle);
        b.shift_outages(first_cycle);
    }
    let (mut ends, links) = into_ends(pairs, schedule, wrap)?;
    let (a, b) = ends.split();
    let sched = schedule.started_at(begin_ns);
    let start_ns = sched.oper().base_time_ns();
    let mut opts = cfg.talker;
    opts.advance_ns = Some(advance_ns);
    if let Until::Time(d) = opts.until {
        opts.until = Until::Time(duration_end_ns(&sched, begin_ns, d));
    }

    let logs = match &cfg.hist_log {
        Some(path) => Some(open_logs(path, &names, clock.now_ns())?),
        None => None,
    };
    let (tx_log, rx_log) = logs.map_or((None, None), |(t, r)| (Some(t), Some(r)));
    let mut talker = Talker::new(&sched, &*a, opts);
    if let Some(log) = tx_log {
        talker = talker.with_hist_log(log);
    }
    let mut listener = Listener::new(&sched, crate::clock::SchedClock::system(sched.clock()))
        .stop_on_signal(false);
    if let Some(log) = rx_log {
        listener = listener.with_hist_log(log);
    }
    let (tx_frames, rx_frames) = match &cfg.frames_log {
        Some(f) => {
            let (t, r) = open_frames_log(f, &*a, &names, clock)?;
            (Some(t), Some(r))
        }
        None => (None, None),
    };
    if let Some(log) = tx_frames {
        talker = talker.with_frames_log(log);
    }
    if let Some(log) = rx_frames {
        listener = listener.with_frames_log(log);
    }
    let deadline = AtomicU64::new(0);

    let (talker_summary, listener_summary, mut listener) = std::thread::scope(|s| {
        // Busy-polling shares no CPU with the talker when there are two:
        // otherwise the talker's wake-ups wait for the poller's time slice.
        let cpus = rt::allowed_cpus();
        let (tx_cpu, rx_cpu) = match cpus.as_slice() {
            [.., a, b] => (Some(*a), Some(*b)),
            _ => (None, None),
        };
        let (b, rx_stats, deadline) = (&mut *b, &mut rx_stats, &deadline);
        let rx = s.spawn(move || {
            if let Some(c) = rx_cpu {
                let _ = rt::pin_to_cpu(c);
            }
            let (summary, heap) = rt::count_allocations(|| {
                listener.run(b, &mut rx_stats.streams, deadline, progress.1)
            });
            rx_stats.data_path_allocations = Some(heap.allocs + heap.frees);
            (summary, listener)
        });
        if let Some(c) = tx_cpu {
            let _ = rt::pin_to_cpu(c);
        }
        let (summary, heap) =
            rt::count_allocations(|| talker.run(&mut *a, &mut tx_stats.streams, progress.0));
        tx_stats.data_path_allocations = Some(heap.allocs + heap.frees);
        let last = summary.last_launch_ns.unwrap_or(0).max(clock.now_ns());
        deadline.store(last + cfg.drain_ns, Ordering::Release);
        // A panic in the listener thread is a bug; carry it to the caller.
        let (rx_summary, listener) = rx.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (summary, rx_summary, listener)
    });
    let end_ns = clock.now_ns();
    listener.settle_lost(&mut rx_stats.streams, talker.sent());
    for (t, r) in tx_stats.streams.iter_mut().zip(&rx_stats.streams) {
        t.merge(r);
    }
    let tx_heap = tx_stats.data_path_allocations;
    let mut stats = tx_stats;
    stats.started_ns = start_ns;
    stats.elapsed_ns = end_ns.saturating_sub(start_ns);
    stats.cycles = talker_summary.cycles;
    stats.device = format!("{} -> {}", a.info().name, b.info().name);
    stats.backend = "sim".into();
    stats.rx_rejected = Some(crate::stats::RxRejected {
        truncated: listener_summary.truncated,
        other: listener_summary.other_frames,
    });
    stats.clock = clock.as_str().into();
    stats.data_path_allocations = rt::allocation_counting_active()
        .then(|| tx_heap.unwrap_or(0) + rx_stats.data_path_allocations.unwrap_or(0));

    if let (Some(f), Some(t), Some(r)) = (
        &cfg.frames_log,
        talker.take_frames_log(),
        listener.take_frames_log(),
    ) {
        // Both producers have stopped: the listener's first, then the
        // talker's, which owns the writer.
        let _ = r.finish();
        stats.frames_log = Some(crate::frames::frames_log_report(&f.path, t.finish()));
    }
    if let (Some(path), Some(t), Some(r)) = (
        &cfg.hist_log,
        talker.take_hist_log(),
        listener.take_hist_log(),
    ) {
        finish_logs(path, t, r, end_ns)?;
    }
    let (port_a, port_b) = (a.counters(), b.counters());
    if let Ends::Many(a, b) = &ends {
        let (tx_ports, rx_ports) = (a.port_reports(), b.port_reports());
        stats.device = format!(
            "{} -> {}",
            sim_names("a", tx_ports.len()),
            sim_names("b", rx_ports.len())
        );
        // One entry per port, both ends of its pair: the talker's end
        // sends (tx, tx_drops, link_down), the listener's receives.
        stats.ports = tx_ports
            .iter()
            .zip(&rx_ports)
            .enumerate()
            .map(|(i, (t, r))| {
                let mut counters = t.counters;
                crate::frer::ports::add_counters(&mut counters, &r.counters);
                PortReport {
                    device: format!("sim:a{i} -> sim:b{i}"),
                    counters,
                }
            })
            .collect();
        stats.frer = FrerReport::merge(a.frer_report(), b.frer_report()).map(|mut f| {
            for m in f.streams.iter_mut().flat_map(|s| &mut s.members) {
                m.device = format!("sim:a{0} -> sim:b{0}", m.port);
            }
            f
        });
    }
    Ok(LoopbackRun {
        stats,
        talker: talker_summary,
        listener: listener_summary,
        port_a,
        port_b,
        schedule: sched,
        links,
    })
}

/// Every simulated pair names its ends sim:a and sim:b; a run over several
/// pairs numbers them by port: sim:a0, sim:a1, ...
fn sim_names(end: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("sim:{end}{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// One simulated pair per port the schedule uses, each with its link's
/// faults (outages still from 0: [`SimPort::shift_outages`] moves them).
fn build_pairs(
    schedule: &Schedule,
    cfg: &LoopbackConfig,
    in_flight: usize,
) -> Vec<(SimPort, SimPort, SimLink)> {
    (0..schedule.ports_needed())
        .map(|port| {
            sim::pair(SimConfig {
                speed_bps: schedule.link().speed_bps,
                propagation_ns: cfg.propagation_ns,
                clock: SimClock::Real(schedule.clock().to_nix()),
                pool_size: in_flight,
                buf_size: SIM_BUF_BYTES,
                wire_capacity: in_flight,
                faults: cfg.links.get(port).cloned().unwrap_or_default(),
            })
        })
        .collect()
}

/// The run's two ends: a one-port run drives its pair as it is, a run over
/// several ports drives each end's ports (through `wrap`) behind a `Ports`.
fn into_ends(
    pairs: Vec<(SimPort, SimPort, SimLink)>,
    schedule: &Schedule,
    wrap: &mut WrapPort<'_>,
) -> Result<(Ends, Vec<SimLink>), StackError> {
    let n = pairs.len();
    let (mut tx, mut rx, mut links) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut pairs = pairs.into_iter();
    if n == 1 {
        if let Some((a, b, link)) = pairs.next() {
            return Ok((Ends::One(a, b), vec![link]));
        }
    }
    for (port, (a, b, link)) in pairs.enumerate() {
        tx.push(wrap(End::Talker, port, a));
        rx.push(wrap(End::Listener, port, b));
        links.push(link);
    }
    let a = Ports::new(tx, schedule)?;
    let b = Ports::new(rx, schedule)?.with_clock(SchedClock::system(schedule.clock()));
    Ok((Ends::Many(a, b), links))
}

/// One frames log for both ends: tx records from the talker, rx records
/// from the listener.
fn open_frames_log(
    f: &crate::frames::FramesLogConfig,
    port: &dyn RingDevice,
    names: &[&str],
    clock: takt_scheduler::ClockId,
) -> Result<(crate::frames::FramesLog, crate::frames::FramesLog), StackError> {
    let caps = port.info().caps;
    let header = crate::frames::FramesHeader {
        end: crate::frames::LogEnd::Loopback,
        clock: clock.as_str().into(),
        rx_stamps: caps.rx_stamps.as_str().into(),
        tx_stamps: caps.tx_stamps.as_str().into(),
        device: "sim:a -> sim:b".into(),
        streams: names.iter().map(|n| n.to_string()).collect(),
        created_ns: clock.now_ns(),
        created_unix_ns: crate::frames::unix_now_ns(),
    };
    Ok(crate::frames::FramesLog::create_pair(
        &f.path, &header, f.capacity,
    )?)
}

/// Bytes of one buffer of the simulated ports and wire.
pub const SIM_BUF_BYTES: usize = 2048;
/// Most frames the simulated wire holds at once. Each costs four buffers
/// (a pool slot per port, a lane slot per direction): 128 MiB in all at
/// this bound. More frames in flight than this are counted late (no
/// buffer), not allocated.
pub const MAX_SIM_IN_FLIGHT: usize = 16_384;

/// Frames that can be queued at once: those launching within the advance,
/// plus two cycles and a margin, so the wire and pool never run dry (up to
/// [`MAX_SIM_IN_FLIGHT`]).
pub fn frames_in_flight(schedule: &Schedule, advance_ns: u64) -> usize {
    let per_cycle: u64 = schedule
        .streams()
        .iter()
        .map(|s| u64::from(s.frames_per_cycle))
        .sum();
    let cycle = schedule
        .oper()
        .cycle_time_ns()
        .min(schedule.admin().map_or(u64::MAX, |a| a.cycle_time_ns()));
    let cycles = advance_ns / cycle.max(1) + 2;
    let n = per_cycle.saturating_mul(cycles).saturating_add(1024);
    usize::try_from(n)
        .unwrap_or(usize::MAX)
        .min(MAX_SIM_IN_FLIGHT)
}

/// One log per thread (each records its own metric), merged at the end.
/// Each goes to a new `.part` file next to `path`, never through a link
/// someone left at that name.
fn open_logs(
    path: &Path,
    names: &[&str],
    now_ns: u64,
) -> Result<(IntervalLog, IntervalLog), StackError> {
    let cfg = IntervalLogConfig::new(SystemTime::now());
    let tags = stream_tags(names);
    let t = IntervalLog::create_part(path, "tx", &tags, now_ns, &cfg)?;
    let r = match IntervalLog::create_part(path, "rx", &tags, now_ns, &cfg) {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(t.path());
            return Err(e.into());
        }
    };
    Ok((t, r))
}

fn finish_logs(path: &Path, t: IntervalLog, r: IntervalLog, end_ns: u64) -> Result<(), StackError> {
    let parts = [t.path().to_path_buf(), r.path().to_path_buf()];
    let merged = t
        .finish(end_ns)
        .and_then(|_| r.finish(end_ns))
        .and_then(|_| merge_interval_logs(&parts, path));
    for p in &parts {
        let _ = std::fs::remove_file(p);
    }
    merged?;
    Ok(())
}
