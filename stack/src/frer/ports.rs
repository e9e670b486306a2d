//! [`Ports`]: the talker's or listener's ring devices (one per `--device`)
//! behind one `RingDevice`, with 802.1CB replication on transmit and
//! elimination on receive (docs/redundancy.md).
//!
//! Transmit: buffers come from port 0. A frame of a replicated stream gets
//! an R-TAG from its stream's sequence generation function and leaves on
//! every member port at the same launch time: the original on its own port
//! when that is a member, a copy (with that port's source MAC) on each
//! other. A stream that is not replicated leaves on its one port. Anything
//! else (the control plane, PTP) leaves on the port its buffer came from.
//!
//! Receive: every port is polled in turn. A copy of a replicated stream
//! goes through its member's individual recovery (counted per member,
//! discarding only with `individual_recovery`), then the stream's sequence
//! recovery: the first copy of a number passes up, the others are freed
//! and counted. Frames of other streams and other protocols pass as they
//! came. The latency of every copy (passed or not) is recorded per member
//! path, so a slow path shows even when the other one always wins.
//!
//! Nothing here allocates after [`Ports::new`] and [`Ports::with_clock`].

use crate::clock::SchedClock;
use crate::frer::{rtag, SequenceGenerator, SequenceRecovery, Verdict};
use crate::stats::{FrerMemberReport, FrerReport, FrerStreamReport, Metric, PortReport};
use crate::wire::StreamFrame;
use std::os::fd::RawFd;
use takt_drivers::wait::PollSet;
use takt_drivers::{
    BufId, Counters, DeviceInfo, DriverError, RingDevice, RxBatch, RxFrame, TxBatch, TxFrame,
    TxStampBatch,
};
use takt_scheduler::redundancy::{FrerParams, PortMask, MAX_PORTS};
use takt_scheduler::Schedule;

/// Idle receive polls run the recovery timers (reset, latent error) at
/// most this often: they need millisecond resolution at best.
const TICK_EVERY_NS: u64 = 1_000_000;
/// A received frame stamped after the poll began waits for the next poll
/// (so copies are judged in arrival order across ports) unless its stamp
/// is further than this ahead of the clock read after the poll.
const HOLD_MAX_NS: u64 = 1_000_000;

/// Why a set of ports cannot carry a schedule.
#[derive(Debug, thiserror::Error)]
pub enum PortsError {
    #[error("the schedule uses {needed} ports but {given} --device given: give --device once per port, in order")]
    TooFewPorts { needed: usize, given: usize },
    #[error("no --device given")]
    NoPorts,
    #[error("{given} --device given: takt drives at most {MAX_PORTS} ports")]
    TooManyPorts { given: usize },
    #[error(
        "{first} and {other} use different clocks: every port must timestamp on the same clock"
    )]
    ClockMismatch { first: String, other: String },
}

/// Where a schedule stream's frames go.
#[derive(Clone, Copy, Debug)]
struct Route {
    ports: PortMask,
    /// Index into `Ports::frer` when replicated.
    frer: Option<usize>,
}

/// Transmit counters of one member port.
#[derive(Clone, Copy, Debug, Default)]
struct TxMember {
    sent: u64,
    dropped: u64,
}

/// Receive side of one member path.
#[derive(Clone, Debug)]
struct RxMember {
    recovery: SequenceRecovery,
    latency: Option<Metric>,
}

/// One replicated stream.
#[derive(Clone, Debug)]
struct FrerStream {
    name: String,
    members: PortMask,
    generator: SequenceGenerator,
    tx: [TxMember; MAX_PORTS],
    /// By port; `Some` for members.
    rx: Vec<Option<RxMember>>,
    recovery: SequenceRecovery,
    /// Copies that reached the stream's recovery (a received stream).
    received: u64,
}

/// Several ring devices as one.
pub struct Ports {
    devs: Vec<Box<dyn RingDevice>>,
    info: DeviceInfo,
    macs: Vec<[u8; 6]>,
    routes: Vec<Route>,
    frer: Vec<FrerStream>,
    params: FrerParams,
    /// Per port: frames taken from the caller that its ring has not yet.
    queues: Vec<TxBatch>,
    /// Per port: received frames not yet handed up, in arrival order.
    pending: Vec<RxBatch>,
    poll: Option<PollSet>,
    clock: Option<SchedClock>,
    /// Latest time the recovery timers saw.
    last_tick_ns: u64,
}

