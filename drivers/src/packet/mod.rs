//! AF_PACKET backend, `packet:IFNAME`: one raw socket bound to the
//! interface with a TPACKET_V2 RX ring and a TX ring mapped into userland.
//!
//! - **RX**: a TPACKET_V2 ring of fixed slots ([`RX_SLOT_SIZE`] bytes,
//!   31 to a 64 KiB block, 64 blocks by default). The kernel writes each
//!   frame into the next slot and hands that slot over at once
//!   (TP_STATUS_USER in its own header); `rx_burst` checks the header
//!   (`rxring.rs`), copies the frame into a pool buffer and gives the slot
//!   back (TP_STATUS_KERNEL). No frame waits for others: TPACKET_V3's
//!   blocks are handed over when full or when the retire timeout fires
//!   (1 ms at the least), so a sparse stream reached userland up to 1 ms
//!   after it arrived (docs/backends.md: why V2).
//! - **Busy polling** ([`crate::BusyPoll`], through `PacketOptions`): the
//!   socket options are set and can be read back, but AF_PACKET never
//!   records the NAPI context a frame came from (SO_INCOMING_NAPI_ID stays
//!   0), so the kernel has nothing to busy-poll for it; `rx_burst` reads
//!   the ring without a system call either way (docs/backends.md).
//! - **VLAN**: the kernel strips the 802.1Q tag on receive and reports it in
//!   the frame header; `rx_burst` puts it back, so the frame handed out is
//!   the frame as it was on the wire.
//! - **TX** (without ETF): TPACKET_V2 TX ring of fixed 2 KiB slots (512 by default).
//!   `tx_burst` copies each pool buffer into the next free slot, marks it
//!   TP_STATUS_SEND_REQUEST, frees the buffer at once, and kicks the kernel
//!   with one non-blocking `sendto` per burst. PACKET_QDISC_BYPASS is on by
//!   default (frames go straight to the driver: no qdisc, no capture on the
//!   sending side) — turn it off in [`PacketOptions`] to go through the
//!   interface's qdisc.
//! - **Link down**: a kick that finds the interface down counts one
//!   `link_down` and drops what waits in the TX ring (`tx_drops`), so the
//!   ring never fills with stale frames; sending resumes by itself when the
//!   link is back.
//! - **Receive filter**: ETH_P_ALL (a RingDevice also carries ARP/ICMP for
//!   the control plane), with PACKET_IGNORE_OUTGOING so the socket does not
//!   see frames other sockets send on the same interface. A real NIC
//!   filters destinations in hardware, so `accept_destinations` (the
//!   listener calls it with its streams' addresses) joins their multicast
//!   groups, or turns on promiscuous mode for a foreign unicast address,
//!   with PACKET_ADD_MEMBERSHIP: held by the socket, gone when it closes.
//! - **Time**: rx timestamps are the kernel's software timestamps,
//!   CLOCK_REALTIME, moved onto the ETF qdisc's clock when there is one
//!   (for TAI by the whole seconds between the two, read at open).
//! - **Launch time (ETF)**: at open the interface's qdiscs are dumped over
//!   rtnetlink ([`etf`]). With an ETF qdisc anywhere on it (root, or one
//!   queue under mqprio/taprio: [`PacketDevice::launch_time_note`] says
//!   where; frames are not steered to that queue, see [`etf`]) the socket
//!   sets SO_TXTIME on the qdisc's clock with SOF_TXTIME_REPORT_ERRORS
//!   (and deadline mode if the qdisc has it), `caps.launch_time` is true
//!   and `info().clock` is the qdisc's clock. Then there is no TX ring: a
//!   ring kick carries one SCM_TXTIME for every frame it sends, so each
//!   frame is its own non-blocking `sendmsg` straight from the pool buffer
//!   with its launch time in a control message built in a fixed buffer
//!   (no allocation). That is cheaper than a kick per ring slot (the
//!   ignored test `send_cost`, veth, through the qdisc layer, 60-byte
//!   frames: 1.8–2.3 us a frame against 2.4–3.0 us; the ring kicked once
//!   per 32 frames, without launch times, 1.6 us). PACKET_QDISC_BYPASS is off (the qdisc is the
//!   point). ETF drops a frame without a txtime, so a frame without
//!   `launch_time_ns` gets "now + delta" on the qdisc's clock: the soonest
//!   ETF lets it leave. Frames ETF refuses (launch time past, before one it
//!   already sent, wrong clock: SO_EE_CODE_TXTIME_INVALID_PARAM) or drops
//!   at dequeue (SO_EE_CODE_TXTIME_MISSED) come back on the socket's error
//!   queue, read without blocking every 32 bursts and by `counters()`: they
//!   move from `tx_frames` to `tx_drops` ([`PacketDevice::launch_time_errors`]
//!   splits them). Software ETF (no offload) dequeues a frame at launch
//!   time − delta and the stack sends it then, so the frame reaches the
//!   wire at about its launch time only if delta matches the path's delay.
//!   Without ETF, `caps.launch_time` is false, frames leave when queued and
//!   the note says how to add one
//!   (`tc qdisc replace dev IF root etf clockid CLOCK_TAI delta 200000`).
//!
//! - **Transmit stamps** (`StampSource::KernelSoftware`): a frame with a
//!   `stamp_tag` gets the kernel's software transmit stamp, taken in the
//!   driver's xmit (SO_TIMESTAMPING with SOF_TIMESTAMPING_TX_SOFTWARE,
//!   numbered with OPT_ID, without the frame: OPT_TSONLY), read off the
//!   socket's error queue without blocking by `tx_stamps` and moved onto
//!   `info().clock` as rx stamps are (`stamps.rs` maps the numbers to
//!   tags). Without ETF every sendmsg on the ring socket walks the TX ring
//!   (af_packet.c: packet_sendmsg -> tpacket_snd), and SO_TIMESTAMPING on
//!   it would stamp every stream frame, so a stamped frame leaves by a
//!   second, send-only AF_PACKET socket bound to the same interface
//!   (protocol 0: it receives nothing) with the same qdisc bypass; the
//!   ring frames of the burst queued before it are kicked first. With ETF
//!   it is its own `sendmsg` on the main socket as every frame is, with a
//!   per-message SO_TIMESTAMPING next to its SCM_TXTIME (the socket has
//!   OPT_ID but no record flag, so other frames are not stamped); the
//!   error queue then carries ETF's reports and the stamps, and a stamped
//!   frame ETF refuses or misses (matched by launch time) is counted in
//!   `tx_stamps_lost`, as is one the send fails for.
//!
//! Nothing on the data path allocates: the pool, its memory and the rings
//! are all made in [`PacketDevice::open`].

pub mod etf;
mod rxring;
mod stamps;
pub(crate) mod sys;

