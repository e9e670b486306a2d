//! `takt-listener --mirror`: each received frame of a forward stream goes
//! back in the window of its return stream (`return_of`), with its
//! sequence, launch_ns, tx_ns and epoch kept, so the talker measures the
//! round trip on its own clock (docs/round-trip.md).
//!
//! The mirror does not trust its clock's phase against the talker's: it
//! estimates the talker's timeline from the stream (`estimate.rs`) and
//! picks the return slot in talker time (`slot.rs`). A return waits in a
//! fixed queue until it is due and is sent from the listener's busy-poll
//! loop. Allocation-free once `Mirror::new` has run.

pub mod estimate;
pub mod slot;

use crate::clock::SchedClock;
use crate::frames::{FrameRecord, FramesLog, RecordKind, Stage, FLAG_LATE};
use crate::wire::{self, StreamFrame, StreamFrameFields, Vlan, FCS_LEN};
use estimate::{to_mirror, to_talker, OffsetEstimator, DEFAULT_WINDOW_NS};
use heapless::Deque;
use std::sync::Arc;
use takt_drivers::{BufId, RingDevice, TxBatch, TxFrame};
use takt_scheduler::Schedule;

/// Returns waiting for their slot, at most.
pub const QUEUE_LEN: usize = 64;

/// Default time from a forward frame's arrival in userland to the earliest
/// return slot it may take: the copy and the hand-over to the device.
pub const DEFAULT_PROCESS_NS: u64 = 10_000;

/// How the mirror runs.
#[derive(Clone, Copy, Debug)]
pub struct MirrorOptions {
    /// Earliest slot = arrival (talker time) + this.
    pub process_ns: u64,
    /// Hand a return to a launch-time device this long before its slot
    /// (ignored without launch time: then it is handed over at the slot).
    pub advance_ns: u64,
    /// The d estimator's sliding window.
    pub window_ns: u64,
}

impl Default for MirrorOptions {
    fn default() -> Self {
        MirrorOptions {
            process_ns: DEFAULT_PROCESS_NS,
            advance_ns: crate::talker::LAUNCH_TIME_ADVANCE_NS,
            window_ns: DEFAULT_WINDOW_NS,
        }
    }
}

/// What the mirror did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MirrorCounters {
    /// Returns handed to the device.
    pub sent: u64,
    /// Returns whose slot had passed (or that had no slot) when they were
    /// due: not sent.
    pub late: u64,
    /// Forward frames that found the queue full: not sent.
    pub queue_full: u64,
    /// Forward frames that found no free buffer: not sent.
    pub no_buffer: u64,
    /// The d estimate (mirror clock - talker clock, incl. the shortest
    /// one-way delay): smallest and largest seen, and its steps (> 1 us).
    pub d_min_ns: Option<i64>,
    pub d_max_ns: Option<i64>,
    pub d_steps: u64,
}

/// A return waiting for its slot.
struct Due {
    buf: BufId,
    len: usize,
    /// Hand over at this mirror time.
    due_ns: u64,
    /// Its slot, talker time.
    slot: slot::Slot,
    stream: u16,
    seq: u64,
    rx_ns: u64,
    app_ns: u64,
    wire_ns: u64,
}

/// Per forward stream: its return's header.
#[derive(Clone, Copy)]
struct Template {
    ret: usize,
    fields: StreamFrameFields,
    len: usize,
    wire_ns: u64,
}

pub struct Mirror {
    schedule: Arc<Schedule>,
    /// Indexed by forward stream; `None`: no return stream.
    templates: Vec<Option<Template>>,
    /// Per stream: the last slot given out (talker time).
    last_slot: Vec<u64>,
    queue: Deque<Due, QUEUE_LEN>,
    batch: TxBatch,
    estimator: OffsetEstimator,
    launch_time: bool,
    opts: MirrorOptions,
    clock: SchedClock,
    counters: MirrorCounters,
    /// One cycle: how far after its ready time a return may be sent.
    max_wait_ns: u64,
}

