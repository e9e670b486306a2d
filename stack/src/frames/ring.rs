//! A single-producer single-consumer ring of 64-byte records built from
//! atomics only: the data path pushes (never blocks, never allocates, never
//! makes a syscall), the frames-log writer thread pops.
//!
//! Each slot is eight `AtomicU64` words (the record's bytes, little-endian).
//! The producer fills a slot with relaxed stores and publishes it by storing
//! `head` with Release; the consumer reads `head` with Acquire, copies the
//! slot out and hands it back by storing `tail` with Release. A full ring
//! drops the record and counts it.

use std::sync::atomic::{AtomicU64, Ordering};

use super::record::RECORD_LEN;

/// Words of one slot.
const WORDS: usize = RECORD_LEN / 8;

/// Keeps the producer's and the consumer's counters on separate cache lines.
#[repr(align(64))]
#[derive(Debug, Default)]
struct Padded(AtomicU64);

#[derive(Debug)]
pub(crate) struct Ring {
    slots: Box<[[AtomicU64; WORDS]]>,
    mask: u64,
    /// Records published (producer writes).
    head: Padded,
    /// Records consumed (consumer writes).
    tail: Padded,
    /// Records the producer found no room for (producer writes).
    dropped: Padded,
}

impl Ring {
    /// Room for `capacity` records, rounded up to a power of two (at least 2).
    /// Allocates (and touches) every slot now.
    pub(crate) fn new(capacity: usize) -> Self {
        let cap = capacity.clamp(2, 1 << 30).next_power_of_two();
        let slots = (0..cap)
            .map(|_| std::array::from_fn(|_| AtomicU64::new(0)))
            .collect();
        Ring {
            slots,
            mask: cap as u64 - 1,
            head: Padded::default(),
            tail: Padded::default(),
            dropped: Padded::default(),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Producer only. False (and counted) when the ring is full.
    #[inline]
    pub(crate) fn push(&self, bytes: &[u8; RECORD_LEN]) -> bool {
        let head = self.head.0.load(Ordering::Relaxed);
        let tail = self.tail.0.load(Ordering::Acquire);
        if head.wrapping_sub(tail) > self.mask {
            // Single producer: a plain load and store, no locked operation.
            let d = self.dropped.0.load(Ordering::Relaxed);
            self.dropped.0.store(d + 1, Ordering::Relaxed);
            return false;
        }
        let slot = &self.slots[(head & self.mask) as usize];
        for (w, chunk) in slot.iter().zip(bytes.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            w.store(u64::from_le_bytes(b), Ordering::Relaxed);
        }
        self.head.0.store(head.wrapping_add(1), Ordering::Release);
        true
    }

    /// Consumer only: the oldest record, if any.
    pub(crate) fn pop(&self) -> Option<[u8; RECORD_LEN]> {
        let tail = self.tail.0.load(Ordering::Relaxed);
        let head = self.head.0.load(Ordering::Acquire);
        if tail == head {
            return None;
        }
        let slot = &self.slots[(tail & self.mask) as usize];
        let mut out = [0u8; RECORD_LEN];
        for (w, chunk) in slot.iter().zip(out.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        self.tail.0.store(tail.wrapping_add(1), Ordering::Release);
        Some(out)
    }

    /// Records dropped so far (any thread; exact once the producer stopped).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.0.load(Ordering::Relaxed)
    }

    /// Records pushed successfully so far.
    pub(crate) fn published(&self) -> u64 {
        self.head.0.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u64) -> [u8; RECORD_LEN] {
        let mut b = [0u8; RECORD_LEN];
        b[..8].copy_from_slice(&i.to_le_bytes());
        b[56..].copy_from_slice(&(!i).to_le_bytes());
        b
    }

    #[test]
    fn order_is_kept_across_wrap_around_and_a_full_ring_drops_and_counts() {
        let r = Ring::new(5);
        assert_eq!(r.capacity(), 8);
        let mut next_out = 0u64;
        // Many laps around the ring, popping a bit less than pushing.
        for i in 0..100u64 {
            assert!(r.push(&rec(i)), "push {i}");
            if i % 3 != 0 {
                assert_eq!(r.pop(), Some(rec(next_out)));
                next_out += 1;
            }
            if r.published() - next_out == 8 {
                break;
            }
        }
        // Now full: the next push is dropped and counted, nothing overwritten.
        let before = r.published();
        assert!(!r.push(&rec(9999)));
        assert!(!r.push(&rec(9998)));
        assert_eq!(r.dropped(), 2);
        assert_eq!(r.published(), before);
        while let Some(b) = r.pop() {
            assert_eq!(b, rec(next_out));
            next_out += 1;
        }
        assert_eq!(next_out, before);
        assert!(r.push(&rec(next_out)));
        assert_eq!(r.pop(), Some(rec(next_out)));
    }

    #[test]
    fn a_consumer_thread_sees_every_published_record_in_order() {
        let r = std::sync::Arc::new(Ring::new(64));
        let c = std::sync::Arc::clone(&r);
        let n = 200_000u64;
        let consumer = std::thread::spawn(move || {
            let mut seen = Vec::new();
            loop {
                match c.pop() {
                    Some(b) => {
                        let i = u64::from_le_bytes(b[..8].try_into().unwrap());
                        assert_eq!(b, rec(i), "a torn record");
                        if i == u64::MAX {
                            break;
                        }
                        seen.push(i);
                    }
                    None => std::thread::yield_now(),
                }
            }
            seen
        });
        let mut pushed = Vec::new();
        for i in 0..n {
            if r.push(&rec(i)) {
                pushed.push(i);
            }
        }
        let data_drops = r.dropped();
        while !r.push(&rec(u64::MAX)) {
            std::thread::yield_now();
        }
        let seen = consumer.join().unwrap();
        assert_eq!(seen, pushed);
        assert_eq!(pushed.len() as u64 + data_drops, n);
    }
}
