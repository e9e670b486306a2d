//! `percentiles`: add up the interval histograms of an HdrHistogram
//! interval log (as takt-listener, takt-talker and this crate's UDP tools
//! write it, docs/reports.md) whose tags end in `.<metric>`, and write the
//! value at a fixed list of percentiles as JSON, so plot.py draws the
//! distribution without decoding HDR itself.
//!
//! Only the `>= 0` tags are added; the magnitudes of negative values
//! (`.neg` tags) are counted in `negatives` and left out of the curve. On
//! one host (one clock) a latency is never negative.

use std::path::{Path, PathBuf};

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use serde::Serialize;
use takt_stack::stats::{METRIC_MAX_NS, METRIC_SIGFIG};

use crate::BenchError;

/// The percentiles of every table: dense in the tail, where runs differ.
pub const PERCENTILES: [f64; 17] = [
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999,
    99.9995, 99.9999, 100.0,
];

/// One point of the distribution.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Point {
    /// Percentile, 0..=100.
    pub p: f64,
    /// Value at it, ns: the highest value equivalent to the nearest-rank
    /// entry, as HdrHistogram's valueAtPercentile (and takt's reports).
    pub ns: u64,
}

/// The percentile table of one metric over a whole run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Table {
    pub log: PathBuf,
    /// `latency` or `tx_error`.
    pub metric: String,
    /// Tags added up.
    pub tags: Vec<String>,
    /// Values in the curve.
    pub count: u64,
    /// Values below zero, left out of the curve.
    pub negatives: u64,
    pub points: Vec<Point>,
}

/// Standard base64 (RFC 4648) with or without padding; `None` on a bad byte.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let bytes: Vec<u8> = s.trim().bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = chunk.len() * 6 / 8;
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    Some(out)
}

/// The log's text as a percentile table of `metric`.
pub fn table_from_log(log: &Path, text: &[u8], metric: &str) -> Result<Table, BenchError> {
    let bad = |reason: String| BenchError::BadLog {
        path: log.to_path_buf(),
        reason,
    };
    let suffix = format!(".{metric}");
    let neg_suffix = format!(".{metric}.neg");
    let mut sum = Histogram::<u64>::new_with_bounds(1, METRIC_MAX_NS, METRIC_SIGFIG)
        .map_err(|e| bad(format!("histogram: {e:?}")))?;
    let (mut negatives, mut tags) = (0u64, Vec::<String>::new());
    let mut de = Deserializer::new();
    for entry in IntervalLogIterator::new(text) {
        let LogEntry::Interval(i) = entry.map_err(|e| bad(format!("{e:?}")))? else {
            continue;
        };
        let Some(tag) = i.tag().map(|t| t.as_str().to_string()) else {
            continue;
        };
        let is_neg = tag.ends_with(&neg_suffix);
        if !is_neg && !tag.ends_with(&suffix) {
            continue;
        }
        let raw = base64_decode(i.encoded_histogram())
            .ok_or_else(|| bad(format!("tag {tag}: not base64")))?;
        let h: Histogram<u64> = de
            .deserialize(&mut &raw[..])
            .map_err(|e| bad(format!("tag {tag}: {e:?}")))?;
        if is_neg {
            negatives += h.len();
            continue;
        }
        sum.add(&h).map_err(|e| bad(format!("tag {tag}: {e:?}")))?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let points = if sum.is_empty() {
        Vec::new()
    } else {
        PERCENTILES
            .iter()
            .map(|&p| Point {
                p,
                ns: match p {
                    0.0 => sum.min(),
                    100.0 => sum.max(),
                    _ => sum.value_at_quantile(p / 100.0),
                },
            })
            .collect()
    };
    Ok(Table {
        log: log.to_path_buf(),
        metric: metric.into(),
        tags,
        count: sum.len(),
        negatives,
        points,
    })
}

/// Read `log` and make its table.
pub fn table(log: &Path, metric: &str) -> Result<Table, BenchError> {
    let text = std::fs::read(log).map_err(|source| BenchError::Io {
        path: log.to_path_buf(),
        source,
    })?;
    table_from_log(log, &text, metric)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;
    use takt_stack::stats::{IntervalLog, IntervalLogConfig, MetricKind};

    #[test]
    fn base64_decodes_rfc4648() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("a*b=").is_none());
    }

    #[test]
    fn a_log_written_by_takt_reads_back_as_percentiles() {
        let dir = std::env::temp_dir().join(format!("takt-veth-pct-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.hlog");
        let names = ["a", "b"];
        let mut log =
            IntervalLog::for_streams(&path, &names, 0, &IntervalLogConfig::new(SystemTime::now()))
                .unwrap();
        // 1..=1000 ns latency on stream a, 2000 on b in a later interval,
        // one negative value and a tx error that must not count.
        for v in 1..=1000 {
            log.record_stream(0, MetricKind::Latency, v);
        }
        log.record_stream(0, MetricKind::Latency, -5);
        log.record_stream(1, MetricKind::TxError, 99_999);
        log.tick(1_500_000_000);
        log.record_stream(1, MetricKind::Latency, 2_000);
        log.finish(2_000_000_000).unwrap();

        let t = table(&path, "latency").unwrap();
        assert_eq!(t.count, 1001);
        assert_eq!(t.negatives, 1);
        assert_eq!(t.tags, vec!["a.latency", "b.latency"]);
        let at = |p: f64| t.points.iter().find(|x| x.p == p).unwrap().ns;
        assert_eq!(at(0.0), 1);
        assert_eq!(at(50.0), 501);
        assert_eq!(at(100.0), 2_000);
        assert_eq!(t.points.len(), PERCENTILES.len());
        let tx = table(&path, "tx_error").unwrap();
        assert_eq!(tx.count, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
