//! `takt export yang FILE`: the schedule's gate lists as the RFC 7951 JSON
//! of ieee802-dot1q-sched-bridge's gate-parameter-table on one interface
//! (or, with `--wrapping dot1dc`, ieee802-dot1dc-sched-if's). The mapping
//! is in docs/yang.md and crate::yang::sched.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use takt_scheduler::ClockId;

use crate::interchange::GateSchedule;
use crate::yang::instance::Wrapping;

pub const AFTER_HELP: &str = "\
Examples:
  takt export yang docs/examples/two-class-250us.toml
  takt export yang docs/examples/admin-oper-switch.toml --interface swp1 > sched.json
  takt export yang s.toml --wrapping dot1dc     # 802.1DC: table directly under the interface
  takt export yang s.toml | takt import yang -  # and back

The lists are written as they run (a cycle_time that cuts or stretches
entries becomes plain intervals). A schedule with an [admin] list is written
as a port with a pending change: oper-control-list/oper-* = the list in force,
admin-control-list/admin-* = [admin], config-pending true. supported-list-max,
-cycle-max and -interval-max are written as what the schedule needs (the
module's must statements test the lists against them; --no-supported-limits
leaves them out). 802.1Qbv times are PTP (TAI) time: a schedule on another
clock is exported with a warning. Mapping and module revisions: docs/yang.md.

Exit status: 0 written, 1 output failed, 2 bad schedule file or a value the
module's types cannot hold (the message says which).";

#[derive(clap::Args, Clone, Debug)]
pub struct YangExportArgs {
    /// Schedule file
    pub file: PathBuf,
    /// Interface name written as ietf-interfaces' interface key
    #[arg(long, value_name = "NAME", default_value = "eth0")]
    pub interface: String,
    /// Which module's augmentation holds the table
    #[arg(long, value_enum, default_value = "bridge")]
    pub wrapping: Wrapping,
    /// Leave out supported-list-max, supported-cycle-max and
    /// supported-interval-max (for a device where they are read-only)
    #[arg(long)]
    pub no_supported_limits: bool,
}

pub fn main(args: &YangExportArgs) -> ExitCode {
    let schedule = match crate::run::load_schedule(&args.file, false) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let gates = GateSchedule::from_schedule(&schedule);
    if gates.clock != ClockId::Tai {
        eprintln!(
            "{}: warning: the schedule's clock is \"{}\"; 802.1Qbv base times are PTP time (TAI) \
             and YANG has no clock: the numbers are written unchanged and read back as clock \"tai\"",
            args.file.display(),
            gates.clock.as_str()
        );
    }
    let text = match crate::yang::export(
        &gates,
        &args.interface,
        args.wrapping,
        !args.no_supported_limits,
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: error: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write the output: {e}");
            ExitCode::from(1)
        }
    }
}
