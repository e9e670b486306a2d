//! The mirror's view of the talker's clock, from the stream alone (no clock
//! sync): d = min over a sliding window of (R_mirror - H_talker), the
//! mirror's receive stamp minus the frame's `tx_ns`. d is the clocks'
//! offset plus the shortest one-way delay seen, so `mirror time - d` is a
//! talker time that lags the true one by at most that shortest delay.
//!
//! The window is two buckets of half its length: d is the minimum of the
//! current and the previous bucket, so a sample older than one to two
//! windows no longer counts and a drifting offset is followed.

/// Default window: one second, as RTC-Testbench's mirror needs no more
/// than a few cycles but a loaded host can stall for tens of ms.
pub const DEFAULT_WINDOW_NS: u64 = 1_000_000_000;

/// A change of d by more than this between buckets counts as a step.
pub const STEP_NS: u64 = 1_000;

/// Sliding two-bucket minimum of `R - H`.
#[derive(Clone, Copy, Debug)]
pub struct OffsetEstimator {
    half_ns: u64,
    /// Start of the current bucket (mirror clock); 0 = none yet.
    bucket_start: u64,
    cur: Option<i64>,
    prev: Option<i64>,
    /// The estimate last published, to count steps.
    last: Option<i64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub steps: u64,
    pub samples: u64,
}

impl OffsetEstimator {
    pub fn new(window_ns: u64) -> Self {
        OffsetEstimator {
            half_ns: (window_ns / 2).max(1),
            bucket_start: 0,
            cur: None,
            prev: None,
            last: None,
            min: None,
            max: None,
            steps: 0,
            samples: 0,
        }
    }

    /// One frame: received at `r_ns` (mirror clock), sent at `h_ns`
    /// (talker clock). Returns the estimate d after it.
    pub fn observe(&mut self, r_ns: u64, h_ns: u64) -> i64 {
        let sample = (i128::from(r_ns) - i128::from(h_ns))
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        if self.samples == 0 || r_ns >= self.bucket_start.saturating_add(self.half_ns) {
            // A new bucket; after a gap of more than one, the old one is stale.
            let gap = r_ns.saturating_sub(self.bucket_start);
            self.prev = if self.samples > 0 && gap < 2 * self.half_ns {
                self.cur
            } else {
                None
            };
            self.cur = None;
            self.bucket_start = r_ns;
        }
        self.samples += 1;
        self.cur = Some(self.cur.map_or(sample, |c| c.min(sample)));
        let d = self.estimate().unwrap_or(sample);
        if let Some(l) = self.last {
            if l.abs_diff(d) > STEP_NS {
                self.steps += 1;
            }
        }
        self.last = Some(d);
        self.min = Some(self.min.map_or(d, |m| m.min(d)));
        self.max = Some(self.max.map_or(d, |m| m.max(d)));
        d
    }

    /// The current d, once a frame was seen.
    pub fn estimate(&self) -> Option<i64> {
        match (self.cur, self.prev) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// `t + d` (talker time to mirror time), saturating.
pub fn to_mirror(t_talker: u64, d: i64) -> u64 {
    t_talker.saturating_add_signed(d)
}

/// `t - d` (mirror time to talker time), saturating.
pub fn to_talker(t_mirror: u64, d: i64) -> u64 {
    t_mirror.saturating_add_signed(d.saturating_neg())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames every 1 ms sent at talker time h; the mirror's clock is
    /// `offset` ahead and drifts `ppm`; the one-way delay is 10 us plus
    /// jitter from 0 to 40 us, with the shortest delay on every 7th frame.
    fn run(offset: i64, ppm: i64, n: u64) -> (OffsetEstimator, Vec<(u64, i64)>) {
        let mut e = OffsetEstimator::new(DEFAULT_WINDOW_NS);
        let mut out = Vec::new();
        for k in 0..n {
            let h = 1_000_000_000_000 + k * 1_000_000;
            let jitter = if k % 7 == 0 { 0 } else { (k * 7_919) % 40_000 };
            let skew = offset + (h as i64 - 1_000_000_000_000) * ppm / 1_000_000;
            let r = (h + 10_000 + jitter).saturating_add_signed(skew);
            out.push((h, e.observe(r, h)));
        }
        (e, out)
    }

    #[test]
    fn without_drift_d_is_the_offset_plus_the_shortest_delay() {
        for offset in [0, 3_300_000, -3_300_000] {
            let (e, out) = run(offset, 0, 3_000);
            for &(_, d) in &out[7..] {
                assert_eq!(d, offset + 10_000, "offset {offset}");
            }
            assert_eq!(e.steps, 0);
            assert_eq!(
                (e.min, e.max),
                (Some(offset + 10_000), Some(offset + 10_000))
            );
        }
    }

    #[test]
    fn an_offset_of_3_3_ms_maps_times_back_exactly() {
        let (e, _) = run(3_300_000, 0, 100);
        let d = e.estimate().unwrap();
        // A talker time and back: the same time, the shortest delay apart.
        let t = 1_000_050_000_000u64;
        assert_eq!(to_talker(to_mirror(t, d), d), t);
        assert_eq!(to_mirror(t, d) - t, 3_310_000);
    }

    #[test]
    fn a_drifting_clock_is_followed_within_the_window() {
        // 100 ppm: 100 us per second. Over 5 s the offset moves 500 us;
        // the estimate trails by at most one window's drift (100 us) plus
        // the 7-frame gap of the shortest delay.
        let (_, out) = run(3_300_000, 100, 5_000);
        for &(h, d) in &out[1_000..] {
            let true_d = 3_300_000 + (h as i64 - 1_000_000_000_000) / 10_000 + 10_000;
            let err = true_d - d;
            assert!(
                (0..=100_000 + 1_000).contains(&err),
                "at {h}: d {d}, true {true_d}"
            );
        }
    }

    #[test]
    fn a_gap_longer_than_the_window_forgets_the_old_minimum() {
        let mut e = OffsetEstimator::new(1_000_000);
        e.observe(1_000_000, 0); // d 1 ms
                                 // Much later the offset is 2 ms larger: the old minimum is gone.
        assert_eq!(e.observe(100_000_000, 97_000_000), 3_000_000);
        assert_eq!(e.steps, 1);
    }
}
