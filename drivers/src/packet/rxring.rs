//! Checks of what the kernel writes into a TPACKET_V2 RX frame slot,
//! before `rx_burst` reads or copies anything at the offsets it gives:
//! pure functions over the numbers, so hostile values are tested without a
//! socket. A header that fails is not trusted any further (the slot is
//! given back and the frame counted in `rx_drops`); a frame that is longer
//! than what was copied, or than a pool buffer, is truncated: counted,
//! never handed out.

/// Bytes of a frame header (struct tpacket2_hdr).
pub(super) const HDR_LEN: usize = std::mem::size_of::<libc::tpacket2_hdr>();
/// TPACKET2_HDRLEN: the header (aligned) and the sockaddr_ll the kernel
/// writes after it; frame data never starts before it.
pub(super) const HDR_AND_ADDR_LEN: usize =
    super::tpacket_align(HDR_LEN) + std::mem::size_of::<libc::sockaddr_ll>();

/// Why a frame header is not trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Bad {
    /// Frame data inside the header, or past the end of the slot.
    OutOfSlot,
    /// A network header offset before the frame or past the slot.
    NetOutside,
    /// A receive stamp with 10^9 ns or more.
    StampRange,
}

/// The numbers of one frame header the checks look at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Hdr {
    pub snaplen: u32,
    pub len: u32,
    pub mac: u16,
    pub net: u16,
    pub sec: u32,
    pub nsec: u32,
}

impl Hdr {
    pub fn of(h: &libc::tpacket2_hdr) -> Hdr {
        Hdr {
            snaplen: h.tp_snaplen,
            len: h.tp_len,
            mac: h.tp_mac,
            net: h.tp_net,
            sec: h.tp_sec,
            nsec: h.tp_nsec,
        }
    }
}

/// Where one frame's bytes are in its slot, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    /// Offset of the first byte (the Ethernet header) in the slot.
    pub data: usize,
    /// Bytes the kernel copied into the slot.
    pub snap: usize,
    /// The frame's length on the wire (without a VLAN tag the kernel stripped).
    pub wire_len: usize,
    /// The kernel's receive stamp, CLOCK_REALTIME ns.
    pub stamp_ns: u64,
}

impl Span {
    /// The frame was cut short: the kernel copied less than arrived, or it
    /// (with `tag_len` bytes of VLAN tag put back) exceeds `buf_len`.
    pub fn truncated(&self, tag_len: usize, buf_len: usize) -> bool {
        self.wire_len > self.snap || self.snap.saturating_add(tag_len) > buf_len
    }
}

/// Check the header of a slot of `slot_size` bytes.
pub(super) fn frame(slot_size: usize, h: Hdr) -> Result<Span, Bad> {
    let data = usize::from(h.mac);
    if data < HDR_AND_ADDR_LEN {
        return Err(Bad::OutOfSlot);
    }
    let snap = h.snaplen as usize;
    if data.checked_add(snap).is_none_or(|e| e > slot_size) {
        return Err(Bad::OutOfSlot);
    }
    let net = usize::from(h.net);
    if net < data || net > slot_size {
        return Err(Bad::NetOutside);
    }
    if h.nsec >= 1_000_000_000 {
        return Err(Bad::StampRange);
    }
    Ok(Span {
        data,
        snap,
        wire_len: h.len as usize,
        stamp_ns: u64::from(h.sec) * 1_000_000_000 + u64::from(h.nsec),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOT: usize = 2112;

    fn hdr(snap: u32, len: u32, mac: u16, net: u16) -> Hdr {
        Hdr {
            snaplen: snap,
            len,
            mac,
            net,
            sec: 1_700_000_000,
            nsec: 5,
        }
    }

    #[test]
    fn sizes_match_the_kernel() {
        assert_eq!(HDR_LEN, 32);
        assert_eq!(HDR_AND_ADDR_LEN, 52);
    }

    #[test]
    fn a_frame_the_kernel_wrote_is_accepted() {
        // af_packet.c: macoff = TPACKET_ALIGN(52 + 16) - 14 = 66 for Ethernet.
        let s = frame(SLOT, hdr(1514, 1514, 66, 80)).unwrap();
        assert_eq!(
            s,
            Span {
                data: 66,
                snap: 1514,
                wire_len: 1514,
                stamp_ns: 1_700_000_000_000_000_005,
            }
        );
        assert!(!s.truncated(0, 2000));
        assert!(!s.truncated(4, 2000));
        // Data up to the last byte of the slot.
        assert!(frame(SLOT, hdr((SLOT - 66) as u32, 60, 66, 80)).is_ok());
        // An empty frame (snap 0) is in the slot; it is short, not hostile.
        assert!(frame(SLOT, hdr(0, 0, 66, 66)).is_ok());
    }

    #[test]
    fn hostile_frame_headers_are_refused() {
        // Data starting inside the header or its sockaddr_ll, or past the slot.
        assert_eq!(frame(SLOT, hdr(60, 60, 0, 80)), Err(Bad::OutOfSlot));
        assert_eq!(frame(SLOT, hdr(60, 60, 51, 80)), Err(Bad::OutOfSlot));
        assert_eq!(
            frame(SLOT, hdr(60, 60, u16::MAX, u16::MAX)),
            Err(Bad::OutOfSlot)
        );
        // Snap length past the slot, or overflowing.
        assert_eq!(
            frame(SLOT, hdr((SLOT - 65) as u32, 60, 66, 80)),
            Err(Bad::OutOfSlot)
        );
        assert_eq!(frame(SLOT, hdr(u32::MAX, 60, 66, 80)), Err(Bad::OutOfSlot));
        // A network header before the frame or past the slot.
        assert_eq!(frame(SLOT, hdr(60, 60, 66, 65)), Err(Bad::NetOutside));
        assert_eq!(frame(SLOT, hdr(60, 60, 66, 0)), Err(Bad::NetOutside));
        assert_eq!(
            frame(SLOT, hdr(60, 60, 66, (SLOT + 1) as u16)),
            Err(Bad::NetOutside)
        );
        // A stamp with a second or more of nanoseconds.
        let mut h = hdr(60, 60, 66, 80);
        h.nsec = 1_000_000_000;
        assert_eq!(frame(SLOT, h), Err(Bad::StampRange));
        h.nsec = u32::MAX;
        h.sec = u32::MAX;
        assert_eq!(frame(SLOT, h), Err(Bad::StampRange));
        // Whatever the header says, an accepted frame lies in the slot.
        for mac in [52u16, 66, 100, 2000, 2111, 2112, 4000] {
            for snap in [0u32, 1, 60, 2046, 2060, 5000, u32::MAX] {
                if let Ok(s) = frame(SLOT, hdr(snap, snap, mac, mac)) {
                    assert!(s.data >= HDR_AND_ADDR_LEN && s.data + s.snap <= SLOT);
                }
            }
        }
    }

    #[test]
    fn frames_cut_short_are_truncated() {
        // The kernel copied 2,000 of 9,000 bytes.
        let s = frame(SLOT, hdr(2000, 9000, 66, 80)).unwrap();
        assert!(s.truncated(0, 2000));
        // All copied, but a pool buffer holds 2,000.
        let s = frame(SLOT, hdr(2040, 2040, 66, 80)).unwrap();
        assert!(s.truncated(0, 2000));
        // Exactly a buffer, but the VLAN tag put back would not fit.
        let s = frame(SLOT, hdr(2000, 2000, 66, 80)).unwrap();
        assert!(!s.truncated(0, 2000));
        assert!(s.truncated(4, 2000));
    }
}
