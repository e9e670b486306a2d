//! The data path's end of the PTP port: received PTP frames go to the
//! worker with their receive time moved to the message timestamp point,
//! frames the worker wants sent leave inside the PTP class's gate windows
//! (on a talker), and the device's transmit stamps go back to the worker.
//! Allocation-free after [`PtpEndpoint::new`]; the worker is woken with
//! `Thread::unpark` (a futex, no lock) once per batch of received frames,
//! not per frame: waking a parked thread on another CPU is an IPI, which
//! costs a VM an exit, and a flood would pay it for every frame.

use super::queue::{DataEnds, OffsetSample, PtpFrame, ToWorker, TO_WORKER};
use crate::clock::SchedClock;
use crate::control::gate::{self, BestEffortGate};
use takt_drivers::{RingDevice, RxFrame, TxBatch, TxFrame, TxStamp, TxStampBatch};
use takt_scheduler::Schedule;

/// After an event frame is sent, look for its transmit stamp this often
/// (a software stamp takes microseconds)...
const STAMP_LOOK_NS: u64 = 50_000;
/// ... for this long, and once more after (a stamp the device lost, its
/// `tx_stamps_lost`, never comes, and the worker counts it missing).
const STAMP_WAIT_NS: u64 = 10_000_000;
/// Without anything due, look for the worker's frames this often: its
/// timers (sync, announce, delay requests) are 1/128 s at the fastest.
const LOOK_NS: u64 = 250_000;
/// After a received frame, look for the worker's answer this often ...
const ANSWER_LOOK_NS: u64 = 50_000;
/// ... for this long: a peer waits for a Pdelay_Resp (ptp4l forgets its
/// request when its port changes state meanwhile and then calls the late
/// answer rogue).
const ANSWER_WAIT_NS: u64 = 2_000_000;
/// Bytes the NIC adds that a buffer does not hold (FCS).
const FCS_BYTES: u64 = 4;
/// Frames released to the device per [`PtpEndpoint::service`] call at
/// most. A stamped frame is a send call of its own (several us on a
/// software backend, more in a VM): a full queue of 31 Pdelay answers in
/// one call took up to 150 us under a Pdelay flood, three times the
/// talker's idle-time budget (`talker::CONTROL_BUDGET_NS`), so its next
/// stream frame left late. The rest go in the next calls.
pub const RELEASE_PER_CALL: usize = 2;
/// Received frames waiting for the worker before it is woken within a
/// batch (otherwise at the end of the batch): it drains them before the
/// queue fills.
const WAKE_AT: usize = TO_WORKER / 2;

/// Running totals of the data path's side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointCounters {
    /// PTP frames handed to the worker.
    pub rx_frames: u64,
    /// Refused: longer than the longest PTP message.
    pub rx_oversize: u64,
    /// Dropped: the worker's queue was full.
    pub rx_dropped: u64,
    /// Frames sent.
    pub tx_frames: u64,
    /// Frames the device had no buffer or ring room for.
    pub tx_dropped: u64,
    /// Transmit stamps handed back to the worker.
    pub tx_stamps: u64,
    /// Stamps dropped because the worker's queue was full.
    pub stamps_dropped: u64,
}

/// How the endpoint sends.
#[derive(Clone, Copy, Debug)]
pub struct EndpointConfig {
    /// Hold frames to this gate (a talker); `None` sends at once (a
    /// listener, whose port has no time-critical windows).
    pub gate: Option<BestEffortGate>,
    /// An interval log takes the offset samples (`drain_offsets`);
    /// otherwise `service` drops them, so the worker's queue never fills.
    pub log_offsets: bool,
}

pub struct PtpEndpoint {
    ends: DataEnds,
    worker: std::thread::Thread,
    clock: SchedClock,
    gate: Option<BestEffortGate>,
    log_offsets: bool,
    link_speed_bps: u64,
    launch_lead_ns: Option<u64>,
    wire_free_at_ns: u64,
    /// Look for transmit stamps until then (an event frame was sent)...
    stamps_until_ns: u64,
    /// ... and until a look at or after it: the last look.
    looked_ns: u64,
    /// Look for the worker's answer often until then (a frame was fed).
    answers_until_ns: u64,
    next_look_ns: u64,
    out: TxBatch,
    stamps: TxStampBatch,
    /// Stream frames' stamps found here, for the talker
    /// (`take_stream_stamps`); more than this between two of its looks
    /// are lost (T absent).
    stream_stamps: heapless::Deque<TxStamp, 256>,
    counters: EndpointCounters,
    /// Frames were queued for the worker since it was last woken.
    fed_unwoken: bool,
}

