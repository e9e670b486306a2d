//! `flood-tx` / `flood-rx` on a takt backend: send minimum-size takt
//! frames as fast as the ring takes them, in bursts of `batch`, and count
//! what arrives on the other end. No schedule, no sleeping: this measures
//! how many frames per second the backend moves, not timing.

use takt_drivers::{DeviceSpec, RingDevice, RxBatch, TxBatch, TxFrame, MAX_BURST};
use takt_scheduler::{rt, ClockId};
use takt_stack::wire::{self, StreamFrame, StreamFrameFields, Vlan, MIN_BUFFER_LEN};

use crate::report::FloodReport;
use crate::BenchError;

/// Flood timing runs on the monotonic clock (no schedule here).
const CLOCK: ClockId = ClockId::Monotonic;

/// The backend name reports use.
pub fn backend_name(spec: &DeviceSpec) -> &'static str {
    match spec {
        DeviceSpec::Sim => "sim",
        DeviceSpec::Packet { .. } => "packet",
        DeviceSpec::Xdp { .. } => "xdp",
        DeviceSpec::Vfio { .. } => "vfio",
    }
}

/// Open the device; `NotBuilt` goes back to the caller as it is.
pub fn open(spec: &DeviceSpec) -> Result<Box<dyn RingDevice>, BenchError> {
    Ok(takt_drivers::open(spec)?)
}

/// Destination of the flood's frames: a multicast address from the range
/// docs/examples use, which the receiver must join.
pub const FLOOD_DST: [u8; 6] = [0x91, 0xe0, 0xf0, 0, 0xfe, 0];

/// The flood's frame: 60 bytes (64 with FCS), tagged, stream 0.
pub fn flood_frame(src: [u8; 6]) -> Result<[u8; MIN_BUFFER_LEN], BenchError> {
    let mut f = [0u8; MIN_BUFFER_LEN];
    let fields = StreamFrameFields {
        dst: FLOOD_DST,
        src,
        vlan: Some(Vlan {
            pcp: 7,
            dei: false,
            vid: 100,
        }),
        ..StreamFrameFields::default()
    };
    wire::encode(&mut f, &fields, MIN_BUFFER_LEN)?;
    Ok(f)
}

/// Send for `secs` seconds in bursts of `batch`.
pub fn tx(
    dev: &mut dyn RingDevice,
    spec: &DeviceSpec,
    secs: f64,
    batch: usize,
) -> Result<FloodReport, BenchError> {
    let batch = batch.clamp(1, MAX_BURST.min(dev.info().caps.max_batch.max(1)));
    let mut frame = flood_frame(dev.info().mac)?;
    let mut pending = TxBatch::new();
    let (mut seq, mut sent, mut stalls) = (0u64, 0u64, 0u64);
    let start = CLOCK.now_ns();
    let end = start.saturating_add((secs * 1e9) as u64);
    while CLOCK.now_ns() < end && !rt::stop_requested() {
        while pending.len() < batch {
            let Some(buf) = dev.alloc() else { break };
            if let Ok(mut f) = StreamFrame::new_checked(&mut frame[..]) {
                f.set_sequence(seq);
            }
            seq += 1;
            dev.buf_mut(&buf)[..frame.len()].copy_from_slice(&frame);
            let tx = TxFrame {
                buf,
                len: frame.len(),
                launch_time_ns: None,
                stamp_tag: None,
            };
            if let Err(tx) = pending.push_back(tx) {
                dev.free(tx.buf);
                break;
            }
        }
        let n = dev.tx_burst(&mut pending);
        if n == 0 {
            stalls += 1;
            std::hint::spin_loop();
        }
        sent += n as u64;
    }
    let elapsed = CLOCK.now_ns().saturating_sub(start);
    while let Some(f) = pending.pop_front() {
        dev.free(f.buf);
    }
    Ok(FloodReport {
        role: "tx".into(),
        backend: backend_name(spec).into(),
        device: spec.to_string(),
        batch,
        frame_size: MIN_BUFFER_LEN + wire::FCS_LEN,
        frames: sent,
        elapsed_ns: elapsed,
        stalls,
        ..FloodReport::default()
    }
    .with_rate())
}

/// Count takt frames for at most `secs` seconds; stop early once frames
/// have come and none came for `idle_ns`.
pub fn rx(
    dev: &mut dyn RingDevice,
    spec: &DeviceSpec,
    secs: f64,
    idle_ns: u64,
) -> Result<FloodReport, BenchError> {
    // As takt-listener does for its streams: without it a device may
    // filter the flood's multicast destination out.
    dev.accept_destinations(&[FLOOD_DST])?;
    let mut batch = RxBatch::new();
    let (mut frames, mut other, mut stalls) = (0u64, 0u64, 0u64);
    let (mut first, mut last) = (None::<u64>, 0u64);
    let start = CLOCK.now_ns();
    let end = start.saturating_add((secs * 1e9) as u64);
    loop {
        let now = CLOCK.now_ns();
        if now >= end || rt::stop_requested() {
            break;
        }
        if dev.rx_burst(&mut batch) == 0 {
            stalls += 1;
            if first.is_some() && now.saturating_sub(last) > idle_ns {
                break;
            }
            std::hint::spin_loop();
            continue;
        }
        while let Some(f) = batch.pop_front() {
            if wire::is_takt_frame(&dev.buf(&f.buf)[..f.len]) {
                frames += 1;
            } else {
                other += 1;
            }
            dev.free(f.buf);
        }
        // Time the burst by when it was seen: the same clock for every backend.
        first.get_or_insert(now);
        last = now;
    }
    let elapsed = first.map_or(0, |f| last.saturating_sub(f));
    Ok(FloodReport {
        role: "rx".into(),
        backend: backend_name(spec).into(),
        device: spec.to_string(),
        batch: dev.info().caps.max_batch,
        frame_size: MIN_BUFFER_LEN + wire::FCS_LEN,
        frames,
        elapsed_ns: elapsed,
        stalls,
        other_frames: other,
        ..FloodReport::default()
    }
    .with_rate())
}

#[cfg(test)]
mod tests {
    use super::*;
    use takt_drivers::sim::{self, SimConfig};

    #[test]
    fn every_frame_the_ring_took_is_counted_on_the_other_end() {
        // The simulated wire holds 256 frames in flight: the sender fills
        // it and then stalls, the receiver drains exactly what was taken.
        let cfg = SimConfig {
            wire_capacity: 256,
            pool_size: 512,
            ..SimConfig::default()
        };
        let (mut a, mut b, _link) = sim::pair(cfg);
        let spec = DeviceSpec::Sim;
        let tx = tx(&mut a, &spec, 0.02, 32).unwrap();
        assert!(tx.frames >= 256, "{tx:?}");
        assert!(tx.stalls > 0, "the full wire must stall the sender: {tx:?}");
        assert_eq!(tx.batch, 32);
        assert_eq!(tx.frame_size, 64);
        let rx = rx(&mut b, &spec, 1.0, 20_000_000).unwrap();
        assert_eq!(rx.frames, tx.frames, "{rx:?}");
        assert_eq!(rx.other_frames, 0);
        assert!(rx.pps > 0.0 && tx.pps > 0.0);
    }

    #[test]
    fn the_flood_frame_is_a_minimum_size_takt_frame() {
        let f = flood_frame([2, 0, 0, 0, 0, 1]).unwrap();
        assert_eq!(f.len() + wire::FCS_LEN, 64);
        assert!(wire::is_takt_frame(&f));
        let v = StreamFrame::new_checked(&f[..]).unwrap();
        assert!(v.padding_ok());
    }
}
