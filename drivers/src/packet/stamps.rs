//! Transmit stamps on AF_PACKET: which stamped send each of the kernel's
//! stamps belongs to. With SOF_TIMESTAMPING_OPT_ID the kernel numbers the
//! sends that ask for a stamp (0, 1, 2, ... from when the option was turned
//! on) and returns the number with the stamp; this keeps the numbers it
//! expects next to the tags the caller gave. Pure bookkeeping: the socket
//! calls are in `sys.rs`, the sends in `mod.rs`.
//!
//! A number is used when the kernel set up the stamp, which is after the
//! checks that fail a send early (interface down, socket buffer full, bad
//! header) and before the qdisc and driver (which may still drop the
//! frame). A send that failed where it is not known whether the number was
//! used makes the caller restart the numbering (`resync`).

use crate::stamp_queue::StampQueue;
use crate::{TxStamp, TxStampBatch};

/// Stamped sends whose stamps may still come.
pub(super) const PENDING: usize = 256;

#[derive(Clone, Copy, Debug)]
struct Pending {
    key: u32,
    /// `None`: the frame was dropped after its number was used; a stamp
    /// that comes anyway is thrown away.
    tag: Option<u32>,
    /// Its launch time when ETF sends it (frames leave in launch-time order).
    txtime_ns: Option<u64>,
}

pub(super) struct Stamper {
    pending: heapless::Deque<Pending, PENDING>,
    next_key: u32,
    ready: StampQueue,
    lost: u64,
    /// Added to the kernel's CLOCK_REALTIME stamps to put them on the
    /// device's clock.
    offset_ns: i64,
}

impl Stamper {
    pub fn new(offset_ns: i64) -> Self {
        Stamper {
            pending: heapless::Deque::new(),
            next_key: 0,
            ready: StampQueue::new(PENDING),
            lost: 0,
            offset_ns,
        }
    }

    /// Frames that asked for a stamp and will not get one.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// A stamp may still come from the kernel.
    pub fn waiting(&self) -> bool {
        !self.pending.is_empty()
    }

    fn push(&mut self, p: Pending) {
        if self.pending.is_full() {
            if let Some(old) = self.pending.pop_front() {
                self.lost += u64::from(old.tag.is_some());
            }
        }
        let _ = self.pending.push_back(p); // room made above
        self.next_key = self.next_key.wrapping_add(1);
    }

    /// The kernel took the stamped frame `tag` (its number is the next one).
    pub fn sent(&mut self, tag: u32, txtime_ns: Option<u64>) {
        self.push(Pending {
            key: self.next_key,
            tag: Some(tag),
            txtime_ns,
        });
    }

    /// A stamped frame was dropped; `numbered`: after the kernel used its
    /// number (a stamp may still come for it, and is thrown away).
    pub fn dropped(&mut self, numbered: bool) {
        self.lost += 1;
        if numbered {
            self.push(Pending {
                key: self.next_key,
                tag: None,
                txtime_ns: None,
            });
        }
    }

    /// The kernel's numbering was restarted at 0: what still waits is lost.
    pub fn resync(&mut self) {
        while let Some(p) = self.pending.pop_front() {
            self.lost += u64::from(p.tag.is_some());
        }
        self.next_key = 0;
    }

    /// The kernel's stamp of send `key`. Sends that should have left before
    /// it (the ones sent earlier; with ETF the ones with an earlier launch
    /// time) and have no stamp yet never will: lost.
    pub fn stamp(&mut self, key: u32, realtime_ns: u64) {
        let Some(hit) = self.pending.iter().position(|p| p.key == key) else {
            return; // a stamp of a frame already given up on
        };
        let Some(mine) = self.pending.iter().nth(hit).copied() else {
            return;
        };
        for i in 0..self.pending.len() {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            // ETF sends in launch-time order (FIFO among equal ones).
            let before = match (p.txtime_ns, mine.txtime_ns) {
                (Some(a), Some(b)) => a < b || (a == b && i < hit),
                _ => i < hit,
            };
            if i == hit || before {
                self.lost += u64::from(i != hit && p.tag.is_some());
                continue;
            }
            let _ = self.pending.push_back(p); // one out, one back in
        }
        if let Some(tag) = mine.tag {
            let time_ns = realtime_ns.saturating_add_signed(self.offset_ns);
            if !self.ready.push(TxStamp { tag, time_ns }) {
                self.lost += 1;
            }
        }
    }

