use super::*;
use proptest::prelude::*;

const MS: u64 = 1_000_000;

/// Vector (or `algorithm`) recovery over `history_length`, a reset timeout
/// of 1 s, no latent test.
fn params(algorithm: RecoveryAlgorithm, history_length: u16) -> FrerParams {
    FrerParams {
        algorithm,
        history_length,
        reset_timeout_ns: 1_000 * MS,
        latent_error_detection: false,
        ..FrerParams::default()
    }
}

fn vector(history_length: u16) -> SequenceRecovery {
    SequenceRecovery::new(&params(RecoveryAlgorithm::Vector, history_length), 2)
}

/// Numbers `from`, `from + 1`, ... (`count` of them) modulo 2^16.
fn numbers(from: u16, count: u16) -> impl Iterator<Item = u16> + Clone {
    (0..count).map(move |i| from.wrapping_add(i))
}

#[test]
fn two_in_order_paths_pass_each_number_once_across_the_16_bit_wrap() {
    // 65530..65540: six numbers before the wrap, five after.
    let nums: Vec<u16> = numbers(65_530, 11).collect();
    assert_eq!((nums[5], nums[6]), (65_535, 0));
    // Path B ahead of path A by `skew` frames, or behind (negative).
    for skew in -3i32..=3 {
        let mut r = vector(32);
        let (mut a, mut b) = (0usize, 0usize);
        let mut verdicts = Vec::new();
        let mut t = 0;
        while a < nums.len() || b < nums.len() {
            t += MS;
            let b_turn = b < nums.len() && (a == nums.len() || (b as i32) < (a as i32) + skew);
            let n = if b_turn {
                b += 1;
                nums[b - 1]
            } else {
                a += 1;
                nums[a - 1]
            };
            verdicts.push((n, r.on_frame(Some(n), t)));
        }
        for &n in &nums {
            let v: Vec<Verdict> = verdicts
                .iter()
                .filter(|(m, _)| *m == n)
                .map(|&(_, v)| v)
                .collect();
            assert_eq!(
                v,
                [Verdict::Pass, Verdict::Discard],
                "number {n}, skew {skew}"
            );
        }
        let c = r.counters();
        assert_eq!((c.passed, c.discarded), (11, 11), "skew {skew}");
        // Each path in order: the first copy of every number is the next.
        assert_eq!((c.out_of_order, c.lost, c.rogue), (0, 0, 0), "skew {skew}");
    }
}

#[test]
fn out_of_order_counts_the_frame_ahead_of_a_gap_and_the_late_one() {
    let mut r = vector(32);
    // Path A loses 0 (after 65535) for a while; path B, 3 frames late,
    // fills it in.
    let arrivals = [
        (65_533, Verdict::Pass),
        (65_534, Verdict::Pass),
        (65_535, Verdict::Pass),
        (1, Verdict::Pass), // ahead of the gap at 0: out of order
        (65_533, Verdict::Discard),
        (2, Verdict::Pass),
        (65_534, Verdict::Discard),
        (65_535, Verdict::Discard),
        (0, Verdict::Pass), // late, from path B: out of order
        (1, Verdict::Discard),
        (2, Verdict::Discard),
    ];
    for (i, (n, want)) in arrivals.into_iter().enumerate() {
        assert_eq!(r.on_frame(Some(n), i as u64 * MS), want, "arrival {i}: {n}");
    }
    let c = r.counters();
    assert_eq!((c.passed, c.discarded, c.out_of_order), (6, 5, 2));
    assert_eq!(c.lost, 0, "0 arrived before it left the history");
}

