//! The UDP service's slow half: a worker thread that answers status
//! requests and validates schedule changes, so the real-time thread only
//! moves pre-allocated [`Job`]s back and forth.
//!
//! A job goes round: worker (free) -> data-path thread, which fills it with
//! a request and a snapshot of the counters -> worker, which writes the
//! reply (and, for an accepted schedule, a ready-built [`Plan`]) -> data-path
//! thread, which installs the plan and sends the reply -> worker, which
//! drops what the data path must not free (the old plan) and hands the job
//! out again. The channels are bounded (`sync_channel`), so the data path's
//! `try_send` / `try_recv` never allocate.

use crate::control::auth::{self, Key, ReplayGuard};
use crate::control::refusal::{Refusal, Refusals};
use crate::control::ControlCounters;
use crate::plan::{Plan, Until};
use crate::stats::{json_line, ControlReport, RunStats, StreamStats};
use serde_json::json;
use smoltcp::wire::IpEndpoint;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use takt_drivers::Counters;
use takt_scheduler::{ClockId, Schedule};

/// Largest request accepted (a schedule file); larger ones are refused.
pub const MAX_REQUEST: usize = 8192;
/// Largest reply (a status report of many streams): what smoltcp can
/// fragment in one datagram, less the UDP and IP headers.
pub const MAX_REPLY: usize = 16384 - 28;
/// Jobs in circulation: requests in flight at once.
pub const JOBS: usize = 4;
/// An unsigned request's reply is at most this many times its size...
pub const REPLY_FACTOR: usize = 3;
/// ...or this many bytes, whichever is more (room for a short error): a
/// forged request cannot make the service send much more than it got.
pub const MIN_REPLY_ALLOWANCE: usize = 256;
/// Reply bytes `pad_to` leaves room for beyond the reply it was computed
/// from (counters and times that lengthen by the next request).
pub const PAD_SLACK: usize = 512;

/// A stream's counters at the moment of a status request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub frames_sent: u64,
    pub frames_received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub late: u64,
    pub wrong_vlan: u64,
}

impl Counts {
    pub fn of(s: &StreamStats) -> Self {
        Counts {
            frames_sent: s.frames_sent,
            frames_received: s.frames_received,
            lost: s.lost,
            duplicates: s.duplicates,
            reordered: s.reordered,
            late: s.late,
            wrong_vlan: s.wrong_vlan,
        }
    }

    fn apply(&self, s: &mut StreamStats) {
        s.frames_sent = self.frames_sent;
        s.frames_received = self.frames_received;
        s.lost = self.lost;
        s.duplicates = self.duplicates;
        s.reordered = self.reordered;
        s.late = self.late;
        s.wrong_vlan = self.wrong_vlan;
    }
}

/// The data path's state when it took a request.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// One per stream, sized at set-up.
    pub counts: Vec<Counts>,
    pub cycles: u64,
    pub taken_ns: u64,
    pub device: Option<Counters>,
    pub control: ControlCounters,
    pub service: ServiceCounters,
}

/// Where a job is in its round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Empty, with the data path.
    Free,
    /// A request for the worker.
    Request,
    /// The worker's reply, for the data path to send.
    Reply,
    /// Sent: back to the worker to be cleared.
    Done,
}

/// One request's memory, allocated once.
pub struct Job {
    pub stage: Stage,
    pub peer: IpEndpoint,
    request: Box<[u8]>,
    request_len: usize,
    /// Length of a datagram too large to take (0: it fitted).
    oversize: usize,
    pub reply: Vec<u8>,
    /// Why the worker refused the request (counted by the data path).
    pub refusal: Option<Refusal>,
    /// No reply is to be sent.
    pub silent: bool,
    pub snapshot: Snapshot,
    /// Metrics recorded since the last status request (swapped in by the
    /// data path; merged and cleared by the worker). Only some jobs carry
    /// one: the data path keeps one set recording.
    pub delta: Option<Box<[StreamStats]>>,
    /// An accepted schedule's plan on the way in, or the replaced plan on
    /// the way out (dropped by the worker).
    pub plan: Option<Plan>,
    /// The run's start and real-time set-up, known only once the run
    /// starts: carried to the worker by the first request.
    pub info: Option<Box<RunInfo>>,
}

