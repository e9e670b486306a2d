//! Two hosts whose clocks disagree, on the simulated wire, no root: the
//! talker's host runs on TAI, the listener's 3.7 ms ahead and 40 ppm fast
//! (`HostSkew`: the sim's ports stamp on the true clock, each host reads
//! its own). With PTP (the talker's port grandmaster, gPTP), the
//! listener's latency, once locked, is the frame's serialization plus the
//! propagation delay; without, it is off by the clocks' disagreement.
//! Both loops run with a counting allocator: 0 heap operations on the
//! data path with PTP running.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use takt_drivers::sim::{self, SimClock, SimConfig, SimPort};
use takt_drivers::RingDevice;
use takt_scheduler::clock::{ClockId, DisciplinedClock, HostSkew, TimeSource};
use takt_scheduler::rt::{self, CountingAllocator};
use takt_scheduler::{config, Schedule};
use takt_stack::clock::SchedClock;
use takt_stack::control::gate::BestEffortGate;
use takt_stack::listener::{Listener, ListenerSummary};
use takt_stack::plan::Until;
use takt_stack::progress::Progress;
use takt_stack::ptp::endpoint::{EndpointConfig, PtpEndpoint};
use takt_stack::ptp::worker::PtpWorker;
use takt_stack::ptp::{CoreConfig, Profile, Role, SyncStatus};
use takt_stack::sidecar::Sidecars;
use takt_stack::stats::{stream_tags, IntervalLog, IntervalLogConfig, PtpReport, RunStats};
use takt_stack::talker::{Talker, TalkerOptions, PTP_OFFSET_TAG};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// The listener's host: 3.7 ms ahead of the talker's, 40 ppm fast.
const SKEW: HostSkew = HostSkew {
    offset_ns: 3_700_000,
    drift_ppb: 40_000,
};
const PROPAGATION_NS: u64 = 500;
/// Both the tests' streams are 128-byte frames at 1 Gbps: (124 buffer
/// bytes + preamble 8 + FCS 4) * 8 ns, last bit in.
const SERIALIZATION_NS: i64 = (124 + 8 + 4) * 8;
/// The slave counts as locked within this of its master ...
const LOCK_THRESHOLD_NS: u64 = 100;
/// ... and the streams start once it has been for this long.
const SETTLE_NS: u64 = 2_000_000_000;
/// A lock must come within this (a failure, not a bound on how fast).
const GIVE_UP_NS: u64 = 120_000_000_000;
/// Streams run this long.
const RUN_NS: u64 = 3_000_000_000;

fn schedule() -> Schedule {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/time-sync.toml");
    config::load_file(&path)
        .unwrap_or_else(|e| panic!("{e}"))
        .schedule
}

fn core_config(role: Role, mac: [u8; 6]) -> CoreConfig {
    CoreConfig {
        // 32 syncs a second: the servo locks in fewer seconds of real time.
        log_sync_interval: -5,
        lock_threshold_ns: LOCK_THRESHOLD_NS,
        ..CoreConfig::new(Profile::Gptp, role, mac)
    }
}

/// One end: its schedule clock, and with PTP its port (worker, sidecars).
struct End {
    clock: SchedClock,
    sidecars: Sidecars,
    sync: Option<Arc<SyncStatus>>,
    worker: Option<PtpWorker>,
}

fn end(dev: &SimPort, skew: HostSkew, ptp: Option<Role>, schedule: &Schedule) -> End {
    let disc = DisciplinedClock::new(TimeSource::System(ClockId::Tai), skew);
    let clock = SchedClock::new(disc, 0);
    let talker = ptp == Some(Role::Master);
    let mut sidecars = if talker {
        Sidecars::for_talker()
    } else {
        Sidecars::for_listener()
    };
    let Some(role) = ptp else {
        return End {
            clock,
            sidecars,
            sync: None,
            worker: None,
        };
    };
    let sync = SyncStatus::new();
    let (worker, ends) = PtpWorker::start(
        core_config(role, dev.info().mac),
        Arc::clone(clock.disciplined()),
        Arc::clone(&sync),
        u64::from(dev.info().mac[5]),
        None,
    )
    .expect("the PTP thread starts");
    // A talker's PTP frames wait for the best-effort window (class 0).
    let gate = talker.then(|| BestEffortGate::new(schedule, Some(0)).expect("class 0 opens"));
    let endpoint = PtpEndpoint::new(
        EndpointConfig {
            gate,
            // The listener's interval log takes the offsets.
            log_offsets: !talker,
        },
        dev,
        clock.clone(),
        ends,
        worker.thread(),
    );
    sidecars.set_ptp(endpoint);
    End {
        clock,
        sidecars,
        sync: Some(sync),
        worker: Some(worker),
    }
}

