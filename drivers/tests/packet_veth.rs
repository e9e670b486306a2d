//! AF_PACKET across a veth pair between two network namespaces this test
//! creates (and deletes again, also when it fails). Needs root; without it
//! the tests skip with a message, except under CI=true, where they fail.

use std::fs::File;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use takt_drivers::link::{self, VethPair};
use takt_drivers::packet::{PacketDevice, PacketOptions};
use takt_drivers::{RingDevice, RxBatch, TxBatch, TxFrame};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// True when the test should run; false (after saying why) when it skips.
fn need_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root (network namespaces, CAP_NET_RAW) and CI=true forbids skipping");
    }
    eprintln!("{test}: skipped: needs root (network namespaces, CAP_NET_RAW)");
    false
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Two namespaces joined by a veth pair (`tk-a` in `a`, `tk-b` in `b`),
/// made by `link::VethPair` and deleted with it on drop.
struct Netns {
    a: String,
    b: String,
    _pair: VethPair,
}

impl Netns {
    fn new(up: bool) -> Netns {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let (a, b) = (format!("takt-t-{pid}-{n}-a"), format!("takt-t-{pid}-{n}-b"));
        let pair = VethPair::create(&a, &b, "tk-a", "tk-b", "10.78.0.1/24", "10.78.0.2/24")
            .expect("veth pair between two namespaces");
        if !up {
            for (ns, name) in [(pair.ns_a(), "tk-a"), (pair.ns_b(), "tk-b")] {
                ns.run(|| link::set_up(name, false))
                    .expect("enter the namespace")
                    .expect("link down");
            }
        }
        Netns { a, b, _pair: pair }
    }
}

/// Run `f` on a thread inside network namespace `ns` (sockets it opens stay
/// bound to that namespace).
fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

/// Frame `i`: 60..=1514 bytes, every third one with an 802.1Q tag
/// (PCP i%8, VID 100 + i%16), EtherType 0x88B5, sequence and a pattern.
fn frame(i: usize, src: [u8; 6]) -> Vec<u8> {
    let len = 60 + (i * 97) % (1514 - 60 + 1);
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&[0x01, 0x1b, 0x19, 0, 0, 0]);
    f.extend_from_slice(&src);
    if i % 3 == 0 {
        let tci = ((i % 8) as u16) << 13 | (100 + (i % 16) as u16);
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&0x88b5u16.to_be_bytes());
    f.extend_from_slice(&(i as u32).to_be_bytes());
    while f.len() < len {
        f.push((f.len() as u8).wrapping_mul(31) ^ i as u8);
    }
    f
}

const N: usize = 1000;

