//! The control plane on the simulated wire with a virtual clock: ARP
//! resolves, echo requests are answered, and every frame smoltcp sends
//! departs inside a best-effort window (checked from the sim's arrival
//! timestamps) — including a reply to a request that arrived inside the
//! class 7 window. Polling with traffic allocates nothing.

use std::net::Ipv4Addr;
use std::path::Path;
use takt_drivers::sim::{self, SimClock, SimConfig, SimPort, VirtualClock};
use takt_drivers::{BufId, Counters, DeviceInfo, RingDevice, RxBatch, TxBatch, TxFrame};
use takt_scheduler::rt::{count_allocations, CountingAllocator};
use takt_scheduler::{config, Schedule};
use takt_stack::control::{ControlConfig, ControlStorage, Iface};
use takt_stack::wire;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Cidr, Ipv4Packet, Ipv4Repr,
};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const IP_A: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 1);
const IP_B: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 2);
/// Cycle 4000 of two-class-250us.toml starts here (base time 0).
const T0: u64 = 1_000_000_000;
const CYCLE: u64 = 250_000;

fn schedule() -> Schedule {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/two-class-250us.toml");
    config::load_file(&path).unwrap().schedule
}

fn wire_pair(clock: &VirtualClock) -> (SimPort, SimPort, SimConfig) {
    let cfg = SimConfig {
        clock: SimClock::Virtual(clock.clone()),
        propagation_ns: 500,
        pool_size: 64,
        buf_size: 1536,
        wire_capacity: 64,
        ..SimConfig::default()
    };
    let (a, b, _link) = sim::pair(cfg.clone());
    (a, b, cfg)
}

fn cfg(ip: Ipv4Addr) -> ControlConfig {
    ControlConfig::new(Ipv4Cidr::new(ip, 24))
}

/// A port that notes the arrival time and length of every frame it
/// receives before handing it on: the sim's timestamps are the only record
/// of when a frame was on the wire.
struct Tap<'d> {
    port: &'d mut SimPort,
    arrivals: Vec<(u64, usize)>,
}

impl RingDevice for Tap<'_> {
    fn info(&self) -> &DeviceInfo {
        self.port.info()
    }
    fn counters(&self) -> Counters {
        self.port.counters()
    }
    fn alloc(&mut self) -> Option<BufId> {
        self.port.alloc()
    }
    fn free(&mut self, buf: BufId) {
        self.port.free(buf)
    }
    fn buf(&self, buf: &BufId) -> &[u8] {
        self.port.buf(buf)
    }
    fn owns(&self, buf: &BufId) -> bool {
        self.port.owns(buf)
    }
    fn buf_mut(&mut self, buf: &BufId) -> &mut [u8] {
        self.port.buf_mut(buf)
    }
    fn tx_burst(&mut self, frames: &mut TxBatch) -> usize {
        self.port.tx_burst(frames)
    }
    fn rx_burst(&mut self, out: &mut RxBatch) -> usize {
        let before = out.len();
        let n = self.port.rx_burst(out);
        for f in out.iter().skip(before) {
            self.arrivals.push((f.rx_time_ns, f.len));
        }
        n
    }
}

/// Every arrival left its sender (departure = arrival − serialization −
/// propagation) at a time the best-effort gate allowed, IFG included.
fn assert_departed_in_best_effort(s: &Schedule, sim: &SimConfig, arrivals: &[(u64, usize)]) {
    let gate = takt_stack::control::gate::BestEffortGate::new(s, None).unwrap();
    for &(rx, len) in arrivals {
        let dep = rx - sim.propagation_ns - sim.serialization_ns(len);
        assert!(
            gate.may_release(s, dep, len),
            "frame of {len} bytes departed at {} ns into its cycle",
            dep % CYCLE
        );
    }
}

