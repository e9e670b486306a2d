//! PTP end to end: the real `takt-talker` and `takt-listener` in two
//! network namespaces joined by a veth pair, with linuxptp's ptp4l as
//! peer and judge.
//!
//! - a ptp4l grandmaster and a `takt-listener --ptp slave --clock-offset
//!   5ms`: the listener locks, its |offset| p99 is small, its latency is
//!   that of a run without offset and PTP, nothing is lost, and what it
//!   measured before the lock is apart and 5 ms off;
//! - a `takt-talker --ptp master` and a ptp4l slave: ptp4l measures the
//!   talker within 50 us, and 3 ms behind it with `--clock-offset 3ms`;
//! - takt on both ends (+5 ms master, -3 ms slave), on packet: and xdp:;
//! - `--ptp linuxptp`: the talker refuses to start while ptp4l is absent,
//!   hears no master, or is not calibrated, starts once ptp4l is SLAVE
//!   within the threshold, and reports a ptp4l killed mid-run.
//!
//! Every namespace shares the machine's clock: every ptp4l here runs with
//! `free_running 1` (it measures, never steers), and each is killed when
//! its test ends, also when it fails (`Lab` on drop). Needs root, ip,
//! ptp4l and pmc, tcpdump (test.sh installs them); skips without them,
//! except under CI=true, where it fails. Figures (lock time, offsets,
//! latencies) are printed, for docs/time-sync.md; they are judged against
//! the bounds, never against wall-clock time.

mod common;

use common::veth::{json, one_at_a_time, ready, u, Capture, Running, Wire};
use common::{example, pcap_records, TempDir};
use serde_json::Value;
use std::cell::RefCell;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use takt_stack::ptp::pmc::PortState;
use takt_stack::ptp::ptp4l::Ptp4lClient;

const TALKER: &str = env!("CARGO_BIN_EXE_takt-talker");
const LISTENER: &str = env!("CARGO_BIN_EXE_takt-listener");
const GPTP_CFG: &str = "/usr/share/doc/linuxptp/configs/gPTP.cfg";
const TOOLS: [&str; 4] = ["ip", "ptp4l", "pmc", "tcpdump"];

/// Cap on waiting for something to happen: a hang fails instead of
/// running forever. Never a pass criterion.
const CAP: Duration = Duration::from_secs(120);
/// How long a pair without PTP runs: some 12,000 frames.
const MEASURE: Duration = Duration::from_secs(6);
/// How long a pair keeps running once the listener is locked: over 100
/// offsets (8 a second), so that the p99 is not the largest one alone (a
/// stamp taken across a preemption of a loaded VM's vCPU: up to ~80 us
/// seen on xdp).
const MEASURE_LOCKED: Duration = Duration::from_secs(14);
/// The bounds.
const OFFSET_P99_NS: i64 = 50_000;
const LATENCY_DIFF_NS: i64 = 20_000;

/// Two streams, 1 ms cycle, gPTP in the best-effort window.
fn schedule() -> String {
    example("time-sync.toml")
}

/// Which end of the wire: `tk-a` in namespace a, `tk-b` in b.
#[derive(Clone, Copy)]
enum End {
    A,
    B,
}

/// A ptp4l's part.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Grandmaster,
    /// slaveOnly; slow to give up its master on a loaded machine (no
    /// sync timeout, 10 s announces).
    Slave,
}

