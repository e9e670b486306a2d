//! The control side of the net-mdev split: what a kernel driver would keep.
//!
//! Reset, interrupts masked, MAC address, link, receive filters (broadcast,
//! multicast table, multicast promiscuous), and ring set-up: base, length,
//! head and tail registers and the RCTL/TCTL/TIPG configuration. It hands
//! the data side ([`super::rings`]) nothing but a [`RingSetup`]: where each
//! ring lives (IOVA, entries) and the offset of its doorbell.
//!
//! Everything goes through [`Regs`], so the sequences are tested against a
//! register model without a device.

use super::regs::*;
use crate::vfio::Regs;
use crate::DriverError;
use std::time::{Duration, Instant};

/// One descriptor ring as the data side sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingRegs {
    /// IOVA of descriptor 0.
    pub iova: u64,
    /// Number of 16-byte descriptors.
    pub entries: u16,
    /// Offset in BAR0 of the tail register the data side writes (doorbell).
    pub doorbell: usize,
}

/// The whole interface from control to data side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingSetup {
    pub tx: RingRegs,
    pub rx: RingRegs,
}

impl RingSetup {
    /// Queue 0 of the 82574L: doorbells TDT and RDT.
    pub fn queue0(tx_iova: u64, tx_entries: u16, rx_iova: u64, rx_entries: u16) -> Self {
        RingSetup {
            tx: RingRegs {
                iova: tx_iova,
                entries: tx_entries,
                doorbell: TDT,
            },
            rx: RingRegs {
                iova: rx_iova,
                entries: rx_entries,
                doorbell: RDT,
            },
        }
    }
}

/// Ring sizes the 82574L accepts: a multiple of 8 descriptors (xDLEN is a
/// multiple of 128 bytes), at least 8, and head/tail fit in 16 bits.
pub fn check_ring_entries(entries: u16) -> Result<(), String> {
    if entries < 8 || !entries.is_multiple_of(8) || entries > 32768 {
        Err(format!(
            "a ring of {entries} descriptors: use a multiple of 8 from 8 to 32768"
        ))
    } else {
        Ok(())
    }
}

/// Receive filtering and frame size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RxConfig {
    /// RCTL.LPE: accept frames longer than 1522 bytes (up to the 2048-byte buffer).
    pub long_packets: bool,
    /// Destination MACs to accept through the multicast table.
    pub multicast: Vec<[u8; 6]>,
    /// RCTL.MPE: accept every multicast frame.
    pub multicast_promiscuous: bool,
}

/// What STATUS says about the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkStatus {
    pub up: bool,
    pub speed_bps: u64,
    pub full_duplex: bool,
}

impl LinkStatus {
    pub fn from_status(status: u32) -> Self {
        LinkStatus {
            up: status & STATUS_LU != 0,
            speed_bps: match status & STATUS_SPEED_MASK {
                STATUS_SPEED_10 => 10_000_000,
                STATUS_SPEED_100 => 100_000_000,
                _ => 1_000_000_000, // 10b and 11b both mean 1000 Mb/s
            },
            full_duplex: status & STATUS_FD != 0,
        }
    }
}

/// The multicast table hash of a MAC with RCTL.MO = 0: address bits
/// 47..36, i.e. `((mac[4] >> 4) | (mac[5] << 4)) & 0xfff` (Linux
/// `e1000_hash_mc_addr_generic` with 128 MTA registers: hash_mask 0xfff,
/// bit_shift 4; QEMU `e1000x_rx_group_filter` with `mta_shift[0] = 4`).
pub fn mta_hash(mac: &[u8; 6]) -> u16 {
    (((mac[4] as u16) >> 4) | ((mac[5] as u16) << 4)) & 0xfff
}

/// Register index (0..128) and bit (0..32) of a MAC's hash in the MTA.
pub fn mta_position(mac: &[u8; 6]) -> (usize, u32) {
    let h = mta_hash(mac);
    ((h >> 5) as usize, (h & 0x1f) as u32)
}