#[test]
fn history_length_sets_how_far_behind_a_copy_is_still_eliminated() {
    for len in [4u16, 1024, 4096] {
        let mut r = vector(len);
        let first = 65_000u16; // the window crosses the wrap for 1024 and 4096
        let mut t = 0;
        let mut send = |r: &mut SequenceRecovery, n: u16| {
            t += 1;
            r.on_frame(Some(n), t)
        };
        for n in numbers(first, len) {
            assert_eq!(send(&mut r, n), Verdict::Pass);
        }
        let newest = first.wrapping_add(len - 1);
        let oldest_kept = newest.wrapping_sub(len - 1);
        assert_eq!(
            send(&mut r, oldest_kept),
            Verdict::Discard,
            "len {len}: {} behind",
            len - 1
        );
        assert_eq!(
            send(&mut r, oldest_kept.wrapping_sub(1)),
            Verdict::Rogue,
            "len {len}: {len} behind"
        );
        assert_eq!(
            send(&mut r, newest.wrapping_add(len)),
            Verdict::Rogue,
            "len {len}: {len} ahead"
        );
        // len - 1 ahead moves the window on; the numbers skipped stay
        // passable while inside it.
        let far = newest.wrapping_add(len - 1);
        assert_eq!(
            send(&mut r, far),
            Verdict::Pass,
            "len {len}: {} ahead",
            len - 1
        );
        if len > 2 {
            assert_eq!(
                send(&mut r, far.wrapping_sub(1)),
                Verdict::Pass,
                "len {len}: skipped number, late"
            );
        }
        let c = *r.counters();
        assert_eq!(c.rogue, 2, "len {len}");
        assert_eq!(c.discarded, 1, "len {len}");
        // Moving len - 1 on pushed len - 1 received numbers out: none lost.
        assert_eq!(c.lost, 0, "len {len}");
    }
}

#[test]
fn a_single_path_outage_is_counted_lost_once_it_leaves_the_history() {
    let mut r = SequenceRecovery::new(&params(RecoveryAlgorithm::Vector, 32), 1);
    let mut t = 0;
    for n in (0u16..=100).filter(|n| !(50..60).contains(n)) {
        t += MS;
        assert_eq!(r.on_frame(Some(n), t), Verdict::Pass);
        match n {
            // 50 is still in the window (n - 31 ..= n) up to 81.
            81 => assert_eq!(r.counters().lost, 0, "nothing has left the history yet"),
            91 => assert_eq!(r.counters().lost, 10, "50..60 have all left"),
            _ => {}
        }
    }
    let c = r.counters();
    assert_eq!((c.passed, c.lost, c.out_of_order), (91, 10, 1));
}

#[test]
fn a_rogue_frame_is_counted_and_changes_nothing() {
    let mut r = vector(32);
    for n in 100..110 {
        r.on_frame(Some(n), n as u64 * MS);
    }
    assert_eq!(r.on_frame(Some(30_000), 110 * MS), Verdict::Rogue);
    assert_eq!(r.on_frame(Some(109 - 40), 110 * MS), Verdict::Rogue);
    for n in 110..120 {
        assert_eq!(r.on_frame(Some(n), n as u64 * MS), Verdict::Pass, "{n}");
    }
    let c = r.counters();
    assert_eq!(c.rogue, 2);
    assert_eq!(
        (c.passed, c.discarded, c.out_of_order, c.lost),
        (20, 0, 0, 0)
    );
    assert_eq!(c.resets, 0);
}

#[test]
fn the_reset_timer_takes_any_number_after_a_silence() {
    let mut p = params(RecoveryAlgorithm::Vector, 32);
    p.reset_timeout_ns = 10 * MS;
    let mut r = SequenceRecovery::new(&p, 2);
    assert_eq!(r.on_frame(Some(5), 0), Verdict::Pass);
    // A rogue frame in the silence neither restarts the timer nor resets.
    assert_eq!(r.on_frame(Some(20_000), 5 * MS), Verdict::Rogue);
    r.tick(10 * MS - 1);
    assert_eq!(r.counters().resets, 0, "not yet");
    r.tick(10 * MS);
    assert_eq!(r.counters().resets, 1, "10 ms after the last frame passed");
    assert_eq!(
        r.on_frame(Some(20_000), 11 * MS),
        Verdict::Pass,
        "taken whatever its number"
    );
    assert_eq!(r.on_frame(Some(20_001), 12 * MS), Verdict::Pass);
    assert_eq!(r.counters().out_of_order, 0);
    // Silence counts one reset, not one per timeout.
    r.tick(100 * MS);
    r.tick(200 * MS);
    assert_eq!(r.counters().resets, 2);
    // on_frame runs the timer itself.
    assert_eq!(r.on_frame(Some(7), 201 * MS), Verdict::Pass);
    assert_eq!(r.on_frame(Some(60_000), 300 * MS), Verdict::Pass);
    assert_eq!(r.counters().resets, 3);
}

