//! The UMEM: one anonymous, prefaulted mapping of fixed 2048-byte frames,
//! registered with the socket. Frame `i` of the UMEM is buffer `i` of the
//! device's pool.
//!
//! Frame layout: the first [`DATA_OFF`] bytes are headroom (the kernel puts
//! received data at XDP_PACKET_HEADROOM = 256 in copy mode, and the redirect
//! program's 8-byte rx timestamp just before it); the buffer a `BufId`
//! shows is the rest, [`BUF_SIZE`] bytes.

use crate::mapping::Mapping;

pub const FRAME_SIZE: usize = 2048;
/// Where a frame's data starts (XDP_PACKET_HEADROOM).
pub const DATA_OFF: usize = 256;
/// Bytes of a buffer: the frame after its headroom.
pub const BUF_SIZE: usize = FRAME_SIZE - DATA_OFF;
/// The rx timestamp the program stores as XDP metadata: 8 bytes before the data.
pub const META_OFF: usize = DATA_OFF - 8;

pub(super) struct Umem {
    map: Mapping,
    frames: u32,
}

impl Umem {
    pub fn new(frames: u32) -> std::io::Result<Self> {
        let map = Mapping::anonymous(frames as usize * FRAME_SIZE)?;
        Ok(Umem { map, frames })
    }

    pub fn reg(&self) -> libc::xdp_umem_reg {
        libc::xdp_umem_reg {
            addr: self.map.ptr as u64,
            len: self.map.len as u64,
            chunk_size: FRAME_SIZE as u32,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        }
    }

    /// Frame `i`'s bytes. The caller guarantees the kernel does not own the
    /// frame (not on the fill or TX ring).
    pub fn frame(&self, i: usize) -> &[u8] {
        assert!(i < self.frames as usize);
        // SAFETY: frame i lies inside the mapping, which lives as long as
        // `self`; the kernel only writes frames on the fill ring and only
        // reads frames on the TX ring, and the pool (lend/take_back) keeps
        // those apart from the frames userland holds.
        unsafe { std::slice::from_raw_parts(self.map.ptr.add(i * FRAME_SIZE), FRAME_SIZE) }
    }

    pub fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        assert!(i < self.frames as usize);
        // SAFETY: as `frame`; `&mut self` makes this the only view of it.
        unsafe { std::slice::from_raw_parts_mut(self.map.ptr.add(i * FRAME_SIZE), FRAME_SIZE) }
    }
}
