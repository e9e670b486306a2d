//! PTP over Ethernet (IEEE 1588 Annex F): finding the PTP message in a
//! received frame and checking every field the port relies on before
//! statime sees it, and wrapping outgoing messages in a frame.
//! Allocation-free; never panics on any input.

use super::profile::{msg_type, OutgoingFixes};

pub const ETHERTYPE_PTP: u16 = 0x88F7;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
const ETH_HEADER: usize = 14;
/// PTP common header (IEEE 1588 13.3).
pub const PTP_HEADER: usize = 34;
/// Shortest Ethernet frame without FCS: shorter frames are padded.
pub const MIN_FRAME: usize = 60;
/// Largest frame the port sends: Ethernet header, the largest message
/// statime serialises, and what the profile fixes add.
pub const MAX_PTP_FRAME: usize =
    ETH_HEADER + statime::port::MAX_DATA_LEN + OutgoingFixes::MAX_GROWTH;

/// Why a received frame was refused (each is counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Rejected {
    #[error("not a PTP frame: the EtherType (untagged or in one 802.1Q tag) is not 0x88F7")]
    NotPtp,
    #[error("frame ends before the PTP header or before its messageLength")]
    Truncated,
    #[error("PTP versionPTP is not 2")]
    Version,
    #[error("reserved PTP messageType")]
    UnknownType,
    #[error("messageLength too short for the messageType")]
    BadLength,
    #[error("malformed TLV list (odd length, overrunning, or trailing bytes)")]
    BadTlv,
    #[error("timestamp with nanoseconds of 10^9 or more")]
    BadTimestamp,
    #[error("correctionField beyond +-1 s, or larger than the timestamp it corrects")]
    BadCorrection,
    #[error("transportSpecific/sdoId of another profile")]
    WrongSdo,
    #[error("another PTP domain")]
    WrongDomain,
    #[error("destination MAC is neither the profile's multicast group nor this port")]
    WrongDestination,
    #[error("this port's own frame (source MAC or clock identity)")]
    Looped,
    #[error("management and signaling messages are not handled")]
    Unsupported,
    #[error("Sync, Follow_Up or Delay_Resp from a port that is not this slave's master")]
    NotFromMaster,
    #[error("a request or answer meant for another port or state")]
    NotForUs,
}

impl Rejected {
    pub const ALL: [Rejected; 15] = [
        Rejected::NotPtp,
        Rejected::Truncated,
        Rejected::Version,
        Rejected::UnknownType,
        Rejected::BadLength,
        Rejected::BadTlv,
        Rejected::BadTimestamp,
        Rejected::BadCorrection,
        Rejected::WrongSdo,
        Rejected::WrongDomain,
        Rejected::WrongDestination,
        Rejected::Looped,
        Rejected::Unsupported,
        Rejected::NotFromMaster,
        Rejected::NotForUs,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// Index into per-reason counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Rejected::NotPtp => "not_ptp",
            Rejected::Truncated => "truncated",
            Rejected::Version => "version",
            Rejected::UnknownType => "unknown_type",
            Rejected::BadLength => "bad_length",
            Rejected::BadTlv => "bad_tlv",
            Rejected::BadTimestamp => "bad_timestamp",
            Rejected::BadCorrection => "bad_correction",
            Rejected::WrongSdo => "wrong_sdo",
            Rejected::WrongDomain => "wrong_domain",
            Rejected::WrongDestination => "wrong_destination",
            Rejected::Looped => "looped",
            Rejected::Unsupported => "unsupported",
            Rejected::NotFromMaster => "not_from_master",
            Rejected::NotForUs => "not_for_us",
        }
    }
}

/// A PTP port identity: clock identity and port number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortId {
    pub clock: [u8; 8],
    pub port: u16,
}

impl PortId {
    fn read(b: &[u8]) -> PortId {
        let mut clock = [0; 8];
        clock.copy_from_slice(&b[..8]);
        PortId {
            clock,
            port: u16::from_be_bytes([b[8], b[9]]),
        }
    }
}

/// The checked parts of a received PTP frame.
#[derive(Clone, Copy, Debug)]
pub struct PtpFrame<'a> {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// The 802.1Q TCI, when the frame had a tag.
    pub vlan_tci: Option<u16>,
    /// The message, exactly messageLength bytes (padding cut off).
    pub message: &'a [u8],
    pub message_type: u8,
    pub sdo_id: u16,
    pub domain: u8,
    pub source: PortId,
    pub sequence_id: u16,
    /// requestingPortIdentity of Delay_Resp, Pdelay_Resp and
    /// Pdelay_Resp_Follow_Up.
    pub requesting: Option<PortId>,
}

impl PtpFrame<'_> {
    /// Sync, Delay_Req, Pdelay_Req, Pdelay_Resp: timestamped on receipt.
    pub fn is_event(&self) -> bool {
        self.message_type < 4
    }
}

