//! Raw tables -> the validated model. Ranges, units, MACs and defaults are
//! checked here, where the key and its position are known; the model's own
//! checks (`GateControlList::new`, `Schedule::new`) report indices, which are
//! mapped back to the value a user has to change.

use super::raw::{Duration, Int, RawEntry, RawFile, RawGcl, RawLink, RawStream, Tab};
use super::Located;
use crate::clock::ClockId;
use crate::schedule::{
    GateControlList, GateEntry, GclError, LinkConfig, Schedule, ScheduleError, Stream, Validation,
    Warning, Which, FAR_FIRST_CYCLE_NS, MAX_FRAMES_PER_CYCLE, MAX_FRAME_BYTES, MAX_VLAN_ID,
    MIN_FRAME_BYTES, TRAFFIC_CLASSES,
};
use crate::units;
use std::ops::Range;
use toml::Spanned;

const DEFAULT_SPEED_BPS: u64 = 1_000_000_000;

pub(super) struct Built {
    pub schedule: Schedule,
    pub control: Option<super::ControlSection>,
    pub ptp: Option<super::PtpSection>,
    pub warnings: Vec<(Range<usize>, Warning)>,
}

pub(super) fn build(raw: &RawFile, validation: Validation) -> Result<Built, Located> {
    let clock = clock(&raw.schedule)?;
    let link = link(raw.link.as_ref())?;
    let oper = gcl(&raw.schedule, Which::Oper)?;
    let admin = raw
        .admin
        .as_ref()
        .map(|a| gcl(a, Which::Admin))
        .transpose()?;
    let streams = raw
        .stream
        .iter()
        .map(|s| stream(s, &link))
        .collect::<Result<Vec<_>, _>>()?;
    // Streams on several ports: each port is its own wire, so the overlap
    // check waits until the ports are known.
    let per_port =
        validation == Validation::Full && raw.stream.iter().any(|s| s.get_ref().ports.is_some());
    let first = if per_port {
        Validation::AllowOverbooking
    } else {
        validation
    };
    let schedule = Schedule::with_validation(clock, link, oper, admin, streams, first)
        .map_err(|e| schedule_error(raw, &e))?;
    let schedule = super::returns::returns(raw, schedule)?;
    let schedule = super::frer::redundancy(raw, schedule)?;
    if per_port {
        schedule
            .check_overlaps_per_port()
            .map_err(|e| schedule_error(raw, &e))?;
    }
    let control = raw
        .control
        .as_ref()
        .map(|c| super::control::control(c, &schedule))
        .transpose()?;
    let ptp = raw
        .ptp
        .as_ref()
        .map(|p| super::ptp::ptp(p, &schedule))
        .transpose()?;
    // A best-effort window that the control plane or PTP sends in is used.
    let used_classes = [
        control
            .as_ref()
            .and_then(|c| c.best_effort_class_in(&schedule)),
        ptp.as_ref().and_then(|p| p.class_in(&schedule)),
    ]
    .into_iter()
    .flatten()
    .filter(|&c| c < 8)
    .fold(0u8, |m, c| m | 1 << c);
    let mut warnings: Vec<_> = schedule
        .warnings()
        .iter()
        .filter_map(|w| without_classes(w, used_classes))
        .map(|w| (warning_span(raw, &w), w))
        .collect();
    if let Some(far) = first_cycle_far(&schedule, clock.now_ns()) {
        warnings.push((warning_span(raw, &far), far));
    }
    Ok(Built {
        schedule,
        control,
        ptp,
        warnings,
    })
}

pub(super) fn at<T>(value: &Spanned<T>, message: impl Into<String>) -> Located {
    Located {
        span: value.span(),
        message: message.into(),
    }
}

/// The span of an optional key, or of its table's header when it is absent.
pub(super) fn span_or<T, U>(key: Option<&Spanned<T>>, header: &Spanned<U>) -> Range<usize> {
    key.map_or_else(|| header.span(), Spanned::span)
}

fn list_table(which: Which) -> &'static str {
    match which {
        Which::Oper => "[schedule]",
        Which::Admin => "[admin]",
    }
}

fn entry_table(which: Which) -> &'static str {
    match which {
        Which::Oper => "[[schedule.entry]]",
        Which::Admin => "[[admin.entry]]",
    }
}

// ---- values -------------------------------------------------------------

/// A non-negative integer that fits `T`; `range` is shown when it does not.
/// Values that fit `T` but break a narrower rule are left to the model.
pub(super) fn uint<T: TryFrom<i128>>(
    v: &Spanned<Int>,
    key: &str,
    range: &str,
) -> Result<T, Located> {
    let n = v.get_ref().0;
    if n < 0 {
        return Err(at(
            v,
            format!("`{key}` must not be negative (it is {n}): use {range}"),
        ));
    }
    T::try_from(n).map_err(|_| at(v, format!("`{key}` {n} is out of range: use {range}")))
}