use crate::mapping::Mapping;
use crate::netif;
use crate::pool::{BufId, Pool};
use crate::{
    Capabilities, Counters, DeviceInfo, DriverError, RingDevice, RxBatch, RxFrame, StampSource,
    TxBatch, TxFrame, TxStampBatch, MAX_BURST,
};
use stamps::Stamper;
use std::cell::{Cell, RefCell};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

/// TX slot size.
const SLOT_SIZE: u32 = 2048;
/// Where frame data starts in a TX slot: TPACKET2_HDRLEN - sizeof(sockaddr_ll)
/// (af_packet.c: tpacket_parse_header without PACKET_TX_HAS_OFF).
const TX_DATA_OFF: usize = tpacket_align(std::mem::size_of::<libc::tpacket2_hdr>());
/// Largest frame (without FCS) a buffer carries.
pub const PACKET_BUF_SIZE: usize = 2000;
/// Largest MTU whose frames (Ethernet header and one VLAN tag added) fit a
/// buffer: 1,982. Longer frames are counted in `rx_truncated`.
pub const PACKET_MAX_MTU: u32 = (PACKET_BUF_SIZE - 18) as u32;
/// Shortest frame that is sent: an Ethernet header.
const MIN_FRAME: usize = 14;
/// Block size of the TX ring (a multiple of the slot size: slots are contiguous).
const TX_BLOCK_SIZE: u32 = 1 << 16;
/// Bytes of an RX slot: the header, its sockaddr_ll and the kernel's
/// alignment (an Ethernet frame starts at byte 66, af_packet.c: macoff),
/// then a whole buffer's frame with room to spare.
pub const RX_SLOT_SIZE: u32 = 2112;

const fn tpacket_align(x: usize) -> usize {
    (x + libc::TPACKET_ALIGNMENT - 1) & !(libc::TPACKET_ALIGNMENT - 1)
}

/// Sizes and switches of one AF_PACKET device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketOptions {
    /// Buffers in the pool (each [`PACKET_BUF_SIZE`] bytes).
    pub pool_size: usize,
    /// Bytes per RX block: a power-of-two multiple of the page size,
    /// holding `rx_block_size / RX_SLOT_SIZE` frame slots.
    pub rx_block_size: u32,
    pub rx_blocks: u32,
    /// TX slots: a multiple of 32 (64 KiB blocks of 2 KiB slots).
    pub tx_slots: u32,
    /// PACKET_QDISC_BYPASS: send straight to the driver. Ignored (off)
    /// when an ETF qdisc gives frames their launch times.
    pub qdisc_bypass: bool,
    /// Use an ETF qdisc on the interface for launch times when there is one
    /// (SO_TXTIME). Off: frames leave when queued, as without ETF.
    pub launch_time: bool,
    /// Socket busy polling (off by default; see the module docs).
    pub busy_poll: crate::BusyPoll,
}

impl Default for PacketOptions {
    fn default() -> Self {
        PacketOptions {
            pool_size: 1024,
            rx_block_size: 1 << 16,
            rx_blocks: 64,
            tx_slots: 512,
            qdisc_bypass: true,
            launch_time: true,
            busy_poll: crate::BusyPoll::default(),
        }
    }
}

/// Most RX blocks [`PacketOptions::for_load`] asks for (256 MiB of 64 KiB
/// blocks, 126,976 slots): beyond it the load is more than a stall can be
/// ridden out of.
pub const MAX_RX_BLOCKS: u32 = 4096;

/// RX slots kept beyond a stall's stream frames, for the frames between
/// streams (ARP, PTP, the control plane).
const RX_SPARE_SLOTS: u64 = 256;

impl PacketOptions {
    /// The defaults, with an RX ring that holds a [`crate::RX_STALL_NS`]
    /// stall of `load` ([`crate::RX_RING_HOLDS_NS`] of frames;
    /// docs/backends.md has the rule). Every frame takes one slot whatever
    /// its length (longer than a slot: truncated, counted), so the ring
    /// needs the stall's frames plus [`RX_SPARE_SLOTS`]. Never fewer
    /// blocks than the defaults.
    pub fn for_load(load: Option<crate::RxLoad>) -> Self {
        let mut o = PacketOptions::default();
        let Some(load) = load else { return o };
        let slots = load
            .frames_in(crate::RX_RING_HOLDS_NS)
            .saturating_add(RX_SPARE_SLOTS);
        let per_block = u64::from(o.rx_block_size / RX_SLOT_SIZE);
        o.rx_blocks = u32::try_from(slots.div_ceil(per_block))
            .unwrap_or(u32::MAX)
            .clamp(o.rx_blocks, MAX_RX_BLOCKS);
        o
    }

    /// Frame slots of the RX ring: frames it holds before the kernel drops.
    pub fn rx_slots(&self) -> u64 {
        u64::from(self.rx_block_size / RX_SLOT_SIZE) * u64::from(self.rx_blocks)
    }
}

/// Launch times through the interface's ETF qdisc.
struct Etf {
    params: etf::EtfParams,
    /// The clock to read "now" from for a frame without a launch time.
    clock: nix::time::ClockId,
    errors: Cell<sys::TxtimeErrors>,
    /// `tx_burst` calls since the error queue was last drained.
    since_drain: u32,
}

struct ErrQueueBufs {
    data: [u8; 64],
    ctrl: sys::CmsgBuf<256>,
}

/// SO_TIMESTAMPING of the socket that sends stamped frames: software
/// stamps, numbered, without the frame. The send-only socket asks for a
/// stamp of every frame; the ETF socket only of frames that ask
/// (per-message flags), so stream frames cost nothing.
const STAMP_SOCKET_FLAGS: u32 =
    sys::TS_TX_SOFTWARE | sys::TS_SOFTWARE | sys::TS_OPT_ID | sys::TS_OPT_TSONLY;
const ETF_SOCKET_FLAGS: u32 = sys::TS_SOFTWARE | sys::TS_OPT_ID | sys::TS_OPT_TSONLY;

/// The error queue is drained every this many `tx_burst` calls (and by
/// `counters`), so ETF's reports never fill the socket's receive budget.
const DRAIN_EVERY: u32 = 32;

