//! The data side of the net-mdev split: what userland owns.
//!
//! Legacy TX/RX descriptors in DMA memory, the packet buffer pool, and the
//! two doorbells (TDT, RDT). Given only a [`RingSetup`] by the control side,
//! it never touches another register.
//!
//! Rules kept here:
//! - descriptor rings are read and written only with volatile 64-bit loads
//!   and stores ([`DmaRegion::read_u64`]/[`DmaRegion::write_u64`]); no
//!   reference to them exists;
//! - a descriptor's buffer address is only ever computed from a [`BufId`]
//!   of this device's pool ([`Rings::buf_iova`]): typed handles, not raw
//!   addresses (the one exception is the `fault-injection` test hook);
//! - buffers are exposed as byte slices only while software owns them;
//! - no allocation after [`Rings::new`].
//!
//! Transmit stamps (`StampSource::Completion`): every descriptor has RS
//! set, so the device writes DD back for each; a frame that asked for a
//! stamp keeps its tag by its slot, and is stamped with the clock (CLOCK_TAI
//! unless [`Rings::set_clock`]) when its DD is first seen — by
//! [`Rings::tx_stamps`], which polls for it, or by the reclaim of
//! `tx_burst` and `alloc`. The stamp is late by however long DD waited to
//! be seen.

use super::control::{RingRegs, RingSetup};
use super::regs::*;
use crate::pool::{BufId, Pool};
use crate::stamp_queue::StampQueue;
use crate::vfio::{DmaRegion, Regs};
use crate::{Counters, DriverError, RxBatch, RxFrame, TxBatch, TxStamp, TxStampBatch, MAX_BURST};
use std::sync::atomic::{fence, Ordering};

/// Bytes per descriptor (legacy TX and RX alike).
pub const DESC_LEN: usize = 16;
/// Bytes per packet buffer: RCTL.BSIZE = 2048 with BSEX = 0.
pub const BUF_SIZE: usize = 2048;

/// Legacy transmit descriptor (82574 datasheet 3.3.3):
/// `addr u64 | length u16 | cso u8 | cmd u8 | status u8 | css u8 | special u16`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxDesc {
    pub addr: u64,
    pub len: u16,
    pub cso: u8,
    pub cmd: u8,
    pub status: u8,
    pub css: u8,
    pub special: u16,
}

impl TxDesc {
    /// The descriptor as two little-endian words (what sits in memory).
    pub fn encode(&self) -> [u64; 2] {
        [
            self.addr,
            u64::from(self.len)
                | u64::from(self.cso) << 16
                | u64::from(self.cmd) << 24
                | u64::from(self.status) << 32
                | u64::from(self.css) << 40
                | u64::from(self.special) << 48,
        ]
    }

    pub fn decode(w: [u64; 2]) -> Self {
        TxDesc {
            addr: w[0],
            len: w[1] as u16,
            cso: (w[1] >> 16) as u8,
            cmd: (w[1] >> 24) as u8,
            status: (w[1] >> 32) as u8,
            css: (w[1] >> 40) as u8,
            special: (w[1] >> 48) as u16,
        }
    }

    /// A data descriptor for one whole frame: EOP, insert FCS, report status.
    pub fn frame(addr: u64, len: u16) -> Self {
        TxDesc {
            addr,
            len,
            cmd: TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS,
            ..Default::default()
        }
    }
}

/// Legacy receive descriptor (82574 datasheet 3.2.4):
/// `addr u64 | length u16 | csum u16 | status u8 | errors u8 | special u16`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxDesc {
    pub addr: u64,
    pub len: u16,
    pub csum: u16,
    pub status: u8,
    pub errors: u8,
    pub special: u16,
}

impl RxDesc {
    pub fn encode(&self) -> [u64; 2] {
        [
            self.addr,
            u64::from(self.len)
                | u64::from(self.csum) << 16
                | u64::from(self.status) << 32
                | u64::from(self.errors) << 40
                | u64::from(self.special) << 48,
        ]
    }

    pub fn decode(w: [u64; 2]) -> Self {
        RxDesc {
            addr: w[0],
            len: w[1] as u16,
            csum: (w[1] >> 16) as u16,
            status: (w[1] >> 32) as u8,
            errors: (w[1] >> 40) as u8,
            special: (w[1] >> 48) as u16,
        }
    }
}

/// Index arithmetic on a ring of `n` slots. One slot always stays empty,
/// so head == tail means "nothing in flight", never "full".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingIdx {
    n: u16,
}

impl RingIdx {
    pub fn new(n: u16) -> Self {
        assert!(n >= 2, "a ring needs at least 2 slots");
        RingIdx { n }
    }

    pub fn size(&self) -> u16 {
        self.n
    }

    pub fn next(&self, i: u16) -> u16 {
        if i + 1 == self.n {
            0
        } else {
            i + 1
        }
    }

    pub fn prev(&self, i: u16) -> u16 {
        if i == 0 {
            self.n - 1
        } else {
            i - 1
        }
    }

    /// Slots from `from` up to (not including) `to`, going forward.
    pub fn distance(&self, from: u16, to: u16) -> u16 {
        if to >= from {
            to - from
        } else {
            self.n - from + to
        }
    }

    /// Slots that can still be handed to the device when `in_flight` are.
    pub fn room(&self, in_flight: u16) -> u16 {
        self.n - 1 - in_flight
    }
}

struct TxRing {
    desc: DmaRegion,
    idx: RingIdx,
    doorbell: usize,
    /// Next slot to fill (= the TDT value last written).
    tail: u16,
    /// Oldest slot not yet seen done.
    clean: u16,
    /// The buffer each in-flight slot carries (`None`: free, or a forged
    /// descriptor from the fault-injection hook).
    bufs: Vec<Option<BufId>>,
    /// The stamp tag of each in-flight slot whose frame asked for one.
    tags: Vec<Option<u32>>,
}

impl TxRing {
    fn in_flight(&self) -> u16 {
        self.idx.distance(self.clean, self.tail)
    }

