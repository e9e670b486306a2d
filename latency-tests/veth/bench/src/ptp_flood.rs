//! `ptp-flood`: PTP frames as fast as asked on a takt ring device, to see
//! what a hostile or broken segment does to a takt PTP port (and to the
//! streams beside it). The frames are gPTP (IEEE 802.1AS) over Ethernet,
//! built here byte by byte, all from one foreign port identity:
//!
//! - `pdelay`: Pdelay_Req a port must answer (Pdelay_Resp + Follow_Up);
//! - `garbage`: random lengths and bytes after a PTP EtherType header
//!   (half with versionPTP 2 and gPTP's sdoId, so the checks past the
//!   version run too);
//! - `forged-sync`: two-step Sync + Follow_Up claiming a time a second
//!   ahead, from a port that is not the master;
//! - `announce`: Announce from a foreign grandmaster with priority1 255,
//!   worse than any master's, so the best master clock algorithm keeps the
//!   port it floods as master;
//! - `mixed`: the four in turn.

use serde::Serialize;
use takt_drivers::{DeviceSpec, RingDevice, TxBatch, TxFrame, MAX_BURST};
use takt_scheduler::{rt, ClockId};

use crate::flood::backend_name;
use crate::report::rate;
use crate::BenchError;

/// Pacing and elapsed time (no schedule here).
const CLOCK: ClockId = ClockId::Monotonic;
/// 802.1AS sends every message to this link-local group (11.3.4).
pub const GPTP_DST: [u8; 6] = [0x01, 0x80, 0xC2, 0x00, 0x00, 0x0E];
const ETHERTYPE_PTP: [u8; 2] = [0x88, 0xF7];
/// Ethernet header: destination, source, EtherType.
const ETH: usize = 14;
/// The PTP common header (IEEE 1588 13.3).
const HEADER: usize = 34;
/// Longest frame sent (garbage): a 1500-byte payload.
pub const MAX_FRAME: usize = ETH + 1500;
/// How far ahead of the real time the forged Sync/Follow_Up claim to be:
/// were one taken, a slave would step its clock by this much.
pub const FORGED_AHEAD_NS: u64 = 1_000_000_000;
/// The foreign grandmaster's priority1: the worst there is.
pub const ANNOUNCE_PRIORITY1: u8 = 255;

/// What a flood sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Pdelay,
    Garbage,
    ForgedSync,
    Announce,
    Mixed,
}

/// One frame of a flood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    PdelayReq,
    Garbage,
    Sync,
    FollowUp,
    Announce,
}

impl Kind {
    /// The frames of one turn, in order.
    fn turn(self) -> &'static [Msg] {
        match self {
            Kind::Pdelay => &[Msg::PdelayReq],
            Kind::Garbage => &[Msg::Garbage],
            Kind::ForgedSync => &[Msg::Sync, Msg::FollowUp],
            Kind::Announce => &[Msg::Announce],
            Kind::Mixed => &[
                Msg::PdelayReq,
                Msg::Garbage,
                Msg::Sync,
                Msg::FollowUp,
                Msg::Announce,
            ],
        }
    }
}

/// What `ptp-flood` was asked to do.
#[derive(Clone, Copy, Debug)]
pub struct FloodConfig {
    pub kind: Kind,
    /// Frames per second; 0 = as fast as the ring takes them.
    pub rate: u64,
    pub seconds: f64,
    /// PTP domain of the messages (a port refuses other domains).
    pub domain: u8,
    /// Seed of the garbage.
    pub seed: u64,
}

