//! When a control-plane frame may go on the wire: only while the
//! best-effort traffic class's gate is open, and only if the whole frame
//! (with preamble, FCS and inter-frame gap) leaves the wire before that gate
//! closes — so smoltcp's traffic can never spill into a time-critical
//! window. Pure: a schedule, a time and a length in, a decision out.

use takt_scheduler::{config, Schedule};

/// Bytes the NIC appends that are not in a buffer.
const FCS_BYTES: u64 = 4;
/// Shortest Ethernet frame (destination MAC through FCS): shorter buffers
/// are padded by the NIC, so they hold the wire this long.
const MIN_FRAME_BYTES: u64 = 64;
/// How many windows `next_release` looks at before giving up: a frame that
/// fits none of them (longer than every window) would otherwise be searched
/// for forever.
const MAX_WINDOWS_SEARCHED: usize = 64;

/// The best-effort gate: a traffic class and a guard band. The schedule is
/// passed to each query rather than held, so a schedule installed while
/// running takes effect at once.
#[derive(Clone, Copy, Debug)]
pub struct BestEffortGate {
    class: u8,
    guard_band_ns: u64,
}

impl BestEffortGate {
    /// Gate of `class`, or of [`default_class`] when `None`. `None` back
    /// when that class never opens (nothing could ever be sent).
    pub fn new(schedule: &Schedule, class: Option<u8>) -> Option<Self> {
        let class = match class {
            Some(c) => c,
            None => default_class(schedule)?,
        };
        opens_somewhere(schedule, class).then_some(BestEffortGate {
            class,
            guard_band_ns: 0,
        })
    }

    /// Also keep this long free before the gate closes: software backends
    /// hand a frame to the wire some microseconds after the decision.
    pub fn with_guard_band(mut self, guard_band_ns: u64) -> Self {
        self.guard_band_ns = guard_band_ns;
        self
    }

    pub fn class(&self) -> u8 {
        self.class
    }

    /// Time a buffer of `len` bytes (no FCS) holds the wire, preamble and
    /// inter-frame gap included.
    pub fn wire_time_ns(&self, s: &Schedule, len: usize) -> u64 {
        wire_time_ns(s, len)
    }

    /// Whether a buffer of `len` bytes starting on the wire at `t_ns` is
    /// inside the best-effort window from its first bit to the end of its
    /// inter-frame gap (and the guard band after it).
    pub fn may_release(&self, s: &Schedule, t_ns: u64, len: usize) -> bool {
        if !s.is_open(self.class, t_ns) {
            return false;
        }
        let end = t_ns
            .saturating_add(self.wire_time_ns(s, len))
            .saturating_add(self.guard_band_ns);
        s.next_close(self.class, t_ns)
            .is_none_or(|close| end <= close)
    }

    /// Earliest time >= `t_ns` at which [`may_release`](Self::may_release)
    /// holds for `len` bytes; `None` when no window in reach is long
    /// enough (the frame can never be sent).
    pub fn next_release(&self, s: &Schedule, t_ns: u64, len: usize) -> Option<u64> {
        let need = self.wire_time_ns(s, len).saturating_add(self.guard_band_ns);
        let mut t = t_ns;
        for _ in 0..MAX_WINDOWS_SEARCHED {
            let open = s.next_open(self.class, t)?;
            match s.next_close(self.class, open) {
                None => return Some(open),
                Some(close) if open.saturating_add(need) <= close => return Some(open),
                Some(close) => t = close,
            }
        }
        None
    }
}

/// Time a buffer of `len` bytes (no FCS) holds the wire at the schedule's
/// link speed, padding, preamble and inter-frame gap included.
pub fn wire_time_ns(s: &Schedule, len: usize) -> u64 {
    let frame = (len as u64 + FCS_BYTES).max(MIN_FRAME_BYTES);
    let frame = u32::try_from(frame).unwrap_or(u32::MAX);
    s.link().wire_time_ns(frame)
}

/// The lowest-priority traffic class (lowest number, as in 802.1Q) whose
/// gate opens somewhere in the oper or admin cycle (the `[control]`
/// section's default, `takt check` shows the same).
pub fn default_class(schedule: &Schedule) -> Option<u8> {
    config::lowest_open_class(schedule)
}

fn opens_somewhere(schedule: &Schedule, class: u8) -> bool {
    class < 8 && config::class_opens(schedule, class)
}
