//! Time synchronisation of a talker or listener run (docs/time-sync.md),
//! from the resolved `[ptp]` settings: takt's own PTP port (a worker
//! thread, and its end on the data path's sidecars), or ptp4l's state read
//! over its management socket when ptp4l owns the interface. Either way
//! the loops get one [`SyncStatus`] to mark what they measure out of sync,
//! and the report a `ptp` object.

use std::sync::Arc;

use takt_drivers::{DeviceSpec, RingDevice};
use takt_scheduler::config::{PtpMode, PtpProfile, PtpSection};
use takt_scheduler::{rt, ClockId, Schedule};
use takt_stack::clock::SchedClock;
use takt_stack::control::gate::BestEffortGate;
use takt_stack::ptp::endpoint::{EndpointConfig, PtpEndpoint};
use takt_stack::ptp::watch::{self, Ptp4lWatch};
use takt_stack::ptp::worker::PtpWorker;
use takt_stack::ptp::SyncStatus;
use takt_stack::ptp::{CoreConfig, Profile, Role, Servo};
use takt_stack::sidecar::Sidecars;
use takt_stack::stats::{PtpReport, RunStats};

use crate::ptp_args::PtpSettings;
use crate::run::RunError;

/// Which side of the run this is: a talker's PTP frames wait for the PTP
/// class's gate, a listener's go at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Talker,
    Listener,
}

enum Source {
    /// takt's own port: the worker, and its data-path end until the loop
    /// takes it.
    Port {
        worker: PtpWorker,
        endpoint: Option<Box<PtpEndpoint>>,
    },
    /// ptp4l judges; the watcher thread reads it.
    Linuxptp { watch: Ptp4lWatch },
}

/// Time synchronisation of one run.
pub struct TimeSync {
    source: Source,
    sync: Arc<SyncStatus>,
    section: PtpSection,
    side: Side,
}

/// What a run asks of time synchronisation.
pub struct Setup<'a> {
    pub settings: &'a PtpSettings,
    /// For messages: `takt-talker`, `takt-listener`.
    pub tool: &'static str,
    /// The device as given (for ptp4l: its interface).
    pub spec: &'a DeviceSpec,
    pub side: Side,
    /// PTP frames end this long before their gate closes (a talker's).
    pub guard_band_ns: u64,
    /// No line on stderr when sync is reached (`-q`).
    pub quiet: bool,
    /// The run writes an interval log (it takes the offset samples).
    pub hist_log: bool,
}

/// The interface a kernel-owned device runs on (`packet:IF`, `xdp:IF@Q`).
fn interface(spec: &DeviceSpec) -> Option<&str> {
    match spec {
        DeviceSpec::Packet { ifname } | DeviceSpec::Xdp { ifname, .. } => Some(ifname),
        DeviceSpec::Sim | DeviceSpec::Vfio { .. } => None,
    }
}

/// TAI - UTC as the kernel keeps it, whole seconds (0 when nothing set
/// it): the master announces the PTP timescale only when it is known.
fn kernel_tai_offset_s() -> i32 {
    let d = ClockId::Tai.now_ns() as i128 - ClockId::Realtime.now_ns() as i128;
    ((d + 500_000_000) / 1_000_000_000) as i32
}

