//! One AF_XDP ring over its mapping: a power-of-two array of descriptors
//! with a producer and a consumer index, each written by one side only.
//! Userland produces on the fill and TX rings and consumes the RX and
//! completion rings. Indices are free-running u32s (wrapping); a slot is
//! `index & mask`. The kernel side pairs our Release stores with its
//! acquire loads and vice versa (see the comment at the top of
//! net/xdp/xsk_queue.h).

use crate::mapping::Mapping;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{fence, AtomicU32, Ordering};

pub(super) struct Ring<T: Copy> {
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    descs: *mut T,
    mask: u32,
    size: u32,
    /// Producer rings: our next producer index. Consumer rings: our next
    /// consumer index.
    local: u32,
    /// The other side's index as last read.
    cached: u32,
    /// Bound without XDP_USE_NEED_WAKEUP: the kernel never sets the flag
    /// and must be kicked every time.
    wake_always: bool,
    _map: Mapping,
}

impl<T: Copy> Ring<T> {
    /// Map the ring of `size` entries of socket `fd` at page offset `pgoff`
    /// with the offsets the kernel gave (XDP_MMAP_OFFSETS).
    pub fn map(
        fd: &OwnedFd,
        off: &libc::xdp_ring_offset,
        size: u32,
        pgoff: u64,
        producer_side: bool,
    ) -> std::io::Result<Self> {
        let len = check_offsets(
            off,
            size,
            std::mem::size_of::<T>(),
            std::mem::align_of::<T>(),
        )
        .map_err(|why| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the kernel's ring offsets are unusable: {why} ({off:?})"),
            )
        })?;
        let map = Mapping::shared(fd.as_raw_fd(), len, pgoff)?;
        let at = |o: u64| {
            // SAFETY: check_offsets: every offset used here is aligned and
            // lies, with what is read there, inside the `len` bytes mapped
            // (the mapping is page-aligned, so offset alignment is address
            // alignment).
            unsafe { map.ptr.add(o as usize) }
        };
        let producer = at(off.producer) as *const AtomicU32;
        let consumer = at(off.consumer) as *const AtomicU32;
        let mut r = Ring {
            producer,
            consumer,
            flags: at(off.flags) as *const AtomicU32,
            descs: at(off.desc) as *mut T,
            mask: size - 1,
            size,
            local: 0,
            cached: 0,
            wake_always: false,
            _map: map,
        };
        if producer_side {
            r.local = r.prod().load(Ordering::Relaxed);
            r.cached = r.cons().load(Ordering::Acquire);
        } else {
            r.local = r.cons().load(Ordering::Relaxed);
            r.cached = r.prod().load(Ordering::Acquire);
        }
        Ok(r)
    }

    fn prod(&self) -> &AtomicU32 {
        // SAFETY: an aligned u32 inside the mapping, which lives as long as
        // `self`; the other side writes it concurrently, hence atomic.
        unsafe { &*self.producer }
    }

    fn cons(&self) -> &AtomicU32 {
        // SAFETY: as `prod`.
        unsafe { &*self.consumer }
    }

    /// The socket is bound without XDP_USE_NEED_WAKEUP: every
    /// [`Ring::needs_wakeup`] is true.
    pub fn set_wake_always(&mut self) {
        self.wake_always = true;
    }

    pub fn size(&self) -> u32 {
        self.size
    }

    /// The kernel asks to be woken (XDP_RING_NEED_WAKEUP). Read after a
    /// full fence so a flag set just before our producer update is seen.
    pub fn needs_wakeup(&self) -> bool {
        if self.wake_always {
            return true;
        }
        fence(Ordering::SeqCst);
        // SAFETY: as `prod`.
        let f = unsafe { &*self.flags }.load(Ordering::Relaxed);
        f & libc::XDP_RING_NEED_WAKEUP != 0
    }

    // ---- producer side (fill, TX) ----

    /// Free slots, up to `want` (re-reading the consumer only when short).
    pub fn free(&mut self, want: u32) -> u32 {
        let mut free = producer_free(self.size, self.local, self.cached);
        if free < want {
            self.cached = self.cons().load(Ordering::Acquire);
            free = producer_free(self.size, self.local, self.cached);
        }
        free.min(want)
    }

    /// Write entry `i` past the producer (i < what `free` granted).
    pub fn put(&mut self, i: u32, v: T) {
        let slot = (self.local.wrapping_add(i) & self.mask) as usize;
        // SAFETY: slot < size: inside the descriptor array; a slot past our
        // producer index is not read by the kernel until `submit`.
        unsafe { self.descs.add(slot).write_volatile(v) };
    }

    /// Hand `n` written entries to the kernel.
    pub fn submit(&mut self, n: u32) {
        self.local = self.local.wrapping_add(n);
        self.prod().store(self.local, Ordering::Release);
    }

    /// Entries we produced that the kernel has not consumed yet.
    pub fn pending(&mut self) -> u32 {
        self.cached = self.cons().load(Ordering::Acquire);
        in_flight(self.size, self.local, self.cached)
    }

    // ---- consumer side (RX, completion) ----

    /// Entries ready, up to `max`.
    pub fn ready(&mut self, max: u32) -> u32 {
        let mut n = in_flight(self.size, self.cached, self.local);
        if n < max {
            self.cached = self.prod().load(Ordering::Acquire);
            n = in_flight(self.size, self.cached, self.local);
        }
        n.min(max)
    }

    /// Entry `i` past the consumer (i < what `ready` granted).
    pub fn get(&self, i: u32) -> T {
        let slot = (self.local.wrapping_add(i) & self.mask) as usize;
        // SAFETY: slot < size; the kernel published it (producer read with
        // Acquire) and does not reuse it until `release`.
        unsafe { self.descs.add(slot).read_volatile() }
    }

    /// The entry the kernel produced last, if any is unread.
    pub fn newest(&mut self) -> Option<T> {
        self.cached = self.prod().load(Ordering::Acquire);
        if self.cached == self.local {
            return None;
        }
        let slot = (self.cached.wrapping_sub(1) & self.mask) as usize;
        // SAFETY: slot < size; the kernel published it (producer read with
        // Acquire) and does not reuse it until we release it.
        Some(unsafe { self.descs.add(slot).read_volatile() })
    }

    /// Give `n` read entries back to the kernel.
    pub fn release(&mut self, n: u32) {
        self.local = self.local.wrapping_add(n);
        self.cons().store(self.local, Ordering::Release);
    }
}