#[test]
fn duplicates_hold_off_the_reset_only_in_an_individual_recovery() {
    let mut p = params(RecoveryAlgorithm::Vector, 32);
    p.reset_timeout_ns = 10 * MS;
    p.individual_recovery = true;
    let mut individual = SequenceRecovery::new(&p, 1);
    let mut stream = SequenceRecovery::new(&p, 2);
    for r in [&mut individual, &mut stream] {
        assert_eq!(r.on_frame(Some(5), 0), Verdict::Pass);
        assert_eq!(r.on_frame(Some(5), 9 * MS), Verdict::Discard);
        r.tick(15 * MS);
    }
    assert_eq!(individual.counters().resets, 0);
    assert_eq!(stream.counters().resets, 1);
    individual.tick(19 * MS);
    assert_eq!(individual.counters().resets, 1);
}

#[test]
fn tagless_frames_are_counted_and_passed_only_with_take_no_sequence() {
    let mut p = params(RecoveryAlgorithm::Vector, 32);
    let mut strict = SequenceRecovery::new(&p, 2);
    p.take_no_sequence = true;
    let mut lenient = SequenceRecovery::new(&p, 2);
    assert_eq!(strict.on_frame(None, 0), Verdict::Tagless);
    assert_eq!(lenient.on_frame(None, 0), Verdict::Pass);
    for r in [&strict, &lenient] {
        let c = r.counters();
        assert_eq!((c.tagless, c.passed, c.discarded), (1, 0, 0));
    }
    // Tagless frames leave the sequence state alone: TakeAny still waits.
    assert_eq!(lenient.on_frame(Some(999), MS), Verdict::Pass);
}

/// Two paths carrying a frame each ms for `ms` ms; `b_alive(ms)`: path B
/// delivers its copy that ms; `b_lag`: B's copy is that many frames late.
fn latent_run(
    difference: u32,
    ms: u64,
    b_lag: u16,
    b_alive: impl Fn(u64) -> bool,
) -> SequenceRecovery {
    let p = FrerParams {
        latent_error_detection: true,
        latent_error_difference: difference,
        latent_error_period_ns: 10 * MS,
        latent_reset_period_ns: 100 * MS,
        ..params(RecoveryAlgorithm::Vector, 32)
    };
    let mut r = SequenceRecovery::new(&p, 2);
    r.tick(0);
    for i in 0..ms {
        let t = i * MS + 1;
        let n = i as u16;
        r.on_frame(Some(n), t);
        if b_alive(i) && i >= u64::from(b_lag) {
            r.on_frame(Some(n - b_lag), t + 1);
        }
    }
    r
}

#[test]
fn latent_error_when_one_path_is_silently_dead() {
    let healthy = latent_run(0, 250, 0, |_| true);
    assert_eq!(healthy.counters().latent_errors, 0);
    assert!(!healthy.latent_error());
    assert_eq!(
        healthy.counters().latent_error_resets,
        2,
        "bases taken at 100 and 200 ms"
    );
    assert_eq!(healthy.counters().discarded, 250);

    // B dies at 50 ms: every test from 60 ms on sees passes without
    // discards (the base reset at 100 and 200 ms does not hide it).
    let dead = latent_run(0, 250, 0, |ms| ms < 50);
    assert!(dead.counters().latent_errors >= 10, "{:?}", dead.counters());
    assert!(dead.latent_error());
    assert_eq!(dead.counters().passed, 250, "the stream itself still flows");

    // B comes back at 120 ms: the test after the 200 ms base is clean.
    let back = latent_run(0, 250, 0, |ms| !(50..120).contains(&ms));
    assert!(back.counters().latent_errors > 0);
    assert!(!back.latent_error());
}

#[test]
fn latent_error_difference_tolerates_a_path_lagging_by_that_much() {
    // B one frame behind A: at any test one discard is still to come.
    let strict = latent_run(0, 250, 1, |_| true);
    assert!(strict.counters().latent_errors > 0);
    let tolerant = latent_run(1, 250, 1, |_| true);
    assert_eq!(tolerant.counters().latent_errors, 0);
}

#[test]
fn no_latent_test_without_detection_or_on_one_path() {
    let p = FrerParams {
        latent_error_period_ns: 10 * MS,
        latent_reset_period_ns: 100 * MS,
        ..FrerParams::default()
    };
    let mut one_path = SequenceRecovery::new(&p, 1);
    let mut off = SequenceRecovery::new(
        &FrerParams {
            latent_error_detection: false,
            ..p
        },
        2,
    );
    for r in [&mut one_path, &mut off] {
        for i in 0..300u16 {
            r.on_frame(Some(i), u64::from(i) * MS);
        }
        let c = r.counters();
        assert_eq!((c.latent_errors, c.latent_error_resets), (0, 0));
    }
}

