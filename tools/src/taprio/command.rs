//! A [`GateSchedule`] as the tc command lines that install it: one
//! `tc qdisc replace ... taprio` line for the oper list, a second one for
//! the admin list, and with ETF one `etf` line per queue that streams use.
//! One command per line, no continuations (docs/taprio.md).

use std::fmt::Write;

use takt_scheduler::units::{format_ns, format_speed};
use takt_scheduler::ClockId;

use super::{kernel, KERNEL_MAX_CYCLE_NS};
use crate::interchange::{GateList, GateSchedule};

/// Default `--etf-delta`: how long before a frame's launch time ETF hands
/// it to the driver. Software ETF must cover the kernel's wake-up latency.
pub const DEFAULT_ETF_DELTA_NS: u64 = 200_000;

/// Smallest Ethernet frame without FCS (ETH_ZLEN): the kernel refuses an
/// interval shorter than its time on the wire at the device's speed.
const ETH_ZLEN: u64 = 60;

/// How to write the commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    /// The network interface (`dev IF`).
    pub dev: String,
    /// Full hardware offload (`flags 0x2`, and `offload` on ETF lines).
    pub offload: bool,
    /// ETF under the queues of these classes (bit c = class c), with this
    /// delta; `None` = no ETF lines.
    pub etf: Option<EtfOptions>,
    /// The schedule's link speed, to warn of intervals the kernel refuses.
    pub link_speed_bps: Option<u64>,
    /// Where the schedule came from, for the first comment line.
    pub source: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EtfOptions {
    pub delta_ns: u64,
    /// Classes some stream uses (bit c = class c).
    pub classes: u8,
}

/// The script and the warnings it carries (also as `# warning:` lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    pub text: String,
    pub warnings: Vec<String>,
}

/// The clockid name tc takes.
pub fn clockid_name(clock: ClockId) -> &'static str {
    match clock {
        ClockId::Tai => "CLOCK_TAI",
        ClockId::Realtime => "CLOCK_REALTIME",
        ClockId::Monotonic => "CLOCK_MONOTONIC",
    }
}

