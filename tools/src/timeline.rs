//! One cycle of a validated schedule, drawn for people: the header, each
//! gate control list entry as it runs (with a bar showing where in the cycle
//! it sits), every stream's frames on the wire, utilisation per traffic
//! class, and the oper -> admin switch when there is one.
//!
//! Pure formatting: takes a [`Schedule`] and returns text, so it is tested
//! with schedules built in code.

use std::cmp::Ordering;
use std::fmt::{self, Write};

use takt_scheduler::config::{
    log_interval_ns, lowest_open_class, ControlSection, PtpMode, PtpSection,
};
use takt_scheduler::gcl::format_mask;
use takt_scheduler::schedule::TRAFFIC_CLASSES;
use takt_scheduler::units::{format_ns, format_speed};
use takt_scheduler::{printable, GateControlList, Schedule, Stream, Which};

/// Frames listed per stream; the rest are summarised as "... N more".
pub const MAX_LISTED_FRAMES: u32 = 16;
/// Width in characters of the bar showing an entry's place in the cycle.
pub const BAR_WIDTH: usize = 40;

/// The timeline of `schedule`, loaded from `file`, as text ending in a newline.
pub fn render(file: &str, schedule: &Schedule) -> String {
    render_with_control(file, schedule, None)
}

/// [`render`], with the file's `[control]` section under the header.
pub fn render_with_control(
    file: &str,
    schedule: &Schedule,
    control: Option<&ControlSection>,
) -> String {
    render_with_sections(file, schedule, control, None)
}

/// [`render`], with the file's `[control]` and `[ptp]` sections under the
/// header.
pub fn render_with_sections(
    file: &str,
    schedule: &Schedule,
    control: Option<&ControlSection>,
    ptp: Option<&PtpSection>,
) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_timeline_with_sections(&mut out, file, schedule, control, ptp);
    out
}

/// Same as [`render`], into any `fmt::Write`.
pub fn write_timeline(out: &mut impl Write, file: &str, schedule: &Schedule) -> fmt::Result {
    write_timeline_with_control(out, file, schedule, None)
}

/// Same as [`render_with_control`], into any `fmt::Write`.
pub fn write_timeline_with_control(
    out: &mut impl Write,
    file: &str,
    schedule: &Schedule,
    control: Option<&ControlSection>,
) -> fmt::Result {
    write_timeline_with_sections(out, file, schedule, control, None)
}

/// Same as [`render_with_sections`], into any `fmt::Write`.
pub fn write_timeline_with_sections(
    out: &mut impl Write,
    file: &str,
    schedule: &Schedule,
    control: Option<&ControlSection>,
    ptp: Option<&PtpSection>,
) -> fmt::Result {
    write_header(out, file, schedule)?;
    let frer = frer_lines(schedule);
    if control.is_some() || ptp.is_some() || frer.is_some() {
        writeln!(out)?;
    }
    if let Some(c) = control {
        writeln!(out, "{}", control_line(c, schedule))?;
    }
    if let Some(p) = ptp {
        writeln!(out, "{}", ptp_lines(p, schedule))?;
    }
    if let Some(f) = frer {
        writeln!(out, "{f}")?;
    }
    write_gcl(out, Which::Oper, schedule.oper())?;
    if let Some(admin) = schedule.admin() {
        write_gcl(out, Which::Admin, admin)?;
        write_switch(out, schedule)?;
    }
    write_streams(out, schedule)?;
    write_utilisation(out, schedule, Which::Oper)?;
    if schedule.admin().is_some() {
        write_utilisation(out, schedule, Which::Admin)?;
    }
    Ok(())
}

fn write_header(out: &mut impl Write, file: &str, schedule: &Schedule) -> fmt::Result {
    let oper = schedule.oper();
    let link = schedule.link();
    let pcps: Vec<String> = link.tc_to_pcp.iter().map(u8::to_string).collect();
    writeln!(out, "{file}: valid schedule")?;
    let rows = vec![
        vec!["clock".into(), schedule.clock().as_str().into()],
        vec!["base time".into(), absolute(oper.base_time_ns())],
        vec!["cycle time".into(), format_ns(oper.cycle_time_ns())],
        vec![
            "extension".into(),
            format_ns(oper.cycle_time_extension_ns()),
        ],
        vec!["link speed".into(), format_speed(link.speed_bps)],
        vec!["tc_to_pcp".into(), format!("[{}]", pcps.join(", "))],
    ];
    write_table(out, "  ", &[], &[false, false], &rows)
}