/// What the report says of the run as a whole, set once it starts.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    pub started_ns: u64,
    pub rt: Option<takt_scheduler::rt::RtReport>,
}

impl Job {
    fn new(streams: usize) -> Box<Job> {
        Box::new(Job {
            stage: Stage::Free,
            peer: IpEndpoint::new(smoltcp::wire::IpAddress::v4(0, 0, 0, 0), 0),
            request: vec![0; MAX_REQUEST].into_boxed_slice(),
            request_len: 0,
            oversize: 0,
            reply: Vec::with_capacity(MAX_REPLY),
            refusal: None,
            silent: false,
            snapshot: Snapshot {
                counts: vec![Counts::default(); streams],
                ..Snapshot::default()
            },
            delta: None,
            plan: None,
            info: None,
        })
    }

    /// Take a datagram (the data path: copies, never allocates).
    pub fn set_request(&mut self, data: &[u8], peer: IpEndpoint) {
        self.peer = peer;
        if data.len() > self.request.len() {
            self.request_len = 0;
            self.oversize = data.len();
        } else {
            self.request[..data.len()].copy_from_slice(data);
            self.request_len = data.len();
            self.oversize = 0;
        }
    }

    /// A request of `len` bytes seen by its first fragment (its bytes
    /// never arrive): answered with the oversize error.
    pub fn set_oversize(&mut self, len: usize, peer: IpEndpoint) {
        self.peer = peer;
        self.request_len = 0;
        self.oversize = len.max(MAX_REQUEST + 1);
    }

    pub fn request(&self) -> &[u8] {
        &self.request[..self.request_len]
    }

    /// Whether the request asks for a status report (so the data path
    /// hands over its recent metrics with it).
    pub fn is_status(&self) -> bool {
        if self.oversize > 0 {
            return false;
        }
        let req = self.request();
        let inner = match auth::parse(req) {
            Some(signed) => signed.request,
            None => req,
        };
        command(inner).0 == "status"
    }

    /// Replace the reply with `text` without growing it (the data path
    /// reports its own refusals this way).
    pub fn set_reply(&mut self, text: &[u8]) {
        self.reply.clear();
        let n = text.len().min(self.reply.capacity());
        self.reply.extend_from_slice(&text[..n]);
    }
}

/// The request's first line (trimmed) and the rest.
fn command(req: &[u8]) -> (&str, &[u8]) {
    let (head, body) = match req.iter().position(|&b| b == b'\n') {
        Some(i) => (&req[..i], &req[i + 1..]),
        None => (req, &req[req.len()..]),
    };
    (std::str::from_utf8(head).unwrap_or("").trim(), body)
}

/// A schedule change the worker was asked to validate and accepted.
pub struct Accepted {
    /// Oper = the list in force now, admin = the new list from the switch.
    pub schedule: Arc<Schedule>,
    /// When the run ends (as the running plan's).
    pub until: Until,
    pub switch_at_ns: u64,
    pub requested_base_ns: u64,
}

/// Validates the text of a schedule file sent in a change request, given
/// the time now: the error is the whole `request:LINE:COL: error: ...`
/// message.
pub type ChangeValidator = Box<dyn FnMut(&str, u64) -> Result<Accepted, String> + Send>;

/// Which end this service answers for.
pub enum Role {
    /// Accepts schedule changes.
    Talker { validate: ChangeValidator },
    /// Refuses schedule changes (it sends nothing on a schedule).
    Listener,
}

/// What the worker needs, given at set-up.
pub struct ServiceSetup {
    /// The report's fixed parts (device, backend, clock, start, rt) and
    /// one entry per stream; the worker keeps the totals in it.
    pub report: RunStats,
    pub clock: ClockId,
    pub role: Role,
    /// The control plane's address, as the report shows it.
    pub address: String,
    /// The address and port requests are sent to (what signatures cover).
    pub endpoint: (std::net::Ipv4Addr, u16),
    /// The pre-shared key; `None`: read-only (schedule changes refused).
    pub key: Option<Key>,
}

/// The data path's ends of the two channels, and the jobs' memory.
pub struct ServiceEnds {
    pub to_worker: SyncSender<Box<Job>>,
    pub from_worker: Receiver<Box<Job>>,
    /// The metric set the data path records into first.
    pub first_delta: Box<[StreamStats]>,
}

