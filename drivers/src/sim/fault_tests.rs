//! The wire's faults: seeded loss, delay and jitter in FIFO order,
//! outages on the departure time, and where each dropped frame is counted.

use super::*;
use crate::TxFrame;

const T0: u64 = 1_000_000;

fn cfg(clock: &VirtualClock, faults: LinkFaults) -> SimConfig {
    SimConfig {
        clock: SimClock::Virtual(clock.clone()),
        pool_size: 256,
        buf_size: 256,
        wire_capacity: 256,
        faults,
        ..SimConfig::default()
    }
}

fn lossy(ppm: u32, seed: u64) -> LinkFaults {
    LinkFaults {
        loss_ppm: ppm,
        seed,
        ..LinkFaults::default()
    }
}

/// Frames numbered `first..first + n` (the number in the payload), 60
/// bytes, launched at `launch(i)`, stamp tag = number when `tagged`.
fn send_numbered(
    port: &mut SimPort,
    first: u32,
    n: u32,
    launch: impl Fn(u32) -> Option<u64>,
    tagged: bool,
) -> usize {
    let mut batch = TxBatch::new();
    for i in first..first + n {
        let buf = port.alloc().unwrap();
        port.buf_mut(&buf)[..4].copy_from_slice(&i.to_le_bytes());
        batch
            .push_back(TxFrame {
                buf,
                len: 60,
                launch_time_ns: launch(i),
                stamp_tag: tagged.then_some(i),
            })
            .unwrap();
    }
    let sent = port.tx_burst(&mut batch);
    assert!(batch.is_empty(), "the wire took or dropped every frame");
    sent
}

/// (number, arrival) of every frame that arrived by now.
fn recv_numbered(port: &mut SimPort) -> Vec<(u32, u64)> {
    let mut v = Vec::new();
    loop {
        let mut out = RxBatch::new();
        if port.rx_burst(&mut out) == 0 {
            return v;
        }
        while let Some(f) = out.pop_front() {
            let n = u32::from_le_bytes(port.buf(&f.buf)[..4].try_into().unwrap());
            v.push((n, f.rx_time_ns));
            port.free(f.buf);
        }
    }
}

/// Numbers of the frames lost out of `n` sent at once, in bursts.
fn lost_numbers(ppm: u32, seed: u64, n: u32) -> (Vec<u32>, SimPort, SimLink) {
    let clock = VirtualClock::new(T0);
    let (mut a, mut b, link) = pair(cfg(&clock, lossy(ppm, seed)));
    let mut got = Vec::with_capacity(n as usize);
    let burst = MAX_BURST as u32;
    for first in (0..n).step_by(MAX_BURST) {
        send_numbered(&mut a, first, burst.min(n - first), |_| None, false);
        clock.advance(1_000_000);
        got.extend(recv_numbered(&mut b).into_iter().map(|(i, _)| i));
    }
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicates"
    );
    let mut lost = Vec::new();
    let mut it = got.iter().peekable();
    for i in 0..n {
        if it.peek() == Some(&&i) {
            it.next();
        } else {
            lost.push(i);
        }
    }
    (lost, a, link)
}

#[test]
fn the_same_seed_loses_the_same_frames_at_about_the_set_rate() {
    const N: u32 = 100_000;
    let (lost, a, link) = lost_numbers(50_000, 7, N);
    // 5% of 100,000: mean 5000, sd sqrt(N p (1-p)) = 69; 6 sd either way.
    assert!(
        (5_000 - 414..=5_000 + 414).contains(&lost.len()),
        "{}",
        lost.len()
    );
    let stats = link.stats();
    assert_eq!(stats.a_to_b.lost_random, lost.len() as u64, "{stats:?}");
    assert_eq!(stats.b_to_a, LaneStats::default());
    let c = a.counters();
    // Lost on the wire, after the sender: it counts them sent.
    assert_eq!((c.tx_frames, c.tx_drops, c.link_down), (u64::from(N), 0, 0));

    let (again, ..) = lost_numbers(50_000, 7, N);
    assert_eq!(lost, again, "same seed, same frames lost");
    let (other, ..) = lost_numbers(50_000, 8, N);
    assert_ne!(lost, other, "another seed, other frames");
    assert!((5_000 - 414..=5_000 + 414).contains(&other.len()));
}

#[test]
fn no_loss_and_full_loss_are_exact() {
    assert!(lost_numbers(0, 1, 5_000).0.is_empty());
    assert_eq!(lost_numbers(1_000_000, 1, 5_000).0.len(), 5_000);
}