/// `ports: needs 2 ...` and `frer: vector recovery, ...`, when the schedule
/// uses more than port 0 or replicates a stream; `None` otherwise.
pub fn frer_lines(schedule: &Schedule) -> Option<String> {
    let r = schedule.redundancy();
    let needed = schedule.ports_needed();
    if needed < 2 && !schedule.has_frer() && r.port_names.is_empty() {
        return None;
    }
    let times = match needed {
        1 => "once".to_owned(),
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    };
    let mut s = format!(
        "ports: needs {needed} {}: give --device {times}, port 0 first",
        if needed == 1 { "port" } else { "ports" }
    );
    if !r.port_names.is_empty() {
        let names: Vec<String> = r
            .port_names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{i} \"{}\"", printable(n)))
            .collect();
        let _ = write!(s, " (named {})", names.join(", "));
    }
    if schedule.has_frer() {
        let p = &r.params;
        let onoff = |b: bool| if b { "on" } else { "off" };
        let _ = write!(
            s,
            "\nfrer: {} recovery, history {}, reset timeout {}, individual recovery {}, take no sequence {}, latent error detection {}",
            p.algorithm.as_str(),
            p.history_length,
            format_ns(p.reset_timeout_ns),
            onoff(p.individual_recovery),
            onoff(p.take_no_sequence),
            onoff(p.latent_error_detection)
        );
        if p.latent_error_detection {
            let _ = write!(
                s,
                " (difference {}, period {}, reset period {})",
                p.latent_error_difference,
                format_ns(p.latent_error_period_ns),
                format_ns(p.latent_reset_period_ns)
            );
        }
    }
    Some(s)
}

/// `ports 0 "a", 1 "b", replicated (802.1CB FRER)` for one stream.
fn stream_ports_line(schedule: &Schedule, i: usize) -> String {
    let names = &schedule.redundancy().port_names;
    let ports: Vec<String> = schedule
        .stream_ports(i)
        .iter()
        .map(|p| match names.get(p) {
            Some(n) => format!("{p} \"{}\"", printable(n)),
            None => p.to_string(),
        })
        .collect();
    let (word, how) = if schedule.is_frer(i) {
        (
            "ports",
            ", replicated (802.1CB FRER: one copy per port, each with an R-TAG; the listener keeps the first)",
        )
    } else {
        ("port", "")
    };
    format!("    {word} {}{how}", ports.join(", "))
}

/// `control: 10.77.0.1/24, gateway -, best-effort class 0 (default), status
/// port 9700/udp, guard band 0ns`.
pub fn control_line(c: &ControlSection, schedule: &Schedule) -> String {
    let gateway = c.gateway.map_or_else(|| "-".to_owned(), |g| g.to_string());
    let class = match (c.best_effort_class, lowest_open_class(schedule)) {
        (Some(class), _) => class.to_string(),
        (None, Some(class)) => format!("{class} (default)"),
        // A loaded [control] always has a class that opens.
        (None, None) => "- (none opens)".to_owned(),
    };
    // Only when set, so the line stays as it was for older files.
    let allow = if c.allow.is_empty() {
        String::new()
    } else {
        let nets: Vec<String> = c.allow.iter().map(|(a, p)| format!("{a}/{p}")).collect();
        format!(", allow {}", nets.join(" "))
    };
    let key = c
        .key_file
        .as_ref()
        .map_or_else(String::new, |k| format!(", key file {k}"));
    format!(
        "control: {}/{}, gateway {gateway}, best-effort class {class}, status port {}/udp, guard band {}{allow}{key}",
        c.address,
        c.prefix_len,
        c.status_port,
        format_ns(c.guard_band_ns)
    )
}

