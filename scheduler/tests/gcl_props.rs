//! Property tests: every gcl.rs answer against a brute-force reference that
//! lays the timeline out segment by segment, cycle by cycle, following the
//! rules as written (taprio truncation, last entry held to the cycle end,
//! 802.1Qbv switch at the first cycle whose end + extension reaches the
//! admin base time).

use proptest::prelude::*;
use takt_scheduler::gcl::first_cycle_start;
use takt_scheduler::schedule::{MAX_BASE_TIME_NS, MAX_CYCLE_TIME_NS};
use takt_scheduler::{ClockId, GateControlList, GateEntry, LinkConfig, Schedule, Stream, Which};

#[derive(Clone, Debug)]
struct ListParams {
    entries: Vec<(u8, u64)>,
    cycle: Option<u64>,
    ext: u64,
    base: u64,
}

impl ListParams {
    fn gcl(&self) -> GateControlList {
        let entries = self
            .entries
            .iter()
            .map(|&(gate_mask, interval_ns)| GateEntry {
                gate_mask,
                interval_ns,
            })
            .collect();
        GateControlList::new(self.base, self.cycle, self.ext, entries)
            .expect("generated list is valid")
    }
    fn cycle_len(&self) -> u64 {
        self.cycle.unwrap_or(self.entries.iter().map(|e| e.1).sum())
    }
}

/// Valid lists: 1..6 entries, short intervals, cycle either the sum, a
/// truncation, or a stretch covered by the extension.
fn list(base: impl Strategy<Value = u64>) -> impl Strategy<Value = ListParams> {
    (
        prop::collection::vec((any::<u8>(), 1u64..400), 1..6),
        0u8..3,
        any::<prop::sample::Index>(),
        base,
    )
        .prop_map(|(entries, kind, pick, base)| {
            let sum: u64 = entries.iter().map(|e| e.1).sum();
            let (cycle, ext) = match kind {
                0 => (None, pick.index(sum as usize) as u64 / 2),
                1 => {
                    let c = 1 + pick.index(sum as usize) as u64;
                    (Some(c), pick.index(c as usize) as u64 / 2)
                }
                _ => {
                    let extra = 1 + pick.index(sum as usize) as u64;
                    let cycle = sum + extra;
                    (
                        Some(cycle),
                        extra + pick.index((cycle - extra) as usize) as u64 / 2,
                    )
                }
            };
            ListParams {
                entries,
                cycle,
                ext,
                base,
            }
        })
        .prop_filter("extension < cycle", |p| p.ext < p.cycle_len())
}

fn link() -> LinkConfig {
    // 1 Tbps: a 64-byte frame occupies ~1 ns, so streams fit in the short
    // windows the generator makes.
    LinkConfig {
        speed_bps: 1_000_000_000_000,
        tc_to_pcp: LinkConfig::IDENTITY_TC_TO_PCP,
    }
}

#[derive(Clone, Copy, Debug)]
struct Seg {
    start: u64,
    end: u64,
    mask: u8,
    cycle: usize,
}

/// The timeline as explicit segments up to `horizon`, plus cycle bounds.
fn reference(
    oper: &ListParams,
    admin: Option<&ListParams>,
    horizon: u64,
) -> (Vec<Seg>, Vec<(u64, u64, Which)>) {
    let mut segs = Vec::new();
    let mut cycles = Vec::new();
    let mut start = oper.base;
    let mut which = Which::Oper;
    while start < horizon {
        let p = if which == Which::Oper {
            oper
        } else {
            admin.unwrap()
        };
        let cycle = p.cycle_len();
        let last =
            which == Which::Oper && admin.is_some_and(|a| start + cycle + oper.ext >= a.base);
        let end = if last {
            admin.unwrap().base
        } else {
            start + cycle
        };
        let list_limit = (start + cycle).min(end);
        let mut s = start;
        for &(mask, interval) in &p.entries {
            if s >= list_limit {
                break;
            }
            let e = (s + interval).min(list_limit);
            segs.push(Seg {
                start: s,
                end: e,
                mask,
                cycle: cycles.len(),
            });
            s = e;
        }
        segs.last_mut().unwrap().end = end; // last entry held to the cycle end
        cycles.push((start, end, which));
        start = end;
        if last {
            which = Which::Admin;
        }
    }
    (segs, cycles)
}

