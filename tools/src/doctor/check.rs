//! One check's verdict: what was found and, when something is to be done,
//! the fix (the exact command or kernel parameter).

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As a real-time run wants it.
    Pass,
    /// A run works, with worse timing than it could have.
    Warn,
    /// What a TSN run needs is missing.
    Fail,
    /// Nothing to judge here (not applicable, unknown, or needs a flag).
    Info,
}

impl Status {
    /// The word the text output starts a line with.
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Info => "INFO",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable name, e.g. "rt-throttling" (docs/doctor.md lists them).
    pub id: &'static str,
    pub title: &'static str,
    pub status: Status,
    pub found: String,
    /// What to do about it; None when nothing is to be done.
    pub fix: Option<String>,
}

impl Check {
    pub fn new(id: &'static str, title: &'static str, status: Status, found: String) -> Self {
        Check {
            id,
            title,
            status,
            found,
            fix: None,
        }
    }

    pub fn pass(id: &'static str, title: &'static str, found: impl Into<String>) -> Self {
        Self::new(id, title, Status::Pass, found.into())
    }

    pub fn info(id: &'static str, title: &'static str, found: impl Into<String>) -> Self {
        Self::new(id, title, Status::Info, found.into())
    }

    pub fn warn(
        id: &'static str,
        title: &'static str,
        found: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(id, title, Status::Warn, found.into()).with_fix(fix)
    }

    pub fn fail(
        id: &'static str,
        title: &'static str,
        found: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(id, title, Status::Fail, found.into()).with_fix(fix)
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// How many checks ended in each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub info: usize,
}

impl Summary {
    pub fn of(checks: &[Check]) -> Self {
        let mut s = Summary::default();
        for c in checks {
            match c.status {
                Status::Pass => s.pass += 1,
                Status::Warn => s.warn += 1,
                Status::Fail => s.fail += 1,
                Status::Info => s.info += 1,
            }
        }
        s
    }
}
