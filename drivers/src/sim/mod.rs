//! The simulated wire: two ports in one process, full duplex.
//!
//! A frame leaves its port at its launch time (or when queued, if later, or
//! when the wire is free, if later still: so an overbooked schedule shows as
//! latency), takes its serialization time at the link speed plus the
//! propagation delay, and is timestamped on arrival when its last bit is in
//! (store and forward). The clock is a real one by default, or a virtual one
//! that a test moves by hand.
//!
//! Transmit stamps are exact: a frame that asks for one is stamped when its
//! first bit after the SFD is on the wire (departure + preamble and SFD at
//! the link speed). They are known when `tx_burst` takes the frame and wait
//! in a queue as deep as the wire (`wire_capacity`) until `tx_stamps`.
//!
//! Faults ([`LinkFaults`], per direction) make the wire lossy, slow or
//! down for a while, deterministically: losses and jitter come from a seeded
//! generator, one draw pair per frame offered (when loss or jitter is set),
//! so the same seed and the same frames give the same result every run;
//! outages are judged on a frame's departure, which on the sim is its launch
//! time, so they hold on a real clock too. Delayed frames stay on the wire
//! longer: `wire_capacity` must hold what is in flight over the delay.
//! Where each dropped frame is counted:
//! - outage (or [`SimLink::set_up`]`(false)`): the sender's `tx_drops` (and
//!   `tx_stamps_lost` if it asked for a stamp), `link_down` once per outage
//!   entered; outages also in [`LaneStats::dropped_outage`].
//! - random loss: on the wire, after the sender: the sender counts the frame
//!   sent and gets its stamp; [`LaneStats::lost_random`] counts it.

use crate::pool::{BufId, Pool};
use crate::stamp_queue::StampQueue;
use crate::{
    Capabilities, Counters, DeviceInfo, RingDevice, RxBatch, RxFrame, StampSource, TxBatch,
    TxStamp, TxStampBatch, MAX_BURST,
};
use faults::Rng;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes on the wire that are not in the buffer: preamble + SFD, and FCS.
const PREAMBLE_BYTES: u64 = 8;
const FCS_BYTES: u64 = 4;
/// Inter-frame gap after every frame before the next may start.
const IFG_BYTES: u64 = 12;

/// A clock tests set by hand; shared by every holder of a clone.
#[derive(Clone, Debug, Default)]
pub struct VirtualClock(Arc<AtomicU64>);

