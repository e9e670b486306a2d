//! takt stream frames on the wire: Ethernet, an optional 802.1Q tag, and the
//! 32-byte takt stream header, encoded into and decoded from plain byte
//! slices. No allocation, no I/O, and no panic on any input.
//!
//! ```text
//!  0  dst MAC (6)
//!  6  src MAC (6)
//! 12  TPID 0x8100 (2)      -- absent on an untagged frame
//! 14  TCI (2): PCP(3) DEI(1) VID(12)
//!     R-TAG (6): 0xF1C1, reserved, sequence u16 -- only on a replicated
//!     stream (802.1CB, docs/redundancy.md), after the 802.1Q tag
//! 16  EtherType 0x88B5 (2)   -- offsets below +6 with an R-TAG
//! 18  stream header (40): "TK", version 2, flags, stream_id u16,
//!     length u16, sequence u64, launch_ns u64, tx_ns u64, epoch u64
//! 58  padding to the end of the frame:
//!     padding byte i = (i as u8) ^ (sequence as u8)
//! ```
//!
//! `length` is the frame's length without an 802.1Q tag, R-TAG and FCS,
//! so a receiver sees truncation (a cut frame keeps a valid-looking
//! padding prefix) whether or not the tag was stripped on the way. `epoch`
//! is the talker instance: a restarted talker starts its sequence again
//! under a new epoch.
//!
//! All multi-byte fields are big-endian. The buffer holds the frame without
//! its FCS (the NIC appends it): a buffer of `n` bytes is an `n + 4` byte
//! frame. docs/frame-format.md has the rationale and an example frame.
//!
//! Sending: [`encode`] writes a whole frame (typically once per stream, as a
//! template); per frame the talker then patches it with [`set_sequence`],
//! [`set_launch_ns`] and [`set_tx_ns`] (or the same methods on a
//! [`StreamFrame`] over `&mut [u8]`). Receiving: [`is_takt_frame`]
//! demultiplexes, [`StreamFrame::new_checked`] validates once, and the
//! accessors then read fields without further checks, smoltcp-style.

/// IEEE 802 "Local Experimental Ethertype 1" (IEEE Std 802, 9.2.2): takt
/// stream frames.
pub const ETHERTYPE_TAKT: u16 = 0x88B5;
/// Tag protocol identifier of an IEEE 802.1Q C-tag.
pub const TPID_8021Q: u16 = 0x8100;
/// EtherType of the IEEE 802.1CB redundancy tag (R-TAG): a replicated
/// frame carries one after its 802.1Q tag (`frer::rtag`).
pub const ETHERTYPE_RTAG: u16 = 0xF1C1;
/// R-TAG: EtherType (2), reserved (2), sequence number (2).
pub const RTAG_LEN: usize = 6;
/// Destination MAC, source MAC and EtherType.
pub const ETH_HEADER_LEN: usize = 14;
/// TPID + TCI.
pub const VLAN_TAG_LEN: usize = 4;
/// The takt stream header after the EtherType.
pub const STREAM_HEADER_LEN: usize = 40;
/// Ethernet + 802.1Q tag + stream header: where the padding starts on a
/// tagged frame.
pub const HEADER_LEN: usize = ETH_HEADER_LEN + VLAN_TAG_LEN + STREAM_HEADER_LEN;
/// Ethernet + stream header: where the padding starts on an untagged frame.
pub const HEADER_LEN_UNTAGGED: usize = ETH_HEADER_LEN + STREAM_HEADER_LEN;
/// Frame check sequence: appended by the NIC, never in the buffer.
pub const FCS_LEN: usize = 4;
/// Smallest buffer [`encode`] writes: a 64-byte Ethernet frame minus FCS.
/// Shorter frames would be padded by the NIC with bytes that break the
/// padding pattern.
pub const MIN_BUFFER_LEN: usize = 64 - FCS_LEN;
/// Largest buffer [`encode`] writes: a 1522-byte tagged frame (no jumbo
/// frames) minus FCS. The same bound applies to untagged frames.
pub const MAX_BUFFER_LEN: usize = 1522 - FCS_LEN;
/// First two bytes of every stream header: "TK".
pub const MAGIC: [u8; 2] = *b"TK";
/// The stream header version this code writes and reads. Version 1 (a
/// 32-byte header without length and epoch) is refused as `BadVersion`.
pub const VERSION: u8 = 2;
/// Flags bit 0: `tx_ns` is a hardware transmit timestamp (else software).
pub const FLAG_TX_HW_TIMESTAMP: u8 = 0x01;
/// Flags bit 1: a mirror sent this frame back (`takt-listener --mirror`):
/// sequence, launch_ns, tx_ns and epoch are the forward frame's, so
/// tx_ns is on the talker's clock, not the sender's (docs/round-trip.md).
pub const FLAG_MIRRORED: u8 = 0x02;
/// Largest VLAN id [`encode`] accepts (4095 is reserved by 802.1Q).
pub const MAX_VID: u16 = 4094;
/// Largest priority code point.
pub const MAX_PCP: u8 = 7;