/// EtherType 0x88F7, untagged or inside one 802.1Q tag.
pub fn is_ptp_frame(frame: &[u8]) -> bool {
    ptp_offset(frame).is_some()
}

fn ptp_offset(frame: &[u8]) -> Option<usize> {
    let ethertype = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    match ethertype(12)? {
        ETHERTYPE_PTP => Some(ETH_HEADER),
        ETHERTYPE_VLAN if ethertype(16)? == ETHERTYPE_PTP => Some(ETH_HEADER + 4),
        _ => None,
    }
}

/// Body octets each message type has before its TLVs (IEEE 1588 13.5-13.12,
/// as statime reads them: Pdelay_Req with its 10 reserved octets).
fn body_len(message_type: u8) -> Option<usize> {
    Some(match message_type {
        msg_type::SYNC | msg_type::DELAY_REQ | msg_type::FOLLOW_UP => 10,
        msg_type::PDELAY_REQ
        | msg_type::PDELAY_RESP
        | msg_type::DELAY_RESP
        | msg_type::PDELAY_RESP_FOLLOW_UP => 20,
        msg_type::ANNOUNCE => 30,
        msg_type::SIGNALING => 10,
        msg_type::MANAGEMENT => 14,
        _ => return None,
    })
}

/// Largest correction a real path accumulates; anything beyond is forged
/// and would only push statime's time arithmetic out of range.
const MAX_CORRECTION_NS: i64 = 1_000_000_000;

/// Finds and checks the PTP message of a received frame: header, lengths,
/// the TLV list, timestamps and correction. Profile, domain and state
/// checks are the core's.
pub fn parse(frame: &[u8]) -> Result<PtpFrame<'_>, Rejected> {
    let at = ptp_offset(frame).ok_or(Rejected::NotPtp)?;
    let mut dst = [0; 6];
    let mut src = [0; 6];
    dst.copy_from_slice(&frame[0..6]);
    src.copy_from_slice(&frame[6..12]);
    let vlan_tci = (at > ETH_HEADER).then(|| u16::from_be_bytes([frame[14], frame[15]]));
    let rest = &frame[at..];
    if rest.len() < PTP_HEADER {
        return Err(Rejected::Truncated);
    }
    if rest[1] & 0x0F != 2 {
        return Err(Rejected::Version);
    }
    let message_type = rest[0] & 0x0F;
    let body = body_len(message_type).ok_or(Rejected::UnknownType)?;
    let length = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
    if length < PTP_HEADER + body {
        return Err(Rejected::BadLength);
    }
    let message = rest.get(..length).ok_or(Rejected::Truncated)?;
    check_tlvs(&message[PTP_HEADER + body..])?;
    let correction = i64::from_be_bytes(message[8..16].try_into().unwrap_or([0; 8])) >> 16;
    if correction.unsigned_abs() > MAX_CORRECTION_NS as u64 {
        return Err(Rejected::BadCorrection);
    }
    if has_timestamp(message_type) {
        let nanos = u32::from_be_bytes([message[40], message[41], message[42], message[43]]);
        if nanos >= 1_000_000_000 {
            return Err(Rejected::BadTimestamp);
        }
        // statime adds the correction to these timestamps (or takes it
        // away) in unsigned time: keep the result at or after the epoch.
        let corrected = matches!(
            message_type,
            msg_type::FOLLOW_UP | msg_type::DELAY_RESP | msg_type::PDELAY_RESP_FOLLOW_UP
        );
        let mut secs = [0u8; 8];
        secs[2..].copy_from_slice(&message[34..40]);
        let ts_ns = u128::from(u64::from_be_bytes(secs)) * 1_000_000_000 + u128::from(nanos);
        if corrected && ts_ns < u128::from(correction.unsigned_abs()) {
            return Err(Rejected::BadCorrection);
        }
    }
    let requesting = matches!(
        message_type,
        msg_type::DELAY_RESP | msg_type::PDELAY_RESP | msg_type::PDELAY_RESP_FOLLOW_UP
    )
    .then(|| PortId::read(&message[44..54]));
    Ok(PtpFrame {
        dst,
        src,
        vlan_tci,
        message,
        message_type,
        sdo_id: (u16::from(rest[0] >> 4) << 8) | u16::from(rest[5]),
        domain: rest[4],
        source: PortId::read(&message[20..30]),
        sequence_id: u16::from_be_bytes([message[30], message[31]]),
        requesting,
    })
}

fn has_timestamp(message_type: u8) -> bool {
    !matches!(message_type, msg_type::SIGNALING | msg_type::MANAGEMENT)
}

