//! Intel 82574L register offsets and bits used by this driver.
//!
//! Sources: the Intel 82574 GbE Controller Family datasheet (section 10,
//! register descriptions; section 3.2/3.3, descriptor formats), cross-checked
//! against Linux `drivers/net/ethernet/intel/e1000e/{regs.h,defines.h}` and
//! QEMU's model `hw/net/e1000e_core.c` + `e1000x_common.c` (what the test
//! guest actually runs). Offsets are bytes into BAR0.

// ---- registers (regs.h) ----
/// Device Control.
pub const CTRL: usize = 0x0000;
/// Device Status (read only).
pub const STATUS: usize = 0x0008;
/// EEPROM/Flash Control.
pub const EECD: usize = 0x0010;
/// EEPROM Read.
pub const EERD: usize = 0x0014;
/// VLAN EtherType.
pub const VET: usize = 0x0038;
/// Interrupt Cause Read (clear on read).
pub const ICR: usize = 0x00c0;
/// Interrupt Mask Clear.
pub const IMC: usize = 0x00d8;
/// Receive Control.
pub const RCTL: usize = 0x0100;
/// Transmit Control.
pub const TCTL: usize = 0x0400;
/// Transmit Inter-Packet Gap.
pub const TIPG: usize = 0x0410;
/// Receive queue 0: descriptor base low/high, length, head, tail.
pub const RDBAL: usize = 0x2800;
pub const RDBAH: usize = 0x2804;
pub const RDLEN: usize = 0x2808;
pub const RDH: usize = 0x2810;
pub const RDT: usize = 0x2818;
/// Receive interrupt delay timer / absolute delay (0 = off: we poll).
pub const RDTR: usize = 0x2820;
pub const RADV: usize = 0x282c;
/// Transmit queue 0: descriptor base low/high, length, head, tail.
pub const TDBAL: usize = 0x3800;
pub const TDBAH: usize = 0x3804;
pub const TDLEN: usize = 0x3808;
pub const TDH: usize = 0x3810;
pub const TDT: usize = 0x3818;
/// Transmit interrupt delay value / absolute delay (0 = off).
pub const TIDV: usize = 0x3820;
pub const TADV: usize = 0x382c;
/// Transmit Arbitration Count, queue 0 (bit 10 enables the queue).
pub const TARC0: usize = 0x3840;
/// Receive Checksum Control.
pub const RXCSUM: usize = 0x5000;
/// Receive Filter Control.
pub const RFCTL: usize = 0x5008;
/// Multicast Table Array: 128 x 32 bits = 4096 hash bits.
pub const MTA: usize = 0x5200;
pub const MTA_REGS: usize = 128;
/// Receive Address 0, low 4 / high 2 bytes of the MAC.
pub const RAL0: usize = 0x5400;
pub const RAH0: usize = 0x5404;

// ---- CTRL (defines.h "Device Control") ----
pub const CTRL_GIO_MASTER_DISABLE: u32 = 1 << 2;
pub const CTRL_LRST: u32 = 1 << 3;
pub const CTRL_SLU: u32 = 1 << 6;
pub const CTRL_FRCSPD: u32 = 1 << 11;
pub const CTRL_FRCDPX: u32 = 1 << 12;
pub const CTRL_RST: u32 = 1 << 26;
pub const CTRL_VME: u32 = 1 << 30;
pub const CTRL_PHY_RST: u32 = 1 << 31;

// ---- STATUS ----
pub const STATUS_FD: u32 = 1 << 0;
pub const STATUS_LU: u32 = 1 << 1;
pub const STATUS_SPEED_MASK: u32 = 3 << 6;
pub const STATUS_SPEED_10: u32 = 0;
pub const STATUS_SPEED_100: u32 = 1 << 6;
pub const STATUS_GIO_MASTER_ENABLE: u32 = 1 << 19;

// ---- EECD / EERD ----
/// NVM auto-read done (set by hardware after reset).
pub const EECD_AUTO_RD: u32 = 1 << 9;
pub const EERD_START: u32 = 1 << 0;
pub const EERD_DONE: u32 = 1 << 1;
pub const EERD_ADDR_SHIFT: u32 = 2;
pub const EERD_DATA_SHIFT: u32 = 16;

