//! Stage timestamps end to end on the simulated wire: every difference a
//! backend can see is in the JSON report, with the frames' counts, and the
//! ones it cannot see are absent.

use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use takt_drivers::sim::{self, SimClock, SimConfig, SimPort};
use takt_drivers::{
    BufId, Counters, DeviceInfo, RingDevice, RxBatch, StampSource, TxBatch, TxStampBatch,
};
use takt_scheduler::config;
use takt_stack::listener::Listener;
use takt_stack::loopback::{self, LoopbackConfig};
use takt_stack::plan::Until;
use takt_stack::progress::Progress;
use takt_stack::stats::{json_report, text_report, RunStats};
use takt_stack::talker::{Talker, TalkerOptions};

fn example(name: &str) -> takt_scheduler::Schedule {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/examples")
        .join(name);
    config::load_file(&path).unwrap().schedule
}

fn count(v: &Value) -> u64 {
    v["count"].as_u64().unwrap()
}

#[test]
fn a_loopback_run_reports_all_six_differences_for_every_frame() {
    let schedule = example("two-class-250us.toml");
    let cfg = LoopbackConfig {
        talker: TalkerOptions {
            until: Until::Cycles(400),
            ..TalkerOptions::default()
        },
        propagation_ns: 500,
        // A loaded machine may leave the listener's thread waiting.
        drain_ns: 300_000_000,
        ..LoopbackConfig::default()
    };
    let (p, q) = (Progress::default(), Progress::default());
    let run = loopback::run(&schedule, &cfg, (&p, &q)).unwrap();
    let json: Value = serde_json::from_str(&json_report(&run.stats)).unwrap();
    let text = text_report(&run.stats);
    let streams = json["streams"].as_array().unwrap();
    assert_eq!(streams.len(), schedule.streams().len());
    for s in streams.iter().chain([&json["total"]]) {
        let name = s["name"].as_str().unwrap();
        let g = &s["stages"];
        let received = s["frames_received"].as_u64().unwrap();
        let sent = s["frames_sent"].as_u64().unwrap();
        assert!(received > 0, "{name}: {s}");
        // The talker's differences count the frames sent, the listener's
        // those received (a loaded machine may keep the two apart).
        for (key, from, to, frames) in [
            ("wake_error", "S", "W", sent),
            ("tx_error", "S", "H", sent),
            // Frames the sim transmitted (the talker's last burst may be
            // given up at the end on a loaded machine: no stamp).
            ("driver", "H", "T", count(&g["driver"]).min(sent)),
            ("wire", "H", "R", received),
            ("pickup", "R", "A", received),
            ("end_to_end", "S", "A", received),
        ] {
            assert_eq!(
                (g[key]["from"].as_str(), g[key]["to"].as_str()),
                (Some(from), Some(to)),
                "{name} {key}: {g}"
            );
            assert_eq!(count(&g[key]), frames, "{name} {key}");
            assert_eq!(g[key]["overflows"], 0, "{name} {key}");
            assert!(
                text.contains(&format!("{name} {key}")),
                "{name} {key} row:\n{text}"
            );
        }
        assert_eq!(g["driver"]["source"], "simulated");
        if name == "total" {
            // A stamp for every frame the wire took.
            assert_eq!(count(&g["driver"]), run.port_a.tx_frames, "{g}");
        }
        assert_eq!(g["wire"]["source"], "simulated");
        // The same numbers as the metrics they stand for.
        for k in ["min", "p50", "p99", "max", "mean", "count"] {
            assert_eq!(g["wire"][k], s["latency_ns"][k], "{name} wire {k}");
            assert_eq!(g["tx_error"][k], s["tx_error_ns"][k], "{name} tx_error {k}");
        }
        // Per frame A - S = (A - R) + (R - H) + (H - S); when every frame
        // is in each, the exact means add up too.
        let mean = |k: &str| g[k]["mean"].as_f64().unwrap();
        let sum = mean("pickup") + mean("wire") + mean("tx_error");
        assert!(
            received != sent || (mean("end_to_end") - sum).abs() < 1e-3,
            "{name}: end_to_end {} vs {sum}",
            mean("end_to_end")
        );
        // The sim stamps exactly: T is the first bit after the SFD, at or
        // after the launch time the talker handed over (H).
        assert!(g["driver"]["min"].as_i64().unwrap() >= 0, "{name}: {g}");
        // On the sim a frame arrives after it was handed over, and the
        // code has it after its last bit is in.
        assert!(g["wire"]["min"].as_i64().unwrap() > 0, "{name}");
        assert!(g["pickup"]["min"].as_i64().unwrap() >= 0, "{name}");
    }
}

