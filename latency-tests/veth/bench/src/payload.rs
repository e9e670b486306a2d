//! The UDP baseline's payload: a takt stream frame with its Ethernet and
//! 802.1Q header cut off (the kernel adds Ethernet + IP + UDP instead), so
//! the datagram carries the same 40-byte takt header (sequence, launch and
//! tx time, declared length, epoch) and padding, and is about as long on
//! the wire as takt's frame.
//!
//! Sending: [`FrameTemplate`] holds one whole encoded frame per stream and
//! is patched per frame. Receiving: [`PayloadReader`] receives into a
//! buffer behind a fixed Ethernet + 802.1Q header, so the datagram decodes
//! with takt's own `StreamFrame` checks, without a copy.

use takt_stack::wire::{self, StreamFrame, StreamFrameFields, Vlan, WireError};

/// Bytes cut off the front of a tagged stream frame: Ethernet + 802.1Q.
pub const CUT: usize = wire::ETH_HEADER_LEN + wire::VLAN_TAG_LEN;
/// Bytes a UDP payload adds on an untagged Ethernet frame: Ethernet 14,
/// IPv4 20, UDP 8.
pub const UDP_OVERHEAD: usize = 14 + 20 + 8;
/// Largest payload that is not fragmented at a 1500-byte MTU. A takt
/// frame of more than 1510 bytes (1514 with FCS) loses the end of its
/// padding in the datagram: one Ethernet frame each way, both at most 1518
/// bytes without FCS.
pub const MAX_PAYLOAD: usize = 1500 - 20 - 8;

/// One stream's frame, encoded once, patched per frame.
pub struct FrameTemplate {
    buf: Vec<u8>,
}

impl FrameTemplate {
    /// A tagged frame of `frame_len` bytes (frame size without FCS), cut
    /// to what one datagram carries: its declared length then matches the
    /// payload, so the reader does not take it for a truncated frame.
    pub fn new(fields: &StreamFrameFields, frame_len: usize) -> Result<Self, WireError> {
        let frame_len = frame_len.min(CUT + MAX_PAYLOAD);
        let mut buf = vec![0; frame_len];
        wire::encode(&mut buf, fields, frame_len)?;
        Ok(FrameTemplate { buf })
    }

    /// Write the per-frame fields (sequence and padding, launch and tx
    /// time) and return the UDP payload: the frame after its VLAN tag, at
    /// most [`MAX_PAYLOAD`] bytes.
    pub fn stamp(&mut self, sequence: u64, launch_ns: u64, tx_ns: u64) -> &[u8] {
        // The buffer was encoded by `new`, so the view always checks out.
        if let Ok(mut f) = StreamFrame::new_checked(&mut self.buf[..]) {
            f.set_sequence(sequence);
            f.set_launch_ns(launch_ns);
            f.set_tx_ns(tx_ns);
        }
        let end = self.buf.len().min(CUT + MAX_PAYLOAD);
        &self.buf[CUT..end]
    }
}

/// A receive buffer behind a fixed tagged Ethernet header.
pub struct PayloadReader {
    buf: Vec<u8>,
}

impl Default for PayloadReader {
    fn default() -> Self {
        Self::new()
    }
}

impl PayloadReader {
    pub fn new() -> Self {
        let mut buf = vec![0; wire::MAX_BUFFER_LEN + 64];
        let fields = StreamFrameFields {
            vlan: Some(Vlan::default()),
            ..StreamFrameFields::default()
        };
        // Constant, valid fields: cannot fail. Only the first CUT bytes
        // (Ethernet + tag + EtherType) stay; the rest is overwritten.
        let _ = wire::encode(&mut buf, &fields, wire::MIN_BUFFER_LEN);
        PayloadReader { buf }
    }

    /// Where to receive the next datagram (larger than any valid one, so a
    /// too long datagram shows as too long rather than cut).
    pub fn slot(&mut self) -> &mut [u8] {
        &mut self.buf[CUT..]
    }

    /// The datagram of `len` bytes just received into [`slot`](Self::slot),
    /// as a checked stream frame.
    pub fn frame(&self, len: usize) -> Result<StreamFrame<&[u8]>, WireError> {
        let end = (CUT + len).min(self.buf.len());
        StreamFrame::new_checked(&self.buf[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> StreamFrameFields {
        StreamFrameFields {
            dst: [0x91, 0xe0, 0xf0, 0, 0xfe, 0],
            src: [2, 0, 0, 0, 0, 1],
            vlan: Some(Vlan {
                pcp: 7,
                dei: false,
                vid: 100,
            }),
            stream_id: 3,
            ..StreamFrameFields::default()
        }
    }

    #[test]
    fn payload_round_trips_through_the_reader() {
        let mut t = FrameTemplate::new(&fields(), 124).unwrap();
        let mut r = PayloadReader::new();
        for seq in [0u64, 1, 255, 1_000_000] {
            let p = t.stamp(seq, 5_000 + seq, 6_000 + seq);
            assert_eq!(p.len(), 124 - CUT);
            assert_eq!(&p[..2], b"TK", "payload starts with the stream header");
            let n = p.len();
            r.slot()[..n].copy_from_slice(p);
            let f = r.frame(n).unwrap();
            assert_eq!(f.sequence(), seq);
            assert_eq!(f.stream_id(), 3);
            assert_eq!(f.tx_ns(), 6_000 + seq);
            assert_eq!(f.launch_ns(), 5_000 + seq);
            assert!(f.padding_ok(), "padding rewritten for sequence {seq}");
        }
    }

    #[test]
    fn wire_size_is_close_to_takts() {
        // A 128-byte takt frame (124 without FCS) becomes a 106-byte payload,
        // i.e. a 148-byte UDP frame without FCS: 24 bytes more (IP + UDP - tag).
        let mut t = FrameTemplate::new(&fields(), 124).unwrap();
        assert_eq!(t.stamp(0, 0, 0).len() + UDP_OVERHEAD, 124 + 24);
    }

    #[test]
    fn a_full_size_frame_fits_one_datagram_at_mtu_1500() {
        let mut t = FrameTemplate::new(&fields(), 1518).unwrap();
        let p = t.stamp(7, 1, 2);
        assert_eq!(p.len(), MAX_PAYLOAD);
        assert_eq!(p.len() + UDP_OVERHEAD, 1514);
        let mut r = PayloadReader::new();
        r.slot()[..p.len()].copy_from_slice(p);
        assert_eq!(r.frame(MAX_PAYLOAD).unwrap().sequence(), 7);
    }

    #[test]
    fn garbage_and_short_datagrams_are_rejected() {
        let mut r = PayloadReader::new();
        r.slot()[..4].copy_from_slice(b"nope");
        assert!(r.frame(4).is_err());
        assert!(r.frame(0).is_err());
        // A huge length is clamped, not a panic.
        assert!(r.frame(usize::MAX / 2).is_err());
    }
}
