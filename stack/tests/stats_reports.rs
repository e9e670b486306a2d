//! RunStats totals, the JSON report's stable field names, the text table
//! and the progress line.

use serde_json::Value;
use takt_stack::stats::{
    json_report, text_report, write_progress_line, write_report_file, MetricKind, RunReport,
    RunStats, StatsError,
};

/// Two streams: "a" with tx errors and latencies, "b" with latencies only.
fn sample_run() -> RunStats {
    let mut run = RunStats::new(["a", "b"]);
    run.device = "sim:0".into();
    run.backend = "sim".into();
    run.clock = "tai".into();
    run.started_ns = 1_000_000_000;
    run.elapsed_ns = 2_500_000_000;
    run.cycles = 2500;
    let a = &mut run.streams[0];
    a.frames_sent = 1000;
    a.frames_received = 998;
    a.lost = 2;
    a.late = 1;
    for i in 0..1000 {
        a.tx_error_ns.record(i - 300); // -300 ..= 699
        a.latency_ns.record(10_000 + i); // 10 000 ..= 10 999
    }
    let b = &mut run.streams[1];
    b.frames_received = 500;
    b.duplicates = 3;
    b.reordered = 4;
    for i in 0..500 {
        b.latency_ns.record(20_000 + i);
    }
    run
}

#[test]
fn total_merges_counters_and_metrics() {
    let run = sample_run();
    let t = run.total();
    assert_eq!(t.name, "total");
    assert_eq!(t.frames_sent, 1000);
    assert_eq!(t.frames_received, 1498);
    assert_eq!((t.lost, t.duplicates, t.reordered, t.late), (2, 3, 4, 1));
    assert_eq!(t.latency_ns.count(), 1500);
    assert_eq!(t.latency_ns.min(), Some(10_000));
    assert_eq!(t.latency_ns.max(), Some(20_499));
    assert_eq!(t.tx_error_ns.count(), 1000);
    assert_eq!(t.tx_error_ns.min(), Some(-300));
    assert_eq!(run.stream("b").map(|s| s.duplicates), Some(3));
    assert_eq!(run.streams[0].metric(MetricKind::TxError).count(), 1000);
}

const SUMMARY_KEYS: [&str; 9] = [
    "min",
    "p50",
    "p90",
    "p99",
    "p999",
    "max",
    "mean",
    "count",
    "overflows",
];
const STREAM_KEYS: [&str; 9] = [
    "name",
    "frames_sent",
    "frames_received",
    "lost",
    "duplicates",
    "reordered",
    "late",
    "tx_error_ns",
    "latency_ns",
];

fn assert_stream_keys(v: &Value) {
    for k in STREAM_KEYS {
        assert!(v.get(k).is_some(), "missing {k} in {v}");
    }
    for metric in ["tx_error_ns", "latency_ns"] {
        for k in SUMMARY_KEYS {
            assert!(v[metric].get(k).is_some(), "missing {metric}.{k}");
        }
    }
}

#[test]
fn json_has_stable_field_names_and_matching_numbers() {
    let run = sample_run();
    let text = json_report(&run);
    let v: Value = serde_json::from_str(&text).expect("valid JSON");

    for k in [
        "report_version",
        "device",
        "backend",
        "clock",
        "started_ns",
        "elapsed_ns",
        "cycles",
        "streams",
        "total",
    ] {
        assert!(v.get(k).is_some(), "missing top-level {k}");
    }
    assert_eq!(v["report_version"], 1);
    assert_eq!(v["elapsed_ns"], 2_500_000_000u64);
    assert_eq!(v["cycles"], 2500);
    assert_eq!(v["device"], "sim:0");

    let streams = v["streams"].as_array().expect("streams array");
    assert_eq!(streams.len(), 2);
    for s in streams {
        assert_stream_keys(s);
    }
    assert_stream_keys(&v["total"]);

    let a = &streams[0];
    assert_eq!(a["name"], "a");
    assert_eq!(a["frames_sent"], 1000);
    assert_eq!(a["frames_received"], 998);
    assert_eq!(a["lost"], 2);
    assert_eq!(a["late"], 1);
    let tx = &a["tx_error_ns"];
    let exact_tx = run.streams[0].tx_error_ns.summary();
    assert_eq!(tx["min"], -300);
    assert_eq!(tx["max"], 699);
    assert_eq!(tx["count"], 1000);
    assert_eq!(tx["overflows"], 0);
    assert_eq!(tx["mean"], 199.5);
    assert_eq!(tx["p50"], exact_tx.p50.unwrap());
    assert_eq!(tx["p999"], exact_tx.p999.unwrap());
    assert_eq!(tx["p50"], 199); // values < 2048: exact

    // Stream b measured no tx error: nulls, count 0.
    let b_tx = &streams[1]["tx_error_ns"];
    assert!(b_tx["min"].is_null() && b_tx["p99"].is_null() && b_tx["mean"].is_null());
    assert_eq!(b_tx["count"], 0);

    let total = &v["total"];
    assert_eq!(total["name"], "total");
    assert_eq!(total["frames_received"], 1498);
    assert_eq!(total["latency_ns"]["count"], 1500);
    assert_eq!(total["latency_ns"]["min"], 10_000);
    assert_eq!(total["latency_ns"]["max"], 20_499);

    // The typed struct reads it back identically.
    let typed: RunReport = serde_json::from_str(&text).expect("RunReport");
    assert_eq!(typed, RunReport::from(&run));
}