/// Two lines (one for mode off):
/// `ptp: auto, gptp (IEEE 802.1AS), domain 0, priority1 248, priority2 248, class 0 (default; open 100us..1ms)`
/// `     sync every 125ms, announce every 1s (timeout 3), pdelay every 1s; a run starts once |offset| < 100us, waiting up to 30s`.
pub fn ptp_lines(p: &PtpSection, schedule: &Schedule) -> String {
    if p.mode == PtpMode::Off {
        return "ptp: off (the [ptp] section is kept; --ptp turns it on)".to_owned();
    }
    let class = match (p.class, p.class_in(schedule)) {
        (Some(c), _) => format!("{c} ({})", class_windows(schedule, c)),
        (None, Some(c)) => format!("{c} (default; {})", class_windows(schedule, c)),
        // A loaded [ptp] that is not off always has a class that opens.
        (None, None) => "- (none opens)".to_owned(),
    };
    let guard = match p.guard_band_ns {
        0 => String::new(),
        g => format!(", guard band {}", format_ns(g)),
    };
    let socket = match p.mode {
        PtpMode::Linuxptp => format!(
            ", ptp4l socket {}",
            printable(&p.ptp4l_socket.display().to_string())
        ),
        _ => String::new(),
    };
    format!(
        "ptp: {}, {} ({}), domain {}, priority1 {}, priority2 {}, class {class}{guard}{socket}\n     \
         sync every {}, announce every {} (timeout {}), {} every {}; a run starts once |offset| < {}, waiting up to {}",
        p.mode,
        p.profile,
        p.profile.describe(),
        p.domain,
        p.priority1,
        p.priority2,
        format_ns(log_interval_ns(p.log_sync_interval)),
        format_ns(log_interval_ns(p.log_announce_interval)),
        p.announce_receipt_timeout,
        p.profile.delay_mechanism(),
        format_ns(log_interval_ns(p.log_delay_interval)),
        format_ns(p.sync_threshold_ns),
        format_ns(p.sync_wait_ns),
    )
}

/// `open 100us..1ms`, `open 0ns..30us, 80us..100us`, with an admin list
/// `oper 100us..1ms; admin 50us..200us` (`never open` for none).
fn class_windows(schedule: &Schedule, class: u8) -> String {
    if usize::from(class) >= TRAFFIC_CLASSES {
        return "no such class".to_owned();
    }
    let list = |g: &GateControlList| {
        let w: Vec<String> = g
            .class_windows(class)
            .iter()
            .map(|w| format!("{}..{}", format_ns(w.start_ns), format_ns(w.end_ns)))
            .collect();
        if w.is_empty() {
            "never open".to_owned()
        } else {
            w.join(", ")
        }
    };
    match schedule.admin() {
        None => format!("open {}", list(schedule.oper())),
        Some(a) => format!("oper {}; admin {}", list(schedule.oper()), list(a)),
    }
}

fn write_gcl(out: &mut impl Write, which: Which, gcl: &GateControlList) -> fmt::Result {
    writeln!(out)?;
    let slots = gcl.slots();
    match which {
        Which::Oper => writeln!(
            out,
            "oper gate control list: {}, cycle {}",
            count(slots.len(), "entry", "entries"),
            format_ns(gcl.cycle_time_ns())
        )?,
        Which::Admin => writeln!(
            out,
            "admin gate control list: takes over at base time {}; {}, cycle {}, extension {}",
            absolute(gcl.base_time_ns()),
            count(slots.len(), "entry", "entries"),
            format_ns(gcl.cycle_time_ns()),
            format_ns(gcl.cycle_time_extension_ns())
        )?,
    }
    let cycle = gcl.cycle_time_ns();
    let rows: Vec<Vec<String>> = slots
        .iter()
        .map(|s| {
            let run = s.end_ns - s.start_ns;
            let configured = gcl.entries()[s.entry].interval_ns;
            let interval = match run.cmp(&configured) {
                Ordering::Equal => format_ns(run),
                Ordering::Less => {
                    format!("{} (cut from {})", format_ns(run), format_ns(configured))
                }
                Ordering::Greater => {
                    format!(
                        "{} (stretched from {})",
                        format_ns(run),
                        format_ns(configured)
                    )
                }
            };
            vec![
                s.entry.to_string(),
                format_ns(s.start_ns),
                format_ns(s.end_ns),
                interval,
                format_mask(s.gate_mask),
                bar(s.start_ns, s.end_ns, cycle),
                percent(run, cycle),
            ]
        })
        .collect();
    write_table(
        out,
        "  ",
        &[
            "entry",
            "start",
            "end",
            "interval",
            "gates",
            "place in the cycle",
            "share",
        ],
        &[true, false, false, false, false, false, true],
        &rows,
    )?;
    let (ran, all) = (slots.len(), gcl.entries().len());
    if all > ran {
        let which_entries = if all - ran == 1 {
            format!("entry {ran} never runs")
        } else {
            format!("entries {ran}..={} never run", all - 1)
        };
        writeln!(out, "  ({which_entries}: cycle_time ends the cycle first)")?;
    }
    Ok(())
}

