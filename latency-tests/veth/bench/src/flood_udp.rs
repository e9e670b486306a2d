//! `flood-udp-tx` / `flood-udp-rx`: the UDP baseline of the pps flood.
//! `sendmmsg` with `batch` datagrams per call on a connected socket,
//! `recvmmsg` up to `batch` per call on the other end. Each datagram is 18
//! bytes (a sequence number and padding), the smallest payload that makes a
//! minimum-size Ethernet frame: 14 + 20 (IPv4) + 8 (UDP) + 18 = 60 bytes,
//! 64 with FCS, like takt's flood frames.

use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddrV4;
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::sys::socket::{self, MsgFlags, MultiHeaders, SockaddrIn};
use takt_drivers::MAX_BURST;
use takt_scheduler::{rt, ClockId};

use crate::report::FloodReport;
use crate::{sock, BenchError};

/// UDP payload bytes of a minimum-size frame.
pub const MIN_PAYLOAD: usize = 60 - crate::payload::UDP_OVERHEAD;
/// Receive buffer per datagram (anything larger is not ours anyway).
const RX_SLOT: usize = 2048;

const CLOCK: ClockId = ClockId::Monotonic;

/// Send for `secs` seconds, `batch` datagrams per `sendmmsg`.
pub fn tx(dest: SocketAddrV4, secs: f64, batch: usize) -> Result<FloodReport, BenchError> {
    let batch = batch.clamp(1, MAX_BURST);
    let fd = sock::connected(dest, 0)?;
    let mut bufs = [[0u8; MIN_PAYLOAD]; MAX_BURST];
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(batch, None);
    let addrs: Vec<Option<SockaddrIn>> = vec![None; batch];
    let (mut seq, mut sent, mut stalls) = (0u64, 0u64, 0u64);
    let start = CLOCK.now_ns();
    let end = start.saturating_add((secs * 1e9) as u64);
    while CLOCK.now_ns() < end && !rt::stop_requested() {
        for (i, b) in bufs[..batch].iter_mut().enumerate() {
            b[..8].copy_from_slice(&(seq + i as u64).to_be_bytes());
        }
        let n = {
            // On the stack: nix ties the slices' lifetime to the headers'
            // borrow, so they are rebuilt per call, without the heap.
            let slices = bufs.each_ref().map(|b| [IoSlice::new(b)]);
            let n = match socket::sendmmsg(
                fd.as_raw_fd(),
                &mut headers,
                &slices[..batch],
                &addrs,
                [],
                MsgFlags::empty(),
            ) {
                Ok(r) => r.count(),
                Err(nix::Error::ENOBUFS | nix::Error::EAGAIN | nix::Error::EINTR) => 0,
                Err(e) => return Err(BenchError::sys("sendmmsg")(e)),
            };
            n
        };
        if n == 0 {
            stalls += 1;
        }
        seq += n as u64;
        sent += n as u64;
    }
    let elapsed = CLOCK.now_ns().saturating_sub(start);
    Ok(FloodReport {
        role: "tx".into(),
        backend: "udp".into(),
        device: format!("udp:{dest}"),
        batch,
        frame_size: 64,
        frames: sent,
        elapsed_ns: elapsed,
        stalls,
        ..FloodReport::default()
    }
    .with_rate())
}

/// Count datagrams for at most `secs` seconds, up to `batch` per
/// `recvmmsg`; stop early once some came and none came for `idle_ns`.
pub fn rx(
    bind: SocketAddrV4,
    secs: f64,
    batch: usize,
    idle_ns: u64,
) -> Result<FloodReport, BenchError> {
    let batch = batch.clamp(1, MAX_BURST);
    let fd = sock::bound(bind, Duration::from_millis(20), false)?;
    let mut bufs = Box::new([[0u8; RX_SLOT]; MAX_BURST]);
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(batch, None);
    let (mut frames, mut other, mut stalls) = (0u64, 0u64, 0u64);
    let (mut first, mut last) = (None::<u64>, 0u64);
    let start = CLOCK.now_ns();
    let end = start.saturating_add((secs * 1e9) as u64);
    loop {
        let now = CLOCK.now_ns();
        if now >= end || rt::stop_requested() {
            break;
        }
        let got = {
            let mut slices = bufs.each_mut().map(|b| [IoSliceMut::new(b)]);
            let got = match socket::recvmmsg(
                fd.as_raw_fd(),
                &mut headers,
                &mut slices[..batch],
                MsgFlags::empty(),
                None,
            ) {
                Ok(r) => r.fold((0u64, 0u64), |(ours, not), m| {
                    if m.bytes == MIN_PAYLOAD {
                        (ours + 1, not)
                    } else {
                        (ours, not + 1)
                    }
                }),
                Err(e) if sock::is_timeout(e) => (0, 0),
                Err(e) => return Err(BenchError::sys("recvmmsg")(e)),
            };
            got
        };
        if got == (0, 0) {
            stalls += 1;
            if first.is_some() && now.saturating_sub(last) > idle_ns {
                break;
            }
            continue;
        }
        frames += got.0;
        other += got.1;
        let t = CLOCK.now_ns();
        first.get_or_insert(now);
        last = t;
    }
    let elapsed = first.map_or(0, |f| last.saturating_sub(f));
    Ok(FloodReport {
        role: "rx".into(),
        backend: "udp".into(),
        device: format!("udp:{bind}"),
        batch,
        frame_size: 64,
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

    #[test]
    fn the_payload_makes_a_minimum_size_frame() {
        assert_eq!(MIN_PAYLOAD, 18);
        assert_eq!(MIN_PAYLOAD + crate::payload::UDP_OVERHEAD + 4, 64);
    }
}
