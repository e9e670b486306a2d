//! takt-stack: stream frames, the talker and listener loops, statistics and
//! reports, over any `RingDevice`.

pub mod listener;
pub mod plan;
pub mod progress;
pub mod seq;
pub mod stats;
pub mod talker;
pub mod wire;