fn write_switch(out: &mut impl Write, schedule: &Schedule) -> fmt::Result {
    let Some(sw) = schedule.switch() else {
        return Ok(());
    };
    let oper = schedule.oper();
    let cycle = oper.cycle_time_ns();
    let len = sw.at_ns - sw.last_oper_start_ns;
    writeln!(out)?;
    writeln!(out, "switch oper -> admin at {}", absolute(sw.at_ns))?;
    let k = sw.last_oper_cycle;
    if k > 0 {
        writeln!(
            out,
            "  oper cycles 0..={} run whole, from the oper base time {}",
            k - 1,
            absolute(oper.base_time_ns())
        )?;
    }
    let how = match len.cmp(&cycle) {
        Ordering::Equal => "a whole cycle".to_string(),
        Ordering::Less => format!(
            "truncated: {} of its {}, the admin base time falls inside it",
            format_ns(len),
            format_ns(cycle)
        ),
        Ordering::Greater => format!(
            "extended by {} to {} (its last entry stays open until the switch; cycle_time_extension {})",
            format_ns(len - cycle),
            format_ns(len),
            format_ns(oper.cycle_time_extension_ns())
        ),
    };
    writeln!(
        out,
        "  last oper cycle #{k} starts at {}: {how}",
        absolute(sw.last_oper_start_ns)
    )?;
    writeln!(
        out,
        "  first admin cycle #{} starts at {}",
        k + 1,
        absolute(sw.at_ns)
    )?;
    let mut cut = Vec::new();
    for (i, s) in schedule.streams().iter().enumerate() {
        let sent = (0..s.frames_per_cycle)
            .filter(|&f| schedule.launch_time(i, k, f).is_some())
            .count();
        if sent < s.frames_per_cycle as usize {
            cut.push(format!(
                "\"{}\" {sent} of {}",
                printable(&s.name),
                count(s.frames_per_cycle as usize, "frame", "frames")
            ));
        }
    }
    if schedule.streams().is_empty() {
        Ok(())
    } else if cut.is_empty() {
        writeln!(
            out,
            "  every stream sends all its frames in the last oper cycle"
        )
    } else {
        writeln!(
            out,
            "  frames sent in the last oper cycle (the rest do not fit its cut windows): {}",
            cut.join(", ")
        )
    }
}