#[test]
fn two_interfaces_resolve_arp_and_ping_in_best_effort_windows() {
    let s = schedule();
    // Start inside the class 7 window: nothing may leave before 80 us.
    let clock = VirtualClock::new(T0 + 5_000);
    let (mut a, mut b, sim_cfg) = wire_pair(&clock);
    let (mut sa, mut sb) = (ControlStorage::default(), ControlStorage::default());
    let mut ia = Iface::new(&mut sa, cfg(IP_A), &s, &mut a, clock.now()).unwrap();
    let mut ib = Iface::new(&mut sb, cfg(IP_B), &s, &mut b, clock.now()).unwrap();
    assert_eq!(ia.best_effort_class(), Some(0));

    let ident = 0x7a4b;
    ia.icmp_socket()
        .bind(smoltcp::socket::icmp::Endpoint::Ident(ident))
        .unwrap();
    send_echo(&mut ia, ident, 1, b"takt ping");

    let (mut ta, mut tb) = (
        Tap {
            port: &mut a,
            arrivals: vec![],
        },
        Tap {
            port: &mut b,
            arrivals: vec![],
        },
    );
    // The ARP request is queued in the class 7 window: poll_at names the
    // opening of best effort, not smoltcp's own (later) timers.
    ia.poll(clock.now(), &mut ta, &s);
    assert_eq!(ia.queued(), 1);
    assert_eq!(ia.poll_at(clock.now(), &s), Some(T0 + 80_000));
    let mut reply = None;
    for _ in 0..2_000 {
        ia.poll(clock.now(), &mut ta, &s);
        ib.poll(clock.now(), &mut tb, &s);
        if let Ok((data, from)) = ia.icmp_socket().recv() {
            reply = Some((clock.now(), data.to_vec(), from));
            break;
        }
        clock.advance(1_000);
    }
    let (when, data, from) = reply.expect("no echo reply within 2 ms");
    assert_eq!(from, smoltcp::wire::IpAddress::Ipv4(IP_B));
    let echo = Icmpv4Repr::parse(
        &Icmpv4Packet::new_checked(&data[..]).unwrap(),
        &ChecksumCapabilities::default(),
    )
    .unwrap();
    assert!(matches!(
        echo,
        Icmpv4Repr::EchoReply { ident: i, seq_no: 1, data: d } if i == ident && d == b"takt ping"
    ));
    // ARP request, ARP reply, echo request, echo reply: two each way.
    assert_eq!((ta.arrivals.len(), tb.arrivals.len()), (2, 2));
    assert!(when > T0 + 80_000, "nothing before the best-effort window");
    assert_departed_in_best_effort(&s, &sim_cfg, &ta.arrivals);
    assert_departed_in_best_effort(&s, &sim_cfg, &tb.arrivals);
    assert_eq!(ia.counters().tx_frames, 2);
    assert_eq!(ib.counters().tx_frames, 2);
    assert_eq!(
        (a.outstanding(), b.outstanding()),
        (0, 0),
        "no buffer leaks"
    );
}

fn send_echo(iface: &mut Iface<'_>, ident: u16, seq_no: u16, data: &[u8]) {
    let repr = Icmpv4Repr::EchoRequest {
        ident,
        seq_no,
        data,
    };
    let buf = iface
        .icmp_socket()
        .send(repr.buffer_len(), IP_B.into())
        .unwrap();
    repr.emit(
        &mut Icmpv4Packet::new_unchecked(buf),
        &ChecksumCapabilities::default(),
    );
}

// ---- an Iface against hand-built frames ----

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

/// Send `build`'s frame from the raw port, leaving at `launch_ns`.
fn send_raw(port: &mut SimPort, launch_ns: u64, build: impl FnOnce(&mut [u8]) -> usize) {
    let buf = port.alloc().unwrap();
    let len = build(port.buf_mut(&buf));
    let mut batch = TxBatch::new();
    batch
        .push_back(TxFrame {
            buf,
            len,
            launch_time_ns: Some(launch_ns),
            stamp_tag: None,
        })
        .unwrap();
    assert_eq!(port.tx_burst(&mut batch), 1);
}

