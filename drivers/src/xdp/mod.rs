//! AF_XDP backend, `xdp:IFNAME@QUEUE`: one XDP socket bound to one queue of
//! an interface, its UMEM, its four rings, and a small redirect program
//! that steers the queue's frames into the socket; `xdp:IFNAME`: a socket
//! on every receive queue, sharing the UMEM (`queues.rs`: why one queue of
//! several is refused).
//!
//! - **Buffers**: the UMEM is `frames` fixed 2048-byte frames (one
//!   anonymous mapping, prefaulted at open); frame `i` is buffer `i` of the
//!   device's [`Pool`]. A frame is in exactly one place: the pool, with
//!   userland (a live `BufId`), on the fill ring (the kernel receives into
//!   it), or in flight on TX (until the completion ring returns it). Frames
//!   on a ring are *lent* (`Pool::lend`): no handle exists for them, and
//!   `Pool::take_back` makes one again only for a lent frame, so even a
//!   misbehaving ring cannot make a buffer appear twice.
//! - **RX** is zero copy into userland: `rx_burst` hands out the UMEM frame
//!   the kernel filled as the `RxFrame`'s buffer, then tops the fill ring
//!   up from the pool (an empty pool is counted in `pool_empty`; frames the
//!   kernel then has no room for are counted in `rx_drops` from
//!   XDP_STATISTICS). A `BufId` shows the frame after its 256-byte headroom
//!   ([`XDP_BUF_SIZE`] = 1792 bytes).
//! - **Timestamps**: the redirect program (`bpf.rs`) stores
//!   bpf_ktime_get_tai_ns() as 8 bytes of XDP metadata just before the
//!   frame; the kernel copies metadata into the UMEM frame in copy mode too
//!   (checked on 6.18 by `drivers/tests/xdp_veth.rs`). `rx_burst` reads it
//!   as `rx_time_ns`, CLOCK_TAI. The slot is zeroed whenever a frame goes
//!   onto the fill ring, so when the program could not make room for
//!   metadata the 0 is seen and the frame is stamped with
//!   clock_gettime(CLOCK_TAI) at pickup instead (counted:
//!   [`XdpDevice::stamp_fallbacks`]).
//! - **VLAN**: XDP sees the frame before the stack strips an 802.1Q tag,
//!   so a tag sent in the frame (AF_PACKET or AF_XDP sender) arrives in
//!   the frame; nothing to put back.
//! - **TX**: `tx_burst` lends each buffer to the TX ring (no copy), kicks
//!   with a non-blocking `sendto` only when the ring asks to be woken
//!   (XDP_USE_NEED_WAKEUP; in copy mode it always does), and reaps the
//!   completion ring back into the pool (also `alloc` does when the pool is
//!   empty). The kernel sends at most 32 frames per kick in copy mode, so
//!   the kick repeats while the ring is not drained.
//! - **Link down**: each outage is counted once (`link_down`), every frame
//!   dropped in `tx_drops`, and the device works again when the link is
//!   back. An interface that is down refuses the kick (ENETDOWN) without
//!   taking frames: those already on the TX ring stay there and leave when
//!   it is up again. Without carrier (the veth peer down) the kernel takes
//!   one frame per kick and drops it (EBUSY), returning it on the
//!   completion ring (no leak). Once the outage is known, `tx_burst` drops
//!   new frames before the ring, checking the interface flags (one ioctl
//!   per burst) until the link is back.
//! - **Tuning** ([`XdpOptions`]): `need_wakeup` false binds without
//!   XDP_USE_NEED_WAKEUP, and then every TX burst kicks and every fill-ring
//!   top-up wakes the kernel; `busy_poll` sets SO_BUSY_POLL (and the
//!   prefer/budget options) on every queue's socket and makes `rx_burst`
//!   call a non-blocking `recvfrom` on each queue before reading it, which
//!   runs the queue's NAPI loop in the caller's thread
//!   (Documentation/networking/af_xdp.rst; docs/backends.md).
//! - **Mode**: the socket is bound without a copy/zero-copy flag by
//!   default: the kernel tries zero copy and falls back to copy (veth only
//!   has copy); [`XdpDevice::mode`] says which. The program is attached
//!   with a bpf link in native (driver) mode, falling back to generic (skb)
//!   mode; [`XdpDevice::attach`] says which. Dropping the device closes the
//!   link, which detaches the program (so does the process dying).
//! - **Transmit stamps** (`StampSource::Completion`): a frame with a
//!   `stamp_tag` has its tag kept by its UMEM frame index until its
//!   completion comes back, and leads a kick of its own (the frames before
//!   it in the burst are kicked first). CLOCK_TAI is read just before a
//!   kick (`sendto`) that takes stamped frames, and that reading is their
//!   stamp; it is handed out once the completion shows the frame was not
//!   dropped (`tx_burst`, `tx_stamps` and `alloc` reap the completion
//!   ring). The reading is taken before the kick, not after it nor at the
//!   completion, because in copy mode the frame leaves inside the kick: on
//!   veth the kernel hands it to the peer, whose XDP program stamps it,
//!   and frees it (the completion) before `sendto` returns, so any later
//!   reading is after the peer's receive (docs/time-sync.md has the
//!   figures). A frame whose kick was not seen (more stamped frames on the
//!   ring than it holds) is stamped when its completion is reaped. A
//!   stamped frame dropped before the ring (link known down, bad length)
//!   or by the kernel (the kick says EBUSY: the newest completion is that
//!   frame, freed by the driver before the next was built) counts in
//!   `tx_stamps_lost`.
//! - **Launch time**: not offered (`caps.launch_time = false`,
//!   `TxFrame::launch_time_ns` ignored). The kernel has XSK TX metadata
//!   with XDP_TXMD_FLAGS_LAUNCH_TIME, but only for drivers that implement
//!   it, and veth does not; a follow-up can ask netdev's xsk-features.
//!
//! Nothing on the data path allocates: UMEM, pool and rings are all made
//! in [`XdpDevice::open`].

