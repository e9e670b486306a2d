//! (being written)

use std::process::ExitCode;

pub const AFTER_HELP: &str = "";

#[derive(clap::Args, Clone, Debug)]
pub struct YangImportArgs {}

pub fn main(_args: &YangImportArgs) -> ExitCode {
    eprintln!("not built yet");
    ExitCode::from(1)
}