#[test]
fn delay_and_jitter_stay_in_bounds_and_in_order() {
    // 1 Gbps: a 60-byte buffer is 576 ns on the wire.
    let (delay, jitter) = (10_000, 5_000);
    let clock = VirtualClock::new(T0);
    let faults = LinkFaults {
        delay_ns: delay,
        jitter_ns: jitter,
        seed: 3,
        ..LinkFaults::default()
    };
    let (mut a, mut b, link) = pair(cfg(&clock, faults));
    // One frame per microsecond: closer than the jitter, so some frames
    // wait behind an earlier, later-arriving one.
    let launch = |i: u32| T0 + 1_000 + u64::from(i) * 1_000;
    let mut got = Vec::new();
    for first in (0..2_000).step_by(MAX_BURST) {
        send_numbered(&mut a, first, MAX_BURST as u32, |i| Some(launch(i)), false);
        // Up to the next burst's first launch, so it is not in the past.
        clock.set(launch(first + MAX_BURST as u32) - 1);
        got.extend(recv_numbered(&mut b));
    }
    clock.advance(1_000_000);
    got.extend(recv_numbered(&mut b));
    assert_eq!(got.len(), 2_048);
    let (mut lo, mut hi, mut held) = (u64::MAX, 0, 0);
    for (k, &(i, arrival)) in got.iter().enumerate() {
        assert_eq!(i, k as u32, "FIFO: nothing overtakes");
        let took = arrival - launch(i) - 576;
        assert!(
            (delay..=delay + jitter).contains(&took),
            "frame {i}: {took}"
        );
        if k > 0 {
            assert!(
                arrival >= got[k - 1].1,
                "frame {i} arrived before {}",
                i - 1
            );
            held += u32::from(arrival == got[k - 1].1);
        }
        (lo, hi) = (lo.min(took), hi.max(took));
    }
    assert!(
        hi - lo > jitter * 9 / 10,
        "jitter drawn over its range: {lo}..{hi}"
    );
    assert!(held > 0, "some frames waited behind an earlier one");
    assert_eq!(link.stats().a_to_b.delayed, 2_048);
}

#[test]
fn an_outage_drops_exactly_the_frames_departing_in_it() {
    let clock = VirtualClock::new(T0);
    // Offsets from T0, end excluded: frames at 10..20 us and 50..60 us.
    let faults = parse_spec("down=10us+10us,down=50us+10us,seed=1")
        .unwrap()
        .shifted(T0);
    let (mut a, mut b, link) = pair(cfg(&clock, faults));
    let launch = |i: u32| T0 + u64::from(i) * 1_000;
    for first in [0, 50] {
        send_numbered(&mut a, first, 50, |i| Some(launch(i)), true);
    }
    clock.advance(1_000_000);
    let got: Vec<u32> = recv_numbered(&mut b).into_iter().map(|(i, _)| i).collect();
    let want: Vec<u32> = (0..100)
        .filter(|i| !(10..20).contains(i) && !(50..60).contains(i))
        .collect();
    assert_eq!(got, want);
    let c = a.counters();
    assert_eq!(
        (c.tx_frames, c.tx_drops, c.link_down, c.tx_stamps_lost),
        (80, 20, 2, 20),
        "{c:?}"
    );
    assert_eq!(link.stats().a_to_b.dropped_outage, 20);
    let mut stamps = TxStampBatch::new();
    let mut tags = Vec::new();
    while a.tx_stamps(&mut stamps) > 0 {
        tags.extend(stamps.iter().map(|s| s.tag));
        stamps.clear();
    }
    assert_eq!(tags, want, "a stamp for every frame that left, none else");
    assert_eq!(a.outstanding(), 0);
}

#[test]
fn an_outage_with_no_frame_in_it_still_counts_once_when_passed() {
    let clock = VirtualClock::new(T0);
    let faults = LinkFaults {
        outages: vec![(T0 + 10_000, T0 + 20_000), (T0 + 15_000, T0 + 30_000)],
        ..LinkFaults::default()
    };
    let (mut a, _b, _) = pair(cfg(&clock, faults));
    send_numbered(&mut a, 0, 1, |_| Some(T0 + 40_000), false);
    send_numbered(&mut a, 1, 1, |_| Some(T0 + 50_000), false);
    let c = a.counters();
    assert_eq!(
        (c.tx_frames, c.tx_drops, c.link_down),
        (2, 0, 1),
        "merged: one outage"
    );
}

#[test]
fn a_randomly_lost_frame_still_gets_its_stamp() {
    let clock = VirtualClock::new(T0);
    let (mut a, mut b, link) = pair(cfg(&clock, lossy(1_000_000, 1)));
    assert_eq!(send_numbered(&mut a, 0, 3, |_| None, true), 3);
    clock.advance(1_000_000);
    assert!(recv_numbered(&mut b).is_empty());
    let mut stamps = TxStampBatch::new();
    assert_eq!(a.tx_stamps(&mut stamps), 3, "it left the sender");
    assert_eq!(a.counters().tx_stamps_lost, 0);
    assert_eq!(link.stats().a_to_b.lost_random, 3);
}

#[test]
fn each_direction_has_its_own_faults() {
    let clock = VirtualClock::new(T0);
    let (mut a, mut b, link) = pair_with_faults(
        cfg(&clock, LinkFaults::default()),
        lossy(1_000_000, 1),
        LinkFaults::default(),
    );
    send_numbered(&mut a, 0, 10, |_| None, false);
    send_numbered(&mut b, 0, 10, |_| None, false);
    clock.advance(1_000_000);
    assert!(recv_numbered(&mut b).is_empty(), "a to b loses all");
    assert_eq!(recv_numbered(&mut a).len(), 10, "b to a is perfect");
    let s = link.stats();
    assert_eq!((s.a_to_b.lost_random, s.b_to_a.lost_random), (10, 0));
    assert_eq!(s.total().lost_random, 10);
}

#[test]
fn one_faults_value_for_both_directions_loses_different_frames_each_way() {
    let clock = VirtualClock::new(T0);
    let (mut a, mut b, _) = pair(cfg(&clock, lossy(300_000, 5)));
    send_numbered(&mut a, 0, 64, |_| None, false);
    send_numbered(&mut b, 0, 64, |_| None, false);
    clock.advance(1_000_000);
    assert_ne!(recv_numbered(&mut b), recv_numbered(&mut a));
}
