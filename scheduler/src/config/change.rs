//! A schedule change request: the text of a whole schedule file, sent to a
//! running talker. Only the gate control list may change; clock, link,
//! streams, control plane and PTP must be the running ones, because the
//! talker's tables, the control interface and the PTP port were built for
//! them. The new list becomes the admin list (802.1Qbv), replacing any
//! pending one.

use super::build::{span_or, Key};
use super::raw::{self, RawFile, RawPtp, RawStream, Tab};
use super::{diagnostic, parse_str_with, ConfigError, ControlSection, Located, PtpSection};
use crate::gcl::first_cycle_start;
use crate::schedule::{GateControlList, Schedule, Stream, Validation, TRAFFIC_CLASSES};
use crate::units::{format_ns, format_speed};
use std::ops::Range;
use toml::Spanned;

/// What a change request installs.
#[derive(Clone, Debug)]
pub struct Change {
    /// The running schedule's list in force now as oper, the request's
    /// [schedule] list as admin starting at `switch_at_ns`; same clock, link
    /// and streams as running.
    pub schedule: Schedule,
    /// The request's base_time as written.
    pub requested_base_ns: u64,
    /// When the new list takes over (802.1Qbv: a base time earlier than
    /// now + min_lead moves forward by whole cycles of the new list).
    pub switch_at_ns: u64,
}

/// Check a change request against the running schedule and build what it
/// installs. `file` names the request in diagnostics. For a talker whose
/// schedule has no `[ptp]` section: a request with one is refused (use
/// [`parse_change_with_ptp`] otherwise).
pub fn parse_change(
    text: &str,
    file: &str,
    running: &Schedule,
    running_control: Option<&ControlSection>,
    now_ns: u64,
    min_lead_ns: u64,
) -> Result<Change, ConfigError> {
    parse_change_with_ptp(
        text,
        file,
        running,
        running_control,
        None,
        now_ns,
        min_lead_ns,
    )
}

/// [`parse_change`] for a talker whose schedule file has the `[ptp]`
/// section `running_ptp` (as the file wrote it): a request's `[ptp]`, if
/// given, must equal it, and its class must still work with the new list
/// (opened by it, no stream's class) when the request leaves `[ptp]` out.
pub fn parse_change_with_ptp(
    text: &str,
    file: &str,
    running: &Schedule,
    running_control: Option<&ControlSection>,
    running_ptp: Option<&PtpSection>,
    now_ns: u64,
    min_lead_ns: u64,
) -> Result<Change, ConfigError> {
    let loaded = parse_str_with(text, file, Validation::Full)?;
    let error = |located| ConfigError(diagnostic(text, file, located));
    // It parsed once already, so it parses again; this copy has the spans.
    let raw = raw::parse(text).map_err(|f| error(super::toml_errors::describe(&f, text)))?;
    let request = &loaded.schedule;
    same_setup(&raw, request, running).map_err(error)?;
    same_control(&raw, loaded.control.as_ref(), running_control).map_err(error)?;
    same_ptp(&raw, loaded.ptp.as_ref(), running_ptp, request).map_err(error)?;

    let new_list = request.oper();
    let requested_base_ns = new_list.base_time_ns();
    let switch_at_ns = switch_time(new_list, now_ns, min_lead_ns);
    let in_force = match running.switch() {
        Some(sw) if sw.at_ns <= now_ns => running.gcl(crate::Which::Admin).clone(),
        // A pending admin list is dropped: 802.1Qbv replaces it.
        _ => running.oper().clone(),
    };
    let schedule = Schedule::new(
        running.clock(),
        *running.link(),
        in_force,
        Some(new_list.with_base_time(switch_at_ns)),
        running.streams().to_vec(),
    )
    .map_err(|e| e.to_string())
    // The running ports and replication carry over (checked equal above).
    .and_then(|s| {
        s.with_redundancy(running.redundancy().clone())
            .map_err(|e| e.to_string())
    })
    .map_err(|e| {
        error(Located {
            span: raw.schedule.span(),
            message: format!("the new list cannot follow the one in force: {e}"),
        })
    })?;
    Ok(Change {
        schedule,
        requested_base_ns,
        switch_at_ns,
    })
}

