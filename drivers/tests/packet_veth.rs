//! AF_PACKET across a veth pair between two network namespaces this test
//! creates (and deletes again, also when it fails). Needs root; without it
//! the tests skip with a message, except under CI=true, where they fail.

mod common;

use common::{
    check_frames, check_stamps, collect_stamps, drop_root_on_this_thread, frame, in_netns,
    measure_send_pps, open_err, print_spread, receive, send_each_stamped, send_frame, send_frames,
    send_one, send_one_stamped, send_stamped_frames, Netns,
};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use takt_drivers::link;
use takt_drivers::packet::{PacketDevice, PacketOptions};
use takt_drivers::{RingDevice, RxBatch, StampSource};

/// Namespaces with `tk-a` and `tk-b` on 10.78.0.0/24 (`tk-a` down unless
/// `up`) for `test`, or `None` (after saying why) when it skips.
fn netns(test: &str, up: bool) -> Option<Netns> {
    common::need_root(test, "network namespaces, CAP_NET_RAW")
        .then(|| Netns::new("t", "tk-a", "tk-b", "10.78.0", up))
}

const N: usize = 1000;

#[test]
fn a_thousand_frames_cross_the_veth_in_order_with_their_tags() {
    let Some(ns) = netns(
        "a_thousand_frames_cross_the_veth_in_order_with_their_tags",
        true,
    ) else {
        return;
    };
    let (ready_tx, ready_rx) = mpsc::channel::<[u8; 6]>();
    let (src_tx, src_rx) = mpsc::channel::<[u8; 6]>();

    let rx = in_netns(&ns.b, move || {
        let mut dev = PacketDevice::open("tk-b", PacketOptions::default()).expect("open tk-b");
        assert_eq!(dev.info().name, "packet:tk-b");
        assert_eq!(dev.info().clock, Some(nix::time::ClockId::CLOCK_REALTIME));
        assert!(!dev.info().caps.launch_time);
        ready_tx.send(dev.info().mac).unwrap();
        let src = src_rx.recv().unwrap();
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut stray = 0u64;
        let mut batch = RxBatch::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while got.len() < N && Instant::now() < deadline {
            if dev.rx_burst(&mut batch) == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
            while let Some(f) = batch.pop_front() {
                let bytes = dev.buf(&f.buf)[..f.len].to_vec();
                assert!(
                    f.rx_time_ns > 1_600_000_000 * 1_000_000_000,
                    "realtime stamp"
                );
                if bytes.len() >= 12 && bytes[6..12] == src {
                    got.push(bytes);
                } else {
                    stray += 1;
                }
                dev.free(f.buf);
            }
        }
        let c = dev.counters();
        (got, stray, c, dev.outstanding())
    });

    let dst_mac = ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let tx = in_netns(&ns.a, move || {
        let mut dev = PacketDevice::open("tk-a", PacketOptions::default()).expect("open tk-a");
        assert_ne!(dev.info().mac, dst_mac);
        assert!(dev.info().link_speed_bps > 0);
        let src = dev.info().mac;
        src_tx.send(src).unwrap();
        let (_, bytes) = send_frames(&mut dev, N);
        // Let the kernel finish the ring before the device (and ring) go.
        std::thread::sleep(Duration::from_millis(50));
        (dev.counters(), dev.outstanding(), bytes, src)
    });

    let (tc, t_out, t_bytes, src) = tx.join().expect("sender thread");
    let (got, stray, rc, r_out) = rx.join().expect("receiver thread");
    assert_eq!(got.len(), N, "received {} of {N}", got.len());
    for (i, g) in got.iter().enumerate() {
        let want = frame(i, src);
        assert_eq!(g.len(), want.len(), "frame {i} length");
        assert!(
            g == &want,
            "frame {i} content (tag re-inserted: {})",
            i % 3 == 0
        );
    }
    assert_eq!(tc.tx_frames, N as u64);
    assert_eq!(tc.tx_bytes, t_bytes);
    assert_eq!(tc.tx_drops, 0);
    assert_eq!(rc.rx_frames, N as u64 + stray);
    assert!(rc.rx_bytes >= t_bytes);
    assert_eq!(rc.rx_drops, 0);
    assert_eq!((t_out, r_out), (0, 0), "buffers leaked");
}

