//! The control plane as a data-path loop sees it: the smoltcp [`Iface`],
//! the UDP service's jobs, and the metrics recorded for status requests.
//! Everything is allocated in [`ControlPlane::new`]; the loop calls
//! [`ControlPlane::service`] in its idle time and records each metric
//! value here too.

use super::refusal::Refusal;
use super::service::{
    self, Job, RunInfo, ServiceCounters, ServiceEnds, ServiceSetup, ServiceWorker, Stage,
};
use super::{Allowlist, ControlConfig, ControlError, ControlStorage, Iface};
use crate::clock::SchedClock;
use crate::plan::Plan;
use crate::stats::{ControlReport, MetricKind, StreamStats};
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use takt_drivers::{RingDevice, RxFrame};
use takt_scheduler::Schedule;

/// While idle, a loop looks for received frames and the worker's replies
/// this often.
pub const RX_POLL_INTERVAL_NS: u64 = 250_000;

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum PlaneError {
    #[error(transparent)]
    Config(#[from] ControlError),
    #[error("cannot start the control plane's worker thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The control plane of one run.
pub struct ControlPlane {
    iface: Box<Iface<'static>>,
    address: String,
    to_worker: SyncSender<Box<Job>>,
    from_worker: Receiver<Box<Job>>,
    worker: Option<ServiceWorker>,
    free: heapless::Vec<Box<Job>, { service::JOBS }>,
    /// Metrics recorded since the last status request, when a set is here.
    delta: Option<Box<[StreamStats]>>,
    /// A reply whose plan waits for the talker to install it.
    install: Option<Box<Job>>,
    /// Next look for the worker's replies.
    next_look_ns: u64,
    svc: ServiceCounters,
    /// Goes to the worker with the next request.
    info: Option<Box<RunInfo>>,
    /// The service's own address: requests to any other (broadcast,
    /// multicast) are refused.
    own: Ipv4Address,
    allow: Allowlist,
    /// The time of the last `service` call (replies are stamped with it).
    now_ns: u64,
}

impl ControlPlane {
    /// Set up on `dev` at `now_ns` and start the service worker (when
    /// `cfg.udp_port` is set). The loop receives and [`feed`](Self::feed)s
    /// what is the control plane's (crate::sidecar does that).
    pub fn new(
        cfg: ControlConfig,
        schedule: &Schedule,
        dev: &mut dyn RingDevice,
        now_ns: u64,
        setup: ServiceSetup,
    ) -> Result<Self, PlaneError> {
        let iface = Box::new(Iface::new(
            ControlStorage::leaked(),
            cfg,
            schedule,
            dev,
            now_ns,
        )?);
        let address = setup.address.clone();
        let (own, allow) = (cfg.ipv4.address(), cfg.allow);
        let (
            ServiceEnds {
                to_worker,
                from_worker,
                first_delta,
            },
            worker,
        ) = service::start(setup)?;
        Ok(ControlPlane {
            iface,
            address,
            to_worker,
            from_worker,
            worker: Some(worker),
            free: heapless::Vec::new(),
            delta: Some(first_delta),
            install: None,
            next_look_ns: 0,
            svc: ServiceCounters::default(),
            info: None,
            own,
            allow,
            now_ns,
        })
    }

    /// The run's start and real-time set-up, for status replies (set-up
    /// time: allocates).
    pub fn set_run_info(&mut self, started_ns: u64, rt: Option<takt_scheduler::rt::RtReport>) {
        self.info = Some(Box::new(RunInfo { started_ns, rt }));
    }

    /// Released frames get launch times, decided `lead_ns` ahead, on the
    /// device's clock as `clock` maps them.
    pub fn set_launch_lead(&mut self, lead_ns: Option<u64>, clock: &SchedClock) {
        self.iface.set_launch_lead(lead_ns, clock);
    }

    /// Another protocol's frame holds the wire until `t_ns`: frames
    /// released later start after it.
    pub fn wire_busy_until(&mut self, t_ns: u64) {
        self.iface.wire_busy_until(t_ns);
    }

    /// Record a metric value for the next status reply (the loop records
    /// it in its own statistics too).
    #[inline]
    pub fn record(&mut self, stream: usize, kind: MetricKind, value_ns: i64) {
        if let Some(s) = self.delta.as_mut().and_then(|d| d.get_mut(stream)) {
            s.metric_mut(kind).record(value_ns);
        }
    }

    /// A received frame that is not a stream frame (listener).
    pub fn feed(&mut self, frame: RxFrame, dev: &mut dyn RingDevice) {
        self.iface.feed(frame, dev);
    }

    /// When the control plane next wants [`service`](Self::service) called.
    /// That is smoltcp's next timer, or the next look for the worker's
    /// replies.
    pub fn next_wake(&mut self, now_ns: u64, schedule: &Schedule) -> u64 {
        let at = self.iface.poll_at(now_ns, schedule).unwrap_or(u64::MAX);
        at.min(self.next_look_ns)
    }

    /// Frames fed and not processed yet.
    pub fn fed(&self) -> usize {
        self.iface.fed()
    }

    /// Receive, process, answer: smoltcp's work, requests to the worker,
    /// the worker's replies out. `stats` and `cycles` are the loop's own,
    /// copied for a status request.
    pub fn service(
        &mut self,
        now_ns: u64,
        dev: &mut dyn RingDevice,
        schedule: &Schedule,
        stats: &[StreamStats],
        cycles: u64,
    ) {
        self.now_ns = now_ns;
        self.take_from_worker();
        self.iface.poll_fed(now_ns, dev, schedule);
        self.next_look_ns = now_ns.saturating_add(RX_POLL_INTERVAL_NS);
        let mut took = false;
        while self.take_request(now_ns, dev, stats, cycles) {
            took = true;
        }
        if took {
            // Nothing to send yet (the worker answers), but a full socket
            // buffer frees up only when smoltcp runs.
            self.iface.poll_fed(now_ns, dev, schedule);
        }
    }

    /// The plan of an accepted schedule change, for the talker to resume
    /// and swap with its own; then [`plan_installed`](Self::plan_installed).
    pub fn pending_plan(&mut self) -> Option<&mut Plan> {
        self.install.as_mut().and_then(|j| j.plan.as_mut())
    }

    /// The talker swapped plans (the old one is now in the job, and goes
    /// to the worker to be dropped): send the reply.
    pub fn plan_installed(&mut self) {
        if let Some(job) = self.install.take() {
            self.svc.schedule_changes += 1;
            self.send_reply(job);
        }
    }

    /// The talker could not take the pending plan: reply with `reason`
    /// (a JSON object) instead of the acceptance.
    pub fn plan_refused(&mut self, reason: &[u8]) {
        if let Some(mut job) = self.install.take() {
            self.svc.refused.count(Refusal::Invalid);
            job.set_reply(reason);
            self.send_reply(job);
        }
    }

    /// Totals for the final report.
    pub fn report(&self) -> ControlReport {
        service::control_report(self.address.clone(), &self.iface.counters(), &self.svc)
    }

    pub fn wire_free_at_ns(&self) -> u64 {
        self.iface.wire_free_at_ns()
    }

    /// Stop the worker (after the run; allocates and joins).
    pub fn finish(mut self) -> ControlReport {
        let report = self.report();
        let worker = self.worker.take();
        drop(self);
        if let Some(w) = worker {
            w.join();
        }
        report
    }

    fn take_from_worker(&mut self) {
        // One plan at a time, in the order accepted: the rest wait in the
        // channel until the talker has installed this one.
        while self.install.is_none() {
            match self.from_worker.try_recv() {
                Ok(mut job) => match job.stage {
                    Stage::Reply if job.plan.is_some() => self.install = Some(job),
                    Stage::Reply => {
                        if let Some(r) = job.refusal.take() {
                            self.svc.refused.count(r);
                        }
                        if job.silent {
                            job.stage = Stage::Done;
                            self.give_back(job);
                        } else {
                            self.send_reply(job);
                        }
                    }
                    _ => {
                        if let Err(job) = self.free.push(job) {
                            // JOBS jobs exist and the stack holds JOBS:
                            // cannot happen; keep it circulating.
                            self.give_back(job);
                        }
                    }
                },
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }

    /// One datagram from the service socket into a free job and on to
    /// the worker (or refused here). False when there was none.
    fn take_request(
        &mut self,
        now_ns: u64,
        dev: &mut dyn RingDevice,
        stats: &[StreamStats],
        cycles: u64,
    ) -> bool {
        let (own, allow) = (self.own, self.allow);
        let allowed = |from: &IpEndpoint| match from.addr {
            IpAddress::Ipv4(a) => allow.contains(a),
        };
        let (from, len, oversize) = match self.iface.take_oversize() {
            Some((from, len)) => (from, len, true),
            None => {
                let Some((from, to)) = self.iface.udp_peek_to() else {
                    return false;
                };
                // Who sent it and to what, checked before a job is spent.
                let refusal = if to != Some(IpAddress::Ipv4(own)) {
                    Some(Refusal::NotUnicast)
                } else if !allowed(&from) {
                    Some(Refusal::NotAllowed)
                } else {
                    None
                };
                if let Some(r) = refusal {
                    self.iface.udp_recv(|_, _| ());
                    self.svc.requests += 1;
                    self.svc.refused.count(r);
                    return true;
                }
                (from, 0, false)
            }
        };
        self.svc.requests += 1;
        if oversize && !allowed(&from) {
            self.svc.refused.count(Refusal::NotAllowed);
            return true;
        }
        // A status request wants the job carrying the spare metric set.
        let pick = self
            .free
            .iter()
            .position(|j| j.delta.is_some())
            .unwrap_or(0);
        if self.free.is_empty() {
            if !oversize {
                self.iface.udp_recv(|_, _| ());
            }
            self.svc.requests_dropped += 1;
            return true;
        }
        let mut job = self.free.swap_remove(pick);
        if oversize {
            job.set_oversize(len, from);
        } else {
            // Peeked above: there is one.
            self.iface
                .udp_recv(|data, peer| job.set_request(data, peer));
        }
        if let Some(info) = self.info.take() {
            job.info = Some(info);
        }
        if job.is_status() {
            if let (Some(spare), Some(active)) = (job.delta.as_mut(), self.delta.as_mut()) {
                // The recorded set goes to the worker, the empty one records.
                std::mem::swap(spare, active);
            }
            let snap = &mut job.snapshot;
            for (c, s) in snap.counts.iter_mut().zip(stats) {
                *c = service::Counts::of(s);
            }
            snap.cycles = cycles;
            snap.taken_ns = now_ns;
            snap.device = Some(dev.counters());
            snap.control = self.iface.counters();
            snap.service = self.svc;
        }
        job.stage = Stage::Request;
        self.give_back(job);
        true
    }

    fn send_reply(&mut self, mut job: Box<Job>) {
        if !self.iface.reply_send(&job.reply, job.peer, self.now_ns) {
            self.svc.replies_dropped += 1;
        }
        job.stage = Stage::Done;
        self.give_back(job);
    }

    /// To the worker. The channel holds every job there is, so it has
    /// room; if the worker is gone the job is leaked rather than freed on
    /// the data path (that happens only when the worker thread died).
    fn give_back(&mut self, job: Box<Job>) {
        if let Err(e) = self.to_worker.try_send(job) {
            let job = match e {
                std::sync::mpsc::TrySendError::Full(j)
                | std::sync::mpsc::TrySendError::Disconnected(j) => j,
            };
            std::mem::forget(job);
        }
    }
}
