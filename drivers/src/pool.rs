//! Buffer handles and the free list behind them.
//!
//! A `BufId` is move-only and only this crate makes one, so a buffer cannot
//! be handed out twice, and a descriptor can only ever point into the pool
//! it came from. The pool keeps just indices; where the bytes live (a heap
//! block, a UMEM, DMA memory) is the backend's business.

/// A buffer of one device's pool. Not `Clone`: whoever holds it owns it.
#[derive(Debug, PartialEq, Eq)]
pub struct BufId {
    index: u32,
    pool: u32,
}

impl BufId {
    /// Position in the pool (the backend maps it to memory).
    pub fn index(&self) -> usize {
        self.index as usize
    }
}

/// A fixed set of buffer indices, all allocated at start-up.
#[derive(Debug)]
pub struct Pool {
    free: Vec<u32>,
    /// Which indices are out, to catch a foreign or stale handle.
    out: Vec<bool>,
    /// Which of the out indices are lent to the kernel or hardware (no
    /// handle exists for them until [`Pool::take_back`]).
    lent: Vec<bool>,
    lent_count: usize,
    tag: u32,
}

static NEXT_POOL_TAG: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

impl Pool {
    pub fn new(size: usize) -> Self {
        let size = u32::try_from(size).unwrap_or(u32::MAX);
        Pool {
            // Popped from the back: hand out low indices first.
            free: (0..size).rev().collect(),
            out: vec![false; size as usize],
            lent: vec![false; size as usize],
            lent_count: 0,
            tag: NEXT_POOL_TAG.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    pub fn capacity(&self) -> usize {
        self.out.len()
    }

    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Buffers handed out and not yet returned (lent ones not counted).
    pub fn outstanding(&self) -> usize {
        self.capacity() - self.available() - self.lent_count
    }

    /// Buffers lent to the kernel or hardware (see `Pool::lend`).
    pub fn lent(&self) -> usize {
        self.lent_count
    }

    pub fn alloc(&mut self) -> Option<BufId> {
        let index = self.free.pop()?;
        self.out[index as usize] = true;
        Some(BufId {
            index,
            pool: self.tag,
        })
    }

    /// Take a buffer back. A handle from another pool is a bug in the
    /// caller; it is refused (returned) rather than corrupting this pool.
    pub fn free(&mut self, buf: BufId) -> Result<(), BufId> {
        if !self.owns(&buf) {
            return Err(buf);
        }
        self.out[buf.index as usize] = false;
        self.free.push(buf.index); // capacity reserved at start-up: no allocation
        Ok(())
    }

    /// Whether `buf` is a live handle of this pool.
    pub fn owns(&self, buf: &BufId) -> bool {
        let i = buf.index as usize;
        buf.pool == self.tag && self.out.get(i) == Some(&true) && self.lent.get(i) == Some(&false)
    }

    /// Lend a buffer to the kernel or hardware (e.g. put it on an AF_XDP
    /// fill or TX ring): the handle is used up and the index returned; the
    /// buffer stays out of the free list until [`Pool::take_back`].
    pub(crate) fn lend(&mut self, buf: BufId) -> Result<u32, BufId> {
        if !self.owns(&buf) {
            return Err(buf);
        }
        self.lent[buf.index as usize] = true;
        self.lent_count += 1;
        Ok(buf.index)
    }

    /// A handle again for a lent buffer the kernel gave back. `None` for an
    /// index that is not lent (out of range, free, or already taken back):
    /// a misbehaving ring can never make this pool hand a buffer out twice.
    pub(crate) fn take_back(&mut self, index: u32) -> Option<BufId> {
        let lent = self.lent.get_mut(index as usize)?;
        if !*lent {
            return None;
        }
        *lent = false;
        self.lent_count -= 1;
        Some(BufId {
            index,
            pool: self.tag,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_hands_out_a_buffer_twice_and_never_leaks() {
        let mut p = Pool::new(4);
        let bufs: Vec<BufId> = std::iter::from_fn(|| p.alloc()).collect();
        assert_eq!(bufs.len(), 4);
        assert_eq!(p.alloc(), None);
        let mut seen: Vec<usize> = bufs.iter().map(BufId::index).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen, vec![0, 1, 2, 3]);
        assert_eq!(p.outstanding(), 4);
        for b in bufs {
            p.free(b).unwrap();
        }
        assert_eq!((p.available(), p.outstanding()), (4, 0));
    }

    #[test]
    fn a_lent_buffer_comes_back_once() {
        let mut p = Pool::new(2);
        let b = p.alloc().unwrap();
        let i = p.lend(b).unwrap();
        assert_eq!((p.lent(), p.outstanding(), p.available()), (1, 0, 1));
        assert!(p.take_back(1).is_none(), "free index");
        assert!(p.take_back(7).is_none(), "out of range");
        let b = p.take_back(i).unwrap();
        assert!(p.take_back(i).is_none(), "twice");
        assert_eq!((p.lent(), p.outstanding()), (0, 1));
        p.free(b).unwrap();
        assert_eq!(p.available(), 2);
    }

    #[test]
    fn refuses_a_foreign_handle() {
        let mut a = Pool::new(2);
        let mut b = Pool::new(2);
        let from_b = b.alloc().unwrap();
        assert!(!a.owns(&from_b));
        let back = a.free(from_b).unwrap_err();
        assert_eq!(a.available(), 2);
        b.free(back).unwrap();
        assert_eq!(b.available(), 2);
    }
}
