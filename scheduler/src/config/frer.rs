//! `[frer]` and a `[[stream]]`'s `ports` / `redundancy` (802.1CB FRER,
//! docs/redundancy.md) -> `Redundancy` on the schedule. Names and ranges
//! are checked where they stand; the model's own checks
//! (`redundancy::check`) are mapped back to the value to change.
//!
//! A stream without `ports` is on port 0; a replicated one without `ports`
//! is on every port `[frer] ports` names, or on ports 0 and 1 when none are
//! named (the smallest set that replicates).

use super::build::{at, duration, stream_error, uint, Key};
use super::raw::{PortRef, RawFile, RawFrer, RawStream, Tab};
use super::Located;
use crate::redundancy::{
    FrerParams, PortMask, RecoveryAlgorithm, Redundancy, RedundancyError, MAX_HISTORY_LENGTH,
    MAX_PORTS, MIN_HISTORY_LENGTH,
};
use crate::Schedule;
use std::ops::Range;
use toml::Spanned;

/// The schedule with the file's ports and replication; unchanged (every
/// stream on port 0) when the file says nothing about either.
pub(super) fn redundancy(raw: &RawFile, schedule: Schedule) -> Result<Schedule, Located> {
    let any_stream_key = raw
        .stream
        .iter()
        .any(|s| s.get_ref().ports.is_some() || s.get_ref().redundancy.is_some());
    if raw.frer.is_none() && !any_stream_key {
        return Ok(schedule);
    }
    let (port_names, params) = match &raw.frer {
        Some(f) => (names(f.get_ref())?, params(f.get_ref())?),
        None => (Vec::new(), FrerParams::default()),
    };
    let mut r = Redundancy::none(raw.stream.len());
    r.port_names = port_names;
    r.params = params;
    for (i, s) in raw.stream.iter().enumerate() {
        let s = s.get_ref();
        let frer = replicated(s)?;
        let mask = match &s.ports {
            Some(list) => ports(list, &r.port_names)?,
            None if frer && r.port_names.len() >= 2 => PortMask((1u8 << r.port_names.len()) - 1),
            None if frer => PortMask(0b11),
            None => PortMask::FIRST,
        };
        r.ports[i] = mask;
        r.frer[i] = frer;
    }
    schedule
        .with_redundancy(r)
        .map_err(|e| model_error(raw, &e))
}

fn replicated(s: &RawStream) -> Result<bool, Located> {
    let Some(v) = &s.redundancy else {
        return Ok(false);
    };
    match v.get_ref().as_str() {
        "frer" => Ok(true),
        "none" => Ok(false),
        other => Err(at(
            v,
            format!(
                "unknown redundancy \"{other}\": use \"frer\" (802.1CB replication on every port of `ports`) or \"none\""
            ),
        )),
    }
}

