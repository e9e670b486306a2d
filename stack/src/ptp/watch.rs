//! ptp4l as the judge of a run's sync: the start gate ([`wait_ready`]),
//! and a watcher thread ([`Ptp4lWatch`]) that keeps reading ptp4l during
//! the run, sets the shared [`SyncStatus`] the data path reads, records
//! the offsets ptp4l measures and hands them to the data path through a
//! lock-free queue.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use heapless::spsc::{Consumer, Producer, Queue};
use takt_scheduler::clock::Timebase;

use super::pmc::{
    ClockIdentity, CurrentDataSet, DelayMechanism, PortDataSet, PortPropertiesNp, PortState,
    TimeStatusNp,
};
use super::ptp4l::{Ptp4lClient, Ptp4lError, Ptp4lOptions};
use super::SyncStatus;
use crate::stats::{OffsetStats, PtpReport};

/// How often ptp4l is asked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// ptp4l silent this long: sync is declared lost.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(1);
/// How long one request waits for its answer while watching.
const WATCH_ANSWER_TIMEOUT: Duration = Duration::from_millis(500);
/// Offset samples the queue to the data path holds (one slot stays free).
pub const OFFSET_QUEUE_LEN: usize = 256;

/// What one poll of ptp4l read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ptp4lStatus {
    /// PORT_PROPERTIES_NP of every port: state and interface.
    pub ports: Vec<PortPropertiesNp>,
    /// PORT_DATA_SET of every port: delay mechanism, peer delay.
    pub port_data_sets: Vec<PortDataSet>,
    /// TIME_STATUS_NP: last offset, its ingress time, the grandmaster.
    pub time_status: Option<TimeStatusNp>,
    /// CURRENT_DATA_SET: end-to-end mean path delay.
    pub current: Option<CurrentDataSet>,
}

impl Ptp4lStatus {
    /// Ask `client` for everything the judge and the report use.
    pub fn read(client: &mut Ptp4lClient) -> Result<Self, Ptp4lError> {
        Ok(Ptp4lStatus {
            ports: client.port_properties()?,
            port_data_sets: client.port_data_sets()?,
            time_status: Some(client.time_status()?),
            current: Some(client.current_data_set()?),
        })
    }

    /// ptp4l's port on interface `iface`.
    pub fn port_on(&self, iface: &str) -> Option<&PortPropertiesNp> {
        self.ports.iter().find(|p| p.interface.as_str() == iface)
    }

    /// Mean path delay of the port on `iface`, ns: the peer delay of a
    /// P2P port, else CURRENT_DATA_SET's end-to-end delay.
    pub fn mean_path_delay_ns(&self, iface: &str) -> Option<i64> {
        let port = self.port_on(iface)?;
        let ds = self
            .port_data_sets
            .iter()
            .find(|d| d.port_identity == port.port_identity);
        match ds {
            Some(d) if d.delay_mechanism == DelayMechanism::P2p => {
                Some(d.peer_mean_path_delay.ns())
            }
            _ => self.current.map(|c| c.mean_path_delay.ns()),
        }
    }

    /// The grandmaster, when the port on `iface` knows one: a slave
    /// hearing it, or a master (itself or the one above it).
    pub fn grandmaster(&self, iface: &str) -> Option<ClockIdentity> {
        let ts = self.time_status?;
        match self.port_on(iface)?.port_state {
            PortState::Master | PortState::GrandMaster => Some(ts.gm_identity),
            _ if ts.gm_present => Some(ts.gm_identity),
            _ => None,
        }
    }
}

/// The judge's verdict on one status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The port is the reference (MASTER) or a slave within the threshold
    /// (`offset_ns` is its last offset).
    InSync {
        state: PortState,
        offset_ns: Option<i64>,
    },
    NotInSync(Reason),
}

impl Verdict {
    pub fn in_sync(&self) -> bool {
        matches!(self, Verdict::InSync { .. })
    }
}

