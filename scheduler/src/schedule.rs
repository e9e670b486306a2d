//! The validated schedule model: one egress port's gate control list(s) and
//! the streams a talker sends on it.
//!
//! Everything here is checked at construction, so a `Schedule` that exists is
//! one the talker can run: every stream's frames fit inside an open window of
//! their traffic class, with the guard band, without overlapping on the wire.
//! Errors carry indices (entry, stream, field) rather than text positions;
//! `config.rs` maps them back to file:line:col.

use crate::clock::ClockId;

/// IEEE 802.1Q has eight traffic classes; a gate mask has one bit per class.
pub const TRAFFIC_CLASSES: usize = 8;
/// Preamble + start-of-frame delimiter, on the wire before every frame.
pub const PREAMBLE_BYTES: u64 = 8;
/// Minimum inter-frame gap after every frame.
pub const IFG_BYTES: u64 = 12;
/// Smallest Ethernet frame (destination MAC through FCS).
pub const MIN_FRAME_BYTES: u32 = 64;
/// Largest 802.1Q-tagged frame without jumbo frames (1518 + 4-byte tag).
pub const MAX_FRAME_BYTES: u32 = 1522;
/// Largest VLAN id that may be configured (4095 is reserved).
pub const MAX_VLAN_ID: u16 = 4094;
/// Upper bound on frames per stream per cycle: keeps start-up checks and
/// talker tables bounded (a million made `takt loopback` abort on a 2 GiB
/// allocation).
pub const MAX_FRAMES_PER_CYCLE: u32 = 65_536;
/// Upper bound on the frames of all streams in one cycle: the talker holds
/// a table of them (24 bytes each).
pub const MAX_CYCLE_FRAMES: u64 = 65_536;
/// Upper bound on streams: each holds about 1.3 MiB of histograms per end
/// (more with a control plane), and stream ids are 16 bits on the wire.
pub const MAX_STREAMS: usize = 128;
/// Upper bound on the entries of one gate control list.
pub const MAX_GATE_ENTRIES: usize = 16_384;
/// Longest cycle_time: one minute. Longer cycles are not time-sensitive
/// networking, and a bound keeps every cycle of a run representable.
pub const MAX_CYCLE_TIME_NS: u64 = 60_000_000_000;
/// Latest base_time: 2^63 - 1 ns (year 2262 on TAI), where Linux's clocks
/// (and taprio's base-time) end. With a bounded cycle, the cycles after it
/// stay inside 64 bits of ns for centuries more, so no schedule runs out of
/// time.
pub const MAX_BASE_TIME_NS: u64 = i64::MAX as u64;

/// One row of a gate control list, as written in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateEntry {
    /// Bit `c` set = traffic class `c` may transmit.
    pub gate_mask: u8,
    pub interval_ns: u64,
}

/// An entry as it actually runs inside one cycle, after `cycle_time`
/// truncated or stretched the list. Offsets are from the cycle start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub start_ns: u64,
    pub end_ns: u64,
    pub gate_mask: u8,
    /// Index of the `GateEntry` this slot comes from.
    pub entry: usize,
}

/// A half-open time interval `[start_ns, end_ns)`: offsets inside a cycle or
/// absolute times on the schedule clock, depending on where it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start_ns: u64,
    pub end_ns: u64,
}

impl Window {
    pub fn len_ns(&self) -> u64 {
        self.end_ns - self.start_ns
    }
    pub fn contains(&self, t: u64) -> bool {
        self.start_ns <= t && t < self.end_ns
    }
}

/// Which gate control list is meant: the operating one, or the
/// administrative one that takes over at its base time (802.1Qbv).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Oper,
    Admin,
}

