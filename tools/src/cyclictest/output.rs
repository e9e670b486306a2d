//! What takt-cyclictest prints, in rt-tests' cyclictest formats so the
//! scripts that read cyclictest output read it unchanged: the thread line
//! (`print_stat()`), the histogram and its summary (`print_hist()`, shared
//! with `--histfile` in takt_stack::stats), and the `--json` file
//! (`rt_write_json()`'s layout with cyclictest's thread objects, plus a
//! "takt" object). Values are ns inside, printed in us truncated toward
//! zero, as cyclictest computes them.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde_json::{json, Map, Value};
use takt_stack::stats::{us_buckets, write_histfile, HistfileColumn, HistfileOptions};

use super::measure::ThreadResult;

/// One thread's line as cyclictest prints it:
/// `T: 0 (12345) P:80 I:1000 C:    500 Min:      7 Act:   13 Avg:   17 Max:    1286`
/// (`"T:%2d (%5d) P:%2d I:%ld C:%7lu Min:%7ld Act:%5ld Avg:%5ld Max:%8ld"`).
#[allow(clippy::too_many_arguments)]
pub fn thread_line(
    out: &mut String,
    index: usize,
    tid: i64,
    priority: u8,
    interval_us: u64,
    cycles: u64,
    min_us: i64,
    act_us: i64,
    avg_us: i64,
    max_us: i64,
) {
    let _ = write!(
        out,
        "T:{index:2} ({tid:5}) P:{priority:2} I:{interval_us} C:{cycles:7} Min:{min_us:7} Act:{act_us:5} Avg:{avg_us:5} Max:{max_us:8}"
    );
}

/// ns to cyclictest's us (truncated toward zero).
pub fn us(ns: i64) -> i64 {
    ns / 1000
}

/// The histogram and its summary lines, one column per thread, to `out`
/// (stdout or the `--histfile`).
pub fn write_histogram<W: Write>(
    out: &mut W,
    results: &[ThreadResult],
    buckets: u32,
    histofall: bool,
) -> io::Result<()> {
    let columns: Vec<HistfileColumn<'_>> = results
        .iter()
        .map(|r| {
            let c = HistfileColumn::new(&r.latency);
            match &r.overflows {
                Some(o) => c.with_overflow_cycles(o),
                None => c,
            }
        })
        .collect();
    write_histfile(out, &columns, &HistfileOptions { buckets, histofall })
}

/// What the `--json` file says besides the threads.
pub struct JsonRun<'a> {
    pub cmdline: &'a str,
    pub start_time: &'a str,
    pub end_time: &'a str,
    pub return_code: u8,
    pub priority: Option<u8>,
    pub buckets: Option<u32>,
    pub takt: Value,
}

/// cyclictest's `--json` layout (file_version 1): per thread its
/// non-empty 1-us histogram buckets, cycles, min, max, avg (us), cpu; takt
/// adds percentiles in ns, the wake mode and the environment under "takt".
pub fn json_file(run: &JsonRun<'_>, results: &[ThreadResult]) -> Value {
    let uts = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uts.as_ref()
            .map_or(String::new(), |u| f(u).to_string_lossy().into_owned())
    };
    let mut threads = Map::new();
    for r in results {
        let m = &r.latency;
        let mut hist = Map::new();
        if let Some(n) = run.buckets {
            let (counts, _) = us_buckets(m, n);
            for (i, c) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
                hist.insert(i.to_string(), json!(c));
            }
        }
        let avg = m.mean().map_or(0.0, |a| (a / 10.0).round() / 100.0);
        let s = m.summary();
        threads.insert(
            r.index.to_string(),
            json!({
                "histogram": hist,
                "cycles": m.count(),
                "min": m.min().map_or(0, us),
                "max": m.max().map_or(0, us),
                "avg": avg,
                "cpu": r.cpu.map_or(-1, |c| c as i64),
                "node": 0,
                "takt": {
                    "tid": r.tid,
                    "interval_ns": r.interval_ns,
                    "latency_ns": s,
                    "overflows": r.overflows.as_ref().map(|o| o.count()),
                    "heap_operations": r.allocations.map(|a| a.allocs + a.frees),
                }
            }),
        );
    }
    json!({
        "file_version": 1,
        "cmdline:": run.cmdline,
        "rt_test_version:": concat!("takt-cyclictest ", env!("CARGO_PKG_VERSION")),
        "start_time": run.start_time,
        "end_time": run.end_time,
        "return_code": run.return_code,
        "sysinfo": {
            "sysname": field(|u| u.sysname()),
            "nodename": field(|u| u.nodename()),
            "release": field(|u| u.release()),
            "version": field(|u| u.version()),
            "machine": field(|u| u.machine()),
            "realtime": i32::from(std::path::Path::new("/sys/kernel/realtime").exists()),
        },
        "num_threads": results.len(),
        "resolution_in_ns": 0,
        "priority": run.priority.unwrap_or(0),
        "thread": threads,
        "takt": run.takt,
    })
}

/// `Tue, 01 Dec 2026 15:23:16 +0000`, the time format cyclictest's JSON uses
/// (UTC here).
pub fn rfc2822_utc(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y} {h:02}:{m:02}:{s:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(mo - 1) as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_line_matches_cyclictest_byte_for_byte() {
        let mut s = String::new();
        thread_line(&mut s, 0, 10584, 80, 1000, 500, 7, 13, 17, 1286);
        // Copied from `cyclictest -m -p 80 -i 1000 -l 500 -q -t 2 -a` (rt-tests 2.40).
        assert_eq!(
            s,
            "T: 0 (10584) P:80 I:1000 C:    500 Min:      7 Act:   13 Avg:   17 Max:    1286"
        );
    }

    #[test]
    fn json_dates_like_cyclictest() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_138_596);
        assert_eq!(rfc2822_utc(t), "Tue, 01 Dec 2026 15:23:16 +0000");
        assert_eq!(
            rfc2822_utc(std::time::UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 +0000"
        );
    }
}
