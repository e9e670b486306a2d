//! Sequence-number bookkeeping for one stream: lost, duplicate and
//! reordered frames, with a sliding window of recently seen numbers so a
//! late frame that was first counted lost is moved to "reordered".
//!
//! Numbers come from the wire, so none is trusted on its own:
//!
//! - A frame of the followed talker instance (epoch) whose number lies
//!   within the jump bound of the expected one (ahead by at most what the
//!   stream can have sent since the last frame, behind by at most that
//!   much) is counted as usual.
//! - Any other frame (another epoch, a jump past the bound, the number
//!   `u64::MAX` that no talker reaches) is *held*, and moves nothing. If
//!   the next frame that does not fit either continues the held one (same
//!   epoch, a number just after it), the two agree: the tracker follows
//!   them from there, as a *restart* (new epoch) or a *resync* (same
//!   epoch). Otherwise the held frame is counted *rogue* and dropped.
//! - A stream's first frame starts it at once when its number is one a
//!   talker that just started sends (at most `MIN_JUMP`): a stream that
//!   sends a single frame in a run (a slow stream, a short or starved run)
//!   still counts it. A first frame with a larger number (a listener that
//!   joined late, or a forgery) is held like any other: two that agree
//!   start the stream. One forged frame therefore never moves the counts
//!   by more than itself (a forged small first frame is one frame received
//!   and, when the real talker follows, one restart); two consistent
//!   forged frames cost one resync, never an absurd count.
//!
//! All arithmetic on received numbers is checked.

/// How far back (in sequence numbers) a late frame is still recognised.
pub const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;
/// Jump bound with no time elapsed: a burst of up to this many lost frames
/// is counted as lost, not held.
pub const MIN_JUMP: u64 = WINDOW;
/// Slack over the schedule's rate in the time-based bound, so that a
/// schedule change to a faster stream (up to this factor) is still
/// followed without resyncs.
pub const RATE_SLACK: u64 = 4;

/// What one received sequence number turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The next expected frame, or a jump ahead over `skipped` frames
    /// (counted lost until they show up).
    Ahead { skipped: u64 },
    /// Seen before.
    Duplicate,
    /// Older than the newest seen but not seen before: it was counted lost
    /// and is now taken off that count.
    Reordered,
    /// Older than the window can tell, but within the jump bound: counted
    /// as reordered, without touching the lost count.
    TooOld,
    /// Does not fit: kept aside until the next frame tells whether it was
    /// real. Nothing counted yet (except a previously held frame, now
    /// rogue).
    Held,
    /// This frame continued the held one: both are now counted (received,
    /// never duplicate or reordered). `restart`: under a new epoch (else a
    /// resync within the same one, or the stream's first frames).
    Confirmed { restart: bool },
}

/// A frame kept aside (see the module comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    epoch: u64,
    seq: u64,
    rx_ns: u64,
}

/// How far a sequence number may move between two frames: `MIN_JUMP`
/// plus what the stream can send in the time between them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JumpBound {
    /// Stream rate as frames per `per_ns` (0: no rate known, the bound is
    /// `MIN_JUMP` whatever the time).
    pub frames: u64,
    pub per_ns: u64,
}

impl JumpBound {
    /// `frames_per_cycle` every `cycle_ns`.
    pub fn per_cycle(frames_per_cycle: u64, cycle_ns: u64) -> Self {
        JumpBound {
            frames: frames_per_cycle,
            per_ns: cycle_ns,
        }
    }