fn ref_mask(segs: &[Seg], t: u64) -> u8 {
    segs.iter()
        .find(|s| s.start <= t && t < s.end)
        .map_or(0, |s| s.mask)
}

fn ref_next_open(segs: &[Seg], class: u8, t: u64) -> Option<u64> {
    segs.iter()
        .find(|s| s.end > t && s.mask & (1 << class) != 0)
        .map(|s| s.start.max(t))
}

fn ref_next_close(segs: &[Seg], class: u8, t: u64) -> Option<u64> {
    if ref_mask(segs, t) & (1 << class) == 0 {
        return Some(t);
    }
    segs.iter()
        .find(|s| s.end > t && s.mask & (1 << class) == 0)
        .map(|s| s.start.max(t))
}

/// Frames of `stream` in reference cycle k: launch times whose whole wire
/// time lies in open gate of the class, inside the cycle, in the run that
/// holds the stream's offset.
fn ref_launches(segs: &[Seg], k: usize, cycle: (u64, u64), s: &Stream, wire: u64) -> Vec<u64> {
    let open: Vec<&Seg> = segs
        .iter()
        .filter(|g| g.cycle == k && g.mask & (1 << s.traffic_class) != 0)
        .collect();
    let first = cycle.0 + s.offset_ns;
    // the run of open segments (inside this cycle) holding the offset
    let Some(i) = open.iter().position(|g| g.start <= first && first < g.end) else {
        return vec![];
    };
    let mut run_end = open[i].end;
    for g in &open[i + 1..] {
        if g.start == run_end {
            run_end = g.end;
        }
    }
    let run_end = run_end.min(cycle.1);
    (0..s.frames_per_cycle as u64)
        .map(|f| first + f * s.spacing_ns)
        .filter(|&l| l + wire <= run_end)
        .collect()
}

/// A stream for each class that has a window in the oper list, placed at
/// the window start, kept if the whole schedule still validates.
fn with_streams(oper: GateControlList, admin: Option<GateControlList>, frames: u32) -> Schedule {
    let mut streams: Vec<Stream> = Vec::new();
    for class in 0..8u8 {
        let Some(w) = oper.class_windows(class).first() else {
            continue;
        };
        let candidate = Stream {
            name: format!("s{class}"),
            traffic_class: class,
            vlan_id: 100,
            pcp: class,
            dst_mac: [1, 0x1b, 0x19, 0, 0, class],
            frame_size: 64,
            offset_ns: w.start_ns + u64::from(class) * 2,
            frames_per_cycle: frames,
            spacing_ns: 2,
        };
        let mut trial = streams.clone();
        trial.push(candidate);
        if Schedule::new(
            ClockId::Tai,
            link(),
            oper.clone(),
            admin.clone(),
            trial.clone(),
        )
        .is_ok()
        {
            streams = trial;
        }
    }
    Schedule::new(ClockId::Tai, link(), oper, admin, streams).expect("streams kept are valid")
}

