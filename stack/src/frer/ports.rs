//! [`Ports`]: the talker's or listener's ring devices (one per `--device`)
//! behind one `RingDevice`, with 802.1CB replication on transmit and
//! elimination on receive (docs/redundancy.md).
//!
//! SKELETON: the API the tools build on; filled in by the ports work
//! (issue 15).

use crate::clock::SchedClock;
use crate::stats::{FrerReport, PortReport};
use takt_drivers::{BufId, Counters, DeviceInfo, RingDevice, RxBatch, TxBatch, TxStampBatch};
use takt_scheduler::Schedule;

/// Why a set of ports cannot carry a schedule.
#[derive(Debug, thiserror::Error)]
pub enum PortsError {
    #[error("the schedule uses {needed} ports but {given} --device given: give --device once per port, in order")]
    TooFewPorts { needed: usize, given: usize },
    #[error("no --device given")]
    NoPorts,
    #[error(
        "{first} and {other} use different clocks: every port must timestamp on the same clock"
    )]
    ClockMismatch { first: String, other: String },
}

/// Several ring devices as one.
pub struct Ports {
    devs: Vec<Box<dyn RingDevice>>,
}

impl Ports {
    /// `devs` in `--device` order (port 0 first), for `schedule`'s streams.
    pub fn new(devs: Vec<Box<dyn RingDevice>>, schedule: &Schedule) -> Result<Self, PortsError> {
        let _ = schedule;
        if devs.is_empty() {
            return Err(PortsError::NoPorts);
        }
        Ok(Ports { devs })
    }

    /// The clock per-member latencies are put on (rx stamps converted as
    /// the listener converts them).
    pub fn with_clock(self, clock: SchedClock) -> Self {
        let _ = clock;
        self
    }

    pub fn port_count(&self) -> usize {
        self.devs.len()
    }

    pub fn port(&self, i: usize) -> Option<&dyn RingDevice> {
        self.devs.get(i).map(|d| &**d)
    }

    /// Each port's name and device counters.
    pub fn port_reports(&self) -> Vec<PortReport> {
        self.devs
            .iter()
            .map(|d| PortReport {
                device: d.info().name.clone(),
                counters: d.counters(),
            })
            .collect()
    }

    /// The replication and elimination counters, when a stream is
    /// replicated.
    pub fn frer_report(&self) -> Option<FrerReport> {
        None
    }
}

impl RingDevice for Ports {
    fn info(&self) -> &DeviceInfo {
        self.devs[0].info()
    }
    fn counters(&self) -> Counters {
        self.devs[0].counters()
    }
    fn alloc(&mut self) -> Option<BufId> {
        self.devs[0].alloc()
    }
    fn free(&mut self, buf: BufId) {
        self.devs[0].free(buf)
    }
    fn buf(&self, buf: &BufId) -> &[u8] {
        self.devs[0].buf(buf)
    }
    fn buf_mut(&mut self, buf: &BufId) -> &mut [u8] {
        self.devs[0].buf_mut(buf)
    }
    fn owns(&self, buf: &BufId) -> bool {
        self.devs.iter().any(|d| d.owns(buf))
    }
    fn tx_burst(&mut self, frames: &mut TxBatch) -> usize {
        self.devs[0].tx_burst(frames)
    }
    fn rx_burst(&mut self, out: &mut RxBatch) -> usize {
        self.devs[0].rx_burst(out)
    }
    fn tx_stamps(&mut self, out: &mut TxStampBatch) -> usize {
        self.devs[0].tx_stamps(out)
    }
}