/// Byte offsets inside the stream header.
mod field {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 2;
    pub const FLAGS: usize = 3;
    pub const STREAM_ID: usize = 4;
    pub const LENGTH: usize = 6;
    pub const SEQUENCE: usize = 8;
    pub const LAUNCH_NS: usize = 16;
    pub const TX_NS: usize = 24;
    pub const EPOCH: usize = 32;
}

/// Why a buffer is not a takt stream frame, or why a frame cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Decoding: the buffer ends before the headers do, or before the
    /// length the header declares.
    #[error("truncated frame: {have} bytes, but this takt stream frame needs {need} (is the capture snap length or the receive buffer too short?)")]
    Truncated { need: usize, have: usize },
    /// Decoding: the header declares a length shorter than the headers.
    #[error("stream header declares a frame of {declared} bytes, shorter than its own headers: a damaged or forged frame")]
    BadDeclaredLength { declared: u16 },
    /// Decoding: the EtherType (after the 802.1Q tag, if any) is not 0x88B5.
    #[error("not a takt stream frame: EtherType {ethertype:#06x}, takt stream frames use 0x88b5")]
    NotTakt { ethertype: u16 },
    /// Decoding: EtherType 0x88B5 but the header does not start with "TK":
    /// another user of the experimental EtherType.
    #[error("bad magic {found:02x?}: a takt stream header starts with \"TK\" [54, 4b]; this is another protocol on the experimental EtherType 0x88b5")]
    BadMagic { found: [u8; 2] },
    /// Decoding: a stream header version this code does not read.
    #[error("stream header version {0} is not supported: this build reads version 2; run the same takt version on talker and listener")]
    BadVersion(u8),
    /// Encoding: the requested frame length is outside 60..=1518.
    #[error("frame length {len} bytes (without FCS) is out of range: use 60..=1518, i.e. a frame_size of 64..=1522 bytes with FCS")]
    BadLength { len: usize },
    /// Encoding: the buffer is shorter than the requested frame length.
    #[error("buffer of {have} bytes cannot hold a {need}-byte frame: pass a larger buffer or a smaller frame length")]
    BufferTooSmall { need: usize, have: usize },
    /// Encoding: a VLAN tag field does not fit, or VID 4095 (reserved).
    #[error("VLAN tag out of range: PCP {pcp} (use 0..=7), VID {vid} (use 0..=4094)")]
    BadVlan { pcp: u8, vid: u16 },
}

/// The fields of an 802.1Q tag control information (TCI) word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Vlan {
    /// Priority code point, 0..=7.
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN id, 0..=4094 when encoding (0 = priority tag only).
    pub vid: u16,
}

impl Vlan {
    /// Split a TCI word. Every u16 is a TCI, so this cannot fail (a received
    /// VID 4095 is reported as is).
    pub const fn from_tci(tci: u16) -> Self {
        Vlan {
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0FFF,
        }
    }

    /// The TCI word, or `BadVlan` if PCP > 7 or VID > 4094.
    pub const fn tci(&self) -> Result<u16, WireError> {
        if self.pcp > MAX_PCP || self.vid > MAX_VID {
            return Err(WireError::BadVlan {
                pcp: self.pcp,
                vid: self.vid,
            });
        }
        Ok(((self.pcp as u16) << 13) | ((self.dei as u16) << 12) | self.vid)
    }
}

/// Everything [`encode`] writes and [`StreamFrame::fields`] reads back,
/// except the padding, which follows from `sequence` and the frame length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StreamFrameFields {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// `None`: an untagged frame.
    pub vlan: Option<Vlan>,
    pub stream_id: u16,
    /// Per stream, from 0, +1 per frame.
    pub sequence: u64,
    /// Scheduled launch time, ns on the schedule clock.
    pub launch_ns: u64,
    /// Actual transmit time, ns on the schedule clock.
    pub tx_ns: u64,
    /// `tx_ns` is a hardware timestamp (flags bit 0).
    pub tx_hw_timestamp: bool,
    /// Talker instance: fresh at every talker start ([`fresh_epoch`]).
    pub epoch: u64,
}

