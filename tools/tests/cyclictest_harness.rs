//! A tiny run of latency-tests/cyclictest/run.sh (200 wake-ups per row, one
//! round) with this build's takt-cyclictest: the table has every row of
//! both conditions with samples, and the plot is written. Needs root
//! (SCHED_FIFO); without it the test skips with a message, except under
//! CI=true, where it fails. run.sh installs rt-tests and stress-ng when
//! they are missing. Nothing about timing is asserted.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn tiny_run_has_every_row_and_a_plot() {
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "needs root (SCHED_FIFO, mlockall), and CI=true forbids skipping"
        );
        eprintln!("tiny_run_has_every_row_and_a_plot: skipped: needs root (SCHED_FIFO, mlockall)");
        return;
    }
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../latency-tests/cyclictest/run.sh");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_takt-cyclictest"))
        .parent()
        .unwrap();
    let dir = common::TempDir::new("cyclictest-harness");
    let out = dir.path().join("results");
    let run = Command::new("bash")
        .arg(&script)
        .arg("--bin-dir")
        .arg(bin_dir)
        .arg("--out")
        .arg(&out)
        .args(["--loops", "200", "--rounds", "1"])
        .output()
        .expect("run.sh starts");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "run.sh failed:\n{stdout}\n{stderr}");
    for cond in ["idle", "load"] {
        for row in [
            "rt-tests cyclictest",
            "takt nanosleep",
            "takt hybrid",
            "takt spin",
        ] {
            let prefix = format!("| {cond} | {row} | ");
            let line = stdout
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no '{cond} / {row}' row:\n{stdout}"));
            let samples = line[prefix.len()..].split('|').next().unwrap().trim();
            assert_eq!(samples.replace(',', ""), "200", "{line}");
        }
    }
    assert!(stdout.contains("p50 / cyclictest"), "{stdout}");
    let svg = std::fs::read_to_string(out.join("latency.svg")).expect("latency.svg written");
    assert!(
        svg.starts_with("<svg") && svg.contains("takt hybrid"),
        "{svg}"
    );
}
