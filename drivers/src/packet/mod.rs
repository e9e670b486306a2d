//! AF_PACKET backend, `packet:IFNAME`: one raw socket bound to the
//! interface with a TPACKET_V3 RX ring and a TX ring mapped into userland.
//!
//! - **RX**: TPACKET_V3 blocks (64 KiB x 64 by default, retire timeout
//!   1 ms). The kernel fills a block with variable-size frames and hands the
//!   whole block over (TP_STATUS_USER) when it is full or the timeout fires;
//!   `rx_burst` copies each frame into a pool buffer and gives the block back
//!   (TP_STATUS_KERNEL) when its last frame is taken. Sparse traffic
//!   therefore waits up to the retire timeout (1 ms, the smallest the kernel
//!   takes) before userland sees it: the rx timestamp is still the kernel's
//!   arrival time, so latency figures are right, but the listener learns of
//!   a frame up to 1 ms late.
//! - **VLAN**: the kernel strips the 802.1Q tag on receive and reports it in
//!   the frame header; `rx_burst` puts it back, so the frame handed out is
//!   the frame as it was on the wire.
//! - **TX**: TPACKET_V3 TX ring of fixed 2 KiB slots (512 by default).
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
//!   CLOCK_REALTIME. No launch time: SO_TXTIME needs an ETF qdisc, which
//!   this backend does not set up (and the development host's kernel lacks).
//!
//! Nothing on the data path allocates: the pool, its memory and the rings
//! are all made in [`PacketDevice::open`].

pub(crate) mod sys;

use crate::pool::{BufId, Pool};
use crate::{
    Capabilities, Counters, DeviceInfo, DriverError, RingDevice, RxBatch, RxFrame, TxBatch,
    MAX_BURST,
};
use std::cell::Cell;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

/// TX slot size; also the TPACKET_V3 RX ring's nominal frame size.
const SLOT_SIZE: u32 = 2048;
/// Where frame data starts in a TX slot: TPACKET_ALIGN(sizeof(tpacket3_hdr)).
const TX_DATA_OFF: usize = tpacket_align(std::mem::size_of::<libc::tpacket3_hdr>());
/// Largest frame (without FCS) a buffer, and so a TX slot, carries.
pub const PACKET_BUF_SIZE: usize = SLOT_SIZE as usize - TX_DATA_OFF;
/// Shortest frame that is sent: an Ethernet header.
const MIN_FRAME: usize = 14;
/// Block size of the TX ring (a multiple of the slot size: slots are contiguous).
const TX_BLOCK_SIZE: u32 = 1 << 16;

const fn tpacket_align(x: usize) -> usize {
    (x + libc::TPACKET_ALIGNMENT - 1) & !(libc::TPACKET_ALIGNMENT - 1)
}

/// Sizes and switches of one AF_PACKET device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketOptions {
    /// Buffers in the pool (each [`PACKET_BUF_SIZE`] bytes).
    pub pool_size: usize,
    /// Bytes per RX block: a power-of-two multiple of the page size.
    pub rx_block_size: u32,
    pub rx_blocks: u32,
    /// Milliseconds after which the kernel hands over a block that is not
    /// full (>= 1).
    pub rx_retire_ms: u32,
    /// TX slots: a multiple of 32 (64 KiB blocks of 2 KiB slots).
    pub tx_slots: u32,
    /// PACKET_QDISC_BYPASS: send straight to the driver.
    pub qdisc_bypass: bool,
}

impl Default for PacketOptions {
    fn default() -> Self {
        PacketOptions {
            pool_size: 1024,
            rx_block_size: 1 << 16,
            rx_blocks: 64,
            rx_retire_ms: 1,
            tx_slots: 512,
            qdisc_bypass: true,
        }
    }
}

/// Where `rx_burst` is in the RX ring.
struct RxCursor {
    block: usize,
    /// Frames of the current block not yet taken; 0 = no block in hand.
    left: u32,
    /// Offset of the next frame in the current block.
    off: usize,
}

