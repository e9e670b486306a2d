//! When a listener that sleeps between frames (`--wake hybrid`) should be
//! awake and spinning instead: around the gate windows of its streams'
//! classes, a margin either side (frames leave inside their window and
//! arrive a one-way delay later). Outside them it sleeps in the kernel until
//! a frame wakes it, so a real-time listener spins only where frames are due
//! and is never throttled for running all the time.

use takt_scheduler::Schedule;

/// The classes the listener's streams are sent in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxWindows {
    classes: u8,
}

impl RxWindows {
    pub fn new(schedule: &Schedule) -> Self {
        let classes = schedule
            .streams()
            .iter()
            .filter(|s| s.traffic_class < 8)
            .fold(0u8, |m, s| m | 1 << s.traffic_class);
        RxWindows { classes }
    }

    /// `None`: a window of a stream class is open within `margin_ns` of
    /// `now_ns` (spin). `Some(t)`: none is before `t` (sleep until then;
    /// `u64::MAX` when none opens again).
    pub fn quiet_until(&self, schedule: &Schedule, now_ns: u64, margin_ns: u64) -> Option<u64> {
        let mut quiet = u64::MAX;
        for c in (0..8u8).filter(|c| self.classes & (1 << c) != 0) {
            if schedule.is_open(c, now_ns) || schedule.is_open(c, now_ns.saturating_sub(margin_ns))
            {
                return None;
            }
            if let Some(open) = schedule.next_open(c, now_ns) {
                if open <= now_ns.saturating_add(margin_ns) {
                    return None;
                }
                quiet = quiet.min(open - margin_ns);
            }
        }
        Some(quiet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use takt_scheduler::{ClockId, GateControlList, GateEntry, LinkConfig, Stream};

    /// 1 ms cycle: class 7 open for the first 100 us, class 0 the rest.
    fn schedule() -> Schedule {
        let gcl = GateControlList::new(
            0,
            None,
            0,
            vec![
                GateEntry {
                    gate_mask: 0x80,
                    interval_ns: 100_000,
                },
                GateEntry {
                    gate_mask: 0x01,
                    interval_ns: 900_000,
                },
            ],
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

    #[test]
    fn spins_around_the_stream_window_and_sleeps_through_the_rest() {
        let s = schedule();
        let w = RxWindows::new(&s);
        let m = 50_000;
        let cycle = 1_000_000;
        // Inside the window, and within the margin after it closes.
        assert_eq!(w.quiet_until(&s, cycle + 10_000, m), None);
        assert_eq!(w.quiet_until(&s, cycle + 140_000, m), None);
        // Best-effort time: sleep until a margin before the next window.
        assert_eq!(w.quiet_until(&s, cycle + 400_000, m), Some(2 * cycle - m));
        // Within the margin before it: spin.
        assert_eq!(w.quiet_until(&s, 2 * cycle - 20_000, m), None);
    }
}