/// `[frer] ports`: at most MAX_PORTS names, none blank, none twice.
fn names(f: &RawFrer) -> Result<Vec<String>, Located> {
    let Some(list) = &f.ports else {
        return Ok(Vec::new());
    };
    let items = list.get_ref();
    if items.len() > MAX_PORTS {
        return Err(at(
            &items[MAX_PORTS],
            format!(
                "`ports` names {} ports: takt drives at most {MAX_PORTS} (one per --device), so remove this one and those after it",
                items.len()
            ),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let name = item.get_ref();
        if name.trim().is_empty() {
            return Err(at(
                item,
                "a port name is blank: give each port a name such as \"a\"",
            ));
        }
        if out.contains(name) {
            return Err(at(
                item,
                format!("port \"{name}\" is named twice in `ports`: give each port its own name"),
            ));
        }
        out.push(name.clone());
    }
    Ok(out)
}

fn known_names(names: &[String]) -> String {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("\"{n}\" (port {i})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A stream's `ports` as a mask.
fn ports(list: &Spanned<Vec<Spanned<PortRef>>>, names: &[String]) -> Result<PortMask, Located> {
    let mut mask = 0u8;
    for item in list.get_ref() {
        let port = match item.get_ref() {
            PortRef::Index(n) => usize::try_from(*n)
                .ok()
                .filter(|&p| p < MAX_PORTS)
                .ok_or_else(|| {
                    at(
                        item,
                        format!(
                            "port {n} does not exist: takt drives at most {MAX_PORTS} ports, numbered 0..={} in the order of --device",
                            MAX_PORTS - 1
                        ),
                    )
                })?,
            PortRef::Name(name) => names.iter().position(|n| n == name).ok_or_else(|| {
                let fix = if names.is_empty() {
                    "there are none: name the ports in [frer], e.g. `ports = [\"a\", \"b\"]`, or give indices such as [0, 1]".to_owned()
                } else {
                    format!("the ports are {}", known_names(names))
                };
                at(
                    item,
                    format!("no port is named \"{name}\" in [frer] `ports`: {fix}"),
                )
            })?,
        };
        if mask & (1 << port) != 0 {
            return Err(at(
                item,
                format!("port {port} is listed twice in `ports`: list each port once"),
            ));
        }
        mask |= 1 << port;
    }
    Ok(PortMask(mask))
}

fn params(f: &RawFrer) -> Result<FrerParams, Located> {
    let mut p = FrerParams::default();
    if let Some(a) = &f.algorithm {
        p.algorithm = match a.get_ref().as_str() {
            "vector" => RecoveryAlgorithm::Vector,
            "match" => RecoveryAlgorithm::Match,
            other => {
                return Err(at(
                    a,
                    format!(
                        "unknown algorithm \"{other}\": use \"vector\" (802.1CB VectorRecoveryAlgorithm: a history window, passes out-of-order frames) or \"match\" (MatchRecoveryAlgorithm: drops only a repeat of the last number)"
                    ),
                ))
            }
        };
    }
    let history_range = format!("{MIN_HISTORY_LENGTH}..={MAX_HISTORY_LENGTH}");
    if let Some(h) = &f.history_length {
        let n: u16 = uint(h, "history_length", &history_range)?;
        if !(MIN_HISTORY_LENGTH..=MAX_HISTORY_LENGTH).contains(&n) {
            return Err(at(
                h,
                format!("`history_length` {n} is out of range: use {history_range} (frames remembered behind the newest)"),
            ));
        }
        p.history_length = n;
    }
    if let Some(v) = &f.reset_timeout {
        p.reset_timeout_ns = duration(v, "reset_timeout")?;
    }
    let flag =
        |v: &Option<Spanned<bool>>, default: bool| v.as_ref().map_or(default, |b| *b.get_ref());
    p.individual_recovery = flag(&f.individual_recovery, p.individual_recovery);
    p.take_no_sequence = flag(&f.take_no_sequence, p.take_no_sequence);
    p.latent_error_detection = flag(&f.latent_error_detection, p.latent_error_detection);
    if let Some(v) = &f.latent_error_difference {
        p.latent_error_difference = uint(v, "latent_error_difference", "0..=4294967295")?;
    }
    if let Some(v) = &f.latent_error_period {
        p.latent_error_period_ns = duration(v, "latent_error_period")?;
    }
    if let Some(v) = &f.latent_reset_period {
        p.latent_reset_period_ns = duration(v, "latent_reset_period")?;
    }
    Ok(p)
}

fn model_error(raw: &RawFile, e: &RedundancyError) -> Located {
    use RedundancyError as E;
    let message = e.to_string();
    let stream = |i: usize| raw.stream.get(i).map(|s| (s, s.get_ref()));
    let stream_key = |i: usize, pick: fn(&RawStream) -> Option<Range<usize>>| -> Located {
        let span = stream(i).map_or(0..0, |(s, r)| pick(r).unwrap_or_else(|| s.span()));
        Located {
            span,
            message: message.clone(),
        }
    };
    let frer_key = |pick: fn(&RawFrer) -> Option<Range<usize>>| -> Located {
        let span = raw.frer.as_ref().map_or(0..0, |f: &Tab<RawFrer>| {
            pick(f.get_ref()).unwrap_or_else(|| f.span())
        });
        Located {
            span,
            message: message.clone(),
        }
    };
    let ports_span = |r: &RawStream| r.ports.as_ref().map(Spanned::span);
    match *e {
        E::NoPort { stream, .. }
        | E::PortOutOfRange { stream, .. }
        | E::SeveralPortsWithoutFrer { stream, .. } => stream_key(stream, ports_span),
        E::OnePort { stream, .. } => stream_key(stream, |r| {
            r.ports
                .as_ref()
                .map(Spanned::span)
                .or_else(|| r.redundancy.as_ref().map(Spanned::span))
        }),
        E::FrameTooSmall { stream, .. } => stream_error(raw, stream, Key::FrameSize, message),
        E::HistoryLength(_) => frer_key(|f| f.history_length.as_ref().map(Spanned::span)),
        E::ZeroResetTimeout => frer_key(|f| f.reset_timeout.as_ref().map(Spanned::span)),
        E::LatentPeriods => frer_key(|f| {
            f.latent_error_period
                .as_ref()
                .or(f.latent_reset_period.as_ref())
                .map(Spanned::span)
        }),
        E::Length { .. } => Located {
            span: 0..0,
            message,
        },
    }
}
