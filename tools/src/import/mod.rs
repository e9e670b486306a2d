//! `takt import taprio|yang [FILE]`: another tool's gate schedule as a takt
//! schedule file (no streams: those formats carry none). Exit 0 written,
//! 1 output failed, 2 malformed input.

pub mod taprio;
pub mod yang;

use std::process::ExitCode;

/// Flags of `takt import`.
#[derive(clap::Args, Clone, Debug)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub format: ImportFormat,
}

#[derive(clap::Subcommand, Clone, Debug)]
pub enum ImportFormat {
    /// A `tc qdisc ... taprio` command line, or `tc -j qdisc show` output
    #[command(after_help = taprio::AFTER_HELP)]
    Taprio(taprio::TaprioImportArgs),
    /// ieee802-dot1q-sched-bridge (or dot1dc-sched-if) RFC 7951 JSON
    #[command(after_help = yang::AFTER_HELP)]
    Yang(yang::YangImportArgs),
}

pub fn main(args: &ImportArgs) -> ExitCode {
    match &args.format {
        ImportFormat::Taprio(a) => taprio::main(a),
        ImportFormat::Yang(a) => yang::main(a),
    }
}
