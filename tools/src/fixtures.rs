//! Schedules built in code for the library's unit tests (no TOML needed).

use takt_scheduler::{ClockId, GateControlList, GateEntry, LinkConfig, Schedule, Stream};

pub(crate) const GBPS: LinkConfig = LinkConfig {
    speed_bps: 1_000_000_000,
    tc_to_pcp: LinkConfig::IDENTITY_TC_TO_PCP,
};

pub(crate) fn entry(gates: &[u8], interval_ns: u64) -> GateEntry {
    GateEntry {
        gate_mask: gates.iter().fold(0, |m, c| m | 1 << c),
        interval_ns,
    }
}

pub(crate) fn stream(
    name: &str,
    class: u8,
    frame_size: u32,
    offset_ns: u64,
    frames: u32,
    spacing_ns: u64,
) -> Stream {
    Stream {
        name: name.into(),
        traffic_class: class,
        vlan_id: 100 + u16::from(class),
        pcp: class,
        dst_mac: [0x91, 0xe0, 0xf0, 0x00, 0xfe, class],
        frame_size,
        offset_ns,
        frames_per_cycle: frames,
        spacing_ns,
    }
}

/// 250 us: class 7 0..30us, class 5 30..80us, best effort (0..=3)
/// 80..237.5us, all closed (guard band) to the end.
pub(crate) fn two_class_schedule() -> Schedule {
    let oper = GateControlList::new(
        0,
        Some(250_000),
        0,
        vec![
            entry(&[7], 30_000),
            entry(&[5], 50_000),
            entry(&[0, 1, 2, 3], 157_500),
            entry(&[], 12_500),
        ],
    )
    .unwrap();
    let mut control = stream("control", 7, 128, 1_000, 4, 5_000);
    control.vlan_id = 100;
    control.dst_mac[5] = 1;
    let video = stream("video", 5, 1522, 32_000, 3, 15_000);
    Schedule::new(ClockId::Tai, GBPS, oper, None, vec![control, video]).unwrap()
}

/// Oper: 250us cycle with a 150us extension; admin from 2.0001 s with a
/// 200us cycle. The last oper cycle (#7999) is extended to 350 us.
pub(crate) fn admin_schedule() -> Schedule {
    let oper = GateControlList::new(
        0,
        Some(250_000),
        150_000,
        vec![entry(&[7], 50_000), entry(&[0, 1, 2, 3], 200_000)],
    )
    .unwrap();
    let admin = GateControlList::new(
        2_000_100_000,
        None,
        0,
        vec![entry(&[7], 50_000), entry(&[0, 1, 2, 3], 150_000)],
    )
    .unwrap();
    let control = stream("control", 7, 128, 10_000, 2, 20_000);
    Schedule::new(ClockId::Tai, GBPS, oper, Some(admin), vec![control]).unwrap()
}

/// One class-7 window of 2 ms with `frames` 64-byte frames 1 us apart.
pub(crate) fn many_frames_schedule(frames: u32) -> Schedule {
    let oper = GateControlList::new(0, None, 0, vec![entry(&[7], 2_000_000)]).unwrap();
    let s = stream("burst", 7, 64, 0, frames, 1_000);
    Schedule::new(ClockId::Monotonic, GBPS, oper, None, vec![s]).unwrap()
}
