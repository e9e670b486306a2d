//! Switching a running talker's plan to a new schedule: a plan built for
//! the new schedule and resumed after the last frame of the old one goes
//! on without losing, repeating or reordering a frame, with each stream's
//! sequence numbers running on, and allocates nothing doing it.

use proptest::prelude::*;
use std::sync::Arc;
use takt_scheduler::rt::{count_allocations, CountingAllocator};
use takt_scheduler::{
    ClockId, GateControlList, GateEntry, LinkConfig, Schedule, Stream, Validation, Which,
};
use takt_stack::plan::{Plan, Planned, ResumeError, Until};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const LINK: LinkConfig = LinkConfig {
    speed_bps: 1_000_000_000,
    tc_to_pcp: LinkConfig::IDENTITY_TC_TO_PCP,
};

fn key(p: &Planned) -> (u64, usize, u32) {
    (p.launch_ns, p.stream, p.frame)
}

fn stream(i: usize, class: u8, offset_ns: u64, frames: u32, spacing_ns: u64) -> Stream {
    Stream {
        name: format!("s{i}"),
        traffic_class: class,
        vlan_id: 10,
        pcp: class,
        dst_mac: [1, 0, 0x5e, 0, 0, i as u8],
        frame_size: 64,
        offset_ns,
        frames_per_cycle: frames,
        spacing_ns,
    }
}

/// All gates open for `open_ns`, then all closed to the cycle end.
fn gcl(base_ns: u64, cycle_ns: u64, open_ns: u64, extension_ns: u64) -> GateControlList {
    let mut entries = vec![GateEntry {
        gate_mask: 0xff,
        interval_ns: open_ns,
    }];
    if open_ns < cycle_ns {
        entries.push(GateEntry {
            gate_mask: 0x00,
            interval_ns: cycle_ns - open_ns,
        });
    }
    GateControlList::new(base_ns, None, extension_ns, entries).unwrap()
}

fn schedule(oper: GateControlList, admin: Option<GateControlList>, streams: &[Stream]) -> Schedule {
    // Overbooking allowed so that offsets can tie and frames interleave:
    // the (launch, stream, frame) order is what is under test.
    Schedule::with_validation(
        ClockId::Tai,
        LINK,
        oper,
        admin,
        streams.to_vec(),
        Validation::AllowOverbooking,
    )
    .unwrap()
}

/// The unit-test schedule of plan.rs: two 10 us entries, class 7 then 0.
fn two_class_schedule(admin_base: Option<u64>) -> Schedule {
    let list = |base| {
        GateControlList::new(
            base,
            None,
            0,
            vec![
                GateEntry {
                    gate_mask: 0x80,
                    interval_ns: 10_000,
                },
                GateEntry {
                    gate_mask: 0x01,
                    interval_ns: 10_000,
                },
            ],
        )
        .unwrap()
    };
    let streams = [
        stream(0, 7, 2_000, 2, 1_000),
        stream(1, 0, 10_000, 1, 0),
        stream(2, 7, 0, 1, 0),
    ];
    Schedule::new(
        ClockId::Tai,
        LINK,
        list(1_000_000),
        admin_base.map(list),
        streams.to_vec(),
    )
    .unwrap()
}

#[test]
fn resuming_a_fresh_plan_of_the_same_schedule_at_every_frame_continues_it() {
    let s = Arc::new(two_class_schedule(Some(1_025_000)));
    let all: Vec<Planned> = Plan::new(s.clone(), Until::Cycles(6)).collect();
    for (i, last) in all.iter().enumerate() {
        let mut old = Plan::new(s.clone(), Until::Cycles(6));
        old.by_ref().take(i + 1).for_each(drop);
        let mut new = Plan::new(s.clone(), Until::Cycles(6));
        new.resume_after(last, old.sequences()).unwrap();
        assert_eq!(new.collect::<Vec<_>>(), all[i + 1..], "after frame {i}");
    }
}

#[test]
fn resume_before_the_schedule_starts_begins_at_its_first_frame() {
    let s = Arc::new(two_class_schedule(None));
    let last = Planned {
        stream: 1,
        seq: 41,
        cycle: 99,
        frame: 0,
        launch_ns: 500_000,
        window_end_ns: 0,
    };
    let mut p = Plan::new(s.clone(), Until::Cycles(1));
    p.resume_after(&last, &[7, 42, 3]).unwrap();
    let got: Vec<(usize, u64, u64)> = p.map(|p| (p.stream, p.seq, p.launch_ns)).collect();
    assert_eq!(
        got,
        vec![
            (2, 3, 1_000_000),
            (0, 7, 1_002_000),
            (0, 8, 1_003_000),
            (1, 42, 1_010_000)
        ]
    );
}

