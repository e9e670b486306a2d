//! Time synchronisation (docs/time-sync.md): an embedded PTP port on the
//! streams' own ring device, or ptp4l's state read over its management
//! socket, steering or judging the run's disciplined schedule clock.

pub mod pmc;
pub mod ptp4l;
pub mod sync;
pub mod watch;

pub use sync::SyncStatus;
