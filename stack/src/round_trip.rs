//! The talker's end of a round trip (docs/round-trip.md): it remembers
//! each frame it sent of a stream with a return, matches the mirror's
//! returns to them, and records rtt = A - H (A: its clock right after the
//! receive poll; H: the frame's tx_ns, its own clock) and rtt_device =
//! R - H (R: the device's receive stamp), outliers, lost, late, duplicate
//! and rogue returns. Allocation-free once `RoundTrip::new` has run.
//!
//! Every sent frame ends up returned or lost: a return later than the
//! timeout after H counts its frame lost and itself late, as does a
//! return whose table entry was reused (the table holds the last
//! `IN_FLIGHT` frames per stream).

use crate::frames::{FrameRecord, RecordKind, Stage, FLAG_COUNTED, FLAG_OUTLIER};
use crate::stats::{RoundTripStats, StreamStats};
use crate::wire::StreamFrame;
use heapless::Deque;
use takt_scheduler::Schedule;

/// Frames per stream whose return is awaited at once (a power of two).
pub const IN_FLIGHT: usize = 4096;

/// Per-frame records waiting for the talker to hand them to its log.
pub const RECORDS: usize = 64;

/// A frame sent, awaiting its return.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// u64::MAX: the slot is empty.
    seq: u64,
    h_ns: u64,
    s_ns: u64,
    /// Returned already (or counted lost).
    done: bool,
}

const EMPTY: Entry = Entry {
    seq: u64::MAX,
    h_ns: 0,
    s_ns: 0,
    done: true,
};

/// How the talker judges returns.
#[derive(Clone, Copy, Debug)]
pub struct RoundTripOptions {
    /// A round trip above this is an outlier (default 2 x cycle, as
    /// RTC-Testbench).
    pub outlier_ns: u64,
    /// A return later than this after H counts its frame lost and itself
    /// late; the talker also waits this long after its last frame.
    pub timeout_ns: u64,
}

impl RoundTripOptions {
    /// The defaults for `schedule`: outliers beyond 2 cycles, timeout the
    /// larger of 20 cycles and 50 ms.
    pub fn for_schedule(schedule: &Schedule) -> Self {
        let cycle = schedule.oper().cycle_time_ns();
        RoundTripOptions {
            outlier_ns: cycle.saturating_mul(2),
            timeout_ns: cycle.saturating_mul(20).max(50_000_000),
        }
    }
}

/// Returns no stream claims.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundTripCounters {
    /// Stream frames that were not returns (a forward stream's id, an
    /// unknown id, a broken frame).
    pub not_returns: u64,
    /// Records the log had no room for.
    pub records_dropped: u64,
}

pub struct RoundTrip {
    epoch: u64,
    /// Indexed by stream id: the forward stream a return stream carries.
    forward_of: Vec<Option<usize>>,
    /// Per stream with a return: `IN_FLIGHT` entries; else empty.
    table: Vec<Vec<Entry>>,
    /// Per stream: the next sequence number it will send.
    next_seq: Vec<u64>,
    stats: Vec<Option<Box<RoundTripStats>>>,
    /// Whether the device's receive stamp is a real one (rtt_device).
    device_stamps: bool,
    opts: RoundTripOptions,
    records: Deque<FrameRecord, RECORDS>,
    counters: RoundTripCounters,
}

impl RoundTrip {
    /// For `schedule`'s streams with a return, judging returns of talker
    /// `epoch`. `device_stamps`: the device's receive stamps are taken at
    /// or near the wire (not when userland polled).
    pub fn new(
        schedule: &Schedule,
        epoch: u64,
        device_stamps: bool,
        opts: RoundTripOptions,
    ) -> Self {
        let n = schedule.streams().len();
        let has = |f: usize| schedule.return_stream(f).is_some();
        RoundTrip {
            epoch,
            forward_of: (0..n).map(|i| schedule.return_of(i)).collect(),
            table: (0..n)
                .map(|f| {
                    if has(f) {
                        vec![EMPTY; IN_FLIGHT]
                    } else {
                        Vec::new()
                    }
                })
                .collect(),
            next_seq: vec![0; n],
            stats: (0..n)
                .map(|f| has(f).then(|| Box::new(RoundTripStats::new(opts.outlier_ns))))
                .collect(),
            device_stamps,
            opts,
            records: Deque::new(),
            counters: RoundTripCounters::default(),
        }
    }

