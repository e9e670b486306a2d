//! The stream-frame codec: round trips, every error, the padding pattern,
//! the per-frame patchers, and the example frame in docs/frame-format.md.

use takt_stack::wire::{
    self, StreamFrame, StreamFrameFields, Vlan, WireError, ETHERTYPE_TAKT, FCS_LEN, HEADER_LEN,
    HEADER_LEN_UNTAGGED, MAX_BUFFER_LEN, MIN_BUFFER_LEN, TPID_8021Q,
};

/// Every field distinct and using all its bytes, so a swapped or
/// misplaced field shows.
fn fields(vlan: Option<Vlan>) -> StreamFrameFields {
    StreamFrameFields {
        dst: [0x01, 0x02, 0x03, 0x04, 0x05, 0x06],
        src: [0x11, 0x12, 0x13, 0x14, 0x15, 0x16],
        vlan,
        stream_id: 0xA1B2,
        sequence: 0x0102_0304_0506_0708,
        launch_ns: 0x1112_1314_1516_1718,
        tx_ns: 0x2122_2324_2526_2728,
        tx_hw_timestamp: true,
        epoch: 0x3132_3334_3536_3738,
    }
}

const TAG: Vlan = Vlan {
    pcp: 5,
    dei: true,
    vid: 0xABC,
};

fn encoded(f: &StreamFrameFields, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    assert_eq!(wire::encode(&mut buf, f, len), Ok(len));
    buf
}

fn check_round_trip(f: StreamFrameFields, len: usize) {
    let buf = encoded(&f, len);
    let frame = StreamFrame::new_checked(&buf[..]).unwrap();
    assert_eq!(frame.dst(), f.dst);
    assert_eq!(frame.src(), f.src);
    assert_eq!(frame.vlan(), f.vlan);
    assert_eq!(frame.is_tagged(), f.vlan.is_some());
    assert_eq!(frame.stream_id(), f.stream_id);
    assert_eq!(frame.sequence(), f.sequence);
    assert_eq!(frame.launch_ns(), f.launch_ns);
    assert_eq!(frame.tx_ns(), f.tx_ns);
    assert_eq!(frame.tx_hw_timestamp(), f.tx_hw_timestamp);
    assert_eq!(frame.flags(), u8::from(f.tx_hw_timestamp));
    assert_eq!(frame.version(), wire::VERSION);
    assert_eq!(frame.epoch(), f.epoch);
    let header = if f.vlan.is_some() {
        HEADER_LEN
    } else {
        HEADER_LEN_UNTAGGED
    };
    assert_eq!(frame.header_len(), header);
    assert_eq!(frame.frame_len(), len);
    let tag = if f.vlan.is_some() { 4 } else { 0 };
    assert_eq!(usize::from(frame.declared_len()), len - tag);
    assert_eq!(frame.payload_len(), len - header);
    assert_eq!(frame.payload().len(), len - header);
    assert!(frame.padding_ok());
    assert_eq!(frame.padding_mismatch(), None);
    assert_eq!(frame.fields(), f);
    assert_eq!(wire::decode(&buf), Ok(f));
    assert!(wire::is_takt_frame(&buf));
    assert_eq!(frame.into_inner().as_ptr(), buf.as_ptr());
}

#[test]
fn round_trip_tagged_min_to_max_length() {
    for len in [MIN_BUFFER_LEN, 61, 64, 255, 256, 257, 1000, MAX_BUFFER_LEN] {
        check_round_trip(fields(Some(TAG)), len);
        check_round_trip(
            StreamFrameFields {
                tx_hw_timestamp: false,
                ..fields(Some(Vlan::default()))
            },
            len,
        );
    }
}

#[test]
fn round_trip_untagged_min_to_max_length() {
    for len in [MIN_BUFFER_LEN, 61, 64, 255, 256, 257, 1000, MAX_BUFFER_LEN] {
        check_round_trip(fields(None), len);
        check_round_trip(StreamFrameFields::default(), len);
    }
}

#[test]
fn round_trip_extreme_field_values() {
    for v in [0u64, 1, 255, 256, u64::MAX - 1, u64::MAX] {
        let f = StreamFrameFields {
            dst: [0xff; 6],
            src: [0; 6],
            vlan: Some(Vlan {
                pcp: 7,
                dei: false,
                vid: wire::MAX_VID,
            }),
            stream_id: v as u16,
            sequence: v,
            launch_ns: v,
            tx_ns: !v,
            tx_hw_timestamp: false,
            epoch: v,
        };
        check_round_trip(f, MIN_BUFFER_LEN);
    }
}

