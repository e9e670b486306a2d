//! The run path of `takt-talker` and `takt-listener` end to end, in one
//! process: `talker::run_on` and `listener::run_on` on the two ends of the
//! simulated wire (real clock), each on its own thread, as the two
//! binaries would run on two hosts.

use std::path::Path;

use takt_drivers::sim::{self, SimClock, SimConfig};
use takt_drivers::RingDevice;
use takt_scheduler::{config, ClockId, Schedule};
use takt_stack::plan::Until;
use takt_stack::progress::Progress;
use takt_stack::talker::TalkerOptions;
use takt_tools::listener::{self, ListenerConfig};
use takt_tools::run::{RunError, EXIT_BAD_INPUT, EXIT_RUNTIME};
use takt_tools::talker::{self, TalkerConfig};

const CYCLES: u64 = 400;
const PROPAGATION_NS: u64 = 500;

fn example(name: &str) -> Schedule {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/examples")
        .join(name);
    config::load_file(&path).expect("valid example").schedule
}

fn wire(schedule: &Schedule, clock: SimClock) -> (sim::SimPort, sim::SimPort) {
    let (a, b, _link) = sim::pair(SimConfig {
        speed_bps: schedule.link().speed_bps,
        propagation_ns: PROPAGATION_NS,
        clock,
        pool_size: 4096,
        buf_size: 2048,
        wire_capacity: 4096,
        ..SimConfig::default()
    });
    (a, b)
}

fn talker_cfg(until: Until) -> TalkerConfig {
    TalkerConfig {
        talker: TalkerOptions {
            // The sim holds frames until their launch time: queue early, so
            // a stalled test thread costs nothing.
            advance_ns: Some(takt_stack::loopback::SIM_ADVANCE_NS),
            batch: 32,
            until,
            ..TalkerOptions::default()
        },
        backend: "sim".into(),
        ..TalkerConfig::default()
    }
}

#[test]
fn talker_and_listener_on_two_threads_agree() {
    let schedule = example("two-class-250us.toml");
    let (mut a, mut b) = wire(&schedule, SimClock::Real(ClockId::Tai.to_nix()));
    let (tx_progress, rx_progress) = (Progress::default(), Progress::default());
    let rx_cfg = ListenerConfig {
        until: Until::Cycles(CYCLES),
        // Both ends work out the first cycle on their own, as on two hosts;
        // a generous drain covers a test thread that starts late on a busy
        // machine (the binaries drain 20 ms).
        drain_ns: 200_000_000,
        backend: "sim".into(),
        ..ListenerConfig::default()
    };
    let tx_cfg = talker_cfg(Until::Cycles(CYCLES));

    let (tx, rx) = std::thread::scope(|s| {
        // The listener first, as on two hosts: it must be polling when the
        // first frame arrives.
        let rx = s.spawn(|| listener::run_on(&mut b, &schedule, &rx_cfg, &rx_progress));
        let tx = talker::run_on(&mut a, &schedule, &tx_cfg, &tx_progress);
        (tx, rx.join().expect("listener thread"))
    });
    let (tx, rx) = (tx.expect("talker run"), rx.expect("listener run"));

    assert_eq!(tx.stats.cycles, CYCLES);
    assert_eq!(rx.stats.cycles, CYCLES);
    assert_eq!(rx.rx_offset_ns, 0, "device and schedule share TAI");
    assert_eq!(
        (tx.stats.device.as_str(), rx.stats.device.as_str()),
        ("sim:a", "sim:b")
    );
    assert_eq!(
        (tx.stats.backend.as_str(), tx.stats.clock.as_str()),
        ("sim", "tai")
    );
    assert_eq!(
        (rx.stats.backend.as_str(), rx.stats.clock.as_str()),
        ("sim", "tai")
    );
    assert!(!tx.summary.interrupted && !rx.summary.interrupted);
    assert_eq!(rx.summary.other_frames, 0);

    let link = schedule.link();
    for ((s, t), r) in schedule
        .streams()
        .iter()
        .zip(&tx.stats.streams)
        .zip(&rx.stats.streams)
    {
        assert_eq!(t.name, s.name);
        assert_eq!(r.name, s.name);
        assert_eq!(
            t.frames_sent + t.late,
            CYCLES * u64::from(s.frames_per_cycle),
            "{}: every planned frame is sent or late",
            s.name
        );
        assert_eq!(r.frames_received, t.frames_sent, "{}", s.name);
        assert_eq!((r.lost, r.duplicates, r.reordered), (0, 0, 0), "{}", s.name);
        assert_eq!(t.tx_error_ns.count(), t.frames_sent, "{}", s.name);
        assert_eq!(r.latency_ns.count(), r.frames_received, "{}", s.name);
        // The talker measures no latency and the listener no tx error.
        assert_eq!((t.latency_ns.count(), r.tx_error_ns.count()), (0, 0));
        // Preamble + frame (FCS included) at link speed, plus the cable.
        let serialization =
            ((u64::from(s.frame_size) + 8) * 8 * 1_000_000_000).div_ceil(link.speed_bps);
        assert_eq!(
            r.latency_ns.min(),
            Some((serialization + PROPAGATION_NS) as i64),
            "{}",
            s.name
        );
    }
    assert_eq!(tx.counters.tx_frames, rx.counters.rx_frames);
    assert_eq!(b.outstanding(), 0, "the listener gave every buffer back");
    assert_eq!(a.info().name, "sim:a");
}

