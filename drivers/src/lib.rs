//! takt-drivers: ring devices. Every backend (simulated wire, AF_PACKET,
//! AF_XDP, VFIO e1000e) meets one contract, [`RingDevice`]: batches of
//! frames in buffers the device owns, handed out as move-only [`BufId`]s
//! from a pool sized at start-up, so the data path never allocates and can
//! never put an address it does not own into a descriptor.
//!
//! Backends: [`sim`] (two ports on a simulated wire), [`packet`] (AF_PACKET
//! TPACKET_V2 rings), [`xdp`] (AF_XDP: UMEM, four rings and a small redirect
//! program loaded with raw bpf()), [`e1000e`] over [`vfio`] (a userland
//! Intel 82574L). [`spec::open`] picks one from a `--device` string;
//! [`link`] sets interfaces up (and builds veth pairs for tests).
//!
//! Drivers know nothing of schedules or streams.

pub mod busy_poll;
pub mod e1000e;
pub mod link;
mod mapping;
mod netif;
pub mod packet;
pub mod pool;
pub mod sim;
pub mod spec;
mod stamp_queue;
pub mod vfio;
pub mod wait;
pub mod xdp;

pub use busy_poll::{BusyPoll, DeviceTuning};
pub use pool::{BufId, Pool};
pub use spec::{open, open_tuned, DeviceSpec, PciAddress};

/// Largest batch a `tx_burst` / `rx_burst` moves at once.
pub const MAX_BURST: usize = 64;

/// Frames waiting to be sent. `tx_burst` takes them from the front.
pub type TxBatch = heapless::Deque<TxFrame, MAX_BURST>;
/// Frames received. `rx_burst` appends at the back.
pub type RxBatch = heapless::Deque<RxFrame, MAX_BURST>;
/// Transmit stamps. `tx_stamps` appends at the back.
pub type TxStampBatch = heapless::Deque<TxStamp, MAX_BURST>;

/// A frame to send: `len` bytes at the start of `buf` (no FCS: the device
/// adds it).
#[derive(Debug)]
pub struct TxFrame {
    pub buf: BufId,
    pub len: usize,
    /// Earliest departure, ns on the device's clock. Honoured only when
    /// `Capabilities::launch_time`; otherwise the frame leaves when queued.
    pub launch_time_ns: Option<u64>,
    /// Report when this frame left, under this tag (RingDevice::tx_stamps): PTP event
    /// messages. None for every other frame (no cost for them).
    pub stamp_tag: Option<u32>,
}

/// When a frame that asked for it left: ns on the device's clock (`DeviceInfo::clock`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxStamp {
    pub tag: u32,
    pub time_ns: u64,
}

/// How a device's timestamps are taken, and so how far they are from the moment the
/// frame's first bit after the SFD crossed the wire (docs/time-sync.md has the figures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StampSource {
    #[default]
    None,
    /// The simulated wire: exact. tx = first bit after the SFD; rx = last bit in.
    Simulated,
    /// A NIC's hardware timestamp unit.
    Hardware,
    /// The kernel's software stamp (SO_TIMESTAMPING tx: the driver's xmit; rx: the packet socket's receive).
    KernelSoftware,
    /// rx: bpf_ktime_get_tai_ns() in the XDP program.
    XdpHook,
    /// tx: the time the driver saw the completion of the frame.
    Completion,
    /// rx: the time userland's receive poll found the frame.
    ReceivePoll,
}

impl StampSource {
    /// The name reports and docs use.
    pub fn as_str(self) -> &'static str {
        match self {
            StampSource::None => "none",
            StampSource::Simulated => "simulated",
            StampSource::Hardware => "hardware",
            StampSource::KernelSoftware => "kernel-software",
            StampSource::XdpHook => "xdp-hook",
            StampSource::Completion => "completion",
            StampSource::ReceivePoll => "receive-poll",
        }
    }
}

/// A received frame: `len` bytes at the start of `buf`.
#[derive(Debug)]
pub struct RxFrame {
    pub buf: BufId,
    pub len: usize,
    /// Arrival time, ns on the device's clock, taken as
    /// `Capabilities::rx_stamps` says.
    pub rx_time_ns: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Frames leave at `TxFrame::launch_time_ns` (ETF, XSK launch time, sim).
    pub launch_time: bool,
    /// How `RxFrame::rx_time_ns` is taken.
    pub rx_stamps: StampSource,
    /// How `tx_stamps` stamps are taken (None = tx_stamps() never returns any).
    pub tx_stamps: StampSource,
    /// Most frames one burst call moves (<= MAX_BURST).
    pub max_batch: usize,
}

