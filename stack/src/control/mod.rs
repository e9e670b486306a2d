//! The control plane: a smoltcp interface (ARP, ICMP echo) on the same
//! `RingDevice` as the streams, held to the best-effort gate.
//!
//! `device.rs` is smoltcp's view of the ring, `queue.rs` holds smoltcp's
//! frames until `gate.rs` lets them go. [`Iface::poll`] is meant to run in
//! the data-path loop's idle time; [`Iface::poll_at`] says when it next has
//! something to do. Everything is sized at set-up: sockets and their
//! buffers live in a [`ControlStorage`] the caller owns, so polling
//! allocates nothing.

pub mod auth;
pub mod device;
pub mod fragments;
pub mod gate;
pub mod plane;
pub mod queue;
pub mod refusal;
pub mod service;

use crate::clock::SchedClock;
use crate::wire::{ETHERTYPE_TAKT, TPID_8021Q};
use device::RingPhy;
use fragments::{Screen, Verdict};
use gate::BestEffortGate;
use queue::TxQueue;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::{icmp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, IpEndpoint, Ipv4Address};
use takt_drivers::{RingDevice, RxBatch, RxFrame, TxBatch, TxFrame};
use takt_scheduler::Schedule;

/// An IPv4 address with its prefix length (smoltcp's type).
pub use smoltcp::wire::Ipv4Cidr;

/// Frames smoltcp may have waiting for the gate: room for one status reply
/// of [`queue::MAX_FRAME`]-sized IPv4 fragments.
pub const TX_QUEUE_LEN: usize = 16;
/// Received frames one poll hands smoltcp at most (a few microseconds of
/// work each): the rest wait for the next poll, so a flood cannot hold the
/// data-path loop past its budget.
pub const RX_PER_POLL: usize = 8;
/// Sockets the service's replies go out through, each holding one reply.
/// A reply to an address that does not resolve (ARP) blocks only its own
/// socket until [`REPLY_TIMEOUT_NS`], never the replies behind it.
pub const REPLY_SOCKETS: usize = 4;
/// A reply not on its way this long after it was queued (its receiver's
/// address did not resolve) is dropped and counted.
pub const REPLY_TIMEOUT_NS: u64 = 1_000_000_000;
/// A partly received IPv4 datagram is dropped this long after its first
/// fragment (smoltcp's default is 60 s, with one buffer: one stray
/// fragment blocked every fragmented request for a minute).
pub const REASSEMBLY_TIMEOUT_NS: u64 = 1_000_000_000;
/// Bytes one reply socket holds: the largest reply.
const REPLY_BYTES: usize = 16 * 1024;
/// Socket slots: one ICMP, one UDP (requests), the reply sockets.
const SOCKETS: usize = 2 + REPLY_SOCKETS;
/// ICMP packets each direction of the ICMP socket holds.
const ICMP_PACKETS: usize = 4;
/// Bytes of ICMP payload each direction holds.
const ICMP_BYTES: usize = 2048;
/// UDP datagrams each direction of the service socket holds.
const UDP_PACKETS: usize = 4;
/// Bytes of UDP payload each direction holds: two of the largest
/// datagrams smoltcp reassembles (16 KiB).
const UDP_BYTES: usize = 32 * 1024;

/// The memory of the control plane's sockets, fixed at compile time and
/// borrowed by [`Iface`] (smoltcp without `alloc` only borrows storage).
pub struct ControlStorage<'a> {
    sockets: [SocketStorage<'a>; SOCKETS],
    icmp_rx_meta: [icmp::PacketMetadata; ICMP_PACKETS],
    icmp_rx: [u8; ICMP_BYTES],
    icmp_tx_meta: [icmp::PacketMetadata; ICMP_PACKETS],
    icmp_tx: [u8; ICMP_BYTES],
    udp_rx_meta: [udp::PacketMetadata; UDP_PACKETS],
    udp_rx: [u8; UDP_BYTES],
    udp_tx_meta: [udp::PacketMetadata; UDP_PACKETS],
    udp_tx: [u8; UDP_BYTES],
    reply_meta: [[udp::PacketMetadata; 1]; REPLY_SOCKETS],
    reply_tx: [[u8; REPLY_BYTES]; REPLY_SOCKETS],
}

