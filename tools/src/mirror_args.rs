//! Round-trip flags (docs/round-trip.md): `takt-listener --mirror` sends
//! the forward streams back in their return streams' windows; the talker
//! judges the returns with `--rtt-outlier` and `--rtt-timeout`.

use takt_drivers::RingDevice;
use takt_scheduler::{units, Schedule};
use takt_stack::mirror::{MirrorCounters, MirrorOptions, DEFAULT_PROCESS_NS};
use takt_stack::round_trip::RoundTripOptions;
use takt_stack::stats::MirrorReport;

/// takt-listener's mirror flags.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct MirrorArgs {
    /// Send every frame of a stream that has a return stream (`return_of`
    /// in the schedule) back in that stream's window, sequence and
    /// timestamps kept, so the talker measures the round trip
    #[arg(long)]
    pub mirror: bool,
    /// With --mirror: a return takes the first slot at least this long
    /// after its frame reached this loop (default 10us)
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration_ns, requires = "mirror")]
    pub mirror_process: Option<u64>,
}

impl MirrorArgs {
    /// The mirror's options, `None` without --mirror; an error (exit 2)
    /// when the schedule has no return stream.
    pub fn options(&self, schedule: &Schedule) -> Result<Option<MirrorOptions>, String> {
        if !self.mirror {
            return Ok(None);
        }
        if !schedule.has_returns() {
            return Err("--mirror: the schedule has no return stream: add a [[stream]] with return_of = \"NAME\" of the stream to send back (docs/round-trip.md)".into());
        }
        Ok(Some(MirrorOptions {
            process_ns: self.mirror_process.unwrap_or(DEFAULT_PROCESS_NS),
            ..MirrorOptions::default()
        }))
    }
}

/// takt-talker's round-trip flags.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RttArgs {
    /// A round trip above this is an outlier (ns or a duration; default
    /// 2 x cycle_time). Only with return streams in the schedule
    #[arg(long, value_name = "NS|DURATION", value_parser = units::parse_duration_ns)]
    pub rtt_outlier: Option<u64>,
    /// A return later than this after its frame left counts the frame lost
    /// (and the return late); the talker also waits this long after its
    /// last frame (default the larger of 20 cycles and 50ms)
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration_ns)]
    pub rtt_timeout: Option<u64>,
}

impl RttArgs {
    /// Round-trip options when the schedule has return streams.
    pub fn options(&self, schedule: &Schedule) -> Option<RoundTripOptions> {
        if !schedule.has_returns() {
            return None;
        }
        let d = RoundTripOptions::for_schedule(schedule);
        Some(RoundTripOptions {
            outlier_ns: self.rtt_outlier.unwrap_or(d.outlier_ns),
            timeout_ns: self.rtt_timeout.unwrap_or(d.timeout_ns).max(1),
        })
    }

    /// Whether a flag was given that needs return streams.
    pub fn given(&self) -> bool {
        self.rtt_outlier.is_some() || self.rtt_timeout.is_some()
    }
}

/// The talker receives its return streams: a NIC filters destinations.
pub fn return_destinations(schedule: &Schedule) -> Vec<[u8; 6]> {
    (0..schedule.streams().len())
        .filter(|&i| schedule.return_of(i).is_some())
        .map(|i| schedule.streams()[i].dst_mac)
        .collect()
}

/// The mirror's report after the run; what is still queued counts late.
pub fn mirror_report(m: &mut takt_stack::mirror::Mirror, dev: &mut dyn RingDevice) -> MirrorReport {
    let c: MirrorCounters = m.finish(dev);
    MirrorReport {
        sent: c.sent,
        late: c.late,
        queue_full: c.queue_full,
        no_buffer: c.no_buffer,
        d_min_ns: c.d_min_ns,
        d_max_ns: c.d_max_ns,
        d_steps: c.d_steps,
    }
}
