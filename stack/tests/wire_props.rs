//! Property tests for the stream-frame codec: no input makes it panic, and
//! encode -> decode gives back every field.

use proptest::prelude::*;
use takt_stack::wire::{
    self, StreamFrame, StreamFrameFields, Vlan, WireError, MAX_BUFFER_LEN, MAX_VID, MIN_BUFFER_LEN,
};

fn vlan() -> impl Strategy<Value = Vlan> {
    (0u8..=7, any::<bool>(), 0u16..=MAX_VID).prop_map(|(pcp, dei, vid)| Vlan { pcp, dei, vid })
}

fn fields() -> impl Strategy<Value = StreamFrameFields> {
    (
        any::<[u8; 6]>(),
        any::<[u8; 6]>(),
        proptest::option::of(vlan()),
        any::<u16>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(
            |(dst, src, vlan, stream_id, sequence, launch_ns, tx_ns, tx_hw_timestamp)| {
                StreamFrameFields {
                    dst,
                    src,
                    vlan,
                    stream_id,
                    sequence,
                    launch_ns,
                    tx_ns,
                    tx_hw_timestamp,
                    epoch: sequence.rotate_left(17) ^ launch_ns,
                }
            },
        )
}

/// Touch every accessor of a view that passed `new_checked`.
fn read_everything<T: AsRef<[u8]>>(f: &StreamFrame<T>) {
    let _ = (f.dst(), f.src(), f.vlan(), f.is_tagged(), f.version());
    let _ = (
        f.flags(),
        f.tx_hw_timestamp(),
        f.stream_id(),
        f.declared_len(),
    );
    let _ = (
        f.sequence(),
        f.launch_ns(),
        f.tx_ns(),
        f.epoch(),
        f.fields(),
    );
    assert!(f.header_len() <= f.frame_len());
    assert_eq!(f.payload().len(), f.payload_len());
    assert_eq!(f.padding_ok(), f.padding_mismatch().is_none());
}

/// Arbitrary bytes, sometimes with a valid takt prefix planted so the
/// checks past the EtherType get exercised too.
fn frame_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(any::<u8>(), 0..2000),
        0u8..4,
        any::<bool>(),
    )
        .prop_map(|(mut b, plant, tagged)| {
            let prefix: &[u8] = if tagged {
                &[0x81, 0x00, 0x00, 0x64, 0x88, 0xB5, b'T', b'K', 2]
            } else {
                &[0x88, 0xB5, b'T', b'K', 2]
            };
            // plant 0: nothing; 1: EtherType only; 2: + magic; 3: + version.
            let keep = match plant {
                0 => 0,
                1 => prefix.len() - 3,
                2 => prefix.len() - 1,
                _ => prefix.len(),
            };
            for (i, &p) in prefix[..keep].iter().enumerate() {
                if let Some(x) = b.get_mut(12 + i) {
                    *x = p;
                }
            }
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in frame_like_bytes()) {
        let is_takt = wire::is_takt_frame(&bytes);
        match StreamFrame::new_checked(&bytes[..]) {
            Ok(f) => {
                prop_assert!(is_takt, "decodable but not recognised");
                read_everything(&f);
                let f = f.with_stripped_vlan(Some(Vlan::default()));
                prop_assert!(f.vlan().is_some());
            }
            Err(WireError::NotTakt { .. }) => prop_assert!(!is_takt),
            Err(_) => {}
        }
        prop_assert_eq!(wire::decode(&bytes).is_ok(), StreamFrame::new_checked(&bytes[..]).is_ok());

        // The patchers either refuse or leave a frame that still decodes,
        // now with a good padding pattern.
        let mut copy = bytes.clone();
        match wire::set_sequence(&mut copy, 7) {
            Ok(()) => {
                let f = StreamFrame::new_checked(&copy[..]).unwrap();
                prop_assert_eq!(f.sequence(), 7);
                prop_assert!(f.padding_ok());
            }
            Err(_) => prop_assert_eq!(&copy, &bytes),
        }
        let _ = wire::set_launch_ns(&mut copy, 1);
        let _ = wire::set_tx_ns(&mut copy, 2);
    }

    #[test]
    fn encode_then_decode_gives_back_every_field(
        f in fields(),
        len in MIN_BUFFER_LEN..=MAX_BUFFER_LEN,
        spare in 0usize..64,
    ) {
        let mut buf = vec![0x5Au8; len + spare];
        prop_assert_eq!(wire::encode(&mut buf, &f, len), Ok(len));
        prop_assert!(buf[len..].iter().all(|&b| b == 0x5A));
        let frame = StreamFrame::new_checked(&buf[..len]).unwrap();
        prop_assert_eq!(frame.fields(), f);
        prop_assert!(frame.padding_ok());
        prop_assert_eq!(frame.header_len() + frame.payload_len(), len);
        prop_assert!(wire::is_takt_frame(&buf[..len]));
    }

    #[test]
    fn patching_a_template_equals_encoding_afresh(
        f in fields(),
        len in MIN_BUFFER_LEN..=MAX_BUFFER_LEN,
        seq in any::<u64>(),
        launch in any::<u64>(),
        tx in any::<u64>(),
    ) {
        let mut template = vec![0u8; len];
        wire::encode(&mut template, &f, len).unwrap();
        wire::set_sequence(&mut template, seq).unwrap();
        wire::set_launch_ns(&mut template, launch).unwrap();
        wire::set_tx_ns(&mut template, tx).unwrap();
        let want = StreamFrameFields { sequence: seq, launch_ns: launch, tx_ns: tx, ..f };
        let mut fresh = vec![0u8; len];
        wire::encode(&mut fresh, &want, len).unwrap();
        prop_assert_eq!(template, fresh);
    }

    #[test]
    fn any_padding_byte_flip_is_detected(
        f in fields(),
        len in MIN_BUFFER_LEN..=MAX_BUFFER_LEN,
        at in any::<proptest::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let mut buf = vec![0u8; len];
        wire::encode(&mut buf, &f, len).unwrap();
        let header = StreamFrame::new_checked(&buf[..]).unwrap().header_len();
        let pos = header + at.index(len - header);
        buf[pos] ^= mask;
        let frame = StreamFrame::new_checked(&buf[..]).unwrap();
        prop_assert!(!frame.padding_ok());
        prop_assert_eq!(frame.padding_mismatch(), Some(pos));
    }

    /// Any VLAN, any length, any buffer: `encode` answers, never panics,
    /// and succeeds exactly when all three are valid.
    #[test]
    fn encode_never_panics(
        f in fields(),
        pcp in any::<u8>(),
        vid in any::<u16>(),
        len in 0usize..3000,
        have in 0usize..2000,
    ) {
        let f = StreamFrameFields { vlan: f.vlan.map(|v| Vlan { pcp, vid, ..v }), ..f };
        let mut buf = vec![0u8; have];
        let r = wire::encode(&mut buf, &f, len);
        let vlan_ok = f.vlan.is_none_or(|v| v.pcp <= 7 && v.vid <= MAX_VID);
        let ok = vlan_ok && (MIN_BUFFER_LEN..=MAX_BUFFER_LEN).contains(&len) && len <= have;
        prop_assert_eq!(r.is_ok(), ok, "{:?}", r);
        if r.is_err() {
            prop_assert!(buf.iter().all(|&b| b == 0));
        }
    }
}
