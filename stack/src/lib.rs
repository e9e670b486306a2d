//! takt-stack: stream frames, the talker and listener loops, statistics and
//! reports, over any `RingDevice`.

pub mod plan;
pub mod progress;
pub mod seq;
pub mod wire;
