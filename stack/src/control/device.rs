//! smoltcp's view of a `RingDevice`: received frames are read in place from
//! the device's buffers (freed once smoltcp is done with them), and
//! transmissions go into a [`TxQueue`] to wait for the best-effort gate,
//! never straight to the ring.

use super::queue::{TxQueue, MAX_FRAME};
use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use takt_drivers::{RingDevice, RxBatch, RxFrame};

/// One poll's worth of borrowed parts: built, handed to smoltcp, dropped.
pub struct RingPhy<'a, const N: usize> {
    pub dev: &'a mut dyn RingDevice,
    /// Received frames meant for smoltcp, taken from the front.
    pub rx: &'a mut RxBatch,
    pub tx: &'a mut TxQueue<N>,
    /// Received frames smoltcp may still take in this poll: a bound on the
    /// time one poll runs, however many frames are waiting.
    pub rx_budget: usize,
}

impl<const N: usize> phy::Device for RingPhy<'_, N> {
    type RxToken<'t>
        = RxToken<'t>
    where
        Self: 't;
    type TxToken<'t>
        = TxToken<'t, N>
    where
        Self: 't;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_, N>)> {
        if self.rx_budget == 0 {
            return None;
        }
        let frame = self.rx.pop_front()?;
        self.rx_budget -= 1;
        Some((
            RxToken {
                dev: &mut *self.dev,
                frame: Some(frame),
            },
            TxToken { tx: &mut *self.tx },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_, N>> {
        // A full queue makes smoltcp keep the packet and try again later.
        (!self.tx.is_full()).then_some(TxToken { tx: &mut *self.tx })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.dev.info().buf_size.min(MAX_FRAME);
        caps.max_burst_size = Some(N);
        // A local peer (veth, tap) hands over UDP with the checksum left to
        // offload, unfilled: verifying it would drop every datagram. The
        // FCS guards the wire; outgoing checksums are still computed.
        caps.checksum.udp = Checksum::Tx;
        caps
    }
}

/// A received frame, read in place and then given back to the pool.
pub struct RxToken<'a> {
    dev: &'a mut dyn RingDevice,
    /// `None` once consumed (so `Drop` frees only an unread frame).
    frame: Option<RxFrame>,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(mut self, f: F) -> R {
        // Always there: only `consume` (once, by value) and `Drop` take it.
        let Some(frame) = self.frame.take() else {
            return f(&[]);
        };
        let len = frame.len.min(self.dev.info().buf_size);
        let r = f(&self.dev.buf(&frame.buf)[..len]);
        self.dev.free(frame.buf);
        r
    }
}

impl Drop for RxToken<'_> {
    fn drop(&mut self) {
        if let Some(fr) = self.frame.take() {
            self.dev.free(fr.buf);
        }
    }
}

/// A transmission: written into the queue, released later by the gate.
pub struct TxToken<'a, const N: usize> {
    tx: &'a mut TxQueue<N>,
}

impl<const N: usize> phy::TxToken for TxToken<'_, N> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.tx.push_with(len, f)
    }
}