#[test]
fn resume_after_breaks_launch_time_ties_by_stream_then_frame() {
    // Streams 0 and 1 both launch at offset 1 us; stream 1's two frames
    // also tie with each other (spacing 0).
    let streams = [stream(0, 0, 1_000, 1, 0), stream(1, 0, 1_000, 2, 0)];
    let s = Arc::new(schedule(
        gcl(1_000_000, 100_000, 100_000, 0),
        None,
        &streams,
    ));
    let all: Vec<Planned> = Plan::new(s.clone(), Until::Cycles(2)).collect();
    assert_eq!(
        all.iter().map(key).collect::<Vec<_>>()[..3],
        [(1_001_000, 0, 0), (1_001_000, 1, 0), (1_001_000, 1, 1)]
    );
    let mut p = Plan::new(s, Until::Cycles(2));
    p.resume_after(&all[1], &[1, 1]).unwrap();
    assert_eq!(p.collect::<Vec<_>>(), all[2..]);
}

#[test]
fn resume_at_starts_with_the_first_frame_at_or_after_the_time() {
    let s = Arc::new(two_class_schedule(None));
    let mut p = Plan::new(s.clone(), Until::Cycles(3));
    // 1_022_000 is frame 0 of stream 0 in cycle 1: it is included.
    p.resume_at(1_022_000, &[10, 20, 30]).unwrap();
    let got: Vec<(usize, u64, u64, u64)> =
        p.map(|p| (p.stream, p.seq, p.cycle, p.launch_ns)).collect();
    assert_eq!(
        got,
        vec![
            (0, 10, 1, 1_022_000),
            (0, 11, 1, 1_023_000),
            (1, 20, 1, 1_030_000),
            (2, 30, 2, 1_040_000),
            (0, 12, 2, 1_042_000),
            (0, 13, 2, 1_043_000),
            (1, 21, 2, 1_050_000),
        ]
    );
}

#[test]
fn a_wrong_number_of_sequence_numbers_is_refused_and_changes_nothing() {
    let s = Arc::new(two_class_schedule(None));
    let first = Plan::new(s.clone(), Until::Cycles(1)).next().unwrap();
    let mut p = Plan::new(s.clone(), Until::Cycles(1));
    assert_eq!(
        p.resume_after(&first, &[1, 2]),
        Err(ResumeError::StreamCount { streams: 3, got: 2 })
    );
    assert_eq!(
        p.resume_at(0, &[1, 2, 3, 4]),
        Err(ResumeError::StreamCount { streams: 3, got: 4 })
    );
    assert_eq!(p.next(), Some(first));
}

#[test]
fn a_plan_can_be_built_on_one_thread_and_resumed_on_another() {
    let s = Arc::new(two_class_schedule(None));
    let built = std::thread::spawn(move || Plan::new(s, Until::Cycles(2)))
        .join()
        .unwrap();
    let mut p = built;
    p.resume_at(1_020_000, &[0, 0, 0]).unwrap();
    assert_eq!(p.next().map(|p| p.launch_ns), Some(1_020_000));
}

#[test]
fn resuming_allocates_nothing() {
    let old = Arc::new(two_class_schedule(None));
    let mut a = Plan::new(old, Until::Forever);
    let last = a.by_ref().take(7).last().unwrap();
    let next_seq = [a.sequence(0), a.sequence(1), a.sequence(2)];
    // The new schedule switches to a list 25 us after `last`, so the
    // resumed plan also crosses a truncated oper cycle and the switch.
    let new = Arc::new(two_class_schedule(Some(last.launch_ns + 25_000)));
    let mut b = Plan::new(new, Until::Forever);
    let (n, counts) = count_allocations(|| {
        b.resume_after(&last, &next_seq).unwrap();
        b.resume_at(last.launch_ns, &next_seq).unwrap();
        b.resume_after(&last, &next_seq).unwrap();
        b.by_ref().take(1_000).count()
    });
    assert_eq!(n, 1_000);
    assert_eq!((counts.allocs, counts.frees), (0, 0));
}

#[derive(Clone, Debug)]
struct Case {
    streams: Vec<Stream>,
    /// (cycle, open, extension) of the old and the new list.
    old: (u64, u64, u64),
    new: (u64, u64, u64),
    /// Frames the old plan hands out before the switch is decided.
    cut: usize,
    /// The new list starts this many old cycles after the one holding the
    /// last old frame, this far into that cycle (pushed a cycle on if that
    /// is not after the last frame).
    switch_cycles: u64,
    switch_offset_ns: u64,
}

const BASE: u64 = 1_000_000_000;
/// Every frame ends by then, so it fits any open time drawn below.
const SPAN_NS: u64 = 90_000;

fn list_params() -> impl Strategy<Value = (u64, u64, u64)> {
    (100_000u64..=1_000_000)
        .prop_flat_map(|cycle| {
            // No extension half the time, so that truncated cycles cut frames.
            let ext = prop_oneof![Just(0), 0..cycle / 2];
            (Just(cycle), SPAN_NS..=cycle, ext)
        })
        .prop_map(|(cycle, open, ext)| (cycle, open, ext))
}

