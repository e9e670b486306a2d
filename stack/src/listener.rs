//! The receive loop: busy-poll the ring, decode stream frames, record the
//! one-way latency (rx time - tx time) per stream, and count lost,
//! duplicate and reordered frames from the sequence numbers.
//!
//! Every frame is checked before it counts: a frame cut short
//! (`truncated`), with broken padding (`bad_padding`), an implausible
//! transmit time or a sequence number that does not fit (`rogue`, see
//! seq.rs), or that is no stream frame of this schedule (`other`) is
//! counted by reason and moves nothing else.
//!
//! Allocation-free once `Listener::new` has run.

use crate::clock::SchedClock;
use crate::control::is_stream_frame;
use crate::control::plane::ControlPlane;
use crate::frames::{
    FrameRecord, FramesLog, RecordKind, Stage, FLAG_COUNTED, FLAG_DUPLICATE, FLAG_UNSYNCED,
};
use crate::mirror::Mirror;
use crate::progress::Progress;
use crate::ptp::endpoint::PtpEndpoint;
use crate::ptp::SyncStatus;
use crate::rx_windows::RxWindows;
use crate::seq::{Arrival, JumpBound, SeqTracker};
use crate::sidecar::Sidecars;
use crate::stats::{IntervalLog, MetricKind, StreamStats, METRIC_MAX_NS};
use crate::talker::PTP_OFFSET_TAG;
use crate::wire::{StreamFrame, WireError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use takt_drivers::{DeviceInfo, RingDevice, RxBatch, StampSource};
use takt_scheduler::{rt, Schedule};

/// Longest sleep in `RingDevice::wait_rx`: a deadline another thread sets
/// (or a stop request) is seen at most this late.
const MAX_RX_SLEEP_NS: u64 = 10_000_000;
/// Publish the progress figures (incl. a percentile) this often.
const PROGRESS_EVERY_NS: u64 = 1_000_000_000;
/// A transmit time further than this from the receive time is not
/// believed (the frame is rogue): the latency metric cannot hold it
/// either, and a forged `tx_ns` must not become the run's maximum.
pub const MAX_PLAUSIBLE_LATENCY_NS: u64 = METRIC_MAX_NS;

/// What the run saw besides the per-stream statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerSummary {
    /// Frames that were not takt stream frames of this schedule (another
    /// EtherType, magic or header version, a declared length shorter than
    /// the header, an unknown stream id).
    pub other_frames: u64,
    /// Stream frames shorter than their headers or declared length.
    pub truncated: u64,
    /// Stopped by SIGINT/SIGTERM.
    pub interrupted: bool,
}

/// A frame's stages as the listener saw them: S and H from the frame, R
/// (its receive stamp) and A (the loop had it), all on the schedule clock.
#[derive(Clone, Copy, Debug)]
struct Seen {
    latency: i64,
    rec: FrameRecord,
}

pub struct Listener {
    trackers: Vec<SeqTracker>,
    /// Per stream: the frame its tracker holds, recorded only if a second
    /// frame confirms it.
    held: Vec<Option<Seen>>,
    /// Per stream: the (VLAN id, PCP) the schedule gives it.
    vlans: Vec<(u16, u8)>,
    /// The schedule clock, and the device's timestamps moved onto it.
    clock: SchedClock,
    hist_log: Option<IntervalLog>,
    /// Per-frame records (`--frames-log`), when asked for.
    frames_log: Option<FramesLog>,
    /// Spin: busy-poll the ring. Nanosleep / hybrid: sleep in the kernel
    /// until a frame comes (`RingDevice::wait_rx`) or timed work is due.
    wake: rt::WakeConfig,
    /// Where a hybrid listener spins.
    rx_windows: RxWindows,
    stop_on_signal: bool,
    /// The control plane and the PTP port: what is not a stream frame.
    sidecars: Sidecars,
    /// Samples taken while out of sync are kept apart (`None`: no PTP).
    sync: Option<Arc<SyncStatus>>,
    /// For the control plane's queries.
    schedule: Arc<Schedule>,
    /// `--mirror`: send forward frames back (docs/round-trip.md).
    mirror: Option<Mirror>,
}