impl Mirror {
    /// For `schedule`'s return streams, on `dev` and `clock` (the
    /// listener's). The schedule's cycles are counted from a second before
    /// now, so a talker whose clock is behind this one's is still inside.
    pub fn new(
        schedule: &Schedule,
        dev: &dyn RingDevice,
        clock: SchedClock,
        opts: MirrorOptions,
    ) -> Self {
        let info = dev.info();
        let schedule = Arc::new(schedule.started_at(clock.now_ns().saturating_sub(1_000_000_000)));
        let templates = (0..schedule.streams().len())
            .map(|f| {
                let ret = schedule.return_stream(f)?;
                let s = &schedule.streams()[ret];
                Some(Template {
                    ret,
                    fields: StreamFrameFields {
                        dst: s.dst_mac,
                        src: info.mac,
                        vlan: Some(Vlan {
                            pcp: s.pcp,
                            dei: false,
                            vid: s.vlan_id,
                        }),
                        stream_id: ret as u16,
                        ..StreamFrameFields::default()
                    },
                    len: (s.frame_size as usize - FCS_LEN).min(info.buf_size),
                    wire_ns: schedule.link().wire_time_ns(s.frame_size),
                })
            })
            .collect();
        let cycle_ns = schedule
            .oper()
            .cycle_time_ns()
            .max(schedule.admin().map_or(0, |a| a.cycle_time_ns()));
        Mirror {
            last_slot: vec![0; schedule.streams().len()],
            schedule,
            templates,
            queue: Deque::new(),
            batch: TxBatch::new(),
            estimator: OffsetEstimator::new(opts.window_ns),
            launch_time: info.caps.launch_time,
            opts,
            clock,
            counters: MirrorCounters::default(),
            max_wait_ns: cycle_ns,
        }
    }

    /// Whether any stream has a return (else the mirror has nothing to do).
    pub fn is_active(&self) -> bool {
        self.templates.iter().any(Option::is_some)
    }

    /// A forward frame the listener believed, received at `rx_ns` (device
    /// stamp) and seen by the loop at `app_ns`, both on the mirror's
    /// schedule clock: queue its return. The frame's bytes are read here;
    /// the caller frees its buffer.
    pub fn offer(
        &mut self,
        dev: &mut dyn RingDevice,
        bytes_of: &BufId,
        len: usize,
        rx_ns: u64,
        app_ns: u64,
        log: Option<&mut FramesLog>,
    ) {
        let fields = {
            let b = dev.buf(bytes_of);
            let Ok(f) = StreamFrame::new_checked(&b[..len.min(b.len())]) else {
                return;
            };
            f.fields()
        };
        let Some(Some(t)) = self.templates.get(usize::from(fields.stream_id)).copied() else {
            return;
        };
        let d = self.estimator.observe(rx_ns, fields.tx_ns);
        self.counters.d_min_ns = self.estimator.min;
        self.counters.d_max_ns = self.estimator.max;
        self.counters.d_steps = self.estimator.steps;
        let ready = to_talker(app_ns.max(rx_ns), d).saturating_add(self.opts.process_ns);
        // A return may wait behind earlier ones, at most one cycle after it
        // was ready: a frame the mirror had too late for its slot takes the
        // next cycle's; the frame after it, whose own slot that was, is
        // late instead. With two cycles it would take the slot after, and
        // so would every later frame: one slot per frame never drains a
        // backlog, and one miss put the rest of the run a cycle behind
        // (latency-tests/rtt: rtt p50 1.03 ms instead of 26 us).
        let limit = ready.saturating_add(self.max_wait_ns);
        let Some(slot) = slot::return_slot(&self.schedule, t.ret, ready, self.last_slot[t.ret])
            .filter(|s| s.launch_ns <= limit)
        else {
            self.counters.late += 1;
            // Its record, so the log accounts for every late return too.
            if let Some(log) = log {
                let mut rec = FrameRecord::new(RecordKind::Mirror, t.ret as u16, fields.sequence);
                rec.set(Stage::RxStamp, rx_ns);
                rec.set(Stage::App, app_ns);
                rec.flags |= FLAG_LATE;
                log.push(&rec);
            }
            return;
        };
        if self.queue.is_full() {
            self.counters.queue_full += 1;
            return;
        }
        let Some(buf) = dev.alloc() else {
            self.counters.no_buffer += 1;
            return;
        };
        let out = StreamFrameFields {
            sequence: fields.sequence,
            launch_ns: fields.launch_ns,
            tx_ns: fields.tx_ns,
            tx_hw_timestamp: fields.tx_hw_timestamp,
            epoch: fields.epoch,
            ..t.fields
        };
        let b = dev.buf_mut(&buf);
        if wire::encode(b, &out, t.len).is_err() {
            dev.free(buf);
            self.counters.no_buffer += 1;
            return;
        }
        if let Ok(mut f) = StreamFrame::new_checked(&mut b[..t.len]) {
            f.set_mirrored(true);
        }
        self.last_slot[t.ret] = slot.launch_ns;
        let lead = if self.launch_time {
            self.opts.advance_ns
        } else {
            0
        };
        let due = Due {
            buf,
            len: t.len,
            due_ns: to_mirror(slot.launch_ns, d).saturating_sub(lead),
            slot,
            stream: t.ret as u16,
            seq: fields.sequence,
            rx_ns,
            app_ns,
            wire_ns: t.wire_ns,
        };
        // Room was checked above.
        let _ = self.queue.push_back(due);
    }