struct Outcome {
    listener: RunStats,
    summary: ListenerSummary,
    sent: u64,
    /// Heap operations on the talker's and the listener's data path.
    heap: (u64, u64),
    /// The listener's `ptp` report.
    ptp: Option<PtpReport>,
    /// Seconds from the start to the listener's lock.
    locked_after_s: Option<f64>,
    /// The listener's HdrHistogram interval log.
    hist_log: String,
}

/// Talker on port a (PTP grandmaster when `ptp`), listener on port b (its
/// host skewed, PTP slave when `ptp`).
fn run(ptp: bool) -> Outcome {
    let (mut a, mut b, _link) = sim::pair(SimConfig {
        propagation_ns: PROPAGATION_NS,
        clock: SimClock::Real(ClockId::Tai.to_nix()),
        ..SimConfig::default()
    });
    let sched = schedule();
    let mut ta = end(&a, HostSkew::default(), ptp.then_some(Role::Master), &sched);
    let mut lb = end(&b, SKEW, ptp.then_some(Role::Slave), &sched);

    // Sync first: both ends serve only PTP until the slave has been locked
    // for SETTLE_NS (of its clock).
    let started = ClockId::Monotonic.now_ns();
    let mut locked_after_s = None;
    if let Some(sync) = lb.sync.clone() {
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let (sa, ca, dev_a) = (&mut ta.sidecars, &ta.clock, &mut a);
            let (done_a, sched_a) = (&done, &sched);
            s.spawn(move || {
                sa.serve_while(dev_a, sched_a, ca, &[], rt::WakeConfig::default(), |_| {
                    !done_a.load(std::sync::atomic::Ordering::Acquire)
                })
            });
            let mut settled_from = None;
            lb.sidecars.serve_while(
                &mut b,
                &sched,
                &lb.clock,
                &[],
                rt::WakeConfig::default(),
                |now| {
                    let mono = ClockId::Monotonic.now_ns();
                    assert!(
                        mono - started < GIVE_UP_NS,
                        "the slave never locked (it is a real clock: a loaded machine only \
                         makes it later, not never)"
                    );
                    if !sync.is_synced() {
                        settled_from = None;
                        return true;
                    }
                    let from = *settled_from.get_or_insert(now);
                    now - from < SETTLE_NS
                },
            );
            done.store(true, std::sync::atomic::Ordering::Release);
        });
        locked_after_s = sync
            .first_lock_ns()
            .map(|_| (ClockId::Monotonic.now_ns() - started) as f64 / 1e9 - SETTLE_NS as f64 / 1e9);
    }

    // Then the streams, with PTP still running in both loops' idle time.
    let sched_a = sched.started_at(ta.clock.now_ns() + 20_000_000);
    let sched_b = sched.started_at(lb.clock.now_ns() + 20_000_000);
    let opts = TalkerOptions {
        // Far ahead: a talker a loaded machine stalls still hands every
        // frame over before its launch time, so the wire, not the
        // scheduler, sets the latency.
        advance_ns: Some(20_000_000),
        until: Until::Time(sched_a.oper().base_time_ns() + RUN_NS),
        ..TalkerOptions::default()
    };
    let mut talker = Talker::new(&sched_a, &a, opts)
        .with_clock(ta.clock.clone())
        .with_sidecars(std::mem::replace(&mut ta.sidecars, Sidecars::for_talker()));
    if let Some(s) = &ta.sync {
        talker = talker.with_sync(Arc::clone(s));
    }
    let log_path = std::env::temp_dir().join(format!(
        "takt-ptp-sim-{}-{}.hlog",
        std::process::id(),
        u8::from(ptp)
    ));
    let mut tags = stream_tags(&["sensor", "actuator"]);
    tags.push(PTP_OFFSET_TAG.to_string());
    let log = IntervalLog::create(
        &log_path,
        &tags,
        lb.clock.now_ns(),
        &IntervalLogConfig::new(std::time::SystemTime::now()),
    )
    .expect("interval log");
    let mut listener = Listener::new(&sched_b, lb.clock.clone())
        .stop_on_signal(false)
        .with_hist_log(log)
        .with_sidecars(std::mem::replace(
            &mut lb.sidecars,
            Sidecars::for_listener(),
        ));
    if let Some(s) = &lb.sync {
        listener = listener.with_sync(Arc::clone(s));
    }
    let mut tx = RunStats::new(["sensor", "actuator"]);
    let mut rx = RunStats::new(["sensor", "actuator"]);
    let (progress_t, progress_l) = (Progress::default(), Progress::default());
    let deadline = AtomicU64::new(0);
    let (sent, summary, heap) = std::thread::scope(|s| {
        let listener_thread = s.spawn(|| {
            rt::count_allocations(|| listener.run(&mut b, &mut rx.streams, &deadline, &progress_l))
        });
        let (_, t_heap) =
            rt::count_allocations(|| talker.run(&mut a, &mut tx.streams, &progress_t));
        // Frames in flight arrive within the advance and the wire time.
        deadline.store(
            lb.clock.now_ns() + 50_000_000,
            std::sync::atomic::Ordering::Release,
        );
        let (summary, l_heap) = listener_thread.join().expect("listener thread");
        let sent: u64 = tx.streams.iter().map(|s| s.frames_sent).sum();
        (
            sent,
            summary,
            (t_heap.allocs + t_heap.frees, l_heap.allocs + l_heap.frees),
        )
    });
    drop(talker.take_ptp());
    if let Some(log) = listener.take_hist_log() {
        log.finish(lb.clock.now_ns()).expect("interval log written");
    }
    let hist_log = std::fs::read_to_string(&log_path).expect("interval log");
    let _ = std::fs::remove_file(&log_path);
    let ptp_report = lb.worker.take().map(|w| {
        let _ = listener.take_ptp();
        w.finish()
    });
    if let Some(w) = ta.worker.take() {
        let r = w.finish();
        assert_eq!(r.port_state, "MASTER", "the talker's port: {r:?}");
        assert_eq!(r.clock_steps, 0, "a grandmaster never steps: {r:?}");
    }
    Outcome {
        listener: rx,
        summary,
        sent,
        heap,
        ptp: ptp_report,
        locked_after_s,
        hist_log,
    }
}