impl Listener {
    /// For the streams of `schedule`, on `clock` (which also moves the
    /// device's timestamps onto the schedule clock).
    pub fn new(schedule: &Schedule, clock: SchedClock) -> Self {
        let streams = schedule.streams();
        // The shorter cycle of the two lists bounds how fast numbers move.
        let cycle_ns = schedule
            .oper()
            .cycle_time_ns()
            .min(schedule.admin().map_or(u64::MAX, |a| a.cycle_time_ns()));
        Listener {
            trackers: streams
                .iter()
                .map(|s| {
                    SeqTracker::with_bound(JumpBound::per_cycle(
                        u64::from(s.frames_per_cycle),
                        cycle_ns,
                    ))
                })
                .collect(),
            held: vec![None; streams.len()],
            vlans: streams.iter().map(|s| (s.vlan_id, s.pcp)).collect(),
            clock,
            hist_log: None,
            frames_log: None,
            rx_windows: RxWindows::new(schedule),
            wake: rt::WakeConfig {
                mode: rt::Wake::Spin,
                ..rt::WakeConfig::default()
            },
            stop_on_signal: true,
            sidecars: Sidecars::for_listener(),
            sync: None,
            schedule: Arc::new(schedule.clone()),
            mirror: None,
        }
    }

    /// Send each believed frame of a forward stream back in its return
    /// stream's window (`takt-listener --mirror`).
    pub fn with_mirror(mut self, mirror: Mirror) -> Self {
        self.mirror = Some(mirror);
        self
    }

    /// The mirror, to `finish` it after the run.
    pub fn take_mirror(&mut self) -> Option<Mirror> {
        self.mirror.take()
    }

    /// Whether SIGINT/SIGTERM end the run at once (the default). A
    /// listener whose talker shares the process lets the talker stop first
    /// and set the deadline, so frames already on the wire are still counted.
    pub fn stop_on_signal(mut self, stop: bool) -> Self {
        self.stop_on_signal = stop;
        self
    }

    /// Also record latencies into an HdrHistogram interval log.
    /// Answer ARP, ping and status requests with the frames that are not
    /// stream frames, while receiving.
    pub fn with_control(mut self, control: ControlPlane) -> Self {
        self.sidecars.set_control(control);
        self
    }

    /// Hand these protocols (control plane, PTP port) what is not a stream
    /// frame, replacing any set before.
    pub fn with_sidecars(mut self, sidecars: Sidecars) -> Self {
        self.sidecars = sidecars;
        self
    }

    /// Keep the samples taken while `sync` says the clock is out of sync
    /// apart.
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

    pub fn with_hist_log(mut self, log: IntervalLog) -> Self {
        self.hist_log = Some(log);
        self
    }