/// Why ptp4l's port is not in sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// ptp4l has no port on the interface; `have` are those it has.
    NoPort { iface: String, have: Vec<String> },
    /// The port is in a state that is neither SLAVE nor MASTER.
    State { iface: String, state: PortState },
    /// A SLAVE port whose grandmaster went away.
    NoGrandmaster { iface: String },
    /// |offset| over the threshold.
    Offset {
        iface: String,
        offset_ns: i64,
        threshold_ns: u64,
    },
    /// ptp4l gave no TIME_STATUS_NP to judge a slave's offset by.
    NoTimeStatus { iface: String },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NoPort { iface, have } if have.is_empty() => {
                write!(f, "ptp4l has no port on {iface} (it has no ports at all)")
            }
            Reason::NoPort { iface, have } => write!(
                f,
                "ptp4l has no port on {iface} (its ports are on {})",
                have.join(", ")
            ),
            Reason::State { iface, state } => write!(f, "ptp4l's port on {iface} is {state}"),
            Reason::NoGrandmaster { iface } => write!(
                f,
                "ptp4l's port on {iface} is SLAVE but its grandmaster is not present"
            ),
            Reason::Offset {
                iface,
                offset_ns,
                threshold_ns,
            } => write!(
                f,
                "ptp4l's port on {iface} is SLAVE with offset {offset_ns} ns, which exceeds \
                 the threshold of {threshold_ns} ns"
            ),
            Reason::NoTimeStatus { iface } => write!(
                f,
                "ptp4l's port on {iface} is SLAVE but ptp4l gave no TIME_STATUS_NP"
            ),
        }
    }
}

impl Reason {
    /// What the user can do about it.
    pub fn advice(&self) -> String {
        match self {
            Reason::NoPort { iface, .. } => format!(
                "run takt on an interface ptp4l serves, or start ptp4l on {iface} \
                 (`ptp4l -i {iface} -f /usr/share/doc/linuxptp/configs/gPTP.cfg`)"
            ),
            Reason::State { iface, state } => match state {
                PortState::Listening => format!(
                    "ptp4l hears no master on {iface}: check the link and the master's ptp4l \
                     (`pmc -u -b 0 -f CONFIG 'GET PORT_DATA_SET'` there), or wait longer \
                     (--sync-wait)"
                ),
                PortState::Uncalibrated => "ptp4l's servo has not locked yet: wait longer \
                     (--sync-wait); a ptp4l with free_running 1 stays UNCALIBRATED until told \
                     `pmc -u -b 0 -f CONFIG 'SET SYNCHRONIZATION_UNCERTAIN_NP 0'`"
                    .to_string(),
                PortState::Faulty | PortState::Disabled | PortState::Initializing => {
                    format!("see ptp4l's log (run it with -m) for what is wrong on {iface}")
                }
                _ => "wait until ptp4l's port settles as SLAVE or MASTER (--sync-wait)".to_string(),
            },
            Reason::NoGrandmaster { .. } => {
                "the grandmaster's Announce messages stopped: check the master and the link"
                    .to_string()
            }
            Reason::Offset { .. } => "wait until ptp4l's servo converges (--sync-wait) or \
                 raise the threshold (--sync-threshold)"
                .to_string(),
            Reason::NoTimeStatus { .. } => "check that ptp4l is linuxptp 2.0 or newer".to_string(),
        }
    }
}

/// In sync when ptp4l's port on `iface` is SLAVE with |master_offset| <=
/// `threshold_ns` and a grandmaster present, or is MASTER / GRAND_MASTER
/// (it is the reference). Pure.
pub fn judge(status: &Ptp4lStatus, iface: &str, threshold_ns: u64) -> Verdict {
    let Some(port) = status.port_on(iface) else {
        return Verdict::NotInSync(Reason::NoPort {
            iface: iface.to_string(),
            have: status
                .ports
                .iter()
                .map(|p| p.interface.as_str().to_string())
                .collect(),
        });
    };
    let iface = iface.to_string();
    match port.port_state {
        state @ (PortState::Master | PortState::GrandMaster) => Verdict::InSync {
            state,
            offset_ns: None,
        },
        PortState::Slave => {
            let Some(ts) = status.time_status else {
                return Verdict::NotInSync(Reason::NoTimeStatus { iface });
            };
            if !ts.gm_present {
                return Verdict::NotInSync(Reason::NoGrandmaster { iface });
            }
            if ts.master_offset_ns.unsigned_abs() > threshold_ns {
                return Verdict::NotInSync(Reason::Offset {
                    iface,
                    offset_ns: ts.master_offset_ns,
                    threshold_ns,
                });
            }
            Verdict::InSync {
                state: PortState::Slave,
                offset_ns: Some(ts.master_offset_ns),
            }
        }
        state => Verdict::NotInSync(Reason::State { iface, state }),
    }
}

