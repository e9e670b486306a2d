//! `etf_qdisc IFNAME DELTA_NS [deadline]`: `tc qdisc replace dev IFNAME root
//! etf clockid CLOCK_TAI delta DELTA_NS` over rtnetlink, then reads it back
//! as `packet:` will. For guests without iproute2 (the ETF guest test,
//! tools/tests/etf_guest.rs).
//!
//! `etf_qdisc probe IFNAME AHEAD_US N`: a diagnostic — sends N frames 1 ms
//! apart through `packet:IFNAME`, each AHEAD_US before its launch time, and
//! prints the device's counters and ETF's error counts after each.
//!
//! `etf_qdisc stamps IFNAME N`: transmit stamps through ETF — N frames 2 ms
//! apart asking for a stamp (half without a launch time, half 3 x delta
//! ahead), then one with a launch time already past (ETF refuses it: its
//! stamp must be counted lost, as must those of frames ETF missed); prints
//! every stamp against its launch time and the counters.

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
            stamp_tag: None,
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

/// `etf_qdisc stamps IFNAME N`: see the module docs.
fn stamps(ifname: &str, n: u32) -> ExitCode {
    use takt_drivers::packet::{PacketDevice, PacketOptions};
    use takt_drivers::{RingDevice, TxBatch, TxFrame, TxStampBatch};
    let mut dev = PacketDevice::open(ifname, PacketOptions::default()).expect("open");
    println!("{}", dev.launch_time_note());
    let clock = dev.info().clock.expect("a real clock");
    let now = || {
        let t = nix::time::clock_gettime(clock).unwrap();
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    };
    let delta = 5_000_000u64;
    let mut launch = Vec::new();
    let mut send = |dev: &mut PacketDevice, tag: u32, at: Option<u64>| {
        let b = dev.alloc().unwrap();
        dev.buf_mut(&b)[..60].fill(0xff);
        let mut batch = TxBatch::new();
        let _ = batch.push_back(TxFrame {
            buf: b,
            len: 60,
            launch_time_ns: at,
            stamp_tag: Some(tag),
        });
        let before = now();
        let took = dev.tx_burst(&mut batch);
        launch.push((tag, before, at));
        took
    };
    for i in 0..n {
        let at = (i % 2 == 1).then(|| now() + 3 * delta);
        send(&mut dev, i, at);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    send(&mut dev, n, Some(now() - 1_000_000));
    std::thread::sleep(std::time::Duration::from_millis(100));
    let mut out = TxStampBatch::new();
    let mut got = Vec::new();
    for _ in 0..50 {
        dev.tx_stamps(&mut out);
        got.extend(out.iter().copied());
        out.clear();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    for s in &got {
        let (_, before, at) = launch[s.tag as usize];
        let at = at.map_or("none".to_string(), |a| {
            format!("{:+} us", (s.time_ns as i64 - a as i64) / 1000)
        });
        println!(
            "STAMP tag {}: {:+} us after tx_burst, vs its launch time {at}",
            s.tag,
            (s.time_ns as i64 - before as i64) / 1000
        );
    }
    let c = dev.counters();
    println!(
        "STAMPS {} of {n} (+1 refused); lost {}; errors {:?}; {c:?}",
        got.len(),
        c.tx_stamps_lost,
        dev.launch_time_errors()
    );
    // Every frame is stamped, so each frame ETF dropped (the refused one,
    // and any TCG's late timers made it miss) is one lost stamp, and every
    // other frame has its stamp.
    let (invalid, missed) = dev.launch_time_errors();
    let once = got
        .iter()
        .map(|s| s.tag)
        .collect::<std::collections::BTreeSet<_>>();
    let ok = once.len() == got.len()
        && !once.contains(&n)
        && c.tx_stamps_lost == invalid + missed
        && invalid >= 1
        && got.len() as u64 + c.tx_stamps_lost == u64::from(n) + 1;
    if ok {
        println!("PASS every stamp through ETF, the ones ETF dropped lost");
        ExitCode::SUCCESS
    } else {
        println!("FAIL stamps through ETF");
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("stamps") {
        return stamps(&args[1], args[2].parse().unwrap());
    }
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