/// What a device is, fixed at open time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// e.g. "sim:a", "packet:eth0".
    pub name: String,
    pub mac: [u8; 6],
    pub link_speed_bps: u64,
    /// Bytes per buffer (the largest frame it can carry, without FCS).
    pub buf_size: usize,
    /// Buffers in the pool.
    pub pool_size: usize,
    pub caps: Capabilities,
    /// Clock of launch times and rx timestamps; `None` = a virtual clock
    /// (deterministic simulation).
    pub clock: Option<nix::time::ClockId>,
}

/// Running totals since open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub tx_frames: u64,
    pub rx_frames: u64,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    /// Frames the device dropped on transmit (e.g. link down).
    pub tx_drops: u64,
    /// Frames the device dropped on receive (rx ring full, no buffer).
    pub rx_drops: u64,
    /// Frames received cut short (longer than a buffer, or than the kernel
    /// copied): never handed out by `rx_burst`, counted here instead.
    pub rx_truncated: u64,
    /// `tx_burst` calls that found the tx ring full.
    pub tx_ring_full: u64,
    /// Times a buffer was wanted and the pool was empty.
    pub pool_empty: u64,
    /// Link-down events seen.
    pub link_down: u64,
    /// Frames that asked for a transmit stamp and will never get one: dropped
    /// (link down, ETF miss), or their stamp found no room or never came.
    pub tx_stamps_lost: u64,
}

/// What a device will receive, as far as the caller knows it (from the
/// schedule): backends size their receive rings from it so that a receiver
/// that stops polling for [`RX_STALL_NS`] loses nothing (docs/net-mdev.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxLoad {
    /// Frames per second at the most (all streams, both schedules).
    pub frames_per_sec: u64,
    /// Longest frame, bytes without FCS.
    pub max_frame_len: usize,
}

/// How long a receiver may stop polling (a page fault, a preempted thread,
/// SIGSTOP) without losing frames at its [`RxLoad`]'s rate.
pub const RX_STALL_NS: u64 = 200_000_000;

impl RxLoad {
    /// Frames that arrive during one [`RX_STALL_NS`] stall (rounded up).
    pub fn frames_in_stall(&self) -> u64 {
        self.frames_in(RX_STALL_NS)
    }

    /// Frames that arrive in `ns` nanoseconds (rounded up).
    pub fn frames_in(&self, ns: u64) -> u64 {
        let n = u128::from(self.frames_per_sec) * u128::from(ns);
        u64::try_from(n.div_ceil(1_000_000_000)).unwrap_or(u64::MAX)
    }
}

/// What the rings are sized to hold: [`RX_STALL_NS`] and a quarter more,
/// for a stall that overshoots (a loaded scheduler wakes late) and for the
/// frames that keep coming while the receiver drains the ring after it.
pub const RX_RING_HOLDS_NS: u64 = RX_STALL_NS / 4 * 5;

/// The one contract every backend meets. Object safe: tools open a
/// `Box<dyn RingDevice>` from a [`DeviceSpec`].
pub trait RingDevice: Send {
    fn info(&self) -> &DeviceInfo;
    fn counters(&self) -> Counters;

    /// A free buffer to fill and send, or `None` when the pool is empty
    /// (counted in `pool_empty`).
    fn alloc(&mut self) -> Option<BufId>;
    /// Give a buffer back: a received frame that is done with, or a tx
    /// buffer that will not be sent.
    fn free(&mut self, buf: BufId);
    /// The whole buffer (`info().buf_size` bytes).
    fn buf(&self, buf: &BufId) -> &[u8];
    fn buf_mut(&mut self, buf: &BufId) -> &mut [u8];
    /// Whether `buf` is a live handle of this device's pool: a caller that
    /// drives several devices (stack's `frer::Ports`) routes each buffer
    /// back to the device it came from.
    fn owns(&self, buf: &BufId) -> bool;

    /// Queue frames from the front of `frames` onto the tx ring and ring the
    /// doorbell; returns how many were taken. Frames the ring had no room
    /// for stay in `frames` (counted once per call in `tx_ring_full`).
    /// Completed buffers go back to the pool by themselves.
    fn tx_burst(&mut self, frames: &mut TxBatch) -> usize;
    /// Append up to `out`'s free capacity (and `caps.max_batch`) received
    /// frames; returns how many. Never blocks.
    fn rx_burst(&mut self, out: &mut RxBatch) -> usize;

    /// Append the transmit stamps that became known since the last call (at most
    /// `out`'s free room; the rest wait for the next call). Never blocks, never allocates.
    /// A stamped frame the device dropped (link down, ETF miss) never gets one: count it in
    /// `Counters::tx_stamps_lost`.
    fn tx_stamps(&mut self, out: &mut TxStampBatch) -> usize {
        let _ = out;
        0
    }