/// The worker thread; joined on drop of its sender (the data path's end).
pub struct ServiceWorker {
    handle: Option<JoinHandle<()>>,
}

impl ServiceWorker {
    /// Wait for the worker to finish (after the data path dropped its ends).
    pub fn join(mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Allocate the jobs and start the worker thread.
pub fn start(setup: ServiceSetup) -> std::io::Result<(ServiceEnds, ServiceWorker)> {
    let streams = setup.report.streams.len();
    let delta = || -> Box<[StreamStats]> {
        setup
            .report
            .streams
            .iter()
            .map(|s| StreamStats::new(s.name.clone()))
            .collect()
    };
    let (to_worker, worker_rx) = sync_channel::<Box<Job>>(JOBS);
    let (worker_tx, from_worker) = sync_channel::<Box<Job>>(JOBS);
    let first_delta = delta();
    let mut jobs: Vec<Box<Job>> = (0..JOBS).map(|_| Job::new(streams)).collect();
    jobs[0].delta = Some(delta());
    for job in jobs {
        // Capacity JOBS, JOBS sent, nobody receiving yet: cannot block.
        let _ = worker_tx.send(job);
    }
    let mut worker = Worker {
        setup,
        replay: ReplayGuard::new(auth::realtime_ns()),
    };
    let handle = std::thread::Builder::new()
        .name("takt-control".into())
        .spawn(move || {
            while let Ok(mut job) = worker_rx.recv() {
                match job.stage {
                    Stage::Request => {
                        worker.answer(&mut job);
                        job.stage = Stage::Reply;
                    }
                    _ => {
                        job.plan = None;
                        job.stage = Stage::Free;
                    }
                }
                if worker_tx.send(job).is_err() {
                    break;
                }
            }
        })?;
    Ok((
        ServiceEnds {
            to_worker,
            from_worker,
            first_delta,
        },
        ServiceWorker {
            handle: Some(handle),
        },
    ))
}

struct Worker {
    setup: ServiceSetup,
    replay: ReplayGuard,
}

/// A request after its signature (if any) was checked.
enum Parsed {
    Status,
    Schedule(Vec<u8>),
}

impl Worker {
    fn answer(&mut self, job: &mut Job) {
        if let Some(info) = job.info.take() {
            self.setup.report.started_ns = info.started_ns;
            self.setup.report.rt = info.rt;
        }
        job.refusal = None;
        job.silent = false;
        job.reply.clear();
        if job.oversize > 0 {
            job.refusal = Some(Refusal::Oversize);
            let e = json!({ "error": format!(
                "request of {} bytes is larger than the {MAX_REQUEST} accepted: \
                 shorten the schedule file (comments too count)", job.oversize) });
            job.reply.extend_from_slice(e.to_string().as_bytes());
            return;
        }
        let (parsed, signed) = match self.parse(job.request()) {
            Ok(p) => p,
            Err(r) => {
                job.refusal = Some(r);
                job.silent = true;
                return;
            }
        };
        let reply = match parsed {
            Parsed::Status => self.status(job),
            Parsed::Schedule(body) => self.schedule(job, &body),
        };
        let allowance = (REPLY_FACTOR * job.request_len).max(MIN_REPLY_ALLOWANCE);
        let reply = if reply.len() > MAX_REPLY {
            json!({ "error": format!(
                "the reply would be {} bytes, more than the {MAX_REPLY} one datagram carries: \
                 use --report json at the end of the run instead", reply.len()) })
            .to_string()
        } else if !signed && reply.len() > allowance {
            // Never send much more than came in: a forged sender address
            // must not turn the service into an amplifier.
            job.refusal = Some(Refusal::PadRequest);
            // With room for the counters to grow by the next request.
            let pad_to = (reply.len() + PAD_SLACK).div_ceil(REPLY_FACTOR);
            json!({ "error": format!(
                "the reply is {} bytes: pad the request to at least {pad_to} bytes \
                 (replies are at most {REPLY_FACTOR}x the request)", reply.len()),
                "pad_to": pad_to })
            .to_string()
        } else {
            reply
        };
        job.reply.extend_from_slice(reply.as_bytes());
    }

    /// The request, or why it gets no reply at all. `true` with it: it
    /// was signed with the key and is fresh.
    fn parse(&mut self, req: &[u8]) -> Result<(Parsed, bool), Refusal> {
        let signed = req.starts_with(auth::AUTH_WORD.as_bytes())
            && req.get(auth::AUTH_WORD.len()) == Some(&b' ');
        let inner = if signed {
            let s = auth::parse(req).ok_or(Refusal::Malformed)?;
            let key = self.setup.key.as_ref().ok_or(Refusal::ReadOnly)?;
            let (ip, port) = self.setup.endpoint;
            if !key.verify(ip, port, s.counter, s.request, &s.tag) {
                return Err(Refusal::BadSignature);
            }
            self.replay
                .check(s.counter, auth::realtime_ns())
                .map_err(|_| Refusal::Replayed)?;
            s.request
        } else {
            req
        };
        let (cmd, body) = command(inner);
        match cmd {
            "status" => Ok((Parsed::Status, signed)),
            "schedule" if signed => Ok((Parsed::Schedule(body.to_vec()), true)),
            "schedule" if self.setup.key.is_none() => Err(Refusal::ReadOnly),
            "schedule" => Err(Refusal::Unsigned),
            _ => Err(Refusal::Malformed),
        }
    }

    fn status(&mut self, job: &mut Job) -> String {
        let report = &mut self.setup.report;
        if let Some(delta) = &mut job.delta {
            for (total, d) in report.streams.iter_mut().zip(delta.iter_mut()) {
                total.tx_error_ns.merge(&d.tx_error_ns);
                total.latency_ns.merge(&d.latency_ns);
                d.reset();
            }
        }
        let snap = &job.snapshot;
        for (s, c) in report.streams.iter_mut().zip(&snap.counts) {
            c.apply(s);
        }
        report.cycles = snap.cycles;
        report.elapsed_ns = snap.taken_ns.saturating_sub(report.started_ns);
        report.device_counters = snap.device;
        report.control = Some(control_report(
            self.setup.address.clone(),
            &snap.control,
            &snap.service,
        ));
        json_line(report)
    }

    fn schedule(&mut self, job: &mut Job, body: &[u8]) -> String {
        let Role::Talker { validate } = &mut self.setup.role else {
            return json!({ "accepted": false, "error":
                "this is a listener: it sends on no schedule; send the change to the talker" })
            .to_string();
        };
        let Ok(text) = std::str::from_utf8(body) else {
            return json!({ "accepted": false, "error":
                "request:1:1: error: the schedule is not UTF-8 text: send it as UTF-8" })
            .to_string();
        };
        match validate(text, self.setup.clock.now_ns()) {
            Ok(a) => {
                job.plan = Some(Plan::new(a.schedule, a.until));
                json!({ "accepted": true, "switch_at_ns": a.switch_at_ns,
                        "requested_base_ns": a.requested_base_ns })
                .to_string()
            }
            Err(e) => {
                job.refusal = Some(Refusal::Invalid);
                json!({ "accepted": false, "error": e }).to_string()
            }
        }
    }
}

/// Totals of the control plane for reports.
pub fn control_report(
    address: String,
    c: &ControlCounters,
    svc: &ServiceCounters,
) -> ControlReport {
    ControlReport {
        address,
        rx_frames: c.rx_frames,
        tx_frames: c.tx_frames,
        tx_queue_drops: c.tx_queue_drops,
        tx_device_drops: c.tx_device_drops,
        rx_overflow: c.rx_overflow,
        requests: svc.requests,
        requests_dropped: svc.requests_dropped,
        replies_dropped: svc.replies_dropped,
        schedule_changes: svc.schedule_changes,
        replies_expired: c.replies_expired,
        refused: {
            let mut r = svc.refused;
            r.oversize = r.oversize.saturating_add(c.oversize_unanswered);
            r
        },
    }
}

/// Counts of the UDP service kept by the data path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceCounters {
    pub requests: u64,
    /// No job free (too many requests at once): the client retries.
    pub requests_dropped: u64,
    /// The socket's send buffer was full.
    pub replies_dropped: u64,
    pub schedule_changes: u64,
    pub refused: Refusals,
}
