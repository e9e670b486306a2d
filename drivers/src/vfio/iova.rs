//! Where DMA mappings sit in the device's I/O virtual address space.
//!
//! We choose IOVAs ourselves instead of using IOVA = virtual address: a
//! virtual IOMMU often translates fewer bits than user space uses (QEMU's
//! intel-iommu: 39), so a small first-fit allocator hands out page-aligned
//! ranges from a low base. Each range is followed by an unmapped guard gap,
//! so a device that overruns one mapping faults in the IOMMU instead of
//! reaching the next one. Allocation happens at start-up only.

/// IOMMU page size: every range starts and ends on it.
pub const PAGE: u64 = 4096;
/// First IOVA handed out (low, and clear of the x86 MSI window at 0xfee00000).
pub const IOVA_BASE: u64 = 0x1000_0000;
/// End of the usable IOVA space: QEMU's vIOMMU default is 39 address bits.
pub const IOVA_LIMIT: u64 = 1 << 39;
/// Unmapped gap left after every range.
pub const GUARD: u64 = PAGE;

/// A range of IOVA space: `start..start + len`, both page multiples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IovaRange {
    pub start: u64,
    pub len: u64,
}

impl IovaRange {
    pub fn end(&self) -> u64 {
        self.start + self.len
    }
}

/// First-fit allocator over `[base, limit)` with a sorted free list.
#[derive(Debug)]
pub struct IovaAllocator {
    /// Free ranges `(start, end)`, sorted, disjoint and never adjacent.
    free: Vec<(u64, u64)>,
    guard: u64,
    base: u64,
    limit: u64,
}

fn round_up(v: u64, to: u64) -> Option<u64> {
    Some(v.checked_add(to - 1)? & !(to - 1))
}

impl Default for IovaAllocator {
    fn default() -> Self {
        IovaAllocator::new(IOVA_BASE, IOVA_LIMIT, GUARD)
    }
}

impl IovaAllocator {
    /// Ranges from `base` (rounded up to a page) to `limit` (rounded down),
    /// each followed by `guard` bytes (rounded up to pages) left unmapped.
    pub fn new(base: u64, limit: u64, guard: u64) -> Self {
        let base = round_up(base, PAGE).unwrap_or(!(PAGE - 1));
        let limit = limit & !(PAGE - 1);
        let free = if base < limit {
            vec![(base, limit)]
        } else {
            Vec::new()
        };
        IovaAllocator {
            free,
            guard: round_up(guard, PAGE).unwrap_or(0),
            base,
            limit,
        }
    }

    /// A range of at least `len` bytes (rounded up to pages) whose start is a
    /// multiple of `align` (a power of two, at least a page), or `None` when
    /// `len` is 0 or no free range is big enough.
    pub fn alloc(&mut self, len: u64, align: u64) -> Option<IovaRange> {
        if len == 0 {
            return None;
        }
        let align = align.max(PAGE).checked_next_power_of_two()?;
        let size = round_up(len, PAGE)?;
        let need = size.checked_add(self.guard)?;
        for i in 0..self.free.len() {
            let (s, e) = self.free[i];
            let Some(start) = round_up(s, align) else {
                continue;
            };
            let Some(stop) = start.checked_add(need) else {
                continue;
            };
            if stop > e {
                continue;
            }
            // Carve [start, stop) out of [s, e).
            match (s < start, stop < e) {
                (false, false) => {
                    self.free.remove(i);
                }
                (true, false) => self.free[i] = (s, start),
                (false, true) => self.free[i] = (stop, e),
                (true, true) => {
                    self.free[i] = (s, start);
                    self.free.insert(i + 1, (stop, e));
                }
            }
            return Some(IovaRange { start, len: size });
        }
        None
    }

    /// Give a range (and its guard gap) back. Returns false, changing
    /// nothing, for a range that is not wholly allocated (a double free or
    /// a range this allocator never handed out).
    pub fn free(&mut self, r: IovaRange) -> bool {
        let (s, e) = match r
            .start
            .checked_add(r.len)
            .and_then(|e| e.checked_add(self.guard))
        {
            Some(e) if r.len > 0 && r.start >= self.base && e <= self.limit => (r.start, e),
            _ => return false,
        };
        // First free range that ends after s.
        let i = self.free.partition_point(|&(_, fe)| fe <= s);
        if i < self.free.len() && self.free[i].0 < e {
            return false; // overlaps something already free
        }
        let merge_left = i > 0 && self.free[i - 1].1 == s;
        let merge_right = i < self.free.len() && self.free[i].0 == e;
        match (merge_left, merge_right) {
            (true, true) => {
                self.free[i - 1].1 = self.free[i].1;
                self.free.remove(i);
            }
            (true, false) => self.free[i - 1].1 = e,
            (false, true) => self.free[i].0 = s,
            (false, false) => self.free.insert(i, (s, e)),
        }
        true
    }

