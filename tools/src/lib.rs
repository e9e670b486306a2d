//! takt-tools: the logic behind the `takt` command-line tools, kept out of
//! the binaries so it can be tested without spawning processes. The
//! binaries in `src/bin/` only parse flags and call into these modules.
//!
//! - [`check`]: `takt check FILE...` — load, validate, report.
//! - [`timeline`]: the human-readable picture of one cycle of a schedule.
//! - [`schedule_json`]: the normalised schedule as JSON (`takt check --json`,
//!   documented field by field in `docs/check-json.md`).

pub mod check;
pub mod loopback;
pub mod run;
pub mod schedule_json;
pub mod timeline;

#[cfg(test)]
pub(crate) mod fixtures;
