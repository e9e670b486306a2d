//! The busy-poll flags reach the sockets: parsed as `takt-listener` parses
//! them, opened on `packet:` and `xdp:` devices on a veth pair between two
//! namespaces, and read back with getsockopt (all but SO_BUSY_POLL_BUDGET,
//! which the kernel does not read back: that the open did not fail says it
//! was set). Also what docs/backends.md says of AF_PACKET: it never
//! records a NAPI context, so busy polling has nothing to poll for it; and
//! AF_XDP without need-wakeup still carries frames both ways. Receiving
//! with busy polling on allocates nothing (the counting allocator).
//! Without CAP_NET_ADMIN, --prefer-busy-poll ends takt-listener with exit
//! 1 naming the option and the capability.
//!
//! Needs root (namespaces, raw sockets, BPF, CAP_NET_ADMIN for the
//! options). Without it the tests skip with a message, except under
//! CI=true, where they fail. The namespaces are deleted when each test
//! ends, also when it fails.

#[global_allocator]
static ALLOC: takt_scheduler::rt::CountingAllocator = takt_scheduler::rt::CountingAllocator;

mod common;

use clap::Parser;
use common::veth::{one_at_a_time, ready, Wire};
use std::time::{Duration, Instant};
use takt_drivers::busy_poll;
use takt_drivers::link::Netns;
use takt_drivers::packet::{PacketDevice, PacketOptions};
use takt_drivers::xdp::{XdpDevice, XdpOptions};
use takt_drivers::{BusyPoll, RingDevice, RxBatch, TxBatch, TxFrame};
use takt_tools::device_args::DeviceArgs;

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    d: DeviceArgs,
}

const FLAGS: [&str; 6] = [
    "t",
    "--busy-poll",
    "50",
    "--busy-poll-budget",
    "64",
    "--prefer-busy-poll",
];