    /// Free bytes left (guard gaps included).
    pub fn available(&self) -> u64 {
        self.free.iter().map(|(s, e)| e - s).sum()
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_range_is_at_the_base_and_page_rounded() {
        let mut a = IovaAllocator::default();
        let r = a.alloc(100, PAGE).unwrap();
        assert_eq!(
            r,
            IovaRange {
                start: 0x1000_0000,
                len: PAGE
            }
        );
        let r2 = a.alloc(2 << 20, PAGE).unwrap();
        assert_eq!(r2.start, 0x1000_0000 + PAGE + GUARD, "after the guard gap");
        assert_eq!(r2.len, 2 << 20);
    }

    #[test]
    fn honours_alignment() {
        let mut a = IovaAllocator::default();
        a.alloc(PAGE, PAGE).unwrap();
        let r = a.alloc(PAGE, 2 << 20).unwrap();
        assert_eq!(r.start % (2 << 20), 0);
        assert!(r.start > IOVA_BASE);
        // A non-power-of-two alignment is rounded up to one.
        let r = a.alloc(PAGE, 3 * PAGE).unwrap();
        assert_eq!(r.start % (4 * PAGE), 0);
    }

    #[test]
    fn exhaustion_returns_none_and_free_makes_room_again() {
        // Room for exactly two 1-page ranges with their guards.
        let mut a = IovaAllocator::new(0x10000, 0x10000 + 4 * PAGE, PAGE);
        let r1 = a.alloc(1, PAGE).unwrap();
        let r2 = a.alloc(PAGE, PAGE).unwrap();
        assert_eq!(a.alloc(1, PAGE), None);
        assert_eq!(a.available(), 0);
        assert!(a.free(r1));
        assert!(!a.free(r1), "double free is refused");
        assert_eq!(a.alloc(1, PAGE), Some(r1));
        assert!(a.free(r2) && a.free(r1));
        assert_eq!(a.available(), 4 * PAGE, "coalesced back into one range");
        assert_eq!(a.alloc(0, PAGE), None, "zero length");
        assert_eq!(a.alloc(u64::MAX - 10, PAGE), None, "no overflow");
    }

    #[test]
    fn stays_below_the_39_bit_limit() {
        let mut a = IovaAllocator::default();
        let big = 1u64 << 37;
        let mut got = Vec::new();
        while let Some(r) = a.alloc(big, PAGE) {
            assert!(r.end() + GUARD <= IOVA_LIMIT, "{r:?}");
            got.push(r);
        }
        assert_eq!(
            got.len(),
            3,
            "512 GiB less the 256 MiB base holds three 128 GiB ranges"
        );
        assert!(a.alloc(big, PAGE).is_none());
        assert!(
            !a.free(IovaRange {
                start: IOVA_LIMIT,
                len: PAGE
            }),
            "not ours"
        );
        assert!(
            !a.free(IovaRange {
                start: 0,
                len: PAGE
            }),
            "below the base"
        );
    }

    proptest! {
        #[test]
        fn ranges_never_overlap_and_free_restores_everything(
            ops in proptest::collection::vec((1u64..5 * PAGE, 0u32..4, any::<bool>()), 1..60)
        ) {
            let total = 64 * PAGE;
            let mut a = IovaAllocator::new(IOVA_BASE, IOVA_BASE + total, GUARD);
            let mut live: Vec<IovaRange> = Vec::new();
            for (len, align_shift, free_one) in ops {
                if free_one && !live.is_empty() {
                    let r = live.remove(len as usize % live.len());
                    prop_assert!(a.free(r));
                } else if let Some(r) = a.alloc(len, PAGE << align_shift) {
                    prop_assert_eq!(r.start % (PAGE << align_shift), 0);
                    prop_assert!(r.len >= len && r.len % PAGE == 0);
                    prop_assert!(r.start >= IOVA_BASE && r.end() + GUARD <= IOVA_BASE + total);
                    for o in &live {
                        // Neither overlaps the other, guard gaps included.
                        prop_assert!(r.end() + GUARD <= o.start || o.end() + GUARD <= r.start,
                            "{:?} overlaps {:?}", r, o);
                    }
                    live.push(r);
                }
                let used: u64 = live.iter().map(|r| r.len + GUARD).sum();
                prop_assert_eq!(a.available() + used, total);
            }
            for r in live {
                prop_assert!(a.free(r));
            }
            prop_assert_eq!(a.available(), total);
        }
    }
}
