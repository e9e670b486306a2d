//! When a mirror sends a return: the earliest launch time of the return
//! stream, in talker time, at or after the frame is ready and after the
//! return stream's last slot used. Pure: the schedule's phase is global
//! (base time + k x cycle, taprio's rule), so talker time is all it needs.

use takt_scheduler::Schedule;

/// A slot of a return stream: its launch time and when its window closes
/// (talker time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub launch_ns: u64,
    pub window_end_ns: u64,
}

/// The first launch time of stream `ret` that is >= `ready_ns` and >
/// `after_ns` (the last slot given out; 0 = none), looking at most three
/// cycles ahead. `None` when there is none (before the schedule starts,
/// or the stream's cycles are cut away there).
pub fn return_slot(schedule: &Schedule, ret: usize, ready_ns: u64, after_ns: u64) -> Option<Slot> {
    let s = schedule.streams().get(ret)?;
    let from = ready_ns.max(after_ns.saturating_add(1));
    let first = schedule.cycle_at(from)?.index;
    for k in first..first.saturating_add(3) {
        let c = schedule.cycle(k)?;
        let base = c.start_ns.checked_add(s.offset_ns)?;
        // Frame index of the first launch at or after `from` in this cycle.
        let i0 = if from <= base {
            0
        } else if s.spacing_ns == 0 {
            1 // every frame at the offset: all passed
        } else {
            (from - base).div_ceil(s.spacing_ns)
        };
        let Ok(i0) = u32::try_from(i0) else { continue };
        if let Some(launch) = schedule.launch_time(ret, k, i0) {
            let w = schedule.stream_window(ret, k)?;
            return Some(Slot {
                launch_ns: launch,
                window_end_ns: w.end_ns,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use takt_scheduler::config::parse_str;

    fn schedule(frames: u32) -> Schedule {
        let text = format!(
            r#"[schedule]
base_time = 0
cycle_time = "1ms"
[[schedule.entry]]
gates = [7]
interval = "250us"
[[schedule.entry]]
gates = [6]
interval = "250us"
[[schedule.entry]]
gates = [0]
interval = "500us"
[[stream]]
name = "ping"
traffic_class = 7
vlan_id = 1
dst_mac = "91:e0:f0:00:fe:00"
offset = "10us"
frames_per_cycle = {frames}
spacing = "20us"
[[stream]]
name = "pong"
return_of = "ping"
traffic_class = 6
vlan_id = 1
dst_mac = "91:e0:f0:00:fe:01"
offset = "260us"
frames_per_cycle = {frames}
spacing = "20us"
"#
        );
        parse_str(&text, "t.toml").unwrap().schedule
    }

    const C: u64 = 1_000_000;

    #[test]
    fn a_frame_ready_before_the_return_window_goes_at_its_offset() {
        let s = schedule(1);
        let at = |ready| return_slot(&s, 1, ready, 0).unwrap();
        assert_eq!(at(5 * C + 30_000).launch_ns, 5 * C + 260_000);
        assert_eq!(at(5 * C + 30_000).window_end_ns, 5 * C + 500_000);
        assert_eq!(
            at(5 * C + 260_000).launch_ns,
            5 * C + 260_000,
            "just in time"
        );
        // Ready after this cycle's slot: the next cycle's.
        assert_eq!(at(5 * C + 260_001).launch_ns, 6 * C + 260_000);
    }

    #[test]
    fn slots_are_not_given_twice_and_frames_fill_in_order() {
        let s = schedule(3);
        let a = return_slot(&s, 1, 5 * C + 30_000, 0).unwrap().launch_ns;
        let b = return_slot(&s, 1, 5 * C + 50_000, a).unwrap().launch_ns;
        let c = return_slot(&s, 1, 5 * C + 70_000, b).unwrap().launch_ns;
        let d = return_slot(&s, 1, 5 * C + 70_000, c).unwrap().launch_ns;
        assert_eq!(
            [a, b, c, d],
            [
                5 * C + 260_000,
                5 * C + 280_000,
                5 * C + 300_000,
                6 * C + 260_000
            ]
        );
        // Ready between two frames: the next frame's slot.
        let e = return_slot(&s, 1, 5 * C + 265_000, 0).unwrap().launch_ns;
        assert_eq!(e, 5 * C + 280_000);
    }

    #[test]
    fn the_same_talker_time_gives_the_same_slot_whatever_the_mirror_clock() {
        // The mirror computes in talker time: its own offset only enters
        // through d, which maps ready times and slots both ways.
        let s = schedule(1);
        for d in [10_000i64, 3_310_000, -3_290_000] {
            let arrival_mirror = (5 * C + 40_000).saturating_add_signed(d);
            let ready = super::super::estimate::to_talker(arrival_mirror, d);
            let slot = return_slot(&s, 1, ready, 0).unwrap();
            assert_eq!(slot.launch_ns, 5 * C + 260_000, "d {d}");
        }
    }
}
