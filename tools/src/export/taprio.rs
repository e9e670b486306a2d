//! `takt export taprio FILE --dev IF`: the tc commands that install the
//! schedule's gates in the kernel's taprio qdisc (docs/taprio.md). The
//! formatting is in `crate::taprio::command`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use takt_scheduler::config;
use takt_scheduler::units::format_ns;

use crate::interchange::GateSchedule;
use crate::run::duration_arg;
use crate::taprio::command::{self, EtfOptions, ExportOptions};

pub const AFTER_HELP: &str = "\
Example:
  takt export taprio docs/examples/two-class-250us.toml --dev eth0 > taprio.sh
  sh taprio.sh
      Installs the schedule's gate control list as the root taprio qdisc of
      eth0. The output is a shell script, one command per line:
        # ... (source, mapping, what eth0 needs, warnings)
        tc qdisc replace dev eth0 parent root handle 100 taprio num_tc 8 \\
          map 0 1 2 3 4 5 6 7 0 0 0 0 0 0 0 0 queues 1@0 1@1 ... 1@7 \\
          base-time 0 sched-entry S 80 30000 sched-entry S 20 50000 \\
          sched-entry S 0f 157500 sched-entry S 00 12500 \\
          cycle-time 250000 clockid CLOCK_TAI
      (shown folded here; printed on one line). An [admin] list is a second
      `tc qdisc replace` with its base-time: the kernel keeps it pending and
      switches to it then.
  takt export taprio s.toml --dev eth0 --etf --etf-delta 300us
      Adds an ETF qdisc (launch time) under the queue of every class a
      stream uses.

Mapping: takt traffic class c = taprio traffic class c = TX queue c;
SO_PRIORITY p < 8 goes to class p, 8..15 to class 0. eth0 needs 8 TX
queues (ethtool -L eth0 tx 8). Streams and the link speed are not part of
taprio. Where kernel 6.1's taprio switches to the admin list differently
from takt, a `# warning:` line (and stderr) says so.

Exit status:
  0  the commands were printed
  1  takt could not write them (e.g. stdout was closed)
  2  the schedule file is invalid (FILE:LINE:COL on stderr), the kernel's
     taprio cannot hold it (interval over 32 bits, cycle over 2.1s), or a
     flag is wrong";

#[derive(clap::Args, Clone, Debug)]
pub struct TaprioExportArgs {
    /// The schedule file (docs/schedule-format.md).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The network interface the qdisc goes on.
    #[arg(long, value_name = "IF")]
    pub dev: String,
    /// Full hardware offload: `flags 0x2` (no clockid: the NIC's clock),
    /// and `offload` on the ETF lines.
    #[arg(long)]
    pub offload: bool,
    /// Add an ETF qdisc under the queue of each class a stream uses.
    #[arg(long)]
    pub etf: bool,
    /// ETF's delta: how long before a frame's launch time ETF hands it to
    /// the driver.
    #[arg(long, value_name = "DURATION", default_value = "200us", value_parser = duration_arg, requires = "etf")]
    pub etf_delta: u64,
}

pub fn main(args: &TaprioExportArgs) -> ExitCode {
    let loaded = match config::load_file(&args.file) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if args.dev.is_empty()
        || args
            .dev
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c.is_control())
    {
        eprintln!(
            "error: --dev {:?} is not an interface name: give one such as eth0",
            args.dev
        );
        return ExitCode::from(2);
    }
    let s = &loaded.schedule;
    let gates = GateSchedule::from_schedule(s);
    let classes = s
        .streams()
        .iter()
        .fold(0u8, |m, st| m | (1u8 << (st.traffic_class & 7)));
    if args.etf_delta > i32::MAX as u64 {
        eprintln!(
            "error: --etf-delta {} is longer than ETF takes (a 32-bit signed number of ns, about 2.1s): give a shorter one, e.g. 200us",
            format_ns(args.etf_delta)
        );
        return ExitCode::from(2);
    }
    let opts = ExportOptions {
        dev: args.dev.clone(),
        offload: args.offload,
        etf: args.etf.then_some(EtfOptions {
            delta_ns: args.etf_delta,
            classes,
        }),
        link_speed_bps: Some(s.link().speed_bps),
        source: format!(
            "takt export taprio {} --dev {}: clock {}, oper cycle {}{}",
            args.file.display(),
            args.dev,
            gates.clock.as_str(),
            format_ns(gates.oper.cycle_time_ns),
            if gates.admin.is_some() {
                ", with an admin list"
            } else {
                ""
            }
        ),
    };
    let script = match command::script(&gates, &opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: error: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    for w in &script.warnings {
        eprintln!("{}: warning: {w}", args.file.display());
    }
    let mut out = std::io::stdout().lock();
    match out
        .write_all(script.text.as_bytes())
        .and_then(|_| out.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the commands: {e}");
            ExitCode::from(1)
        }
    }
}
