//! What passes between the data path and the PTP worker thread: received
//! frames with their receive times and transmit stamps one way, frames to
//! send the other way, offset samples for the interval log. Lock-free
//! single-producer/single-consumer queues (heapless), allocated and leaked
//! once per run for the `'static` split; the data path only enqueues and
//! dequeues, never blocks, never allocates.

use heapless::spsc::{Consumer, Producer, Queue};

/// Longest frame the port takes: Ethernet header, one 802.1Q tag and the
/// longest PTP message statime handles (`MAX_DATA_LEN`, 1024 bytes).
/// Longer frames are refused at the data path and counted.
pub const MAX_FRAME: usize = 14 + 4 + 1024;
/// Frames and stamps waiting for the worker (one slot stays empty).
pub const TO_WORKER: usize = 64;
/// Frames waiting to be sent.
pub const FROM_WORKER: usize = 32;
/// Offset samples waiting for the interval log (8 s at 32 syncs/s).
pub const OFFSETS: usize = 256;

/// One whole Ethernet frame.
#[derive(Clone)]
pub struct PtpFrame {
    pub data: [u8; MAX_FRAME],
    pub len: usize,
}

impl PtpFrame {
    /// `bytes` copied; `None` when longer than [`MAX_FRAME`].
    pub fn copy_of(bytes: &[u8]) -> Option<Self> {
        let mut data = [0; MAX_FRAME];
        data.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(PtpFrame {
            data,
            len: bytes.len(),
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len.min(MAX_FRAME)]
    }
}

/// Data path -> worker. Sized for its largest variant on purpose: slots of
/// a fixed queue, never boxed (no allocation on the data path).
#[allow(clippy::large_enum_variant)]
pub enum ToWorker {
    /// A received PTP frame; `rx_ns` on the schedule clock at the message
    /// timestamp point.
    Frame { frame: PtpFrame, rx_ns: u64 },
    /// When the frame sent with `tag` left, schedule clock.
    Stamp { tag: u32, tx_ns: u64 },
}

/// Worker -> data path: a frame to send in the PTP class's window.
pub struct ToSend {
    pub frame: PtpFrame,
    /// Report its transmit time under this tag (event messages).
    pub stamp_tag: Option<u32>,
}

/// (schedule-clock time, offset from the master ns).
pub type OffsetSample = (u64, i64);

/// The data path's ends.
pub struct DataEnds {
    pub to_worker: Producer<'static, ToWorker>,
    pub from_worker: Consumer<'static, ToSend>,
    pub offsets: Consumer<'static, OffsetSample>,
}

/// The worker's ends.
pub struct WorkerEnds {
    pub from_data: Consumer<'static, ToWorker>,
    pub to_data: Producer<'static, ToSend>,
    pub offsets: Producer<'static, OffsetSample>,
}

/// Three fresh queues, split (set-up only: leaks about 90 KiB per run).
pub fn queues() -> (DataEnds, WorkerEnds) {
    let a: &'static mut Queue<ToWorker, TO_WORKER> = Box::leak(Box::new(Queue::new()));
    let b: &'static mut Queue<ToSend, FROM_WORKER> = Box::leak(Box::new(Queue::new()));
    let c: &'static mut Queue<OffsetSample, OFFSETS> = Box::leak(Box::new(Queue::new()));
    let (to_worker, from_data) = a.split();
    let (to_data, from_worker) = b.split();
    let (offsets_in, offsets_out) = c.split();
    (
        DataEnds {
            to_worker,
            from_worker,
            offsets: offsets_out,
        },
        WorkerEnds {
            from_data,
            to_data,
            offsets: offsets_in,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_longer_than_the_largest_ptp_message_are_refused() {
        assert!(PtpFrame::copy_of(&[1; MAX_FRAME]).is_some());
        assert!(PtpFrame::copy_of(&[1; MAX_FRAME + 1]).is_none());
        let f = PtpFrame::copy_of(&[7, 8, 9]).unwrap();
        assert_eq!(f.bytes(), &[7, 8, 9]);
    }

    #[test]
    fn the_queues_carry_both_ways() {
        let (mut data, mut worker) = queues();
        assert!(data
            .to_worker
            .enqueue(ToWorker::Stamp { tag: 3, tx_ns: 9 })
            .is_ok());
        match worker.from_data.dequeue() {
            Some(ToWorker::Stamp { tag, tx_ns }) => assert_eq!((tag, tx_ns), (3, 9)),
            _ => panic!("the stamp did not arrive"),
        }
        let frame = PtpFrame::copy_of(&[1, 2]).unwrap();
        assert!(worker
            .to_data
            .enqueue(ToSend {
                frame,
                stamp_tag: None
            })
            .is_ok());
        assert_eq!(data.from_worker.dequeue().unwrap().frame.bytes(), &[1, 2]);
        assert!(worker.offsets.enqueue((1, -5)).is_ok());
        assert_eq!(data.offsets.dequeue(), Some((1, -5)));
    }
}
