//! DMA memory: regions a device may read or write at any moment.
//!
//! A [`DmaRegion`] is the only way the driver touches such memory. Shared
//! structures (descriptor rings) are read and written with single volatile
//! loads and stores; no `&`/`&mut` reference to them ever exists. Byte
//! slices are made only of packet buffers that software owns at that
//! moment (the caller holds the buffer's `BufId`, so no descriptor points
//! at it) — see `e1000e::rings`.
//!
//! The same type covers real VFIO mappings (unmapped from the IOMMU and
//! from the process on drop) and plain heap memory that no device can
//! reach, which the ring tests use with a device model playing the NIC.

use super::container::ContainerShared;
use super::iova::IovaRange;
use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::Arc;

/// Who frees the memory.
#[derive(Debug)]
enum Owner {
    /// An anonymous mmap, mapped into the IOMMU at `range`.
    Vfio {
        container: Arc<ContainerShared>,
        range: IovaRange,
    },
    /// Heap memory no device can reach (tests, device models).
    Heap(Layout),
}

/// Memory shared with a device, with the IOVA the device knows it by.
#[derive(Debug)]
pub struct DmaRegion {
    ptr: NonNull<u8>,
    len: usize,
    iova: u64,
    owner: Owner,
}

// SAFETY: the region owns its memory (no thread-local state, nothing tied to
// the creating thread); all shared accesses are volatile loads and stores of
// whole words, and byte slices are only made through `&self`/`&mut self`
// borrows, so moving the owner to another thread is sound.
unsafe impl Send for DmaRegion {}

impl DmaRegion {
    /// Take ownership of a VFIO mapping.
    ///
    /// # Safety
    ///
    /// `ptr..ptr + range.len` must be an anonymous mmap owned by no one
    /// else, mapped for DMA in `container` at `range.start`; the region
    /// unmaps both on drop.
    pub(crate) unsafe fn from_vfio(
        ptr: NonNull<u8>,
        range: IovaRange,
        container: Arc<ContainerShared>,
    ) -> Self {
        DmaRegion {
            ptr,
            len: range.len as usize,
            iova: range.start,
            owner: Owner::Vfio { container, range },
        }
    }

    /// Zeroed, page-aligned heap memory that claims to sit at `iova`: for
    /// tests and device models. No device can reach it.
    pub fn heap(len: usize, iova: u64) -> Self {
        let layout = Layout::from_size_align(len.max(1), 4096).expect("DMA test region too large");
        // SAFETY: layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(ptr) else {
            std::alloc::handle_alloc_error(layout)
        };
        DmaRegion {
            ptr,
            len,
            iova,
            owner: Owner::Heap(layout),
        }
    }

    /// IOVA of the first byte (what goes into descriptors and registers).
    pub fn iova(&self) -> u64 {
        self.iova
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Offset of `iova..iova + len` inside the region, if it is inside.
    pub fn offset_of(&self, iova: u64, len: usize) -> Option<usize> {
        let off = usize::try_from(iova.checked_sub(self.iova)?).ok()?;
        (off.checked_add(len)? <= self.len).then_some(off)
    }

    fn word(&self, offset: usize) -> *mut u64 {
        assert!(
            offset.is_multiple_of(8) && offset.checked_add(8).is_some_and(|end| end <= self.len),
            "DMA word offset {offset:#x} is unaligned or outside the {:#x}-byte region",
            self.len
        );
        // SAFETY: offset + 8 <= len (checked), so the pointer stays inside the
        // allocation; the base is page aligned and offset % 8 == 0.
        unsafe { self.ptr.as_ptr().add(offset).cast::<u64>() }
    }

    /// One volatile little-endian 64-bit load.
    ///
    /// # Panics
    ///
    /// On an offset that is not 8-byte aligned or not inside the region.
    pub fn read_u64(&self, offset: usize) -> u64 {
        let p = self.word(offset);
        // SAFETY: aligned and in bounds (`word`); volatile because the device
        // may write this word at any time.
        u64::from_le(unsafe { p.read_volatile() })
    }

    /// One volatile little-endian 64-bit store.
    ///
    /// # Panics
    ///
    /// On an offset that is not 8-byte aligned or not inside the region.
    pub fn write_u64(&self, offset: usize, value: u64) {
        let p = self.word(offset);
        // SAFETY: aligned and in bounds (`word`); volatile because the device
        // may read this word at any time.
        unsafe { p.write_volatile(value.to_le()) }
    }

    fn check_bytes(&self, offset: usize, len: usize) {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.len),
            "DMA bytes {offset:#x}+{len:#x} outside the {:#x}-byte region",
            self.len
        );
    }

    /// The device's side of a transfer, byte by byte (volatile): for device
    /// models in tests. Panics outside the region.
    pub fn write_bytes(&self, offset: usize, data: &[u8]) {
        self.check_bytes(offset, data.len());
        for (i, b) in data.iter().enumerate() {
            // SAFETY: offset + i < len (checked above).
            unsafe { self.ptr.as_ptr().add(offset + i).write_volatile(*b) }
        }
    }

    /// The device's side of a transfer, byte by byte (volatile): for device
    /// models in tests. Panics outside the region.
    pub fn read_bytes(&self, offset: usize, out: &mut [u8]) {
        self.check_bytes(offset, out.len());
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: offset + i < len (checked above).
            *b = unsafe { self.ptr.as_ptr().add(offset + i).read_volatile() };
        }
    }

    /// Bytes of a buffer software owns.
    ///
    /// # Safety
    ///
    /// No descriptor the device may still process points into
    /// `offset..offset + len` (the caller holds the buffer's handle), so the
    /// device does not write these bytes while the slice lives.
    ///
    /// # Panics
    ///
    /// Outside the region.
    pub(crate) unsafe fn slice(&self, offset: usize, len: usize) -> &[u8] {
        self.check_bytes(offset, len);
        // SAFETY: in bounds (checked); the device does not write it (caller's
        // contract), and Rust code writes it only through `slice_mut`, which
        // needs `&mut self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(offset), len) }
    }

    /// Bytes of a buffer software owns, to fill.
    ///
    /// # Safety
    ///
    /// As [`DmaRegion::slice`]: the device neither reads nor writes these
    /// bytes while the slice lives.
    ///
    /// # Panics
    ///
    /// Outside the region.
    pub(crate) unsafe fn slice_mut(&mut self, offset: usize, len: usize) -> &mut [u8] {
        self.check_bytes(offset, len);
        // SAFETY: in bounds (checked); `&mut self` excludes every other slice
        // of this region, and the device does not touch these bytes (caller).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(offset), len) }
    }
}

