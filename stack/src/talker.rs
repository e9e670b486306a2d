//! The time-triggered transmit loop: walk the plan, wait until each
//! frame's launch time minus the advance (`rt::wait_until`: nanosleep,
//! hybrid or spin), build it in a pool buffer, hand
//! it to the ring, and record the transmit error. A frame that would leave
//! after its gate closes is counted late and not sent.
//!
//! Everything here is allocation-free once `Talker::new` has run.

use crate::plan::{Plan, Planned, Until};
use crate::progress::Progress;
use crate::stats::{IntervalLog, MetricKind, StreamStats};
use crate::wire::{self, StreamFrameFields, Vlan, FCS_LEN};
use std::iter::Peekable;
use takt_drivers::{RingDevice, TxBatch, TxFrame, MAX_BURST};
use takt_scheduler::{rt, ClockId, Schedule};

/// Default advance for devices with launch time: frames are queued this
/// early and leave at their launch time, so wake-up jitter up to this much
/// (a non-real-time thread sees tens of us) costs nothing.
pub const LAUNCH_TIME_ADVANCE_NS: u64 = 200_000;

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
    plan: Peekable<Plan>,
    templates: Vec<Template>,
    /// Next sequence number per stream (frames actually sent).
    seq: Vec<u64>,
    pending: TxBatch,
    clock: ClockId,
    launch_time: bool,
    advance_ns: u64,
    opts: TalkerOptions,
    hist_log: Option<IntervalLog>,
}

impl Talker {
    /// `schedule` should be `started_at(now + lead)` so its first cycle is
    /// in the future. The device must use the schedule's clock.
    pub fn new(schedule: &Schedule, dev: &dyn RingDevice, opts: TalkerOptions) -> Self {
        let info = dev.info();
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
                },
                len: (s.frame_size as usize - FCS_LEN).min(info.buf_size),
                wire_ns: schedule.link().wire_time_ns(s.frame_size),
            })
            .collect();
        Talker {
            hist_log: None,
            plan: Plan::new(std::sync::Arc::new(schedule.clone()), opts.until).peekable(),
            seq: vec![0; templates.len()],
            pending: TxBatch::new(),
            templates,
            clock: schedule.clock(),
            launch_time: info.caps.launch_time,
            advance_ns: opts.advance_ns.unwrap_or(if info.caps.launch_time {
                LAUNCH_TIME_ADVANCE_NS
            } else {
                0
            }),
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

        while let Some(p) = self.plan.next() {
            if rt::stop_requested() {
                summary.interrupted = true;
                break;
            }
            let deadline = p.launch_ns.saturating_sub(self.advance_ns);
            if self.clock.now_ns() < deadline {
                self.flush(dev, &mut pending);
                rt::wait_until(self.clock, deadline, self.opts.wake);
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
            let depart = tx_ns.max(wire_free_ns);
            let st = &mut stats[p.stream];
            if depart.saturating_add(t.wire_ns) > p.window_end_ns {
                st.late += 1;
                late += 1;
            } else if self.queue(dev, &mut pending, &p, self.seq[p.stream], tx_ns) {
                self.seq[p.stream] += 1;
                wire_free_ns = depart + t.wire_ns;
                st.frames_sent += 1;
                let err = tx_ns as i64 - p.launch_ns as i64;
                st.tx_error_ns.record(err);
                if let Some(log) = &mut self.hist_log {
                    log.record_stream(p.stream, MetricKind::TxError, err);
                    log.tick(now);
                }
                sent += 1;
            } else {
                summary.no_buffer += 1;
                st.late += 1;
                late += 1;
            }
            let next_due = self
                .plan
                .peek()
                .map(|n| n.launch_ns.saturating_sub(self.advance_ns));
            if pending.len() >= self.opts.batch || next_due.is_none_or(|d| d > self.clock.now_ns())
            {
                self.flush(dev, &mut pending);
            }
            progress.set_counts(sent, 0, late);
        }
        self.drain(dev, &mut pending);
        self.pending = pending;
        summary
    }

    /// Also record transmit errors into an HdrHistogram interval log.
    pub fn with_hist_log(mut self, log: IntervalLog) -> Self {
        self.hist_log = Some(log);
        self
    }

    /// The interval log, to `finish` it after the run.
    pub fn take_hist_log(&mut self) -> Option<IntervalLog> {
        self.hist_log.take()
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
            launch_time_ns: self.launch_time.then_some(p.launch_ns),
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
