//! What differs between the two profiles the embedded port speaks, and the
//! byte-level fixes that make the messages statime 0.4 serialises acceptable
//! to ptp4l (linuxptp 3.1). Each fix says which ptp4l check it satisfies.

/// Destination of 802.1AS frames and of every peer-delay message
/// (IEEE 802.1AS 11.3.4, IEEE 1588 Annex F).
pub const PEER_DELAY_DST: [u8; 6] = [0x01, 0x80, 0xC2, 0x00, 0x00, 0x0E];
/// Destination of the 1588 default profile's other messages over L2
/// (IEEE 1588 Annex F, ptp4l's `ptp_dst_mac`).
pub const PTP_PRIMARY_DST: [u8; 6] = [0x01, 0x1B, 0x19, 0x00, 0x00, 0x00];
/// Every multicast group a port receives on (a NIC must be told: it
/// filters destinations in hardware).
pub const PTP_DESTINATIONS: [[u8; 6]; 2] = [PEER_DELAY_DST, PTP_PRIMARY_DST];

/// The 802.1AS Follow_Up information TLV (11.4.4.3): organization
/// extension, length 28, OUI 00-80-C2, subtype 1, then
/// cumulativeScaledRateOffset, gmTimeBaseIndicator, lastGmPhaseChange and
/// scaledLastGmFreqChange, all zero: this port only sends Follow_Ups as the
/// grandmaster, which has no rate offset and no phase or frequency change.
pub const FOLLOW_UP_INFO_TLV: [u8; 32] = {
    let mut t = [0u8; 32];
    t[1] = 0x03; // ORGANIZATION_EXTENSION
    t[3] = 28;
    t[4] = 0x00;
    t[5] = 0x80;
    t[6] = 0xC2;
    t[9] = 0x01;
    t
};

/// PTP message types (the low nibble of the first header octet).
pub mod msg_type {
    pub const SYNC: u8 = 0x0;
    pub const DELAY_REQ: u8 = 0x1;
    pub const PDELAY_REQ: u8 = 0x2;
    pub const PDELAY_RESP: u8 = 0x3;
    pub const FOLLOW_UP: u8 = 0x8;
    pub const DELAY_RESP: u8 = 0x9;
    pub const PDELAY_RESP_FOLLOW_UP: u8 = 0xA;
    pub const ANNOUNCE: u8 = 0xB;
    pub const SIGNALING: u8 = 0xC;
    pub const MANAGEMENT: u8 = 0xD;

    /// ptp4l's names, indexed by message type ("" for reserved types).
    pub const NAMES: [&str; 16] = [
        "SYNC",
        "DELAY_REQ",
        "PDELAY_REQ",
        "PDELAY_RESP",
        "",
        "",
        "",
        "",
        "FOLLOW_UP",
        "DELAY_RESP",
        "PDELAY_RESP_FOLLOW_UP",
        "ANNOUNCE",
        "SIGNALING",
        "MANAGEMENT",
        "",
        "",
    ];
}

/// logMessageInterval for messages that have none (IEEE 1588 Table 42).
const NO_INTERVAL: u8 = 0x7F;

/// Which PTP profile the port runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// IEEE 802.1AS: L2, peer delay, transportSpecific 1, every message to
    /// 01:80:C2:00:00:0E, Follow_Ups with the follow-up information TLV.
    Gptp,
    /// IEEE 1588 default profile over L2 with end-to-end delay:
    /// transportSpecific 0, 01:1B:19:00:00:00 (peer-delay messages, should
    /// a peer send them, on 01:80:C2:00:00:0E).
    E2e1588,
}