/// What `ptp-flood` prints (JSON).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PtpFloodReport {
    /// `ptp-flood`.
    pub role: String,
    /// `pdelay`, `garbage`, `forged-sync`, `announce`, `mixed`.
    pub kind: String,
    pub backend: String,
    pub device: String,
    /// Frames per second asked for (0: as fast as the ring takes them).
    pub rate: u64,
    pub seconds: f64,
    pub domain: u8,
    /// Source MAC of every frame.
    pub source_mac: String,
    /// The port the messages claim to come from, as ptp4l prints it.
    pub source_port_identity: String,
    /// Frames the ring took, all kinds.
    pub frames: u64,
    pub pdelay_req: u64,
    pub garbage: u64,
    pub sync: u64,
    pub follow_up: u64,
    pub announce: u64,
    /// From the first send to the end.
    pub elapsed_ns: u64,
    /// frames / elapsed.
    pub pps: f64,
    /// `tx_burst` calls that moved no frame (ring full).
    pub stalls: u64,
    /// Frames the device dropped after taking them (its `tx_drops`).
    pub device_tx_drops: u64,
}

/// The clock identity the flood's messages claim: the device's MAC with
/// f1:0d in the middle. EUI-64 identities from a MAC have ff:fe there, so
/// this is never a takt port's (nor a ptp4l port's on this host).
pub fn foreign_identity(mac: [u8; 6]) -> [u8; 8] {
    [mac[0], mac[1], mac[2], 0xF1, 0x0D, mac[3], mac[4], mac[5]]
}

/// xorshift64*: the garbage only needs to be varied and reproducible.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Builds the flood's frames.
struct Builder {
    mac: [u8; 6],
    identity: [u8; 8],
    domain: u8,
    pdelay_seq: u16,
    sync_seq: u16,
    announce_seq: u16,
    rng: Garbage,
}

/// PTP's 48-bit seconds and 32-bit nanoseconds of `ns`.
fn timestamp(b: &mut [u8], ns: u64) {
    let secs = ns / 1_000_000_000;
    b[0..6].copy_from_slice(&secs.to_be_bytes()[2..8]);
    b[6..10].copy_from_slice(&((ns % 1_000_000_000) as u32).to_be_bytes());
}

impl Builder {
    fn new(mac: [u8; 6], domain: u8, seed: u64) -> Self {
        Builder {
            mac,
            identity: foreign_identity(mac),
            domain,
            pdelay_seq: 0,
            sync_seq: 0,
            announce_seq: 0,
            // xorshift must not start at 0.
            rng: Garbage(seed | 1),
        }
    }

    /// Ethernet header: the gPTP group, this device, EtherType 0x88F7.
    fn ethernet(&self, f: &mut [u8]) {
        f[0..6].copy_from_slice(&GPTP_DST);
        f[6..12].copy_from_slice(&self.mac);
        f[12..14].copy_from_slice(&ETHERTYPE_PTP);
    }

