//! smoltcp's transmissions waiting for the best-effort gate: a FIFO of
//! frames in fixed memory, sized at start-up.
//!
//! Frames are staged here, not in device buffers, because smoltcp writes a
//! reply while it still reads the request (the echo reply borrows the
//! request's payload): the request sits in a device buffer, and a
//! `&mut dyn RingDevice` cannot lend one buffer for reading and another for
//! writing at once. Staging also keeps the device's pool free for the
//! talker while a frame waits for its window. The copy into a device buffer
//! happens at release (`ControlPlane::poll`).

/// Largest frame smoltcp may send: 1500 bytes of IP + the Ethernet header.
pub const MAX_FRAME: usize = 1514;

/// A FIFO of up to `N` frames of at most [`MAX_FRAME`] bytes.
pub struct TxQueue<const N: usize> {
    slots: [[u8; MAX_FRAME]; N],
    lens: [usize; N],
    head: usize,
    len: usize,
    /// Where a frame goes that arrives when the queue is full (smoltcp's
    /// reply token must always get a buffer); it is then dropped.
    scratch: [u8; MAX_FRAME],
    dropped: u64,
}

impl<const N: usize> Default for TxQueue<N> {
    fn default() -> Self {
        TxQueue {
            slots: [[0; MAX_FRAME]; N],
            lens: [0; N],
            head: 0,
            len: 0,
            scratch: [0; MAX_FRAME],
            dropped: 0,
        }
    }
}

impl<const N: usize> TxQueue<N> {
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Frames that arrived when the queue was full, or longer than
    /// [`MAX_FRAME`].
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Let `f` write a frame of `len` bytes at the back. The frame is kept
    /// when there is room and it fits; otherwise `f` still runs (on scratch
    /// memory, as smoltcp requires) and the frame is counted dropped.
    pub fn push_with<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        if self.is_full() || len > MAX_FRAME {
            self.dropped += 1;
            // smoltcp never asks for more than the MTU it was given, which
            // is at most MAX_FRAME; the clamp only keeps a bug from panicking.
            return f(&mut self.scratch[..len.min(MAX_FRAME)]);
        }
        let i = (self.head + self.len) % N;
        self.lens[i] = len;
        self.len += 1;
        f(&mut self.slots[i][..len])
    }

    /// The oldest frame.
    pub fn front(&self) -> Option<&[u8]> {
        (self.len > 0).then(|| &self.slots[self.head][..self.lens[self.head]])
    }

    pub fn pop_front(&mut self) {
        if self.len > 0 {
            self.head = (self.head + 1) % N;
            self.len -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_in_first_out_and_full_drops() {
        let mut q = Box::<TxQueue<2>>::default();
        q.push_with(3, |b| b.copy_from_slice(&[1, 2, 3]));
        q.push_with(1, |b| b[0] = 9);
        q.push_with(2, |b| b.fill(7));
        assert_eq!((q.len(), q.dropped()), (2, 1));
        assert_eq!(q.front(), Some(&[1, 2, 3][..]));
        q.pop_front();
        q.push_with(2, |b| b.fill(5));
        assert_eq!(q.front(), Some(&[9][..]));
        q.pop_front();
        assert_eq!(q.front(), Some(&[5, 5][..]));
        q.pop_front();
        assert!(q.is_empty() && q.front().is_none());
    }
}