impl VirtualClock {
    pub fn new(start_ns: u64) -> Self {
        VirtualClock(Arc::new(AtomicU64::new(start_ns)))
    }
    pub fn now(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
    pub fn set(&self, t_ns: u64) {
        self.0.store(t_ns, Ordering::Release);
    }
    pub fn advance(&self, d_ns: u64) {
        self.0.fetch_add(d_ns, Ordering::AcqRel);
    }
}

#[derive(Clone, Debug)]
pub enum SimClock {
    Real(nix::time::ClockId),
    Virtual(VirtualClock),
}

impl SimClock {
    pub fn now(&self) -> u64 {
        match self {
            SimClock::Real(id) => nix::time::clock_gettime(*id)
                .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
                .unwrap_or(0),
            SimClock::Virtual(v) => v.now(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub speed_bps: u64,
    pub propagation_ns: u64,
    pub clock: SimClock,
    /// Buffers per port.
    pub pool_size: usize,
    /// Bytes per buffer: the largest frame without FCS.
    pub buf_size: usize,
    /// Frames one direction of the wire holds in flight.
    pub wire_capacity: usize,
    /// What the wire does to frames, both directions (see
    /// [`pair_with_faults`] for one set per direction).
    pub faults: LinkFaults,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            speed_bps: 1_000_000_000,
            propagation_ns: 0,
            clock: SimClock::Real(nix::time::ClockId::CLOCK_TAI),
            pool_size: 1024,
            buf_size: 2048,
            wire_capacity: 1024,
            faults: LinkFaults::default(),
        }
    }
}

impl SimConfig {
    /// Time from the first preamble bit to the last FCS bit of a frame whose
    /// buffer holds `len` bytes.
    pub fn serialization_ns(&self, len: usize) -> u64 {
        bits_ns(
            self.speed_bps,
            (len as u64 + PREAMBLE_BYTES + FCS_BYTES) * 8,
        )
    }
}

fn bits_ns(speed_bps: u64, bits: u64) -> u64 {
    (bits as u128 * 1_000_000_000).div_ceil(speed_bps.max(1) as u128) as u64
}

pub mod faults;
mod lane;

pub use faults::{parse_spec, FaultSpecError, LinkFaults};

struct Wire {
    cfg: SimConfig,
    up: AtomicBool,
    /// What the faults did, per sending side (0 = a, 1 = b).
    lanes: [LaneCounters; 2],
}

#[derive(Default)]
struct LaneCounters {
    lost_random: AtomicU64,
    dropped_outage: AtomicU64,
    delayed: AtomicU64,
}

impl LaneCounters {
    fn bump(c: &AtomicU64) {
        // Only the sending port writes; readers want a count, not an order.
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn load(&self) -> LaneStats {
        LaneStats {
            lost_random: self.lost_random.load(Ordering::Relaxed),
            dropped_outage: self.dropped_outage.load(Ordering::Relaxed),
            delayed: self.delayed.load(Ordering::Relaxed),
        }
    }
}

/// What the faults of one direction did to its frames so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaneStats {
    /// Frames lost at random (`loss_ppm`) on the wire.
    pub lost_random: u64,
    /// Frames dropped because they departed during an outage.
    pub dropped_outage: u64,
    /// Frames that arrived later than a perfect wire would have delivered
    /// them (delay, jitter, or held behind a later-arriving frame).
    pub delayed: u64,
}

/// [`LaneStats`] of both directions of one link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub a_to_b: LaneStats,
    pub b_to_a: LaneStats,
}

impl LinkStats {
    /// Both directions added up.
    pub fn total(&self) -> LaneStats {
        let (x, y) = (self.a_to_b, self.b_to_a);
        LaneStats {
            lost_random: x.lost_random + y.lost_random,
            dropped_outage: x.dropped_outage + y.dropped_outage,
            delayed: x.delayed + y.delayed,
        }
    }
}

/// Set the simulated link up or down from outside (fault tests): frames sent
/// while it is down are dropped and counted. Also reads what the faults did.
#[derive(Clone)]
pub struct SimLink(Arc<Wire>);

impl SimLink {
    pub fn set_up(&self, up: bool) {
        self.0.up.store(up, Ordering::Release);
    }

    /// Frames the faults lost, dropped or delayed, per direction.
    pub fn stats(&self) -> LinkStats {
        LinkStats {
            a_to_b: self.0.lanes[0].load(),
            b_to_a: self.0.lanes[1].load(),
        }
    }
}

/// The faults of the direction a port sends in, with their running state.
/// Everything is set up in [`pair_with_faults`]; the data path only reads
/// and bumps numbers.
struct TxFaults {
    loss_ppm: u32,
    delay_ns: u64,
    jitter_ns: u64,
    /// Sorted, merged (start, end) pairs.
    outages: Vec<(u64, u64)>,
    /// Outages whose start some departure has reached (link_down counted).
    entered: usize,
    rng: Rng,
    /// Latest arrival put on the lane: the lane is a FIFO.
    last_arrival_ns: u64,
}

/// Seeds the b-to-a direction apart from a-to-b, so one `LinkFaults` for
/// both directions does not lose the same frames both ways.
const B_TO_A_SEED: u64 = 0xd1b5_4a32_d192_ed03;

impl TxFaults {
    fn new(f: &LinkFaults, side: usize) -> Self {
        TxFaults {
            loss_ppm: f.loss_ppm,
            delay_ns: f.delay_ns,
            jitter_ns: f.jitter_ns,
            outages: f.merged_outages(),
            entered: 0,
            rng: Rng::new(if side == 0 {
                f.seed
            } else {
                f.seed ^ B_TO_A_SEED
            }),
            last_arrival_ns: 0,
        }
    }

