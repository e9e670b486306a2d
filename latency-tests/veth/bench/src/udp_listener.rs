//! `udp-listener`: receive the baseline's datagrams with `recvmsg` and the
//! kernel's receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME), moved onto
//! the schedule clock as takt-listener moves a device timestamp; latency =
//! rx timestamp - `tx_ns` from the payload. Lost / duplicates / reordered
//! come from takt's own `SeqTracker`.

use std::io::IoSliceMut;
use std::net::SocketAddrV4;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use nix::sys::socket::{self, ControlMessageOwned, MsgFlags, SockaddrIn};
use nix::sys::time::TimeSpec;
use takt_scheduler::{rt, ClockId, Schedule};
use takt_stack::seq::{Arrival, SeqTracker};
use takt_stack::stats::{IntervalLog, IntervalLogConfig, MetricKind, RunStats};

use crate::clocks::{clock_offset_ns, latency_ns, timespec_ns};
use crate::payload::PayloadReader;
use crate::{report, sock, BenchError};

/// How to run.
#[derive(Clone, Debug)]
pub struct UdpListenerConfig {
    pub bind: SocketAddrV4,
    /// Listen this long from the start, ns.
    pub duration_ns: u64,
    pub report_json: Option<PathBuf>,
    pub hist_log: Option<PathBuf>,
}

/// What the run saw besides the per-stream statistics.
#[derive(Clone, Copy, Debug, Default)]
pub struct UdpListenerSummary {
    /// Datagrams that were not stream frames of this schedule.
    pub other: u64,
    /// Datagrams without a kernel timestamp (timed on arrival in userland).
    pub no_timestamp: u64,
}

/// Receive until the duration is over or SIGINT/SIGTERM.
pub fn run(schedule: &Schedule, cfg: &UdpListenerConfig) -> Result<RunStats, BenchError> {
    let clock = schedule.clock();
    let fd = sock::bound(cfg.bind, Duration::from_millis(50), true)?;
    rt::install_stop_signals().map_err(BenchError::sys("SIGINT/SIGTERM handler"))?;
    // SO_TIMESTAMPNS stamps are CLOCK_REALTIME; tx_ns is on the schedule clock.
    let offset_ns = clock_offset_ns(clock, ClockId::Realtime.to_nix())
        .map_err(BenchError::sys("clock_gettime"))?;
    let names: Vec<&str> = schedule.streams().iter().map(|s| s.name.as_str()).collect();
    let mut stats = RunStats::new(names.iter().copied());
    let mut trackers = vec![SeqTracker::new(); names.len()];
    let start_ns = clock.now_ns();
    let deadline = start_ns.saturating_add(cfg.duration_ns);
    let mut log = match &cfg.hist_log {
        Some(p) => Some(IntervalLog::for_streams(
            p,
            &names,
            start_ns,
            &IntervalLogConfig::new(SystemTime::now()),
        )?),
        None => None,
    };
    let mut reader = PayloadReader::new();
    let mut cmsg = nix::cmsg_space!(TimeSpec);
    let (summary, heap) = rt::count_allocations(|| {
        let mut summary = UdpListenerSummary::default();
        loop {
            let now = clock.now_ns();
            if rt::stop_requested() || now >= deadline {
                break;
            }
            if let Some(log) = &mut log {
                log.tick(now);
            }
            let (len, stamp) = {
                let mut iov = [IoSliceMut::new(reader.slot())];
                match socket::recvmsg::<SockaddrIn>(
                    fd.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg),
                    MsgFlags::empty(),
                ) {
                    Ok(msg) => {
                        let stamp = msg.cmsgs().ok().and_then(|mut c| {
                            c.find_map(|m| match m {
                                ControlMessageOwned::ScmTimestampns(ts) => Some(timespec_ns(&ts)),
                                _ => None,
                            })
                        });
                        (msg.bytes, stamp)
                    }
                    Err(e) if sock::is_timeout(e) => continue,
                    Err(e) => return Err(BenchError::sys("recvmsg")(e)),
                }
            };
            let rx_ns = stamp.unwrap_or_else(|| {
                summary.no_timestamp += 1;
                ClockId::Realtime.now_ns() as i64
            });
            let Ok(frame) = reader.frame(len) else {
                summary.other += 1;
                continue;
            };
            let id = frame.stream_id() as usize;
            let (Some(tracker), Some(st)) = (trackers.get_mut(id), stats.streams.get_mut(id))
            else {
                summary.other += 1;
                continue;
            };
            if tracker.record(frame.sequence()) != Arrival::Duplicate {
                let lat = latency_ns(rx_ns, offset_ns, frame.tx_ns());
                st.latency_ns.record(lat);
                if let Some(log) = &mut log {
                    log.record_stream(id, MetricKind::Latency, lat);
                }
            }
            st.frames_received = tracker.unique;
            st.lost = tracker.lost;
            st.duplicates = tracker.duplicates;
            st.reordered = tracker.reordered;
        }
        Ok::<_, BenchError>(summary)
    });
    let summary = summary?;
    stats.data_path_allocations =
        rt::allocation_counting_active().then_some(heap.allocs + heap.frees);
    let end_ns = clock.now_ns();
    if let Some(log) = log {
        log.finish(end_ns)?;
    }
    if summary.other > 0 || summary.no_timestamp > 0 {
        eprintln!(
            "udp-listener: {} datagrams were not this schedule's, {} had no kernel timestamp",
            summary.other, summary.no_timestamp
        );
    }
    stats.started_ns = start_ns;
    stats.elapsed_ns = end_ns.saturating_sub(start_ns);
    stats.device = format!("udp:{}", cfg.bind);
    stats.backend = "udp".into();
    stats.clock = clock.as_str().into();
    report::emit_run(cfg.report_json.as_deref(), &stats)?;
    Ok(stats)
}
