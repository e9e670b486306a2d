//! The embedded PTP port's core against the real peer's wire format:
//! frames ptp4l (linuxptp 3.1) sent, captured with tcpdump on a veth pair
//! between two namespaces (ptp4l master with configs/gPTP.cfg, and with
//! default.cfg over L2; a `free_running 1` ptp4l slave on the other end),
//! kept here as bytes; and the core's own frames dissected by tshark.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use takt_scheduler::clock::{DisciplinedClock, HostSkew, TimeSource};
use takt_stack::ptp::{CoreConfig, OutFrame, PortId, Profile, PtpCore, Rejected, Role};

// ---- ptp4l's frames (gPTP.cfg, priority1 100, neighborPropDelayThresh
// raised for software stamps on veth; source 02:00:00:aa:00:01) ----

const PTP4L_ANNOUNCE_0: [u8; 90] = [
    0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x02, 0x00, 0x00, 0xaa, 0x00, 0x01, 0x88, 0xf7, 0x1b, 0x02,
    0x00, 0x4c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x25, 0x00, 0x64, 0xf8, 0xfe,
    0xff, 0xff, 0xf8, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x00, 0xa0, 0x00, 0x08,
    0x00, 0x08, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01,
];
const PTP4L_ANNOUNCE_1: [u8; 90] = [
    0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x02, 0x00, 0x00, 0xaa, 0x00, 0x01, 0x88, 0xf7, 0x1b, 0x02,
    0x00, 0x4c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x05, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x25, 0x00, 0x64, 0xf8, 0xfe,
    0xff, 0xff, 0xf8, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x00, 0xa0, 0x00, 0x08,
    0x00, 0x08, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01,
];
/// 58 octets: ptp4l sends a Sync unpadded (44-octet message).
const PTP4L_SYNC: [u8; 58] = [
    0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x02, 0x00, 0x00, 0xaa, 0x00, 0x01, 0x88, 0xf7, 0x10, 0x02,
    0x00, 0x2c, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0xfd,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];
const PTP4L_FOLLOW_UP: [u8; 90] = [
    0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x02, 0x00, 0x00, 0xaa, 0x00, 0x01, 0x88, 0xf7, 0x18, 0x02,
    0x00, 0x4c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0xfd,
    0x00, 0x00, 0x6b, 0x11, 0x2f, 0xc3, 0x27, 0x33, 0xc3, 0x01, 0x00, 0x03, 0x00, 0x1c, 0x00, 0x80,
    0xc2, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];
const PTP4L_SYNC_2: [u8; 58] = [
    0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x02, 0x00, 0x00, 0xaa, 0x00, 0x01, 0x88, 0xf7, 0x10, 0x02,
    0x00, 0x2c, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0xfd,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];
const PTP4L_FOLLOW_UP_2: [u8; 90] = [
    0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x02, 0x00, 0x00, 0xaa, 0x00, 0x01, 0x88, 0xf7, 0x18, 0x02,
    0x00, 0x4c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x02, 0xfd,
    0x00, 0x00, 0x6b, 0x11, 0x2f, 0xc3, 0x2e, 0xa8, 0x0f, 0x27, 0x00, 0x03, 0x00, 0x1c, 0x00, 0x80,
    0xc2, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];
const PTP4L_PDELAY_REQ: [u8; 68] = [
    0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x02, 0x00, 0x00, 0xaa, 0x00, 0x01, 0x88, 0xf7, 0x12, 0x02,
    0x00, 0x36, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
];
/// ptp4l answering the other ptp4l's Pdelay_Req (sequence 0; requesting
/// port 020000.fffe.bb0002-1).
const PTP4L_PDELAY_RESP: [u8; 68] = [
    0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x02, 0x00, 0x00, 0xaa, 0x00, 0x01, 0x88, 0xf7, 0x13, 0x02,
    0x00, 0x36, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x05, 0x7f,
    0x00, 0x00, 0x6b, 0x11, 0x2f, 0xc0, 0x22, 0x0d, 0xba, 0x34, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xbb,
    0x00, 0x02, 0x00, 0x01,
];
const PTP4L_PDELAY_RESP_FOLLOW_UP: [u8; 68] = [
    0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x02, 0x00, 0x00, 0xaa, 0x00, 0x01, 0x88, 0xf7, 0x1a, 0x02,
    0x00, 0x36, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x05, 0x7f,
    0x00, 0x00, 0x6b, 0x11, 0x2f, 0xc0, 0x22, 0x0e, 0x80, 0xdc, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xbb,
    0x00, 0x02, 0x00, 0x01,
];

