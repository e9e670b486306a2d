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

impl FrerReport {
    /// Both ends of one run in one report (`takt loopback`): per stream
    /// and member the talker's figures (generated, sent, dropped) beside
    /// the listener's (recovery, latency), matched by stream name and port.
    /// Either end alone is returned as it is.
    pub fn merge(tx: Option<FrerReport>, rx: Option<FrerReport>) -> Option<FrerReport> {
        let (mut out, other) = match (tx, rx) {
            (Some(t), Some(r)) => (r, t),
            (t, r) => return t.or(r),
        };
        for t in other.streams {
            let Some(s) = out.streams.iter_mut().find(|s| s.stream == t.stream) else {
                out.streams.push(t);
                continue;
            };
            s.generated = s.generated.or(t.generated);
            s.recovery = s.recovery.or(t.recovery);
            for tm in t.members {
                match s.members.iter_mut().find(|m| m.port == tm.port) {
                    Some(m) => {
                        m.sent = m.sent.or(tm.sent);
                        m.dropped = m.dropped.or(tm.dropped);
                        m.recovery = m.recovery.or(tm.recovery);
                        if m.latency_ns.is_none() {
                            m.latency_ns = tm.latency_ns;
                        }
                    }
                    None => s.members.push(tm),
                }
            }
            s.members.sort_by_key(|m| m.port);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(port: usize, sent: Option<u64>, rec: Option<RecoveryCounters>) -> FrerMemberReport {
        FrerMemberReport {
            port,
            device: format!("p{port}"),
            sent,
            dropped: sent.map(|_| 0),
            recovery: rec,
            latency_ns: None,
        }
    }

    #[test]
    fn merge_puts_the_talker_figures_beside_the_listener_ones() {
        let rec = RecoveryCounters {
            passed: 9,
            discarded: 8,
            ..RecoveryCounters::default()
        };
        let tx = FrerReport {
            params: FrerParams::default(),
            streams: vec![FrerStreamReport {
                stream: "s".into(),
                generated: Some(10),
                recovery: None,
                members: vec![member(1, Some(10), None), member(0, Some(10), None)],
            }],
        };
        let rx = FrerReport {
            params: FrerParams::default(),
            streams: vec![FrerStreamReport {
                stream: "s".into(),
                generated: None,
                recovery: Some(rec),
                members: vec![member(0, None, Some(rec)), member(1, None, Some(rec))],
            }],
        };
        let m = FrerReport::merge(Some(tx.clone()), Some(rx)).unwrap();
        let s = &m.streams[0];
        assert_eq!((s.generated, s.recovery), (Some(10), Some(rec)));
        let got: Vec<_> = s
            .members
            .iter()
            .map(|m| (m.port, m.sent, m.recovery))
            .collect();
        assert_eq!(got, [(0, Some(10), Some(rec)), (1, Some(10), Some(rec))]);
        let alone = FrerReport::merge(Some(tx), None).unwrap();
        assert_eq!(alone.streams[0].generated, Some(10));
        assert!(FrerReport::merge(None, None).is_none());
    }
}
