//! Seamless redundancy, IEEE 802.1CB Frame Replication and Elimination for
//! Reliability (FRER; docs/redundancy.md).
//!
//! A replicated stream leaves on every port of its member set, each copy
//! with the same R-TAG sequence number from the stream's one sequence
//! generation function; the listener passes the first copy of each number
//! and discards the rest (sequence recovery), per stream, after an
//! individual recovery per member path.
//!
//! - [`rtag`]: the R-TAG on the wire (insert, read), pure byte work.
//! - [`generation`]: the sequence generation function, one per stream.
//! - [`recovery`]: the sequence recovery function (vector and match
//!   algorithms, reset timer, latent error detection): a sans-I/O state
//!   machine fed with sequence numbers and times, a sibling of `seq.rs`.
//! - [`ports`]: [`Ports`], several ring devices behind one `RingDevice`:
//!   replication on transmit, elimination on receive. 802.1CB places these
//!   functions below the stream's upper layers, and so does takt: the
//!   talker and listener drive `Ports` as they drive one device and learn
//!   nothing of FRER.

pub mod generation;
pub mod ports;
pub mod recovery;
pub mod rtag;

pub use generation::SequenceGenerator;
pub use ports::{Ports, PortsError};
pub use recovery::{RecoveryCounters, SequenceRecovery, Verdict};
