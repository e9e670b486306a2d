//! Talker and mirror over the simulated wire (docs/round-trip.md): every
//! frame comes back, in its return window, and the round trip does not
//! change when the mirror's clock is 3.3 ms off. Both loops allocate
//! nothing while they run.

use std::sync::atomic::{AtomicU64, Ordering};
use takt_drivers::sim::{self, SimClock, SimConfig};
use takt_scheduler::clock::{DisciplinedClock, HostSkew, TimeSource};
use takt_scheduler::rt::{count_allocations, CountingAllocator, Wake, WakeConfig};
use takt_scheduler::ClockId;
use takt_stack::clock::SchedClock;
use takt_stack::frames::{FramesLog, RecordKind};
use takt_stack::listener::Listener;
use takt_stack::mirror::{Mirror, MirrorCounters, MirrorOptions};
use takt_stack::plan::Until;
use takt_stack::progress::Progress;
use takt_stack::round_trip::RoundTripOptions;
use takt_stack::stats::{RoundTripStats, RunStats};
use takt_stack::talker::{Talker, TalkerOptions};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// A 20 ms cycle: forward at 10 us, return window from 10 ms. The mirror
/// busy-polls; on a loaded 2-vCPU machine its thread gets the CPU in
/// slices ms apart, so a return window 10 ms after the forward one keeps
/// most returns in their own cycle (docs/examples/round-trip.toml has
/// the 1 ms version).
const SCHEDULE: &str = r#"[schedule]
base_time = 0
cycle_time = "20ms"
[[schedule.entry]]
gates = [7]
interval = "1ms"
[[schedule.entry]]
gates = [0]
interval = "9ms"
[[schedule.entry]]
gates = [6]
interval = "10ms"
[[stream]]
name = "ping"
traffic_class = 7
vlan_id = 100
dst_mac = "91:e0:f0:00:fe:00"
frame_size = 128
offset = "10us"
[[stream]]
name = "pong"
return_of = "ping"
traffic_class = 6
vlan_id = 100
dst_mac = "91:e0:f0:00:fe:01"
frame_size = 128
offset = "10ms"
"#;
const CYCLE: i64 = 20_000_000;
/// Slot minus forward launch.
const GAP: i64 = 10_000_000 - 10_000;
/// From the slot to the window's end, less the frame.
const SLACK: i64 = 10_000_000 - 1_184;

struct Run {
    rt: RoundTripStats,
    sent: u64,
    mirror: MirrorCounters,
    heap: (u64, u64),
}

/// 100 cycles of `SCHEDULE`; the mirror's clock is `offset_ns` ahead.
fn run(offset_ns: i64) -> Run {
    let loaded = takt_scheduler::config::parse_str(SCHEDULE, "t.toml").unwrap();
    let schedule = loaded.schedule;
    let (mut a, mut b, _link) = sim::pair(SimConfig {
        speed_bps: schedule.link().speed_bps,
        propagation_ns: 500,
        clock: SimClock::Real(ClockId::Tai.to_nix()),
        pool_size: 1024,
        buf_size: 2048,
        wire_capacity: 1024,
        ..SimConfig::default()
    });
    let sched = schedule.started_at(ClockId::Tai.now_ns() + 300_000_000);
    let talker_opts = TalkerOptions {
        advance_ns: Some(50_000_000),
        until: Until::Cycles(100),
        wake: WakeConfig {
            mode: Wake::Nanosleep,
            margin_ns: 0,
        },
        ..TalkerOptions::default()
    };
    let rt_opts = RoundTripOptions::for_schedule(&sched);
    // Every stage and a frames log on: the zero-allocation check covers them.
    let mut talker = Talker::new(&sched, &a, talker_opts)
        .with_round_trip(rt_opts, &a)
        .with_frames_log(FramesLog::in_memory(1 << 16));
    let mirror_clock = SchedClock::new(
        DisciplinedClock::new(
            TimeSource::System(ClockId::Tai),
            HostSkew {
                offset_ns,
                drift_ppb: 0,
            },
        ),
        0,
    );
    // The mirror's own copy of the schedule, as its binary loads it.
    let mirror = Mirror::new(
        &schedule,
        &b,
        mirror_clock.clone(),
        MirrorOptions {
            advance_ns: 20_000_000,
            ..MirrorOptions::default()
        },
    );
    assert!(mirror.is_active());
    let mut listener = Listener::new(&schedule, mirror_clock)
        .stop_on_signal(false)
        .with_mirror(mirror)
        .with_frames_log(FramesLog::in_memory(1 << 16));
    let names: Vec<&str> = sched.streams().iter().map(|s| s.name.as_str()).collect();
    let mut tx = RunStats::new(names.iter().copied());
    let mut rx = RunStats::new(names.iter().copied());
    talker.prepare_stats(&mut tx.streams);
    listener.prepare_stats(takt_drivers::RingDevice::info(&b), &mut rx.streams);
    let deadline = AtomicU64::new(0);
    let (p1, p2) = (Progress::default(), Progress::default());
    let (tx_heap, rx_heap) = std::thread::scope(|s| {
        let (b, rx, deadline, p2) = (&mut b, &mut rx, &deadline, &p2);
        let l = &mut listener;
        let h = s.spawn(move || count_allocations(|| l.run(b, &mut rx.streams, deadline, p2)).1);
        let (_, heap) = count_allocations(|| talker.run(&mut a, &mut tx.streams, &p1));
        // The talker waited out its timeout: nothing more is coming.
        deadline.store(1, Ordering::Release);
        (heap, h.join().unwrap())
    });
    let mut m = listener.take_mirror().unwrap();
    let mirror = m.finish(&mut b);
    let mut r = talker.take_round_trip().unwrap();
    r.finish(&mut tx.streams);
    let rt = *tx.streams[0].round_trip.take().unwrap();
    // One return record per return matched, one mirror record per frame
    // the mirror handled (sent, or late and not sent).
    let records = |log: Option<FramesLog>, kind: RecordKind| {
        let mut log = log.unwrap();
        log.take_records().iter().filter(|r| r.kind == kind).count() as u64
    };
    let returns = records(talker.take_frames_log(), RecordKind::Return);
    let mirrored = records(listener.take_frames_log(), RecordKind::Mirror);
    assert_eq!(returns, rt.returned, "return records");
    assert_eq!(mirrored, mirror.sent + mirror.late, "mirror records");
    assert!(
        tx.streams[1].round_trip.is_none(),
        "a return stream has none"
    );
    assert_eq!(tx.streams[1].frames_sent, 0, "the talker sends no returns");
    Run {
        rt,
        sent: tx.streams[0].frames_sent,
        mirror,
        heap: (
            tx_heap.allocs + tx_heap.frees,
            rx_heap.allocs + rx_heap.frees,
        ),
    }
}