/// An AF_PACKET socket with its mapped rings and its own buffer pool.
pub struct PacketDevice {
    info: DeviceInfo,
    /// POLLIN on the ring's socket, for `wait_rx`.
    rx_wait: Vec<libc::pollfd>,
    fd: OwnedFd,
    ring: Mapping,
    rx_block_size: usize,
    /// RX slots per block and in all.
    rx_per_block: usize,
    rx_slots: usize,
    /// The RX slot `rx_burst` looks at next: the kernel fills them in order.
    rx_next: usize,
    /// Start of the TX ring in `ring`.
    tx_off: usize,
    tx_slots: usize,
    tx_head: usize,
    pool: Pool,
    mem: Vec<u8>,
    counters: Counters,
    /// The last kick found the interface down.
    link_down: bool,
    /// Kernel drops read from PACKET_STATISTICS so far (reading resets them).
    kernel_drops: Cell<u64>,
    /// `Some`: launch times through ETF, one `sendmsg` per frame, no TX ring.
    etf: Option<Etf>,
    /// Why there is, or is not, launch time on this device.
    launch_time_note: String,
    /// Added to the kernel's CLOCK_REALTIME rx timestamps to put them on
    /// `info.clock` (0 unless ETF runs on another clock).
    rx_offset_ns: i64,
    /// Without ETF: a plain AF_PACKET socket on the same interface
    /// (protocol 0: it receives nothing) with SO_TIMESTAMPING on, for the
    /// frames that ask for a transmit stamp. The ring socket cannot carry
    /// them: every sendmsg on it walks the ring (af_packet.c: packet_sendmsg
    /// -> tpacket_snd), and SO_TIMESTAMPING there would stamp every frame.
    stamp_fd: Option<OwnedFd>,
    /// Control messages of a `sendmsg` (SCM_TXTIME, SO_TIMESTAMPING);
    /// filled in place, never reallocated.
    cmsg: sys::CmsgBuf<{ sys::SEND_CMSG_SPACE }>,
    /// Buffers for reading an error queue (`counters` takes `&self`).
    errq: RefCell<ErrQueueBufs>,
    /// Kernel stamp numbers -> tags, and the stamps not yet handed out.
    stamper: RefCell<Stamper>,
}

// SAFETY: the raw pointer in `ring` points into a mapping this device owns
// alone; moving the device to another thread moves that ownership with it.
unsafe impl Send for PacketDevice {}

impl PacketDevice {
    /// Open `packet:IFNAME` in the calling thread's network namespace.
    pub fn open(ifname: &str, opts: PacketOptions) -> Result<Self, DriverError> {
        let bad = |reason: String| DriverError::BadOptions {
            device: format!("packet:{ifname}"),
            reason,
        };
        let page = 4096u32;
        if opts.rx_block_size < page
            || !opts.rx_block_size.is_power_of_two()
            || opts.rx_block_size < RX_SLOT_SIZE
        {
            return Err(bad(format!(
                "rx_block_size {} must be a power of two of at least 4096",
                opts.rx_block_size
            )));
        }
        let slots_per_block = TX_BLOCK_SIZE / SLOT_SIZE;
        if opts.rx_blocks == 0
            || opts.rx_blocks > MAX_RX_BLOCKS
            || opts.tx_slots == 0
            || !opts.tx_slots.is_multiple_of(slots_per_block)
            || opts.pool_size == 0
        {
            return Err(bad(format!(
                "rx_blocks (at most {MAX_RX_BLOCKS}) and pool_size must be at least 1 and \
                 tx_slots a multiple of {slots_per_block} (got {opts:?})"
            )));
        }

        let device = format!("packet:{ifname}");
        let ifindex = netif::ifindex(&device, ifname)?;
        let (etf, launch_time_note) = Self::look_for_etf(ifname, ifindex, &opts)?;
        let fd = sys::packet_socket(ifname)?;
        let raw = fd.as_raw_fd();
        if !netif::is_up(raw, &device, ifname)? {
            return Err(netif::interface_down(&device, ifname));
        }
        let mac = netif::mac(raw, &device, ifname)?;
        let speed = netif::speed_bps(raw, ifname).unwrap_or(netif::FALLBACK_SPEED_BPS);

        let what = |s: &str| format!("{device}: {s}");
        // V2: every frame is handed over on its own (no block retire
        // timeout); the version holds for the TX ring too.
        let v2 = libc::tpacket_versions::TPACKET_V2 as libc::c_int;
        sys::setsockopt(raw, libc::PACKET_VERSION, &v2, &what("setting TPACKET_V2"))?;
        // Skip a malformed TX slot instead of stopping the ring at it.
        sys::setsockopt(raw, libc::PACKET_LOSS, &1i32, &what("setting PACKET_LOSS"))?;
        let rx_per_block = opts.rx_block_size / RX_SLOT_SIZE;
        let rx_req = libc::tpacket_req {
            tp_block_size: opts.rx_block_size,
            tp_block_nr: opts.rx_blocks,
            tp_frame_size: RX_SLOT_SIZE,
            tp_frame_nr: rx_per_block * opts.rx_blocks,
        };
        sys::setsockopt(
            raw,
            libc::PACKET_RX_RING,
            &rx_req,
            &what("setting up the RX ring"),
        )?;
        // With ETF every frame is its own sendmsg (a TX ring kick carries
        // one SCM_TXTIME for all the frames it sends), so there is no TX ring.
        let tx_blocks = if etf.is_some() {
            0
        } else {
            opts.tx_slots / slots_per_block
        };
        let tx_req = libc::tpacket_req {
            tp_block_size: TX_BLOCK_SIZE,
            tp_block_nr: tx_blocks,
            tp_frame_size: SLOT_SIZE,
            tp_frame_nr: opts.tx_slots,
        };
        if tx_blocks > 0 {
            sys::setsockopt(
                raw,
                libc::PACKET_TX_RING,
                &tx_req,
                &what("setting up the TX ring"),
            )?;
        }
        // ETF is a qdisc: bypassing the qdiscs would bypass it.
        let bypass = i32::from(opts.qdisc_bypass && etf.is_none());
        sys::setsockopt(
            raw,
            libc::PACKET_QDISC_BYPASS,
            &bypass,
            &what("setting PACKET_QDISC_BYPASS"),
        )?;
        sys::setsockopt(
            raw,
            libc::PACKET_IGNORE_OUTGOING,
            &1i32,
            &what("setting PACKET_IGNORE_OUTGOING"),
        )?;
        crate::busy_poll::apply(raw, &opts.busy_poll, &device)?;

        let rx_len = opts.rx_block_size as usize * opts.rx_blocks as usize;
        let tx_len = TX_BLOCK_SIZE as usize * tx_blocks as usize;
        let len = rx_len + tx_len;
        let ring = Mapping::shared(raw, len, 0).map_err(|source| DriverError::Io {
            what: what(&format!("mapping the rings ({len} bytes)")),
            source,
        })?;
        sys::bind(&fd, ifindex, ifname)?;
        // Drops counted before bind are not ours.
        let _ = sys::take_stats(raw);

        let clock = match &etf {
            Some(p) => {
                sys::set_txtime(raw, p.clockid, p.deadline_mode(), ifname)?;
                p.clock().unwrap_or(nix::time::ClockId::CLOCK_REALTIME)
            }
            None => nix::time::ClockId::CLOCK_REALTIME,
        };
        let rx_offset_ns = realtime_to(clock);
        let stamping = |fd: i32, flags: u32| {
            sys::set_timestamping(fd, flags).map_err(|source| DriverError::Io {
                what: what("setting SO_TIMESTAMPING"),
                source,
            })
        };
        let stamp_fd = if etf.is_some() {
            stamping(raw, ETF_SOCKET_FLAGS)?;
            None
        } else {
            let sfd = sys::packet_socket(ifname)?;
            let sraw = sfd.as_raw_fd();
            sys::setsockopt(
                sraw,
                libc::PACKET_QDISC_BYPASS,
                &bypass,
                &what("setting PACKET_QDISC_BYPASS on the stamp socket"),
            )?;
            sys::bind_protocol(&sfd, ifindex, 0, ifname)?;
            stamping(sraw, STAMP_SOCKET_FLAGS)?;
            Some(sfd)
        };

        Ok(PacketDevice {
            rx_wait: crate::wait::readable_set(&[fd.as_raw_fd()]),
            info: DeviceInfo {
                name: format!("packet:{ifname}"),
                mac,
                link_speed_bps: speed,
                buf_size: PACKET_BUF_SIZE,
                pool_size: opts.pool_size,
                caps: Capabilities {
                    launch_time: etf.is_some(),
                    rx_stamps: StampSource::KernelSoftware,
                    tx_stamps: StampSource::KernelSoftware,
                    max_batch: MAX_BURST,
                },
                clock: Some(clock),
            },
            fd,
            ring,
            rx_block_size: opts.rx_block_size as usize,
            rx_per_block: rx_per_block as usize,
            rx_slots: (rx_per_block * opts.rx_blocks) as usize,
            rx_next: 0,
            tx_off: rx_len,
            tx_slots: opts.tx_slots as usize,
            tx_head: 0,
            pool: Pool::new(opts.pool_size),
            // Not zero: calloc'ed memory would fault in page by page on the data path.
            mem: vec![0xa5; opts.pool_size * PACKET_BUF_SIZE],
            counters: Counters::default(),
            link_down: false,
            kernel_drops: Cell::new(0),
            etf: etf.map(|params| Etf {
                params,
                clock,
                errors: Cell::new(sys::TxtimeErrors::default()),
                since_drain: 0,
            }),
            launch_time_note,
            rx_offset_ns,
            stamp_fd,
            cmsg: sys::CmsgBuf([0; sys::SEND_CMSG_SPACE]),
            errq: RefCell::new(ErrQueueBufs {
                data: [0; 64],
                ctrl: sys::CmsgBuf([0; 256]),
            }),
            stamper: RefCell::new(Stamper::new(rx_offset_ns)),
        })
    }

