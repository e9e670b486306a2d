//! A taprio schedule as read (command text or JSON), checked and turned
//! into takt's gate lists. Every error names the token or JSON path to
//! change.

use takt_scheduler::units::format_ns;
use takt_scheduler::{ClockId, GateControlList, GateEntry};

use super::{Imported, TaprioError, Where};
use crate::interchange::{GateList, GateSchedule};

/// One `sched-entry CMD MASK INTERVAL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEntry {
    /// 'S' set gates, 'H' set-and-hold, 'R' set-and-release (802.1Qbu).
    pub cmd: char,
    pub mask: u64,
    pub interval: u64,
    /// Where the mask is.
    pub mask_at: Where,
    /// Where the interval is.
    pub interval_at: Where,
}

/// One schedule (oper or admin) as the input gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawList {
    pub base_time: i128,
    pub base_time_at: Where,
    /// 0 = the sum of the intervals (as taprio reads a missing cycle-time).
    pub cycle_time: u64,
    pub cycle_time_at: Where,
    pub cycle_time_extension: u64,
    pub entries: Vec<RawEntry>,
    /// The command (or JSON object) as a whole.
    pub at: Where,
}

/// Check `raw` and make it a takt gate list. `which` names it in errors.
pub fn gate_list(raw: &RawList, which: &str) -> Result<GateList, TaprioError> {
    if raw.entries.is_empty() {
        return Err(TaprioError::new(
            raw.at.clone(),
            format!("the {which} schedule has no sched-entry: add at least one, e.g. `sched-entry S ff 1000000`"),
        ));
    }
    let mut entries = Vec::with_capacity(raw.entries.len());
    for (i, e) in raw.entries.iter().enumerate() {
        if e.mask > 0xff {
            let top = 63 - e.mask.leading_zeros();
            return Err(TaprioError::new(
                e.mask_at.clone(),
                format!(
                    "gate mask {:#x} of entry {i} opens traffic class {top}: takt has 8 traffic classes (0..7), so a mask must be at most ff; map the taprio classes onto 8 (num_tc 8 or fewer)",
                    e.mask
                ),
            ));
        }
        if e.interval == 0 {
            return Err(TaprioError::new(
                e.interval_at.clone(),
                format!("entry {i} has a zero interval: give it a positive number of ns"),
            ));
        }
        entries.push(GateEntry {
            gate_mask: e.mask as u8,
            interval_ns: e.interval,
        });
    }
    if raw.base_time < 0 {
        return Err(TaprioError::new(
            raw.base_time_at.clone(),
            format!(
                "base-time {} is negative: takt's times are ns since the clock's epoch, from 0; give a base-time of 0 or later",
                raw.base_time
            ),
        ));
    }
    let base = u64::try_from(raw.base_time).map_err(|_| {
        TaprioError::new(
            raw.base_time_at.clone(),
            format!(
                "base-time {} does not fit 64 bits: give an earlier one",
                raw.base_time
            ),
        )
    })?;
    let cycle = (raw.cycle_time != 0).then_some(raw.cycle_time);
    let gcl = GateControlList::new(base, cycle, raw.cycle_time_extension, entries.clone())
        .map_err(|e| {
            let at = match e {
                takt_scheduler::schedule::GclError::BaseTimeTooLate { .. } => {
                    raw.base_time_at.clone()
                }
                takt_scheduler::schedule::GclError::TooManyEntries { .. } => raw.at.clone(),
                _ if cycle.is_some() => raw.cycle_time_at.clone(),
                _ => raw.at.clone(),
            };
            TaprioError::new(
                at,
                format!("the {which} schedule is not one takt runs: {e}"),
            )
        })?;
    Ok(GateList {
        base_time_ns: base,
        cycle_time_ns: gcl.cycle_time_ns(),
        cycle_time_extension_ns: raw.cycle_time_extension,
        entries,
    })
}

/// Both lists, the admin list after the oper one; notes for the comments.
pub fn imported(
    clock: ClockId,
    oper: &RawList,
    admin: Option<&RawList>,
    device: Option<String>,
    mut notes: Vec<String>,
) -> Result<Imported, TaprioError> {
    let oper_list = gate_list(oper, "oper")?;
    let admin_list = match admin {
        Some(raw) => {
            let a = gate_list(raw, "admin")?;
            if a.base_time_ns <= oper_list.base_time_ns {
                return Err(TaprioError::new(
                    raw.base_time_at.clone(),
                    format!(
                        "the admin schedule's base-time {} is not after the oper schedule's {}: a second taprio command (or `admin`) takes over at its base-time, so give it a later one",
                        a.base_time_ns, oper_list.base_time_ns
                    ),
                ));
            }
            Some(a)
        }
        None => None,
    };
    let cmds: Vec<char> = std::iter::once(oper)
        .chain(admin)
        .flat_map(|l| l.entries.iter().map(|e| e.cmd))
        .filter(|&c| c != 'S')
        .collect();
    if !cmds.is_empty() {
        notes.push(
            "sched-entry H and R (802.1Qbu set-and-hold / set-and-release of preemptible traffic) are read as S: takt sets the gates and does not hold or release preemption".to_owned(),
        );
    }
    for (which, raw, list) in std::iter::once(("oper", oper, &oper_list))
        .chain(admin.zip(admin_list.as_ref()).map(|(r, l)| ("admin", r, l)))
    {
        let sum: u64 = list.entries.iter().map(|e| e.interval_ns).sum();
        if raw.cycle_time != 0 && raw.cycle_time != sum {
            notes.push(format!(
                "the {which} cycle-time {} differs from the intervals' sum {}: takt {} (docs/schedule-format.md)",
                format_ns(raw.cycle_time),
                format_ns(sum),
                if raw.cycle_time < sum {
                    "cuts the list at the cycle end, as taprio does"
                } else {
                    "holds the last entry until the cycle end, as 802.1Qbv does (taprio restarts the list early)"
                }
            ));
        }
    }
    Ok(Imported {
        gates: GateSchedule {
            clock,
            oper: oper_list,
            admin: admin_list,
        },
        device,
        notes,
    })
}

/// tc's clock names, with or without `CLOCK_`, in any case.
pub fn clock_from_name(name: &str) -> Result<ClockId, String> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CLOCK_").unwrap_or(&upper);
    match bare {
        "TAI" => Ok(ClockId::Tai),
        "REALTIME" => Ok(ClockId::Realtime),
        "MONOTONIC" => Ok(ClockId::Monotonic),
        "BOOTTIME" => Err(format!(
            "clockid {name}: takt runs schedules on CLOCK_TAI, CLOCK_REALTIME or CLOCK_MONOTONIC, not CLOCK_BOOTTIME; use CLOCK_TAI (what PTP distributes)"
        )),
        _ => Err(format!(
            "clockid {name} is not a clock: use CLOCK_TAI, CLOCK_REALTIME or CLOCK_MONOTONIC"
        )),
    }
}
