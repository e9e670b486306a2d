//! Gate-control-list math: which gates are open at t, when a class next
//! opens or closes, the window and launch times of a stream in cycle k, the
//! first cycle after a base time, and the 802.1Qbv oper -> admin switch.
//!
//! Every query is O(log n) in the number of entries and allocates nothing:
//! the per-class windows of one cycle are tables built by
//! `GateControlList::new`, and the timeline has at most three regions
//! (whole oper cycles, the last oper cycle, whole admin cycles).

use crate::schedule::{GateControlList, Schedule, Switch, Which, Window};

/// taprio's start rule: a base time in the future is the first cycle start;
/// otherwise the first cycle starts at the next boundary after `now`:
/// `base + (floor((now - base) / cycle) + 1) * cycle`.
pub fn first_cycle_start(gcl: &GateControlList, now_ns: u64) -> u64 {
    let base = gcl.base_time_ns();
    if base > now_ns {
        return base;
    }
    let cycle = gcl.cycle_time_ns();
    let n = (now_ns - base) / cycle;
    base.saturating_add((n + 1).saturating_mul(cycle))
}

/// Where the oper list hands over to a list starting at `at_ns` (> base):
/// the last oper cycle is the first one whose end plus the extension reaches
/// `at_ns` (802.1Qbv: at each cycle start, a pending change within
/// `OperCycleTime + OperCycleTimeExtension` ends this cycle at the change).
pub fn switch_point(oper: &GateControlList, at_ns: u64) -> Switch {
    let base = oper.base_time_ns();
    let cycle = oper.cycle_time_ns();
    // Saturating: a cycle near 2^64 ns plus its extension must not wrap.
    let reach = cycle.saturating_add(oper.cycle_time_extension_ns());
    let since = at_ns.saturating_sub(base);
    let k = if since <= reach {
        0
    } else {
        (since - reach).div_ceil(cycle)
    };
    Switch {
        at_ns,
        last_oper_cycle: k,
        // k * cycle <= at - base here; saturating all the same, so no
        // base time or cycle can wrap the switch back in time.
        last_oper_start_ns: base.saturating_add(k.saturating_mul(cycle)),
    }
}

/// "0x81 (classes 0,7)" — how gate masks are shown to people.
pub fn format_mask(mask: u8) -> String {
    let classes: Vec<String> = (0..8)
        .filter(|c| mask & (1 << c) != 0)
        .map(|c| c.to_string())
        .collect();
    if classes.is_empty() {
        format!("0x{mask:02x} (all closed)")
    } else {
        format!("0x{mask:02x} (classes {})", classes.join(","))
    }
}

impl GateControlList {
    /// Gate mask at `offset` (< cycle_time) inside a cycle.
    pub fn mask_at_offset(&self, offset: u64) -> u8 {
        let slots = self.slots();
        let i = slots.partition_point(|s| s.end_ns <= offset);
        slots.get(i).map_or(0, |s| s.gate_mask)
    }

    fn last_mask(&self) -> u8 {
        self.slots().last().map_or(0, |s| s.gate_mask)
    }
}

/// One stretch of the timeline during which one list runs.
#[derive(Clone, Copy)]
struct Region<'a> {
    gcl: &'a GateControlList,
    start: u64,
    /// Exclusive; `None` = forever.
    end: Option<u64>,
    /// The single last oper cycle before a switch: runs `[start, end)` once,
    /// truncated or with its last entry stretched, instead of repeating.
    last: bool,
}

