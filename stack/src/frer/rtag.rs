//! The 802.1CB redundancy tag (R-TAG, 7.8) in a takt stream frame: six
//! bytes right after the 802.1Q tag (or after the source MAC on an untagged
//! frame):
//!
//! ```text
//!  EtherType 0xF1C1 (2) | reserved, 0 (2) | sequence number (2)
//! ```
//!
//! followed by the EtherType it carries (0x88B5). [`insert`] puts one into
//! an encoded frame *without changing the frame's length*: the padding
//! gives up six bytes and the header's declared length shrinks by six, so
//! a replicated stream's frames are exactly `frame_size` on the wire, as
//! the schedule's wire times assume. `wire::StreamFrame` reads frames with
//! or without it (`rtag_sequence`).

use crate::wire::{
    ETHERTYPE_RTAG, ETH_HEADER_LEN, RTAG_LEN, STREAM_HEADER_LEN, TPID_8021Q, VLAN_TAG_LEN,
};

/// Why an R-TAG cannot go into a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtagError {
    #[error("not a takt stream frame of {len} bytes: no room for an R-TAG")]
    NotAStreamFrame { len: usize },
    #[error("frame of {len} bytes is too short for an R-TAG: a replicated stream needs frame_size >= 68")]
    TooShort { len: usize },
}

/// Where the R-TAG goes (or is): after the 802.1Q tag, if any.
fn tag_at(frame: &[u8]) -> usize {
    if frame.len() >= 14 && u16::from_be_bytes([frame[12], frame[13]]) == TPID_8021Q {
        ETH_HEADER_LEN - 2 + VLAN_TAG_LEN
    } else {
        ETH_HEADER_LEN - 2
    }
}

/// The R-TAG's sequence number, if `frame` has an R-TAG where it belongs.
pub fn sequence(frame: &[u8]) -> Option<u16> {
    let at = tag_at(frame);
    let t = frame.get(at..at + RTAG_LEN)?;
    (u16::from_be_bytes([t[0], t[1]]) == ETHERTYPE_RTAG).then(|| u16::from_be_bytes([t[4], t[5]]))
}

/// Put an R-TAG with `seq` into the `len`-byte stream frame at the start
/// of `frame` (or renumber the one it has), keeping `len`. The frame must
/// be a takt stream frame as `wire::encode` writes it.
pub fn insert(frame: &mut [u8], len: usize, seq: u16) -> Result<(), RtagError> {
    let Some(frame) = frame.get_mut(..len) else {
        return Err(RtagError::NotAStreamFrame { len });
    };
    let at = tag_at(frame);
    if sequence(frame).is_some() {
        frame[at + 4..at + 6].copy_from_slice(&seq.to_be_bytes());
        return Ok(());
    }
    // The stream header (after the EtherType at `at`), its length field.
    let hdr = at + 2;
    if len < hdr + STREAM_HEADER_LEN + RTAG_LEN {
        return Err(RtagError::TooShort { len });
    }
    if !crate::wire::is_takt_frame(frame) {
        return Err(RtagError::NotAStreamFrame { len });
    }
    // EtherType, header and padding move 6 bytes on; the last 6 padding
    // bytes fall off the end.
    frame.copy_within(at..len - RTAG_LEN, at + RTAG_LEN);
    frame[at..at + 2].copy_from_slice(&ETHERTYPE_RTAG.to_be_bytes());
    frame[at + 2..at + 4].copy_from_slice(&[0, 0]);
    frame[at + 4..at + 6].copy_from_slice(&seq.to_be_bytes());
    // The declared length counts neither tag: the frame shrank by 6.
    let lf = hdr + RTAG_LEN + 6;
    let declared = u16::from_be_bytes([frame[lf], frame[lf + 1]]).saturating_sub(RTAG_LEN as u16);
    frame[lf..lf + 2].copy_from_slice(&declared.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{encode, StreamFrame, StreamFrameFields, Vlan};

    fn frame(len: usize, vlan: Option<Vlan>) -> Vec<u8> {
        let mut buf = vec![0; 2048];
        let fields = StreamFrameFields {
            dst: [0x91, 0xe0, 0xf0, 0, 0xfe, 0],
            src: [2, 0, 0, 0, 0, 1],
            vlan,
            stream_id: 3,
            sequence: 70_001,
            launch_ns: 5,
            tx_ns: 6,
            tx_hw_timestamp: false,
            epoch: 9,
        };
        encode(&mut buf, &fields, len).unwrap();
        buf
    }

    #[test]
    fn a_tagged_frame_keeps_its_length_fields_and_padding() {
        let vlan = Some(Vlan {
            pcp: 6,
            dei: false,
            vid: 10,
        });
        for len in [64, 100, 1514] {
            let mut f = frame(len, vlan);
            let before = StreamFrame::new_checked(&f[..len]).unwrap().fields();
            insert(&mut f, len, 0xBEEF).unwrap();
            assert_eq!(&f[16..22], &[0xF1, 0xC1, 0, 0, 0xBE, 0xEF]);
            assert_eq!(sequence(&f[..len]), Some(0xBEEF));
            let v = StreamFrame::new_checked(&f[..len]).unwrap();
            assert_eq!(v.fields(), before, "len {len}");
            assert_eq!(v.rtag_sequence(), Some(0xBEEF));
            assert_eq!(v.frame_len(), len);
            assert!(v.padding_ok(), "len {len}");
            // Again: renumbered in place, nothing else moves.
            insert(&mut f, len, 7).unwrap();
            assert_eq!(
                StreamFrame::new_checked(&f[..len]).unwrap().rtag_sequence(),
                Some(7)
            );
        }
    }

    #[test]
    fn an_untagged_frame_takes_it_after_the_source_mac() {
        let mut f = frame(80, None);
        insert(&mut f, 80, 1).unwrap();
        assert_eq!(&f[12..14], &[0xF1, 0xC1]);
        let v = StreamFrame::new_checked(&f[..80]).unwrap();
        assert!(!v.is_tagged());
        assert_eq!(v.vlan(), None);
        assert_eq!(v.rtag_sequence(), Some(1));
        assert!(v.padding_ok());
    }

    #[test]
    fn too_short_or_foreign_frames_are_refused_untouched() {
        let mut f = frame(60, None);
        // 60 bytes untagged: 14 + 40 + 6 padding, exactly room for it.
        assert!(insert(&mut f, 60, 1).is_ok());
        let mut g = frame(60, Some(Vlan::default()));
        let copy = g.clone();
        assert_eq!(insert(&mut g, 60, 1), Err(RtagError::TooShort { len: 60 }));
        assert_eq!(g, copy);
        let mut junk = vec![0u8; 100];
        assert_eq!(
            insert(&mut junk, 100, 1),
            Err(RtagError::NotAStreamFrame { len: 100 })
        );
        assert_eq!(
            insert(&mut junk, 200, 1),
            Err(RtagError::NotAStreamFrame { len: 200 })
        );
        assert_eq!(sequence(&[0u8; 3]), None);
    }
}