fn opt_uint<T: TryFrom<i128>>(
    v: Option<&Spanned<Int>>,
    key: &str,
    range: &str,
) -> Result<Option<T>, Located> {
    v.map(|v| uint(v, key, range)).transpose()
}

pub(super) fn duration(v: &Spanned<Duration>, key: &str) -> Result<u64, Located> {
    match v.get_ref() {
        Duration::Ns(n) if *n < 0 => Err(at(
            v,
            format!("`{key}` must not be negative (it is {n} ns)"),
        )),
        Duration::Ns(n) => u64::try_from(*n).map_err(|_| at(v, too_long(key))),
        Duration::Text(t) => {
            units::parse_duration_ns(t).map_err(|e| at(v, duration_text_error(key, t, e)))
        }
    }
}

fn opt_duration(v: Option<&Spanned<Duration>>, key: &str) -> Result<Option<u64>, Located> {
    v.map(|v| duration(v, key)).transpose()
}

fn too_long(key: &str) -> String {
    format!(
        "`{key}` is too long: durations must fit in 64 bits of ns (at most {} ns, about 584 years)",
        u64::MAX
    )
}

/// `units` says only "not a duration"; a well-formed number that failed
/// can only have overflowed, and a leading '-' deserves its own words.
fn duration_text_error(key: &str, text: &str, units_error: String) -> String {
    let t = text.trim();
    if t.starts_with('-') {
        return format!("`{key}` must not be negative (it is \"{text}\")");
    }
    let number = ["ns", "us", "µs", "ms", "s"]
        .iter()
        .find_map(|u| t.strip_suffix(u))
        .unwrap_or(t)
        .trim();
    if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
        return too_long(key);
    }
    format!("`{key}`: {units_error}")
}

/// Six hex bytes separated by ':' or '-' (one separator throughout).
fn mac(text: &str) -> Result<[u8; 6], String> {
    let sep = match (text.contains(':'), text.contains('-')) {
        (true, true) => return Err("it mixes ':' and '-'".to_owned()),
        (false, true) => '-',
        _ => ':',
    };
    let parts: Vec<&str> = text.split(sep).collect();
    if parts.len() != 6 {
        return Err(format!("it has {} byte(s), not 6", parts.len()));
    }
    let mut out = [0u8; 6];
    for (byte, part) in out.iter_mut().zip(&parts) {
        let hex = part.len() == 2 && part.bytes().all(|b| b.is_ascii_hexdigit());
        *byte = u8::from_str_radix(part, 16)
            .ok()
            .filter(|_| hex)
            .ok_or_else(|| format!("\"{part}\" is not two hex digits"))?;
    }
    Ok(out)
}

fn dst_mac(v: &Spanned<String>) -> Result<[u8; 6], Located> {
    let text = v.get_ref();
    mac(text).map_err(|why| {
        at(v, format!(
            "`dst_mac` \"{text}\" is not a MAC address ({why}): write six hex bytes separated by ':' or '-', e.g. \"91:e0:f0:00:fe:00\""
        ))
    })
}

// ---- tables -------------------------------------------------------------

fn clock(schedule: &Tab<RawGcl>) -> Result<ClockId, Located> {
    match &schedule.get_ref().clock {
        None => Ok(ClockId::default()),
        Some(c) => c.get_ref().parse().map_err(|e: String| at(c, e)),
    }
}

fn link(raw: Option<&Tab<RawLink>>) -> Result<LinkConfig, Located> {
    let raw = raw.map(Spanned::get_ref);
    let speed_bps = match raw.and_then(|l| l.speed.as_ref()) {
        None => DEFAULT_SPEED_BPS,
        Some(s) => {
            units::parse_speed_bps(s.get_ref()).map_err(|e| at(s, format!("`speed`: {e}")))?
        }
    };
    let tc_to_pcp = match raw.and_then(|l| l.tc_to_pcp.as_ref()) {
        None => LinkConfig::IDENTITY_TC_TO_PCP,
        Some(t) => tc_to_pcp(t)?,
    };
    Ok(LinkConfig {
        speed_bps,
        tc_to_pcp,
    })
}