    fn upper(&self, slot: u16) -> u64 {
        self.desc.read_u64(slot as usize * DESC_LEN + 8)
    }

    fn write(&self, slot: u16, d: &TxDesc) {
        let [lo, hi] = d.encode();
        let off = slot as usize * DESC_LEN;
        self.desc.write_u64(off, lo);
        self.desc.write_u64(off + 8, hi);
    }
}

struct RxRing {
    desc: DmaRegion,
    idx: RingIdx,
    doorbell: usize,
    /// Next slot to look at for DD. The device owns `next .. RDT`; RDT is
    /// always `next - 1`, a stocked slot the device gets back next time.
    next: u16,
    /// Every slot always holds a buffer.
    bufs: Vec<Option<BufId>>,
    /// Inside a frame that spans descriptors (too long): drop up to EOP.
    discarding: bool,
}

impl RxRing {
    fn upper(&self, slot: u16) -> u64 {
        self.desc.read_u64(slot as usize * DESC_LEN + 8)
    }

    /// Give `slot` back to the device with buffer `iova`, status cleared.
    fn arm(&self, slot: u16, iova: u64) {
        let off = slot as usize * DESC_LEN;
        self.desc.write_u64(off, iova);
        self.desc.write_u64(off + 8, 0);
    }
}

/// Both rings, the pool and its DMA memory.
pub struct Rings {
    tx: TxRing,
    rx: RxRing,
    pool: Pool,
    bufs: DmaRegion,
    buf_size: usize,
    counters: Counters,
    /// Transmit stamps not yet handed out (room for a whole ring's worth).
    stamps: StampQueue,
    /// The clock transmit stamps are read from (the device's clock).
    clock: fn() -> u64,
}

/// Now on CLOCK_TAI, ns: the e1000e's clock (`DeviceInfo::clock`).
pub(crate) fn tai_now() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_TAI)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

fn ring_mem_ok(r: &RingRegs, mem: &DmaRegion) -> Result<(), String> {
    if mem.iova() != r.iova || mem.len() < r.entries as usize * DESC_LEN {
        Err(format!(
            "ring memory at IOVA {:#x} ({} bytes) does not hold {} descriptors at {:#x}",
            mem.iova(),
            mem.len(),
            r.entries,
            r.iova
        ))
    } else {
        Ok(())
    }
}

impl Rings {
    /// Rings over memory the caller mapped, as `setup` describes them, and a
    /// pool of `pool_size` buffers of `buf_size` bytes in `bufs`. The pool
    /// must be larger than the RX ring: every RX slot always holds a buffer.
    pub fn new(
        name: &str,
        setup: &RingSetup,
        tx_desc: DmaRegion,
        rx_desc: DmaRegion,
        bufs: DmaRegion,
        buf_size: usize,
        pool_size: usize,
    ) -> Result<Self, DriverError> {
        let bad = |reason: String| DriverError::BadOptions {
            device: name.into(),
            reason,
        };
        ring_mem_ok(&setup.tx, &tx_desc).map_err(bad)?;
        ring_mem_ok(&setup.rx, &rx_desc).map_err(bad)?;
        if setup.tx.entries < 2 || setup.rx.entries < 2 {
            return Err(bad("rings need at least 2 descriptors".into()));
        }
        if buf_size == 0 || buf_size > BUF_SIZE || !buf_size.is_multiple_of(8) {
            return Err(bad(format!(
                "buffer size {buf_size}: use a multiple of 8 up to {BUF_SIZE}"
            )));
        }
        if pool_size <= setup.rx.entries as usize || pool_size > u32::MAX as usize {
            return Err(bad(format!(
                "a pool of {pool_size} buffers: it must be larger than the {}-slot RX ring \
                 (every RX slot holds one); {} or more leaves room to transmit",
                setup.rx.entries,
                setup.rx.entries as usize + setup.tx.entries as usize + MAX_BURST
            )));
        }
        if pool_size
            .checked_mul(buf_size)
            .is_none_or(|n| n > bufs.len())
        {
            return Err(bad(format!(
                "{pool_size} buffers of {buf_size} bytes do not fit {} bytes of buffer memory",
                bufs.len()
            )));
        }
        Ok(Rings {
            tx: TxRing {
                desc: tx_desc,
                idx: RingIdx::new(setup.tx.entries),
                doorbell: setup.tx.doorbell,
                tail: 0,
                clean: 0,
                bufs: (0..setup.tx.entries).map(|_| None).collect(),
                tags: vec![None; setup.tx.entries as usize],
            },
            rx: RxRing {
                desc: rx_desc,
                idx: RingIdx::new(setup.rx.entries),
                doorbell: setup.rx.doorbell,
                next: 0,
                bufs: (0..setup.rx.entries).map(|_| None).collect(),
                discarding: false,
            },
            pool: Pool::new(pool_size),
            bufs,
            buf_size,
            counters: Counters::default(),
            stamps: StampQueue::new(setup.tx.entries as usize),
            clock: tai_now,
        })
    }

    /// Read transmit stamps from `clock` instead of CLOCK_TAI (a device
    /// model's clock in tests).
    pub fn set_clock(&mut self, clock: fn() -> u64) {
        self.clock = clock;
    }

    /// Stock every RX slot with a buffer and hand all but one to the
    /// device (RDT = n - 1). Call once, after the control side enabled RX.
    pub fn start<R: Regs>(&mut self, regs: &R) {
        for slot in 0..self.rx.idx.size() {
            if self.rx.bufs[slot as usize].is_none() {
                // Cannot fail: the pool is larger than the ring (checked in new).
                if let Some(b) = self.pool.alloc() {
                    let iova = self.iova_of(&b);
                    self.rx.arm(slot, iova);
                    self.rx.bufs[slot as usize] = Some(b);
                }
            }
        }
        self.rx.next = 0;
        fence(Ordering::SeqCst); // descriptors before the doorbell
        regs.write32(self.rx.doorbell, u32::from(self.rx.idx.prev(0)));
    }

