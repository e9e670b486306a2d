//! The best-effort gate against the example schedules: a released frame
//! spends its whole time on the wire (preamble to end of IFG) inside an
//! open best-effort window, never in a time-critical one, and a frame too
//! long for the rest of a window waits for the next.

use proptest::prelude::*;
use std::path::Path;
use takt_scheduler::{config, ClockId, GateControlList, GateEntry, LinkConfig, Schedule};
use takt_stack::control::gate::{default_class, BestEffortGate};

fn example(name: &str) -> Schedule {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/examples")
        .join(name);
    config::load_file(&path).unwrap().schedule
}

const EXAMPLES: [&str; 3] = [
    "two-class-250us.toml",
    "single-stream-1ms.toml",
    "admin-oper-switch.toml",
];

/// Whether `class` is open at every ns of [t, t + d), checked at every
/// 50 ns and at the last ns (gate entries in the examples are whole
/// microseconds, so nothing shorter can hide between the samples).
fn open_throughout(s: &Schedule, class: u8, t: u64, d: u64) -> bool {
    (t..t + d)
        .step_by(50)
        .chain([t + d - 1])
        .all(|x| s.is_open(class, x) && s.gate_mask_at(x) != 0x80)
}

#[test]
fn default_class_is_the_lowest_that_opens() {
    for name in EXAMPLES {
        assert_eq!(default_class(&example(name)), Some(0), "{name}");
    }
    let s = example("two-class-250us.toml");
    assert!(BestEffortGate::new(&s, Some(4)).is_none(), "4 never opens");
    assert!(BestEffortGate::new(&s, Some(9)).is_none(), "no class 9");
    assert_eq!(BestEffortGate::new(&s, Some(3)).unwrap().class(), 3);
}

#[test]
fn two_class_windows_by_hand() {
    // Best effort: 80..237.5 us of every 250 us cycle.
    let s = example("two-class-250us.toml");
    let g = BestEffortGate::new(&s, None).unwrap();
    let big = 1514; // (1514 + 4 + 8 + 12) * 8 bit at 1 Gbps = 12.304 us
    assert_eq!(g.wire_time_ns(&s, big), 12_304);
    assert_eq!(
        g.wire_time_ns(&s, 10),
        g.wire_time_ns(&s, 60),
        "padded to 64"
    );
    let c = 250_000 * 40;
    assert!(!g.may_release(&s, c + 10_000, 60), "class 7 window");
    assert!(!g.may_release(&s, c + 50_000, 60), "class 5 window");
    assert!(!g.may_release(&s, c + 240_000, 60), "guard band");
    assert!(g.may_release(&s, c + 80_000, big));
    assert!(
        g.may_release(&s, c + 237_500 - 12_304, big),
        "ends at the close"
    );
    assert!(
        !g.may_release(&s, c + 237_500 - 12_303, big),
        "1 ns too long"
    );
    assert!(
        g.may_release(&s, c + 237_500 - 12_303, 60),
        "a short one fits"
    );
    assert_eq!(
        g.next_release(&s, c + 237_500 - 12_303, big),
        Some(c + 330_000)
    );
    assert_eq!(g.next_release(&s, c + 10_000, 60), Some(c + 80_000));
    assert_eq!(g.next_release(&s, c + 100_000, 60), Some(c + 100_000));
}

#[test]
fn a_frame_longer_than_every_window_is_never_released() {
    // Best effort open 5 us of every 100 us: a 60-byte buffer (672 ns)
    // fits, a 1514-byte one (12.304 us) never does.
    let gcl = GateControlList::new(
        0,
        None,
        0,
        vec![
            GateEntry {
                gate_mask: 0x80,
                interval_ns: 95_000,
            },
            GateEntry {
                gate_mask: 0x01,
                interval_ns: 5_000,
            },
        ],
    )
    .unwrap();
    let link = LinkConfig {
        speed_bps: 1_000_000_000,
        tc_to_pcp: LinkConfig::IDENTITY_TC_TO_PCP,
    };
    let s = Schedule::new(ClockId::Tai, link, gcl, None, vec![]).unwrap();
    let g = BestEffortGate::new(&s, None).unwrap();
    assert_eq!(g.next_release(&s, 0, 60), Some(95_000));
    assert_eq!(g.next_release(&s, 100_000 - 671, 60), Some(195_000));
    assert_eq!(g.next_release(&s, 0, 1514), None);
    assert!(!g.may_release(&s, 95_000, 1514));
}

fn times(name: &str) -> std::ops::Range<u64> {
    match name {
        // Both sides of the oper -> admin switch at 10.0001 s.
        "admin-oper-switch.toml" => 10_000_100_000 - 2_000_000..10_000_100_000 + 2_000_000,
        _ => 0..5_000_000,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn released_frames_stay_inside_best_effort(
        which in 0..EXAMPLES.len(),
        frac in 0.0f64..1.0,
        len in 0usize..=1514,
    ) {
        let name = EXAMPLES[which];
        let s = example(name);
        let g = BestEffortGate::new(&s, None).unwrap();
        let r = times(name);
        let t = r.start + ((r.end - r.start) as f64 * frac) as u64;
        if g.may_release(&s, t, len) {
            prop_assert!(open_throughout(&s, g.class(), t, g.wire_time_ns(&s, len)), "{name} t={t}");
        }
        let next = g.next_release(&s, t, len).unwrap();
        prop_assert!(next >= t);
        prop_assert!(g.may_release(&s, next, len), "{name} t={t} next={next}");
        prop_assert!(open_throughout(&s, g.class(), next, g.wire_time_ns(&s, len)));
        // Nothing earlier would have done (sampled every 500 ns).
        for x in (t..next).step_by(500) {
            prop_assert!(!g.may_release(&s, x, len), "{name} {x} is earlier than {next}");
        }
    }
}
