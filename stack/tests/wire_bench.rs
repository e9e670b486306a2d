//! Per-frame cost of the stream-frame codec, to choose how `set_sequence`
//! keeps the padding pattern right. Ignored by default; run with
//!
//! ```text
//! cargo test --release -p takt-stack --test wire_bench -- --ignored --nocapture
//! ```
//!
//! Strategies compared for a new sequence number on a template frame:
//! - rewrite: `set_sequence` stores the pattern of the new number over the
//!   padding (what the codec does);
//! - xor-delta: XOR every padding byte with `old ^ new` (read-modify-write);
//! - header-only: only the 8-byte sequence field (the floor: what a pattern
//!   that did not depend on the sequence would cost).

use std::hint::black_box;
use std::time::Instant;
use takt_stack::wire::{self, StreamFrame, StreamFrameFields, Vlan, HEADER_LEN};

const ITERS: u64 = 5_000_000;

fn time(name: &str, len: usize, mut f: impl FnMut(u64)) -> f64 {
    for i in 0..ITERS / 10 {
        f(i);
    }
    let t = Instant::now();
    for i in 0..ITERS {
        f(i);
    }
    let ns = t.elapsed().as_nanos() as f64 / ITERS as f64;
    println!("{name:<36} {len:>5} B  {ns:>7.2} ns/frame");
    ns
}

fn template(len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let fields = StreamFrameFields {
        dst: [0x01, 0x1b, 0x19, 0, 0, 0],
        src: [0x02, 0, 0, 0, 0, 1],
        vlan: Some(Vlan {
            pcp: 7,
            dei: false,
            vid: 100,
        }),
        stream_id: 3,
        ..Default::default()
    };
    wire::encode(&mut buf, &fields, len).unwrap();
    buf
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn wire_bench_per_frame_costs() {
    for len in [wire::MIN_BUFFER_LEN, 512, wire::MAX_BUFFER_LEN] {
        let mut buf = template(len);
        let fields = wire::decode(&buf).unwrap();

        time("encode (whole frame)", len, |i| {
            let f = StreamFrameFields {
                sequence: i,
                ..fields
            };
            wire::encode(black_box(&mut buf[..]), black_box(&f), len).unwrap();
        });
        time("set_sequence: rewrite (fn, checks)", len, |i| {
            wire::set_sequence(black_box(&mut buf[..]), i).unwrap();
        });
        time("set_sequence: rewrite (view)", len, |i| {
            let mut v = StreamFrame::new_checked(black_box(&mut buf[..])).unwrap();
            v.set_sequence(i);
        });
        time("set_sequence: xor-delta", len, |i| {
            let b = black_box(&mut buf[..]);
            let old = u64::from_be_bytes(b[26..34].try_into().unwrap());
            b[26..34].copy_from_slice(&i.to_be_bytes());
            let d = (old as u8) ^ (i as u8);
            for x in &mut b[HEADER_LEN..] {
                *x ^= d;
            }
        });
        time("set_sequence: header-only (floor)", len, |i| {
            let b = black_box(&mut buf[..]);
            b[26..34].copy_from_slice(&i.to_be_bytes());
        });
        wire::set_sequence(&mut buf, 41).unwrap();
        time("set_launch_ns + set_tx_ns (fn)", len, |i| {
            wire::set_launch_ns(black_box(&mut buf[..]), i).unwrap();
            wire::set_tx_ns(black_box(&mut buf[..]), i + 1).unwrap();
        });
        time("new_checked + padding_ok", len, |_| {
            let v = StreamFrame::new_checked(black_box(&buf[..])).unwrap();
            assert!(black_box(v.padding_ok()));
        });
        time("is_takt_frame", len, |_| {
            assert!(wire::is_takt_frame(black_box(&buf[..])));
        });
        println!();
    }
}