fn send(dev: &mut dyn RingDevice, n: usize) {
    let mut q = TxBatch::new();
    for i in 0..n {
        let buf = dev.alloc().expect("a buffer");
        let b = dev.buf_mut(&buf);
        b[..14].copy_from_slice(
            &[0xff; 6]
                .into_iter()
                .chain([2, 0, 0, 0, 0, 1, 0x88, 0xb5])
                .collect::<Vec<_>>(),
        );
        b[14..60].fill(i as u8);
        let _ = q.push_back(TxFrame {
            buf,
            len: 60,
            launch_time_ns: None,
            stamp_tag: None,
        });
        dev.tx_burst(&mut q);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Frames with the test's EtherType that `dev` receives within 5 s, up to
/// `n`; the receive loop must not touch the heap.
fn receive(dev: &mut dyn RingDevice, n: usize) -> usize {
    assert!(takt_scheduler::rt::allocation_counting_active());
    let (got, counts) = takt_scheduler::rt::count_allocations(|| receive_loop(dev, n));
    assert_eq!(
        (counts.allocs, counts.frees),
        (0, 0),
        "heap operations while receiving"
    );
    got
}

fn receive_loop(dev: &mut dyn RingDevice, n: usize) -> usize {
    let mut got = 0;
    let mut batch = RxBatch::new();
    let t0 = Instant::now();
    while got < n && t0.elapsed() < Duration::from_secs(5) {
        dev.rx_burst(&mut batch);
        while let Some(f) = batch.pop_front() {
            if dev.buf(&f.buf).get(12..14) == Some(&[0x88, 0xb5]) {
                got += 1;
            }
            dev.free(f.buf);
        }
    }
    got
}

#[test]
fn busy_poll_flags_reach_the_packet_socket_and_it_has_no_napi_to_poll() {
    let test = "busy_poll_flags_reach_the_packet_socket_and_it_has_no_napi_to_poll";
    if !ready(test, &[]) {
        return;
    }
    let _one = one_at_a_time();
    let tuning = Cli::try_parse_from(FLAGS).unwrap().d.tuning();
    let wire = Wire::new();
    let b = wire.b.clone();
    let rx = std::thread::spawn(move || {
        Netns::enter(&b, move || {
            let opts = PacketOptions {
                busy_poll: tuning.busy_poll,
                ..Default::default()
            };
            let mut dev = PacketDevice::open("tk-b", opts).expect("open tk-b with busy polling");
            let set = busy_poll::read(dev.raw_fd()).expect("getsockopt");
            let got = receive(&mut dev, 20);
            let napi = busy_poll::incoming_napi_id(dev.raw_fd()).expect("SO_INCOMING_NAPI_ID");
            (set, got, napi)
        })
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(300));
    Netns::enter(&wire.a, || {
        let mut dev = PacketDevice::open("tk-a", PacketOptions::default()).expect("open tk-a");
        send(&mut dev, 20);
    })
    .unwrap();
    let (set, got, napi) = rx.join().unwrap();
    assert_eq!(
        set,
        BusyPoll {
            usec: 50,
            prefer: true,
            // The kernel cannot read it back; the open set it or failed.
            budget: 0
        }
    );
    assert_eq!(got, 20, "frames received with busy polling on");
    assert_eq!(
        napi, 0,
        "AF_PACKET recorded a NAPI id: update docs/backends.md"
    );
}

#[test]
fn busy_poll_flags_reach_every_xdp_socket_and_frames_cross_without_need_wakeup() {
    let test = "busy_poll_flags_reach_every_xdp_socket_and_frames_cross_without_need_wakeup";
    if !ready(test, &[]) {
        return;
    }
    let _one = one_at_a_time();
    let mut flags = FLAGS.to_vec();
    flags.extend(["--xdp-need-wakeup", "off"]);
    let tuning = Cli::try_parse_from(flags).unwrap().d.tuning();
    assert_eq!(tuning.xdp_need_wakeup, Some(false));
    let wire = Wire::new();
    let b = wire.b.clone();
    let opts = move || XdpOptions {
        busy_poll: tuning.busy_poll,
        need_wakeup: tuning.xdp_need_wakeup.unwrap_or(true),
        ..Default::default()
    };
    let rx = std::thread::spawn(move || {
        Netns::enter(&b, move || {
            let mut dev = XdpDevice::open_all("tk-b", opts()).expect("open xdp:tk-b");
            let set: Vec<BusyPoll> = dev
                .raw_fds()
                .into_iter()
                .map(|fd| busy_poll::read(fd).expect("getsockopt"))
                .collect();
            (set, receive(&mut dev, 20))
        })
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(500));
    // The sender without need-wakeup too: every TX burst kicks.
    Netns::enter(&wire.a, move || {
        let mut dev = XdpDevice::open_all("tk-a", opts()).expect("open xdp:tk-a");
        send(&mut dev, 20);
    })
    .unwrap();
    let (set, got) = rx.join().unwrap();
    assert!(!set.is_empty());
    for s in set {
        assert_eq!(
            s,
            BusyPoll {
                usec: 50,
                prefer: true,
                budget: 0
            }
        );
    }
    assert_eq!(got, 20, "frames received over AF_XDP with busy polling");
}

#[test]
fn without_cap_net_admin_prefer_busy_poll_is_refused_naming_it() {
    let test = "without_cap_net_admin_prefer_busy_poll_is_refused_naming_it";
    if !ready(test, &["ip", "setpriv"]) {
        return;
    }
    let _one = one_at_a_time();
    let wire = Wire::new();
    let schedule = common::example("single-stream-1ms.toml");
    let child = wire.spawn(
        &wire.b,
        "setpriv",
        &[
            "--inh-caps=-all",
            "--bounding-set=-net_admin",
            "--",
            env!("CARGO_BIN_EXE_takt-listener"),
            "--schedule",
            &schedule,
            "--device",
            "packet:tk-b",
            "--busy-poll",
            "50",
            "--prefer-busy-poll",
            "--duration",
            "1s",
            "-q",
        ],
    );
    let out = common::wait_at_most(child, Duration::from_secs(30));
    let err = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("SO_PREFER_BUSY_POLL 1 needs CAP_NET_ADMIN"),
        "{err}"
    );
}
