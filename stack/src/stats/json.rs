//! `--report json`: the run's numbers under stable field names (see
//! docs/reports.md). Adding a field is compatible; renaming or removing one
//! is not, and bumps `report_version`.

use serde::{Deserialize, Serialize};

use super::metric::Summary;
use super::stream::{RunStats, StreamStats};

/// Version of the JSON layout below.
pub const REPORT_VERSION: u32 = 1;

/// One stream, or the total over all streams.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamReport {
    pub name: String,
    pub frames_sent: u64,
    pub frames_received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub late: u64,
    pub wrong_vlan: u64,
    /// Frames sent (talker) or measured (listener) while PTP said the
    /// clock was out of sync.
    #[serde(default)]
    pub unsynced: u64,
    pub tx_error_ns: Summary,
    pub latency_ns: Summary,
    /// Latencies of the frames measured out of sync (not in latency_ns).
    #[serde(default)]
    pub latency_unsynced_ns: Summary,
    /// Listener: frames not believed (sequence or epoch unconfirmed,
    /// implausible tx time); not in frames_received.
    #[serde(default)]
    pub rogue: u64,
    /// Listener: frames with corrupt padding; not in frames_received.
    #[serde(default)]
    pub bad_padding: u64,
    /// Listener: talker restarts (new epoch) seen.
    #[serde(default)]
    pub restarts: u64,
    /// Listener: sequence jumps past the bound that a second frame
    /// confirmed.
    #[serde(default)]
    pub resyncs: u64,
    /// Talker: the stream's round trips, when it has a return stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_trip: Option<super::RoundTripReport>,
    /// Where the time goes: one difference between two stages of a frame's
    /// life per key, only those the run could see (docs/reports.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<StagesReport>,
}

/// The stage differences of one stream. A key is absent, not zero, when
/// the backend cannot see one of its stages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StagesReport {
    /// W - S (talker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_error: Option<StageReport>,
    /// H - S (talker): the numbers of tx_error_ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_error: Option<StageReport>,
    /// T - H (talker, a device whose transmit stamps are a transmit time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<StageReport>,
    /// R - H (listener): the numbers of latency_ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wire: Option<StageReport>,
    /// A - R (listener, unless the receive stamp is the poll itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pickup: Option<StageReport>,
    /// A - S (listener).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_to_end: Option<StageReport>,
}

/// One stage difference: `to - from`, a summary like every metric's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageReport {
    /// Stage letter the difference starts from (S W H T R A).
    pub from: String,
    /// Stage letter it ends at.
    pub to: String,
    /// How the device took the stamp in it (`StampSource` names), when a
    /// device stamp is in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(flatten)]
    pub summary: Summary,
}

impl StageReport {
    fn new(from: char, to: char, source: Option<&str>, m: &super::metric::Metric) -> Self {
        Self {
            from: from.to_string(),
            to: to.to_string(),
            source: source.map(str::to_string),
            summary: m.summary(),
        }
    }
}

impl StagesReport {
    /// None when neither end's stages were enabled.
    pub fn of(s: &StreamStats) -> Option<Self> {
        let g = &s.stages;
        if !g.talker && !g.listener {
            return None;
        }
        let rx = g.rx_source;
        Some(Self {
            wake_error: g
                .wake_error
                .as_ref()
                .map(|m| StageReport::new('S', 'W', None, m)),
            tx_error: g
                .talker
                .then(|| StageReport::new('S', 'H', None, &s.tx_error_ns)),
            driver: g
                .driver
                .as_ref()
                .map(|m| StageReport::new('H', 'T', g.driver_source, m)),
            wire: g
                .listener
                .then(|| StageReport::new('H', 'R', rx, &s.latency_ns)),
            pickup: g.pickup.as_ref().map(|m| StageReport::new('R', 'A', rx, m)),
            end_to_end: g
                .end_to_end
                .as_ref()
                .map(|m| StageReport::new('S', 'A', None, m)),
        })
    }
}

/// A listener's rejected frames by reason, over all streams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxRejectedReport {
    pub rogue: u64,
    pub bad_padding: u64,
    pub truncated: u64,
    pub other: u64,
}