impl Default for ControlStorage<'_> {
    fn default() -> Self {
        ControlStorage {
            sockets: [SocketStorage::EMPTY; SOCKETS],
            icmp_rx_meta: [icmp::PacketMetadata::EMPTY; ICMP_PACKETS],
            icmp_rx: [0; ICMP_BYTES],
            icmp_tx_meta: [icmp::PacketMetadata::EMPTY; ICMP_PACKETS],
            icmp_tx: [0; ICMP_BYTES],
            udp_rx_meta: [udp::PacketMetadata::EMPTY; UDP_PACKETS],
            udp_rx: [0; UDP_BYTES],
            udp_tx_meta: [udp::PacketMetadata::EMPTY; UDP_PACKETS],
            udp_tx: [0; UDP_BYTES],
            reply_meta: [[udp::PacketMetadata::EMPTY; 1]; REPLY_SOCKETS],
            reply_tx: [[0; REPLY_BYTES]; REPLY_SOCKETS],
        }
    }
}

impl ControlStorage<'static> {
    /// Storage that lives as long as the process, for an `Iface` a
    /// real-time loop keeps for its whole run (set-up only: one per run).
    pub fn leaked() -> &'static mut ControlStorage<'static> {
        Box::leak(Box::default())
    }
}

/// Networks the service takes requests from, at most this many.
pub const MAX_ALLOW: usize = 16;

/// The source addresses the UDP service answers (`[control] allow`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowlist {
    nets: [Ipv4Cidr; MAX_ALLOW],
    len: usize,
}

impl Allowlist {
    /// `None` when there are more than [`MAX_ALLOW`] networks.
    pub fn new(nets: &[Ipv4Cidr]) -> Option<Self> {
        let mut a = Allowlist {
            nets: [Ipv4Cidr::new(Ipv4Address::UNSPECIFIED, 32); MAX_ALLOW],
            len: nets.len(),
        };
        a.nets.get_mut(..nets.len())?.copy_from_slice(nets);
        Some(a)
    }

    /// The network of `cidr` (the default: the port's own subnet).
    pub fn subnet_of(cidr: Ipv4Cidr) -> Self {
        Allowlist {
            nets: [cidr.network(); MAX_ALLOW],
            len: 1,
        }
    }

    pub fn contains(&self, ip: Ipv4Address) -> bool {
        self.nets[..self.len].iter().any(|n| n.contains_addr(&ip))
    }
}

/// What the control plane is told at set-up.
#[derive(Clone, Copy, Debug)]
pub struct ControlConfig {
    /// Its IPv4 address and prefix.
    pub ipv4: Ipv4Cidr,
    /// Default route, if any.
    pub gateway: Option<Ipv4Address>,
    /// The traffic class whose gate smoltcp's frames wait for; `None` =
    /// the lowest-priority class that opens somewhere in the cycle.
    pub best_effort_class: Option<u8>,
    /// Hold frames to the best-effort gate (a talker); `false` sends them
    /// at once (a listener, whose port has no time-critical windows).
    pub gated: bool,
    /// Free time a frame must leave before the gate closes.
    pub guard_band_ns: u64,
    /// UDP port of the status / schedule-change service; `None`: none.
    pub udp_port: Option<u16>,
    /// Who the service answers.
    pub allow: Allowlist,
}

impl ControlConfig {
    /// Address only: gated, default class, no guard band, no UDP service.
    pub fn new(ipv4: Ipv4Cidr) -> Self {
        ControlConfig {
            ipv4,
            gateway: None,
            best_effort_class: None,
            gated: true,
            guard_band_ns: 0,
            udp_port: None,
            allow: Allowlist::subnet_of(ipv4),
        }
    }
}

