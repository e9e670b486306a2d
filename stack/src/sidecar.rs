//! The protocols that share the ring with the streams — the control plane
//! (control/: ARP, ping, the UDP service) and the PTP port (ptp/) — as the
//! talker and listener loops see them: one seam. Frames that are not stream
//! frames come in with their receive times and go to the protocol they
//! belong to; each protocol sends only what its gate allows; the loops call
//! [`Sidecars::service`] in their idle time and sleep until
//! [`Sidecars::next_wake`].

use crate::clock::SchedClock;
use crate::control::is_stream_frame;
use crate::control::plane::{ControlPlane, RX_POLL_INTERVAL_NS};
use crate::ptp::endpoint::PtpEndpoint;
use crate::ptp::frame::is_ptp_frame;
use crate::ptp::queue::OffsetSample;
use crate::round_trip::RoundTrip;
use crate::stats::StreamStats;
use heapless::spsc::Consumer;
use takt_drivers::{RingDevice, RxBatch, RxFrame, TxStamp, TxStampBatch};
use takt_scheduler::{rt, Schedule};

/// Serving only the sidecars, look at least this often whether to stop.
const SERVE_LOOK_MAX_NS: u64 = 10_000_000;

/// Running totals of frames no protocol wanted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SidecarCounters {
    /// Stream frames a talker received and gave back.
    pub stream_frames_skipped: u64,
    /// Frames that were neither stream frames nor any protocol's.
    pub unclaimed: u64,
}

/// The protocols of one loop.
pub struct Sidecars {
    control: Option<ControlPlane>,
    ptp: Option<PtpEndpoint>,
    /// Offset samples for the interval log when ptp4l judges sync (the
    /// embedded port's come through `ptp`).
    offsets: Option<Consumer<'static, OffsetSample>>,
    /// The loop leaves receiving to the sidecars between frames (a
    /// talker); otherwise it hands them what is not its own (a listener).
    polls_device: bool,
    rx: RxBatch,
    stamps: TxStampBatch,
    next_rx_poll_ns: u64,
    /// How often a talker's sidecars poll the device.
    rx_poll_interval_ns: u64,
    counters: SidecarCounters,
    /// A talker's round trips: stream frames it receives are returns.
    round_trip: Option<RoundTrip>,
}

impl Sidecars {
    /// A talker's: they poll the device in its idle time.
    pub fn for_talker() -> Self {
        Self::new(true)
    }

    /// A listener's: it polls and hands them what is not a stream frame.
    pub fn for_listener() -> Self {
        Self::new(false)
    }

    fn new(polls_device: bool) -> Self {
        Sidecars {
            control: None,
            ptp: None,
            offsets: None,
            polls_device,
            rx: RxBatch::new(),
            stamps: TxStampBatch::new(),
            next_rx_poll_ns: 0,
            rx_poll_interval_ns: RX_POLL_INTERVAL_NS,
            counters: SidecarCounters::default(),
            round_trip: None,
        }
    }

    pub fn set_control(&mut self, control: ControlPlane) {
        self.control = Some(control);
    }

    pub fn set_ptp(&mut self, ptp: PtpEndpoint) {
        self.ptp = Some(ptp);
    }

    pub fn control_mut(&mut self) -> Option<&mut ControlPlane> {
        self.control.as_mut()
    }

    pub fn take_control(&mut self) -> Option<ControlPlane> {
        self.control.take()
    }

    /// Offset samples from elsewhere (the ptp4l watcher) for the log.
    pub fn set_offsets(&mut self, offsets: Consumer<'static, OffsetSample>) {
        self.offsets = Some(offsets);
    }

    pub fn ptp(&self) -> Option<&PtpEndpoint> {
        self.ptp.as_ref()
    }

    pub fn take_ptp(&mut self) -> Option<PtpEndpoint> {
        self.ptp.take()
    }

    pub fn is_empty(&self) -> bool {
        self.control.is_none() && self.ptp.is_none() && self.round_trip.is_none()
    }