/// The whole `--report json` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub report_version: u32,
    pub device: String,
    pub backend: String,
    pub clock: String,
    pub started_ns: u64,
    pub elapsed_ns: u64,
    pub cycles: u64,
    /// Heap operations on the data path while running (null: not counted).
    pub data_path_allocations: Option<u64>,
    /// The device's counters at the end (null: no single device, e.g. loopback).
    #[serde(default)]
    pub device_counters: Option<DeviceCountersReport>,
    /// What the data-path thread got from the real-time set-up (null: none
    /// ran, e.g. loopback).
    #[serde(default)]
    pub rt: Option<RtReportJson>,
    /// The control plane (smoltcp: ARP, ping, the UDP service), when one
    /// ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<ControlReport>,
    /// Time synchronisation, when on (docs/time-sync.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptp: Option<super::ptp::PtpReport>,
    /// Listener runs: frames rejected, by reason (null: not a listener).
    #[serde(default)]
    pub rx_rejected: Option<RxRejectedReport>,
    /// The per-frame records of `--frames-log`, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames_log: Option<FramesLogReport>,
    /// `takt-listener --mirror`: the returns it sent (docs/round-trip.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<super::MirrorReport>,
    /// Each port's device counters, when the run drove more than one
    /// (`--device` given more than once; docs/redundancy.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<super::frer_json::PortJson>,
    /// 802.1CB replication (talker) or elimination (listener), when a
    /// stream is replicated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frer: Option<super::frer_json::FrerJson>,
    pub streams: Vec<StreamReport>,
    pub total: StreamReport,
}

/// What `--frames-log` wrote (docs/frames-log.md).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FramesLogReport {
    /// The file, as given.
    pub path: String,
    /// Records in the file.
    pub written: u64,
    /// Records the data path dropped because the log's ring was full (the
    /// writer fell behind: a slow disk, a full pipe).
    pub dropped: u64,
    /// Why the file is incomplete, when writing it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `takt_drivers::Counters` under stable names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCountersReport {
    pub tx_frames: u64,
    pub rx_frames: u64,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub tx_drops: u64,
    pub rx_drops: u64,
    pub tx_ring_full: u64,
    pub pool_empty: u64,
    pub link_down: u64,
    /// Absent in reports written before it existed: read it as 0.
    #[serde(default)]
    pub tx_stamps_lost: u64,
    /// Frames received cut short, never handed out (absent before: 0).
    #[serde(default)]
    pub rx_truncated: u64,
}

/// `takt_scheduler::rt::RtReport` under stable names (docs/reports.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RtReportJson {
    /// The one CPU the data-path thread ran on (null: not pinned).
    pub cpu: Option<usize>,
    /// Its SCHED_FIFO priority (null: not SCHED_FIFO).
    pub fifo_priority: Option<u8>,
    pub memory_locked: bool,
    pub dma_latency_held: bool,
    /// null: unknown, or not pinned.
    pub cpu_isolated: Option<bool>,
    pub nohz_full: Option<bool>,
    pub rcu_nocbs: Option<bool>,
    /// "PREEMPT_RT", "PREEMPT_DYNAMIC", "PREEMPT" or "none".
    pub preemption: Option<String>,
    pub clocksource: Option<String>,
    pub governor: Option<String>,
    pub warnings: Vec<String>,
}

impl From<&takt_scheduler::rt::RtReport> for RtReportJson {
    fn from(r: &takt_scheduler::rt::RtReport) -> Self {
        Self {
            cpu: r.cpu,
            fifo_priority: r.fifo_priority,
            memory_locked: r.memory_locked,
            dma_latency_held: r.dma_latency_held,
            cpu_isolated: r.env.cpu_isolated,
            nohz_full: r.env.nohz_full,
            rcu_nocbs: r.env.rcu_nocbs,
            preemption: r.env.preemption.clone(),
            clocksource: r.env.clocksource.clone(),
            governor: r.env.governor.clone(),
            warnings: r.warnings.clone(),
        }
    }
}

impl From<&takt_drivers::Counters> for DeviceCountersReport {
    fn from(c: &takt_drivers::Counters) -> Self {
        Self {
            tx_frames: c.tx_frames,
            rx_frames: c.rx_frames,
            tx_bytes: c.tx_bytes,
            rx_bytes: c.rx_bytes,
            tx_drops: c.tx_drops,
            rx_drops: c.rx_drops,
            tx_ring_full: c.tx_ring_full,
            pool_empty: c.pool_empty,
            link_down: c.link_down,
            tx_stamps_lost: c.tx_stamps_lost,
            rx_truncated: c.rx_truncated,
        }
    }
}

