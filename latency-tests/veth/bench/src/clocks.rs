//! Putting a kernel receive timestamp (SO_TIMESTAMPNS: CLOCK_REALTIME) on
//! the schedule clock the talker stamped `tx_ns` with, as takt-listener
//! does for a device whose timestamps are on another clock: measure
//! `schedule now - other now` once at the start and add it to every
//! timestamp.

use nix::sys::time::TimeSpec;
use takt_scheduler::ClockId;

/// A timespec in ns (signed: a timestamp before 1970 is not an error here).
pub fn timespec_ns(ts: &TimeSpec) -> i64 {
    ts.tv_sec() * 1_000_000_000 + ts.tv_nsec()
}

/// `schedule now - other now` in ns, from the tightest of 5 back-to-back
/// readings (schedule, other, schedule): takt-tools' `clock_offset_ns`.
pub fn clock_offset_ns(schedule: ClockId, other: nix::time::ClockId) -> Result<i64, nix::Error> {
    let mut best: Option<(u64, i64)> = None;
    for _ in 0..5 {
        let a = schedule.now_ns();
        let o = i128::from(timespec_ns(&nix::time::clock_gettime(other)?));
        let b = schedule.now_ns();
        let spread = b.saturating_sub(a);
        let mid = i128::from(a) + i128::from(spread / 2);
        let offset = (mid - o).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        if best.is_none_or(|(s, _)| spread < s) {
            best = Some((spread, offset));
        }
    }
    Ok(best.map_or(0, |(_, o)| o))
}

/// One-way latency: the receive timestamp (on the other clock) moved onto
/// the schedule clock by `offset_ns`, minus the transmit time carried in
/// the frame (schedule clock). Saturates instead of overflowing.
pub fn latency_ns(rx_other_ns: i64, offset_ns: i64, tx_ns: u64) -> i64 {
    let tx = i64::try_from(tx_ns).unwrap_or(i64::MAX);
    rx_other_ns.saturating_add(offset_ns).saturating_sub(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_moves_the_rx_stamp_onto_the_schedule_clock() {
        // TAI is 37 s ahead of REALTIME: a frame stamped at TAI 100 s and
        // received at REALTIME 63 s + 5 us took 5 us.
        let offset = 37_000_000_000;
        assert_eq!(latency_ns(63_000_005_000, offset, 100_000_000_000), 5_000);
        // Same clock: plain difference, and it may be negative.
        assert_eq!(latency_ns(1_000, 0, 1_500), -500);
        assert_eq!(latency_ns(i64::MAX, 1, 0), i64::MAX);
        assert_eq!(latency_ns(0, 0, u64::MAX), -i64::MAX);
    }

    #[test]
    fn offset_matches_the_clocks() {
        let same = clock_offset_ns(ClockId::Realtime, ClockId::Realtime.to_nix()).unwrap();
        assert!(same.abs() < 1_000_000, "{same}");
        let expected = ClockId::Tai.now_ns() as i64 - ClockId::Realtime.now_ns() as i64;
        let got = clock_offset_ns(ClockId::Tai, ClockId::Realtime.to_nix()).unwrap();
        assert!((got - expected).abs() < 1_000_000, "{got} vs {expected}");
        // A REALTIME stamp taken now, moved to TAI, is (about) TAI now.
        let rx = timespec_ns(&nix::time::clock_gettime(ClockId::Realtime.to_nix()).unwrap());
        let lat = latency_ns(rx, got, ClockId::Tai.now_ns());
        assert!(lat.abs() < 1_000_000, "{lat}");
    }

    #[test]
    fn timespec_to_ns() {
        assert_eq!(timespec_ns(&TimeSpec::new(2, 5)), 2_000_000_005);
    }
}
