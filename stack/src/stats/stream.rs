//! Per-stream counters and metrics, and the whole run's statistics.

use super::metric::Metric;

/// Which of a stream's two metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Talker: actual launch time minus scheduled launch time, ns.
    TxError,
    /// Listener: receive time minus transmit time, ns.
    Latency,
}

impl MetricKind {
    pub const ALL: [MetricKind; 2] = [MetricKind::TxError, MetricKind::Latency];

    /// Short name used in interval-log tags (`<stream>.<name>`) and tables.
    pub const fn name(self) -> &'static str {
        match self {
            MetricKind::TxError => "tx_error",
            MetricKind::Latency => "latency",
        }
    }

    /// Position of this metric inside one stream's pair (0 or 1).
    pub const fn index(self) -> usize {
        match self {
            MetricKind::TxError => 0,
            MetricKind::Latency => 1,
        }
    }
}

/// Counters and metrics of one stream. The talker fills `frames_sent`,
/// `late` and `tx_error_ns`; the listener fills `frames_received`, `lost`,
/// `duplicates`, `reordered` and `latency_ns`; a loopback run fills both.
#[derive(Clone, Debug)]
pub struct StreamStats {
    pub name: String,
    pub frames_sent: u64,
    pub frames_received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Frames the talker launched after their window had closed (or could
    /// not launch in time).
    pub late: u64,
    /// Frames received with a VLAN id or PCP other than the schedule's
    /// for their stream (frames whose tag the receive path stripped are
    /// not checked).
    pub wrong_vlan: u64,
    /// Frames sent (talker) or measured (listener) while PTP said the
    /// clock was out of sync.
    pub unsynced: u64,
    /// Listener: frames of this stream that were not believed (a sequence
    /// number or talker epoch that no second frame confirmed, an
    /// implausible transmit time). Not in `frames_received`.
    pub rogue: u64,
    /// Listener: frames of this stream whose padding was corrupt. Not in
    /// `frames_received`.
    pub bad_padding: u64,
    /// Listener: the talker restarted (a new epoch, confirmed by two
    /// frames); the sequence bookkeeping started again.
    pub restarts: u64,
    /// Listener: the sequence jumped past the bound within one epoch and a
    /// second frame confirmed the new position.
    pub resyncs: u64,
    pub tx_error_ns: Metric,
    pub latency_ns: Metric,
    /// The listener's latencies of those frames, kept out of `latency_ns`.
    pub latency_unsynced_ns: Metric,
    /// Talker: the round trips of a stream with a return (round_trip.rs).
    pub round_trip: Option<Box<super::RoundTripStats>>,
    /// The stage differences beyond tx error and latency (docs/reports.md,
    /// "Where the time goes"): each allocated only when an end can see it.
    pub stages: StageStats,
}

/// A stream's stage differences that are not `tx_error_ns` (H - S) or
/// `latency_ns` (R - H). `None`: the end that ran cannot see the stages
/// (no key in the JSON report). Each metric costs ~0.3 MiB, allocated at
/// start-up by `Talker::prepare_stats` / `Listener::prepare_stats`.
#[derive(Clone, Debug, Default)]
pub struct StageStats {
    /// Talker: W - S, wake-up minus scheduled launch.
    pub wake_error: Option<Metric>,
    /// Talker: T - H, the device's transmit stamp minus hand-over.
    pub driver: Option<Metric>,
    /// How T was taken (`StampSource::as_str`), with `driver`.
    pub driver_source: Option<&'static str>,
    /// Listener: A - R, the code has the frame minus its receive stamp.
    pub pickup: Option<Metric>,
    /// How R was taken, with `pickup` / `wire`.
    pub rx_source: Option<&'static str>,
    /// Listener: A - S, the code has the frame minus scheduled launch.
    pub end_to_end: Option<Metric>,
    /// A - S of the frames measured out of sync (not in `end_to_end`).
    pub end_to_end_unsynced: Option<Metric>,
    /// The talker ran: tx_error (H - S) is a stage difference of this run.
    pub talker: bool,
    /// The listener ran: wire (R - H) is one.
    pub listener: bool,
}

impl StageStats {
    /// Allocate the talker's: W - S always, T - H when `driver` says how
    /// the device stamps transmits.
    pub fn enable_talker(&mut self, driver: Option<&'static str>) {
        self.talker = true;
        self.wake_error.get_or_insert_with(Metric::new);
        if let Some(src) = driver {
            self.driver.get_or_insert_with(Metric::new);
            self.driver_source = Some(src);
        }
    }