mod bpf;
mod queues;
mod ring;
mod sys;
mod umem;

pub use bpf::XdpAttach;

use crate::netif;
use crate::pool::{BufId, Pool};
use crate::stamp_queue::StampQueue;
use crate::{
    Capabilities, Counters, DeviceInfo, DriverError, RingDevice, RxBatch, RxFrame, StampSource,
    TxBatch, TxStamp, TxStampBatch, MAX_BURST,
};
use ring::Ring;
use std::os::fd::{AsRawFd, OwnedFd};
use umem::{Umem, DATA_OFF, FRAME_SIZE, META_OFF};

/// Largest frame (without FCS) a buffer carries.
pub const XDP_BUF_SIZE: usize = umem::BUF_SIZE;
/// Shortest frame that is sent: an Ethernet header.
const MIN_FRAME: usize = 14;
/// Largest MTU whose frames (Ethernet header and one VLAN tag added) fit
/// a buffer: 1,774.
pub const XDP_MAX_MTU: u32 = (XDP_BUF_SIZE - 18) as u32;

/// The interface's MTU is more than a buffer holds (or, on a veth, more
/// than XDP takes: the kernel says ERANGE).
/// `what` says whose MTU.
pub(super) fn mtu_too_large(device: &str, ifname: &str, what: &str) -> DriverError {
    DriverError::DeviceNotReady {
        device: device.into(),
        what: format!(
            "{what}, and the xdp backend carries frames up to {XDP_BUF_SIZE} \
             bytes (2048-byte UMEM frames less their headroom): MTU {XDP_MAX_MTU} at the most. \
             Set it with `ip link set dev {ifname} mtu 1500` (on a veth, on both ends); \
             packet:{ifname} takes MTU up to {} (neither carries jumbo frames)",
            crate::packet::PACKET_MAX_MTU
        ),
    }
}

/// Copy or zero copy: what the bind asks for, and what the socket got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// Bind request only: zero copy if the driver can, else copy.
    Auto,
    /// XDP_COPY: the kernel copies frames between skbs and the UMEM.
    Copy,
    /// XDP_ZEROCOPY: the NIC DMAs into the UMEM.
    ZeroCopy,
}

/// Sizes and switches of one AF_XDP device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XdpOptions {
    /// UMEM frames (= pool buffers), 2048 bytes each.
    pub frames: u32,
    /// Entries of each ring: powers of two.
    pub fill_size: u32,
    pub comp_size: u32,
    pub rx_size: u32,
    pub tx_size: u32,
    pub mode: XdpMode,
    /// How to attach the program: `None` = native, falling back to generic
    /// (skb) XDP when the driver has no native XDP; `Some` = only that way.
    pub attach: Option<XdpAttach>,
    /// Bind with XDP_USE_NEED_WAKEUP (the default): the kernel says when
    /// it must be kicked. Off: every TX burst kicks, and so does every
    /// fill-ring top-up.
    pub need_wakeup: bool,
    /// Socket busy polling on every queue's socket; on, `rx_burst` drives
    /// the queue's NAPI context with a non-blocking `recvfrom` per call.
    pub busy_poll: crate::BusyPoll,
}

