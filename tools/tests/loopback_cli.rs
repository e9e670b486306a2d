//! `takt loopback` as users run it: the real binary on the example
//! schedules — what the report says, overbooking, Ctrl-C/SIGTERM, and a
//! quiet stderr when it is not a terminal.

mod common;

use std::process::Output;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use common::{assert_no_panic, example, spawn, text, wait_at_most, TempDir};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

const TAKT: &str = env!("CARGO_BIN_EXE_takt");

fn takt(args: &[&str]) -> Output {
    common::run(TAKT, args)
}

/// Every loopback run busy-polls one CPU and pins its talker to another;
/// on a small machine two runs at once starve each other's talker, and
/// frames go late. Tests that count on timing take the CPUs for
/// themselves; the others may share them.
static CPUS: RwLock<()> = RwLock::new(());

fn cpus_alone() -> RwLockWriteGuard<'static, ()> {
    CPUS.write().unwrap_or_else(|e| e.into_inner())
}

fn cpus_shared() -> RwLockReadGuard<'static, ()> {
    CPUS.read().unwrap_or_else(|e| e.into_inner())
}

/// `value` equals `exact` at the 3 significant figures of the report's
/// percentiles (docs/reports.md): a percentile is the highest value of its
/// histogram bin, and bins are at most 1/1024 of their value wide.
fn assert_at_precision(value: i64, exact: i64, what: &str) {
    assert!(
        (exact..=exact + exact / 1000).contains(&value),
        "{what}: {value} is not {exact} at 3 significant figures"
    );
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", text(&out.stdout)))
}

/// The report's entry for stream `name`.
fn stream<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["streams"]
        .as_array()
        .expect("streams array")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stream {name} in {report}"))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an i64: {v}"))
}

