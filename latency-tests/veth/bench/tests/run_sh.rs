//! A short run of latency-tests/veth/run.sh (2 s latency rows, 1 s pps
//! rows): the table must have the takt packet and kernel UDP rows with
//! frames received, and an xdp row (figures, or "not built" in a build
//! without the AF_XDP backend). Needs root; without it the test skips with a
//! message, except under CI=true, where it fails. The first run builds the
//! release binaries, later ones take about 20 s.

use std::path::PathBuf;
use std::process::Command;

/// True when the test should run; false (after saying why) when it skips.
fn need_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root (network namespaces, CAP_NET_RAW) and CI=true forbids skipping");
    }
    eprintln!("{test}: skipped: needs root (network namespaces, CAP_NET_RAW)");
    false
}

/// The markdown row of `backend`, split into trimmed cells.
fn row(table: &str, backend: &str) -> Option<Vec<String>> {
    table
        .lines()
        .find(|l| l.starts_with(&format!("| {backend} |")))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
}

/// The number a cell starts with ("268,990 (34.8% lost)" -> 268990), or 0.
fn number(cell: &str) -> f64 {
    let first = cell.split_whitespace().next().unwrap_or("");
    first.replace(',', "").parse().unwrap_or(0.0)
}

#[test]
fn short_run_prints_packet_xdp_and_udp_rows() {
    if !need_root("short_run_prints_packet_xdp_and_udp_rows") {
        return;
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = here.join("../run.sh");
    let out = std::env::temp_dir().join(format!("takt-veth-smoke-{}", std::process::id()));
    let netns = || {
        let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
        String::from_utf8_lossy(&ns.stdout)
            .lines()
            .filter(|l| l.starts_with("takt-veth-"))
            .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let before = netns();
    let run = Command::new("bash")
        .arg(&script)
        .arg("--out")
        .arg(&out)
        .env("TAKT_VETH_DURATION", "2s")
        .env("TAKT_VETH_PPS_SECS", "1")
        .output()
        .expect("run.sh starts");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "run.sh failed:\n{stdout}\n{stderr}");

    for backend in ["takt packet", "kernel UDP"] {
        let cells = row(&stdout, backend)
            .unwrap_or_else(|| panic!("no '{backend}' row in the table:\n{stdout}"));
        // backend, pps sent, pps received, frames sent, received, ...
        let received: u64 = cells[4]
            .parse()
            .unwrap_or_else(|_| panic!("'{backend}' received is not a count: {cells:?}"));
        assert!(received > 0, "'{backend}' received nothing: {cells:?}");
        let pps = number(&cells[2]);
        assert!(
            pps > 0.0,
            "'{backend}' pps received is not positive: {cells:?}"
        );
    }
    let xdp = row(&stdout, "takt xdp").expect("an xdp row");
    assert!(
        number(&xdp[2]) > 0.0 && xdp[4].parse::<u64>().is_ok_and(|n| n > 0),
        "the xdp row has no figures: {xdp:?}"
    );
    assert!(out.join("latency.svg").is_file());
    // The run's namespaces are gone (others' runs may hold their own).
    let left: Vec<String> = netns()
        .into_iter()
        .filter(|n| !before.contains(n))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&out);
}
