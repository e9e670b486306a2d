//! Sequence-number bookkeeping for one stream: lost, duplicate and
//! reordered frames, with a sliding window of recently seen numbers so a
//! late frame that was first counted lost is moved to "reordered".

/// How far back (in sequence numbers) a late frame is still recognised.
pub const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;

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
    /// Older than the window can tell: counted as reordered, without
    /// touching the lost count (it cannot know whether it was counted).
    TooOld,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqTracker {
    /// Next number expected (highest seen + 1); streams start at 0.
    next: u64,
    /// Bit (s % WINDOW) set = number s seen, for s in (next - WINDOW, next).
    seen: [u64; WORDS],
    pub unique: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
}

impl SeqTracker {
    pub fn new() -> Self {
        Self::default()
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

    pub fn record(&mut self, seq: u64) -> Arrival {
        if seq >= self.next {
            let skipped = seq - self.next;
            self.clear_range(self.next, seq + 1);
            let (w, b) = Self::bit(seq);
            self.seen[w] |= b;
            self.next = seq + 1;
            self.lost += skipped;
            self.unique += 1;
            return Arrival::Ahead { skipped };
        }
        if self.next - seq > WINDOW {
            self.reordered += 1;
            return Arrival::TooOld;
        }
        let (w, b) = Self::bit(seq);
        if self.seen[w] & b != 0 {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.seen[w] |= b;
        self.lost = self.lost.saturating_sub(1);
        self.reordered += 1;
        self.unique += 1;
        Arrival::Reordered
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
            (t.unique, t.lost, t.duplicates, t.reordered),
            (5000, 0, 0, 0)
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
        // After a jump of more than the window, old bits must not make a
        // number inside the new window look like a duplicate.
        let mut t = SeqTracker::new();
        t.record(5);
        t.record(5 + WINDOW * 3);
        assert_eq!(t.record(5 + WINDOW * 2 + 1), Arrival::Reordered);
        assert_eq!(t.record(5 + WINDOW * 2 + 1), Arrival::Duplicate);
        assert_eq!(t.record(1), Arrival::TooOld);
    }
}