#[test]
fn a_thousand_frames_cross_the_veth_in_order_with_their_tags() {
    if !need_root("a_thousand_frames_cross_the_veth_in_order_with_their_tags") {
        return;
    }
    let ns = Netns::new(true);
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
        let mut batch = TxBatch::new();
        let mut bytes = 0u64;
        let mut i = 0;
        while i < N {
            // Bursts of 16 with a pause: the receiving veth's backlog is
            // net.core.netdev_max_backlog (1000) frames.
            while i < N && !batch.is_full() && batch.len() < 16 {
                let f = frame(i, src);
                let b = dev.alloc().expect("pool has room");
                dev.buf_mut(&b)[..f.len()].copy_from_slice(&f);
                bytes += f.len() as u64;
                let _ = batch.push_back(TxFrame {
                    buf: b,
                    len: f.len(),
                    launch_time_ns: None,
                });
                i += 1;
            }
            while !batch.is_empty() {
                if dev.tx_burst(&mut batch) == 0 {
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
            std::thread::sleep(Duration::from_micros(300));
        }
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

#[test]
fn a_missing_interface_is_named() {
    if !need_root("a_missing_interface_is_named") {
        return;
    }
    let ns = Netns::new(true);
    let e = in_netns(&ns.a, || {
        PacketDevice::open("tk-nope", PacketOptions::default())
            .err()
            .map(|e| e.to_string())
    })
    .join()
    .unwrap()
    .expect("opening a missing interface fails");
    assert!(e.contains("no network interface \"tk-nope\""), "{e}");
    assert!(e.contains("ip link"), "{e}");
}

#[test]
fn a_down_interface_says_how_to_bring_it_up() {
    if !need_root("a_down_interface_says_how_to_bring_it_up") {
        return;
    }
    let ns = Netns::new(false);
    let e = in_netns(&ns.a, || {
        PacketDevice::open("tk-a", PacketOptions::default())
            .err()
            .map(|e| e.to_string())
    })
    .join()
    .unwrap()
    .expect("opening a down interface fails");
    assert!(e.contains("ip link set tk-a up"), "{e}");
}

#[test]
fn without_cap_net_raw_it_names_the_capability() {
    if !need_root("without_cap_net_raw_it_names_the_capability") {
        return;
    }
    let ns = Netns::new(true);
    let e = in_netns(&ns.a, || {
        // Drop root for this thread only (the raw syscall, unlike glibc's
        // setresuid, does not change the other threads): no CAP_NET_RAW.
        // SAFETY: setresuid on the calling thread; it only lowers privileges.
        let r = unsafe { libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534) };
        assert_eq!(r, 0, "setresuid: {}", std::io::Error::last_os_error());
        PacketDevice::open("tk-a", PacketOptions::default())
            .err()
            .map(|e| e.to_string())
    })
    .join()
    .unwrap()
    .expect("opening without CAP_NET_RAW fails");
    assert!(e.contains("needs CAP_NET_RAW (run as root)"), "{e}");
}

/// Send-loop rate, qdisc bypass on and off: `cargo test --release -p
/// takt-drivers --test packet_veth -- --ignored --nocapture send_loop_pps`.
#[test]
#[ignore = "measurement, not a check"]
fn send_loop_pps() {
    if !need_root("send_loop_pps") {
        return;
    }
    let ns = Netns::new(true);
    for bypass in [true, false] {
        let (pps, full) = in_netns(&ns.a, move || {
            let opts = PacketOptions {
                qdisc_bypass: bypass,
                ..Default::default()
            };
            let mut dev = PacketDevice::open("tk-a", opts).expect("open tk-a");
            let f = frame(1, dev.info().mac);
            let f = &f[..60];
            let mut batch = TxBatch::new();
            let t0 = Instant::now();
            let mut sent = 0u64;
            while t0.elapsed() < Duration::from_secs(2) {
                while batch.len() < 32 {
                    let b = dev.alloc().expect("pool has room");
                    dev.buf_mut(&b)[..60].copy_from_slice(f);
                    let _ = batch.push_back(TxFrame {
                        buf: b,
                        len: 60,
                        launch_time_ns: None,
                    });
                }
                sent += dev.tx_burst(&mut batch) as u64;
            }
            let pps = sent as f64 / t0.elapsed().as_secs_f64();
            while let Some(f) = batch.pop_front() {
                dev.free(f.buf);
            }
            (pps, dev.counters().tx_ring_full)
        })
        .join()
        .unwrap();
        eprintln!("qdisc_bypass={bypass}: {pps:.0} pps (60-byte frames, batch 32, tx ring full {full} times)");
    }
}

#[test]
fn a_link_down_is_counted_once_and_nothing_leaks() {
    if !need_root("a_link_down_is_counted_once_and_nothing_leaks") {
        return;
    }
    let ns = Netns::new(true);
    let (down, after, outstanding) = in_netns(&ns.a, move || {
        let mut dev = PacketDevice::open("tk-a", PacketOptions::default()).expect("open tk-a");
        let src = dev.info().mac;
        let send = |dev: &mut PacketDevice, i: usize| {
            let f = frame(i, src);
            let b = dev.alloc().expect("pool has room");
            dev.buf_mut(&b)[..f.len()].copy_from_slice(&f);
            let mut batch = TxBatch::new();
            let _ = batch.push_back(TxFrame {
                buf: b,
                len: f.len(),
                launch_time_ns: None,
            });
            assert_eq!(dev.tx_burst(&mut batch), 1);
        };
        link::set_up("tk-a", false).expect("link down");
        for i in 0..3 {
            send(&mut dev, i);
        }
        let down = dev.counters();
        link::set_up("tk-a", true).expect("link up");
        send(&mut dev, 3);
        (down, dev.counters(), dev.outstanding())
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
}

/// How long a sparse frame waits in the TPACKET_V3 RX ring before
/// `rx_burst` sees it (the block retire timeout): `cargo test --release -p
/// takt-drivers --test packet_veth -- --ignored --nocapture rx_pickup_delay`.
#[test]
#[ignore = "measurement, not a check"]
fn rx_pickup_delay() {
    if !need_root("rx_pickup_delay") {
        return;
    }
    const FRAMES: usize = 300;
    let ns = Netns::new(true);
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
            let b = dev.alloc().unwrap();
            dev.buf_mut(&b)[..f.len()].copy_from_slice(&f);
            let mut batch = TxBatch::new();
            let _ = batch.push_back(TxFrame {
                buf: b,
                len: f.len(),
                launch_time_ns: None,
            });
            dev.tx_burst(&mut batch);
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

/// `ip -n NS ARGS...` output.
fn ip_in(ns: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("ip")
        .args(["-n", ns])
        .args(args)
        .output()
        .expect("run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn stream_destinations_are_joined_while_the_device_is_open() {
    if !need_root("stream_destinations_are_joined_while_the_device_is_open") {
        return;
    }
    let ns = Netns::new(true);
    let group = [0x91, 0xe0, 0xf0, 0x00, 0xfe, 0x07];
    let foreign = [0x02, 0, 0, 0, 0, 0x99];
    let b = ns.b.clone();
    let (maddr, link) = in_netns(&ns.b, move || {
        let mut dev = PacketDevice::open("tk-b", PacketOptions::default()).expect("open tk-b");
        dev.accept_destinations(&[group, foreign, dev.info().mac])
            .expect("join");
        (
            ip_in(&b, &["maddr", "show", "dev", "tk-b"]),
            ip_in(&b, &["-d", "link", "show", "tk-b"]),
        )
    })
    .join()
    .unwrap();
    assert!(maddr.contains("91:e0:f0:00:fe:07"), "{maddr}");
    assert!(link.contains("promiscuity 1"), "{link}");
    // The memberships belong to the socket: closing the device drops them.
    let maddr = ip_in(&ns.b, &["maddr", "show", "dev", "tk-b"]);
    let link = ip_in(&ns.b, &["-d", "link", "show", "tk-b"]);
    assert!(!maddr.contains("91:e0:f0:00:fe:07"), "{maddr}");
    assert!(link.contains("promiscuity 0"), "{link}");
}
