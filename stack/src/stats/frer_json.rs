//! `ports` and `frer` of the `--report json` document (docs/reports.md):
//! each port's device counters when a run drove several, and the 802.1CB
//! counters of every replicated stream and of each member path.

use serde::{Deserialize, Serialize};

use super::frer::{FrerMemberReport, FrerReport, FrerStreamReport, PortReport};
use super::json::DeviceCountersReport;
use super::metric::Summary;
use crate::frer::RecoveryCounters;
use takt_scheduler::redundancy::FrerParams;

/// One port (`--device`) and its device counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortJson {
    pub device: String,
    pub counters: DeviceCountersReport,
}

impl From<&PortReport> for PortJson {
    fn from(p: &PortReport) -> Self {
        PortJson {
            device: p.device.clone(),
            counters: DeviceCountersReport::from(&p.counters),
        }
    }
}

/// The top-level `ports`: empty (left out) unless the run drove more than
/// one port; with one, `device_counters` says it all.
pub fn ports_json(ports: &[PortReport]) -> Vec<PortJson> {
    if ports.len() > 1 {
        ports.iter().map(PortJson::from).collect()
    } else {
        Vec::new()
    }
}

/// The top-level `frer`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrerJson {
    pub params: FrerParamsJson,
    pub streams: Vec<FrerStreamJson>,
}

/// The sequence recovery's parameters (802.1CB 10.4.1), as in `[frer]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrerParamsJson {
    /// "vector" or "match" (frerSeqRcvyAlgorithm).
    pub algorithm: String,
    pub history_length: u16,
    pub reset_timeout_ns: u64,
    pub individual_recovery: bool,
    pub take_no_sequence: bool,
    pub latent_error_detection: bool,
    pub latent_error_difference: u32,
    pub latent_error_period_ns: u64,
    pub latent_reset_period_ns: u64,
}

/// One replicated stream. A key is absent when the end that ran does not
/// have it (`generated` on a talker, `recovery` on a listener).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrerStreamJson {
    pub stream: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryJson>,
    pub members: Vec<FrerMemberJson>,
}

/// One member path (port) of a replicated stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrerMemberJson {
    pub port: usize,
    pub device: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryJson>,
    /// Receive time - tx time of every copy that came this way, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Summary>,
}

/// `RecoveryCounters` under stable names (802.1CB 10.8 frerCpsSeqRcvy...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryJson {
    pub passed: u64,
    pub discarded: u64,
    pub out_of_order: u64,
    pub rogue: u64,
    pub lost: u64,
    pub tagless: u64,
    pub resets: u64,
    pub latent_errors: u64,
    pub latent_error_resets: u64,
}

impl From<&RecoveryCounters> for RecoveryJson {
    fn from(c: &RecoveryCounters) -> Self {
        RecoveryJson {
            passed: c.passed,
            discarded: c.discarded,
            out_of_order: c.out_of_order,
            rogue: c.rogue,
            lost: c.lost,
            tagless: c.tagless,
            resets: c.resets,
            latent_errors: c.latent_errors,
            latent_error_resets: c.latent_error_resets,
        }
    }
}

impl From<&FrerParams> for FrerParamsJson {
    fn from(p: &FrerParams) -> Self {
        FrerParamsJson {
            algorithm: p.algorithm.as_str().to_owned(),
            history_length: p.history_length,
            reset_timeout_ns: p.reset_timeout_ns,
            individual_recovery: p.individual_recovery,
            take_no_sequence: p.take_no_sequence,
            latent_error_detection: p.latent_error_detection,
            latent_error_difference: p.latent_error_difference,
            latent_error_period_ns: p.latent_error_period_ns,
            latent_reset_period_ns: p.latent_reset_period_ns,
        }
    }
}

impl From<&FrerMemberReport> for FrerMemberJson {
    fn from(m: &FrerMemberReport) -> Self {
        FrerMemberJson {
            port: m.port,
            device: m.device.clone(),
            sent: m.sent,
            dropped: m.dropped,
            recovery: m.recovery.as_ref().map(RecoveryJson::from),
            latency: m.latency_ns.as_ref().map(|l| l.summary()),
        }
    }
}

impl From<&FrerStreamReport> for FrerStreamJson {
    fn from(s: &FrerStreamReport) -> Self {
        FrerStreamJson {
            stream: s.stream.clone(),
            generated: s.generated,
            recovery: s.recovery.as_ref().map(RecoveryJson::from),
            members: s.members.iter().map(FrerMemberJson::from).collect(),
        }
    }
}

impl From<&FrerReport> for FrerJson {
    fn from(r: &FrerReport) -> Self {
        FrerJson {
            params: FrerParamsJson::from(&r.params),
            streams: r.streams.iter().map(FrerStreamJson::from).collect(),
        }
    }
}
