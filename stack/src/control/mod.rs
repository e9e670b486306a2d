//! The control plane: a smoltcp interface (ARP, ICMP echo) on the same
//! `RingDevice` as the streams, held to the best-effort gate.
//!
//! `device.rs` is smoltcp's view of the ring, `queue.rs` holds smoltcp's
//! frames until `gate.rs` lets them go. [`Iface::poll`] is meant to run in
//! the data-path loop's idle time; [`Iface::poll_at`] says when it next has
//! something to do. Everything is sized at set-up: sockets and their
//! buffers live in a [`ControlStorage`] the caller owns, so polling
//! allocates nothing.

pub mod device;
pub mod gate;
pub mod queue;

use crate::wire::{ETHERTYPE_TAKT, TPID_8021Q};
use device::RingPhy;
use gate::BestEffortGate;
use queue::TxQueue;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::icmp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Cidr};
use takt_drivers::{RingDevice, RxBatch, TxBatch, TxFrame};
use takt_scheduler::Schedule;

/// Frames smoltcp may have waiting for the gate.
pub const TX_QUEUE_LEN: usize = 16;
/// Socket slots (one ICMP socket today; UDP services come later).
const SOCKETS: usize = 4;
/// ICMP packets each direction of the ICMP socket holds.
const ICMP_PACKETS: usize = 4;
/// Bytes of ICMP payload each direction holds.
const ICMP_BYTES: usize = 2048;

/// The memory of the control plane's sockets, fixed at compile time and
/// borrowed by [`Iface`] (smoltcp without `alloc` only borrows storage).
pub struct ControlStorage<'a> {
    sockets: [SocketStorage<'a>; SOCKETS],
    icmp_rx_meta: [icmp::PacketMetadata; ICMP_PACKETS],
    icmp_rx: [u8; ICMP_BYTES],
    icmp_tx_meta: [icmp::PacketMetadata; ICMP_PACKETS],
    icmp_tx: [u8; ICMP_BYTES],
}

impl Default for ControlStorage<'_> {
    fn default() -> Self {
        ControlStorage {
            sockets: [SocketStorage::EMPTY; SOCKETS],
            icmp_rx_meta: [icmp::PacketMetadata::EMPTY; ICMP_PACKETS],
            icmp_rx: [0; ICMP_BYTES],
            icmp_tx_meta: [icmp::PacketMetadata::EMPTY; ICMP_PACKETS],
            icmp_tx: [0; ICMP_BYTES],
        }
    }
}

/// What the control plane is told at set-up.
#[derive(Clone, Copy, Debug)]
pub struct ControlConfig {
    /// Its IPv4 address and prefix.
    pub ipv4: Ipv4Cidr,
    /// The traffic class whose gate smoltcp's frames wait for; `None` =
    /// the lowest-priority class that opens somewhere in the cycle.
    pub best_effort_class: Option<u8>,
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
}

/// Running totals of the control plane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlCounters {
    /// Frames handed to smoltcp.
    pub rx_frames: u64,
    /// takt stream frames `poll` drained and gave back (until the
    /// listener hands the control plane only what is not its own).
    pub stream_frames_skipped: u64,
    /// Frames released to the ring through the gate.
    pub tx_frames: u64,
    /// Frames smoltcp sent when its queue was full.
    pub tx_queue_drops: u64,
    /// Released frames the device had no buffer or ring room for.
    pub tx_device_drops: u64,
}

