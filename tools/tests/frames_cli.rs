//! `--frames-log` and `takt frames` as users run them: a log written
//! through the API read back by the binary (CSV, printf, --summary, a cut
//! file, bad input), and a loopback run's log against its own report.

mod common;

use std::process::Output;
use std::time::Duration;

use common::{assert_no_panic, example, spawn, text, wait_at_most, TempDir};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use takt_stack::frames::{
    FrameRecord, FramesHeader, FramesLog, LogEnd, RecordKind, Stage, FLAG_COUNTED, FLAG_DUPLICATE,
    FLAG_LATE, FLAG_UNSYNCED,
};
use takt_stack::stats::Metric;

const TAKT: &str = env!("CARGO_BIN_EXE_takt");

/// A run busy-polls one CPU and pins its talker to another: two at once on
/// a small machine starve each other's talker and its frames go late. The
/// tests that run one take the CPUs for themselves.
static CPUS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn cpus_alone() -> std::sync::MutexGuard<'static, ()> {
    CPUS.lock().unwrap_or_else(|e| e.into_inner())
}

fn takt(args: &[&str]) -> Output {
    common::run(TAKT, args)
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", text(&out.stdout)))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// A log of 2 streams: per frame a tx record and an rx record with known
/// stage times; every 10th tx is late (no rx), every 7th rx unsynced, one
/// duplicate.
fn write_log(path: &str) -> (Vec<FrameRecord>, [Metric; 2], [Metric; 2]) {
    let header = FramesHeader {
        end: LogEnd::Loopback,
        clock: "tai".into(),
        rx_stamps: "simulated".into(),
        tx_stamps: "simulated".into(),
        device: "sim:a -> sim:b".into(),
        streams: vec!["ctl".into(), "cam, \"hd\"".into()],
        created_ns: 1,
        created_unix_ns: 2,
    };
    let mut log = FramesLog::create(path.as_ref(), &header, 1 << 12).unwrap();
    let mut recs = Vec::new();
    let mut tx_err = [Metric::new(), Metric::new()];
    let mut wire = [Metric::new(), Metric::new()];
    for i in 0..1000u64 {
        let stream = (i % 2) as u16;
        let s = 1_000_000 * i + 100_000;
        let mut tx = FrameRecord::new(RecordKind::Tx, stream, i / 2);
        tx.set(Stage::Scheduled, s);
        if i % 10 == 3 {
            tx.flags = FLAG_LATE;
            recs.push(tx);
            continue;
        }
        tx.flags = FLAG_COUNTED;
        tx.set(Stage::Wake, s - 20_000 + i);
        let h = s + (i * 37) % 5000;
        tx.set(Stage::HandOver, h);
        tx_err[stream as usize].record((h - s) as i64);
        recs.push(tx);
        let mut rx = FrameRecord::new(RecordKind::Rx, stream, i / 2);
        rx.flags = FLAG_COUNTED;
        rx.set(Stage::Scheduled, s);
        rx.set(Stage::HandOver, h);
        let r = h + 10_000 + (i * 101) % 90_000;
        rx.set(Stage::RxStamp, r);
        rx.set(Stage::App, r + 3_000);
        if i % 7 == 0 {
            rx.flags |= FLAG_UNSYNCED;
        } else {
            wire[stream as usize].record((r - h) as i64);
        }
        recs.push(rx);
        if i == 500 {
            rx.flags = FLAG_DUPLICATE;
            recs.push(rx);
        }
    }
    for r in &recs {
        assert!(log.push(r), "the ring holds them all");
    }
    let t = log.finish().unwrap();
    assert_eq!((t.written, t.dropped), (recs.len() as u64, 0));
    (recs, tx_err, wire)
}

#[test]
fn takt_frames_prints_one_csv_row_per_record_and_printf_lines() {
    let dir = TempDir::new("frames-csv");
    let path = dir.file("a.frames");
    let (recs, _, _) = write_log(&path);
    let out = takt(&["frames", &path]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "kind,stream,seq,flags,S,W,H,T,R,A,tx_error,wake_error,driver,wire,pickup,end_to_end,rtt,rtt_device"
    );
    assert_eq!(lines.len() - 1, recs.len());
    // Record 0: tx of ctl, seq 0; record 1 its rx (unsynced: i = 0).
    assert_eq!(
        lines[1],
        "tx,ctl,0,counted,100000,80000,100000,,,,0,-20000,,,,,,"
    );
    assert_eq!(
        lines[2],
        "rx,ctl,0,counted+unsynced,100000,,100000,,110000,113000,,,,10000,3000,13000,,"
    );
    // A name with a comma and quotes is quoted; a late frame has only S.
    assert!(
        lines.contains(&"tx,\"cam, \"\"hd\"\"\",1,late,3100000,,,,,,,,,,,,,"),
        "{csv}"
    );

    let out = takt(&[
        "frames",
        &path,
        "--printf-format",
        r"%k %s %q %d{A-S} %{wire}\n",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(lines.len(), recs.len());
    assert_eq!(lines[0], "tx ctl 0 - -");
    assert_eq!(lines[1], "rx ctl 0 13000 10000");
}

#[test]
fn takt_frames_summary_recomputes_the_histograms() {
    let dir = TempDir::new("frames-summary");
    let path = dir.file("a.frames");
    let (recs, tx_err, wire) = write_log(&path);
    let out = takt(&["frames", &path, "--summary", "--report", "json"]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json(&out);
    assert_eq!(u(&doc["records"]), recs.len() as u64);
    assert_eq!(doc["complete"], true);
    assert_eq!(doc["end"], "loopback");
    for (i, name) in ["ctl", "cam, \"hd\""].iter().enumerate() {
        let s = &doc["streams"][i];
        assert_eq!(s["name"], *name);
        let tx = serde_json::to_value(tx_err[i].summary()).unwrap();
        let w = serde_json::to_value(wire[i].summary()).unwrap();
        assert_eq!(s["tx_error_ns"], tx, "{name}");
        for (k, v) in tx.as_object().unwrap() {
            assert_eq!(&s["stages"]["tx_error"][k], v, "{name}.stages.tx_error.{k}");
        }
        assert_eq!(s["stages"]["wire"]["from"], "H");
        assert_eq!(s["stages"]["wire"]["source"], "simulated");
        assert_eq!(s["latency_ns"], w, "{name}");
        assert_eq!(s["stages"]["wire"]["p99"], w["p99"], "{name}");
        // Every 10th frame (odd: all on the second stream) was late.
        assert_eq!(u(&s["late"]), [0, 100][i]);
        assert_eq!(u(&s["frames_sent"]), [500, 400][i]);
    }
    assert_eq!(u(&doc["total"]["duplicates"]), 1);
    assert_eq!(u(&doc["total"]["frames_received"]), 900);
    // Every 7th rx is unsynced: 1000/7 rounded up, less the late ones.
    let unsynced = (0..1000u64).filter(|i| i % 7 == 0 && i % 10 != 3).count() as u64;
    assert_eq!(u(&doc["total"]["latency_unsynced_ns"]["count"]), unsynced);
    assert_eq!(u(&doc["total"]["stages"]["pickup"]["count"]), 900);
    assert_eq!(u(&doc["total"]["rogue"]), 0);

    let out = takt(&["frames", &path, "--summary"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(
        t.contains("records (complete; 0 dropped by the run)"),
        "{t}"
    );
    assert!(t.contains("\nwire (us)"), "{t}");
    assert!(t.contains("\ntx_error (us)"), "{t}");
}

#[test]
fn a_cut_file_is_read_up_to_its_last_whole_record() {
    let dir = TempDir::new("frames-cut");
    let path = dir.file("a.frames");
    let (recs, _, _) = write_log(&path);
    let bytes = std::fs::read(&path).unwrap();
    // Drop the trailer and half of the last record.
    let cut = dir.file("cut.frames");
    std::fs::write(&cut, &bytes[..bytes.len() - 64 - 32]).unwrap();
    let out = takt(&["frames", &cut]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count() - 1, recs.len() - 1);
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "cut short (no trailer: the run did not finish it): {} whole records read, 32 bytes",
            recs.len() - 1
        )),
        "{err}"
    );
    let out = takt(&["frames", &cut, "--summary", "--report", "json"]);
    let doc = json(&out);
    assert_eq!(doc["complete"], false);
    assert_eq!(doc["dropped"], Value::Null);
}

#[test]
fn bad_input_exits_2_with_what_to_change() {
    let dir = TempDir::new("frames-bad");
    let path = dir.file("a.frames");
    write_log(&path);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![dir.file("none.frames")],
            "no such file (write one with --frames-log FILE",
        ),
        (
            vec![example("two-class-250us.toml")],
            "not a takt frames log",
        ),
        (
            vec![path.clone(), "--printf-format".into(), "%Q".into()],
            "--printf-format: unknown conversion %Q",
        ),
        (
            vec![path.clone(), "--report".into(), "json".into()],
            "--summary",
        ),
    ];
    for (args, says) in cases {
        let mut a = vec!["frames"];
        a.extend(args.iter().map(String::as_str));
        let out = takt(&a);
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(2), "{a:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{a:?}: {}",
            text(&out.stderr)
        );
    }
    // A record naming a stream the header does not list: 2, after the
    // records before it.
    let mut bytes = std::fs::read(&path).unwrap();
    let head = bytes.len() - 64 * (1 + 1901);
    bytes[head + 64 * 5 + 4] = 9;
    let bad = dir.write("bad.frames", "");
    std::fs::write(&bad, &bytes).unwrap();
    let out = takt(&["frames", &bad]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout).lines().count(), 1 + 5);
    assert!(
        text(&out.stderr).contains("record 5"),
        "{}",
        text(&out.stderr)
    );
}