fn write_streams(out: &mut impl Write, schedule: &Schedule) -> fmt::Result {
    writeln!(out)?;
    let streams = schedule.streams();
    if streams.is_empty() {
        return writeln!(out, "streams: none");
    }
    writeln!(out, "streams: {}", streams.len())?;
    let link = schedule.link();
    // Ports per stream only when the schedule uses more than port 0.
    let frer_shown = frer_lines(schedule).is_some();
    for (i, s) in streams.iter().enumerate() {
        let wire = link.wire_time_ns(s.frame_size);
        writeln!(out, "  stream \"{}\"", printable(&s.name))?;
        if let Some(f) = schedule.return_of(i) {
            writeln!(
                out,
                "    return of \"{}\": sent back by takt-listener --mirror, not by the talker",
                printable(&streams[f].name)
            )?;
        }
        if let Some(r) = schedule.return_stream(i) {
            writeln!(
                out,
                "    returned as \"{}\" (round trip)",
                printable(&streams[r].name)
            )?;
        }
        if frer_shown {
            writeln!(out, "{}", stream_ports_line(schedule, i))?;
        }
        writeln!(
            out,
            "    class {}, VLAN {}, PCP {}, dst {}",
            s.traffic_class,
            s.vlan_id,
            s.pcp,
            format_mac(&s.dst_mac)
        )?;
        writeln!(
            out,
            "    frame {} B, wire time {} (frame + preamble + IFG at {})",
            s.frame_size,
            format_ns(wire),
            format_speed(link.speed_bps)
        )?;
        let lists: &[Which] = if schedule.admin().is_some() {
            &[Which::Oper, Which::Admin]
        } else {
            &[Which::Oper]
        };
        for &which in lists {
            let w = schedule.stream_window_offsets(i, which);
            writeln!(
                out,
                "    {} window {}..{} ({}), class {} gate open",
                which.as_str(),
                format_ns(w.start_ns),
                format_ns(w.end_ns),
                format_ns(w.len_ns()),
                s.traffic_class
            )?;
        }
        if s.frames_per_cycle == 1 {
            writeln!(out, "    1 frame per cycle at {}:", format_ns(s.offset_ns))?;
        } else {
            writeln!(
                out,
                "    {} frames per cycle, every {} from {}:",
                s.frames_per_cycle,
                format_ns(s.spacing_ns),
                format_ns(s.offset_ns)
            )?;
        }
        let listed = s.frames_per_cycle.min(MAX_LISTED_FRAMES);
        let rows: Vec<Vec<String>> = (0..listed)
            .map(|f| {
                let launch = launch_offset(s, f);
                vec![
                    f.to_string(),
                    format_ns(launch),
                    format!("{}..{}", format_ns(launch), format_ns(launch + wire)),
                ]
            })
            .collect();
        write_table(
            out,
            "      ",
            &["frame", "launch", "on the wire"],
            &[true, false, false],
            &rows,
        )?;
        if s.frames_per_cycle > listed {
            let last = s.frames_per_cycle - 1;
            let launch = launch_offset(s, last);
            writeln!(
                out,
                "      ... {} more; the last, frame {last}, launches at {} and leaves the wire at {}",
                s.frames_per_cycle - listed,
                format_ns(launch),
                format_ns(launch + wire)
            )?;
        }
    }
    Ok(())
}

fn write_utilisation(out: &mut impl Write, schedule: &Schedule, which: Which) -> fmt::Result {
    let gcl = schedule.gcl(which);
    let cycle = gcl.cycle_time_ns();
    let link = schedule.link();
    writeln!(out)?;
    writeln!(
        out,
        "utilisation per traffic class ({}, cycle {}): stream wire time / open gate time",
        which.as_str(),
        format_ns(cycle)
    )?;
    let mut rows = Vec::new();
    let (mut all_frames, mut all_wire) = (0u64, 0u64);
    for class in 0..TRAFFIC_CLASSES as u8 {
        let open: u64 = gcl.class_windows(class).iter().map(|w| w.len_ns()).sum();
        let (mut frames, mut wire) = (0u64, 0u64);
        for s in schedule
            .streams()
            .iter()
            .filter(|s| s.traffic_class == class)
        {
            frames += u64::from(s.frames_per_cycle);
            wire += u64::from(s.frames_per_cycle) * link.wire_time_ns(s.frame_size);
        }
        all_frames += frames;
        all_wire += wire;
        if open == 0 && frames == 0 {
            continue;
        }
        rows.push(vec![
            class.to_string(),
            format_ns(open),
            frames.to_string(),
            format_ns(wire),
            percent(wire, open),
            percent(wire, cycle),
        ]);
    }
    rows.push(vec![
        "all".into(),
        String::new(),
        all_frames.to_string(),
        format_ns(all_wire),
        String::new(),
        percent(all_wire, cycle),
    ]);
    write_table(
        out,
        "  ",
        &[
            "class",
            "open per cycle",
            "frames",
            "wire time",
            "of open",
            "of cycle",
        ],
        &[true, true, true, true, true, true],
        &rows,
    )?;
    let closed: Vec<String> = (0..TRAFFIC_CLASSES as u8)
        .filter(|&c| gcl.class_windows(c).is_empty())
        .map(|c| c.to_string())
        .collect();
    if !closed.is_empty() {
        writeln!(out, "  never open: class {}", closed.join(", "))?;
    }
    Ok(())
}