impl Default for XdpOptions {
    fn default() -> Self {
        XdpOptions {
            frames: 4096,
            fill_size: 2048,
            comp_size: 2048,
            rx_size: 2048,
            tx_size: 1024,
            mode: XdpMode::Auto,
            attach: None,
            need_wakeup: true,
            busy_poll: crate::BusyPoll::default(),
        }
    }
}

impl XdpOptions {
    /// The defaults, with RX and fill rings (and a UMEM) that hold a
    /// [`crate::RX_STALL_NS`] stall of `load`: the frames of
    /// [`crate::RX_RING_HOLDS_NS`] plus 64, rounded up to a power of two,
    /// at most 65536 (docs/backends.md).
    pub fn for_load(load: Option<crate::RxLoad>) -> Self {
        let mut o = XdpOptions::default();
        let Some(load) = load else { return o };
        let want = load
            .frames_in(crate::RX_RING_HOLDS_NS)
            .saturating_add(64)
            .min(1 << 16)
            .next_power_of_two() as u32;
        o.rx_size = o.rx_size.max(want);
        o.fill_size = o.fill_size.max(want);
        o.frames = o.frames.max(2 * o.fill_size);
        o
    }
}

/// An AF_XDP socket with its UMEM, rings and redirect program.
pub struct XdpDevice {
    info: DeviceInfo,
    /// POLLIN on every receive queue's socket, for `wait_rx`.
    rx_wait: Vec<libc::pollfd>,
    // Field order is drop order: detach the program first, then the map,
    // the rings, the socket and last the UMEM.
    _link: OwnedFd,
    _prog: OwnedFd,
    _map: OwnedFd,
    /// One per receive queue watched: its RX and fill rings (and, but for
    /// the first, its own socket).
    rxq: Vec<queues::RxQueue>,
    /// The queue `rx_burst` looks at first (round robin, so a busy queue
    /// does not starve the others).
    next_rxq: usize,
    tx: Ring<libc::xdp_desc>,
    comp: Ring<u64>,
    fd: OwnedFd,
    /// For interface-flags ioctls.
    ctl: OwnedFd,
    umem: Umem,
    pool: Pool,
    /// The level `rx_burst` tops each queue's fill ring up to.
    fill_target: u32,
    /// Frames on the TX ring or sent and not yet completed.
    in_tx: u32,
    counters: Counters,
    /// The last kick found the link down; new frames are dropped until an
    /// interface-flags check says it is back.
    link_down: bool,
    ifr: libc::ifreq,
    mode: XdpMode,
    attach: XdpAttach,
    stamp_fallbacks: u64,
    /// SO_BUSY_POLL is on: `rx_burst` polls each queue's NAPI context
    /// with a non-blocking `recvfrom` (Documentation/networking/af_xdp.rst).
    busy_poll: bool,
    ifindex: u32,
    /// An AF_PACKET socket that receives nothing and only holds the
    /// multicast memberships of `accept_destinations` (AF_XDP sockets
    /// have none); opened on first use.
    members: Option<OwnedFd>,
    /// Each UMEM frame in flight on TX that asked for a stamp.
    tags: Vec<Option<Stamped>>,
    /// How many of `tags` are set.
    stamped_in_flight: u32,
    /// UMEM frames of stamped frames on the TX ring no kick has taken
    /// yet (room for the whole ring, made at open): the kick reads the
    /// clock only while there are some.
    unkicked: Vec<u32>,
    /// Transmit stamps not yet handed out.
    stamps: StampQueue,
}

/// Transmit stamps kept until `tx_stamps` (more are counted lost).
const STAMPS_KEPT: usize = 256;

/// A stamped frame in flight on TX.
#[derive(Clone, Copy, Debug)]
struct Stamped {
    tag: u32,
    /// CLOCK_TAI just before the kick that took it.
    kicked_at: Option<u64>,
}

// SAFETY: the raw pointers (rings, UMEM, the ifreq's unused data pointer)
// point into mappings this device owns alone; moving the device to another
// thread moves that ownership with it.
unsafe impl Send for XdpDevice {}

impl XdpDevice {
    /// Open `xdp:IFNAME@QUEUE` in the calling thread's network namespace.
    /// Refused when the interface has other receive queues (frames there
    /// would never be seen): [`XdpDevice::open_all`] watches them all.
    pub fn open(ifname: &str, queue: u32, opts: XdpOptions) -> Result<Self, DriverError> {
        Self::open_on(ifname, Some(queue), opts)
    }

    /// Open `xdp:IFNAME`: a socket on every receive queue of the interface,
    /// all sharing one UMEM; frames leave through queue 0's socket.
    pub fn open_all(ifname: &str, opts: XdpOptions) -> Result<Self, DriverError> {
        Self::open_on(ifname, None, opts)
    }