// ---- ptp4l's frames with default.cfg over L2 (E2E, logSyncInterval -2) ----

const PTP4L_E2E_ANNOUNCE_0: [u8; 78] = [
    0x01, 0x1b, 0x19, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0xaa, 0x00, 0x01, 0x88, 0xf7, 0x0b, 0x02,
    0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x05, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x25, 0x00, 0x64, 0xf8, 0xfe,
    0xff, 0xff, 0x80, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x00, 0xa0,
];
const PTP4L_E2E_ANNOUNCE_1: [u8; 78] = [
    0x01, 0x1b, 0x19, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0xaa, 0x00, 0x01, 0x88, 0xf7, 0x0b, 0x02,
    0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x05, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x25, 0x00, 0x64, 0xf8, 0xfe,
    0xff, 0xff, 0x80, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x00, 0xa0,
];
const PTP4L_E2E_SYNC: [u8; 58] = [
    0x01, 0x1b, 0x19, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0xaa, 0x00, 0x01, 0x88, 0xf7, 0x00, 0x02,
    0x00, 0x2c, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0xfe,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];
const PTP4L_E2E_FOLLOW_UP: [u8; 58] = [
    0x01, 0x1b, 0x19, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0xaa, 0x00, 0x01, 0x88, 0xf7, 0x08, 0x02,
    0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0xfe,
    0x00, 0x00, 0x6b, 0x11, 0x2f, 0xe7, 0x08, 0x3f, 0xb8, 0xbb,
];

const PTP4L_PORT: PortId = PortId {
    clock: [0x02, 0x00, 0x00, 0xff, 0xfe, 0xaa, 0x00, 0x01],
    port: 1,
};
const TAKT_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0xcc, 0x00, 0x03];
const S: u64 = 1_000_000_000;

/// The precise origin timestamp of a captured Follow_Up, ns.
fn origin_ns(fup: &[u8]) -> u64 {
    let mut secs = [0u8; 8];
    secs[2..].copy_from_slice(&fup[48..54]);
    u64::from_be_bytes(secs) * S + u64::from(u32::from_be_bytes(fup[54..58].try_into().unwrap()))
}

/// A core on a manual clock set near the capture's times.
struct Bench {
    t: Arc<AtomicU64>,
    clock: Arc<DisciplinedClock>,
    core: PtpCore,
}

impl Bench {
    fn new(profile: Profile, role: Role, start_ns: u64) -> Bench {
        Bench::with_mac(profile, role, start_ns, TAKT_MAC)
    }

    fn with_mac(profile: Profile, role: Role, start_ns: u64, mac: [u8; 6]) -> Bench {
        let t = Arc::new(AtomicU64::new(start_ns));
        let clock = DisciplinedClock::new(TimeSource::Manual(Arc::clone(&t)), HostSkew::default());
        let cfg = CoreConfig {
            priority1: 255,
            ..CoreConfig::new(profile, role, mac)
        };
        let core = PtpCore::new(cfg, Arc::clone(&clock), start_ns, 3);
        Bench { t, clock, core }
    }

    fn set(&self, t: u64) {
        self.t.store(t, Ordering::Release);
    }

    fn now(&self) -> u64 {
        self.t.load(Ordering::Acquire)
    }

    fn feed(&mut self, frame: &[u8]) -> Result<(), Rejected> {
        let now = self.now();
        self.core.on_frame(frame, self.clock.now_ns(), now)
    }