/// Why the control plane cannot be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error(
        "traffic class {0} never opens in this schedule, so control traffic (ARP, ping) could \
         never be sent: give a class that a gate entry opens, or add a best-effort entry"
    )]
    ClassNeverOpens(u8),
    #[error(
        "no traffic class opens in this schedule, so control traffic (ARP, ping) could never be \
         sent: add a best-effort gate entry (e.g. gates = [0, 1, 2, 3])"
    )]
    NoBestEffortClass,
    #[error("UDP port 0 cannot be served: give a port 1..=65535")]
    BadPort,
}

/// Running totals of the control plane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlCounters {
    /// Frames handed to smoltcp.
    pub rx_frames: u64,
    /// takt stream frames `poll` drained and gave back.
    pub stream_frames_skipped: u64,
    /// Frames fed while smoltcp's receive batch was full (given back).
    pub rx_overflow: u64,
    /// Frames released to the ring through the gate.
    pub tx_frames: u64,
    /// Frames smoltcp sent when its queue was full.
    pub tx_queue_drops: u64,
    /// Released frames the device had no buffer or ring room for.
    pub tx_device_drops: u64,
    /// Replies dropped after [`REPLY_TIMEOUT_NS`] (no ARP answer).
    pub replies_expired: u64,
    /// First fragments of oversize requests that found no room to be
    /// answered (more than [`OVERSIZE_NOTICES`] at once).
    pub oversize_unanswered: u64,
}

/// Oversize requests noticed and not yet taken by the service.
pub const OVERSIZE_NOTICES: usize = 4;

/// A smoltcp interface over a `RingDevice`, sending only in best-effort
/// windows.
pub struct Iface<'a> {
    iface: Interface,
    sockets: SocketSet<'a>,
    icmp: SocketHandle,
    udp: Option<SocketHandle>,
    /// Reply sockets, and when each one's reply was queued.
    replies: heapless::Vec<(SocketHandle, u64), REPLY_SOCKETS>,
    /// The service's address and port, for the fragment screen.
    service: Option<(Ipv4Address, u16)>,
    screen: Screen,
    oversize: heapless::Deque<(IpEndpoint, usize), OVERSIZE_NOTICES>,
    gate: Option<BestEffortGate>,
    tx: TxQueue<TX_QUEUE_LEN>,
    rx: RxBatch,
    out: TxBatch,
    /// Released frames get launch time = release time, decided this far
    /// ahead of now (a device that holds frames until their launch time
    /// and already has the talker's frames queued up to now + lead).
    launch_lead_ns: Option<u64>,
    /// Maps release times (schedule clock) to the device's launch times.
    device_clock: Option<SchedClock>,
    /// When this interface's last released frame (with its IFG) is off the
    /// wire: the next one cannot start before.
    wire_free_at_ns: u64,
    counters: ControlCounters,
}

