//! Human-readable output: the end-of-run table and the once-a-second
//! progress line. Times are shown in microseconds with 3 decimals (1 ns
//! resolution); integers are formatted without floating point.

use std::fmt::{self, Write};

use super::metric::Metric;
use super::ptp::PtpReport;
use super::stream::{MetricKind, RunStats, StreamStats};
use takt_scheduler::printable;

/// Writes `ns` as microseconds with 3 decimals ("-12.345"). No allocation.
pub fn write_us3<W: Write>(out: &mut W, ns: i64) -> fmt::Result {
    let sign = if ns < 0 { "-" } else { "" };
    let m = ns.unsigned_abs();
    write!(out, "{sign}{}.{:03}", m / 1000, m % 1000)
}

/// Writes `ns` as microseconds with 1 decimal, rounded half away from zero.
pub fn write_us1<W: Write>(out: &mut W, ns: i64) -> fmt::Result {
    let tenths = (ns.unsigned_abs() + 50) / 100;
    let sign = if ns < 0 && tenths > 0 { "-" } else { "" };
    write!(out, "{sign}{}.{}", tenths / 10, tenths % 10)
}

fn us3(v: Option<i64>) -> String {
    match v {
        Some(ns) => {
            let mut s = String::new();
            let _ = write_us3(&mut s, ns);
            s
        }
        None => "-".to_string(),
    }
}

/// The columns of a summary row, after its leading cells.
const SUMMARY_COLUMNS: [&str; 9] = [
    "min",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "max",
    "mean",
    "count",
    "overflows",
];

/// A table's header row: `first`, then the summary columns.
pub fn summary_header(first: &[&str]) -> Vec<String> {
    first
        .iter()
        .chain(SUMMARY_COLUMNS.iter())
        .map(|c| c.to_string())
        .collect()
}

