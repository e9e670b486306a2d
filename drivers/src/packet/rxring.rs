//! Checks of what the kernel writes into a TPACKET_V3 RX block, before
//! `rx_burst` reads or copies anything at the offsets it gives: pure
//! functions over the numbers, so hostile values are tested without a
//! socket. A block or frame header that fails is not trusted any further
//! (the rest of the block is dropped and counted); a frame that is longer
//! than what was copied, or than a pool buffer, is truncated: counted,
//! never handed out.

/// V3_ALIGNMENT (net/packet/af_packet.c): frame headers in a TPACKET_V3
/// block start on 8-byte boundaries (tpacket3_hdr needs 4).
const ALIGN: usize = 8;
/// Bytes of a frame header (struct tpacket3_hdr).
pub(super) const HDR_LEN: usize = std::mem::size_of::<libc::tpacket3_hdr>();
/// Bytes of the block descriptor: no frame starts before it.
pub(super) const BLOCK_HDR_LEN: usize = std::mem::size_of::<libc::tpacket_block_desc>();

/// Why a block or frame header is not trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Bad {
    /// An offset not on a V3_ALIGNMENT boundary.
    Misaligned,
    /// A header or frame data past the end of the block (or inside the
    /// block descriptor).
    OutOfBlock,
    /// More frames than the block can hold.
    TooManyFrames,
    /// A next-frame offset that does not move forward.
    Backwards,
}

/// Whether a frame header can sit at `off` of a block of `block_size` bytes.
pub(super) fn frame_offset(block_size: usize, off: usize) -> Result<usize, Bad> {
    if !off.is_multiple_of(ALIGN) {
        return Err(Bad::Misaligned);
    }
    if off < BLOCK_HDR_LEN || off.checked_add(HDR_LEN).is_none_or(|e| e > block_size) {
        return Err(Bad::OutOfBlock);
    }
    Ok(off)
}

/// The block descriptor's frame count and first offset, checked.
pub(super) fn block(block_size: usize, num_pkts: u32, first: u32) -> Result<(u32, usize), Bad> {
    let most = block_size.saturating_sub(BLOCK_HDR_LEN) / HDR_LEN;
    if num_pkts as usize > most {
        return Err(Bad::TooManyFrames);
    }
    Ok((num_pkts, frame_offset(block_size, first as usize)?))
}

/// The numbers of one frame header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Hdr {
    pub next_offset: u32,
    pub snaplen: u32,
    pub len: u32,
    pub mac: u16,
}

impl Hdr {
    pub fn of(h: &libc::tpacket3_hdr) -> Hdr {
        Hdr {
            next_offset: h.tp_next_offset,
            snaplen: h.tp_snaplen,
            len: h.tp_len,
            mac: h.tp_mac,
        }
    }
}

/// Where one frame's bytes are in its block, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    /// Offset of the first byte (the Ethernet header) in the block.
    pub data: usize,
    /// Bytes the kernel copied into the block.
    pub snap: usize,
    /// The frame's length on the wire (without a VLAN tag the kernel stripped).
    pub wire_len: usize,
    /// Offset of the next frame header, if the kernel gave one.
    pub next: Option<usize>,
}

impl Span {
    /// The frame was cut short: the kernel copied less than arrived, or it
    /// (with `tag_len` bytes of VLAN tag put back) exceeds `buf_len`.
    pub fn truncated(&self, tag_len: usize, buf_len: usize) -> bool {
        self.wire_len > self.snap || self.snap.saturating_add(tag_len) > buf_len
    }
}