impl Drop for DmaRegion {
    fn drop(&mut self) {
        match &self.owner {
            Owner::Vfio { container, range } => {
                // The IOMMU mapping goes first, so the device can no longer
                // reach the pages when they are returned to the kernel.
                container.unmap_dma(*range);
                // SAFETY: ptr/len are the anonymous mapping this region owns
                // (from_vfio's contract); it is unmapped exactly once, here.
                let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), self.len) };
            }
            // SAFETY: allocated in `heap` with exactly this layout, freed once.
            Owner::Heap(layout) => unsafe { std::alloc::dealloc(self.ptr.as_ptr(), *layout) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_little_endian_and_volatile_round_trips() {
        let r = DmaRegion::heap(4096, 0x1000_0000);
        r.write_u64(8, 0x0102_0304_0506_0708);
        assert_eq!(r.read_u64(8), 0x0102_0304_0506_0708);
        let mut b = [0u8; 8];
        r.read_bytes(8, &mut b);
        assert_eq!(b, [8, 7, 6, 5, 4, 3, 2, 1], "little endian in memory");
        r.write_bytes(16, &[1, 0, 0, 0, 0, 0, 0, 0x80]);
        assert_eq!(r.read_u64(16), 0x8000_0000_0000_0001);
    }

    #[test]
    fn offset_of_maps_iovas_inside_only() {
        let r = DmaRegion::heap(8192, 0x2000_0000);
        assert_eq!(r.offset_of(0x2000_0000, 8192), Some(0));
        assert_eq!(r.offset_of(0x2000_1000, 2048), Some(4096));
        assert_eq!(r.offset_of(0x2000_1c01, 1024), None, "runs past the end");
        assert_eq!(r.offset_of(0x1fff_ffff, 1), None, "before the start");
        assert_eq!(r.offset_of(u64::MAX, 1), None);
    }

    #[test]
    #[should_panic(expected = "unaligned or outside")]
    fn refuses_a_word_past_the_end() {
        DmaRegion::heap(4096, 0).read_u64(4096);
    }

    #[test]
    #[should_panic(expected = "unaligned or outside")]
    fn refuses_an_unaligned_word() {
        DmaRegion::heap(4096, 0).write_u64(4, 0);
    }
}