impl Which {
    pub fn as_str(self) -> &'static str {
        match self {
            Which::Oper => "oper",
            Which::Admin => "admin",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GclError {
    #[error(
        "the gate control list is empty: add at least one [[entry]] with gates and an interval"
    )]
    Empty,
    #[error("entry {entry} has a zero interval: give it a positive duration such as \"100us\"")]
    ZeroInterval { entry: usize },
    #[error("the intervals add up to more than 2^64 ns: shorten entry {entry}'s interval")]
    IntervalOverflow { entry: usize },
    #[error("cycle_time is zero: give a positive duration, or leave it out to use the sum of the intervals")]
    ZeroCycle,
    #[error(
        "cycle_time {cycle_ns} ns is longer than the intervals' sum {sum_ns} ns by {excess_ns} ns, more than cycle_time_extension {extension_ns} ns: add an entry for the rest of the cycle, shorten cycle_time, or set cycle_time_extension >= {excess_ns}"
    )]
    CycleLongerThanList {
        cycle_ns: u64,
        sum_ns: u64,
        excess_ns: u64,
        extension_ns: u64,
    },
    #[error(
        "cycle_time_extension {extension_ns} ns must be shorter than cycle_time {cycle_ns} ns"
    )]
    ExtensionTooLong { extension_ns: u64, cycle_ns: u64 },
    #[error("the cycle is {cycle_ns} ns long, more than the longest takt runs ({max_ns} ns = 60 s): give a shorter cycle_time or shorter intervals")]
    CycleTooLong { cycle_ns: u64, max_ns: u64 },
    #[error("base_time {base_ns} ns is after the latest takt accepts ({max_ns} ns = 2^63 - 1, year 2262 on TAI, where Linux's clocks end): give an earlier base_time")]
    BaseTimeTooLate { base_ns: u64, max_ns: u64 },
    #[error("the list has {entries} entries, more than the {max} takt accepts: merge entries or shorten the list")]
    TooManyEntries { entries: usize, max: usize },
}

/// A gate control list with its base time, validated, plus the tables that
/// make every query O(log n): the slots of one cycle and, per traffic class,
/// the merged runs of open gates inside one cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateControlList {
    base_time_ns: u64,
    cycle_time_ns: u64,
    cycle_time_extension_ns: u64,
    entries: Vec<GateEntry>,
    slots: Vec<Slot>,
    windows: [Vec<Window>; TRAFFIC_CLASSES],
}

impl GateControlList {
    /// `cycle_time_ns = None` means the sum of the intervals. A shorter cycle
    /// truncates the list (taprio); a longer one stretches the last entry to
    /// the cycle end, which is allowed only up to `cycle_time_extension_ns`.
    pub fn new(
        base_time_ns: u64,
        cycle_time_ns: Option<u64>,
        cycle_time_extension_ns: u64,
        entries: Vec<GateEntry>,
    ) -> Result<Self, GclError> {
        if entries.is_empty() {
            return Err(GclError::Empty);
        }
        if entries.len() > MAX_GATE_ENTRIES {
            return Err(GclError::TooManyEntries {
                entries: entries.len(),
                max: MAX_GATE_ENTRIES,
            });
        }
        if base_time_ns > MAX_BASE_TIME_NS {
            return Err(GclError::BaseTimeTooLate {
                base_ns: base_time_ns,
                max_ns: MAX_BASE_TIME_NS,
            });
        }
        let mut sum: u64 = 0;
        for (i, e) in entries.iter().enumerate() {
            if e.interval_ns == 0 {
                return Err(GclError::ZeroInterval { entry: i });
            }
            sum = sum
                .checked_add(e.interval_ns)
                .ok_or(GclError::IntervalOverflow { entry: i })?;
        }
        let cycle = cycle_time_ns.unwrap_or(sum);
        if cycle == 0 {
            return Err(GclError::ZeroCycle);
        }
        if cycle > MAX_CYCLE_TIME_NS {
            return Err(GclError::CycleTooLong {
                cycle_ns: cycle,
                max_ns: MAX_CYCLE_TIME_NS,
            });
        }
        if cycle_time_extension_ns >= cycle {
            return Err(GclError::ExtensionTooLong {
                extension_ns: cycle_time_extension_ns,
                cycle_ns: cycle,
            });
        }
        if cycle > sum && cycle - sum > cycle_time_extension_ns {
            return Err(GclError::CycleLongerThanList {
                cycle_ns: cycle,
                sum_ns: sum,
                excess_ns: cycle - sum,
                extension_ns: cycle_time_extension_ns,
            });
        }

        let mut slots = Vec::with_capacity(entries.len());
        let mut start = 0u64;
        for (i, e) in entries.iter().enumerate() {
            if start >= cycle {
                break;
            }
            let end = (start + e.interval_ns).min(cycle);
            slots.push(Slot {
                start_ns: start,
                end_ns: end,
                gate_mask: e.gate_mask,
                entry: i,
            });
            start = end;
        }
        if let Some(last) = slots.last_mut() {
            last.end_ns = cycle; // stretch to the cycle end (no-op when it already ends there)
        }

        let windows = std::array::from_fn(|class| merged_windows(&slots, class));
        Ok(GateControlList {
            base_time_ns,
            cycle_time_ns: cycle,
            cycle_time_extension_ns,
            entries,
            slots,
            windows,
        })
    }

