//! The binaries against schedules at and past the documented limits, and
//! `--duration` against first cycles far away and long cycles. Times are
//! judged with wide margins: a run asked for 1 s must not take the 25 s to
//! its first cycle, a run asked for 3 s must not end after 2.

mod common;

use std::time::Duration;
use takt_scheduler::ClockId;

const TAKT: &str = env!("CARGO_BIN_EXE_takt");
const TALKER: &str = env!("CARGO_BIN_EXE_takt-talker");
const LISTENER: &str = env!("CARGO_BIN_EXE_takt-listener");

const STREAM: &str = r#"[[stream]]
name = "s"
traffic_class = 7
vlan_id = 10
dst_mac = "91:e0:f0:00:fe:01"
"#;

fn one_entry(schedule_keys: &str, interval: &str) -> String {
    format!("[schedule]\n{schedule_keys}[[schedule.entry]]\ngates = [7]\ninterval = {interval}\n{STREAM}")
}

#[test]
fn a_cycle_of_u64_max_is_refused_by_check_with_its_position() {
    let dir = common::TempDir::new("limits-cycle");
    let file = dir.write(
        "max.toml",
        &one_entry(
            "cycle_time = 18446744073709551615\n",
            "18446744073709551615",
        ),
    );
    let out = common::run(TAKT, &["check", &file]);
    assert_eq!(out.status.code(), Some(2));
    let err = common::text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{file}:2:14: error: the cycle is 18446744073709551615 ns long"
        )),
        "{err}"
    );
}

/// The reproduction of a run that peaked at 8.5 GB and aborted on a 2 GiB
/// allocation: every binary now refuses the file, exit 2, naming the key.
#[test]
fn a_million_frames_per_cycle_is_refused_by_every_binary() {
    let dir = common::TempDir::new("limits-frames");
    let file = dir.write(
        "million.toml",
        &format!(
            "{}frames_per_cycle = 1000000\nspacing = 700\n",
            one_entry("", "\"1s\"")
        ),
    );
    let runs = [
        (TAKT, vec!["check", &file]),
        (TAKT, vec!["loopback", &file, "--cycles", "1", "-q"]),
        (
            TALKER,
            vec!["--schedule", &file, "--device", "packet:lo", "-q"],
        ),
        (
            LISTENER,
            vec!["--schedule", &file, "--device", "packet:lo", "-q"],
        ),
    ];
    for (bin, args) in runs {
        let out = common::run(bin, &args);
        common::assert_no_panic(&out);
        let err = common::text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bin} {args:?}: {err}");
        assert!(
            err.contains(&format!("{file}:10:20: error:")) && err.contains("frames_per_cycle"),
            "{bin} {args:?}: {err}"
        );
    }
}

#[test]
fn a_duration_ends_the_run_when_the_first_cycle_is_far_away() {
    let dir = common::TempDir::new("limits-far");
    let base = ClockId::Tai.now_ns() + 25_000_000_000;
    let file = dir.write(
        "far.toml",
        &one_entry(&format!("base_time = {base}\n"), "\"1ms\""),
    );
    let child = common::spawn(
        TAKT,
        &[
            "loopback",
            &file,
            "--duration",
            "1s",
            "-q",
            "--report",
            "json",
        ],
    );
    let out = common::wait_at_most(child, Duration::from_secs(20));
    let err = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("after this run ends (in 1s): nothing will be sent"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(v["streams"][0]["frames_sent"], 0, "{v}");
}

#[test]
fn a_first_cycle_centuries_ahead_is_said_or_refused() {
    let dir = common::TempDir::new("limits-centuries");
    // TAI in the year 2200: loads, with a warning; a run says it sends nothing.
    let file = dir.write(
        "2200.toml",
        &one_entry("base_time = 7258118400000000000\n", "\"1ms\""),
    );
    let out = common::run(TAKT, &["check", &file]);
    assert_eq!(out.status.code(), Some(0));
    let err = common::text(&out.stderr);
    assert!(
        err.contains(&format!("{file}:2:13: warning: the first cycle starts in")),
        "{err}"
    );
    let child = common::spawn(TAKT, &["loopback", &file, "--duration", "200ms", "-q"]);
    let out = common::wait_at_most(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        common::text(&out.stderr).contains("nothing will be sent"),
        "{}",
        common::text(&out.stderr)
    );
    // Past where Linux's clocks end: refused.
    let file = dir.write(
        "never.toml",
        &one_entry("base_time = 18446744073709551615\n", "\"1ms\""),
    );
    let out = common::run(TAKT, &["loopback", &file, "--duration", "1s", "-q"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::text(&out.stderr).contains(&format!("{file}:2:13: error: base_time")),
        "{}",
        common::text(&out.stderr)
    );
}

/// A 2 s cycle and --duration 3s: the plan's next frame (at 4 s) is past
/// the end, which once ended the run right after the frame at 2 s.
#[test]
fn a_long_cycle_does_not_cut_a_duration_short() {
    let dir = common::TempDir::new("limits-long");
    let file = dir.write("long.toml", &one_entry("cycle_time = \"2s\"\n", "\"2s\""));
    let out = common::run(
        TAKT,
        &[
            "loopback",
            &file,
            "--duration",
            "3s",
            "-q",
            "--report",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let elapsed = v["elapsed_ns"].as_u64().expect("elapsed_ns");
    assert!(elapsed >= 3_000_000_000, "ended after {elapsed} ns: {v}");
    assert_eq!(
        v["streams"][0]["frames_sent"], 2,
        "frames at 0 s and 2 s: {v}"
    );
}
