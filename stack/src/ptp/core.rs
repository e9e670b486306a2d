//! The embedded PTP port's sans-I/O core: statime 0.4's `PtpInstance` and
//! `Port` (state machine, BMCA, servo, message serialisation) driven by
//! frames and times in, frames and clock adjustments out. The owner (a
//! worker thread) does the I/O: it hands over received PTP frames with
//! their receive time on the disciplined clock, sends what `pop_tx` gives,
//! returns transmit stamps, and calls `on_timers` at `next_deadline`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rand::rngs::SmallRng;
use rand::SeedableRng;
use statime::config::{
    AcceptAnyMaster, ClockIdentity, DelayMechanism, InstanceConfig, PortConfig, PtpMinorVersion,
    SdoId, TimePropertiesDS, TimeSource,
};
use statime::observability::port::PortState;
use statime::port::{NoForwardedTLVs, Port, PortAction, PortActionIterator, Running};
use statime::time::{Duration, Interval};
use statime::{PtpInstance, PtpInstanceState};
use takt_scheduler::clock::DisciplinedClock;

use super::clock::{duration_ns, to_time, PortClock};
use super::filter::{FilterConfig, RecordingFilter, Sample, Servo, SharedSink};
use super::frame::{self, OutFrame, PortId, Rejected};
use super::lock::{LockJudge, LOCK_RUN};
use super::profile::{master_timescale, msg_type, OutgoingFixes, Profile, Timescale};
use super::stamps::StampTable;
use super::status::{state_name, CoreCounters, CoreStatus};
use super::timers::{duration_to_ns, Timer, Timers};
use super::SyncStatus;
use crate::stats::{OffsetStats, PtpReport};

/// Which states the port may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// slave_only: never MASTER.
    Slave,
    /// master_only: MASTER from the start, whatever else is on the link.
    Master,
    /// The BMCA decides.
    Auto,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Slave => "slave",
            Role::Master => "master",
            Role::Auto => "auto",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CoreConfig {
    pub profile: Profile,
    pub role: Role,
    pub domain: u8,
    pub priority1: u8,
    pub priority2: u8,
    /// log2 s; intervals are kept within 2^-10 .. 2^10 s.
    pub log_sync_interval: i8,
    pub log_announce_interval: i8,
    /// Pdelay_Req (gPTP) or Delay_Req (1588) interval, log2 s.
    pub log_delay_interval: i8,
    /// Announce intervals without an Announce before the master is gone
    /// (at least 1).
    pub announce_receipt_timeout: u8,
    /// Source MAC of every frame; the clock identity is its EUI-64.
    pub mac: [u8; 6],
    /// |offset| at or below which a slave counts as locked.
    pub lock_threshold_ns: u64,
    /// The kernel's TAI-UTC offset, s (adjtimex `tai`; the caller reads
    /// it): picks the timescale this port announces as master
    /// (`profile::master_timescale`).
    pub kernel_tai_offset_s: i32,
    pub servo: Servo,
}

impl CoreConfig {
    /// ptp4l's values for the profile (configs/gPTP.cfg; default.cfg for
    /// 1588), lock threshold 1 us, Kalman servo, no known TAI offset.
    pub fn new(profile: Profile, role: Role, mac: [u8; 6]) -> Self {
        let (log_sync_interval, log_announce_interval, priority) = match profile {
            Profile::Gptp => (-3, 0, 248),
            Profile::E2e1588 => (0, 1, 128),
        };
        CoreConfig {
            profile,
            role,
            domain: 0,
            priority1: priority,
            priority2: priority,
            log_sync_interval,
            log_announce_interval,
            log_delay_interval: 0,
            announce_receipt_timeout: 3,
            mac,
            lock_threshold_ns: 1_000,
            kernel_tai_offset_s: 0,
            servo: Servo::Kalman,
        }
    }

    /// The clock identity: EUI-64 from the MAC (ff:fe in the middle).
    pub fn clock_identity(&self) -> [u8; 8] {
        let m = self.mac;
        [m[0], m[1], m[2], 0xFF, 0xFE, m[3], m[4], m[5]]
    }
}

