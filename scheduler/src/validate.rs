//! Stream checks run by `Schedule::new`: ranges, guard bands, wire overlap,
//! and the warnings for entries that carry nothing.

use crate::schedule::{
    GateControlList, LinkConfig, ScheduleError, Stream, UnusedEntry, Validation, Warning, Which,
    Window, MAX_CYCLE_FRAMES, MAX_FRAMES_PER_CYCLE, MAX_FRAME_BYTES, MAX_STREAMS, MAX_VLAN_ID,
    MIN_FRAME_BYTES, TRAFFIC_CLASSES,
};

pub(crate) fn check_streams(
    link: &LinkConfig,
    streams: &[Stream],
    validation: Validation,
) -> Result<(), ScheduleError> {
    if streams.len() > MAX_STREAMS {
        return Err(ScheduleError::TooManyStreams {
            count: streams.len(),
            max: MAX_STREAMS,
        });
    }
    let mut cycle_frames = 0u64;
    for (i, s) in streams.iter().enumerate() {
        // For messages only: printed as it may be shown.
        let name = || crate::printable(&s.name).into_owned();
        if let Some(first) = streams[..i].iter().position(|o| o.name == s.name) {
            return Err(ScheduleError::DuplicateName {
                stream: i,
                first,
                name: name(),
            });
        }
        if s.traffic_class as usize >= TRAFFIC_CLASSES {
            return Err(ScheduleError::ClassOutOfRange {
                stream: i,
                name: name(),
                class: s.traffic_class,
            });
        }
        if s.vlan_id > MAX_VLAN_ID {
            return Err(ScheduleError::VlanOutOfRange {
                stream: i,
                name: name(),
                vlan_id: s.vlan_id,
            });
        }
        if s.pcp > 7 {
            return Err(ScheduleError::PcpOutOfRange {
                stream: i,
                name: name(),
                pcp: s.pcp,
            });
        }
        if !(MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&s.frame_size) {
            return Err(ScheduleError::FrameSizeOutOfRange {
                stream: i,
                name: name(),
                size: s.frame_size,
            });
        }
        if !(1..=MAX_FRAMES_PER_CYCLE).contains(&s.frames_per_cycle) {
            return Err(ScheduleError::FramesPerCycleOutOfRange {
                stream: i,
                name: name(),
                frames: s.frames_per_cycle,
                max: MAX_FRAMES_PER_CYCLE,
            });
        }
        cycle_frames += u64::from(s.frames_per_cycle);
        if cycle_frames > MAX_CYCLE_FRAMES {
            return Err(ScheduleError::CycleFramesOverLimit {
                stream: i,
                name: name(),
                frames: cycle_frames,
                max: MAX_CYCLE_FRAMES,
            });
        }
        let wire = link.wire_time_ns(s.frame_size);
        if s.frames_per_cycle > 1 && s.spacing_ns < wire && validation == Validation::Full {
            return Err(ScheduleError::SpacingTooShort {
                stream: i,
                name: name(),
                spacing_ns: s.spacing_ns,
                wire_ns: wire,
            });
        }
    }
    Ok(())
}