/// Entries between a producer index and the consumer index behind it
/// (free-running u32s). An index the kernel moved where it cannot be (the
/// producer behind the consumer, or more than a ring ahead: never, if it
/// keeps its contract) reads as an empty ring: no slot is read that the
/// kernel did not publish in this lap.
fn in_flight(size: u32, producer: u32, consumer: u32) -> u32 {
    let n = producer.wrapping_sub(consumer);
    if n > size {
        0
    } else {
        n
    }
}

/// Free slots of a producer ring: `size` less what the consumer has not
/// taken yet; 0 when the consumer index is off (ahead of the producer, or
/// more than a ring behind), so nothing is overwritten.
fn producer_free(size: u32, producer: u32, consumer: u32) -> u32 {
    let used = producer.wrapping_sub(consumer);
    size.saturating_sub(used)
}

/// Check the kernel's XDP_MMAP_OFFSETS for a ring of `size` entries of
/// `elem` bytes aligned to `align`: producer, consumer and flags are
/// 4-aligned u32s before the descriptors, the descriptors aligned; returns
/// the bytes to map.
fn check_offsets(
    off: &libc::xdp_ring_offset,
    size: u32,
    elem: usize,
    align: usize,
) -> Result<usize, String> {
    if !size.is_power_of_two() {
        return Err(format!("{size} entries is not a power of two"));
    }
    for (name, o) in [
        ("producer", off.producer),
        ("consumer", off.consumer),
        ("flags", off.flags),
    ] {
        if !o.is_multiple_of(4) || o.checked_add(4).is_none_or(|e| e > off.desc) {
            return Err(format!(
                "{name} at {o} is not an aligned u32 before the descriptors"
            ));
        }
    }
    if !off.desc.is_multiple_of(align as u64) {
        return Err(format!("descriptors at {} are misaligned", off.desc));
    }
    usize::try_from(off.desc)
        .ok()
        .and_then(|d| d.checked_add((size as usize).checked_mul(elem)?))
        .filter(|len| *len <= 1 << 30)
        .ok_or_else(|| "the ring would not fit in memory".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(producer: u64, consumer: u64, flags: u64, desc: u64) -> libc::xdp_ring_offset {
        libc::xdp_ring_offset {
            producer,
            consumer,
            desc,
            flags,
        }
    }

    #[test]
    fn the_kernels_offsets_are_accepted() {
        // What 6.x gives: producer and consumer on their own cache lines.
        let o = offsets(0, 64, 128, 192);
        assert_eq!(check_offsets(&o, 2048, 16, 8), Ok(192 + 2048 * 16));
        assert_eq!(check_offsets(&o, 2048, 8, 8), Ok(192 + 2048 * 8));
    }

    #[test]
    fn hostile_offsets_are_refused() {
        for (o, size) in [
            (offsets(2, 64, 128, 192), 2048),          // misaligned producer
            (offsets(0, 190, 128, 192), 2048),         // consumer overlapping descriptors
            (offsets(0, 64, 4096, 192), 2048),         // flags past the descriptors
            (offsets(0, 64, 128, 196), 2048),          // misaligned descriptors
            (offsets(0, 64, u64::MAX - 1, 192), 2048), // overflowing
            (offsets(0, 64, 128, u64::MAX - 7), 2048), // descriptors nowhere
            (offsets(0, 64, 128, 192), 1000),          // not a power of two
        ] {
            assert!(check_offsets(&o, size, 16, 8).is_err(), "{o:?} {size}");
        }
    }

    #[test]
    fn an_index_the_kernel_runs_ahead_never_underflows() {
        // Normal: 10 produced, 4 consumed.
        assert_eq!(in_flight(16, 10, 4), 6);
        assert_eq!(producer_free(16, 10, 4), 10);
        // Across the u32 wrap.
        assert_eq!(in_flight(16, 3, u32::MAX - 2), 6);
        assert_eq!(producer_free(16, 3, u32::MAX - 2), 10);
        // A full ring, exactly.
        assert_eq!(in_flight(16, 16, 0), 16);
        assert_eq!(producer_free(16, 16, 0), 0);
        // The consumer index ahead of the producer: no free slot, nothing
        // to read (plain subtraction underflows here).
        assert_eq!(producer_free(16, 4, 10), 0);
        assert_eq!(in_flight(16, 4, 10), 0);
        // A producer index more than a ring ahead: nothing read twice.
        assert_eq!(in_flight(16, 1000, 0), 0);
        assert_eq!(producer_free(16, 1000, 0), 0);
    }
}
