//! `tc qdisc add|replace|change ... taprio ...` command text, as `takt
//! export taprio` prints it or as scripts write it, read as iproute2's
//! tc/q_taprio.c reads its arguments: the same options, the same number
//! bases (masks in hex with or without 0x, intervals and flags in C's
//! base 0, times in decimal). Lines that are not a taprio qdisc command
//! (ethtool, `tc qdisc del`, etf qdiscs, ...) are skipped.

use takt_scheduler::schedule::MAX_GATE_ENTRIES;
use takt_scheduler::ClockId;

use super::lists::{self, RawEntry, RawList};
use super::words::{self, Word};
use super::{Imported, TaprioError, Where};

/// One taprio command, read.
#[derive(Clone, Debug)]
struct TaprioCmd {
    device: Option<String>,
    clock: Option<(ClockId, Where)>,
    flags: u64,
    list: RawList,
    /// Options takt does not use, as written.
    ignored: Vec<String>,
    line: usize,
}

/// Read the taprio command(s) in `text`; `dev` picks a device when the
/// commands are for several.
pub fn read(text: &str, dev: Option<&str>) -> Result<Imported, TaprioError> {
    let mut taprio = Vec::new();
    let mut skipped = Vec::new();
    for cmd in words::commands(text)? {
        let Some(q) = cmd.iter().position(|w| w.text == "qdisc") else {
            continue;
        };
        let Some(verb) = cmd.get(q + 1) else { continue };
        if !matches!(verb.text.as_str(), "add" | "replace" | "change" | "link") {
            continue;
        }
        let (device, kind_at) = head(&cmd, q + 2)?;
        let Some(kind) = cmd.get(kind_at) else {
            continue;
        };
        if kind.text != "taprio" {
            skipped.push(format!("{} (line {})", kind.text, kind.line));
            continue;
        }
        taprio.push(taprio_cmd(&cmd, kind_at, device)?);
    }
    let devices: Vec<String> = {
        let mut d: Vec<String> = taprio.iter().filter_map(|c| c.device.clone()).collect();
        d.dedup();
        d
    };
    if let Some(dev) = dev {
        taprio.retain(|c| c.device.as_deref().is_none_or(|d| d == dev));
        if taprio.is_empty() {
            return Err(TaprioError::new(
                Where::Input,
                format!(
                    "no taprio command for device {dev} in the input (devices: {}): give one of those to --dev",
                    if devices.is_empty() { "none".to_owned() } else { devices.join(", ") }
                ),
            ));
        }
    } else {
        let mut distinct = devices.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() > 1 {
            return Err(TaprioError::new(
                Where::Input,
                format!(
                    "taprio commands for several devices ({}): pick one with --dev",
                    distinct.join(", ")
                ),
            ));
        }
    }
    let mut cmds = taprio.into_iter();
    let Some(oper) = cmds.next() else {
        return Err(TaprioError::new(
            Where::Input,
            "no `tc qdisc add|replace|change ... taprio ...` command in the input: give the command line that installs the taprio qdisc, or `tc -j qdisc show` output",
        ));
    };
    let admin = cmds.next();
    if let Some(third) = cmds.next() {
        return Err(TaprioError::new(
            third.list.at.clone(),
            "a third taprio command: takt reads the first as the oper list and the second as the admin list that takes over at its base-time; leave out the others",
        ));
    }
    let clock = match (&oper.clock, oper.flags & 2 != 0) {
        (Some((c, _)), _) => *c,
        (None, true) => ClockId::Tai,
        (None, false) => {
            return Err(TaprioError::new(
                oper.list.at.clone(),
                "this taprio command has no clockid, which the kernel needs for software taprio: add `clockid CLOCK_TAI`",
            ))
        }
    };
    if let Some((c, at)) = admin.as_ref().and_then(|a| a.clock.clone()) {
        if c != clock {
            return Err(TaprioError::new(
                at,
                format!(
                    "the second taprio command's clockid is {}, the first's {}: the kernel does not change the clock of a running taprio, and takt's two lists share one clock; give both the same clockid",
                    c.as_str(),
                    clock.as_str()
                ),
            ));
        }
    }
    let mut notes = Vec::new();
    if let Some(d) = &oper.device {
        notes.push(format!("device: {d}"));
    }
    for (which, c) in std::iter::once(("oper", &oper)).chain(admin.iter().map(|a| ("admin", a))) {
        if !c.ignored.is_empty() {
            notes.push(format!(
                "{which} command (line {}): not carried into a takt schedule: {}",
                c.line,
                c.ignored.join("; ")
            ));
        }
    }
    if oper.clock.is_none() {
        notes.push("no clockid with flags 0x2 (full offload): read as CLOCK_TAI, the PHC's usual time scale".to_owned());
    }
    if !skipped.is_empty() {
        notes.push(format!("other qdiscs skipped: {}", skipped.join(", ")));
    }
    lists::imported(
        clock,
        &oper.list,
        admin.as_ref().map(|a| &a.list),
        oper.device.clone(),
        notes,
    )
}

