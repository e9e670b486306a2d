//! The report's `ports` and `frer` parts (docs/reports.md): every field in
//! the JSON (read back) and in the text report.

use serde_json::Value;
use takt_scheduler::redundancy::{FrerParams, RecoveryAlgorithm};
use takt_stack::frer::RecoveryCounters;
use takt_stack::stats::{
    json_report, text_report, FrerMemberReport, FrerReport, FrerStreamReport, Metric, PortReport,
    RunReport, RunStats,
};

fn counters(base: u64) -> RecoveryCounters {
    RecoveryCounters {
        passed: base,
        discarded: base + 1,
        out_of_order: base + 2,
        rogue: base + 3,
        lost: base + 4,
        tagless: base + 5,
        resets: base + 6,
        latent_errors: base + 7,
        latent_error_resets: base + 8,
    }
}

fn device(tx: u64) -> takt_drivers::Counters {
    takt_drivers::Counters {
        tx_frames: tx,
        rx_frames: tx + 1,
        tx_drops: tx + 2,
        rx_drops: tx + 3,
        link_down: tx + 4,
        rx_truncated: tx + 5,
        ..Default::default()
    }
}

/// A listener over two ports with one replicated stream "ctl" whose path
/// b is 5 us slower than path a.
fn listener_run() -> RunStats {
    let mut run = RunStats::new(["ctl"]);
    run.device = "packet:vA1".into();
    run.backend = "packet".into();
    run.ports = vec![
        PortReport {
            device: "packet:vA1".into(),
            counters: device(100),
        },
        PortReport {
            device: "packet:vB1".into(),
            counters: device(200),
        },
    ];
    let latency = |base: i64| {
        let mut m = Metric::new();
        for i in 0..100 {
            m.record(base + i);
        }
        m
    };
    run.frer = Some(FrerReport {
        params: FrerParams {
            algorithm: RecoveryAlgorithm::Match,
            history_length: 1024,
            reset_timeout_ns: 250_000_000,
            individual_recovery: true,
            take_no_sequence: true,
            latent_error_detection: true,
            latent_error_difference: 3,
            latent_error_period_ns: 2_000_000_000,
            latent_reset_period_ns: 30_000_000_000,
        },
        streams: vec![FrerStreamReport {
            stream: "ctl".into(),
            generated: None,
            recovery: Some(counters(1000)),
            members: vec![
                FrerMemberReport {
                    port: 0,
                    device: "packet:vA1".into(),
                    sent: None,
                    dropped: None,
                    recovery: Some(counters(10)),
                    latency_ns: Some(latency(10_000)),
                },
                FrerMemberReport {
                    port: 1,
                    device: "packet:vB1".into(),
                    sent: None,
                    dropped: None,
                    recovery: Some(counters(20)),
                    latency_ns: Some(latency(15_000)),
                },
            ],
        }],
    });
    run
}

fn assert_recovery(v: &Value, base: u64) {
    let keys = [
        "passed",
        "discarded",
        "out_of_order",
        "rogue",
        "lost",
        "tagless",
        "resets",
        "latent_errors",
        "latent_error_resets",
    ];
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(v[k], base + i as u64, "recovery.{k} in {v}");
    }
}