/// The TLVs after the body must fill it exactly, each with an even length
/// (what both ptp4l and statime require). statime also refuses a list that
/// ends in a TLV with no value (its loop needs more than 4 octets left), so
/// that is refused here too rather than silently dropped there.
fn check_tlvs(mut tlvs: &[u8]) -> Result<(), Rejected> {
    while !tlvs.is_empty() {
        if tlvs.len() <= 4 {
            return Err(Rejected::BadTlv);
        }
        let len = usize::from(u16::from_be_bytes([tlvs[2], tlvs[3]]));
        if len % 2 != 0 {
            return Err(Rejected::BadTlv);
        }
        tlvs = tlvs.get(4 + len..).ok_or(Rejected::BadTlv)?;
    }
    Ok(())
}

/// A whole Ethernet frame for the integrator to send.
#[derive(Clone)]
pub struct OutFrame {
    pub data: [u8; MAX_PTP_FRAME],
    pub len: usize,
    /// Set for event messages whose transmit time the core needs back
    /// (`PtpCore::on_tx_stamp`).
    pub stamp_tag: Option<u32>,
}

impl std::fmt::Debug for OutFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutFrame")
            .field("len", &self.len)
            .field("stamp_tag", &self.stamp_tag)
            .field("data", &self.bytes())
            .finish()
    }
}

impl OutFrame {
    /// The frame's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len.min(MAX_PTP_FRAME)]
    }

    /// The PTP message inside.
    pub fn message(&self) -> &[u8] {
        self.bytes().get(ETH_HEADER..).unwrap_or(&[])
    }

    /// Wraps `message` (as statime serialised it) for `dst`, applying the
    /// profile fixes; zero-pads to the Ethernet minimum (ptp4l accepts up
    /// to three octets after the message; a PTP message is at least 44).
    /// `None` when the message does not fit.
    pub fn build(
        dst: [u8; 6],
        src: [u8; 6],
        message: &[u8],
        fixes: &OutgoingFixes,
        stamp_tag: Option<u32>,
    ) -> Option<OutFrame> {
        let mut out = OutFrame {
            data: [0; MAX_PTP_FRAME],
            len: 0,
            stamp_tag,
        };
        let end = ETH_HEADER.checked_add(message.len())?;
        if end + OutgoingFixes::MAX_GROWTH > MAX_PTP_FRAME {
            return None;
        }
        out.data[0..6].copy_from_slice(&dst);
        out.data[6..12].copy_from_slice(&src);
        out.data[12..14].copy_from_slice(&ETHERTYPE_PTP.to_be_bytes());
        out.data[ETH_HEADER..end].copy_from_slice(message);
        let len = fixes.apply(&mut out.data[ETH_HEADER..], message.len());
        out.len = (ETH_HEADER + len).max(MIN_FRAME);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync_frame(tagged: bool) -> Vec<u8> {
        let mut f = vec![0x01, 0x80, 0xC2, 0, 0, 0x0E, 2, 0, 0, 0, 0, 1];
        if tagged {
            f.extend_from_slice(&[0x81, 0x00, 0x20, 0x05]);
        }
        f.extend_from_slice(&[0x88, 0xF7]);
        let mut m = [0u8; 44];
        m[0] = 0x10;
        m[1] = 0x02;
        m[2..4].copy_from_slice(&44u16.to_be_bytes());
        m[20..28].copy_from_slice(&[2, 0, 0, 0xFF, 0xFE, 0, 0, 1]);
        m[28..30].copy_from_slice(&1u16.to_be_bytes());
        m[30..32].copy_from_slice(&7u16.to_be_bytes());
        f.extend_from_slice(&m);
        f.extend_from_slice(&[0, 0]); // padding to 60
        f
    }

    #[test]
    fn tagged_and_untagged_frames_give_the_same_message() {
        for tagged in [false, true] {
            let f = sync_frame(tagged);
            assert!(is_ptp_frame(&f));
            let p = parse(&f).unwrap();
            assert_eq!(p.message.len(), 44, "padding cut off");
            assert_eq!((p.message_type, p.sdo_id, p.sequence_id), (0, 0x100, 7));
            assert_eq!(p.source.port, 1);
            assert_eq!(p.vlan_tci, tagged.then_some(0x2005));
        }
    }

    #[test]
    fn each_broken_field_has_its_reason() {
        let base = sync_frame(false);
        let with = |at: usize, v: u8| {
            let mut f = base.clone();
            f[at] = v;
            parse(&f).err()
        };
        assert_eq!(with(12, 0x08), Some(Rejected::NotPtp));
        assert_eq!(with(15, 0x03), Some(Rejected::Version));
        assert_eq!(with(14, 0x05), Some(Rejected::UnknownType));
        assert_eq!(with(17, 40), Some(Rejected::BadLength));
        assert_eq!(with(17, 90), Some(Rejected::Truncated));
        assert_eq!(with(17, 46), Some(Rejected::BadTlv), "2 octets are no TLV");
        assert_eq!(with(54, 0xFF), Some(Rejected::BadTimestamp));
        assert_eq!(with(22, 0x7F), Some(Rejected::BadCorrection));
        assert_eq!(parse(&base[..40]).err(), Some(Rejected::Truncated));
    }
}