/// An AF_PACKET socket with its mapped rings and its own buffer pool.
pub struct PacketDevice {
    info: DeviceInfo,
    fd: OwnedFd,
    ring: sys::Mapping,
    rx_block_size: usize,
    rx_blocks: usize,
    rx: RxCursor,
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
            || opts.rx_block_size < SLOT_SIZE
        {
            return Err(bad(format!(
                "rx_block_size {} must be a power of two of at least 4096",
                opts.rx_block_size
            )));
        }
        let slots_per_block = TX_BLOCK_SIZE / SLOT_SIZE;
        if opts.rx_blocks == 0
            || opts.rx_retire_ms == 0
            || opts.tx_slots == 0
            || opts.tx_slots % slots_per_block != 0
            || opts.pool_size == 0
        {
            return Err(bad(format!(
                "rx_blocks, rx_retire_ms and pool_size must be at least 1 and tx_slots a \
                 multiple of {slots_per_block} (got {opts:?})"
            )));
        }

        let ifindex = sys::ifindex(ifname)?;
        let fd = sys::packet_socket(ifname)?;
        let raw = fd.as_raw_fd();
        if !sys::is_up(raw, ifname)? {
            return Err(sys::interface_down(ifname));
        }
        let mac = sys::mac(raw, ifname)?;
        let speed = sys::speed_bps(raw, ifname).unwrap_or(sys::FALLBACK_SPEED_BPS);