    /// The ETF qdisc to use, and the note on launch time either way.
    fn look_for_etf(
        ifname: &str,
        ifindex: u32,
        opts: &PacketOptions,
    ) -> Result<(Option<etf::EtfParams>, String), DriverError> {
        let add = format!(
            "add one with `tc qdisc replace dev {ifname} root etf clockid CLOCK_TAI delta 200000` \
             (kernel module sch_etf)"
        );
        if !opts.launch_time {
            return Ok((
                None,
                format!("no launch time on packet:{ifname}: turned off in the device options"),
            ));
        }
        let Some(q) = etf::find_etf(ifname, ifindex)? else {
            return Ok((
                None,
                format!(
                    "no launch time on packet:{ifname}: no ETF qdisc on {ifname}, so frames \
                     leave when queued: {add}"
                ),
            ));
        };
        let p = q.params;
        let Some(clock) = p.clock() else {
            return Ok((
                None,
                format!(
                    "no launch time on packet:{ifname}: its ETF qdisc ({}) runs on clock id {}, \
                     which takt does not know: replace it with one on CLOCK_TAI: {add}",
                    q.place(),
                    p.clockid
                ),
            ));
        };
        let mut how = String::new();
        if p.deadline_mode() {
            how.push_str(", deadline mode: frames leave as soon as possible before it");
        }
        if p.offload() {
            how.push_str(", offloaded to the NIC");
        }
        Ok((
            Some(p),
            format!(
                "launch time on packet:{ifname} through its ETF qdisc ({}, clock {}, delta {} ns{how})",
                q.place(),
                clock_name(clock),
                p.delta_ns
            ),
        ))
    }

    /// Why this device does, or does not, hold frames until their launch
    /// times: with ETF, where the qdisc sits and its clock and delta;
    /// without, what to add (`tc qdisc replace dev IF root etf ...`).
    pub fn launch_time_note(&self) -> &str {
        &self.launch_time_note
    }

    /// Frames the ETF qdisc dropped, as (launch time refused at enqueue —
    /// in the past, out of order, wrong clock — , launch time missed at
    /// dequeue); both also count in `tx_drops`. (0, 0) without ETF.
    pub fn launch_time_errors(&self) -> (u64, u64) {
        self.drain_errors();
        self.etf
            .as_ref()
            .map_or((0, 0), |e| (e.errors.get().invalid, e.errors.get().missed))
    }

    /// Read the error queue of the socket that sends stamped frames (the
    /// ETF socket, or the send-only one): ETF's reports into the counts,
    /// stamps to their tags. The send-only socket is only read while a
    /// stamp may come.
    fn drain_errors(&self) {
        let fd = match (&self.etf, &self.stamp_fd) {
            (Some(_), _) => self.fd.as_raw_fd(),
            (None, Some(s)) if self.stamper.try_borrow().is_ok_and(|s| s.waiting()) => {
                s.as_raw_fd()
            }
            _ => return,
        };
        let (Ok(mut bufs), Ok(mut stamper)) =
            (self.errq.try_borrow_mut(), self.stamper.try_borrow_mut())
        else {
            return;
        };
        let ErrQueueBufs { data, ctrl } = &mut *bufs;
        let mut t = sys::TxtimeErrors::default();
        sys::drain_errqueue(fd, data, ctrl, |e| match e {
            sys::ErrEntry::TxtimeInvalid { txtime_ns } => {
                t.invalid += 1;
                stamper.etf_dropped(txtime_ns);
            }
            sys::ErrEntry::TxtimeMissed { txtime_ns } => {
                t.missed += 1;
                stamper.etf_dropped(txtime_ns);
            }
            sys::ErrEntry::Stamp { key, realtime_ns } => stamper.stamp(key, realtime_ns),
        });
        if let Some(e) = &self.etf {
            let mut sum = e.errors.get();
            sum.invalid += t.invalid;
            sum.missed += t.missed;
            e.errors.set(sum);
        }
    }

