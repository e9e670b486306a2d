//! TOML schedule file -> validated `Schedule`. Every error names
//! file:line:col and says what to change. (Being written: see issue 2.)

use crate::schedule::{Schedule, Warning};
use std::fmt;
use std::path::Path;

/// A message tied to a place in a schedule file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub col: usize,
    pub message: String,
}

/// A schedule file that failed to load: the first error found, positioned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{}:{}: error: {}", .0.file, .0.line, .0.col, .0.message)]
pub struct ConfigError(pub Diagnostic);

/// A schedule that loaded, with its warnings positioned in the file.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub schedule: Schedule,
    pub warnings: Vec<(Diagnostic, Warning)>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)
    }
}

/// Read and parse a schedule file.
pub fn load_file(path: &Path) -> Result<Loaded, ConfigError> {
    let _ = path;
    todo!("issue 2: config.rs")
}

/// Parse schedule text; `file` is the name used in diagnostics.
pub fn parse_str(text: &str, file: &str) -> Result<Loaded, ConfigError> {
    let _ = (text, file);
    todo!("issue 2: config.rs")
}
