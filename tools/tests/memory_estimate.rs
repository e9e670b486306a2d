//! `takt check` says what a run of a schedule holds in memory; a run holds
//! no more than that (plus the program itself). Measured as the peak
//! resident size of `takt loopback` runs (getrusage of waited children),
//! so this file has one test: no other child may run beside it.

mod common;

use nix::sys::resource::{getrusage, UsageWho};

const TAKT: &str = env!("CARGO_BIN_EXE_takt");

/// What the program holds besides the schedule's share: code, libraries,
/// stacks, allocator slack (a one-stream loopback peaks near 20 MiB).
const PROGRAM_BYTES: u64 = 48 << 20;

fn schedule(streams: usize, frames: u32) -> String {
    let mut s = String::from(
        "[schedule]\ncycle_time = \"20ms\"\n[[schedule.entry]]\ngates = [7]\ninterval = \"20ms\"\n",
    );
    for i in 0..streams {
        s.push_str(&format!(
            "[[stream]]\nname = \"s{i}\"\ntraffic_class = 7\nvlan_id = 10\ndst_mac = \"91:e0:f0:00:fe:01\"\noffset = {}\nframes_per_cycle = {frames}\nspacing = 700\n",
            i as u64 * u64::from(frames) * 700
        ));
    }
    s
}

fn estimate(file: &str) -> u64 {
    let out = common::run(TAKT, &["check", "--json", file]);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let bytes = v["memory"]["loopback"].as_u64().expect("memory.loopback");
    // The text output says the same, in MiB.
    let text = common::text(&common::run(TAKT, &["check", file]).stdout);
    let mib = format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20));
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("takt loopback"))
        .unwrap_or_else(|| panic!("no memory lines:\n{text}"));
    assert!(line.contains(&mib), "{line:?} lacks {mib}");
    bytes
}

/// Peak resident bytes of any child waited for so far.
fn children_peak() -> u64 {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    usage.max_rss() as u64 * 1024 // KiB on Linux
}

#[test]
fn a_loopback_run_holds_no_more_than_check_says() {
    let dir = common::TempDir::new("memory");
    // Ascending estimates: the peak so far is the current run's.
    let cases = [
        ("streams.toml", schedule(40, 1)),
        ("frames.toml", schedule(2, 10_000)),
    ];
    // Run in ascending order of the estimates (which case is larger
    // depends on what a stream costs against a frame).
    let mut runs: Vec<(&str, String, u64)> = cases
        .iter()
        .map(|(name, text)| {
            let file = dir.write(name, text);
            let bytes = estimate(&file);
            (*name, file, bytes)
        })
        .collect();
    runs.sort_by_key(|r| r.2);
    let mut first = true;
    for (name, file, bytes) in runs {
        let out = common::run(TAKT, &["loopback", &file, "--cycles", "20", "-q"]);
        assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
        let peak = children_peak();
        assert!(
            peak <= bytes + PROGRAM_BYTES,
            "{name}: peak {peak} B, check said {bytes} B (+{PROGRAM_BYTES} for the program)"
        );
        if first {
            // The estimate is the run's own bulk, not a number far above it.
            assert!(
                peak >= bytes / 2,
                "{name}: peak {peak} B, check said {bytes} B"
            );
            first = false;
        }
    }
}
