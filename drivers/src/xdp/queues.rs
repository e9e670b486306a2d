//! Which receive queues a device watches, and a socket per queue.
//!
//! An XDP socket receives from one queue, and a NIC's RSS spreads frames
//! over all of them; the redirect program passes frames of a queue without
//! a socket to the kernel stack, where takt never sees them. So
//! `xdp:IF@Q` is refused on an interface with more than one receive queue,
//! and `xdp:IF` opens a socket on every queue: the first registers the
//! UMEM and carries TX, the others share its UMEM (XDP_SHARED_UMEM), each
//! with its own RX, fill and (unused, but the kernel wants one to bind)
//! completion ring.

use super::ring::Ring;
use super::{sys, XdpMode, XdpOptions};
use crate::DriverError;
use std::os::fd::{AsRawFd, OwnedFd};

/// Most queues `xdp:IF` opens a socket on.
pub(super) const MAX_QUEUES: u32 = 64;

/// The queues to open: `want` (`None`: all) of an interface with `n`
/// receive queues (`None`: the driver does not say; taken as one).
pub(super) fn which(
    device: &str,
    ifname: &str,
    want: Option<u32>,
    n: Option<u32>,
) -> Result<Vec<u32>, DriverError> {
    match (want, n) {
        (Some(q), Some(n)) if q >= n => Err(DriverError::BadSpec {
            spec: device.into(),
            reason: format!(
                "queue {q} is out of range: {ifname} has {n} queue{} (0..={}); \
                 `ethtool -l {ifname}` shows them",
                if n == 1 { "" } else { "s" },
                n - 1
            ),
        }),
        (Some(q), Some(n)) if n > 1 => Err(DriverError::DeviceNotReady {
            device: device.into(),
            what: format!(
                "{ifname} receives on {n} queues and {device} watches only queue {q}: frames \
                 the NIC puts on the other {} would never reach takt (a listener would count \
                 them lost). Use xdp:{ifname}, which watches every queue, or give the \
                 interface one receive queue (`ethtool -L {ifname} combined 1`, or `rx 1`)",
                n - 1
            ),
        }),
        (Some(q), _) => Ok(vec![q]),
        (None, Some(n)) if n > MAX_QUEUES => Err(DriverError::DeviceNotReady {
            device: device.into(),
            what: format!(
                "{ifname} has {n} receive queues, more than the {MAX_QUEUES} {device} opens \
                 sockets on: `ethtool -L {ifname} combined {MAX_QUEUES}` (or fewer)"
            ),
        }),
        (None, Some(n)) => Ok((0..n).collect()),
        (None, None) => Ok(vec![0]),
    }
}

/// RX, fill and completion rings of one socket.
type RxSide = (Ring<libc::xdp_desc>, Ring<u64>, Ring<u64>);

/// The rings of one socket, mapped.
pub(super) struct QueueRings {
    pub rx: Ring<libc::xdp_desc>,
    pub fill: Ring<u64>,
    pub comp: Ring<u64>,
    /// Only on the first socket.
    pub tx: Ring<libc::xdp_desc>,
}

impl QueueRings {
    /// Size and map all four rings of the first socket `fd` (queue `q`).
    pub fn make(
        device: &str,
        fd: &OwnedFd,
        opts: &XdpOptions,
        q: u32,
    ) -> Result<QueueRings, DriverError> {
        let (rx, fill, comp) = Self::rx_side(device, fd, opts, q, true)?;
        let off = sys::mmap_offsets(fd.as_raw_fd())
            .map_err(|e| sys::io_err(format!("{device}: reading XDP_MMAP_OFFSETS"), e))?;
        let tx = Ring::map(
            fd,
            &off.tx,
            opts.tx_size,
            libc::XDP_PGOFF_TX_RING as u64,
            true,
        )
        .map_err(|e| sys::io_err(format!("{device}: mapping the TX ring"), e))?;
        Ok(QueueRings { rx, fill, comp, tx })
    }

    /// RX, fill and completion rings of socket `fd`; with `with_tx` the TX
    /// ring is sized too (mapped by `make`).
    fn rx_side(
        device: &str,
        fd: &OwnedFd,
        opts: &XdpOptions,
        q: u32,
        with_tx: bool,
    ) -> Result<RxSide, DriverError> {
        let io = |what: &str| {
            let what = format!("{device}: queue {q}: {what}");
            move |e| sys::io_err(what, e)
        };
        let raw = fd.as_raw_fd();
        let mut sizes = vec![
            (
                libc::XDP_UMEM_FILL_RING,
                opts.fill_size,
                "sizing the fill ring",
            ),
            (
                libc::XDP_UMEM_COMPLETION_RING,
                opts.comp_size,
                "sizing the completion ring",
            ),
            (libc::XDP_RX_RING, opts.rx_size, "sizing the RX ring"),
        ];
        if with_tx {
            sizes.push((libc::XDP_TX_RING, opts.tx_size, "sizing the TX ring"));
        }
        for (opt, size, what) in sizes {
            sys::setsockopt(raw, opt, &size).map_err(io(what))?;
        }
        let off = sys::mmap_offsets(raw).map_err(io("reading XDP_MMAP_OFFSETS"))?;
        let rx = Ring::map(
            fd,
            &off.rx,
            opts.rx_size,
            libc::XDP_PGOFF_RX_RING as u64,
            false,
        )
        .map_err(io("mapping the RX ring"))?;
        let fill = Ring::map(
            fd,
            &off.fr,
            opts.fill_size,
            libc::XDP_UMEM_PGOFF_FILL_RING,
            true,
        )
        .map_err(io("mapping the fill ring"))?;
        let comp = Ring::map(
            fd,
            &off.cr,
            opts.comp_size,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
            false,
        )
        .map_err(io("mapping the completion ring"))?;
        Ok((rx, fill, comp))
    }
}