impl PtpEndpoint {
    /// On `dev` (for its link speed), talking to the worker `worker`
    /// through `ends`; times on `clock`.
    pub fn new(
        cfg: EndpointConfig,
        dev: &dyn RingDevice,
        clock: SchedClock,
        ends: DataEnds,
        worker: std::thread::Thread,
    ) -> Self {
        PtpEndpoint {
            ends,
            worker,
            clock,
            gate: cfg.gate,
            log_offsets: cfg.log_offsets,
            link_speed_bps: dev.info().link_speed_bps.max(1),
            launch_lead_ns: None,
            wire_free_at_ns: 0,
            stamps_until_ns: 0,
            answers_until_ns: 0,
            looked_ns: 0,
            next_look_ns: 0,
            out: TxBatch::new(),
            stamps: TxStampBatch::new(),
            stream_stamps: heapless::Deque::new(),
            counters: EndpointCounters::default(),
            fed_unwoken: false,
        }
    }

    /// Frames get launch times, decided `lead_ns` ahead (a device that
    /// holds frames until their launch time).
    pub fn set_launch_lead(&mut self, lead_ns: Option<u64>) {
        self.launch_lead_ns = lead_ns;
    }

    pub fn counters(&self) -> EndpointCounters {
        self.counters
    }

    /// When the last frame sent (with its IFG) is off the wire.
    pub fn wire_free_at_ns(&self) -> u64 {
        self.wire_free_at_ns
    }

    /// A received PTP frame; `rx_ns` is its device stamp on the schedule
    /// clock. The buffer goes back to the device at once. The worker is
    /// woken by [`wake_worker`](Self::wake_worker) (or `service`) after the
    /// batch, or here once half its queue is taken.
    pub fn feed(&mut self, frame: RxFrame, rx_ns: u64, dev: &mut dyn RingDevice) {
        let len = frame.len.min(dev.info().buf_size);
        let copied = PtpFrame::copy_of(&dev.buf(&frame.buf)[..len]);
        dev.free(frame.buf);
        let Some(copy) = copied else {
            self.counters.rx_oversize += 1;
            return;
        };
        // Devices stamp a frame once it is all in; PTP's timestamp point
        // is the end of the SFD, the frame (and its FCS) earlier.
        let frame_ns = ((len as u64 + FCS_BYTES) * 8 * 1_000_000_000) / self.link_speed_bps;
        let msg = ToWorker::Frame {
            frame: copy,
            rx_ns: rx_ns.saturating_sub(frame_ns),
        };
        if self.ends.to_worker.enqueue(msg).is_err() {
            self.counters.rx_dropped += 1;
            return;
        }
        self.counters.rx_frames += 1;
        self.answers_until_ns = rx_ns.saturating_add(ANSWER_WAIT_NS);
        self.next_look_ns = self.next_look_ns.min(rx_ns.saturating_add(ANSWER_LOOK_NS));
        self.fed_unwoken = true;
        if self.ends.to_worker.len() >= WAKE_AT {
            self.wake_worker();
        }
    }

    /// Wake the worker if frames were queued for it since it was last
    /// woken (after a batch of [`feed`](Self::feed)s).
    pub fn wake_worker(&mut self) {
        if std::mem::take(&mut self.fed_unwoken) {
            self.worker.unpark();
        }
    }

    /// Stamps back to the worker, the worker's frames out while the gate
    /// lets them go. `wire_floor_ns`: another protocol's frame holds the
    /// wire until then.
    pub fn service(
        &mut self,
        now_ns: u64,
        dev: &mut dyn RingDevice,
        schedule: &Schedule,
        wire_floor_ns: u64,
    ) {
        // Until one look at or after the window's end, not just while in
        // it: a data path that stalled through the window (a loaded host, a
        // TCG guest) hands over the stamp the device took meanwhile at its
        // next service, not when the next event frame reopens the window
        // (a Follow_Up would then leave after the next Sync, and ptp4l
        // drops both).
        self.wake_worker();
        if self.looked_ns < self.stamps_until_ns {
            self.take_stamps(dev);
            self.looked_ns = now_ns;
        }
        self.release(now_ns, dev, schedule, wire_floor_ns);
        if !self.log_offsets {
            while self.ends.offsets.dequeue().is_some() {}
        }
        let eager = self.looked_ns < self.stamps_until_ns || now_ns < self.answers_until_ns;
        self.next_look_ns = now_ns.saturating_add(if eager {
            STAMP_LOOK_NS.min(ANSWER_LOOK_NS)
        } else {
            LOOK_NS
        });
    }