/// The first start of `list`'s cycle grid at or after now + min_lead.
fn switch_time(list: &GateControlList, now_ns: u64, min_lead_ns: u64) -> u64 {
    let earliest = now_ns.saturating_add(min_lead_ns);
    if list.base_time_ns() >= earliest {
        return list.base_time_ns();
    }
    // earliest > base >= 0 here; first_cycle_start gives the first boundary
    // strictly after its argument.
    first_cycle_start(list, earliest - 1)
}

fn same_setup(raw: &RawFile, request: &Schedule, running: &Schedule) -> Result<(), Located> {
    if let Some(admin) = &raw.admin {
        return Err(Located {
            span: admin.span(),
            message: "a change request carries one list: put the new list in [schedule]; it becomes the admin list".to_owned(),
        });
    }
    let sched = &raw.schedule;
    if request.clock() != running.clock() {
        return Err(Located {
            span: span_or(sched.get_ref().clock.as_ref(), sched),
            message: format!(
                "the clock cannot change while the talker runs: it is {} here but {} in the running schedule",
                request.clock().as_str(),
                running.clock().as_str()
            ),
        });
    }
    same_link(raw, request, running)?;
    same_streams(raw, request.streams(), running.streams())?;
    same_redundancy(raw, request, running)
}

/// Ports, replication and `[frer]` are the running ones: the talker opened
/// its ports and sequence generators for them.
fn same_redundancy(raw: &RawFile, request: &Schedule, running: &Schedule) -> Result<(), Located> {
    let (new, old) = (request.redundancy(), running.redundancy());
    if new == old {
        return Ok(());
    }
    let differs = (0..request.streams().len()).find(|&i| {
        request.stream_ports(i) != running.stream_ports(i)
            || request.is_frer(i) != running.is_frer(i)
    });
    let span = match differs.and_then(|i| raw.stream.get(i)) {
        Some(s) => {
            let r = s.get_ref();
            r.ports
                .as_ref()
                .map(Spanned::span)
                .or_else(|| r.redundancy.as_ref().map(Spanned::span))
                .unwrap_or_else(|| s.span())
        }
        None => raw.frer.as_ref().map_or(0..0, Spanned::span),
    };
    Err(Located {
        span,
        message: "ports, replication and [frer] cannot change while the talker runs: give each stream the running `ports` and `redundancy`, and the running [frer] section".to_owned(),
    })
}

fn same_link(raw: &RawFile, request: &Schedule, running: &Schedule) -> Result<(), Located> {
    let (new, old) = (request.link(), running.link());
    let link = raw.link.as_ref();
    // Without [link] the defaults applied: point at [schedule].
    let header = || link.map_or_else(|| raw.schedule.span(), |l| l.span());
    if new.speed_bps != old.speed_bps {
        let span = link
            .and_then(|l| l.get_ref().speed.as_ref())
            .map_or_else(header, |s| s.span());
        return Err(Located {
            span,
            message: format!(
                "the link cannot change while the talker runs: speed is {} here but {} in the running schedule",
                format_speed(new.speed_bps),
                format_speed(old.speed_bps)
            ),
        });
    }
    let differs = (0..TRAFFIC_CLASSES).find(|&c| new.tc_to_pcp[c] != old.tc_to_pcp[c]);
    if let Some(c) = differs {
        let span = link
            .and_then(|l| l.get_ref().tc_to_pcp.as_ref())
            .map_or_else(header, |t| {
                t.get_ref().get(c).map_or_else(|| t.span(), |v| v.span())
            });
        return Err(Located {
            span,
            message: format!(
                "the link cannot change while the talker runs: tc_to_pcp maps class {c} to PCP {} here but {} in the running schedule",
                new.tc_to_pcp[c], old.tc_to_pcp[c]
            ),
        });
    }
    Ok(())
}

const STREAMS_FIXED: &str = "streams cannot change while the talker runs";