/// The tc commands for `gates`, or what stops the kernel from taking them.
pub fn script(gates: &GateSchedule, opts: &ExportOptions) -> Result<Script, String> {
    check_list(&gates.oper, "oper ([schedule])")?;
    if let Some(a) = &gates.admin {
        check_list(a, "admin ([admin])")?;
    }
    let warnings = warnings(gates, opts);
    let dev = &opts.dev;
    let mut out = String::new();
    for line in opts.source.lines() {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(
        out,
        "# takt traffic class c = taprio traffic class c = TX queue c of {dev}; SO_PRIORITY p < 8 -> class p, 8..15 -> class 0."
    );
    let _ = writeln!(
        out,
        "# {dev} needs 8 TX queues: ethtool -L {dev} tx 8 (or: ethtool -L {dev} combined 8); a veth: ip link add ... numtxqueues 8."
    );
    for w in &warnings {
        let _ = writeln!(out, "# warning: {w}");
    }
    let _ = writeln!(
        out,
        "tc qdisc replace dev {dev} parent root handle 100 taprio num_tc 8 map 0 1 2 3 4 5 6 7 0 0 0 0 0 0 0 0 queues 1@0 1@1 1@2 1@3 1@4 1@5 1@6 1@7 {}",
        schedule_args(&gates.oper, gates.clock, opts.offload)
    );
    if let Some(a) = &gates.admin {
        let _ = writeln!(
            out,
            "tc qdisc replace dev {dev} parent root handle 100 taprio {}",
            schedule_args(a, gates.clock, opts.offload)
        );
    }
    if let Some(etf) = opts.etf {
        let offload = if opts.offload { " offload" } else { "" };
        for q in (0..8u8).filter(|q| etf.classes & (1 << q) != 0) {
            let _ = writeln!(
                out,
                "tc qdisc replace dev {dev} parent 100:{} etf clockid {} delta {}{offload}",
                q + 1,
                clockid_name(gates.clock),
                etf.delta_ns
            );
        }
        if etf.classes == 0 {
            let _ = writeln!(
                out,
                "# no stream in the schedule: no queue gets ETF (ETF drops frames without a launch time)"
            );
        }
    }
    Ok(Script {
        text: out,
        warnings,
    })
}

/// `base-time ... sched-entry ... cycle-time ... [cycle-time-extension ...]
/// clockid ... | flags 0x2`.
fn schedule_args(list: &GateList, clock: ClockId, offload: bool) -> String {
    let mut s = format!("base-time {}", list.base_time_ns);
    for e in &list.entries {
        let _ = write!(s, " sched-entry S {:02x} {}", e.gate_mask, e.interval_ns);
    }
    let cycle: u64 = list.entries.iter().map(|e| e.interval_ns).sum();
    let _ = write!(s, " cycle-time {cycle}");
    if list.cycle_time_extension_ns > 0 {
        let _ = write!(s, " cycle-time-extension {}", list.cycle_time_extension_ns);
    }
    // Full offload runs on the NIC's clock; the kernel refuses a clockid
    // with it ("The 'clockid' cannot be specified for full offload").
    if offload {
        s.push_str(" flags 0x2");
    } else {
        let _ = write!(s, " clockid {}", clockid_name(clock));
    }
    s
}

/// What the kernel's netlink policy refuses: intervals are u32, the cycle
/// at most INT_MAX ns.
fn check_list(list: &GateList, which: &str) -> Result<(), String> {
    for (i, e) in list.entries.iter().enumerate() {
        if e.interval_ns > u32::MAX as u64 {
            return Err(format!(
                "the {which} list's entry {i} runs {} ({} ns), longer than a taprio interval can be (a 32-bit number of ns, 4.294967295s): split it into shorter entries",
                format_ns(e.interval_ns),
                e.interval_ns
            ));
        }
    }
    let cycle: u64 = list.entries.iter().map(|e| e.interval_ns).sum();
    if cycle > KERNEL_MAX_CYCLE_NS {
        return Err(format!(
            "the {which} cycle is {} ({cycle} ns), longer than the kernel's taprio takes ({KERNEL_MAX_CYCLE_NS} ns = INT_MAX, about 2.1s): give a shorter cycle_time",
            format_ns(cycle)
        ));
    }
    Ok(())
}

fn warnings(gates: &GateSchedule, opts: &ExportOptions) -> Vec<String> {
    let mut w = Vec::new();
    if opts.offload && gates.clock != ClockId::Tai {
        w.push(format!(
            "full offload runs the schedule on {}'s PTP hardware clock, usually on TAI, but this schedule is on CLOCK_{}: its base-time is read as PHC time",
            opts.dev,
            gates.clock.as_str().to_uppercase()
        ));
    }
    if let Some(speed) = opts.link_speed_bps.filter(|&s| s > 0) {
        let min_ns = (ETH_ZLEN as u128 * 8 * 1_000_000_000).div_ceil(speed as u128) as u64;
        let lists = [
            Some(("oper", &gates.oper)),
            gates.admin.as_ref().map(|a| ("admin", a)),
        ];
        for (which, list) in lists.into_iter().flatten() {
            if let Some((i, e)) = list
                .entries
                .iter()
                .enumerate()
                .find(|(_, e)| e.interval_ns < min_ns)
            {
                w.push(format!(
                    "the {which} list's entry {i} is {} ns, shorter than a 60-byte frame at {} ({min_ns} ns): the kernel refuses it (\"Invalid interval for schedule entry\") if {} runs at that speed",
                    e.interval_ns,
                    format_speed(speed),
                    opts.dev
                ));
            }
        }
    }
    if let Some(admin) = &gates.admin {
        let a = admin.base_time_ns;
        let oper = &gates.oper;
        if oper.cycle_time_extension_ns > 0 && !kernel::on_cycle_boundary(oper, a) {
            w.push(format!(
                "the admin base-time {a} is not on an oper cycle boundary and the oper cycle-time-extension is {} ns: takt (802.1Qbv) stretches or cuts the last oper CYCLE, kernel 6.1's taprio applies the extension per ENTRY (should_change_schedules runs at every entry's end), so the switch differs (docs/taprio.md)",
                oper.cycle_time_extension_ns
            ));
        }
        let k = kernel::admin_start_ns(oper, a);
        if k != a {
            let mask = admin.entries.first().map_or(0, |e| e.gate_mask);
            let (dir, d) = if k < a {
                ("before", a - k)
            } else {
                ("after", k - a)
            };
            w.push(format!(
                "kernel 6.1.192's taprio starts the admin list's first entry (gates {mask:02x}) at {k}, {d} ns {dir} its base-time {a}; takt keeps the oper list until {a} (docs/taprio.md, \"The switch\")"
            ));
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use takt_scheduler::GateEntry;

    fn gates(admin: bool) -> GateSchedule {
        let list = |base, masks: &[(u8, u64)], ext| GateList {
            base_time_ns: base,
            cycle_time_ns: masks.iter().map(|m| m.1).sum(),
            cycle_time_extension_ns: ext,
            entries: masks
                .iter()
                .map(|&(gate_mask, interval_ns)| GateEntry {
                    gate_mask,
                    interval_ns,
                })
                .collect(),
        };
        GateSchedule {
            clock: ClockId::Tai,
            oper: list(1_000, &[(0x80, 50_000), (0x0f, 450_000)], 0),
            admin: admin.then(|| list(2_000_000_000, &[(0x80, 100_000), (0x01, 150_000)], 20_000)),
        }
    }

    fn opts() -> ExportOptions {
        ExportOptions {
            dev: "eth0".into(),
            offload: false,
            etf: None,
            link_speed_bps: Some(1_000_000_000),
            source: "takt export taprio s.toml".into(),
        }
    }

    fn commands(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn the_oper_line_has_the_documented_shape() {
        let s = script(&gates(false), &opts()).unwrap();
        assert_eq!(
            commands(&s.text),
            ["tc qdisc replace dev eth0 parent root handle 100 taprio num_tc 8 map 0 1 2 3 4 5 6 7 0 0 0 0 0 0 0 0 queues 1@0 1@1 1@2 1@3 1@4 1@5 1@6 1@7 base-time 1000 sched-entry S 80 50000 sched-entry S 0f 450000 cycle-time 500000 clockid CLOCK_TAI"]
        );
        assert!(s.text.starts_with("# takt export taprio s.toml\n"));
        assert!(s.text.contains("ethtool -L eth0 tx 8"));
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn an_admin_list_is_a_second_replace_with_flags_repeated() {
        let o = ExportOptions {
            offload: true,
            ..opts()
        };
        let s = script(&gates(true), &o).unwrap();
        let c = commands(&s.text);
        assert_eq!(c.len(), 2);
        assert!(c[0].ends_with("cycle-time 500000 flags 0x2"), "{}", c[0]);
        assert_eq!(
            c[1],
            "tc qdisc replace dev eth0 parent root handle 100 taprio base-time 2000000000 sched-entry S 80 100000 sched-entry S 01 150000 cycle-time 250000 cycle-time-extension 20000 flags 0x2"
        );
        // No oper extension: no extension warning, but the kernel's early
        // start (at the end of the 50 us entry before the admin base time).
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("at 1999551000, 449000 ns before"));
    }

    #[test]
    fn etf_lines_go_under_the_queues_of_stream_classes() {
        let o = ExportOptions {
            etf: Some(EtfOptions {
                delta_ns: 150_000,
                classes: 0b1000_0100,
            }),
            ..opts()
        };
        let s = script(&gates(false), &o).unwrap();
        let c = commands(&s.text);
        assert_eq!(
            &c[1..],
            [
                "tc qdisc replace dev eth0 parent 100:3 etf clockid CLOCK_TAI delta 150000",
                "tc qdisc replace dev eth0 parent 100:8 etf clockid CLOCK_TAI delta 150000",
            ]
        );
    }

    #[test]
    fn what_the_kernel_refuses_is_an_error_naming_the_limit() {
        let mut g = gates(false);
        g.oper.entries[1].interval_ns = 5_000_000_000;
        let e = script(&g, &opts()).unwrap_err();
        assert!(e.contains("entry 1") && e.contains("32-bit"), "{e}");
        g.oper.entries[1].interval_ns = 2_000_000_000;
        g.oper.entries[0].interval_ns = 2_000_000_000;
        let e = script(&g, &opts()).unwrap_err();
        assert!(e.contains("INT_MAX"), "{e}");
    }

    #[test]
    fn short_intervals_and_extensions_off_the_boundary_are_warned_of() {
        let mut g = gates(true);
        g.oper.entries[0].interval_ns = 100;
        g.oper.cycle_time_extension_ns = 40_000;
        if let Some(a) = g.admin.as_mut() {
            a.base_time_ns += 7;
        }
        let s = script(&g, &opts()).unwrap();
        assert!(s
            .warnings
            .iter()
            .any(|w| w.contains("60-byte frame at 1Gbps (480 ns)")));
        assert!(s.warnings.iter().any(|w| w.contains("per ENTRY")));
        for w in &s.warnings {
            assert!(s.text.contains(&format!("# warning: {w}\n")));
        }
    }
}
