//! The talker's walk through the schedule, as a pure iterator: which frame
//! comes next, when it must launch, and when its gate closes. No clocks,
//! no I/O: the loop in talker.rs feeds it to the ring.
//!
//! A plan owns its schedule (`Arc`) so that a new one can be built on
//! another thread and handed to the real-time thread, which moves it to
//! where the old one stopped with [`Plan::resume_after`] without
//! allocating.

use std::sync::Arc;
use takt_scheduler::Schedule;

/// One frame to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    pub stream: usize,
    /// Per-stream sequence number, from 0.
    pub seq: u64,
    pub cycle: u64,
    /// Frame index inside its stream's cycle.
    pub frame: u32,
    pub launch_ns: u64,
    /// The stream's window closes here in this cycle: the frame, with
    /// preamble and IFG, must be off the wire by then.
    pub window_end_ns: u64,
}

/// When a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// After this many whole cycles.
    Cycles(u64),
    /// No frame launching at or after this time (ns, schedule clock).
    Time(u64),
    Forever,
}

/// When a run given a duration (`--duration`) ends, for `schedule`
/// already started at `begin_ns` (`Schedule::started_at`): `duration_ns`
/// after its first cycle when that starts within one cycle of `begin_ns`
/// (the usual case: the next cycle boundary, taprio's rule), else
/// `duration_ns` after `begin_ns`, so a base_time far ahead cannot stretch
/// the run (a run that ends before its first cycle sends nothing).
pub fn duration_end_ns(schedule: &Schedule, begin_ns: u64, duration_ns: u64) -> u64 {
    let first = schedule.oper().base_time_ns();
    let soon = first.saturating_sub(begin_ns) <= schedule.oper().cycle_time_ns();
    let from = if soon { first } else { begin_ns };
    from.saturating_add(duration_ns)
}

/// Why a plan could not be resumed; the plan is left unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    #[error("{got} sequence numbers given for a schedule of {streams} streams: the new schedule must keep the old one's streams")]
    StreamCount { streams: usize, got: usize },
}

/// Frames in launch order, cycle after cycle, across an oper -> admin switch.
///
/// Frames are ordered by (launch_ns, stream, frame): every frame launches
/// inside its own cycle (`launch_time` ends it within its window, which ends
/// with the cycle) and `order` sorts one cycle by (offset, stream, frame).
pub struct Plan {
    schedule: Arc<Schedule>,
    /// (offset in cycle, stream, frame) for every frame of one cycle, sorted.
    order: Vec<(u64, usize, u32)>,
    pos: usize,
    cycle: u64,
    seq: Vec<u64>,
    until: Until,
    /// Set when a resume lands past the end of u64 time: nothing is left.
    ended: bool,
}

impl Plan {
    /// Bytes of the plan's table per frame of one cycle.
    pub const BYTES_PER_FRAME: u64 = std::mem::size_of::<(u64, usize, u32)>() as u64;

    /// `schedule` should already be `started_at(now)`: cycle 0 is its first.
    pub fn new(schedule: Arc<Schedule>, until: Until) -> Self {
        let mut order: Vec<(u64, usize, u32)> = schedule
            .streams()
            .iter()
            .enumerate()
            // Return streams are a mirror's to send (docs/round-trip.md).
            .filter(|&(i, _)| schedule.return_of(i).is_none())
            .flat_map(|(i, s)| {
                (0..s.frames_per_cycle)
                    .map(move |f| (s.launch_offset_ns(f).unwrap_or(u64::MAX), i, f))
            })
            .collect();
        order.sort_unstable();
        Plan {
            seq: vec![0; schedule.streams().len()],
            schedule,
            order,
            pos: 0,
            cycle: 0,
            until,
            ended: false,
        }
    }

    pub fn schedule(&self) -> &Arc<Schedule> {
        &self.schedule
    }

