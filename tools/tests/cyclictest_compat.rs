//! takt-cyclictest against rt-tests' cyclictest: the same command line on
//! both, and one parser (`takt_tools::cyclictest::parse`) reads thread
//! count, loop counts, min/avg/max and the histogram buckets from both
//! outputs. Needs root (SCHED_FIFO 80, mlockall); installs rt-tests with
//! apt-get when cyclictest is missing. Without root the test says so and
//! passes, except under CI=true, where it fails. Nothing about timing is
//! asserted: only that the figures are there and consistent.

mod common;

use std::process::Command;

use takt_tools::cyclictest::parse::{parse, Output};

const TAKT: &str = env!("CARGO_BIN_EXE_takt-cyclictest");

/// Whether this test can run; panics under CI=true when it cannot.
fn runnable(test: &str) -> bool {
    let why = if !nix::unistd::geteuid().is_root() {
        "root (SCHED_FIFO, mlockall)"
    } else if !have_cyclictest() {
        "rt-tests' cyclictest (apt-get install rt-tests failed)"
    } else {
        return true;
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: needs {why}, and CI=true forbids skipping"
    );
    eprintln!("{test}: skipped: needs {why}");
    false
}

fn have_cyclictest() -> bool {
    let found = || {
        Command::new("sh")
            .args(["-c", "command -v cyclictest"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if found() {
        return true;
    }
    let install = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q rt-tests >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q rt-tests >/dev/null 2>&1; }";
    let _ = Command::new("sh").args(["-c", install]).status();
    found()
}

fn run_parsed(bin: &str, args: &[&str]) -> Output {
    let out = common::run(bin, args);
    common::assert_no_panic(&out);
    let stdout = common::text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{bin} {args:?}\nstdout:\n{stdout}\nstderr:\n{}",
        common::text(&out.stderr)
    );
    parse(&stdout).unwrap_or_else(|e| panic!("{bin}: {e}\n{stdout}"))
}

#[test]
fn one_parser_reads_both_histograms() {
    if !runnable("one_parser_reads_both_histograms") {
        return;
    }
    let loops = 2000u64;
    let args = [
        "-m", "-p", "80", "-i", "1000", "-l", "2000", "-q", "-h", "400", "-t", "2", "-a",
    ];
    for bin in ["cyclictest", TAKT] {
        let o = run_parsed(bin, &args);
        // -q with -h: the histogram only, no thread lines (as cyclictest).
        assert!(o.threads.is_empty(), "{bin}: {:?}", o.threads);
        let h = o.histogram.unwrap_or_else(|| panic!("{bin}: no histogram"));
        assert_eq!(h.counts.len(), 2, "{bin}: one column per thread");
        for (i, col) in h.counts.iter().enumerate() {
            assert_eq!(col.len(), 400, "{bin}: -h 400 buckets");
            let in_buckets: u64 = col.iter().sum();
            assert_eq!(in_buckets, h.total[i], "{bin}: # Total of thread {i}");
            // The run ends when the first thread is done: the other may be
            // short (by how much depends on the machine), as in cyclictest.
            let all = in_buckets + h.overflows[i];
            assert!(all > 0 && all <= loops, "{bin}: thread {i} ran {all} loops");
            assert!(
                h.min_us[i] <= h.avg_us[i] && h.avg_us[i] <= h.max_us[i],
                "{bin}: {h:?}"
            );
            assert!(h.overflow_cycles[i].len() as u64 <= h.overflows[i], "{bin}");
        }
        assert_eq!(h.total.len(), 2);
        let done = (0..2).map(|i| h.total[i] + h.overflows[i]).max();
        assert_eq!(
            done,
            Some(loops),
            "{bin}: the first thread done ran -l loops"
        );
    }
}

#[test]
fn one_parser_reads_both_thread_lines() {
    if !runnable("one_parser_reads_both_thread_lines") {
        return;
    }
    let args = [
        "-m", "-p", "80", "-i", "1000", "-l", "300", "-q", "-t", "2", "-a",
    ];
    for bin in ["cyclictest", TAKT] {
        let o = run_parsed(bin, &args);
        assert!(o.histogram.is_none(), "{bin}");
        assert_eq!(o.threads.len(), 2, "{bin}: {o:?}");
        for (i, t) in o.threads.iter().enumerate() {
            assert_eq!(t.index, i);
            assert_eq!(t.priority, 80, "{bin}");
            // Thread i runs at interval + i * 500 us (cyclictest's -d default).
            assert_eq!(t.interval_us, 1000 + 500 * i as u64, "{bin}");
            assert!(t.tid > 0, "{bin}");
            assert!(t.min_us <= t.avg_us && t.avg_us <= t.max_us, "{bin}: {t:?}");
        }
        assert_eq!(o.threads[0].cycles, 300, "{bin}: thread 0 does its loops");
        assert!(
            (150..=300).contains(&o.threads[1].cycles),
            "{bin}: {:?}",
            o.threads[1]
        );
    }
}

#[test]
fn histfile_and_json_like_cyclictest() {
    if !runnable("histfile_and_json_like_cyclictest") {
        return;
    }
    let dir = common::TempDir::new("cyclictest-files");
    for (name, bin) in [("rt-tests", "cyclictest"), ("takt", TAKT)] {
        let hist = dir.file(&format!("{name}.hist"));
        let json = dir.file(&format!("{name}.json"));
        let histfile = format!("--histfile={hist}");
        let json_flag = format!("--json={json}");
        let args = [
            "-m", "-p", "80", "-i", "500", "-l", "400", "-q", "-h", "100", "-t", "1", "-a", "1",
            &histfile, &json_flag,
        ];
        let o = run_parsed(bin, &args);
        assert!(
            o.histogram.is_none(),
            "{bin}: the histogram went to the file"
        );
        let h = parse(&std::fs::read_to_string(&hist).unwrap()).unwrap();
        let h = h
            .histogram
            .unwrap_or_else(|| panic!("{bin}: no histogram in {hist}"));
        assert_eq!(h.total[0] + h.overflows[0], 400, "{bin}");
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let t = &j["thread"]["0"];
        assert_eq!(j["num_threads"], 1, "{bin}");
        assert_eq!(t["cycles"], 400, "{bin}: {t}");
        assert_eq!(t["cpu"], 1, "{bin}");
        let in_hist: u64 = t["histogram"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(
            in_hist, h.total[0],
            "{bin}: JSON histogram = histfile buckets"
        );
    }
}