/// `dev X parent P handle H root ...` up to the qdisc kind: the device and
/// the index of the kind word.
fn head(cmd: &[Word], mut i: usize) -> Result<(Option<String>, usize), TaprioError> {
    let mut device = None;
    while let Some(w) = cmd.get(i) {
        let args = match w.text.as_str() {
            "dev" | "parent" | "handle" | "ingress_block" | "egress_block" => 1,
            "estimator" => 2,
            "root" | "ingress" | "clsact" => 0,
            _ => return Ok((device, i)),
        };
        if cmd.len() <= i + args {
            return Err(TaprioError::new(
                w.at(),
                format!("`{}` needs a value", w.text),
            ));
        }
        if w.text == "dev" {
            device = Some(cmd[i + 1].text.clone());
        }
        i += 1 + args;
    }
    Ok((device, i))
}

fn taprio_cmd(
    cmd: &[Word],
    kind_at: usize,
    device: Option<String>,
) -> Result<TaprioCmd, TaprioError> {
    let first = &cmd[0];
    let taprio = &cmd[kind_at];
    let mut list = RawList {
        base_time: 0,
        base_time_at: taprio.at(),
        cycle_time: 0,
        cycle_time_at: taprio.at(),
        cycle_time_extension: 0,
        entries: Vec::new(),
        at: first.at(),
    };
    let mut c = TaprioCmd {
        device,
        clock: None,
        flags: 0,
        list: list.clone(),
        ignored: Vec::new(),
        line: first.line,
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut i = kind_at + 1;
    while let Some(opt) = cmd.get(i) {
        let name = opt.text.as_str();
        let value = |k: usize| {
            cmd.get(i + k).ok_or_else(|| {
                TaprioError::new(opt.at(), format!("`{name}` needs a value after it"))
            })
        };
        // tc refuses these twice; so does takt, naming the second.
        if matches!(
            name,
            "num_tc"
                | "base-time"
                | "cycle-time"
                | "cycle-time-extension"
                | "clockid"
                | "flags"
                | "txtime-delay"
        ) {
            if seen.contains(&name) {
                return Err(TaprioError::new(
                    opt.at(),
                    format!("`{name}` is given twice in this command: keep one"),
                ));
            }
            seen.push(name);
        }
        match name {
            "num_tc" => {
                let v = value(1)?;
                let n = number(v, 10, u8::MAX as u64, "num_tc")?;
                if n > 8 {
                    return Err(TaprioError::new(
                        v.at(),
                        format!("num_tc {n}: takt has 8 traffic classes; give num_tc 8 or fewer"),
                    ));
                }
                c.ignored.push(format!("num_tc {n}"));
                i += 2;
            }
            "map" | "queues" | "max-sdu" | "fp" => {
                // As tc: take the values that parse, up to 16.
                let mut vals = Vec::new();
                while vals.len() < 16 {
                    let Some(v) = cmd.get(i + 1 + vals.len()) else { break };
                    let ok = match name {
                        "map" => parse_unsigned(&v.text, 10, u8::MAX as u64).is_some(),
                        "max-sdu" => parse_unsigned(&v.text, 10, u32::MAX as u64).is_some(),
                        "fp" => v.text == "E" || v.text == "P",
                        _ => v.text.split_once('@').is_some_and(|(n, o)| {
                            parse_unsigned(n, 10, u16::MAX as u64).is_some()
                                && parse_unsigned(o, 10, u16::MAX as u64).is_some()
                        }),
                    };
                    if !ok {
                        break;
                    }
                    vals.push(v.text.as_str());
                }
                if name == "fp" && vals.is_empty() {
                    let at = cmd.get(i + 1).map_or(opt.at(), Word::at);
                    return Err(TaprioError::new(at, "`fp` takes E (express) or P (preemptible) per traffic class"));
                }
                c.ignored.push(format!("{name} {}", vals.join(" ")));
                i += 1 + vals.len();
            }
            "sched-entry" => {
                let cmd_w = value(1)?;
                let cmd_c = match cmd_w.text.as_str() {
                    "S" => 'S',
                    "H" => 'H',
                    "R" => 'R',
                    other => {
                        return Err(TaprioError::new(
                            cmd_w.at(),
                            format!("sched-entry command `{other}`: taprio's are S (set gates), H (set and hold) and R (set and release)"),
                        ))
                    }
                };
                let mask_w = value(2)?;
                let mask = number(mask_w, 16, u32::MAX as u64, "gate mask")?;
                let iv_w = value(3)?;
                let interval = number(iv_w, 0, u32::MAX as u64, "interval (ns)")?;
                if list.entries.len() >= MAX_GATE_ENTRIES {
                    return Err(TaprioError::new(
                        opt.at(),
                        format!("more than {MAX_GATE_ENTRIES} sched-entry in one schedule, more than takt accepts: merge entries"),
                    ));
                }
                list.entries.push(RawEntry {
                    cmd: cmd_c,
                    mask,
                    interval,
                    mask_at: mask_w.at(),
                    interval_at: iv_w.at(),
                });
                i += 4;
            }
            "base-time" => {
                let v = value(1)?;
                list.base_time = signed(v, "base-time")?;
                list.base_time_at = v.at();
                i += 2;
            }
            "cycle-time" | "cycle-time-extension" => {
                let v = value(1)?;
                let t = signed(v, name)?;
                let t = u64::try_from(t).map_err(|_| {
                    TaprioError::new(v.at(), format!("{name} {t} is negative: give a positive number of ns"))
                })?;
                if name == "cycle-time" {
                    list.cycle_time = t;
                    list.cycle_time_at = v.at();
                } else {
                    list.cycle_time_extension = t;
                }
                i += 2;
            }
            "clockid" => {
                let v = value(1)?;
                let clock = lists::clock_from_name(&v.text).map_err(|m| TaprioError::new(v.at(), m))?;
                c.clock = Some((clock, v.at()));
                i += 2;
            }
            "flags" => {
                let v = value(1)?;
                c.flags = number(v, 0, u32::MAX as u64, "flags")?;
                c.ignored.push(format!("flags {:#x}", c.flags));
                i += 2;
            }
            "txtime-delay" => {
                let v = value(1)?;
                let d = number(v, 0, u32::MAX as u64, "txtime-delay")?;
                c.ignored.push(format!("txtime-delay {d}"));
                i += 2;
            }
            _ => {
                return Err(TaprioError::new(
                    opt.at(),
                    format!("`{name}` is not a taprio option: taprio takes num_tc, map, queues, sched-entry, base-time, cycle-time, cycle-time-extension, clockid, flags, txtime-delay, max-sdu and fp"),
                ))
            }
        }
    }
    c.list = list;
    Ok(c)
}

/// An unsigned number as tc's get_u32/get_u8 read it: `base` 16 takes an
/// optional 0x, base 0 is C's (0x hex, leading 0 octal, else decimal).
pub fn parse_unsigned(text: &str, base: u32, max: u64) -> Option<u64> {
    let t = text.strip_prefix('+').unwrap_or(text);
    let (digits, radix) = match base {
        16 => (
            t.strip_prefix("0x")
                .or_else(|| t.strip_prefix("0X"))
                .unwrap_or(t),
            16,
        ),
        0 => {
            if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                (h, 16)
            } else if t.len() > 1 && t.starts_with('0') {
                (&t[1..], 8)
            } else {
                (t, 10)
            }
        }
        b => (t, b),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix)
        .ok()
        .filter(|&v| v <= max)
}