#[test]
fn json_has_ports_and_every_frer_field() {
    let run = listener_run();
    let text = json_report(&run);
    let v: Value = serde_json::from_str(&text).unwrap();
    // Adding fields keeps the layout version.
    assert_eq!(v["report_version"], 1);

    let ports = v["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 2);
    assert_eq!(ports[1]["device"], "packet:vB1");
    let c = &ports[1]["counters"];
    assert_eq!(c["tx_frames"], 200);
    assert_eq!(c["rx_frames"], 201);
    assert_eq!(c["tx_drops"], 202);
    assert_eq!(c["rx_drops"], 203);
    assert_eq!(c["link_down"], 204);
    assert_eq!(c["rx_truncated"], 205);
    // The same fields as device_counters.
    let mut keys: Vec<_> = c.as_object().unwrap().keys().cloned().collect();
    let mut want: Vec<_> = serde_json::to_value(takt_stack::stats::DeviceCountersReport::from(
        &takt_drivers::Counters::default(),
    ))
    .unwrap()
    .as_object()
    .unwrap()
    .keys()
    .cloned()
    .collect();
    keys.sort();
    want.sort();
    assert_eq!(keys, want);

    let f = &v["frer"];
    let p = &f["params"];
    assert_eq!(p["algorithm"], "match");
    assert_eq!(p["history_length"], 1024);
    assert_eq!(p["reset_timeout_ns"], 250_000_000u64);
    assert_eq!(p["individual_recovery"], true);
    assert_eq!(p["take_no_sequence"], true);
    assert_eq!(p["latent_error_detection"], true);
    assert_eq!(p["latent_error_difference"], 3);
    assert_eq!(p["latent_error_period_ns"], 2_000_000_000u64);
    assert_eq!(p["latent_reset_period_ns"], 30_000_000_000u64);

    let s = &f["streams"][0];
    assert_eq!(s["stream"], "ctl");
    assert!(s.get("generated").is_none(), "a listener generates nothing");
    assert_recovery(&s["recovery"], 1000);
    let members = s["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    let b = &members[1];
    assert_eq!(b["port"], 1);
    assert_eq!(b["device"], "packet:vB1");
    assert!(b.get("sent").is_none() && b.get("dropped").is_none());
    assert_recovery(&b["recovery"], 20);
    assert_eq!(b["latency"]["min"], 15_000);
    assert_eq!(b["latency"]["max"], 15_099);
    assert_eq!(b["latency"]["count"], 100);
    assert_eq!(members[0]["latency"]["max"], 10_099);

    // And it reads back into the same document.
    let back: RunReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back, RunReport::from(&run));
}

#[test]
fn json_talker_side_and_one_port() {
    let mut run = listener_run();
    run.ports.truncate(1);
    let f = run.frer.as_mut().unwrap();
    f.params = FrerParams::default();
    let s = &mut f.streams[0];
    s.generated = Some(5000);
    s.recovery = None;
    for (i, m) in s.members.iter_mut().enumerate() {
        m.sent = Some(5000 - i as u64);
        m.dropped = Some(i as u64);
        m.recovery = None;
        m.latency_ns = None;
    }
    let v: Value = serde_json::from_str(&json_report(&run)).unwrap();
    assert!(
        v.get("ports").is_none(),
        "one port: device_counters says it"
    );
    let s = &v["frer"]["streams"][0];
    assert_eq!(s["generated"], 5000);
    assert!(s.get("recovery").is_none());
    assert_eq!(s["members"][1]["sent"], 4999);
    assert_eq!(s["members"][1]["dropped"], 1);
    assert!(s["members"][1].get("latency").is_none());
    assert_eq!(v["frer"]["params"]["algorithm"], "vector");
    assert_eq!(v["frer"]["params"]["history_length"], 32);

    let plain = RunStats::new(["x"]);
    let v: Value = serde_json::from_str(&json_report(&plain)).unwrap();
    assert!(v.get("ports").is_none() && v.get("frer").is_none());
}

/// The row of `text` whose first cell is `first`, split on whitespace.
fn row<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
    text.lines()
        .find(|l| l.starts_with(first))
        .unwrap_or_else(|| panic!("no row {first:?} in:\n{text}"))
        .strip_prefix(first)
        .unwrap()
        .split_whitespace()
        .collect()
}

/// The text from the `frer:` line on.
fn frer_block(text: &str) -> &str {
    let at = text.find("\nfrer: ").expect("a frer block");
    &text[at + 1..]
}

#[test]
fn text_has_ports_and_frer_blocks() {
    let text = text_report(&listener_run());
    assert_eq!(
        row(&text, "port 1"),
        ["packet:vB1", "200", "201", "202", "203", "204"]
    );
    assert!(text.contains(
        "frer: match recovery, history 1024, reset timeout 250ms, individual recovery on, take no sequence on, latent error detection on (difference 3, period 2s, reset period 30s)"
    ), "{text}");
    let head = row(&text, "frer ");
    assert_eq!(head[0], "device");
    assert!(head.contains(&"out_of_order") && head.contains(&"latent_resets"));
    assert_eq!(
        row(frer_block(&text), "ctl"),
        [
            "-", "-", "-", "1000", "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008",
            "-", "-", "-"
        ]
    );
    let b = row(&text, "  port 1");
    assert_eq!(&b[..4], ["packet:vB1", "-", "-", "20"]);
    assert_eq!(b[11], "28");
    // p50, p99, max of path b's latency, us.
    assert_eq!(b[12..].len(), 3);
    assert!(b[12].starts_with("15.0"), "{b:?}");
    assert_eq!(b[14], "15.099");
    assert_eq!(row(&text, "  port 0")[14], "10.099");
}

#[test]
fn text_talker_side() {
    let mut run = listener_run();
    run.ports.clear();
    let s = &mut run.frer.as_mut().unwrap().streams[0];
    s.generated = Some(5000);
    s.recovery = None;
    s.members[1].sent = Some(4990);
    s.members[1].dropped = Some(10);
    s.members[1].recovery = None;
    s.members[1].latency_ns = None;
    let text = text_report(&run);
    assert!(
        !text.contains("\nports "),
        "no ports block for one port:\n{text}"
    );
    assert_eq!(row(frer_block(&text), "ctl")[..3], ["-", "5000", "-"]);
    let b = row(&text, "  port 1");
    assert_eq!(b[..3], ["packet:vB1", "4990", "10"]);
    assert!(b[3..].iter().all(|c| *c == "-"), "{b:?}");
}
