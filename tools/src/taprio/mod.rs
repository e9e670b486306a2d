//! tc-taprio, the Linux kernel's 802.1Qbv qdisc, as takt writes and reads
//! it (docs/taprio.md).
//!
//! - [`command`]: a [`GateSchedule`] as the `tc qdisc replace ... taprio`
//!   (and `etf`) command lines of `takt export taprio`.
//! - [`kernel`]: what kernel 6.1's software taprio does at the oper -> admin
//!   switch, for the export's warnings.
//! - [`words`]: shell-like command text split into words with line:col.
//! - [`parse`]: `tc qdisc ... taprio ...` command text -> [`Imported`].
//! - [`show_json`]: `tc -j qdisc show` output -> [`Imported`].
//! - [`lists`]: what both readers share: a taprio schedule as read, checked
//!   and turned into takt's gate lists.
//!
//! The mapping, both ways: takt traffic class c = taprio traffic class c
//! (bit c of a gate mask) = TX queue c.

pub mod command;
pub mod kernel;
pub mod lists;
pub mod parse;
pub mod show_json;
pub mod words;

use std::fmt;

use crate::interchange::GateSchedule;

/// Largest input `takt import taprio` reads: a tc script or `tc -j` dump of
/// 16,384 entries is well under 2 MiB.
pub const MAX_INPUT_BYTES: usize = 4 << 20;

/// The longest cycle the kernel's taprio takes: the cycle-time attribute
/// is limited to INT_MAX ns (net/sched/sch_taprio.c, taprio_policy), and so
/// is the sum of the intervals when it is left out.
pub const KERNEL_MAX_CYCLE_NS: u64 = i32::MAX as u64;

/// Where in the input a problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Where {
    /// The whole input.
    Input,
    /// 1-based line and column (in characters) of a token of command text.
    Text { line: usize, col: usize },
    /// A JSON path such as `[0].options.schedule[2].gatemask`.
    Json(String),
}

/// A malformed or unusable taprio schedule: what is wrong, where, and what
/// to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaprioError {
    pub at: Where,
    pub message: String,
}

impl TaprioError {
    pub fn new(at: Where, message: impl Into<String>) -> Self {
        TaprioError {
            at,
            message: message.into(),
        }
    }

    /// `FILE:LINE:COL: error: MESSAGE` (command text), `FILE: error: at
    /// PATH: MESSAGE` (JSON) or `FILE: error: MESSAGE`.
    pub fn diagnostic(&self, file: &str) -> String {
        match &self.at {
            Where::Input => format!("{file}: error: {}", self.message),
            Where::Text { line, col } => format!("{file}:{line}:{col}: error: {}", self.message),
            Where::Json(path) => format!("{file}: error: at {path}: {}", self.message),
        }
    }
}

impl fmt::Display for TaprioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic("input"))
    }
}

/// A taprio schedule read from command text or `tc -j qdisc show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    pub gates: GateSchedule,
    /// The device the qdisc is on, when the input names it.
    pub device: Option<String>,
    /// What was read but is not part of a takt schedule (num_tc, map,
    /// flags, ...), and how entries were read; written as comments.
    pub notes: Vec<String>,
}

/// Whether `text` is `tc -j qdisc show` output: it starts with `[` and an
/// object or the end of the array (`[ -n "$IF" ] && tc ...` is a script).
pub fn is_json(text: &str) -> bool {
    text.trim_start().strip_prefix('[').is_some_and(|rest| {
        matches!(
            rest.trim_start().chars().next(),
            None | Some('{') | Some(']')
        )
    })
}

/// Read `text`: `tc -j qdisc show` JSON when [`is_json`], else tc
/// command text. `dev` picks one device when the input has several.
pub fn import(text: &str, dev: Option<&str>) -> Result<Imported, TaprioError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(TaprioError::new(
            Where::Input,
            format!(
                "the input is larger than {} MiB, more than any taprio schedule takt can hold: give the taprio command or the `tc -j qdisc show` output alone",
                MAX_INPUT_BYTES >> 20
            ),
        ));
    }
    if is_json(text) {
        show_json::read(text, dev)
    } else {
        parse::read(text, dev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_told_from_a_script_that_starts_with_a_test() {
        assert!(is_json("[{\"kind\":\"taprio\"}]"));
        assert!(is_json("  [ {\n"));
        assert!(is_json("[]"));
        assert!(!is_json(
            "[ -n \"$IF\" ] && tc qdisc add dev $IF root taprio"
        ));
        let script = "[ -n \"$IF\" ] && tc qdisc add dev e root taprio sched-entry S 1 100 clockid CLOCK_TAI";
        assert_eq!(import(script, None).unwrap().gates.oper.entries.len(), 1);
        let e = import("[]", None).unwrap_err();
        assert!(e.message.contains("no taprio qdisc"), "{}", e.message);
    }
}
