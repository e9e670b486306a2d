//! Round-trip figures (docs/round-trip.md): the talker's per forward
//! stream, the mirror's for the run. Kept apart from `StreamStats`' own
//! counters: a stream has them only when the schedule gives it a return.

use super::metric::{Metric, Summary};
use serde::{Deserialize, Serialize};

/// A talker's round trips of one forward stream.
#[derive(Clone, Debug)]
pub struct RoundTripStats {
    /// Returns matched to a frame sent, within the timeout: in `rtt`.
    pub returned: u64,
    /// Frames sent whose return did not come within the timeout (or by
    /// the end of the run plus the grace). returned + lost = sent.
    pub lost: u64,
    /// Returns that came after their frame was counted lost.
    pub late: u64,
    /// Returns in `rtt` beyond `outlier_threshold_ns`.
    pub outliers: u64,
    pub outlier_threshold_ns: u64,
    /// A second return of a frame already returned.
    pub duplicates: u64,
    /// Returns of this stream not believed: another talker's epoch, a
    /// sequence number never sent, not marked mirrored.
    pub rogue: u64,
    /// A (talker's clock right after the receive poll) - H (tx_ns).
    pub rtt: Metric,
    /// R (the device's receive stamp) - H, when the device stamps.
    pub rtt_device: Metric,
}

impl RoundTripStats {
    /// Allocates two metrics: call at start-up.
    pub fn new(outlier_threshold_ns: u64) -> Self {
        RoundTripStats {
            returned: 0,
            lost: 0,
            late: 0,
            outliers: 0,
            outlier_threshold_ns,
            duplicates: 0,
            rogue: 0,
            rtt: Metric::new(),
            rtt_device: Metric::new(),
        }
    }
}

/// `"round_trip"` of a stream in the talker's JSON report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundTripReport {
    pub returned: u64,
    pub lost: u64,
    pub late: u64,
    pub outliers: u64,
    pub outlier_threshold_ns: u64,
    pub duplicates: u64,
    pub rogue: u64,
    pub rtt: Summary,
    /// Absent when the device gives no receive stamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_device: Option<Summary>,
}

impl From<&RoundTripStats> for RoundTripReport {
    fn from(s: &RoundTripStats) -> Self {
        RoundTripReport {
            returned: s.returned,
            lost: s.lost,
            late: s.late,
            outliers: s.outliers,
            outlier_threshold_ns: s.outlier_threshold_ns,
            duplicates: s.duplicates,
            rogue: s.rogue,
            rtt: s.rtt.summary(),
            rtt_device: (s.rtt_device.count() > 0).then(|| s.rtt_device.summary()),
        }
    }
}

/// `"mirror"` in the mirror's JSON report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorReport {
    /// Returns handed to the device.
    pub sent: u64,
    /// Returns whose window had closed when they were due: not sent.
    pub late: u64,
    /// Forward frames dropped: the return queue was full.
    pub queue_full: u64,
    /// Forward frames dropped: no buffer (or no ring room).
    pub no_buffer: u64,
    /// d = mirror clock - talker clock + the shortest one-way delay:
    /// smallest and largest estimate, and how often it moved by > 1 us.
    pub d_min_ns: Option<i64>,
    pub d_max_ns: Option<i64>,
    pub d_steps: u64,
}

/// The text report's round-trip lines: one per stream with a return, and
/// the mirror's.
pub(super) fn write_text(out: &mut String, run: &super::RunStats) {
    use std::fmt::Write;
    let us = |v: Option<i64>| v.map_or("-".to_owned(), |ns| format!("{:.1}", ns as f64 / 1e3));
    for s in &run.streams {
        let Some(rt) = s.round_trip.as_deref() else {
            continue;
        };
        let _ = write!(
            out,
            "round trip {}: returned {}, lost {}, late {}, outliers {} (> {} us), duplicates {}, rogue {}; rtt us p50 {} p99 {} max {}",
            takt_scheduler::printable(&s.name),
            rt.returned,
            rt.lost,
            rt.late,
            rt.outliers,
            rt.outlier_threshold_ns as f64 / 1e3,
            rt.duplicates,
            rt.rogue,
            us(rt.rtt.value_at_percentile(50.0)),
            us(rt.rtt.value_at_percentile(99.0)),
            us(rt.rtt.max()),
        );
        if rt.rtt_device.count() > 0 {
            let _ = write!(
                out,
                "; device stamps p50 {} p99 {} max {}",
                us(rt.rtt_device.value_at_percentile(50.0)),
                us(rt.rtt_device.value_at_percentile(99.0)),
                us(rt.rtt_device.max()),
            );
        }
        out.push('\n');
    }
    if let Some(m) = &run.mirror {
        let _ = writeln!(
            out,
            "mirror: sent {}, late {}, queue full {}, no buffer {}; d (mirror - talker clock + shortest one-way) {} .. {} us, {} steps",
            m.sent,
            m.late,
            m.queue_full,
            m.no_buffer,
            us(m.d_min_ns),
            us(m.d_max_ns),
            m.d_steps
        );
    }
}