    /// Runs timers for `ns`, stamping every frame sent at once; the frames.
    fn run(&mut self, ns: u64) -> Vec<OutFrame> {
        let end = self.now() + ns;
        let mut out = Vec::new();
        loop {
            self.drain(&mut out);
            match self.core.next_deadline() {
                Some(d) if d <= end => {
                    self.set(d.max(self.now()));
                    self.core.on_timers(self.now());
                }
                _ => break,
            }
        }
        self.set(end);
        self.drain(&mut out);
        out
    }

    fn drain(&mut self, out: &mut Vec<OutFrame>) {
        while let Some(f) = self.core.pop_tx() {
            if let Some(tag) = f.stamp_tag {
                let (tx, now) = (self.clock.now_ns(), self.now());
                self.core.on_tx_stamp(tag, tx, now);
            }
            out.push(f);
        }
    }
}

fn ty(f: &[u8]) -> u8 {
    f[14] & 0x0F
}

fn port_id(b: &[u8]) -> PortId {
    PortId {
        clock: b[..8].try_into().unwrap(),
        port: u16::from_be_bytes([b[8], b[9]]),
    }
}

#[test]
fn a_gptp_slave_core_follows_ptp4l_announce_sync_and_follow_up() {
    let sync_origin = origin_ns(&PTP4L_FOLLOW_UP);
    let mut b = Bench::new(Profile::Gptp, Role::Slave, sync_origin - 3 * S);
    assert_eq!(b.feed(&PTP4L_ANNOUNCE_0), Ok(()));
    b.run(S);
    assert_eq!(b.feed(&PTP4L_ANNOUNCE_1), Ok(()));
    b.run(2 * S);
    let st = b.core.status();
    assert_eq!(st.port_state, "SLAVE");
    assert_eq!(st.parent, Some(PTP4L_PORT));
    assert_eq!(st.grandmaster, Some(PTP4L_PORT.clock));
    let ts = st
        .master_timescale
        .expect("a slave knows its master's timescale");
    assert!(!ts.ptp, "ptp4l free running announces ARB");

    // Two Sync/Follow_Up pairs, received 2 us after they left.
    for (sync, fup) in [
        (&PTP4L_SYNC[..], &PTP4L_FOLLOW_UP[..]),
        (&PTP4L_SYNC_2, &PTP4L_FOLLOW_UP_2),
    ] {
        b.set(origin_ns(fup) + 2_000);
        assert_eq!(b.feed(sync), Ok(()), "ptp4l's Sync (58 octets, unpadded)");
        assert_eq!(b.feed(fup), Ok(()), "ptp4l's Follow_Up with its TLV");
    }
    let mut offsets = Vec::new();
    b.core.take_offsets(|_, o| offsets.push(o));
    assert!(!offsets.is_empty(), "the pairs were measured");
    assert!(
        offsets.iter().all(|o| (0..=2_000).contains(o)),
        "{offsets:?}"
    );
    let c = b.core.counters();
    assert_eq!(
        (c.rx_of("SYNC"), c.rx_of("FOLLOW_UP"), c.rx_of("ANNOUNCE")),
        (2, 2, 2)
    );
    assert_eq!(c.rejected_total(), 0, "{c:?}");
}

