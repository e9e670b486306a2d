//! Device registers: a mapped PCI BAR, accessed only with volatile 32-bit
//! reads and writes that are checked for bounds and alignment.

use std::ptr::NonNull;

/// 32-bit register access. The BAR implements it; tests put a register
/// model behind it, so the control and ring code run without a device.
pub trait Regs {
    fn read32(&self, offset: usize) -> u32;
    fn write32(&self, offset: usize, value: u32);
}

/// A memory-mapped BAR (unmapped on drop).
///
/// # Panics
///
/// `read32` / `write32` panic on an offset that is not 4-byte aligned or
/// not inside the BAR, like slice indexing: register offsets are constants
/// of the driver, never input, so such an offset is a bug.
#[derive(Debug)]
pub struct Bar {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a Bar is a plain address range of device registers; every access
// is a single volatile load or store, which is as valid from one thread as
// from another. Nothing in it is tied to the thread that mapped it.
unsafe impl Send for Bar {}

impl Bar {
    /// Take ownership of a mapping.
    ///
    /// # Safety
    ///
    /// `ptr..ptr + len` must be a live `mmap` of device registers (or of
    /// memory) that nothing else unmaps, readable and writable with 32-bit
    /// volatile accesses; the `Bar` unmaps it when dropped.
    pub(crate) unsafe fn from_mmap(ptr: NonNull<u8>, len: usize) -> Self {
        Bar { ptr, len }
    }

    /// A BAR over fresh anonymous memory (all registers read 0): for tests
    /// and dry runs that need a `Bar` but no device.
    pub fn anonymous(len: usize) -> std::io::Result<Self> {
        let len = std::num::NonZeroUsize::new(len).ok_or(std::io::ErrorKind::InvalidInput)?;
        use nix::sys::mman::{mmap_anonymous, MapFlags, ProtFlags};
        // SAFETY: a fresh private anonymous mapping aliases nothing; the Bar
        // becomes its only owner and unmaps it on drop.
        let ptr = unsafe {
            mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE,
            )
        }?;
        // SAFETY: just mapped, readable and writable, `len` bytes, owned by no one else.
        Ok(unsafe { Bar::from_mmap(ptr.cast(), len.get()) })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn reg(&self, offset: usize) -> *mut u32 {
        assert!(
            offset.is_multiple_of(4) && offset.checked_add(4).is_some_and(|end| end <= self.len),
            "register offset {offset:#x} is unaligned or outside the {:#x}-byte BAR",
            self.len
        );
        // SAFETY: offset + 4 <= len (checked above), so the result stays
        // inside the mapping; the mapping is page aligned, so with offset % 4
        // == 0 the pointer is 4-byte aligned.
        unsafe { self.ptr.as_ptr().add(offset).cast::<u32>() }
    }
}

impl Regs for Bar {
    fn read32(&self, offset: usize) -> u32 {
        let p = self.reg(offset);
        // SAFETY: `reg` checked that p is aligned and inside the live mapping.
        u32::from_le(unsafe { p.read_volatile() })
    }

    fn write32(&self, offset: usize, value: u32) {
        let p = self.reg(offset);
        // SAFETY: `reg` checked that p is aligned and inside the live mapping.
        unsafe { p.write_volatile(value.to_le()) }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        // SAFETY: ptr/len are the mapping this Bar owns (from_mmap's
        // contract); nothing can use it after drop.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_wrote() {
        let bar = Bar::anonymous(0x20000).unwrap();
        assert_eq!(bar.read32(0x3818), 0);
        bar.write32(0x3818, 0xdead_beef);
        bar.write32(0x1fffc, 7);
        assert_eq!(bar.read32(0x3818), 0xdead_beef);
        assert_eq!(bar.read32(0x1fffc), 7);
        assert_eq!(bar.len(), 0x20000);
    }

    #[test]
    #[should_panic(expected = "outside the 0x20000-byte BAR")]
    fn refuses_an_offset_past_the_end() {
        Bar::anonymous(0x20000).unwrap().read32(0x20000);
    }

    #[test]
    #[should_panic(expected = "unaligned")]
    fn refuses_an_unaligned_offset() {
        Bar::anonymous(0x1000).unwrap().write32(0x2, 1);
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn refuses_an_offset_that_would_overflow() {
        Bar::anonymous(0x1000).unwrap().read32(usize::MAX - 3);
    }
}
