//! `takt loopback`'s engine end to end on the simulated wire, real clock.

use std::path::Path;
use takt_scheduler::config;
use takt_stack::loopback::{self, LoopbackConfig};
use takt_stack::plan::Until;
use takt_stack::progress::Progress;
use takt_stack::talker::TalkerOptions;

fn example(name: &str) -> takt_scheduler::Schedule {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/examples")
        .join(name);
    config::load_file(&path).unwrap().schedule
}

#[test]
fn every_scheduled_frame_arrives_once_with_wire_latency() {
    let schedule = example("two-class-250us.toml");
    let cycles = 400;
    let cfg = LoopbackConfig {
        talker: TalkerOptions {
            until: Until::Cycles(cycles),
            ..TalkerOptions::default()
        },
        propagation_ns: 500,
        ..LoopbackConfig::default()
    };
    let (p, q) = (Progress::default(), Progress::default());
    let run = loopback::run(&schedule, &cfg, (&p, &q)).unwrap();
    assert_eq!(run.stats.cycles, cycles);
    for (st, s) in run.stats.streams.iter().zip(schedule.streams()) {
        let name = &st.name;
        // Late frames are the host's stalls, not the schedule's: they are
        // counted, never lost silently.
        assert_eq!(
            st.frames_sent + st.late,
            cycles * u64::from(s.frames_per_cycle),
            "{name}"
        );
        assert_eq!(st.frames_received, st.frames_sent, "{name}");
        assert_eq!((st.lost, st.duplicates, st.reordered), (0, 0, 0), "{name}");
        // preamble + frame (with FCS) at the link speed, plus the cable
        let bits = (u64::from(s.frame_size) + 8) * 8;
        let expect = (bits * 1_000_000_000).div_ceil(schedule.link().speed_bps) + 500;
        let p50 = st.latency_ns.value_at_percentile(50.0).unwrap() as u64;
        assert!(
            p50.abs_diff(expect) <= expect / 1000 + 1,
            "{name}: p50 {p50} vs {expect}"
        );
        assert_eq!(
            st.latency_ns.min(),
            Some(expect as i64),
            "{name}: nothing beats the wire"
        );
    }
}
