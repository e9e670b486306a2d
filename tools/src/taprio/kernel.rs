//! What the kernel's software taprio (net/sched/sch_taprio.c, 6.1) does at
//! the switch from the oper to the admin list, where it differs from takt
//! (802.1Qbv, docs/taprio.md "The switch").
//!
//! `advance_sched` runs at the end of every entry. It computes the end of
//! the next entry (capped at the cycle end) and asks
//! `should_change_schedules`: is the admin base-time at or before that end
//! plus the oper cycle-time-extension? If so it switches right away. In
//! 6.1.192 (Debian 6.1.0-57, with upstream 105425b1969c "fix use-after-free
//! in advance_sched() on schedule switch") the admin list's first entry
//! then starts at once and runs until admin base-time + its interval; so the
//! admin gates start at the end of the oper entry *before* the one that
//! reaches base-time - extension. Earlier 6.1 kernels ran that next oper
//! entry until the admin base-time instead. Either way the extension is
//! applied to one entry, where 802.1Qbv (and takt) stretch the last whole
//! oper cycle.

use crate::interchange::GateList;

/// When kernel 6.1.192's software taprio starts the admin list's first
/// entry, for an admin list whose base time is `admin_base_ns`. `oper`
/// holds its entries as they run (they sum to the cycle).
pub fn admin_start_ns(oper: &GateList, admin_base_ns: u64) -> u64 {
    let len = oper.entries.len() as u128;
    if len == 0 || oper.cycle_time_ns == 0 {
        return admin_base_ns;
    }
    let base = oper.base_time_ns as u128;
    let cycle = oper.cycle_time_ns as u128;
    // prefix[i]: offset of the start of entry i inside a cycle.
    let mut prefix = Vec::with_capacity(oper.entries.len());
    let mut acc = 0u128;
    for e in &oper.entries {
        prefix.push(acc);
        acc += e.interval_ns as u128;
    }
    // Entry boundaries b(k), k = 0, 1, ...: b(0) is the base time.
    let boundary = |k: u128| base + (k / len) * cycle + prefix[(k % len) as usize];
    // The first boundary at or after base-time - extension: the end of the
    // entry that reaches it. The check runs at the boundary before it; the
    // first run (at b(0)) does not check, so that is b(1) at the earliest.
    let target = (admin_base_ns as u128).saturating_sub(oper.cycle_time_extension_ns as u128);
    let j = if target <= base {
        0
    } else {
        let n = (target - base) / cycle;
        let r = (target - base) % cycle;
        let i = prefix.partition_point(|&p| p < r) as u128;
        n * len + i
    };
    let k = j.max(2) - 1;
    u64::try_from(boundary(k)).unwrap_or(u64::MAX)
}

/// Whether the admin base time is an oper cycle boundary.
pub fn on_cycle_boundary(oper: &GateList, admin_base_ns: u64) -> bool {
    oper.cycle_time_ns != 0
        && admin_base_ns >= oper.base_time_ns
        && (admin_base_ns - oper.base_time_ns).is_multiple_of(oper.cycle_time_ns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use takt_scheduler::GateEntry;

    fn list(base: u64, ext: u64, intervals: &[u64]) -> GateList {
        GateList {
            base_time_ns: base,
            cycle_time_ns: intervals.iter().sum(),
            cycle_time_extension_ns: ext,
            entries: intervals
                .iter()
                .map(|&i| GateEntry {
                    gate_mask: 1,
                    interval_ns: i,
                })
                .collect(),
        }
    }

    #[test]
    fn on_a_cycle_boundary_the_last_oper_entry_is_given_to_the_admin_list() {
        // Entries end at 50, 100, 500 in each 500 ns cycle. Admin at 10_000:
        // the check at 9_600 sees the next entry end at 10_000 >= 10_000.
        let oper = list(0, 0, &[50, 50, 400]);
        assert_eq!(admin_start_ns(&oper, 10_000), 9_600);
        assert!(on_cycle_boundary(&oper, 10_000));
    }

    #[test]
    fn mid_entry_the_admin_list_starts_at_that_entrys_start() {
        let oper = list(0, 0, &[50, 50, 400]);
        // 10_200 is inside the 400 ns entry starting at 10_100.
        assert_eq!(admin_start_ns(&oper, 10_200), 10_100);
        // 10_050 is the end of the first entry of that cycle.
        assert_eq!(admin_start_ns(&oper, 10_050), 10_000);
    }

    #[test]
    fn the_extension_moves_the_switch_one_entry_earlier_per_entry_it_covers() {
        // docs/examples/admin-oper-switch.toml: admin 100 us past a boundary,
        // extension 150 us: the switch is at the end of the 50 us entry of
        // the cycle before, 400 us before the admin base time.
        let oper = list(0, 150_000, &[50_000, 50_000, 400_000]);
        assert_eq!(admin_start_ns(&oper, 10_000_100_000), 9_999_600_000);
        assert!(!on_cycle_boundary(&oper, 10_000_100_000));
    }

    #[test]
    fn the_first_run_does_not_check() {
        let oper = list(1_000, 0, &[100, 100]);
        // Admin inside the first entry: checked first at its end (1_100).
        assert_eq!(admin_start_ns(&oper, 1_050), 1_100);
        // One entry in the list: boundaries every 100 ns.
        let one = list(0, 0, &[100]);
        assert_eq!(admin_start_ns(&one, 1_000), 900);
    }
}