    fn iova_of(&self, buf: &BufId) -> u64 {
        self.bufs.iova() + (buf.index() * self.buf_size) as u64
    }

    /// The IOVA the device knows `buf` by, only for a live buffer of this
    /// pool: the one way an address gets into a descriptor.
    pub fn buf_iova(&self, buf: &BufId) -> Option<u64> {
        self.pool.owns(buf).then(|| self.iova_of(buf))
    }

    pub fn buf_size(&self) -> usize {
        self.buf_size
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// TX descriptors handed to the device and not yet reclaimed.
    pub fn tx_in_flight(&self) -> usize {
        self.tx.in_flight() as usize
    }

    /// A free buffer; when the pool is empty, completed TX buffers are
    /// reclaimed first.
    pub fn alloc(&mut self) -> Option<BufId> {
        if self.pool.available() == 0 {
            self.reclaim();
        }
        let b = self.pool.alloc();
        if b.is_none() {
            self.counters.pool_empty += 1;
        }
        b
    }

    /// Give a buffer back. A handle of another pool is refused and dropped
    /// (it was the caller's bug; it cannot enter this pool).
    pub fn free(&mut self, buf: BufId) {
        let _ = self.pool.free(buf);
    }

    /// The buffer's bytes (empty for a handle of another pool).
    pub fn buf(&self, buf: &BufId) -> &[u8] {
        if !self.pool.owns(buf) {
            return &[];
        }
        // SAFETY: the caller holds `buf`, a live handle of this pool, so no
        // descriptor the device may process points at this buffer.
        unsafe { self.bufs.slice(buf.index() * self.buf_size, self.buf_size) }
    }

    /// The buffer's bytes to fill (empty for a handle of another pool).
    pub fn buf_mut(&mut self, buf: &BufId) -> &mut [u8] {
        if !self.pool.owns(buf) {
            return &mut [];
        }
        let off = buf.index() * self.buf_size;
        // SAFETY: as in `buf`; `&mut self` makes this the only slice.
        unsafe { self.bufs.slice_mut(off, self.buf_size) }
    }

    /// Return the buffers of completed TX descriptors (DD set) to the pool;
    /// returns how many.
    pub fn reclaim(&mut self) -> usize {
        let mut n = 0;
        let mut seen_at = None;
        while self.tx.clean != self.tx.tail {
            let status = (self.tx.upper(self.tx.clean) >> 32) as u8;
            if status & TXD_STAT_DD == 0 {
                break;
            }
            // The device is done with the buffer before we reuse it.
            fence(Ordering::Acquire);
            if let Some(b) = self.tx.bufs[self.tx.clean as usize].take() {
                let _ = self.pool.free(b);
            }
            if let Some(tag) = self.tx.tags[self.tx.clean as usize].take() {
                let time_ns = *seen_at.get_or_insert_with(self.clock);
                if !self.stamps.push(TxStamp { tag, time_ns }) {
                    self.counters.tx_stamps_lost += 1;
                }
            }
            self.tx.clean = self.tx.idx.next(self.tx.clean);
            n += 1;
        }
        n
    }

    /// Put frames from the front of `frames` on the TX ring and ring TDT
    /// once. Frames that do not fit stay in `frames` (`tx_ring_full` counts
    /// the call); a frame of another pool or with a bad length is dropped
    /// (`tx_drops`).
    pub fn tx_burst<R: Regs>(&mut self, regs: &R, frames: &mut TxBatch) -> usize {
        self.reclaim();
        let mut sent = 0;
        while !frames.is_empty() {
            if self.tx.idx.room(self.tx.in_flight()) == 0 {
                self.counters.tx_ring_full += 1;
                break;
            }
            let Some(f) = frames.pop_front() else { break };
            let Some(iova) = self.buf_iova(&f.buf) else {
                self.counters.tx_drops += 1; // not ours: never into a descriptor
                self.counters.tx_stamps_lost += u64::from(f.stamp_tag.is_some());
                continue;
            };
            if f.len == 0 || f.len > self.buf_size {
                self.counters.tx_drops += 1;
                self.counters.tx_stamps_lost += u64::from(f.stamp_tag.is_some());
                let _ = self.pool.free(f.buf);
                continue;
            }
            let slot = self.tx.tail;
            self.tx.write(slot, &TxDesc::frame(iova, f.len as u16));
            self.tx.bufs[slot as usize] = Some(f.buf);
            self.tx.tags[slot as usize] = f.stamp_tag;
            self.tx.tail = self.tx.idx.next(slot);
            self.counters.tx_frames += 1;
            self.counters.tx_bytes += f.len as u64;
            sent += 1;
        }
        if sent > 0 {
            // Frame bytes and descriptors reach memory before the doorbell.
            fence(Ordering::SeqCst);
            regs.write32(self.tx.doorbell, u32::from(self.tx.tail));
        }
        sent
    }

    /// Poll the TX ring for completed descriptors (reclaiming them) and
    /// move the transmit stamps known into `out`, as many as it has room for.
    pub fn tx_stamps(&mut self, out: &mut TxStampBatch) -> usize {
        self.reclaim();
        self.stamps.drain_into(out)
    }

    /// Move received frames (DD set) into `out`, at most its free room and
    /// `MAX_BURST`; refill each slot with a fresh buffer and ring RDT once.
    /// `now` gives the software receive time; it is called once per burst
    /// that found a frame. A frame with errors, one spanning descriptors,
    /// or one that finds the pool empty is dropped and its buffer reused.
    pub fn rx_burst<R: Regs>(
        &mut self,
        regs: &R,
        out: &mut RxBatch,
        mut now: impl FnMut() -> u64,
    ) -> usize {
        let mut got = 0;
        let mut seen = 0usize;
        let mut rx_time = None;
        while !out.is_full() && got < MAX_BURST && seen < self.rx.idx.size() as usize {
            let slot = self.rx.next;
            if (self.rx.upper(slot) >> 32) as u8 & RXD_STAT_DD == 0 {
                break;
            }
            // Read the rest of the descriptor (and the frame) after DD.
            fence(Ordering::Acquire);
            let d = RxDesc::decode([0, self.rx.upper(slot)]);
            self.rx.next = self.rx.idx.next(slot);
            seen += 1;

            let eop = d.status & RXD_STAT_EOP != 0;
            let bad = d.errors & RXD_ERR_FRAME_MASK != 0
                || d.len == 0
                || usize::from(d.len) > self.buf_size;
            if self.rx.discarding || !eop || bad {
                if !self.rx.discarding {
                    self.counters.rx_drops += 1; // once per frame
                }
                self.rx.discarding = !eop;
                self.recycle(slot);
                continue;
            }
            let Some(fresh) = self.pool.alloc() else {
                self.counters.pool_empty += 1;
                self.counters.rx_drops += 1;
                self.recycle(slot);
                continue;
            };
            let iova = self.iova_of(&fresh);
            let Some(full) = self.rx.bufs[slot as usize].replace(fresh) else {
                // Unreachable (every slot is stocked); keep the ring sound.
                self.rx.arm(slot, iova);
                continue;
            };
            self.rx.arm(slot, iova);
            let t = *rx_time.get_or_insert_with(&mut now);
            self.counters.rx_frames += 1;
            self.counters.rx_bytes += u64::from(d.len);
            // `out` had room (checked above), so this cannot fail.
            let _ = out.push_back(RxFrame {
                buf: full,
                len: usize::from(d.len),
                rx_time_ns: t,
            });
            got += 1;
        }
        if seen > 0 {
            fence(Ordering::SeqCst); // re-armed descriptors before the doorbell
            regs.write32(self.rx.doorbell, u32::from(self.rx.idx.prev(self.rx.next)));
        }
        got
    }

    /// Hand `slot` back with the buffer it already has.
    fn recycle(&mut self, slot: u16) {
        let iova = self.rx.bufs[slot as usize]
            .as_ref()
            .map(|b| self.iova_of(b));
        if let Some(iova) = iova {
            self.rx.arm(slot, iova);
        }
    }

    /// Fault-injection hook: one TX descriptor at an arbitrary IOVA (not
    /// from the pool), and the doorbell. For the IOMMU isolation test only.
    #[cfg(feature = "fault-injection")]
    pub fn forge_tx<R: Regs>(&mut self, regs: &R, iova: u64, len: u16) -> Result<(), DriverError> {
        self.reclaim();
        if self.tx.idx.room(self.tx.in_flight()) == 0 {
            return Err(DriverError::Unsupported(
                "forge_tx_descriptor: the TX ring is full; poll until frames complete".into(),
            ));
        }
        let slot = self.tx.tail;
        self.tx.write(slot, &TxDesc::frame(iova, len));
        self.tx.bufs[slot as usize] = None;
        self.tx.tags[slot as usize] = None;
        self.tx.tail = self.tx.idx.next(slot);
        fence(Ordering::SeqCst);
        regs.write32(self.tx.doorbell, u32::from(self.tx.tail));
        Ok(())
    }

    /// The three DMA regions, for a device model in tests.
    #[cfg(test)]
    pub(crate) fn regions(&self) -> (&DmaRegion, &DmaRegion, &DmaRegion) {
        (&self.tx.desc, &self.rx.desc, &self.bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TxFrame;
    use std::cell::Cell;
    use std::collections::{HashSet, VecDeque};

    #[test]
    fn tx_descriptor_layout() {
        let d = TxDesc::frame(0x1122_3344_5566_7788, 0x05dc);
        let [lo, hi] = d.encode();
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&lo.to_le_bytes());
        bytes[8..].copy_from_slice(&hi.to_le_bytes());
        assert_eq!(
            bytes,
            [
                0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, // buffer address
                0xdc, 0x05, // length
                0x00, // cso
                0x0b, // cmd: EOP | IFCS | RS
                0x00, // status
                0x00, // css
                0x00, 0x00, // special
            ]
        );
        assert_eq!(d.cmd & TXD_CMD_DEXT, 0, "legacy descriptor");
        let all = TxDesc {
            addr: 1,
            len: 0xfffe,
            cso: 0xab,
            cmd: 0xcd,
            status: TXD_STAT_DD,
            css: 0xef,
            special: 0x8001,
        };
        assert_eq!(TxDesc::decode(all.encode()), all);
    }

    #[test]
    fn rx_descriptor_layout() {
        // As the device writes it back: length 60, DD | EOP, no errors.
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&0x1000_0800u64.to_le_bytes());
        bytes[8] = 60;
        bytes[12] = RXD_STAT_DD | RXD_STAT_EOP;
        bytes[13] = 0x40; // IP checksum error: not a frame error
        bytes[14] = 0x05;
        let w = [
            u64::from_le_bytes(bytes[..8].try_into().unwrap()),
            u64::from_le_bytes(bytes[8..].try_into().unwrap()),
        ];
        let d = RxDesc::decode(w);
        assert_eq!(
            d,
            RxDesc {
                addr: 0x1000_0800,
                len: 60,
                csum: 0,
                status: 3,
                errors: 0x40,
                special: 5
            }
        );
        assert_eq!(d.errors & RXD_ERR_FRAME_MASK, 0);
        assert_eq!(RxDesc::decode(d.encode()), d);
    }

    #[test]
    fn ring_index_arithmetic() {
        let r = RingIdx::new(8);
        assert_eq!((r.next(0), r.next(7), r.prev(0), r.prev(5)), (1, 0, 7, 4));
        assert_eq!(r.distance(3, 3), 0, "empty");
        assert_eq!(r.distance(2, 6), 4);
        assert_eq!(r.distance(6, 2), 4, "wrapped");
        assert_eq!(r.distance(0, 7), 7);
        assert_eq!(r.room(0), 7, "one slot always stays empty");
        assert_eq!(r.room(7), 0, "full");
        // Walking all the way round returns to the start.
        let mut i = 5;
        for _ in 0..8 {
            i = r.next(i);
        }
        assert_eq!(i, 5);
    }

    /// The NIC's registers the data side writes: the two doorbells.
    #[derive(Default)]
    struct Doorbells {
        tdt: Cell<u32>,
        rdt: Cell<u32>,
        writes: Cell<u32>,
    }

    impl Regs for Doorbells {
        fn read32(&self, off: usize) -> u32 {
            panic!("the data side read register {off:#x}")
        }
        fn write32(&self, off: usize, v: u32) {
            self.writes.set(self.writes.get() + 1);
            match off {
                TDT => self.tdt.set(v),
                RDT => self.rdt.set(v),
                _ => panic!("the data side wrote register {off:#x}"),
            }
        }
    }

    /// Plays the 82574L over ordinary memory: consumes TX descriptors
    /// between TDH and TDT (sets DD, advances TDH), fills RX descriptors
    /// between RDH and RDT. Checks every address it is given points at a
    /// buffer of the pool.
    struct FakeNic {
        db: Doorbells,
        tdh: u16,
        rdh: u16,
        tx_n: u16,
        rx_n: u16,
        wire_out: Vec<Vec<u8>>,
    }

    const TX_IOVA: u64 = 0x1000_0000;
    const RX_IOVA: u64 = 0x1000_2000;
    const BUF_IOVA: u64 = 0x1000_4000;

    impl FakeNic {
        fn new(tx_n: u16, rx_n: u16) -> Self {
            FakeNic {
                db: Doorbells::default(),
                tdh: 0,
                rdh: 0,
                tx_n,
                rx_n,
                wire_out: Vec::new(),
            }
        }

        fn buf_offset(bufs: &DmaRegion, addr: u64, len: usize) -> usize {
            let off = bufs
                .offset_of(addr, len)
                .unwrap_or_else(|| panic!("descriptor address {addr:#x} outside the pool"));
            assert_eq!(off % BUF_SIZE, 0, "address {addr:#x} not at a buffer start");
            off
        }

        /// Transmit up to `max` frames.
        fn tx(&mut self, rings: &Rings, max: usize) -> usize {
            let (txd, _, bufs) = rings.regions();
            let mut n = 0;
            while self.tdh as u32 != self.db.tdt.get() && n < max {
                let off = self.tdh as usize * DESC_LEN;
                let d = TxDesc::decode([txd.read_u64(off), txd.read_u64(off + 8)]);
                assert_eq!(d.cmd, TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS);
                assert_eq!(d.status, 0, "handed over with a stale DD");
                let len = d.len as usize;
                let at = Self::buf_offset(bufs, d.addr, len);
                let mut frame = vec![0; len];
                bufs.read_bytes(at, &mut frame);
                self.wire_out.push(frame);
                let done = TxDesc {
                    status: TXD_STAT_DD,
                    ..d
                };
                txd.write_u64(off + 8, done.encode()[1]);
                self.tdh = (self.tdh + 1) % self.tx_n;
                n += 1;
            }
            n
        }

        /// Receive one frame; false when the ring has no descriptor for it.
        fn rx(&mut self, rings: &Rings, frame: &[u8], errors: u8) -> bool {
            if self.rdh as u32 == self.db.rdt.get() {
                return false;
            }
            let (_, rxd, bufs) = rings.regions();
            let off = self.rdh as usize * DESC_LEN;
            let d = RxDesc::decode([rxd.read_u64(off), rxd.read_u64(off + 8)]);
            assert_eq!(d.status, 0, "device got a slot still marked done");
            let at = Self::buf_offset(bufs, d.addr, frame.len());
            bufs.write_bytes(at, frame);
            let done = RxDesc {
                len: frame.len() as u16,
                status: RXD_STAT_DD | RXD_STAT_EOP,
                errors,
                ..d
            };
            rxd.write_u64(off + 8, done.encode()[1]);
            self.rdh = (self.rdh + 1) % self.rx_n;
            true
        }
    }

    fn rings(tx_n: u16, rx_n: u16, pool: usize) -> Rings {
        let setup = RingSetup::queue0(TX_IOVA, tx_n, RX_IOVA, rx_n);
        Rings::new(
            "test",
            &setup,
            DmaRegion::heap(tx_n as usize * DESC_LEN, TX_IOVA),
            DmaRegion::heap(rx_n as usize * DESC_LEN, RX_IOVA),
            DmaRegion::heap(pool * BUF_SIZE, BUF_IOVA),
            BUF_SIZE,
            pool,
        )
        .unwrap()
    }

    fn frame_bytes(seq: u32, len: usize) -> Vec<u8> {
        (0..len).map(|i| (seq as usize * 31 + i) as u8).collect()
    }

    fn send(r: &mut Rings, nic: &FakeNic, seqs: &[u32]) -> (usize, TxBatch) {
        let mut batch = TxBatch::new();
        for &s in seqs {
            let b = r.alloc().unwrap();
            let len = 60 + (s as usize % 1400);
            r.buf_mut(&b)[..len].copy_from_slice(&frame_bytes(s, len));
            batch
                .push_back(TxFrame {
                    buf: b,
                    len,
                    launch_time_ns: None,
                    stamp_tag: None,
                })
                .unwrap();
        }
        (r.tx_burst(&nic.db, &mut batch), batch)
    }

    #[test]
    fn start_stocks_every_rx_slot_and_gives_all_but_one() {
        let mut r = rings(8, 16, 64);
        let nic = FakeNic::new(8, 16);
        r.start(&nic.db);
        assert_eq!(nic.db.rdt.get(), 15);
        assert_eq!(r.pool().outstanding(), 16);
        let (_, rxd, _) = r.regions();
        let addrs: HashSet<u64> = (0..16).map(|i| rxd.read_u64(i * DESC_LEN)).collect();
        assert_eq!(addrs.len(), 16, "distinct buffers");
    }

    #[test]
    fn tx_rings_the_doorbell_once_per_burst_and_stops_when_full() {
        let mut r = rings(8, 8, 64);
        let mut nic = FakeNic::new(8, 8);
        let (sent, left) = send(&mut r, &nic, &[1, 2, 3]);
        assert_eq!((sent, left.len()), (3, 0));
        assert_eq!((nic.db.tdt.get(), nic.db.writes.get()), (3, 1));
        // 8 slots hold 7 in flight: 4 more fit, 2 stay in the batch.
        let (sent, left) = send(&mut r, &nic, &[4, 5, 6, 7, 8, 9]);
        assert_eq!((sent, left.len()), (4, 2));
        assert_eq!(r.counters().tx_ring_full, 1);
        assert_eq!(r.tx_in_flight(), 7);
        for f in left {
            r.free(f.buf);
        }
        assert_eq!(nic.tx(&r, 100), 7);
        assert_eq!(r.reclaim(), 7);
        assert_eq!(r.pool().outstanding(), 0, "all tx buffers back");
        assert_eq!(nic.wire_out[6], frame_bytes(7, 67));
        assert_eq!(nic.db.tdt.get(), 7);
        // Wraps: TDT goes 7 -> 0 -> 1.
        let (sent, _) = send(&mut r, &nic, &[10, 11]);
        assert_eq!((sent, nic.db.tdt.get()), (2, 1));
    }

    /// The test's device clock for transmit stamps.
    static CLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    fn test_clock() -> u64 {
        CLOCK.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn stamps(r: &mut Rings) -> Vec<(u32, u64)> {
        let mut out = TxStampBatch::new();
        r.tx_stamps(&mut out);
        out.iter().map(|s| (s.tag, s.time_ns)).collect()
    }

    #[test]
    fn a_stamped_frame_is_stamped_when_its_dd_is_first_seen() {
        let mut r = rings(8, 8, 32);
        r.set_clock(test_clock);
        let mut nic = FakeNic::new(8, 8);
        let mut batch = TxBatch::new();
        for (seq, tag) in [(1u32, Some(10u32)), (2, None), (3, Some(30))] {
            let b = r.alloc().unwrap();
            r.buf_mut(&b)[..60].copy_from_slice(&frame_bytes(seq, 60));
            batch
                .push_back(TxFrame {
                    buf: b,
                    len: 60,
                    launch_time_ns: None,
                    stamp_tag: tag,
                })
                .unwrap();
        }
        CLOCK.store(1_000, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(r.tx_burst(&nic.db, &mut batch), 3);
        assert!(stamps(&mut r).is_empty(), "nothing done yet");
        nic.tx(&r, 2); // frames 1 and 2 done
        CLOCK.store(5_000, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(stamps(&mut r), [(10, 5_000)], "when DD was seen");
        nic.tx(&r, 1);
        CLOCK.store(9_000, std::sync::atomic::Ordering::Relaxed);
        // The reclaim of a burst (or alloc) sees DD first: that is its time.
        send(&mut r, &nic, &[]);
        CLOCK.store(12_000, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(stamps(&mut r), [(30, 9_000)]);
        assert!(stamps(&mut r).is_empty(), "each stamp once");
        assert_eq!(r.pool().outstanding(), 0);
        assert_eq!(r.counters().tx_stamps_lost, 0);
        // A stamped frame the rings refuse never gets one.
        let b = r.alloc().unwrap();
        batch
            .push_back(TxFrame {
                buf: b,
                len: 0,
                launch_time_ns: None,
                stamp_tag: Some(40),
            })
            .unwrap();
        assert_eq!(r.tx_burst(&nic.db, &mut batch), 0);
        assert_eq!(r.counters().tx_stamps_lost, 1);
        assert!(stamps(&mut r).is_empty());
    }

    #[test]
    fn tx_refuses_foreign_buffers_and_bad_lengths() {
        let mut r = rings(8, 8, 16);
        let mut other = rings(8, 8, 16);
        let nic = FakeNic::new(8, 8);
        let mut batch = TxBatch::new();
        let foreign = other.alloc().unwrap();
        let zero = r.alloc().unwrap();
        let huge = r.alloc().unwrap();
        for (buf, len) in [(foreign, 60), (zero, 0), (huge, BUF_SIZE + 1)] {
            batch
                .push_back(TxFrame {
                    buf,
                    len,
                    launch_time_ns: None,
                    stamp_tag: None,
                })
                .unwrap();
        }
        assert_eq!(r.tx_burst(&nic.db, &mut batch), 0);
        assert_eq!(r.counters().tx_drops, 3);
        assert_eq!(nic.db.writes.get(), 0, "no doorbell for nothing");
        assert_eq!(r.pool().outstanding(), 0, "bad-length buffers went back");
        assert!(
            r.buf(&other.alloc().unwrap()).is_empty(),
            "no bytes of a foreign buffer"
        );
    }

    #[test]
    fn rx_hands_out_frames_and_refills_the_slot() {
        let mut r = rings(8, 8, 32);
        let mut nic = FakeNic::new(8, 8);
        r.start(&nic.db);
        assert!(nic.rx(&r, &frame_bytes(1, 64), 0));
        assert!(nic.rx(&r, &frame_bytes(2, 1514), 0));
        let mut out = RxBatch::new();
        let mut calls = 0;
        let got = r.rx_burst(&nic.db, &mut out, || {
            calls += 1;
            42
        });
        assert_eq!((got, calls), (2, 1), "one timestamp per burst");
        assert_eq!(
            nic.db.rdt.get(),
            1,
            "RDT = the slot before the next to look at"
        );
        let f = out.pop_front().unwrap();
        assert_eq!((f.len, f.rx_time_ns), (64, 42));
        assert_eq!(&r.buf(&f.buf)[..64], &frame_bytes(1, 64)[..]);
        r.free(f.buf);
        let f = out.pop_front().unwrap();
        assert_eq!(&r.buf(&f.buf)[..1514], &frame_bytes(2, 1514)[..]);
        r.free(f.buf);
        assert_eq!(r.pool().outstanding(), 8, "only the stocked ring");
        assert_eq!(r.rx_burst(&nic.db, &mut out, || 0), 0, "nothing new");
    }

    #[test]
    fn rx_drops_errored_frames_and_frames_without_a_buffer() {
        let mut r = rings(8, 8, 9); // one spare buffer only
        let mut nic = FakeNic::new(8, 8);
        r.start(&nic.db);
        assert!(nic.rx(&r, &frame_bytes(1, 60), 0x01)); // CRC error
        assert!(nic.rx(&r, &frame_bytes(2, 60), 0x40)); // IP checksum: fine
        let mut out = RxBatch::new();
        assert_eq!(r.rx_burst(&nic.db, &mut out, || 0), 1);
        assert_eq!(r.counters().rx_drops, 1);
        let held = out.pop_front().unwrap(); // keep it: the pool is now empty
        assert!(nic.rx(&r, &frame_bytes(3, 60), 0));
        assert_eq!(r.rx_burst(&nic.db, &mut out, || 0), 0);
        assert_eq!(r.counters().rx_drops, 2);
        assert_eq!(r.counters().pool_empty, 1);
        r.free(held.buf);
        assert!(nic.rx(&r, &frame_bytes(4, 60), 0));
        assert_eq!(
            r.rx_burst(&nic.db, &mut out, || 0),
            1,
            "recycled slots work"
        );
        assert_eq!(
            &r.buf(&out.front().unwrap().buf)[..60],
            &frame_bytes(4, 60)[..]
        );
    }

    #[test]
    fn rx_drops_a_frame_that_spans_descriptors() {
        let mut r = rings(8, 8, 32);
        let mut nic = FakeNic::new(8, 8);
        r.start(&nic.db);
        // Two descriptors of one long frame: first without EOP.
        let (_, rxd, _) = r.regions();
        assert!(nic.rx(&r, &frame_bytes(1, 2048), 0));
        rxd.write_u64(
            8,
            RxDesc {
                len: 2048,
                status: RXD_STAT_DD,
                ..Default::default()
            }
            .encode()[1],
        );
        assert!(nic.rx(&r, &frame_bytes(1, 100), 0));
        assert!(nic.rx(&r, &frame_bytes(2, 80), 0));
        let mut out = RxBatch::new();
        assert_eq!(r.rx_burst(&nic.db, &mut out, || 0), 1);
        assert_eq!(out.front().unwrap().len, 80);
        assert_eq!(r.counters().rx_drops, 1, "one frame dropped, not two");
    }

    /// Many random rounds of send, transmit, receive, deliver and free,
    /// with some received frames held for a while. After every round: every
    /// buffer is in exactly one place (free, in an RX slot, in a TX slot,
    /// or held by the test), none is handed out twice, and frames arrive
    /// intact and in order.
    #[test]
    fn pool_invariant_holds_over_many_iterations() {
        const TX_N: u16 = 16;
        const RX_N: u16 = 16;
        const POOL: usize = 48;
        let mut r = rings(TX_N, RX_N, POOL);
        let mut nic = FakeNic::new(TX_N, RX_N);
        r.start(&nic.db);

        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % m
        };
        let mut tx_seq = 0u32;
        let mut tx_checked = 0usize;
        let mut rx_sent = 0u32; // frames the NIC accepted
        let mut rx_expect: VecDeque<u32> = VecDeque::new();
        let mut rx_got = 0u64;
        let mut held: Vec<BufId> = Vec::new();
        let mut pending = TxBatch::new();
        let mut out = RxBatch::new();

        for round in 0..20_000 {
            match next(6) {
                0 => {
                    // Queue some frames (keeping refused ones for later).
                    for _ in 0..next(8) {
                        if pending.is_full() {
                            break;
                        }
                        let Some(b) = r.alloc() else { break };
                        let len = 60 + (tx_seq as usize % 1400);
                        r.buf_mut(&b)[..len].copy_from_slice(&frame_bytes(tx_seq, len));
                        tx_seq += 1;
                        pending
                            .push_back(TxFrame {
                                buf: b,
                                len,
                                launch_time_ns: None,
                                stamp_tag: None,
                            })
                            .unwrap();
                    }
                    r.tx_burst(&nic.db, &mut pending);
                }
                1 => {
                    nic.tx(&r, next(12) as usize);
                }
                2 => {
                    for _ in 0..next(6) {
                        let len = 60 + (rx_sent as usize * 7) % 1450;
                        let bytes = frame_bytes(rx_sent + 1_000_000, len);
                        if !nic.rx(&r, &bytes, 0) {
                            break; // ring full: the NIC would count a miss
                        }
                        rx_expect.push_back(rx_sent);
                        rx_sent += 1;
                    }
                }
                3 => {
                    r.rx_burst(&nic.db, &mut out, || round);
                    while let Some(f) = out.pop_front() {
                        // In order; the ones skipped were dropped for want
                        // of a buffer (counted below).
                        let seq = loop {
                            let s = rx_expect.pop_front().expect("a frame nobody sent");
                            let len = 60 + (s as usize * 7) % 1450;
                            if r.buf(&f.buf)[..len.min(f.len)]
                                == frame_bytes(s + 1_000_000, len)[..len.min(f.len)]
                            {
                                break s;
                            }
                        };
                        let len = 60 + (seq as usize * 7) % 1450;
                        assert_eq!(f.len, len);
                        assert_eq!(
                            &r.buf(&f.buf)[..len],
                            &frame_bytes(seq + 1_000_000, len)[..]
                        );
                        rx_got += 1;
                        if next(3) == 0 {
                            held.push(f.buf);
                        } else {
                            r.free(f.buf);
                        }
                    }
                }
                4 => {
                    for _ in 0..next(4) {
                        if let Some(b) = held.pop() {
                            r.free(b);
                        }
                    }
                }
                _ => {
                    r.reclaim();
                }
            }
            // Frames on the wire are the ones sent, in order, intact.
            while tx_checked < nic.wire_out.len() {
                let s = tx_checked as u32;
                assert_eq!(
                    nic.wire_out[tx_checked],
                    frame_bytes(s, 60 + s as usize % 1400)
                );
                tx_checked += 1;
            }
            // Every buffer in exactly one place.
            let mut seen = HashSet::new();
            for b in held.iter().chain(pending.iter().map(|f| &f.buf)) {
                assert!(seen.insert(b.index()), "buffer {} twice", b.index());
            }
            for b in r.rx.bufs.iter().chain(r.tx.bufs.iter()).flatten() {
                assert!(seen.insert(b.index()), "buffer {} twice", b.index());
            }
            assert!(
                r.rx.bufs.iter().all(Option::is_some),
                "an RX slot without a buffer"
            );
            assert_eq!(seen.len(), r.pool().outstanding(), "round {round}: leak");
            assert_eq!(
                r.pool().outstanding(),
                RX_N as usize + r.tx_in_flight() + held.len() + pending.len()
            );
        }
        // Drain everything: only the RX ring keeps buffers.
        for f in pending {
            r.free(f.buf);
        }
        for b in held {
            r.free(b);
        }
        while r.tx_in_flight() > 0 {
            nic.tx(&r, usize::MAX);
            r.reclaim();
        }
        r.rx_burst(&nic.db, &mut out, || 0);
        while let Some(f) = out.pop_front() {
            rx_got += 1;
            r.free(f.buf);
        }
        assert_eq!(r.pool().outstanding(), RX_N as usize);
        assert!(
            tx_seq > 1000 && rx_sent > 1000,
            "exercised: {tx_seq} sent, {rx_sent} received"
        );
        assert_eq!(r.counters().tx_frames as usize, nic.wire_out.len());
        let c = r.counters();
        assert_eq!(c.rx_frames, rx_got);
        assert_eq!(
            c.rx_frames + c.rx_drops,
            u64::from(rx_sent),
            "every frame received or counted"
        );
        // Drops only for want of a buffer (pool_empty also counts the
        // test's own failed allocs).
        assert!(c.rx_drops > 0 && c.rx_drops <= c.pool_empty, "{c:?}");
    }

    /// Counts this thread's heap allocations while `COUNTING` is set.
    struct CountingAlloc;

    thread_local! {
        static COUNTING: Cell<bool> = const { Cell::new(false) };
        static ALLOCS: Cell<u64> = const { Cell::new(0) };
    }

    // SAFETY: every method forwards to `System` unchanged; the counters are
    // const-initialised thread-locals without destructors, which never
    // allocate, so counting cannot recurse into the allocator.
    unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
        unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
            if COUNTING.try_with(Cell::get).unwrap_or(false) {
                let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
            }
            // SAFETY: the caller's contract, passed on.
            unsafe { std::alloc::System.alloc(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
            // SAFETY: the caller's contract, passed on.
            unsafe { std::alloc::System.dealloc(p, l) }
        }
    }

    #[global_allocator]
    static GLOBAL: CountingAlloc = CountingAlloc;

    fn allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
        let before = ALLOCS.with(Cell::get);
        COUNTING.with(|c| c.set(true));
        let r = f();
        COUNTING.with(|c| c.set(false));
        (r, ALLOCS.with(Cell::get) - before)
    }

    /// The data path (alloc, buf_mut, tx_burst, tx_stamps, reclaim,
    /// rx_burst, buf, free) allocates nothing after `Rings::new`.
    #[test]
    fn data_path_allocates_nothing() {
        let (v, n) = allocations(|| Vec::<u8>::with_capacity(10));
        assert_eq!((v.capacity(), n), (10, 1), "the counter counts");
        let mut r = rings(32, 32, 256);
        let mut nic = FakeNic::new(32, 32);
        let (_, n) = allocations(|| r.start(&nic.db));
        assert_eq!(n, 0);
        let mut batch = TxBatch::new();
        let mut out = RxBatch::new();
        let mut stamps = TxStampBatch::new();
        let frame = frame_bytes(7, 200);
        let mut total = 0;
        for round in 0..2_000u64 {
            let (_, n) = allocations(|| {
                for _ in 0..8 {
                    let b = r.alloc().unwrap();
                    r.buf_mut(&b)[..200].copy_from_slice(&frame);
                    let _ = batch.push_back(TxFrame {
                        buf: b,
                        len: 200,
                        launch_time_ns: None,
                        stamp_tag: Some(round as u32),
                    });
                }
                r.tx_burst(&nic.db, &mut batch);
            });
            total += n;
            nic.tx(&r, 8); // the model allocates; it is not counted
            for _ in 0..8 {
                nic.rx(&r, &frame, 0);
            }
            let (_, n) = allocations(|| {
                r.tx_stamps(&mut stamps);
                stamps.clear();
                r.reclaim();
                r.rx_burst(&nic.db, &mut out, || round);
                while let Some(f) = out.pop_front() {
                    assert_eq!(r.buf(&f.buf)[0], frame[0]);
                    r.free(f.buf);
                }
            });
            total += n;
        }
        assert_eq!(total, 0, "heap allocations on the data path");
        assert_eq!(r.counters().rx_frames, 16_000);
        assert_eq!(r.counters().tx_stamps_lost, 0, "every stamp handed out");
    }

    #[cfg(feature = "fault-injection")]
    #[test]
    fn forged_descriptor_points_anywhere_and_reclaim_skips_it() {
        let mut r = rings(8, 8, 16);
        let nic = FakeNic::new(8, 8);
        r.forge_tx(&nic.db, 0xdead_0000, 64).unwrap();
        assert_eq!(nic.db.tdt.get(), 1);
        let (txd, _, _) = r.regions();
        assert_eq!(txd.read_u64(0), 0xdead_0000);
        // The device completes it anyway (as QEMU does after the fault).
        txd.write_u64(8, txd.read_u64(8) | u64::from(TXD_STAT_DD) << 32);
        assert_eq!(r.reclaim(), 1);
        assert_eq!(r.pool().outstanding(), 0);
        let (sent, _) = send(&mut r, &nic, &[1]);
        assert_eq!(sent, 1, "still works");
    }
}