    /// When the next return is due (mirror clock), if any.
    pub fn next_due(&self) -> Option<u64> {
        self.queue.iter().map(|d| d.due_ns).min()
    }

    /// Hand over every return due by `now_ns` (mirror clock), in order of
    /// their slots; a return whose window has closed is late, not sent.
    pub fn service(
        &mut self,
        now_ns: u64,
        dev: &mut dyn RingDevice,
        mut log: Option<&mut FramesLog>,
    ) {
        if self.next_due().is_none_or(|t| t > now_ns) {
            return;
        }
        let d = self.estimator.estimate().unwrap_or(0);
        let now_talker = to_talker(now_ns, d);
        for _ in 0..self.queue.len() {
            let Some(r) = self.queue.pop_front() else {
                break;
            };
            if r.due_ns > now_ns {
                let _ = self.queue.push_back(r);
                continue;
            }
            // Without launch time the frame leaves now; with it, at its slot.
            let leaves = if self.launch_time {
                now_talker.max(r.slot.launch_ns)
            } else {
                now_talker
            };
            let mut rec = FrameRecord::new(RecordKind::Mirror, r.stream, r.seq);
            rec.set(Stage::Scheduled, to_mirror(r.slot.launch_ns, d));
            rec.set(Stage::RxStamp, r.rx_ns);
            rec.set(Stage::App, r.app_ns);
            if leaves.saturating_add(r.wire_ns) > r.slot.window_end_ns {
                self.counters.late += 1;
                dev.free(r.buf);
                rec.flags |= FLAG_LATE;
            } else {
                let frame = TxFrame {
                    buf: r.buf,
                    len: r.len,
                    launch_time_ns: self
                        .launch_time
                        .then(|| self.clock.to_device(to_mirror(r.slot.launch_ns, d))),
                    stamp_tag: None,
                };
                if let Err(f) = self.batch.push_back(frame) {
                    dev.free(f.buf);
                    self.counters.no_buffer += 1;
                    continue;
                }
                rec.set(Stage::HandOver, now_ns);
                self.counters.sent += 1;
            }
            if let Some(l) = log.as_deref_mut() {
                l.push(&rec);
            }
        }
        while !self.batch.is_empty() {
            if dev.tx_burst(&mut self.batch) == 0 {
                // The ring is full: give these up rather than stall the
                // receive loop (counted as not sent).
                while let Some(f) = self.batch.pop_front() {
                    dev.free(f.buf);
                    self.counters.sent -= 1;
                    self.counters.no_buffer += 1;
                }
            }
        }
    }

    /// At the end of the run: what is still queued is not sent, counted
    /// late and recorded so (the listener calls this as it stops).
    pub fn drop_queued(&mut self, dev: &mut dyn RingDevice, mut log: Option<&mut FramesLog>) {
        let d = self.estimator.estimate().unwrap_or(0);
        while let Some(r) = self.queue.pop_front() {
            dev.free(r.buf);
            self.counters.late += 1;
            if let Some(log) = log.as_deref_mut() {
                let mut rec = FrameRecord::new(RecordKind::Mirror, r.stream, r.seq);
                rec.set(Stage::Scheduled, to_mirror(r.slot.launch_ns, d));
                rec.set(Stage::RxStamp, r.rx_ns);
                rec.set(Stage::App, r.app_ns);
                rec.flags |= FLAG_LATE;
                log.push(&rec);
            }
        }
    }

    /// At the end: what is still queued is not sent (counted late).
    pub fn finish(&mut self, dev: &mut dyn RingDevice) -> MirrorCounters {
        while let Some(r) = self.queue.pop_front() {
            dev.free(r.buf);
            self.counters.late += 1;
        }
        self.counters
    }

    pub fn counters(&self) -> MirrorCounters {
        self.counters
    }

    /// The current d estimate (mirror clock - talker clock), once a
    /// forward frame was seen.
    pub fn estimate_ns(&self) -> Option<i64> {
        self.estimator.estimate()
    }
}