    /// A send of a stamped frame failed where the kernel may or may not
    /// have used its stamp number: collect the stamps already there, then
    /// restart the numbering (turning OPT_ID off and on sets it to 0).
    fn resync_stamps(&mut self) {
        self.drain_errors();
        let (fd, flags) = match &self.stamp_fd {
            Some(s) => (s.as_raw_fd(), STAMP_SOCKET_FLAGS),
            None => (self.fd.as_raw_fd(), ETF_SOCKET_FLAGS),
        };
        let _ = sys::set_timestamping(fd, flags & !sys::TS_OPT_ID);
        let _ = sys::set_timestamping(fd, flags);
        self.stamper.get_mut().resync();
    }

    /// Account for one frame handed to `sendmsg` (`txtime`: its launch time
    /// through ETF) and give its buffer back; `Err` gives the frame back
    /// when the socket's send budget is full (it waits for the next burst).
    fn sent(
        &mut self,
        f: TxFrame,
        r: std::io::Result<()>,
        txtime: Option<u64>,
    ) -> Result<(), TxFrame> {
        let errno = r.as_ref().err().map(|e| e.raw_os_error());
        let stamper = self.stamper.get_mut();
        match errno {
            None => {
                self.link_down = false;
                self.counters.tx_frames += 1;
                self.counters.tx_bytes += f.len as u64;
                if let Some(tag) = f.stamp_tag {
                    stamper.sent(tag, txtime);
                }
            }
            // ENOBUFS through ETF: the qdisc took the frame and dropped it
            // at once (launch time already past); ETF reports it on the
            // error queue, which moves it from tx_frames to tx_drops.
            Some(Some(libc::ENOBUFS)) if self.etf.is_some() => {
                self.link_down = false;
                self.counters.tx_frames += 1;
                self.counters.tx_bytes += f.len as u64;
                if f.stamp_tag.is_some() {
                    stamper.dropped(true);
                }
            }
            // The socket's send budget is full: the frame waits.
            Some(Some(libc::EAGAIN)) => {
                self.counters.tx_ring_full += 1;
                return Err(f);
            }
            Some(Some(libc::ENETDOWN) | Some(libc::ENXIO)) => {
                if !self.link_down {
                    self.counters.link_down += 1;
                }
                self.link_down = true;
                self.counters.tx_drops += 1;
                if f.stamp_tag.is_some() {
                    stamper.dropped(false);
                }
            }
            // EINVAL, EMSGSIZE, ENOBUFS from the driver, ...: this frame
            // can't be sent.
            Some(e) => {
                self.counters.tx_drops += 1;
                if f.stamp_tag.is_some() {
                    match stamp_number_used(e) {
                        Some(used) => stamper.dropped(used),
                        None => {
                            stamper.dropped(false);
                            self.resync_stamps();
                        }
                    }
                }
            }
        }
        let _ = self.pool.free(f.buf);
        Ok(())
    }

    /// Without ETF: send a frame that asks for a transmit stamp on the
    /// send-only stamp socket. `Err`: it waits (see `sent`).
    fn send_stamped(&mut self, f: TxFrame) -> Result<(), TxFrame> {
        let Some(fd) = self.stamp_fd.as_ref().map(|s| s.as_raw_fd()) else {
            return Err(f);
        };
        let start = f.buf.index() * PACKET_BUF_SIZE;
        let frame = &self.mem[start..start + f.len];
        let r = sys::send_frame(fd, frame, None, false, &mut self.cmsg);
        self.sent(f, r, None)
    }

    /// Buffers of this device's pool currently handed out (leak checks).
    pub fn outstanding(&self) -> usize {
        self.pool.outstanding()
    }

    fn range(&self, buf: &BufId) -> std::ops::Range<usize> {
        let start = buf.index() * PACKET_BUF_SIZE;
        start..start + PACKET_BUF_SIZE
    }

    /// The status word of a ring entry.
    fn status_at(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off + 4 <= self.ring.len && off.is_multiple_of(4));
        // SAFETY: `off` is the offset of a block's block_status or a frame's
        // tp_status: 4-byte aligned, inside the mapping, which lives as long
        // as `self`. The kernel writes it concurrently, hence an atomic.
        unsafe { AtomicU32::from_ptr(self.ring.ptr.add(off) as *mut u32) }
    }

    /// Offset of RX slot `i` in the mapping: slots do not cross blocks.
    fn rx_slot_off(&self, i: usize) -> usize {
        i / self.rx_per_block * self.rx_block_size + i % self.rx_per_block * RX_SLOT_SIZE as usize
    }

    /// Give the slot `rx_next` back to the kernel and move to the next.
    fn release_rx_slot(&mut self) {
        let st = self.rx_slot_off(self.rx_next) + TP_STATUS_OFF;
        self.status_at(st)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.rx_next = (self.rx_next + 1) % self.rx_slots;
    }

    /// The socket's descriptor (tests read its options back).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// Copy the frame `span` of the slot at `slot` into `dst`
    /// (re-inserting a VLAN tag the kernel stripped: `tag_len` 4); returns
    /// its length. The caller checked that it is not truncated, so
    /// `span.snap + tag_len <= dst.len()`.
    fn copy_rx_frame(
        ring: &Mapping,
        slot: usize,
        status: u32,
        h: &libc::tpacket2_hdr,
        span: &rxring::Span,
        tag_len: usize,
        dst: &mut [u8],
    ) -> usize {
        let snap = span.snap;
        let len = snap + tag_len;
        if len > dst.len() {
            return 0; // not reached: truncated frames are never copied
        }
        let src = |from: usize| -> *const u8 {
            // SAFETY: rxring::frame checked data + snap <= the slot size,
            // and `from` <= snap.
            unsafe { ring.ptr.add(slot + span.data + from) }
        };
        if tag_len == 4 {
            let tpid = if status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                h.tp_vlan_tpid
            } else {
                0x8100
            };
            // SAFETY: 12 bytes of the frame (snap >= 12 when tagged) into dst (>= len >= 16).
            unsafe { std::ptr::copy_nonoverlapping(src(0), dst.as_mut_ptr(), 12) };
            dst[12..14].copy_from_slice(&tpid.to_be_bytes());
            dst[14..16].copy_from_slice(&h.tp_vlan_tci.to_be_bytes());
            let rest = snap - 12;
            // SAFETY: bytes 12..snap of the frame into dst[16..len].
            unsafe { std::ptr::copy_nonoverlapping(src(12), dst[16..].as_mut_ptr(), rest) };
        } else {
            // SAFETY: `snap` bytes of the frame into dst[..snap].
            unsafe { std::ptr::copy_nonoverlapping(src(0), dst.as_mut_ptr(), snap) };
        }
        len
    }
}

