//! Transmit stamps known to a backend and not yet handed out by
//! `RingDevice::tx_stamps`: a FIFO whose room is allocated at open and
//! never grows, so the data path does not allocate.

use crate::{TxStamp, TxStampBatch};
use std::collections::VecDeque;

pub(crate) struct StampQueue {
    q: VecDeque<TxStamp>,
    cap: usize,
}

impl StampQueue {
    /// Room for `cap` stamps (at least one).
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        StampQueue {
            q: VecDeque::with_capacity(cap),
            cap,
        }
    }

    /// Keep a stamp; false (and the stamp is gone) when the queue is full:
    /// the caller counts it in `tx_stamps_lost`.
    #[must_use]
    pub fn push(&mut self, s: TxStamp) -> bool {
        if self.q.len() >= self.cap {
            return false;
        }
        // Below the capacity reserved in `new`: no reallocation.
        self.q.push_back(s);
        true
    }

    /// Move the oldest stamps into `out`, as many as it has room for.
    pub fn drain_into(&mut self, out: &mut TxStampBatch) -> usize {
        let mut n = 0;
        while !out.is_full() {
            let Some(s) = self.q.pop_front() else { break };
            // Room checked above.
            let _ = out.push_back(s);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_refuses_when_full_and_drains_in_parts() {
        let mut q = StampQueue::new(3);
        for tag in 0..3 {
            assert!(q.push(TxStamp { tag, time_ns: 10 }));
        }
        assert!(
            !q.push(TxStamp {
                tag: 9,
                time_ns: 10
            }),
            "full"
        );
        let mut out = TxStampBatch::new();
        for tag in 0..crate::MAX_BURST as u32 - 1 {
            out.push_back(TxStamp { tag, time_ns: 0 }).unwrap();
        }
        assert_eq!(q.drain_into(&mut out), 1, "only the free room");
        assert_eq!(out.back().unwrap().tag, 0);
        out.clear();
        assert_eq!(q.drain_into(&mut out), 2);
        assert_eq!(out.iter().map(|s| s.tag).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(q.drain_into(&mut out), 0, "empty");
    }
}