    /// This frame's fate: (lost at random, extra delay). Two draws per frame
    /// whenever loss or jitter is set, so a frame's fate depends only on the
    /// seed and its place in the order; none on a wire without them.
    fn draw(&mut self) -> (bool, u64) {
        if self.loss_ppm == 0 && self.jitter_ns == 0 {
            return (false, self.delay_ns);
        }
        let lost = self.rng.below(1_000_000) < u64::from(self.loss_ppm);
        let jitter = self.rng.below(self.jitter_ns.saturating_add(1));
        (lost, self.delay_ns.saturating_add(jitter))
    }

    /// Whether a frame departing at `depart_ns` meets an outage; counts the
    /// outages entered up to then in `link_down`.
    fn in_outage(&mut self, depart_ns: u64, link_down: &mut u64) -> bool {
        if self.outages.is_empty() {
            return false;
        }
        let i = self.outages.partition_point(|o| o.0 <= depart_ns);
        if i > self.entered {
            *link_down += (i - self.entered) as u64;
            self.entered = i;
        }
        i > 0 && depart_ns < self.outages[i - 1].1
    }

    /// When a frame that a perfect wire delivers at `arrival_ns` arrives:
    /// delayed by `extra_ns`, and never before the frame ahead of it.
    fn arrival(&mut self, arrival_ns: u64, extra_ns: u64) -> u64 {
        let t = arrival_ns
            .saturating_add(extra_ns)
            .max(self.last_arrival_ns);
        self.last_arrival_ns = t;
        t
    }
}

/// One end of the simulated wire.
pub struct SimPort {
    info: DeviceInfo,
    wire: Arc<Wire>,
    tx: lane::Producer,
    rx: lane::Consumer,
    /// When this port's transmitter may start its next frame (after the IFG).
    tx_free_at_ns: u64,
    /// 0 for a, 1 for b: which of the wire's lane counters this port bumps.
    side: usize,
    faults: TxFaults,
    pool: Pool,
    mem: Vec<u8>,
    counters: Counters,
    /// Transmit stamps not yet handed out.
    stamps: StampQueue,
}

/// Two ports joined by a wire, plus a handle to pull the link down. Both
/// directions get `cfg.faults`.
pub fn pair(cfg: SimConfig) -> (SimPort, SimPort, SimLink) {
    let f = cfg.faults.clone();
    pair_with_faults(cfg, f.clone(), f)
}

/// Two ports joined by a wire whose directions have faults of their own
/// (`cfg.faults` is not used).
pub fn pair_with_faults(
    cfg: SimConfig,
    a_to_b_faults: LinkFaults,
    b_to_a_faults: LinkFaults,
) -> (SimPort, SimPort, SimLink) {
    let (a_to_b, b_from_a) = lane::lane(cfg.wire_capacity, cfg.buf_size);
    let (b_to_a, a_from_b) = lane::lane(cfg.wire_capacity, cfg.buf_size);
    let wire = Arc::new(Wire {
        up: AtomicBool::new(true),
        cfg,
        lanes: Default::default(),
    });
    let faults = [a_to_b_faults, b_to_a_faults];
    let port = |side: usize, tx, rx| {
        let cfg = &wire.cfg;
        SimPort {
            info: DeviceInfo {
                name: format!("sim:{}", ["a", "b"][side]),
                mac: [0x02, 0, 0, 0, 0, side as u8 + 1],
                link_speed_bps: cfg.speed_bps,
                buf_size: cfg.buf_size,
                pool_size: cfg.pool_size,
                caps: Capabilities {
                    launch_time: true,
                    rx_stamps: StampSource::Simulated,
                    tx_stamps: StampSource::Simulated,
                    max_batch: MAX_BURST,
                },
                clock: match &cfg.clock {
                    SimClock::Real(id) => Some(*id),
                    SimClock::Virtual(_) => None,
                },
            },
            wire: Arc::clone(&wire),
            tx,
            rx,
            tx_free_at_ns: 0,
            side,
            faults: TxFaults::new(&faults[side], side),
            pool: Pool::new(cfg.pool_size),
            // Not zero: calloc'ed memory is mapped on first touch, and a
            // page fault per new buffer would show up as transmit jitter.
            mem: vec![0xa5; cfg.pool_size * cfg.buf_size],
            counters: Counters::default(),
            stamps: StampQueue::new(cfg.wire_capacity),
        }
    };
    let (a, b) = (port(0, a_to_b, a_from_b), port(1, b_to_a, b_from_a));
    (a, b, SimLink(Arc::clone(&wire)))
}

impl SimPort {
    /// Move the outages of the direction this port sends in by `base_ns`,
    /// before it sends: a caller that builds the wire before it knows when
    /// its run starts gives outages relative to the start (as the spec
    /// parser reads them) and moves them here once it does (`takt
    /// loopback`).
    pub fn shift_outages(&mut self, base_ns: u64) {
        for o in &mut self.faults.outages {
            *o = (o.0.saturating_add(base_ns), o.1.saturating_add(base_ns));
        }
    }