impl Region<'_> {
    fn is_empty(&self) -> bool {
        self.end.is_some_and(|e| e <= self.start)
    }

    fn mask_at(&self, t: u64) -> u8 {
        let off = t - self.start;
        let cycle = self.gcl.cycle_time_ns();
        if self.last {
            if off < cycle {
                self.gcl.mask_at_offset(off)
            } else {
                self.gcl.last_mask()
            }
        } else {
            self.gcl.mask_at_offset(off % cycle)
        }
    }

    /// Length of the last cycle (only meaningful when `last`).
    fn last_len(&self) -> u64 {
        self.end.unwrap_or(u64::MAX) - self.start
    }

    /// A class window of the last cycle after truncation / stretching.
    fn last_window_end(&self, w: &Window) -> u64 {
        let len = self.last_len();
        if w.end_ns == self.gcl.cycle_time_ns() && len > w.end_ns {
            len
        } else {
            w.end_ns.min(len)
        }
    }

    fn clip(&self, t: Option<u64>) -> Option<u64> {
        match (t, self.end) {
            (Some(t), Some(e)) if t >= e => None,
            (t, _) => t,
        }
    }

    /// Earliest time >= t (t inside the region) at which `class` is open.
    fn next_open(&self, class: u8, t: u64) -> Option<u64> {
        let windows = self.gcl.class_windows(class);
        let first = windows.first()?;
        let off = t - self.start;
        if self.last {
            let i = windows.partition_point(|w| self.last_window_end(w) <= off);
            let w = windows.get(i)?;
            let open = self.start.saturating_add(w.start_ns.max(off));
            return self.clip(Some(open));
        }
        let cycle = self.gcl.cycle_time_ns();
        let in_cycle = off % cycle;
        let cycle_start = t - in_cycle;
        let i = windows.partition_point(|w| w.end_ns <= in_cycle);
        let open = match windows.get(i) {
            Some(w) if w.start_ns <= in_cycle => Some(t),
            Some(w) => cycle_start.checked_add(w.start_ns),
            None => cycle_start
                .checked_add(cycle)
                .and_then(|c| c.checked_add(first.start_ns)),
        };
        self.clip(open)
    }

    /// End of the open run containing t (class open at t), cut at the
    /// region end; `None` when it never ends.
    fn run_end(&self, class: u8, t: u64) -> Option<u64> {
        let windows = self.gcl.class_windows(class);
        let off = t - self.start;
        if self.last {
            let i = windows.partition_point(|w| self.last_window_end(w) <= off);
            return windows
                .get(i)
                .and_then(|w| self.start.checked_add(self.last_window_end(w)));
        }
        let cycle = self.gcl.cycle_time_ns();
        let in_cycle = off % cycle;
        let cycle_start = t - in_cycle;
        let i = windows.partition_point(|w| w.end_ns <= in_cycle);
        let w = windows.get(i)?;
        let wraps = w.end_ns == cycle && windows[0].start_ns == 0;
        let end = if wraps && windows.len() == 1 {
            None // open the whole cycle: the run lasts as long as the region
        } else if wraps {
            cycle_start
                .checked_add(cycle)
                .and_then(|c| c.checked_add(windows[0].end_ns))
        } else {
            // None past the end of u64 time: it does not end before then.
            cycle_start.checked_add(w.end_ns)
        };
        match (end, self.end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (None, b) => b,
            (a, None) => a,
        }
    }
}

/// One cycle of the timeline, numbered from 0 at the oper base time and
/// continuing through the admin cycles after a switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cycle {
    pub index: u64,
    pub start_ns: u64,
    /// Exclusive. Differs from start + cycle_time only for the last oper
    /// cycle before a switch.
    pub end_ns: u64,
    pub which: Which,
}

impl Schedule {
    /// The timeline's regions, in order; empty ones are `None`.
    fn regions(&self) -> [Option<Region<'_>>; 3] {
        let oper = self.oper();
        match (self.admin(), self.switch()) {
            (Some(admin), Some(sw)) => {
                let whole = Region {
                    gcl: oper,
                    start: oper.base_time_ns(),
                    end: Some(sw.last_oper_start_ns),
                    last: false,
                };
                [
                    (!whole.is_empty()).then_some(whole),
                    Some(Region {
                        gcl: oper,
                        start: sw.last_oper_start_ns,
                        end: Some(sw.at_ns),
                        last: true,
                    }),
                    Some(Region {
                        gcl: admin,
                        start: sw.at_ns,
                        end: None,
                        last: false,
                    }),
                ]
            }
            _ => [
                Some(Region {
                    gcl: oper,
                    start: oper.base_time_ns(),
                    end: None,
                    last: false,
                }),
                None,
                None,
            ],
        }
    }