impl Ports {
    /// `devs` in `--device` order (port 0 first), for `schedule`'s streams.
    pub fn new(devs: Vec<Box<dyn RingDevice>>, schedule: &Schedule) -> Result<Self, PortsError> {
        let Some(first) = devs.first() else {
            return Err(PortsError::NoPorts);
        };
        if devs.len() > MAX_PORTS {
            return Err(PortsError::TooManyPorts { given: devs.len() });
        }
        let needed = schedule.ports_needed();
        if devs.len() < needed {
            return Err(PortsError::TooFewPorts {
                needed,
                given: devs.len(),
            });
        }
        if let Some(other) = devs.iter().find(|d| d.info().clock != first.info().clock) {
            return Err(PortsError::ClockMismatch {
                first: first.info().name.clone(),
                other: other.info().name.clone(),
            });
        }
        let params = schedule.redundancy().params;
        let mut frer = Vec::new();
        let routes = (0..schedule.streams().len())
            .map(|i| {
                let ports = schedule.stream_ports(i);
                let index = schedule.is_frer(i).then(|| {
                    frer.push(FrerStream {
                        name: schedule.streams()[i].name.clone(),
                        members: ports,
                        generator: SequenceGenerator::default(),
                        tx: [TxMember::default(); MAX_PORTS],
                        rx: (0..devs.len())
                            .map(|p| {
                                ports.contains(p).then(|| RxMember {
                                    recovery: SequenceRecovery::new(&params, 1),
                                    latency: None,
                                })
                            })
                            .collect(),
                        recovery: SequenceRecovery::new(&params, ports.count()),
                        received: 0,
                    });
                    frer.len() - 1
                });
                Route { ports, frer: index }
            })
            .collect();
        let fds: Vec<Vec<RawFd>> = devs.iter().map(|d| d.rx_wait_fds()).collect();
        let poll = (devs.len() > 1 && fds.iter().all(|f| !f.is_empty()))
            .then(|| PollSet::new(&fds.concat()));
        let mut info = first.info().clone();
        info.name = devs
            .iter()
            .map(|d| d.info().name.as_str())
            .collect::<Vec<_>>()
            .join("+");
        for d in &devs[1..] {
            let i = d.info();
            info.buf_size = info.buf_size.min(i.buf_size);
            info.caps.launch_time &= i.caps.launch_time;
            info.caps.max_batch = info.caps.max_batch.min(i.caps.max_batch);
        }
        Ok(Ports {
            macs: devs.iter().map(|d| d.info().mac).collect(),
            queues: devs.iter().map(|_| TxBatch::new()).collect(),
            pending: devs.iter().map(|_| RxBatch::new()).collect(),
            devs,
            info,
            routes,
            frer,
            params,
            poll,
            clock: None,
            last_tick_ns: 0,
        })
    }

    /// The clock receive stamps are put on (as the listener converts them)
    /// for per-member latencies and the recovery timers; allocates each
    /// member's latency histogram. Without it the recovery runs on the
    /// devices' stamps and no latency is recorded.
    pub fn with_clock(mut self, clock: SchedClock) -> Self {
        for s in &mut self.frer {
            for m in s.rx.iter_mut().flatten() {
                m.latency = Some(Metric::new());
            }
        }
        self.clock = Some(clock);
        self
    }

    pub fn port_count(&self) -> usize {
        self.devs.len()
    }

    pub fn port(&self, i: usize) -> Option<&dyn RingDevice> {
        self.devs.get(i).map(|d| &**d)
    }

    /// Each port's name and device counters.
    pub fn port_reports(&self) -> Vec<PortReport> {
        self.devs
            .iter()
            .map(|d| PortReport {
                device: d.info().name.clone(),
                counters: d.counters(),
            })
            .collect()
    }