impl<'a> Iface<'a> {
    /// Set up on `dev` (its MAC becomes the interface's) at time `now_ns`
    /// on the schedule's clock. Allocates nothing itself; callers that
    /// want the (large) `Iface` off the stack box it.
    pub fn new(
        storage: &'a mut ControlStorage<'a>,
        cfg: ControlConfig,
        schedule: &Schedule,
        dev: &mut dyn RingDevice,
        now_ns: u64,
    ) -> Result<Self, ControlError> {
        let gate = BestEffortGate::new(schedule, cfg.best_effort_class)
            .ok_or(match cfg.best_effort_class {
                Some(c) => ControlError::ClassNeverOpens(c),
                None => ControlError::NoBestEffortClass,
            })?
            .with_guard_band(cfg.guard_band_ns);
        if cfg.udp_port == Some(0) {
            return Err(ControlError::BadPort);
        }
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(dev.info().mac)));
        // ARP, ICMP and UDP use no randomness; the seed only matters for TCP/DNS.
        config.random_seed = now_ns;
        let (mut rx, mut tx) = (RxBatch::new(), TxQueue::default());
        let mut phy = RingPhy::<TX_QUEUE_LEN> {
            dev,
            rx: &mut rx,
            tx: &mut tx,
            rx_budget: 0,
        };
        let mut iface = Interface::new(config, &mut phy, instant(now_ns));
        iface.set_reassembly_timeout(smoltcp::time::Duration::from_micros(
            REASSEMBLY_TIMEOUT_NS / 1_000,
        ));
        iface.update_ip_addrs(|addrs| {
            // Room for IFACE_MAX_ADDR_COUNT (>= 1) addresses: cannot fail.
            let _ = addrs.push(IpCidr::Ipv4(cfg.ipv4));
        });
        if let Some(gw) = cfg.gateway {
            // Room for IFACE_MAX_ROUTE_COUNT (>= 1) routes: cannot fail.
            let _ = iface.routes_mut().add_default_ipv4_route(gw);
        }
        let ControlStorage {
            sockets,
            icmp_rx_meta,
            icmp_rx,
            icmp_tx_meta,
            icmp_tx,
            udp_rx_meta,
            udp_rx,
            udp_tx_meta,
            udp_tx,
            reply_meta,
            reply_tx,
        } = storage;
        let mut sockets = SocketSet::new(&mut sockets[..]);
        let icmp = sockets.add(icmp::Socket::new(
            icmp::PacketBuffer::new(&mut icmp_rx_meta[..], &mut icmp_rx[..]),
            icmp::PacketBuffer::new(&mut icmp_tx_meta[..], &mut icmp_tx[..]),
        ));
        let udp = cfg.udp_port.map(|port| {
            let mut sock = udp::Socket::new(
                udp::PacketBuffer::new(&mut udp_rx_meta[..], &mut udp_rx[..]),
                udp::PacketBuffer::new(&mut udp_tx_meta[..], &mut udp_tx[..]),
            );
            // A fresh socket and a non-zero port: bind cannot fail.
            let _ = sock.bind(port);
            sockets.add(sock)
        });
        let mut replies = heapless::Vec::new();
        if let Some(port) = cfg.udp_port {
            // Added after the request socket, which therefore receives every
            // datagram to the port (smoltcp hands it to the first match);
            // these only send.
            for (meta, tx) in reply_meta.iter_mut().zip(reply_tx.iter_mut()) {
                let mut sock = udp::Socket::new(
                    udp::PacketBuffer::new(&mut [][..], &mut [][..]),
                    udp::PacketBuffer::new(&mut meta[..], &mut tx[..]),
                );
                let _ = sock.bind(port);
                // REPLY_SOCKETS slots for REPLY_SOCKETS sockets: cannot fail.
                let _ = replies.push((sockets.add(sock), 0));
            }
        }
        Ok(Iface {
            iface,
            sockets,
            icmp,
            udp,
            replies,
            service: cfg.udp_port.map(|p| (cfg.ipv4.address(), p)),
            screen: Screen::default(),
            oversize: heapless::Deque::new(),
            gate: cfg.gated.then_some(gate),
            tx,
            rx,
            out: TxBatch::new(),
            launch_lead_ns: None,
            device_clock: None,
            wire_free_at_ns: 0,
            counters: ControlCounters::default(),
        })
    }

    /// Give released frames launch times, decided `lead_ns` ahead of now
    /// (for devices that hold frames until their launch time).
    /// `clock` maps the release times (schedule clock) to the device's.
    pub fn set_launch_lead(&mut self, lead_ns: Option<u64>, clock: &SchedClock) {
        self.launch_lead_ns = lead_ns;
        self.device_clock = Some(clock.clone());
    }

    /// Another protocol's frame holds the wire until `t_ns`.
    pub fn wire_busy_until(&mut self, t_ns: u64) {
        self.wire_free_at_ns = self.wire_free_at_ns.max(t_ns);
    }

    /// The interface's ICMP socket (unbound: echo requests to this
    /// interface are answered by smoltcp itself; bind it to ping others).
    pub fn icmp_socket(&mut self) -> &mut icmp::Socket<'a> {
        self.sockets.get_mut(self.icmp)
    }

    /// The best-effort class, `None` when frames are not gated.
    pub fn best_effort_class(&self) -> Option<u8> {
        self.gate.map(|g| g.class())
    }

    pub fn counters(&self) -> ControlCounters {
        ControlCounters {
            tx_queue_drops: self.tx.dropped(),
            ..self.counters
        }
    }

    /// Frames waiting for the gate.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }

    /// When the last released frame (with its IFG) is off the wire.
    pub fn wire_free_at_ns(&self) -> u64 {
        self.wire_free_at_ns
    }

    /// Hand smoltcp a frame the caller received (a listener passes on
    /// what is not a stream frame). Given back to the pool if smoltcp's
    /// batch is full.
    pub fn feed(&mut self, frame: RxFrame, dev: &mut dyn RingDevice) {
        if let Err(f) = self.rx.push_back(frame) {
            dev.free(f.buf);
            self.counters.rx_overflow += 1;
        }
    }

    /// Frames fed and not yet processed.
    pub fn fed(&self) -> usize {
        self.rx.len()
    }

    /// Receive what `dev` has, let smoltcp process it and its timers, and
    /// release waiting frames whose whole time on the wire falls inside a
    /// best-effort window. `now_ns` is on the schedule's clock.
    pub fn poll(&mut self, now_ns: u64, dev: &mut dyn RingDevice, schedule: &Schedule) {
        if !self.rx.is_full() {
            dev.rx_burst(&mut self.rx);
        }
        self.skip_stream_frames(dev);
        self.poll_fed(now_ns, dev, schedule);
    }

    /// As [`poll`](Self::poll), but only the frames given with
    /// [`feed`](Self::feed): the caller owns the device's receive side.
    pub fn poll_fed(&mut self, now_ns: u64, dev: &mut dyn RingDevice, schedule: &Schedule) {
        self.screen_fragments(now_ns, dev);
        self.expire_replies(now_ns);
        self.counters.rx_frames += self.rx.len().min(RX_PER_POLL) as u64;
        let mut phy = RingPhy {
            dev: &mut *dev,
            rx: &mut self.rx,
            tx: &mut self.tx,
            rx_budget: RX_PER_POLL,
        };
        self.iface
            .poll(instant(now_ns), &mut phy, &mut self.sockets);
        self.release(now_ns, dev, schedule);
    }

    /// When `poll` next has work: smoltcp's next timer, or the time the
    /// oldest waiting frame may go. `None`: nothing until a frame arrives.
    pub fn poll_at(&mut self, now_ns: u64, schedule: &Schedule) -> Option<u64> {
        let smol = self
            .iface
            .poll_at(instant(now_ns), &self.sockets)
            .map(|t| u64::try_from(t.total_micros()).unwrap_or(0) * 1_000);
        if !self.rx.is_empty() {
            return Some(now_ns); // frames left over from the last poll
        }
        let start = self.earliest_start(now_ns);
        let lead = start - now_ns;
        let gate = self.tx.front().and_then(|f| match &self.gate {
            Some(g) => g
                .next_release(schedule, start, f.len())
                .map(|t| t.saturating_sub(lead)),
            None => Some(now_ns),
        });
        match (smol, gate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next datagram for the UDP service: `f(payload, sender)`.
    /// `None` when there is none (or no service).
    pub fn udp_recv<R>(&mut self, f: impl FnOnce(&[u8], IpEndpoint) -> R) -> Option<R> {
        self.udp_recv_to(|data, from, _| f(data, from))
    }

    /// As [`udp_recv`](Self::udp_recv), also giving the address the
    /// datagram was sent to (a broadcast or multicast one, or ours).
    pub fn udp_recv_to<R>(
        &mut self,
        f: impl FnOnce(&[u8], IpEndpoint, Option<smoltcp::wire::IpAddress>) -> R,
    ) -> Option<R> {
        let sock = self.sockets.get_mut::<udp::Socket>(self.udp?);
        let (data, meta) = sock.recv().ok()?;
        Some(f(data, meta.endpoint, meta.local_address))
    }

    /// The sender of the next datagram for the UDP service and the address
    /// it was sent to, leaving it queued.
    pub fn udp_peek_to(&mut self) -> Option<(IpEndpoint, Option<smoltcp::wire::IpAddress>)> {
        let sock = self.sockets.get_mut::<udp::Socket>(self.udp?);
        let (_, meta) = sock.peek().ok()?;
        Some((meta.endpoint, meta.local_address))
    }

    /// An oversize request seen by its first fragment: its sender and size.
    pub fn take_oversize(&mut self) -> Option<(IpEndpoint, usize)> {
        self.oversize.pop_front()
    }

    /// Queue a reply on a reply socket that holds none; false when all
    /// four hold one (or there is no service).
    pub fn reply_send(&mut self, data: &[u8], to: IpEndpoint, now_ns: u64) -> bool {
        for (h, queued_at) in self.replies.iter_mut() {
            let sock = self.sockets.get_mut::<udp::Socket>(*h);
            if sock.send_queue() == 0 {
                *queued_at = now_ns;
                return sock.send_slice(data, to).is_ok();
            }
        }
        false
    }

    /// Drop replies that waited longer than [`REPLY_TIMEOUT_NS`] for their
    /// receiver's address to resolve, freeing their sockets.
    fn expire_replies(&mut self, now_ns: u64) {
        let Some((_, port)) = self.service else {
            return;
        };
        for (h, queued_at) in self.replies.iter() {
            let sock = self.sockets.get_mut::<udp::Socket>(*h);
            if sock.send_queue() > 0 && now_ns.saturating_sub(*queued_at) > REPLY_TIMEOUT_NS {
                // close() empties the buffers; bound again at once.
                sock.close();
                let _ = sock.bind(port);
                self.counters.replies_expired += 1;
            }
        }
    }

    /// Answer oversize requests by their first fragment and drop their
    /// fragments before smoltcp buffers them (`fragments.rs`).
    fn screen_fragments(&mut self, now_ns: u64, dev: &mut dyn RingDevice) {
        let Some((own, port)) = self.service else {
            return;
        };
        let max = service::MAX_REQUEST;
        // All of them, so that their order is kept.
        for _ in 0..self.rx.len() {
            let Some(f) = self.rx.pop_front() else { break };
            let bytes = &dev.buf(&f.buf)[..f.len.min(dev.info().buf_size)];
            match self.screen.judge(bytes, own, port, max, now_ns) {
                Verdict::Pass => {
                    // Popped one just now: there is room.
                    let _ = self.rx.push_back(f);
                    continue;
                }
                Verdict::Oversize { from, len } => {
                    if self.oversize.push_back((from, len)).is_err() {
                        self.counters.oversize_unanswered += 1;
                    }
                }
                Verdict::Drop => {}
            }
            dev.free(f.buf);
        }
    }

    /// Queue a UDP datagram from the service port; false when the socket's
    /// buffer has no room (or there is no service).
    pub fn udp_send(&mut self, data: &[u8], to: IpEndpoint) -> bool {
        let Some(h) = self.udp else { return false };
        self.sockets
            .get_mut::<udp::Socket>(h)
            .send_slice(data, to)
            .is_ok()
    }

    /// The first instant a frame released now could start on the wire.
    fn earliest_start(&self, now_ns: u64) -> u64 {
        now_ns
            .saturating_add(self.launch_lead_ns.unwrap_or(0))
            .max(self.wire_free_at_ns)
    }

    /// Give takt stream frames back to the pool, keeping the rest in order.
    fn skip_stream_frames(&mut self, dev: &mut dyn RingDevice) {
        for _ in 0..self.rx.len() {
            let Some(f) = self.rx.pop_front() else { break };
            if is_stream_frame(&dev.buf(&f.buf)[..f.len.min(dev.info().buf_size)]) {
                dev.free(f.buf);
                self.counters.stream_frames_skipped += 1;
            } else {
                // Popped one just now: there is room.
                let _ = self.rx.push_back(f);
            }
        }
    }

    /// Move queued frames to the ring, oldest first, while each one (after
    /// the ones before it) fits the open best-effort window.
    fn release(&mut self, now_ns: u64, dev: &mut dyn RingDevice, schedule: &Schedule) {
        let mut t = self.earliest_start(now_ns);
        while let Some(frame) = self.tx.front() {
            if self.out.is_full() {
                break;
            }
            if let Some(g) = &self.gate {
                if !g.may_release(schedule, t, frame.len()) {
                    break;
                }
            }
            let Some(buf) = dev.alloc() else { break };
            let len = frame.len().min(dev.info().buf_size);
            dev.buf_mut(&buf)[..len].copy_from_slice(&frame[..len]);
            // Checked not full above.
            let _ = self.out.push_back(TxFrame {
                buf,
                len,
                launch_time_ns: self
                    .launch_lead_ns
                    .map(|_| self.device_clock.as_ref().map_or(t, |c| c.to_device(t))),
                stamp_tag: None,
            });
            t += gate::wire_time_ns(schedule, len);
            self.tx.pop_front();
        }
        if self.out.is_empty() {
            return;
        }
        self.wire_free_at_ns = t;
        let sent = dev.tx_burst(&mut self.out);
        self.counters.tx_frames += sent as u64;
        // A frame the ring refused would leave later than the gate allowed:
        // drop it rather than send it into another class's window.
        while let Some(f) = self.out.pop_front() {
            dev.free(f.buf);
            self.counters.tx_device_drops += 1;
        }
    }
}

/// EtherType 0x88B5, untagged or inside one 802.1Q tag: a takt stream
/// frame, which is never smoltcp's business.
pub fn is_stream_frame(frame: &[u8]) -> bool {
    let be16 = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    match be16(12) {
        Some(TPID_8021Q) => be16(16) == Some(ETHERTYPE_TAKT),
        et => et == Some(ETHERTYPE_TAKT),
    }
}

/// smoltcp counts in microseconds; takt in nanoseconds on the schedule
/// clock (TAI: 2^63 us is far beyond any date this will run at).
fn instant(now_ns: u64) -> Instant {
    Instant::from_micros(i64::try_from(now_ns / 1_000).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_frames_are_told_apart_by_ethertype_tagged_or_not() {
        let mut f = [0u8; 60];
        f[12..14].copy_from_slice(&ETHERTYPE_TAKT.to_be_bytes());
        assert!(is_stream_frame(&f), "untagged");
        f[12..14].copy_from_slice(&TPID_8021Q.to_be_bytes());
        f[16..18].copy_from_slice(&ETHERTYPE_TAKT.to_be_bytes());
        assert!(is_stream_frame(&f), "in an 802.1Q tag");
        f[16..18].copy_from_slice(&0x0806u16.to_be_bytes());
        assert!(!is_stream_frame(&f), "tagged ARP is smoltcp's");
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        assert!(!is_stream_frame(&f), "IPv4 is smoltcp's");
        assert!(!is_stream_frame(&f[..13]), "runt");
        assert!(!is_stream_frame(&[0x81, 0, 0x88, 0xb5][..]), "runt");
    }

    #[test]
    fn instants_are_microseconds_of_the_schedule_clock() {
        assert_eq!(instant(1_234_567_999).total_micros(), 1_234_567);
        assert_eq!(instant(u64::MAX).total_micros(), (u64::MAX / 1_000) as i64);
    }
}
