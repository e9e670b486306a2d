//! The sequence recovery function (802.1CB 7.4.3) of one stream, or of one
//! member path (individual recovery, 7.5): decides per received sequence
//! number whether the frame passes or is discarded, and keeps the counters
//! 802.1CB names (10.8). Latent error detection (7.4.4) runs on the
//! stream's instance. Sans-I/O: numbers and times in, verdicts out; no
//! allocation after `new`, no panic on any number or time.
//!
//! Where this follows 802.1CB-2017 and where it chooses (the standard's
//! text was not at hand; the algorithms were checked against the
//! management objects' descriptions of 10.4.1 and public implementations
//! of 7.4.3/7.4.4):
//!
//! - Numbers are compared as `delta = seq - RecovSeqNum` modulo 2^16, read
//!   as a signed 16-bit difference (7.4.3.2.1: RecovSeqSpace = 2^16).
//! - Vector (7.4.3.4): after creation and every reset, TakeAny passes the
//!   next frame whatever its number and starts the history there.
//!   `|delta| >= history_length` is rogue (a history_length below the
//!   standard's minimum of 2 behaves as 2): counted `rogue` only (not
//!   `discarded`, so the latent error test sees duplicates alone),
//!   discarded, no state changes, the reset timer is not restarted (some
//!   implementations restart it for an individual recovery; we do not, so
//!   a path that replays an old number cannot hold off a reset).
//!   `delta > 0` moves the history on; `delta <= 0` is a duplicate if its
//!   bit is set, else a late frame, passed and counted out of order.
//! - `lost` counts numbers that leave the history unseen. Chosen: numbers
//!   older than the frame TakeAny took are never counted lost (they were
//!   never expected), so a lost count after a reset is not inflated by
//!   `history_length - 1`. They may still pass if they arrive late.
//! - Match (7.4.3.5): TakeAny as above; `delta == 0` is discarded, any
//!   other number passes (out of order unless `delta == 1`) and becomes
//!   RecovSeqNum. Match has no history, so it counts nothing `lost` or
//!   `rogue`, and a copy that arrives after a later number passes again.
//! - Reset timer (7.4.3.2.4 RemainingTicks, frerSeqRcvyResetMSec): each
//!   pass restarts it; when it runs out the function resets (TakeAny,
//!   history cleared, `resets += 1`). It is not armed until something
//!   passed after creation or the last reset, so an idle function counts
//!   one reset per silence, not one per timeout. An individual recovery
//!   (`paths == 1` with `individual_recovery`) also restarts it on every
//!   discarded duplicate (10.4.1.10 a).
//! - Latent error detection (7.4.4), on an instance with `paths >= 2` and
//!   `latent_error_detection`: the reset (7.4.4.3) takes
//!   CurBaseDifference = (paths - 1) * passed - discarded every
//!   `latent_reset_period_ns` and counts `latent_error_resets`; the test
//!   (7.4.4.4) every `latent_error_period_ns` computes
//!   |CurBaseDifference - ((paths - 1) * passed - discarded)| and signals
//!   a latent error when it exceeds `latent_error_difference`. Chosen: both
//!   clocks start at the first `tick`/`on_frame` time (not counted as a
//!   reset; the base is 0 then); when both fall due together the test
//!   runs first (it judges the period that just ended); after a gap in
//!   ticks each runs once, not once per missed period.

use takt_scheduler::redundancy::{FrerParams, RecoveryAlgorithm, MAX_HISTORY_LENGTH};

/// Bits of the history ring: one per number modulo this, enough for the
/// longest history. 2^16 is a multiple, so slots stay right across wrap.
const RING: u16 = MAX_HISTORY_LENGTH;
const WORDS: usize = RING as usize / 64;
/// 802.1CB's smallest frerSeqRcvyHistoryLength (10.4.1.6): with 1 the
/// window `|delta| < 1` would make every new number rogue, so 1 (or 0)
/// behaves as 2.
pub const MIN_HISTORY_LENGTH: u16 = 2;

/// What to do with one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it up: the first copy of its number (or a frame without an
    /// R-TAG when `take_no_sequence`).
    Pass,
    /// A copy of a number already passed: eliminated (counted `discarded`).
    Discard,
    /// Outside the history window (vector): counted `rogue`, discarded,
    /// and changes no state.
    Rogue,
    /// No R-TAG and `take_no_sequence` is off: counted `tagless`, discarded.
    Tagless,
}

