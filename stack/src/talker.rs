//! The time-triggered transmit loop: walk the plan, wait until each
//! frame's launch time minus the advance (`rt::wait_until`: nanosleep,
//! hybrid or spin), build it in a pool buffer, hand
//! it to the ring, and record the transmit error. A frame that would leave
//! after its gate closes is counted late and not sent.
//!
//! Everything here is allocation-free once `Talker::new` has run.

use crate::clock::SchedClock;
use crate::control::plane::ControlPlane;
use crate::frames::{FrameRecord, FramesLog, RecordKind, Stage, FLAG_COUNTED, FLAG_LATE};
use crate::plan::{Plan, Planned, Until};
use crate::progress::Progress;
use crate::ptp::endpoint::PtpEndpoint;
use crate::ptp::SyncStatus;
use crate::sidecar::Sidecars;
use crate::stages::{self, InFlight, StampTable};
use crate::stats::{IntervalLog, MetricKind, StreamStats};
use crate::wire::{self, StreamFrameFields, Vlan, FCS_LEN};
use std::sync::Arc;
use takt_drivers::{RingDevice, StampSource, TxBatch, TxFrame, TxStamp, MAX_BURST};
use takt_scheduler::{rt, Schedule};

/// Default advance for devices with launch time: frames are queued this
/// early and leave at their launch time, so wake-up jitter up to this much
/// (a non-real-time thread sees tens of us) costs nothing.
pub const LAUNCH_TIME_ADVANCE_NS: u64 = 200_000;

/// Control-plane work stops this long before a frame's wake-up time, so a
/// poll that runs long (a burst of pings) cannot make the frame late.
pub const CONTROL_BUDGET_NS: u64 = 50_000;

/// After the last frame, wait this long past its launch time (or the
/// end of the run, the later) for transmit stamps still to come.
pub const STAMP_WAIT_NS: u64 = 20_000_000;

/// On a device whose transmit stamps cost system calls (`packet:`'s
/// kernel-software stamps: a stamped frame is a `sendmsg` of its own, its
/// stamp a read of the error queue) at most one frame per this long asks
/// for one: stamping all of them made a 16,000 frames/s run mostly late.
pub const KERNEL_STAMP_EVERY_NS: u64 = 1_000_000;

/// Interval-log tag of the PTP port's offset from its master.
pub const PTP_OFFSET_TAG: &str = "ptp.offset";

/// How the talker waits for its protocols' next work (`wake`) before a
/// frame's wake-up time `deadline`: that work is not time-critical, so a
/// hybrid wait sleeps all the way instead of spinning its margin, and ends
/// a margin earlier, so a late wake-up costs no more than the frame's own
/// hybrid wait would. Under a PTP flood the port asks for service every
/// 50 us (transmit stamps); spinning those waits kept the thread busy all
/// the time, and the kernel's RT throttling then stopped it for 50 ms
/// every second (docs/latency.md, "PTP flood"). Spin mode spins, as asked.
pub fn idle_wait(wake: rt::WakeConfig, at_ns: u64, deadline_ns: u64) -> (u64, rt::WakeConfig) {
    match wake.mode {
        rt::Wake::Hybrid => {
            let latest = deadline_ns
                .saturating_sub(CONTROL_BUDGET_NS)
                .saturating_sub(wake.margin_ns);
            (
                at_ns.min(latest),
                rt::WakeConfig {
                    mode: rt::Wake::Nanosleep,
                    ..wake
                },
            )
        }
        _ => (at_ns, wake),
    }
}

#[derive(Clone, Copy, Debug)]
pub struct TalkerOptions {
    /// Wake this long before a frame's launch time to build and queue it.
    /// `None`: [`LAUNCH_TIME_ADVANCE_NS`] when the device holds frames until
    /// their launch time, else 0 (wake at the launch time and send).
    pub advance_ns: Option<u64>,
    /// Most frames handed to the ring in one burst (1..=MAX_BURST).
    pub batch: usize,
    pub until: Until,
    /// How the loop waits for each frame's wake-up time: absolute
    /// nanosleep (default), sleep then spin (hybrid), or spin.
    pub wake: rt::WakeConfig,
}

