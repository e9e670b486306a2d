//! What the veth tests of the socket backends (packet_veth, xdp_veth)
//! share: the root check (link_veth uses it too), two network namespaces
//! joined by a veth pair, a thread inside one of them, `ip -n`, the test
//! frames and the checks both backends must pass the same way.

#![allow(dead_code)] // each test binary uses its own subset

use std::fs::File;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use takt_drivers::link::{self, VethPair};
use takt_drivers::{DriverError, RingDevice, TxBatch, TxFrame};

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
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_TAI).unwrap();
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// Send frames 0..n (`frame(i, dev's MAC)`) from `dev` in bursts of 16
/// with a pause, so the receiving veth keeps up (its XDP ring holds 256
/// frames, its backlog net.core.netdev_max_backlog, 1000). Returns the TAI
/// time before each frame's burst and the bytes sent.
pub fn send_frames(dev: &mut dyn RingDevice, n: usize) -> (Vec<u64>, u64) {
    let src = dev.info().mac;
    let mut sent_at = Vec::with_capacity(n);
    let mut batch = TxBatch::new();
    let mut bytes = 0u64;
    let mut i = 0;
    while i < n {
        let t = tai_ns();
        while i < n && batch.len() < 16 {
            let f = frame(i, src);
            let b = dev.alloc().expect("pool has room");
            dev.buf_mut(&b)[..f.len()].copy_from_slice(&f);
            bytes += f.len() as u64;
            let _ = batch.push_back(TxFrame {
                buf: b,
                len: f.len(),
                launch_time_ns: None,
            });
            sent_at.push(t);
            i += 1;
        }
        while !batch.is_empty() {
            if dev.tx_burst(&mut batch) == 0 {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        std::thread::sleep(Duration::from_micros(300));
    }
    (sent_at, bytes)
}

/// Put `f` in one buffer of `dev` and send it alone; how many frames the
/// device took (0 or 1).
pub fn send_frame(dev: &mut dyn RingDevice, f: &[u8]) -> usize {
    let b = dev.alloc().expect("pool has room");
    dev.buf_mut(&b)[..f.len()].copy_from_slice(f);
    let mut batch = TxBatch::new();
    let _ = batch.push_back(TxFrame {
        buf: b,
        len: f.len(),
        launch_time_ns: None,
    });
    dev.tx_burst(&mut batch)
}

/// Send `frame(i, src)` alone; the device must take it.
pub fn send_one(dev: &mut dyn RingDevice, i: usize, src: [u8; 6]) {
    assert_eq!(send_frame(dev, &frame(i, src)), 1, "frame {i} taken");
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