/// Check the frame header at `off` (already checked by [`frame_offset`])
/// of a block of `block_size` bytes.
pub(super) fn frame(block_size: usize, off: usize, h: Hdr) -> Result<Span, Bad> {
    let mac = usize::from(h.mac);
    if mac < HDR_LEN {
        return Err(Bad::OutOfBlock);
    }
    let data = off.checked_add(mac).ok_or(Bad::OutOfBlock)?;
    let snap = h.snaplen as usize;
    if data.checked_add(snap).is_none_or(|e| e > block_size) {
        return Err(Bad::OutOfBlock);
    }
    let next = match h.next_offset as usize {
        0 => None,
        n if n < HDR_LEN => return Err(Bad::Backwards),
        n => Some(frame_offset(
            block_size,
            off.checked_add(n).ok_or(Bad::OutOfBlock)?,
        )?),
    };
    Ok(Span {
        data,
        snap,
        wire_len: h.len as usize,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BS: usize = 1 << 16;

    fn hdr(next: u32, snap: u32, len: u32, mac: u16) -> Hdr {
        Hdr {
            next_offset: next,
            snaplen: snap,
            len,
            mac,
        }
    }

    #[test]
    fn sizes_match_the_kernel() {
        assert_eq!(HDR_LEN, 48);
        assert_eq!(BLOCK_HDR_LEN, 48);
    }

    #[test]
    fn a_frame_the_kernel_wrote_is_accepted() {
        let s = frame(BS, 48, hdr(1600, 1514, 1514, 82)).unwrap();
        assert_eq!(
            s,
            Span {
                data: 130,
                snap: 1514,
                wire_len: 1514,
                next: Some(1648)
            }
        );
        assert!(!s.truncated(0, 2000));
        assert!(!s.truncated(4, 2000));
        let last = frame(BS, BS - 2048, hdr(0, 1514, 1514, 82)).unwrap();
        assert_eq!(last.next, None);
    }

    #[test]
    fn hostile_block_descriptors_are_refused() {
        assert_eq!(block(BS, 3, 48), Ok((3, 48)));
        assert_eq!(block(BS, 0, 48), Ok((0, 48)));
        assert_eq!(block(BS, u32::MAX, 48), Err(Bad::TooManyFrames));
        assert_eq!(
            block(BS, 1, 0),
            Err(Bad::OutOfBlock),
            "inside the descriptor"
        );
        assert_eq!(block(BS, 1, 52), Err(Bad::Misaligned));
        assert_eq!(block(BS, 1, BS as u32), Err(Bad::OutOfBlock));
        assert_eq!(block(BS, 1, (BS - 32) as u32), Err(Bad::OutOfBlock));
        assert_eq!(block(BS, 1, u32::MAX - 15), Err(Bad::OutOfBlock));
    }

    #[test]
    fn hostile_frame_headers_are_refused() {
        // Data starting inside the header, or past the block.
        assert_eq!(frame(BS, 48, hdr(0, 60, 60, 10)), Err(Bad::OutOfBlock));
        assert_eq!(
            frame(BS, 48, hdr(0, 60, 60, u16::MAX)),
            Err(Bad::OutOfBlock)
        );
        // Snap length past the block, or overflowing.
        assert_eq!(
            frame(BS, 48, hdr(0, BS as u32, 60, 82)),
            Err(Bad::OutOfBlock)
        );
        assert_eq!(
            frame(BS, 48, hdr(0, u32::MAX, 60, 82)),
            Err(Bad::OutOfBlock)
        );
        // A next offset that stays put, steps back into the header,
        // is misaligned, or leaves the block.
        assert_eq!(frame(BS, 48, hdr(16, 60, 60, 82)), Err(Bad::Backwards));
        assert_eq!(frame(BS, 48, hdr(100, 60, 60, 82)), Err(Bad::Misaligned));
        assert!(frame(BS, 48, hdr(104, 60, 60, 82)).is_ok(), "8-aligned");
        assert_eq!(
            frame(BS, 48, hdr(BS as u32, 60, 60, 82)),
            Err(Bad::OutOfBlock)
        );
        assert_eq!(
            frame(BS, 48, hdr(u32::MAX - 15, 60, 60, 82)),
            Err(Bad::OutOfBlock)
        );
        // Every offset a chain of accepted headers can reach is in the block.
        let mut off = 48;
        let mut n = 0;
        while let Ok(s) = frame(BS, off, hdr(48, 0, 0, 48)) {
            n += 1;
            match s.next {
                Some(next) => {
                    assert!(next > off && next + HDR_LEN <= BS);
                    off = next;
                }
                None => break,
            }
        }
        // Headers fill the block; the last one's next offset points past
        // it, so the chain stops there.
        assert_eq!(n, (BS - 48) / 48 - 1);
    }

    #[test]
    fn frames_cut_short_are_truncated() {
        // The kernel copied 2,000 of 9,000 bytes.
        let s = frame(BS, 48, hdr(0, 2000, 9000, 82)).unwrap();
        assert!(s.truncated(0, 2000));
        // All 9,000 copied, but a pool buffer holds 2,000.
        let s = frame(BS, 48, hdr(0, 9000, 9000, 82)).unwrap();
        assert!(s.truncated(0, 2000));
        // Exactly a buffer, but the VLAN tag put back would not fit.
        let s = frame(BS, 48, hdr(0, 2000, 2000, 82)).unwrap();
        assert!(!s.truncated(0, 2000));
        assert!(s.truncated(4, 2000));
    }
}