    fn open_on(ifname: &str, want: Option<u32>, opts: XdpOptions) -> Result<Self, DriverError> {
        let device = sys::spec(ifname, want);
        let pow2 = [opts.fill_size, opts.comp_size, opts.rx_size, opts.tx_size]
            .iter()
            .all(|s| s.is_power_of_two());
        if !pow2 || opts.frames < 2 || opts.frames > 1 << 20 {
            return Err(DriverError::BadOptions {
                device,
                reason: format!(
                    "ring sizes must be powers of two and frames 2..=1048576 (got {opts:?})"
                ),
            });
        }
        let ifindex = netif::ifindex(&device, ifname)?;
        let fd = sys::xsk_socket(&device, ifname)?;
        let raw = fd.as_raw_fd();
        let ctl = sys::ctl_socket(&device)?;
        let craw = ctl.as_raw_fd();
        let io = |what: &str| {
            let what = format!("{device}: {what}");
            move |e| sys::io_err(what, e)
        };
        let ifr = netif::ifreq(ifname);
        if !netif::is_up(craw, &device, ifname)? {
            return Err(netif::interface_down(&device, ifname));
        }
        let queues = queues::which(&device, ifname, want, netif::rx_queues(craw, ifname))?;
        let nq = queues.len() as u32;
        if opts.frames < 2 * nq {
            return Err(DriverError::BadOptions {
                device,
                reason: format!(
                    "{nq} queues need at least {} frames (got {})",
                    2 * nq,
                    opts.frames
                ),
            });
        }
        if let Some(mtu) = netif::mtu(craw, ifname).filter(|m| *m > XDP_MAX_MTU) {
            return Err(mtu_too_large(
                &device,
                ifname,
                &format!("{ifname} has MTU {mtu}"),
            ));
        }
        let mac = netif::mac(craw, &device, ifname)?;
        let speed = netif::speed_bps(craw, ifname).unwrap_or(netif::FALLBACK_SPEED_BPS);

        let mut umem = Umem::new(opts.frames).map_err(io("allocating the UMEM"))?;
        let reg = umem.reg();
        sys::setsockopt(raw, libc::XDP_UMEM_REG, &reg).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOBUFS) | Some(libc::ENOMEM) | Some(libc::EPERM) => {
                DriverError::MemlockTooLow {
                    needed: reg.len,
                    limit: memlock_limit(),
                }
            }
            _ => sys::io_err(format!("{device}: registering the UMEM"), e),
        })?;
        let first = queues::QueueRings::make(&device, &fd, &opts, queues[0])?;
        let (tx, comp) = (first.tx, first.comp);

        let wakeup = if opts.need_wakeup {
            libc::XDP_USE_NEED_WAKEUP
        } else {
            0
        };
        let bind_flags = wakeup
            | match opts.mode {
                XdpMode::Auto => 0,
                XdpMode::Copy => libc::XDP_COPY,
                XdpMode::ZeroCopy => libc::XDP_ZEROCOPY,
            };
        queues::bind(
            &device, ifname, &fd, ifindex, queues[0], bind_flags, None, &opts,
        )?;
        let mode = if sys::zero_copy(raw).map_err(io("reading XDP_OPTIONS"))? {
            XdpMode::ZeroCopy
        } else {
            XdpMode::Copy
        };
        let mut rxq = vec![queues::RxQueue::new(queues[0], first.rx, first.fill, None)];
        for &q in &queues[1..] {
            rxq.push(queues::RxQueue::shared(
                &device, ifname, &fd, ifindex, q, &opts,
            )?);
        }
        let mut tx = tx;
        if !opts.need_wakeup {
            tx.set_wake_always();
            for q in &mut rxq {
                q.fill.set_wake_always();
            }
        }
        crate::busy_poll::apply(raw, &opts.busy_poll, &device)?;
        for q in &rxq {
            if let Some(f) = q.fd() {
                crate::busy_poll::apply(f.as_raw_fd(), &opts.busy_poll, &device)?;
            }
        }

        let last = queues.iter().copied().max().unwrap_or(0);
        let map = bpf::create_xskmap(&device, last + 1)?;
        for r in &rxq {
            bpf::xskmap_set(&device, &map, r.queue, r.fd().unwrap_or(&fd))?;
        }
        // Half the UMEM waits on the fill rings, shared among the queues;
        // filled before the program sends frames to them.
        let fill_target = opts.fill_size.min(opts.frames / 2 / nq);
        let mut pool = Pool::new(opts.frames as usize);
        fill_queues(&mut rxq, &mut pool, &mut umem, fill_target, raw);
        let prog = bpf::load_program(&device, &map)?;
        let (link, attach) = bpf::attach(&device, ifname, &prog, ifindex, opts.attach)?;

        let rx_fds: Vec<_> = rxq
            .iter()
            .map(|q| q.fd().map_or(fd.as_raw_fd(), |f| f.as_raw_fd()))
            .collect();
        Ok(XdpDevice {
            rx_wait: crate::wait::readable_set(&rx_fds),
            info: DeviceInfo {
                name: device,
                mac,
                link_speed_bps: speed,
                buf_size: XDP_BUF_SIZE,
                pool_size: opts.frames as usize,
                caps: Capabilities {
                    launch_time: false,
                    rx_stamps: StampSource::XdpHook,
                    tx_stamps: StampSource::Completion,
                    max_batch: MAX_BURST,
                },
                clock: Some(nix::time::ClockId::CLOCK_TAI),
            },
            _link: link,
            _prog: prog,
            _map: map,
            rxq,
            next_rxq: 0,
            tx,
            comp,
            fd,
            ctl,
            umem,
            pool,
            fill_target,
            in_tx: 0,
            counters: Counters::default(),
            link_down: false,
            ifr,
            mode,
            attach,
            stamp_fallbacks: 0,
            busy_poll: opts.busy_poll.usec > 0,
            ifindex,
            members: None,
            tags: vec![None; opts.frames as usize],
            stamped_in_flight: 0,
            unkicked: Vec::with_capacity(opts.tx_size as usize),
            stamps: StampQueue::new(STAMPS_KEPT),
        })
    }

    /// Copy or zero copy, as bound.
    pub fn mode(&self) -> XdpMode {
        self.mode
    }

    /// Native or generic XDP, as attached.
    pub fn attach(&self) -> XdpAttach {
        self.attach
    }

    /// Buffers handed out to userland and not yet returned (leak checks;
    /// frames on the fill ring or in flight on TX are not counted).
    pub fn outstanding(&self) -> usize {
        self.pool.outstanding()
    }

    /// Frames sent or on the TX ring whose completion has not been reaped.
    pub fn in_flight(&self) -> usize {
        self.in_tx as usize
    }

    /// Frames on the fill ring.
    pub fn in_fill(&self) -> usize {
        self.rxq.iter().map(|q| q.in_fill as usize).sum()
    }

    /// Received frames without the program's timestamp, stamped at pickup
    /// with clock_gettime(CLOCK_TAI) instead.
    pub fn stamp_fallbacks(&self) -> u64 {
        self.stamp_fallbacks
    }

    /// Completed TX frames back into the pool; a stamped one's stamp (its
    /// kick's reading, or now if no kick was seen to take it) is kept.
    fn reap(&mut self) {
        let n = self.comp.ready(self.comp.size());
        let mut now = None;
        for i in 0..n {
            let idx = self.comp.get(i) / FRAME_SIZE as u64;
            let Ok(idx) = u32::try_from(idx) else {
                continue;
            };
            if let Some(s) = self.tags.get_mut(idx as usize).and_then(Option::take) {
                self.stamped_in_flight = self.stamped_in_flight.saturating_sub(1);
                let time_ns = s
                    .kicked_at
                    .unwrap_or_else(|| *now.get_or_insert_with(sys::tai_now_ns));
                if !self.stamps.push(TxStamp {
                    tag: s.tag,
                    time_ns,
                }) {
                    self.counters.tx_stamps_lost += 1;
                }
            }
            if let Some(b) = self.pool.take_back(idx) {
                self.in_tx = self.in_tx.saturating_sub(1);
                let _ = self.pool.free(b);
            }
        }
        if n > 0 {
            self.comp.release(n);
        }
    }

    /// Top each queue's fill ring up to its target from the pool.
    fn refill(&mut self) {
        let main = self.fd.as_raw_fd();
        let t = self.fill_target;
        if fill_queues(&mut self.rxq, &mut self.pool, &mut self.umem, t, main) {
            // Nothing to receive into on a queue: the kernel drops (rx_drops).
            self.counters.pool_empty += 1;
        }
    }

    /// Up to `want` frames of queue `qi` onto `out`; how many.
    fn rx_queue(&mut self, qi: usize, want: usize, out: &mut RxBatch) -> usize {
        let q = &mut self.rxq[qi];
        let n = q.rx.ready(want as u32);
        let mut got = 0;
        for i in 0..n {
            let d = q.rx.get(i);
            let idx = d.addr / FRAME_SIZE as u64;
            let off = (d.addr % FRAME_SIZE as u64) as usize;
            let Some(buf) = u32::try_from(idx).ok().and_then(|i| self.pool.take_back(i)) else {
                self.counters.rx_drops += 1; // not a frame we lent: ignore it
                continue;
            };
            q.in_fill = q.in_fill.saturating_sub(1);
            let len = d.len as usize;
            let room = if off == DATA_OFF {
                XDP_BUF_SIZE
            } else {
                FRAME_SIZE - off
            };
            if len > room.min(XDP_BUF_SIZE) {
                // Longer than its frame or a buffer: never handed out cut short.
                self.counters.rx_truncated += 1;
                let _ = self.pool.free(buf);
                continue;
            }
            let frame = self.umem.frame_mut(buf.index());
            let mut t = 0;
            if off >= 8 {
                let mut m = [0u8; 8];
                m.copy_from_slice(&frame[off - 8..off]);
                t = u64::from_ne_bytes(m);
            }
            if off != DATA_OFF {
                // Not where a BufId's bytes start (a driver with other
                // headroom); off + len <= FRAME_SIZE, checked above.
                frame.copy_within(off..off + len, DATA_OFF);
            }
            if t == 0 {
                self.stamp_fallbacks += 1;
                t = sys::tai_now_ns();
            }
            self.counters.rx_frames += 1;
            self.counters.rx_bytes += len as u64;
            if let Err(f) = out.push_back(RxFrame {
                buf,
                len,
                rx_time_ns: t,
            }) {
                let _ = self.pool.free(f.buf); // cannot happen: room checked above
                continue;
            }
            got += 1;
        }
        if n > 0 {
            q.rx.release(n);
        }
        got
    }

    fn link_is_up(&self) -> bool {
        netif::flags(self.ctl.as_raw_fd(), &self.ifr)
            .map(netif::link_ok)
            .unwrap_or(false)
    }

    /// Kick the TX ring until the kernel has taken everything (it takes at
    /// most 32 frames per kick in copy mode) or cannot go on.
    /// Every socket of the device, the first one first (tests read their
    /// options back).
    pub fn raw_fds(&self) -> Vec<std::os::fd::RawFd> {
        let main = self.fd.as_raw_fd();
        let mut v = vec![main];
        v.extend(
            self.rxq
                .iter()
                .filter_map(|q| q.fd().map(|f| f.as_raw_fd())),
        );
        v
    }

    fn kick(&mut self) {
        let fd = self.fd.as_raw_fd();
        let mut stalled = 0;
        // Bounded: each round the kernel sends up to 32 frames or drops one;
        // two rounds in a row that move nothing end it (the frames stay on
        // the ring for the next burst's kick).
        for _ in 0..self.tx.size() + 2 {
            let before = self.tx.pending();
            if before == 0 || !self.tx.needs_wakeup() {
                return;
            }
            // The clock just before a kick that takes stamped frames: their
            // stamps (see the module docs).
            let before_kick = (!self.unkicked.is_empty()).then(sys::tai_now_ns);
            let r = sys::kick_tx(fd).map_err(|e| e.raw_os_error());
            if matches!(
                r,
                Ok(()) | Err(Some(libc::EAGAIN | libc::ENOBUFS | libc::EBUSY))
            ) {
                for idx in self.unkicked.drain(..) {
                    if let Some(Some(s)) = self.tags.get_mut(idx as usize) {
                        s.kicked_at = before_kick;
                    }
                }
            }
            match r {
                Ok(()) => {}
                // Budget used up, completion ring full, or the driver busy:
                // make room and go on.
                Err(Some(libc::EAGAIN)) | Err(Some(libc::ENOBUFS)) => {
                    self.reap();
                    if self.tx.pending() >= before {
                        stalled += 1;
                        if stalled == 2 {
                            return;
                        }
                    } else {
                        stalled = 0;
                    }
                }
                // The kernel dropped one frame (NET_XMIT_DROP: no carrier or
                // the driver refused it); it comes back on the completion ring.
                Err(Some(libc::EBUSY)) => {
                    self.counters.tx_drops += 1;
                    // The dropped frame's skb was freed in the driver, so its
                    // completion is the newest: it left nowhere, no stamp.
                    let dropped = self.comp.newest().map(|a| a / FRAME_SIZE as u64);
                    let tagged = dropped
                        .and_then(|i| usize::try_from(i).ok())
                        .and_then(|i| self.tags.get_mut(i))
                        .and_then(Option::take);
                    if tagged.is_some() {
                        self.stamped_in_flight = self.stamped_in_flight.saturating_sub(1);
                        self.counters.tx_stamps_lost += 1;
                    }
                    if !self.link_is_up() {
                        self.note_link_down();
                    }
                    self.reap();
                }
                // Interface down: the kernel took nothing.
                Err(Some(libc::ENETDOWN)) | Err(Some(libc::ENXIO)) => {
                    self.note_link_down();
                    return;
                }
                Err(_) => return,
            }
        }
    }

    fn note_link_down(&mut self) {
        if !self.link_down {
            self.counters.link_down += 1;
        }
        self.link_down = true;
    }
}