#[test]
fn ptp_takes_the_listeners_latency_from_the_clocks_offset_to_the_wire_time() {
    assert!(rt::allocation_counting_active());
    let expected = SERIALIZATION_NS + PROPAGATION_NS as i64;

    // Without PTP: the latency is mostly the two clocks' disagreement.
    let off = run(false);
    let t = off.listener.total();
    assert_eq!(t.frames_received, off.sent, "every frame arrives");
    let p50 = t.latency_ns.value_at_percentile(50.0).expect("latencies");
    eprintln!("without PTP: latency p50 {p50} ns (expected {expected} ns on synced clocks)");
    assert!(
        (p50 - expected - SKEW.offset_ns).abs() < 1_000_000,
        "off by the 3.7 ms offset plus a little drift: {p50} ns"
    );

    // With PTP, after the lock: serialization + propagation, to 100 ns.
    let on = run(true);
    let t = on.listener.total();
    let ptp = on.ptp.as_ref().expect("a ptp report");
    eprintln!(
        "with PTP: locked after {:.1} s; latency {:?}; ptp {ptp:?}",
        on.locked_after_s.unwrap_or(f64::NAN),
        t.latency_ns.summary()
    );
    assert_eq!(t.frames_received, on.sent, "every frame arrives");
    assert_eq!((t.lost, t.duplicates), (0, 0));
    assert_eq!(on.summary.other_frames, 0, "PTP frames went to the port");
    assert_eq!(t.unsynced, 0, "locked for the whole run");
    for (q, v) in [
        (50.0, t.latency_ns.value_at_percentile(50.0)),
        (90.0, t.latency_ns.value_at_percentile(90.0)),
    ] {
        let v = v.expect("latencies");
        assert!(
            (v - expected).abs() <= 100,
            "latency p{q} {v} ns, expected {expected} +- 100 ns"
        );
    }
    assert!(ptp.time_to_first_lock_ns.is_some());
    assert_eq!(ptp.port_state, "SLAVE");
    assert!(
        ptp.clock_backward_steps >= 1 && ptp.largest_step_ns < -3_000_000,
        "the 3.7 ms the listener's clock was ahead were stepped back, and counted: {ptp:?}"
    );
    assert_eq!(
        on.heap,
        (0, 0),
        "heap operations on the data paths (talker, listener)"
    );
    // The offset series is in the interval log, beside the latencies.
    let offset_lines = on
        .hist_log
        .lines()
        .filter(|l| l.starts_with("Tag=ptp.offset"))
        .count();
    assert!(
        offset_lines >= 2,
        "ptp.offset intervals in the log:\n{}",
        on.hist_log
    );
    assert!(
        !off.hist_log.contains("Tag=ptp.offset,"),
        "no PTP, no offsets"
    );
}