        let what = |s: &str| format!("packet:{ifname}: {s}");
        let v3 = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        sys::setsockopt(raw, libc::PACKET_VERSION, &v3, &what("setting TPACKET_V3"))?;
        // Skip a malformed TX slot instead of stopping the ring at it.
        sys::setsockopt(raw, libc::PACKET_LOSS, &1i32, &what("setting PACKET_LOSS"))?;
        let rx_req = libc::tpacket_req3 {
            tp_block_size: opts.rx_block_size,
            tp_block_nr: opts.rx_blocks,
            tp_frame_size: SLOT_SIZE,
            tp_frame_nr: opts.rx_block_size / SLOT_SIZE * opts.rx_blocks,
            tp_retire_blk_tov: opts.rx_retire_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        sys::setsockopt(
            raw,
            libc::PACKET_RX_RING,
            &rx_req,
            &what("setting up the RX ring"),
        )?;
        let tx_blocks = opts.tx_slots / slots_per_block;
        let tx_req = libc::tpacket_req3 {
            tp_block_size: TX_BLOCK_SIZE,
            tp_block_nr: tx_blocks,
            tp_frame_size: SLOT_SIZE,
            tp_frame_nr: opts.tx_slots,
            tp_retire_blk_tov: 0,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        sys::setsockopt(
            raw,
            libc::PACKET_TX_RING,
            &tx_req,
            &what("setting up the TX ring"),
        )?;
        let bypass = i32::from(opts.qdisc_bypass);
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

        let rx_len = opts.rx_block_size as usize * opts.rx_blocks as usize;
        let tx_len = TX_BLOCK_SIZE as usize * tx_blocks as usize;
        let ring = sys::Mapping::new(raw, rx_len + tx_len, ifname)?;
        sys::bind(&fd, ifindex, ifname)?;
        // Drops counted before bind are not ours.
        let _ = sys::take_stats(raw);

        Ok(PacketDevice {
            info: DeviceInfo {
                name: format!("packet:{ifname}"),
                mac,
                link_speed_bps: speed,
                buf_size: PACKET_BUF_SIZE,
                pool_size: opts.pool_size,
                caps: Capabilities {
                    launch_time: false,
                    hw_rx_timestamps: false,
                    hw_tx_timestamps: false,
                    max_batch: MAX_BURST,
                },
                clock: Some(nix::time::ClockId::CLOCK_REALTIME),
            },
            fd,
            ring,
            rx_block_size: opts.rx_block_size as usize,
            rx_blocks: opts.rx_blocks as usize,
            rx: RxCursor {
                block: 0,
                left: 0,
                off: 0,
            },
            tx_off: rx_len,
            tx_slots: opts.tx_slots as usize,
            tx_head: 0,
            pool: Pool::new(opts.pool_size),
            // Not zero: calloc'ed memory would fault in page by page on the data path.
            mem: vec![0xa5; opts.pool_size * PACKET_BUF_SIZE],
            counters: Counters::default(),
            link_down: false,
            kernel_drops: Cell::new(0),
        })
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
        debug_assert!(off + 4 <= self.ring.len && off % 4 == 0);
        // SAFETY: `off` is the offset of a block's block_status or a frame's
        // tp_status: 4-byte aligned, inside the mapping, which lives as long
        // as `self`. The kernel writes it concurrently, hence an atomic.
        unsafe { AtomicU32::from_ptr(self.ring.ptr.add(off) as *mut u32) }
    }

    fn rx_block_off(&self) -> usize {
        self.rx.block * self.rx_block_size
    }

    /// Hand the current RX block back to the kernel and move to the next.
    fn release_rx_block(&mut self) {
        let st = self.rx_block_off() + BLOCK_STATUS_OFF;
        self.status_at(st)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.rx.left = 0;
        self.rx.block = (self.rx.block + 1) % self.rx_blocks;
    }

    /// Copy the frame at `hdr_off` into `dst` (re-inserting a VLAN tag the
    /// kernel stripped); returns its length, timestamp and next-frame offset.
    /// `block_end` is where the block holding the frame ends.
    fn copy_rx_frame(
        ring: &sys::Mapping,
        hdr_off: usize,
        block_end: usize,
        dst: &mut [u8],
    ) -> (usize, u64, u32) {
        // SAFETY: the kernel placed a tpacket3_hdr at `hdr_off` (TPACKET_ALIGNed)
        // in a block it handed to userland (block_status read with Acquire),
        // and does not write the block until it is given back.
        let h: libc::tpacket3_hdr =
            unsafe { std::ptr::read(ring.ptr.add(hdr_off) as *const libc::tpacket3_hdr) };
        let data = hdr_off + usize::from(h.tp_mac);
        let snap = (h.tp_snaplen as usize).min(block_end.saturating_sub(data));
        let tagged = h.tp_status & libc::TP_STATUS_VLAN_VALID != 0 && snap >= 12;
        let tag_len = if tagged { 4 } else { 0 };
        let len = (snap + tag_len).min(dst.len());
        let src = |from: usize| -> *const u8 {
            // SAFETY: `data + from` is inside the frame's `snap` bytes in the block.
            unsafe { ring.ptr.add(data + from) }
        };
        if tagged {
            let tpid = if h.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                h.hv1.tp_vlan_tpid
            } else {
                0x8100
            };
            // SAFETY: 12 bytes of the frame (snap >= 12) into dst (>= 16 bytes).
            unsafe { std::ptr::copy_nonoverlapping(src(0), dst.as_mut_ptr(), 12) };
            dst[12..14].copy_from_slice(&tpid.to_be_bytes());
            dst[14..16].copy_from_slice(&(h.hv1.tp_vlan_tci as u16).to_be_bytes());
            let rest = len - 16;
            // SAFETY: bytes 12..12+rest of the frame (12 + rest <= snap) into dst[16..len].
            unsafe { std::ptr::copy_nonoverlapping(src(12), dst[16..].as_mut_ptr(), rest) };
        } else {
            // SAFETY: `len` <= snap bytes of the frame into dst[..len].
            unsafe { std::ptr::copy_nonoverlapping(src(0), dst.as_mut_ptr(), len) };
        }
        let t = u64::from(h.tp_sec) * 1_000_000_000 + u64::from(h.tp_nsec);
        (len, t, h.tp_next_offset)
    }
}

/// Offset of `block_status` in a TPACKET_V3 block descriptor.
const BLOCK_STATUS_OFF: usize = std::mem::offset_of!(libc::tpacket_block_desc, hdr)
    + std::mem::offset_of!(libc::tpacket_hdr_v1, block_status);
const NUM_PKTS_OFF: usize = std::mem::offset_of!(libc::tpacket_block_desc, hdr)
    + std::mem::offset_of!(libc::tpacket_hdr_v1, num_pkts);
const FIRST_PKT_OFF: usize = std::mem::offset_of!(libc::tpacket_block_desc, hdr)
    + std::mem::offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt);
const TP_STATUS_OFF: usize = std::mem::offset_of!(libc::tpacket3_hdr, tp_status);
const TP_LEN_OFF: usize = std::mem::offset_of!(libc::tpacket3_hdr, tp_len);
const TP_SNAPLEN_OFF: usize = std::mem::offset_of!(libc::tpacket3_hdr, tp_snaplen);
const TP_NEXT_OFF: usize = std::mem::offset_of!(libc::tpacket3_hdr, tp_next_offset);