fn arp_request(buf: &mut [u8]) -> usize {
    let eth = EthernetRepr {
        src_addr: EthernetAddress(MAC_A),
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Arp,
    };
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(MAC_A),
        source_protocol_addr: IP_A,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: IP_B,
    };
    let len = eth.buffer_len() + arp.buffer_len();
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..len]);
    eth.emit(&mut frame);
    arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
    len.max(60)
}

fn echo_request(buf: &mut [u8]) -> usize {
    let caps = ChecksumCapabilities::default();
    let icmp = Icmpv4Repr::EchoRequest {
        ident: 1,
        seq_no: 9,
        data: &[0x5a; 1000],
    };
    let ip = Ipv4Repr {
        src_addr: IP_A,
        dst_addr: IP_B,
        next_header: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        hop_limit: 64,
    };
    let eth = EthernetRepr {
        src_addr: EthernetAddress(MAC_A),
        dst_addr: EthernetAddress(MAC_B),
        ethertype: EthernetProtocol::Ipv4,
    };
    let len = eth.buffer_len() + ip.buffer_len() + icmp.buffer_len();
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..len]);
    eth.emit(&mut frame);
    let mut pkt = Ipv4Packet::new_unchecked(frame.payload_mut());
    ip.emit(&mut pkt, &caps);
    icmp.emit(&mut Icmpv4Packet::new_unchecked(pkt.payload_mut()), &caps);
    len
}

/// Frames the raw port has received: (arrival, bytes).
fn recv_raw(port: &mut SimPort) -> Vec<(u64, Vec<u8>)> {
    let mut out = RxBatch::new();
    port.rx_burst(&mut out);
    out.into_iter()
        .map(|f| {
            let bytes = port.buf(&f.buf)[..f.len].to_vec();
            port.free(f.buf);
            (f.rx_time_ns, bytes)
        })
        .collect()
}