#[test]
fn talker_refuses_a_launch_time_device_on_another_clock() {
    let schedule = example("single-stream-1ms.toml"); // clock = "tai"
    let (mut a, _b) = wire(&schedule, SimClock::Real(ClockId::Monotonic.to_nix()));
    let err = talker::run_on(
        &mut a,
        &schedule,
        &talker_cfg(Until::Cycles(1)),
        &Progress::default(),
    )
    .expect_err("clock mismatch");
    assert!(matches!(err, RunError::ClockMismatch { .. }), "{err:?}");
    assert_eq!(err.exit_code(), EXIT_BAD_INPUT);
    let msg = err.to_string();
    assert!(msg.contains("sim:a") && msg.contains("monotonic"), "{msg}");
    assert!(msg.contains("clock = \"monotonic\""), "{msg}");
}

#[test]
fn listener_measures_the_offset_of_another_device_clock() {
    let schedule = example("single-stream-1ms.toml"); // clock = "tai"
    let (_a, mut b) = wire(&schedule, SimClock::Real(ClockId::Monotonic.to_nix()));
    let cfg = ListenerConfig {
        until: Until::Time(0),
        lead_ns: 0,
        ..ListenerConfig::default()
    };
    let expected = ClockId::Tai.now_ns() as i64 - ClockId::Monotonic.now_ns() as i64;
    let run = listener::run_on(&mut b, &schedule, &cfg, &Progress::default()).expect("run");
    assert!(
        (run.rx_offset_ns - expected).abs() < 50_000_000,
        "offset {} vs {expected}",
        run.rx_offset_ns
    );
}

#[test]
fn virtual_clock_devices_cannot_run() {
    let schedule = example("single-stream-1ms.toml");
    let clock = SimClock::Virtual(sim::VirtualClock::new(1));
    let (mut a, mut b) = wire(&schedule, clock);
    let cfg = talker_cfg(Until::Cycles(1));
    let e = talker::run_on(&mut a, &schedule, &cfg, &Progress::default()).unwrap_err();
    assert!(matches!(e, RunError::VirtualClock { .. }), "{e:?}");
    assert_eq!(e.exit_code(), EXIT_RUNTIME);
    let cfg = ListenerConfig::default();
    let e = listener::run_on(&mut b, &schedule, &cfg, &Progress::default()).unwrap_err();
    assert!(matches!(e, RunError::VirtualClock { .. }), "{e:?}");
}

/// The real-time set-up runs on the thread that runs the loop, and its
/// report goes into the run's statistics (the text and JSON reports).
#[test]
fn the_rt_setup_is_applied_and_reported() {
    use takt_scheduler::rt;
    use takt_tools::rt_args::RtSetup;
    let schedule = example("two-class-250us.toml");
    let (mut a, mut b) = wire(&schedule, SimClock::Real(ClockId::Tai.to_nix()));
    let cpu = *rt::allowed_cpus().last().unwrap();
    let tx_cfg = TalkerConfig {
        rt: Some(RtSetup {
            config: rt::RtConfig {
                cpu: Some(cpu),
                ..rt::RtConfig::default()
            },
            quiet: true,
            tool: "test",
        }),
        ..talker_cfg(Until::Cycles(20))
    };
    let rx_cfg = ListenerConfig {
        until: Until::Cycles(20),
        drain_ns: 200_000_000,
        ..ListenerConfig::default()
    };
    let (tx, rx) = std::thread::scope(|s| {
        let rx = s.spawn(|| listener::run_on(&mut b, &schedule, &rx_cfg, &Progress::default()));
        let tx = s.spawn(|| {
            let run = talker::run_on(&mut a, &schedule, &tx_cfg, &Progress::default());
            (run, rt::allowed_cpus())
        });
        (tx.join().unwrap(), rx.join().unwrap())
    });
    let ((tx, cpus_after), rx) = (tx, rx.expect("listener run"));
    let tx = tx.expect("talker run");
    assert_eq!(cpus_after, vec![cpu], "the talker's thread was pinned");
    let r = tx.stats.rt.as_ref().expect("an rt report");
    assert_eq!(r.cpu, Some(cpu));
    assert!(rx.stats.rt.is_none(), "no set-up asked, none reported");
    let text = takt_stack::stats::text_report(&tx.stats);
    assert!(text.contains(&format!("rt: pinned to CPU {cpu}")), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&takt_stack::stats::json_report(&tx.stats)).unwrap();
    assert_eq!(json["rt"]["cpu"], cpu);
    assert_eq!(json["rt"]["memory_locked"], false);
}