    /// Receive returns of a mirror (docs/round-trip.md), polling the
    /// device every `poll_ns` in the talker's idle time (0: all the time).
    pub fn set_round_trip(&mut self, rt: RoundTrip, poll_ns: u64) {
        self.round_trip = Some(rt);
        self.rx_poll_interval_ns = poll_ns.min(RX_POLL_INTERVAL_NS);
    }

    pub fn round_trip_mut(&mut self) -> Option<&mut RoundTrip> {
        self.round_trip.as_mut()
    }

    pub fn take_round_trip(&mut self) -> Option<RoundTrip> {
        self.round_trip.take()
    }

    /// Receive now (a talker spinning for returns before a frame).
    pub fn poll_now(&mut self, now_ns: u64, dev: &mut dyn RingDevice, clock: &SchedClock) {
        self.poll_device(now_ns, dev, clock);
    }

    pub fn counters(&self) -> SidecarCounters {
        self.counters
    }

    /// Frames get launch times decided `lead_ns` ahead (a device that
    /// holds frames until their launch time), mapped to the device's clock
    /// by `clock`.
    pub fn set_launch_lead(&mut self, lead_ns: Option<u64>, clock: &SchedClock) {
        if let Some(c) = &mut self.control {
            c.set_launch_lead(lead_ns, clock);
        }
        if let Some(p) = &mut self.ptp {
            p.set_launch_lead(lead_ns);
        }
    }

    /// A received frame that is not a stream frame, with its receive time
    /// on the schedule clock: to the protocol it belongs to. `Err` gives it
    /// back when none does.
    pub fn dispatch(
        &mut self,
        frame: RxFrame,
        rx_ns: u64,
        dev: &mut dyn RingDevice,
    ) -> Result<(), RxFrame> {
        let len = frame.len.min(dev.info().buf_size);
        if let Some(p) = &mut self.ptp {
            if is_ptp_frame(&dev.buf(&frame.buf)[..len]) {
                p.feed(frame, rx_ns, dev);
                return Ok(());
            }
        }
        match &mut self.control {
            Some(c) => {
                c.feed(frame, dev);
                Ok(())
            }
            None => Err(frame),
        }
    }

    /// Receive what the device has (a talker between frames): stream
    /// frames go back to the pool, the rest to their protocol.
    fn poll_device(&mut self, now_ns: u64, dev: &mut dyn RingDevice, clock: &SchedClock) {
        self.next_rx_poll_ns = now_ns.saturating_add(self.rx_poll_interval_ns);
        dev.rx_burst(&mut self.rx);
        // The round trip's A: when this loop has the frames.
        let app_ns = if self.round_trip.is_some() && !self.rx.is_empty() {
            clock.now_ns()
        } else {
            0
        };
        while let Some(f) = self.rx.pop_front() {
            let len = f.len.min(dev.info().buf_size);
            if is_stream_frame(&dev.buf(&f.buf)[..len]) {
                match &mut self.round_trip {
                    Some(rt) => {
                        let rx_ns = clock.from_device(f.rx_time_ns);
                        rt.on_frame(&dev.buf(&f.buf)[..len], rx_ns, app_ns);
                    }
                    None => self.counters.stream_frames_skipped += 1,
                }
                dev.free(f.buf);
                continue;
            }
            let rx_ns = clock.from_device(f.rx_time_ns);
            if let Err(f) = self.dispatch(f, rx_ns, dev) {
                self.counters.unclaimed += 1;
                dev.free(f.buf);
            }
        }
        if let Some(p) = &mut self.ptp {
            p.wake_worker();
        }
    }