/// Top each queue's fill ring up to `target` from `pool` (frames lent to
/// the kernel); true when a queue is left with nothing to receive into.
fn fill_queues(
    rxq: &mut [queues::RxQueue],
    pool: &mut Pool,
    umem: &mut Umem,
    target: u32,
    main: std::os::fd::RawFd,
) -> bool {
    let mut empty = false;
    for q in rxq {
        if q.in_fill >= target {
            continue;
        }
        let n = q
            .fill
            .free(target - q.in_fill)
            .min(u32::try_from(pool.available()).unwrap_or(u32::MAX));
        let mut put = 0;
        for _ in 0..n {
            let Some(b) = pool.alloc() else { break };
            // No timestamp until the program writes one (see the module docs).
            umem.frame_mut(b.index())[META_OFF..DATA_OFF].fill(0);
            let Ok(idx) = pool.lend(b) else { break };
            q.fill.put(put, u64::from(idx) * FRAME_SIZE as u64);
            put += 1;
        }
        if put > 0 {
            q.fill.submit(put);
            q.in_fill += put;
            if q.fill.needs_wakeup() {
                sys::wake_rx(q.fd().map_or(main, |f| f.as_raw_fd()));
            }
        }
        empty |= q.in_fill == 0;
    }
    empty
}

/// RLIMIT_MEMLOCK's soft limit in bytes, `None` = unlimited.
fn memlock_limit() -> Option<u64> {
    let (soft, _) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_MEMLOCK).ok()?;
    (soft != libc::RLIM_INFINITY).then_some(soft)
}