#[test]
fn text_table_has_header_rows_and_units() {
    let run = sample_run();
    let t = text_report(&run);
    assert!(t.contains("microseconds (us)"), "{t}");
    assert!(t.contains("device sim:0 (sim)"), "{t}");
    assert!(t.contains("2500 cycles in 2.500 s"), "{t}");

    let lines: Vec<&str> = t.lines().collect();
    let row = |first: &str, after: &str| -> Vec<String> {
        let start = lines
            .iter()
            .position(|l| l.starts_with(after))
            .unwrap_or_else(|| panic!("no block {after} in\n{t}"));
        let line = lines[start..]
            .iter()
            .find(|l| l.split_whitespace().next() == Some(first))
            .unwrap_or_else(|| panic!("no row {first} after {after} in\n{t}"));
        line.split_whitespace().map(String::from).collect()
    };

    assert_eq!(
        row("a", "stream"),
        ["a", "1000", "998", "2", "0", "0", "1", "0"]
    );
    assert_eq!(
        row("b", "stream"),
        ["b", "0", "500", "0", "3", "4", "0", "0"]
    );
    assert_eq!(
        row("total", "stream"),
        ["total", "1000", "1498", "2", "3", "4", "1", "0"]
    );

    // tx_error block: min p50 p90 p99 p99.9 max mean count overflows.
    let a_tx = row("a", "tx_error (us)");
    assert_eq!(a_tx[1], "-0.300");
    assert_eq!(a_tx[2], "0.199");
    assert_eq!(a_tx[6], "0.699");
    assert_eq!(a_tx[8], "1000");
    assert_eq!(row("b", "tx_error (us)")[1], "-");
    let lat_total = row("total", "latency (us)");
    assert_eq!(lat_total[1], "10.000");
    assert_eq!(lat_total[6], "20.499");
    assert_eq!(lat_total[8], "1500");

    // Columns are aligned: every row of a block has the same length.
    let block: Vec<&&str> = lines
        .iter()
        .skip_while(|l| !l.starts_with("latency (us)"))
        .take(4)
        .collect();
    assert!(block.iter().all(|l| l.len() == block[0].len()), "{block:?}");
}

#[test]
fn text_table_leaves_out_unmeasured_metrics() {
    let mut run = RunStats::new(["talk"]);
    run.streams[0].frames_sent = 3;
    run.streams[0].tx_error_ns.record(1500);
    let t = text_report(&run);
    assert!(t.contains("tx_error (us)"));
    assert!(!t.contains("latency (us)"));
}

#[test]
fn progress_line_format() {
    let run = sample_run();
    // Latency measured: frames received, worst p99 (stream b), largest max.
    let p99_b = run.streams[1].latency_ns.value_at_quantile(0.99).unwrap();
    assert_eq!(p99_b, 20_495);
    assert_eq!(
        run.progress_line(),
        "frames 1498 lost 2 p99 20.5us max 20.5us"
    );

    let mut talker = RunStats::new(["t"]);
    talker.streams[0].frames_sent = 12_345;
    talker.streams[0].tx_error_ns.record(-1_250);
    talker.streams[0].tx_error_ns.record(45_640);
    assert_eq!(
        talker.progress_line(),
        "frames 12345 lost 0 p99 45.6us max 45.6us"
    );

    let mut s = String::new();
    write_progress_line(&mut s, 0, 0, None, Some(-40)).unwrap();
    assert_eq!(s, "frames 0 lost 0 p99 - max 0.0us");
    s.clear();
    write_progress_line(&mut s, 1, 0, Some(-1_250), Some(12_345)).unwrap();
    assert_eq!(s, "frames 1 lost 0 p99 -1.3us max 12.3us");
}