/// Why a run may not start: the message the binary prints before it
/// exits 1.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("{error}")]
    Ptp4l { error: Ptp4lError },
    #[error("not in sync after {}: {reason}: {}", waited_text(*.waited), reason.advice())]
    NotInSync { reason: Reason, waited: Duration },
}

fn waited_text(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        "one look".to_string()
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Poll ptp4l at `socket` every 250 ms until its port on `iface` is in
/// sync (see [`judge`]) or `wait_ns` has passed (0: one look). A ptp4l
/// that is not running yet is waited for too; no permission is final.
pub fn wait_ready(
    socket: &Path,
    iface: &str,
    threshold_ns: u64,
    wait_ns: u64,
) -> Result<Ptp4lStatus, NotReady> {
    let start = Instant::now();
    let deadline = start + Duration::from_nanos(wait_ns);
    let mut client: Option<Ptp4lClient> = None;
    loop {
        let polled = match client.as_mut() {
            Some(c) => Ptp4lStatus::read(c),
            None => Ptp4lClient::connect(socket).and_then(|mut c| {
                let s = Ptp4lStatus::read(&mut c);
                client = Some(c);
                s
            }),
        };
        let not_ready = match polled {
            Ok(status) => match judge(&status, iface, threshold_ns) {
                Verdict::InSync { .. } => return Ok(status),
                Verdict::NotInSync(reason) => NotReady::NotInSync {
                    reason,
                    waited: start.elapsed(),
                },
            },
            Err(error @ Ptp4lError::PermissionDenied { .. }) => {
                return Err(NotReady::Ptp4l { error })
            }
            Err(error) => {
                client = None;
                NotReady::Ptp4l { error }
            }
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(not_ready);
        }
        std::thread::sleep(POLL_INTERVAL.min(deadline - now));
    }
}

/// How long [`serves_interface`] waits for ptp4l.
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);

/// Whether a ptp4l answering at `socket` has a port on `iface`: its port
/// state, for a quick look before takt starts a PTP port of its own there
/// (two PTP stacks answering one link's peer-delay requests would break
/// both). `None` when nothing answers or it has no such port.
pub fn serves_interface(socket: &Path, iface: &str) -> Option<PortState> {
    if !socket.exists() {
        return None;
    }
    let opts = Ptp4lOptions {
        timeout: PROBE_TIMEOUT,
        ..Ptp4lOptions::default()
    };
    let mut client = Ptp4lClient::connect_with(socket, &opts).ok()?;
    let status = Ptp4lStatus::read(&mut client).ok()?;
    status.port_on(iface).map(|p| p.port_state)
}

/// What the watcher knows now.
#[derive(Debug)]
struct Watched {
    /// The last status read (kept while ptp4l is silent).
    status: Ptp4lStatus,
    /// ptp4l answers (within [`SILENCE_LIMIT`]).
    answering: bool,
    /// State of the port on the interface; `None`: unknown (not answering,
    /// or no such port).
    port_state: Option<PortState>,
    grandmaster: Option<ClockIdentity>,
    mean_path_delay_ns: Option<i64>,
    verdict: Option<Verdict>,
    offsets: OffsetStats,
    /// New offset samples seen.
    samples: u64,
    last_error: Option<String>,
}

