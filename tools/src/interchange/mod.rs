//! The part of a schedule that other tools' formats carry: the clock and
//! the oper and admin gate control lists. tc-taprio and IEEE 802.1Q YANG
//! know nothing of streams, link speed or the control plane, so exports
//! write this and imports read it back (and write it as a schedule file
//! with no streams).
//!
//! The lists hold the entries **as they run** (`GateControlList::slots`):
//! a `cycle_time` that cut entries off or stretched the last one is
//! written out as plain intervals summing to the cycle, which every
//! format reads the same way.

pub mod toml_out;
pub mod view;

use takt_scheduler::{ClockId, GateControlList, GateEntry, Schedule};

/// One gate control list: when it starts, its cycle, and its entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateList {
    /// ns on the schedule clock.
    pub base_time_ns: u64,
    /// Sum of the entries' intervals.
    pub cycle_time_ns: u64,
    pub cycle_time_extension_ns: u64,
    /// Gate mask (bit c = traffic class c) and interval of each entry.
    pub entries: Vec<GateEntry>,
}

/// The gate schedule of a takt schedule file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateSchedule {
    pub clock: ClockId,
    pub oper: GateList,
    /// The list that takes over at its base time (802.1Qbv AdminBaseTime).
    pub admin: Option<GateList>,
}

impl GateList {
    /// The entries of `gcl` as they run in one cycle.
    pub fn from_gcl(gcl: &GateControlList) -> Self {
        GateList {
            base_time_ns: gcl.base_time_ns(),
            cycle_time_ns: gcl.cycle_time_ns(),
            cycle_time_extension_ns: gcl.cycle_time_extension_ns(),
            entries: gcl
                .slots()
                .iter()
                .map(|s| GateEntry {
                    gate_mask: s.gate_mask,
                    interval_ns: s.end_ns - s.start_ns,
                })
                .collect(),
        }
    }
}

impl GateSchedule {
    pub fn from_schedule(s: &Schedule) -> Self {
        GateSchedule {
            clock: s.clock(),
            oper: GateList::from_gcl(s.oper()),
            admin: s.admin().map(GateList::from_gcl),
        }
    }
}