    /// For a talker on `dev`: rtt_device when its receive stamps are taken
    /// at or near the wire.
    pub fn for_device(
        schedule: &Schedule,
        epoch: u64,
        dev: &dyn takt_drivers::RingDevice,
        opts: RoundTripOptions,
    ) -> Self {
        use takt_drivers::StampSource;
        let stamps = !matches!(
            dev.info().caps.rx_stamps,
            StampSource::None | StampSource::ReceivePoll
        );
        Self::new(schedule, epoch, stamps, opts)
    }

    pub fn options(&self) -> RoundTripOptions {
        self.opts
    }

    /// Frame `seq` of stream `stream` was handed over at `h_ns` (its
    /// tx_ns) for launch at `s_ns`.
    pub fn on_sent(&mut self, stream: usize, seq: u64, h_ns: u64, s_ns: u64) {
        let Some(table) = self.table.get_mut(stream).filter(|t| !t.is_empty()) else {
            return;
        };
        let e = &mut table[(seq as usize) & (IN_FLIGHT - 1)];
        if !e.done {
            // Reused before its return came: lost.
            if let Some(st) = self.stats[stream].as_deref_mut() {
                st.lost += 1;
            }
        }
        *e = Entry {
            seq,
            h_ns,
            s_ns,
            done: false,
        };
        self.next_seq[stream] = seq + 1;
    }

    /// A stream frame received at `rx_ns` (device stamp, schedule clock)
    /// and seen at `app_ns` (the talker's clock right after the poll).
    pub fn on_frame(&mut self, bytes: &[u8], rx_ns: u64, app_ns: u64) {
        let Ok(f) = StreamFrame::new_checked(bytes) else {
            self.counters.not_returns += 1;
            return;
        };
        let Some(Some(fwd)) = self.forward_of.get(usize::from(f.stream_id())).copied() else {
            self.counters.not_returns += 1;
            return;
        };
        let Some(st) = self.stats[fwd].as_deref_mut() else {
            self.counters.not_returns += 1;
            return;
        };
        let seq = f.sequence();
        if !f.mirrored() || f.epoch() != self.epoch || !f.padding_ok() || seq >= self.next_seq[fwd]
        {
            st.rogue += 1;
            return;
        }
        let e = &mut self.table[fwd][(seq as usize) & (IN_FLIGHT - 1)];
        if e.seq != seq {
            // Its entry was reused: counted lost then.
            if seq < e.seq {
                st.late += 1;
            } else {
                st.rogue += 1;
            }
            return;
        }
        if f.tx_ns() != e.h_ns {
            st.rogue += 1;
            return;
        }
        if e.done {
            st.duplicates += 1;
            return;
        }
        e.done = true;
        let rtt = app_ns as i64 - e.h_ns as i64;
        let mut rec = FrameRecord::new(RecordKind::Return, fwd as u16, seq);
        rec.set(Stage::Scheduled, e.s_ns);
        rec.set(Stage::HandOver, e.h_ns);
        rec.set(Stage::RxStamp, rx_ns);
        rec.set(Stage::App, app_ns);
        if rtt > self.opts.timeout_ns as i64 {
            st.lost += 1;
            st.late += 1;
        } else {
            st.returned += 1;
            st.rtt.record(rtt);
            if self.device_stamps {
                st.rtt_device.record(rx_ns as i64 - e.h_ns as i64);
            }
            rec.flags |= FLAG_COUNTED;
            if rtt > st.outlier_threshold_ns as i64 {
                st.outliers += 1;
                rec.flags |= FLAG_OUTLIER;
            }
        }
        if self.records.push_back(rec).is_err() {
            self.counters.records_dropped += 1;
        }
    }

