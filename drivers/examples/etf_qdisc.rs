//! `etf_qdisc IFNAME DELTA_NS [deadline]`: `tc qdisc replace dev IFNAME root
//! etf clockid CLOCK_TAI delta DELTA_NS` over rtnetlink, then reads it back
//! as `packet:` will. For guests without iproute2 (the ETF guest test,
//! tools/tests/etf_guest.rs).
//!
//! `etf_qdisc probe IFNAME AHEAD_US N`: a diagnostic — sends N frames 1 ms
//! apart through `packet:IFNAME`, each AHEAD_US before its launch time, and
//! prints the device's counters and ETF's error counts after each.

use std::process::ExitCode;
use takt_drivers::link;
use takt_drivers::packet::etf::{self, EtfParams, TC_ETF_DEADLINE_MODE_ON};

/// `etf_qdisc probe IFNAME AHEAD_US N`: send N frames 1 ms apart, each
/// handed over AHEAD_US before its launch time, and print what happened.
fn probe(ifname: &str, ahead_ns: u64, n: u64) -> ExitCode {
    use takt_drivers::packet::{PacketDevice, PacketOptions};
    use takt_drivers::{RingDevice, TxBatch, TxFrame};
    let mut dev = PacketDevice::open(ifname, PacketOptions::default()).expect("open");
    println!("{}", dev.launch_time_note());
    let tai = || {
        let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_TAI).unwrap();
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    };
    let t0 = tai() + 10_000_000;
    for i in 0..n {
        let launch = t0 + i * 1_000_000;
        while tai() + ahead_ns < launch {}
        let b = dev.alloc().unwrap();
        dev.buf_mut(&b)[..60].fill(0xff);
        let mut batch = TxBatch::new();
        let _ = batch.push_back(TxFrame {
            buf: b,
            len: 60,
            launch_time_ns: Some(launch),
        });
        let before = tai();
        let took = dev.tx_burst(&mut batch);
        println!(
            "{i}: launch {launch} handed at launch{:+} took {took} errors {:?} {:?}",
            before as i64 - launch as i64,
            dev.launch_time_errors(),
            dev.counters()
        );
        while let Some(f) = batch.pop_front() {
            dev.free(f.buf);
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    println!(
        "end errors {:?} {:?}",
        dev.launch_time_errors(),
        dev.counters()
    );
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("probe") {
        return probe(
            &args[1],
            args[2].parse::<u64>().unwrap() * 1000,
            args[3].parse().unwrap(),
        );
    }
    let (Some(ifname), Some(delta)) = (args.first(), args.get(1)) else {
        eprintln!("usage: etf_qdisc IFNAME DELTA_NS [deadline]");
        return ExitCode::from(2);
    };
    let Ok(delta_ns) = delta.parse::<i32>() else {
        eprintln!("etf_qdisc: DELTA_NS must be whole nanoseconds, not '{delta}'");
        return ExitCode::from(2);
    };
    let flags = if args.get(2).map(String::as_str) == Some("deadline") {
        TC_ETF_DEADLINE_MODE_ON
    } else {
        0
    };
    let params = EtfParams {
        delta_ns,
        clockid: nix::time::ClockId::CLOCK_TAI.as_raw(),
        flags,
    };
    let found = etf::add_root_etf(ifname, params)
        .and_then(|()| etf::find_etf(ifname, link::ifindex(ifname)?));
    match found {
        Ok(Some(q)) => {
            println!(
                "etf on {ifname}: {} clockid {} delta {} flags {:#x}",
                q.place(),
                q.params.clockid,
                q.params.delta_ns,
                q.params.flags
            );
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("etf_qdisc: added, but no ETF qdisc reads back on {ifname}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("etf_qdisc: {e}");
            ExitCode::FAILURE
        }
    }
}
