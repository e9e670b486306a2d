//! Metric: percentiles at 3 significant figures, signed values, clamping,
//! merge.

use proptest::prelude::*;
use takt_stack::stats::{Metric, METRIC_MAX_NS};

fn metric_of(values: impl IntoIterator<Item = i64>) -> Metric {
    let mut m = Metric::new();
    for v in values {
        m.record(v);
    }
    m
}

#[test]
fn small_values_are_exact() {
    // Below 2048 ns the histogram has 1 ns bins: nearest-rank exactly.
    let m = metric_of(0..=1000);
    let s = m.summary();
    assert_eq!(s.count, 1001);
    assert_eq!(s.min, Some(0));
    assert_eq!(s.p50, Some(500));
    assert_eq!(s.p90, Some(900));
    assert_eq!(s.p99, Some(990));
    assert_eq!(s.p999, Some(999));
    assert_eq!(s.max, Some(1000));
    assert_eq!(s.mean, Some(500.0));
    assert_eq!(s.overflows, 0);
}

#[test]
fn percentiles_of_1_to_10000_at_3_significant_figures() {
    // 4096..8191 ns: 4 ns bins; 8192..16383 ns: 8 ns bins. A percentile is
    // the top of the bin holding the nearest-rank value.
    let m = metric_of(1..=10_000);
    let s = m.summary();
    assert_eq!(s.min, Some(1));
    assert_eq!(s.p50, Some(5003)); // rank 5000, bin [5000, 5003]
    assert_eq!(s.p90, Some(9007)); // rank 9000, bin [9000, 9007]
    assert_eq!(s.p99, Some(9903)); // rank 9900, bin [9896, 9903]
    assert_eq!(s.p999, Some(9991)); // rank 9990, bin [9984, 9991]
    assert_eq!(s.max, Some(10_000));
    assert_eq!(s.mean, Some(5000.5));
    assert_eq!(s.count, 10_000);

    // Same as hdrhistogram's own answer for a non-negative distribution.
    let h = m.non_negative();
    for q in [0.5, 0.9, 0.99, 0.999] {
        assert_eq!(m.value_at_quantile(q), Some(h.value_at_quantile(q) as i64));
    }
}

#[test]
fn percentile_never_exceeds_exact_max() {
    // 12345 sits in bin [12344, 12351]; the exact max wins.
    let m = metric_of([12_345]);
    let s = m.summary();
    assert_eq!(s.p50, Some(12_345));
    assert_eq!(s.p999, Some(12_345));
    assert_eq!((s.min, s.max), (Some(12_345), Some(12_345)));
}

#[test]
fn negative_values_are_recorded_exactly() {
    let m = metric_of((1..=10_000).map(|v| -v));
    let s = m.summary();
    assert_eq!(s.min, Some(-10_000));
    assert_eq!(s.max, Some(-1));
    // Ascending signed order: rank r is the (10001 - r)-th smallest magnitude,
    // reported as minus the bottom of its bin.
    assert_eq!(s.p50, Some(-5000)); // magnitude 5001, bin [5000, 5003]
    assert_eq!(s.p90, Some(-1001)); // magnitude 1001, exact
    assert_eq!(s.p99, Some(-101));
    assert_eq!(s.p999, Some(-11));
    assert_eq!(s.mean, Some(-5000.5));
    assert_eq!(m.negative_count(), 10_000);
    assert_eq!(m.non_negative().len(), 0);
}

#[test]
fn mixed_signs_span_zero() {
    let m = metric_of(-500..500);
    let s = m.summary();
    assert_eq!(s.min, Some(-500));
    assert_eq!(s.p50, Some(-1)); // 500th of -500..=499
    assert_eq!(s.p90, Some(399));
    assert_eq!(s.p99, Some(489));
    assert_eq!(s.p999, Some(498)); // rank 999
    assert_eq!(s.max, Some(499));
    assert_eq!(s.mean, Some(-0.5));
    assert_eq!(m.value_at_quantile(0.0), Some(-500));
    assert_eq!(m.value_at_quantile(1.0), Some(499));
}