fn tc_to_pcp(v: &Spanned<Vec<Spanned<Int>>>) -> Result<[u8; TRAFFIC_CLASSES], Located> {
    let items = v.get_ref();
    if items.len() != TRAFFIC_CLASSES {
        return Err(at(
            v,
            format!(
                "`tc_to_pcp` has {} value(s): give exactly 8, the PCPs of traffic classes 0..=7 in order",
                items.len()
            ),
        ));
    }
    let mut out = [0u8; TRAFFIC_CLASSES];
    for (pcp, item) in out.iter_mut().zip(items) {
        *pcp = uint(item, "tc_to_pcp", "PCPs 0..=7")?;
    }
    Ok(out)
}

fn gcl(raw: &Tab<RawGcl>, which: Which) -> Result<GateControlList, Located> {
    let g = raw.get_ref();
    if let (Which::Admin, Some(c)) = (which, &g.clock) {
        return Err(at(c, "`clock` is set once, in [schedule]: the admin list runs on the same clock, so remove it here"));
    }
    let base_time = match (&g.base_time, which) {
        (Some(b), _) => duration(b, "base_time")?,
        (None, Which::Oper) => 0,
        (None, Which::Admin) => {
            return Err(at(raw, "[admin] is missing the required key `base_time`: add the time (ns on the schedule clock) at which the admin list takes over"));
        }
    };
    let cycle_time = opt_duration(g.cycle_time.as_ref(), "cycle_time")?;
    let extension = opt_duration(g.cycle_time_extension.as_ref(), "cycle_time_extension")?;
    let entries = g
        .entry
        .iter()
        .map(|e| entry(e, which))
        .collect::<Result<Vec<_>, _>>()?;
    GateControlList::new(base_time, cycle_time, extension.unwrap_or(0), entries)
        .map_err(|e| gcl_error(raw, which, &e))
}

fn entry(e: &Tab<RawEntry>, which: Which) -> Result<GateEntry, Located> {
    let r = e.get_ref();
    let gate_mask = match (&r.gates, &r.gate_mask) {
        (Some(_), Some(m)) => Err(at(m, "give either `gates` or `gate_mask`, not both: remove one of them")),
        (None, None) => Err(at(e, format!(
            "{} has no gates: add `gates = [...]` (the open traffic classes, e.g. [7]) or `gate_mask = 0x..`",
            entry_table(which)
        ))),
        (Some(g), None) => gates(g),
        (None, Some(m)) => uint(m, "gate_mask", "0..=0xff, one bit per traffic class 0..=7"),
    }?;
    let interval_ns = duration(&r.interval, "interval")?;
    Ok(GateEntry {
        gate_mask,
        interval_ns,
    })
}

fn gates(list: &Spanned<Vec<Spanned<Int>>>) -> Result<u8, Located> {
    let mut mask = 0u8;
    for class in list.get_ref() {
        let c: u8 = uint(class, "gates", "traffic classes 0..=7")?;
        if usize::from(c) >= TRAFFIC_CLASSES {
            return Err(at(
                class,
                format!("`gates` names traffic class {c}, which does not exist: use 0..=7"),
            ));
        }
        mask |= 1 << c;
    }
    Ok(mask)
}

fn stream(s: &Tab<RawStream>, link: &LinkConfig) -> Result<Stream, Located> {
    let r = s.get_ref();
    let name = r.name.get_ref().clone();
    if name.trim().is_empty() {
        return Err(at(
            &r.name,
            "`name` is blank: give the stream a name such as \"control\"",
        ));
    }
    let traffic_class: u8 = uint(&r.traffic_class, "traffic_class", "0..=7")?;
    let vlan_id: u16 = uint(&r.vlan_id, "vlan_id", &format!("0..={MAX_VLAN_ID}"))?;
    let pcp = match &r.pcp {
        Some(p) => uint(p, "pcp", "0..=7")?,
        // A class past 7 is rejected by the model; any PCP will do until then.
        None => link
            .tc_to_pcp
            .get(usize::from(traffic_class))
            .copied()
            .unwrap_or(0),
    };
    let dst_mac = dst_mac(&r.dst_mac)?;
    let frame_range = format!("{MIN_FRAME_BYTES}..={MAX_FRAME_BYTES}");
    let frame_size =
        opt_uint(r.frame_size.as_ref(), "frame_size", &frame_range)?.unwrap_or(MIN_FRAME_BYTES);
    let frames_range = format!("1..={MAX_FRAMES_PER_CYCLE}");
    let frames_per_cycle = opt_uint(
        r.frames_per_cycle.as_ref(),
        "frames_per_cycle",
        &frames_range,
    )?
    .unwrap_or(1);
    let offset_ns = opt_duration(r.offset.as_ref(), "offset")?.unwrap_or(0);
    // Back to back unless told otherwise.
    let spacing_ns = opt_duration(r.spacing.as_ref(), "spacing")?
        .unwrap_or_else(|| link.wire_time_ns(frame_size));
    Ok(Stream {
        name,
        traffic_class,
        vlan_id,
        pcp,
        dst_mac,
        frame_size,
        offset_ns,
        frames_per_cycle,
        spacing_ns,
    })
}