fn number(w: &Word, base: u32, max: u64, what: &str) -> Result<u64, TaprioError> {
    parse_unsigned(&w.text, base, max).ok_or_else(|| {
        let form = match base {
            16 => "a hexadecimal number (with or without 0x)",
            0 => "a number (decimal, or hex with 0x)",
            _ => "a decimal number",
        };
        let var = if w.text.starts_with('$') {
            " (shell variables are not expanded: put in the value)"
        } else {
            ""
        };
        TaprioError::new(
            w.at(),
            format!(
                "`{}` is not a valid {what}: give {form} up to {max}{var}",
                w.text
            ),
        )
    })
}

fn signed(w: &Word, what: &str) -> Result<i128, TaprioError> {
    let t = w.text.strip_prefix('+').unwrap_or(&w.text);
    t.parse::<i64>().map(i128::from).map_err(|_| {
        let var = if w.text.starts_with('$') {
            " (shell variables are not expanded: put in the value)"
        } else {
            ""
        };
        TaprioError::new(
            w.at(),
            format!(
                "`{}` is not a valid {what}: give a whole number of ns{var}",
                w.text
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXPORTED: &str = "# takt export taprio x.toml\n\
tc qdisc replace dev eth0 parent root handle 100 taprio num_tc 8 map 0 1 2 3 4 5 6 7 0 0 0 0 0 0 0 0 queues 1@0 1@1 1@2 1@3 1@4 1@5 1@6 1@7 base-time 1000 sched-entry S 80 50000 sched-entry S 0f 450000 cycle-time 500000 clockid CLOCK_TAI\n\
tc qdisc replace dev eth0 parent root handle 100 taprio base-time 2000000000 sched-entry S 80 100000 cycle-time 100000 cycle-time-extension 20000 clockid CLOCK_TAI\n\
tc qdisc replace dev eth0 parent 100:8 etf clockid CLOCK_TAI delta 200000\n";

    fn err(text: &str) -> TaprioError {
        read(text, None).unwrap_err()
    }

    #[test]
    fn an_exported_script_reads_back() {
        let i = read(EXPORTED, None).unwrap();
        assert_eq!(i.gates.clock, ClockId::Tai);
        assert_eq!(i.gates.oper.base_time_ns, 1000);
        assert_eq!(
            i.gates
                .oper
                .entries
                .iter()
                .map(|e| (e.gate_mask, e.interval_ns))
                .collect::<Vec<_>>(),
            [(0x80, 50_000), (0x0f, 450_000)]
        );
        let a = i.gates.admin.unwrap();
        assert_eq!(
            (a.base_time_ns, a.cycle_time_extension_ns),
            (2_000_000_000, 20_000)
        );
        assert_eq!(i.device.as_deref(), Some("eth0"));
        assert!(
            i.notes.iter().any(|n| n.contains("etf (line 4)")),
            "{:?}",
            i.notes
        );
    }

    #[test]
    fn numbers_are_read_in_tcs_bases() {
        let i = read(
            "tc qdisc add dev e taprio sched-entry S 0x1F 0x10 sched-entry H fF 010 clockid tai",
            None,
        )
        .unwrap();
        let e = &i.gates.oper.entries;
        assert_eq!((e[0].gate_mask, e[0].interval_ns), (0x1f, 16));
        assert_eq!((e[1].gate_mask, e[1].interval_ns), (0xff, 8));
        assert!(i.notes.iter().any(|n| n.contains("read as S")));
    }

    #[test]
    fn malformed_tokens_are_named_with_their_position() {
        let e = err("tc qdisc add dev e taprio \\\n  sched-entry S zz 100 clockid CLOCK_TAI");
        assert_eq!(e.at, Where::Text { line: 2, col: 17 });
        assert!(e.message.contains("`zz`"), "{}", e.message);
        let e = err("tc qdisc add dev e taprio sched-entry S 100 100 clockid CLOCK_TAI");
        assert!(e.message.contains("traffic class 8"), "{}", e.message);
        let e = err("tc qdisc add dev e taprio num_tc 16 sched-entry S 1 100 clockid CLOCK_TAI");
        assert!(e.message.contains("num_tc 16"), "{}", e.message);
        let e = err("tc qdisc add dev e taprio sched-entry S 1 100 clockid CLOCK_BOOTTIME");
        assert!(e.message.contains("BOOTTIME"), "{}", e.message);
        let e =
            err("tc qdisc add dev e taprio sched-entry S 1 100 base-time $BASE clockid CLOCK_TAI");
        assert!(
            e.message.contains("$BASE") && e.message.contains("variables"),
            "{}",
            e.message
        );
        let e = err("tc qdisc add dev e taprio sched-entry S 1 100 bogus 1");
        assert!(e.message.contains("`bogus`"), "{}", e.message);
        let e = err("tc qdisc add dev e taprio sched-entry S 1");
        assert!(e.message.contains("needs a value"), "{}", e.message);
        let e = err("tc qdisc add dev e taprio sched-entry S 1 0 clockid CLOCK_TAI");
        assert!(e.message.contains("zero interval"), "{}", e.message);
        let e = err("ethtool -L eth0 tx 8");
        assert!(e.message.contains("no `tc qdisc"), "{}", e.message);
    }

    #[test]
    fn devices_and_commands_are_picked() {
        let two = "tc qdisc add dev a taprio sched-entry S 1 100 clockid CLOCK_TAI\ntc qdisc add dev b taprio sched-entry S 2 100 clockid CLOCK_TAI";
        assert!(err(two).message.contains("--dev"));
        let b = read(two, Some("b")).unwrap();
        assert_eq!(b.gates.oper.entries[0].gate_mask, 2);
        assert!(read(two, Some("c")).unwrap_err().message.contains("a, b"));
        let later = "tc qdisc add dev a taprio base-time 10 sched-entry S 1 100 clockid CLOCK_TAI\ntc qdisc change dev a taprio base-time 5 sched-entry S 1 100 clockid CLOCK_TAI";
        let e = err(later);
        assert_eq!(e.at, Where::Text { line: 2, col: 40 });
        let clocks = "tc qdisc add dev a taprio sched-entry S 1 100 clockid CLOCK_TAI\ntc qdisc change dev a taprio base-time 5 sched-entry S 1 100 clockid CLOCK_REALTIME";
        assert!(err(clocks).message.contains("same clockid"));
    }

    #[test]
    fn offload_without_clockid_is_tai_and_no_clockid_otherwise_is_an_error() {
        let i = read(
            "tc qdisc replace dev e parent root taprio sched-entry S 1 100 flags 0x2",
            None,
        )
        .unwrap();
        assert_eq!(i.gates.clock, ClockId::Tai);
        assert!(
            err("tc qdisc replace dev e root taprio sched-entry S 1 100")
                .message
                .contains("clockid")
        );
    }

    #[test]
    fn a_cycle_longer_than_takt_runs_names_what_to_change() {
        let e = err("tc qdisc add dev e taprio sched-entry S 1 100 cycle-time 70000000000 cycle-time-extension 69999999999 clockid CLOCK_TAI");
        assert!(e.message.contains("60 s"), "{}", e.message);
        assert_eq!(e.at, Where::Text { line: 1, col: 58 });
    }

    #[test]
    fn a_cycle_time_that_cuts_the_list_is_kept_and_noted() {
        let i = read(
            "tc qdisc add dev e taprio sched-entry S 1 600 sched-entry S 2 600 cycle-time 1000 clockid CLOCK_MONOTONIC",
            None,
        )
        .unwrap();
        assert_eq!(i.gates.clock, ClockId::Monotonic);
        assert_eq!(i.gates.oper.cycle_time_ns, 1000);
        assert!(
            i.notes.iter().any(|n| n.contains("cuts the list")),
            "{:?}",
            i.notes
        );
        let toml = i.gates.to_toml("t");
        let back = takt_scheduler::config::parse_str(&toml, "t").unwrap();
        assert_eq!(back.schedule.oper().slots().last().unwrap().end_ns, 1000);
    }

    const SOUP: &[&str] = &[
        "tc",
        "qdisc",
        "add",
        "replace",
        "change",
        "dev",
        "eth0",
        "root",
        "parent",
        "handle",
        "100:",
        "taprio",
        "etf",
        "num_tc",
        "8",
        "map",
        "queues",
        "1@0",
        "1@",
        "@",
        "sched-entry",
        "S",
        "H",
        "R",
        "X",
        "ff",
        "0x1ff",
        "100",
        "0",
        "-1",
        "99999999999999999999",
        "base-time",
        "cycle-time",
        "cycle-time-extension",
        "clockid",
        "CLOCK_TAI",
        "tai",
        "flags",
        "0x2",
        "txtime-delay",
        "max-sdu",
        "fp",
        "E",
        "P",
        "\\\n",
        "\n",
        "#",
        ";",
        "'",
        "\"",
        "$X",
        "\u{e9}",
    ];

    proptest! {
        #[test]
        fn token_soup_never_panics(words in prop::collection::vec(prop::sample::select(SOUP), 0..60)) {
            let text = words.join(" ");
            let _ = read(&text, None);
            let _ = read(&text, Some("eth0"));
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = read(&text, None);
        }
    }
}
