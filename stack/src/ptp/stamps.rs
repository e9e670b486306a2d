//! Event messages waiting for their transmit timestamps: a fixed table of
//! statime's `TimestampContext`s by tag. A context whose stamp does not come
//! back in time is dropped and counted; so is the oldest when the table is
//! full.

use statime::port::TimestampContext;

/// Outstanding stamps at most (a port has at most a Sync, a (P)Delay_Req
/// and a Pdelay_Resp in flight per interval).
pub const SLOTS: usize = 16;

struct Pending {
    tag: u32,
    context: TimestampContext,
    sent_mono_ns: u64,
    /// A Sync: its Follow_Up waits for this stamp.
    sync: bool,
}

pub struct StampTable {
    slots: [Option<Pending>; SLOTS],
    next_tag: u32,
    /// Contexts dropped without a stamp (expired or pushed out).
    pub missing: u64,
}

impl Default for StampTable {
    fn default() -> Self {
        StampTable {
            slots: Default::default(),
            next_tag: 1,
            missing: 0,
        }
    }
}

impl StampTable {
    /// Keeps `context` (of a Sync when `sync`) under a new tag.
    pub fn insert(&mut self, context: TimestampContext, now_mono_ns: u64, sync: bool) -> u32 {
        let tag = self.next_tag;
        // Tags with the high bit are stream frames' (crate::stages).
        self.next_tag = self.next_tag.wrapping_add(1) & !crate::stages::STREAM_TAG_BIT;
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                self.missing += 1;
                self.slots
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, p)| p.as_ref().map_or(0, |p| p.sent_mono_ns))
                    .map_or(0, |(i, _)| i)
            }
        };
        self.slots[slot] = Some(Pending {
            tag,
            context,
            sent_mono_ns: now_mono_ns,
            sync,
        });
        tag
    }

    /// When the newest Sync whose stamp (and so whose Follow_Up) has not
    /// come yet was sent: the next Sync should wait, or it would reach the
    /// slave before that Follow_Up (ptp4l then drops both).
    pub fn sync_waiting_since(&self) -> Option<u64> {
        self.slots
            .iter()
            .flatten()
            .filter(|p| p.sync)
            .map(|p| p.sent_mono_ns)
            .max()
    }

    /// The context of `tag`, if it is still waiting.
    pub fn take(&mut self, tag: u32) -> Option<TimestampContext> {
        let slot = self
            .slots
            .iter_mut()
            .find(|p| p.as_ref().is_some_and(|p| p.tag == tag))?;
        slot.take().map(|p| p.context)
    }

    /// Drops contexts sent at or before `cutoff_mono_ns`; how many.
    pub fn expire(&mut self, cutoff_mono_ns: u64) -> u64 {
        let mut n = 0;
        for slot in &mut self.slots {
            if slot
                .as_ref()
                .is_some_and(|p| p.sent_mono_ns <= cutoff_mono_ns)
            {
                *slot = None;
                n += 1;
            }
        }
        self.missing += n;
        n
    }

    /// When the oldest waiting context was sent.
    pub fn oldest(&self) -> Option<u64> {
        self.slots.iter().flatten().map(|p| p.sent_mono_ns).min()
    }

    pub fn waiting(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}