#[test]
fn buffer_and_frame_lengths_follow_the_fcs_rule() {
    assert_eq!(MIN_BUFFER_LEN + FCS_LEN, 64);
    assert_eq!(MAX_BUFFER_LEN + FCS_LEN, 1522);
    assert_eq!(HEADER_LEN, 58);
    assert_eq!(HEADER_LEN_UNTAGGED, 54);
}

#[test]
fn encode_layout_matches_the_documented_offsets() {
    let buf = encoded(&fields(Some(TAG)), 64);
    assert_eq!(buf[0..6], [0x01, 0x02, 0x03, 0x04, 0x05, 0x06]);
    assert_eq!(buf[6..12], [0x11, 0x12, 0x13, 0x14, 0x15, 0x16]);
    assert_eq!(buf[12..14], TPID_8021Q.to_be_bytes());
    // PCP 5 (101), DEI 1, VID 0xabc: 1011 1010 1011 1100
    assert_eq!(buf[14..16], [0xBA, 0xBC]);
    assert_eq!(buf[16..18], ETHERTYPE_TAKT.to_be_bytes());
    assert_eq!(buf[18..20], *b"TK");
    assert_eq!(buf[20], 2);
    assert_eq!(buf[21], 0x01);
    assert_eq!(buf[22..24], [0xA1, 0xB2]);
    // Declared length: 64 bytes without the tag's 4.
    assert_eq!(buf[24..26], [0, 60]);
    assert_eq!(buf[26..34], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(
        buf[34..42],
        [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]
    );
    assert_eq!(
        buf[42..50],
        [0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28]
    );
    assert_eq!(
        buf[50..58],
        [0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38]
    );
    // padding byte i = i ^ (sequence as u8) = i ^ 0x08
    let expect: Vec<u8> = (0..6u8).map(|i| i ^ 0x08).collect();
    assert_eq!(buf[58..64], expect[..]);

    let untagged = encoded(&fields(None), 64);
    assert_eq!(untagged[12..14], [0x88, 0xB5]);
    assert_eq!(untagged[14..16], *b"TK");
    assert_eq!(untagged[20..22], [0, 64]);
    assert_eq!(untagged[54..58], [0x08, 0x09, 0x0A, 0x0B]);
}

#[test]
fn padding_pattern_wraps_every_256_bytes() {
    let buf = encoded(&fields(None), MAX_BUFFER_LEN);
    let pad = &buf[HEADER_LEN_UNTAGGED..];
    for (i, &b) in pad.iter().enumerate() {
        assert_eq!(b, wire::padding_byte(i, 0x0102_0304_0506_0708), "byte {i}");
        assert_eq!(b, (i % 256) as u8 ^ 0x08, "byte {i}");
    }
}

#[test]
fn encode_writes_only_frame_len_bytes() {
    let mut buf = vec![0xEEu8; 2048];
    assert_eq!(wire::encode(&mut buf, &fields(Some(TAG)), 100), Ok(100));
    assert!(buf[100..].iter().all(|&b| b == 0xEE));
    assert!(StreamFrame::new_checked(&buf[..100]).unwrap().padding_ok());
}

#[test]
fn vlan_tci_packs_and_unpacks() {
    assert_eq!(TAG.tci(), Ok(0xBABC));
    assert_eq!(Vlan::from_tci(0xBABC), TAG);
    for tci in [0u16, 0x0001, 0x0FFE, 0x0FFF, 0x1000, 0xE000, 0xFFFF] {
        let v = Vlan::from_tci(tci);
        assert!(v.pcp <= 7 && v.vid <= 0x0FFF);
        if v.vid <= wire::MAX_VID {
            assert_eq!(v.tci(), Ok(tci));
        }
    }
}

/// A kernel that strips the tag on receive (rx VLAN offload) hands over
/// bytes 0..12 and 16.. of the frame: 4 bytes shorter, still decodable,
/// the padding still checks, and the tag can be supplied from metadata.
#[test]
fn tag_stripped_on_receive_still_decodes() {
    for len in [MIN_BUFFER_LEN, MAX_BUFFER_LEN] {
        let tagged = encoded(&fields(Some(TAG)), len);
        let mut stripped = tagged[..12].to_vec();
        stripped.extend_from_slice(&tagged[16..]);
        assert_eq!(stripped.len(), len - 4);
        let frame = StreamFrame::new_checked(&stripped[..]).unwrap();
        assert!(!frame.is_tagged());
        assert_eq!(frame.vlan(), None);
        assert!(frame.padding_ok());
        assert_eq!(frame.payload_len(), len - HEADER_LEN);
        assert_eq!(frame.fields(), fields(None));
        let frame = frame.with_stripped_vlan(Some(TAG));
        assert_eq!(frame.vlan(), Some(TAG));
        assert_eq!(frame.fields(), fields(Some(TAG)));
    }
    // A tag still in the frame wins over one given from elsewhere.
    let tagged = encoded(&fields(Some(TAG)), 60);
    let frame = StreamFrame::new_checked(&tagged[..])
        .unwrap()
        .with_stripped_vlan(Some(Vlan::default()));
    assert_eq!(frame.vlan(), Some(TAG));
}

#[test]
fn error_truncated_before_the_ethertype() {
    for len in 0..12 + 2 {
        let buf = vec![0u8; len];
        assert_eq!(
            StreamFrame::new_checked(&buf[..]).unwrap_err(),
            WireError::Truncated {
                need: HEADER_LEN_UNTAGGED,
                have: len
            }
        );
    }
}

#[test]
fn error_truncated_inside_the_tag() {
    let buf = encoded(&fields(Some(TAG)), 60);
    for len in 14..18 {
        assert_eq!(
            StreamFrame::new_checked(&buf[..len]).unwrap_err(),
            WireError::Truncated {
                need: HEADER_LEN,
                have: len
            }
        );
    }
}

#[test]
fn error_truncated_inside_the_stream_header() {
    let tagged = encoded(&fields(Some(TAG)), 60);
    for len in 18..HEADER_LEN {
        assert_eq!(
            wire::decode(&tagged[..len]),
            Err(WireError::Truncated {
                need: HEADER_LEN,
                have: len
            })
        );
    }
    let untagged = encoded(&fields(None), 60);
    assert_eq!(
        wire::decode(&untagged[..45]),
        Err(WireError::Truncated {
            need: HEADER_LEN_UNTAGGED,
            have: 45
        })
    );
    let e = wire::decode(&untagged[..45]).unwrap_err().to_string();
    assert!(e.contains("45 bytes") && e.contains("54"), "{e}");
}

/// A frame cut after its header keeps a valid-looking padding prefix: the
/// declared length still tells it was cut, tagged or with the tag stripped.
#[test]
fn error_truncated_before_the_declared_length() {
    let tagged = encoded(&fields(Some(TAG)), 200);
    for len in HEADER_LEN..200 {
        assert_eq!(
            wire::decode(&tagged[..len]),
            Err(WireError::Truncated {
                need: 200,
                have: len
            })
        );
    }
    assert!(wire::decode(&tagged).is_ok());
    let mut stripped = tagged[..12].to_vec();
    stripped.extend_from_slice(&tagged[16..150]);
    assert_eq!(
        wire::decode(&stripped),
        Err(WireError::Truncated {
            need: 196,
            have: 146
        })
    );
    // Bytes after the declared end are not part of the frame.
    let mut longer = tagged.clone();
    longer.extend_from_slice(&[0xEE; 10]);
    let frame = StreamFrame::new_checked(&longer[..]).unwrap();
    assert_eq!(frame.frame_len(), 200);
    assert!(frame.padding_ok());
}

#[test]
fn error_declared_length_shorter_than_the_header() {
    let mut buf = encoded(&fields(None), 60);
    for declared in [0u16, 1, 53] {
        buf[20..22].copy_from_slice(&declared.to_be_bytes());
        assert_eq!(
            wire::decode(&buf),
            Err(WireError::BadDeclaredLength { declared })
        );
    }
}

#[test]
fn error_not_takt() {
    let mut untagged = encoded(&fields(None), 60);
    untagged[12..14].copy_from_slice(&[0x08, 0x00]);
    assert_eq!(
        wire::decode(&untagged),
        Err(WireError::NotTakt { ethertype: 0x0800 })
    );
    let mut tagged = encoded(&fields(Some(TAG)), 60);
    tagged[16..18].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(
        wire::decode(&tagged),
        Err(WireError::NotTakt { ethertype: 0x0806 })
    );
    // An 802.1ad S-tag is not read through.
    tagged[12..14].copy_from_slice(&[0x88, 0xA8]);
    assert_eq!(
        wire::decode(&tagged),
        Err(WireError::NotTakt { ethertype: 0x88A8 })
    );
    // A short frame of another protocol is "not takt", not "truncated".
    assert_eq!(
        wire::decode(&untagged[..20]),
        Err(WireError::NotTakt { ethertype: 0x0800 })
    );
    let e = WireError::NotTakt { ethertype: 0x0800 }.to_string();
    assert!(e.contains("0x0800") && e.contains("0x88b5"), "{e}");
}

#[test]
fn error_bad_magic() {
    let mut buf = encoded(&fields(Some(TAG)), 60);
    buf[19] = b'X';
    assert_eq!(
        wire::decode(&buf),
        Err(WireError::BadMagic { found: *b"TX" })
    );
    let e = wire::decode(&buf).unwrap_err().to_string();
    assert!(e.contains("[54, 58]") && e.contains("TK"), "{e}");
}

#[test]
fn error_bad_version() {
    for v in [0u8, 1, 3, 255] {
        let mut buf = encoded(&fields(None), 60);
        buf[16] = v;
        assert_eq!(wire::decode(&buf), Err(WireError::BadVersion(v)));
    }
    let e = WireError::BadVersion(1).to_string();
    assert!(e.contains("version 1") && e.contains("version 2"), "{e}");
}

#[test]
fn error_bad_length_on_encode() {
    let mut buf = vec![0u8; 4096];
    for len in [
        0,
        1,
        HEADER_LEN_UNTAGGED,
        HEADER_LEN,
        MIN_BUFFER_LEN - 1,
        MAX_BUFFER_LEN + 1,
        4096,
    ] {
        assert_eq!(
            wire::encode(&mut buf, &fields(Some(TAG)), len),
            Err(WireError::BadLength { len })
        );
    }
    assert!(buf.iter().all(|&b| b == 0), "nothing written on error");
    let e = WireError::BadLength { len: 59 }.to_string();
    assert!(e.contains("59") && e.contains("60..=1518"), "{e}");
}

#[test]
fn error_buffer_too_small_on_encode() {
    for (have, need) in [(0usize, 60usize), (59, 60), (60, 61), (1517, 1518)] {
        let mut buf = vec![0u8; have];
        assert_eq!(
            wire::encode(&mut buf, &fields(None), need),
            Err(WireError::BufferTooSmall { need, have })
        );
        assert!(buf.iter().all(|&b| b == 0), "nothing written on error");
    }
    let e = WireError::BufferTooSmall { need: 60, have: 59 }.to_string();
    assert!(e.contains("59 bytes") && e.contains("60-byte"), "{e}");
}

#[test]
fn error_bad_vlan_on_encode() {
    let mut buf = vec![0u8; 60];
    for (pcp, vid) in [(8u8, 1u16), (0, 4095), (255, 0xFFFF)] {
        let f = fields(Some(Vlan {
            pcp,
            dei: false,
            vid,
        }));
        assert_eq!(
            wire::encode(&mut buf, &f, 60),
            Err(WireError::BadVlan { pcp, vid })
        );
    }
    assert!(buf.iter().all(|&b| b == 0), "nothing written on error");
    let e = WireError::BadVlan { pcp: 8, vid: 1 }.to_string();
    assert!(e.contains("PCP 8") && e.contains("0..=7"), "{e}");
}

#[test]
fn padding_detects_every_single_byte_flip() {
    for (vlan, len) in [(Some(TAG), 60), (None, 60), (Some(TAG), MAX_BUFFER_LEN)] {
        let good = encoded(&fields(vlan), len);
        let header = StreamFrame::new_checked(&good[..]).unwrap().header_len();
        for pos in header..len {
            for mask in [0x01u8, 0x80, 0xFF] {
                let mut bad = good.clone();
                bad[pos] ^= mask;
                let frame = StreamFrame::new_checked(&bad[..]).unwrap();
                assert!(!frame.padding_ok(), "flip at {pos} mask {mask:#x}");
                assert_eq!(frame.padding_mismatch(), Some(pos));
            }
        }
    }
}

/// A header patched with a new sequence number over the padding of an
/// older frame (a stale or half-written buffer) is caught.
#[test]
fn padding_detects_a_stale_header() {
    let mut buf = encoded(&fields(Some(TAG)), 60);
    buf[33] ^= 0x01; // low byte of the sequence, padding not rewritten
    let frame = StreamFrame::new_checked(&buf[..]).unwrap();
    assert!(!frame.padding_ok());
    assert_eq!(frame.padding_mismatch(), Some(HEADER_LEN));
}

#[test]
fn patchers_give_the_same_bytes_as_a_fresh_encode() {
    for (vlan, len) in [(Some(TAG), 60), (None, 60), (Some(TAG), 1518), (None, 777)] {
        let mut template = encoded(&fields(vlan), len);
        for seq in [0u64, 1, 2, 255, 256, 0xDEAD_BEEF_0000_0001] {
            let want = StreamFrameFields {
                sequence: seq,
                launch_ns: seq.wrapping_mul(1_000),
                tx_ns: seq.wrapping_mul(1_000).wrapping_add(7),
                ..fields(vlan)
            };
            wire::set_sequence(&mut template, want.sequence).unwrap();
            wire::set_launch_ns(&mut template, want.launch_ns).unwrap();
            wire::set_tx_ns(&mut template, want.tx_ns).unwrap();
            assert_eq!(template, encoded(&want, len), "seq {seq}");
            assert!(StreamFrame::new_checked(&template[..])
                .unwrap()
                .padding_ok());
        }
    }
}

#[test]
fn view_patchers_give_the_same_bytes_as_a_fresh_encode() {
    let mut buf = encoded(&fields(Some(TAG)), 200);
    let mut frame = StreamFrame::new_checked(&mut buf[..]).unwrap();
    frame.set_sequence(9);
    frame.set_launch_ns(10);
    frame.set_tx_ns(11);
    frame.set_tx_hw_timestamp(false);
    assert!(frame.padding_ok());
    let want = StreamFrameFields {
        sequence: 9,
        launch_ns: 10,
        tx_ns: 11,
        tx_hw_timestamp: false,
        ..fields(Some(TAG))
    };
    assert_eq!(frame.fields(), want);
    assert_eq!(buf, encoded(&want, 200));
}

#[test]
fn patchers_reject_a_buffer_that_is_not_a_stream_frame() {
    let mut junk = vec![0u8; 60];
    assert_eq!(
        wire::set_sequence(&mut junk, 1),
        Err(WireError::NotTakt { ethertype: 0 })
    );
    assert!(wire::set_launch_ns(&mut junk, 1).is_err());
    assert!(wire::set_tx_ns(&mut junk[..3], 1).is_err());
    assert!(junk.iter().all(|&b| b == 0));
}

#[test]
fn is_takt_frame_demultiplexes() {
    assert!(wire::is_takt_frame(&encoded(&fields(Some(TAG)), 60)));
    assert!(wire::is_takt_frame(&encoded(&fields(None), 60)));
    assert!(!wire::is_takt_frame(&[]));
    assert!(!wire::is_takt_frame(&[0u8; 60]));
    let mut ip = encoded(&fields(None), 60);
    ip[12..14].copy_from_slice(&[0x08, 0x00]);
    assert!(!wire::is_takt_frame(&ip));
    // Another protocol on the shared experimental EtherType: not ours.
    let mut other = encoded(&fields(Some(TAG)), 60);
    other[18] = b'X';
    assert!(!wire::is_takt_frame(&other));
    // A takt frame of another version is ours (to be counted as bad).
    let mut v1 = encoded(&fields(Some(TAG)), 60);
    v1[20] = 1;
    assert!(wire::is_takt_frame(&v1));
    assert!(StreamFrame::new_checked(&v1[..]).is_err());
    // Cut short after the magic.
    assert!(wire::is_takt_frame(&encoded(&fields(None), 60)[..16]));
    assert!(!wire::is_takt_frame(&encoded(&fields(None), 60)[..15]));
}

/// `hexdump -C` layout.
fn hexdump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (row, chunk) in bytes.chunks(16).enumerate() {
        let mut hex = String::new();
        for (i, b) in chunk.iter().enumerate() {
            if i == 8 {
                hex.push(' ');
            }
            hex.push_str(&format!("{b:02x} "));
        }
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        out.push_str(&format!("{:08x}  {hex:<49} |{ascii}|\n", row * 16));
    }
    out.push_str(&format!("{:08x}\n", bytes.len()));
    out
}

/// The example frame of docs/frame-format.md. If this fails, paste the
/// printed dump into the doc.
#[test]
fn example_frame_in_docs_matches_the_encoder() {
    let f = StreamFrameFields {
        dst: [0x02, 0x00, 0x00, 0x00, 0x00, 0x02],
        src: [0x02, 0x00, 0x00, 0x00, 0x00, 0x01],
        vlan: Some(Vlan {
            pcp: 6,
            dei: false,
            vid: 100,
        }),
        stream_id: 1,
        sequence: 42,
        launch_ns: 1_000_000_010_000,
        tx_ns: 1_000_000_010_312,
        tx_hw_timestamp: false,
        epoch: 0x0123_4567_89ab_cdef,
    };
    let mut buf = [0u8; 64 - FCS_LEN];
    let len = buf.len();
    wire::encode(&mut buf, &f, len).unwrap();
    let dump = hexdump(&buf);
    println!("{dump}");
    let doc_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/frame-format.md");
    let doc = std::fs::read_to_string(doc_path).expect("docs/frame-format.md");
    assert!(
        doc.contains(&dump),
        "docs/frame-format.md lacks the example dump:\n{dump}"
    );
}