    /// Move this plan (typically freshly built with a new schedule, off the
    /// real-time thread) to just after `last`, the last frame the old plan
    /// handed out: the next item is the first frame of this schedule whose
    /// (launch_ns, stream, frame) is greater than `last`'s, and sequence
    /// numbers go on from `next_seq` (the old plan's next one per stream).
    ///
    /// `last.cycle` and `last.seq` are not used. Items after the resume
    /// carry this schedule's cycle index, which can jump from the old
    /// plan's; `Until::Cycles` counts this schedule's cycles too.
    /// Allocates nothing; O(log frames per cycle) plus the frames `next`
    /// skips when a truncated last oper cycle cuts some.
    pub fn resume_after(&mut self, last: &Planned, next_seq: &[u64]) -> Result<(), ResumeError> {
        self.take_seq(next_seq)?;
        let key = (last.stream, last.frame);
        self.seek(last.launch_ns, |in_cycle, off, stream, frame| {
            (off, stream, frame) <= (in_cycle, key.0, key.1)
        });
        Ok(())
    }

    /// Move this plan so that its next item is the first frame launching at
    /// or after `t_ns` (to start late, or after a gap), with sequence
    /// numbers going on from `next_seq`. Cycle numbering as for
    /// [`Plan::resume_after`]; allocates nothing.
    pub fn resume_at(&mut self, t_ns: u64, next_seq: &[u64]) -> Result<(), ResumeError> {
        self.take_seq(next_seq)?;
        self.seek(t_ns, |in_cycle, off, _, _| off < in_cycle);
        Ok(())
    }

    fn take_seq(&mut self, next_seq: &[u64]) -> Result<(), ResumeError> {
        if next_seq.len() != self.seq.len() {
            return Err(ResumeError::StreamCount {
                streams: self.seq.len(),
                got: next_seq.len(),
            });
        }
        self.seq.copy_from_slice(next_seq);
        Ok(())
    }

    /// Position at the cycle holding `t` and the first entry of `order`
    /// for which `before(t - cycle start, offset, stream, frame)` is false.
    /// Frames of earlier cycles all launch before that cycle starts, so
    /// they are never due; entries `next` finds cut away it skips itself.
    fn seek(&mut self, t: u64, before: impl Fn(u64, u64, usize, u32) -> bool) {
        self.ended = false;
        if t < self.schedule.oper().base_time_ns() {
            // Every frame of this schedule launches after t.
            self.cycle = 0;
            self.pos = 0;
            return;
        }
        let Some(c) = self.schedule.cycle_at(t) else {
            // t is in a cycle that ends past u64 time: no frame is left.
            self.ended = true;
            return;
        };
        // Offsets, not absolute times: an unrepresentable offset is u64::MAX
        // in `order` and must not overflow here.
        let in_cycle = t - c.start_ns;
        self.cycle = c.index;
        self.pos = self
            .order
            .partition_point(|&(off, stream, frame)| before(in_cycle, off, stream, frame));
    }

    /// Frames per whole cycle (all streams).
    pub fn frames_per_cycle(&self) -> usize {
        self.order.len()
    }

    /// Cycles started so far (the current one included).
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// Frames sent so far per stream (= next sequence number).
    pub fn sequence(&self, stream: usize) -> u64 {
        self.seq[stream]
    }

    /// Every stream's next sequence number, in stream order: what a plan
    /// resuming after this one's last frame takes as `next_seq`.
    pub fn sequences(&self) -> &[u64] {
        &self.seq
    }
}

impl Iterator for Plan {
    type Item = Planned;