    /// Index into `regions()` of the region holding t; `None` before the
    /// schedule starts.
    fn region_of(&self, t: u64) -> Option<(usize, Region<'_>)> {
        self.regions()
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| r.map(|r| (i, r)))
            .find(|(_, r)| r.start <= t && r.end.is_none_or(|e| t < e))
    }

    /// Which list is in force at t; `None` before the oper base time.
    pub fn in_force(&self, t: u64) -> Option<Which> {
        match self.switch() {
            _ if t < self.oper().base_time_ns() => None,
            Some(sw) if t >= sw.at_ns => Some(Which::Admin),
            _ => Some(Which::Oper),
        }
    }

    /// Gate mask at t. Before the schedule starts every gate is closed.
    pub fn gate_mask_at(&self, t: u64) -> u8 {
        self.region_of(t).map_or(0, |(_, r)| r.mask_at(t))
    }

    pub fn is_open(&self, class: u8, t: u64) -> bool {
        class < 8 && self.gate_mask_at(t) & (1 << class) != 0
    }

    /// Earliest time >= t at which `class`'s gate is open (t itself when it
    /// is open at t); `None` if it never opens again.
    pub fn next_open(&self, class: u8, t: u64) -> Option<u64> {
        if class >= 8 {
            return None;
        }
        let t = t.max(self.oper().base_time_ns());
        let (first, _) = self.region_of(t)?;
        let regions = self.regions();
        for r in regions[first..].iter().flatten() {
            if let Some(open) = r.next_open(class, t.max(r.start)) {
                return Some(open);
            }
        }
        None
    }

    /// Earliest time >= t at which `class`'s gate is closed (t itself when
    /// it is closed at t); `None` if it stays open forever.
    pub fn next_close(&self, class: u8, t: u64) -> Option<u64> {
        if class >= 8 {
            return None;
        }
        let Some((i, r)) = self.region_of(t) else {
            return Some(t); // closed before the schedule starts
        };
        if r.mask_at(t) & (1 << class) == 0 {
            return Some(t);
        }
        let mut end = r.run_end(class, t);
        // A run reaching a region boundary goes on if the next region opens
        // the class right away.
        for n in self.regions()[i + 1..].iter().flatten() {
            match end {
                Some(e) if n.start == e && n.mask_at(e) & (1 << class) != 0 => {
                    end = n.run_end(class, e)
                }
                _ => break,
            }
        }
        end
    }

    /// Cycle k of the timeline; `None` if its start is past u64 ns.
    pub fn cycle(&self, k: u64) -> Option<Cycle> {
        let oper = self.oper();
        let periodic = |gcl: &GateControlList, start: u64, j: u64, index: u64, which| {
            let c = gcl.cycle_time_ns();
            let s = start.checked_add(j.checked_mul(c)?)?;
            Some(Cycle {
                index,
                start_ns: s,
                end_ns: s.checked_add(c)?,
                which,
            })
        };
        match (self.admin(), self.switch()) {
            (Some(admin), Some(sw)) => {
                if k < sw.last_oper_cycle {
                    periodic(oper, oper.base_time_ns(), k, k, Which::Oper)
                } else if k == sw.last_oper_cycle {
                    Some(Cycle {
                        index: k,
                        start_ns: sw.last_oper_start_ns,
                        end_ns: sw.at_ns,
                        which: Which::Oper,
                    })
                } else {
                    periodic(admin, sw.at_ns, k - k_after(sw), k, Which::Admin)
                }
            }
            _ => periodic(oper, oper.base_time_ns(), k, k, Which::Oper),
        }
    }

    /// The cycle containing t; `None` before the schedule starts.
    pub fn cycle_at(&self, t: u64) -> Option<Cycle> {
        let oper = self.oper();
        if t < oper.base_time_ns() {
            return None;
        }
        let k = match (self.admin(), self.switch()) {
            (Some(admin), Some(sw)) if t >= sw.at_ns => {
                k_after(sw) + (t - sw.at_ns) / admin.cycle_time_ns()
            }
            (Some(_), Some(sw)) if t >= sw.last_oper_start_ns => sw.last_oper_cycle,
            _ => (t - oper.base_time_ns()) / oper.cycle_time_ns(),
        };
        self.cycle(k)
    }

    /// Absolute window of stream `stream` in cycle k: the open run of its
    /// class (inside that cycle) that holds its offset. `None` when the
    /// cycle is the truncated last oper cycle and the window is cut away.
    pub fn stream_window(&self, stream: usize, k: u64) -> Option<Window> {
        self.stream_window_in(stream, &self.cycle(k)?)
    }

    fn stream_window_in(&self, stream: usize, c: &Cycle) -> Option<Window> {
        let w = self.stream_window_offsets(stream, c.which);
        let gcl = self.gcl(c.which);
        let len = c.end_ns - c.start_ns;
        if w.start_ns >= len {
            return None;
        }
        let end = if w.end_ns == gcl.cycle_time_ns() && len > w.end_ns {
            len // the last entry is held open until the switch
        } else {
            w.end_ns.min(len)
        };
        Some(Window {
            start_ns: c.start_ns + w.start_ns,
            end_ns: c.start_ns + end,
        })
    }

    /// Launch time of frame i of stream `stream` in cycle k, or `None` if
    /// the stream sends no such frame in that cycle (i out of range, or the
    /// frame would not end, with preamble and IFG, before its window closes
    /// in a truncated last oper cycle).
    pub fn launch_time(&self, stream: usize, k: u64, i: u32) -> Option<u64> {
        let s = self.streams().get(stream)?;
        if i >= s.frames_per_cycle {
            return None;
        }
        let c = self.cycle(k)?;
        let w = self.stream_window_in(stream, &c)?;
        let launch = c.start_ns.checked_add(s.launch_offset_ns(i)?)?;
        let wire_end = launch.checked_add(self.link().wire_time_ns(s.frame_size))?;
        (wire_end <= w.end_ns).then_some(launch)
    }
}

/// Index of the first admin cycle.
fn k_after(sw: Switch) -> u64 {
    sw.last_oper_cycle + 1
}
