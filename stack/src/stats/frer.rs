//! What `frer::Ports` reports: each port's device counters, and per
//! replicated stream the 802.1CB counters of the stream's sequence
//! recovery and of each member path, with each path's latency
//! (docs/redundancy.md, docs/reports.md).

use super::Metric;
use crate::frer::RecoveryCounters;
use takt_scheduler::redundancy::FrerParams;

/// One port (`--device`) and its counters at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortReport {
    pub device: String,
    pub counters: takt_drivers::Counters,
}

/// Replication and elimination of a run.
#[derive(Clone, Debug)]
pub struct FrerReport {
    pub params: FrerParams,
    /// Replicated streams only, in schedule order.
    pub streams: Vec<FrerStreamReport>,
}

/// One replicated stream.
#[derive(Clone, Debug)]
pub struct FrerStreamReport {
    pub stream: String,
    /// Talker: R-TAG numbers its sequence generation function handed out.
    pub generated: Option<u64>,
    /// Listener: the stream's sequence recovery function.
    pub recovery: Option<RecoveryCounters>,
    pub members: Vec<FrerMemberReport>,
}

/// One member path (port) of a replicated stream.
#[derive(Clone, Debug)]
pub struct FrerMemberReport {
    pub port: usize,
    pub device: String,
    /// Talker: copies handed to this port.
    pub sent: Option<u64>,
    /// Talker: copies this port had no buffer or ring room for.
    pub dropped: Option<u64>,
    /// Listener: the member's individual recovery (its counters whether or
    /// not `individual_recovery` lets it discard).
    pub recovery: Option<RecoveryCounters>,
    /// Listener: receive time - tx_ns of every copy that came this way
    /// (passed or discarded): the path's latency, so skew shows.
    pub latency_ns: Option<Metric>,
}
