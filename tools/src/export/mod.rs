//! `takt export taprio|yang|qcc FILE`: a schedule file in another tool's
//! language, on stdout. Exit 0 written, 1 output failed, 2 bad schedule
//! file or flags.

pub mod qcc;
pub mod taprio;
pub mod yang;

use std::process::ExitCode;

/// Flags of `takt export`.
#[derive(clap::Args, Clone, Debug)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub format: ExportFormat,
}

#[derive(clap::Subcommand, Clone, Debug)]
pub enum ExportFormat {
    /// The `tc qdisc replace ... taprio` command line(s) for the schedule
    #[command(after_help = taprio::AFTER_HELP)]
    Taprio(taprio::TaprioExportArgs),
    /// The gate parameter table as RFC 7951 JSON (ieee802-dot1q-sched-bridge)
    #[command(after_help = yang::AFTER_HELP)]
    Yang(yang::YangExportArgs),
    /// Each stream as a Qcc talker group (ieee802-dot1q-tsn-types in ieee802-dot1q-cnc-config), JSON
    #[command(after_help = qcc::AFTER_HELP)]
    Qcc(qcc::QccExportArgs),
}

pub fn main(args: &ExportArgs) -> ExitCode {
    match &args.format {
        ExportFormat::Taprio(a) => taprio::main(a),
        ExportFormat::Yang(a) => yang::main(a),
        ExportFormat::Qcc(a) => qcc::main(a),
    }
}