impl TimeSync {
    /// Start before the real-time set-up (its threads stay unpinned and
    /// SCHED_OTHER). `linuxptp` mode first waits for ptp4l to report sync
    /// (`sync_wait`), refusing the run when it does not.
    pub fn start(
        setup: &Setup<'_>,
        schedule: &Schedule,
        dev: &dyn RingDevice,
        clock: &SchedClock,
    ) -> Result<Self, RunError> {
        let Setup {
            settings,
            tool,
            spec,
            side,
            guard_band_ns,
            quiet,
            hist_log,
        } = *setup;
        let mut section = settings.section.clone();
        let sync = SyncStatus::new();
        let iface = interface(spec);
        if section.mode != PtpMode::Linuxptp {
            if let Some(ifname) = iface {
                if let Some(state) = watch::serves_interface(&section.ptp4l_socket, ifname) {
                    eprintln!(
                        "{tool}: ptp4l serves {ifname} (port {state}): takt reads its state \
                         instead of starting a second PTP port on the interface"
                    );
                    section.mode = PtpMode::Linuxptp;
                }
            }
        }
        let source = match section.mode {
            PtpMode::Linuxptp => {
                let Some(ifname) = iface else {
                    return Err(RunError::PtpSetup(format!(
                        "--ptp linuxptp: ptp4l cannot see {spec} (a NIC driven from userland): \
                         use --ptp slave, master or auto for takt's own PTP port"
                    )));
                };
                watch::wait_ready(
                    &section.ptp4l_socket,
                    ifname,
                    section.sync_threshold_ns,
                    section.sync_wait_ns,
                )
                .map_err(|e| RunError::NotSynced(e.to_string()))?;
                // In sync now (the gate said so): the watcher's first poll
                // is a quarter second away.
                sync.set(true, clock.now_ns());
                let watch = Ptp4lWatch::start_saying(
                    &section.ptp4l_socket,
                    ifname,
                    section.sync_threshold_ns,
                    Arc::clone(&sync),
                    Arc::clone(clock.disciplined()),
                    (!quiet).then_some(tool),
                )
                .map_err(|e| RunError::NotSynced(e.to_string()))?;
                Source::Linuxptp { watch }
            }
            // `PtpArgs::resolve` gives no settings when PTP is off.
            PtpMode::Off => {
                return Err(RunError::PtpConfig(
                    "PTP is off: there is nothing to start".into(),
                ))
            }
            mode => {
                let cfg = core_config(&section, mode, dev.info().mac, kernel_tai_offset_s());
                let seed = ClockId::Monotonic.now_ns()
                    ^ u64::from_le_bytes([
                        dev.info().mac[0],
                        dev.info().mac[1],
                        dev.info().mac[2],
                        dev.info().mac[3],
                        dev.info().mac[4],
                        dev.info().mac[5],
                        0,
                        0,
                    ]);
                let (worker, ends) = PtpWorker::start(
                    cfg,
                    Arc::clone(clock.disciplined()),
                    Arc::clone(&sync),
                    seed,
                    (!quiet).then_some(tool),
                )
                .map_err(|e| {
                    RunError::PtpSetup(format!("cannot start the PTP port's thread: {e}"))
                })?;
                let gate = match side {
                    Side::Talker => Some(
                        BestEffortGate::new(schedule, section.class_in(schedule))
                            .ok_or_else(|| {
                                RunError::PtpSetup(
                                    "no traffic class for PTP frames opens in this schedule: \
                                     give [ptp] class or --ptp-class a class that opens"
                                        .into(),
                                )
                            })?
                            .with_guard_band(guard_band_ns.max(section.guard_band_ns)),
                    ),
                    Side::Listener => None,
                };
                let endpoint = PtpEndpoint::new(
                    EndpointConfig {
                        gate,
                        log_offsets: hist_log,
                    },
                    dev,
                    clock.clone(),
                    ends,
                    worker.thread(),
                );
                Source::Port {
                    worker,
                    endpoint: Some(Box::new(endpoint)),
                }
            }
        };
        Ok(TimeSync {
            source,
            sync,
            section,
            side,
        })
    }

    pub fn sync(&self) -> Arc<SyncStatus> {
        Arc::clone(&self.sync)
    }

    /// Hand the data path's ends to a loop's sidecars.
    pub fn install(&mut self, sidecars: &mut Sidecars) {
        match &mut self.source {
            Source::Port { endpoint, .. } => {
                if let Some(e) = endpoint.take() {
                    sidecars.set_ptp(*e);
                }
            }
            Source::Linuxptp { watch } => {
                if let Some(c) = watch.take_offset_consumer() {
                    sidecars.set_offsets(c);
                }
            }
        }
    }

