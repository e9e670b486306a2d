//! The `ptp` object of a run's report: what time synchronisation did,
//! from the embedded port or from ptp4l (docs/reports.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::metric::{Metric, Summary};

/// Offsets from the master over a run, recorded off the data path.
#[derive(Clone, Debug)]
pub struct OffsetStats {
    /// Signed offset from the master, ns.
    pub offset: Metric,
    /// |offset|, ns: its p99 and max are what a threshold is judged by.
    pub abs_offset: Metric,
}

impl Default for OffsetStats {
    fn default() -> Self {
        Self::new()
    }
}

impl OffsetStats {
    /// Allocates two metrics: call at start-up.
    pub fn new() -> Self {
        OffsetStats {
            offset: Metric::new(),
            abs_offset: Metric::new(),
        }
    }

    pub fn record(&mut self, offset_ns: i64) {
        self.offset.record(offset_ns);
        self.abs_offset
            .record(offset_ns.checked_abs().unwrap_or(i64::MAX));
    }
}

/// `ptp` in `--report json`, and the `ptp:` line of the text report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PtpReport {
    /// "takt" (the embedded port) or "linuxptp" (ptp4l's state, read over
    /// its management socket).
    pub source: String,
    /// takt's port: "gptp" (IEEE 802.1AS) or "1588" (default profile, L2,
    /// end-to-end); null for linuxptp.
    pub profile: Option<String>,
    /// What was asked for: "slave", "master", "auto" or "linuxptp".
    pub role: String,
    /// Port state at the end, as ptp4l names them: "SLAVE", "MASTER",
    /// "LISTENING", "PASSIVE", "UNCALIBRATED", "FAULTY", ..., or "UNKNOWN"
    /// (ptp4l stopped answering).
    pub port_state: String,
    /// Grandmaster clock identity as pmc prints it
    /// ("001122.fffe.334455"); null when none is known.
    pub grandmaster: Option<String>,
    /// Offset from the master (slave only), ns, after the first lock.
    pub offset_ns: Option<Summary>,
    /// |offset from the master|, ns, after the first lock.
    pub abs_offset_ns: Option<Summary>,
    /// Last mean path (or link) delay, ns.
    pub mean_path_delay_ns: Option<i64>,
    /// Last frequency adjustment against the host clock, ppb.
    pub freq_adj_ppb: Option<f64>,
    /// From the start of the run's synchronisation to the first lock, ns.
    pub time_to_first_lock_ns: Option<u64>,
    /// In sync -> out of sync transitions during the run.
    pub sync_losses: u64,
    /// Samples the data path took while out of sync (kept apart from the
    /// others: see each stream's `unsynced`).
    pub unsynced_samples: u64,
    /// Steps of the schedule clock (the embedded port's servo).
    pub clock_steps: u64,
    /// Of which backwards.
    pub clock_backward_steps: u64,
    /// Largest step, ns, signed as applied.
    pub largest_step_ns: i64,
    /// PTP messages received and handed to the port.
    pub rx_messages: u64,
    /// PTP messages sent.
    pub tx_messages: u64,
    /// Received PTP frames refused before the port saw them (malformed,
    /// wrong length, wrong version or domain).
    pub rx_rejected: u64,
    /// `rx_rejected` by reason (takt's port: `ptp::Rejected::name`, e.g.
    /// "not_from_master", and "oversize": longer than any PTP message);
    /// reasons with none are left out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rx_rejected_by_reason: BTreeMap<String, u64>,
    /// `rx_messages` by messageType, as ptp4l names them ("PDELAY_REQ").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rx_by_type: BTreeMap<String, u64>,
    /// `tx_messages` by messageType.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tx_by_type: BTreeMap<String, u64>,
    /// Received PTP frames dropped because the port's queue was full.
    pub rx_dropped: u64,
    /// PTP frames the port wanted sent that were dropped (gate queue full,
    /// no device buffer).
    pub tx_dropped: u64,
    /// Event messages whose transmit timestamp never came back.
    pub tx_stamps_missing: u64,
    /// Offset samples the interval log could not take (its queue was full:
    /// no `--hist-log`, or the data path too busy to drain it).
    #[serde(default)]
    pub offset_samples_dropped: u64,
}

impl PtpReport {
    /// Fills `offset_ns` / `abs_offset_ns` from recorded offsets (null
    /// when none were recorded).
    pub fn set_offsets(&mut self, stats: &OffsetStats) {
        let has = stats.offset.count() > 0;
        self.offset_ns = has.then(|| stats.offset.summary());
        self.abs_offset_ns = has.then(|| stats.abs_offset.summary());
    }
}