fn same_streams(raw: &RawFile, new: &[Stream], old: &[Stream]) -> Result<(), Located> {
    for (i, (n, o)) in new.iter().zip(old).enumerate() {
        if let Some((key, here, there)) = first_difference(n, o) {
            let s = raw.stream.get(i);
            return Err(stream_at(
                raw,
                s,
                key,
                format!(
                    "{STREAMS_FIXED}: {} is {here} here but {there} in the running schedule",
                    key.name()
                ),
            ));
        }
    }
    match (new.len(), old.len()) {
        (n, o) if n > o => Err(Located {
            span: raw.stream.get(o).map_or_else(|| raw.schedule.span(), Tab::span),
            message: format!(
                "{STREAMS_FIXED}: the running schedule has {o} stream(s) and this one is extra: remove it"
            ),
        }),
        (n, o) if n < o => Err(Located {
            span: raw.schedule.span(),
            message: format!(
                "{STREAMS_FIXED}: this request has {n} stream(s) but the running schedule has {o}: give every running [[stream]], unchanged"
            ),
        }),
        _ => Ok(()),
    }
}

/// The stream's key, or its header when the key was left out.
fn stream_at(raw: &RawFile, s: Option<&Tab<RawStream>>, key: Key, message: String) -> Located {
    let span: Range<usize> = match s {
        Some(s) => key.of(s.get_ref()).unwrap_or_else(|| s.span()),
        None => raw.schedule.span(),
    };
    Located { span, message }
}