struct Shared {
    stop: AtomicBool,
    watched: Mutex<Watched>,
    /// Samples the full queue could not take.
    dropped: AtomicU64,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Watched> {
        self.watched.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// ptp4l watched during a run, on a thread of its own (`takt-ptp4l`).
pub struct Ptp4lWatch {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    consumer: Option<Consumer<'static, (u64, i64)>>,
    sync: Arc<SyncStatus>,
    start_ns: u64,
    socket: PathBuf,
}

impl Ptp4lWatch {
    /// Connect to ptp4l at `socket` (an error if it does not answer) and
    /// start the watcher thread (unpinned: start it before the real-time
    /// set-up). Every 250 ms it judges ptp4l's port on `iface` with
    /// [`judge`] and sets `sync` at `clock`'s now; each new TIME_STATUS_NP
    /// sample (a new ingress_time) goes to the offset queue with `clock`'s
    /// time of the poll, and into the report's offsets once sync was first
    /// reached. ptp4l silent for more than 1 s: port state unknown, sync
    /// lost.
    pub fn start<C: Timebase + Send + 'static>(
        socket: &Path,
        iface: &str,
        threshold_ns: u64,
        sync: Arc<SyncStatus>,
        clock: C,
    ) -> Result<Ptp4lWatch, Ptp4lError> {
        Self::start_saying(socket, iface, threshold_ns, sync, clock, None)
    }

    /// As [`start`](Self::start), and print `TOOL: ptp: in sync (...)` /
    /// `ptp: sync lost (...)` on stderr when the verdict changes.
    pub fn start_saying<C: Timebase + Send + 'static>(
        socket: &Path,
        iface: &str,
        threshold_ns: u64,
        sync: Arc<SyncStatus>,
        clock: C,
        say: Option<&'static str>,
    ) -> Result<Ptp4lWatch, Ptp4lError> {
        let mut client = Ptp4lClient::connect(socket)?;
        client.set_timeout(WATCH_ANSWER_TIMEOUT);
        let start_ns = clock.now_ns();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            watched: Mutex::new(Watched {
                status: Ptp4lStatus::default(),
                answering: true,
                port_state: None,
                grandmaster: None,
                mean_path_delay_ns: None,
                verdict: None,
                offsets: OffsetStats::new(),
                samples: 0,
                last_error: None,
            }),
            dropped: AtomicU64::new(0),
        });
        // Leaked once per run: the data path's end must be 'static.
        let queue: &'static mut Queue<(u64, i64), OFFSET_QUEUE_LEN> =
            Box::leak(Box::new(Queue::new()));
        let (producer, consumer) = queue.split();
        let watcher = Watcher {
            socket: socket.to_path_buf(),
            iface: iface.to_string(),
            threshold_ns,
            say,
            offsets_over: 0,
            sync: Arc::clone(&sync),
            clock,
            shared: Arc::clone(&shared),
            producer,
            client: Some(client),
        };
        let thread = std::thread::Builder::new()
            .name("takt-ptp4l".into())
            .spawn(move || watcher.run())
            .map_err(|source| Ptp4lError::Io {
                what: "starting the takt-ptp4l thread".into(),
                source,
            })?;
        Ok(Ptp4lWatch {
            shared,
            thread: Some(thread),
            consumer: Some(consumer),
            sync,
            start_ns,
            socket: socket.to_path_buf(),
        })
    }

    /// The data path's end of the offset queue: (schedule-clock time of
    /// the poll that read it, offset ns). Once.
    pub fn take_offset_consumer(&mut self) -> Option<Consumer<'static, (u64, i64)>> {
        self.consumer.take()
    }

    /// The last status ptp4l gave (kept while it is silent).
    pub fn status(&self) -> Ptp4lStatus {
        self.shared.lock().status.clone()
    }

    /// State of ptp4l's port on the interface; `None` when unknown (ptp4l
    /// silent for more than 1 s, or no such port).
    pub fn port_state(&self) -> Option<PortState> {
        self.shared.lock().port_state
    }

    /// Whether ptp4l answers.
    pub fn answering(&self) -> bool {
        self.shared.lock().answering
    }

    /// The last verdict (`None` before the first answer).
    pub fn verdict(&self) -> Option<Verdict> {
        self.shared.lock().verdict.clone()
    }

    /// New offset samples seen so far.
    pub fn offset_samples(&self) -> u64 {
        self.shared.lock().samples
    }

    /// Offset samples dropped because the queue was full.
    pub fn dropped_offset_samples(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Why the last poll failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.shared.lock().last_error.clone()
    }

    /// Stop the thread; the run's `ptp` report.
    pub fn finish(mut self) -> PtpReport {
        self.stop();
        let w = self.shared.lock();
        let mut report = PtpReport {
            source: "linuxptp".into(),
            profile: None,
            role: "linuxptp".into(),
            port_state: w.port_state.map_or("UNKNOWN", PortState::name).into(),
            grandmaster: w.grandmaster.map(|g| g.to_string()),
            mean_path_delay_ns: w.mean_path_delay_ns,
            time_to_first_lock_ns: self
                .sync
                .first_lock_ns()
                .map(|t| t.saturating_sub(self.start_ns)),
            sync_losses: self.sync.losses(),
            ..PtpReport::default()
        };
        report.set_offsets(&w.offsets);
        report
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl fmt::Debug for Ptp4lWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ptp4lWatch")
            .field("socket", &self.socket)
            .field("port_state", &self.port_state())
            .finish()
    }
}