    pub fn base_time_ns(&self) -> u64 {
        self.base_time_ns
    }
    pub fn cycle_time_ns(&self) -> u64 {
        self.cycle_time_ns
    }
    pub fn cycle_time_extension_ns(&self) -> u64 {
        self.cycle_time_extension_ns
    }
    /// The entries as given (including any that `cycle_time` truncated away).
    pub fn entries(&self) -> &[GateEntry] {
        &self.entries
    }
    /// The entries as they run inside one cycle, covering `[0, cycle_time)`.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }
    /// Merged runs of open gate for `class` inside one cycle, sorted. A run
    /// ending at `cycle_time` continues into the next cycle when the class is
    /// also open at offset 0.
    pub fn class_windows(&self, class: u8) -> &[Window] {
        &self.windows[class as usize]
    }
    /// Same list with another base time (used when a base time in the past
    /// is moved forward to the next cycle boundary).
    pub fn with_base_time(&self, base_time_ns: u64) -> Self {
        GateControlList {
            base_time_ns,
            ..self.clone()
        }
    }
}

fn merged_windows(slots: &[Slot], class: usize) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    for s in slots.iter().filter(|s| s.gate_mask & (1 << class) != 0) {
        match out.last_mut() {
            Some(w) if w.end_ns == s.start_ns => w.end_ns = s.end_ns,
            _ => out.push(Window {
                start_ns: s.start_ns,
                end_ns: s.end_ns,
            }),
        }
    }
    out
}

/// Link properties used for serialization time and guard bands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    pub speed_bps: u64,
    /// PCP used by default for a stream of each traffic class.
    pub tc_to_pcp: [u8; TRAFFIC_CLASSES],
}

impl LinkConfig {
    pub const IDENTITY_TC_TO_PCP: [u8; TRAFFIC_CLASSES] = [0, 1, 2, 3, 4, 5, 6, 7];

    /// Time a frame of `frame_bytes` (destination MAC through FCS) occupies
    /// the wire, including preamble, SFD and the inter-frame gap, rounded up.
    pub fn wire_time_ns(&self, frame_bytes: u32) -> u64 {
        let bits = (frame_bytes as u128 + (PREAMBLE_BYTES + IFG_BYTES) as u128) * 8;
        let ns = (bits * 1_000_000_000).div_ceil(self.speed_bps.max(1) as u128);
        u64::try_from(ns).unwrap_or(u64::MAX)
    }
}

/// One time-triggered stream: `frames_per_cycle` frames every cycle, frame `i`
/// launched at `offset_ns + i * spacing_ns` from the cycle start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    pub name: String,
    pub traffic_class: u8,
    pub vlan_id: u16,
    pub pcp: u8,
    pub dst_mac: [u8; 6],
    /// Destination MAC through FCS, in bytes.
    pub frame_size: u32,
    pub offset_ns: u64,
    pub frames_per_cycle: u32,
    pub spacing_ns: u64,
}

impl Stream {
    /// Offset of frame `i` from the cycle start; `None` if it overflows.
    pub fn launch_offset_ns(&self, i: u32) -> Option<u64> {
        self.offset_ns
            .checked_add(u64::from(i).checked_mul(self.spacing_ns)?)
    }
}