fn pair() -> impl Strategy<Value = (ListParams, Option<ListParams>)> {
    // Gaps land on the edges of the switch rule often: whole cycles, and
    // whole cycles plus the extension (and one ns either side).
    (
        list(0u64..1_000_000),
        prop::option::of(list(Just(0))),
        1u64..20_000,
        0u8..4,
        0u64..30,
    )
        .prop_map(|(oper, admin, gap, edge, cycles)| {
            let c = oper.cycle_len();
            let gap = match edge {
                0 => gap,
                1 => (cycles + 1) * c,
                2 => (cycles + 1) * c + oper.ext,
                _ => ((cycles + 1) * c + oper.ext + 1).max(2) - 1 + (gap % 3),
            };
            let admin = admin.map(|mut a| {
                a.base = oper.base + gap.max(1);
                a
            });
            (oper, admin)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn gate_queries_match_reference((oper, admin) in pair(), probes in prop::collection::vec((0u64..30_000, 0u8..8), 40)) {
        let sched = Schedule::new(ClockId::Tai, link(), oper.gcl(), admin.as_ref().map(|a| a.gcl()), vec![]).unwrap();
        let admin_cycle = admin.as_ref().map_or(0, |a| a.cycle_len());
        let start = oper.base.saturating_sub(1_000);
        let probe_end = admin.as_ref().map_or(oper.base, |a| a.base) + 10_000;
        let horizon = probe_end + 4 * oper.cycle_len().max(admin_cycle) + 1;
        let (segs, _) = reference(&oper, admin.as_ref(), horizon);
        for (d, class) in probes {
            let t = start + d % (probe_end - start);
            prop_assert_eq!(sched.gate_mask_at(t), ref_mask(&segs, t), "mask at {}", t);
            prop_assert_eq!(sched.next_open(class, t), ref_next_open(&segs, class, t), "next_open({}, {})", class, t);
            prop_assert_eq!(sched.next_close(class, t), ref_next_close(&segs, class, t), "next_close({}, {})", class, t);
            let expect = if t < oper.base { None } else if admin.as_ref().is_some_and(|a| t >= a.base) { Some(Which::Admin) } else { Some(Which::Oper) };
            prop_assert_eq!(sched.in_force(t), expect);
        }
    }

    #[test]
    fn cycles_match_reference((oper, admin) in pair()) {
        let sched = Schedule::new(ClockId::Tai, link(), oper.gcl(), admin.as_ref().map(|a| a.gcl()), vec![]).unwrap();
        let horizon = admin.as_ref().map_or(oper.base, |a| a.base) + 5 * oper.cycle_len().max(admin.as_ref().map_or(0, |a| a.cycle_len()));
        let (_, cycles) = reference(&oper, admin.as_ref(), horizon);
        for (k, &(start, end, which)) in cycles.iter().enumerate() {
            let c = sched.cycle(k as u64).unwrap();
            prop_assert_eq!((c.start_ns, c.end_ns, c.which), (start, end, which), "cycle {}", k);
            prop_assert_eq!(sched.cycle_at(start), Some(c));
            prop_assert_eq!(sched.cycle_at(end - 1), Some(c));
        }
        prop_assert_eq!(sched.cycle_at(oper.base.wrapping_sub(1)).filter(|_| oper.base > 0), None);
    }

    #[test]
    fn stream_windows_and_launches_match_reference((oper, admin) in pair(), frames in 1u32..4) {
        let sched = with_streams(oper.gcl(), admin.as_ref().map(|a| a.gcl()), frames);
        let horizon = admin.as_ref().map_or(oper.base, |a| a.base) + 5 * oper.cycle_len().max(admin.as_ref().map_or(0, |a| a.cycle_len()));
        let (segs, cycles) = reference(&oper, admin.as_ref(), horizon);
        for (i, s) in sched.streams().iter().enumerate() {
            let wire = sched.link().wire_time_ns(s.frame_size);
            for (k, &(start, end, _)) in cycles.iter().enumerate() {
                let want = ref_launches(&segs, k, (start, end), s, wire);
                let got: Vec<u64> = (0..s.frames_per_cycle + 1).filter_map(|f| sched.launch_time(i, k as u64, f)).collect();
                prop_assert_eq!(&got, &want, "stream {} cycle {}", &s.name, k);
                match sched.stream_window(i, k as u64) {
                    Some(w) => {
                        for l in &got {
                            prop_assert!(w.start_ns <= *l && l + wire <= w.end_ns);
                            prop_assert!(sched.is_open(s.traffic_class, *l));
                            prop_assert!(sched.next_close(s.traffic_class, *l).is_none_or(|c| c >= l + wire));
                        }
                    }
                    None => prop_assert!(got.is_empty()),
                }
            }
        }
    }

    #[test]
    fn first_cycle_start_is_taprio_rule(base in 0..=MAX_BASE_TIME_NS, now in any::<u64>(), cycle in 1..=MAX_CYCLE_TIME_NS) {
        let gcl = GateControlList::new(base, Some(cycle), 0, vec![GateEntry { gate_mask: 1, interval_ns: cycle }]).unwrap();
        let want: u128 = if base > now {
            base as u128
        } else {
            base as u128 + ((now as u128 - base as u128) / cycle as u128 + 1) * cycle as u128
        };
        let got = first_cycle_start(&gcl, now);
        prop_assert_eq!(got as u128, want.min(u64::MAX as u128));
        if want <= u64::MAX as u128 {
            prop_assert!(got > now || base > now);
            prop_assert_eq!((got - base) % cycle, 0);
        }
    }

    /// Base times far in the past: the answer at t depends only on where t
    /// falls in its cycle, however many cycles ago the base was.
    #[test]
    fn far_past_base_is_periodic(oper in list(0u64..1_000), cycles_ago in 1u64..1_000_000_000_000, off in 0u64..100_000, class in 0u8..8) {
        let far = oper.base + cycles_ago.saturating_mul(oper.cycle_len());
        prop_assume!(far < u64::MAX / 2);
        let sched = Schedule::new(ClockId::Tai, link(), oper.gcl(), None, vec![]).unwrap();
        let near = oper.base + off;
        let t = far + off;
        let shift = far - oper.base;
        prop_assert_eq!(sched.gate_mask_at(t), sched.gate_mask_at(near));
        prop_assert_eq!(sched.next_open(class, t), sched.next_open(class, near).map(|x| x + shift));
        prop_assert_eq!(sched.next_close(class, t), sched.next_close(class, near).map(|x| x + shift));
        let k = sched.cycle_at(t).unwrap().index;
        prop_assert_eq!(k, cycles_ago + off / oper.cycle_len());
        // started_at(now) moves the base forward by whole cycles only
        let moved = sched.started_at(t);
        let nb = moved.oper().base_time_ns();
        prop_assert!(nb > t && nb - t <= oper.cycle_len());
        prop_assert_eq!((nb - oper.base) % oper.cycle_len(), 0);
        prop_assert_eq!(moved.gate_mask_at(nb + off), sched.gate_mask_at(near));
    }
}

#[test]
fn switch_extends_or_truncates_last_oper_cycle() {
    // oper: 100 ns cycle, class 0 for 60 then class 1 for 40; extension 30.
    let oper = |base| {
        GateControlList::new(
            base,
            None,
            30,
            vec![
                GateEntry {
                    gate_mask: 1,
                    interval_ns: 60,
                },
                GateEntry {
                    gate_mask: 2,
                    interval_ns: 40,
                },
            ],
        )
        .unwrap()
    };
    let admin = |base| {
        GateControlList::new(
            base,
            None,
            0,
            vec![GateEntry {
                gate_mask: 4,
                interval_ns: 50,
            }],
        )
        .unwrap()
    };
    // admin at 1020: cycle 9 (900..1000) + 30 reaches it, so cycle 9 is
    // extended to 1020 with class 1 held open, no 20 ns stub cycle.
    let s = Schedule::new(ClockId::Tai, link(), oper(0), Some(admin(1020)), vec![]).unwrap();
    let sw = s.switch().unwrap();
    assert_eq!((sw.last_oper_cycle, sw.last_oper_start_ns), (9, 900));
    assert_eq!(s.gate_mask_at(1010), 2);
    assert_eq!(s.next_close(1, 970), Some(1020));
    assert_eq!(s.gate_mask_at(1020), 4);
    // admin at 1050: beyond the extension, so cycle 10 runs and is cut at 1050.
    let s = Schedule::new(ClockId::Tai, link(), oper(0), Some(admin(1050)), vec![]).unwrap();
    let sw = s.switch().unwrap();
    assert_eq!((sw.last_oper_cycle, sw.last_oper_start_ns), (10, 1000));
    assert_eq!(s.cycle(10).unwrap().end_ns, 1050);
    assert_eq!(s.gate_mask_at(1049), 1);
    assert_eq!(s.next_close(0, 1000), Some(1050));
    assert_eq!(s.next_open(2, 0), Some(1050));
    assert_eq!(s.cycle(11).unwrap().start_ns, 1050);
}

#[test]
fn before_base_all_gates_closed() {
    let g = GateControlList::new(
        500,
        None,
        0,
        vec![GateEntry {
            gate_mask: 0xff,
            interval_ns: 100,
        }],
    )
    .unwrap();
    let s = Schedule::new(ClockId::Tai, link(), g, None, vec![]).unwrap();
    assert_eq!(s.gate_mask_at(499), 0);
    assert_eq!(s.in_force(499), None);
    assert_eq!(s.next_open(3, 0), Some(500));
    assert_eq!(s.next_close(3, 0), Some(0));
    assert_eq!(s.next_close(3, 500), None, "always open: never closes");
    assert_eq!(s.cycle_at(499), None);
}
