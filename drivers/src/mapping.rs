//! Memory mapped once at open and unmapped on drop: a socket's rings
//! shared with the kernel (AF_PACKET, AF_XDP) or anonymous memory (the XDP
//! UMEM). The owner hands out pointers into it; none may outlive it.

use std::ffi::c_void;
use std::io;
use std::os::fd::RawFd;

pub(crate) struct Mapping {
    pub ptr: *mut u8,
    pub len: usize,
}

impl Mapping {
    /// `len` bytes of socket `fd`'s rings from byte `offset` (a page
    /// multiple: 0 for AF_PACKET, XDP_PGOFF_* for AF_XDP), prefaulted.
    pub fn shared(fd: RawFd, len: usize, offset: u64) -> io::Result<Self> {
        // SAFETY: a fresh shared mapping of the socket's rings; the kernel
        // checks `len` and `offset` against the rings it set up. Checked
        // before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                offset as libc::off_t,
            )
        };
        Self::checked(p, len)
    }

    /// Anonymous, private, prefaulted memory.
    pub fn anonymous(len: usize) -> io::Result<Self> {
        // SAFETY: a fresh anonymous mapping; checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        Self::checked(p, len)
    }

    fn checked(p: *mut c_void, len: usize) -> io::Result<Self> {
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: p as *mut u8,
            len,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made by `shared` or
        // `anonymous`, and no pointer into it outlives the device that owns
        // this Mapping.
        unsafe {
            libc::munmap(self.ptr as *mut c_void, self.len);
        }
    }
}