    /// The PTP common header at `m` (IEEE 1588 13.3.1, as 802.1AS 10.6.2
    /// fills it).
    #[allow(clippy::too_many_arguments)]
    fn header(
        &self,
        m: &mut [u8],
        msg_type: u8,
        len: usize,
        flags: [u8; 2],
        seq: u16,
        control: u8,
        log_interval: i8,
    ) {
        m[..HEADER].fill(0);
        // majorSdoId 1 (802.1AS, the old transportSpecific) | messageType.
        m[0] = 0x10 | msg_type;
        // minorVersionPTP 0 | versionPTP 2.
        m[1] = 0x02;
        // messageLength: the whole message with its TLVs.
        m[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        // domainNumber.
        m[4] = self.domain;
        // minorSdoId 0 (802.1AS).
        m[5] = 0;
        // flagField: [0] twoStepFlag 0x02 ..., [1] ptpTimescale 0x08 ...
        m[6..8].copy_from_slice(&flags);
        // correctionField (8 octets, ns << 16): none.
        // messageTypeSpecific (4 octets): 0.
        // sourcePortIdentity: the foreign clock identity, port 1.
        m[20..28].copy_from_slice(&self.identity);
        m[28..30].copy_from_slice(&1u16.to_be_bytes());
        // sequenceId.
        m[30..32].copy_from_slice(&seq.to_be_bytes());
        // controlField (1588 v1's, still sent): 0 Sync, 2 Follow_Up, 5 others.
        m[32] = control;
        // logMessageInterval.
        m[33] = log_interval as u8;
    }

    /// Pdelay_Req (11.4.5): header, originTimestamp 0 and 10 reserved
    /// octets; 54 octets.
    fn pdelay_req(&mut self, f: &mut [u8]) -> usize {
        const LEN: usize = HEADER + 20;
        let seq = self.pdelay_seq;
        self.pdelay_seq = seq.wrapping_add(1);
        self.ethernet(f);
        let m = &mut f[ETH..ETH + LEN];
        // messageType 2, no flags, logMessageInterval 0 (1 s, gPTP's).
        self.header(m, 0x2, LEN, [0, 0], seq, 5, 0);
        // originTimestamp (10) and reserved (10): 0.
        m[HEADER..].fill(0);
        ETH + LEN
    }

    /// Two-step Sync (11.4.3): header with twoStepFlag, originTimestamp
    /// (a second ahead: two-step receivers use the Follow_Up's); 44 octets.
    fn sync(&mut self, f: &mut [u8], now_tai_ns: u64) -> usize {
        const LEN: usize = HEADER + 10;
        self.ethernet(f);
        let m = &mut f[ETH..ETH + LEN];
        // messageType 0, twoStepFlag, logMessageInterval -3 (gPTP's 125 ms).
        self.header(m, 0x0, LEN, [0x02, 0], self.sync_seq, 0, -3);
        timestamp(&mut m[HEADER..], now_tai_ns + FORGED_AHEAD_NS);
        ETH + LEN
    }

    /// Follow_Up (11.4.4) of the last Sync: preciseOriginTimestamp a
    /// second ahead, and the follow-up information TLV 802.1AS requires;
    /// 76 octets.
    fn follow_up(&mut self, f: &mut [u8], now_tai_ns: u64) -> usize {
        const LEN: usize = HEADER + 10 + 32;
        let seq = self.sync_seq;
        self.sync_seq = seq.wrapping_add(1);
        self.ethernet(f);
        let m = &mut f[ETH..ETH + LEN];
        // messageType 8, same sequenceId as its Sync, logMessageInterval -3.
        self.header(m, 0x8, LEN, [0, 0], seq, 2, -3);
        timestamp(&mut m[HEADER..HEADER + 10], now_tai_ns + FORGED_AHEAD_NS);
        let tlv = &mut m[HEADER + 10..];
        tlv.fill(0);
        // tlvType ORGANIZATION_EXTENSION (3), lengthField 28.
        tlv[0..2].copy_from_slice(&3u16.to_be_bytes());
        tlv[2..4].copy_from_slice(&28u16.to_be_bytes());
        // organizationId 00-80-C2 (IEEE 802.1), organizationSubType 1.
        tlv[4..7].copy_from_slice(&[0x00, 0x80, 0xC2]);
        tlv[7..10].copy_from_slice(&[0, 0, 1]);
        // cumulativeScaledRateOffset (4), gmTimeBaseIndicator (2),
        // lastGmPhaseChange (12), scaledLastGmFreqChange (4): 0.
        ETH + LEN
    }

    /// Announce (10.6.3) from the foreign grandmaster with the worst
    /// priorities, with the path trace TLV 802.1AS requires; 76 octets.
    fn announce(&mut self, f: &mut [u8]) -> usize {
        const LEN: usize = HEADER + 30 + 12;
        let seq = self.announce_seq;
        self.announce_seq = seq.wrapping_add(1);
        self.ethernet(f);
        let identity = self.identity;
        let m = &mut f[ETH..ETH + LEN];
        // messageType 0xB, ptpTimescale, logMessageInterval 0 (1 s).
        self.header(m, 0xB, LEN, [0, 0x08], seq, 5, 0);
        let b = &mut m[HEADER..];
        b.fill(0);
        // originTimestamp (10): 0. currentUtcOffset: 37 s. reserved (1).
        b[10..12].copy_from_slice(&37u16.to_be_bytes());
        // grandmasterPriority1: the worst.
        b[13] = ANNOUNCE_PRIORITY1;
        // grandmasterClockQuality: clockClass 248 (default), clockAccuracy
        // 0xFE (unknown), offsetScaledLogVariance 0xFFFF (the worst).
        b[14] = 248;
        b[15] = 0xFE;
        b[16..18].copy_from_slice(&0xFFFFu16.to_be_bytes());
        // grandmasterPriority2: the worst.
        b[18] = 255;
        // grandmasterIdentity: the foreign clock itself.
        b[19..27].copy_from_slice(&identity);
        // stepsRemoved 0; timeSource 0xA0 (internal oscillator).
        b[27..29].copy_from_slice(&0u16.to_be_bytes());
        b[29] = 0xA0;
        // PATH_TRACE TLV (type 8): lengthField 8, the one clock on the path.
        b[30..32].copy_from_slice(&8u16.to_be_bytes());
        b[32..34].copy_from_slice(&8u16.to_be_bytes());
        b[34..42].copy_from_slice(&identity);
        ETH + LEN
    }

    /// An Ethernet header with the PTP EtherType, then 1..=1500 random
    /// octets; every other frame starts like a gPTP v2 message (majorSdoId
    /// 1, versionPTP 2) so the checks after the version see it too.
    fn garbage(&mut self, f: &mut [u8]) -> usize {
        self.ethernet(f);
        let r = self.rng.next();
        let len = ETH + 1 + (r % 1500) as usize;
        for chunk in f[ETH..len].chunks_mut(8) {
            let bytes = self.rng.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        if r & (1 << 32) != 0 && len >= ETH + 2 {
            f[ETH] = 0x10 | (f[ETH] & 0x0F);
            f[ETH + 1] = 0x02;
        }
        len
    }

    fn build(&mut self, msg: Msg, f: &mut [u8]) -> usize {
        match msg {
            Msg::PdelayReq => self.pdelay_req(f),
            Msg::Garbage => self.garbage(f),
            Msg::Sync => self.sync(f, ClockId::Tai.now_ns()),
            Msg::FollowUp => self.follow_up(f, ClockId::Tai.now_ns()),
            Msg::Announce => self.announce(f),
        }
    }
}

/// "001122.f10d.334455-1", as ptp4l prints a port identity.
fn identity_string(id: &[u8; 8]) -> String {
    format!(
        "{:02x}{:02x}{:02x}.{:02x}{:02x}.{:02x}{:02x}{:02x}-1",
        id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7]
    )
}

/// Frames due by `elapsed_ns` at `rate` per second (u64::MAX: no limit).
fn due(rate: u64, elapsed_ns: u64) -> u64 {
    if rate == 0 {
        return u64::MAX;
    }
    (u128::from(rate) * u128::from(elapsed_ns) / 1_000_000_000) as u64
}

/// Send `cfg.kind` at `cfg.rate` for `cfg.seconds` (or until SIGINT /
/// SIGTERM), in bursts of at most `MAX_BURST`.
pub fn run(
    dev: &mut dyn RingDevice,
    spec: &DeviceSpec,
    cfg: &FloodConfig,
) -> Result<PtpFloodReport, BenchError> {
    let mac = dev.info().mac;
    let batch = MAX_BURST.min(dev.info().caps.max_batch.max(1));
    let mut build = Builder::new(mac, cfg.domain, cfg.seed);
    let mut frame = [0u8; MAX_FRAME];
    let turn = cfg.kind.turn();
    let mut next = 0usize;
    let mut pending = TxBatch::new();
    // What each pending frame is, in the same order.
    let mut kinds: heapless::Deque<Msg, MAX_BURST> = heapless::Deque::new();
    let mut r = PtpFloodReport {
        role: "ptp-flood".into(),
        kind: String::new(),
        backend: backend_name(spec).into(),
        device: spec.to_string(),
        rate: cfg.rate,
        seconds: cfg.seconds,
        domain: cfg.domain,
        source_mac: takt_drivers::format_mac(mac),
        source_port_identity: identity_string(&foreign_identity(mac)),
        ..PtpFloodReport::default()
    };
    r.kind = serde_json::to_value(cfg.kind)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let start = CLOCK.now_ns();
    let end = start.saturating_add((cfg.seconds.max(0.0) * 1e9) as u64);
    loop {
        let now = CLOCK.now_ns();
        if now >= end || rt::stop_requested() {
            break;
        }
        let owed = due(cfg.rate, now - start).saturating_sub(r.frames);
        let want = owed.min(batch as u64) as usize;
        if want == 0 {
            // The next frame is due after 1/rate s: sleep that long at
            // most (200 us at least, so a high rate goes in bursts).
            let wait = (1_000_000_000 / cfg.rate.max(1)).clamp(200_000, 10_000_000);
            std::thread::sleep(std::time::Duration::from_nanos(wait));
            continue;
        }
        while pending.len() < want {
            let Some(buf) = dev.alloc() else { break };
            let msg = turn[next % turn.len()];
            let len = build.build(msg, &mut frame).min(dev.info().buf_size);
            dev.buf_mut(&buf)[..len].copy_from_slice(&frame[..len]);
            let tx = TxFrame {
                buf,
                len,
                launch_time_ns: None,
                stamp_tag: None,
            };
            if let Err(tx) = pending.push_back(tx) {
                dev.free(tx.buf);
                break;
            }
            // As many kinds as frames pending: room checked above.
            let _ = kinds.push_back(msg);
            next += 1;
        }
        let n = dev.tx_burst(&mut pending);
        if n == 0 {
            r.stalls += 1;
            std::hint::spin_loop();
        }
        for _ in 0..n {
            match kinds.pop_front() {
                Some(Msg::PdelayReq) => r.pdelay_req += 1,
                Some(Msg::Garbage) => r.garbage += 1,
                Some(Msg::Sync) => r.sync += 1,
                Some(Msg::FollowUp) => r.follow_up += 1,
                Some(Msg::Announce) => r.announce += 1,
                None => {}
            }
            r.frames += 1;
        }
    }
    r.elapsed_ns = CLOCK.now_ns().saturating_sub(start);
    while let Some(f) = pending.pop_front() {
        dev.free(f.buf);
    }
    r.device_tx_drops = dev.counters().tx_drops;
    r.pps = rate(r.frames, r.elapsed_ns);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use takt_drivers::sim::{self, SimConfig};
    use takt_drivers::RxBatch;
    use takt_stack::ptp::frame::{parse, Rejected};

    const MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];