/// A talker instance id for this start: the realtime clock and the process
/// id through a 64-bit mixer, plus a per-process counter so that two
/// talkers in one process differ too. Never 0. Not secret: it tells
/// restarts apart, it does not authenticate.
pub fn fresh_epoch() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STARTS: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let n = STARTS.fetch_add(1, Ordering::Relaxed);
    let mut z = now ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64's finaliser: nearby inputs give unrelated outputs.
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    z.max(1)
}

/// Byte `i` of the padding of a frame with this sequence number.
#[inline]
pub const fn padding_byte(i: usize, sequence: u64) -> u8 {
    (i as u8) ^ (sequence as u8)
}

/// 0, 1, ..., 255: one period of the padding pattern before the XOR with
/// the sequence byte. Zipping with this table (instead of counting with an
/// index) keeps the loops below in byte lanes, so they vectorize to one
/// load, XOR and store per 16 or 32 bytes.
const RAMP: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    t
};

/// Write the padding pattern for `sequence` over all of `pad`.
#[inline]
fn fill_padding(pad: &mut [u8], sequence: u64) {
    let s = sequence as u8;
    for chunk in pad.chunks_mut(RAMP.len()) {
        for (b, &r) in chunk.iter_mut().zip(RAMP.iter()) {
            *b = r ^ s;
        }
    }
}

/// True if all of `pad` follows the pattern for `sequence`. Branch-free
/// inside each 256-byte period.
#[inline]
fn padding_matches(pad: &[u8], sequence: u64) -> bool {
    let s = sequence as u8;
    let mut diff = 0u8;
    for chunk in pad.chunks(RAMP.len()) {
        diff |= chunk
            .iter()
            .zip(RAMP.iter())
            .fold(0u8, |acc, (&b, &r)| acc | (b ^ r ^ s));
    }
    diff == 0
}

#[inline]
fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn read_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

#[inline]
fn write_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
fn write_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}

/// Write a whole stream frame of `frame_len` bytes (the frame size minus
/// the 4-byte FCS) at the start of `buf`: headers, then the padding
/// pattern. Returns `frame_len`. On error nothing is written.
///
/// Errors: `BadVlan` (PCP > 7 or VID > 4094), `BadLength` (`frame_len`
/// outside 60..=1518), `BufferTooSmall` (`buf` shorter than `frame_len`).
pub fn encode(
    buf: &mut [u8],
    fields: &StreamFrameFields,
    frame_len: usize,
) -> Result<usize, WireError> {
    let tci = match fields.vlan {
        Some(v) => Some(v.tci()?),
        None => None,
    };
    if !(MIN_BUFFER_LEN..=MAX_BUFFER_LEN).contains(&frame_len) {
        return Err(WireError::BadLength { len: frame_len });
    }
    let have = buf.len();
    let Some(frame) = buf.get_mut(..frame_len) else {
        return Err(WireError::BufferTooSmall {
            need: frame_len,
            have,
        });
    };
    // frame_len >= 60 > HEADER_LEN: every index below is in range.
    frame[0..6].copy_from_slice(&fields.dst);
    frame[6..12].copy_from_slice(&fields.src);
    let off = match tci {
        Some(tci) => {
            write_u16(frame, 12, TPID_8021Q);
            write_u16(frame, 14, tci);
            write_u16(frame, 16, ETHERTYPE_TAKT);
            ETH_HEADER_LEN + VLAN_TAG_LEN
        }
        None => {
            write_u16(frame, 12, ETHERTYPE_TAKT);
            ETH_HEADER_LEN
        }
    };
    let (h, pad) = frame[off..].split_at_mut(STREAM_HEADER_LEN);
    h[field::MAGIC..field::MAGIC + 2].copy_from_slice(&MAGIC);
    h[field::VERSION] = VERSION;
    h[field::FLAGS] = if fields.tx_hw_timestamp {
        FLAG_TX_HW_TIMESTAMP
    } else {
        0
    };
    write_u16(h, field::STREAM_ID, fields.stream_id);
    // frame_len <= 1518: fits; the tag is not counted (see module doc).
    write_u16(h, field::LENGTH, (frame_len + ETH_HEADER_LEN - off) as u16);
    write_u64(h, field::SEQUENCE, fields.sequence);
    write_u64(h, field::LAUNCH_NS, fields.launch_ns);
    write_u64(h, field::TX_NS, fields.tx_ns);
    write_u64(h, field::EPOCH, fields.epoch);
    fill_padding(pad, fields.sequence);
    Ok(frame_len)
}