/// 200 frames, every 5th asking for a transmit stamp.
const STAMPED: usize = 200;
const EVERY: usize = 5;

#[test]
fn every_fifth_frame_gets_one_kernel_stamp_between_its_send_and_the_peers_receive() {
    let Some(ns) = netns(
        "every_fifth_frame_gets_one_kernel_stamp_between_its_send_and_the_peers_receive",
        true,
    ) else {
        return;
    };
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (src_tx, src_rx) = mpsc::channel::<[u8; 6]>();
    let rx = in_netns(&ns.b, move || {
        let mut dev = PacketDevice::open("tk-b", PacketOptions::default()).expect("open tk-b");
        ready_tx.send(()).unwrap();
        let src = src_rx.recv().unwrap();
        (receive(&mut dev, STAMPED, src), dev.info().clock)
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let tx = in_netns(&ns.a, move || {
        let mut dev = PacketDevice::open("tk-a", PacketOptions::default()).expect("open tk-a");
        assert_eq!(dev.info().caps.tx_stamps, StampSource::KernelSoftware);
        src_tx.send(dev.info().mac).unwrap();
        let sent_at = send_stamped_frames(&mut dev, STAMPED, EVERY);
        let (stamps, allocs) = collect_stamps(&mut dev, STAMPED / EVERY);
        let info = dev.info().clone();
        (sent_at, stamps, allocs, dev.counters(), info)
    });
    let (sent_at, stamps, allocs, c, info) = tx.join().expect("sender thread");
    let (got, rx_clock) = rx.join().expect("receiver thread");
    // In order: the stamped frames left by their own socket after the ring
    // frames queued before them.
    check_frames(&got, STAMPED, info.mac);
    assert_eq!(info.clock, rx_clock, "both ends stamp on one clock");
    check_stamps(&stamps, &sent_at, &got.times, EVERY);
    assert_eq!(allocs, 0, "heap operations in tx_stamps");
    assert_eq!(
        (c.tx_frames, c.tx_drops, c.tx_stamps_lost),
        (STAMPED as u64, 0, 0),
        "{c:?}"
    );
}

/// How far the kernel's software tx stamp is from the peer's rx stamp and
/// from the `tx_burst` call, one stamped frame per burst: `cargo test
/// --release -p takt-drivers --test packet_veth -- --ignored --nocapture
/// stamp_spread`.
#[test]
#[ignore = "measurement, not a check"]
fn stamp_spread() {
    const FRAMES: usize = 3000;
    let Some(ns) = netns("stamp_spread", true) else {
        return;
    };
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (src_tx, src_rx) = mpsc::channel::<[u8; 6]>();
    let rx = in_netns(&ns.b, move || {
        let mut dev = PacketDevice::open("tk-b", PacketOptions::default()).expect("open tk-b");
        ready_tx.send(()).unwrap();
        receive(&mut dev, FRAMES, src_rx.recv().unwrap())
    });
    ready_rx.recv().unwrap();
    let (around, stamps) = in_netns(&ns.a, move || {
        let mut dev = PacketDevice::open("tk-a", PacketOptions::default()).expect("open tk-a");
        src_tx.send(dev.info().mac).unwrap();
        send_each_stamped(&mut dev, FRAMES)
    })
    .join()
    .unwrap();
    let got = rx.join().unwrap();
    assert_eq!((got.frames.len(), stamps.len()), (FRAMES, FRAMES));
    let of =
        |f: &dyn Fn(&takt_drivers::TxStamp) -> i64| -> Vec<i64> { stamps.iter().map(f).collect() };
    let i = |s: &takt_drivers::TxStamp| s.tag as usize;
    print_spread(
        "packet: peer rx stamp - tx stamp",
        &mut of(&|s| got.times[i(s)] as i64 - s.time_ns as i64),
    );
    print_spread(
        "packet: tx stamp - before tx_burst",
        &mut of(&|s| s.time_ns as i64 - around[i(s)].0 as i64),
    );
    print_spread(
        "packet: after tx_burst - tx stamp",
        &mut of(&|s| around[i(s)].1 as i64 - s.time_ns as i64),
    );
}

#[test]
fn a_missing_interface_is_named() {
    let Some(ns) = netns("a_missing_interface_is_named", true) else {
        return;
    };
    let e = open_err(&ns.a, || {
        PacketDevice::open("tk-nope", PacketOptions::default())
    });
    assert!(e.contains("no network interface \"tk-nope\""), "{e}");
    assert!(e.contains("ip link"), "{e}");
}

#[test]
fn without_an_etf_qdisc_there_is_no_launch_time_and_the_note_says_how_to_add_one() {
    let Some(ns) = netns(
        "without_an_etf_qdisc_there_is_no_launch_time_and_the_note_says_how_to_add_one",
        true,
    ) else {
        return;
    };
    let (caps, clock, note, qdiscs) = in_netns(&ns.a, || {
        let dev = PacketDevice::open("tk-a", PacketOptions::default()).expect("open tk-a");
        let qdiscs = takt_drivers::packet::etf::find_etf("tk-a", link::ifindex("tk-a").unwrap())
            .expect("qdisc dump");
        (
            dev.info().caps,
            dev.info().clock,
            RingDevice::launch_time_note(&dev).map(str::to_string),
            qdiscs,
        )
    })
    .join()
    .unwrap();
    assert_eq!(qdiscs, None);
    assert!(!caps.launch_time);
    assert_eq!(clock, Some(nix::time::ClockId::CLOCK_REALTIME));
    let note = note.expect("packet: explains its launch time");
    assert!(note.contains("no ETF qdisc on tk-a"), "{note}");
    assert!(
        note.contains("tc qdisc replace dev tk-a root etf clockid CLOCK_TAI"),
        "{note}"
    );
}

#[test]
fn adding_an_etf_qdisc_names_the_module_when_the_kernel_lacks_it() {
    use takt_drivers::packet::etf::{add_root_etf, EtfParams};
    let Some(ns) = netns(
        "adding_an_etf_qdisc_names_the_module_when_the_kernel_lacks_it",
        true,
    ) else {
        return;
    };
    let r = in_netns(&ns.a, || {
        add_root_etf(
            "tk-a",
            EtfParams {
                delta_ns: 200_000,
                clockid: nix::time::ClockId::CLOCK_TAI.as_raw(),
                flags: 0,
            },
        )
        .map_err(|e| e.to_string())
    })
    .join()
    .unwrap();
    // This host's kernel may or may not have sch_etf: either it worked, or
    // the error names the module to load.
    if let Err(e) = r {
        assert!(e.contains("sch_etf"), "{e}");
    }
}

#[test]
fn a_down_interface_says_how_to_bring_it_up() {
    let Some(ns) = netns("a_down_interface_says_how_to_bring_it_up", false) else {
        return;
    };
    let e = open_err(&ns.a, || {
        PacketDevice::open("tk-a", PacketOptions::default())
    });
    assert!(e.contains("ip link set tk-a up"), "{e}");
}

#[test]
fn without_cap_net_raw_it_names_the_capability() {
    let Some(ns) = netns("without_cap_net_raw_it_names_the_capability", true) else {
        return;
    };
    let e = open_err(&ns.a, || {
        drop_root_on_this_thread();
        PacketDevice::open("tk-a", PacketOptions::default())
    });
    assert!(e.contains("needs CAP_NET_RAW (run as root)"), "{e}");
}

/// Send-loop rate, qdisc bypass on and off: `cargo test --release -p
/// takt-drivers --test packet_veth -- --ignored --nocapture send_loop_pps`.
#[test]
#[ignore = "measurement, not a check"]
fn send_loop_pps() {
    let Some(ns) = netns("send_loop_pps", true) else {
        return;
    };
    for bypass in [true, false] {
        let (pps, full) = in_netns(&ns.a, move || {
            let opts = PacketOptions {
                qdisc_bypass: bypass,
                ..Default::default()
            };
            let mut dev = PacketDevice::open("tk-a", opts).expect("open tk-a");
            let pps = measure_send_pps(&mut dev, Duration::from_secs(2));
            (pps, dev.counters().tx_ring_full)
        })
        .join()
        .unwrap();
        eprintln!("qdisc_bypass={bypass}: {pps:.0} pps (60-byte frames, batch 32, tx ring full {full} times)");
    }
}

#[test]
fn a_link_down_is_counted_once_and_nothing_leaks() {
    let Some(ns) = netns("a_link_down_is_counted_once_and_nothing_leaks", true) else {
        return;
    };
    let (down, after, outstanding, stamps) = in_netns(&ns.a, move || {
        let mut dev = PacketDevice::open("tk-a", PacketOptions::default()).expect("open tk-a");
        let src = dev.info().mac;
        link::set_up("tk-a", false).expect("link down");
        send_one(&mut dev, 0, src);
        send_one_stamped(&mut dev, 1, src);
        send_one(&mut dev, 2, src);
        let down = dev.counters();
        link::set_up("tk-a", true).expect("link up");
        send_one_stamped(&mut dev, 3, src);
        let (stamps, _) = collect_stamps(&mut dev, 1);
        (down, dev.counters(), dev.outstanding(), stamps)
    })
    .join()
    .unwrap();
    assert_eq!(down.link_down, 1, "{down:?}");
    assert_eq!(after.link_down, 1, "{after:?}");
    // Frames queued while the link was down are dropped, not sent stale
    // once it is back; the frame after it goes out.
    assert_eq!((down.tx_drops, down.tx_frames), (3, 0), "{down:?}");
    assert_eq!((after.tx_drops, after.tx_frames), (3, 1), "{after:?}");
    assert_eq!(outstanding, 0);
    // The stamped frame dropped while down never gets a stamp; the one
    // sent once the link is back does.
    assert_eq!(down.tx_stamps_lost, 1, "{down:?}");
    assert_eq!(after.tx_stamps_lost, 1, "{after:?}");
    assert_eq!(stamps.iter().map(|s| s.tag).collect::<Vec<_>>(), [3]);
}

/// How long a sparse frame waits in the RX ring before `rx_burst` sees it
/// (TPACKET_V3's block retire timeout made it up to 1 ms; V2 has none;
/// tools/tests/packet_pickup.rs asserts it): `cargo test --release -p
/// takt-drivers --test packet_veth -- --ignored --nocapture rx_pickup_delay`.
#[test]
#[ignore = "measurement, not a check"]
fn rx_pickup_delay() {
    const FRAMES: usize = 300;
    let Some(ns) = netns("rx_pickup_delay", true) else {
        return;
    };
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let rx = in_netns(&ns.b, move || {
        let mut dev = PacketDevice::open("tk-b", PacketOptions::default()).expect("open tk-b");
        ready_tx.send(()).unwrap();
        let mut delays = Vec::new();
        let mut batch = RxBatch::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while delays.len() < FRAMES && Instant::now() < deadline {
            dev.rx_burst(&mut batch);
            let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME).unwrap();
            let now = now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64;
            while let Some(f) = batch.pop_front() {
                delays.push(now.saturating_sub(f.rx_time_ns));
                dev.free(f.buf);
            }
        }
        delays
    });
    ready_rx.recv().unwrap();
    in_netns(&ns.a, move || {
        let mut dev = PacketDevice::open("tk-a", PacketOptions::default()).expect("open tk-a");
        let f = frame(1, dev.info().mac);
        for _ in 0..FRAMES {
            send_frame(&mut dev, &f);
            std::thread::sleep(Duration::from_micros(2500));
        }
    })
    .join()
    .unwrap();
    let mut d = rx.join().unwrap();
    d.sort_unstable();
    let p = |q: f64| d[((d.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    eprintln!(
        "rx pickup delay over {} sparse frames: p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        d.len(),
        p(0.5),
        p(0.99),
        p(1.0)
    );
}

#[test]
fn stream_destinations_are_joined_while_the_device_is_open() {
    let Some(ns) = netns(
        "stream_destinations_are_joined_while_the_device_is_open",
        true,
    ) else {
        return;
    };
    let group = [0x91, 0xe0, 0xf0, 0x00, 0xfe, 0x07];
    let foreign = [0x02, 0, 0, 0, 0, 0x99];
    let link = common::destinations(&ns.b, "tk-b", group, &[foreign], |ifname| {
        PacketDevice::open(ifname, PacketOptions::default()).expect("open tk-b")
    });
    // A unicast address other than its own puts the interface in
    // promiscuous mode, for as long as the device is open.
    assert!(link.open.contains("promiscuity 1"), "{}", link.open);
    assert!(link.closed.contains("promiscuity 0"), "{}", link.closed);
}

/// Frames sent in `packet_listener_survives_a_200ms_stall`: one per
/// millisecond for longer than the stall (a TPACKET_V3 ring closed a block
/// per frame, and its default 64 blocks could not hold them; a V2 ring
/// takes one slot per frame).
const STALL_FRAMES: usize = 200;

#[test]
fn packet_listener_survives_a_200ms_stall() {
    let Some(ns) = netns("packet_listener_survives_a_200ms_stall", true) else {
        return;
    };
    let (ready_tx, ready_rx) = mpsc::channel::<[u8; 6]>();
    let (src_tx, src_rx) = mpsc::channel::<[u8; 6]>();
    let (sent_tx, sent_rx) = mpsc::channel::<()>();
    let rx = in_netns(&ns.b, move || {
        // What a schedule of one frame per ms, 1,514 bytes, asks for.
        let load = takt_drivers::RxLoad {
            frames_per_sec: 1000,
            max_frame_len: 1514,
        };
        let mut dev =
            PacketDevice::open("tk-b", PacketOptions::for_load(Some(load))).expect("open tk-b");
        ready_tx.send(dev.info().mac).unwrap();
        let src = src_rx.recv().unwrap();
        // The stall: not one rx_burst while the sender sends.
        sent_rx.recv().unwrap();
        receive(&mut dev, STALL_FRAMES, src)
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let tx = in_netns(&ns.a, move || {
        let mut dev = PacketDevice::open("tk-a", PacketOptions::default()).expect("open tk-a");
        let src = dev.info().mac;
        src_tx.send(src).unwrap();
        let t0 = Instant::now();
        for i in 0..STALL_FRAMES {
            send_one(&mut dev, i, src);
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
        let stalled = t0.elapsed();
        sent_tx.send(()).unwrap();
        (src, stalled)
    });
    let (src, stalled) = tx.join().expect("sender thread");
    let got = rx.join().expect("receiver thread");
    assert!(stalled >= Duration::from_millis(200), "stalled {stalled:?}");
    assert_eq!(got.counters.rx_drops, 0, "the ring overflowed");
    check_frames(&got, STALL_FRAMES, src);
}

/// One UDP datagram of `len` bytes from ns_a's address to ns_b's port 9.
fn send_udp(ns: &str, len: usize) {
    in_netns(ns, move || {
        let s = std::net::UdpSocket::bind("10.78.0.1:0").expect("bind");
        s.send_to(&vec![0x5a; len], "10.78.0.2:9").expect("send");
    })
    .join()
    .unwrap();
}

#[test]
fn a_jumbo_frame_is_counted_truncated_never_delivered_cut() {
    let Some(ns) = netns(
        "a_jumbo_frame_is_counted_truncated_never_delivered_cut",
        true,
    ) else {
        return;
    };
    for (n, ifname) in [(&ns.a, "tk-a"), (&ns.b, "tk-b")] {
        link::Netns::enter(n, move || link::set_mtu(ifname, 9000))
            .unwrap()
            .expect("MTU 9000");
    }
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let rx = in_netns(&ns.b, move || {
        let mut dev = PacketDevice::open("tk-b", PacketOptions::default()).expect("open tk-b");
        ready_tx.send(()).unwrap();
        // Every IPv4 frame handed out, until the small datagram sent last.
        let mut ipv4 = Vec::new();
        let mut batch = RxBatch::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !ipv4.iter().any(|f: &Vec<u8>| f.len() < 200) {
            if dev.rx_burst(&mut batch) == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            while let Some(f) = batch.pop_front() {
                let b = dev.buf(&f.buf)[..f.len].to_vec();
                if b.len() >= 34 && b[12..14] == [0x08, 0x00] && b[23] == 17 {
                    ipv4.push(b);
                }
                dev.free(f.buf);
            }
        }
        (ipv4, dev.counters())
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    send_udp(&ns.a, 8958); // a 9,000-byte frame: 14 + 20 + 8 + 8,958
    send_udp(&ns.a, 100);
    let (ipv4, c) = rx.join().expect("receiver thread");
    for f in &ipv4 {
        let ip_len = usize::from(u16::from_be_bytes([f[16], f[17]]));
        assert!(
            14 + ip_len <= f.len(),
            "a {}-byte frame of a {}-byte datagram was handed out as good",
            f.len(),
            ip_len
        );
    }
    assert_eq!(ipv4.len(), 1, "only the small datagram arrives");
    assert_eq!(c.rx_truncated, 1, "{c:?}");
}