/// What is wrong with a stream or with the schedule as a whole. `stream`
/// indices are positions in the `streams` vector.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("link speed is zero: give a speed such as \"1Gbps\"")]
    ZeroLinkSpeed,
    #[error("tc_to_pcp maps traffic class {class} to PCP {pcp}: a PCP is 0..=7")]
    TcToPcpOutOfRange { class: u8, pcp: u8 },
    #[error("admin base_time {admin_ns} ns is not after the oper base_time {oper_ns} ns: the admin schedule takes over at its base time, so give it a later one")]
    AdminNotAfterOper { oper_ns: u64, admin_ns: u64 },
    #[error("{count} streams: takt runs at most {max} (each holds its own histograms): split the schedule or remove streams")]
    TooManyStreams { count: usize, max: usize },
    #[error("stream \"{name}\": the streams up to this one send {frames} frames per cycle, more than the {max} takt accepts in one cycle: reduce frames_per_cycle")]
    CycleFramesOverLimit {
        stream: usize,
        name: String,
        frames: u64,
        max: u64,
    },
    #[error("stream \"{name}\" is defined twice (first as stream {first}): give each stream its own name")]
    DuplicateName {
        stream: usize,
        first: usize,
        name: String,
    },
    #[error("stream \"{name}\": traffic class {class} does not exist: use 0..=7")]
    ClassOutOfRange {
        stream: usize,
        name: String,
        class: u8,
    },
    #[error("stream \"{name}\": VLAN id {vlan_id} is out of range: use 0..=4094")]
    VlanOutOfRange {
        stream: usize,
        name: String,
        vlan_id: u16,
    },
    #[error("stream \"{name}\": PCP {pcp} is out of range: use 0..=7")]
    PcpOutOfRange {
        stream: usize,
        name: String,
        pcp: u8,
    },
    #[error("stream \"{name}\": frame_size {size} bytes is out of range: use 64..=1522 (destination MAC through FCS)")]
    FrameSizeOutOfRange {
        stream: usize,
        name: String,
        size: u32,
    },
    #[error("stream \"{name}\": frames_per_cycle must be 1..={max}, not {frames}")]
    FramesPerCycleOutOfRange {
        stream: usize,
        name: String,
        frames: u32,
        max: u32,
    },
    #[error("stream \"{name}\": spacing {spacing_ns} ns is shorter than one frame on the wire ({wire_ns} ns at this link speed), so its own frames would overlap: use spacing >= {wire_ns}")]
    SpacingTooShort {
        stream: usize,
        name: String,
        spacing_ns: u64,
        wire_ns: u64,
    },
    #[error("stream \"{name}\": traffic class {class} is never opened by the {which} gate control list: open it in an entry or move the stream to an open class", which = which.as_str())]
    ClassNeverOpen {
        stream: usize,
        name: String,
        class: u8,
        which: Which,
    },
    #[error("stream \"{name}\": offset {offset_ns} ns is not inside the {which} cycle of {cycle_ns} ns: use an offset below {cycle_ns}", which = which.as_str())]
    OffsetOutsideCycle {
        stream: usize,
        name: String,
        offset_ns: u64,
        cycle_ns: u64,
        which: Which,
    },
    #[error("stream \"{name}\": offset {offset_ns} ns falls where the gate of traffic class {class} is closed in the {which} schedule; its windows are {windows}: move the offset into one", which = which.as_str())]
    OffsetGateClosed {
        stream: usize,
        name: String,
        offset_ns: u64,
        class: u8,
        which: Which,
        windows: String,
    },
    #[error("stream \"{name}\": frame {frame} launched at {launch_ns} ns occupies the wire until {wire_end_ns} ns (frame + preamble + IFG), after the class {class} gate closes at {close_ns} ns in the {which} schedule: move the offset earlier, reduce frames_per_cycle, spacing or frame_size, or lengthen the window", which = which.as_str())]
    FrameDoesNotFit {
        stream: usize,
        name: String,
        frame: u32,
        launch_ns: u64,
        wire_end_ns: u64,
        close_ns: u64,
        class: u8,
        which: Which,
    },
    #[error("stream \"{name}\" frame {frame} (on the wire {start_ns}..{end_ns} ns) overlaps stream \"{other_name}\" frame {other_frame} ({other_start_ns}..{other_end_ns} ns) inside the cycle: one port sends one frame at a time, so move one of the offsets")]
    Overlap {
        stream: usize,
        name: String,
        frame: u32,
        start_ns: u64,
        end_ns: u64,
        other: usize,
        other_name: String,
        other_frame: u32,
        other_start_ns: u64,
        other_end_ns: u64,
    },
}