impl RingDevice for XdpDevice {
    fn owns(&self, buf: &BufId) -> bool {
        self.pool.owns(buf)
    }

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn accept_destinations(&mut self, macs: &[[u8; 6]]) -> Result<(), DriverError> {
        if macs.iter().all(|m| *m == self.info.mac) {
            return Ok(());
        }
        let fd = match self.members.take() {
            Some(fd) => fd,
            None => {
                let ifname = self.info.name.trim_start_matches("xdp:");
                let ifname = ifname.split('@').next().unwrap_or(ifname);
                crate::packet::sys::packet_socket(ifname)?
            }
        };
        let r =
            crate::packet::sys::join_destinations(fd.as_raw_fd(), self.ifindex, &self.info, macs);
        self.members = Some(fd);
        r
    }

    fn counters(&self) -> Counters {
        let main = self.fd.as_raw_fd();
        let kernel: u64 = self
            .rxq
            .iter()
            .filter_map(|q| sys::statistics(q.fd().map_or(main, |f| f.as_raw_fd())))
            .map(|s| s.rx_dropped + s.rx_ring_full + s.rx_fill_ring_empty_descs)
            .sum();
        Counters {
            rx_drops: self.counters.rx_drops + kernel,
            ..self.counters
        }
    }

    fn alloc(&mut self) -> Option<BufId> {
        if let Some(b) = self.pool.alloc() {
            return Some(b);
        }
        self.reap();
        let b = self.pool.alloc();
        if b.is_none() {
            self.counters.pool_empty += 1;
        }
        b
    }