// ---- model errors -> positions -------------------------------------------

fn gcl_error(raw: &Tab<RawGcl>, which: Which, e: &GclError) -> Located {
    let g = raw.get_ref();
    let interval = |i: usize| g.entry.get(i).map(|e| &e.get_ref().interval);
    let (span, message) = match *e {
        GclError::Empty => (
            raw.span(),
            format!(
                "{} has no entries: add at least one {} with gates and an interval",
                list_table(which),
                entry_table(which)
            ),
        ),
        GclError::ZeroInterval { entry } => (
            span_or(interval(entry), raw),
            "`interval` must be positive: give a duration such as \"100us\"".to_owned(),
        ),
        GclError::IntervalOverflow { entry } => (
            span_or(interval(entry), raw),
            format!(
                "the intervals of {} add up to more than 2^64 - 1 ns here: shorten this interval or the ones before it",
                list_table(which)
            ),
        ),
        GclError::ZeroCycle | GclError::CycleLongerThanList { .. } => {
            (span_or(g.cycle_time.as_ref(), raw), e.to_string())
        }
        GclError::ExtensionTooLong { .. } => {
            (span_or(g.cycle_time_extension.as_ref(), raw), e.to_string())
        }
        // Without cycle_time the intervals' sum is the cycle: the header.
        GclError::CycleTooLong { .. } => (span_or(g.cycle_time.as_ref(), raw), e.to_string()),
        GclError::BaseTimeTooLate { .. } => (span_or(g.base_time.as_ref(), raw), e.to_string()),
        // At the first entry past the limit.
        GclError::TooManyEntries { max, .. } => (
            g.entry.get(max).map_or_else(|| raw.span(), Spanned::span),
            e.to_string(),
        ),
    };
    Located { span, message }
}

/// Which key of a stream a `ScheduleError` is about.
#[derive(Clone, Copy)]
pub(super) enum Key {
    Name,
    TrafficClass,
    VlanId,
    Pcp,
    DstMac,
    FrameSize,
    Offset,
    FramesPerCycle,
    Spacing,
}

impl Key {
    pub(super) fn of(self, s: &RawStream) -> Option<Range<usize>> {
        match self {
            Key::Name => Some(s.name.span()),
            Key::TrafficClass => Some(s.traffic_class.span()),
            Key::VlanId => Some(s.vlan_id.span()),
            Key::Pcp => s.pcp.as_ref().map(Spanned::span),
            Key::DstMac => Some(s.dst_mac.span()),
            Key::FrameSize => s.frame_size.as_ref().map(Spanned::span),
            Key::Offset => s.offset.as_ref().map(Spanned::span),
            Key::FramesPerCycle => s.frames_per_cycle.as_ref().map(Spanned::span),
            Key::Spacing => s.spacing.as_ref().map(Spanned::span),
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Key::Name => "name",
            Key::TrafficClass => "traffic_class",
            Key::VlanId => "vlan_id",
            Key::Pcp => "pcp",
            Key::DstMac => "dst_mac",
            Key::FrameSize => "frame_size",
            Key::Offset => "offset",
            Key::FramesPerCycle => "frames_per_cycle",
            Key::Spacing => "spacing",
        }
    }
}

fn schedule_error(raw: &RawFile, e: &ScheduleError) -> Located {
    use ScheduleError as E;
    let message = e.to_string();
    let (stream, key) = match *e {
        E::ZeroLinkSpeed => return link_error(raw, message, None),
        E::TcToPcpOutOfRange { class, .. } => return link_error(raw, message, Some(class)),
        E::AdminNotAfterOper { .. } => {
            let span = raw
                .admin
                .as_ref()
                .map_or(0..0, |a| span_or(a.get_ref().base_time.as_ref(), a));
            return Located { span, message };
        }
        // At the first stream past the limit.
        E::TooManyStreams { max, .. } => {
            let span = raw.stream.get(max).map_or(0..0, Spanned::span);
            return Located { span, message };
        }
        E::CycleFramesOverLimit { stream, .. } => (stream, Key::FramesPerCycle),
        E::DuplicateName { stream, .. } => (stream, Key::Name),
        E::ClassOutOfRange { stream, .. } | E::ClassNeverOpen { stream, .. } => {
            (stream, Key::TrafficClass)
        }
        E::VlanOutOfRange { stream, .. } => (stream, Key::VlanId),
        E::PcpOutOfRange { stream, .. } => (stream, Key::Pcp),
        E::FrameSizeOutOfRange { stream, .. } => (stream, Key::FrameSize),
        E::FramesPerCycleOutOfRange { stream, .. } => (stream, Key::FramesPerCycle),
        E::SpacingTooShort { stream, .. } => (stream, Key::Spacing),
        E::OffsetOutsideCycle { stream, .. }
        | E::OffsetGateClosed { stream, .. }
        | E::Overlap { stream, .. } => (stream, Key::Offset),
        // Frame 0 not fitting is about where the stream starts; a later
        // frame not fitting is about how many frames it sends.
        E::FrameDoesNotFit {
            stream, frame: 0, ..
        } => (stream, Key::Offset),
        E::FrameDoesNotFit { stream, .. } => (stream, Key::FramesPerCycle),
    };
    stream_error(raw, stream, key, message)
}