/// The first field, in file order, where two streams differ, with both
/// values as a user would write them.
fn first_difference(n: &Stream, o: &Stream) -> Option<(Key, String, String)> {
    let mac = |m: &[u8; 6]| {
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    let fields = [
        (
            Key::Name,
            format!("\"{}\"", crate::printable(&n.name)),
            format!("\"{}\"", crate::printable(&o.name)),
        ),
        (
            Key::TrafficClass,
            n.traffic_class.to_string(),
            o.traffic_class.to_string(),
        ),
        (Key::VlanId, n.vlan_id.to_string(), o.vlan_id.to_string()),
        (Key::Pcp, n.pcp.to_string(), o.pcp.to_string()),
        (Key::DstMac, mac(&n.dst_mac), mac(&o.dst_mac)),
        (
            Key::FrameSize,
            n.frame_size.to_string(),
            o.frame_size.to_string(),
        ),
        (Key::Offset, format_ns(n.offset_ns), format_ns(o.offset_ns)),
        (
            Key::FramesPerCycle,
            n.frames_per_cycle.to_string(),
            o.frames_per_cycle.to_string(),
        ),
        (
            Key::Spacing,
            format_ns(n.spacing_ns),
            format_ns(o.spacing_ns),
        ),
    ];
    fields.into_iter().find(|(_, here, there)| here != there)
}

fn same_control(
    raw: &RawFile,
    request: Option<&ControlSection>,
    running: Option<&ControlSection>,
) -> Result<(), Located> {
    let (Some(header), Some(new)) = (&raw.control, request) else {
        return Ok(());
    };
    let message = match running {
        Some(old) if old == new => return Ok(()),
        Some(_) => "[control] cannot change while the talker runs (changing the address is not supported): give the running [control] section unchanged, or leave it out",
        None => "the running schedule has no [control] section and one cannot be added while the talker runs: remove [control]",
    };
    Err(Located {
        span: header.span(),
        message: message.to_owned(),
    })
}

const PTP_FIXED: &str = "[ptp] cannot change while the talker runs";

fn same_ptp(
    raw: &RawFile,
    request: Option<&PtpSection>,
    running: Option<&PtpSection>,
    request_schedule: &Schedule,
) -> Result<(), Located> {
    let (header, new, old) = match (&raw.ptp, request, running) {
        (Some(h), Some(n), Some(o)) => (h, n, o),
        (Some(h), _, None) => {
            return Err(Located {
                span: h.span(),
                message: "the running schedule has no [ptp] section and one cannot be added while the talker runs: remove [ptp]".to_owned(),
            })
        }
        // Left out: the running section stays, and must suit the new list
        // as it would if the request repeated it.
        (None, _, Some(old)) if old.mode != super::PtpMode::Off => {
            return old.check_class(request_schedule).map(drop).map_err(|e| Located {
                span: raw.schedule.span(),
                message: format!("the new list does not suit the running [ptp] section: {e}"),
            });
        }
        _ => return Ok(()),
    };
    let Some((key, here, there)) = ptp_difference(new, old) else {
        return Ok(());
    };
    let (span, default) = match ptp_key_span(header.get_ref(), key) {
        Some(span) => (span, ""),
        None => (
            header.span(),
            " (not set in this [ptp], so its default applies)",
        ),
    };
    Err(Located {
        span,
        message: format!(
            "{PTP_FIXED}: {key} is {here} here{default} but {there} in the running schedule: give the running [ptp] section unchanged, or leave it out"
        ),
    })
}

/// The first key, in file order, where two `[ptp]` sections differ, with
/// both values as a user would write them.
fn ptp_difference(n: &PtpSection, o: &PtpSection) -> Option<(&'static str, String, String)> {
    let class = |c: Option<u8>| c.map_or_else(|| "left out".to_owned(), |c| c.to_string());
    let socket = |s: &PtpSection| format!("\"{}\"", s.ptp4l_socket.display());
    let fields = [
        ("mode", n.mode.to_string(), o.mode.to_string()),
        ("profile", n.profile.to_string(), o.profile.to_string()),
        ("domain", n.domain.to_string(), o.domain.to_string()),
        (
            "priority1",
            n.priority1.to_string(),
            o.priority1.to_string(),
        ),
        (
            "priority2",
            n.priority2.to_string(),
            o.priority2.to_string(),
        ),
        ("class", class(n.class), class(o.class)),
        (
            "log_sync_interval",
            n.log_sync_interval.to_string(),
            o.log_sync_interval.to_string(),
        ),
        (
            "log_announce_interval",
            n.log_announce_interval.to_string(),
            o.log_announce_interval.to_string(),
        ),
        (
            "log_delay_interval",
            n.log_delay_interval.to_string(),
            o.log_delay_interval.to_string(),
        ),
        (
            "announce_receipt_timeout",
            n.announce_receipt_timeout.to_string(),
            o.announce_receipt_timeout.to_string(),
        ),
        (
            "sync_threshold",
            format_ns(n.sync_threshold_ns),
            format_ns(o.sync_threshold_ns),
        ),
        (
            "sync_wait",
            format_ns(n.sync_wait_ns),
            format_ns(o.sync_wait_ns),
        ),
        (
            "guard_band",
            format_ns(n.guard_band_ns),
            format_ns(o.guard_band_ns),
        ),
        ("ptp4l_socket", socket(n), socket(o)),
    ];
    fields.into_iter().find(|(_, here, there)| here != there)
}

fn ptp_key_span(r: &RawPtp, key: &str) -> Option<Range<usize>> {
    match key {
        "mode" => r.mode.as_ref().map(|v| v.span()),
        "profile" => r.profile.as_ref().map(|v| v.span()),
        "domain" => r.domain.as_ref().map(|v| v.span()),
        "priority1" => r.priority1.as_ref().map(|v| v.span()),
        "priority2" => r.priority2.as_ref().map(|v| v.span()),
        "class" => r.class.as_ref().map(|v| v.span()),
        "log_sync_interval" => r.log_sync_interval.as_ref().map(|v| v.span()),
        "log_announce_interval" => r.log_announce_interval.as_ref().map(|v| v.span()),
        "log_delay_interval" => r.log_delay_interval.as_ref().map(|v| v.span()),
        "announce_receipt_timeout" => r.announce_receipt_timeout.as_ref().map(|v| v.span()),
        "sync_threshold" => r.sync_threshold.as_ref().map(|v| v.span()),
        "sync_wait" => r.sync_wait.as_ref().map(|v| v.span()),
        "guard_band" => r.guard_band.as_ref().map(|v| v.span()),
        "ptp4l_socket" => r.ptp4l_socket.as_ref().map(|v| v.span()),
        _ => None,
    }
}
