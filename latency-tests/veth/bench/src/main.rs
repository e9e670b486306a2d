//! `takt-veth-bench`: the UDP baseline, the pps floods and the percentile
//! tables of latency-tests/veth/run.sh. Each subcommand writes one JSON
//! file (or stdout) that run.sh keeps and plot.py reads.

use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use takt_drivers::DeviceSpec;
use takt_scheduler::units;
use takt_veth_bench::{
    flood, flood_udp, load_schedule, percentiles, ptp_flood, report, sock, udp_listener,
    udp_talker, BenchError, EXIT_OK,
};

// Counts heap use on the data path, reported as data_path_allocations.
#[global_allocator]
static ALLOC: takt_scheduler::rt::CountingAllocator = takt_scheduler::rt::CountingAllocator;

#[derive(Parser)]
#[command(name = "takt-veth-bench", version, about, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

const AFTER_HELP: &str = "\
Exit status: 0 done, 1 runtime failure, 2 bad input, 3 the backend is not
built yet (run.sh records the row as \"not built\").
See latency-tests/README.md and docs/latency.md.";

fn duration_arg(s: &str) -> Result<u64, String> {
    units::parse_duration_ns(s)
}

fn device_arg(s: &str) -> Result<DeviceSpec, String> {
    s.parse::<DeviceSpec>().map_err(|e| e.to_string())
}

#[derive(Subcommand)]
enum Cmd {
    /// Send a schedule's streams as UDP datagrams: sleep until each launch
    /// time, stamp the takt header, send
    UdpTalker {
        #[arg(long, value_name = "FILE")]
        schedule: PathBuf,
        /// Where to send, e.g. 10.79.0.2:7979
        #[arg(long, value_name = "IP:PORT")]
        dest: SocketAddrV4,
        /// Run this long from the first cycle, e.g. 10s
        #[arg(long, value_parser = duration_arg)]
        duration: u64,
        /// Takt JSON run report here (default: stdout)
        #[arg(long, value_name = "FILE")]
        report_json: Option<PathBuf>,
        /// HdrHistogram interval log of the transmit error here
        #[arg(long, value_name = "FILE")]
        hist_log: Option<PathBuf>,
    },
    /// Receive the UDP talker's datagrams with kernel rx timestamps and
    /// report latency, loss, duplicates and reordering as takt-listener does
    UdpListener {
        #[arg(long, value_name = "FILE")]
        schedule: PathBuf,
        /// Address to listen on, e.g. 10.79.0.2:7979
        #[arg(long, value_name = "IP:PORT")]
        bind: SocketAddrV4,
        /// Listen this long, e.g. 11s
        #[arg(long, value_parser = duration_arg)]
        duration: u64,
        #[arg(long, value_name = "FILE")]
        report_json: Option<PathBuf>,
        /// HdrHistogram interval log of the latency here
        #[arg(long, value_name = "FILE")]
        hist_log: Option<PathBuf>,
    },
    /// Open a takt device and close it again: exit 3 if its backend is not built
    Probe {
        #[arg(long, value_name = "SPEC", value_parser = device_arg)]
        device: DeviceSpec,
    },
    /// Send minimum-size takt frames as fast as the ring takes them
    FloodTx {
        #[arg(long, value_name = "SPEC", value_parser = device_arg)]
        device: DeviceSpec,
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
        #[arg(long, default_value_t = 32)]
        batch: usize,
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Count takt frames received (stops after --secs, or --idle-ms without frames)
    FloodRx {
        #[arg(long, value_name = "SPEC", value_parser = device_arg)]
        device: DeviceSpec,
        #[arg(long, default_value_t = 8.0)]
        secs: f64,
        #[arg(long, default_value_t = 500)]
        idle_ms: u64,
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Send minimum-size UDP datagrams with sendmmsg, --batch per call
    FloodUdpTx {
        #[arg(long, value_name = "IP:PORT")]
        dest: SocketAddrV4,
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
        #[arg(long, default_value_t = 32)]
        batch: usize,
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Count UDP datagrams with recvmmsg, --batch per call
    FloodUdpRx {
        #[arg(long, value_name = "IP:PORT")]
        bind: SocketAddrV4,
        #[arg(long, default_value_t = 8.0)]
        secs: f64,
        #[arg(long, default_value_t = 32)]
        batch: usize,
        #[arg(long, default_value_t = 500)]
        idle_ms: u64,
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Send gPTP frames from a foreign port at --rate per second: Pdelay_Req
    /// (pdelay), random bytes after a PTP header (garbage), Sync +
    /// Follow_Up from a port that is not the master (forged-sync), Announce
    /// with the worst priority1 (announce), or all four in turn (mixed)
    PtpFlood {
        #[arg(long, value_name = "SPEC", value_parser = device_arg)]
        device: DeviceSpec,
        #[arg(long, value_enum)]
        kind: ptp_flood::Kind,
        /// Frames per second, all kinds together; 0 = as fast as the ring
        /// takes them
        #[arg(long, value_name = "N")]
        rate: u64,
        #[arg(long, alias = "secs", value_name = "S", default_value_t = 5.0)]
        seconds: f64,
        /// PTP domain of the messages
        #[arg(long, default_value_t = 0)]
        domain: u8,
        /// Seed of the garbage (default: from the clock)
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Keep a socket with SO_TIMESTAMPNS open until SIGINT/SIGTERM (or
    /// --secs): while any socket asks for timestamps the kernel stamps every
    /// frame when it enters the receive backlog, so all rows of a run get
    /// their rx timestamps at the same point
    HoldTimestamps {
        #[arg(long, default_value_t = 3600.0)]
        secs: f64,
    },
    /// Percentile table (JSON) of one metric of an HdrHistogram interval log
    Percentiles {
        #[arg(long, value_name = "FILE")]
        hist_log: PathBuf,
        /// latency or tx_error
        #[arg(long, default_value = "latency")]
        metric: String,
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
}

fn run(cmd: Cmd) -> Result<(), BenchError> {
    let opt = |p: &Option<PathBuf>| p.clone();
    match cmd {
        Cmd::UdpTalker {
            schedule,
            dest,
            duration,
            report_json,
            hist_log,
        } => {
            let s = load_schedule(&schedule)?;
            let cfg = udp_talker::UdpTalkerConfig {
                dest,
                duration_ns: duration,
                report_json,
                hist_log,
            };
            udp_talker::run(&s, &cfg).map(drop)
        }
        Cmd::UdpListener {
            schedule,
            bind,
            duration,
            report_json,
            hist_log,
        } => {
            let s = load_schedule(&schedule)?;
            let cfg = udp_listener::UdpListenerConfig {
                bind,
                duration_ns: duration,
                report_json,
                hist_log,
            };
            udp_listener::run(&s, &cfg).map(drop)
        }
        Cmd::Probe { device } => flood::open(&device).map(drop),
        Cmd::FloodTx {
            device,
            secs,
            batch,
            json,
        } => {
            let mut dev = flood::open(&device)?;
            stop_on_signals()?;
            let r = flood::tx(dev.as_mut(), &device, secs, batch)?;
            report::emit_json(opt(&json).as_deref(), &r)
        }
        Cmd::FloodRx {
            device,
            secs,
            idle_ms,
            json,
        } => {
            let mut dev = flood::open(&device)?;
            stop_on_signals()?;
            let r = flood::rx(dev.as_mut(), &device, secs, idle_ms * 1_000_000)?;
            report::emit_json(opt(&json).as_deref(), &r)
        }
        Cmd::FloodUdpTx {
            dest,
            secs,
            batch,
            json,
        } => {
            stop_on_signals()?;
            let r = flood_udp::tx(dest, secs, batch)?;
            report::emit_json(opt(&json).as_deref(), &r)
        }
        Cmd::FloodUdpRx {
            bind,
            secs,
            batch,
            idle_ms,
            json,
        } => {
            stop_on_signals()?;
            let r = flood_udp::rx(bind, secs, batch, idle_ms * 1_000_000)?;
            report::emit_json(opt(&json).as_deref(), &r)
        }
        Cmd::PtpFlood {
            device,
            kind,
            rate,
            seconds,
            domain,
            seed,
            json,
        } => {
            let mut dev = flood::open(&device)?;
            stop_on_signals()?;
            let cfg = ptp_flood::FloodConfig {
                kind,
                rate,
                seconds,
                domain,
                seed: seed.unwrap_or_else(|| takt_scheduler::ClockId::Monotonic.now_ns()),
            };
            let r = ptp_flood::run(dev.as_mut(), &device, &cfg)?;
            report::emit_json(opt(&json).as_deref(), &r)
        }
        Cmd::HoldTimestamps { secs } => {
            stop_on_signals()?;
            sock::hold_timestamps(std::time::Duration::from_secs_f64(secs.max(0.0)))
        }
        Cmd::Percentiles {
            hist_log,
            metric,
            json,
        } => {
            let t = percentiles::table(Path::new(&hist_log), &metric)?;
            report::emit_json(json.as_deref(), &t)
        }
    }
}

fn stop_on_signals() -> Result<(), BenchError> {
    takt_scheduler::rt::install_stop_signals().map_err(BenchError::sys("SIGINT/SIGTERM handler"))
}

fn main() -> ExitCode {
    match run(Cli::parse().cmd) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("takt-veth-bench: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