    /// Per-frame records since the last call, for the frames log.
    pub fn drain_records(&mut self, mut f: impl FnMut(&FrameRecord)) {
        while let Some(r) = self.records.pop_front() {
            f(&r);
        }
    }

    /// After the run (and the grace): every frame still awaited is lost;
    /// the figures move into `stats` (one per schedule stream).
    pub fn finish(&mut self, stats: &mut [StreamStats]) {
        for (f, table) in self.table.iter_mut().enumerate() {
            let Some(st) = self.stats[f].as_deref_mut() else {
                continue;
            };
            for e in table.iter_mut().filter(|e| !e.done) {
                st.lost += 1;
                e.done = true;
            }
        }
        for (st, rt) in stats.iter_mut().zip(self.stats.iter_mut()) {
            if let Some(rt) = rt.take() {
                st.round_trip = Some(rt);
            }
        }
    }

    pub fn counters(&self) -> RoundTripCounters {
        self.counters
    }

    /// A stream's figures so far.
    pub fn stats(&self, stream: usize) -> Option<&RoundTripStats> {
        self.stats.get(stream).and_then(|s| s.as_deref())
    }
}

/// How often a talker polls for returns while it waits, by wake mode:
/// spinning polls all the time; sleeping modes poll at the sidecars'
/// usual interval (a return waits until then: the rtt includes it).
pub fn poll_interval_ns(wake: takt_scheduler::rt::WakeConfig) -> u64 {
    match wake.mode {
        takt_scheduler::rt::Wake::Spin => 0,
        _ => crate::control::plane::RX_POLL_INTERVAL_NS,
    }
}

/// The talker's wait for a frame's wake-up time `deadline_ns`: a spinning
/// talker with round trips polls for returns while it spins; otherwise
/// `rt::wait_until` as ever. The records of returns go to `log`.
pub fn wait_until(
    sidecars: &mut crate::sidecar::Sidecars,
    dev: &mut dyn takt_drivers::RingDevice,
    clock: &crate::clock::SchedClock,
    deadline_ns: u64,
    wake: takt_scheduler::rt::WakeConfig,
    log: Option<&mut crate::frames::FramesLog>,
) {
    use takt_scheduler::rt;
    if sidecars.round_trip_mut().is_some() && wake.mode == rt::Wake::Spin {
        loop {
            let now = clock.now_ns();
            if now >= deadline_ns || rt::stop_requested() {
                break;
            }
            sidecars.poll_now(now, dev, clock);
        }
    } else {
        rt::wait_until(clock, deadline_ns, wake);
    }
    drain_records(sidecars, log);
}

