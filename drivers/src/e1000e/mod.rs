//! Intel 82574L (e1000e) through VFIO: the net-mdev split in one process.
//!
//! | file | side | job |
//! |---|---|---|
//! | `control.rs` | kernel | reset, interrupts off, MAC, link, filters, ring registers, RCTL/TCTL |
//! | `rings.rs` | userland | descriptors, packet pool, TDT/RDT doorbells, polling |
//! | `regs.rs` | — | register offsets and bits, with their sources |
//!
//! The only thing control hands the data side is a [`RingSetup`]: ring
//! IOVAs, sizes and doorbell offsets. See docs/net-mdev.md.
//!
//! The 82574L has no launch-time hardware: a frame leaves when its doorbell
//! is rung, so the talker rings it at the launch instant from its pinned
//! thread (`caps.launch_time = false`). Receive times are CLOCK_TAI read
//! when the receive poll finds frames (`caps.rx_stamps = ReceivePoll`);
//! transmit stamps are CLOCK_TAI read when the poll first sees a stamped
//! frame's descriptor done (`caps.tx_stamps = Completion`, see `rings.rs`).

pub mod control;
pub mod regs;
pub mod rings;

pub use control::{Control, LinkStatus, RingRegs, RingSetup, RxConfig};
pub use rings::{RingIdx, Rings, RxDesc, TxDesc, BUF_SIZE, DESC_LEN};

use crate::vfio::{self, Bar, Container, Group, VfioDevice, VfioPaths};
use crate::{
    BufId, Capabilities, Counters, DeviceInfo, DriverError, PciAddress, RingDevice, RxBatch,
    StampSource, TxBatch, TxStampBatch, MAX_BURST,
};
use rings::tai_now;
use std::time::Duration;
use vfio_bindings::bindings::vfio::VFIO_PCI_BAR0_REGION_INDEX;

/// PCI ids of the 82574L.
pub const VENDOR_INTEL: u16 = 0x8086;
pub const DEVICE_82574L: u16 = 0x10d3;
/// BAR0 (memory-mapped registers) is 128 KiB.
pub const BAR0_SIZE: u64 = 0x20000;

/// How to open the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct E1000eOptions {
    /// TX descriptors: a multiple of 8 from 8 to 32768.
    pub tx_ring: u16,
    /// RX descriptors: a multiple of 8 from 8 to 32768.
    pub rx_ring: u16,
    /// Buffers of `BUF_SIZE` bytes; more than `rx_ring` (each RX slot holds one).
    pub pool_size: usize,
    /// How long to wait for link up; zero = don't wait.
    pub link_timeout: Duration,
    /// Receive filters (multicast list / promiscuous, long frames).
    pub rx: RxConfig,
    /// Where sysfs and /dev are.
    pub paths: VfioPaths,
}

impl Default for E1000eOptions {
    /// 256-slot rings, 1024 buffers (2 MiB), 5 s for the link, every
    /// multicast frame accepted (a `DeviceSpec` does not know the streams'
    /// addresses; narrow it with `rx.multicast` or `set_multicast`).
    fn default() -> Self {
        E1000eOptions {
            tx_ring: 256,
            rx_ring: 256,
            pool_size: 1024,
            link_timeout: Duration::from_secs(5),
            rx: RxConfig {
                long_packets: false,
                multicast: Vec::new(),
                multicast_promiscuous: true,
            },
            paths: VfioPaths::default(),
        }
    }
}

/// An 82574L driven from this process. Fields drop in order: the rings'
/// DMA memory leaves the IOMMU before the BAR is unmapped and the device,
/// group and container close.
pub struct E1000e {
    rings: Rings,
    bar: Bar,
    device: VfioDevice,
    _group: Group,
    _container: Container,
    info: DeviceInfo,
}

