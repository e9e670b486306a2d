//! `udp-talker`: what users have today — sleep until each frame's launch
//! time (absolute clock_nanosleep on the schedule clock, the same schedule
//! walk as takt's talker: `takt_stack::plan::Plan`) and `send` a UDP
//! datagram carrying the takt header stamped with the send time.
//!
//! Unlike takt's talker, a frame that wakes up after its window closed is
//! still sent (a plain socket has no gate to miss); it is counted in
//! `late`, so `late` here means "sent late", not "dropped".

use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use nix::sys::socket::{self, MsgFlags};
use takt_scheduler::{rt, Schedule};
use takt_stack::plan::{Plan, Until};
use takt_stack::stats::{IntervalLog, IntervalLogConfig, MetricKind, RunStats};
use takt_stack::wire::{StreamFrameFields, Vlan, FCS_LEN};

use crate::payload::FrameTemplate;
use crate::{report, sock, BenchError, LEAD_NS};

/// How to run.
#[derive(Clone, Debug)]
pub struct UdpTalkerConfig {
    pub dest: SocketAddrV4,
    /// Run length from the first cycle, ns.
    pub duration_ns: u64,
    pub report_json: Option<PathBuf>,
    pub hist_log: Option<PathBuf>,
}

/// Per stream: its socket (SO_PRIORITY = PCP) and frame.
struct Lane {
    fd: OwnedFd,
    frame: FrameTemplate,
}

fn lanes(schedule: &Schedule, dest: SocketAddrV4) -> Result<Vec<Lane>, BenchError> {
    schedule
        .streams()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let fields = StreamFrameFields {
                dst: s.dst_mac,
                vlan: Some(Vlan {
                    pcp: s.pcp,
                    dei: false,
                    vid: s.vlan_id,
                }),
                stream_id: i as u16,
                ..StreamFrameFields::default()
            };
            Ok(Lane {
                fd: sock::connected(dest, i32::from(s.pcp))?,
                frame: FrameTemplate::new(&fields, s.frame_size as usize - FCS_LEN)?,
            })
        })
        .collect()
}

/// Send the schedule's streams to `cfg.dest` until the end or SIGINT/SIGTERM.
pub fn run(schedule: &Schedule, cfg: &UdpTalkerConfig) -> Result<RunStats, BenchError> {
    let clock = schedule.clock();
    let mut lanes = lanes(schedule, cfg.dest)?;
    rt::install_stop_signals().map_err(BenchError::sys("SIGINT/SIGTERM handler"))?;
    let sched = Arc::new(schedule.started_at(clock.now_ns() + LEAD_NS));
    let start_ns = sched.oper().base_time_ns();
    let names: Vec<&str> = sched.streams().iter().map(|s| s.name.as_str()).collect();
    let mut stats = RunStats::new(names.iter().copied());
    let mut log = match &cfg.hist_log {
        Some(p) => Some(IntervalLog::for_streams(
            p,
            &names,
            clock.now_ns(),
            &IntervalLogConfig::new(SystemTime::now()),
        )?),
        None => None,
    };
    let wire_ns: Vec<u64> = sched
        .streams()
        .iter()
        .map(|s| sched.link().wire_time_ns(s.frame_size))
        .collect();
    // As takt's talker: no slack on the wake-up timer, no other RT set-up.
    let _ = rt::minimize_timer_slack();
    // Counted like takt's talker: the loop should not touch the heap.
    // Built and dropped outside the counted loop (its tables are heap).
    let mut plan = Plan::new(
        Arc::clone(&sched),
        Until::Time(start_ns.saturating_add(cfg.duration_ns)),
    );
    let ((cycles, send_errors), heap) = rt::count_allocations(|| {
        let (mut cycles, mut send_errors) = (0u64, 0u64);
        for p in plan.by_ref() {
            if rt::stop_requested() {
                break;
            }
            if clock.now_ns() < p.launch_ns {
                rt::sleep_until(clock, p.launch_ns);
                if rt::stop_requested() {
                    break;
                }
            }
            cycles = p.cycle + 1;
            let now = clock.now_ns();
            let lane = &mut lanes[p.stream];
            let payload = lane.frame.stamp(p.seq, p.launch_ns, now);
            let st = &mut stats.streams[p.stream];
            if socket::send(lane.fd.as_raw_fd(), payload, MsgFlags::empty()).is_err() {
                send_errors += 1;
                continue;
            }
            st.frames_sent += 1;
            if now.saturating_add(wire_ns[p.stream]) > p.window_end_ns {
                st.late += 1;
            }
            let err = now as i64 - p.launch_ns as i64;
            st.tx_error_ns.record(err);
            if let Some(log) = &mut log {
                log.record_stream(p.stream, MetricKind::TxError, err);
                log.tick(now);
            }
        }
        (cycles, send_errors)
    });
    stats.data_path_allocations =
        rt::allocation_counting_active().then_some(heap.allocs + heap.frees);
    let end_ns = clock.now_ns();
    if let Some(log) = log {
        log.finish(end_ns)?;
    }
    if send_errors > 0 {
        eprintln!("udp-talker: {send_errors} sends failed (not counted as sent)");
    }
    stats.started_ns = start_ns;
    stats.elapsed_ns = end_ns.saturating_sub(start_ns);
    stats.cycles = cycles;
    stats.device = format!("udp:{}", cfg.dest);
    stats.backend = "udp".into();
    stats.clock = clock.as_str().into();
    report::emit_run(cfg.report_json.as_deref(), &stats)?;
    Ok(stats)
}