impl Drop for Ptp4lWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread's side.
struct Watcher<C> {
    socket: PathBuf,
    iface: String,
    threshold_ns: u64,
    /// Prefix of the stderr line when sync is reached or lost (None: quiet).
    say: Option<&'static str>,
    /// New offset samples over the threshold in a row.
    offsets_over: u32,
    sync: Arc<SyncStatus>,
    clock: C,
    shared: Arc<Shared>,
    producer: Producer<'static, (u64, i64)>,
    client: Option<Ptp4lClient>,
}

impl<C: Timebase> Watcher<C> {
    fn run(mut self) {
        let mut last_answer = Instant::now();
        let mut last_ingress = None;
        while !self.shared.stop.load(Ordering::Acquire) {
            let poll_start = Instant::now();
            match self.poll() {
                Ok(status) => {
                    last_answer = Instant::now();
                    self.judged(status, &mut last_ingress);
                }
                Err(e) => {
                    // A new client next time: ptp4l may come back with
                    // another configuration.
                    self.client = None;
                    let silent = last_answer.elapsed() > SILENCE_LIMIT;
                    if silent {
                        self.set_sync(false, "ptp4l stopped answering");
                    }
                    let mut w = self.shared.lock();
                    w.last_error = Some(e.to_string());
                    if silent {
                        w.answering = false;
                        w.port_state = None;
                    }
                }
            }
            let next = poll_start + POLL_INTERVAL;
            while !self.shared.stop.load(Ordering::Acquire) {
                let left = next.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::park_timeout(left);
            }
        }
    }

    fn poll(&mut self) -> Result<Ptp4lStatus, Ptp4lError> {
        let client = match &mut self.client {
            Some(c) => c,
            slot @ None => {
                let opts = Ptp4lOptions {
                    timeout: WATCH_ANSWER_TIMEOUT,
                    ..Ptp4lOptions::default()
                };
                slot.insert(Ptp4lClient::connect_with(&self.socket, &opts)?)
            }
        };
        Ptp4lStatus::read(client)
    }

    /// The verdict to the data path (and stderr, when it changes).
    fn set_sync(&mut self, in_sync: bool, why: &str) {
        if in_sync != self.sync.is_synced() {
            if let Some(tool) = self.say {
                let what = if in_sync { "in sync" } else { "sync lost" };
                eprintln!("{tool}: ptp: {what} ({why})");
            }
        }
        self.sync.set(in_sync, self.clock.now_ns());
    }