impl Default for TalkerOptions {
    fn default() -> Self {
        TalkerOptions {
            advance_ns: None,
            batch: 32,
            until: Until::Forever,
            wake: rt::WakeConfig::default(),
        }
    }
}

/// What the run did besides the per-stream statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TalkerSummary {
    /// Cycles started.
    pub cycles: u64,
    pub first_launch_ns: Option<u64>,
    pub last_launch_ns: Option<u64>,
    /// Frames dropped because the pool had no buffer (also counted late).
    pub no_buffer: u64,
    /// Stopped by SIGINT/SIGTERM before the end.
    pub interrupted: bool,
}

/// Per-stream header fields fixed for the run.
struct Template {
    fields: StreamFrameFields,
    len: usize,
    wire_ns: u64,
}

/// A talker set up for one run: everything it needs is allocated here, so
/// `run` allocates nothing.
pub struct Talker {
    plan: Plan,
    /// The plan's next frame, taken early to see whether to flush.
    peeked: Option<Planned>,
    /// The last frame handled (sent or late): a new plan resumes after it.
    last: Option<Planned>,
    /// Scratch for the sequence numbers a new plan continues from.
    resume_seq: Vec<u64>,
    /// The control plane and the PTP port, served between frames.
    sidecars: Sidecars,
    /// Frames sent while out of sync are counted apart (`None`: no PTP).
    sync: Option<Arc<SyncStatus>>,
    templates: Vec<Template>,
    /// Next sequence number per stream (frames actually sent).
    seq: Vec<u64>,
    pending: TxBatch,
    clock: SchedClock,
    launch_time: bool,
    advance_ns: u64,
    opts: TalkerOptions,
    hist_log: Option<IntervalLog>,
    /// Per-frame records (`--frames-log`), when asked for.
    frames_log: Option<FramesLog>,
    /// How the device stamps transmits, when that is a transmit time:
    /// every stream frame then asks for its stamp (stage T).
    tx_stamps: Option<StampSource>,
    /// Frames waiting for their stamp (allocated only with `tx_stamps`).
    in_flight: StampTable,
    /// At most one frame per stream per this long asks for a stamp (0:
    /// every frame).
    stamp_every_ns: u64,
    /// Per stream: the next frame handed over at or after this asks for one.
    next_stamp_ns: Vec<u64>,
}

impl Talker {
    /// `schedule` should be `started_at(now + lead)` so its first cycle is
    /// in the future. The device must use the schedule's clock.
    pub fn new(schedule: &Schedule, dev: &dyn RingDevice, opts: TalkerOptions) -> Self {
        let info = dev.info();
        // One instance id for all streams of this run: a listener tells a
        // restart from a forged or stale frame by it.
        let epoch = wire::fresh_epoch();
        let templates: Vec<Template> = schedule
            .streams()
            .iter()
            .enumerate()
            .map(|(i, s)| Template {
                fields: StreamFrameFields {
                    dst: s.dst_mac,
                    src: info.mac,
                    vlan: Some(Vlan {
                        pcp: s.pcp,
                        dei: false,
                        vid: s.vlan_id,
                    }),
                    stream_id: i as u16,
                    sequence: 0,
                    launch_ns: 0,
                    tx_ns: 0,
                    tx_hw_timestamp: false,
                    epoch,
                },
                len: (s.frame_size as usize - FCS_LEN).min(info.buf_size),
                wire_ns: schedule.link().wire_time_ns(s.frame_size),
            })
            .collect();
        let tx_stamps = stages::transmit_stamps(info);
        let advance_ns = opts.advance_ns.unwrap_or(if info.caps.launch_time {
            LAUNCH_TIME_ADVANCE_NS
        } else {
            0
        });
        Talker {
            hist_log: None,
            frames_log: None,
            tx_stamps,
            stamp_every_ns: if tx_stamps == Some(StampSource::KernelSoftware) {
                KERNEL_STAMP_EVERY_NS
            } else {
                0
            },
            next_stamp_ns: vec![0; templates.len()],
            // Empty unless stamps come (the slots are allocated here).
            in_flight: if tx_stamps.is_some() {
                StampTable::new(frames_in_window(schedule, advance_ns))
            } else {
                StampTable::empty()
            },
            plan: Plan::new(Arc::new(schedule.clone()), opts.until),
            peeked: None,
            last: None,
            resume_seq: vec![0; templates.len()],
            sidecars: Sidecars::for_talker(),
            sync: None,
            seq: vec![0; templates.len()],
            pending: TxBatch::new(),
            templates,
            clock: SchedClock::system(schedule.clock()),
            launch_time: info.caps.launch_time,
            advance_ns,
            opts: TalkerOptions {
                batch: opts
                    .batch
                    .clamp(1, MAX_BURST.min(info.caps.max_batch.max(1))),
                ..opts
            },
        }
    }