    fn range(&self, buf: &BufId) -> std::ops::Range<usize> {
        let start = buf.index() * self.info.buf_size;
        start..start + self.info.buf_size
    }

    /// Buffers of this port's pool currently handed out (leak checks).
    pub fn outstanding(&self) -> usize {
        self.pool.outstanding()
    }

    fn give_back(&mut self, buf: BufId) {
        // A foreign handle is the caller's bug; keeping it out of this pool
        // is all that can be done without panicking on the data path.
        let _ = self.pool.free(buf);
    }
}

impl RingDevice for SimPort {
    fn owns(&self, buf: &BufId) -> bool {
        self.pool.owns(buf)
    }

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn counters(&self) -> Counters {
        self.counters
    }

    fn alloc(&mut self) -> Option<BufId> {
        let b = self.pool.alloc();
        if b.is_none() {
            self.counters.pool_empty += 1;
        }
        b
    }

    fn free(&mut self, buf: BufId) {
        self.give_back(buf);
    }

    fn buf(&self, buf: &BufId) -> &[u8] {
        &self.mem[self.range(buf)]
    }

    fn buf_mut(&mut self, buf: &BufId) -> &mut [u8] {
        let r = self.range(buf);
        &mut self.mem[r]
    }

    fn tx_burst(&mut self, frames: &mut TxBatch) -> usize {
        let (speed, propagation) = (self.wire.cfg.speed_bps, self.wire.cfg.propagation_ns);
        let up = self.wire.up.load(Ordering::Acquire);
        let now = self.wire.cfg.clock.now();
        let mut sent = 0;
        while !frames.is_empty() {
            if up && self.tx.is_full() {
                self.counters.tx_ring_full += 1;
                break;
            }
            let Some(f) = frames.pop_front() else { break };
            let len = f.len.min(self.info.buf_size);
            let (lost, extra_ns) = self.faults.draw();
            let lanes = &self.wire.lanes[self.side];
            let depart = f
                .launch_time_ns
                .unwrap_or(now)
                .max(now)
                .max(self.tx_free_at_ns);
            let outage = up && self.faults.in_outage(depart, &mut self.counters.link_down);
            if !up || outage {
                // Never on the wire: the transmitter stays free.
                self.counters.tx_drops += 1;
                self.counters.tx_stamps_lost += u64::from(f.stamp_tag.is_some());
                if outage {
                    LaneCounters::bump(&lanes.dropped_outage);
                }
                self.give_back(f.buf);
                continue;
            }
            let bytes = len as u64 + PREAMBLE_BYTES + FCS_BYTES;
            self.tx_free_at_ns = depart + bits_ns(speed, (bytes + IFG_BYTES) * 8);
            if let Some(tag) = f.stamp_tag {
                let time_ns = depart + bits_ns(speed, PREAMBLE_BYTES * 8);
                if !self.stamps.push(TxStamp { tag, time_ns }) {
                    self.counters.tx_stamps_lost += 1;
                }
            }
            self.counters.tx_frames += 1;
            self.counters.tx_bytes += len as u64;
            sent += 1;
            if lost {
                // Lost on the wire, after the sender let it go.
                LaneCounters::bump(&lanes.lost_random);
                self.give_back(f.buf);
                continue;
            }
            let perfect = depart + bits_ns(speed, bytes * 8) + propagation;
            let arrival = self.faults.arrival(perfect, extra_ns);
            if arrival > perfect {
                LaneCounters::bump(&lanes.delayed);
            }
            let range = self.range(&f.buf);
            // Cannot be full: checked above, and only this port produces.
            let _ = self.tx.push(&self.mem[range][..len], arrival);
            self.give_back(f.buf); // the "DMA" is done: completion is immediate
        }
        sent
    }

