//! The UDP baseline and the UDP flood end to end over 127.0.0.1 (no root,
//! no namespaces): what the talker sends, the listener counts, with
//! latencies on the schedule clock.

use std::net::{SocketAddrV4, UdpSocket};
use std::path::Path;
use std::thread;

use takt_veth_bench::udp_listener::{self, UdpListenerConfig};
use takt_veth_bench::udp_talker::{self, UdpTalkerConfig};
use takt_veth_bench::{flood_udp, load_schedule};

/// A port that was free a moment ago.
fn free_port() -> SocketAddrV4 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    match s.local_addr().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        other => panic!("not v4: {other}"),
    }
}

#[test]
fn udp_talker_to_listener_on_loopback() {
    let schedule_file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../docs/examples/single-stream-1ms.toml");
    let schedule = load_schedule(&schedule_file).unwrap();
    let addr = free_port();
    let dir = std::env::temp_dir().join(format!("takt-veth-udp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lcfg = UdpListenerConfig {
        bind: addr,
        duration_ns: 700_000_000,
        report_json: Some(dir.join("l.json")),
        hist_log: Some(dir.join("l.hlog")),
    };
    let s2 = schedule.clone();
    let listener = thread::spawn(move || udp_listener::run(&s2, &lcfg).unwrap());
    thread::sleep(std::time::Duration::from_millis(100));
    let tcfg = UdpTalkerConfig {
        dest: addr,
        duration_ns: 300_000_000,
        report_json: Some(dir.join("t.json")),
        hist_log: None,
    };
    let sent = udp_talker::run(&schedule, &tcfg).unwrap();
    let got = listener.join().unwrap();
    let (s, r) = (&sent.streams[0], &got.streams[0]);
    assert!(
        s.frames_sent >= 250,
        "{} sent in 300 ms of 1 ms cycles",
        s.frames_sent
    );
    assert_eq!(r.frames_received, s.frames_sent);
    assert_eq!((r.duplicates, r.reordered), (0, 0));
    let lat = &r.latency_ns;
    assert_eq!(lat.count(), s.frames_sent);
    // One host, one clock: the kernel stamp comes after the send stamp.
    assert!(lat.min().unwrap() > 0, "min {:?}", lat.min());
    assert!(lat.max().unwrap() < 1_000_000_000, "max {:?}", lat.max());
    // The reports are takt's JSON layout.
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("l.json")).unwrap()).unwrap();
    assert_eq!(j["backend"], "udp");
    assert_eq!(j["total"]["frames_received"].as_u64(), Some(s.frames_sent));
    let t = takt_veth_bench::percentiles::table(&dir.join("l.hlog"), "latency").unwrap();
    assert_eq!(t.count, s.frames_sent);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn udp_flood_on_loopback() {
    let addr = free_port();
    let rx = thread::spawn(move || flood_udp::rx(addr, 3.0, 32, 200_000_000).unwrap());
    thread::sleep(std::time::Duration::from_millis(100));
    let tx = flood_udp::tx(addr, 0.1, 32).unwrap();
    let rx = rx.join().unwrap();
    assert!(tx.frames > 0 && tx.pps > 0.0, "{tx:?}");
    assert!(
        rx.frames > 0 && rx.frames <= tx.frames,
        "{rx:?} after {tx:?}"
    );
    assert_eq!(rx.other_frames, 0);
}
