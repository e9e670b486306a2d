//! Sequence recovery allocates nothing per frame or tick: it runs on the
//! listener's data path for every replicated frame.

use takt_scheduler::redundancy::{FrerParams, RecoveryAlgorithm};
use takt_scheduler::rt::{count_allocations, CountingAllocator};
use takt_stack::frer::SequenceRecovery;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn the_counter_sees_allocations() {
    let (_, n) = count_allocations(|| drop(vec![1u8; 100]));
    assert_eq!((n.allocs, n.frees), (1, 1));
}

#[test]
fn frames_and_ticks_allocate_nothing() {
    for algorithm in [RecoveryAlgorithm::Vector, RecoveryAlgorithm::Match] {
        let p = FrerParams {
            algorithm,
            history_length: 4096,
            reset_timeout_ns: 5_000_000,
            latent_error_period_ns: 1_000_000,
            latent_reset_period_ns: 10_000_000,
            ..FrerParams::default()
        };
        let mut r = SequenceRecovery::new(&p, 2);
        let (_, n) = count_allocations(|| {
            let mut t = 0u64;
            // Two skewed paths across several wraps, rogue and tagless
            // frames, a silence that resets, latent tests and resets.
            for i in 0..200_000u32 {
                t += 10_000;
                let seq = i as u16;
                r.on_frame(Some(seq), t);
                r.on_frame(Some(seq.wrapping_sub(7)), t + 1);
                if i % 1000 == 0 {
                    r.on_frame(Some(seq.wrapping_add(30_000)), t + 2);
                    r.on_frame(None, t + 3);
                    r.tick(t + 4);
                }
                if i % 50_000 == 0 {
                    t += 10_000_000;
                    r.tick(t);
                }
            }
        });
        assert_eq!((n.allocs, n.frees), (0, 0), "{algorithm:?}");
        let c = r.counters();
        // The loop did reach the paths that could allocate, if any did.
        assert!(c.resets >= 3 && c.latent_error_resets > 0, "{c:?}");
        if algorithm == RecoveryAlgorithm::Vector {
            assert!(c.rogue > 0 && c.discarded > 0, "{c:?}");
        }
    }
}