#[test]
fn a_reply_to_a_request_inside_the_class_7_window_waits_for_best_effort() {
    let s = schedule();
    let clock = VirtualClock::new(T0 + 100_000);
    let (mut raw, mut b, sim_cfg) = wire_pair(&clock);
    let mut sb = ControlStorage::default();
    let mut ib = Iface::new(&mut sb, cfg(IP_B), &s, &mut b, clock.now()).unwrap();

    // ARP first (in best effort): B answers and learns A's MAC.
    send_raw(&mut raw, clock.now(), arp_request);
    clock.advance(5_000);
    ib.poll(clock.now(), &mut b, &s);
    clock.advance(5_000);
    let got = recv_raw(&mut raw);
    assert_eq!(got.len(), 1);
    let eth = EthernetFrame::new_checked(&got[0].1[..]).unwrap();
    assert_eq!(eth.ethertype(), EthernetProtocol::Arp);
    let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
    assert!(matches!(
        arp,
        ArpRepr::EthernetIpv4 { operation: ArpOperation::Reply, source_hardware_addr, .. }
            if source_hardware_addr == EthernetAddress(MAC_B)
    ));

    // A takt stream frame (skipped, not smoltcp's) and a 1000-byte echo
    // request sent into the next cycle's class 7 window.
    let next = T0 + CYCLE;
    send_raw(&mut raw, next + 1_000, |buf| {
        let fields = wire::StreamFrameFields {
            dst: MAC_B,
            src: MAC_A,
            vlan: Some(wire::Vlan {
                pcp: 7,
                dei: false,
                vid: 100,
            }),
            stream_id: 0,
            sequence: 0,
            launch_ns: next + 1_000,
            tx_ns: next + 1_000,
            tx_hw_timestamp: false,
            epoch: 1,
        };
        wire::encode(buf, &fields, 124).unwrap()
    });
    send_raw(&mut raw, next + 2_000, echo_request);
    let mut arrivals = vec![];
    clock.set(next + 12_000); // both in, class 7 open
    for _ in 0..400 {
        ib.poll(clock.now(), &mut b, &s);
        arrivals.extend(recv_raw(&mut raw));
        clock.advance(500);
    }
    assert_eq!(ib.counters().stream_frames_skipped, 1);
    assert_eq!(arrivals.len(), 1, "one echo reply");
    let (rx, reply) = &arrivals[0];
    let dep = rx - sim_cfg.propagation_ns - sim_cfg.serialization_ns(reply.len());
    assert!(
        (next + 80_000..next + 81_000).contains(&dep),
        "reply left at {} ns into the cycle, wanted the start of best effort (80 us)",
        dep - next
    );
    assert_departed_in_best_effort(&s, &sim_cfg, &[(*rx, reply.len())]);

    // A request arriving 5 us before best effort closes (237.5 us): the
    // 1042-byte reply needs 8.528 us of wire, so it waits for the next
    // cycle's window instead of running into the guard band.
    let next = T0 + 3 * CYCLE;
    let arrive = next + 232_500;
    let request_wire = sim_cfg.serialization_ns(1042) + sim_cfg.propagation_ns;
    send_raw(&mut raw, arrive - request_wire, echo_request);
    clock.set(arrive);
    let mut arrivals = vec![];
    for _ in 0..400 {
        ib.poll(clock.now(), &mut b, &s);
        arrivals.extend(recv_raw(&mut raw));
        clock.advance(500);
    }
    assert_eq!(arrivals.len(), 1, "one echo reply");
    let (rx, reply) = &arrivals[0];
    assert_eq!(reply.len(), 1042);
    let dep = rx - sim_cfg.propagation_ns - sim_cfg.serialization_ns(reply.len());
    assert!(
        (next + CYCLE + 80_000..next + CYCLE + 81_000).contains(&dep),
        "reply left at {} ns after the request's cycle, wanted the next best-effort window",
        dep - next
    );
    assert_eq!(b.outstanding(), 0);
}

#[test]
fn polling_with_traffic_allocates_nothing() {
    let s = schedule();
    let clock = VirtualClock::new(T0);
    let (mut a, mut b, _) = wire_pair(&clock);
    let (mut sa, mut sb) = (ControlStorage::default(), ControlStorage::default());
    let mut ia = Iface::new(&mut sa, cfg(IP_A), &s, &mut a, clock.now()).unwrap();
    let mut ib = Iface::new(&mut sb, cfg(IP_B), &s, &mut b, clock.now()).unwrap();
    let ident = 0x0a0b;
    ia.icmp_socket()
        .bind(smoltcp::socket::icmp::Endpoint::Ident(ident))
        .unwrap();

    // One ping until its reply: set-up (ARP) plus the measured loop body.
    let mut ping = |seq: u16, ia: &mut Iface<'_>, ib: &mut Iface<'_>| -> bool {
        send_echo(ia, ident, seq, b"counted");
        for _ in 0..2_000 {
            ia.poll(clock.now(), &mut a, &s);
            ib.poll(clock.now(), &mut b, &s);
            clock.advance(1_000);
            if ia.icmp_socket().recv().is_ok() {
                return true;
            }
        }
        false
    };
    assert!(ping(0, &mut ia, &mut ib), "warm-up ping (ARP) answered");
    assert!(takt_scheduler::rt::allocation_counting_active());
    const PINGS: u16 = 200;
    let (answered, counts) = count_allocations(|| {
        (1..=PINGS)
            .filter(|&seq| ping(seq, &mut ia, &mut ib))
            .count()
    });
    assert_eq!(answered, usize::from(PINGS));
    assert_eq!(
        (counts.allocs, counts.frees),
        (0, 0),
        "heap operations while polling"
    );
    assert!(ib.counters().tx_frames > u64::from(PINGS));
}
