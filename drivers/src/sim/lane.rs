//! One direction of the simulated wire: a lock-free single-producer,
//! single-consumer ring of frames in flight. The sending port owns the
//! `Producer`, the receiving port the `Consumer`; neither can be cloned, so
//! the type system guarantees one writer and one reader, and the
//! busy-polling receiver never holds a lock the sender could wait on.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

struct Slot {
    data: Box<[u8]>,
    len: usize,
    arrival_ns: u64,
}

struct Ring {
    slots: Box<[UnsafeCell<Slot>]>,
    /// Next slot the consumer reads (free-running; index = head % len).
    head: AtomicUsize,
    /// Next slot the producer writes (free-running).
    tail: AtomicUsize,
}

// SAFETY: a slot is written only by the one Producer while it is outside
// [head, tail), and read only by the one Consumer while inside; the
// Release/Acquire pairs on head and tail order those accesses.
unsafe impl Sync for Ring {}

impl Ring {
    fn slot(&self, i: usize) -> &UnsafeCell<Slot> {
        &self.slots[i % self.slots.len()]
    }
}

/// The sending end.
pub(super) struct Producer(Arc<Ring>);
/// The receiving end.
pub(super) struct Consumer(Arc<Ring>);

/// A ring holding `capacity` frames of up to `buf_size` bytes, allocated
/// here and never again.
pub(super) fn lane(capacity: usize, buf_size: usize) -> (Producer, Consumer) {
    let slots = (0..capacity.max(1))
        .map(|_| {
            UnsafeCell::new(Slot {
                data: vec![0; buf_size].into_boxed_slice(),
                len: 0,
                arrival_ns: 0,
            })
        })
        .collect();
    let ring = Arc::new(Ring {
        slots,
        head: AtomicUsize::new(0),
        tail: AtomicUsize::new(0),
    });
    (Producer(Arc::clone(&ring)), Consumer(ring))
}

impl Producer {
    /// Put a frame on the wire; false when the ring is full.
    pub fn push(&mut self, data: &[u8], arrival_ns: u64) -> bool {
        let ring = &self.0;
        let tail = ring.tail.load(Ordering::Relaxed);
        if tail.wrapping_sub(ring.head.load(Ordering::Acquire)) == ring.slots.len() {
            return false;
        }
        // SAFETY: `tail` is outside [head, tail): the consumer does not touch
        // it until the Release store below, and `&mut self` makes this the
        // only producer.
        let slot = unsafe { &mut *ring.slot(tail).get() };
        let len = data.len().min(slot.data.len());
        slot.data[..len].copy_from_slice(&data[..len]);
        slot.len = len;
        slot.arrival_ns = arrival_ns;
        ring.tail.store(tail.wrapping_add(1), Ordering::Release);
        true
    }

    pub fn is_full(&self) -> bool {
        let ring = &self.0;
        ring.tail
            .load(Ordering::Relaxed)
            .wrapping_sub(ring.head.load(Ordering::Acquire))
            == ring.slots.len()
    }
}

impl Consumer {
    /// Arrival time of the oldest frame in flight.
    pub fn front_arrival(&self) -> Option<u64> {
        let ring = &self.0;
        let head = ring.head.load(Ordering::Relaxed);
        if head == ring.tail.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: `head` is inside [head, tail): the producer finished it
        // (Acquire above) and will not reuse it until head moves past it.
        Some(unsafe { &*ring.slot(head).get() }.arrival_ns)
    }

    /// Take the oldest frame: `f(bytes, arrival_ns)` sees it in place.
    pub fn pop_with<R>(&mut self, f: impl FnOnce(&[u8], u64) -> R) -> Option<R> {
        let ring = &self.0;
        let head = ring.head.load(Ordering::Relaxed);
        if head == ring.tail.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: as in `front_arrival`; `&mut self` makes this the only
        // consumer, and the slot is released only after `f` is done.
        let slot = unsafe { &*ring.slot(head).get() };
        let r = f(&slot.data[..slot.len], slot.arrival_ns);
        ring.head.store(head.wrapping_add(1), Ordering::Release);
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_full_and_empty() {
        let (mut p, mut c) = lane(2, 8);
        assert_eq!(c.front_arrival(), None);
        assert!(p.push(&[1, 2], 10));
        assert!(p.push(&[3], 20));
        assert!(p.is_full());
        assert!(!p.push(&[4], 30));
        assert_eq!(c.front_arrival(), Some(10));
        assert_eq!(c.pop_with(|d, t| (d.to_vec(), t)), Some((vec![1, 2], 10)));
        assert!(
            p.push(&[5, 6, 7, 8, 9, 10, 11, 12, 13], 40),
            "cut to the slot size"
        );
        assert_eq!(c.pop_with(|d, _| d.to_vec()), Some(vec![3]));
        assert_eq!(c.pop_with(|d, _| d.len()), Some(8));
        assert_eq!(c.pop_with(|_, _| ()), None);
    }

    #[test]
    fn one_producer_one_consumer_across_threads_keep_order() {
        let (mut p, mut c) = lane(16, 8);
        const N: u64 = 200_000;
        let t = std::thread::spawn(move || {
            let mut i = 0u64;
            while i < N {
                if p.push(&i.to_le_bytes(), i) {
                    i += 1;
                }
            }
        });
        let mut next = 0u64;
        while next < N {
            if let Some((v, t)) = c.pop_with(|d, t| (u64::from_le_bytes(d.try_into().unwrap()), t))
            {
                assert_eq!((v, t), (next, next));
                next += 1;
            }
        }
        t.join().unwrap();
    }
}