/// Something legal but probably unintended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// `cycle_time` cut the list before this entry started.
    EntryNeverRuns { which: Which, entry: usize },
    /// Entries of one list that open gates but carry nothing: no stream
    /// launches a frame in them (and, from a schedule file, neither the
    /// `[control]` plane nor PTP uses their gates). One warning per list,
    /// however many entries: `entries` is never empty, in list order.
    EntryWithoutStream {
        which: Which,
        entries: Vec<UnusedEntry>,
    },
    /// The oper base_time is more than a minute ahead of the schedule
    /// clock when the file was loaded: a run sends nothing until then.
    FirstCycleFar { base_ns: u64, wait_ns: u64 },
}

/// An entry named by [`Warning::EntryWithoutStream`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnusedEntry {
    pub entry: usize,
    pub gate_mask: u8,
}

/// How many unused entries one warning names before it only counts them.
const UNUSED_ENTRIES_NAMED: usize = 8;

/// How far ahead a first cycle may be before the loader warns.
pub const FAR_FIRST_CYCLE_NS: u64 = 60_000_000_000;

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::EntryNeverRuns { which, entry } => write!(
                f,
                "{} entry {entry} never runs: cycle_time ends the cycle before it starts",
                which.as_str()
            ),
            Warning::EntryWithoutStream { which, entries } => match entries.as_slice() {
                [one] => write!(
                    f,
                    "{} entry {} opens gates {} but no stream sends in it (fine for a best-effort window)",
                    which.as_str(),
                    one.entry,
                    crate::gcl::format_mask(one.gate_mask)
                ),
                many => {
                    let named: Vec<String> = many
                        .iter()
                        .take(UNUSED_ENTRIES_NAMED)
                        .map(|u| format!("{} ({:#04x})", u.entry, u.gate_mask))
                        .collect();
                    let more = if many.len() > UNUSED_ENTRIES_NAMED { ", ..." } else { "" };
                    write!(
                        f,
                        "{} {} entries open gates but no stream sends in them (fine for best-effort windows): {}{more}",
                        many.len(),
                        which.as_str(),
                        named.join(", ")
                    )
                }
            },
            Warning::FirstCycleFar { base_ns, wait_ns } => write!(
                f,
                "the first cycle starts in {} (base_time {base_ns} ns on the schedule clock): a run sends nothing until then, and a run whose --duration ends first sends nothing at all",
                crate::units::format_ns(*wait_ns)
            ),
        }
    }
}

/// The 802.1Qbv switch from the oper to the admin list: the oper list runs
/// whole cycles until cycle `last_oper_cycle`, which runs from
/// `last_oper_start_ns` to `at_ns` — truncated if `at_ns` falls inside it,
/// or with its last entry held open up to `cycle_time_extension` past its
/// end so that no cycle shorter than the extension is left over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switch {
    pub at_ns: u64,
    pub last_oper_cycle: u64,
    pub last_oper_start_ns: u64,
}

/// How strictly `Schedule` checks streams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Validation {
    /// Every rule.
    #[default]
    Full,
    /// Frames may overlap on the wire (within a stream or across streams):
    /// an overbooked schedule, run on purpose to see what it does to
    /// latency and late frames. Each frame must still fit its window when
    /// sent at its own launch time.
    AllowOverbooking,
}