/// Decode every header field of a stream frame (tagged or untagged).
/// Shorthand for `StreamFrame::new_checked(buf)?.fields()`; the padding is
/// not checked (see [`StreamFrame::padding_ok`]).
pub fn decode(buf: &[u8]) -> Result<StreamFrameFields, WireError> {
    Ok(StreamFrame::new_checked(buf)?.fields())
}

/// Offset of the EtherType that matters (after the 802.1Q tag and the
/// 802.1CB R-TAG, each if present), if the buffer is long enough to have one.
#[inline]
fn ethertype_at(buf: &[u8]) -> Result<usize, WireError> {
    let have = buf.len();
    if have < ETH_HEADER_LEN {
        return Err(WireError::Truncated {
            need: HEADER_LEN_UNTAGGED,
            have,
        });
    }
    let mut at = 12;
    if read_u16(buf, at) == TPID_8021Q {
        if have < ETH_HEADER_LEN + VLAN_TAG_LEN {
            return Err(WireError::Truncated {
                need: HEADER_LEN,
                have,
            });
        }
        at += VLAN_TAG_LEN;
    }
    if read_u16(buf, at) == ETHERTYPE_RTAG {
        // EtherType F1C1, reserved (2), sequence number (2), then the
        // EtherType of what it carries (802.1CB 7.8).
        if have < at + RTAG_LEN + 2 {
            return Err(WireError::Truncated {
                need: at + RTAG_LEN + 2 + STREAM_HEADER_LEN,
                have,
            });
        }
        at += RTAG_LEN;
    }
    Ok(at)
}

/// Validate a buffer as a stream frame; returns the offset of the stream
/// header (14 untagged, 18 tagged, 6 more with an R-TAG).
#[inline]
fn check(buf: &[u8]) -> Result<usize, WireError> {
    let et_at = ethertype_at(buf)?;
    let ethertype = read_u16(buf, et_at);
    if ethertype != ETHERTYPE_TAKT {
        return Err(WireError::NotTakt { ethertype });
    }
    let off = et_at + 2;
    let need = off + STREAM_HEADER_LEN;
    if buf.len() < need {
        return Err(WireError::Truncated {
            need,
            have: buf.len(),
        });
    }
    let found = [buf[off + field::MAGIC], buf[off + field::MAGIC + 1]];
    if found != MAGIC {
        return Err(WireError::BadMagic { found });
    }
    let version = buf[off + field::VERSION];
    if version != VERSION {
        return Err(WireError::BadVersion(version));
    }
    let declared = read_u16(buf, off + field::LENGTH);
    if usize::from(declared) < HEADER_LEN_UNTAGGED {
        return Err(WireError::BadDeclaredLength { declared });
    }
    // The declared length excludes the tag: add it back if it is here.
    let need = usize::from(declared) + off - ETH_HEADER_LEN;
    if buf.len() < need {
        return Err(WireError::Truncated {
            need,
            have: buf.len(),
        });
    }
    Ok(off)
}

/// Cheap demultiplexing test: EtherType 0x88B5 (tagged or untagged) and the
/// "TK" magic. A frame for which this is true but
/// [`StreamFrame::new_checked`] fails is a damaged or incompatible takt
/// frame (count it); one for which it is false belongs to someone else
/// (hand it to the control path).
#[inline]
pub fn is_takt_frame(buf: &[u8]) -> bool {
    let Ok(et_at) = ethertype_at(buf) else {
        return false;
    };
    buf.get(et_at..et_at + 4) == Some(&[0x88, 0xB5, MAGIC[0], MAGIC[1]][..])
}

/// Set the sequence number of an encoded frame and rewrite its padding to
/// the pattern of the new number (a single pass of stores over the
/// padding; see docs/frame-format.md for the cost). `buf` is exactly the
/// frame as [`encode`] wrote it (`&mut pool_buf[..frame_len]`): the
/// padding runs to its end.
#[inline]
pub fn set_sequence(buf: &mut [u8], sequence: u64) -> Result<(), WireError> {
    StreamFrame::new_checked(buf)?.set_sequence(sequence);
    Ok(())
}

