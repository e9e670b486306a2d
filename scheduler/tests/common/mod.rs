//! Helpers the schedule-file tests share.

#![allow(dead_code)] // each test binary uses its own subset

use takt_scheduler::config::{parse_str, ConfigError, Diagnostic};

/// The error for `text`, which must not load.
pub fn error(text: &str) -> Diagnostic {
    match parse_str(text, "t.toml") {
        Ok(_) => panic!("loaded, but should not have:\n{text}"),
        Err(ConfigError(d)) => d,
    }
}

/// `d` points at `line`:`col` and its message says `needle`.
#[track_caller]
pub fn assert_at(d: &Diagnostic, line: usize, col: usize, needle: &str) {
    assert_eq!(
        (d.line, d.col),
        (line, col),
        "wrong position for: {}",
        d.message
    );
    assert!(
        d.message.contains(needle),
        "message lacks {needle:?}: {}",
        d.message
    );
}

/// `text` does not load, and says `needle` at `line`:`col`.
#[track_caller]
pub fn assert_error(text: &str, line: usize, col: usize, needle: &str) {
    assert_at(&error(text), line, col, needle);
}