impl RingDevice for PacketDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn counters(&self) -> Counters {
        if let Some(st) = sys::take_stats(self.fd.as_raw_fd()) {
            self.kernel_drops
                .set(self.kernel_drops.get() + u64::from(st.tp_drops));
        }
        Counters {
            rx_drops: self.counters.rx_drops + self.kernel_drops.get(),
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
        let mut taken = 0;
        while taken < self.info.caps.max_batch && !frames.is_empty() {
            let slot = self.tx_off + self.tx_head * SLOT_SIZE as usize;
            let st = self.status_at(slot + TP_STATUS_OFF).load(Ordering::Acquire);
            if st & (libc::TP_STATUS_SEND_REQUEST | libc::TP_STATUS_SENDING) != 0 {
                self.counters.tx_ring_full += 1;
                // Retry what is queued: after ENOBUFS, or the first kick
                // after the link came back, is what empties a full ring.
                self.kick();
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
                (p.add(TP_NEXT_OFF) as *mut u32).write(0);
            }
            self.status_at(slot + TP_STATUS_OFF)
                .store(libc::TP_STATUS_SEND_REQUEST, Ordering::Release);
            self.counters.tx_frames += 1;
            self.counters.tx_bytes += f.len as u64;
            let _ = self.pool.free(f.buf);
            self.tx_head = (self.tx_head + 1) % self.tx_slots;
            taken += 1;
        }
        if taken > 0 {
            self.kick();
        }
        taken
    }

    fn accept_destinations(&mut self, macs: &[[u8; 6]]) -> Result<(), DriverError> {
        let ifname = self.info.name.trim_start_matches("packet:");
        let ifindex = sys::ifindex(ifname)?;
        sys::join_destinations(self.fd.as_raw_fd(), ifindex, &self.info, macs)
    }

    fn rx_burst(&mut self, out: &mut RxBatch) -> usize {
        let want = (out.capacity() - out.len()).min(self.info.caps.max_batch);
        let mut n = 0;
        while n < want {
            if self.rx.left == 0 {
                let blk = self.rx_block_off();
                let st = self
                    .status_at(blk + BLOCK_STATUS_OFF)
                    .load(Ordering::Acquire);
                if st & libc::TP_STATUS_USER == 0 {
                    break;
                }
                // SAFETY: the block is userland's (TP_STATUS_USER, read with
                // Acquire); its descriptor fields are aligned u32s inside it.
                let (num, first) = unsafe {
                    (
                        (self.ring.ptr.add(blk + NUM_PKTS_OFF) as *const u32).read(),
                        (self.ring.ptr.add(blk + FIRST_PKT_OFF) as *const u32).read(),
                    )
                };
                if num == 0 {
                    self.release_rx_block();
                    continue;
                }
                self.rx.left = num;
                self.rx.off = first as usize;
            }
            if self.rx.off + std::mem::size_of::<libc::tpacket3_hdr>() > self.rx_block_size {
                // A frame offset past the block: the block is done with.
                self.release_rx_block();
                continue;
            }
            let Some(buf) = self.pool.alloc() else {
                // The frame stays in the ring until a buffer comes back.
                self.counters.pool_empty += 1;
                break;
            };
            let hdr_off = self.rx_block_off() + self.rx.off;
            let r = self.range(&buf);
            let block_end = self.rx_block_off() + self.rx_block_size;
            let (len, t, next) =
                Self::copy_rx_frame(&self.ring, hdr_off, block_end, &mut self.mem[r]);
            self.rx.left -= 1;
            self.rx.off += next as usize;
            if self.rx.left == 0 || next == 0 || self.rx.off >= self.rx_block_size {
                self.release_rx_block();
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_kernel_headers() {
        assert_eq!(TX_DATA_OFF, 48);
        assert_eq!(PACKET_BUF_SIZE, 2000);
        assert_eq!(BLOCK_STATUS_OFF, 8);
        assert_eq!(NUM_PKTS_OFF, 12);
        assert_eq!(FIRST_PKT_OFF, 16);
        assert_eq!(TP_STATUS_OFF, 20);
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

    #[test]
    fn a_missing_interface_is_named() {
        let e = PacketDevice::open("takt-nope0", PacketOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("\"takt-nope0\""), "{e}");
    }
}
