//! IEEE 802.1Q YANG as RFC 7951 JSON: the gate parameter table of
//! ieee802-dot1q-sched (`takt export yang`, `takt import yang`) and Qcc
//! talker groups of ieee802-dot1q-tsn-types in ieee802-dot1q-cnc-config
//! (`takt export qcc`). docs/yang.md has the mapping and the module
//! revisions followed.
//!
//! - [`out`]: an order-keeping JSON value for what takt writes.
//! - [`read`]: reading JSON with the path of every value, for errors.
//! - [`rational`]: rational seconds and PTP times <-> ns.
//! - [`sched`]: gate lists <-> gate-parameter-table.
//! - [`instance`]: the interfaces around the table, both ways.
//! - [`qcc`]: a stream as a Qcc talker.

pub mod instance;
pub mod out;
pub mod qcc;
pub mod rational;
pub mod read;
pub mod sched;

use crate::interchange::GateSchedule;
use instance::Wrapping;
use read::{Node, PathError};

pub const INTERFACES: &str = "ietf-interfaces";
pub const BRIDGE: &str = "ieee802-dot1q-bridge";
pub const SCHED: &str = "ieee802-dot1q-sched";
pub const SCHED_BRIDGE: &str = "ieee802-dot1q-sched-bridge";
pub const DOT1DC_SCHED_IF: &str = "ieee802-dot1dc-sched-if";
pub const CNC_CONFIG: &str = "ieee802-dot1q-cnc-config";
/// The identity of a gate-control-entry's operation-name: defined in
/// ieee802-dot1q-sched, so module-qualified (RFC 7951 6.8).
pub const SET_GATE_STATES: &str = "ieee802-dot1q-sched:set-gate-states";

/// Largest instance `takt import yang` reads: a table of thousands of
/// entries is well under 1 MiB.
pub const MAX_INPUT_BYTES: u64 = 4 << 20;

/// The RFC 7951 JSON `takt export yang` prints (`limits`: with the
/// supported-* leaves, see [`sched::table`]).
pub fn export(
    gs: &GateSchedule,
    interface: &str,
    w: Wrapping,
    limits: bool,
) -> Result<String, String> {
    Ok(instance::wrap(sched::table(gs, limits)?, interface, w).pretty())
}

/// A gate schedule read from an instance.
#[derive(Clone, Debug)]
pub struct Imported {
    pub schedule: GateSchedule,
    /// The interface it came from (none for a bare table).
    pub interface: Option<String>,
    /// The module of the augmentation that held it.
    pub module: Option<&'static str>,
    /// What was read but not carried, one line each.
    pub notes: Vec<String>,
}

/// Why an instance could not be imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportError {
    /// Not JSON at all: line and column in the text.
    NotJson {
        line: usize,
        col: usize,
        message: String,
    },
    /// JSON that is not the instance expected, at a JSON path.
    Instance(PathError),
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::NotJson { line, col, message } => {
                write!(f, "{line}:{col}: error: not valid JSON: {message}")
            }
            ImportError::Instance(e) => write!(f, "{e}"),
        }
    }
}

impl From<PathError> for ImportError {
    fn from(e: PathError) -> Self {
        ImportError::Instance(e)
    }
}

/// Reads an instance (`takt import yang`). `interface` picks one when the
/// instance has tables on several.
pub fn import(text: &str, interface: Option<&str>) -> Result<Imported, ImportError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ImportError::NotJson {
            line: e.line(),
            col: e.column(),
            message: strip_position(&e.to_string()),
        })?;
    let root = Node::root(&value);
    let found = instance::find_tables(&root)?;
    let names = || -> String {
        found
            .iter()
            .map(|f| {
                f.interface.clone().unwrap_or_else(|| {
                    "(a table on no interface: leave out --interface)".to_owned()
                })
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match interface {
        Some(want) => {
            let mut hits = found
                .iter()
                .filter(|f| f.interface.as_deref() == Some(want));
            let first = hits.next().ok_or_else(|| {
                if found.is_empty() {
                    sched::root_error(format!("no interface has a gate-parameter-table (looked for \"{want}\")"))
                } else {
                    sched::root_error(format!(
                        "no gate-parameter-table on interface \"{want}\"; the instance has one on: {}",
                        names()
                    ))
                }
            })?;
            if hits.next().is_some() {
                return Err(sched::root_error(format!(
                    "interface \"{want}\" has two gate-parameter-tables (bridge-port and \
                     ieee802-dot1dc-sched-if): keep one"
                ))
                .into());
            }
            first
        }
        None => {
            match found.as_slice() {
                [] => return Err(sched::root_error(
                    "no interface has a gate-parameter-table (ieee802-dot1q-sched-bridge under \
                     bridge-port, or ieee802-dot1dc-sched-if)",
                )
                .into()),
                [one] => one,
                _ => {
                    return Err(sched::root_error(format!(
                    "{} gate-parameter-tables, on interfaces: {}; pick one with --interface NAME",
                    found.len(),
                    names()
                ))
                    .into())
                }
            }
        }
    };
    let (schedule, notes) = sched::read_table(&chosen.table, chosen.module)?;
    Ok(Imported {
        schedule,
        interface: chosen.interface.clone(),
        module: chosen.module,
        notes,
    })
}

/// serde_json's message without its " at line L column C" tail (the
/// position is printed in front).
fn strip_position(m: &str) -> String {
    match m.rfind(" at line ") {
        Some(i) => m[..i].to_owned(),
        None => m.to_owned(),
    }
}