fn rows_of(csv: &str, kind: &str, stream: &str) -> Vec<Vec<String>> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect::<Vec<_>>())
        .filter(|c| c[0] == kind && c[1] == stream)
        .collect()
}

/// NEEDS the data path's pushes (talker.rs / listener.rs, issue 14): on a
/// branch without them the log has no records and this fails.
#[test]
fn a_loopback_runs_frames_log_gives_back_its_report() {
    let _cpus = cpus_alone();
    let dir = TempDir::new("frames-loopback");
    let path = dir.file("run.frames");
    let out = takt(&[
        "loopback",
        &example("two-class-250us.toml"),
        "--cycles",
        "2000",
        "--frames-log",
        &path,
        "--report",
        "json",
        "-q",
    ]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json(&out);
    let written = u(&report["frames_log"]["written"]);
    assert_eq!(
        u(&report["frames_log"]["dropped"]),
        0,
        "{}",
        report["frames_log"]
    );
    assert_eq!(report["frames_log"]["path"], path.as_str());
    let sent = u(&report["total"]["frames_sent"]);
    assert!(sent > 0, "{report}");
    assert!(written >= sent, "{written} records for {sent} frames sent");

    let out = takt(&["frames", &path, "--summary", "--report", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary = json(&out);
    assert_eq!(u(&summary["records"]), written);
    for run in report["streams"].as_array().unwrap() {
        let name = run["name"].as_str().unwrap();
        let rec = summary["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no stream {name} in {summary}"));
        for key in [
            "frames_sent",
            "frames_received",
            "late",
            "duplicates",
            "unsynced",
        ] {
            assert_eq!(rec[key], run[key], "{name}.{key}");
        }
        for key in ["tx_error_ns", "latency_ns", "latency_unsynced_ns"] {
            assert_eq!(rec[key], run[key], "{name}.{key}");
        }
        // The stages the run's report has (issue 14's stages part): the
        // same stages, stamp source and numbers.
        if let Some(stages) = run["stages"].as_object() {
            for (k, v) in stages {
                for (field, want) in v.as_object().expect("a stage object") {
                    assert_eq!(&rec["stages"][k][field], want, "{name}.stages.{k}.{field}");
                }
            }
        }
    }
    // One CSV row per frame: tx rows that were sent, rx rows received.
    let csv = text(&takt(&["frames", &path]).stdout);
    assert_eq!(csv.lines().count() as u64 - 1, written);
    for run in report["streams"].as_array().unwrap() {
        let name = run["name"].as_str().unwrap();
        let tx = rows_of(&csv, "tx", name);
        let sent = tx.iter().filter(|c| !c[3].contains("late")).count() as u64;
        assert_eq!(sent, u(&run["frames_sent"]), "{name}");
        assert_eq!(tx.len() as u64 - sent, u(&run["late"]), "{name}");
        let rx = rows_of(&csv, "rx", name);
        let got = rx.iter().filter(|c| c[3].contains("counted")).count() as u64;
        assert_eq!(got, u(&run["frames_received"]), "{name}");
    }
}

/// Ctrl-C ends a run with its frames log finished: a trailer, and as many
/// records as the report says.
#[test]
fn sigint_still_finishes_the_frames_log() {
    let _cpus = cpus_alone();
    let dir = TempDir::new("frames-sigint");
    let path = dir.file("run.frames");
    let child = spawn(
        TAKT,
        &[
            "loopback",
            &example("two-class-250us.toml"),
            "--frames-log",
            &path,
            "--report",
            "json",
            "-q",
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("send SIGINT");
    let out = wait_at_most(child, Duration::from_secs(10));
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json(&out);
    let out = takt(&["frames", &path, "--summary", "--report", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary = json(&out);
    assert_eq!(summary["complete"], true, "{summary}");
    assert_eq!(summary["records"], report["frames_log"]["written"]);
    assert_eq!(summary["dropped"], report["frames_log"]["dropped"]);
}

/// takt-talker's and takt-listener's run path (`run_on`, on the two ends of
/// the simulated wire): each writes its own end's log, finished, with the
/// device's stamp sources in the header, and says so in its report.
#[test]
fn talker_and_listener_runs_write_their_own_ends_logs() {
    use takt_drivers::sim::{self, SimClock, SimConfig};
    use takt_scheduler::ClockId;
    use takt_stack::frames::{Ending, FramesLogConfig, FramesReader};
    use takt_stack::plan::Until;
    use takt_stack::progress::Progress;
    use takt_stack::talker::TalkerOptions;
    use takt_tools::listener::{self, ListenerConfig};
    use takt_tools::talker::{self, TalkerConfig};

    let _cpus = cpus_alone();
    let dir = TempDir::new("frames-ends");
    let schedule = takt_scheduler::config::load_file(example("two-class-250us.toml").as_ref())
        .unwrap()
        .schedule;
    let (mut a, mut b, _link) = sim::pair(SimConfig {
        speed_bps: schedule.link().speed_bps,
        propagation_ns: 500,
        clock: SimClock::Real(ClockId::Tai.to_nix()),
        pool_size: 4096,
        buf_size: 2048,
        wire_capacity: 4096,
        ..SimConfig::default()
    });
    let (tx_path, rx_path) = (dir.file("tx.frames"), dir.file("rx.frames"));
    let rx_cfg = ListenerConfig {
        until: Until::Cycles(200),
        drain_ns: 200_000_000,
        backend: "sim".into(),
        frames_log: Some(FramesLogConfig::new(&rx_path)),
        ..ListenerConfig::default()
    };
    let tx_cfg = TalkerConfig {
        talker: TalkerOptions {
            advance_ns: Some(takt_stack::loopback::SIM_ADVANCE_NS),
            until: Until::Cycles(200),
            ..TalkerOptions::default()
        },
        backend: "sim".into(),
        frames_log: Some(FramesLogConfig::new(&tx_path)),
        ..TalkerConfig::default()
    };
    let (p, q) = (Progress::default(), Progress::default());
    let (tx, rx) = std::thread::scope(|s| {
        let rx = s.spawn(|| listener::run_on(&mut b, &schedule, &rx_cfg, &q));
        let tx = talker::run_on(&mut a, &schedule, &tx_cfg, &p);
        (tx, rx.join().expect("listener thread"))
    });
    let (tx, rx) = (tx.expect("talker run"), rx.expect("listener run"));
    for (stats, path, end) in [
        (&tx.stats, &tx_path, "talker"),
        (&rx.stats, &rx_path, "listener"),
    ] {
        let f = stats.frames_log.as_ref().expect("frames_log in the report");
        assert_eq!((f.path.as_str(), f.error.as_deref()), (path.as_str(), None));
        assert_eq!(f.dropped, 0);
        let mut r = FramesReader::open(path.as_ref()).unwrap();
        assert_eq!(r.header().end.as_str(), end);
        assert_eq!(r.header().clock, "tai");
        assert_eq!(r.header().rx_stamps, "simulated");
        let names: Vec<&str> = schedule.streams().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(r.header().streams, names);
        while r.next_record().unwrap().is_some() {}
        assert_eq!(r.records_read(), f.written);
        assert!(matches!(r.ending(), Some(Ending::Complete(_))), "{end}");
    }
}

/// A frames log whose drain stalls (a FIFO whose reader never reads: a
/// full pipe) loses records, never the run: the data path goes on
/// unslowed (no frame late, every frame received), the run ends with the
/// report, and every record is written or counted dropped.
#[test]
fn a_stalled_frames_log_drops_records_and_leaves_the_run_alone() {
    let _cpus = cpus_alone();
    let dir = TempDir::new("frames-stall");
    let fifo = dir.file("stalled.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo (coreutils) runs");
    assert!(made.success(), "mkfifo {fifo}");
    // Opens the FIFO for reading (so the writer's open goes through) and
    // never reads from it.
    let mut reader = std::process::Command::new("sh")
        .args(["-c", &format!("exec 3<'{fifo}'; sleep 60")])
        .spawn()
        .expect("sh runs");
    let out = takt(&[
        "loopback",
        &example("two-class-250us.toml"),
        "--cycles",
        "4000",
        "--frames-log",
        &fifo,
        "--frames-log-records",
        "1024",
        "--report",
        "json",
        "-q",
    ]);
    let _ = reader.kill();
    let _ = reader.wait();
    assert_no_panic(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an incomplete log is a runtime failure: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("took nothing"),
        "{}",
        text(&out.stderr)
    );
    let r = json(&out);
    let f = &r["frames_log"];
    let (written, dropped) = (u(&f["written"]), u(&f["dropped"]));
    let streams = r["streams"].as_array().unwrap();
    let sent: u64 = streams.iter().map(|s| u(&s["frames_sent"])).sum();
    let received: u64 = streams.iter().map(|s| u(&s["frames_received"])).sum();
    let late: u64 = streams.iter().map(|s| u(&s["late"])).sum();
    assert!(dropped > 0, "a pipe nobody reads drops records: {f}");
    assert_eq!(
        written + dropped,
        sent + received + late,
        "every record written or counted: {f}"
    );
    assert_eq!(received, sent, "the data path lost nothing: {r}");
    assert!(sent > 0);
}