impl E1000e {
    /// Open the 82574L at `addr` (bound to vfio-pci), reset and configure
    /// it, map rings and pool for DMA and start receiving. Prints nothing;
    /// every failure is a [`DriverError`] that names the fix.
    pub fn open(addr: PciAddress, opts: E1000eOptions) -> Result<Self, DriverError> {
        let name = format!("vfio:{addr}");
        let bad = |reason: String| DriverError::BadOptions {
            device: name.clone(),
            reason,
        };
        control::check_ring_entries(opts.tx_ring).map_err(bad)?;
        control::check_ring_entries(opts.rx_ring).map_err(bad)?;
        if opts.pool_size <= opts.rx_ring as usize {
            return Err(bad(format!(
                "pool_size {} must be larger than rx_ring {} (each RX slot holds a buffer)",
                opts.pool_size, opts.rx_ring
            )));
        }

        let group_id = vfio::preflight(&opts.paths, &addr, Some((VENDOR_INTEL, DEVICE_82574L)))?;
        let mut container = Container::open(&opts.paths, &addr)?;
        let group = Group::open(&opts.paths, group_id, &addr)?;
        container.attach(&group)?;
        let device = VfioDevice::open(&group, addr)?;
        let bar = device.map_bar(VFIO_PCI_BAR0_REGION_INDEX, BAR0_SIZE)?;
        device.set_bus_master(true)?;

        let tx_mem = container.map_dma(opts.tx_ring as usize * DESC_LEN)?;
        let rx_mem = container.map_dma(opts.rx_ring as usize * DESC_LEN)?;
        let buf_mem = container.map_dma(opts.pool_size * BUF_SIZE)?;
        let setup = RingSetup::queue0(tx_mem.iova(), opts.tx_ring, rx_mem.iova(), opts.rx_ring);

        let ctl = Control::new(&bar, &name);
        ctl.reset()?;
        let mac = ctl.read_mac()?;
        ctl.setup(&mac, &setup, &opts.rx)?;
        let mut rings = Rings::new(
            &name,
            &setup,
            tx_mem,
            rx_mem,
            buf_mem,
            BUF_SIZE,
            opts.pool_size,
        )?;
        // Transmit stamps on the clock `info().clock` names.
        rings.set_clock(tai_now);
        rings.start(&bar);
        let link = ctl.wait_link_up(opts.link_timeout)?;

        let info = DeviceInfo {
            name,
            mac,
            link_speed_bps: link.speed_bps,
            buf_size: BUF_SIZE,
            pool_size: opts.pool_size,
            caps: Capabilities {
                launch_time: false,
                rx_stamps: StampSource::ReceivePoll,
                tx_stamps: StampSource::Completion,
                max_batch: MAX_BURST,
            },
            clock: Some(nix::time::ClockId::CLOCK_TAI),
        };
        Ok(E1000e {
            rings,
            bar,
            device,
            _group: group,
            _container: container,
            info,
        })
    }

    /// The control side, for filters and link queries after open.
    fn control(&self) -> Control<'_, Bar> {
        Control::new(&self.bar, &self.info.name)
    }

    /// Accept exactly these multicast destinations (plus broadcast and our
    /// own MAC); turns multicast promiscuous mode off.
    pub fn set_multicast(&mut self, macs: &[[u8; 6]]) {
        let c = self.control();
        c.set_multicast(macs);
        c.set_multicast_promiscuous(false);
    }

    /// Accept every multicast frame (RCTL.MPE), or only the table's.
    pub fn set_multicast_promiscuous(&mut self, on: bool) {
        self.control().set_multicast_promiscuous(on);
    }

    pub fn link_status(&self) -> LinkStatus {
        self.control().link_status()
    }

    /// Buffers handed out and not yet returned (leak checks): the RX ring's
    /// stock, TX in flight, and what the caller holds.
    pub fn outstanding(&self) -> usize {
        self.rings.pool().outstanding()
    }

    /// Isolation-test hook (cargo feature `fault-injection`): write one TX
    /// descriptor pointing at `iova` — any address, normally one the IOMMU
    /// does not map — and ring the doorbell. The IOMMU must refuse the read
    /// (the guest kernel logs a DMAR fault) and the device must keep working.
    #[cfg(feature = "fault-injection")]
    pub fn forge_tx_descriptor(&mut self, iova: u64, len: u16) -> Result<(), DriverError> {
        self.rings.forge_tx(&self.bar, iova, len)
    }
}

impl Drop for E1000e {
    fn drop(&mut self) {
        // Stop DMA before the memory goes away: RX/TX off, then no more bus
        // mastering. vfio-pci also resets the function when the fd closes.
        self.control().quiesce();
        let _ = self.device.set_bus_master(false);
    }
}

impl RingDevice for E1000e {
    fn owns(&self, buf: &BufId) -> bool {
        self.rings.pool().owns(buf)
    }

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn counters(&self) -> Counters {
        self.rings.counters()
    }

    fn alloc(&mut self) -> Option<BufId> {
        self.rings.alloc()
    }

    fn free(&mut self, buf: BufId) {
        self.rings.free(buf)
    }

    fn buf(&self, buf: &BufId) -> &[u8] {
        self.rings.buf(buf)
    }

    fn buf_mut(&mut self, buf: &BufId) -> &mut [u8] {
        self.rings.buf_mut(buf)
    }

