//! What the veth tests of the socket backends (packet_veth, xdp_veth)
//! share: the root check (link_veth uses it too), two network namespaces
//! joined by a veth pair, a thread inside one of them, `ip -n`, the test
//! frames and the checks both backends must pass the same way.

#![allow(dead_code)] // each test binary uses its own subset

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fs::File;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use takt_drivers::link::{self, VethPair};
use takt_drivers::{DriverError, RingDevice, RxBatch, TxBatch, TxFrame, TxStamp, TxStampBatch};

/// True when the test should run; false (after saying why) when it skips.
/// `needs` lists what root gives the test, for the message.
pub fn need_root(test: &str, needs: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root ({needs}) and CI=true forbids skipping");
    }
    eprintln!("{test}: skipped: needs root ({needs})");
    false
}

/// Namespace numbers within this process, so tests running in parallel
/// (and other test binaries, by the pid) never share a namespace.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// Two namespaces joined by a veth pair (`if_a` in `a`, `if_b` in `b`),
/// made by `link::VethPair` and deleted with it on drop.
pub struct Netns {
    pub a: String,
    pub b: String,
    pub pair: VethPair,
}

impl Netns {
    /// Namespaces `takt-TAG-PID-N-a` and `-b`, interfaces `if_a` and
    /// `if_b` with `SUBNET.1/24` and `SUBNET.2/24`. With `up` false, `if_a`
    /// is set down (its peer stays up).
    pub fn new(tag: &str, if_a: &str, if_b: &str, subnet: &str, up: bool) -> Netns {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let (a, b) = (
            format!("takt-{tag}-{pid}-{n}-a"),
            format!("takt-{tag}-{pid}-{n}-b"),
        );
        let (addr_a, addr_b) = (format!("{subnet}.1/24"), format!("{subnet}.2/24"));
        let pair = VethPair::create(&a, &b, if_a, if_b, &addr_a, &addr_b)
            .expect("veth pair between two namespaces");
        if !up {
            pair.ns_a()
                .run(|| link::set_up(if_a, false))
                .expect("enter the namespace")
                .expect("link down");
        }
        Netns { a, b, pair }
    }
}

/// Run `f` on a thread inside network namespace `ns` (sockets it opens stay
/// bound to that namespace).
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