/// 802.1CB's per-function counters (10.8: frerCpsSeqRcvy...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryCounters {
    /// frerCpsSeqRcvyPassedPackets.
    pub passed: u64,
    /// frerCpsSeqRcvyDiscardedPackets: duplicates eliminated.
    pub discarded: u64,
    /// frerCpsSeqRcvyOutOfOrderPackets: passed, but not the next number.
    pub out_of_order: u64,
    /// frerCpsSeqRcvyRoguePackets.
    pub rogue: u64,
    /// frerCpsSeqRcvyLostPackets: numbers that left the history unseen.
    pub lost: u64,
    /// frerCpsSeqRcvyTaglessPackets.
    pub tagless: u64,
    /// frerCpsSeqRcvyResets: the reset timer expired.
    pub resets: u64,
    /// SIGNAL_LATENT_ERROR events (7.4.4.4).
    pub latent_errors: u64,
    /// frerCpsSeqRcvyLatentErrorResets (7.4.4.3).
    pub latent_error_resets: u64,
}

/// Latent error detection's state (7.4.4.2).
#[derive(Clone, Copy, Debug)]
struct Latent {
    /// CurBaseDifference. i128: (paths - 1) * passed cannot overflow it.
    base: i128,
    next_test_ns: u64,
    next_reset_ns: u64,
    /// The last test signalled.
    error: bool,
}

/// One sequence recovery function.
#[derive(Clone, Debug)]
pub struct SequenceRecovery {
    params: FrerParams,
    paths: u32,
    /// `params.history_length` clamped to MIN_HISTORY_LENGTH..=RING.
    history_length: u16,
    counters: RecoveryCounters,
    take_any: bool,
    /// RecovSeqNum: the highest number passed (vector), the last (match).
    recov_seq: u16,
    /// SequenceHistory as a ring: bit (n % RING) set = number n seen, for
    /// n in (recov_seq - history_length, recov_seq].
    history: [u64; WORDS],
    /// How many of the oldest history positions hold numbers before the
    /// one TakeAny took (never counted lost).
    before_start: u16,
    /// When the reset timer runs out (`None`: not armed).
    reset_at_ns: Option<u64>,
    /// Time of the first tick (the latent clocks start there).
    started: bool,
    latent: Option<Latent>,
}

impl SequenceRecovery {
    /// A recovery function for a stream arriving over `paths` member paths
    /// (latent error detection expects `paths - 1` discards per pass; give
    /// 1 for an individual recovery, which then runs no latent test).
    pub fn new(params: &FrerParams, paths: u32) -> Self {
        let latent = (paths >= 2
            && params.latent_error_detection
            && params.latent_error_period_ns > 0
            && params.latent_reset_period_ns > 0)
            .then_some(Latent {
                base: 0,
                next_test_ns: 0,
                next_reset_ns: 0,
                error: false,
            });
        SequenceRecovery {
            params: *params,
            paths,
            history_length: params.history_length.clamp(MIN_HISTORY_LENGTH, RING),
            counters: RecoveryCounters::default(),
            take_any: true,
            recov_seq: 0,
            history: [0; WORDS],
            before_start: 0,
            reset_at_ns: None,
            started: false,
            latent,
        }
    }

    /// A frame with R-TAG number `seq` (`None`: no R-TAG) at `now_ns`.
    pub fn on_frame(&mut self, seq: Option<u16>, now_ns: u64) -> Verdict {
        self.tick(now_ns);
        let Some(seq) = seq else {
            self.counters.tagless += 1;
            return if self.params.take_no_sequence {
                Verdict::Pass
            } else {
                Verdict::Tagless
            };
        };
        let verdict = if self.take_any {
            self.take(seq);
            Verdict::Pass
        } else {
            match self.params.algorithm {
                RecoveryAlgorithm::Vector => self.vector(seq),
                RecoveryAlgorithm::Match => self.matching(seq),
            }
        };
        match verdict {
            Verdict::Pass => {
                self.counters.passed += 1;
                self.arm_reset(now_ns);
            }
            Verdict::Discard => {
                self.counters.discarded += 1;
                if self.is_individual() {
                    self.arm_reset(now_ns);
                }
            }
            Verdict::Rogue => self.counters.rogue += 1,
            Verdict::Tagless => {}
        }
        verdict
    }

    /// Let time pass: the reset timer and the latent error test and reset
    /// run here. Call it on every frame and when idle (at least once per
    /// reset timeout).
    pub fn tick(&mut self, now_ns: u64) {
        if !self.started {
            self.started = true;
            if let Some(l) = &mut self.latent {
                l.next_test_ns = now_ns.saturating_add(self.params.latent_error_period_ns);
                l.next_reset_ns = now_ns.saturating_add(self.params.latent_reset_period_ns);
            }
        }
        if self.reset_at_ns.is_some_and(|at| now_ns >= at) {
            self.reset();
        }
        self.latent_tick(now_ns);
    }

    pub fn counters(&self) -> &RecoveryCounters {
        &self.counters
    }

