//! (being written)

use std::process::ExitCode;

pub const AFTER_HELP: &str = "";

#[derive(clap::Args, Clone, Debug)]
pub struct TaprioImportArgs {}

pub fn main(_args: &TaprioImportArgs) -> ExitCode {
    eprintln!("not built yet");
    ExitCode::from(1)
}