#[test]
fn a_gptp_core_answers_ptp4l_pdelay_req_as_ptp4l_checks_it() {
    let mut b = Bench::new(Profile::Gptp, Role::Slave, 1_796_288_448 * S);
    b.run(0); // its own first Pdelay_Req
    assert_eq!(b.feed(&PTP4L_PDELAY_REQ), Ok(()));
    let rx = b.clock.now_ns();
    let sent = b.run(0);
    let resp = sent
        .iter()
        .find(|f| ty(f.bytes()) == 0x3)
        .expect("a Pdelay_Resp");
    let fup = sent
        .iter()
        .find(|f| ty(f.bytes()) == 0xA)
        .expect("a Pdelay_Resp_Follow_Up");
    for f in [resp, fup] {
        let m = f.message();
        // ptp4l port_peer_delay: requestingPortIdentity is its port, the
        // sequence ids match its request, both from the same port.
        assert_eq!(port_id(&m[44..54]), PTP4L_PORT);
        assert_eq!(&m[30..32], &PTP4L_PDELAY_REQ[44..46], "sequenceId");
        assert_eq!(m[0] >> 4, 1, "transportSpecific 1");
        assert_eq!(u16::from_be_bytes([m[2], m[3]]), 54);
        assert_eq!(m[33], 0x7F, "logMessageInterval");
        assert_eq!(&f.bytes()[..6], &[0x01, 0x80, 0xC2, 0, 0, 0x0E]);
        assert_eq!(&f.bytes()[6..12], &TAKT_MAC);
    }
    assert_eq!(
        &resp.message()[20..30],
        &fup.message()[20..30],
        "one source port"
    );
    assert_eq!(resp.message()[6] & 0x02, 0x02, "two-step");
    assert!(resp.stamp_tag.is_some(), "its transmit time is t3");
    let t2 = origin_ns(resp.bytes());
    assert_eq!(
        t2, rx,
        "requestReceiptTimestamp is the Pdelay_Req's receive time"
    );
}

#[test]
fn a_gptp_core_takes_ptp4l_pdelay_answers_to_its_own_request_only() {
    let t2 = origin_ns(&PTP4L_PDELAY_RESP);
    let mut b = Bench::new(Profile::Gptp, Role::Slave, t2);
    let sent = b.run(0);
    let req = sent
        .iter()
        .find(|f| ty(f.bytes()) == 0x2)
        .expect("a Pdelay_Req at start");
    assert_eq!(
        &req.message()[30..32],
        &[0, 0],
        "its first sequence id, as ptp4l's answer"
    );
    let own = b.core.status().port_identity;
    // As captured, the answer is for the other ptp4l.
    assert_eq!(b.feed(&PTP4L_PDELAY_RESP), Err(Rejected::NotForUs));
    assert_eq!(
        b.feed(&PTP4L_PDELAY_RESP_FOLLOW_UP),
        Err(Rejected::NotForUs)
    );
    // Addressed to this port, ptp4l's answer is taken.
    let mut id = [0u8; 10];
    id[..8].copy_from_slice(&own.clock);
    id[8..].copy_from_slice(&own.port.to_be_bytes());
    let mut resp = PTP4L_PDELAY_RESP;
    let mut fup = PTP4L_PDELAY_RESP_FOLLOW_UP;
    resp[58..68].copy_from_slice(&id);
    fup[58..68].copy_from_slice(&id);
    b.set(origin_ns(&PTP4L_PDELAY_RESP_FOLLOW_UP) + 1_000);
    assert_eq!(b.feed(&resp), Ok(()));
    assert_eq!(b.feed(&fup), Ok(()));
    let c = b.core.counters();
    assert_eq!(
        (c.rx_of("PDELAY_RESP"), c.rx_of("PDELAY_RESP_FOLLOW_UP")),
        (1, 1)
    );
    assert_eq!(c.implausible_measurements, 0);
    assert_ne!(b.core.status().port_state, "FAULTY");
}

#[test]
fn a_1588_slave_core_follows_ptp4l_default_profile_over_l2() {
    let origin = origin_ns(&PTP4L_E2E_FOLLOW_UP);
    let mut b = Bench::new(Profile::E2e1588, Role::Slave, origin - 5 * S);
    assert_eq!(b.feed(&PTP4L_E2E_ANNOUNCE_0), Ok(()));
    b.run(2 * S);
    assert_eq!(b.feed(&PTP4L_E2E_ANNOUNCE_1), Ok(()));
    b.run(2 * S);
    assert_eq!(b.core.status().port_state, "SLAVE");
    assert_eq!(b.core.status().parent, Some(PTP4L_PORT));
    b.set(origin + 3_000);
    assert_eq!(b.feed(&PTP4L_E2E_SYNC), Ok(()));
    assert_eq!(b.feed(&PTP4L_E2E_FOLLOW_UP), Ok(()));
    // The slave asks for the delay: a Delay_Req to 01:1B:19:00:00:00.
    let sent = b.run(3 * S);
    let req = sent
        .iter()
        .find(|f| ty(f.bytes()) == 0x1)
        .expect("a Delay_Req");
    assert_eq!(&req.bytes()[..6], &[0x01, 0x1B, 0x19, 0, 0, 0]);
    assert_eq!(req.message()[0] >> 4, 0, "transportSpecific 0");
    assert_eq!(b.core.counters().rejected_total(), 0);
    // gPTP frames are another profile's.
    assert_eq!(b.feed(&PTP4L_ANNOUNCE_0), Err(Rejected::WrongSdo));
}