/// A validated schedule. Construct with [`Schedule::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    clock: ClockId,
    link: LinkConfig,
    oper: GateControlList,
    admin: Option<GateControlList>,
    streams: Vec<Stream>,
    switch: Option<Switch>,
    /// Per stream: its window (cycle offsets) in the oper and admin lists.
    stream_windows: Vec<[Window; 2]>,
    warnings: Vec<Warning>,
    /// Per stream: the forward stream it is the return of
    /// (`return_of`, docs/round-trip.md), set by [`Schedule::with_returns`].
    returns: Vec<Option<usize>>,
    /// Ports per stream, replication and recovery parameters (802.1CB,
    /// docs/redundancy.md), set by [`Schedule::with_redundancy`].
    redundancy: crate::redundancy::Redundancy,
}

impl Schedule {
    pub fn new(
        clock: ClockId,
        link: LinkConfig,
        oper: GateControlList,
        admin: Option<GateControlList>,
        streams: Vec<Stream>,
    ) -> Result<Self, ScheduleError> {
        Self::with_validation(clock, link, oper, admin, streams, Validation::Full)
    }

    /// As [`Schedule::new`], choosing how strict to be.
    pub fn with_validation(
        clock: ClockId,
        link: LinkConfig,
        oper: GateControlList,
        admin: Option<GateControlList>,
        streams: Vec<Stream>,
        validation: Validation,
    ) -> Result<Self, ScheduleError> {
        if link.speed_bps == 0 {
            return Err(ScheduleError::ZeroLinkSpeed);
        }
        for (class, &pcp) in link.tc_to_pcp.iter().enumerate() {
            if pcp > 7 {
                return Err(ScheduleError::TcToPcpOutOfRange {
                    class: class as u8,
                    pcp,
                });
            }
        }
        if let Some(a) = &admin {
            if a.base_time_ns <= oper.base_time_ns {
                return Err(ScheduleError::AdminNotAfterOper {
                    oper_ns: oper.base_time_ns,
                    admin_ns: a.base_time_ns,
                });
            }
        }
        crate::validate::check_streams(&link, &streams, validation)?;
        let mut stream_windows = Vec::with_capacity(streams.len());
        for (i, s) in streams.iter().enumerate() {
            let w_oper = crate::validate::stream_window(&link, &oper, Which::Oper, i, s)?;
            let w_admin = match &admin {
                Some(a) => crate::validate::stream_window(&link, a, Which::Admin, i, s)?,
                None => w_oper,
            };
            stream_windows.push([w_oper, w_admin]);
        }
        if validation == Validation::Full {
            crate::validate::check_overlaps(&link, &streams)?;
        }
        let mut warnings = crate::validate::warnings(&link, &oper, Which::Oper, &streams);
        if let Some(a) = &admin {
            warnings.extend(crate::validate::warnings(&link, a, Which::Admin, &streams));
        }
        let switch = admin
            .as_ref()
            .map(|a| crate::gcl::switch_point(&oper, a.base_time_ns));
        Ok(Schedule {
            returns: vec![None; streams.len()],
            redundancy: crate::redundancy::Redundancy::none(streams.len()),
            clock,
            link,
            oper,
            admin,
            streams,
            switch,
            stream_windows,
            warnings,
        })
    }