pub(super) fn stream_error(raw: &RawFile, stream: usize, key: Key, message: String) -> Located {
    let Some(s) = raw.stream.get(stream) else {
        return Located {
            span: 0..0,
            message,
        };
    };
    match key.of(s.get_ref()) {
        Some(span) => Located { span, message },
        None => Located {
            span: s.span(),
            message: format!(
                "{message} (`{}` is not set in this [[stream]], so its default applies)",
                key.name()
            ),
        },
    }
}

/// A link error at `tc_to_pcp[class]` (or `speed`), else the [link] header.
fn link_error(raw: &RawFile, message: String, class: Option<u8>) -> Located {
    let Some(link) = &raw.link else {
        return Located {
            span: 0..0,
            message,
        };
    };
    let l = link.get_ref();
    let span = match class {
        None => span_or(l.speed.as_ref(), link),
        Some(c) => l.tc_to_pcp.as_ref().map_or_else(
            || link.span(),
            |t| {
                t.get_ref()
                    .get(usize::from(c))
                    .map_or_else(|| t.span(), Spanned::span)
            },
        ),
    };
    Located { span, message }
}

/// The warning for a first cycle more than a minute after `now_ns` (a
/// base_time in the past starts within one cycle, at most a minute).
fn first_cycle_far(schedule: &Schedule, now_ns: u64) -> Option<Warning> {
    let base_ns = schedule.oper().base_time_ns();
    let wait_ns = base_ns.saturating_sub(now_ns);
    (wait_ns > FAR_FIRST_CYCLE_NS).then_some(Warning::FirstCycleFar { base_ns, wait_ns })
}

/// `w` without the unused entries whose gates open a class in `classes`
/// (None when none is left).
fn without_classes(w: &Warning, classes: u8) -> Option<Warning> {
    match w {
        Warning::EntryWithoutStream { which, entries } => {
            let entries: Vec<_> = entries
                .iter()
                .filter(|u| u.gate_mask & classes == 0)
                .copied()
                .collect();
            (!entries.is_empty()).then_some(Warning::EntryWithoutStream {
                which: *which,
                entries,
            })
        }
        other => Some(other.clone()),
    }
}

/// A warning sits at the header of the (first) entry it is about.
fn warning_span(raw: &RawFile, w: &Warning) -> Range<usize> {
    let (which, entry) = match w {
        Warning::EntryNeverRuns { which, entry } => (*which, *entry),
        Warning::EntryWithoutStream { which, entries } => {
            (*which, entries.first().map_or(0, |u| u.entry))
        }
        Warning::FirstCycleFar { .. } => {
            let s = &raw.schedule;
            return span_or(s.get_ref().base_time.as_ref(), s);
        }
    };
    let list = match which {
        Which::Oper => Some(&raw.schedule),
        Which::Admin => raw.admin.as_ref(),
    };
    list.and_then(|l| l.get_ref().entry.get(entry))
        .map_or(0..0, Spanned::span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(mac("01:1b:19:00:00:0a"), Ok([1, 0x1b, 0x19, 0, 0, 10]));
        assert_eq!(mac("01-1B-19-00-00-0A"), Ok([1, 0x1b, 0x19, 0, 0, 10]));
        for bad in [
            "",
            "01:1b:19:00:00",
            "91:e0:f0:00:fe:00:00",
            "01:1b-19:00:00:00",
            "1:1b:19:00:00:00",
            "+1:1b:19:00:00:00",
            "0g:1b:19:00:00:00",
            "011b19000000",
            "01:1b:19:00:00:µ",
        ] {
            assert!(mac(bad).is_err(), "{bad:?} accepted");
        }
    }
}