/// The whole multicast table for a list of destination MACs.
pub fn mta_table(macs: &[[u8; 6]]) -> [u32; MTA_REGS] {
    let mut t = [0u32; MTA_REGS];
    for m in macs {
        let (reg, bit) = mta_position(m);
        t[reg] |= 1 << bit;
    }
    t
}

/// RCTL for our set-up: enabled, broadcast accepted, FCS stripped,
/// 2048-byte buffers, legacy descriptors, MO = 0, no loopback, VLAN tags
/// kept in the frame (VFE off), unicast promiscuous off.
pub fn rctl_value(cfg: &RxConfig) -> u32 {
    let mut v = RCTL_EN | RCTL_BAM | RCTL_SECRC | RCTL_SZ_2048;
    if cfg.long_packets {
        v |= RCTL_LPE;
    }
    if cfg.multicast_promiscuous {
        v |= RCTL_MPE;
    }
    v
}

/// TCTL: enabled, short frames padded, collision threshold and distance
/// (full duplex), re-transmit on late collision (as Linux e1000e).
pub fn tctl_value() -> u32 {
    TCTL_EN
        | TCTL_PSP
        | (COLLISION_THRESHOLD << TCTL_CT_SHIFT)
        | (COLLISION_DISTANCE << TCTL_COLD_SHIFT)
        | TCTL_RTLC
}

/// Poll `cond` every `every` until it holds or `timeout` passes.
fn wait_for(timeout: Duration, every: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() >= timeout {
            return cond();
        }
        std::thread::sleep(every);
    }
}

/// How long the reset steps may take.
const MASTER_DISABLE_TIMEOUT: Duration = Duration::from_millis(80); // MASTER_DISABLE_TIMEOUT 800 x 100 us
const RESET_TIMEOUT: Duration = Duration::from_millis(100);
const AUTO_READ_TIMEOUT: Duration = Duration::from_millis(10); // AUTO_READ_DONE_TIMEOUT
const SETTLE: Duration = Duration::from_millis(10);

/// The kernel's side of the device, over its registers.
pub struct Control<'a, R: Regs> {
    regs: &'a R,
    /// For error messages ("vfio:0000:00:02.0").
    name: &'a str,
}

impl<'a, R: Regs> Control<'a, R> {
    pub fn new(regs: &'a R, name: &'a str) -> Self {
        Control { regs, name }
    }

    fn not_ready(&self, what: String) -> DriverError {
        DriverError::DeviceNotReady {
            device: self.name.to_string(),
            what,
        }
    }

    /// Mask every interrupt and clear pending causes (we poll).
    pub fn disable_interrupts(&self) {
        self.regs.write32(IMC, u32::MAX);
        let _ = self.regs.read32(ICR);
    }

    /// Stop receive and transmit DMA (before a reset or when closing).
    pub fn quiesce(&self) {
        self.regs.write32(IMC, u32::MAX);
        self.regs.write32(RCTL, 0);
        self.regs.write32(TCTL, TCTL_PSP);
        let _ = self.regs.read32(STATUS); // flush posted writes
    }

    /// Global reset, as Linux `e1000_reset_hw_82571`: mask interrupts, stop
    /// RX/TX, let DMA drain, disable PCIe mastering, CTRL.RST, wait for it to
    /// clear and for the NVM auto-read, then mask and clear interrupts again.
    pub fn reset(&self) -> Result<(), DriverError> {
        self.quiesce();
        std::thread::sleep(SETTLE);

        let ctrl = self.regs.read32(CTRL);
        self.regs.write32(CTRL, ctrl | CTRL_GIO_MASTER_DISABLE);
        // Like Linux, go on when it does not stop: the reset stops it anyway.
        let _ = wait_for(MASTER_DISABLE_TIMEOUT, Duration::from_micros(100), || {
            self.regs.read32(STATUS) & STATUS_GIO_MASTER_ENABLE == 0
        });

        let ctrl = self.regs.read32(CTRL);
        self.regs.write32(CTRL, ctrl | CTRL_RST);
        std::thread::sleep(Duration::from_millis(1));
        if !wait_for(RESET_TIMEOUT, Duration::from_millis(1), || {
            self.regs.read32(CTRL) & CTRL_RST == 0
        }) {
            return Err(self.not_ready(format!(
                "CTRL.RST did not clear within {} ms of a reset: the device is wedged; rebind it \
                 to vfio-pci (or reboot the machine)",
                RESET_TIMEOUT.as_millis()
            )));
        }
        if !wait_for(AUTO_READ_TIMEOUT, Duration::from_millis(1), || {
            self.regs.read32(EECD) & EECD_AUTO_RD != 0
        }) {
            std::thread::sleep(SETTLE); // no NVM auto-read flag: settle instead
        }
        self.disable_interrupts();
        Ok(())
    }