    fn rx_burst(&mut self, out: &mut RxBatch) -> usize {
        let now = self.wire.cfg.clock.now();
        let mut got = 0;
        while !out.is_full() && got < MAX_BURST {
            if self.rx.front_arrival().is_none_or(|t| t > now) {
                break;
            }
            let Some(buf) = self.pool.alloc() else {
                // No buffer to receive into: a NIC drops the frame.
                self.rx.pop_with(|_, _| ());
                self.counters.pool_empty += 1;
                self.counters.rx_drops += 1;
                continue;
            };
            let range = self.range(&buf);
            let mem = &mut self.mem[range];
            let Some((len, rx_time_ns)) = self.rx.pop_with(|data, arrival| {
                mem[..data.len()].copy_from_slice(data);
                (data.len(), arrival)
            }) else {
                self.give_back(buf);
                break;
            };
            self.counters.rx_frames += 1;
            self.counters.rx_bytes += len as u64;
            // `out` had room (checked above), so this cannot fail.
            let _ = out.push_back(RxFrame {
                buf,
                len,
                rx_time_ns,
            });
            got += 1;
        }
        got
    }

    fn tx_stamps(&mut self, out: &mut TxStampBatch) -> usize {
        self.stamps.drain_into(out)
    }
}

#[cfg(test)]
mod fault_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TxFrame;

    fn virt(speed_bps: u64, propagation_ns: u64) -> (SimPort, SimPort, SimLink, VirtualClock) {
        let clock = VirtualClock::new(1_000_000);
        let (a, b, link) = pair(SimConfig {
            speed_bps,
            propagation_ns,
            clock: SimClock::Virtual(clock.clone()),
            pool_size: 8,
            buf_size: 1536,
            wire_capacity: 4,
            faults: LinkFaults::default(),
        });
        (a, b, link, clock)
    }

    fn send(port: &mut SimPort, len: usize, fill: u8, launch: Option<u64>) -> usize {
        send_tagged(port, len, fill, launch, None)
    }

    fn send_tagged(
        port: &mut SimPort,
        len: usize,
        fill: u8,
        launch: Option<u64>,
        stamp_tag: Option<u32>,
    ) -> usize {
        let buf = port.alloc().unwrap();
        port.buf_mut(&buf)[..len].fill(fill);
        let mut batch = TxBatch::new();
        batch
            .push_back(TxFrame {
                buf,
                len,
                launch_time_ns: launch,
                stamp_tag,
            })
            .unwrap();
        let n = port.tx_burst(&mut batch);
        if let Some(f) = batch.pop_front() {
            port.free(f.buf);
        }
        n
    }

    fn recv(port: &mut SimPort) -> Vec<(u64, Vec<u8>)> {
        let mut out = RxBatch::new();
        port.rx_burst(&mut out);
        let mut v = Vec::new();
        while let Some(f) = out.pop_front() {
            v.push((f.rx_time_ns, port.buf(&f.buf)[..f.len].to_vec()));
            port.free(f.buf);
        }
        v
    }