/// Left-aligned first column, right-aligned others, two spaces apart
/// (the text report's tables; `takt frames --summary` uses it too).
pub fn render_table(out: &mut String, rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut width = vec![0usize; cols];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == 0 {
                let _ = write!(line, "{cell:<w$}", w = width[0]);
            } else {
                let _ = write!(line, "  {cell:>w$}", w = width[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// `unsynced`: add the column of frames taken while out of sync (only
/// runs with PTP that lost sync have one). `checks`: add the columns of
/// frames the listener did not believe and of restarts (only runs that
/// saw any have them).
fn counter_rows(
    rows: &mut Vec<Vec<String>>,
    streams: &[&StreamStats],
    unsynced: bool,
    checks: bool,
) {
    let mut head = vec![
        "stream",
        "sent",
        "received",
        "lost",
        "duplicates",
        "reordered",
        "late",
        "wrong_vlan",
    ];
    if unsynced {
        head.push("unsynced");
    }
    if checks {
        head.extend(["rogue", "bad_padding", "restarts", "resyncs"]);
    }
    rows.push(head.into_iter().map(String::from).collect());
    for s in streams {
        let mut row = vec![
            printable(&s.name).into_owned(),
            s.frames_sent.to_string(),
            s.frames_received.to_string(),
            s.lost.to_string(),
            s.duplicates.to_string(),
            s.reordered.to_string(),
            s.late.to_string(),
            s.wrong_vlan.to_string(),
        ];
        if unsynced {
            row.push(s.unsynced.to_string());
        }
        if checks {
            row.extend([s.rogue, s.bad_padding, s.restarts, s.resyncs].map(|n| n.to_string()));
        }
        rows.push(row);
    }
}

/// Which metric of a stream a table shows.
type MetricOf = fn(&StreamStats) -> &Metric;

fn metric_rows(
    rows: &mut Vec<Vec<String>>,
    name: &str,
    metric: MetricOf,
    streams: &[&StreamStats],
) {
    let title = format!("{name} (us)");
    rows.push(summary_header(&[title.as_str()]));
    for s in streams {
        let m = metric(s).summary();
        let mean = m.mean.map(|x| x.round() as i64);
        rows.push(vec![
            printable(&s.name).into_owned(),
            us3(m.min),
            us3(m.p50),
            us3(m.p90),
            us3(m.p99),
            us3(m.p999),
            us3(m.max),
            us3(mean),
            m.count.to_string(),
            m.overflows.to_string(),
        ]);
    }
}

/// The end-of-run table: a header, the counters per stream and total, then
/// one block per metric with min, p50, p90, p99, p99.9, max, mean (all in us,
/// 3 decimals), count and overflows. A metric nobody recorded in any stream
/// (e.g. latency in a talker run) is left out. Empty cells show `-`.
pub fn text_report(run: &RunStats) -> String {
    let total = run.total();
    let mut streams: Vec<&StreamStats> = run.streams.iter().collect();
    streams.push(&total);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "takt report: device {} ({}), clock {}, {} cycles in {} s",
        if run.device.is_empty() {
            "-"
        } else {
            &run.device
        },
        if run.backend.is_empty() {
            "-"
        } else {
            &run.backend
        },
        if run.clock.is_empty() {
            "-"
        } else {
            &run.clock
        },
        run.cycles,
        {
            let e = run.elapsed_ns;
            format!("{}.{:03}", e / 1_000_000_000, e % 1_000_000_000 / 1_000_000)
        }
    );
    if let Some(n) = run.data_path_allocations {
        let _ = writeln!(out, "heap operations on the data path while running: {n}");
    }
    if let Some(c) = &run.device_counters {
        let _ = writeln!(
            out,
            "device: tx {} frames, rx {} frames, tx drops {}, rx drops {}, rx truncated {}, \
             tx ring full {}, pool empty {}, link down {}",
            c.tx_frames,
            c.rx_frames,
            c.tx_drops,
            c.rx_drops,
            c.rx_truncated,
            c.tx_ring_full,
            c.pool_empty,
            c.link_down
        );
    }
    if let Some(r) = &run.rt {
        let _ = writeln!(out, "{}", r.summary());
    }
    if let Some(c) = &run.control {
        let _ = writeln!(
            out,
            "control {}: rx {} frames, tx {} frames (in best-effort windows), {} requests, \
             {} schedule changes, drops: rx overflow {}, tx queue {}, tx device {}, requests {}, \
             replies {}, replies expired {}; refused: {}",
            c.address,
            c.rx_frames,
            c.tx_frames,
            c.requests,
            c.schedule_changes,
            c.rx_overflow,
            c.tx_queue_drops,
            c.tx_device_drops,
            c.requests_dropped,
            c.replies_dropped,
            c.replies_expired,
            c.refused.text()
        );
    }
    if let Some(p) = &run.ptp {
        let _ = writeln!(out, "{}", ptp_line(p));
    }
    super::round_trip::write_text(&mut out, run);
    if let Some(r) = &run.rx_rejected {
        let _ = writeln!(
            out,
            "rejected frames: rogue {}, bad padding {}, truncated {}, other {}; \
             talker restarts {}, resyncs {}",
            total.rogue, total.bad_padding, r.truncated, r.other, total.restarts, total.resyncs
        );
    }
    if let Some(f) = &run.frames_log {
        let _ = write!(
            out,
            "frames log {}: {} records written, {} dropped (ring full)",
            printable(&f.path),
            f.written,
            f.dropped
        );
        match &f.error {
            Some(e) => {
                let _ = writeln!(out, "; error: {}", printable(e));
            }
            None => out.push('\n'),
        }
    }
    out.push_str("times in microseconds (us), 3 decimals = 1 ns\n\n");

    let mut rows = Vec::new();
    let checks = total.rogue + total.bad_padding + total.restarts + total.resyncs > 0;
    counter_rows(&mut rows, &streams, total.unsynced > 0, checks);
    render_table(&mut out, &rows);

    let metrics: [(&str, MetricOf); 3] = [
        (MetricKind::TxError.name(), |s| &s.tx_error_ns),
        (MetricKind::Latency.name(), |s| &s.latency_ns),
        ("latency_unsynced", |s| &s.latency_unsynced_ns),
    ];
    for (name, metric) in metrics {
        if metric(&total).count() == 0 {
            continue;
        }
        out.push('\n');
        let mut rows = Vec::new();
        metric_rows(&mut rows, name, metric, &streams);
        render_table(&mut out, &rows);
    }
    stage_rows(&mut out, &streams);
    super::frer_text::write_text(&mut out, &run.ports, run.frer.as_ref());
    out
}

/// "Where the time goes": one row per stream and stage difference the run
/// could see (docs/reports.md), named as in the JSON report.
fn stage_rows(out: &mut String, streams: &[&StreamStats]) {
    let mut rows = vec![summary_header(&["stages (us)", ""])];
    for s in streams {
        let Some(st) = super::json::StagesReport::of(s) else {
            continue;
        };
        let all = [
            ("wake_error", st.wake_error),
            ("tx_error", st.tx_error),
            ("driver", st.driver),
            ("wire", st.wire),
            ("pickup", st.pickup),
            ("end_to_end", st.end_to_end),
        ];
        for (name, r) in all {
            let Some(r) = r else { continue };
            let m = r.summary;
            let mean = m.mean.map(|x| x.round() as i64);
            rows.push(vec![
                format!("{} {name}", printable(&s.name)),
                format!("{}-{}", r.to, r.from),
                us3(m.min),
                us3(m.p50),
                us3(m.p90),
                us3(m.p99),
                us3(m.p999),
                us3(m.max),
                us3(mean),
                m.count.to_string(),
                m.overflows.to_string(),
            ]);
        }
    }
    if rows.len() > 1 {
        out.push('\n');
        render_table(out, &rows);
    }
}

/// `ptp: takt gptp slave, SLAVE, gm 001122.fffe.334455, offset p50 ...`:
/// one line with what time synchronisation did.
fn ptp_line(p: &PtpReport) -> String {
    let mut s = format!("ptp: {}", p.source);
    if let Some(profile) = &p.profile {
        let _ = write!(s, " {profile}");
    }
    let _ = write!(s, " {}, port {}", p.role, p.port_state);
    if let Some(gm) = &p.grandmaster {
        let _ = write!(s, ", grandmaster {gm}");
    }
    if let Some(o) = &p.abs_offset_ns {
        let _ = write!(
            s,
            ", |offset| p50 {} p99 {} max {} ns ({} samples)",
            opt(o.p50),
            opt(o.p99),
            opt(o.max),
            o.count
        );
    }
    if let Some(d) = p.mean_path_delay_ns {
        let _ = write!(s, ", path delay {d} ns");
    }
    if let Some(f) = p.freq_adj_ppb {
        let _ = write!(s, ", freq {f:+.1} ppb");
    }
    match p.time_to_first_lock_ns {
        Some(t) => {
            let _ = write!(
                s,
                ", locked after {}.{:03} s",
                t / 1_000_000_000,
                t % 1_000_000_000 / 1_000_000
            );
        }
        None => s.push_str(", never locked"),
    }
    let _ = write!(
        s,
        ", {} sync losses, {} unsynced samples, {} clock steps ({} backwards)",
        p.sync_losses, p.unsynced_samples, p.clock_steps, p.clock_backward_steps
    );
    if p.rx_rejected + p.rx_dropped + p.tx_dropped + p.tx_stamps_missing > 0 {
        let _ = write!(
            s,
            ", rejected {} rx, dropped {} rx / {} tx, {} tx stamps missing",
            p.rx_rejected, p.rx_dropped, p.tx_dropped, p.tx_stamps_missing
        );
    }
    s
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// Writes `frames N lost L p99 X.Xus max Y.Yus` (values in us, 1 decimal;
/// `-` when nothing was measured). No allocation.
pub fn write_progress_line<W: Write>(
    out: &mut W,
    frames: u64,
    lost: u64,
    p99_ns: Option<i64>,
    max_ns: Option<i64>,
) -> fmt::Result {
    write!(out, "frames {frames} lost {lost} p99 ")?;
    match p99_ns {
        Some(v) => {
            write_us1(out, v)?;
            out.write_str("us")?;
        }
        None => out.write_str("-")?,
    }
    out.write_str(" max ")?;
    match max_ns {
        Some(v) => {
            write_us1(out, v)?;
            out.write_str("us")
        }
        None => out.write_str("-"),
    }
}

/// Worst-stream p99 and overall max of one metric, without merging.
fn worst(run: &RunStats, pick: impl Fn(&StreamStats) -> &Metric) -> (Option<i64>, Option<i64>) {
    let mut p99: Option<i64> = None;
    let mut max: Option<i64> = None;
    for s in &run.streams {
        let m = pick(s);
        if let Some(v) = m.value_at_quantile(0.99) {
            p99 = Some(p99.map_or(v, |p| p.max(v)));
        }
        if let Some(v) = m.max() {
            max = Some(max.map_or(v, |x| x.max(v)));
        }
    }
    (p99, max)
}

impl RunStats {
    /// The progress line for this run: frames received (or sent, if nothing
    /// was received), lost, and of latency (or tx error, if no latency was
    /// measured) the worst stream's p99 and the largest max. Allocation-free:
    /// safe to call from the loop's thread into a pre-sized `String` or a
    /// `heapless::String`.
    pub fn write_progress<W: Write>(&self, out: &mut W) -> fmt::Result {
        let received: u64 = self.streams.iter().map(|s| s.frames_received).sum();
        let sent: u64 = self.streams.iter().map(|s| s.frames_sent).sum();
        let lost: u64 = self.streams.iter().map(|s| s.lost).sum();
        let frames = if received > 0 { received } else { sent };
        let any_latency = self.streams.iter().any(|s| s.latency_ns.count() > 0);
        let (p99, max) = if any_latency {
            worst(self, |s| &s.latency_ns)
        } else {
            worst(self, |s| &s.tx_error_ns)
        };
        write_progress_line(out, frames, lost, p99, max)
    }

    /// [`RunStats::write_progress`] into a new `String`.
    pub fn progress_line(&self) -> String {
        let mut s = String::with_capacity(80);
        let _ = self.write_progress(&mut s);
        s
    }
}