// ---- the core's own frames through tshark ----

/// Whether tshark is here; says why not, and fails under CI=true (where
/// ./test.sh installs it and skipping is not allowed).
fn tshark_available() -> bool {
    if Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return true;
    }
    let msg = "tshark is not installed (./test.sh installs it: apt-get install tshark)";
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("skipped: {msg}");
    false
}

/// A classic pcap file (Ethernet) of `frames`.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut p = Vec::new();
    for v in [0xA1B2_C3D4u32, 0x0004_0002, 0, 0, 65535, 1] {
        p.extend_from_slice(&v.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        for v in [i as u32, 0, f.len() as u32, f.len() as u32] {
            p.extend_from_slice(&v.to_le_bytes());
        }
        p.extend_from_slice(f);
    }
    p
}

/// tshark -V's text of each frame.
fn dissect(frames: &[Vec<u8>]) -> Vec<String> {
    let path = std::env::temp_dir().join(format!("takt-ptp-core-wire-{}.pcap", std::process::id()));
    std::fs::write(&path, pcap(frames)).expect("write pcap");
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .arg("-V")
        .output()
        .expect("run tshark");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let blocks: Vec<String> = text
        .split("\nFrame ")
        .map(|b| b.to_string())
        .filter(|b| b.contains("Precision Time Protocol") || b.contains("Ethernet II"))
        .collect();
    assert_eq!(blocks.len(), frames.len(), "{text}");
    blocks
}

/// What a gPTP master and slave and a 1588 master and slave send.
fn own_frames() -> Vec<(Profile, Vec<u8>)> {
    let mut frames = Vec::new();
    let base = 1_796_288_448 * S;
    let mut gm = Bench::new(Profile::Gptp, Role::Master, base);
    gm.core
        .on_frame(&PTP4L_PDELAY_REQ, base, base)
        .expect("Pdelay_Req taken");
    let sent = gm.run(S);
    for t in [0xB, 0x0, 0x8, 0x2, 0x3, 0xA] {
        let f = sent
            .iter()
            .find(|f| ty(f.bytes()) == t)
            .expect("one of each");
        frames.push((Profile::Gptp, f.bytes().to_vec()));
    }
    let mut e2e_master =
        Bench::with_mac(Profile::E2e1588, Role::Master, base, [2, 0, 0, 0xdd, 0, 4]);
    let origin = origin_ns(&PTP4L_E2E_FOLLOW_UP);
    let mut e2e_slave = Bench::new(Profile::E2e1588, Role::Slave, origin - 5 * S);
    e2e_slave.feed(&PTP4L_E2E_ANNOUNCE_0).unwrap();
    e2e_slave.run(2 * S);
    e2e_slave.feed(&PTP4L_E2E_ANNOUNCE_1).unwrap();
    let sent = e2e_slave.run(5 * S);
    let req = sent
        .iter()
        .find(|f| ty(f.bytes()) == 0x1)
        .expect("a Delay_Req");
    let sent_m = e2e_master.run(S);
    e2e_master
        .core
        .on_frame(req.bytes(), base + S, base + S)
        .expect("Delay_Req taken");
    let resp = e2e_master.run(0);
    for t in [0xB, 0x0, 0x8] {
        let f = sent_m
            .iter()
            .find(|f| ty(f.bytes()) == t)
            .expect("one of each");
        frames.push((Profile::E2e1588, f.bytes().to_vec()));
    }
    frames.push((Profile::E2e1588, req.bytes().to_vec()));
    let resp = resp
        .iter()
        .find(|f| ty(f.bytes()) == 0x9)
        .expect("a Delay_Resp");
    frames.push((Profile::E2e1588, resp.bytes().to_vec()));
    frames
}