fn case() -> impl Strategy<Value = Case> {
    // Offsets on a 1 us grid so that ties between streams happen.
    let one = (0u8..8, 0u64..60, 1u32..=4, 0u64..=9)
        .prop_map(|(class, off, frames, sp)| (class, off * 1_000, frames, sp * 1_000));
    (
        proptest::collection::vec(one, 1..=3),
        list_params(),
        list_params(),
        1usize..40,
        0u64..3,
        // Often among the frames, to cut some; anywhere in a cycle else.
        prop_oneof![0u64..SPAN_NS, 0u64..1_000_000],
    )
        .prop_map(|(s, old, new, cut, switch_cycles, off)| Case {
            streams: s
                .into_iter()
                .enumerate()
                .map(|(i, (class, off, frames, sp))| stream(i, class, off, frames, sp))
                .collect(),
            old,
            new,
            cut,
            switch_cycles,
            switch_offset_ns: off % old.0,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn switching_plans_loses_repeats_and_reorders_nothing(c in case()) {
        let n = c.streams.len();
        let (oc, oo, oe) = c.old;
        let oper = gcl(BASE, oc, oo, oe);
        let a_sched = Arc::new(schedule(oper.clone(), None, &c.streams));

        // The old plan, run up to `last`.
        let mut a = Plan::new(a_sched, Until::Forever);
        let head: Vec<Planned> = a.by_ref().take(c.cut).collect();
        let last = *head.last().unwrap();
        let next_seq = a.sequences().to_vec();
        prop_assert_eq!(next_seq.len(), n);

        // The new schedule: the list in force now, then the new one at t.
        let last_start = BASE + (last.launch_ns - BASE) / oc * oc;
        let mut t = last_start + c.switch_cycles * oc + c.switch_offset_ns;
        if t <= last.launch_ns {
            t += oc;
        }
        let (nc, no, ne) = c.new;
        let b_sched = Arc::new(schedule(oper, Some(gcl(t, nc, no, ne)), &c.streams));
        let sw = b_sched.switch().unwrap();
        let horizon = t + 3 * nc;

        let mut b = Plan::new(b_sched.clone(), Until::Forever);
        b.resume_after(&last, &next_seq).unwrap();
        let tail: Vec<Planned> = b.take_while(|p| p.launch_ns < horizon).collect();
        // The old plan's own continuation up to the switch.
        let a_cont: Vec<Planned> = a.take_while(|p| p.launch_ns < t).collect();

        // One strictly increasing (launch, stream, frame) sequence.
        let keys: Vec<_> = head.iter().chain(&tail).map(key).collect();
        prop_assert!(keys.windows(2).all(|w| w[0] < w[1]), "not increasing: {keys:?}");

        // Whole old cycles before the switch: exactly the old plan's frames.
        let whole = |p: &&Planned| p.launch_ns < sw.last_oper_start_ns;
        prop_assert_eq!(
            tail.iter().filter(whole).collect::<Vec<_>>(),
            a_cont.iter().filter(whole).collect::<Vec<_>>()
        );
        // The last old cycle, truncated or stretched at the switch: the old
        // plan's frames that still fit, and no other.
        for p in tail.iter().filter(|p| p.launch_ns < t && !whole(p)) {
            prop_assert!(a_cont.iter().any(|q| key(q) == key(p) && q.seq == p.seq));
        }
        for q in a_cont.iter().filter(|q| !whole(q)) {
            // Old cycles after the last one (its last entry was stretched
            // over them) are not run.
            let kept = q.cycle == sw.last_oper_cycle
                && b_sched.launch_time(q.stream, q.cycle, q.frame) == Some(q.launch_ns);
            prop_assert_eq!(kept, tail.iter().any(|p| key(p) == key(q)), "{:?}", q);
        }

        // Every frame at the new schedule's launch time; after the switch,
        // in the new list's cycles.
        for p in &tail {
            prop_assert_eq!(b_sched.launch_time(p.stream, p.cycle, p.frame), Some(p.launch_ns));
            prop_assert_eq!(
                b_sched.stream_window(p.stream, p.cycle).map(|w| w.end_ns),
                Some(p.window_end_ns)
            );
            if p.launch_ns >= t {
                prop_assert_eq!(b_sched.cycle(p.cycle).unwrap().which, Which::Admin);
            }
        }
        // Nothing after `last` is skipped: a plan of the new schedule from
        // its start, past `last`, is the same frames.
        let fresh: Vec<(u64, usize, u32, u64)> = Plan::new(b_sched.clone(), Until::Forever)
            .skip_while(|p| key(p) <= key(&last))
            .take_while(|p| p.launch_ns < horizon)
            .map(|p| (p.launch_ns, p.stream, p.frame, p.cycle))
            .collect();
        let resumed: Vec<(u64, usize, u32, u64)> =
            tail.iter().map(|p| (p.launch_ns, p.stream, p.frame, p.cycle)).collect();
        prop_assert_eq!(resumed, fresh);
        // And the new list does get to send.
        prop_assert!(tail.iter().any(|p| p.launch_ns >= t));

        // Sequence numbers run on per stream with no gap.
        for s in 0..n {
            let seqs: Vec<u64> = head.iter().chain(&tail).filter(|p| p.stream == s).map(|p| p.seq).collect();
            prop_assert!(seqs.iter().enumerate().all(|(i, &q)| q == i as u64), "stream {s}: {seqs:?}");
        }
    }
}
