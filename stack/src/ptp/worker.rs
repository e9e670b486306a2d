//! The PTP port's thread (`takt-ptp`, unpinned, SCHED_OTHER): owns the
//! statime core, feeds it what the data path queued, runs its timers,
//! queues what it sends, and judges sync for the data path. The servo's
//! clock changes happen here, off the data path.

use super::core::{CoreConfig, PtpCore};
use super::queue::{self, DataEnds, PtpFrame, ToSend, ToWorker, WorkerEnds};
use super::sync::SyncStatus;
use crate::stats::PtpReport;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use takt_scheduler::clock::{ClockId, DisciplinedClock};

/// The longest the thread sleeps without a timer due: it also answers a
/// stop request within this.
const MAX_PARK: Duration = Duration::from_millis(20);

/// What the worker publishes for live status and the sync phase.
#[derive(Clone, Debug, Default)]
pub struct Live {
    pub port_state: String,
    pub last_offset_ns: Option<i64>,
    pub mean_delay_ns: Option<i64>,
    pub grandmaster: Option<[u8; 8]>,
    /// What came in and went out (`CoreCounters::summary`).
    pub counters: String,
}

/// The running worker.
pub struct PtpWorker {
    handle: Option<JoinHandle<PtpReport>>,
    stop: Arc<AtomicBool>,
    live: Arc<Mutex<Live>>,
}

impl PtpWorker {
    /// Start the port's thread: the core is built there (statime's port is
    /// not `Send`). Returns the worker and the data path's queue ends.
    /// `say`: the tool name to prefix a line on stderr with each time sync
    /// is reached or lost (`None`: quiet).
    pub fn start(
        cfg: CoreConfig,
        clock: Arc<DisciplinedClock>,
        sync: Arc<SyncStatus>,
        seed: u64,
        say: Option<&'static str>,
    ) -> std::io::Result<(Self, DataEnds)> {
        let (data, ends) = queue::queues();
        let stop = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Mutex::new(Live::default()));
        let handle = {
            let (stop, live) = (Arc::clone(&stop), Arc::clone(&live));
            std::thread::Builder::new()
                .name("takt-ptp".into())
                .spawn(move || run(cfg, clock, sync, seed, say, ends, &stop, &live))?
        };
        Ok((
            PtpWorker {
                handle: Some(handle),
                stop,
                live,
            },
            data,
        ))
    }

    /// The thread, for the data path to unpark.
    pub fn thread(&self) -> std::thread::Thread {
        match &self.handle {
            Some(h) => h.thread().clone(),
            None => std::thread::current(),
        }
    }

    /// What the port shows now.
    pub fn live(&self) -> Live {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stop the thread and take its report (after the run; joins).
    pub fn finish(mut self) -> PtpReport {
        self.stop.store(true, Ordering::Release);
        let Some(h) = self.handle.take() else {
            return PtpReport::default();
        };
        h.thread().unpark();
        h.join().unwrap_or_default()
    }
}

impl Drop for PtpWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    cfg: CoreConfig,
    clock: Arc<DisciplinedClock>,
    sync: Arc<SyncStatus>,
    seed: u64,
    say: Option<&'static str>,
    mut ends: WorkerEnds,
    stop: &AtomicBool,
    live: &Mutex<Live>,
) -> PtpReport {
    let mono = || ClockId::Monotonic.now_ns();
    let start = mono();
    let mut core = PtpCore::new(cfg, clock, start, seed);
    // The core publishes each lock verdict to what the data path reads.
    core.set_sync_status(Arc::clone(&sync));
    let mut was_synced = false;
    let (mut tx_dropped, mut offsets_dropped) = (0u64, 0u64);
    loop {
        let now = mono();
        while let Some(msg) = ends.from_data.dequeue() {
            match msg {
                // Refusals are counted by the core.
                ToWorker::Frame { frame, rx_ns } => {
                    let _ = core.on_frame(frame.bytes(), rx_ns, now);
                }
                ToWorker::Stamp { tag, tx_ns } => core.on_tx_stamp(tag, tx_ns, now),
            }
        }
        core.on_timers(now);
        while let Some(out) = core.pop_tx() {
            let sent = PtpFrame::copy_of(out.bytes()).map(|frame| ToSend {
                frame,
                stamp_tag: out.stamp_tag,
            });
            if sent.is_none_or(|s| ends.to_data.enqueue(s).is_err()) {
                tx_dropped += 1;
            }
        }
        core.take_offsets(|t, offset| {
            if ends.offsets.enqueue((t, offset)).is_err() {
                offsets_dropped += 1;
            }
        });
        let status = core.status();
        if sync.is_synced() != was_synced {
            was_synced = !was_synced;
            if let Some(tool) = say {
                let offset = status
                    .last_offset_ns
                    .map_or_else(|| "-".into(), |o| format!("{o} ns"));
                let (what, after) = if was_synced {
                    (
                        "in sync",
                        format!(" after {:.3} s", (mono() - start) as f64 / 1e9),
                    )
                } else {
                    ("sync lost", String::new())
                };
                eprintln!(
                    "{tool}: ptp: {what}{after} (port {}, last offset {offset})",
                    status.port_state
                );
            }
        }
        if let Ok(mut l) = live.lock() {
            l.port_state.clear();
            l.port_state.push_str(status.port_state);
            l.last_offset_ns = status.last_offset_ns;
            l.mean_delay_ns = status.mean_delay_ns;
            l.grandmaster = status.grandmaster;
            l.counters = core.counters().summary();
        }
        if stop.load(Ordering::Acquire) {
            break;
        }
        let wait = core
            .next_deadline()
            .map_or(MAX_PARK, |d| Duration::from_nanos(d.saturating_sub(mono())))
            .min(MAX_PARK);
        if !wait.is_zero() {
            std::thread::park_timeout(wait);
        }
    }
    let mut report = core.report();
    report.tx_dropped += tx_dropped;
    report.offset_samples_dropped = offsets_dropped;
    report
}