/// The round trip's per-frame records into the talker's frames log.
pub fn drain_records(
    sidecars: &mut crate::sidecar::Sidecars,
    log: Option<&mut crate::frames::FramesLog>,
) {
    if let Some(rt) = sidecars.round_trip_mut() {
        match log {
            Some(log) => rt.drain_records(|r| {
                log.push(r);
            }),
            None => rt.drain_records(|_| {}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{encode, StreamFrame, StreamFrameFields, Vlan};

    fn schedule() -> Schedule {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/examples/round-trip.toml"
        );
        takt_scheduler::config::load_file(std::path::Path::new(p))
            .unwrap()
            .schedule
    }

    fn ret(stream_id: u16, seq: u64, epoch: u64, tx_ns: u64, mirrored: bool) -> Vec<u8> {
        let mut buf = vec![0; 124];
        let f = StreamFrameFields {
            dst: [0x91, 0xe0, 0xf0, 0, 0xfe, 1],
            src: [2, 0, 0, 0, 0, 2],
            vlan: Some(Vlan {
                pcp: 6,
                dei: false,
                vid: 100,
            }),
            stream_id,
            sequence: seq,
            launch_ns: tx_ns,
            tx_ns,
            tx_hw_timestamp: false,
            epoch,
        };
        encode(&mut buf, &f, 124).unwrap();
        StreamFrame::new_checked(&mut buf[..])
            .unwrap()
            .set_mirrored(mirrored);
        buf
    }

    fn talker() -> RoundTrip {
        let s = schedule();
        let opts = RoundTripOptions::for_schedule(&s);
        let mut rt = RoundTrip::new(&s, 7, true, opts);
        for seq in 0..10 {
            rt.on_sent(0, seq, 1_000_000 * seq, 1_000_000 * seq);
        }
        rt
    }

    #[test]
    fn returns_are_matched_and_measured_on_the_talkers_clock() {
        let mut rt = talker();
        rt.on_frame(&ret(1, 3, 7, 3_000_000, true), 3_252_000, 3_260_000);
        rt.on_frame(&ret(1, 4, 7, 4_000_000, true), 4_252_000, 7_000_000);
        let st = rt.stats(0).unwrap();
        assert_eq!((st.returned, st.outliers), (2, 1), "3 ms > 2 cycles");
        assert_eq!(st.rtt.min(), Some(260_000));
        assert_eq!(st.rtt_device.min(), Some(252_000));
        let mut n = 0;
        rt.drain_records(|r| {
            assert_eq!(r.kind, RecordKind::Return);
            assert_eq!(
                r.diff(Stage::HandOver, Stage::App),
                Some([260_000, 3_000_000][n])
            );
            n += 1;
        });
        assert_eq!(n, 2);
        let mut stats = vec![StreamStats::new("ping"), StreamStats::new("pong")];
        rt.finish(&mut stats);
        let st = stats[0].round_trip.as_ref().unwrap();
        assert_eq!((st.returned, st.lost), (2, 8), "the other 8 never came");
    }

    #[test]
    fn forged_returns_are_counted_and_not_recorded() {
        let mut rt = talker();
        for forged in [
            ret(1, 3, 99, 3_000_000, true), // another talker's epoch
            ret(1, 50, 7, 3_000_000, true), // a number never sent
            ret(1, 3, 7, 3_000_001, true),  // not the tx_ns it was sent with
            ret(1, 3, 7, 3_000_000, false), // not marked mirrored
        ] {
            rt.on_frame(&forged, 3_252_000, 3_260_000);
        }
        rt.on_frame(&ret(0, 3, 7, 3_000_000, true), 3_252_000, 3_260_000);
        rt.on_frame(&ret(5, 3, 7, 3_000_000, true), 3_252_000, 3_260_000);
        rt.on_frame(&[0u8; 60], 3_252_000, 3_260_000);
        let st = rt.stats(0).unwrap();
        assert_eq!((st.rogue, st.returned, st.rtt.count()), (4, 0, 0));
        assert_eq!(rt.counters().not_returns, 3, "forward id, unknown id, junk");
        rt.drain_records(|_| panic!("nothing recorded"));
        // The real return still counts, once.
        rt.on_frame(&ret(1, 3, 7, 3_000_000, true), 3_252_000, 3_260_000);
        rt.on_frame(&ret(1, 3, 7, 3_000_000, true), 3_252_000, 3_260_000);
        let st = rt.stats(0).unwrap();
        assert_eq!((st.returned, st.duplicates), (1, 1));
    }

    #[test]
    fn a_return_after_the_timeout_is_late_and_its_frame_lost() {
        let mut rt = talker();
        let timeout = rt.options().timeout_ns;
        rt.on_frame(
            &ret(1, 2, 7, 2_000_000, true),
            2_250_000,
            2_000_001 + timeout,
        );
        let st = rt.stats(0).unwrap();
        assert_eq!((st.returned, st.lost, st.late), (0, 1, 1));
        // A table entry reused before its return came: lost then, late now.
        let mut rt = talker();
        for seq in 10..(IN_FLIGHT as u64 + 1) {
            rt.on_sent(0, seq, 1_000_000 * seq, 1_000_000 * seq);
        }
        assert_eq!(rt.stats(0).unwrap().lost, 1, "frame 0's entry reused");
        rt.on_frame(&ret(1, 0, 7, 0, true), 250_000, 260_000);
        assert_eq!(rt.stats(0).unwrap().late, 1);
    }
}
