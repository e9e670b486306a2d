//! TOML schedule file -> validated `Schedule`. Every error names
//! file:line:col and says what to change; the format is described in
//! docs/schedule-format.md.
//!
//! Three steps, one module each: `raw` lets serde check the tables and TOML
//! types (`toml_errors` rewords what serde and toml say), `build` checks
//! values and builds the model, mapping the model's index-based errors back
//! to the value to change.

mod build;
mod change;
mod control;
mod frer;
mod ptp;
mod raw;
mod returns;
mod toml_errors;

pub use change::{parse_change, parse_change_with_ptp, Change};
pub use control::{
    class_opens, lowest_open_class, ControlSection, DEFAULT_STATUS_PORT,
    MAX_ALLOW as MAX_CONTROL_ALLOW,
};
pub use ptp::{
    log_interval_ns, PtpClassError, PtpMode, PtpProfile, PtpSection, ANNOUNCE_TIMEOUT_RANGE,
    DEFAULT_PTP4L_SOCKET, DOMAIN_RANGE, LOG_ANNOUNCE_RANGE, LOG_DELAY_RANGE, LOG_SYNC_RANGE,
    MAX_SOCKET_PATH_BYTES,
};

use crate::schedule::{Schedule, Validation, Warning};
use std::fmt;
use std::io::Read;
use std::ops::Range;
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
    /// The `[control]` section, if the file has one.
    pub control: Option<ControlSection>,
    /// The `[ptp]` section, if the file has one.
    pub ptp: Option<PtpSection>,
    pub warnings: Vec<(Diagnostic, Warning)>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

impl Diagnostic {
    /// `FILE:LINE:COL: warning: MESSAGE`, the way compilers print warnings.
    pub fn warning(&self) -> String {
        format!(
            "{}:{}:{}: warning: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// A message at a byte range of the text, before line and column are known.
#[derive(Debug)]
struct Located {
    span: Range<usize>,
    message: String,
}

/// Largest schedule file read: a list of 16,384 entries with comments is
/// about 2 MiB.
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// Read and parse a schedule file.
pub fn load_file(path: &Path) -> Result<Loaded, ConfigError> {
    load_file_with(path, Validation::Full)
}

/// Read and parse a schedule file, choosing how strictly streams are
/// checked (`Validation::AllowOverbooking` for deliberate overbooking).
pub fn load_file_with(path: &Path, validation: Validation) -> Result<Loaded, ConfigError> {
    let file = path.display().to_string();
    let at_start = |message: String| {
        ConfigError(Diagnostic {
            file: file.clone(),
            line: 1,
            col: 1,
            message,
        })
    };
    // Read at most one byte past the limit: a huge file is refused before
    // it is parsed, not after its tables have filled the memory.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| at_start(format!("cannot read the schedule file: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(at_start(format!(
            "the schedule file is larger than {} MiB, more than any schedule within the limits needs (docs/schedule-format.md, Limits): give a smaller file",
            MAX_FILE_BYTES >> 20
        )));
    }
    match std::str::from_utf8(&bytes) {
        Ok(text) => parse_str_with(text, &file, validation),
        Err(e) => {
            // Everything up to the bad byte is text; it gives line and column.
            let good = bytes.get(..e.valid_up_to()).unwrap_or_default();
            let text = std::str::from_utf8(good).unwrap_or_default();
            let located = Located {
                span: text.len()..text.len(),
                message: "this is not UTF-8 text: save the schedule file as UTF-8".to_owned(),
            };
            Err(ConfigError(diagnostic(text, &file, located)))
        }
    }
}

/// Parse schedule text; `file` is the name used in diagnostics.
pub fn parse_str(text: &str, file: &str) -> Result<Loaded, ConfigError> {
    parse_str_with(text, file, Validation::Full)
}

/// [`parse_str`] with a choice of how strictly streams are checked.
pub fn parse_str_with(
    text: &str,
    file: &str,
    validation: Validation,
) -> Result<Loaded, ConfigError> {
    let error = |located| ConfigError(diagnostic(text, file, located));
    let raw = raw::parse(text).map_err(|f| error(toml_errors::describe(&f, text)))?;
    let built = build::build(&raw, validation).map_err(error)?;
    // One index for all warnings: a schedule can have tens of thousands.
    let lines = LineIndex::new(text);
    let warnings = built
        .warnings
        .into_iter()
        .map(|(span, w)| {
            let (line, col) = lines.position(span.start);
            let diag = Diagnostic {
                file: file.to_owned(),
                line,
                col,
                message: w.to_string(),
            };
            (diag, w)
        })
        .collect();
    Ok(Loaded {
        schedule: built.schedule,
        control: built.control,
        ptp: built.ptp,
        warnings,
    })
}

fn diagnostic(text: &str, file: &str, located: Located) -> Diagnostic {
    let (line, col) = position(text, located.span.start);
    Diagnostic {
        file: file.to_owned(),
        line,
        col,
        // Messages quote values from the file: print them harmlessly.
        message: crate::printable(&located.message).into_owned(),
    }
}

/// 1-based line and character column of byte offset `at`; offsets past the
/// end or inside a character count as the character's start.
fn position(text: &str, at: usize) -> (usize, usize) {
    LineIndex::new(text).position(at)
}

/// Where each line of a text starts, so that a position costs a binary
/// search plus the length of its own line, not a scan from the start.
struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the start of every line; the first is 0.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    fn position(&self, at: usize) -> (usize, usize) {
        let text = self.text;
        let at = (0..=at.min(text.len()))
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        // The last line starting at or before `at`.
        let line = self.starts.partition_point(|&s| s <= at).max(1);
        let start = self.starts[line - 1];
        let col = text.get(start..at).unwrap_or_default().chars().count() + 1;
        (line, col)
    }
}

#[cfg(test)]
mod tests {
    use super::position;

    #[test]
    fn positions_count_lines_and_characters() {
        assert_eq!(position("", 0), (1, 1));
        assert_eq!(position("", 9), (1, 1));
        assert_eq!(position("ab\ncd", 4), (2, 2));
        assert_eq!(position("ab\n", 3), (2, 1));
        assert_eq!(position("µx\nµµy", 7), (2, 2));
        assert_eq!(position("µx\nµµy", 8), (2, 3));
        assert_eq!(position("µ", 1), (1, 1));
    }
}
