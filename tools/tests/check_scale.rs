//! `takt check` on large schedules: its work grows with the size of the
//! file, not with its square. A schedule with 40,000 gate entries (one
//! warning each) once took 27 s because every warning's line and column were
//! found by scanning the file from its start.
//!
//! Judged by a ratio, not a wall clock: four times the entries must cost
//! well under sixteen times the time (linear gives about 4, quadratic 16).
//! The best of a few runs keeps a busy second core from deciding it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use takt_scheduler::config::{self, ConfigError, Loaded};
use takt_tools::check::{self, CheckArgs};

/// One stream in the first entry, class 1 (no stream) in the second, and a
/// 20us cycle_time that cuts every later entry off: each of those is a
/// "never runs" warning, the second entry one "no stream sends" warning.
fn schedule(entries: usize) -> String {
    let mut s = String::from("[schedule]\ncycle_time = \"20us\"\n");
    for e in 0..entries {
        let gates = if e == 0 { "[7]" } else { "[1]" };
        s.push_str(&format!(
            "[[schedule.entry]]\ngates = {gates}\ninterval = \"10us\"\n"
        ));
    }
    s.push_str(
        "[[stream]]\nname = \"s\"\ntraffic_class = 7\nvlan_id = 10\ndst_mac = \"91:e0:f0:00:fe:01\"\n",
    );
    s
}

/// Best of `runs` timings of `takt check` on `text`, with the number of
/// warnings it printed.
fn time_check(text: &str, runs: usize) -> (Duration, usize) {
    let args = CheckArgs {
        files: vec![PathBuf::from("big.toml")],
        json: false,
    };
    let mut best = Duration::MAX;
    let mut warnings = 0;
    for _ in 0..runs {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let load = |p: &Path| -> Result<Loaded, ConfigError> {
            config::parse_str(text, &p.display().to_string())
        };
        let t = Instant::now();
        let summary = check::run(&args, load, &mut out, &mut err).expect("write to memory");
        best = best.min(t.elapsed());
        assert_eq!(summary.invalid, 0);
        warnings = String::from_utf8_lossy(&err).matches(": warning: ").count();
    }
    (best, warnings)
}

#[test]
fn check_time_grows_linearly_with_warnings() {
    let small = schedule(2_000);
    let large = schedule(8_000);
    let (t_small, w_small) = time_check(&small, 3);
    let (t_large, w_large) = time_check(&large, 3);
    // Every entry but the stream's own is reported, with its position.
    // (Unused windows would give one warning for all: they don't scale.)
    assert_eq!((w_small, w_large), (1_999, 7_999));
    let ratio = t_large.as_secs_f64() / t_small.as_secs_f64().max(1e-6);
    assert!(
        ratio < 9.0,
        "4x the entries took {ratio:.1}x the time ({t_small:?} -> {t_large:?}): check is not linear"
    );
}

#[test]
fn warnings_of_a_large_file_point_at_their_entries() {
    let text = schedule(3_000);
    let loaded = config::parse_str(&text, "big.toml").expect("valid");
    // Entry k's header `[[schedule.entry]]` is on line 3 + 3k.
    for (d, _) in loaded.warnings.iter().step_by(499) {
        let entry: usize = d
            .message
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .expect("entry number in the message");
        assert_eq!((d.line, d.col), (3 + 3 * entry, 1), "{}", d.message);
    }
}