#[test]
fn beyond_60_s_is_clamped_and_counted_not_dropped() {
    let m = metric_of([61_000_000_000, -70_000_000_000, i64::MAX, i64::MIN, 5]);
    let s = m.summary();
    assert_eq!(s.count, 5);
    assert_eq!(s.overflows, 4);
    // min / max / mean see the exact values.
    assert_eq!(s.min, Some(i64::MIN));
    assert_eq!(s.max, Some(i64::MAX));
    let exact_sum = 61_000_000_000i128 - 70_000_000_000 + i64::MAX as i128 + i64::MIN as i128 + 5;
    assert_eq!(m.sum(), exact_sum);
    // Percentiles see the clamped values: +-60 s at histogram precision.
    let tol = (METRIC_MAX_NS / 1000) as i64;
    let p999 = s.p999.unwrap();
    assert!((p999 - METRIC_MAX_NS as i64).abs() <= tol, "p999 {p999}");
    let p0 = m.value_at_quantile(0.0).unwrap();
    assert!((p0 + METRIC_MAX_NS as i64).abs() <= tol, "p0 {p0}");
    assert_eq!(s.p50, Some(5));
    // Every value is in a histogram.
    assert_eq!(m.non_negative().len() + m.negative_count(), 5);
}

#[test]
fn exactly_60_s_is_not_an_overflow() {
    let m = metric_of([METRIC_MAX_NS as i64, -(METRIC_MAX_NS as i64)]);
    assert_eq!(m.overflows(), 0);
    assert_eq!(m.count(), 2);
}

#[test]
fn empty_metric_has_no_values() {
    let m = Metric::new();
    let s = m.summary();
    assert_eq!(s.count, 0);
    assert_eq!(s.min, None);
    assert_eq!(s.p50, None);
    assert_eq!(s.max, None);
    assert_eq!(s.mean, None);
    assert_eq!(m.value_at_quantile(0.5), None);
}

#[test]
fn merge_equals_recording_everything_into_one() {
    let a: Vec<i64> = (0..5000).map(|i| i * 37 - 20_000).collect();
    let b: Vec<i64> = (0..3000)
        .map(|i| i * 1013 + 7)
        .chain([70_000_000_000])
        .collect();
    let mut merged = metric_of(a.iter().copied());
    merged.merge(&metric_of(b.iter().copied()));
    let all = metric_of(a.iter().chain(&b).copied());
    assert_eq!(merged.summary(), all.summary());
    assert_eq!(merged.sum(), all.sum());
    assert_eq!(merged.overflows(), 1);
    // Merging an empty metric changes nothing.
    merged.merge(&Metric::new());
    assert_eq!(merged.summary(), all.summary());
}

#[test]
fn reset_empties_and_keeps_working() {
    let mut m = metric_of([-3, 4, 80_000_000_000]);
    m.reset();
    assert_eq!(m.summary(), Metric::new().summary());
    m.record(42);
    assert_eq!(m.summary().p50, Some(42));
}

/// Nearest-rank value of sorted `v` at `q`, as hdrhistogram ranks.
fn exact_quantile(sorted: &[i64], q: f64) -> i64 {
    let n = sorted.len() as u64;
    let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
    sorted[rank as usize - 1]
}

proptest! {
    #[test]
    fn quantiles_within_histogram_precision(
        values in prop::collection::vec(-10_000_000_000i64..10_000_000_000, 1..400),
        q in 0.0f64..=1.0,
    ) {
        let m = metric_of(values.iter().copied());
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let exact = exact_quantile(&sorted, q);
        let got = m.value_at_quantile(q).unwrap();
        // 3 significant figures: bins are at most 1/1024 of the value wide.
        let tol = exact.unsigned_abs() / 1024 + 1;
        prop_assert!(got.abs_diff(exact) <= tol, "q {} exact {} got {}", q, exact, got);
        prop_assert_eq!(m.min(), sorted.first().copied());
        prop_assert_eq!(m.max(), sorted.last().copied());
        prop_assert_eq!(m.count(), values.len() as u64);
        prop_assert_eq!(m.overflows(), 0);
    }
}