#[test]
fn report_file_errors_name_the_path() {
    let path = std::env::temp_dir().join("takt-no-such-dir/deeper/report.json");
    let err = write_report_file(&path, "{}").unwrap_err();
    assert!(matches!(err, StatsError::Io { .. }));
    let msg = err.to_string();
    assert!(msg.contains("takt-no-such-dir/deeper/report.json"), "{msg}");
}

/// The data-path thread's real-time set-up: an `rt` object in JSON (null
/// when none ran, read as null when absent) and one `rt:` line in the text.
#[test]
fn rt_report_in_json_and_text() {
    use takt_scheduler::rt::{Environment, RtReport};
    let mut run = sample_run();
    let v: Value = serde_json::from_str(&json_report(&run)).unwrap();
    assert!(v["rt"].is_null());
    assert!(!text_report(&run).contains("\nrt: "));

    run.rt = Some(RtReport {
        cpu: Some(1),
        fifo_priority: Some(80),
        memory_locked: true,
        dma_latency_held: true,
        env: Environment {
            cpu_isolated: Some(false),
            nohz_full: Some(false),
            rcu_nocbs: None,
            clocksource: Some("tsc".into()),
            preemption: Some("PREEMPT_DYNAMIC".into()),
            governor: None,
        },
        warnings: vec!["CPU 1 is not isolated".into()],
    });
    let text = json_report(&run);
    let v: Value = serde_json::from_str(&text).unwrap();
    let rt = &v["rt"];
    assert_eq!(rt["cpu"], 1);
    assert_eq!(rt["fifo_priority"], 80);
    assert_eq!(rt["memory_locked"], true);
    assert_eq!(rt["dma_latency_held"], true);
    assert_eq!(rt["cpu_isolated"], false);
    assert!(rt["rcu_nocbs"].is_null() && rt["governor"].is_null());
    assert_eq!(rt["preemption"], "PREEMPT_DYNAMIC");
    assert_eq!(rt["clocksource"], "tsc");
    assert_eq!(rt["warnings"][0], "CPU 1 is not isolated");
    let typed: RunReport = serde_json::from_str(&text).unwrap();
    assert_eq!(typed, RunReport::from(&run));

    // A report from before `rt` existed still reads.
    let mut old: Value = serde_json::from_str(&text).unwrap();
    old.as_object_mut().unwrap().remove("rt");
    let typed: RunReport = serde_json::from_value(old).unwrap();
    assert!(typed.rt.is_none());

    let table = text_report(&run);
    assert!(
        table.contains(
            "\nrt: pinned to CPU 1 (not isolated), SCHED_FIFO 80, memory locked, \
             cpu_dma_latency 0, PREEMPT_DYNAMIC, clocksource tsc, governor -\n"
        ),
        "{table}"
    );
}

#[test]
fn control_refusals_by_reason_in_json_and_text() {
    use takt_stack::control::refusal::{Refusal, Refusals};
    let mut run = sample_run();
    let mut refused = Refusals::default();
    refused.count(Refusal::Unsigned);
    refused.count(Refusal::Unsigned);
    refused.count(Refusal::Replayed);
    run.control = Some(takt_stack::stats::ControlReport {
        address: "10.77.0.1/24".into(),
        replies_expired: 3,
        refused,
        ..Default::default()
    });
    let text = text_report(&run);
    assert!(
        text.contains("replies expired 3; refused: unsigned 2, replayed 1\n"),
        "{text}"
    );
    let v: Value = serde_json::from_str(&json_report(&run)).unwrap();
    assert_eq!(v["control"]["refused"]["unsigned"], 2);
    assert_eq!(v["control"]["refused"]["replayed"], 1);
    assert_eq!(v["control"]["refused"]["not_allowed"], 0);
    assert_eq!(v["control"]["replies_expired"], 3);
}

#[test]
fn truncated_receives_are_in_the_device_line_and_the_json() {
    let mut run = sample_run();
    run.device_counters = Some(takt_drivers::Counters {
        rx_frames: 10,
        rx_truncated: 3,
        ..Default::default()
    });
    assert!(
        text_report(&run).contains("rx drops 0, rx truncated 3,"),
        "{}",
        text_report(&run)
    );
    let text = json_report(&run);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["device_counters"]["rx_truncated"], 3);
    // A report from before it existed reads it as 0.
    let mut old = v.clone();
    old["device_counters"]
        .as_object_mut()
        .unwrap()
        .remove("rx_truncated");
    let typed: RunReport = serde_json::from_value(old).unwrap();
    assert_eq!(typed.device_counters.unwrap().rx_truncated, 0);
}