    /// Frames leave when the doorbell is rung (now): `launch_time_ns` is
    /// not honoured (`caps.launch_time` is false).
    fn tx_burst(&mut self, frames: &mut TxBatch) -> usize {
        self.rings.tx_burst(&self.bar, frames)
    }

    /// Receive time: CLOCK_TAI read once per burst that found frames.
    fn rx_burst(&mut self, out: &mut RxBatch) -> usize {
        self.rings.rx_burst(&self.bar, out, tai_now)
    }

    /// Polls the TX ring: a stamped frame is stamped (CLOCK_TAI) when its
    /// descriptor's DD is first seen.
    fn tx_stamps(&mut self, out: &mut TxStampBatch) -> usize {
        self.rings.tx_stamps(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfio::FakeRoot;

    fn open_fake(f: &FakeRoot, a: &str, opts: E1000eOptions) -> DriverError {
        E1000e::open(
            a.parse().unwrap(),
            E1000eOptions {
                paths: f.paths.clone(),
                ..opts
            },
        )
        .err()
        .expect("no device here")
    }

    #[test]
    fn open_checks_options_before_touching_anything() {
        let f = FakeRoot::new();
        let e = open_fake(
            &f,
            "0000:00:02.0",
            E1000eOptions {
                tx_ring: 100,
                ..Default::default()
            },
        )
        .to_string();
        assert!(
            e.starts_with("bad vfio:0000:00:02.0 options: a ring of 100"),
            "{e}"
        );
        let e = open_fake(
            &f,
            "0000:00:02.0",
            E1000eOptions {
                pool_size: 256,
                ..Default::default()
            },
        )
        .to_string();
        assert!(
            e.contains("pool_size 256 must be larger than rx_ring 256"),
            "{e}"
        );
    }

    #[test]
    fn open_reports_what_sysfs_says() {
        let f = FakeRoot::new();
        let e = open_fake(&f, "0000:00:02.0", E1000eOptions::default());
        assert!(matches!(e, DriverError::NoSuchPciDevice { .. }), "{e}");
        f.device("0000:00:02.0", (0x8086, 0x10d3), Some("e1000e"), Some(3))
            .vfio_nodes(Some(3));
        let e = open_fake(&f, "0000:00:02.0", E1000eOptions::default());
        assert!(matches!(e, DriverError::NotBoundToVfio { .. }), "{e}");
        assert!(e.to_string().contains("driver_override"), "{e}");
    }

    #[test]
    fn default_options_are_valid_and_accept_all_multicast() {
        let o = E1000eOptions::default();
        assert!(control::check_ring_entries(o.tx_ring).is_ok());
        assert!(control::check_ring_entries(o.rx_ring).is_ok());
        assert!(o.pool_size > o.rx_ring as usize + o.tx_ring as usize + MAX_BURST);
        assert_eq!(o.pool_size * BUF_SIZE, 2 << 20);
        assert!(o.rx.multicast_promiscuous);
        assert_eq!(o.paths, VfioPaths::default());
    }

    /// The two halves together over a register model and heap memory: what
    /// `open` does after VFIO, minus the device.
    #[test]
    fn control_then_rings_over_a_register_model() {
        let mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
        let regs = control::tests::FakeRegs::new(mac);
        let setup = RingSetup::queue0(0x1000_0000, 8, 0x1000_2000, 8);
        let c = Control::new(&regs, "vfio:test");
        c.reset().unwrap();
        c.setup(&c.read_mac().unwrap(), &setup, &RxConfig::default())
            .unwrap();
        let mut rings = Rings::new(
            "vfio:test",
            &setup,
            vfio::DmaRegion::heap(8 * DESC_LEN, 0x1000_0000),
            vfio::DmaRegion::heap(8 * DESC_LEN, 0x1000_2000),
            vfio::DmaRegion::heap(16 * BUF_SIZE, 0x1000_4000),
            BUF_SIZE,
            16,
        )
        .unwrap();
        let before = regs.writes.borrow().len();
        rings.start(&regs);
        let mut batch = TxBatch::new();
        let b = rings.alloc().unwrap();
        rings.buf_mut(&b)[..60].fill(0xab);
        batch
            .push_back(crate::TxFrame {
                buf: b,
                len: 60,
                launch_time_ns: None,
                stamp_tag: None,
            })
            .unwrap();
        assert_eq!(rings.tx_burst(&regs, &mut batch), 1);
        let w = regs.writes.borrow();
        assert_eq!(
            &w[before..],
            &[(regs::RDT, 7), (regs::TDT, 1)],
            "the data side writes the two doorbells and nothing else"
        );
    }
}