/// Bind socket `fd` to queue `q`, waiting a moment for a queue a socket
/// closed just before still holds (the kernel releases it from a work
/// queue); `shared`: the first socket, whose UMEM this one shares.
#[allow(clippy::too_many_arguments)]
pub(super) fn bind(
    device: &str,
    ifname: &str,
    fd: &OwnedFd,
    ifindex: u32,
    q: u32,
    flags: u16,
    shared: Option<&OwnedFd>,
    opts: &XdpOptions,
) -> Result<(), DriverError> {
    let t0 = std::time::Instant::now();
    let bound = loop {
        match sys::bind(
            fd.as_raw_fd(),
            ifindex,
            q,
            flags,
            shared.map(|s| s.as_raw_fd()),
        ) {
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    && t0.elapsed() < std::time::Duration::from_millis(500) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            r => break r,
        }
    };
    bound.map_err(|e| match e.raw_os_error() {
        Some(libc::EINVAL) => DriverError::BadSpec {
            spec: device.into(),
            reason: format!(
                "{ifname} refused an AF_XDP socket on queue {q} (no such queue?): \
                 `ethtool -l {ifname}` shows its queues"
            ),
        },
        Some(libc::EBUSY) => DriverError::DeviceNotReady {
            device: device.into(),
            what: format!("queue {q} of {ifname} has an AF_XDP socket already"),
        },
        Some(libc::EOPNOTSUPP) if opts.mode == XdpMode::ZeroCopy => {
            DriverError::Unsupported(format!(
                "{device}: the driver of {ifname} has no zero-copy AF_XDP: use the default \
                 mode (copy)"
            ))
        }
        _ => sys::io_err(format!("{device}: binding the socket to queue {q}"), e),
    })
}

/// One receive queue a device watches.
pub(super) struct RxQueue {
    pub queue: u32,
    pub rx: Ring<libc::xdp_desc>,
    pub fill: Ring<u64>,
    /// Frames on the fill ring.
    pub in_fill: u32,
    // Field order is drop order: the rings are unmapped before the socket
    // closes.
    _comp: Option<Ring<u64>>,
    /// The queue's own socket; `None` for the device's first socket.
    fd: Option<OwnedFd>,
}

impl RxQueue {
    pub fn new(
        queue: u32,
        rx: Ring<libc::xdp_desc>,
        fill: Ring<u64>,
        fd: Option<OwnedFd>,
    ) -> RxQueue {
        RxQueue {
            queue,
            rx,
            fill,
            in_fill: 0,
            _comp: None,
            fd,
        }
    }

    /// A socket on queue `q` sharing the UMEM of `first` (bound already).
    pub fn shared(
        device: &str,
        ifname: &str,
        first: &OwnedFd,
        ifindex: u32,
        q: u32,
        opts: &XdpOptions,
    ) -> Result<RxQueue, DriverError> {
        let fd = sys::xsk_socket(device, ifname)?;
        let (rx, fill, comp) = QueueRings::rx_side(device, &fd, opts, q, false)?;
        // A shared socket takes no mode flags: it inherits the first's.
        bind(
            device,
            ifname,
            &fd,
            ifindex,
            q,
            libc::XDP_SHARED_UMEM,
            Some(first),
            opts,
        )?;
        let mut r = RxQueue::new(q, rx, fill, Some(fd));
        r._comp = Some(comp);
        Ok(r)
    }

    /// This queue's own socket (`None`: the device's first one).
    pub fn fd(&self) -> Option<&OwnedFd> {
        self.fd.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_queue_of_many_is_refused_and_all_are_opened_for_xdp_if() {
        let e = which("xdp:eth0@1", "eth0", Some(1), Some(4))
            .unwrap_err()
            .to_string();
        assert!(e.contains("eth0 receives on 4 queues"), "{e}");
        assert!(e.contains("Use xdp:eth0, which watches every queue"), "{e}");
        assert_eq!(which("xdp:eth0@0", "eth0", Some(0), Some(1)).unwrap(), [0]);
        assert_eq!(which("xdp:eth0@0", "eth0", Some(0), None).unwrap(), [0]);
        assert_eq!(
            which("xdp:eth0", "eth0", None, Some(4)).unwrap(),
            [0, 1, 2, 3]
        );
        assert_eq!(which("xdp:eth0", "eth0", None, None).unwrap(), [0]);
        let e = which("xdp:eth0@4", "eth0", Some(4), Some(4))
            .unwrap_err()
            .to_string();
        assert!(e.contains("queue 4 is out of range"), "{e}");
        assert!(which("xdp:eth0", "eth0", None, Some(65)).is_err());
    }
}
