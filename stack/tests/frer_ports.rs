//! `frer::Ports` over two simulated wires: a replicated stream leaves on
//! both ports with the same R-TAG number and each port's source MAC; the
//! receiving set passes the first copy of each number and counts the
//! second; a stream that is not replicated stays on its one port.

use takt_drivers::sim::{self, SimClock, SimConfig, VirtualClock};
use takt_drivers::{RingDevice, RxBatch, TxBatch, TxFrame};
use takt_scheduler::redundancy::{PortMask, Redundancy};
use takt_scheduler::{ClockId, GateControlList, GateEntry, LinkConfig, Schedule, Stream};
use takt_stack::frer::Ports;
use takt_stack::wire::{encode, StreamFrame, StreamFrameFields, Vlan};

fn schedule() -> Schedule {
    let gcl = GateControlList::new(
        0,
        None,
        0,
        vec![GateEntry {
            gate_mask: 0xff,
            interval_ns: 1_000_000,
        }],
    )
    .unwrap();
    let stream = |name: &str, offset_ns: u64| Stream {
        name: name.into(),
        traffic_class: 7,
        vlan_id: 10,
        pcp: 6,
        dst_mac: [0x91, 0xe0, 0xf0, 0, 0xfe, 0],
        frame_size: 128,
        offset_ns,
        frames_per_cycle: 1,
        spacing_ns: 0,
    };
    let link = LinkConfig {
        speed_bps: 1_000_000_000,
        tc_to_pcp: LinkConfig::IDENTITY_TC_TO_PCP,
    };
    let s = Schedule::new(
        ClockId::Tai,
        link,
        gcl,
        None,
        vec![
            stream("ctl", 0),
            stream("be", 10_000),
            stream("b-only", 20_000),
        ],
    )
    .unwrap();
    let mut r = Redundancy::none(3);
    r.ports = vec![PortMask(0b11), PortMask(0b01), PortMask(0b10)];
    r.frer = vec![true, false, false];
    s.with_redundancy(r).unwrap()
}

type Ends = (Ports, Ports, Vec<sim::SimLink>, VirtualClock);

fn ends(sched: &Schedule) -> Ends {
    let clock = VirtualClock::new(1_000_000_000);
    let mut tx: Vec<Box<dyn RingDevice>> = Vec::new();
    let mut rx: Vec<Box<dyn RingDevice>> = Vec::new();
    let mut links = Vec::new();
    for _ in 0..2 {
        let (a, b, l) = sim::pair(SimConfig {
            clock: SimClock::Virtual(clock.clone()),
            pool_size: 64,
            wire_capacity: 64,
            ..SimConfig::default()
        });
        tx.push(Box::new(a));
        rx.push(Box::new(b));
        links.push(l);
    }
    (
        Ports::new(tx, sched).unwrap(),
        Ports::new(rx, sched).unwrap(),
        links,
        clock,
    )
}

fn send(tx: &mut Ports, stream: u16, seq: u64, at_ns: u64) {
    let buf = tx.alloc().expect("buffer");
    let fields = StreamFrameFields {
        dst: [0x91, 0xe0, 0xf0, 0, 0xfe, 0],
        src: tx.info().mac,
        vlan: Some(Vlan {
            pcp: 6,
            dei: false,
            vid: 10,
        }),
        stream_id: stream,
        sequence: seq,
        launch_ns: at_ns,
        tx_ns: at_ns,
        tx_hw_timestamp: false,
        epoch: 1,
    };
    let len = encode(tx.buf_mut(&buf), &fields, 124).unwrap();
    let mut batch = TxBatch::new();
    batch
        .push_back(TxFrame {
            buf,
            len,
            launch_time_ns: Some(at_ns),
            stamp_tag: None,
        })
        .unwrap();
    assert_eq!(tx.tx_burst(&mut batch), 1);
}

/// (stream, takt sequence, R-TAG number) of every frame handed up.
fn receive(rx: &mut Ports) -> Vec<(u16, u64, Option<u16>)> {
    let mut got = Vec::new();
    let mut batch = RxBatch::new();
    while rx.rx_burst(&mut batch) > 0 {
        while let Some(f) = batch.pop_front() {
            let v = StreamFrame::new_checked(&rx.buf(&f.buf)[..f.len]).unwrap();
            assert!(v.padding_ok());
            got.push((v.stream_id(), v.sequence(), v.rtag_sequence()));
            rx.free(f.buf);
        }
    }
    got
}