    /// Whether the last latent error test signalled (SIGNAL_LATENT_ERROR,
    /// 7.4.4.4); false before the first test and without detection.
    pub fn latent_error(&self) -> bool {
        self.latent.is_some_and(|l| l.error)
    }

    /// An individual recovery function (7.5): its discards hold off the
    /// reset timer (10.4.1.10).
    fn is_individual(&self) -> bool {
        self.paths <= 1 && self.params.individual_recovery
    }

    fn arm_reset(&mut self, now_ns: u64) {
        self.reset_at_ns = Some(now_ns.saturating_add(self.params.reset_timeout_ns));
    }

    /// SequenceRecoveryReset (7.4.3.3).
    fn reset(&mut self) {
        self.counters.resets += 1;
        self.take_any = true;
        self.history = [0; WORDS];
        self.reset_at_ns = None;
    }

    /// TakeAny: `seq` passes and starts the history.
    fn take(&mut self, seq: u16) {
        self.take_any = false;
        self.recov_seq = seq;
        self.history = [0; WORDS];
        self.set(seq);
        self.before_start = self.history_length - 1;
    }

    /// VectorRecoveryAlgorithm (7.4.3.4), TakeAny aside.
    fn vector(&mut self, seq: u16) -> Verdict {
        let delta = seq.wrapping_sub(self.recov_seq) as i16;
        if delta.unsigned_abs() >= self.history_length {
            return Verdict::Rogue;
        }
        if delta <= 0 {
            if self.is_set(seq) {
                return Verdict::Discard;
            }
            self.set(seq);
            self.counters.out_of_order += 1;
            return Verdict::Pass;
        }
        if delta != 1 {
            self.counters.out_of_order += 1;
        }
        // Each step one number leaves the window's old end and one enters
        // at the new end; with a full ring they share a slot, so read the
        // leaving bit before clearing the entering one.
        for _ in 0..delta {
            let leaving = self.recov_seq.wrapping_sub(self.history_length - 1);
            if self.before_start > 0 {
                self.before_start -= 1;
            } else if !self.is_set(leaving) {
                self.counters.lost += 1;
            }
            self.recov_seq = self.recov_seq.wrapping_add(1);
            self.clear(self.recov_seq);
        }
        self.set(seq);
        Verdict::Pass
    }

    /// MatchRecoveryAlgorithm (7.4.3.5), TakeAny aside.
    fn matching(&mut self, seq: u16) -> Verdict {
        let delta = seq.wrapping_sub(self.recov_seq);
        if delta == 0 {
            return Verdict::Discard;
        }
        if delta != 1 {
            self.counters.out_of_order += 1;
        }
        self.recov_seq = seq;
        Verdict::Pass
    }

    fn slot(n: u16) -> (usize, u64) {
        let i = n % RING;
        ((i / 64) as usize, 1u64 << (i % 64))
    }
    fn is_set(&self, n: u16) -> bool {
        let (w, b) = Self::slot(n);
        self.history[w] & b != 0
    }
    fn set(&mut self, n: u16) {
        let (w, b) = Self::slot(n);
        self.history[w] |= b;
    }
    fn clear(&mut self, n: u16) {
        let (w, b) = Self::slot(n);
        self.history[w] &= !b;
    }

    /// (paths - 1) * passed - discarded: constant while every path delivers
    /// every number.
    fn difference(&self) -> i128 {
        i128::from(self.paths.saturating_sub(1)) * i128::from(self.counters.passed)
            - i128::from(self.counters.discarded)
    }

    /// LatentErrorTest (7.4.4.4) and LatentErrorReset (7.4.4.3) when due.
    fn latent_tick(&mut self, now_ns: u64) {
        let Some(mut l) = self.latent else { return };
        let p = &self.params;
        if now_ns >= l.next_test_ns {
            let diff = (l.base - self.difference()).unsigned_abs();
            l.error = diff > u128::from(p.latent_error_difference);
            if l.error {
                self.counters.latent_errors += 1;
            }
            l.next_test_ns = next_after(l.next_test_ns, p.latent_error_period_ns, now_ns);
        }
        if now_ns >= l.next_reset_ns {
            l.base = self.difference();
            self.counters.latent_error_resets += 1;
            l.next_reset_ns = next_after(l.next_reset_ns, p.latent_reset_period_ns, now_ns);
        }
        self.latent = Some(l);
    }
}

/// The first `due + k * period` (k >= 1) after `now` (period > 0).
fn next_after(due: u64, period: u64, now: u64) -> u64 {
    let missed = now.saturating_sub(due) / period;
    due.saturating_add(period.saturating_mul(missed.saturating_add(1)))
}

#[cfg(test)]
mod tests;