/// Set the scheduled launch time of an encoded frame. O(1).
#[inline]
pub fn set_launch_ns(buf: &mut [u8], launch_ns: u64) -> Result<(), WireError> {
    StreamFrame::new_checked(buf)?.set_launch_ns(launch_ns);
    Ok(())
}

/// Set the transmit time of an encoded frame. O(1).
#[inline]
pub fn set_tx_ns(buf: &mut [u8], tx_ns: u64) -> Result<(), WireError> {
    StreamFrame::new_checked(buf)?.set_tx_ns(tx_ns);
    Ok(())
}

/// A validated view of a stream frame in a buffer: check once with
/// [`new_checked`](Self::new_checked), then read (and, over `&mut [u8]`,
/// patch) fields without further checks.
///
/// The buffer is the frame without FCS, tagged or untagged, at least as
/// long as the header declares; bytes after that (a receive path that
/// appends some) are not part of the frame. `T::as_ref` must return the
/// same slice every time, as for any smoltcp-style view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamFrame<T: AsRef<[u8]>> {
    buffer: T,
    /// Offset of the stream header: 14 untagged, 18 tagged, 6 more with
    /// an R-TAG.
    off: usize,
    /// Tag removed before the frame reached us (rx VLAN offload), if the
    /// caller knows it.
    stripped_vlan: Option<Vlan>,
}