/// The open window of the stream's class that contains its offset, after
/// checking that every frame (plus preamble and IFG) ends inside it.
pub(crate) fn stream_window(
    link: &LinkConfig,
    gcl: &GateControlList,
    which: Which,
    index: usize,
    s: &Stream,
) -> Result<Window, ScheduleError> {
    let cycle = gcl.cycle_time_ns();
    if s.offset_ns >= cycle {
        return Err(ScheduleError::OffsetOutsideCycle {
            stream: index,
            name: crate::printable(&s.name).into_owned(),
            offset_ns: s.offset_ns,
            cycle_ns: cycle,
            which,
        });
    }
    let windows = gcl.class_windows(s.traffic_class);
    if windows.is_empty() {
        return Err(ScheduleError::ClassNeverOpen {
            stream: index,
            name: crate::printable(&s.name).into_owned(),
            class: s.traffic_class,
            which,
        });
    }
    let Some(&w) = windows.iter().find(|w| w.contains(s.offset_ns)) else {
        return Err(ScheduleError::OffsetGateClosed {
            stream: index,
            name: crate::printable(&s.name).into_owned(),
            offset_ns: s.offset_ns,
            class: s.traffic_class,
            which,
            windows: windows
                .iter()
                .map(|w| format!("{}..{}", w.start_ns, w.end_ns))
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let wire = link.wire_time_ns(s.frame_size);
    for frame in 0..s.frames_per_cycle {
        let launch = s.launch_offset_ns(frame);
        let wire_end = launch.and_then(|l| l.checked_add(wire));
        if wire_end.is_none_or(|e| e > w.end_ns) {
            return Err(ScheduleError::FrameDoesNotFit {
                stream: index,
                name: crate::printable(&s.name).into_owned(),
                frame,
                launch_ns: launch.unwrap_or(u64::MAX),
                wire_end_ns: wire_end.unwrap_or(u64::MAX),
                close_ns: w.end_ns,
                class: s.traffic_class,
                which,
            });
        }
    }
    Ok(w)
}

/// Every frame of one cycle as (start, end, stream, frame), sorted by start.
/// Only called after `stream_window` accepted every stream, so all frames
/// end inside the cycle and the arithmetic cannot overflow.
fn frames_in_cycle(link: &LinkConfig, streams: &[Stream]) -> Vec<(u64, u64, usize, u32)> {
    let mut frames = Vec::new();
    for (i, s) in streams.iter().enumerate() {
        let wire = link.wire_time_ns(s.frame_size);
        for f in 0..s.frames_per_cycle {
            let start = s.launch_offset_ns(f).unwrap_or(u64::MAX);
            frames.push((start, start.saturating_add(wire), i, f));
        }
    }
    frames.sort_unstable();
    frames
}

pub(crate) fn check_overlaps(link: &LinkConfig, streams: &[Stream]) -> Result<(), ScheduleError> {
    let frames = frames_in_cycle(link, streams);
    // The frame reaching furthest so far is the only one a later start can hit.
    let mut reach: Option<(u64, u64, usize, u32)> = None;
    for &f in &frames {
        if let Some(r) = reach {
            if f.0 < r.1 {
                // Report against the stream defined later, pointing at the earlier one.
                let (a, b) = if f.2 >= r.2 { (f, r) } else { (r, f) };
                return Err(ScheduleError::Overlap {
                    stream: a.2,
                    name: crate::printable(&streams[a.2].name).into_owned(),
                    frame: a.3,
                    start_ns: a.0,
                    end_ns: a.1,
                    other: b.2,
                    other_name: crate::printable(&streams[b.2].name).into_owned(),
                    other_frame: b.3,
                    other_start_ns: b.0,
                    other_end_ns: b.1,
                });
            }
        }
        if reach.is_none_or(|r| f.1 > r.1) {
            reach = Some(f);
        }
    }
    Ok(())
}

/// [`check_overlaps`] per port: streams on different ports do not share a
/// wire. Stream indices in the error are the schedule's.
pub(crate) fn check_overlaps_per_port(
    link: &LinkConfig,
    streams: &[Stream],
    ports: &[crate::redundancy::PortMask],
) -> Result<(), ScheduleError> {
    for p in 0..crate::redundancy::MAX_PORTS {
        let on: Vec<usize> = (0..streams.len())
            .filter(|&i| ports.get(i).is_some_and(|m| m.contains(p)))
            .collect();
        let sub: Vec<Stream> = on.iter().map(|&i| streams[i].clone()).collect();
        if let Err(mut e) = check_overlaps(link, &sub) {
            if let ScheduleError::Overlap { stream, other, .. } = &mut e {
                *stream = on[*stream];
                *other = on[*other];
            }
            return Err(e);
        }
    }
    Ok(())
}

pub(crate) fn warnings(
    link: &LinkConfig,
    gcl: &GateControlList,
    which: Which,
    streams: &[Stream],
) -> Vec<Warning> {
    let mut out = Vec::new();
    for entry in gcl.slots().len()..gcl.entries().len() {
        out.push(Warning::EntryNeverRuns { which, entry });
    }
    let mut unused = Vec::new();
    for slot in gcl.slots().iter().filter(|s| s.gate_mask != 0) {
        let carries = streams.iter().any(|s| {
            let last_end = s
                .launch_offset_ns(s.frames_per_cycle - 1)
                .unwrap_or(u64::MAX)
                .saturating_add(link.wire_time_ns(s.frame_size));
            slot.gate_mask & (1 << s.traffic_class) != 0
                && s.offset_ns < slot.end_ns
                && last_end > slot.start_ns
        });
        if !carries {
            unused.push(UnusedEntry {
                entry: slot.entry,
                gate_mask: slot.gate_mask,
            });
        }
    }
    if !unused.is_empty() {
        out.push(Warning::EntryWithoutStream {
            which,
            entries: unused,
        });
    }
    out
}