    /// The replication and elimination counters, when a stream is
    /// replicated: the talker's side (numbers generated, copies per port)
    /// where this set sent, the listener's (recovery counters, latency per
    /// path) where it received.
    pub fn frer_report(&self) -> Option<FrerReport> {
        if self.frer.is_empty() {
            return None;
        }
        let streams = self
            .frer
            .iter()
            .map(|s| {
                let sent = s.generator.generated() > 0;
                let received = s.received > 0 || !sent;
                FrerStreamReport {
                    stream: s.name.clone(),
                    generated: sent.then(|| s.generator.generated()),
                    recovery: received.then(|| *s.recovery.counters()),
                    members: s
                        .members
                        .iter()
                        .filter(|&p| p < self.devs.len())
                        .map(|p| {
                            let rx = s.rx.get(p).and_then(Option::as_ref);
                            FrerMemberReport {
                                port: p,
                                device: self.devs[p].info().name.clone(),
                                sent: sent.then_some(s.tx[p].sent),
                                dropped: sent.then_some(s.tx[p].dropped),
                                recovery: rx.filter(|_| received).map(|m| *m.recovery.counters()),
                                latency_ns: rx.filter(|_| received).and_then(|m| m.latency.clone()),
                            }
                        })
                        .collect(),
                }
            })
            .collect();
        Some(FrerReport {
            params: self.params,
            streams,
        })
    }

    /// The port whose pool `buf` is from (port 0 for a foreign handle,
    /// which its pool then refuses).
    fn owner(&self, buf: &BufId) -> usize {
        if self.devs.len() == 1 {
            return 0;
        }
        self.devs.iter().position(|d| d.owns(buf)).unwrap_or(0)
    }

    /// Where the frame in `buf` goes: its stream's route, or its own port.
    fn route(&self, port: usize, buf: &BufId, len: usize) -> Route {
        let bytes = self.devs[port].buf(buf);
        let own = Route {
            ports: PortMask(1 << port),
            frer: None,
        };
        let Some(bytes) = bytes.get(..len) else {
            return own;
        };
        match StreamFrame::new_checked(bytes) {
            Ok(f) => self
                .routes
                .get(usize::from(f.stream_id()))
                .copied()
                .unwrap_or(own),
            Err(_) => own,
        }
    }

    /// Hand each port's queue to its ring.
    fn push_queues(&mut self) {
        for (d, q) in self.devs.iter_mut().zip(self.queues.iter_mut()) {
            if !q.is_empty() {
                d.tx_burst(q);
            }
        }
    }

    /// A copy of `len` bytes of `src` (on port `from`) in a fresh buffer of
    /// port `to`, with `to`'s source MAC. `None`: no buffer there.
    fn copy(&mut self, from: usize, src: &BufId, to: usize, len: usize) -> Option<BufId> {
        let buf = self.devs[to].alloc()?;
        let (a, b) = if from < to {
            let (l, r) = self.devs.split_at_mut(to);
            (&l[from], &mut r[0])
        } else {
            let (l, r) = self.devs.split_at_mut(from);
            (&r[0], &mut l[to])
        };
        let (s, d) = (a.buf(src), b.buf_mut(&buf));
        if s.len() < len || d.len() < len || len < 12 {
            b.free(buf);
            return None;
        }
        d[..len].copy_from_slice(&s[..len]);
        d[6..12].copy_from_slice(&self.macs[to]);
        Some(buf)
    }

    /// Replicate (or move) one frame onto its ports' queues; the caller
    /// made sure each has room.
    fn dispatch(&mut self, f: TxFrame, origin: usize, route: Route) {
        let TxFrame {
            buf,
            len,
            launch_time_ns,
            mut stamp_tag,
        } = f;
        if let Some(k) = route.frer {
            let seq = self.frer[k].generator.next_number();
            if rtag::insert(self.devs[origin].buf_mut(&buf), len, seq).is_err() {
                // Cannot happen for a validated schedule (frame_size >= 68).
                for p in route.ports.iter() {
                    self.frer[k].tx[p].dropped += 1;
                }
                self.devs[origin].free(buf);
                return;
            }
        }
        let ports = self.devs.len();
        for p in route.ports.iter().filter(|&p| p < ports) {
            let b = if p == origin {
                None
            } else {
                match self.copy(origin, &buf, p, len) {
                    Some(b) => Some(b),
                    None => {
                        if let Some(k) = route.frer {
                            self.frer[k].tx[p].dropped += 1;
                        }
                        continue;
                    }
                }
            };
            let Some(b) = b else { continue };
            if let Some(k) = route.frer {
                self.frer[k].tx[p].sent += 1;
            }
            let _ = self.queues[p].push_back(TxFrame {
                buf: b,
                len,
                launch_time_ns,
                stamp_tag: if route.ports.contains(origin) {
                    None
                } else {
                    stamp_tag.take()
                },
            });
        }
        if route.ports.contains(origin) {
            if let Some(k) = route.frer {
                self.frer[k].tx[origin].sent += 1;
            }
            let _ = self.queues[origin].push_back(TxFrame {
                buf,
                len,
                launch_time_ns,
                stamp_tag,
            });
        } else {
            self.devs[origin].free(buf);
        }
    }