#[test]
fn wireshark_dissects_the_cores_frames_as_valid_ptp_and_802_1as() {
    if !tshark_available() {
        return;
    }
    let frames = own_frames();
    let bytes: Vec<Vec<u8>> = frames.iter().map(|(_, f)| f.clone()).collect();
    let blocks = dissect(&bytes);
    for ((profile, f), text) in frames.iter().zip(&blocks) {
        let what = format!("{profile:?} messageType {:#x}:\n{text}", ty(f));
        assert!(
            text.contains("Precision Time Protocol (IEEE1588)"),
            "{what}"
        );
        for bad in [
            "Malformed",
            "Expert Info (Error",
            "Expert Info (Warning",
            "[Unknown",
        ] {
            assert!(!text.contains(bad), "{bad}: {what}");
        }
        let length = u16::from_be_bytes([f[16], f[17]]);
        assert!(text.contains(&format!("messageLength: {length}")), "{what}");
        assert!(text.contains("versionPTP: 2"), "{what}");
        match profile {
            Profile::Gptp => assert!(text.contains("majorSdoId: gPTP Domain (0x1)"), "{what}"),
            Profile::E2e1588 => assert!(text.contains("majorSdoId: "), "{what}"),
        }
    }
    let text = |p: Profile, t: u8| {
        frames
            .iter()
            .zip(&blocks)
            .find(|((fp, f), _)| *fp == p && ty(f) == t)
            .map(|(_, b)| b.as_str())
            .expect("dissected")
    };
    let fup = text(Profile::Gptp, 0x8);
    for line in [
        "Follow Up information TLV",
        "tlvType: Organization extension (3)",
        "lengthField: 28",
        "organizationId: 32962", // 00-80-C2
        "OrganizationSubType: 1",
        "messageLength: 76",
        "logMessagePeriod: -3",
    ] {
        assert!(fup.contains(line), "{line}:\n{fup}");
    }
    let announce = text(Profile::Gptp, 0xB);
    assert!(announce.contains("Path trace TLV"), "{announce}");
    assert!(
        announce.contains("PTP_TIMESCALE: False"),
        "ARB with no kernel TAI offset:\n{announce}"
    );
    assert!(text(Profile::Gptp, 0x3).contains("PTP_TWO_STEP: True"));
    assert!(!text(Profile::E2e1588, 0x8).contains("Follow Up information TLV"));
}

#[test]
fn a_master_announces_ptp_time_only_when_the_kernel_knows_the_tai_offset() {
    // ARB: currentUtcOffset is not valid, but 37 keeps a ptp4l slave from
    // warning about a master behind its own utc_offset.
    for (kernel_tai, flags, utc_offset) in [(0, 0x00, 37), (36, 0x0C, 36)] {
        let t = Arc::new(AtomicU64::new(1_796_288_448 * S));
        let clock = DisciplinedClock::new(TimeSource::Manual(Arc::clone(&t)), HostSkew::default());
        let cfg = CoreConfig {
            kernel_tai_offset_s: kernel_tai,
            ..CoreConfig::new(Profile::Gptp, Role::Master, TAKT_MAC)
        };
        let mut core = PtpCore::new(cfg, clock, 0, 1);
        core.on_timers(0);
        let announce = std::iter::from_fn(|| core.pop_tx())
            .find(|f| ty(f.bytes()) == 0xB)
            .expect("a master announces at once");
        let m = announce.message();
        // flagField[1]: PTP_TIMESCALE 0x08, UTC_OFFSET_VALID 0x04.
        assert_eq!(m[7] & 0x0C, flags, "kernel TAI offset {kernel_tai}");
        assert_eq!(i16::from_be_bytes([m[44], m[45]]), utc_offset);
    }
}