impl Profile {
    /// The name in reports ("gptp", "1588").
    pub fn name(self) -> &'static str {
        match self {
            Profile::Gptp => "gptp",
            Profile::E2e1588 => "1588",
        }
    }

    /// sdoId (majorSdoId << 8 | minorSdoId); majorSdoId is the old
    /// transportSpecific nibble, which both statime and ptp4l match.
    pub fn sdo_id(self) -> u16 {
        match self {
            Profile::Gptp => 0x100,
            Profile::E2e1588 => 0x000,
        }
    }

    pub fn peer_delay(self) -> bool {
        matches!(self, Profile::Gptp)
    }

    /// Where a message goes: statime marks peer-delay messages link-local.
    pub fn destination(self, link_local: bool) -> [u8; 6] {
        match self {
            Profile::Gptp => PEER_DELAY_DST,
            Profile::E2e1588 if link_local => PEER_DELAY_DST,
            Profile::E2e1588 => PTP_PRIMARY_DST,
        }
    }

    /// Destinations a received frame may have: the profile's multicast
    /// groups, or this port's own MAC (a unicast peer).
    pub fn accepts_destination(self, dst: &[u8; 6], own_mac: &[u8; 6]) -> bool {
        dst == own_mac
            || *dst == PEER_DELAY_DST
            || (self == Profile::E2e1588 && *dst == PTP_PRIMARY_DST)
    }
}

/// How a master announces its timescale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timescale {
    /// ptpTimescale flag: the times sent are TAI (PTP epoch).
    pub ptp: bool,
    /// currentUtcOffset, s; only meaningful when `utc_offset_valid`.
    pub current_utc_offset: i16,
    pub utc_offset_valid: bool,
}

/// The timescale a master on the schedule clock (CLOCK_TAI) announces,
/// from the kernel's TAI-UTC offset (adjtimex `tai`, read by the caller).
///
/// ptp4l on CLOCK_REALTIME (or free running with software stamps) takes a
/// PTP-timescale master's time as TAI and subtracts currentUtcOffset
/// (clock.c clock_utc_correct); an ARB master's time it takes as is. When
/// the kernel knows the offset, CLOCK_TAI really is TAI: announce PTP with
/// that offset, so a ptp4l slave lands its CLOCK_REALTIME on UTC. When it
/// does not (offset 0, CLOCK_TAI == CLOCK_REALTIME), announcing PTP would
/// make ptp4l shift by its own default (37 s): announce ARB so it compares
/// raw clocks.
pub fn master_timescale(kernel_tai_offset_s: i32) -> Timescale {
    match i16::try_from(kernel_tai_offset_s) {
        Ok(offset) if offset > 0 => Timescale {
            ptp: true,
            current_utc_offset: offset,
            utc_offset_valid: true,
        },
        // Not valid, and not used for an ARB time; TAI-UTC as it has been
        // since 2017 only so a ptp4l slave does not warn that the master is
        // behind its own utc_offset ("running in a temporal vortex").
        _ => Timescale {
            ptp: false,
            current_utc_offset: TAI_UTC_SINCE_2017_S,
            utc_offset_valid: false,
        },
    }
}

/// TAI - UTC since 2017-01-01, s (ptp4l's default `utc_offset`).
pub const TAI_UTC_SINCE_2017_S: i16 = 37;

/// The byte-level fixes applied to every message statime serialises,
/// before it leaves.
#[derive(Clone, Copy, Debug)]
pub struct OutgoingFixes {
    pub profile: Profile,
    pub log_sync_interval: i8,
    pub log_announce_interval: i8,
    pub log_delay_interval: i8,
    pub timescale: Timescale,
}

impl OutgoingFixes {
    /// Room a fix may add after a message (the follow-up TLV).
    pub const MAX_GROWTH: usize = FOLLOW_UP_INFO_TLV.len();