    /// When [`service`](Self::service) next has something to do.
    pub fn next_wake(&self, now_ns: u64, schedule: &Schedule) -> u64 {
        if self.fed_unwoken {
            return now_ns;
        }
        let release = self.ends.from_worker.peek().map_or(u64::MAX, |f| {
            let start = self.earliest_start(now_ns);
            match &self.gate {
                Some(g) => g
                    .next_release(schedule, start, f.frame.len)
                    .map_or(u64::MAX, |t| t.saturating_sub(start - now_ns)),
                None => now_ns,
            }
        });
        release.min(self.next_look_ns)
    }

    /// The worker's offset samples since the last call (for the interval
    /// log).
    pub fn drain_offsets(&mut self, mut f: impl FnMut(OffsetSample)) {
        while let Some(s) = self.ends.offsets.dequeue() {
            f(s);
        }
    }

    fn earliest_start(&self, now_ns: u64) -> u64 {
        now_ns
            .saturating_add(self.launch_lead_ns.unwrap_or(0))
            .max(self.wire_free_at_ns)
    }

    /// The device's transmit stamps now: PTP's to the worker, stream
    /// frames' (kept since the last call too) to `f`.
    pub fn take_stream_stamps(&mut self, dev: &mut dyn RingDevice, mut f: impl FnMut(TxStamp)) {
        self.take_stamps(dev);
        while let Some(s) = self.stream_stamps.pop_front() {
            f(s);
        }
    }

    fn take_stamps(&mut self, dev: &mut dyn RingDevice) {
        dev.tx_stamps(&mut self.stamps);
        let mut handed = false;
        while let Some(s) = self.stamps.pop_front() {
            if s.tag & crate::stages::STREAM_TAG_BIT != 0 {
                // A stream frame's (stage T): the talker's, not the port's.
                let _ = self.stream_stamps.push_back(s);
                continue;
            }
            let msg = ToWorker::Stamp {
                tag: s.tag,
                tx_ns: self.clock.from_device(s.time_ns),
            };
            if self.ends.to_worker.enqueue(msg).is_err() {
                self.counters.stamps_dropped += 1;
            } else {
                self.counters.tx_stamps += 1;
                handed = true;
            }
        }
        if handed {
            self.worker.unpark();
        }
    }

