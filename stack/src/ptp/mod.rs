//! Time synchronisation (docs/time-sync.md): an embedded PTP port on the
//! streams' own ring device, or ptp4l's state read over its management
//! socket, steering or judging the run's disciplined schedule clock.

pub mod sync;

pub use sync::SyncStatus;