    fn built(msg: Msg) -> Vec<u8> {
        let mut b = Builder::new(MAC, 0, 7);
        let mut f = [0u8; MAX_FRAME];
        let n = b.build(msg, &mut f);
        f[..n].to_vec()
    }

    #[test]
    fn the_valid_messages_pass_every_check_of_the_frame_parser() {
        for (msg, ty, len) in [
            (Msg::PdelayReq, 0x2, 54),
            (Msg::Sync, 0x0, 44),
            (Msg::FollowUp, 0x8, 76),
            (Msg::Announce, 0xB, 76),
        ] {
            let f = built(msg);
            let p = parse(&f).unwrap_or_else(|e| panic!("{msg:?}: {e}"));
            assert_eq!(p.message_type, ty, "{msg:?}");
            assert_eq!(p.message.len(), len, "{msg:?}");
            assert_eq!(p.sdo_id, 0x100, "{msg:?}: gPTP");
            assert_eq!(p.domain, 0);
            assert_eq!(p.dst, GPTP_DST);
            assert_eq!(p.source.clock, foreign_identity(MAC));
            assert_eq!(p.source.port, 1);
        }
    }

    #[test]
    fn the_forged_follow_up_claims_a_time_a_second_ahead() {
        let mut b = Builder::new(MAC, 3, 1);
        let mut f = [0u8; MAX_FRAME];
        let now = 1_700_000_000_123_456_789u64;
        b.sync(&mut f, now);
        let n = b.follow_up(&mut f, now);
        let m = &f[ETH..n];
        assert_eq!(m[4], 3, "domain");
        let mut secs = [0u8; 8];
        secs[2..].copy_from_slice(&m[34..40]);
        let nanos = u32::from_be_bytes(m[40..44].try_into().unwrap());
        let claimed = u64::from_be_bytes(secs) * 1_000_000_000 + u64::from(nanos);
        assert_eq!(claimed, now + FORGED_AHEAD_NS);
        assert_eq!(
            u16::from_be_bytes([m[30], m[31]]),
            0,
            "its Sync's sequenceId"
        );
        assert_eq!(b.sync_seq, 1);
    }

