//! AF_XDP across a veth pair between two network namespaces this test
//! creates (and deletes again, also when it fails): xdp -> xdp, packet ->
//! xdp, xdp -> packet, the named errors, link down, detach on drop, and an
//! allocation-free data path. Needs root; without it the tests skip with a
//! message, except under CI=true, where they fail.

mod common;

use common::{frame, in_netns, ip_in, send_frames, send_one, tai_ns, Netns};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use takt_drivers::link;
use takt_drivers::packet::{PacketDevice, PacketOptions};
use takt_drivers::xdp::{XdpAttach, XdpDevice, XdpMode, XdpOptions};
use takt_drivers::{RingDevice, RxBatch, TxBatch, TxFrame};

/// Counts the heap operations of threads that ask for it (drivers may not
/// depend on takt-scheduler, whose `rt::CountingAllocator` the stack's
/// tests use; this is the same idea in a dozen lines).
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to `System` unchanged; the thread-locals are const
// initialised without destructors, so counting never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let a0 = ALLOCS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, ALLOCS.with(Cell::get) - a0)
}

/// Namespaces with `xk-a` and `xk-b` on 10.79.0.0/24 (`xk-a` down unless
/// `up`) for `test`, or `None` (after saying why) when it skips.
fn netns(test: &str, up: bool) -> Option<Netns> {
    common::need_root(test, "network namespaces, CAP_NET_RAW, CAP_BPF")
        .then(|| Netns::new("x", "xk-a", "xk-b", "10.79.0", up))
}

/// What a receiver saw of one sender's frames.
struct Received {
    frames: Vec<Vec<u8>>,
    times: Vec<u64>,
    /// (rx_time, clock_gettime(TAI) right after the burst) per frame.
    pickup_gap_max: u64,
    stray: u64,
    counters: takt_drivers::Counters,
    outstanding: usize,
    fallbacks: u64,
}

/// Receive `n` frames from `src` on `dev` (20 s at most).
fn receive(dev: &mut dyn RingDevice, n: usize, src: [u8; 6]) -> Received {
    let mut r = Received {
        frames: Vec::new(),
        times: Vec::new(),
        pickup_gap_max: 0,
        stray: 0,
        counters: Default::default(),
        outstanding: 0,
        fallbacks: 0,
    };
    let mut batch = RxBatch::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.frames.len() < n && Instant::now() < deadline {
        if dev.rx_burst(&mut batch) == 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
        let now = tai_ns();
        while let Some(f) = batch.pop_front() {
            let bytes = dev.buf(&f.buf)[..f.len].to_vec();
            if bytes.len() >= 12 && bytes[6..12] == src {
                assert!(
                    f.rx_time_ns <= now,
                    "rx stamp {} after pickup {now}",
                    f.rx_time_ns
                );
                r.pickup_gap_max = r.pickup_gap_max.max(now - f.rx_time_ns);
                r.frames.push(bytes);
                r.times.push(f.rx_time_ns);
            } else {
                r.stray += 1;
            }
            dev.free(f.buf);
        }
    }
    r.counters = dev.counters();
    r
}

fn open_xdp(ifname: &str) -> XdpDevice {
    XdpDevice::open(ifname, 0, XdpOptions::default())
        .unwrap_or_else(|e| panic!("open {ifname}: {e}"))
}

