//! takt-scheduler: time and CPU. The validated schedule model, the TOML
//! schedule format, gate-control-list math and clocks. No I/O beyond reading
//! clocks (and, in `config`, the schedule file).

pub mod clock;
pub mod config;
pub mod gcl;
pub mod printable;
pub mod redundancy;
pub mod returns;
pub mod rt;
pub mod schedule;
pub mod units;
mod validate;

pub use clock::{ClockId, DisciplinedClock, HostSkew, Timebase};
pub use gcl::Cycle;
pub use printable::printable;
pub use schedule::{
    GateControlList, GateEntry, LinkConfig, Schedule, ScheduleError, Slot, Stream, Switch,
    UnusedEntry, Validation, Warning, Which, Window,
};
