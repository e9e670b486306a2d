//! (being written)

use std::process::ExitCode;

pub const AFTER_HELP: &str = "";

#[derive(clap::Args, Clone, Debug)]
pub struct TaprioExportArgs {}

pub fn main(_args: &TaprioExportArgs) -> ExitCode {
    eprintln!("not built yet");
    ExitCode::from(1)
}