/// Wait until the completion ring has given back every sent frame.
fn drain(dev: &mut XdpDevice) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while dev.in_flight() > 0 && Instant::now() < deadline {
        dev.tx_burst(&mut TxBatch::new());
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn check_frames(got: &Received, n: usize, src: [u8; 6]) {
    assert_eq!(got.frames.len(), n, "received {} of {n}", got.frames.len());
    for (i, g) in got.frames.iter().enumerate() {
        let want = frame(i, src);
        assert_eq!(
            g.len(),
            want.len(),
            "frame {i} length (tagged: {})",
            i % 3 == 0
        );
        assert!(g == &want, "frame {i} content (tagged: {})", i % 3 == 0);
    }
}

const N: usize = 1000;

#[test]
fn a_thousand_frames_cross_xdp_to_xdp_in_order_with_tags_and_tai_stamps() {
    let Some(ns) = netns(
        "a_thousand_frames_cross_xdp_to_xdp_in_order_with_tags_and_tai_stamps",
        true,
    ) else {
        return;
    };
    xdp_to_xdp(&ns, N, XdpAttach::Native);
}

#[test]
fn generic_xdp_also_stamps_and_keeps_tags() {
    let Some(ns) = netns("generic_xdp_also_stamps_and_keeps_tags", true) else {
        return;
    };
    xdp_to_xdp(&ns, 300, XdpAttach::Generic);
}

/// `n` frames from an XDP device on xk-a to one on xk-b whose program is
/// attached `attach`: all arrive once, in order, byte-identical (tags
/// included), stamped on CLOCK_TAI by the program, and nothing leaks.
fn xdp_to_xdp(ns: &Netns, n: usize, attach: XdpAttach) {
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (src_tx, src_rx) = mpsc::channel::<[u8; 6]>();
    let rx = in_netns(&ns.b, move || {
        let opts = XdpOptions {
            attach: Some(attach),
            ..Default::default()
        };
        let mut dev = XdpDevice::open("xk-b", 0, opts).expect("open xk-b");
        assert_eq!(dev.info().name, "xdp:xk-b@0");
        assert_eq!(dev.info().clock, Some(nix::time::ClockId::CLOCK_TAI));
        assert!(!dev.info().caps.launch_time);
        assert_eq!(dev.mode(), XdpMode::Copy, "veth has no zero copy");
        assert_eq!(dev.attach(), attach);
        ready_tx.send(()).unwrap();
        let src = src_rx.recv().unwrap();
        let mut r = receive(&mut dev, n, src);
        r.outstanding = dev.outstanding();
        r.fallbacks = dev.stamp_fallbacks();
        r
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let tx = in_netns(&ns.a, move || {
        let mut dev = open_xdp("xk-a");
        src_tx.send(dev.info().mac).unwrap();
        let (sent_at, bytes) = send_frames(&mut dev, n);
        drain(&mut dev);
        (
            dev.counters(),
            dev.outstanding(),
            dev.in_flight(),
            bytes,
            sent_at,
            dev.info().mac,
        )
    });
    let (tc, t_out, t_flight, t_bytes, sent_at, src) = tx.join().expect("sender thread");
    let got = rx.join().expect("receiver thread");
    check_frames(&got, n, src);
    assert_eq!(
        got.fallbacks, 0,
        "every frame carries the program's TAI stamp (metadata copied in copy mode)"
    );
    for (i, (&rx_t, &tx_t)) in got.times.iter().zip(&sent_at).enumerate() {
        assert!(
            rx_t >= tx_t,
            "frame {i}: rx stamp {rx_t} before send {tx_t}"
        );
        // Plausibility, not timing: a stamp of this run on this clock (a
        // VM stall can hold a frame for tens of ms; another clock is off
        // by years).
        assert!(
            rx_t - tx_t < 1_000_000_000,
            "frame {i}: {} ns on the wire",
            rx_t - tx_t
        );
    }
    assert!(
        got.pickup_gap_max < 1_000_000_000,
        "stamp to pickup {} ns",
        got.pickup_gap_max
    );
    assert_eq!(tc.tx_frames, n as u64);
    assert_eq!(tc.tx_bytes, t_bytes);
    assert_eq!(tc.tx_drops, 0);
    assert_eq!(got.counters.rx_frames, n as u64 + got.stray);
    assert_eq!(got.counters.rx_drops, 0);
    assert_eq!(
        (t_out, t_flight, got.outstanding),
        (0, 0, 0),
        "buffers leaked"
    );
}

#[test]
fn packet_to_xdp_and_xdp_to_packet() {
    const M: usize = 300;
    let Some(ns) = netns("packet_to_xdp_and_xdp_to_packet", true) else {
        return;
    };
    // packet (a) -> xdp (b)
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (src_tx, src_rx) = mpsc::channel::<[u8; 6]>();
    let rx = in_netns(&ns.b, move || {
        let mut dev = open_xdp("xk-b");
        ready_tx.send(()).unwrap();
        let src = src_rx.recv().unwrap();
        let mut r = receive(&mut dev, M, src);
        r.outstanding = dev.outstanding();
        r
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let src = in_netns(&ns.a, move || {
        let mut dev = PacketDevice::open("xk-a", PacketOptions::default()).expect("open xk-a");
        src_tx.send(dev.info().mac).unwrap();
        send_frames(&mut dev, M);
        std::thread::sleep(Duration::from_millis(50));
        dev.info().mac
    })
    .join()
    .unwrap();
    let got = rx.join().unwrap();
    check_frames(&got, M, src);
    assert_eq!(got.outstanding, 0);

    // xdp (a) -> packet (b)
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (src_tx, src_rx) = mpsc::channel::<[u8; 6]>();
    let rx = in_netns(&ns.b, move || {
        let mut dev = PacketDevice::open("xk-b", PacketOptions::default()).expect("open xk-b");
        ready_tx.send(()).unwrap();
        let src = src_rx.recv().unwrap();
        let mut r = receive(&mut dev, M, src);
        r.outstanding = dev.outstanding();
        r
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let (src, out, flight) = in_netns(&ns.a, move || {
        let mut dev = open_xdp("xk-a");
        src_tx.send(dev.info().mac).unwrap();
        send_frames(&mut dev, M);
        drain(&mut dev);
        (dev.info().mac, dev.outstanding(), dev.in_flight())
    })
    .join()
    .unwrap();
    let got = rx.join().unwrap();
    check_frames(&got, M, src);
    assert_eq!((out, flight, got.outstanding), (0, 0, 0));
}

fn open_err(ns: &str, ifname: &'static str, queue: u32) -> String {
    common::open_err(ns, move || {
        XdpDevice::open(ifname, queue, XdpOptions::default())
    })
}

#[test]
fn open_errors_name_what_to_fix() {
    let Some(ns) = netns("open_errors_name_what_to_fix", false) else {
        return;
    };
    let e = open_err(&ns.a, "xk-nope", 0);
    assert!(e.contains("no network interface \"xk-nope\""), "{e}");
    assert!(e.contains("ip link"), "{e}");
    let e = open_err(&ns.a, "xk-a", 0);
    assert!(e.contains("ip link set xk-a up"), "{e}");
    let e = open_err(&ns.b, "xk-b", 5);
    assert!(e.contains("queue 5 is out of range"), "{e}");
    assert!(e.contains("xdp:xk-b@5"), "{e}");
    let e = common::open_err(&ns.b, || {
        let opts = XdpOptions {
            mode: XdpMode::ZeroCopy,
            ..Default::default()
        };
        XdpDevice::open("xk-b", 0, opts)
    });
    assert!(e.contains("no zero-copy AF_XDP"), "{e}");
}

#[test]
fn without_cap_net_raw_it_names_the_capability() {
    let Some(ns) = netns("without_cap_net_raw_it_names_the_capability", true) else {
        return;
    };
    let e = common::open_err(&ns.a, || {
        common::drop_root_on_this_thread();
        XdpDevice::open("xk-a", 0, XdpOptions::default())
    });
    assert!(e.contains("CAP_NET_RAW"), "{e}");
}

const CAP_NET_RAW: u32 = 13;
const CAP_IPC_LOCK: u32 = 14;

/// Keep only `caps` on the calling thread (capset, version 3).
fn keep_only_caps(caps: &[u32]) {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut d = [Data::default(); 2];
    for &c in caps {
        let w = &mut d[(c / 32) as usize];
        w.effective |= 1 << (c % 32);
        w.permitted |= 1 << (c % 32);
    }
    let h = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    // SAFETY: capset with a valid v3 header and two data words; it only
    // lowers the calling thread's capabilities.
    let r = unsafe { libc::syscall(libc::SYS_capset, &h as *const Header, d.as_ptr()) };
    assert_eq!(r, 0, "capset: {}", std::io::Error::last_os_error());
}

#[test]
fn without_cap_bpf_it_names_the_capability() {
    let Some(ns) = netns("without_cap_bpf_it_names_the_capability", true) else {
        return;
    };
    let e = common::open_err(&ns.a, || {
        // CAP_NET_RAW (the socket) and CAP_IPC_LOCK (the UMEM), not CAP_BPF.
        keep_only_caps(&[CAP_NET_RAW, CAP_IPC_LOCK]);
        XdpDevice::open("xk-a", 0, XdpOptions::default())
    });
    assert!(e.contains("CAP_BPF"), "{e}");
}

#[test]
fn a_link_down_is_counted_once_and_nothing_leaks() {
    let Some(ns) = netns("a_link_down_is_counted_once_and_nothing_leaks", true) else {
        return;
    };
    let b = ns.b.clone();
    let (down, up, no_carrier, after, outstanding, flight) = in_netns(&ns.a, move || {
        let mut dev = open_xdp("xk-a");
        let src = dev.info().mac;
        send_one(&mut dev, 0, src);
        link::set_up("xk-a", false).expect("link down");
        for i in 1..4 {
            send_one(&mut dev, i, src);
        }
        let down = dev.counters();
        link::set_up("xk-a", true).expect("link up");
        std::thread::sleep(Duration::from_millis(50));
        send_one(&mut dev, 4, src);
        drain(&mut dev);
        let up = dev.counters();
        // Now the peer goes down: xk-a stays up but loses its carrier.
        link::Netns::enter(&b, || link::set_up("xk-b", false))
            .expect("enter b")
            .expect("peer down");
        for i in 5..8 {
            send_one(&mut dev, i, src);
        }
        drain(&mut dev);
        let no_carrier = dev.counters();
        link::Netns::enter(&b, || link::set_up("xk-b", true))
            .expect("enter b")
            .expect("peer up");
        std::thread::sleep(Duration::from_millis(50));
        send_one(&mut dev, 8, src);
        drain(&mut dev);
        (
            down,
            up,
            no_carrier,
            dev.counters(),
            dev.outstanding(),
            dev.in_flight(),
        )
    })
    .join()
    .unwrap();
    // Frame 1 finds the link down (the kick says ENETDOWN) and stays on the
    // TX ring until the link is back; 2 and 3 are offered during the known
    // outage and dropped.
    assert_eq!(down.link_down, 1, "{down:?}");
    assert_eq!(down.tx_drops, 2, "{down:?}");
    assert_eq!(up.link_down, 1, "{up:?}");
    assert_eq!(up.tx_drops, 2, "{up:?}");
    assert_eq!(up.tx_frames, 3, "{up:?}");
    // Without carrier the kernel takes frame 5 and drops it (the kick says
    // EBUSY; the frame comes back on the completion ring); 6 and 7 are
    // dropped before the ring. A second outage, counted once.
    assert_eq!(no_carrier.link_down, 2, "{no_carrier:?}");
    assert_eq!(no_carrier.tx_drops, 5, "{no_carrier:?}");
    assert_eq!(after.link_down, 2, "{after:?}");
    assert_eq!((after.tx_frames, after.tx_drops), (5, 5), "{after:?}");
    assert_eq!((outstanding, flight), (0, 0), "buffers leaked");
}

#[test]
fn dropping_the_device_detaches_the_program() {
    let Some(ns) = netns("dropping_the_device_detaches_the_program", true) else {
        return;
    };
    let show = |ns: &str| ip_in(ns, &["link", "show", "xk-a"]);
    let (tx, rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let t = in_netns(&ns.a, move || {
        let dev = open_xdp("xk-a");
        tx.send(()).unwrap();
        done_rx.recv().unwrap();
        drop(dev);
    });
    rx.recv().unwrap();
    let attached = show(&ns.a);
    assert!(attached.contains("xdp"), "attached: {attached}");
    done_tx.send(()).unwrap();
    t.join().unwrap();
    // The link is released when its last reference goes, which the kernel
    // may finish just after close() returns.
    let t0 = Instant::now();
    let mut after = show(&ns.a);
    while after.contains("xdp") && t0.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
        after = show(&ns.a);
    }
    eprintln!("detached {:?} after drop", t0.elapsed());
    assert!(!after.contains("xdp"), "still attached after drop: {after}");
    // And the interface takes a new program (nothing left behind).
    in_netns(&ns.a, || drop(open_xdp("xk-a"))).join().unwrap();
    let _ = &ns.pair;
}

#[test]
fn the_data_path_allocates_nothing() {
    let Some(ns) = netns("the_data_path_allocates_nothing", true) else {
        return;
    };
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let rx = in_netns(&ns.b, move || {
        let mut dev = open_xdp("xk-b");
        let mut batch = RxBatch::new();
        ready_tx.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut n = 0;
        let ((), allocs) = allocations(|| {
            while n < 500 && Instant::now() < deadline {
                dev.rx_burst(&mut batch);
                while let Some(f) = batch.pop_front() {
                    std::hint::black_box(dev.buf(&f.buf)[0]);
                    dev.free(f.buf);
                    n += 1;
                }
                std::hint::black_box(dev.counters());
            }
        });
        (n, allocs)
    });
    ready_rx.recv().unwrap();
    let tx_allocs = in_netns(&ns.a, move || {
        let mut dev = open_xdp("xk-a");
        let mut batch = TxBatch::new();
        let ((), allocs) = allocations(|| {
            for _ in 0..50 {
                for _ in 0..10 {
                    let b = dev.alloc().expect("pool has room");
                    dev.buf_mut(&b)[..60].fill(0xee);
                    let _ = batch.push_back(TxFrame {
                        buf: b,
                        len: 60,
                        launch_time_ns: None,
                    });
                }
                while !batch.is_empty() {
                    dev.tx_burst(&mut batch);
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            std::hint::black_box(dev.counters());
        });
        allocs
    })
    .join()
    .unwrap();
    let (n, rx_allocs) = rx.join().unwrap();
    assert_eq!(n, 500);
    assert_eq!(
        (tx_allocs, rx_allocs),
        (0, 0),
        "heap operations on the data path"
    );
}

/// Send-loop rate: `cargo test --release -p takt-drivers --test xdp_veth
/// -- --ignored --nocapture send_loop_pps`.
#[test]
#[ignore = "measurement, not a check"]
fn send_loop_pps() {
    let Some(ns) = netns("send_loop_pps", true) else {
        return;
    };
    let (pps, c) = in_netns(&ns.a, move || {
        let mut dev = open_xdp("xk-a");
        let pps = common::measure_send_pps(&mut dev, Duration::from_secs(2));
        (pps, dev.counters())
    })
    .join()
    .unwrap();
    eprintln!(
        "xdp send loop: {pps:.0} pps (60-byte frames, batch 32, copy mode; tx ring full {} times, pool empty {}, tx drops {})",
        c.tx_ring_full, c.pool_empty, c.tx_drops
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
    let group = [0x91, 0xe0, 0xf0, 0x00, 0xfe, 0x08];
    common::destinations(&ns.b, "xk-b", group, &[], open_xdp);
}