    /// Sleep until `rx_burst` may have frames, or `timeout_ns` passed (a
    /// signal may end it early). False when the device cannot wait (the
    /// caller busy-polls instead): the default. Never allocates.
    fn wait_rx(&mut self, timeout_ns: u64) -> bool {
        let _ = timeout_ns;
        false
    }

    /// The descriptors `wait_rx` sleeps on (set-up only: it allocates), so
    /// a caller with several devices can sleep on all of them at once
    /// ([`wait::PollSet`]). Empty: the device cannot be waited on.
    fn rx_wait_fds(&self) -> Vec<std::os::fd::RawFd> {
        Vec::new()
    }

    /// Make frames sent to these destination MACs reach `rx_burst`: join
    /// the multicast groups, or turn on promiscuous mode for a unicast
    /// address that is not the device's own. A real NIC filters on the
    /// destination in hardware, so a listener calls this once at set-up
    /// with its streams' addresses (never on the data path). Default:
    /// nothing to do (the device already accepts everything).
    fn accept_destinations(&mut self, macs: &[[u8; 6]]) -> Result<(), DriverError> {
        let _ = macs;
        Ok(())
    }

    /// A sentence on how this device honours launch times, or why it does
    /// not and what would change that (AF_PACKET: the interface's ETF
    /// qdisc). `None`: nothing to say beyond `caps.launch_time`.
    fn launch_time_note(&self) -> Option<&str> {
        None
    }
}

/// One error type for the crate: what went wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("bad device spec \"{spec}\": {reason}")]
    BadSpec { spec: String, reason: String },
    #[error(
        "the {backend} backend is not built yet: use --device sim (takt loopback) until it lands"
    )]
    NotBuilt { backend: &'static str },
    #[error("{0}")]
    Unsupported(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    // ---- VFIO: finding, binding and opening the PCI device ----
    #[error(
        "no PCI device {addr} (nothing at {path}): `lspci -D -d 8086:10d3` lists the \
         addresses of the Intel 82574L NICs"
    )]
    NoSuchPciDevice { addr: String, path: String },
    #[error(
        "{addr} is PCI device {vendor:04x}:{device:04x}, not an Intel 82574L (8086:10d3): \
         pick an e1000e NIC from `lspci -D -d 8086:10d3`"
    )]
    WrongPciDevice {
        addr: String,
        vendor: u16,
        device: u16,
    },
    #[error("{addr} is {}, not to vfio-pci: as root run {fix}", describe_driver(.driver))]
    NotBoundToVfio {
        addr: String,
        /// The driver it is bound to, if any.
        driver: Option<String>,
        /// The shell commands that bind it.
        fix: String,
    },
    #[error(
        "no IOMMU for {addr}: {reason}: boot with intel_iommu=on (or amd_iommu=on), in a QEMU \
         guest add `-device intel-iommu,intremap=on` before the NICs, and load vfio-pci"
    )]
    NoIommu { addr: String, reason: String },
    #[error(
        "IOMMU group {group} of {addr} is not viable: every device in the group must be bound \
         to vfio-pci or to no driver, and {others}; bind those to vfio-pci too \
         (driver_override + drivers_probe), or use a NIC in a group of its own"
    )]
    GroupNotViable {
        addr: String,
        group: u32,
        /// The other devices of the group and their drivers, readable.
        others: String,
    },
    #[error(
        "no access to {path}: run as root, or give this user read/write access to it \
         (e.g. `chown $USER {path}`)"
    )]
    PermissionDenied { path: String },
    #[error(
        "cannot lock {needed} bytes of DMA memory: RLIMIT_MEMLOCK is {}: run as root (or with \
         CAP_IPC_LOCK), raise the limit (`ulimit -l unlimited`, or memlock in \
         /etc/security/limits.conf), or open the device with a smaller pool",
        describe_limit(*.limit)
    )]
    MemlockTooLow {
        needed: u64,
        /// Soft limit in bytes; `None` = unlimited (then the kernel refused for another reason).
        limit: Option<u64>,
    },
    #[error("{device}: {what}")]
    DeviceNotReady { device: String, what: String },
    #[error("bad {device} options: {reason}")]
    BadOptions { device: String, reason: String },
}

fn describe_driver(driver: &Option<String>) -> String {
    match driver {
        Some(d) => format!("bound to {d}"),
        None => "bound to no driver".into(),
    }
}

fn describe_limit(limit: Option<u64>) -> String {
    match limit {
        Some(l) => format!("{l} bytes"),
        None => "unlimited".into(),
    }
}

/// `aa:bb:cc:dd:ee:ff`, as `ip link` prints a MAC.
pub fn format_mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}