    /// Run until the plan ends or a stop is requested. `stats` has one
    /// entry per schedule stream, in order.
    pub fn run(
        &mut self,
        dev: &mut dyn RingDevice,
        stats: &mut [StreamStats],
        progress: &Progress,
    ) -> TalkerSummary {
        let mut summary = TalkerSummary::default();
        // Best effort: a talker that can't lower its slack still runs, later.
        let _ = rt::minimize_timer_slack();
        let mut pending = std::mem::take(&mut self.pending);
        let (mut sent, mut late) = (0u64, 0u64);
        // When this talker's own previous frame leaves the wire: a frame
        // can't start before that, so an overbooked window runs out.
        let mut wire_free_ns = 0u64;

        self.sidecars
            .set_launch_lead(self.launch_time.then_some(self.advance_ns), &self.clock);
        let offset_slot = self.hist_log.as_ref().and_then(|l| l.slot(PTP_OFFSET_TAG));
        while let Some(p) = self.peeked.take().or_else(|| self.plan.next()) {
            if rt::stop_requested() {
                summary.interrupted = true;
                break;
            }
            let deadline = p.launch_ns.saturating_sub(self.advance_ns);
            // W: when the loop reached the frame, or woke up for it.
            let mut wake_ns = self.clock.now_ns();
            if wake_ns < deadline {
                self.flush(dev, &mut pending);
                if self.control_idle(dev, &p, deadline, stats, summary.cycles) {
                    // A new plan took over: it decides what comes next.
                    continue;
                }
                crate::round_trip::wait_until(
                    &mut self.sidecars,
                    dev,
                    &self.clock,
                    deadline,
                    self.opts.wake,
                    self.frames_log.as_mut(),
                );
                wake_ns = self.clock.now_ns();
                if rt::stop_requested() {
                    summary.interrupted = true;
                    break;
                }
            }
            summary.first_launch_ns.get_or_insert(p.launch_ns);
            summary.last_launch_ns = Some(p.launch_ns);
            summary.cycles = p.cycle + 1;

            let t = &self.templates[p.stream];
            let now = self.clock.now_ns();
            // The transmit time: when the frame is handed over, or its launch
            // time if the device holds it until then. Queueing behind earlier
            // frames is not in it, so an overbooked wire shows as latency;
            // the late check does count it.
            let tx_ns = if self.launch_time {
                now.max(p.launch_ns)
            } else {
                now
            };
            let side_free = self.sidecars.wire_free_at_ns();
            let depart = tx_ns.max(wire_free_ns).max(side_free);
            let st = &mut stats[p.stream];
            let seq = self.seq[p.stream];
            if depart.saturating_add(t.wire_ns) > p.window_end_ns {
                st.late += 1;
                late += 1;
                self.log_late(&p, seq);
            } else if self.queue(
                dev,
                &mut pending,
                &p,
                seq,
                tx_ns,
                self.wants_stamp(&p, tx_ns),
            ) {
                if let Some(r) = self.sidecars.round_trip_mut() {
                    r.on_sent(p.stream, seq, tx_ns, p.launch_ns);
                }
                self.seq[p.stream] += 1;
                wire_free_ns = depart + t.wire_ns;
                st.frames_sent += 1;
                if self.sync.as_ref().is_some_and(|s| !s.is_synced()) {
                    st.unsynced += 1;
                }
                let err = tx_ns as i64 - p.launch_ns as i64;
                st.tx_error_ns.record(err);
                if let Some(m) = &mut st.stages.wake_error {
                    m.record(wake_ns as i64 - p.launch_ns as i64);
                }
                let f = InFlight {
                    tag: 0,
                    stream: p.stream as u16,
                    seq,
                    scheduled_ns: p.launch_ns,
                    wake_ns,
                    hand_over_ns: tx_ns,
                };
                if self.wants_stamp(&p, tx_ns) {
                    // Its record waits for T (or for T given up).
                    self.next_stamp_ns[p.stream] = tx_ns.saturating_add(self.stamp_every_ns);
                    let (_, gone) = self.in_flight.insert(f);
                    if let Some(g) = gone {
                        self.log_tx(&g, None);
                    }
                } else {
                    self.log_tx(&f, None);
                }
                if let Some(log) = &mut self.hist_log {
                    log.record_stream(p.stream, MetricKind::TxError, err);
                    if log.tick(now) || offset_slot.is_some() {
                        self.sidecars.drain_offsets(|(_, o)| {
                            if let Some(slot) = offset_slot {
                                log.record(slot, o);
                            }
                        });
                    }
                }
                if let Some(ctl) = self.sidecars.control_mut() {
                    ctl.record(p.stream, MetricKind::TxError, err);
                }
                sent += 1;
            } else {
                summary.no_buffer += 1;
                st.late += 1;
                late += 1;
                self.log_late(&p, seq);
            }
            self.last = Some(p);
            if self.peeked.is_none() {
                self.peeked = self.plan.next();
            }
            let next_due = self
                .peeked
                .as_ref()
                .map(|n| n.launch_ns.saturating_sub(self.advance_ns));
            if pending.len() >= self.opts.batch || next_due.is_none_or(|d| d > self.clock.now_ns())
            {
                self.flush(dev, &mut pending);
                self.take_stamps(dev, stats);
            }
            progress.set_counts(sent, 0, late);
        }
        self.drain(dev, &mut pending);
        self.pending = pending;
        self.wait_for_stamps(dev, stats, summary.last_launch_ns.unwrap_or(0));
        if let Some(timeout) = self
            .sidecars
            .round_trip_mut()
            .map(|r| r.options().timeout_ns)
        {
            // The last returns are on their way: wait for them (or for the
            // timeout after which they count lost).
            let last = summary.last_launch_ns.unwrap_or(0);
            let end = self.clock.now_ns().max(last).saturating_add(timeout);
            self.serve_control_until(dev, stats, summary.cycles, end);
            crate::round_trip::drain_records(&mut self.sidecars, self.frames_log.as_mut());
        }
        if let Until::Time(end) = self.opts.until {
            if !summary.interrupted {
                self.idle_until(dev, stats, summary.cycles, end);
                summary.interrupted = rt::stop_requested();
            }
        }
        summary
    }