    pub fn clock(&self) -> ClockId {
        self.clock
    }
    pub fn link(&self) -> &LinkConfig {
        &self.link
    }
    pub fn oper(&self) -> &GateControlList {
        &self.oper
    }
    pub fn admin(&self) -> Option<&GateControlList> {
        self.admin.as_ref()
    }
    pub fn gcl(&self, which: Which) -> &GateControlList {
        match which {
            Which::Oper => &self.oper,
            Which::Admin => self.admin.as_ref().unwrap_or(&self.oper),
        }
    }
    pub fn streams(&self) -> &[Stream] {
        &self.streams
    }
    pub fn switch(&self) -> Option<Switch> {
        self.switch
    }
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
    /// The forward stream that stream `i` carries back (a mirror sends it;
    /// a talker does not).
    pub fn return_of(&self, i: usize) -> Option<usize> {
        self.returns.get(i).copied().flatten()
    }
    /// The stream that carries forward stream `fwd` back, if any.
    pub fn return_stream(&self, fwd: usize) -> Option<usize> {
        self.returns.iter().position(|r| *r == Some(fwd))
    }
    /// Whether any stream is a return stream.
    pub fn has_returns(&self) -> bool {
        self.returns.iter().any(Option::is_some)
    }
    /// This schedule with the pairs `(return, forward)` (stream indices):
    /// each checked by [`crate::returns::check`].
    pub fn with_returns(
        mut self,
        pairs: &[(usize, usize)],
    ) -> Result<Self, crate::returns::ReturnError> {
        crate::returns::check(&self.streams, pairs)?;
        for &(r, f) in pairs {
            self.returns[r] = Some(f);
        }
        Ok(self)
    }
    /// Ports, replication and recovery parameters (every stream on port 0
    /// and none replicated unless [`Schedule::with_redundancy`] said so).
    pub fn redundancy(&self) -> &crate::redundancy::Redundancy {
        &self.redundancy
    }
    /// The ports stream `i` leaves and arrives on.
    pub fn stream_ports(&self, i: usize) -> crate::redundancy::PortMask {
        self.redundancy
            .ports
            .get(i)
            .copied()
            .unwrap_or(crate::redundancy::PortMask::FIRST)
    }
    /// Whether stream `i` is replicated (802.1CB FRER).
    pub fn is_frer(&self, i: usize) -> bool {
        self.redundancy.frer.get(i).copied().unwrap_or(false)
    }
    /// Whether any stream is replicated.
    pub fn has_frer(&self) -> bool {
        self.redundancy.frer.iter().any(|&f| f)
    }
    /// Ports the schedule needs: the highest port any stream uses + 1.
    pub fn ports_needed(&self) -> usize {
        self.redundancy
            .ports
            .iter()
            .map(|m| m.ports_needed())
            .max()
            .unwrap_or(1)
            .max(1)
    }
    /// This schedule with `r` (checked by [`crate::redundancy::check`]).
    pub fn with_redundancy(
        mut self,
        r: crate::redundancy::Redundancy,
    ) -> Result<Self, crate::redundancy::RedundancyError> {
        crate::redundancy::check(&self.streams, &r)?;
        self.redundancy = r;
        Ok(self)
    }
    /// The wire-overlap check of [`Validation::Full`], per port: for a
    /// schedule built with `AllowOverbooking` only because its streams are
    /// on several ports (streams on different ports share no wire).
    pub fn check_overlaps_per_port(&self) -> Result<(), ScheduleError> {
        crate::validate::check_overlaps_per_port(&self.link, &self.streams, &self.redundancy.ports)
    }
    /// The window (cycle offsets) stream `stream` sends in, in list `which`.
    pub fn stream_window_offsets(&self, stream: usize, which: Which) -> Window {
        self.stream_windows[stream][which as usize]
    }

    /// The same schedule as it starts at `now`: base times in the past move
    /// to the next cycle boundary (taprio's rule). If the admin list's start
    /// is then not after the oper list's, the admin list simply is the
    /// schedule from its start.
    pub fn started_at(&self, now_ns: u64) -> Schedule {
        let oper = self
            .oper
            .with_base_time(crate::gcl::first_cycle_start(&self.oper, now_ns));
        let admin = self
            .admin
            .as_ref()
            .map(|a| a.with_base_time(crate::gcl::first_cycle_start(a, now_ns)));
        let mut s = self.clone();
        s.oper = oper;
        s.admin = admin;
        if let Some(a) = s.admin.take() {
            if a.base_time_ns <= s.oper.base_time_ns {
                s.oper = a;
                for w in &mut s.stream_windows {
                    w[0] = w[1];
                }
            } else {
                s.admin = Some(a);
            }
        }
        s.switch = s
            .admin
            .as_ref()
            .map(|a| crate::gcl::switch_point(&s.oper, a.base_time_ns));
        s
    }
}