    fn next(&mut self) -> Option<Planned> {
        if self.order.is_empty() || self.ended {
            return None;
        }
        loop {
            if self.pos == self.order.len() {
                self.pos = 0;
                self.cycle += 1;
            }
            if let Until::Cycles(n) = self.until {
                if self.cycle >= n {
                    return None;
                }
            }
            let (_, stream, frame) = self.order[self.pos];
            self.pos += 1;
            // None: cut off by a truncated last oper cycle; the next cycle
            // (or an overflowing clock) decides.
            let Some(launch_ns) = self.schedule.launch_time(stream, self.cycle, frame) else {
                self.schedule.cycle(self.cycle)?; // None: past the end of u64 time
                continue;
            };
            if let Until::Time(end) = self.until {
                if launch_ns >= end {
                    return None;
                }
            }
            let window = self.schedule.stream_window(stream, self.cycle)?;
            let seq = self.seq[stream];
            self.seq[stream] += 1;
            return Some(Planned {
                stream,
                seq,
                cycle: self.cycle,
                frame,
                launch_ns,
                window_end_ns: window.end_ns,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use takt_scheduler::{ClockId, GateControlList, GateEntry, LinkConfig, Stream};

    fn stream(name: &str, class: u8, offset_ns: u64, frames: u32) -> Stream {
        Stream {
            name: name.into(),
            traffic_class: class,
            vlan_id: 10,
            pcp: class,
            dst_mac: [1, 0, 0x5e, 0, 0, class],
            frame_size: 64,
            offset_ns,
            frames_per_cycle: frames,
            spacing_ns: 1_000,
        }
    }

    fn schedule(admin_base: Option<u64>) -> Arc<Schedule> {
        let gcl = |base| {
            GateControlList::new(
                base,
                None,
                0,
                vec![
                    GateEntry {
                        gate_mask: 0x80,
                        interval_ns: 10_000,
                    },
                    GateEntry {
                        gate_mask: 0x01,
                        interval_ns: 10_000,
                    },
                ],
            )
            .unwrap()
        };
        Schedule::new(
            ClockId::Tai,
            LinkConfig {
                speed_bps: 1_000_000_000,
                tc_to_pcp: LinkConfig::IDENTITY_TC_TO_PCP,
            },
            gcl(1_000_000),
            admin_base.map(gcl),
            vec![
                stream("a", 7, 2_000, 2),
                stream("b", 0, 10_000, 1),
                stream("c", 7, 0, 1),
            ],
        )
        .unwrap()
        .into()
    }

    #[test]
    fn frames_come_in_launch_order_with_per_stream_sequences() {
        let s = schedule(None);
        let got: Vec<(usize, u64, u64)> = Plan::new(s.clone(), Until::Cycles(2))
            .map(|p| (p.stream, p.seq, p.launch_ns))
            .collect();
        let base = 1_000_000;
        assert_eq!(
            got,
            vec![
                (2, 0, base),
                (0, 0, base + 2_000),
                (0, 1, base + 3_000),
                (1, 0, base + 10_000),
                (2, 1, base + 20_000),
                (0, 2, base + 22_000),
                (0, 3, base + 23_000),
                (1, 1, base + 30_000),
            ]
        );
    }

    #[test]
    fn window_end_is_the_gate_close() {
        let s = schedule(None);
        for p in Plan::new(s.clone(), Until::Cycles(3)) {
            assert!(s.is_open(s.streams()[p.stream].traffic_class, p.launch_ns));
            assert_eq!(
                s.next_close(s.streams()[p.stream].traffic_class, p.launch_ns),
                Some(p.window_end_ns)
            );
        }
    }

    #[test]
    fn until_time_stops_before_the_end() {
        let s = schedule(None);
        let end = 1_000_000 + 20_000;
        let launches: Vec<u64> = Plan::new(s.clone(), Until::Time(end))
            .map(|p| p.launch_ns)
            .collect();
        assert_eq!(launches.len(), 4);
        assert!(launches.iter().all(|&l| l < end));
    }

    #[test]
    fn switch_truncates_the_last_oper_cycle() {
        // Admin starts 5 us into oper cycle 1 (from 1_020_000): frames of
        // "a" at 2 and 3 us still fit, "b" at 10 us is cut away, and admin
        // cycle 2 starts at 1_025_000.
        let s = schedule(Some(1_025_000));
        let got: Vec<(usize, u64, u64)> = Plan::new(s.clone(), Until::Cycles(3))
            .map(|p| (p.stream, p.cycle, p.launch_ns))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, 0, 1_000_000),
                (0, 0, 1_002_000),
                (0, 0, 1_003_000),
                (1, 0, 1_010_000),
                (2, 1, 1_020_000),
                (0, 1, 1_022_000),
                (0, 1, 1_023_000),
                (2, 2, 1_025_000),
                (0, 2, 1_027_000),
                (0, 2, 1_028_000),
                (1, 2, 1_035_000),
            ]
        );
    }
}