/// A sim port that tells the stack its stamps are taken otherwise.
struct Masked {
    port: SimPort,
    info: DeviceInfo,
}

impl Masked {
    fn new(port: SimPort, tx: StampSource, rx: StampSource) -> Self {
        let mut info = port.info().clone();
        info.caps.tx_stamps = tx;
        info.caps.rx_stamps = rx;
        Masked { port, info }
    }
}

impl RingDevice for Masked {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }
    fn counters(&self) -> Counters {
        self.port.counters()
    }
    fn alloc(&mut self) -> Option<BufId> {
        self.port.alloc()
    }
    fn free(&mut self, buf: BufId) {
        self.port.free(buf)
    }
    fn buf(&self, buf: &BufId) -> &[u8] {
        self.port.buf(buf)
    }
    fn owns(&self, buf: &BufId) -> bool {
        self.port.owns(buf)
    }
    fn buf_mut(&mut self, buf: &BufId) -> &mut [u8] {
        self.port.buf_mut(buf)
    }
    fn tx_burst(&mut self, frames: &mut TxBatch) -> usize {
        self.port.tx_burst(frames)
    }
    fn rx_burst(&mut self, out: &mut RxBatch) -> usize {
        self.port.rx_burst(out)
    }
    fn tx_stamps(&mut self, out: &mut TxStampBatch) -> usize {
        self.port.tx_stamps(out)
    }
}

/// Talker on `a`, listener on `b`, 200 cycles: the JSON report's first
/// stream's `stages`.
fn stages_over(mut a: Masked, mut b: Masked) -> Value {
    let clock = takt_scheduler::ClockId::Tai;
    let sched = example("two-class-250us.toml").started_at(clock.now_ns() + 50_000_000);
    let names: Vec<&str> = sched.streams().iter().map(|s| s.name.as_str()).collect();
    let opts = TalkerOptions {
        until: Until::Cycles(200),
        advance_ns: Some(20_000_000),
        ..TalkerOptions::default()
    };
    let mut talker = Talker::new(&sched, &a, opts);
    let mut listener = Listener::new(&sched, takt_stack::clock::SchedClock::system(sched.clock()));
    let (mut tx, mut rx) = (RunStats::new(names.clone()), RunStats::new(names));
    talker.prepare_stats(&mut tx.streams);
    listener.prepare_stats(b.info(), &mut rx.streams);
    let (p, q) = (Progress::default(), Progress::default());
    let deadline = AtomicU64::new(0);
    std::thread::scope(|s| {
        let h = s.spawn(|| listener.run(&mut b, &mut rx.streams, &deadline, &q));
        let summary = talker.run(&mut a, &mut tx.streams, &p);
        // Generous: a loaded machine may leave the listener's thread waiting.
        deadline.store(
            summary.last_launch_ns.unwrap() + 300_000_000,
            Ordering::Release,
        );
        h.join().unwrap();
    });
    for (t, r) in tx.streams.iter_mut().zip(&rx.streams) {
        t.merge(r);
    }
    let json: Value = serde_json::from_str(&json_report(&tx)).unwrap();
    assert!(
        json["streams"][0]["frames_received"].as_u64().unwrap() > 0,
        "{json}"
    );
    json["streams"][0]["stages"].clone()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn sim_pair() -> (SimPort, SimPort) {
    let (a, b, _link) = sim::pair(SimConfig {
        clock: SimClock::Real(takt_scheduler::ClockId::Tai.to_nix()),
        pool_size: 4096,
        wire_capacity: 4096,
        ..SimConfig::default()
    });
    (a, b)
}

#[test]
fn stages_a_device_cannot_see_are_absent_not_zero() {
    // No transmit stamps: no T, so no driver; the rest are there.
    let (a, b) = sim_pair();
    let g = stages_over(
        Masked::new(a, StampSource::None, StampSource::Simulated),
        Masked::new(b, StampSource::None, StampSource::Simulated),
    );
    assert_eq!(
        keys(&g),
        ["end_to_end", "pickup", "tx_error", "wake_error", "wire"],
        "{g}"
    );
    // The receive stamp is the poll itself (vfio): A - R says nothing.
    let (a, b) = sim_pair();
    let g = stages_over(
        Masked::new(a, StampSource::Simulated, StampSource::ReceivePoll),
        Masked::new(b, StampSource::Simulated, StampSource::ReceivePoll),
    );
    assert_eq!(
        keys(&g),
        ["driver", "end_to_end", "tx_error", "wake_error", "wire"],
        "{g}"
    );
    assert_eq!(g["wire"]["source"], "receive-poll");
}