    /// Idle-time work: receive (a talker), let each protocol process what
    /// it was given and send what its gate lets go now. `stats` and
    /// `cycles` are the loop's own, for status requests.
    pub fn service(
        &mut self,
        now_ns: u64,
        dev: &mut dyn RingDevice,
        schedule: &Schedule,
        clock: &SchedClock,
        stats: &[StreamStats],
        cycles: u64,
    ) {
        if self.polls_device && now_ns >= self.next_rx_poll_ns {
            self.poll_device(now_ns, dev, clock);
        }
        let control_free = self.control.as_ref().map_or(0, |c| c.wire_free_at_ns());
        if let Some(p) = &mut self.ptp {
            p.service(now_ns, dev, schedule, control_free);
        }
        if let Some(c) = &mut self.control {
            if let Some(p) = &self.ptp {
                c.wire_busy_until(p.wire_free_at_ns());
            }
            c.service(now_ns, dev, schedule, stats, cycles);
        }
    }

    /// When [`service`](Self::service) next has work (u64::MAX: none
    /// until a frame comes).
    pub fn next_wake(&mut self, now_ns: u64, schedule: &Schedule) -> u64 {
        let mut at = u64::MAX;
        if self.polls_device && !self.is_empty() {
            at = self.next_rx_poll_ns;
        }
        if let Some(c) = &mut self.control {
            at = at.min(c.next_wake(now_ns, schedule));
        }
        if let Some(p) = &self.ptp {
            at = at.min(p.next_wake(now_ns, schedule));
        }
        at
    }

    /// Whether a listener should call `service` now: frames fed, or
    /// something due.
    pub fn wants_service(&mut self, now_ns: u64, schedule: &Schedule) -> bool {
        self.control.as_ref().is_some_and(|c| c.fed() > 0)
            || self.next_wake(now_ns, schedule) <= now_ns
    }

    /// Serve only these (before a run: waiting for sync) until
    /// `keep_going(now)` says stop or a stop is requested, sleeping as
    /// `wake` says between. They receive from the device themselves here,
    /// a listener's too (its loop is not running yet).
    #[allow(clippy::too_many_arguments)]
    pub fn serve_while(
        &mut self,
        dev: &mut dyn RingDevice,
        schedule: &Schedule,
        clock: &SchedClock,
        stats: &[StreamStats],
        wake: rt::WakeConfig,
        mut keep_going: impl FnMut(u64) -> bool,
    ) {
        loop {
            let now = clock.now_ns();
            if !keep_going(now) || rt::stop_requested() {
                return;
            }
            if !self.polls_device && now >= self.next_rx_poll_ns {
                self.poll_device(now, dev, clock);
            }
            self.service(now, dev, schedule, clock, stats, 0);
            let next = self
                .next_wake(now, schedule)
                .min(self.next_rx_poll_ns)
                .min(now.saturating_add(SERVE_LOOK_MAX_NS));
            rt::wait_until(clock, next, wake);
        }
    }

    /// The device's transmit stamps of stream frames (tags with
    /// `stages::STREAM_TAG_BIT`) to `f`; the PTP port's go to it. The one
    /// reader of `RingDevice::tx_stamps` besides the port's own service.
    pub fn take_stream_stamps(&mut self, dev: &mut dyn RingDevice, mut f: impl FnMut(TxStamp)) {
        if let Some(p) = &mut self.ptp {
            return p.take_stream_stamps(dev, f);
        }
        dev.tx_stamps(&mut self.stamps);
        while let Some(s) = self.stamps.pop_front() {
            if s.tag & crate::stages::STREAM_TAG_BIT != 0 {
                f(s);
            }
        }
    }

    /// When the last frame any of them released is off the wire.
    pub fn wire_free_at_ns(&self) -> u64 {
        let c = self.control.as_ref().map_or(0, |c| c.wire_free_at_ns());
        let p = self.ptp.as_ref().map_or(0, |p| p.wire_free_at_ns());
        c.max(p)
    }

    /// Offset samples since the last call (the PTP port's or ptp4l's).
    pub fn drain_offsets(&mut self, mut f: impl FnMut(OffsetSample)) {
        if let Some(p) = &mut self.ptp {
            p.drain_offsets(&mut f);
        }
        if let Some(c) = &mut self.offsets {
            while let Some(s) = c.dequeue() {
                f(s);
            }
        }
    }
}