    fn release(
        &mut self,
        now_ns: u64,
        dev: &mut dyn RingDevice,
        schedule: &Schedule,
        wire_floor_ns: u64,
    ) {
        let mut t = self.earliest_start(now_ns).max(wire_floor_ns);
        let mut stamped = false;
        while let Some(f) = self.ends.from_worker.peek() {
            if self.out.len() >= RELEASE_PER_CALL {
                break;
            }
            let len = f.frame.len.min(dev.info().buf_size);
            if let Some(g) = &self.gate {
                if !g.may_release(schedule, t, len) {
                    break;
                }
            }
            let Some(buf) = dev.alloc() else { break };
            dev.buf_mut(&buf)[..len].copy_from_slice(&f.frame.bytes()[..len]);
            let stamp_tag = f.stamp_tag;
            // Checked not full above.
            let _ = self.out.push_back(TxFrame {
                buf,
                len,
                launch_time_ns: self.launch_lead_ns.map(|_| self.clock.to_device(t)),
                stamp_tag,
            });
            stamped |= stamp_tag.is_some();
            t += gate::wire_time_ns(schedule, len);
            self.ends.from_worker.dequeue();
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
            self.counters.tx_dropped += 1;
        }
        if stamped {
            self.stamps_until_ns = now_ns.saturating_add(STAMP_WAIT_NS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ptp::queue::{self, PtpFrame, ToSend, WorkerEnds};
    use takt_drivers::sim::{self, SimConfig, SimPort};
    use takt_drivers::RxBatch;
    use takt_scheduler::{ClockId, GateControlList, GateEntry, LinkConfig};

    fn schedule() -> Schedule {
        let gcl = GateControlList::new(
            0,
            None,
            0,
            vec![GateEntry {
                gate_mask: 0x01,
                interval_ns: 1_000_000,
            }],
        )
        .unwrap();
        let link = LinkConfig {
            speed_bps: 1_000_000_000,
            tc_to_pcp: LinkConfig::IDENTITY_TC_TO_PCP,
        };
        Schedule::new(ClockId::Tai, link, gcl, None, vec![]).unwrap()
    }

    /// A listener's endpoint (no gate) on one end of a simulated wire.
    fn endpoint() -> (PtpEndpoint, WorkerEnds, SimPort, SimPort) {
        let (a, b, _link) = sim::pair(SimConfig::default());
        let (data, worker) = queue::queues();
        let ep = PtpEndpoint::new(
            EndpointConfig {
                gate: None,
                log_offsets: false,
            },
            &a,
            SchedClock::system(ClockId::Tai),
            data,
            std::thread::current(),
        );
        (ep, worker, a, b)
    }

    fn ptp_frame(n: u8) -> PtpFrame {
        let mut f = [0u8; 60];
        f[12..14].copy_from_slice(&[0x88, 0xF7]);
        f[14] = n;
        PtpFrame::copy_of(&f).unwrap()
    }

    #[test]
    fn a_service_call_releases_a_few_frames_and_the_next_calls_the_rest() {
        let (mut ep, mut worker, mut a, mut b) = endpoint();
        let s = schedule();
        for n in 0..10 {
            let sent = worker.to_data.enqueue(ToSend {
                frame: ptp_frame(n),
                stamp_tag: None,
            });
            assert!(sent.is_ok());
        }
        let clock = SchedClock::system(ClockId::Tai);
        let now = clock.now_ns();
        ep.service(now, &mut a, &s, 0);
        assert_eq!(ep.counters().tx_frames, RELEASE_PER_CALL as u64);
        assert!(ep.next_wake(now, &s) <= now, "the rest is due at once");
        while ep.counters().tx_frames < 10 {
            let before = ep.counters().tx_frames;
            ep.service(clock.now_ns(), &mut a, &s, 0);
            assert!(ep.counters().tx_frames - before <= RELEASE_PER_CALL as u64);
            assert!(ep.counters().tx_frames > before, "each call sends some");
        }
        let mut rx = RxBatch::new();
        let mut order = Vec::new();
        // The simulated wire delivers each frame after its wire time.
        while order.len() < 10 {
            b.rx_burst(&mut rx);
            while let Some(f) = rx.pop_front() {
                order.push(b.buf(&f.buf)[14]);
                b.free(f.buf);
            }
        }
        assert_eq!(order, (0..10).collect::<Vec<u8>>(), "all, in order");
        assert_eq!(ep.counters().tx_dropped, 0);
    }

    #[test]
    fn received_frames_reach_the_worker_and_it_is_woken_once_per_batch() {
        let (mut ep, mut worker, mut a, mut b) = endpoint();
        let s = schedule();
        let mut out = TxBatch::new();
        for n in 0..3 {
            let buf = b.alloc().unwrap();
            let f = ptp_frame(n);
            b.buf_mut(&buf)[..f.len].copy_from_slice(f.bytes());
            let _ = out.push_back(TxFrame {
                buf,
                len: f.len,
                launch_time_ns: None,
                stamp_tag: None,
            });
        }
        assert_eq!(b.tx_burst(&mut out), 3);
        let clock = SchedClock::system(ClockId::Tai);
        let now = clock.now_ns();
        ep.service(now, &mut a, &s, 0);
        assert!(ep.next_wake(now, &s) > now, "nothing to do yet");
        let mut rx = RxBatch::new();
        let mut fed = 0;
        while fed < 3 {
            a.rx_burst(&mut rx);
            while let Some(f) = rx.pop_front() {
                ep.feed(f, now, &mut a);
                fed += 1;
            }
        }
        // The loop must serve (wake the worker) before it sleeps.
        assert_eq!(ep.next_wake(now, &s), now);
        ep.wake_worker();
        assert!(ep.next_wake(now, &s) > now, "woken: nothing left to do");
        let mut seen = Vec::new();
        while let Some(ToWorker::Frame { frame, .. }) = worker.from_data.dequeue() {
            seen.push(frame.bytes()[14]);
        }
        assert_eq!(seen, vec![0, 1, 2]);
        assert_eq!(ep.counters().rx_frames, 3);
    }

    #[test]
    fn a_stamp_taken_while_the_data_path_stalled_past_the_window_is_handed_over_next() {
        let sched = schedule();
        let (mut ep, mut worker, mut dev, _peer) = endpoint();
        let sync = ToSend {
            frame: PtpFrame::copy_of(&[0x5a; 60]).unwrap(),
            stamp_tag: Some(7),
        };
        assert!(worker.to_data.enqueue(sync).is_ok());
        let t0 = 1_000_000_000;
        ep.service(t0, &mut dev, &sched, 0);
        assert_eq!(ep.counters().tx_frames, 1);
        assert_eq!(ep.next_wake(t0, &sched), t0 + STAMP_LOOK_NS);
        // The next service comes only after the window (the thread was
        // not scheduled): the stamp the device has goes to the worker.
        let late = t0 + 3 * STAMP_WAIT_NS;
        ep.service(late, &mut dev, &sched, 0);
        match worker.from_data.dequeue() {
            Some(ToWorker::Stamp { tag, .. }) => assert_eq!(tag, 7),
            Some(ToWorker::Frame { .. }) => panic!("a frame, not the stamp"),
            None => panic!("the stamp stayed with the device"),
        }
        assert_eq!(ep.counters().tx_stamps, 1);
        // That was the look after the window: back to the slow pace.
        assert_eq!(ep.next_wake(late, &sched), late + LOOK_NS);
    }
}