/// Launch offset of frame `f` inside the cycle. Validated schedules keep
/// every frame inside the cycle, so this cannot overflow for them.
pub fn launch_offset(s: &Stream, f: u32) -> u64 {
    s.offset_ns
        .saturating_add(u64::from(f).saturating_mul(s.spacing_ns))
}

/// "01:1b:19:00:00:00".
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// An absolute time on the schedule clock: "0 ns", "2000000000 ns (2s)".
fn absolute(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns} ns")
    } else {
        format!("{ns} ns ({})", format_ns(ns))
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `num / den` as a percentage with one decimal, rounded: "12.5%".
fn percent(num: u64, den: u64) -> String {
    if den == 0 {
        return "-".into();
    }
    let (num, den) = (u128::from(num), u128::from(den));
    let tenths = (num * 1000 + den / 2) / den;
    format!("{}.{}%", tenths / 10, tenths % 10)
}

/// `|....####......|`: where `[start, end)` sits inside a cycle, at least
/// one `#` wide.
fn bar(start: u64, end: u64, cycle: u64) -> String {
    let col = |t: u64| -> usize {
        let (t, c, w) = (u128::from(t), u128::from(cycle.max(1)), BAR_WIDTH as u128);
        ((t * w + c / 2) / c).min(w) as usize
    };
    let e = col(end).max(1);
    let s = col(start).min(e - 1);
    let e = e.max(s + 1);
    format!(
        "|{}{}{}|",
        ".".repeat(s),
        "#".repeat(e - s),
        ".".repeat(BAR_WIDTH - e)
    )
}

/// Columns padded to their widest cell, separated by two spaces. Empty
/// `headers` = no header line.
fn write_table(
    out: &mut impl Write,
    indent: &str,
    headers: &[&str],
    right: &[bool],
    rows: &[Vec<String>],
) -> fmt::Result {
    let columns = right.len();
    let mut widths = vec![0usize; columns];
    let header_row: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let all = std::iter::once(&header_row)
        .filter(|h| !h.is_empty())
        .chain(rows.iter());
    for row in all.clone() {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in all {
        let mut line = String::from(indent);
        for (c, cell) in row.iter().enumerate().take(columns) {
            if c > 0 {
                line.push_str("  ");
            }
            let pad = widths[c] - cell.chars().count();
            if right[c] {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{
        admin_schedule, entry, many_frames_schedule, stream, two_class_schedule, GBPS,
    };
    use takt_scheduler::config::PtpProfile;
    use takt_scheduler::ClockId;

    #[test]
    fn percent_and_bar() {
        assert_eq!(percent(1, 8), "12.5%");
        assert_eq!(percent(0, 8), "0.0%");
        assert_eq!(percent(8, 8), "100.0%");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(1, 0), "-");
        assert_eq!(
            bar(0, 250, 1000),
            format!("|{}{}|", "#".repeat(10), ".".repeat(30))
        );
        assert_eq!(
            bar(750, 1000, 1000),
            format!("|{}{}|", ".".repeat(30), "#".repeat(10))
        );
        // A sliver still shows, and stays inside the bar at either end.
        assert_eq!(bar(0, 1, 1_000_000).matches('#').count(), 1);
        assert_eq!(bar(999_999, 1_000_000, 1_000_000).matches('#').count(), 1);
        assert_eq!(bar(0, 1, 1).len(), BAR_WIDTH + 2);
    }

    #[test]
    fn mac_formatting() {
        assert_eq!(
            format_mac(&[0x91, 0xe0, 0xf0, 0, 0xfe, 0x01]),
            "91:e0:f0:00:fe:01"
        );
    }

    #[test]
    fn timeline_of_two_class_schedule() {
        let s = two_class_schedule();
        let text = render("two.toml", &s);
        assert!(text.starts_with("two.toml: valid schedule\n"), "{text}");
        for needle in [
            "  clock       tai\n",
            "  cycle time  250us\n",
            "  link speed  1Gbps\n",
            "  tc_to_pcp   [0, 1, 2, 3, 4, 5, 6, 7]\n",
            "oper gate control list: 4 entries, cycle 250us",
            "0x80 (classes 7)",
            "0x0f (classes 0,1,2,3)",
            "stream \"control\"",
            "stream \"video\"",
            "class 7, VLAN 100, PCP 7, dst 91:e0:f0:00:fe:01",
            "frame 128 B, wire time 1.184us",
            "4 frames per cycle, every 5us from 1us:",
            "1us..2.184us",
            "16us..17.184us",
            "oper window 0ns..30us (30us)",
            "utilisation per traffic class (oper, cycle 250us)",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        // No admin list: no admin sections.
        assert!(!text.contains("admin"), "{text}");
        // Class 7: 4 * 1.184us of a 30us window, 250us cycle.
        let class7 = text
            .lines()
            .find(|l| l.trim_start().starts_with("7 ") && l.contains('%'))
            .expect("class 7 utilisation row");
        assert!(
            class7.contains("4.736us") && class7.contains("15.8%") && class7.contains("1.9%"),
            "{class7}"
        );
    }

    #[test]
    fn timeline_shows_the_control_section_under_the_header() {
        let s = two_class_schedule();
        let mut c = ControlSection {
            key_file: None,
            allow: Vec::new(),
            address: [10, 77, 0, 1].into(),
            prefix_len: 24,
            gateway: None,
            best_effort_class: None,
            status_port: 9700,
            guard_band_ns: 0,
        };
        let text = render_with_control("two.toml", &s, Some(&c));
        assert!(
            text.contains("  tc_to_pcp   [0, 1, 2, 3, 4, 5, 6, 7]\n\ncontrol: 10.77.0.1/24, gateway -, best-effort class 0 (default), status port 9700/udp, guard band 0ns\n\noper gate control list"),
            "{text}"
        );
        c.gateway = Some([10, 77, 0, 254].into());
        c.best_effort_class = Some(3);
        c.guard_band_ns = 20_000;
        assert_eq!(
            control_line(&c, &s),
            "control: 10.77.0.1/24, gateway 10.77.0.254, best-effort class 3, status port 9700/udp, guard band 20us"
        );
        c.allow = vec![([10, 77, 0, 0].into(), 24), ([192, 0, 2, 5].into(), 32)];
        c.key_file = Some("ctl.key".into());
        assert!(
            control_line(&c, &s)
                .ends_with("guard band 20us, allow 10.77.0.0/24 192.0.2.5/32, key file ctl.key"),
            "{}",
            control_line(&c, &s)
        );
        assert!(!render("two.toml", &s).contains("control:"));
    }

    #[test]
    fn timeline_shows_the_ptp_section_after_control() {
        let s = two_class_schedule();
        let mut p = PtpSection::defaults(PtpProfile::Gptp);
        let text = render_with_sections("two.toml", &s, None, Some(&p));
        assert!(
            text.contains("  tc_to_pcp   [0, 1, 2, 3, 4, 5, 6, 7]\n\nptp: auto, gptp (IEEE 802.1AS), domain 0, priority1 248, priority2 248, class 0 (default; open 80us..237.5us)\n     sync every 125ms, announce every 1s (timeout 3), pdelay every 1s; a run starts once |offset| < 100us, waiting up to 30s\n\noper gate control list"),
            "{text}"
        );
        let c = ControlSection {
            key_file: None,
            allow: Vec::new(),
            address: [10, 77, 0, 1].into(),
            prefix_len: 24,
            gateway: None,
            best_effort_class: None,
            status_port: 9700,
            guard_band_ns: 0,
        };
        let both = render_with_sections("two.toml", &s, Some(&c), Some(&p));
        assert!(
            both.contains("guard band 0ns\nptp: auto, gptp"),
            "one block for both sections: {both}"
        );
        p = PtpSection {
            mode: PtpMode::Linuxptp,
            class: Some(2),
            log_delay_interval: -2,
            ..PtpSection::defaults(PtpProfile::Default1588)
        };
        assert_eq!(
            ptp_lines(&p, &s),
            "ptp: linuxptp, 1588 (IEEE 1588 default profile, L2, end-to-end), domain 0, priority1 128, priority2 128, class 2 (open 80us..237.5us), ptp4l socket /var/run/ptp4l\n     sync every 1s, announce every 2s (timeout 3), delay_req every 250ms; a run starts once |offset| < 100us, waiting up to 30s"
        );
        p.mode = PtpMode::Off;
        assert!(ptp_lines(&p, &s).starts_with("ptp: off"));
        assert!(!render("two.toml", &s).contains("ptp:"));
    }

    #[test]
    fn ptp_class_windows_of_both_lists() {
        let s = admin_schedule();
        let p = PtpSection {
            class: Some(0),
            ..PtpSection::defaults(PtpProfile::Gptp)
        };
        assert!(
            ptp_lines(&p, &s).contains("class 0 (oper 50us..250us; admin 50us..200us)"),
            "{}",
            ptp_lines(&p, &s)
        );
        assert_eq!(class_windows(&s, 5), "oper never open; admin never open");
    }

    #[test]
    fn timeline_caps_frame_listing() {
        let s = many_frames_schedule(1000);
        let text = render("many.toml", &s);
        let listed = text
            .lines()
            .filter(|l| l.contains("us..") || l.contains("ns.."))
            .count();
        assert!(listed <= MAX_LISTED_FRAMES as usize + 2, "{text}");
        assert!(
            text.contains("... 984 more; the last, frame 999,"),
            "{text}"
        );
    }

    #[test]
    fn timeline_shows_admin_and_switch() {
        let s = admin_schedule();
        let text = render("switch.toml", &s);
        for needle in [
            "admin gate control list: takes over at base time 2000100000 ns (2.0001s)",
            "switch oper -> admin at 2000100000 ns (2.0001s)",
            "last oper cycle #7999 starts at 1999750000 ns (1.99975s): extended by 100us to 350us",
            "first admin cycle #8000",
            "admin window",
            "utilisation per traffic class (admin, cycle 200us)",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn timeline_shows_truncated_last_cycle_and_dropped_frames() {
        // The admin list starts 20us into an oper cycle and there is no
        // extension: the last oper cycle is cut to 20us, which keeps only
        // the first of the stream's two frames.
        let oper = GateControlList::new(
            0,
            Some(250_000),
            0,
            vec![entry(&[7], 50_000), entry(&[0], 200_000)],
        )
        .unwrap();
        let admin =
            GateControlList::new(2_000_020_000, None, 0, vec![entry(&[7], 100_000)]).unwrap();
        let control = stream("control", 7, 128, 10_000, 2, 20_000);
        let s = Schedule::new(ClockId::Tai, GBPS, oper, Some(admin), vec![control]).unwrap();
        let text = render("cut.toml", &s);
        for needle in [
            "last oper cycle #8000 starts at 2000000000 ns (2s): truncated: 20us of its 250us",
            "frames sent in the last oper cycle (the rest do not fit its cut windows): \"control\" 1 of 2 frames",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn timeline_shows_cut_and_stretched_entries() {
        let cut = GateControlList::new(
            0,
            Some(250_000),
            0,
            vec![
                entry(&[7], 100_000),
                entry(&[0], 100_000),
                entry(&[1], 100_000),
                entry(&[2], 1),
            ],
        )
        .unwrap();
        let s = Schedule::new(ClockId::Tai, GBPS, cut, None, vec![]).unwrap();
        let text = render("cut.toml", &s);
        assert!(text.contains("50us (cut from 100us)"), "{text}");
        assert!(
            text.contains("(entry 3 never runs: cycle_time ends the cycle first)"),
            "{text}"
        );
        assert!(text.contains("streams: none"), "{text}");

        let stretched = GateControlList::new(
            0,
            Some(260_000),
            20_000,
            vec![entry(&[7], 100_000), entry(&[0], 150_000)],
        )
        .unwrap();
        let s = Schedule::new(ClockId::Tai, GBPS, stretched, None, vec![]).unwrap();
        let text = render("stretched.toml", &s);
        assert!(text.contains("160us (stretched from 150us)"), "{text}");
    }
}