const TP_STATUS_OFF: usize = std::mem::offset_of!(libc::tpacket2_hdr, tp_status);
const TP_LEN_OFF: usize = std::mem::offset_of!(libc::tpacket2_hdr, tp_len);
const TP_SNAPLEN_OFF: usize = std::mem::offset_of!(libc::tpacket2_hdr, tp_snaplen);

impl RingDevice for PacketDevice {
    fn owns(&self, buf: &BufId) -> bool {
        self.pool.owns(buf)
    }

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn counters(&self) -> Counters {
        if let Some(st) = sys::take_stats(self.fd.as_raw_fd()) {
            self.kernel_drops
                .set(self.kernel_drops.get() + u64::from(st.tp_drops));
        }
        self.drain_errors();
        // A frame ETF dropped was counted sent when it was handed over.
        let (invalid, missed) = self
            .etf
            .as_ref()
            .map_or((0, 0), |e| (e.errors.get().invalid, e.errors.get().missed));
        let etf_drops = invalid + missed;
        Counters {
            rx_drops: self.counters.rx_drops + self.kernel_drops.get(),
            tx_drops: self.counters.tx_drops + etf_drops,
            tx_frames: self.counters.tx_frames.saturating_sub(etf_drops),
            tx_stamps_lost: self.stamper.try_borrow().map_or(0, |s| s.lost()),
            ..self.counters
        }
    }

    fn alloc(&mut self) -> Option<BufId> {
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
        &self.mem[self.range(buf)]
    }

    fn buf_mut(&mut self, buf: &BufId) -> &mut [u8] {
        if !self.pool.owns(buf) {
            return &mut [];
        }
        let r = self.range(buf);
        &mut self.mem[r]
    }

    fn tx_burst(&mut self, frames: &mut TxBatch) -> usize {
        if self.etf.is_some() {
            return self.tx_burst_etf(frames);
        }
        let mut taken = 0;
        // Frames in the ring not kicked yet: they go before a stamped frame
        // of the same burst, which leaves by the stamp socket.
        let mut unkicked = 0;
        while taken < self.info.caps.max_batch && !frames.is_empty() {
            if frames.front().is_some_and(|f| f.stamp_tag.is_some()) {
                if unkicked > 0 {
                    self.kick();
                    unkicked = 0;
                }
                let Some(f) = frames.pop_front() else { break };
                if !self.pool.owns(&f.buf) || !(MIN_FRAME..=PACKET_BUF_SIZE).contains(&f.len) {
                    self.counters.tx_drops += 1;
                    self.stamper.get_mut().dropped(false);
                    let _ = self.pool.free(f.buf);
                    continue;
                }
                if let Err(f) = self.send_stamped(f) {
                    if let Err(f) = frames.push_front(f) {
                        let _ = self.pool.free(f.buf); // cannot happen: just popped
                    }
                    break;
                }
                taken += 1;
                continue;
            }
            let slot = self.tx_off + self.tx_head * SLOT_SIZE as usize;
            let st = self.status_at(slot + TP_STATUS_OFF).load(Ordering::Acquire);
            if st & (libc::TP_STATUS_SEND_REQUEST | libc::TP_STATUS_SENDING) != 0 {
                self.counters.tx_ring_full += 1;
                // Retry what is queued: after ENOBUFS, or the first kick
                // after the link came back, is what empties a full ring.
                self.kick();
                unkicked = 0;
                break;
            }
            let Some(f) = frames.pop_front() else { break };
            if !self.pool.owns(&f.buf) || !(MIN_FRAME..=PACKET_BUF_SIZE).contains(&f.len) {
                self.counters.tx_drops += 1;
                let _ = self.pool.free(f.buf);
                continue;
            }
            let src = &self.mem[self.range(&f.buf)][..f.len];
            // SAFETY: the slot is TP_STATUS_AVAILABLE, so the kernel does not
            // touch it until we set SEND_REQUEST below; header fields and
            // TX_DATA_OFF + len <= SLOT_SIZE bytes are inside the slot.
            unsafe {
                let p = self.ring.ptr.add(slot);
                std::ptr::copy_nonoverlapping(src.as_ptr(), p.add(TX_DATA_OFF), f.len);
                (p.add(TP_LEN_OFF) as *mut u32).write(f.len as u32);
                (p.add(TP_SNAPLEN_OFF) as *mut u32).write(f.len as u32);
            }
            self.status_at(slot + TP_STATUS_OFF)
                .store(libc::TP_STATUS_SEND_REQUEST, Ordering::Release);
            self.counters.tx_frames += 1;
            self.counters.tx_bytes += f.len as u64;
            let _ = self.pool.free(f.buf);
            self.tx_head = (self.tx_head + 1) % self.tx_slots;
            taken += 1;
            unkicked += 1;
        }
        if unkicked > 0 {
            self.kick();
        }
        taken
    }

    /// Stamps of the socket that sends stamped frames, read off its error
    /// queue (a system call only while one may come) and mapped to their tags.
    fn tx_stamps(&mut self, out: &mut TxStampBatch) -> usize {
        if self.stamper.get_mut().waiting() {
            self.drain_errors();
        }
        self.stamper.get_mut().drain_into(out)
    }

    fn launch_time_note(&self) -> Option<&str> {
        Some(&self.launch_time_note)
    }

    fn accept_destinations(&mut self, macs: &[[u8; 6]]) -> Result<(), DriverError> {
        let ifname = self.info.name.trim_start_matches("packet:");
        let ifindex = netif::ifindex(&self.info.name, ifname)?;
        sys::join_destinations(self.fd.as_raw_fd(), ifindex, &self.info, macs)
    }

    fn wait_rx(&mut self, timeout_ns: u64) -> bool {
        crate::wait::wait_readable(&mut self.rx_wait, timeout_ns);
        true
    }

    fn rx_wait_fds(&self) -> Vec<std::os::fd::RawFd> {
        self.rx_wait.iter().map(|p| p.fd).collect()
    }