    /// Allocate the listener's: A - S always (and apart while out of sync
    /// when `unsynced`: PTP runs), A - R unless `pickup` is false (the
    /// receive stamp is the poll itself).
    pub fn enable_listener(&mut self, rx_source: &'static str, pickup: bool, unsynced: bool) {
        self.listener = true;
        self.rx_source = Some(rx_source);
        self.end_to_end.get_or_insert_with(Metric::new);
        if unsynced {
            self.end_to_end_unsynced.get_or_insert_with(Metric::new);
        }
        if pickup {
            self.pickup.get_or_insert_with(Metric::new);
        }
    }

    /// Adds `other`'s into `self`, allocating what `self` lacks (report
    /// time only: loopback's talker and listener halves, totals).
    pub fn merge(&mut self, other: &StageStats) {
        fn add(a: &mut Option<Metric>, b: &Option<Metric>) {
            if let Some(b) = b {
                a.get_or_insert_with(Metric::new).merge(b);
            }
        }
        add(&mut self.wake_error, &other.wake_error);
        add(&mut self.driver, &other.driver);
        add(&mut self.pickup, &other.pickup);
        add(&mut self.end_to_end, &other.end_to_end);
        add(&mut self.end_to_end_unsynced, &other.end_to_end_unsynced);
        self.driver_source = self.driver_source.or(other.driver_source);
        self.rx_source = self.rx_source.or(other.rx_source);
        self.talker |= other.talker;
        self.listener |= other.listener;
    }

    fn reset(&mut self) {
        for m in [
            &mut self.wake_error,
            &mut self.driver,
            &mut self.pickup,
            &mut self.end_to_end,
            &mut self.end_to_end_unsynced,
        ]
        .into_iter()
        .flatten()
        {
            m.reset();
        }
    }
}

impl StreamStats {
    /// Allocates both metrics (about 0.9 MiB). Call at start-up.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            frames_sent: 0,
            frames_received: 0,
            lost: 0,
            duplicates: 0,
            reordered: 0,
            late: 0,
            wrong_vlan: 0,
            unsynced: 0,
            rogue: 0,
            bad_padding: 0,
            restarts: 0,
            resyncs: 0,
            tx_error_ns: Metric::new(),
            latency_ns: Metric::new(),
            latency_unsynced_ns: Metric::new(),
            round_trip: None,
            stages: StageStats::default(),
        }
    }

    pub fn metric(&self, kind: MetricKind) -> &Metric {
        match kind {
            MetricKind::TxError => &self.tx_error_ns,
            MetricKind::Latency => &self.latency_ns,
        }
    }

    pub fn metric_mut(&mut self, kind: MetricKind) -> &mut Metric {
        match kind {
            MetricKind::TxError => &mut self.tx_error_ns,
            MetricKind::Latency => &mut self.latency_ns,
        }
    }

    /// Adds `other`'s counters and metrics to `self` (the name is kept).
    pub fn merge(&mut self, other: &StreamStats) {
        self.frames_sent += other.frames_sent;
        self.frames_received += other.frames_received;
        self.lost += other.lost;
        self.duplicates += other.duplicates;
        self.reordered += other.reordered;
        self.late += other.late;
        self.wrong_vlan += other.wrong_vlan;
        self.unsynced += other.unsynced;
        self.rogue += other.rogue;
        self.bad_padding += other.bad_padding;
        self.restarts += other.restarts;
        self.resyncs += other.resyncs;
        self.tx_error_ns.merge(&other.tx_error_ns);
        self.latency_ns.merge(&other.latency_ns);
        self.latency_unsynced_ns.merge(&other.latency_unsynced_ns);
        self.stages.merge(&other.stages);
    }

    /// Zeroes counters and metrics, keeping the memory.
    pub fn reset(&mut self) {
        self.frames_sent = 0;
        self.frames_received = 0;
        self.lost = 0;
        self.duplicates = 0;
        self.reordered = 0;
        self.late = 0;
        self.wrong_vlan = 0;
        self.unsynced = 0;
        self.rogue = 0;
        self.bad_padding = 0;
        self.restarts = 0;
        self.resyncs = 0;
        self.tx_error_ns.reset();
        self.latency_ns.reset();
        self.latency_unsynced_ns.reset();
        self.stages.reset();
    }
}

