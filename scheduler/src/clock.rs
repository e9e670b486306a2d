//! Clocks a schedule can run on, and reading them: the system clocks
//! ([`ClockId`]) and, for PTP, a [`DisciplinedClock`] on top of one.

mod disciplined;

pub use disciplined::{Adjustments, DisciplinedClock, HostSkew, TimeSource, Timebase};

use std::fmt;
use std::str::FromStr;

/// The clock a schedule's times are on. TAI is the default, as in taprio:
/// it is what PTP distributes and it has no leap seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ClockId {
    #[default]
    Tai,
    Monotonic,
    Realtime,
}

impl ClockId {
    pub const NAMES: [&'static str; 3] = ["tai", "monotonic", "realtime"];

    pub fn as_str(self) -> &'static str {
        match self {
            ClockId::Tai => "tai",
            ClockId::Monotonic => "monotonic",
            ClockId::Realtime => "realtime",
        }
    }

    pub fn to_nix(self) -> nix::time::ClockId {
        match self {
            ClockId::Tai => nix::time::ClockId::CLOCK_TAI,
            ClockId::Monotonic => nix::time::ClockId::CLOCK_MONOTONIC,
            ClockId::Realtime => nix::time::ClockId::CLOCK_REALTIME,
        }
    }

    /// Current time on this clock in ns. These clocks always exist on Linux,
    /// so a failure here is a broken system, reported as 0 rather than a panic.
    pub fn now_ns(self) -> u64 {
        nix::time::clock_gettime(self.to_nix())
            .map(|ts| ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64)
            .unwrap_or(0)
    }
}

impl fmt::Display for ClockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClockId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tai" => Ok(ClockId::Tai),
            "monotonic" => Ok(ClockId::Monotonic),
            "realtime" => Ok(ClockId::Realtime),
            _ => Err(format!(
                "unknown clock \"{s}\": use one of {}",
                ClockId::NAMES.join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_parse_and_tick() {
        for name in ClockId::NAMES {
            let c: ClockId = name.parse().unwrap();
            assert_eq!(c.as_str(), name);
            let a = c.now_ns();
            let b = c.now_ns();
            assert!(a > 0 && b >= a, "{name}: {a} then {b}");
        }
        assert!("utc"
            .parse::<ClockId>()
            .unwrap_err()
            .contains("tai, monotonic, realtime"));
    }
}
