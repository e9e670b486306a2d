//! The talker's frames waiting for their transmit stamp (stage T): a
//! fixed table from stamp tag to the frame's other stages, and which
//! devices' transmit stamps are a transmit time at all.

use takt_drivers::{DeviceInfo, StampSource};

/// Stream frames' stamp tags have this bit set; PTP's never do
/// (ptp/stamps.rs), so the two cannot collide on one device.
pub const STREAM_TAG_BIT: u32 = 0x8000_0000;

/// Fewest / most frames the table follows at once. A stamp that has not
/// come when its slot is needed again is given up (T absent).
pub const MIN_IN_FLIGHT: usize = 1024;
pub const MAX_IN_FLIGHT: usize = 65_536;

/// How the device's transmit stamps are taken, when they are a time the
/// frame was transmitted (or handed to the driver's transmit): `None` for
/// none, and for xdp, whose "completion" stamp is the clock read just
/// before the kick (drivers/src/xdp/mod.rs), i.e. before the frame is
/// transmitted at all: T - H would measure only the talker's own burst.
pub fn transmit_stamps(info: &DeviceInfo) -> Option<StampSource> {
    match info.caps.tx_stamps {
        StampSource::Simulated | StampSource::Hardware | StampSource::KernelSoftware => {
            Some(info.caps.tx_stamps)
        }
        StampSource::Completion if !info.name.starts_with("xdp:") => Some(StampSource::Completion),
        _ => None,
    }
}

/// A frame sent with a stamp request, waiting for the stamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InFlight {
    pub tag: u32,
    pub stream: u16,
    pub seq: u64,
    /// S, W, H on the schedule clock.
    pub scheduled_ns: u64,
    pub wake_ns: u64,
    pub hand_over_ns: u64,
}

/// Tag -> frame, `cap` slots allocated at start-up; tags count up, slot =
/// tag modulo the capacity.
#[derive(Debug)]
pub struct StampTable {
    slots: Vec<Option<InFlight>>,
    next: u32,
    waiting: usize,
}

impl StampTable {
    pub const BYTES_PER_SLOT: usize = std::mem::size_of::<Option<InFlight>>();

    /// The slots `new(frames)` allocates: clamped to MIN..=MAX_IN_FLIGHT,
    /// rounded up to a power of two so tags wrap onto the same slots.
    pub fn capacity_for(frames: usize) -> usize {
        frames
            .clamp(MIN_IN_FLIGHT, MAX_IN_FLIGHT)
            .next_power_of_two()
    }

    /// No room: for a device without transmit stamps (never inserted to).
    pub fn empty() -> Self {
        StampTable {
            slots: Vec::new(),
            next: 0,
            waiting: 0,
        }
    }

    /// Room for `cap` frames in flight (see `capacity_for`).
    pub fn new(cap: usize) -> Self {
        let cap = Self::capacity_for(cap);
        StampTable {
            slots: vec![None; cap],
            next: 0,
            waiting: 0,
        }
    }

    fn slot(&self, tag: u32) -> usize {
        (tag & !STREAM_TAG_BIT) as usize & self.slots.len().saturating_sub(1)
    }

    /// The tag the next `insert` gives.
    pub fn next_tag(&self) -> u32 {
        STREAM_TAG_BIT | (self.next & !STREAM_TAG_BIT)
    }

    /// Keep `f` under a fresh tag, `next_tag()` (its `tag` is set). Returns
    /// the tag and the frame whose slot it took, still waiting: its stamp
    /// is given up.
    pub fn insert(&mut self, mut f: InFlight) -> (u32, Option<InFlight>) {
        let tag = self.next_tag();
        self.next = self.next.wrapping_add(1);
        f.tag = tag;
        let i = self.slot(tag);
        let Some(slot) = self.slots.get_mut(i) else {
            return (tag, Some(f)); // no room at all: given up at once
        };
        let old = slot.replace(f);
        if old.is_none() {
            self.waiting += 1;
        }
        (tag, old)
    }

    /// The frame waiting under `tag`; None for a tag not ours or given up.
    pub fn take(&mut self, tag: u32) -> Option<InFlight> {
        if tag & STREAM_TAG_BIT == 0 {
            return None;
        }
        let i = self.slot(tag);
        let slot = self.slots.get_mut(i)?;
        if slot.is_some_and(|f| f.tag == tag) {
            self.waiting -= 1;
            return slot.take();
        }
        None
    }

    /// Frames still waiting.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Give up every frame still waiting, oldest slot first.
    pub fn give_up_all(&mut self, mut f: impl FnMut(InFlight)) {
        for s in &mut self.slots {
            if let Some(x) = s.take() {
                f(x);
            }
        }
        self.waiting = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64) -> InFlight {
        InFlight {
            seq,
            ..InFlight::default()
        }
    }

    #[test]
    fn tags_find_their_frame_once_and_a_reused_slot_gives_the_old_frame_up() {
        let mut t = StampTable::new(1);
        let cap = MIN_IN_FLIGHT as u64;
        let (tag0, none) = t.insert(frame(0));
        assert!(none.is_none());
        assert_ne!(tag0 & STREAM_TAG_BIT, 0, "never a PTP tag");
        let (tag1, _) = t.insert(frame(1));
        assert_eq!(t.take(tag1).map(|f| f.seq), Some(1));
        assert_eq!(t.take(tag1), None, "once");
        assert_eq!(
            t.take(tag1 & !STREAM_TAG_BIT),
            None,
            "a PTP tag is not ours"
        );
        for seq in 2..cap {
            assert!(t.insert(frame(seq)).1.is_none());
        }
        // Slot 0 again: frame 0's stamp never came.
        let (tag, old) = t.insert(frame(cap));
        assert_eq!(old.map(|f| f.seq), Some(0));
        assert_eq!(t.take(tag0), None, "its late stamp finds nothing");
        assert_eq!(t.take(tag).map(|f| f.seq), Some(cap));
        assert_eq!(t.waiting(), cap as usize - 2);
        let mut n = 0;
        t.give_up_all(|_| n += 1);
        assert_eq!((n, t.waiting()), (cap as usize - 2, 0));
    }
}
