//! `packet:` hands a frame to userland as soon as the kernel has it: on a
//! veth pair between two namespaces, a sparse stream (one frame a
//! millisecond) is picked up by `rx_burst` well within the 1 ms that
//! TPACKET_V3's block retire timeout used to add. Pickup here is the time
//! `rx_burst` first returns a frame minus the frame's rx stamp, both on
//! the device's clock.
//!
//! Needs root (namespaces, raw sockets, SCHED_FIFO). Without it the test
//! skips with a message, except under CI=true, where it fails. The
//! namespaces are deleted when it ends, also when it fails.

mod common;

use common::veth::{one_at_a_time, ready, Wire};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use takt_drivers::link::Netns;
use takt_drivers::packet::{PacketDevice, PacketOptions};
use takt_drivers::{RingDevice, RxBatch, TxBatch, TxFrame};

/// Frames per attempt, one a millisecond: 1.5 s of a sparse stream.
const FRAMES: usize = 1500;
/// Pickup the test asks of the 90th percentile: half the old 1 ms timeout.
const P90_LIMIT_NS: u64 = 500_000;

fn now_ns(clock: nix::time::ClockId) -> u64 {
    let t = nix::time::clock_gettime(clock).expect("clock_gettime");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// Pickup of each frame of one run, ns, sorted.
fn pickups(wire: &Wire) -> Vec<u64> {
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let b = wire.b.clone();
    let rx = std::thread::spawn(move || {
        Netns::enter(&b, move || {
            // The receiver busy-polls as the listener does, at a real-time
            // priority on the last CPU, so a loaded machine's other work
            // does not sit between the kernel's stamp and its pickup.
            let cpu = takt_scheduler::rt::allowed_cpus().last().copied();
            let _rt = takt_scheduler::rt::prepare(&takt_scheduler::rt::RtConfig {
                cpu,
                priority: Some(20),
                ..Default::default()
            })
            .expect("SCHED_FIFO (root)");
            let mut dev = PacketDevice::open("tk-b", PacketOptions::default()).expect("open tk-b");
            let clock = dev.info().clock.expect("a real clock");
            let mut out = Vec::with_capacity(FRAMES);
            let mut batch = RxBatch::new();
            ready_tx.send(()).unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && done_rx.try_recv().is_err() {
                if dev.rx_burst(&mut batch) == 0 {
                    std::hint::spin_loop();
                    continue;
                }
                let now = now_ns(clock);
                while let Some(f) = batch.pop_front() {
                    // Only the test's frames (EtherType 0x88b5), not IPv6
                    // neighbour discovery.
                    if dev.buf(&f.buf).get(12..14) == Some(&[0x88, 0xb5]) {
                        out.push(now.saturating_sub(f.rx_time_ns));
                    }
                    dev.free(f.buf);
                }
            }
            out
        })
        .expect("enter the listener's namespace")
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("receiver ready");
    let a = wire.a.clone();
    Netns::enter(&a, move || {
        let mut dev = PacketDevice::open("tk-a", PacketOptions::default()).expect("open tk-a");
        let mut q = TxBatch::new();
        for i in 0..FRAMES {
            let buf = dev.alloc().expect("a buffer");
            let b = dev.buf_mut(&buf);
            b[..14].copy_from_slice(&[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5,
            ]);
            b[14..60].fill(i as u8);
            let _ = q.push_back(TxFrame {
                buf,
                len: 60,
                launch_time_ns: None,
                stamp_tag: None,
            });
            dev.tx_burst(&mut q);
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(50));
    })
    .expect("enter the talker's namespace");
    done_tx.send(()).unwrap();
    let mut d = rx.join().expect("receiver thread");
    d.sort_unstable();
    d
}

#[test]
fn a_sparse_stream_is_picked_up_well_within_a_millisecond() {
    let test = "a_sparse_stream_is_picked_up_well_within_a_millisecond";
    if !ready(test, &[]) {
        return;
    }
    let _one = one_at_a_time();
    let mut seen = Vec::new();
    for attempt in 1..=3 {
        let wire = Wire::new();
        let d = pickups(&wire);
        assert!(
            d.len() >= FRAMES * 9 / 10,
            "only {} of {FRAMES} frames arrived",
            d.len()
        );
        let q = |p: usize| d[(d.len() - 1) * p / 100];
        let line = format!(
            "attempt {attempt}: {} frames, pickup p50 {} us, p90 {} us, p99 {} us, max {} us",
            d.len(),
            q(50) / 1000,
            q(90) / 1000,
            q(99) / 1000,
            q(100) / 1000
        );
        eprintln!("{line}");
        seen.push(line);
        if q(90) < P90_LIMIT_NS {
            return;
        }
    }
    panic!(
        "packet: pickup p90 stayed at or above {} us in 3 attempts:\n{}",
        P90_LIMIT_NS / 1000,
        seen.join("\n")
    );
}