/// `ip -n NS ARGS...` output.
pub fn ip_in(ns: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("ip")
        .args(["-n", ns])
        .args(args)
        .output()
        .expect("run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Frame `i`: 60..=1514 bytes, every third one with an 802.1Q tag
/// (PCP i%8, VID 100 + i%16), EtherType 0x88B5, sequence and a pattern.
pub fn frame(i: usize, src: [u8; 6]) -> Vec<u8> {
    let len = 60 + (i * 97) % (1514 - 60 + 1);
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&[0x01, 0x1b, 0x19, 0, 0, 0]);
    f.extend_from_slice(&src);
    if i.is_multiple_of(3) {
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

/// Now on CLOCK_TAI, ns.
pub fn tai_ns() -> u64 {
    now_on(Some(nix::time::ClockId::CLOCK_TAI))
}

/// Now on a device's clock (`DeviceInfo::clock`), ns.
pub fn now_on(clock: Option<nix::time::ClockId>) -> u64 {
    let t = nix::time::clock_gettime(clock.expect("a device on a real clock")).unwrap();
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// Send frames 0..n (`frame(i, dev's MAC)`) from `dev` in bursts of 16
/// with a pause, so the receiving veth keeps up (its XDP ring holds 256
/// frames, its backlog net.core.netdev_max_backlog, 1000). Returns the TAI
/// time before each frame's burst and the bytes sent.
pub fn send_frames(dev: &mut dyn RingDevice, n: usize) -> (Vec<u64>, u64) {
    send_frames_with(dev, n, None, tai_ns)
}

/// As `send_frames`, with every `every`-th frame (0, every, 2 every, ...)
/// asking for a transmit stamp tagged with its index. Returns the time on
/// the device's clock before each frame's `tx_burst`.
pub fn send_stamped_frames(dev: &mut dyn RingDevice, n: usize, every: usize) -> Vec<u64> {
    let clock = dev.info().clock;
    send_frames_with(dev, n, Some(every), || now_on(clock)).0
}

fn send_frames_with(
    dev: &mut dyn RingDevice,
    n: usize,
    stamp_every: Option<usize>,
    now: impl Fn() -> u64,
) -> (Vec<u64>, u64) {
    let src = dev.info().mac;
    let mut sent_at = Vec::with_capacity(n);
    let mut batch = TxBatch::new();
    let mut bytes = 0u64;
    let mut i = 0;
    while i < n {
        let mut fill = 0;
        while i < n && batch.len() < 16 {
            let f = frame(i, src);
            let b = dev.alloc().expect("pool has room");
            dev.buf_mut(&b)[..f.len()].copy_from_slice(&f);
            bytes += f.len() as u64;
            let stamp_tag = stamp_every
                .filter(|e| i.is_multiple_of(*e))
                .map(|_| i as u32);
            let _ = batch.push_back(TxFrame {
                buf: b,
                len: f.len(),
                launch_time_ns: None,
                stamp_tag,
            });
            i += 1;
            fill += 1;
        }
        let t = now();
        sent_at.extend(std::iter::repeat_n(t, fill));
        while !batch.is_empty() {
            if dev.tx_burst(&mut batch) == 0 {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        std::thread::sleep(Duration::from_micros(300));
    }
    (sent_at, bytes)
}

/// Send frames 0..n one per `tx_burst`, 200 us apart, each asking for a
/// stamp tagged with its index (a PTP port's pattern); returns the device
/// clock just before and just after each `tx_burst`, and the stamps.
pub fn send_each_stamped(dev: &mut dyn RingDevice, n: usize) -> (Vec<(u64, u64)>, Vec<TxStamp>) {
    let src = dev.info().mac;
    let clock = dev.info().clock;
    let mut around = Vec::with_capacity(n);
    let mut stamps = Vec::with_capacity(n);
    let mut out = TxStampBatch::new();
    for i in 0..n {
        let f = frame(i, src);
        let b = dev.alloc().expect("pool has room");
        dev.buf_mut(&b)[..f.len()].copy_from_slice(&f);
        let mut batch = TxBatch::new();
        let _ = batch.push_back(TxFrame {
            buf: b,
            len: f.len(),
            launch_time_ns: None,
            stamp_tag: Some(i as u32),
        });
        let t0 = now_on(clock);
        let took = dev.tx_burst(&mut batch);
        let t1 = now_on(clock);
        assert_eq!(took, 1, "frame {i} taken");
        around.push((t0, t1));
        dev.tx_stamps(&mut out);
        stamps.extend(out.iter().copied());
        out.clear();
        std::thread::sleep(Duration::from_micros(200));
    }
    let (rest, _) = collect_stamps(dev, n - stamps.len());
    stamps.extend(rest);
    (around, stamps)
}

/// `label: p0 .. p50 .. p99 .. max` of `v` (ns), in us.
pub fn print_spread(label: &str, v: &mut [i64]) {
    v.sort_unstable();
    let p = |q: f64| v[((v.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    eprintln!(
        "{label} over {} frames: min {:.1} us, p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        v.len(),
        p(0.0),
        p(0.5),
        p(0.99),
        p(1.0)
    );
}

/// Read `dev`'s transmit stamps until `want` have come (or 5 s passed, or
/// 50 ms after `want` to catch extra ones); returns them and the heap
/// operations the `tx_stamps` calls made.
pub fn collect_stamps(dev: &mut dyn RingDevice, want: usize) -> (Vec<TxStamp>, u64) {
    let mut got = Vec::new();
    let mut out = TxStampBatch::new();
    let mut allocs = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut all_at = None;
    while Instant::now() < deadline && all_at.is_none_or(|t: Instant| t.elapsed().as_millis() < 50)
    {
        let (_, n) = allocations(|| dev.tx_stamps(&mut out));
        allocs += n;
        got.extend(out.iter().copied());
        out.clear();
        if got.len() >= want && all_at.is_none() {
            all_at = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    (got, allocs)
}

/// The stamps of `send_stamped_frames(.., every)`: exactly one per stamped
/// tag and none for the other frames; each at or after the time taken
/// before its frame's `tx_burst` and at or before the peer's rx stamp of
/// that frame (`sent_at` and `rx_at` by frame index, on the stamps' clock).
pub fn check_stamps(stamps: &[TxStamp], sent_at: &[u64], rx_at: &[u64], every: usize) {
    let mut tags: Vec<u32> = stamps.iter().map(|s| s.tag).collect();
    tags.sort_unstable();
    let want: Vec<u32> = (0..sent_at.len() as u32)
        .filter(|i| (*i as usize).is_multiple_of(every))
        .collect();
    assert_eq!(
        tags, want,
        "one stamp per stamped frame, none for the others"
    );
    for s in stamps {
        let i = s.tag as usize;
        assert!(
            s.time_ns >= sent_at[i],
            "frame {i}: stamp {} before its tx_burst at {}",
            s.time_ns,
            sent_at[i]
        );
        assert!(
            s.time_ns <= rx_at[i],
            "frame {i}: stamp {} after the peer received it at {} ({} ns)",
            s.time_ns,
            rx_at[i],
            s.time_ns - rx_at[i]
        );
    }
}

/// What a receiver saw of one sender's frames.
pub struct Received {
    pub frames: Vec<Vec<u8>>,
    /// Each frame's rx stamp, on the receiver's clock.
    pub times: Vec<u64>,
    /// Largest (the receiver's clock right after the burst − rx stamp).
    pub pickup_gap_max: u64,
    pub stray: u64,
    pub counters: takt_drivers::Counters,
    pub outstanding: usize,
    pub fallbacks: u64,
}

/// Receive `n` frames from `src` on `dev` (20 s at most).
pub fn receive(dev: &mut dyn RingDevice, n: usize, src: [u8; 6]) -> Received {
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
    let clock = dev.info().clock;
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.frames.len() < n && Instant::now() < deadline {
        if dev.rx_burst(&mut batch) == 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
        let now = now_on(clock);
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

/// All `n` frames `frame(i, src)` arrived, once, in order, intact.
pub fn check_frames(got: &Received, n: usize, src: [u8; 6]) {
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

/// Put `f` in one buffer of `dev` and send it alone; how many frames the
/// device took (0 or 1).
pub fn send_frame(dev: &mut dyn RingDevice, f: &[u8]) -> usize {
    send_frame_tagged(dev, f, None)
}

/// As `send_frame`, asking for a transmit stamp under `stamp_tag`.
pub fn send_frame_tagged(dev: &mut dyn RingDevice, f: &[u8], stamp_tag: Option<u32>) -> usize {
    let b = dev.alloc().expect("pool has room");
    dev.buf_mut(&b)[..f.len()].copy_from_slice(f);
    let mut batch = TxBatch::new();
    let _ = batch.push_back(TxFrame {
        buf: b,
        len: f.len(),
        launch_time_ns: None,
        stamp_tag,
    });
    dev.tx_burst(&mut batch)
}

/// Send `frame(i, src)` alone; the device must take it.
pub fn send_one(dev: &mut dyn RingDevice, i: usize, src: [u8; 6]) {
    assert_eq!(send_frame(dev, &frame(i, src)), 1, "frame {i} taken");
}

/// Send `frame(i, src)` alone asking for a stamp tagged `i`; the device
/// must take it.
pub fn send_one_stamped(dev: &mut dyn RingDevice, i: usize, src: [u8; 6]) {
    let f = frame(i, src);
    assert_eq!(
        send_frame_tagged(dev, &f, Some(i as u32)),
        1,
        "frame {i} taken"
    );
}

/// Send 60-byte frames in batches of 32 for `run` as fast as `dev` takes
/// them (a measurement, not a check); frames per second sent. Frames still
/// in the batch at the end go back to the pool.
pub fn measure_send_pps(dev: &mut dyn RingDevice, run: Duration) -> f64 {
    let f = frame(1, dev.info().mac);
    let f = &f[..60];
    let mut batch = TxBatch::new();
    let t0 = Instant::now();
    let mut sent = 0u64;
    while t0.elapsed() < run {
        while batch.len() < 32 {
            let Some(b) = dev.alloc() else { break };
            dev.buf_mut(&b)[..60].copy_from_slice(f);
            let _ = batch.push_back(TxFrame {
                buf: b,
                len: 60,
                launch_time_ns: None,
                stamp_tag: None,
            });
        }
        sent += dev.tx_burst(&mut batch) as u64;
    }
    let pps = sent as f64 / t0.elapsed().as_secs_f64();
    while let Some(f) = batch.pop_front() {
        dev.free(f.buf);
    }
    pps
}

/// The error `open` returns on a thread inside namespace `ns`; the test
/// fails if it opens.
pub fn open_err<D: 'static>(
    ns: &str,
    open: impl FnOnce() -> Result<D, DriverError> + Send + 'static,
) -> String {
    in_netns(ns, move || open().err().map(|e| e.to_string()))
        .join()
        .unwrap()
        .expect("opening fails")
}

/// Drop root for the calling thread only (the raw syscall, unlike glibc's
/// setresuid, does not change the other threads): no capabilities left.
pub fn drop_root_on_this_thread() {
    // SAFETY: setresuid on the calling thread; it only lowers privileges.
    let r = unsafe { libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534) };
    assert_eq!(r, 0, "setresuid: {}", std::io::Error::last_os_error());
}

/// `ip -d link` of the interface while a device accepts some destinations
/// and after it has closed.
pub struct LinkShown {
    pub open: String,
    pub closed: String,
}

/// Open a device on `ifname` in namespace `ns` with `open` and have it
/// accept multicast `group`, the unicast addresses `others` and its own
/// MAC. Checks that `ip maddr` lists the group while the device is open and
/// no longer once it has closed (the memberships belong to its socket).
pub fn destinations<D: RingDevice + 'static>(
    ns: &str,
    ifname: &'static str,
    group: [u8; 6],
    others: &[[u8; 6]],
    open: fn(&str) -> D,
) -> LinkShown {
    let shown = move |ns: &str| {
        (
            ip_in(ns, &["maddr", "show", "dev", ifname]),
            ip_in(ns, &["-d", "link", "show", ifname]),
        )
    };
    let mut macs = vec![group];
    macs.extend_from_slice(others);
    let n = ns.to_string();
    let (maddr, open_link) = in_netns(ns, move || {
        let mut dev = open(ifname);
        macs.push(dev.info().mac);
        dev.accept_destinations(&macs).expect("join");
        shown(&n)
    })
    .join()
    .unwrap();
    let g = group.map(|b| format!("{b:02x}")).join(":");
    assert!(maddr.contains(&g), "{g} joined while open: {maddr}");
    let (maddr, closed_link) = shown(ns);
    assert!(!maddr.contains(&g), "{g} left once closed: {maddr}");
    LinkShown {
        open: open_link,
        closed: closed_link,
    }
}

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
pub fn allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let a0 = ALLOCS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, ALLOCS.with(Cell::get) - a0)
}
