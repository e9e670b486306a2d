//! What a run of a schedule holds in memory, from the schedule alone, so
//! `takt check` can say it before anything runs: the streams' histograms
//! (the bulk: fixed-size HDR histograms, 1 ns .. 60 s at 3 significant
//! figures), the talker's table of one cycle's frames, and the simulated
//! wire of `takt loopback`. The device's rings and the control plane's
//! socket buffers are fixed sizes of the device and the plane, not of the
//! schedule, and are not counted. Figures are bytes allocated at start-up,
//! an upper bound on what stays resident; nothing grows during a run.

use crate::loopback::{frames_in_flight, SIM_ADVANCE_NS, SIM_BUF_BYTES};
use crate::plan::Plan;
use crate::stats::{DEFAULT_SPARE_SETS, METRIC_MAX_NS, METRIC_SIGFIG};
use crate::talker::LAUNCH_TIME_ADVANCE_NS;
use hdrhistogram::Histogram;
use takt_scheduler::Schedule;

/// Metrics per stream in a run's statistics (tx error, latency, latency
/// while out of sync), plus the stage metrics of the end that holds most:
/// a listener's pickup, end_to_end and end_to_end while out of sync (a
/// talker's are wake_error and driver).
const METRICS_PER_STREAM: u64 = 6;
/// Histograms per metric (values >= 0 and magnitudes of values < 0).
const HISTOGRAMS_PER_METRIC: u64 = 2;
/// Copies of the per-stream statistics the control plane keeps: the
/// report it fills and the worker's two deltas.
const CONTROL_COPIES: u64 = 3;
/// Metrics per stream in an interval log (tx error and latency tags), in
/// each of its sets (the active one and the spares).
const LOG_METRICS_PER_STREAM: u64 = 2 * (DEFAULT_SPARE_SETS as u64 + 1);

/// Bytes a run of one schedule allocates at start-up, per program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    pub streams: u64,
    /// One stream's statistics (its metrics' histograms).
    pub per_stream_bytes: u64,
    /// The talker's table of one cycle's frames.
    pub plan_bytes: u64,
    pub talker_bytes: u64,
    pub listener_bytes: u64,
    /// `takt loopback`: both ends plus the simulated wire.
    pub loopback_bytes: u64,
    /// Added to a talker or listener by a `[control]` section.
    pub control_bytes: u64,
    /// Added to a talker or listener by `--hist-log` (twice that for
    /// `takt loopback`, which keeps one per end).
    pub hist_log_bytes: u64,
}

/// Bytes of one fixed-size metric histogram (the same for every one).
pub fn histogram_bytes() -> u64 {
    // Constant, valid bounds (as `Metric` uses): cannot fail.
    Histogram::<u64>::new_with_bounds(1, METRIC_MAX_NS, METRIC_SIGFIG).map_or(0, |h| {
        (h.distinct_values() * std::mem::size_of::<u64>()) as u64
    })
}

impl Footprint {
    pub fn of(schedule: &Schedule) -> Self {
        let streams = schedule.streams().len() as u64;
        let metric = HISTOGRAMS_PER_METRIC * histogram_bytes();
        let per_stream_bytes = METRICS_PER_STREAM * metric;
        let stats = streams * per_stream_bytes;
        let frames: u64 = schedule
            .streams()
            .iter()
            .map(|s| u64::from(s.frames_per_cycle))
            .sum();
        let plan_bytes = frames * Plan::BYTES_PER_FRAME;
        // One simulated pair per port the schedule uses (FRER: docs/redundancy.md).
        let wire = frames_in_flight(schedule, SIM_ADVANCE_NS) as u64
            * SIM_BUF_BYTES as u64
            * 4
            * schedule.ports_needed() as u64;
        // The talker's frames waiting for their transmit stamp (stage T).
        let stamps = |advance| crate::talker::stamp_table_bytes(schedule, advance);
        Footprint {
            streams,
            per_stream_bytes,
            plan_bytes,
            talker_bytes: stats + plan_bytes + stamps(LAUNCH_TIME_ADVANCE_NS),
            listener_bytes: stats,
            loopback_bytes: 2 * stats + plan_bytes + wire + stamps(SIM_ADVANCE_NS),
            control_bytes: CONTROL_COPIES * stats,
            hist_log_bytes: streams * LOG_METRICS_PER_STREAM * metric,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::RunStats;

    #[test]
    fn histograms_are_what_a_stream_allocates() {
        // 1 ns .. 60 s at 3 significant figures: 27 buckets of 1024 counts.
        assert_eq!(histogram_bytes(), 27 * 1024 * 8);
        let s = RunStats::new(["a"]);
        let h = s.streams[0].tx_error_ns.non_negative();
        assert_eq!((h.distinct_values() * 8) as u64, histogram_bytes());
    }

    #[test]
    fn a_loopback_run_over_two_ports_holds_two_wires() {
        use takt_scheduler::redundancy::{PortMask, Redundancy};
        use takt_scheduler::{ClockId, GateControlList, GateEntry, LinkConfig, Stream};
        let gcl = GateControlList::new(
            0,
            None,
            0,
            vec![GateEntry {
                gate_mask: 0xff,
                interval_ns: 1_000_000,
            }],
        )
        .unwrap();
        let stream = Stream {
            name: "ctl".into(),
            traffic_class: 7,
            vlan_id: 10,
            pcp: 6,
            dst_mac: [0x91, 0xe0, 0xf0, 0, 0xfe, 0],
            frame_size: 128,
            offset_ns: 0,
            frames_per_cycle: 1,
            spacing_ns: 0,
        };
        let link = LinkConfig {
            speed_bps: 1_000_000_000,
            tc_to_pcp: LinkConfig::IDENTITY_TC_TO_PCP,
        };
        let one = Schedule::new(ClockId::Tai, link, gcl, None, vec![stream]).unwrap();
        let mut r = Redundancy::none(1);
        r.ports = vec![PortMask(0b11)];
        r.frer = vec![true];
        let two = one.clone().with_redundancy(r).unwrap();
        let wire = frames_in_flight(&one, SIM_ADVANCE_NS) as u64 * SIM_BUF_BYTES as u64 * 4;
        assert_eq!(
            Footprint::of(&two).loopback_bytes,
            Footprint::of(&one).loopback_bytes + wire
        );
    }
}