// ---- RCTL ("Receive Control") ----
pub const RCTL_EN: u32 = 1 << 1;
pub const RCTL_UPE: u32 = 1 << 3;
pub const RCTL_MPE: u32 = 1 << 4;
pub const RCTL_LPE: u32 = 1 << 5;
/// Loopback mode bits 7:6 (00 = none).
pub const RCTL_LBM_MASK: u32 = 3 << 6;
/// Descriptor type bits 11:10 (00 = legacy).
pub const RCTL_DTYP_MASK: u32 = 3 << 10;
/// Multicast offset bits 13:12 (00 = hash on address bits 47..36).
pub const RCTL_MO_MASK: u32 = 3 << 12;
pub const RCTL_BAM: u32 = 1 << 15;
/// Buffer size bits 17:16: 00 = 2048 bytes (with BSEX = 0).
pub const RCTL_BSIZE_MASK: u32 = 3 << 16;
pub const RCTL_SZ_2048: u32 = 0;
pub const RCTL_VFE: u32 = 1 << 18;
pub const RCTL_BSEX: u32 = 1 << 25;
/// Strip the Ethernet CRC (FCS) from received frames.
pub const RCTL_SECRC: u32 = 1 << 26;

// ---- TCTL ("Transmit Control") ----
pub const TCTL_EN: u32 = 1 << 1;
/// Pad short packets to 64 bytes.
pub const TCTL_PSP: u32 = 1 << 3;
pub const TCTL_CT_SHIFT: u32 = 4;
pub const TCTL_COLD_SHIFT: u32 = 12;
/// Re-transmit on late collision.
pub const TCTL_RTLC: u32 = 1 << 24;
/// E1000_COLLISION_THRESHOLD / E1000_COLLISION_DISTANCE (full duplex).
pub const COLLISION_THRESHOLD: u32 = 15;
pub const COLLISION_DISTANCE: u32 = 63;

// ---- TIPG: DEFAULT_82543_TIPG_{IPGT_COPPER, IPGR1, IPGR2} (also QEMU's reset value) ----
pub const TIPG_DEFAULT: u32 = 8 | (8 << 10) | (6 << 20);

/// TARC0 bit 10: the queue is enabled (QEMU processes TDT only with it set).
pub const TARC_ENABLE: u32 = 1 << 10;
/// RFCTL bit 15: extended RX descriptors. Kept clear: legacy descriptors.
pub const RFCTL_EXTEN: u32 = 1 << 15;
/// RAH "address valid".
pub const RAH_AV: u32 = 1 << 31;
/// 802.1Q TPID for VET (tags stay in the frame: CTRL.VME and RCTL.VFE off).
pub const ETHERTYPE_VLAN: u32 = 0x8100;

// ---- legacy TX descriptor (datasheet 3.3.3; defines.h E1000_TXD_*) ----
/// cmd byte: End Of Packet.
pub const TXD_CMD_EOP: u8 = 0x01;
/// cmd byte: Insert FCS.
pub const TXD_CMD_IFCS: u8 = 0x02;
/// cmd byte: Report Status (write back DD).
pub const TXD_CMD_RS: u8 = 0x08;
/// cmd byte: descriptor extension (0 = legacy).
pub const TXD_CMD_DEXT: u8 = 0x20;
/// status byte: Descriptor Done.
pub const TXD_STAT_DD: u8 = 0x01;

// ---- legacy RX descriptor (datasheet 3.2.4; defines.h E1000_RXD_*) ----
pub const RXD_STAT_DD: u8 = 0x01;
pub const RXD_STAT_EOP: u8 = 0x02;
/// errors byte: CRC, symbol, sequence, carrier extension, RX data error
/// (E1000_RXD_ERR_FRAME_ERR_MASK). Checksum errors (0x20, 0x40) are not
/// frame errors and are ignored: RX checksum offload is off.
pub const RXD_ERR_FRAME_MASK: u8 = 0x01 | 0x02 | 0x04 | 0x10 | 0x80;