fn check(r: &Run) -> i64 {
    assert_eq!(r.heap, (0, 0), "heap operations in talker, mirror");
    // A loaded machine makes a few frames late; those are not sent.
    assert!(r.sent >= 50, "sent {}", r.sent);
    // Every frame comes back unless the mirror found its window closed
    // (a loaded machine stalls the mirror's loop now and then): then it
    // says so, and the talker counts exactly those lost.
    assert!(
        r.mirror.late <= r.sent / 4,
        "late at the mirror: {:?}",
        r.mirror
    );
    assert_eq!(r.rt.returned + r.mirror.late, r.sent, "{:?}", r.mirror);
    assert_eq!(r.rt.lost, r.mirror.late);
    assert_eq!((r.rt.late, r.rt.duplicates, r.rt.rogue), (0, 0, 0));
    assert_eq!(r.mirror.sent, r.rt.returned);
    assert_eq!((r.mirror.queue_full, r.mirror.no_buffer), (0, 0));
    // Forward at 10 us, return at 10 ms of the same cycle, its window
    // open until 20 ms; each way one 128-byte frame on the wire (1.088 us
    // with preamble) and 500 ns of cable. The mirror sends at its slot
    // plus the shortest one-way delay it saw (its talker time lags by
    // that), so the return leaves one way after the slot. A mirror that
    // had the frame too late for this cycle's slot (a loaded machine
    // deschedules its loop for ms) sends it in a later cycle, and one that
    // hands it over after its slot still sends it inside the window: every
    // round trip is `want` plus whole cycles plus at most the rest of the
    // return window. min and max are exact in the metric.
    let one_way = 1_088 + 500;
    let want = GAP + 2 * one_way;
    let in_window = |v: i64| (v - want).rem_euclid(CYCLE) <= SLACK;
    let (min, max) = (
        r.rt.rtt_device.min().unwrap(),
        r.rt.rtt_device.max().unwrap(),
    );
    let dev = r.rt.rtt_device.value_at_percentile(50.0).unwrap();
    eprintln!("rtt_device min {min} p50 {dev} max {max}");
    assert!(
        in_window(min) && in_window(max),
        "rtt_device min {min} max {max}, want {want} + k cycles + < 240 us"
    );
    assert_eq!(r.rt.rtt_device.count(), r.rt.returned);
    let app = r.rt.rtt.value_at_percentile(50.0).unwrap();
    assert!(app >= dev, "A is after R: {app} < {dev}");
    assert_eq!(r.rt.outlier_threshold_ns, 2 * CYCLE as u64);
    min
}

#[test]
fn every_frame_comes_back_in_its_window_whatever_the_mirrors_clock() {
    let plain = run(0);
    let p0 = check(&plain);
    let shifted = run(3_300_000);
    let p1 = check(&shifted);
    // The best case is the same-cycle slot, one way after it, in both:
    // exactly the same round trip.
    assert_eq!(p0, GAP + 2 * (1_088 + 500));
    assert_eq!(p0, p1, "min rtt_device {p0} vs {p1} with 3.3 ms offset");
    let d = (
        shifted.mirror.d_min_ns.unwrap(),
        shifted.mirror.d_max_ns.unwrap(),
    );
    assert!(
        (3_300_000..3_320_000).contains(&d.0) && d.1 - d.0 < 20_000,
        "d {d:?}"
    );
}