/// Everything one run measured.
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    pub streams: Vec<StreamStats>,
    /// Start of the run, ns on the schedule clock.
    pub started_ns: u64,
    /// Length of the run, ns.
    pub elapsed_ns: u64,
    /// Schedule cycles run (talker) or seen (listener).
    pub cycles: u64,
    /// Device as given on the command line, e.g. `xdp:eth0`.
    pub device: String,
    /// Backend that drove it, e.g. `xdp`, `packet`, `sim`, `e1000e`.
    pub backend: String,
    /// Schedule clock: `tai`, `monotonic` or `realtime`.
    pub clock: String,
    /// Heap operations (allocations, reallocations, frees) the data-path
    /// threads made while running, when the program counts them
    /// (`rt::CountingAllocator`); the house rule says 0.
    pub data_path_allocations: Option<u64>,
    /// The device's own counters at the end of the run (drops, a full tx
    /// ring, link-down events), when one device ran it.
    pub device_counters: Option<takt_drivers::Counters>,
    /// What the data-path thread got from `rt::prepare` (pinned CPU,
    /// SCHED_FIFO, locked memory, isolation), when it ran one.
    pub rt: Option<takt_scheduler::rt::RtReport>,
    /// The control plane's totals, when one ran.
    pub control: Option<super::json::ControlReport>,
    /// Time synchronisation (the embedded PTP port or ptp4l), when on.
    pub ptp: Option<super::ptp::PtpReport>,
    /// Listener runs: received frames that belong to no stream (rogue and
    /// bad padding are per stream).
    pub rx_rejected: Option<RxRejected>,
    /// What `--frames-log` wrote, when asked for.
    pub frames_log: Option<super::json::FramesLogReport>,
    /// `takt-listener --mirror`: the returns it sent.
    pub mirror: Option<super::MirrorReport>,
    /// Each port's device counters, when the run drove several
    /// (`--device` more than once; docs/redundancy.md).
    pub ports: Vec<super::PortReport>,
    /// 802.1CB replication (talker) or elimination (listener) counters,
    /// when a stream is replicated.
    pub frer: Option<super::FrerReport>,
}

/// A listener's rejected frames that no stream can claim.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxRejected {
    /// Shorter than the stream headers or the length the header declares.
    pub truncated: u64,
    /// Not a stream frame of this schedule: another EtherType or magic, an
    /// unknown header version (e.g. 1), an unknown stream id.
    pub other: u64,
}

impl RunStats {
    /// One `StreamStats` per name, allocated now; everything else zero/empty.
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self {
            streams: names.into_iter().map(StreamStats::new).collect(),
            ..Self::default()
        }
    }

    /// All streams merged into one named `total`. Allocates: report time only.
    pub fn total(&self) -> StreamStats {
        let mut total = StreamStats::new("total");
        for s in &self.streams {
            total.merge(s);
        }
        total
    }

    /// Stream by name.
    pub fn stream(&self, name: &str) -> Option<&StreamStats> {
        self.streams.iter().find(|s| s.name == name)
    }
}