    /// On the data-path thread, after the real-time set-up: serve the PTP
    /// port until it reports sync (a master is the reference at once), at
    /// most `sync_wait`. Err when it never did, saying what it saw.
    pub fn wait_for_sync(
        &self,
        sidecars: &mut Sidecars,
        dev: &mut dyn RingDevice,
        schedule: &Schedule,
        clock: &SchedClock,
        wake: rt::WakeConfig,
    ) -> Result<(), RunError> {
        let Source::Port { worker, .. } = &self.source else {
            return Ok(()); // ptp4l was judged before the start
        };
        // A master is the reference. A listener hears its master (often
        // the talker, which may only start sending once it runs) in its
        // loop: it starts at once and keeps what it measures before the
        // lock apart.
        if self.section.mode == PtpMode::Master || self.side == Side::Listener {
            return Ok(());
        }
        let started = clock.now_ns();
        let give_up = started.saturating_add(self.section.sync_wait_ns);
        let sync = &self.sync;
        sidecars.serve_while(dev, schedule, clock, &[], wake, |now| {
            !sync.is_synced() && now < give_up
        });
        if self.sync.is_synced() {
            return Ok(()); // the worker said so
        }
        let live = worker.live();
        if rt::stop_requested() {
            return Ok(());
        }
        Err(RunError::NotSynced(format!(
            "no PTP sync within {} (--sync-wait): port {}, {}; messages: {}: {}",
            takt_scheduler::units::format_ns(self.section.sync_wait_ns),
            if live.port_state.is_empty() {
                "not started"
            } else {
                &live.port_state
            },
            match live.last_offset_ns {
                Some(o) => format!(
                    "last offset {} (--sync-threshold {})",
                    takt_scheduler::units::format_ns(o.unsigned_abs()),
                    takt_scheduler::units::format_ns(self.section.sync_threshold_ns)
                ),
                None => "no offset measured".into(),
            },
            live.counters,
            "is a grandmaster running on the segment, in the same domain and profile \
             (its port must answer peer-delay requests for gPTP)? raise --sync-wait or \
             --sync-threshold"
        )))
    }

    /// After the run: stop the threads and report, with the endpoint the
    /// loop gives back and the run's unsynced samples.
    pub fn finish(self, endpoint: Option<PtpEndpoint>, stats: &RunStats) -> PtpReport {
        let mut report = match self.source {
            Source::Port { worker, .. } => {
                let mut r = worker.finish();
                if let Some(e) = endpoint {
                    let c = e.counters();
                    r.rx_rejected += c.rx_oversize;
                    if c.rx_oversize > 0 {
                        r.rx_rejected_by_reason
                            .insert("oversize".into(), c.rx_oversize);
                    }
                    r.rx_dropped += c.rx_dropped;
                    r.tx_dropped += c.tx_dropped + c.stamps_dropped;
                }
                r.role = self.section.mode.as_str().into();
                r
            }
            Source::Linuxptp { watch } => watch.finish(),
        };
        report.unsynced_samples = stats.streams.iter().map(|s| s.unsynced).sum();
        report
    }
}

/// The port's configuration from the `[ptp]` settings.
fn core_config(s: &PtpSection, mode: PtpMode, mac: [u8; 6], tai_offset_s: i32) -> CoreConfig {
    CoreConfig {
        profile: match s.profile {
            PtpProfile::Gptp => Profile::Gptp,
            PtpProfile::Default1588 => Profile::E2e1588,
        },
        role: match mode {
            PtpMode::Slave => Role::Slave,
            PtpMode::Master => Role::Master,
            _ => Role::Auto,
        },
        domain: s.domain,
        priority1: s.priority1,
        priority2: s.priority2,
        log_sync_interval: s.log_sync_interval,
        log_announce_interval: s.log_announce_interval,
        log_delay_interval: s.log_delay_interval,
        announce_receipt_timeout: s.announce_receipt_timeout,
        mac,
        lock_threshold_ns: s.sync_threshold_ns,
        kernel_tai_offset_s: tai_offset_s,
        servo: Servo::Kalman,
    }
}