    /// Run the recovery timers to `now_ns`.
    fn tick(&mut self, now_ns: u64) {
        self.last_tick_ns = now_ns;
        for s in &mut self.frer {
            s.recovery.tick(now_ns);
            for m in s.rx.iter_mut().flatten() {
                m.recovery.tick(now_ns);
            }
        }
    }

    /// Whether frame `f`, received on `port`, goes up (else it was a copy
    /// eliminated or refused, and counted).
    fn keep(&mut self, port: usize, f: &RxFrame) -> bool {
        let bytes = self.devs[port].buf(&f.buf);
        let Some(frame) = bytes
            .get(..f.len)
            .and_then(|b| StreamFrame::new_checked(b).ok())
        else {
            return true;
        };
        let Some(k) = self
            .routes
            .get(usize::from(frame.stream_id()))
            .and_then(|r| r.frer)
        else {
            return true;
        };
        let rx_ns = match &self.clock {
            Some(c) => c.from_device(f.rx_time_ns),
            None => f.rx_time_ns,
        };
        let seq = frame.rtag_sequence();
        let tx_ns = frame.tx_ns();
        let s = &mut self.frer[k];
        s.received += 1;
        if let Some(Some(m)) = s.rx.get_mut(port) {
            if let Some(lat) = &mut m.latency {
                if let Some(d) = plausible_latency(rx_ns, tx_ns) {
                    lat.record(d);
                }
            }
            let v = m.recovery.on_frame(seq, rx_ns);
            if self.params.individual_recovery && v != Verdict::Pass {
                return false;
            }
        }
        s.recovery.on_frame(seq, rx_ns) == Verdict::Pass
    }
}

/// `rx - tx` when the frame's transmit time is near the receive time (a
/// forged or stale tx_ns records nothing).
fn plausible_latency(rx_ns: u64, tx_ns: u64) -> Option<i64> {
    let d = i64::try_from(rx_ns)
        .ok()?
        .checked_sub(i64::try_from(tx_ns).ok()?)?;
    (d.unsigned_abs() <= crate::listener::MAX_PLAUSIBLE_LATENCY_NS).then_some(d)
}

/// `b` added into `a`, field by field.
pub(crate) fn add_counters(a: &mut Counters, b: &Counters) {
    a.tx_frames += b.tx_frames;
    a.rx_frames += b.rx_frames;
    a.tx_bytes += b.tx_bytes;
    a.rx_bytes += b.rx_bytes;
    a.tx_drops += b.tx_drops;
    a.rx_drops += b.rx_drops;
    a.rx_truncated += b.rx_truncated;
    a.tx_ring_full += b.tx_ring_full;
    a.pool_empty += b.pool_empty;
    a.link_down += b.link_down;
    a.tx_stamps_lost += b.tx_stamps_lost;
}