    /// ETF dropped the frame with this launch time: if it was a stamped
    /// one, its stamp will not come.
    pub fn etf_dropped(&mut self, txtime_ns: u64) {
        let Some(hit) = self
            .pending
            .iter()
            .position(|p| p.tag.is_some() && p.txtime_ns == Some(txtime_ns))
        else {
            return;
        };
        for i in 0..self.pending.len() {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            if i == hit {
                self.lost += 1;
            } else {
                let _ = self.pending.push_back(p);
            }
        }
    }

    /// Hand out the stamps known, as many as `out` has room for.
    pub fn drain_into(&mut self, out: &mut TxStampBatch) -> usize {
        self.ready.drain_into(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(s: &mut Stamper) -> Vec<(u32, u64)> {
        let mut b = TxStampBatch::new();
        s.drain_into(&mut b);
        b.iter().map(|t| (t.tag, t.time_ns)).collect()
    }

    #[test]
    fn numbers_map_to_tags_and_the_clock_offset_is_applied() {
        let mut s = Stamper::new(37_000_000_000);
        s.sent(10, None);
        s.sent(11, None);
        s.stamp(0, 1_000);
        s.stamp(1, 2_000);
        assert_eq!(out(&mut s), [(10, 37_000_001_000), (11, 37_000_002_000)]);
        assert!(!s.waiting());
        assert_eq!(s.lost(), 0);
    }

    #[test]
    fn a_skipped_number_is_lost_and_a_dropped_frames_stamp_is_thrown_away() {
        let mut s = Stamper::new(0);
        s.sent(1, None); // key 0: its stamp never comes
        s.dropped(true); // key 1: dropped by the driver after stamping
        s.sent(3, None); // key 2
        s.dropped(false); // no key used
        s.sent(4, None); // key 3
        s.stamp(1, 50); // the dropped frame's stamp: thrown away
        assert_eq!(s.lost(), 1 + 1 + 1, "the two drops, and key 0 skipped");
        s.stamp(3, 70); // key 2 never came: lost
        s.stamp(2, 60); // too late: already given up
        assert_eq!(out(&mut s), [(4, 70)]);
        assert_eq!(s.lost(), 4);
    }

    #[test]
    fn with_etf_a_later_launch_time_may_leave_after_an_earlier_one() {
        let mut s = Stamper::new(0);
        s.sent(1, Some(900)); // key 0, leaves last
        s.sent(2, Some(500)); // key 1
        s.sent(3, Some(400)); // key 2, never stamped
        s.stamp(1, 505);
        assert_eq!(s.lost(), 1, "key 2 launched earlier and has no stamp: lost");
        assert!(s.waiting(), "key 0 is still on its way");
        s.stamp(0, 905);
        assert_eq!(out(&mut s), [(2, 505), (1, 905)]);
        s.sent(4, Some(1_000));
        s.etf_dropped(1_000);
        assert_eq!(s.lost(), 2);
        assert!(!s.waiting());
    }

    #[test]
    fn resync_restarts_the_numbers_and_counts_what_waited() {
        let mut s = Stamper::new(0);
        s.sent(1, None);
        s.sent(2, None);
        s.resync();
        assert_eq!(s.lost(), 2);
        s.sent(3, None);
        s.stamp(0, 9);
        assert_eq!(out(&mut s), [(3, 9)]);
    }

    #[test]
    fn a_full_table_gives_up_the_oldest() {
        let mut s = Stamper::new(0);
        for tag in 0..PENDING as u32 + 2 {
            s.sent(tag, None);
        }
        assert_eq!(s.lost(), 2, "the two oldest");
        s.stamp(PENDING as u32 + 1, 1);
        assert_eq!(out(&mut s), [(PENDING as u32 + 1, 1)]);
        assert_eq!(s.lost(), PENDING as u64 + 1, "and every one skipped");
    }
}