    /// Fixes the message in `buf[..len]` (a whole PTP message; `buf` has
    /// at least `MAX_GROWTH` bytes more) and returns its new length.
    pub fn apply(&self, buf: &mut [u8], len: usize) -> usize {
        if len < 34 || buf.len() < len {
            return len;
        }
        let mut len = len;
        match buf[0] & 0x0F {
            // statime leaves logMessageInterval at 0. ptp4l takes a Sync's
            // as the master's sync interval (process_sync ->
            // clock_sync_interval, which tunes its servo) and an
            // Announce's as the window in which it stays current
            // (msg_current).
            msg_type::SYNC => buf[33] = self.log_sync_interval as u8,
            msg_type::FOLLOW_UP => {
                buf[33] = self.log_sync_interval as u8;
                // ptp4l with follow_up_info 1 drops a Follow_Up without the
                // TLV (port.c process_follow_up -> follow_up_info_extract).
                if self.profile == Profile::Gptp && buf.len() >= len + FOLLOW_UP_INFO_TLV.len() {
                    buf[len..len + FOLLOW_UP_INFO_TLV.len()].copy_from_slice(&FOLLOW_UP_INFO_TLV);
                    len += FOLLOW_UP_INFO_TLV.len();
                    buf[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                }
            }
            msg_type::ANNOUNCE => {
                buf[33] = self.log_announce_interval as u8;
                self.announce_timescale(buf);
                // statime never writes the reserved octet after
                // currentUtcOffset: it keeps whatever its buffer held.
                if len > 46 {
                    buf[46] = 0;
                }
            }
            // 802.1AS (and ptp4l in that mode) sends its pdelay interval;
            // 1588 says 0x7F.
            msg_type::PDELAY_REQ => {
                buf[33] = match self.profile {
                    Profile::Gptp => self.log_delay_interval as u8,
                    Profile::E2e1588 => NO_INTERVAL,
                }
            }
            msg_type::PDELAY_RESP | msg_type::PDELAY_RESP_FOLLOW_UP => buf[33] = NO_INTERVAL,
            _ => {}
        }
        len
    }

    /// statime's own master always announces the PTP timescale with no
    /// valid UTC offset (port/bmca.rs, M1/M2); put the chosen timescale in.
    fn announce_timescale(&self, buf: &mut [u8]) {
        const UTC_OFFSET_VALID: u8 = 1 << 2;
        const PTP_TIMESCALE: u8 = 1 << 3;
        let ts = self.timescale;
        buf[7] &= !(UTC_OFFSET_VALID | PTP_TIMESCALE);
        if ts.ptp {
            buf[7] |= PTP_TIMESCALE;
        }
        if ts.utc_offset_valid {
            buf[7] |= UTC_OFFSET_VALID;
        }
        if buf.len() >= 46 {
            buf[44..46].copy_from_slice(&ts.current_utc_offset.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_tai_offset_picks_the_timescale() {
        assert_eq!(
            master_timescale(37),
            Timescale {
                ptp: true,
                current_utc_offset: 37,
                utc_offset_valid: true
            }
        );
        for unknown in [0, -1, 1 << 20] {
            let ts = master_timescale(unknown);
            assert!(!ts.ptp && !ts.utc_offset_valid, "{unknown}: {ts:?}");
        }
    }

    fn fixes(profile: Profile, kernel_tai: i32) -> OutgoingFixes {
        OutgoingFixes {
            profile,
            log_sync_interval: -3,
            log_announce_interval: 0,
            log_delay_interval: 0,
            timescale: master_timescale(kernel_tai),
        }
    }

    #[test]
    fn a_gptp_follow_up_gets_the_information_tlv_and_its_length() {
        let mut buf = [0u8; 80];
        buf[0] = 0x18; // transportSpecific 1, Follow_Up
        buf[2..4].copy_from_slice(&44u16.to_be_bytes());
        let len = fixes(Profile::Gptp, 0).apply(&mut buf, 44);
        assert_eq!(len, 76);
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 76);
        assert_eq!(buf[33] as i8, -3);
        assert_eq!(&buf[44..54], &[0, 3, 0, 28, 0, 0x80, 0xC2, 0, 0, 1]);

        let mut buf = [0u8; 80];
        buf[0] = 0x08;
        assert_eq!(
            fixes(Profile::E2e1588, 0).apply(&mut buf, 44),
            44,
            "1588: no TLV"
        );
    }

    #[test]
    fn an_announce_carries_the_chosen_timescale() {
        let mut buf = [0xFFu8; 64];
        buf[0] = 0x1B;
        fixes(Profile::Gptp, 37).apply(&mut buf, 64);
        assert_eq!(buf[7] & 0x0C, 0x0C, "PTP timescale, offset valid");
        assert_eq!(i16::from_be_bytes([buf[44], buf[45]]), 37);
        assert_eq!(buf[46], 0, "reserved octet cleared");
        fixes(Profile::Gptp, 0).apply(&mut buf, 64);
        assert_eq!(buf[7] & 0x0C, 0, "ARB");
        assert_eq!(buf[7] & 0xF3, 0xF3, "other flags untouched");
    }
}