    /// The MAC address from RAL0/RAH0 (loaded from the NVM at reset), or
    /// from NVM words 0..3 through EERD when RAH0 is not valid.
    pub fn read_mac(&self) -> Result<[u8; 6], DriverError> {
        let lo = self.regs.read32(RAL0).to_le_bytes();
        let hi = self.regs.read32(RAH0);
        let mut mac = [lo[0], lo[1], lo[2], lo[3], hi as u8, (hi >> 8) as u8];
        if hi & RAH_AV == 0 || mac == [0; 6] {
            for word in 0..3u32 {
                self.regs
                    .write32(EERD, (word << EERD_ADDR_SHIFT) | EERD_START);
                let mut v = 0;
                if !wait_for(Duration::from_millis(10), Duration::from_micros(50), || {
                    v = self.regs.read32(EERD);
                    v & EERD_DONE != 0
                }) {
                    return Err(self.not_ready(
                        "no MAC address: RAH0 is not valid and the NVM read (EERD) did not \
                         complete"
                            .into(),
                    ));
                }
                let data = (v >> EERD_DATA_SHIFT) as u16;
                mac[word as usize * 2] = data as u8;
                mac[word as usize * 2 + 1] = (data >> 8) as u8;
            }
        }
        if mac == [0; 6] || mac == [0xff; 6] || mac[0] & 1 != 0 {
            return Err(self.not_ready(format!(
                "no usable MAC address (read {mac:02x?}): the NVM is blank or the device is not an \
                 82574L"
            )));
        }
        Ok(mac)
    }

