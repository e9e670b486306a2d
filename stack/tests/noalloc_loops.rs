//! The talker and listener loops allocate nothing once set up: 100,000+
//! frames each way over the simulated wire with a real clock, each loop on
//! its own thread with that thread's heap operations counted.

use std::sync::atomic::{AtomicU64, Ordering};
use takt_drivers::sim::{self, SimClock, SimConfig};
use takt_drivers::RingDevice;
use takt_scheduler::rt::{count_allocations, CountingAllocator};
use takt_scheduler::{ClockId, GateControlList, GateEntry, LinkConfig, Schedule, Stream};
use takt_stack::frames::FramesLog;
use takt_stack::listener::Listener;
use takt_stack::plan::Until;
use takt_stack::progress::Progress;
use takt_stack::stats::{IntervalLog, IntervalLogConfig, RunStats};
use takt_stack::talker::{Talker, TalkerOptions};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// 100 us cycle, class 7 open for 60 us: ten 64-byte frames per cycle in two
/// streams, so 100,000 frames a second.
fn dense_schedule() -> Schedule {
    let gcl = GateControlList::new(
        0,
        None,
        0,
        vec![
            GateEntry {
                gate_mask: 0x80,
                interval_ns: 60_000,
            },
            GateEntry {
                gate_mask: 0x01,
                interval_ns: 40_000,
            },
        ],
    )
    .unwrap();
    let stream = |name: &str, offset_ns| Stream {
        name: name.into(),
        traffic_class: 7,
        vlan_id: 10,
        pcp: 7,
        dst_mac: [0x91, 0xe0, 0xf0, 0, 0xfe, 1],
        frame_size: 64,
        offset_ns,
        frames_per_cycle: 5,
        spacing_ns: 2_000,
    };
    let link = LinkConfig {
        speed_bps: 1_000_000_000,
        tc_to_pcp: LinkConfig::IDENTITY_TC_TO_PCP,
    };
    Schedule::new(
        ClockId::Monotonic,
        link,
        gcl,
        None,
        vec![stream("a", 1_000), stream("b", 20_000)],
    )
    .unwrap()
}

#[test]
fn talker_and_listener_allocate_nothing_after_set_up() {
    const CYCLES: u64 = 12_000; // 120,000 frames, 1.2 s
    let clock = ClockId::Monotonic;
    let (mut a, mut b, _link) = sim::pair(SimConfig {
        clock: SimClock::Real(clock.to_nix()),
        // 100 ms of frames queued ahead at 100,000 frames/s, with room to
        // spare (20 ms left frames late when CI loaded the other core).
        pool_size: 16_384,
        wire_capacity: 16_384,
        ..SimConfig::default()
    });
    let sched = dense_schedule().started_at(clock.now_ns() + 100_000_000);
    let names = ["a", "b"];
    let log_dir = std::env::temp_dir().join(format!("takt-noalloc-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir).unwrap();
    let log = |name: &str| {
        let cfg = IntervalLogConfig::new(std::time::SystemTime::now());
        IntervalLog::for_streams(log_dir.join(name), &names, clock.now_ns(), &cfg).unwrap()
    };
    // Queued well ahead (the sim holds frames until their launch time), so a
    // slow debug build on a noisy VM still sends every frame.
    let opts = TalkerOptions {
        until: Until::Cycles(CYCLES),
        advance_ns: Some(100_000_000),
        ..TalkerOptions::default()
    };
    // With every stage stamp (T on every frame) and a frames log attached.
    let mut talker = Talker::new(&sched, &a, opts)
        .with_hist_log(log("tx.hlog"))
        .with_frames_log(FramesLog::default());
    let mut listener = Listener::new(&sched, takt_stack::clock::SchedClock::system(sched.clock()))
        .with_hist_log(log("rx.hlog"))
        .with_frames_log(FramesLog::default());
    let (mut tx_stats, mut rx_stats) = (RunStats::new(names), RunStats::new(names));
    talker.prepare_stats(&mut tx_stats.streams);
    listener.prepare_stats(b.info(), &mut rx_stats.streams);
    let (tx_progress, rx_progress) = (Progress::default(), Progress::default());
    let deadline = AtomicU64::new(0);

    let (tx_counts, rx_counts) = std::thread::scope(|s| {
        let rx = s.spawn(|| {
            count_allocations(|| {
                listener.run(&mut b, &mut rx_stats.streams, &deadline, &rx_progress)
            })
            .1
        });
        let (summary, counts) =
            count_allocations(|| talker.run(&mut a, &mut tx_stats.streams, &tx_progress));
        deadline.store(
            summary.last_launch_ns.unwrap() + 100_000_000,
            Ordering::Release,
        );
        (counts, rx.join().unwrap())
    });
    let sent: u64 = tx_stats.streams.iter().map(|s| s.frames_sent).sum();
    let received: u64 = rx_stats.streams.iter().map(|s| s.frames_received).sum();
    // Enough frames to have run every path many times; a machine loaded on
    // both cores makes a debug talker miss windows (counted late, not
    // sent), which is not what this test judges.
    assert!(sent >= 60_000, "only {sent} frames sent");
    assert_eq!(received, sent);
    for (t, r) in tx_stats.streams.iter().zip(&rx_stats.streams) {
        // Every stage was measured: T came for every frame sent.
        let driver = t.stages.driver.as_ref().map(|m| m.count());
        assert_eq!(driver, Some(t.frames_sent), "{}", t.name);
        let e2e = r.stages.end_to_end.as_ref().map(|m| m.count());
        assert_eq!(e2e, Some(r.frames_received), "{}", r.name);
    }
    assert_eq!((tx_counts.allocs, tx_counts.frees), (0, 0), "talker loop");
    assert_eq!((rx_counts.allocs, rx_counts.frees), (0, 0), "listener loop");
    let now = clock.now_ns();
    talker.take_hist_log().unwrap().finish(now).unwrap();
    listener.take_hist_log().unwrap().finish(now).unwrap();
    std::fs::remove_dir_all(&log_dir).unwrap();
}