    /// Largest move allowed after `elapsed_ns`. Saturates, never overflows.
    pub fn allowed(&self, elapsed_ns: u64) -> u64 {
        if self.per_ns == 0 {
            return MIN_JUMP;
        }
        // Whole cycles elapsed, plus the one in progress.
        let cycles = (elapsed_ns / self.per_ns).saturating_add(1);
        MIN_JUMP.saturating_add(
            cycles
                .saturating_mul(self.frames)
                .saturating_mul(RATE_SLACK),
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqTracker {
    bound: JumpBound,
    /// The talker instance followed (`None`: not started yet).
    epoch: Option<u64>,
    /// Next number expected (highest seen + 1).
    next: u64,
    /// Receive time of the last frame counted.
    last_rx_ns: u64,
    /// Bit (s % WINDOW) set = number s seen, for s in (next - WINDOW, next).
    seen: [u64; WORDS],
    held: Option<Held>,
    pub unique: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Frames held and then not confirmed.
    pub rogue: u64,
    /// Switches to a new talker epoch.
    pub restarts: u64,
    /// Jumps past the bound that a second frame confirmed.
    pub resyncs: u64,
}

impl SeqTracker {
    /// A tracker with no rate: jumps of up to `MIN_JUMP` are followed.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracker whose jump bound grows with the time between frames.
    pub fn with_bound(bound: JumpBound) -> Self {
        SeqTracker {
            bound,
            ..Self::default()
        }
    }

    fn bit(s: u64) -> (usize, u64) {
        let i = s % WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    fn clear_range(&mut self, from: u64, to: u64) {
        // Numbers in [from, to) re-enter the window unseen; at most WINDOW of them matter.
        let from = from.max(to.saturating_sub(WINDOW));
        for s in from..to {
            let (w, b) = Self::bit(s);
            self.seen[w] &= !b;
        }
    }

    /// A frame without an epoch or receive time (e.g. a UDP datagram):
    /// jumps up to `MIN_JUMP` are followed.
    pub fn record(&mut self, seq: u64) -> Arrival {
        self.record_frame(0, seq, 0)
    }

    /// A frame of talker instance `epoch`, number `seq`, received at
    /// `rx_ns` (any clock that does not jump; only differences are used).
    pub fn record_frame(&mut self, epoch: u64, seq: u64, rx_ns: u64) -> Arrival {
        if self.epoch == Some(epoch) && seq != u64::MAX {
            let allowed = self.bound.allowed(rx_ns.saturating_sub(self.last_rx_ns));
            if let Some(a) = self.record_in_epoch(seq, allowed) {
                // A real frame came between: the held one was not.
                if self.held.take().is_some() {
                    self.rogue += 1;
                }
                self.last_rx_ns = self.last_rx_ns.max(rx_ns);
                return a;
            }
        }
        if self.epoch.is_none() && seq <= MIN_JUMP {
            return self.start(epoch, seq, rx_ns);
        }
        self.hold_or_confirm(epoch, seq, rx_ns)
    }

    /// The stream's first frame, `seq` numbers after a talker's first:
    /// the ones before it are lost until they show up.
    fn start(&mut self, epoch: u64, seq: u64, rx_ns: u64) -> Arrival {
        // A frame held before it (a large number) did not start the stream.
        if self.held.take().is_some() {
            self.rogue = self.rogue.saturating_add(1);
        }
        self.epoch = Some(epoch);
        self.next = 0;
        self.advance_to(seq);
        self.lost = self.lost.saturating_add(seq);
        self.last_rx_ns = rx_ns;
        Arrival::Ahead { skipped: seq }
    }

    /// Count `seq` against the current state if it is within `allowed` of
    /// the expected number; `None` if it is not.
    fn record_in_epoch(&mut self, seq: u64, allowed: u64) -> Option<Arrival> {
        if let Some(skipped) = seq.checked_sub(self.next) {
            if skipped > allowed {
                return None;
            }
            self.advance_to(seq);
            self.lost = self.lost.saturating_add(skipped);
            return Some(Arrival::Ahead { skipped });
        }
        // seq < next here, so next >= 1.
        let behind = self.next - seq;
        if behind > WINDOW {
            if behind > allowed {
                return None;
            }
            self.reordered = self.reordered.saturating_add(1);
            return Some(Arrival::TooOld);
        }
        let (w, b) = Self::bit(seq);
        if self.seen[w] & b != 0 {
            self.duplicates = self.duplicates.saturating_add(1);
            return Some(Arrival::Duplicate);
        }
        self.seen[w] |= b;
        self.lost = self.lost.saturating_sub(1);
        self.reordered = self.reordered.saturating_add(1);
        self.unique = self.unique.saturating_add(1);
        Some(Arrival::Reordered)
    }

    /// Mark `seq` (>= next, < u64::MAX) seen and expect the one after it.
    fn advance_to(&mut self, seq: u64) {
        let after = seq.saturating_add(1);
        self.clear_range(self.next, after);
        let (w, b) = Self::bit(seq);
        self.seen[w] |= b;
        self.next = after;
        self.unique = self.unique.saturating_add(1);
    }

    fn hold_or_confirm(&mut self, epoch: u64, seq: u64, rx_ns: u64) -> Arrival {
        let new = Held { epoch, seq, rx_ns };
        let Some(h) = self.held.replace(new) else {
            return Arrival::Held;
        };
        let continues = h.epoch == epoch
            && seq != u64::MAX
            && seq
                .checked_sub(h.seq)
                .is_some_and(|d| d >= 1 && d <= self.bound.allowed(rx_ns.saturating_sub(h.rx_ns)));
        if !continues {
            self.rogue = self.rogue.saturating_add(1);
            return Arrival::Held;
        }
        self.held = None;
        let restart = self.epoch.is_some_and(|e| e != epoch);
        if restart {
            self.restarts = self.restarts.saturating_add(1);
        } else if self.epoch.is_some() {
            self.resyncs = self.resyncs.saturating_add(1);
        }
        self.epoch = Some(epoch);
        // A stream (re)starts at 0: the numbers before the first one seen
        // are lost if it is near the start, else the listener joined late.
        self.seen = [0; WORDS];
        self.next = if h.seq <= MIN_JUMP { 0 } else { h.seq };
        self.lost = self.lost.saturating_add(h.seq - self.next);
        self.advance_to(h.seq);
        self.lost = self.lost.saturating_add(seq - h.seq - 1);
        self.advance_to(seq);
        self.last_rx_ns = rx_ns.max(h.rx_ns);
        Arrival::Confirmed { restart }
    }

    /// Rogue frames, counting a frame still held (unconfirmed at the end
    /// of a run).
    pub fn rogue_including_held(&self) -> u64 {
        self.rogue.saturating_add(u64::from(self.held.is_some()))
    }

    /// Frames the stream should have delivered by now, given how many the
    /// sender sent: those never seen at all (including any after the last
    /// one received) are lost.
    pub fn lost_given_sent(&self, sent: u64) -> u64 {
        sent.saturating_sub(self.unique)
    }

    /// Highest sequence number seen plus one.
    pub fn next_expected(&self) -> u64 {
        self.next
    }

    /// The talker instance followed, once two frames agreed on one.
    pub fn epoch(&self) -> Option<u64> {
        self.epoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seqs: &[u64]) -> SeqTracker {
        let mut t = SeqTracker::new();
        for &s in seqs {
            t.record(s);
        }
        t
    }

    #[test]
    fn in_order_has_nothing_to_report() {
        let t = run(&(0..5000).collect::<Vec<_>>());
        assert_eq!(
            (t.unique, t.lost, t.duplicates, t.reordered, t.rogue),
            (5000, 0, 0, 0, 0)
        );
    }

    #[test]
    fn gaps_duplicates_and_swaps() {
        let t = run(&[0, 1, 3, 2, 2, 5, 5, 9]);
        // 4, 6, 7, 8 never came; 2 came late (reordered) and twice; 5 twice.
        assert_eq!(t.lost, 4);
        assert_eq!(t.duplicates, 2);
        assert_eq!(t.reordered, 1);
        assert_eq!(t.unique, 6);
        assert_eq!(
            t.lost_given_sent(12),
            6,
            "10 and 11 were sent and never seen"
        );
    }

    #[test]
    fn first_frame_late_counts_the_ones_before_it() {
        let t = run(&[3, 4]);
        assert_eq!((t.lost, t.unique), (3, 2));
        let t = run(&[3, 4, 0, 1, 2]);
        assert_eq!((t.lost, t.reordered, t.unique), (0, 3, 5));
    }

    #[test]
    fn window_forgets_old_numbers_after_a_jump() {
        // After a jump of more than the window (here within a bound that
        // allows it), old bits must not make a number inside the new window
        // look like a duplicate.
        let mut t = SeqTracker::with_bound(JumpBound::per_cycle(1, 1000));
        t.record_frame(7, 5, 0);
        t.record_frame(7, 6, 1000);
        let later = 10 * WINDOW * 1000;
        assert_eq!(
            t.record_frame(7, 5 + WINDOW * 3, later),
            Arrival::Ahead {
                skipped: WINDOW * 3 - 2
            }
        );
        assert_eq!(
            t.record_frame(7, 5 + WINDOW * 2 + 1, later),
            Arrival::Reordered
        );
        assert_eq!(
            t.record_frame(7, 5 + WINDOW * 2 + 1, later),
            Arrival::Duplicate
        );
        // Just past the window, within the bound: reordered, not rogue.
        assert_eq!(
            t.record_frame(7, 5 + WINDOW * 2 - 1, later),
            Arrival::TooOld
        );
        assert_eq!((t.reordered, t.rogue), (2, 0));
    }

    /// Stream at one frame per µs, frames 0..n of epoch 1.
    fn started(n: u64) -> SeqTracker {
        let mut t = SeqTracker::with_bound(JumpBound::per_cycle(1, 1000));
        for s in 0..n {
            t.record_frame(1, s, s * 1000);
        }
        t
    }

    #[test]
    fn one_forged_far_jump_moves_nothing() {
        for forged in [1u64 << 63, u64::MAX, u64::MAX - 1, 50 + 10 * MIN_JUMP] {
            let mut t = started(50);
            assert_eq!(t.record_frame(1, forged, 50_000), Arrival::Held, "{forged}");
            for s in 50..100 {
                assert_eq!(
                    t.record_frame(1, s, s * 1000),
                    Arrival::Ahead { skipped: 0 },
                    "{forged}"
                );
            }
            assert_eq!(
                (
                    t.unique,
                    t.lost,
                    t.duplicates,
                    t.reordered,
                    t.rogue,
                    t.resyncs
                ),
                (100, 0, 0, 0, 1, 0),
                "forged {forged}"
            );
        }
    }

    #[test]
    fn wraparound_and_far_behind_are_rogue() {
        let mut t = started(5000);
        // Far behind the window and the bound (a wrapped or stale number).
        assert_eq!(t.record_frame(1, 3, 5_000_000), Arrival::Held);
        assert_eq!(
            t.record_frame(1, 5000, 5_000_000),
            Arrival::Ahead { skipped: 0 }
        );
        assert_eq!((t.rogue, t.reordered, t.lost), (1, 0, 0));
        // u64::MAX then 0: a wrap is not a continuation.
        assert_eq!(t.record_frame(1, u64::MAX, 5_001_000), Arrival::Held);
        assert_eq!(t.record_frame(1, 0, 5_001_000), Arrival::Held);
        assert_eq!(
            t.record_frame(1, 5001, 5_001_000),
            Arrival::Ahead { skipped: 0 }
        );
        assert_eq!((t.rogue, t.reordered, t.lost, t.unique), (3, 0, 0, 5002));
    }

    #[test]
    fn a_new_epoch_confirmed_by_two_frames_is_a_restart() {
        let mut t = started(4474);
        assert_eq!(t.record_frame(2, 0, 10_000_000), Arrival::Held);
        assert_eq!(
            t.record_frame(2, 1, 10_001_000),
            Arrival::Confirmed { restart: true }
        );
        for s in 2..4600 {
            t.record_frame(2, s, 10_000_000 + s * 1000);
        }
        assert_eq!(
            (
                t.unique,
                t.lost,
                t.duplicates,
                t.reordered,
                t.restarts,
                t.rogue
            ),
            (4474 + 4600, 0, 0, 0, 1, 0)
        );
        assert_eq!(t.epoch(), Some(2));
    }

    #[test]
    fn a_forged_epoch_between_real_frames_is_rogue() {
        let mut t = started(10);
        assert_eq!(t.record_frame(99, 0, 10_000), Arrival::Held);
        assert_eq!(t.record_frame(1, 10, 10_000), Arrival::Ahead { skipped: 0 });
        assert_eq!(
            (t.restarts, t.rogue, t.unique, t.epoch()),
            (0, 1, 11, Some(1))
        );
    }

    #[test]
    fn a_long_gap_in_time_is_lost_not_rogue() {
        // 100 ms without frames at 1 per µs: 100k frames lost, all counted.
        let mut t = started(10);
        let s = 10 + 100_000;
        assert_eq!(
            t.record_frame(1, s, s * 1000),
            Arrival::Ahead { skipped: 100_000 }
        );
        assert_eq!((t.lost, t.rogue), (100_000, 0));
    }

    #[test]
    fn a_streams_only_frame_counts() {
        let mut t = SeqTracker::with_bound(JumpBound::per_cycle(1, 1000));
        assert_eq!(t.record_frame(5, 0, 0), Arrival::Ahead { skipped: 0 });
        assert_eq!((t.unique, t.lost, t.rogue_including_held()), (1, 0, 0));
        assert_eq!(t.epoch(), Some(5));
    }

    #[test]
    fn a_forged_small_first_frame_costs_one_frame_and_one_restart() {
        let mut t = SeqTracker::with_bound(JumpBound::per_cycle(1, 1000));
        assert_eq!(t.record_frame(666, 0, 0), Arrival::Ahead { skipped: 0 });
        assert_eq!(t.record_frame(1, 0, 1000), Arrival::Held);
        assert_eq!(
            t.record_frame(1, 1, 2000),
            Arrival::Confirmed { restart: true }
        );
        for s in 2..100 {
            t.record_frame(1, s, s * 1000 + 1000);
        }
        assert_eq!(
            (
                t.unique,
                t.lost,
                t.duplicates,
                t.reordered,
                t.restarts,
                t.rogue
            ),
            (101, 0, 0, 0, 1, 0)
        );
    }

    #[test]
    fn an_unconfirmed_first_frame_is_rogue_at_the_end() {
        let mut t = SeqTracker::new();
        assert_eq!(t.record(1 << 63), Arrival::Held);
        assert_eq!(t.rogue_including_held(), 1);
        assert_eq!((t.unique, t.lost), (0, 0));
    }
}