    fn judged(&mut self, status: Ptp4lStatus, last_ingress: &mut Option<i64>) {
        let verdict = judge(&status, &self.iface, self.threshold_ns);
        let now = self.clock.now_ns();
        let port_state = status.port_on(&self.iface).map(|p| p.port_state);
        // A new sample: ptp4l's ingress time moved (0: no sample, a master).
        let sample = status
            .time_status
            .filter(|t| t.ingress_time_ns != 0 && Some(t.ingress_time_ns) != *last_ingress)
            .filter(|_| matches!(port_state, Some(PortState::Slave | PortState::Uncalibrated)));
        // An offset over the threshold loses sync only when LOCK_RUN new
        // samples in a row are (software stamps cross a tight threshold
        // now and then); a port that is no longer SLAVE or MASTER, at once.
        match &verdict {
            Verdict::InSync { .. } => {
                self.offsets_over = 0;
                self.set_sync(
                    true,
                    &format!(
                        "ptp4l's port on {} is {}",
                        self.iface,
                        port_state.map_or("?", |p| p.name())
                    ),
                );
            }
            Verdict::NotInSync(reason @ Reason::Offset { .. }) => {
                if sample.is_some() {
                    self.offsets_over += 1;
                }
                if self.offsets_over >= super::lock::LOCK_RUN {
                    self.set_sync(false, &reason.to_string());
                }
            }
            Verdict::NotInSync(reason) => {
                self.offsets_over = 0;
                self.set_sync(false, &reason.to_string());
            }
        }
        if let Some(t) = sample {
            *last_ingress = Some(t.ingress_time_ns);
            if self.producer.enqueue((now, t.master_offset_ns)).is_err() {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut w = self.shared.lock();
        if let Some(t) = sample {
            w.samples += 1;
            if self.sync.first_lock_ns().is_some() {
                w.offsets.record(t.master_offset_ns);
            }
        }
        w.answering = true;
        w.port_state = port_state;
        if let Some(g) = status.grandmaster(&self.iface) {
            w.grandmaster = Some(g);
        }
        if let Some(d) = status.mean_path_delay_ns(&self.iface) {
            w.mean_path_delay_ns = Some(d);
        }
        w.verdict = Some(verdict);
        w.last_error = None;
        w.status = status;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ptp::pmc::{PortIdentity, ScaledNs, TimeInterval, Timestamping};

    const GM: ClockIdentity = ClockIdentity([0xc6, 0x5e, 0xf1, 0xff, 0xfe, 0x48, 0x9f, 0x30]);

    fn port(n: u16, iface: &str, state: PortState) -> PortPropertiesNp {
        PortPropertiesNp {
            port_identity: PortIdentity {
                clock: ClockIdentity([1; 8]),
                port: n,
            },
            port_state: state,
            timestamping: Timestamping::Hardware,
            interface: iface.try_into().unwrap(),
        }
    }

    fn time_status(offset: i64, gm_present: bool) -> TimeStatusNp {
        TimeStatusNp {
            master_offset_ns: offset,
            ingress_time_ns: 1,
            cumulative_scaled_rate_offset: 0,
            scaled_last_gm_phase_change: 0,
            gm_time_base_indicator: 0,
            last_gm_phase_change: ScaledNs::default(),
            gm_present,
            gm_identity: GM,
        }
    }

    fn status(ports: &[(&str, PortState)], ts: Option<TimeStatusNp>) -> Ptp4lStatus {
        Ptp4lStatus {
            ports: ports
                .iter()
                .enumerate()
                .map(|(i, (n, s))| port(i as u16 + 1, n, *s))
                .collect(),
            port_data_sets: Vec::new(),
            time_status: ts,
            current: None,
        }
    }

    #[test]
    fn a_slave_within_the_threshold_or_a_master_is_in_sync() {
        let s = status(&[("eth0", PortState::Slave)], Some(time_status(-900, true)));
        assert_eq!(
            judge(&s, "eth0", 1000),
            Verdict::InSync {
                state: PortState::Slave,
                offset_ns: Some(-900)
            }
        );
        assert!(
            judge(&s, "eth0", 900).in_sync(),
            "the threshold itself is in"
        );
        for state in [PortState::Master, PortState::GrandMaster] {
            // A master judges no offset and hears no grandmaster: it is one.
            let s = status(&[("eth1", state)], Some(time_status(0, false)));
            assert!(judge(&s, "eth1", 0).in_sync(), "{state}");
        }
    }

    #[test]
    fn not_in_sync_says_why() {
        let s = status(
            &[("eth0", PortState::Slave), ("eth2", PortState::Passive)],
            Some(time_status(-1500, true)),
        );
        let Verdict::NotInSync(r) = judge(&s, "eth0", 1000) else {
            panic!()
        };
        assert_eq!(
            r.to_string(),
            "ptp4l's port on eth0 is SLAVE with offset -1500 ns, which exceeds the threshold \
             of 1000 ns"
        );
        assert!(r.advice().contains("--sync-threshold"));

        let Verdict::NotInSync(r) = judge(&s, "eth1", 1000) else {
            panic!()
        };
        assert_eq!(
            r.to_string(),
            "ptp4l has no port on eth1 (its ports are on eth0, eth2)"
        );
        let Verdict::NotInSync(r) = judge(&s, "eth2", 1000) else {
            panic!()
        };
        assert_eq!(r.to_string(), "ptp4l's port on eth2 is PASSIVE");

        let gone = status(&[("eth0", PortState::Slave)], Some(time_status(3, false)));
        assert_eq!(
            judge(&gone, "eth0", 1000),
            Verdict::NotInSync(Reason::NoGrandmaster {
                iface: "eth0".into()
            })
        );
        for state in [
            PortState::Initializing,
            PortState::Faulty,
            PortState::Disabled,
            PortState::Listening,
            PortState::PreMaster,
            PortState::Uncalibrated,
        ] {
            let s = status(&[("eth0", state)], Some(time_status(0, true)));
            let v = judge(&s, "eth0", u64::MAX);
            assert_eq!(
                v,
                Verdict::NotInSync(Reason::State {
                    iface: "eth0".into(),
                    state
                })
            );
        }
        let none = status(&[], None);
        let Verdict::NotInSync(r) = judge(&none, "eth0", 1) else {
            panic!()
        };
        assert!(r.to_string().contains("no ports at all"), "{r}");
        // i64::MIN has no absolute value in i64: judged, not a panic.
        let s = status(
            &[("eth0", PortState::Slave)],
            Some(time_status(i64::MIN, true)),
        );
        assert!(!judge(&s, "eth0", u64::MAX / 2).in_sync());
    }

    #[test]
    fn not_ready_tells_what_to_run() {
        let e = NotReady::NotInSync {
            reason: Reason::State {
                iface: "eth0".into(),
                state: PortState::Uncalibrated,
            },
            waited: Duration::from_millis(5_000),
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with("not in sync after 5.0 s: ptp4l's port on eth0 is UNCALIBRATED: "),
            "{msg}"
        );
        assert!(msg.contains("SET SYNCHRONIZATION_UNCERTAIN_NP 0"), "{msg}");
        let e = NotReady::NotInSync {
            reason: Reason::State {
                iface: "eth0".into(),
                state: PortState::Listening,
            },
            waited: Duration::ZERO,
        };
        assert!(e.to_string().starts_with("not in sync after one look"));
    }

    #[test]
    fn the_delay_is_the_peer_delay_on_p2p_and_the_current_data_set_else() {
        let mut s = status(&[("eth0", PortState::Slave)], Some(time_status(0, true)));
        s.current = Some(CurrentDataSet {
            steps_removed: 1,
            offset_from_master: TimeInterval(0),
            mean_path_delay: TimeInterval(700 << 16),
        });
        assert_eq!(s.mean_path_delay_ns("eth0"), Some(700));
        s.port_data_sets.push(PortDataSet {
            port_identity: s.ports[0].port_identity,
            port_state: PortState::Slave,
            log_min_delay_req_interval: 0,
            peer_mean_path_delay: TimeInterval(42 << 16),
            log_announce_interval: 0,
            announce_receipt_timeout: 3,
            log_sync_interval: -3,
            delay_mechanism: DelayMechanism::P2p,
            log_min_pdelay_req_interval: 0,
            version_number: 2,
        });
        assert_eq!(s.mean_path_delay_ns("eth0"), Some(42));
        assert_eq!(s.grandmaster("eth0"), Some(GM));
        assert_eq!(s.mean_path_delay_ns("eth9"), None);
    }

    #[test]
    fn wait_ready_without_ptp4l_says_it_is_not_running() {
        let path = std::env::temp_dir().join(format!("takt-no-ptp4l-w.{}", std::process::id()));
        let e = wait_ready(&path, "eth0", 1000, 0).unwrap_err().to_string();
        assert!(
            e.starts_with("ptp4l is not running (no management socket at"),
            "{e}"
        );
    }
}