#[test]
fn a_replicated_stream_leaves_on_both_ports_with_one_number() {
    let sched = schedule();
    let (mut tx, _rx, _links, clock) = ends(&sched);
    for seq in 0..3 {
        send(&mut tx, 0, seq, 1_000_000_000 + seq * 1_000);
    }
    send(&mut tx, 1, 0, 1_000_010_000);
    send(&mut tx, 2, 0, 1_000_020_000);
    clock.advance(1_000_000);
    let report = tx.frer_report().expect("a replicated stream");
    let s = &report.streams[0];
    assert_eq!(s.generated, Some(3));
    assert_eq!(
        s.members.iter().map(|m| m.sent).collect::<Vec<_>>(),
        [Some(3), Some(3)]
    );
    let ports = tx.port_reports();
    assert_eq!(ports.len(), 2);
    // Port 0: 3 copies of ctl + be; port 1: 3 copies of ctl + b-only.
    assert_eq!(ports[0].counters.tx_frames, 4);
    assert_eq!(ports[1].counters.tx_frames, 4);
}

#[test]
fn the_receiving_set_sees_every_copy_with_the_same_number() {
    let sched = schedule();
    let (mut tx, rx, _links, clock) = ends(&sched);
    for seq in 0..5 {
        send(&mut tx, 0, seq, 1_000_000_000 + seq * 1_000);
    }
    clock.advance(1_000_000);
    let mut rx = rx;
    let got = receive(&mut rx);
    let r = rx.frer_report().unwrap();
    let rec = r.streams[0].recovery.expect("received");
    // Both copies reached the recovery; the first of each went up.
    assert_eq!(
        (rec.passed, rec.discarded, rec.rogue, rec.lost),
        (5, 5, 0, 0)
    );
    assert_eq!(
        got.iter().map(|g| g.1).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4],
        "each frame once, in order"
    );
    for (i, (stream, seq, tag)) in got.iter().enumerate() {
        assert_eq!(*stream, 0);
        assert_eq!(
            Some(*seq as u16),
            *tag,
            "frame {i}: R-TAG number = takt sequence"
        );
    }
    for m in &r.streams[0].members {
        let c = m.recovery.expect("member counters");
        assert_eq!(
            c.passed + c.discarded,
            5,
            "port {}: every copy came",
            m.port
        );
    }
}

/// After a stall of the receiver longer than the history, with a backlog
/// on both ports, the copies still go through recovery in the order they
/// arrived: none rogue, and a number only the slower path carried passes
/// in its place, not after the later numbers of the faster path.
#[test]
fn a_backlog_on_both_ports_is_judged_in_arrival_order() {
    let sched = schedule();
    let clock = VirtualClock::new(1_000_000_000);
    let mut tx: Vec<Box<dyn RingDevice>> = Vec::new();
    let mut rx: Vec<Box<dyn RingDevice>> = Vec::new();
    let mut links = Vec::new();
    for delay in ["", "delay=100us"] {
        let (a, b, l) = sim::pair(SimConfig {
            clock: SimClock::Virtual(clock.clone()),
            pool_size: 64,
            wire_capacity: 64,
            faults: sim::parse_spec(delay).unwrap(),
            ..SimConfig::default()
        });
        tx.push(Box::new(a));
        rx.push(Box::new(b));
        links.push(l);
    }
    let (mut tx, mut rx) = (
        Ports::new(tx, &sched).unwrap(),
        Ports::new(rx, &sched).unwrap(),
    );
    // 40 frames 1 ms apart (more than the history of 32); number 5 only
    // on port 1, the slower path.
    for seq in 0..40 {
        links[0].set_up(seq != 5);
        send(&mut tx, 0, seq, 1_000_000_000 + seq * 1_000_000);
    }
    // The receiver looks only once all 79 copies are in.
    clock.advance(100_000_000);
    let got: Vec<u64> = receive(&mut rx).iter().map(|g| g.1).collect();
    assert_eq!(got, (0..40).collect::<Vec<_>>(), "each once, in order");
    let rec = rx.frer_report().unwrap().streams[0].recovery.unwrap();
    assert_eq!(
        (rec.passed, rec.discarded, rec.rogue, rec.out_of_order),
        (40, 39, 0, 0),
        "{rec:?}"
    );
}