impl<T: AsRef<[u8]>> StreamFrame<T> {
    /// Validate `buffer` as a stream frame: long enough for its headers,
    /// EtherType 0x88B5 (directly or after an 802.1Q tag), magic "TK",
    /// version 2, and at least the declared length (counted without the
    /// tag, so a frame whose tag was stripped on receive still passes).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let off = check(buffer.as_ref())?;
        Ok(StreamFrame {
            buffer,
            off,
            stripped_vlan: None,
        })
    }

    /// Record the tag of a frame that arrived untagged because the kernel
    /// or NIC stripped it (e.g. `tpacket_hdr_variant1::tp_vlan_tci`):
    /// [`vlan`](Self::vlan) then returns it. A tag still in the frame wins.
    pub fn with_stripped_vlan(mut self, vlan: Option<Vlan>) -> Self {
        self.stripped_vlan = vlan;
        self
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole frame, as given.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[self.off..self.off + STREAM_HEADER_LEN]
    }

    pub fn dst(&self) -> [u8; 6] {
        let b = self.buffer.as_ref();
        [b[0], b[1], b[2], b[3], b[4], b[5]]
    }

    pub fn src(&self) -> [u8; 6] {
        let b = self.buffer.as_ref();
        [b[6], b[7], b[8], b[9], b[10], b[11]]
    }

    /// The 802.1Q tag is in the buffer.
    pub fn is_tagged(&self) -> bool {
        read_u16(self.buffer.as_ref(), 12) == TPID_8021Q
    }

    /// The 802.1CB R-TAG's sequence number, when the frame carries one
    /// (a replicated stream, docs/redundancy.md).
    pub fn rtag_sequence(&self) -> Option<u16> {
        let b = self.buffer.as_ref();
        // new_checked found the R-TAG (if any) right before the EtherType
        // that precedes the stream header.
        let at = self.off.checked_sub(2 + RTAG_LEN)?;
        (at >= 12 && read_u16(b, at) == ETHERTYPE_RTAG).then(|| read_u16(b, at + 4))
    }

    /// The tag in the frame, else the one given to
    /// [`with_stripped_vlan`](Self::with_stripped_vlan), else `None`.
    pub fn vlan(&self) -> Option<Vlan> {
        if self.is_tagged() {
            Some(Vlan::from_tci(read_u16(self.buffer.as_ref(), 14)))
        } else {
            self.stripped_vlan
        }
    }

    /// Always [`VERSION`] once checked.
    pub fn version(&self) -> u8 {
        self.header()[field::VERSION]
    }

    /// Raw flags byte; bit 0 is [`FLAG_TX_HW_TIMESTAMP`], the rest are 0
    /// from this encoder and ignored here.
    pub fn flags(&self) -> u8 {
        self.header()[field::FLAGS]
    }

    pub fn tx_hw_timestamp(&self) -> bool {
        self.flags() & FLAG_TX_HW_TIMESTAMP != 0
    }

    /// A mirror sent this frame back ([`FLAG_MIRRORED`]).
    pub fn mirrored(&self) -> bool {
        self.flags() & FLAG_MIRRORED != 0
    }

    pub fn stream_id(&self) -> u16 {
        read_u16(self.header(), field::STREAM_ID)
    }

    /// The frame length the talker wrote, without tag and FCS.
    pub fn declared_len(&self) -> u16 {
        read_u16(self.header(), field::LENGTH)
    }

    /// The talker instance that sent this frame.
    pub fn epoch(&self) -> u64 {
        read_u64(self.header(), field::EPOCH)
    }

    pub fn sequence(&self) -> u64 {
        read_u64(self.header(), field::SEQUENCE)
    }

    pub fn launch_ns(&self) -> u64 {
        read_u64(self.header(), field::LAUNCH_NS)
    }

    pub fn tx_ns(&self) -> u64 {
        read_u64(self.header(), field::TX_NS)
    }

    /// Bytes before the padding: 50 tagged, 46 untagged.
    pub fn header_len(&self) -> usize {
        self.off + STREAM_HEADER_LEN
    }

    /// Bytes of the frame in the buffer (without FCS): the declared
    /// length, plus the tag when it is in the buffer.
    pub fn frame_len(&self) -> usize {
        // new_checked made sure the buffer holds this much.
        usize::from(self.declared_len()) + self.off - ETH_HEADER_LEN
    }

    /// The padding after the stream header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.frame_len()]
    }

    pub fn payload_len(&self) -> usize {
        self.frame_len() - self.header_len()
    }

    /// Every padding byte `i` is `(i as u8) ^ (sequence as u8)`. One
    /// branch-free (vectorized) pass over the padding.
    pub fn padding_ok(&self) -> bool {
        padding_matches(self.payload(), self.sequence())
    }

    /// Offset in the frame of the first padding byte that breaks the
    /// pattern, for reports; `None` if the padding is intact.
    pub fn padding_mismatch(&self) -> Option<usize> {
        let s = self.sequence() as u8;
        self.payload()
            .iter()
            .enumerate()
            .position(|(i, &b)| b != (i as u8) ^ s)
            .map(|i| self.header_len() + i)
    }

    /// All header fields (the VLAN as [`vlan`](Self::vlan) reports it).
    pub fn fields(&self) -> StreamFrameFields {
        StreamFrameFields {
            dst: self.dst(),
            src: self.src(),
            vlan: self.vlan(),
            stream_id: self.stream_id(),
            sequence: self.sequence(),
            launch_ns: self.launch_ns(),
            tx_ns: self.tx_ns(),
            tx_hw_timestamp: self.tx_hw_timestamp(),
            epoch: self.epoch(),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> StreamFrame<T> {
    fn header_mut(&mut self) -> &mut [u8] {
        let off = self.off;
        &mut self.buffer.as_mut()[off..off + STREAM_HEADER_LEN]
    }

    /// Set the sequence number and rewrite the padding for it (one pass of
    /// stores over the padding, the only per-frame work proportional to the
    /// frame size).
    pub fn set_sequence(&mut self, sequence: u64) {
        write_u64(self.header_mut(), field::SEQUENCE, sequence);
        let (start, end) = (self.header_len(), self.frame_len());
        fill_padding(&mut self.buffer.as_mut()[start..end], sequence);
    }

    pub fn set_epoch(&mut self, epoch: u64) {
        write_u64(self.header_mut(), field::EPOCH, epoch);
    }

    pub fn set_launch_ns(&mut self, launch_ns: u64) {
        write_u64(self.header_mut(), field::LAUNCH_NS, launch_ns);
    }

    pub fn set_tx_ns(&mut self, tx_ns: u64) {
        write_u64(self.header_mut(), field::TX_NS, tx_ns);
    }

    pub fn set_tx_hw_timestamp(&mut self, hw: bool) {
        let f = &mut self.header_mut()[field::FLAGS];
        *f = (*f & !FLAG_TX_HW_TIMESTAMP) | if hw { FLAG_TX_HW_TIMESTAMP } else { 0 };
    }

    /// Mark the frame as sent back by a mirror ([`FLAG_MIRRORED`]).
    pub fn set_mirrored(&mut self, mirrored: bool) {
        let f = &mut self.header_mut()[field::FLAGS];
        *f = (*f & !FLAG_MIRRORED) | if mirrored { FLAG_MIRRORED } else { 0 };
    }
}
