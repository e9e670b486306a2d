//! takt-tools: the logic behind the `takt` command-line tools, kept out of
//! the binaries so it can be tested without spawning processes. The
//! binaries in `src/bin/` only parse flags and call into these modules.
//!
//! - [`check`]: `takt check FILE...` — load, validate, report.
//! - [`timeline`]: the human-readable picture of one cycle of a schedule.
//! - [`schedule_json`]: the normalised schedule as JSON (`takt check --json`,
//!   documented field by field in `docs/check-json.md`).
//! - [`loopback`]: `takt loopback FILE`, talker and listener over the
//!   simulated wire in one process.
//! - [`talker`] / [`listener`]: `takt-talker` and `takt-listener`, one end
//!   each on a device; `run_on` runs on any `RingDevice`.
//! - [`cyclictest`]: `takt-cyclictest`, cyclictest's wake-up latency
//!   measurement with cyclictest's flags and output formats.
//! - [`run`]: what the runs share: flags, schedule loading, device and
//!   clock checks, progress line, reports, exit codes.
//! - [`control_client`]: `takt control status|schedule ADDR`, the client of
//!   the UDP control plane of takt-talker and takt-listener.
//! - [`control_args`]: the control-plane flags (`--ip`, `--status-port`,
//!   ...) over the schedule's `[control]` section, and the plane's set-up.
//! - [`ptp_args`]: the PTP flags (`--ptp`, `--ptp-class`, `--sync-threshold`,
//!   ...) over the schedule's `[ptp]` section, and the `--clock-offset` /
//!   `--clock-drift` test aids.
//! - [`frames_args`]: `--frames-log FILE` on every run, and opening the log.
//! - [`frames_cmd`]: `takt frames FILE`, a frames log as CSV, printf lines
//!   or the report's histograms recomputed.
//! - [`rt_args`]: the real-time flags (`--cpu`, `--priority`, `--wake`,
//!   `--margin`) and the `rt::prepare` call the data-path thread makes.
//! - [`ports_args`]: `--device` more than once: the ports' checks, and
//!   several devices behind one `frer::Ports`.
//! - [`taprio`]: tc-taprio command lines and `tc -j qdisc show` output,
//!   written and read (`takt export taprio`, `takt import taprio`).
//! - [`yang`]: IEEE 802.1Q YANG (gate parameter table, Qcc talkers) as
//!   RFC 7951 JSON, for `takt export yang|qcc` and `takt import yang`.
//! - [`mirror_args`]: `takt-listener --mirror` and the talker's
//!   `--rtt-outlier` / `--rtt-timeout` (docs/round-trip.md).

pub mod check;
pub mod control_args;
pub mod control_client;
pub mod cyclictest;
pub mod device_args;
pub mod doctor;
pub mod export;
pub mod frames_args;
pub mod frames_cmd;
pub mod frames_printf;
pub mod import;
pub mod interchange;
pub mod listener;
pub mod loopback;
pub mod mirror_args;
pub mod ports_args;
pub mod ptp_args;
pub mod rt_args;
pub mod run;
pub mod schedule_json;
pub mod talker;
pub mod taprio;
pub mod time_sync;
pub mod timeline;
pub mod yang;

#[cfg(test)]
pub(crate) mod fixtures;