    /// Accept frames to `mac` (RAL0/RAH0 with the address-valid bit).
    pub fn set_mac_filter(&self, mac: &[u8; 6]) {
        self.regs
            .write32(RAL0, u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]));
        self.regs
            .write32(RAH0, u32::from(mac[4]) | u32::from(mac[5]) << 8 | RAH_AV);
    }

    /// Program the multicast table with exactly these destination MACs.
    pub fn set_multicast(&self, macs: &[[u8; 6]]) {
        for (i, v) in mta_table(macs).iter().enumerate() {
            self.regs.write32(MTA + 4 * i, *v);
        }
    }

    /// RCTL.MPE: accept every multicast frame (or only the table's).
    pub fn set_multicast_promiscuous(&self, on: bool) {
        let rctl = self.regs.read32(RCTL);
        self.regs.write32(
            RCTL,
            if on {
                rctl | RCTL_MPE
            } else {
                rctl & !RCTL_MPE
            },
        );
    }

    /// Everything after a reset up to enabled rings: link forced up (SLU),
    /// VLAN tags left alone, checksum offload off, legacy descriptors,
    /// MAC and multicast filters, both rings (base, length, head = tail = 0),
    /// no interrupt delays, TIPG, TCTL and finally RCTL.
    ///
    /// The RX ring is enabled empty (RDT = RDH = 0): the data side stocks
    /// it and rings RDT. The TX ring is empty until the data side rings TDT.
    pub fn setup(
        &self,
        mac: &[u8; 6],
        rings: &RingSetup,
        rx: &RxConfig,
    ) -> Result<(), DriverError> {
        for r in [&rings.tx, &rings.rx] {
            check_ring_entries(r.entries).map_err(|reason| DriverError::BadOptions {
                device: self.name.into(),
                reason,
            })?;
            if r.iova % 16 != 0 {
                return Err(DriverError::BadOptions {
                    device: self.name.into(),
                    reason: format!("ring IOVA {:#x} is not 16-byte aligned", r.iova),
                });
            }
        }
        if (rings.tx.doorbell, rings.rx.doorbell) != (TDT, RDT) {
            return Err(DriverError::BadOptions {
                device: self.name.into(),
                reason: "only queue 0 (doorbells TDT and RDT) is set up".into(),
            });
        }

        // Link: set link up, speed/duplex from auto-negotiation (as Linux
        // e1000e's copper set-up); take back GIO master disable and the
        // other reset-time bits; CTRL.VME off keeps 802.1Q tags in frames.
        let ctrl = self.regs.read32(CTRL);
        let ctrl = (ctrl
            & !(CTRL_GIO_MASTER_DISABLE
                | CTRL_LRST
                | CTRL_FRCSPD
                | CTRL_FRCDPX
                | CTRL_VME
                | CTRL_RST
                | CTRL_PHY_RST))
            | CTRL_SLU;
        self.regs.write32(CTRL, ctrl);
        self.regs.write32(VET, ETHERTYPE_VLAN);

        // Receive: no checksum offload, legacy descriptors.
        self.regs.write32(RXCSUM, 0);
        let rfctl = self.regs.read32(RFCTL);
        self.regs.write32(RFCTL, rfctl & !RFCTL_EXTEN);
        self.set_mac_filter(mac);
        self.set_multicast(&rx.multicast);

        // Transmit ring.
        let tx = &rings.tx;
        self.regs.write32(TDBAL, tx.iova as u32);
        self.regs.write32(TDBAH, (tx.iova >> 32) as u32);
        self.regs.write32(TDLEN, u32::from(tx.entries) * 16);
        self.regs.write32(TDH, 0);
        self.regs.write32(TDT, 0);
        self.regs.write32(TIDV, 0);
        self.regs.write32(TADV, 0);
        let tarc = self.regs.read32(TARC0);
        self.regs.write32(TARC0, tarc | TARC_ENABLE);
        self.regs.write32(TIPG, TIPG_DEFAULT);
        self.regs.write32(TCTL, tctl_value());

        // Receive ring, then RCTL last.
        let rxr = &rings.rx;
        self.regs.write32(RDBAL, rxr.iova as u32);
        self.regs.write32(RDBAH, (rxr.iova >> 32) as u32);
        self.regs.write32(RDLEN, u32::from(rxr.entries) * 16);
        self.regs.write32(RDH, 0);
        self.regs.write32(RDT, 0);
        self.regs.write32(RDTR, 0);
        self.regs.write32(RADV, 0);
        self.regs.write32(RCTL, rctl_value(rx));
        let _ = self.regs.read32(STATUS); // flush
        Ok(())
    }

    pub fn link_status(&self) -> LinkStatus {
        LinkStatus::from_status(self.regs.read32(STATUS))
    }

    /// Wait for STATUS.LU. `timeout` zero: return the status as it is.
    pub fn wait_link_up(&self, timeout: Duration) -> Result<LinkStatus, DriverError> {
        if timeout.is_zero() {
            return Ok(self.link_status());
        }
        if wait_for(timeout, Duration::from_millis(5), || self.link_status().up) {
            Ok(self.link_status())
        } else {
            Err(self.not_ready(format!(
                "link did not come up within {} ms: check the cable or, in QEMU, the -netdev \
                 of this NIC; or open with link_timeout 0 to start without waiting",
                timeout.as_millis()
            )))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// A register file that behaves like the 82574L where the control
    /// sequences look: CTRL.RST self-clears, EECD has AUTO_RD, STATUS.LU
    /// follows CTRL.SLU, GIO master enable follows CTRL, ICR clears on read,
    /// RAL0/RAH0 hold a MAC. Every write is logged.
    pub(crate) struct FakeRegs {
        pub regs: RefCell<HashMap<usize, u32>>,
        pub writes: RefCell<Vec<(usize, u32)>>,
        /// Leave CTRL.RST set forever (a wedged device).
        pub stuck_reset: bool,
        /// Never raise STATUS.LU.
        pub no_link: bool,
    }

    impl FakeRegs {
        pub(crate) fn new(mac: [u8; 6]) -> Self {
            let f = FakeRegs {
                regs: RefCell::new(HashMap::new()),
                writes: RefCell::new(Vec::new()),
                stuck_reset: false,
                no_link: false,
            };
            {
                let mut r = f.regs.borrow_mut();
                r.insert(EECD, EECD_AUTO_RD);
                r.insert(STATUS, STATUS_FD | 2 << 6); // 1000 Mb/s, link down
                r.insert(RAL0, u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]));
                r.insert(RAH0, mac[4] as u32 | (mac[5] as u32) << 8 | RAH_AV);
                r.insert(ICR, 0x84);
                r.insert(RFCTL, RFCTL_EXTEN);
                r.insert(TARC0, 3);
            }
            f
        }

        pub(crate) fn get(&self, off: usize) -> u32 {
            self.regs.borrow().get(&off).copied().unwrap_or(0)
        }

        pub(crate) fn wrote(&self, off: usize) -> Vec<u32> {
            self.writes
                .borrow()
                .iter()
                .filter(|(o, _)| *o == off)
                .map(|(_, v)| *v)
                .collect()
        }
    }

    impl Regs for FakeRegs {
        fn read32(&self, off: usize) -> u32 {
            let v = self.get(off);
            match off {
                ICR => {
                    self.regs.borrow_mut().insert(ICR, 0);
                    v
                }
                STATUS => {
                    let ctrl = self.get(CTRL);
                    let mut s = v & !(STATUS_LU | STATUS_GIO_MASTER_ENABLE);
                    if ctrl & CTRL_GIO_MASTER_DISABLE == 0 {
                        s |= STATUS_GIO_MASTER_ENABLE;
                    }
                    if ctrl & CTRL_SLU != 0 && !self.no_link {
                        s |= STATUS_LU;
                    }
                    s
                }
                _ => v,
            }
        }

        fn write32(&self, off: usize, v: u32) {
            assert!(
                off.is_multiple_of(4) && off < 0x20000,
                "bad offset {off:#x}"
            );
            self.writes.borrow_mut().push((off, v));
            let v = match off {
                CTRL if !self.stuck_reset => v & !CTRL_RST,
                _ => v,
            };
            self.regs.borrow_mut().insert(off, v);
        }
    }

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    #[test]
    fn mta_hash_matches_the_e1000_formula() {
        // The worked example in Linux e1000_hash_mc_addr_generic: 0x563.
        assert_eq!(mta_hash(&[0x01, 0xaa, 0x00, 0x12, 0x34, 0x56]), 0x563);
        // 01:00:5e:00:00:01 (all-hosts): ((0x00 >> 4) | (0x01 << 4)) = 0x010.
        assert_eq!(mta_hash(&[0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]), 0x010);
        assert_eq!(mta_position(&[0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]), (0, 16));
        // Broadcast: every bit of [47:36] set.
        assert_eq!(mta_hash(&[0xff; 6]), 0xfff);
        assert_eq!(mta_position(&[0xff; 6]), (127, 31));
        // PTP's 01:1b:19:00:00:00 and 01:80:c2:00:00:0e (LLDP / gPTP peer delay).
        assert_eq!(mta_hash(&[0x01, 0x1b, 0x19, 0x00, 0x00, 0x00]), 0x000);
        assert_eq!(mta_hash(&[0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e]), 0x0e0);
        // Against the formula for every value of the two bytes that matter.
        for b4 in 0..=255u8 {
            for b5 in [0u8, 1, 0x5e, 0x80, 0xff] {
                let mac = [1, 0, 0x5e, 0, b4, b5];
                let want = (((b4 >> 4) as u16) | ((b5 as u16) << 4)) & 0xfff;
                assert_eq!(mta_hash(&mac), want);
                // The same through QEMU's form: ((b5 << 8 | b4) >> 4) & 0xfff.
                assert_eq!(
                    mta_hash(&mac),
                    ((((b5 as u16) << 8) | b4 as u16) >> 4) & 0xfff
                );
            }
        }
    }

    #[test]
    fn mta_table_sets_one_bit_per_address() {
        let t = mta_table(&[
            [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01],
            [0x01, 0xaa, 0x00, 0x12, 0x34, 0x56],
        ]);
        assert_eq!(t[0], 1 << 16);
        assert_eq!(t[0x563 >> 5], 1 << (0x563 & 0x1f));
        assert_eq!(t.iter().map(|v| v.count_ones()).sum::<u32>(), 2);
        assert_eq!(mta_table(&[]), [0; MTA_REGS]);
    }

    #[test]
    fn rctl_and_tctl_bits() {
        let v = rctl_value(&RxConfig::default());
        assert_eq!(v, RCTL_EN | RCTL_BAM | RCTL_SECRC);
        assert_eq!(v & RCTL_BSIZE_MASK, 0, "2048-byte buffers");
        assert_eq!(
            v & (RCTL_BSEX | RCTL_VFE | RCTL_UPE | RCTL_LPE | RCTL_MPE),
            0
        );
        assert_eq!(v & (RCTL_DTYP_MASK | RCTL_MO_MASK | RCTL_LBM_MASK), 0);
        let v = rctl_value(&RxConfig {
            long_packets: true,
            multicast_promiscuous: true,
            ..Default::default()
        });
        assert_eq!(v & (RCTL_LPE | RCTL_MPE), RCTL_LPE | RCTL_MPE);
        assert_eq!(tctl_value(), 0x0103_f0fa, "EN|PSP|CT=15|COLD=63|RTLC");
        assert_eq!(TIPG_DEFAULT, 0x0060_2008);
    }

    #[test]
    fn link_status_decodes_speed_and_duplex() {
        let s = LinkStatus::from_status(STATUS_LU | STATUS_FD | 2 << 6);
        assert_eq!(
            (s.up, s.speed_bps, s.full_duplex),
            (true, 1_000_000_000, true)
        );
        assert_eq!(LinkStatus::from_status(3 << 6).speed_bps, 1_000_000_000);
        assert_eq!(LinkStatus::from_status(1 << 6).speed_bps, 100_000_000);
        assert!(!LinkStatus::from_status(0).up);
    }

    #[test]
    fn reset_then_setup_programs_the_device() {
        let f = FakeRegs::new(MAC);
        let c = Control::new(&f, "vfio:0000:00:02.0");
        c.reset().unwrap();
        assert_eq!(
            f.wrote(IMC).first(),
            Some(&u32::MAX),
            "interrupts masked first"
        );
        assert!(
            f.wrote(CTRL).iter().any(|v| v & CTRL_RST != 0),
            "CTRL.RST written"
        );
        assert_eq!(f.get(ICR), 0, "ICR read (cleared)");
        assert_eq!(c.read_mac().unwrap(), MAC);

        let setup = RingSetup::queue0(0x1000_2000, 256, 0x1000_0000, 128);
        let rx = RxConfig {
            multicast: vec![[0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]],
            ..Default::default()
        };
        c.setup(&MAC, &setup, &rx).unwrap();
        assert_eq!(f.get(TDBAL), 0x1000_2000);
        assert_eq!(f.get(TDBAH), 0);
        assert_eq!(f.get(TDLEN), 256 * 16);
        assert_eq!((f.get(TDH), f.get(TDT)), (0, 0));
        assert_eq!(f.get(RDBAL), 0x1000_0000);
        assert_eq!(f.get(RDLEN), 128 * 16);
        assert_eq!((f.get(RDH), f.get(RDT)), (0, 0));
        assert_eq!(f.get(RCTL), rctl_value(&rx));
        assert_eq!(f.get(TCTL), tctl_value());
        assert_eq!(f.get(TIPG), TIPG_DEFAULT);
        assert_eq!(f.get(TARC0) & TARC_ENABLE, TARC_ENABLE);
        assert_eq!(f.get(RFCTL) & RFCTL_EXTEN, 0, "legacy RX descriptors");
        assert_eq!(f.get(RXCSUM), 0);
        assert_eq!(f.get(VET), 0x8100);
        let ctrl = f.get(CTRL);
        assert_eq!(ctrl & CTRL_SLU, CTRL_SLU);
        assert_eq!(ctrl & (CTRL_VME | CTRL_GIO_MASTER_DISABLE | CTRL_RST), 0);
        assert_eq!(f.get(MTA), 1 << 16);
        assert_eq!(f.get(RAH0), 0x5634 | RAH_AV);
        // RCTL (enable) is the last ring-related write.
        let w = f.writes.borrow();
        let last_rctl = w.iter().rposition(|(o, _)| *o == RCTL).unwrap();
        let last_rdt = w.iter().rposition(|(o, _)| *o == RDBAL).unwrap();
        assert!(last_rctl > last_rdt);
        drop(w);

        let link = c.wait_link_up(Duration::from_millis(100)).unwrap();
        assert_eq!((link.up, link.speed_bps), (true, 1_000_000_000));

        c.set_multicast_promiscuous(true);
        assert_eq!(f.get(RCTL) & RCTL_MPE, RCTL_MPE);
        c.set_multicast_promiscuous(false);
        assert_eq!(f.get(RCTL), rctl_value(&rx));

        c.quiesce();
        assert_eq!(f.get(RCTL) & RCTL_EN, 0);
        assert_eq!(f.get(TCTL) & TCTL_EN, 0);
    }

    #[test]
    fn a_wedged_reset_and_a_dead_link_are_errors_that_say_what_to_do() {
        let mut f = FakeRegs::new(MAC);
        f.stuck_reset = true;
        let e = Control::new(&f, "vfio:0000:00:02.0")
            .reset()
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("vfio:0000:00:02.0: CTRL.RST did not clear"),
            "{e}"
        );
        assert!(e.contains("rebind it to vfio-pci"), "{e}");

        let mut f = FakeRegs::new(MAC);
        f.no_link = true;
        let c = Control::new(&f, "vfio:0000:00:02.0");
        c.setup(
            &MAC,
            &RingSetup::queue0(0, 8, 4096, 8),
            &RxConfig::default(),
        )
        .unwrap();
        let e = c
            .wait_link_up(Duration::from_millis(20))
            .unwrap_err()
            .to_string();
        assert!(e.contains("link did not come up within 20 ms"), "{e}");
        assert!(e.contains("link_timeout 0"), "{e}");
        assert!(
            !c.wait_link_up(Duration::ZERO).unwrap().up,
            "0 = don't wait"
        );
    }

    #[test]
    fn setup_refuses_bad_rings() {
        let f = FakeRegs::new(MAC);
        let c = Control::new(&f, "x");
        for (tx, rx, needle) in [
            (12, 8, "a ring of 12 descriptors"),
            (8, 0, "a ring of 0 descriptors"),
            (8, 40000, "a ring of 40000"),
        ] {
            let e = c
                .setup(
                    &MAC,
                    &RingSetup::queue0(0, tx, 4096, rx),
                    &RxConfig::default(),
                )
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{e}");
        }
        let e = c
            .setup(
                &MAC,
                &RingSetup::queue0(8, 8, 4096, 8),
                &RxConfig::default(),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("not 16-byte aligned"), "{e}");
    }

    #[test]
    fn mac_falls_back_to_the_nvm_and_refuses_garbage() {
        let f = FakeRegs::new([0; 6]);
        f.regs.borrow_mut().insert(RAH0, 0);
        // No EERD model: DONE never comes.
        let e = Control::new(&f, "x").read_mac().unwrap_err().to_string();
        assert!(e.contains("NVM read (EERD) did not complete"), "{e}");
        let f = FakeRegs::new([0x01, 0, 0x5e, 0, 0, 1]);
        let e = Control::new(&f, "x").read_mac().unwrap_err().to_string();
        assert!(e.contains("no usable MAC address"), "{e}");
    }
}