    /// A run with an end time lasts until then even when its last frame
    /// (or its first cycle, far ahead) comes earlier: a long cycle must not
    /// end a `--duration` run early. The control plane and PTP go on.
    fn idle_until(
        &mut self,
        dev: &mut dyn RingDevice,
        stats: &[StreamStats],
        cycles: u64,
        end_ns: u64,
    ) {
        self.serve_control_until(dev, stats, cycles, end_ns);
        // Nothing to serve: sleep (never spin) to the end, or to a signal.
        let sleep = rt::WakeConfig {
            mode: rt::Wake::Nanosleep,
            ..self.opts.wake
        };
        while !rt::stop_requested() && self.clock.now_ns() < end_ns {
            rt::wait_until(&self.clock, end_ns, sleep);
        }
    }

    /// Run on `clock` (default: the schedule's system clock as it is):
    /// launch times and waits follow it.
    pub fn with_clock(mut self, clock: SchedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Run the control plane (ARP, ping, the UDP service) in this loop's
    /// idle time.
    pub fn with_control(mut self, control: ControlPlane) -> Self {
        self.sidecars.set_control(control);
        self
    }

    /// Run these protocols (control plane, PTP port) in this loop's idle
    /// time, replacing any set before.
    pub fn with_sidecars(mut self, sidecars: Sidecars) -> Self {
        self.sidecars = sidecars;
        self
    }

    /// Measure round trips against a mirror (docs/round-trip.md); after
    /// `with_sidecars`, which would replace it.
    pub fn with_round_trip(
        mut self,
        opts: crate::round_trip::RoundTripOptions,
        dev: &dyn RingDevice,
    ) -> Self {
        let rt =
            crate::round_trip::RoundTrip::for_device(self.plan.schedule(), self.epoch(), dev, opts);
        self.sidecars
            .set_round_trip(rt, crate::round_trip::poll_interval_ns(self.opts.wake));
        self
    }

    /// The round trips, to `finish` them into the stats after the run.
    pub fn take_round_trip(&mut self) -> Option<crate::round_trip::RoundTrip> {
        self.sidecars.take_round_trip()
    }

    /// Count frames sent while `sync` says the clock is out of sync.
    pub fn with_sync(mut self, sync: Arc<SyncStatus>) -> Self {
        self.sync = Some(sync);
        self
    }

    /// The control plane, to `finish` it after the run.
    pub fn take_control(&mut self) -> Option<ControlPlane> {
        self.sidecars.take_control()
    }

    /// The PTP port's data-path end, after the run.
    pub fn take_ptp(&mut self) -> Option<PtpEndpoint> {
        self.sidecars.take_ptp()
    }

    /// The schedule running now (the last one installed).
    pub fn schedule(&self) -> &Arc<Schedule> {
        self.plan.schedule()
    }

    /// After the run: keep answering ARP, ping and status requests until
    /// `end_ns` (or a stop request), with the counters as they ended.
    pub fn serve_control_until(
        &mut self,
        dev: &mut dyn RingDevice,
        stats: &[StreamStats],
        cycles: u64,
        end_ns: u64,
    ) {
        if self.sidecars.is_empty() {
            return;
        }
        let schedule = Arc::clone(self.plan.schedule());
        loop {
            let now = self.clock.now_ns();
            if now >= end_ns || rt::stop_requested() {
                return;
            }
            self.sidecars
                .service(now, dev, &schedule, &self.clock, stats, cycles);
            if let Some(ctl) = self.sidecars.control_mut() {
                if ctl.pending_plan().is_some() {
                    ctl.plan_refused(
                        br#"{"accepted":false,"error":"the talker's run has ended: there is no schedule to change"}"#,
                    );
                }
            }
            let wake = self.sidecars.next_wake(now, &schedule).min(end_ns);
            rt::wait_until(&self.clock, wake, self.opts.wake);
        }
    }

    /// Serve the control plane until `deadline` − [`CONTROL_BUDGET_NS`]
    /// while waiting to send `p`. True when an accepted schedule change
    /// replaced the plan (then `p` is the new plan's to decide).
    fn control_idle(
        &mut self,
        dev: &mut dyn RingDevice,
        p: &Planned,
        deadline: u64,
        stats: &[StreamStats],
        cycles: u64,
    ) -> bool {
        if self.sidecars.is_empty() {
            return false;
        }
        loop {
            let now = self.clock.now_ns();
            if now.saturating_add(CONTROL_BUDGET_NS) >= deadline {
                return false;
            }
            self.sidecars
                .service(now, dev, self.plan.schedule(), &self.clock, stats, cycles);
            if let Some(ctl) = self.sidecars.control_mut() {
                if let Some(new) = ctl.pending_plan() {
                    // `p` was taken from the old plan but not sent: the new
                    // one starts after the frame before it, with p's number
                    // next.
                    self.resume_seq.copy_from_slice(self.plan.sequences());
                    self.resume_seq[p.stream] = p.seq;
                    let after = self.last.unwrap_or(Planned {
                        stream: 0,
                        seq: 0,
                        cycle: 0,
                        frame: 0,
                        launch_ns: 0,
                        window_end_ns: 0,
                    });
                    if new.resume_after(&after, &self.resume_seq).is_ok() {
                        std::mem::swap(&mut self.plan, new);
                        ctl.plan_installed();
                    } else {
                        ctl.plan_refused(
                            br#"{"accepted":false,"error":"the new schedule's streams are not the running ones"}"#,
                        );
                    }
                    return true;
                }
            }
            let wake = self.sidecars.next_wake(now, self.plan.schedule());
            if wake.saturating_add(CONTROL_BUDGET_NS) >= deadline {
                return false;
            }
            if wake > now {
                let (until, how) = idle_wait(self.opts.wake, wake, deadline);
                if until <= now {
                    return false; // the frame's own wait from here
                }
                // Waiting for returns: sleep in the device, so a return wakes
                // the talker and is taken at once (its rtt is not the poll
                // interval).
                if how.mode != rt::Wake::Spin
                    && self.sidecars.round_trip_mut().is_some()
                    && dev.wait_rx(until - now)
                {
                    let now = self.clock.now_ns();
                    self.sidecars.poll_now(now, dev, &self.clock);
                    crate::round_trip::drain_records(&mut self.sidecars, self.frames_log.as_mut());
                } else {
                    rt::wait_until(&self.clock, until, how);
                }
            }
            if rt::stop_requested() {
                return false;
            }
        }
    }

    /// Also record transmit errors into an HdrHistogram interval log.
    pub fn with_hist_log(mut self, log: IntervalLog) -> Self {
        self.hist_log = Some(log);
        self
    }

    /// Hand every frame's stage times to this log.
    pub fn with_frames_log(mut self, log: FramesLog) -> Self {
        self.frames_log = Some(log);
        self
    }

    /// The frames log, to finish it after the run.
    pub fn take_frames_log(&mut self) -> Option<FramesLog> {
        self.frames_log.take()
    }

    /// The interval log, to `finish` it after the run.
    pub fn take_hist_log(&mut self) -> Option<IntervalLog> {
        self.hist_log.take()
    }

    /// This talker's instance id (in every frame's header).
    pub fn epoch(&self) -> u64 {
        self.templates.first().map_or(0, |t| t.fields.epoch)
    }

    /// Frames sent so far per stream.
    pub fn sent(&self) -> &[u64] {
        &self.seq
    }

    /// Build frame `p` in a fresh buffer and queue it; false if no buffer.
    fn queue(
        &self,
        dev: &mut dyn RingDevice,
        pending: &mut TxBatch,
        p: &Planned,
        seq: u64,
        tx_ns: u64,
        stamp: bool,
    ) -> bool {
        let Some(buf) = dev.alloc().or_else(|| {
            // Completions return buffers: push what is queued, then retry.
            self.flush(dev, pending);
            dev.alloc()
        }) else {
            return false;
        };
        let t = &self.templates[p.stream];
        let fields = StreamFrameFields {
            sequence: seq,
            launch_ns: p.launch_ns,
            tx_ns,
            ..t.fields
        };
        // The template was validated at start-up (VLAN, length), so encode
        // cannot fail; if it somehow does, the buffer goes back unsent.
        if wire::encode(dev.buf_mut(&buf), &fields, t.len).is_err() {
            dev.free(buf);
            return false;
        }
        let frame = TxFrame {
            buf,
            len: t.len,
            launch_time_ns: self.launch_time.then(|| self.clock.to_device(p.launch_ns)),
            // The tag `run` files the frame under right after (stage T).
            stamp_tag: stamp.then(|| self.in_flight.next_tag()),
        };
        if let Err(frame) = pending.push_back(frame) {
            // Full batch: make room, then it fits.
            self.flush(dev, pending);
            if let Err(frame) = pending.push_back(frame) {
                dev.free(frame.buf);
                return false;
            }
        }
        true
    }

    /// Transmit stamps of stream frames that came: T - H into the
    /// stream's `driver` metric, the frame's record to the log.
    fn take_stamps(&mut self, dev: &mut dyn RingDevice, stats: &mut [StreamStats]) {
        // Nothing to wait for: no call (on packet: a system call).
        if self.in_flight.waiting() == 0 {
            return;
        }
        let (table, clock) = (&mut self.in_flight, &self.clock);
        let log = &mut self.frames_log;
        self.sidecars.take_stream_stamps(dev, |s: TxStamp| {
            let Some(f) = table.take(s.tag) else {
                return; // given up already (or not ours)
            };
            let t_ns = clock.from_device(s.time_ns);
            if let Some(m) = stats
                .get_mut(usize::from(f.stream))
                .and_then(|st| st.stages.driver.as_mut())
            {
                m.record(t_ns as i64 - f.hand_over_ns as i64);
            }
            if let Some(log) = log {
                log.push(&tx_record(&f, Some(t_ns)));
            }
        });
    }

    /// After the last frame: the stamps still to come, until they all
    /// have or [`STAMP_WAIT_NS`] past the last launch (or now); the rest
    /// are given up (T absent, and their records written so).
    fn wait_for_stamps(
        &mut self,
        dev: &mut dyn RingDevice,
        stats: &mut [StreamStats],
        last_launch_ns: u64,
    ) {
        if self.tx_stamps.is_none() {
            return;
        }
        let end = last_launch_ns.max(self.clock.now_ns()) + STAMP_WAIT_NS;
        let nap = rt::WakeConfig {
            mode: rt::Wake::Nanosleep,
            ..self.opts.wake
        };
        loop {
            self.take_stamps(dev, stats);
            let now = self.clock.now_ns();
            if self.in_flight.waiting() == 0 || now >= end || rt::stop_requested() {
                break;
            }
            rt::wait_until(&self.clock, (now + 100_000).min(end), nap);
        }
        let log = &mut self.frames_log;
        self.in_flight.give_up_all(|f| {
            if let Some(log) = log {
                log.push(&tx_record(&f, None));
            }
        });
    }

    /// Whether frame `p`, handed over at `tx_ns`, asks for a transmit stamp.
    fn wants_stamp(&self, p: &Planned, tx_ns: u64) -> bool {
        self.tx_stamps.is_some() && tx_ns >= self.next_stamp_ns[p.stream]
    }

    /// A sent frame's record, T absent (no stamp asked, or given up).
    fn log_tx(&mut self, f: &InFlight, t_ns: Option<u64>) {
        if let Some(log) = &mut self.frames_log {
            log.push(&tx_record(f, t_ns));
        }
    }

    /// A frame not sent, its window closed: S only.
    fn log_late(&mut self, p: &Planned, seq: u64) {
        if let Some(log) = &mut self.frames_log {
            let mut r = FrameRecord::new(RecordKind::Tx, p.stream as u16, seq);
            r.flags = FLAG_LATE;
            r.set(Stage::Scheduled, p.launch_ns);
            log.push(&r);
        }
    }

    /// Allocate the stage metrics this talker fills (wake_error, and
    /// driver when the device stamps transmits): call at start-up.
    pub fn prepare_stats(&self, stats: &mut [StreamStats]) {
        let src = self.tx_stamps.map(StampSource::as_str);
        for st in stats {
            st.stages.enable_talker(src);
        }
    }

    fn flush(&self, dev: &mut dyn RingDevice, pending: &mut TxBatch) {
        if !pending.is_empty() {
            dev.tx_burst(pending);
        }
    }

    /// At the end: keep offering what the ring refused for a while, then
    /// give the buffers back.
    fn drain(&self, dev: &mut dyn RingDevice, pending: &mut TxBatch) {
        let give_up = self.clock.now_ns() + 100_000_000;
        while !pending.is_empty() && self.clock.now_ns() < give_up {
            if dev.tx_burst(pending) == 0 {
                std::hint::spin_loop();
            }
        }
        while let Some(f) = pending.pop_front() {
            dev.free(f.buf);
        }
    }
}

/// A sent frame's record: S, W, H, and T when it came. Its W - S and
/// H - S are in the histograms (and T - H with T), so it is counted.
fn tx_record(f: &InFlight, t_ns: Option<u64>) -> FrameRecord {
    let mut r = FrameRecord::new(RecordKind::Tx, f.stream, f.seq);
    r.flags = FLAG_COUNTED;
    r.set(Stage::Scheduled, f.scheduled_ns);
    r.set(Stage::Wake, f.wake_ns);
    r.set(Stage::HandOver, f.hand_over_ns);
    if let Some(t) = t_ns {
        r.set(Stage::TxStamp, t);
    }
    r
}

/// Bytes of the table of frames waiting for their transmit stamp, on a
/// device that stamps transmits, with this advance.
pub fn stamp_table_bytes(schedule: &Schedule, advance_ns: u64) -> u64 {
    (StampTable::capacity_for(frames_in_window(schedule, advance_ns)) * StampTable::BYTES_PER_SLOT)
        as u64
}

/// Frames one talker has in flight at most: those launching within the
/// advance, plus two cycles and a margin (the stamp table's size).
fn frames_in_window(schedule: &Schedule, advance_ns: u64) -> usize {
    let per_cycle: u64 = schedule
        .streams()
        .iter()
        .map(|s| u64::from(s.frames_per_cycle))
        .sum();
    let cycle = schedule
        .oper()
        .cycle_time_ns()
        .min(schedule.admin().map_or(u64::MAX, |a| a.cycle_time_ns()));
    let cycles = (advance_ns / cycle.max(1)).saturating_add(2);
    usize::try_from(per_cycle.saturating_mul(cycles).saturating_add(1024)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use takt_scheduler::rt::{Wake, WakeConfig};

    #[test]
    fn idle_waits_sleep_instead_of_spinning_and_end_before_the_budget() {
        let hybrid = WakeConfig {
            mode: Wake::Hybrid,
            margin_ns: 50_000,
        };
        let deadline = 1_000_000;
        // Work due well before the frame: slept for, not spun.
        let (until, how) = idle_wait(hybrid, 300_000, deadline);
        assert_eq!((until, how.mode), (300_000, Wake::Nanosleep));
        // Work due near the frame: the sleep ends a margin before the
        // budget, where the frame's own hybrid wait takes over.
        let (until, _) = idle_wait(hybrid, 990_000, deadline);
        assert_eq!(until, deadline - CONTROL_BUDGET_NS - 50_000);
        for mode in [Wake::Nanosleep, Wake::Spin] {
            let w = WakeConfig {
                mode,
                margin_ns: 50_000,
            };
            let (until, how) = idle_wait(w, 990_000, deadline);
            assert_eq!((until, how.mode), (990_000, mode), "as asked");
        }
    }
}