    fn free(&mut self, buf: BufId) {
        // A foreign handle is the caller's bug; refusing it keeps this pool sound.
        let _ = self.pool.free(buf);
    }

    fn buf(&self, buf: &BufId) -> &[u8] {
        if !self.pool.owns(buf) {
            return &[];
        }
        &self.umem.frame(buf.index())[DATA_OFF..]
    }

    fn buf_mut(&mut self, buf: &BufId) -> &mut [u8] {
        if !self.pool.owns(buf) {
            return &mut [];
        }
        &mut self.umem.frame_mut(buf.index())[DATA_OFF..]
    }

    fn tx_burst(&mut self, frames: &mut TxBatch) -> usize {
        self.reap();
        let want = frames.len().min(self.info.caps.max_batch);
        if self.link_down {
            if self.link_is_up() {
                self.link_down = false;
            } else {
                for _ in 0..want {
                    if let Some(f) = frames.pop_front() {
                        self.counters.tx_drops += 1;
                        self.counters.tx_stamps_lost += u64::from(f.stamp_tag.is_some());
                        let _ = self.pool.free(f.buf);
                    }
                }
                return want;
            }
        }
        let mut room = self.tx.free(want as u32);
        let mut placed = 0u32;
        let mut taken = 0;
        while taken < want {
            if placed == room {
                self.counters.tx_ring_full += 1;
                break;
            }
            let Some(f) = frames.pop_front() else { break };
            taken += 1;
            if !self.pool.owns(&f.buf) || !(MIN_FRAME..=XDP_BUF_SIZE).contains(&f.len) {
                // The kernel would skip an invalid descriptor without
                // completing it: never hand it one.
                self.counters.tx_drops += 1;
                self.counters.tx_stamps_lost += u64::from(f.stamp_tag.is_some());
                let _ = self.pool.free(f.buf);
                continue;
            }
            let (len, tag) = (f.len, f.stamp_tag);
            if tag.is_some() && placed > 0 {
                // The frames before it go in a kick of their own, so a
                // stamped frame leads its kick: its stamp (taken before the
                // kick) is then as close to its departure as it gets.
                self.tx.submit(placed);
                self.in_tx += placed;
                room -= placed;
                placed = 0;
                self.kick();
            }
            let Ok(idx) = self.pool.lend(f.buf) else {
                continue;
            };
            if let (Some(tag), Some(slot)) = (tag, self.tags.get_mut(idx as usize)) {
                *slot = Some(Stamped {
                    tag,
                    kicked_at: None,
                });
                self.stamped_in_flight += 1;
                if self.unkicked.len() < self.unkicked.capacity() {
                    self.unkicked.push(idx); // within the room made at open
                }
            }
            self.tx.put(
                placed,
                libc::xdp_desc {
                    addr: u64::from(idx) * FRAME_SIZE as u64 + DATA_OFF as u64,
                    len: len as u32,
                    options: 0,
                },
            );
            placed += 1;
            self.counters.tx_frames += 1;
            self.counters.tx_bytes += len as u64;
        }
        if placed > 0 {
            self.tx.submit(placed);
            self.in_tx += placed;
        }
        self.kick();
        taken
    }