    fn rx_burst(&mut self, out: &mut RxBatch) -> usize {
        let want = (out.capacity() - out.len()).min(self.info.caps.max_batch);
        let mut n = 0;
        while n < want {
            let slot = self.rx_slot_off(self.rx_next);
            let st = self.status_at(slot + TP_STATUS_OFF).load(Ordering::Acquire);
            if st & libc::TP_STATUS_USER == 0 {
                break;
            }
            // SAFETY: the slot is userland's (TP_STATUS_USER, read with
            // Acquire) until release_rx_slot; a whole tpacket2_hdr sits at
            // its start (16-byte aligned, RX_SLOT_SIZE >= 32 bytes).
            let h: libc::tpacket2_hdr =
                unsafe { std::ptr::read(self.ring.ptr.add(slot) as *const libc::tpacket2_hdr) };
            let span = match rxring::frame(RX_SLOT_SIZE as usize, rxring::Hdr::of(&h)) {
                Ok(s) => s,
                Err(_) => {
                    // Nothing in this slot can be found safely.
                    self.counters.rx_drops += 1;
                    self.release_rx_slot();
                    continue;
                }
            };
            let tagged = st & libc::TP_STATUS_VLAN_VALID != 0 && span.snap >= 12;
            let tag_len = if tagged { 4 } else { 0 };
            if span.truncated(tag_len, PACKET_BUF_SIZE) {
                self.counters.rx_truncated += 1;
                self.release_rx_slot();
                continue;
            }
            let Some(buf) = self.pool.alloc() else {
                // The frame stays in the ring until a buffer comes back.
                self.counters.pool_empty += 1;
                break;
            };
            let r = self.range(&buf);
            let len =
                Self::copy_rx_frame(&self.ring, slot, st, &h, &span, tag_len, &mut self.mem[r]);
            let t = span.stamp_ns.saturating_add_signed(self.rx_offset_ns);
            self.release_rx_slot();
            self.counters.rx_frames += 1;
            self.counters.rx_bytes += len as u64;
            if let Err(f) = out.push_back(RxFrame {
                buf,
                len,
                rx_time_ns: t,
            }) {
                let _ = self.pool.free(f.buf); // cannot happen: room checked above
                break;
            }
            n += 1;
        }
        n
    }
}

impl PacketDevice {
    /// `tx_burst` with ETF: one non-blocking `sendmsg` per frame, straight
    /// from the pool buffer, with its launch time in SCM_TXTIME. A frame
    /// without a launch time gets "now + delta" on the qdisc's clock: the
    /// soonest ETF lets it leave (ETF drops a frame without a txtime, as it
    /// would be in the past).
    fn tx_burst_etf(&mut self, frames: &mut TxBatch) -> usize {
        let mut taken = 0;
        let fd = self.fd.as_raw_fd();
        while taken < self.info.caps.max_batch {
            let Some(f) = frames.pop_front() else { break };
            if !self.pool.owns(&f.buf) || !(MIN_FRAME..=PACKET_BUF_SIZE).contains(&f.len) {
                self.counters.tx_drops += 1;
                if f.stamp_tag.is_some() {
                    self.stamper.get_mut().dropped(false);
                }
                let _ = self.pool.free(f.buf);
                continue;
            }
            let Some(e) = self.etf.as_ref() else { break };
            let txtime = f.launch_time_ns.unwrap_or_else(|| {
                let now = nix::time::clock_gettime(e.clock)
                    .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
                    .unwrap_or(0);
                now + e.params.delta_ns.max(0) as u64
            });
            let start = f.buf.index() * PACKET_BUF_SIZE;
            let frame = &self.mem[start..start + f.len];
            let stamp = f.stamp_tag.is_some();
            // The first send after an outage reports the socket's stale
            // ENETDOWN and sends nothing: one retry tells it from a link
            // that is still down.
            let mut r = sys::send_frame(fd, frame, Some(txtime), stamp, &mut self.cmsg);
            if matches!(&r, Err(err) if err.raw_os_error() == Some(libc::ENETDOWN)) {
                r = sys::send_frame(fd, frame, Some(txtime), stamp, &mut self.cmsg);
            }
            if let Err(f) = self.sent(f, r, Some(txtime)) {
                if let Err(f) = frames.push_front(f) {
                    let _ = self.pool.free(f.buf); // cannot happen: just popped
                }
                break;
            }
            taken += 1;
        }
        if let Some(e) = self.etf.as_mut() {
            e.since_drain += 1;
            if e.since_drain >= DRAIN_EVERY {
                e.since_drain = 0;
                self.drain_errors();
            }
        }
        taken
    }

    /// One non-blocking `sendto` that walks the TX ring.
    fn sendto_ring(&self) -> isize {
        // SAFETY: sendto with no data and no address on our own socket: the
        // kernel walks the TX ring of the bound interface.
        unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        }
    }

    /// Ask the kernel to send every slot marked SEND_REQUEST, without waiting.
    fn kick(&mut self) {
        // The first send after an outage reports the socket's stale
        // ENETDOWN (set when the link went down) and sends nothing: one
        // retry tells a stale error from a link that is still down.
        let mut r = self.sendto_ring();
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENETDOWN) {
            r = self.sendto_ring();
        }
        let down = r < 0
            && matches!(
                std::io::Error::last_os_error().raw_os_error(),
                Some(libc::ENETDOWN) | Some(libc::ENXIO)
            );
        // Counted once per outage. Other errors (ENOBUFS, EAGAIN) leave the
        // slots marked for the next kick.
        if down && !self.link_down {
            self.counters.link_down += 1;
        }
        self.link_down = down;
        if down {
            self.drop_queued();
        }
    }

    /// The link is down: drop every frame still waiting in the TX ring
    /// (counted in `tx_drops`) rather than let the ring fill up and send
    /// frames seconds stale once the link is back. Only a `sendto` on this
    /// socket (this thread) moves a slot out of SEND_REQUEST, so taking
    /// them back here races with nothing.
    ///
    /// The kernel walks the ring from its own head and stops at the first
    /// slot that is not SEND_REQUEST, so the waiting slots are the run just
    /// behind `tx_head`, and the kernel's head is the oldest of them: the
    /// next frame must go there, or the kernel would wait for a whole lap.
    fn drop_queued(&mut self) {
        for _ in 0..self.tx_slots {
            let prev = (self.tx_head + self.tx_slots - 1) % self.tx_slots;
            let slot = self.tx_off + prev * SLOT_SIZE as usize;
            let st = self.status_at(slot + TP_STATUS_OFF);
            if st.load(Ordering::Acquire) != libc::TP_STATUS_SEND_REQUEST {
                break;
            }
            // SAFETY: a SEND_REQUEST slot the kernel has not picked up (it
            // only does so inside our sendto); tp_len is an aligned u32
            // inside the slot.
            let len = unsafe { (self.ring.ptr.add(slot + TP_LEN_OFF) as *const u32).read() };
            st.store(libc::TP_STATUS_AVAILABLE, Ordering::Release);
            self.tx_head = prev;
            self.counters.tx_drops += 1;
            self.counters.tx_frames = self.counters.tx_frames.saturating_sub(1);
            self.counters.tx_bytes = self.counters.tx_bytes.saturating_sub(u64::from(len));
        }
    }
}

/// Whether a failed `sendmsg` of a stamped frame used the kernel's stamp
/// number (af_packet.c: packet_snd sets the stamp up after the interface,
/// socket-buffer and header checks, before the qdisc and driver); `None`
/// when the error can come from either side.
fn stamp_number_used(errno: Option<i32>) -> Option<bool> {
    match errno? {
        libc::ENETDOWN | libc::ENXIO | libc::EAGAIN | libc::EINVAL | libc::EFAULT | libc::EPIPE => {
            Some(false)
        }
        libc::ENOBUFS => Some(true),
        _ => None,
    }
}