/// A smoltcp interface over a `RingDevice`, sending only in best-effort
/// windows.
pub struct Iface<'a> {
    iface: Interface,
    sockets: SocketSet<'a>,
    icmp: SocketHandle,
    gate: BestEffortGate<'a>,
    tx: TxQueue<TX_QUEUE_LEN>,
    rx: RxBatch,
    out: TxBatch,
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
        schedule: &'a Schedule,
        dev: &mut dyn RingDevice,
        now_ns: u64,
    ) -> Result<Self, ControlError> {
        let gate = BestEffortGate::new(schedule, cfg.best_effort_class).ok_or(
            match cfg.best_effort_class {
                Some(c) => ControlError::ClassNeverOpens(c),
                None => ControlError::NoBestEffortClass,
            },
        )?;
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(dev.info().mac)));
        // ARP and ICMP use no randomness; the seed only matters for TCP/DNS.
        config.random_seed = now_ns;
        let (mut rx, mut tx) = (RxBatch::new(), TxQueue::default());
        let mut phy = RingPhy::<TX_QUEUE_LEN> {
            dev,
            rx: &mut rx,
            tx: &mut tx,
        };
        let mut iface = Interface::new(config, &mut phy, instant(now_ns));
        iface.update_ip_addrs(|addrs| {
            // Room for IFACE_MAX_ADDR_COUNT (>= 1) addresses: cannot fail.
            let _ = addrs.push(IpCidr::Ipv4(cfg.ipv4));
        });
        let ControlStorage {
            sockets,
            icmp_rx_meta,
            icmp_rx,
            icmp_tx_meta,
            icmp_tx,
        } = storage;
        let mut sockets = SocketSet::new(&mut sockets[..]);
        let icmp = sockets.add(icmp::Socket::new(
            icmp::PacketBuffer::new(&mut icmp_rx_meta[..], &mut icmp_rx[..]),
            icmp::PacketBuffer::new(&mut icmp_tx_meta[..], &mut icmp_tx[..]),
        ));
        Ok(Iface {
            iface,
            sockets,
            icmp,
            gate,
            tx,
            rx,
            out: TxBatch::new(),
            wire_free_at_ns: 0,
            counters: ControlCounters::default(),
        })
    }

    /// The interface's ICMP socket (unbound: echo requests to this
    /// interface are answered by smoltcp itself; bind it to ping others).
    pub fn icmp_socket(&mut self) -> &mut icmp::Socket<'a> {
        self.sockets.get_mut(self.icmp)
    }

    pub fn best_effort_class(&self) -> u8 {
        self.gate.class()
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

    /// Receive what `dev` has, let smoltcp process it and its timers, and
    /// release waiting frames whose whole time on the wire falls inside a
    /// best-effort window. `now_ns` is on the schedule's clock.
    pub fn poll(&mut self, now_ns: u64, dev: &mut dyn RingDevice) {
        dev.rx_burst(&mut self.rx);
        self.skip_stream_frames(dev);
        self.counters.rx_frames += self.rx.len() as u64;
        let mut phy = RingPhy {
            dev: &mut *dev,
            rx: &mut self.rx,
            tx: &mut self.tx,
        };
        self.iface
            .poll(instant(now_ns), &mut phy, &mut self.sockets);
        self.release(now_ns, dev);
    }

    /// When `poll` next has work: smoltcp's next timer, or the time the
    /// oldest waiting frame may go. `None`: nothing until a frame arrives.
    pub fn poll_at(&mut self, now_ns: u64) -> Option<u64> {
        let smol = self
            .iface
            .poll_at(instant(now_ns), &self.sockets)
            .map(|t| u64::try_from(t.total_micros()).unwrap_or(0) * 1_000);
        let gate = self.tx.front().and_then(|f| {
            self.gate
                .next_release(now_ns.max(self.wire_free_at_ns), f.len())
        });
        match (smol, gate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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
    fn release(&mut self, now_ns: u64, dev: &mut dyn RingDevice) {
        let mut t = now_ns.max(self.wire_free_at_ns);
        while let Some(frame) = self.tx.front() {
            if self.out.is_full() || !self.gate.may_release(t, frame.len()) {
                break;
            }
            let Some(buf) = dev.alloc() else { break };
            let len = frame.len().min(dev.info().buf_size);
            dev.buf_mut(&buf)[..len].copy_from_slice(&frame[..len]);
            t += self.gate.wire_time_ns(len);
            // Checked not full above.
            let _ = self.out.push_back(TxFrame {
                buf,
                len,
                launch_time_ns: None,
            });
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
