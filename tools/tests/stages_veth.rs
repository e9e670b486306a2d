//! Stage timestamps on real devices: `takt-talker` and `takt-listener` on
//! `packet:` across a veth pair report `driver` (T from SO_TIMESTAMPING's
//! software transmit stamp) and `pickup` with plausible values; a talker on
//! `xdp:`, whose transmit "stamp" is taken before the kick, has no `driver`.
//!
//! Needs root (namespaces, raw sockets, BPF) and ip; without them the test
//! skips with a message, except under CI=true, where it fails. The
//! namespaces are deleted when the test ends, also when it fails.

mod common;

use common::veth::{json, one_at_a_time, ready, u, wide_schedule, Wire};
use common::{wait_at_most, TempDir};
use serde_json::Value;
use std::time::Duration;

const TALKER: &str = env!("CARGO_BIN_EXE_takt-talker");
const LISTENER: &str = env!("CARGO_BIN_EXE_takt-listener");

/// The listener (3.5 s) in `b`, then the talker (2 s) in `a`: both JSON
/// reports.
fn run_pair(wire: &Wire, schedule: &str, tx_dev: &str, rx_dev: &str) -> (Value, Value) {
    let args = |dev, secs| {
        [
            "--schedule",
            schedule,
            "--device",
            dev,
            "--duration",
            secs,
            "-q",
            "--report",
            "json",
        ]
    };
    let listener = wire.spawn(&wire.b, LISTENER, &args(rx_dev, "3500ms"));
    // The listener opens its device and starts polling well within this.
    std::thread::sleep(Duration::from_millis(700));
    let talker = wire.spawn(&wire.a, TALKER, &args(tx_dev, "2s"));
    let t = wait_at_most(talker, Duration::from_secs(60));
    let l = wait_at_most(listener, Duration::from_secs(60));
    (json(&t, "takt-talker"), json(&l, "takt-listener"))
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[test]
fn packet_reports_driver_and_pickup_and_xdp_no_driver() {
    if !ready("stages over veth", &["ip"]) {
        return;
    }
    let _serial = one_at_a_time();
    // Wide windows (1 frame a ms, a 500 us window): a loaded CI machine's
    // wake-ups must not make every frame late (this test is about stages).
    let dir = TempDir::new("stages-veth");
    let schedule = dir.write("s.toml", &wide_schedule(1_000, 500, ""));

    let wire = Wire::new();
    let (t, l) = run_pair(&wire, &schedule, "packet:tk-a", "packet:tk-b");
    for (ts, ls) in t["streams"]
        .as_array()
        .unwrap()
        .iter()
        .zip(l["streams"].as_array().unwrap())
    {
        let name = ts["name"].as_str().unwrap();
        let sent = u(ts, &["frames_sent"]);
        let received = u(ls, &["frames_received"]);
        assert!(sent > 0 && received > 0, "{name}: {ts} {ls}");
        let g = &ts["stages"];
        assert_eq!(keys(g), ["driver", "tx_error", "wake_error"], "{name}: {g}");
        assert_eq!(g["driver"]["source"], "kernel-software", "{g}");
        // packet: stamps one frame a millisecond at most (a stamp is two
        // system calls): a sample, never more than the frames sent.
        let stamped = u(g, &["driver", "count"]);
        assert!(
            stamped > 10 && stamped <= sent.min(2_100),
            "{name}: {stamped} of {sent}"
        );
        // The driver's xmit runs after the hand-over, and within a second.
        let (min, max) = (
            g["driver"]["min"].as_i64().unwrap(),
            g["driver"]["max"].as_i64().unwrap(),
        );
        assert!(
            min >= 0 && max < 1_000_000_000,
            "{name}: driver {min}..{max}"
        );
        assert_eq!(u(g, &["tx_error", "count"]), sent, "{name}");

        let g = &ls["stages"];
        assert_eq!(keys(g), ["end_to_end", "pickup", "wire"], "{name}: {g}");
        assert_eq!(g["pickup"]["source"], "kernel-software");
        for k in ["pickup", "end_to_end", "wire"] {
            assert_eq!(u(g, &[k, "count"]), received, "{name} {k}");
        }
        // One host, one clock: the listener has the frame after the kernel
        // stamped it, and after it was scheduled.
        let min = g["pickup"]["min"].as_i64().unwrap();
        assert!(
            min >= 0 && g["pickup"]["max"].as_i64().unwrap() < 1_000_000_000,
            "{name}: {g}"
        );
        assert!(g["end_to_end"]["min"].as_i64().unwrap() >= 0, "{name}: {g}");
    }
    drop(wire);

    // xdp's transmit stamp is the clock before the kick: not a transmit
    // time, so no T and no driver key.
    let wire = Wire::new();
    let (t, _) = run_pair(&wire, &schedule, "xdp:tk-a@0", "packet:tk-b");
    let g = &t["streams"][0]["stages"];
    assert_eq!(keys(g), ["tx_error", "wake_error"], "{g}");
}