/// `clock - CLOCK_REALTIME` in ns, to move the kernel's rx timestamps
/// onto `clock`; whole seconds for TAI (its offset is the leap seconds).
fn realtime_to(clock: nix::time::ClockId) -> i64 {
    use nix::time::{clock_gettime, ClockId};
    if clock == ClockId::CLOCK_REALTIME {
        return 0;
    }
    let ns = |c| {
        clock_gettime(c)
            .map(|t| t.tv_sec() * 1_000_000_000 + t.tv_nsec())
            .unwrap_or(0)
    };
    let (a, b) = (ns(ClockId::CLOCK_REALTIME), ns(clock));
    let d = b - a;
    if clock == ClockId::CLOCK_TAI {
        (d + 500_000_000).div_euclid(1_000_000_000) * 1_000_000_000
    } else {
        d
    }
}

fn clock_name(c: nix::time::ClockId) -> &'static str {
    use nix::time::ClockId;
    match c {
        ClockId::CLOCK_TAI => "tai",
        ClockId::CLOCK_MONOTONIC => "monotonic",
        ClockId::CLOCK_BOOTTIME => "boottime",
        _ => "realtime",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_kernel_headers() {
        assert_eq!(TX_DATA_OFF, 32);
        assert_eq!(PACKET_BUF_SIZE, 2000);
        assert!(TX_DATA_OFF + PACKET_BUF_SIZE <= SLOT_SIZE as usize);
        assert_eq!(TP_STATUS_OFF, 0);
        assert_eq!(TP_LEN_OFF, 4);
        assert_eq!(TP_SNAPLEN_OFF, 8);
        // A whole buffer's frame fits a slot after the kernel's 66 bytes
        // of header, address and alignment (plus a VLAN header's 4).
        assert!(66 + 4 + PACKET_BUF_SIZE <= RX_SLOT_SIZE as usize);
        assert!(RX_SLOT_SIZE.is_multiple_of(libc::TPACKET_ALIGNMENT as u32));
        assert_eq!(PacketOptions::default().rx_slots(), 64 * 31);
    }

    #[test]
    fn the_rx_ring_holds_a_stall_of_the_load() {
        assert_eq!(PacketOptions::for_load(None), PacketOptions::default());
        let load = |fps, len| {
            PacketOptions::for_load(Some(crate::RxLoad {
                frames_per_sec: fps,
                max_frame_len: len,
            }))
            .rx_blocks
        };
        // 250 frames of a 250 ms window and 256 spare: the default holds them.
        assert_eq!(load(1000, 128), 64);
        // 2,500 + 256 slots, 31 a block, whatever the frame length.
        assert_eq!(load(10_000, 1522), 89);
        assert_eq!(load(10_000, 60), 89);
        assert_eq!(load(0, 0), 64);
        let o = PacketOptions::for_load(Some(crate::RxLoad {
            frames_per_sec: 100_000,
            max_frame_len: 1522,
        }));
        assert!(o.rx_slots() >= 25_000 + 256, "{o:?}");
        assert_eq!(load(u64::MAX, usize::MAX), MAX_RX_BLOCKS);
    }

    #[test]
    fn bad_options_say_what_to_change() {
        let e = PacketDevice::open(
            "lo",
            PacketOptions {
                tx_slots: 33,
                ..Default::default()
            },
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("tx_slots a multiple of 32"), "{e}");
    }

    /// What ETF's one-`sendmsg`-per-frame costs against the TX ring, on a
    /// veth in two fresh namespaces (root; no ETF needed: the cost is the
    /// system calls and copies). `cargo test -p takt-drivers --lib --
    /// --ignored send_cost --nocapture`
    #[test]
    #[ignore = "measurement, not a check"]
    fn send_cost() {
        use crate::{TxBatch, TxFrame};
        use std::time::{Duration, Instant};
        let pid = std::process::id();
        let (a, b) = (format!("takt-sc-{pid}-a"), format!("takt-sc-{pid}-b"));
        let _pair =
            crate::link::VethPair::create(&a, &b, "sc-a", "sc-b", "10.79.0.1/24", "10.79.0.2/24")
                .expect("veth pair (root)");
        let run = |label: &str, batch: usize| {
            let label = label.to_string();
            crate::link::Netns::enter(&a, move || {
                let opts = PacketOptions {
                    qdisc_bypass: false,
                    ..Default::default()
                };
                let mut dev = PacketDevice::open("sc-a", opts).expect("open sc-a");
                let (t0, mut sent) = (Instant::now(), 0u64);
                let mut q = TxBatch::new();
                while t0.elapsed() < Duration::from_secs(2) {
                    while q.len() < batch {
                        let buf = dev.alloc().expect("pool");
                        dev.buf_mut(&buf)[..60].fill(0xff);
                        let _ = q.push_back(TxFrame {
                            buf,
                            len: 60,
                            launch_time_ns: None,
                            stamp_tag: None,
                        });
                    }
                    sent += dev.tx_burst(&mut q) as u64;
                }
                let ns = t0.elapsed().as_nanos() as f64 / sent as f64;
                eprintln!("{label}: {ns:.0} ns/frame");
            })
            .unwrap();
        };
        run("TX ring, one kick per 32 frames", 32);
        run("TX ring, one kick per frame", 1);
        crate::link::Netns::enter(&a, || {
            let ifindex = crate::netif::ifindex("packet:sc-a", "sc-a").unwrap();
            let fd = sys::packet_socket("sc-a").unwrap();
            sys::bind(&fd, ifindex, "sc-a").unwrap();
            let mono = nix::time::ClockId::CLOCK_MONOTONIC.as_raw();
            sys::set_txtime(fd.as_raw_fd(), mono, false, "sc-a").unwrap();
            let mut cmsg = sys::CmsgBuf([0; sys::SEND_CMSG_SPACE]);
            let frame = [0xffu8; 60];
            let (t0, mut sent) = (Instant::now(), 0u64);
            while t0.elapsed() < Duration::from_secs(2) {
                if sys::send_frame(fd.as_raw_fd(), &frame, Some(0), false, &mut cmsg).is_ok() {
                    sent += 1;
                }
            }
            let ns = t0.elapsed().as_nanos() as f64 / sent as f64;
            eprintln!("sendmsg + SCM_TXTIME per frame, no ring: {ns:.0} ns/frame");
        })
        .unwrap();
    }

    #[test]
    fn a_missing_interface_is_named() {
        let e = PacketDevice::open("takt-nope0", PacketOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("\"takt-nope0\""), "{e}");
    }
}