const LOG_INTERVAL_RANGE: std::ops::RangeInclusive<i8> = -10..=10;
/// Frames waiting for `pop_tx`.
const TX_QUEUE: usize = 16;
/// Offsets waiting for `take_offsets` (two minutes at 8 syncs a second).
const OFFSET_BACKLOG: usize = 1024;
/// How long a Sync waits, each time, for the last Sync's stamp.
const SYNC_HOLD: core::time::Duration = core::time::Duration::from_millis(1);
/// Sync intervals a transmit stamp may take.
const STAMP_TIMEOUT_SYNCS: u64 = 4;
/// Timers run by one `on_timers` call at most (a zero-length timer that
/// keeps re-arming itself must not spin).
const MAX_TIMERS_PER_CALL: usize = 32;

type State = RwLock<PtpInstanceState>;
type Instance = PtpInstance<RecordingFilter, State>;
type RunningPort =
    Port<'static, Running, AcceptAnyMaster, SmallRng, PortClock, RecordingFilter, State>;

/// See the module comment.
pub struct PtpCore {
    cfg: CoreConfig,
    clock: Arc<DisciplinedClock>,
    instance: &'static Instance,
    /// Always `Some` between calls (taken only across a BMCA run).
    port: Option<RunningPort>,
    own: PortId,
    io: Io,
    stamp_timeout_ns: u64,
    /// How long a Sync waits for the last one's stamp at most.
    sync_hold_ns: u64,
    sink: SharedSink,
    refused_steps: Arc<AtomicU64>,
    offsets: heapless::Deque<Sample, OFFSET_BACKLOG>,
    offset_stats: OffsetStats,
    judge: LockJudge,
    state: PortState,
    parent: Option<PortId>,
    locked: bool,
    last_offset_ns: Option<i64>,
    start_mono_ns: u64,
    first_lock_mono_ns: Option<u64>,
    sync_losses: u64,
    sync_status: Option<Arc<SyncStatus>>,
}

impl std::fmt::Debug for PtpCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtpCore")
            .field("cfg", &self.cfg)
            .field("status", &self.status())
            .finish()
    }
}

fn interval(log: i8) -> Interval {
    Interval::from_log_2(log.clamp(*LOG_INTERVAL_RANGE.start(), *LOG_INTERVAL_RANGE.end()))
}

/// Where the port's actions go: timers, stamps, the transmit queue and the
/// counters (a field apart from the port, so both can be borrowed at once).
struct Io {
    profile: Profile,
    mac: [u8; 6],
    fixes: OutgoingFixes,
    timers: Timers,
    stamps: StampTable,
    tx: heapless::Deque<OutFrame, TX_QUEUE>,
    counters: CoreCounters,
}

impl Io {
    fn apply(&mut self, actions: PortActionIterator<'_>, now: u64) {
        for action in actions {
            match action {
                PortAction::SendEvent {
                    context,
                    data,
                    link_local,
                } => {
                    let sync = data.first().is_some_and(|b| b & 0x0F == msg_type::SYNC);
                    let tag = self.stamps.insert(context, now, sync);
                    if !self.send(data, link_local, Some(tag)) {
                        // It never leaves: no stamp to wait for.
                        let _ = self.stamps.take(tag);
                    }
                }
                PortAction::SendGeneral { data, link_local } => {
                    self.send(data, link_local, None);
                }
                PortAction::ResetAnnounceTimer { duration } => {
                    self.timers.set(Timer::Announce, now, duration)
                }
                PortAction::ResetSyncTimer { duration } => {
                    self.timers.set(Timer::Sync, now, duration)
                }
                PortAction::ResetDelayRequestTimer { duration } => {
                    self.timers.set(Timer::DelayRequest, now, duration)
                }
                PortAction::ResetAnnounceReceiptTimer { duration } => {
                    self.timers.set(Timer::AnnounceReceipt, now, duration)
                }
                PortAction::ResetFilterUpdateTimer { duration } => {
                    self.timers.set(Timer::FilterUpdate, now, duration)
                }
                // One port: there is no other port to forward TLVs to.
                PortAction::ForwardTLV { .. } => {}
            }
        }
    }

    fn send(&mut self, data: &[u8], link_local: bool, tag: Option<u32>) -> bool {
        let dst = self.profile.destination(link_local);
        let queued = OutFrame::build(dst, self.mac, data, &self.fixes, tag)
            .is_some_and(|f| self.tx.push_back(f).is_ok());
        if !queued {
            self.counters.tx_dropped += 1;
        }
        queued
    }
}

