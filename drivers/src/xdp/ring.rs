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
        let len = off.desc as usize + size as usize * std::mem::size_of::<T>();
        let map = Mapping::shared(fd.as_raw_fd(), len, pgoff)?;
        let at = |o: u64| {
            // SAFETY: the kernel's offsets lie inside the ring it mapped.
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

    pub fn size(&self) -> u32 {
        self.size
    }

    /// The kernel asks to be woken (XDP_RING_NEED_WAKEUP). Read after a
    /// full fence so a flag set just before our producer update is seen.
    pub fn needs_wakeup(&self) -> bool {
        fence(Ordering::SeqCst);
        // SAFETY: as `prod`.
        let f = unsafe { &*self.flags }.load(Ordering::Relaxed);
        f & libc::XDP_RING_NEED_WAKEUP != 0
    }

    // ---- producer side (fill, TX) ----

    /// Free slots, up to `want` (re-reading the consumer only when short).
    pub fn free(&mut self, want: u32) -> u32 {
        let mut free = self.size - self.local.wrapping_sub(self.cached);
        if free < want {
            self.cached = self.cons().load(Ordering::Acquire);
            free = self.size - self.local.wrapping_sub(self.cached);
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
        self.local.wrapping_sub(self.cached)
    }

    // ---- consumer side (RX, completion) ----

    /// Entries ready, up to `max`.
    pub fn ready(&mut self, max: u32) -> u32 {
        let mut n = self.cached.wrapping_sub(self.local);
        if n < max {
            self.cached = self.prod().load(Ordering::Acquire);
            n = self.cached.wrapping_sub(self.local);
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