#[test]
fn report_counts_every_frame_and_latency_is_the_wire_time() {
    const CYCLES: u64 = 2000;
    const PROPAGATION_NS: u64 = 500;
    let _cpus = cpus_alone();
    let file = example("two-class-250us.toml");
    let check = takt(&["check", "--json", &file]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    let schedule = json(&check);
    let speed_bps = u(&schedule["link"]["speed_bps"]);

    let out = takt(&[
        "loopback",
        &file,
        "--cycles",
        &CYCLES.to_string(),
        "--propagation",
        "500ns",
        "--report",
        "json",
        "-q",
    ]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json(&out);
    assert_eq!(u(&report["cycles"]), CYCLES);
    assert_eq!(report["backend"], "sim");
    assert_eq!(report["clock"], "tai");

    let streams = schedule["streams"].as_array().expect("streams");
    assert_eq!(streams.len(), 3);
    for s in streams {
        let name = s["name"].as_str().expect("name");
        let r = stream(&report, name);
        let per_cycle = u(&s["frames_per_cycle"]);
        assert_eq!(
            u(&r["frames_sent"]) + u(&r["late"]),
            CYCLES * per_cycle,
            "{name}: {r}"
        );
        assert_eq!(u(&r["frames_received"]), u(&r["frames_sent"]), "{name}");
        for counter in ["lost", "duplicates", "reordered"] {
            assert_eq!(u(&r[counter]), 0, "{name}: {counter} in {r}");
        }
        // Preamble + SFD + frame (FCS included) at link speed, plus the cable.
        let serialization = ((u(&s["frame_size"]) + 8) * 8 * 1_000_000_000).div_ceil(speed_bps);
        let expected = (serialization + PROPAGATION_NS) as i64;
        // min is exact; p50 is exact where the histogram resolves single
        // ns (< 2048 ns), else within its bin.
        assert_eq!(i(&r["latency_ns"]["min"]), expected, "{name}: {r}");
        let p50 = i(&r["latency_ns"]["p50"]);
        assert_at_precision(p50, expected, &format!("{name} latency p50"));
        if expected < 2048 {
            assert_eq!(p50, expected, "{name}: {r}");
        }
        assert!(
            r["tx_error_ns"]["p50"].is_i64() && r["tx_error_ns"]["max"].is_i64(),
            "{name}: {r}"
        );
    }
    let total = &report["total"];
    assert_eq!(total["frames_sent"], total["frames_received"]);
}

#[test]
fn overbooked_schedule_runs_only_when_allowed_and_shows_it() {
    let _cpus = cpus_alone();
    let file = example("overbooked.toml");

    let refused = takt(&["loopback", &file, "--cycles", "10", "-q"]);
    assert_no_panic(&refused);
    assert_eq!(refused.status.code(), Some(2));
    let err = text(&refused.stderr);
    assert!(
        err.contains(&format!("{file}:")) && err.contains(": error: "),
        "{err}"
    );
    assert_eq!(text(&refused.stdout), "");

    let out = takt(&[
        "loopback",
        &file,
        "--allow-overbooking",
        "--cycles",
        "500",
        "--report",
        "json",
        "-q",
    ]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json(&out);
    let burst = stream(&report, "burst");
    // The 4th frame of every cycle cannot leave before the gate closes
    // (and a stalled talker may lose more).
    assert!(u(&burst["late"]) >= 500, "{burst}");
    assert_eq!(u(&burst["frames_sent"]) + u(&burst["late"]), 4 * 500);
    assert_eq!(burst["frames_received"], burst["frames_sent"]);
    assert_eq!(u(&burst["lost"]), 0);
    // Frames queue behind each other on the busy wire: the first of a
    // cycle takes only its serialization (1008 B at 1 Gbps), later ones
    // wait for the ones before them.
    let lat = &burst["latency_ns"];
    assert_eq!(i(&lat["min"]), 8_064, "{lat}");
    assert!(i(&lat["max"]) > i(&lat["p50"]), "{lat}");
    assert!(i(&lat["max"]) >= 8_064 + 2 * 6_160, "{lat}");
    // The other class, in its own window, does not queue. (Its late count
    // is left alone: a talker starved of CPU by other processes on a
    // small machine is late on every stream.)
    let steady = stream(&report, "steady");
    assert_eq!(u(&steady["frames_sent"]) + u(&steady["late"]), 500);
    assert_eq!(i(&steady["latency_ns"]["min"]), 2_112, "{steady}");
}

/// Start an endless loopback run with every report, stop it with `sig`
/// after 1.5 s: it must exit 0 with every report complete.
fn stopped_by(sig: Signal) {
    let _cpus = cpus_shared();
    let dir = TempDir::new(&format!("{sig:?}"));
    let (hlog, hist) = (dir.file("h.hlog"), dir.file("h.hist"));
    let child = spawn(
        TAKT,
        &[
            "loopback",
            &example("single-stream-1ms.toml"),
            "--report",
            "json",
            "--hist-log",
            &hlog,
            "--histfile",
            &hist,
            "-q",
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let pid = Pid::from_raw(child.id() as i32);
    kill(pid, sig).expect("send the signal");
    let out = wait_at_most(child, Duration::from_secs(10));
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{sig:?}: {}", text(&out.stderr));

    let report = json(&out);
    let sensor = stream(&report, "sensor");
    let sent = u(&sensor["frames_sent"]);
    assert!(sent > 500, "{sig:?}: 1.5 s at 1 frame/ms sent only {sent}");
    assert_eq!(
        u(&sensor["frames_received"]) + u(&sensor["lost"]),
        sent,
        "every frame sent is received or counted lost: {sensor}"
    );
    assert!(u(&report["elapsed_ns"]) > 1_000_000_000, "{report}");

    let log = std::fs::read_to_string(&hlog).expect("the .hlog was written");
    assert!(log.starts_with("#[Logged with takt"), "{log}");
    assert!(log.contains("\"StartTimestamp\""), "{log}");
    assert!(log.lines().any(|l| l.starts_with("Tag=")), "{log}");
    assert!(!std::path::Path::new(&format!("{hlog}.tx.part")).exists());

    let h = std::fs::read_to_string(&hist).expect("the .hist was written");
    assert!(h.starts_with("# Histogram\n"), "{h}");
    assert!(h.contains("# Max Latencies:"), "{h}");
}

#[test]
fn sigint_ends_the_run_and_writes_every_report() {
    stopped_by(Signal::SIGINT);
}

#[test]
fn sigterm_ends_the_run_and_writes_every_report() {
    stopped_by(Signal::SIGTERM);
}

#[test]
fn no_progress_line_when_stderr_is_not_a_terminal() {
    let _cpus = cpus_shared();
    // No -q: the progress line would be drawn on a terminal.
    let out = takt(&[
        "loopback",
        &example("two-class-250us.toml"),
        "--cycles",
        "400",
    ]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(!err.contains('\r'), "progress line on a pipe: {err:?}");
    assert!(!err.contains('\x1b'), "escape sequence on a pipe: {err:?}");
    for line in err.lines() {
        assert!(line.contains(": warning: "), "not a warning: {line:?}");
    }
    assert!(text(&out.stdout).starts_with("takt report: "));
}

/// The report's `frer` entry for stream `name`.
fn frer_stream<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["frer"]["streams"]
        .as_array()
        .unwrap_or_else(|| panic!("no frer streams in {report}"))
        .iter()
        .find(|s| s["stream"] == name)
        .unwrap_or_else(|| panic!("no frer stream {name} in {report}"))
}

#[test]
fn frer_over_two_faulty_links_loses_only_what_both_lost() {
    const CYCLES: u64 = 3000;
    let _cpus = cpus_alone();
    let file = example("frer.toml");
    // The --help example, shortened: link 0 down from 1 s to 2 s, link 1
    // slower and jittery, 5 % loss on each.
    let out = takt(&[
        "loopback",
        &file,
        "--cycles",
        &CYCLES.to_string(),
        "--link",
        "0:loss=5%,down=1s+1s,seed=1",
        "--link",
        "1:loss=5%,delay=200us,jitter=400us,seed=2",
        "--report",
        "json",
        "-q",
    ]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json(&out);
    let ctl = stream(&report, "ctl");
    let (sent, received) = (u(&ctl["frames_sent"]), u(&ctl["frames_received"]));
    assert_eq!(sent + u(&ctl["late"]), CYCLES);
    // Lost on both links: 5 % of link 1's frames during link 0's outage
    // (~50) and 0.25 % of the rest (~5).
    let lost = u(&ctl["lost"]);
    assert_eq!(received + lost, sent, "{ctl}");
    assert!((20..=110).contains(&lost), "{lost} lost: {ctl}");
    assert_eq!(
        (u(&ctl["duplicates"]), u(&ctl["reordered"])),
        (0, 0),
        "{ctl}"
    );

    let f = frer_stream(&report, "ctl");
    assert_eq!(u(&f["generated"]), sent, "{f}");
    let rec = &f["recovery"];
    assert_eq!(u(&rec["passed"]), received, "{f}");
    assert_eq!((u(&rec["rogue"]), u(&rec["resets"])), (0, 0), "{f}");
    let members = f["members"].as_array().expect("members");
    assert_eq!(members.len(), 2);
    for (p, m) in members.iter().enumerate() {
        assert_eq!(u(&m["port"]), p as u64);
        assert_eq!(m["device"], format!("sim:a{p} -> sim:b{p}"));
        assert_eq!(u(&m["sent"]), sent, "{m}");
        assert!(u(&m["recovery"]["passed"]) > 0, "{m}");
        assert!(u(&m["latency"]["count"]) > 0, "{m}");
    }
    // The path skew shows: link 1 is 200-600 us slower.
    let p50 = |p: usize| i(&members[p]["latency"]["p50"]);
    assert!((200_000..=600_000).contains(&(p50(1) - p50(0))), "{f}");

    let ports = report["ports"].as_array().expect("ports");
    assert_eq!(ports.len(), 2);
    let c0 = &ports[0]["counters"];
    assert_eq!(ports[0]["device"], "sim:a0 -> sim:b0");
    // Link 0's outage: one link_down, and a second of frames of both
    // streams on port 0 (ctl and bulk, one each per 1 ms cycle) dropped.
    assert_eq!(u(&c0["link_down"]), 1, "{c0}");
    assert_eq!(u(&c0["tx_drops"]), 2_000, "{c0}");
    assert_eq!(u(&ports[1]["counters"]["link_down"]), 0);
}

#[test]
fn frer_text_report_has_the_ports_and_frer_blocks() {
    let _cpus = cpus_shared();
    let out = takt(&[
        "loopback",
        &example("frer.toml"),
        "--cycles",
        "200",
        "--link",
        "1:delay=50us",
        "-q",
    ]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    for want in [
        "port 0  sim:a0 -> sim:b0",
        "port 1  sim:a1 -> sim:b1",
        "frer: vector recovery, history 32",
    ] {
        assert!(s.contains(want), "no `{want}` in:\n{s}");
    }
}

#[test]
fn bad_link_flags_exit_2_saying_what_to_write() {
    let frer = example("frer.toml");
    let one_port = example("two-class-250us.toml");
    for (file, link, says) in [
        (&frer, "2:loss=1%", "the schedule uses ports 0..=1"),
        (&one_port, "1:loss=1%", "port 0 only"),
        (&frer, "0:loss=5", "e.g. loss=5%"),
        (&frer, "0:drop=5%", "unknown key `drop`"),
        (&frer, "loss=5%", "write PORT:SPEC"),
        (&frer, "x:loss=5%", "not a port number"),
    ] {
        let out = takt(&["loopback", file, "--cycles", "10", "-q", "--link", link]);
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(2), "--link {link}");
        let err = text(&out.stderr);
        assert!(err.contains(says), "--link {link}: {err}");
    }
    let twice = takt(&[
        "loopback",
        &frer,
        "--cycles",
        "10",
        "-q",
        "--link",
        "0:loss=1%",
        "--link",
        "0:delay=1us",
    ]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(text(&twice.stderr).contains("given twice"));
}

#[test]
fn a_one_port_schedule_takes_faults_on_its_link() {
    let _cpus = cpus_shared();
    // 200 cycles of 250 us; link 0 down for the middle 20 ms.
    let out = takt(&[
        "loopback",
        &example("two-class-250us.toml"),
        "--cycles",
        "200",
        "--link",
        "0:down=10ms+20ms",
        "--report",
        "json",
        "-q",
    ]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json(&out);
    let total = &report["total"];
    let check = takt(&["check", "--json", &example("two-class-250us.toml")]);
    let per_cycle: u64 = json(&check)["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| u(&s["frames_per_cycle"]))
        .sum();
    // 20 ms of 250 us cycles: 80 cycles' frames.
    let lost = u(&total["lost"]);
    assert_eq!(lost, 80 * per_cycle, "{total}");
    assert_eq!(
        u(&total["frames_received"]) + lost,
        u(&total["frames_sent"]),
        "{total}"
    );
}