    #[test]
    fn garbage_varies_in_length_and_never_passes_as_a_message() {
        let mut b = Builder::new(MAC, 0, 42);
        let mut f = [0u8; MAX_FRAME];
        let mut lengths = std::collections::BTreeSet::new();
        let mut refused = std::collections::HashMap::<Rejected, u32>::new();
        for _ in 0..2000 {
            let n = b.garbage(&mut f);
            assert!((ETH + 1..=MAX_FRAME).contains(&n));
            assert_eq!(&f[12..14], &ETHERTYPE_PTP);
            lengths.insert(n);
            let e = parse(&f[..n]).expect_err("random bytes are no PTP message");
            *refused.entry(e).or_default() += 1;
        }
        assert!(lengths.len() > 500, "{} lengths", lengths.len());
        // Half start like a v2 message, so more than the version is checked.
        assert!(refused.len() >= 3, "{refused:?}");
        assert!(refused[&Rejected::Version] < 1500, "{refused:?}");
    }

    #[test]
    fn mixed_sends_each_kind_in_turn_and_counts_what_the_ring_took() {
        let cfg = SimConfig {
            wire_capacity: 100,
            pool_size: 256,
            ..SimConfig::default()
        };
        let (mut a, mut b, _link) = sim::pair(cfg);
        let flood = FloodConfig {
            kind: Kind::Mixed,
            rate: 0,
            seconds: 0.02,
            domain: 0,
            seed: 9,
        };
        let r = run(&mut a, &DeviceSpec::Sim, &flood).unwrap();
        assert_eq!(r.frames, 100, "the wire holds 100: {r:?}");
        assert_eq!(
            (r.pdelay_req, r.garbage, r.sync, r.follow_up, r.announce),
            (20, 20, 20, 20, 20)
        );
        assert_eq!(r.kind, "mixed");
        assert!(r.stalls > 0);
        let mut rx = RxBatch::new();
        let mut types = Vec::new();
        while b.rx_burst(&mut rx) > 0 {
            while let Some(f) = rx.pop_front() {
                types.push(parse(&b.buf(&f.buf)[..f.len]).map(|p| p.message_type).ok());
                b.free(f.buf);
            }
        }
        assert_eq!(types.len(), 100);
        assert_eq!(
            &types[..5],
            &[Some(0x2), None, Some(0x0), Some(0x8), Some(0xB)]
        );
    }

    #[test]
    fn a_rate_spreads_the_frames_over_the_time() {
        assert_eq!(due(1000, 500_000_000), 500);
        assert_eq!(due(0, 1), u64::MAX);
        let (mut a, _b, _link) = sim::pair(SimConfig::default());
        let flood = FloodConfig {
            kind: Kind::Pdelay,
            rate: 2000,
            seconds: 0.05,
            domain: 0,
            seed: 1,
        };
        let r = run(&mut a, &DeviceSpec::Sim, &flood).unwrap();
        // At most what was due by the end; content, not timing, is judged.
        assert!(r.frames <= due(2000, r.elapsed_ns) + 1, "{r:?}");
        assert_eq!(r.frames, r.pdelay_req);
    }
}