    /// How the loop waits for frames: `Wake::Spin` busy-polls (the
    /// default here); nanosleep and hybrid sleep in the kernel until a
    /// frame comes, on devices that can (`RingDevice::wait_rx`), so a
    /// real-time listener is not throttled for never sleeping.
    pub fn with_wake(mut self, wake: rt::WakeConfig) -> Self {
        self.wake = wake;
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

    /// Allocate the stage metrics this listener fills for `info`'s
    /// receive stamps (end_to_end, and pickup unless the stamp is taken by
    /// the receive poll itself): call at start-up, after `with_sync`.
    pub fn prepare_stats(&self, info: &DeviceInfo, stats: &mut [StreamStats]) {
        let src = info.caps.rx_stamps;
        for st in stats {
            st.stages.enable_listener(
                src.as_str(),
                src != StampSource::ReceivePoll,
                self.sync.is_some(),
            );
        }
    }

    /// Poll until `deadline_ns` (schedule clock; 0 = not known yet, keep
    /// going; it may be set while running) or a stop request.
    pub fn run(
        &mut self,
        dev: &mut dyn RingDevice,
        stats: &mut [StreamStats],
        deadline_ns: &AtomicU64,
        progress: &Progress,
    ) -> ListenerSummary {
        let mut summary = ListenerSummary::default();
        let mut batch = RxBatch::new();
        let mut next_progress = self.clock.now_ns() + PROGRESS_EVERY_NS;
        let offset_slot = self.hist_log.as_ref().and_then(|l| l.slot(PTP_OFFSET_TAG));
        loop {
            if self.stop_on_signal && rt::stop_requested() {
                summary.interrupted = true;
                break;
            }
            // Read the time before polling: an empty poll after it proves
            // nothing that arrived by `now` is left, however long this
            // thread is descheduled in between.
            let now = self.clock.now_ns();
            if let Some(m) = &mut self.mirror {
                m.service(now, dev, self.frames_log.as_mut());
            }
            if dev.rx_burst(&mut batch) == 0 {
                if !self.sidecars.is_empty() && self.sidecars.wants_service(now, &self.schedule) {
                    let cycles = self.schedule.cycle_at(now).map_or(0, |c| c.index + 1);
                    self.sidecars
                        .service(now, dev, &self.schedule, &self.clock, stats, cycles);
                }
                let deadline = deadline_ns.load(Ordering::Acquire);
                if deadline != 0 && now >= deadline {
                    break;
                }
                if let Some(log) = &mut self.hist_log {
                    log.tick(now);
                    if let Some(slot) = offset_slot {
                        self.sidecars.drain_offsets(|(_, o)| log.record(slot, o));
                    }
                }
                if now >= next_progress {
                    self.publish(stats, progress);
                    next_progress = now + PROGRESS_EVERY_NS;
                }
                if self.wake.mode != rt::Wake::Spin {
                    let mut until = next_progress;
                    if deadline != 0 {
                        until = until.min(deadline);
                    }
                    if !self.sidecars.is_empty() {
                        until = until.min(self.sidecars.next_wake(now, &self.schedule));
                    }
                    if let Some(due) = self.mirror.as_ref().and_then(|m| m.next_due()) {
                        until = until.min(due);
                    }
                    // Hybrid: spin the last margin before timed work, and
                    // around the streams' windows (rx_windows.rs).
                    let quiet = if self.wake.mode == rt::Wake::Hybrid {
                        until = until.saturating_sub(self.wake.margin_ns);
                        self.rx_windows
                            .quiet_until(&self.schedule, now, self.wake.margin_ns)
                    } else {
                        Some(u64::MAX)
                    };
                    if let Some(q) = quiet {
                        let timeout = until.min(q).saturating_sub(now).min(MAX_RX_SLEEP_NS);
                        if timeout > 0 && dev.wait_rx(timeout) {
                            continue;
                        }
                    }
                }
                std::hint::spin_loop();
                continue;
            }
            // A: the code has these frames (one read per batch).
            let app_ns = self.clock.now_ns();
            while let Some(f) = batch.pop_front() {
                let rx = self.clock.from_device(f.rx_time_ns);
                let f = if self.sidecars.is_empty() || is_stream_frame(&dev.buf(&f.buf)[..f.len]) {
                    f
                } else {
                    match self.sidecars.dispatch(f, rx, dev) {
                        Ok(()) => continue,
                        Err(f) => f,
                    }
                };
                let rx_ns = i64::try_from(rx).unwrap_or(i64::MAX);
                let believed = self.on_frame(
                    &dev.buf(&f.buf)[..f.len],
                    rx_ns,
                    app_ns,
                    stats,
                    &mut summary,
                );
                if let (true, Some(m)) = (believed, &mut self.mirror) {
                    m.offer(dev, &f.buf, f.len, rx, app_ns, self.frames_log.as_mut());
                }
                dev.free(f.buf);
            }
        }
        if let Some(m) = &mut self.mirror {
            m.drop_queued(dev, self.frames_log.as_mut());
        }
        // Frames still held were never confirmed: rogue.
        for i in 0..self.held.len() {
            if let Some(h) = self.held[i].take() {
                self.log(&h.rec);
            }
        }
        // Frames in flight that were never seen are lost: the sequence
        // numbers say how many the talker had reached.
        self.publish(stats, progress);
        summary
    }

    fn on_frame(
        &mut self,
        bytes: &[u8],
        rx_ns: i64,
        app_ns: u64,
        stats: &mut [StreamStats],
        summary: &mut ListenerSummary,
    ) -> bool {
        let frame = match StreamFrame::new_checked(bytes) {
            Ok(f) => f,
            Err(WireError::Truncated { .. }) => {
                summary.truncated += 1;
                return false;
            }
            Err(_) => {
                summary.other_frames += 1;
                return false;
            }
        };
        let id = frame.stream_id() as usize;
        let (Some(tracker), Some(st)) = (self.trackers.get_mut(id), stats.get_mut(id)) else {
            summary.other_frames += 1;
            return false;
        };
        if !frame.padding_ok() {
            // Corrupted: none of its fields can be believed.
            st.bad_padding += 1;
            return false;
        }
        let rx = u64::try_from(rx_ns).unwrap_or(0);
        let mut rec = FrameRecord::new(RecordKind::Rx, id as u16, frame.sequence());
        rec.set(Stage::HandOver, frame.tx_ns());
        rec.set(Stage::RxStamp, rx);
        rec.set(Stage::App, app_ns);
        // S is believed as H is: near the receive time, or the frame is rogue.
        let launch_ok = plausible_latency(rx_ns, frame.launch_ns()).is_some();
        let Some(latency) = plausible_latency(rx_ns, frame.tx_ns()).filter(|_| launch_ok) else {
            tracker.rogue += 1;
            if launch_ok {
                rec.set(Stage::Scheduled, frame.launch_ns());
            }
            self.log(&rec);
            self.count(id, stats);
            return false;
        };
        rec.set(Stage::Scheduled, frame.launch_ns());
        if let Some(v) = frame.vlan() {
            if (v.vid, v.pcp) != self.vlans[id] {
                st.wrong_vlan += 1;
            }
        }
        let seen = Seen { latency, rec };
        let arrival = tracker.record_frame(frame.epoch(), frame.sequence(), rx);
        // A duplicate is not sent back again (a mirror returns each frame once).
        let believed = arrival != Arrival::Duplicate;
        // Whatever came, a frame held before is decided now: confirmed by
        // this one, or rogue.
        let held = self.held[id].take();
        match arrival {
            Arrival::Confirmed { .. } => {
                if let Some(h) = held {
                    self.record_latency(id, st, h);
                }
                self.record_latency(id, st, seen);
            }
            other => {
                if let Some(h) = held {
                    self.log(&h.rec);
                }
                match other {
                    Arrival::Duplicate => {
                        let mut r = seen.rec;
                        r.flags |= FLAG_DUPLICATE;
                        self.log(&r);
                    }
                    Arrival::Held => self.held[id] = Some(seen),
                    _ => self.record_latency(id, st, seen),
                }
            }
        }
        self.count(id, stats);
        believed
    }

    fn log(&mut self, rec: &FrameRecord) {
        if let Some(log) = &mut self.frames_log {
            log.push(rec);
        }
    }

    /// A frame that counts: its differences into the histograms, its
    /// record (so flagged) to the log.
    fn record_latency(&mut self, id: usize, st: &mut StreamStats, seen: Seen) {
        let Seen { latency, mut rec } = seen;
        rec.flags |= FLAG_COUNTED;
        // On the listener's clock alone: always counts.
        if let (Some(m), Some(d)) = (&mut st.stages.pickup, rec.diff(Stage::RxStamp, Stage::App)) {
            m.record(d);
        }
        let e2e = rec.diff(Stage::Scheduled, Stage::App);
        if self.sync.as_ref().is_some_and(|s| !s.is_synced()) {
            // Out of sync: a number off by the clocks' disagreement,
            // kept apart from the true ones.
            st.unsynced += 1;
            st.latency_unsynced_ns.record(latency);
            if let (Some(m), Some(d)) = (&mut st.stages.end_to_end_unsynced, e2e) {
                m.record(d);
            }
            rec.flags |= FLAG_UNSYNCED;
            self.log(&rec);
            return;
        }
        st.latency_ns.record(latency);
        if let (Some(m), Some(d)) = (&mut st.stages.end_to_end, e2e) {
            m.record(d);
        }
        self.log(&rec);
        if let Some(ctl) = self.sidecars.control_mut() {
            ctl.record(id, MetricKind::Latency, latency);
        }
        if let Some(log) = &mut self.hist_log {
            log.record_stream(id, MetricKind::Latency, latency);
        }
    }

    /// The sequence counters of stream `id` into its statistics.
    fn count(&self, id: usize, stats: &mut [StreamStats]) {
        if let (Some(t), Some(st)) = (self.trackers.get(id), stats.get_mut(id)) {
            st.frames_received = t.unique;
            st.lost = t.lost;
            st.duplicates = t.duplicates;
            st.reordered = t.reordered;
            st.rogue = t.rogue_including_held();
            st.restarts = t.restarts;
            st.resyncs = t.resyncs;
        }
    }

    /// Frames still unaccounted for at the end, given what the talker
    /// reports it sent per stream (when it is known, as in loopback).
    pub fn settle_lost(&self, stats: &mut [StreamStats], sent: &[u64]) {
        for ((st, t), &n) in stats.iter_mut().zip(&self.trackers).zip(sent) {
            st.lost = t.lost_given_sent(n);
        }
    }

    fn publish(&self, stats: &[StreamStats], progress: &Progress) {
        let (mut frames, mut lost) = (0, 0);
        let (mut p99, mut max): (Option<i64>, Option<i64>) = (None, None);
        for st in stats {
            frames += st.frames_received;
            lost += st.lost;
            p99 = p99.max(st.latency_ns.value_at_percentile(99.0));
            max = max.max(st.latency_ns.max());
        }
        progress.set_counts(frames, lost, 0);
        progress.set_latency(p99, max);
    }
}

/// `rx_ns - tx_ns` if the transmit time is believable: representable, and
/// within `MAX_PLAUSIBLE_LATENCY_NS` of the receive time.
fn plausible_latency(rx_ns: i64, tx_ns: u64) -> Option<i64> {
    let latency = rx_ns.checked_sub(i64::try_from(tx_ns).ok()?)?;
    (latency.unsigned_abs() <= MAX_PLAUSIBLE_LATENCY_NS).then_some(latency)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{encode, StreamFrameFields, Vlan};
    use takt_scheduler::{ClockId, GateControlList, GateEntry, LinkConfig, Stream};

    fn schedule() -> Schedule {
        let gcl = GateControlList::new(
            0,
            None,
            0,
            vec![GateEntry {
                gate_mask: 0x80,
                interval_ns: 100_000,
            }],
        )
        .unwrap();
        let stream = Stream {
            name: "s".into(),
            traffic_class: 7,
            vlan_id: 10,
            pcp: 6,
            dst_mac: [0x91, 0xe0, 0xf0, 0, 0xfe, 0],
            frame_size: 64,
            offset_ns: 0,
            frames_per_cycle: 1,
            spacing_ns: 0,
        };
        let link = LinkConfig {
            speed_bps: 1_000_000_000,
            tc_to_pcp: LinkConfig::IDENTITY_TC_TO_PCP,
        };
        Schedule::new(ClockId::Tai, link, gcl, None, vec![stream]).unwrap()
    }

    fn frame(seq: u64, vlan: Option<Vlan>) -> Vec<u8> {
        forged(seq, vlan, 1, 1_000)
    }

    fn forged(seq: u64, vlan: Option<Vlan>, epoch: u64, tx_ns: u64) -> Vec<u8> {
        let mut buf = vec![0; 60];
        let fields = StreamFrameFields {
            dst: [0x91, 0xe0, 0xf0, 0, 0xfe, 0],
            src: [2, 0, 0, 0, 0, 1],
            vlan,
            stream_id: 0,
            sequence: seq,
            launch_ns: 1_000,
            tx_ns,
            tx_hw_timestamp: false,
            epoch,
        };
        encode(&mut buf, &fields, 60).unwrap();
        buf
    }

    #[test]
    fn frames_with_another_vlan_or_pcp_are_counted() {
        let sched = schedule();
        let mut l = Listener::new(&sched, SchedClock::system(sched.clock()));
        let mut stats = vec![crate::stats::StreamStats::new("s")];
        let mut summary = ListenerSummary::default();
        let vlan = |vid, pcp| {
            Some(Vlan {
                pcp,
                dei: false,
                vid,
            })
        };
        for (seq, tag) in [
            (0, vlan(10, 6)),
            (1, vlan(11, 6)),
            (2, vlan(10, 5)),
            (3, None),
        ] {
            l.on_frame(&frame(seq, tag), 2_000, 2_000, &mut stats, &mut summary);
        }
        assert_eq!(stats[0].frames_received, 4);
        assert_eq!(
            stats[0].wrong_vlan, 2,
            "wrong VID and wrong PCP; untagged is not judged"
        );
        assert_eq!(stats[0].latency_ns.max(), Some(1_000));
        l.on_frame(&[0u8; 60], 0, 0, &mut stats, &mut summary);
        assert_eq!(summary.other_frames, 1);
    }

    /// Real frames 0..1140 at one per cycle (100 µs), with `inject` after
    /// frame 1100 (past the reorder window, so that a forged 0 is not a
    /// number the window still judges): what the stream's counters and the
    /// summary say.
    fn with_forgeries(inject: &[Vec<u8>]) -> (crate::stats::StreamStats, ListenerSummary) {
        let sched = schedule();
        let mut l = Listener::new(&sched, SchedClock::system(sched.clock()));
        let mut stats = vec![crate::stats::StreamStats::new("s")];
        let mut summary = ListenerSummary::default();
        for seq in 0..1140u64 {
            let rx = 2_000 + seq as i64 * 100_000;
            let real = forged(seq, None, 1, rx as u64 - 1_000);
            l.on_frame(&real, rx, rx as u64, &mut stats, &mut summary);
            if seq == 1100 {
                for f in inject {
                    l.on_frame(f, rx, rx as u64, &mut stats, &mut summary);
                }
            }
        }
        (stats.remove(0), summary)
    }

    #[test]
    fn each_forgery_is_counted_by_reason_and_moves_nothing() {
        let bad_pad = {
            let mut f = forged(1101, None, 1, 1_000);
            f[crate::wire::HEADER_LEN_UNTAGGED] ^= 1;
            f
        };
        let v1 = {
            let mut f = forged(1101, None, 1, 1_000);
            f[16] = 1;
            f
        };
        // Name, frames injected, expected [rogue, bad_padding, truncated, other].
        type Case = (&'static str, Vec<Vec<u8>>, [u64; 4]);
        let cases: [Case; 9] = [
            (
                "seq 2^63",
                vec![forged(1 << 63, None, 1, 1_000)],
                [1, 0, 0, 0],
            ),
            (
                "seq u64::MAX",
                vec![forged(u64::MAX, None, 1, 1_000)],
                [1, 0, 0, 0],
            ),
            (
                "wraparound",
                vec![forged(u64::MAX, None, 1, 1_000), forged(0, None, 1, 1_000)],
                [2, 0, 0, 0],
            ),
            (
                "tx_ns 2^63",
                vec![forged(1101, None, 1, 1 << 63)],
                [1, 0, 0, 0],
            ),
            (
                "tx_ns an hour late",
                vec![forged(1101, None, 1, 3_600_000_000_000)],
                [1, 0, 0, 0],
            ),
            ("bad padding", vec![bad_pad], [0, 1, 0, 0]),
            (
                "truncated",
                vec![forged(1101, None, 1, 1_000)[..59].to_vec()],
                [0, 0, 1, 0],
            ),
            ("version 1", vec![v1], [0, 0, 0, 1]),
            (
                "foreign epoch",
                vec![forged(0, None, 77, 1_000)],
                [1, 0, 0, 0],
            ),
        ];
        for (name, inject, [rogue, bad_padding, truncated, other]) in cases {
            let (st, summary) = with_forgeries(&inject);
            assert_eq!(
                (st.frames_received, st.lost, st.duplicates, st.reordered),
                (1140, 0, 0, 0),
                "{name}"
            );
            assert_eq!(st.latency_ns.max(), Some(1_000), "{name}");
            assert_eq!(st.latency_ns.count(), 1140, "{name}");
            assert_eq!(
                (st.bad_padding, summary.truncated, summary.other_frames),
                (bad_padding, truncated, other),
                "{name}"
            );
            assert_eq!(st.rogue, rogue, "{name}");
            assert_eq!((st.restarts, st.resyncs), (0, 0), "{name}");
        }
    }
}