    fn wait_rx(&mut self, timeout_ns: u64) -> bool {
        crate::wait::wait_readable(&mut self.rx_wait, timeout_ns);
        true
    }

    fn rx_wait_fds(&self) -> Vec<std::os::fd::RawFd> {
        self.rx_wait.iter().map(|p| p.fd).collect()
    }

    fn rx_burst(&mut self, out: &mut RxBatch) -> usize {
        let mut want = (out.capacity() - out.len()).min(self.info.caps.max_batch);
        let mut got = 0;
        let nq = self.rxq.len();
        // Round robin over the queues, starting one further each call.
        for k in 0..nq {
            if want == 0 {
                break;
            }
            let qi = (self.next_rxq + k) % nq;
            if self.busy_poll {
                let main = self.fd.as_raw_fd();
                sys::wake_rx(self.rxq[qi].fd().map_or(main, |f| f.as_raw_fd()));
            }
            let n = self.rx_queue(qi, want, out);
            got += n;
            want -= n;
        }
        self.next_rxq = (self.next_rxq + 1) % nq.max(1);
        self.refill();
        got
    }

    fn tx_stamps(&mut self, out: &mut TxStampBatch) -> usize {
        if self.stamped_in_flight > 0 {
            self.reap();
        }
        self.stamps.drain_into(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout() {
        assert_eq!(XDP_BUF_SIZE, 1792);
        assert_eq!(META_OFF, 248);
        assert_eq!(std::mem::size_of::<libc::xdp_desc>(), 16);
    }

    #[test]
    fn rings_hold_a_stall_of_the_load() {
        assert_eq!(XdpOptions::for_load(None), XdpOptions::default());
        let load = |fps| {
            XdpOptions::for_load(Some(crate::RxLoad {
                frames_per_sec: fps,
                max_frame_len: 1522,
            }))
        };
        // 1 kHz: the defaults (2048 entries) hold seconds of it.
        assert_eq!(load(1000), XdpOptions::default());
        // 10 kHz: 2,500 frames in 250 ms, + 64, to a power of two.
        let o = load(10_000);
        assert_eq!((o.rx_size, o.fill_size, o.frames), (4096, 4096, 8192));
        // Beyond what a ring may be: capped, and still valid options.
        let o = load(u64::MAX);
        assert_eq!((o.rx_size, o.fill_size, o.frames), (65536, 65536, 131072));
    }

    #[test]
    fn a_missing_interface_is_named() {
        let e = XdpDevice::open("takt-nope0", 0, XdpOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no network interface \"takt-nope0\""), "{e}");
        assert!(e.contains("xdp:takt-nope0@0"), "{e}");
    }

    #[test]
    fn bad_options_say_what_to_change() {
        let e = XdpDevice::open(
            "lo",
            0,
            XdpOptions {
                rx_size: 1000,
                ..Default::default()
            },
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("powers of two"), "{e}");
    }
}