/// The wire, the ptp4l configurations and sockets, and every ptp4l
/// started: on drop each ptp4l is killed (its log printed when the test
/// failed), then the folder and the namespaces are deleted.
struct Lab {
    ptp4ls: RefCell<Vec<(String, Child)>>,
    dir: TempDir,
    wire: Wire,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        Lab {
            ptp4ls: RefCell::new(Vec::new()),
            dir: TempDir::new(tag),
            wire: Wire::new(),
        }
    }

    fn ns(&self, end: End) -> &str {
        match end {
            End::A => &self.wire.a,
            End::B => &self.wire.b,
        }
    }

    fn socket(&self, who: &str) -> PathBuf {
        self.dir.path().join(format!("{who}.sock"))
    }

    /// Start ptp4l `who` on `end`'s interface (software timestamps).
    fn ptp4l(&self, who: &str, role: Role, end: End) {
        let gptp = std::fs::read_to_string(GPTP_CFG).expect("gPTP.cfg");
        // veth with software timestamps measures more than gPTP's 800 ns
        // neighbour delay limit, which would keep the port from asCapable.
        let mut cfg: String = gptp
            .lines()
            .filter(|l| !l.starts_with("neighborPropDelayThresh"))
            .map(|l| format!("{l}\n"))
            .collect();
        cfg += "neighborPropDelayThresh\t100000000\n";
        cfg += &format!("uds_address\t{}\n", self.socket(who).display());
        // The machine's clock is every namespace's: measure, never steer.
        cfg += "free_running\t1\n";
        if role == Role::Slave {
            cfg += "slaveOnly\t1\nsyncReceiptTimeout\t0\nannounceReceiptTimeout\t10\n";
            // Entering UNCALIBRATED, ptp4l forgets its Pdelay_Req in
            // flight; the answer that arrives next is "rogue" and makes
            // the port FAULTY, for 16 s by default. takt answers in the
            // data path's idle time, 0.5-1.6 ms after the request (ptp4l:
            // 50-330 us), a wider window: should it happen, start over
            // at once.
            cfg += "fault_reset_interval\tASAP\n";
        }
        let path = self.dir.write(&format!("{who}.cfg"), &cfg);
        let log = std::fs::File::create(self.dir.path().join(format!("{who}.log"))).unwrap();
        let iface = match end {
            End::A => "tk-a",
            End::B => "tk-b",
        };
        // `ip netns exec` execs ptp4l in place: the child is ptp4l.
        let child = Command::new("ip")
            .args(["netns", "exec", self.ns(end), "ptp4l", "-i", iface])
            .args(["-S", "-m", "-f", &path])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start ptp4l");
        self.ptp4ls.borrow_mut().push((who.to_string(), child));
    }

    /// Lines of ptp4l `who`'s log that contain `needle`.
    fn log_count(&self, who: &str, needle: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join(format!("{who}.log")));
        log.unwrap_or_default().matches(needle).count()
    }

    fn kill(&self, who: &str) {
        for (w, c) in self.ptp4ls.borrow_mut().iter_mut() {
            if w == who {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// The state of ptp4l `who`'s (only) port; None while it does not answer.
    fn port_state(&self, who: &str) -> Option<PortState> {
        let mut c = Ptp4lClient::connect(&self.socket(who)).ok()?;
        c.port_properties().ok()?.first().map(|p| p.port_state)
    }

    /// Wait (at most [`CAP`]) until ptp4l `who`'s port is in `state`.
    fn wait_state(&self, who: &str, state: PortState) {
        let give_up = Instant::now() + CAP;
        loop {
            let now = self.port_state(who);
            if now == Some(state) {
                return;
            }
            assert!(
                Instant::now() < give_up,
                "ptp4l {who}: still {now:?}, not {state:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `pmc` on ptp4l `who`'s socket (gPTP: transportSpecific 1).
    fn pmc(&self, who: &str, command: &str) -> String {
        let out = Command::new("pmc")
            .args(["-u", "-b", "0", "-t", "1", "-s"])
            .arg(self.socket(who))
            .arg(command)
            .stdin(Stdio::null())
            .output()
            .expect("run pmc");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `bin` on `end` with `args`, its stderr read as it comes.
    fn start(&self, end: End, bin: &str, args: &[&str]) -> Running {
        let who = bin.rsplit('/').next().unwrap_or(bin);
        Running::start(&self.wire, self.ns(end), who, bin, args)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (who, c) in self.ptp4ls.get_mut() {
            let _ = c.kill();
            let _ = c.wait();
            if std::thread::panicking() {
                let log = std::fs::read_to_string(self.dir.path().join(format!("{who}.log")));
                eprintln!("--- ptp4l {who}:\n{}", log.unwrap_or_default());
            }
        }
    }
}

/// The signed number at `path` in `v`.
fn i(v: &Value, path: &[&str]) -> i64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_i64()
        .unwrap_or_else(|| panic!("{} is not a number in {v}", path.join(".")))
}

fn us(ns: i64) -> String {
    format!("{:.1} us", ns as f64 / 1e3)
}

/// The highest-numbered CPU this process may use (the listener's).
fn last_cpu() -> String {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    (n - 1).to_string()
}

/// What one talker -> listener run gave.
struct Pair {
    talker: Value,
    listener: Value,
    /// The listener's "ptp: in sync after ..." line, when it locked, and
    /// when the test saw it.
    lock: Option<(String, Instant)>,
}

/// The listener (`rx_dev`, with `rx_flags`) in b, then the talker in a,
/// then `meanwhile`. With `lock`, they run until the listener says it is
/// in sync and then [`MEASURE_LOCKED`] longer; without, [`MEASURE`]. The talker
/// is stopped first (SIGINT: a clean stop), then the listener, which has
/// seen every frame by then.
fn run_pair(
    lab: &Lab,
    (tx_dev, tx_flags): (&str, &[&str]),
    (rx_dev, rx_flags): (&str, &[&str]),
    lock: bool,
    meanwhile: impl FnOnce(),
) -> Pair {
    let schedule = schedule();
    let common = ["--schedule", &schedule, "--report", "json"];
    // Both real time, as a user runs them, on CPUs of their own, so that
    // what is judged is takt, not a loaded machine's other work: the
    // listener busy-polls a ring that holds some 64 ms of frames, and as
    // SCHED_OTHER beside builds it is now and then starved longer than
    // that (the kernel drops frames: rx_drops); the talker's xdp: tx
    // stamp is the clock read before its kick, as early as a preemption
    // in between is long.
    let cpu = last_cpu();
    let mut listener = lab.start(
        End::B,
        LISTENER,
        &[
            &common[..],
            &["--device", rx_dev, "--cpu", &cpu, "--priority", "80"],
            rx_flags,
        ]
        .concat(),
    );
    // The listener opens its device and starts polling well within this.
    std::thread::sleep(Duration::from_millis(700));
    let talker = lab.start(
        End::A,
        TALKER,
        &[
            &common[..],
            &["--device", tx_dev, "-q", "--cpu", "0", "--priority", "70"],
            tx_flags,
        ]
        .concat(),
    );
    meanwhile();
    let lock = lock.then(|| {
        let line = listener.wait_for_line("ptp: in sync after", CAP);
        (line, Instant::now())
    });
    std::thread::sleep(if lock.is_some() {
        MEASURE_LOCKED
    } else {
        MEASURE
    });
    let t = talker.interrupt(Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    let l = listener.interrupt(Duration::from_secs(60));
    Pair {
        talker: json(&t, "takt-talker"),
        listener: json(&l, "takt-listener"),
        lock,
    }
}

/// Every frame sent arrived, once; nothing allocated on either data path.
fn check_nothing_lost(p: &Pair, what: &str) {
    let (t, l) = (&p.talker, &p.listener);
    let tx = t["streams"].as_array().expect("talker streams");
    let rx = l["streams"].as_array().expect("listener streams");
    assert_eq!(tx.len(), rx.len());
    for (ts, rs) in tx.iter().zip(rx) {
        let name = ts["name"].as_str().unwrap();
        let sent = u(ts, &["frames_sent"]);
        assert!(sent > 0, "{what}: stream {name}: nothing sent\n{t}");
        assert_eq!(
            u(rs, &["frames_received"]),
            sent,
            "{what}: stream {name}: received == sent\n{l}"
        );
        for c in ["lost", "duplicates", "reordered"] {
            assert_eq!(u(rs, &[c]), 0, "{what}: stream {name}: {c}\n{l}");
        }
    }
    for (r, who) in [(t, "talker"), (l, "listener")] {
        assert_eq!(
            u(r, &["data_path_allocations"]),
            0,
            "{what}: {who}: heap operations on the data path\n{r}"
        );
    }
}

/// A listener with its own PTP port that locked: its `ptp` object says
/// so, |offset| p99 after the lock is within the bound, and its latency
/// p50 is within the bound of `base`'s (no offset, no PTP). Prints the
/// figures; `master_at`: when the grandmaster's port became MASTER.
fn check_locked_listener(what: &str, base: &Pair, ptp: &Pair, master_at: Option<Instant>) {
    let l = &ptp.listener;
    let p = &l["ptp"];
    assert_eq!(p["source"], "takt", "{what}: {p}");
    assert_eq!(p["role"], "slave", "{what}: {p}");
    let lock_ns = p["time_to_first_lock_ns"]
        .as_u64()
        .unwrap_or_else(|| panic!("{what}: the report shows no lock: {p}"));
    let (line, seen) = ptp.lock.as_ref().expect("waited for the lock");
    let off_p50 = i(p, &["abs_offset_ns", "p50"]);
    let off_p99 = i(p, &["abs_offset_ns", "p99"]);
    let base_p50 = i(&base.listener, &["total", "latency_ns", "p50"]);
    let ptp_p50 = i(l, &["total", "latency_ns", "p50"]);
    let after_master = master_at.map_or(String::new(), |m| {
        format!(
            ", {:.1} s after the grandmaster's port became MASTER",
            seen.duration_since(m).as_secs_f64()
        )
    });
    eprintln!(
        "{what}: lock {:.2} s after the listener's port started{after_master} ({line}); \
         |offset| p50 {} p99 {} over {} samples (offset p50 {}), path delay {}, {} sync \
         losses; latency p50 {} (p99 {}) against {} (p99 {}) without offset and PTP; talker \
         late {} of {}",
        lock_ns as f64 / 1e9,
        us(off_p50),
        us(off_p99),
        u(p, &["abs_offset_ns", "count"]),
        us(i(p, &["offset_ns", "p50"])),
        us(i(p, &["mean_path_delay_ns"])),
        u(p, &["sync_losses"]),
        us(ptp_p50),
        us(i(l, &["total", "latency_ns", "p99"])),
        us(base_p50),
        us(i(&base.listener, &["total", "latency_ns", "p99"])),
        u(&ptp.talker, &["total", "late"]),
        u(&ptp.talker, &["total", "frames_sent"]) + u(&ptp.talker, &["total", "late"]),
    );
    assert!(
        off_p99 < OFFSET_P99_NS,
        "{what}: |offset| p99 {off_p99} ns after the lock\n{p}"
    );
    assert!(
        (ptp_p50 - base_p50).abs() < LATENCY_DIFF_NS,
        "{what}: latency p50 {ptp_p50} ns with PTP, {base_p50} ns without\n{l}"
    );
}

/// The frames the listener took before its lock are kept apart
/// (`unsynced`, `latency_unsynced_ns`) and measure the true latency off
/// by `offset_ns`, the clocks' disagreement before the servo's step.
/// `stat` is the figure that shows it: the frames between the step and
/// the lock (3 Syncs in a row within the threshold, some 400 ms) measure
/// true latencies, so the median does only when most came before the
/// step (so the grandmaster starts late in test 1); the smallest does
/// whenever one did, for a negative offset (a stall only makes a latency
/// larger).
fn check_unsynced_off_by(what: &str, ptp: &Pair, offset_ns: i64, stat: &str) {
    let l = &ptp.listener;
    let count = u(l, &["total", "unsynced"]);
    assert!(count > 0, "{what}: no frame arrived before the lock\n{l}");
    let s = &l["total"]["latency_unsynced_ns"];
    let got = i(s, &[stat]);
    eprintln!(
        "{what}: {count} frames before the lock, latency min {} p50 {} max {}",
        us(i(s, &["min"])),
        us(i(s, &["p50"])),
        us(i(s, &["max"]))
    );
    assert!(
        (got - offset_ns).abs() < 1_000_000,
        "{what}: latency {stat} before the lock {got} ns, not {offset_ns} ns off\n{s}"
    );
}

const PACKET: (&str, &str) = ("packet:tk-a", "packet:tk-b");
const OFF: &[&str] = &["--ptp", "off"];

/// 1. A ptp4l grandmaster (beside a talker without PTP) and a listener
///    with its own slave port, 5 ms off the system clock. The grandmaster
///    starts once frames flow, so that most frames before the lock come
///    before the listener's clock is stepped (ptp4l listens 3 s before it
///    takes the grandmaster's part).
#[test]
fn listener_slave_locks_to_a_ptp4l_grandmaster_across_5ms() {
    if !ready("ptp4l grandmaster, takt-listener slave", &TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let lab = Lab::new("ptp-gm-listener");
    let base = run_pair(&lab, (PACKET.0, OFF), (PACKET.1, OFF), false, || {});
    check_nothing_lost(&base, "without PTP");
    let mut master_at = None;
    let ptp = run_pair(
        &lab,
        (PACKET.0, OFF),
        (PACKET.1, &["--ptp", "slave", "--clock-offset", "5ms"]),
        true,
        || {
            lab.ptp4l("gm", Role::Grandmaster, End::A);
            lab.wait_state("gm", PortState::Master);
            master_at = Some(Instant::now());
        },
    );
    let what = "ptp4l GM -> listener slave +5 ms";
    check_nothing_lost(&ptp, what);
    check_locked_listener(what, &base, &ptp, master_at);
    check_unsynced_off_by(what, &ptp, 5_000_000, "p50");
    // ptp4l outlived the listener: its port ended as it ran.
    assert_eq!(ptp.listener["ptp"]["port_state"], "SLAVE");
    let gm = Ptp4lClient::connect(&lab.socket("gm"))
        .expect("ptp4l answers")
        .clock()
        .clock_identity
        .to_string();
    assert_eq!(
        ptp.listener["ptp"]["grandmaster"].as_str(),
        Some(gm.as_str()),
        "the listener's grandmaster is ptp4l"
    );
}

/// ptp4l `who`'s offsets from its master while `talker` runs: (when
/// polled, master_offset ns), one per new sample (a new ingress time),
/// leaving out the zeros ptp4l reports until it has a peer delay. Returns
/// them and when the talker was seen to end.
fn ptp4l_offsets(lab: &Lab, who: &str, talker: &mut Running) -> (Vec<(Instant, i64)>, Instant) {
    let mut client: Option<Ptp4lClient> = None;
    let mut last_ingress = None;
    let mut samples = Vec::new();
    while talker.running() {
        if client.is_none() {
            client = Ptp4lClient::connect(&lab.socket(who)).ok();
        }
        if let Some(c) = &mut client {
            match c.time_status() {
                Ok(ts) => {
                    let new = Some(ts.ingress_time_ns) != last_ingress;
                    if ts.gm_present && new && ts.master_offset_ns != 0 {
                        samples.push((Instant::now(), ts.master_offset_ns));
                    }
                    last_ingress = Some(ts.ingress_time_ns);
                }
                Err(_) => client = None,
            }
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    (samples, Instant::now())
}

/// The p-th percentile (0..=100) of `v` by the nearest-rank method.
fn percentile(v: &mut [i64], p: usize) -> i64 {
    v.sort_unstable();
    let rank = (v.len() * p).div_ceil(100).max(1);
    v[rank - 1]
}

/// 2. A talker with its own master port as grandmaster and a ptp4l slave
///    that only measures: ptp4l sees the talker's time, and with
///    `--clock-offset 3ms` sees it 3 ms ahead (master_offset -3 ms).
#[test]
fn ptp4l_slave_measures_a_takt_talker_grandmaster_and_its_3ms_offset() {
    if !ready("takt-talker grandmaster, ptp4l slave", &TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let lab = Lab::new("ptp-talker-gm");
    let schedule = schedule();
    for (n, (offset, offset_ns)) in [("0", 0i64), ("+3ms", 3_000_000)].into_iter().enumerate() {
        let who = format!("slave{n}");
        lab.ptp4l(&who, Role::Slave, End::B);
        // Started together, ptp4l's Pdelay_Req and takt's Announce fall
        // due together every second; the Announce that makes ptp4l
        // UNCALIBRATED then lands while takt's answer to that request is
        // on its way, which ptp4l calls rogue (see `Lab::ptp4l`).
        lab.wait_state(&who, PortState::Listening);
        std::thread::sleep(Duration::from_millis(400));
        let mut talker = lab.start(
            End::A,
            TALKER,
            &[
                "--schedule",
                &schedule,
                "--device",
                PACKET.0,
                "--ptp",
                "master",
                "--clock-offset",
                offset,
                "--duration",
                "13s",
                "-q",
                "--report",
                "json",
            ],
        );
        let (samples, end) = ptp4l_offsets(&lab, &who, &mut talker);
        let t = json(&talker.finish(Duration::from_secs(30)), "takt-talker");
        lab.kill(&who);
        let p = &t["ptp"];
        assert_eq!(
            (p["role"].as_str(), p["port_state"].as_str()),
            (Some("master"), Some("MASTER")),
            "{p}"
        );
        // ptp4l's master_offset is its clock minus the master's: a
        // talker 3 ms ahead is -3 ms.
        let last_10s: Vec<i64> = samples
            .iter()
            .filter(|(at, _)| end.duration_since(*at) <= Duration::from_secs(10))
            .map(|&(_, o)| o)
            .collect();
        let mut err: Vec<i64> = last_10s.iter().map(|o| (o + offset_ns).abs()).collect();
        assert!(
            err.len() >= 20,
            "{offset}: ptp4l measured {} offsets in the talker's last 10 s \
             ({} in all): {last_10s:?}",
            err.len(),
            samples.len()
        );
        let (p50, p99) = (percentile(&mut err, 50), percentile(&mut err, 99));
        let mut raw = last_10s.clone();
        eprintln!(
            "talker GM --clock-offset {offset}: ptp4l master_offset p50 {} over {} samples \
             of the last 10 s; |offset - expected| p50 {} p99 {}; {} rogue peer delay \
             responses",
            us(percentile(&mut raw, 50)),
            err.len(),
            us(p50),
            us(p99),
            lab.log_count(&who, "rogue peer delay response")
        );
        assert!(
            p99 < OFFSET_P99_NS,
            "{offset}: ptp4l's master_offset is {p99} ns off -{offset_ns} ns at p99: {last_10s:?}"
        );
    }
}

/// 3. takt on both ends: the talker a master 5 ms ahead, the listener a
///    slave 3 ms behind.
fn takt_to_takt(tx_dev: &str, rx_dev: &str) {
    let what = format!("talker master +5 ms {tx_dev} -> listener slave -3 ms {rx_dev}");
    if !ready(&what, &TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let lab = Lab::new("ptp-takt-takt");
    let base = run_pair(&lab, (tx_dev, OFF), (rx_dev, OFF), false, || {});
    check_nothing_lost(&base, "without PTP");
    let ptp = run_pair(
        &lab,
        (tx_dev, &["--ptp", "master", "--clock-offset", "+5ms"]),
        (rx_dev, &["--ptp", "slave", "--clock-offset", "-3ms"]),
        true,
        || {},
    );
    check_nothing_lost(&ptp, &what);
    check_locked_listener(&what, &base, &ptp, None);
    // The listener's clock is 8 ms behind the talker's until it locks.
    check_unsynced_off_by(&what, &ptp, -8_000_000, "min");
    let t = &ptp.talker["ptp"];
    assert_eq!(t["port_state"], "MASTER", "{t}");
    assert_eq!(t["grandmaster"], ptp.listener["ptp"]["grandmaster"]);
}

#[test]
fn takt_master_plus_5ms_and_takt_slave_minus_3ms_packet() {
    takt_to_takt(PACKET.0, PACKET.1);
}

#[test]
fn takt_master_plus_5ms_and_takt_slave_minus_3ms_xdp() {
    takt_to_takt("xdp:tk-a@0", "xdp:tk-b@0");
}

/// takt frames (802.1Q, EtherType 0x88B5) on the capture: their capture
/// times, ns since the epoch (CLOCK_REALTIME), in order.
fn takt_frame_times(pcap: &std::path::Path) -> Vec<u64> {
    pcap_records(pcap)
        .into_iter()
        .filter(|(_, f)| f.len() >= 18 && f[12..14] == [0x81, 0x00] && f[16..18] == [0x88, 0xb5])
        .map(|(t, _)| t)
        .collect()
}

fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64
}

/// 4. linuxptp owns the NIC: the talker follows a ptp4l slave on its
///    interface.
#[test]
fn linuxptp_mode_refuses_until_ptp4l_is_in_sync_and_reports_it_killed() {
    if !ready("takt-talker --ptp linuxptp", &TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let lab = Lab::new("ptp-linuxptp");
    let schedule = schedule();
    let sock = lab.socket("slave").display().to_string();
    let talker = |lab: &Lab, threshold: &str, wait: &str, duration: Option<&str>| {
        let mut args = vec![
            "--schedule",
            &schedule,
            "--device",
            PACKET.0,
            "--ptp",
            "linuxptp",
            "--ptp4l-socket",
            &sock,
            "--sync-threshold",
            threshold,
            "--sync-wait",
            wait,
            "-q",
            "--report",
            "json",
        ];
        if let Some(d) = duration {
            args.extend(["--duration", d]);
        }
        lab.start(End::A, TALKER, &args)
    };
    // Refused: exit 1, nothing sent, and the message says why and what to do.
    let refused = |lab: &Lab, stage: &str, needles: &[&str]| {
        let out = talker(lab, "1us", "0", Some("2s")).finish(Duration::from_secs(60));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        common::assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(1), "{stage}: {err}");
        assert!(out.stdout.is_empty(), "{stage}: a report on stdout: it ran");
        for n in needles {
            assert!(err.contains(n), "{stage}: {n:?} not in: {err}");
        }
        eprintln!("{stage}: refused: {}", err.trim());
    };

    refused(
        &lab,
        "ptp4l absent",
        &["ptp4l is not running", &sock, "--ptp4l-socket"],
    );

    // A slave that hears no master yet.
    lab.ptp4l("slave", Role::Slave, End::A);
    lab.wait_state("slave", PortState::Listening);
    refused(
        &lab,
        "ptp4l listening",
        &["ptp4l's port on tk-a is LISTENING", "hears no master"],
    );

    // A master: the free-running slave measures but does not lock.
    lab.ptp4l("gm", Role::Grandmaster, End::B);
    lab.wait_state("slave", PortState::Uncalibrated);
    refused(
        &lab,
        "ptp4l uncalibrated",
        &[
            "ptp4l's port on tk-a is UNCALIBRATED",
            "SET SYNCHRONIZATION_UNCERTAIN_NP 0",
        ],
    );

    // Told its sync is certain, it is SLAVE; the talker waits for an
    // offset within 1 us (veth: about +-1 us) and runs.
    let set = lab.pmc("slave", "SET SYNCHRONIZATION_UNCERTAIN_NP 0");
    assert!(set.contains("uncertain"), "pmc SET: {set}");
    let started = Instant::now();
    let out = talker(&lab, "1us", "120s", Some("1s")).finish(CAP + Duration::from_secs(30));
    let t = json(&out, "takt-talker --sync-threshold 1us");
    assert!(u(&t, &["total", "frames_sent"]) > 0, "{t}");
    assert_eq!(t["ptp"]["source"], "linuxptp", "{t}");
    eprintln!(
        "--sync-threshold 1us: through the gate and a 1 s run in {:.1} s; {} sync losses, \
         {} unsynced of {} frames",
        started.elapsed().as_secs_f64(),
        u(&t, &["ptp", "sync_losses"]),
        u(&t, &["total", "unsynced"]),
        u(&t, &["total", "frames_sent"])
    );

    // ptp4l killed mid-run. A threshold far above the noise, so that only
    // the kill loses sync.
    let pcap = lab.dir.path().join("kill.pcap");
    let cap = Capture::start(&lab.wire, &pcap);
    let mut run = talker(&lab, "100us", "120s", None);
    let give_up = Instant::now() + CAP;
    while takt_frame_times(&pcap).is_empty() {
        assert!(run.running(), "the talker ended:\n{}", run.stderr());
        assert!(Instant::now() < give_up, "no takt frame on the wire");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let killed_at = realtime_ns();
    lab.kill("slave");
    // The watcher polls every 250 ms and calls 1 s of silence a loss.
    std::thread::sleep(Duration::from_secs(5));
    let t = json(&run.interrupt(Duration::from_secs(60)), "takt-talker");
    // libpcap hands tcpdump the frames in blocks it retires after up to
    // 1 s: frames still in the last block when tcpdump stops are not on
    // the capture.
    std::thread::sleep(Duration::from_millis(1500));
    cap.stop();

    let p = &t["ptp"];
    let sent = u(&t, &["total", "frames_sent"]);
    let unsynced = u(&t, &["total", "unsynced"]);
    assert_eq!(p["source"], "linuxptp", "{p}");
    assert_eq!(p["port_state"], "UNKNOWN", "{p}");
    assert!(u(p, &["sync_losses"]) >= 1, "{p}");
    assert_eq!(u(p, &["unsynced_samples"]), unsynced, "{p}");
    // A frame on the wire before the kill was sent before it; so at most
    // the others were sent after (a capture that missed frames only
    // makes that bound looser).
    let on_wire = takt_frame_times(&pcap);
    let before_kill = on_wire.iter().filter(|&&at| at < killed_at).count() as u64;
    assert!(before_kill > 0, "no frame before the kill");
    let after_kill = sent.saturating_sub(before_kill);
    assert!(
        unsynced > 0 && unsynced <= after_kill,
        "{unsynced} frames unsynced, at most {after_kill} of {sent} sent after the kill\n{t}"
    );
    // Nothing brings sync back: the unsynced frames are the last ones.
    let first_unsynced = (on_wire.len() as u64 == sent).then(|| {
        let at = on_wire[(sent - unsynced) as usize];
        format!("{:.2} s", (at as i64 - killed_at as i64) as f64 / 1e9)
    });
    eprintln!(
        "ptp4l killed: {} sync losses, {unsynced} unsynced of {after_kill} frames sent after \
         the kill ({sent} in all); the first unsynced {} after the kill",
        u(p, &["sync_losses"]),
        first_unsynced
            .as_deref()
            .unwrap_or("? (the capture missed frames)")
    );
}