impl RingDevice for Ports {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The sum over the ports (each port's own: `port_reports`).
    fn counters(&self) -> Counters {
        let mut c = Counters::default();
        for d in &self.devs {
            add_counters(&mut c, &d.counters());
        }
        c
    }

    fn alloc(&mut self) -> Option<BufId> {
        self.devs[0].alloc()
    }

    fn free(&mut self, buf: BufId) {
        let p = self.owner(&buf);
        self.devs[p].free(buf)
    }

    fn buf(&self, buf: &BufId) -> &[u8] {
        self.devs[self.owner(buf)].buf(buf)
    }

    fn buf_mut(&mut self, buf: &BufId) -> &mut [u8] {
        let p = self.owner(buf);
        self.devs[p].buf_mut(buf)
    }

    fn owns(&self, buf: &BufId) -> bool {
        self.devs.iter().any(|d| d.owns(buf))
    }

    fn tx_burst(&mut self, frames: &mut TxBatch) -> usize {
        if self.devs.len() == 1 && self.frer.is_empty() {
            return self.devs[0].tx_burst(frames);
        }
        self.push_queues();
        let mut taken = 0;
        while let Some(f) = frames.front() {
            let origin = self.owner(&f.buf);
            let route = self.route(origin, &f.buf, f.len);
            let full = route
                .ports
                .iter()
                .chain(std::iter::once(origin))
                .filter(|&p| p < self.queues.len())
                .any(|p| self.queues[p].is_full());
            if full {
                break;
            }
            let Some(f) = frames.pop_front() else { break };
            self.dispatch(f, origin, route);
            taken += 1;
        }
        self.push_queues();
        taken
    }

    fn rx_burst(&mut self, out: &mut RxBatch) -> usize {
        if self.devs.len() == 1 && self.frer.is_empty() {
            return self.devs[0].rx_burst(out);
        }
        let before = out.len();
        // Copies go through the recovery in the order they arrived, across
        // ports (by receive stamp; every port stamps on one clock), not a
        // port's whole batch after another's: after a stall of the caller
        // the second port's copies would be a batch behind, rogue once that
        // is more than the history, and a number lost on the first port
        // would pass after later ones (reordered).
        let now = self.clock.as_ref().map(|c| c.now_ns());
        // Every port is polled after this reading, so every frame stamped
        // before it is in hand; one stamped after it on one port may have
        // an earlier one still on its way in on another (the caller was
        // preempted between two polls): it waits for the next call.
        let seen = self.clock.as_ref().zip(now).map(|(c, t)| c.to_device(t));
        let mut bound = u64::MAX;
        for (d, q) in self.devs.iter_mut().zip(self.pending.iter_mut()) {
            if !q.is_full() {
                d.rx_burst(q);
            }
            // A full batch may have left later frames in the ring: frames
            // of other ports after its last one wait for them.
            if q.is_full() {
                bound = bound.min(q.back().map_or(u64::MAX, |f| f.rx_time_ns));
            }
        }
        // A stamp ahead of the clock read after the polls (clocks that
        // disagree) never waits: it would wait for ever.
        let ahead = self
            .clock
            .as_ref()
            .filter(|_| seen.is_some())
            .map_or(u64::MAX, |c| {
                c.to_device(c.now_ns()).saturating_add(HOLD_MAX_NS)
            });
        while !out.is_full() {
            let next = self
                .pending
                .iter()
                .enumerate()
                .filter_map(|(p, q)| q.front().map(|f| (f.rx_time_ns, p)))
                .filter(|&(t, _)| t <= bound)
                .filter(|&(t, _)| seen.is_none_or(|s| t <= s || t > ahead))
                .min();
            let Some((_, p)) = next else { break };
            let Some(f) = self.pending[p].pop_front() else {
                break;
            };
            if self.keep(p, &f) {
                let _ = out.push_back(f);
            } else {
                self.devs[p].free(f.buf);
            }
        }
        let got = out.len() - before;
        if !self.frer.is_empty() {
            let now = match now {
                Some(t) => t,
                None => out.back().map_or(self.last_tick_ns, |f| f.rx_time_ns),
            };
            if now >= self.last_tick_ns.saturating_add(TICK_EVERY_NS) {
                self.tick(now);
            }
        }
        got
    }

    fn tx_stamps(&mut self, out: &mut TxStampBatch) -> usize {
        self.devs.iter_mut().map(|d| d.tx_stamps(out)).sum()
    }

    fn wait_rx(&mut self, timeout_ns: u64) -> bool {
        if self.pending.iter().any(|q| !q.is_empty()) {
            return true;
        }
        if self.devs.len() == 1 {
            return self.devs[0].wait_rx(timeout_ns);
        }
        match &mut self.poll {
            Some(p) => {
                p.wait(timeout_ns);
                true
            }
            None => false,
        }
    }

    fn rx_wait_fds(&self) -> Vec<RawFd> {
        self.devs.iter().flat_map(|d| d.rx_wait_fds()).collect()
    }

    fn accept_destinations(&mut self, macs: &[[u8; 6]]) -> Result<(), DriverError> {
        for d in &mut self.devs {
            d.accept_destinations(macs)?;
        }
        Ok(())
    }

    fn launch_time_note(&self) -> Option<&str> {
        self.devs[0].launch_time_note()
    }
}
