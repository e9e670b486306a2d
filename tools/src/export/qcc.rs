//! `takt export qcc FILE`: each stream of the schedule as an 802.1Qcc
//! talker (ieee802-dot1q-tsn-types group-talker) in the CNC configuration
//! tree of ieee802-dot1q-cnc-config, as RFC 7951 JSON. The mapping is in
//! docs/yang.md and crate::yang::qcc.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::yang::qcc::{self, TalkerOptions};

pub const AFTER_HELP: &str = "\
Examples:
  takt export qcc docs/examples/two-class-250us.toml
  takt export qcc docs/examples/frer.toml --src-mac 00:1b:21:aa:bb:cc --interface eth0
  takt export qcc s.toml --jitter 2us --max-latency 100us --domain-id plant --cuc-id line3

One talker per [[stream]]: stream-id = talker MAC (--src-mac, else all zeros)
and the stream's position in the file; data-frame-specification =
destination MAC, VLAN ID and PCP; interval = the cycle time;
max-frames-per-interval = frames_per_cycle; max-frame-size = frame_size - 22
(802.3 header, VLAN tag and FCS, which Qcc leaves out); earliest/latest
transmit offset = the span of the class's window the stream's frames fit in;
num-seamless-trees = the ports of a FRER stream, else 1; max-latency = the cycle
unless --max-latency. Without --src-mac and --interface, end-station-interfaces
(which a CNC needs) is left out with a warning. Mapping: docs/yang.md.

Exit status: 0 written, 1 output failed, 2 bad schedule file, flag, or a value
the module's types cannot hold.";

#[derive(clap::Args, Clone, Debug)]
pub struct QccExportArgs {
    /// Schedule file
    pub file: PathBuf,
    /// The talker's MAC address (stream-id, source MAC, end-station-interfaces)
    #[arg(long, value_name = "MAC", value_parser = qcc::parse_mac)]
    pub src_mac: Option<[u8; 6]>,
    /// The talker's interface name (end-station-interfaces)
    #[arg(long, value_name = "NAME")]
    pub interface: Option<String>,
    /// time-aware jitter: how far the talker's sends stray from their times
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = crate::run::duration_arg)]
    pub jitter: u64,
    /// max-latency of every stream (default: one cycle)
    #[arg(long, value_name = "DURATION", value_parser = crate::run::duration_arg)]
    pub max_latency: Option<u64>,
    /// cnc-config domain-id
    #[arg(long, value_name = "ID", default_value = "takt")]
    pub domain_id: String,
    /// cnc-config cuc-id
    #[arg(long, value_name = "ID", default_value = "takt")]
    pub cuc_id: String,
}

pub fn main(args: &QccExportArgs) -> ExitCode {
    let schedule = match crate::run::load_schedule(&args.file, false) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let file = args.file.display();
    let Ok(jitter_ns) = u32::try_from(args.jitter) else {
        eprintln!(
            "error: --jitter {} ns is more than the module's uint32 ns holds",
            args.jitter
        );
        return ExitCode::from(2);
    };
    if args.src_mac.is_none() || args.interface.is_none() {
        eprintln!(
            "{file}: warning: end-station-interfaces left out (a CNC needs it): give --src-mac and \
             --interface; stream-ids use MAC 00-00-00-00-00-00 without --src-mac"
        );
    }
    if schedule.streams().is_empty() {
        eprintln!("{file}: warning: the schedule has no [[stream]]: no talkers written");
    }
    let opts = TalkerOptions {
        src_mac: args.src_mac,
        interface: args.interface.clone(),
        jitter_ns,
        max_latency_ns: args.max_latency,
        domain_id: args.domain_id.clone(),
        cuc_id: args.cuc_id.clone(),
    };
    let text = match qcc::instance(&schedule, &opts) {
        Ok(j) => j.pretty(),
        Err(e) => {
            eprintln!("{file}: error: {e}");
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