#[test]
fn match_eliminates_only_a_repeat_of_the_last_number() {
    let mut r = SequenceRecovery::new(&params(RecoveryAlgorithm::Match, 32), 2);
    let arrivals = [
        (65_535, Verdict::Pass), // TakeAny
        (65_535, Verdict::Discard),
        (0, Verdict::Pass), // across the wrap: the next number
        (0, Verdict::Discard),
        (1, Verdict::Pass),
        (2, Verdict::Pass),      // path A ahead of B
        (1, Verdict::Pass),      // B's late copy of 1: match cannot tell it passed
        (2, Verdict::Pass),      // and 2 again, since 1 became the last number
        (30_000, Verdict::Pass), // no window: any jump passes
    ];
    for (i, (n, want)) in arrivals.into_iter().enumerate() {
        assert_eq!(r.on_frame(Some(n), i as u64), want, "arrival {i}: {n}");
    }
    let c = r.counters();
    assert_eq!((c.passed, c.discarded), (7, 2));
    // 2 after 1 is the next number again, so it is in order.
    assert_eq!(c.out_of_order, 2, "1 after 2, 30000 after 2");
    assert_eq!((c.rogue, c.lost), (0, 0));
}

proptest! {
    /// Two copies of `count` numbers from `first`, each copy delayed on
    /// its path by less than the history length, arrive in time order:
    /// vector recovery passes every number once and drops one copy.
    #[test]
    fn vector_passes_each_number_once_for_any_delays_within_the_history(
        first in any::<u16>(),
        len in prop_oneof![1u16..=8, 9u16..=4096],
        delays in proptest::collection::vec((any::<u16>(), any::<u16>()), 1..600),
    ) {
        let mut r = vector(len);
        // (arrival key, offset, path); ties: lower number first.
        let mut arrivals: Vec<(u64, u64, u8)> = Vec::new();
        for (i, &(da, db)) in delays.iter().enumerate() {
            let i = i as u64;
            arrivals.push((i + u64::from(da % len), i, 0));
            arrivals.push((i + u64::from(db % len), i, 1));
        }
        arrivals.sort();
        let mut passes = vec![0u32; delays.len()];
        let mut discards = vec![0u32; delays.len()];
        for &(key, i, _) in &arrivals {
            let n = first.wrapping_add(i as u16);
            match r.on_frame(Some(n), key) {
                Verdict::Pass => passes[i as usize] += 1,
                Verdict::Discard => discards[i as usize] += 1,
                v => prop_assert!(false, "number {} got {:?}", i, v),
            }
        }
        prop_assert!(passes.iter().all(|&p| p == 1), "passes {:?}", passes);
        prop_assert!(discards.iter().all(|&d| d == 1), "discards {:?}", discards);
        let c = r.counters();
        prop_assert_eq!((c.rogue, c.lost, c.resets), (0, 0, 0));
    }

    /// Whatever arrives, whenever: no panic, and every frame is counted
    /// exactly once as passed, discarded, rogue or tagless.
    #[test]
    fn any_input_is_counted_and_never_panics(
        algorithm in prop_oneof![Just(RecoveryAlgorithm::Vector), Just(RecoveryAlgorithm::Match)],
        len in any::<u16>(),
        reset in any::<u64>(),
        latent in any::<(bool, u32, u64, u64)>(),
        paths in 0u32..5,
        frames in proptest::collection::vec((any::<Option<u16>>(), any::<u64>()), 0..300),
    ) {
        let p = FrerParams {
            algorithm,
            history_length: len,
            reset_timeout_ns: reset,
            latent_error_detection: latent.0,
            latent_error_difference: latent.1,
            latent_error_period_ns: latent.2,
            latent_reset_period_ns: latent.3,
            ..FrerParams::default()
        };
        let mut r = SequenceRecovery::new(&p, paths);
        let mut tagless = 0;
        for &(seq, t) in &frames {
            r.tick(t);
            r.on_frame(seq, t);
            tagless += u64::from(seq.is_none());
        }
        let c = r.counters();
        prop_assert_eq!(c.tagless, tagless);
        prop_assert_eq!(c.passed + c.discarded + c.rogue, frames.len() as u64 - tagless);
    }
}