impl PtpCore {
    /// A port on `clock`, LISTENING (MASTER at once for `Role::Master`);
    /// `seed` makes its timer randomisation reproducible.
    pub fn new(cfg: CoreConfig, clock: Arc<DisciplinedClock>, now_mono_ns: u64, seed: u64) -> Self {
        let profile = cfg.profile;
        let mac = cfg.mac;
        let identity = cfg.clock_identity();
        let instance: &'static Instance = Box::leak(Box::new(PtpInstance::new(
            InstanceConfig {
                clock_identity: ClockIdentity(identity),
                // statime 0.4 gives a slave-only clock class 248, not 255
                // (IEEE 1588 8.2.1.4.2): with a better variance than a
                // ptp4l grandmaster's it would compare better and never
                // take it as master. priority1 255 is what 802.1AS gives a
                // system that is not grandmaster-capable (8.6.2.1).
                priority_1: if cfg.role == Role::Slave {
                    u8::MAX
                } else {
                    cfg.priority1
                },
                priority_2: cfg.priority2,
                domain_number: cfg.domain,
                sdo_id: SdoId::try_from(profile.sdo_id()).unwrap_or_default(),
                slave_only: cfg.role == Role::Slave,
                // 802.1AS announces carry the path trace TLV (10.6.3.3.4).
                path_trace: profile == Profile::Gptp,
            },
            TimePropertiesDS::new_arbitrary_time(false, false, TimeSource::InternalOscillator),
        )));
        let delay = interval(cfg.log_delay_interval);
        let sink = SharedSink::default();
        let refused_steps = Arc::new(AtomicU64::new(0));
        let port = instance.add_port(
            PortConfig {
                acceptable_master_list: AcceptAnyMaster,
                delay_mechanism: match profile {
                    Profile::Gptp => DelayMechanism::P2P { interval: delay },
                    Profile::E2e1588 => DelayMechanism::E2E { interval: delay },
                },
                announce_interval: interval(cfg.log_announce_interval),
                announce_receipt_timeout: cfg.announce_receipt_timeout.max(1),
                sync_interval: interval(cfg.log_sync_interval),
                master_only: cfg.role == Role::Master,
                delay_asymmetry: Duration::ZERO,
                minor_ptp_version: PtpMinorVersion::One,
            },
            FilterConfig {
                servo: cfg.servo,
                sink: Arc::clone(&sink),
            },
            PortClock::new(Arc::clone(&clock), Arc::clone(&refused_steps)),
            SmallRng::seed_from_u64(seed),
        );
        let (port, first) = port.end_bmca();
        let fixes = OutgoingFixes {
            profile,
            log_sync_interval: interval(cfg.log_sync_interval).as_log_2(),
            log_announce_interval: interval(cfg.log_announce_interval).as_log_2(),
            log_delay_interval: delay.as_log_2(),
            timescale: master_timescale(cfg.kernel_tai_offset_s),
        };
        let stamp_timeout_ns = duration_to_ns(interval(cfg.log_sync_interval).as_core_duration())
            .saturating_mul(STAMP_TIMEOUT_SYNCS);
        let mut core = PtpCore {
            own: PortId {
                clock: identity,
                port: port.port_ds().port_identity.port_number,
            },
            judge: LockJudge::new(cfg.lock_threshold_ns, LOCK_RUN),
            cfg,
            clock,
            instance,
            port: Some(port),
            io: Io {
                profile,
                mac,
                fixes,
                timers: Timers::default(),
                stamps: StampTable::default(),
                tx: heapless::Deque::new(),
                counters: CoreCounters::default(),
            },
            stamp_timeout_ns,
            sync_hold_ns: stamp_timeout_ns / STAMP_TIMEOUT_SYNCS * 2,
            sink,
            refused_steps,
            offsets: heapless::Deque::new(),
            offset_stats: OffsetStats::new(),
            state: PortState::Listening,
            parent: None,
            locked: false,
            last_offset_ns: None,
            start_mono_ns: now_mono_ns,
            first_lock_mono_ns: None,
            sync_losses: 0,
            sync_status: None,
        };
        core.io.apply(first, now_mono_ns);
        core.io
            .timers
            .set(Timer::Bmca, now_mono_ns, instance.bmca_interval());
        if profile.peer_delay() {
            // Every 802.1AS port measures its link from the start, in any
            // state (statime itself only starts on becoming SLAVE).
            core.io
                .timers
                .set(Timer::DelayRequest, now_mono_ns, core::time::Duration::ZERO);
        }
        if core.cfg.role == Role::Master {
            if let Some(port) = core.port.as_mut() {
                let actions = port.handle_announce_receipt_timer();
                core.io.apply(actions, now_mono_ns);
            }
            core.io.timers.stop(Timer::AnnounceReceipt);
        }
        core.after(now_mono_ns);
        core
    }

    /// Hands a received frame (untagged or with one 802.1Q tag) to the
    /// port; `rx_ns` is its receive time on the disciplined clock at the
    /// message timestamp point (used for event messages). `Err` says why it
    /// was refused; refusals are counted.
    pub fn on_frame(&mut self, frame: &[u8], rx_ns: u64, now_mono_ns: u64) -> Result<(), Rejected> {
        let result = self.receive(frame, rx_ns, now_mono_ns);
        if let Err(reason) = result {
            self.io.counters.rejected[reason.index()] += 1;
        }
        self.after(now_mono_ns);
        result
    }

    fn receive(&mut self, data: &[u8], rx_ns: u64, now: u64) -> Result<(), Rejected> {
        let f = frame::parse(data)?;
        let profile = self.cfg.profile;
        if f.sdo_id != profile.sdo_id() {
            return Err(Rejected::WrongSdo);
        }
        if f.domain != self.cfg.domain {
            return Err(Rejected::WrongDomain);
        }
        if f.src == self.cfg.mac || f.source.clock == self.own.clock {
            return Err(Rejected::Looped);
        }
        if !profile.accepts_destination(&f.dst, &self.cfg.mac) {
            return Err(Rejected::WrongDestination);
        }
        self.check_for_us(&f)?;
        self.io.counters.rx[usize::from(f.message_type)] += 1;
        let time = to_time(rx_ns);
        let is_event = f.is_event();
        if let Some(port) = self.port.as_mut() {
            let actions = if is_event {
                port.handle_event_receive(f.message, time)
            } else {
                port.handle_general_receive(f.message)
            };
            self.io.apply(actions, now);
        }
        Ok(())
    }

    /// What statime would ignore without a word is refused (and counted)
    /// here: messages of the other delay mechanism, sync messages from a
    /// port that is not the master, answers to another port's requests.
    fn check_for_us(&self, f: &frame::PtpFrame<'_>) -> Result<(), Rejected> {
        let peer_delay = self.cfg.profile.peer_delay();
        match f.message_type {
            msg_type::SIGNALING | msg_type::MANAGEMENT => Err(Rejected::Unsupported),
            msg_type::SYNC | msg_type::FOLLOW_UP => {
                if self.state == PortState::Slave && self.parent == Some(f.source) {
                    Ok(())
                } else {
                    Err(Rejected::NotFromMaster)
                }
            }
            msg_type::DELAY_RESP => {
                if peer_delay || f.requesting != Some(self.own) {
                    Err(Rejected::NotForUs)
                } else if self.state != PortState::Slave || self.parent != Some(f.source) {
                    Err(Rejected::NotFromMaster)
                } else {
                    Ok(())
                }
            }
            msg_type::DELAY_REQ if peer_delay || self.state != PortState::Master => {
                Err(Rejected::NotForUs)
            }
            msg_type::PDELAY_REQ if !peer_delay => Err(Rejected::NotForUs),
            msg_type::PDELAY_RESP | msg_type::PDELAY_RESP_FOLLOW_UP
                if !peer_delay || f.requesting != Some(self.own) =>
            {
                Err(Rejected::NotForUs)
            }
            _ => Ok(()),
        }
    }

    /// The transmit time (disciplined clock) of the frame sent with
    /// `stamp_tag` = `tag`.
    pub fn on_tx_stamp(&mut self, tag: u32, tx_ns: u64, now_mono_ns: u64) {
        match self.io.stamps.take(tag) {
            Some(context) => {
                let time = to_time(tx_ns);
                if let Some(port) = self.port.as_mut() {
                    let actions = port.handle_send_timestamp(context, time);
                    self.io.apply(actions, now_mono_ns);
                }
            }
            None => self.io.counters.tx_stamps_unknown += 1,
        }
        self.after(now_mono_ns);
    }

    /// Runs every timer that is due, and gives up on transmit stamps that
    /// are overdue.
    pub fn on_timers(&mut self, now_mono_ns: u64) {
        for _ in 0..MAX_TIMERS_PER_CALL {
            let Some(timer) = self.io.timers.take_due(now_mono_ns) else {
                break;
            };
            self.fire(timer, now_mono_ns);
        }
        if let Some(cutoff) = now_mono_ns.checked_sub(self.stamp_timeout_ns) {
            self.io.stamps.expire(cutoff);
        }
        self.io.counters.tx_stamps_missing = self.io.stamps.missing;
        self.after(now_mono_ns);
    }

    fn fire(&mut self, timer: Timer, now: u64) {
        if timer == Timer::Bmca {
            return self.run_bmca(now);
        }
        let held = self
            .io
            .stamps
            .sync_waiting_since()
            .is_some_and(|t| now.saturating_sub(t) < self.sync_hold_ns);
        if timer == Timer::Sync && held {
            // The last Sync's Follow_Up is not out yet (its stamp comes
            // late from a stalled data path): send this one after it, for
            // up to two sync intervals (a stamp that never comes is not
            // waited for longer).
            self.io.counters.syncs_held += 1;
            return self.io.timers.set(Timer::Sync, now, SYNC_HOLD);
        }
        let Some(port) = self.port.as_mut() else {
            return;
        };
        let actions = match timer {
            Timer::Announce => port.handle_announce_timer(&mut NoForwardedTLVs),
            Timer::Sync => port.handle_sync_timer(),
            Timer::DelayRequest => port.handle_delay_request_timer(),
            Timer::AnnounceReceipt => port.handle_announce_receipt_timer(),
            Timer::FilterUpdate | Timer::Bmca => port.handle_filter_update_timer(),
        };
        self.io.apply(actions, now);
    }

    /// statime's BMCA takes the port by value (`start_bmca`/`end_bmca`).
    fn run_bmca(&mut self, now: u64) {
        if let Some(port) = self.port.take() {
            let mut port = port.start_bmca();
            self.instance.bmca(&mut [&mut port]);
            let (port, actions) = port.end_bmca();
            self.port = Some(port);
            self.io.apply(actions, now);
        }
        self.io
            .timers
            .set(Timer::Bmca, now, self.instance.bmca_interval());
    }

    /// After every call: the port's state and master, the new offsets, the
    /// lock verdict.
    fn after(&mut self, now: u64) {
        let Some(port) = self.port.as_ref() else {
            return;
        };
        let state = port.port_ds().port_state;
        let parent = (state == PortState::Slave).then(|| {
            let p = self.instance.parent_ds().parent_port_identity;
            PortId {
                clock: p.clock_identity.0,
                port: p.port_number,
            }
        });
        if state != self.state || parent != self.parent {
            self.judge.reset();
        }
        self.state = state;
        self.parent = parent;

        let mut fresh: heapless::Vec<Sample, 8> = heapless::Vec::new();
        {
            let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
            sink.drain(|s| {
                let _ = fresh.push(s);
            });
            self.io.counters.offsets_dropped += std::mem::take(&mut sink.overflowed);
            self.io.counters.implausible_measurements += std::mem::take(&mut sink.implausible);
            self.io.counters.servo_resets += std::mem::take(&mut sink.servo_resets);
        }
        for s in fresh {
            self.last_offset_ns = Some(s.offset_ns);
            if self.offsets.is_full() {
                self.offsets.pop_front();
                self.io.counters.offsets_dropped += 1;
            }
            let _ = self.offsets.push_back(s);
            if state == PortState::Slave {
                self.judge.offset(s.offset_ns);
            }
            if self.first_lock_mono_ns.is_some() {
                self.offset_stats.record(s.offset_ns);
            }
        }

        let locked = match state {
            PortState::Master => true,
            PortState::Slave => self.judge.locked(),
            _ => false,
        };
        if locked != self.locked {
            self.locked = locked;
            if locked {
                self.first_lock_mono_ns.get_or_insert(now);
            } else {
                self.sync_losses += 1;
            }
            if let Some(status) = &self.sync_status {
                status.set(locked, self.clock.now_ns());
            }
        }
    }

    /// The monotonic time of the next timer (or overdue stamp).
    pub fn next_deadline(&self) -> Option<u64> {
        let stamp = self
            .io
            .stamps
            .oldest()
            .map(|t| t.saturating_add(self.stamp_timeout_ns).saturating_add(1));
        match (self.io.timers.next(), stamp) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next frame to send, in order.
    pub fn pop_tx(&mut self) -> Option<OutFrame> {
        let f = self.io.tx.pop_front()?;
        if let Some(&b) = f.message().first() {
            self.io.counters.tx[usize::from(b & 0x0F)] += 1;
        }
        Some(f)
    }

    /// Publishes every lock verdict (and the one now) to `status`, which
    /// the data path reads.
    pub fn set_sync_status(&mut self, status: Arc<SyncStatus>) {
        status.set(self.locked, self.clock.now_ns());
        self.sync_status = Some(status);
    }

    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    pub fn status(&self) -> CoreStatus {
        let slave = self.state == PortState::Slave;
        let parent_ds = self.instance.parent_ds();
        let grandmaster = matches!(
            self.state,
            PortState::Slave | PortState::Master | PortState::Passive
        )
        .then_some(parent_ds.grandmaster_identity.0);
        let master_timescale = slave.then(|| {
            let tp = self.instance.time_properties_ds();
            Timescale {
                ptp: tp.is_ptp(),
                current_utc_offset: tp.utc_offset().unwrap_or(0),
                utc_offset_valid: tp.utc_offset().is_some(),
            }
        });
        let mean_delay_ns = self
            .sink
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .mean_delay_ns;
        CoreStatus {
            port_state: state_name(self.state),
            port_identity: self.own,
            parent: self.parent,
            grandmaster,
            steps_removed: self.instance.current_ds(None).steps_removed,
            last_offset_ns: self.last_offset_ns,
            mean_delay_ns,
            freq_ppb: self.clock.adjustments().freq_ppb,
            locked: self.locked,
            master_timescale,
            stamps_waiting: self.io.stamps.waiting(),
        }
    }

    pub fn counters(&self) -> CoreCounters {
        let mut c = self.io.counters.clone();
        c.tx_stamps_missing = self.io.stamps.missing;
        c.refused_steps = self.refused_steps.load(Ordering::Relaxed);
        c
    }

    /// Every offset measured since the last call, oldest first: (time on
    /// the disciplined clock, offset from the master in ns).
    pub fn take_offsets(&mut self, mut f: impl FnMut(u64, i64)) {
        while let Some(s) = self.offsets.pop_front() {
            f(s.disc_ns, s.offset_ns);
        }
    }

    /// The `ptp` object of a run's report as far as the port knows it
    /// (`unsynced_samples` and `rx_dropped` are the data path's).
    pub fn report(&self) -> PtpReport {
        let status = self.status();
        let adj = self.clock.adjustments();
        let counters = self.counters();
        let mut report = PtpReport {
            source: "takt".into(),
            profile: Some(self.cfg.profile.name().into()),
            role: self.cfg.role.name().into(),
            port_state: status.port_state.into(),
            grandmaster: status
                .grandmaster
                .map(|g| super::status::clock_identity_string(&g)),
            mean_path_delay_ns: status.mean_delay_ns,
            freq_adj_ppb: Some(adj.freq_ppb),
            time_to_first_lock_ns: self
                .first_lock_mono_ns
                .map(|t| t.saturating_sub(self.start_mono_ns)),
            sync_losses: self.sync_losses,
            clock_steps: adj.steps,
            clock_backward_steps: adj.backward_steps,
            largest_step_ns: adj.largest_step_ns,
            rx_messages: counters.rx_total(),
            tx_messages: counters.tx_total(),
            rx_rejected: counters.rejected_total(),
            tx_dropped: counters.tx_dropped,
            tx_stamps_missing: counters.tx_stamps_missing,
            rx_rejected_by_reason: Rejected::ALL
                .iter()
                .filter(|r| counters.rejected(**r) > 0)
                .map(|r| (r.name().to_owned(), counters.rejected(*r)))
                .collect(),
            rx_by_type: by_type(&counters.rx),
            tx_by_type: by_type(&counters.tx),
            ..PtpReport::default()
        };
        report.set_offsets(&self.offset_stats);
        report
    }

    /// The estimate statime's filter keeps (offset and delay), SLAVE only.
    pub fn filter_estimate_ns(&self) -> Option<(i64, i64)> {
        let e = self.port.as_ref()?.port_current_ds_contribution()?;
        Some((duration_ns(e.offset_from_master), duration_ns(e.mean_delay)))
    }
}

/// Counts by messageType as ptp4l names them; types with none left out.
fn by_type(counts: &[u64; 16]) -> std::collections::BTreeMap<String, u64> {
    counts
        .iter()
        .zip(msg_type::NAMES)
        .filter(|(n, name)| **n > 0 && !name.is_empty())
        .map(|(n, name)| (name.to_owned(), *n))
        .collect()
}