    #[test]
    fn frame_arrives_after_launch_plus_serialization_plus_propagation() {
        // 1 Gbps: (60 + 8 + 4) bytes * 8 = 576 ns on the wire.
        let (mut a, mut b, _, clock) = virt(1_000_000_000, 500);
        let launch = clock.now() + 10_000;
        assert_eq!(send(&mut a, 60, 0xab, Some(launch)), 1);
        clock.set(launch + 576 + 500 - 1);
        assert!(recv(&mut b).is_empty(), "not before its last bit is in");
        clock.advance(1);
        let got = recv(&mut b);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, launch + 576 + 500);
        assert_eq!(got[0].1, vec![0xab; 60]);
        assert_eq!((a.outstanding(), b.outstanding()), (0, 0));
    }

    #[test]
    fn busy_wire_delays_the_next_frame() {
        // 100 Mbps: a 60-byte buffer is 5760 ns plus 960 ns IFG.
        let (mut a, mut b, _, clock) = virt(100_000_000, 0);
        let t = clock.now() + 1_000;
        send(&mut a, 60, 1, Some(t));
        send(&mut a, 60, 2, Some(t + 100)); // wants the wire while it is busy
        clock.advance(1_000_000);
        let got = recv(&mut b);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, t + 5_760);
        assert_eq!(
            got[1].0,
            t + 5_760 + 960 + 5_760,
            "waited for frame 1 and the IFG"
        );
    }

    #[test]
    fn late_launch_time_leaves_now_and_full_wire_pushes_back() {
        let (mut a, mut b, _, clock) = virt(1_000_000_000, 0);
        let now = clock.now();
        send(&mut a, 60, 1, Some(now - 50_000));
        let got = {
            clock.advance(10_000);
            recv(&mut b)
        };
        assert_eq!(
            got[0].0,
            now + 576,
            "a past launch time departs when queued"
        );
        for _ in 0..4 {
            assert_eq!(send(&mut a, 60, 0, Some(clock.now() + 1_000_000)), 1);
        }
        assert_eq!(send(&mut a, 60, 0, None), 0, "wire holds 4 in flight");
        assert_eq!(a.counters().tx_ring_full, 1);
        assert_eq!(
            a.outstanding(),
            0,
            "refused frame's buffer was returned by the caller"
        );
    }

    #[test]
    fn link_down_drops_and_counts() {
        let (mut a, mut b, link, clock) = virt(1_000_000_000, 0);
        link.set_up(false);
        assert_eq!(send(&mut a, 60, 1, None), 0);
        assert_eq!(a.counters().tx_drops, 1);
        link.set_up(true);
        assert_eq!(send(&mut a, 60, 2, None), 1);
        clock.advance(10_000);
        let got = recv(&mut b);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1[0], 2);
        assert_eq!(a.outstanding(), 0);
    }

    fn stamps(port: &mut SimPort) -> Vec<TxStamp> {
        let mut out = TxStampBatch::new();
        port.tx_stamps(&mut out);
        out.into_iter().collect()
    }

    #[test]
    fn stamps_are_departure_plus_preamble_for_timed_and_immediate_frames() {
        // 1 Gbps: preamble + SFD = 8 bytes = 64 ns.
        let (mut a, _b, _, clock) = virt(1_000_000_000, 500);
        assert_eq!(
            (a.info().caps.tx_stamps, a.info().caps.rx_stamps),
            (StampSource::Simulated, StampSource::Simulated)
        );
        let launch = clock.now() + 10_000;
        assert_eq!(send_tagged(&mut a, 60, 1, Some(launch), Some(7)), 1);
        assert_eq!(
            stamps(&mut a),
            [TxStamp {
                tag: 7,
                time_ns: launch + 64
            }],
            "known at tx_burst, before the frame left"
        );
        clock.advance(1_000_000);
        let now = clock.now();
        assert_eq!(send_tagged(&mut a, 60, 2, None, Some(8)), 1);
        assert_eq!(
            stamps(&mut a),
            [TxStamp {
                tag: 8,
                time_ns: now + 64
            }]
        );
        assert!(stamps(&mut a).is_empty(), "each stamp handed out once");
    }

    #[test]
    fn a_busy_wire_delays_the_stamp_and_untagged_frames_get_none() {
        // 100 Mbps: a 60-byte buffer is 5760 ns plus 960 ns IFG; preamble 640 ns.
        let (mut a, _b, _, clock) = virt(100_000_000, 0);
        let t = clock.now() + 1_000;
        send(&mut a, 60, 1, Some(t));
        assert!(stamps(&mut a).is_empty(), "no stamp for an untagged frame");
        send_tagged(&mut a, 60, 2, Some(t + 100), Some(1));
        assert_eq!(
            stamps(&mut a),
            [TxStamp {
                tag: 1,
                time_ns: t + 5_760 + 960 + 640
            }],
            "left when the wire was free again"
        );
        assert_eq!(a.counters().tx_stamps_lost, 0);
    }

    #[test]
    fn a_link_down_gives_no_stamp_and_counts_it_lost() {
        let (mut a, _b, link, _) = virt(1_000_000_000, 0);
        link.set_up(false);
        assert_eq!(send_tagged(&mut a, 60, 1, None, Some(3)), 0);
        assert_eq!(send(&mut a, 60, 1, None), 0);
        assert!(stamps(&mut a).is_empty());
        let c = a.counters();
        assert_eq!((c.tx_drops, c.tx_stamps_lost), (2, 1), "{c:?}");
        link.set_up(true);
        send_tagged(&mut a, 60, 1, None, Some(4));
        assert_eq!(
            stamps(&mut a).iter().map(|s| s.tag).collect::<Vec<_>>(),
            [4]
        );
    }

    #[test]
    fn more_stamps_than_one_batch_come_out_over_two_calls() {
        let clock = VirtualClock::new(1_000_000);
        let (mut a, _b, _) = pair(SimConfig {
            clock: SimClock::Virtual(clock.clone()),
            pool_size: 128,
            buf_size: 256,
            wire_capacity: 128,
            ..SimConfig::default()
        });
        let now = clock.now();
        for tag in 0..100 {
            assert_eq!(send_tagged(&mut a, 60, 0, None, Some(tag)), 1);
        }
        let mut out = TxStampBatch::new();
        assert_eq!(a.tx_stamps(&mut out), MAX_BURST);
        assert_eq!(out.len(), MAX_BURST);
        let mut all: Vec<TxStamp> = out.iter().copied().collect();
        out.clear();
        assert_eq!(a.tx_stamps(&mut out), 100 - MAX_BURST);
        all.extend(out.iter().copied());
        // Back to back at 1 Gbps: (60 + 8 + 4 + 12) bytes = 672 ns apart.
        let want: Vec<TxStamp> = (0..100u32)
            .map(|tag| TxStamp {
                tag,
                time_ns: now + u64::from(tag) * 672 + 64,
            })
            .collect();
        assert_eq!(all, want);
        assert_eq!(a.counters().tx_stamps_lost, 0);
    }

    #[test]
    fn outages_move_to_the_base_they_are_shifted_to() {
        let clock = VirtualClock::new(1_000_000);
        let (mut a, mut b, _) = pair(SimConfig {
            clock: SimClock::Virtual(clock.clone()),
            pool_size: 8,
            buf_size: 256,
            wire_capacity: 8,
            faults: parse_spec("down=1ms+1ms").unwrap(),
            ..SimConfig::default()
        });
        // Given from 0: [1 ms, 2 ms); moved to the run's start at 10 ms.
        a.shift_outages(10_000_000);
        assert_eq!(send(&mut a, 60, 1, Some(1_500_000)), 1, "not down then");
        assert_eq!(send(&mut a, 60, 2, Some(11_500_000)), 0, "down now");
        assert_eq!(send(&mut a, 60, 3, Some(12_000_000)), 1, "up again");
        clock.set(20_000_000);
        let got: Vec<u8> = recv(&mut b).iter().map(|(_, d)| d[0]).collect();
        assert_eq!(got, [1, 3]);
        assert_eq!((a.counters().tx_drops, a.counters().link_down), (1, 1));
    }

    #[test]
    fn full_duplex_and_counters() {
        let (mut a, mut b, _, clock) = virt(1_000_000_000, 0);
        send(&mut a, 100, 1, None);
        send(&mut b, 200, 2, None);
        clock.advance(10_000);
        assert_eq!(recv(&mut b)[0].1.len(), 100);
        assert_eq!(recv(&mut a)[0].1.len(), 200);
        let (ca, cb) = (a.counters(), b.counters());
        assert_eq!((ca.tx_frames, ca.rx_frames, ca.tx_bytes), (1, 1, 100));
        assert_eq!((cb.tx_frames, cb.rx_frames, cb.rx_bytes), (1, 1, 100));
    }
}
