//! The sim's faults cost no allocation on the data path: tx_burst and
//! rx_burst with loss, delay, jitter and outages all on.

mod common;

use takt_drivers::sim::{self, SimClock, SimConfig, VirtualClock};
use takt_drivers::{RingDevice, RxBatch, TxBatch, TxFrame, TxStampBatch, MAX_BURST};

#[test]
fn faulty_wire_allocates_nothing_after_set_up() {
    const T0: u64 = 1_000_000;
    let clock = VirtualClock::new(T0);
    let faults = sim::parse_spec("loss=10%,delay=20us,jitter=5us,down=100us+50us,down=1ms+1ms")
        .unwrap()
        .shifted(T0);
    let (mut a, mut b, link) = sim::pair(SimConfig {
        clock: SimClock::Virtual(clock.clone()),
        pool_size: 256,
        buf_size: 256,
        wire_capacity: 256,
        faults,
        ..SimConfig::default()
    });
    let (mut tx, mut rx, mut stamps) = (TxBatch::new(), RxBatch::new(), TxStampBatch::new());
    let (mut received, mut next_launch) = (0u64, T0);
    let ((), allocs) = common::allocations(|| {
        for _ in 0..200 {
            for _ in 0..MAX_BURST / 2 {
                let buf = a.alloc().unwrap();
                a.buf_mut(&buf)[..60].fill(7);
                let _ = tx.push_back(TxFrame {
                    buf,
                    len: 60,
                    launch_time_ns: Some(next_launch),
                    stamp_tag: Some(1),
                });
                next_launch += 1_000;
            }
            a.tx_burst(&mut tx);
            a.tx_stamps(&mut stamps);
            stamps.clear();
            clock.set(next_launch);
            while b.rx_burst(&mut rx) > 0 {
                while let Some(f) = rx.pop_front() {
                    received += 1;
                    b.free(f.buf);
                }
            }
        }
    });
    assert_eq!(allocs, 0, "tx_burst / rx_burst allocated");
    // Every frame is accounted for: received, lost, dropped in an outage,
    // or still on the wire (the last bursts' delay).
    let s = link.stats().a_to_b;
    let c = a.counters();
    assert_eq!(c.tx_drops, s.dropped_outage);
    assert_eq!(
        s.dropped_outage,
        50 + 1_000,
        "frames launched in the outages"
    );
    assert_eq!(c.link_down, 2);
    assert!(s.lost_random > 0 && received > 0, "{s:?}");
    clock.advance(1_000_000);
    while b.rx_burst(&mut rx) > 0 {
        while let Some(f) = rx.pop_front() {
            received += 1;
            b.free(f.buf);
        }
    }
    assert_eq!(received + s.lost_random + s.dropped_outage, 200 * 32);
}
