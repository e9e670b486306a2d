//! takt-stack: stream frames, the talker and listener loops, statistics and
//! reports, over any `RingDevice`.

pub mod clock;
pub mod control;
pub mod footprint;
pub mod frames;
pub mod frer;
pub mod listener;
pub mod loopback;
pub mod mirror;
pub mod plan;
pub mod progress;
pub mod ptp;
pub mod round_trip;
pub mod rx_windows;
pub mod seq;
pub mod sidecar;
pub mod stages;
pub mod stats;
pub mod talker;
pub mod wire;

/// The crate's one error type: what failed, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Stats(#[from] stats::StatsError),
    #[error(transparent)]
    Frames(#[from] frames::FramesError),
    #[error(transparent)]
    Driver(#[from] takt_drivers::DriverError),
    #[error(transparent)]
    Ports(#[from] frer::PortsError),
}
