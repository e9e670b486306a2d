//! Time synchronisation (docs/time-sync.md): an embedded PTP port on the
//! streams' own ring device, or ptp4l's state read over its management
//! socket, steering or judging the run's disciplined schedule clock.

pub mod clock;
pub mod core;
pub mod endpoint;
pub mod filter;
pub mod frame;
pub mod lock;
pub mod pmc;
pub mod profile;
pub mod ptp4l;
pub mod queue;
pub mod stamps;
pub mod status;
pub mod sync;
pub mod timers;
pub mod watch;
pub mod worker;

pub use self::core::{CoreConfig, PtpCore, Role};
pub use filter::Servo;
pub use frame::{is_ptp_frame, OutFrame, PortId, Rejected, MAX_PTP_FRAME};
pub use profile::{master_timescale, Profile, Timescale};
pub use status::{CoreCounters, CoreStatus};
pub use sync::SyncStatus;