impl From<&StreamStats> for StreamReport {
    fn from(s: &StreamStats) -> Self {
        Self {
            name: s.name.clone(),
            frames_sent: s.frames_sent,
            frames_received: s.frames_received,
            lost: s.lost,
            duplicates: s.duplicates,
            reordered: s.reordered,
            late: s.late,
            wrong_vlan: s.wrong_vlan,
            unsynced: s.unsynced,
            tx_error_ns: s.tx_error_ns.summary(),
            latency_ns: s.latency_ns.summary(),
            latency_unsynced_ns: s.latency_unsynced_ns.summary(),
            rogue: s.rogue,
            bad_padding: s.bad_padding,
            restarts: s.restarts,
            resyncs: s.resyncs,
            round_trip: s.round_trip.as_deref().map(super::RoundTripReport::from),
            stages: StagesReport::of(s),
        }
    }
}

impl From<&RunStats> for RunReport {
    fn from(run: &RunStats) -> Self {
        let total = run.total();
        Self {
            report_version: REPORT_VERSION,
            device: run.device.clone(),
            backend: run.backend.clone(),
            clock: run.clock.clone(),
            started_ns: run.started_ns,
            elapsed_ns: run.elapsed_ns,
            cycles: run.cycles,
            data_path_allocations: run.data_path_allocations,
            device_counters: run.device_counters.as_ref().map(DeviceCountersReport::from),
            rt: run.rt.as_ref().map(RtReportJson::from),
            control: run.control.clone(),
            ptp: run.ptp.clone(),
            rx_rejected: run.rx_rejected.map(|r| RxRejectedReport {
                rogue: total.rogue,
                bad_padding: total.bad_padding,
                truncated: r.truncated,
                other: r.other,
            }),
            frames_log: run.frames_log.clone(),
            mirror: run.mirror,
            ports: super::frer_json::ports_json(&run.ports),
            frer: run.frer.as_ref().map(super::frer_json::FrerJson::from),
            streams: run.streams.iter().map(StreamReport::from).collect(),
            total: StreamReport::from(&total),
        }
    }
}

/// What the control plane did. Frames count Ethernet frames; requests
/// count UDP service datagrams.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlReport {
    /// Its IPv4 address and prefix, e.g. `10.77.0.1/24`.
    pub address: String,
    /// Frames handed to smoltcp (ARP, IPv4).
    pub rx_frames: u64,
    /// Frames that arrived while smoltcp's receive batch was full.
    pub rx_overflow: u64,
    /// Frames released to the ring inside best-effort windows.
    pub tx_frames: u64,
    /// Frames smoltcp produced while its gate queue was full.
    pub tx_queue_drops: u64,
    /// Released frames the device had no buffer or ring room for.
    pub tx_device_drops: u64,
    /// Status and schedule requests received.
    pub requests: u64,
    /// Requests dropped because too many were in flight (clients retry).
    pub requests_dropped: u64,
    /// Replies dropped because the socket's send buffer was full.
    pub replies_dropped: u64,
    /// Schedule changes installed.
    pub schedule_changes: u64,
    /// Replies dropped because their receiver's address did not resolve
    /// (ARP) within a second.
    #[serde(default)]
    pub replies_expired: u64,
    /// Requests refused, by reason (docs/control-plane.md).
    #[serde(default)]
    pub refused: crate::control::refusal::Refusals,
}

/// The report as one line of compact JSON (the UDP status reply).
pub fn json_line(run: &RunStats) -> String {
    // Plain structs of numbers and strings: serialisation cannot fail.
    serde_json::to_string(&RunReport::from(run)).unwrap_or_default()
}

/// The report as pretty-printed JSON with a trailing newline.
pub fn json_report(run: &RunStats) -> String {
    let report = RunReport::from(run);
    // Plain structs of numbers and strings: serialisation cannot fail.
    let mut s = serde_json::to_string_pretty(&report).unwrap_or_default();
    s.push('\n');
    s
}
