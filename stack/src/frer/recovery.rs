//! The sequence recovery function (802.1CB 7.4.3) of one stream, or of one
//! member path (individual recovery, 7.5): decides per received sequence
//! number whether the frame passes or is discarded, and keeps the counters
//! 802.1CB names (10.8). Latent error detection (7.4.4) runs on the
//! stream's instance. Sans-I/O: numbers and times in, verdicts out; no
//! allocation after `new`.
//!
//! SKELETON: the API the rest of the code builds on; the algorithms are
//! filled in by the recovery work (issue 15).

use takt_scheduler::redundancy::FrerParams;

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

/// One sequence recovery function.
#[derive(Clone, Debug)]
pub struct SequenceRecovery {
    params: FrerParams,
    paths: u32,
    counters: RecoveryCounters,
}

impl SequenceRecovery {
    /// A recovery function for a stream arriving over `paths` member paths
    /// (latent error detection expects `paths - 1` discards per pass; give
    /// 1 for an individual recovery, which then runs no latent test).
    pub fn new(params: &FrerParams, paths: u32) -> Self {
        SequenceRecovery {
            params: *params,
            paths,
            counters: RecoveryCounters::default(),
        }
    }

    /// A frame with R-TAG number `seq` (`None`: no R-TAG) at `now_ns`.
    pub fn on_frame(&mut self, seq: Option<u16>, now_ns: u64) -> Verdict {
        let _ = (seq, now_ns, self.paths, self.params);
        self.counters.passed += 1;
        Verdict::Pass
    }

    /// Let time pass: the reset timer and the latent error test and reset
    /// run here. Call it on every frame and when idle (at least once per
    /// reset timeout).
    pub fn tick(&mut self, now_ns: u64) {
        let _ = now_ns;
    }

    pub fn counters(&self) -> &RecoveryCounters {
        &self.counters
    }
}
