//! Two network namespaces joined by a veth pair, for the tests that run
//! the real binaries across it: who may run them, one at a time, tcpdump
//! on the far end, a program whose stderr is read while it runs, and
//! reading the JSON reports.

use super::{text, wait_at_most};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use takt_drivers::link::{self, VethPair};

/// True when the test should run; false (after saying why) when it skips.
pub fn ready(test: &str, tools: &[&str]) -> bool {
    let mut missing: Vec<String> = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("root (network namespaces, CAP_NET_RAW, CAP_BPF)".into());
    }
    for t in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            missing.push(format!("{t} (./test.sh installs it)"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let why = missing.join(", ");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs {why}, and CI=true forbids skipping");
    }
    eprintln!("{test}: skipped: needs {why}");
    false
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// One run at a time: a listener busy-polls a CPU, and on a 2-core machine
/// two runs side by side starve each other's listener until its ring
/// overflows (kernel rx drops), which is the machine, not the code.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    // A failed test poisons the lock; the next one may still run.
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Two namespaces `a` (talker, `tk-a`) and `b` (listener, `tk-b`) joined by
/// a veth pair; deleted on drop.
pub struct Wire {
    pub a: String,
    pub b: String,
    pub pair: VethPair,
}

impl Wire {
    pub fn new() -> Wire {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let (a, b) = (format!("takt-v-{pid}-{n}-a"), format!("takt-v-{pid}-{n}-b"));
        let pair = VethPair::create(&a, &b, "tk-a", "tk-b", "10.80.0.1/24", "10.80.0.2/24")
            .expect("veth pair between two namespaces");
        Wire { a, b, pair }
    }

    /// `ip netns exec NS PROGRAM ARGS...`, stdout and stderr piped.
    pub fn spawn(&self, ns: &str, program: &str, args: &[&str]) -> Child {
        spawn_in(ns, program, args)
    }

    pub fn set_link(&self, up: bool) {
        self.pair
            .ns_a()
            .run(|| link::set_up("tk-a", up))
            .expect("enter namespace a")
            .expect("set tk-a up/down");
    }
}

/// `ip netns exec NS PROGRAM ARGS...`, stdout and stderr piped.
pub fn spawn_in(ns: &str, program: &str, args: &[&str]) -> Child {
    Command::new("ip")
        .args(["netns", "exec", ns, program])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("ip netns exec {ns} {program}: {e}"))
}

/// Interface names of the two paths of [`TwoPaths`] in the talker's
/// (`[0]`) and the listener's (`[1]`) namespace: path A, path B.
pub const PATH_IFS: [[&str; 2]; 2] = [["frA0", "frA3"], ["frB0", "frB3"]];

/// Two paths between a talker namespace and a listener namespace, each
/// through the root namespace, where a relay (`impair.rs`) moves frames:
///
/// ```text
/// talker ns [frA0] -- veth -- [root in]  relay  [root out] -- veth -- [frA3] listener ns
/// talker ns [frB0] -- veth -- [root in]  relay  [root out] -- veth -- [frB3] listener ns
/// ```
///
/// Everything up, IPv6 off (no stray frames). Dropping it deletes both
/// namespaces, which deletes the veths (their root ends too).
pub struct TwoPaths {
    pub talker: String,
    pub listener: String,
    /// Per path: the root namespace's ends, (from the talker, to the listener).
    pub root: [(String, String); 2],
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TwoPaths {
    pub fn new() -> TwoPaths {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Root interface names are global: pid and counter keep them apart
        // (at most 15 bytes: "fr" + 6 hex + counter + path + end).
        let root = |p: char, end: u8| format!("fr{pid:x}{n}{p}{end}");
        let paths = TwoPaths {
            talker: format!("takt-frer-{pid}-{n}-t"),
            listener: format!("takt-frer-{pid}-{n}-l"),
            root: [(root('a', 1), root('a', 2)), (root('b', 1), root('b', 2))],
        };
        // From here a failed step panics and the drop deletes what exists.
        sh(&["ip", "netns", "add", &paths.talker]);
        sh(&["ip", "netns", "add", &paths.listener]);
        for (i, (r_in, r_out)) in paths.root.iter().enumerate() {
            let [t_if, l_if] = PATH_IFS[i];
            sh(&[
                "ip",
                "link",
                "add",
                r_in,
                "type",
                "veth",
                "peer",
                "name",
                t_if,
                "netns",
                &paths.talker,
            ]);
            sh(&[
                "ip",
                "link",
                "add",
                r_out,
                "type",
                "veth",
                "peer",
                "name",
                l_if,
                "netns",
                &paths.listener,
            ]);
            for r in [r_in, r_out] {
                sh(&[
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{r}.disable_ipv6=1"),
                ]);
                sh(&["ip", "link", "set", r, "up"]);
            }
            for (ns, ifn) in [(&paths.talker, t_if), (&paths.listener, l_if)] {
                sh(&[
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{ifn}.disable_ipv6=1"),
                ]);
                sh(&["ip", "-n", ns, "link", "set", ifn, "up"]);
            }
        }
        paths
    }

    /// `ip link set IF up|down` on the talker's end of path `path` (0 = A).
    pub fn set_talker_link(&self, path: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        sh(&[
            "ip",
            "-n",
            &self.talker,
            "link",
            "set",
            PATH_IFS[path][0],
            state,
        ]);
    }
}

impl Drop for TwoPaths {
    fn drop(&mut self) {
        for ns in [&self.talker, &self.listener] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        // Gone with their peers already; this catches a half-built set-up.
        for (a, b) in &self.root {
            for r in [a, b] {
                let _ = Command::new("ip")
                    .args(["link", "del", r])
                    .stderr(Stdio::null())
                    .output();
            }
        }
    }
}

/// tcpdump on `tk-b` in namespace `b`, writing every frame to `pcap`.
pub struct Capture(Child);

impl Capture {
    pub fn start(wire: &Wire, pcap: &Path) -> Capture {
        let pcap = pcap.display().to_string();
        let mut child = wire.spawn(
            &wire.b,
            "tcpdump",
            &[
                "-i",
                "tk-b",
                "-U",
                "-n",
                "-s",
                "96",
                "--time-stamp-precision",
                "nano",
                "-w",
                &pcap,
            ],
        );
        // tcpdump says "listening on tk-b" once the socket is capturing.
        let mut err = child.stderr.take().expect("tcpdump stderr");
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !String::from_utf8_lossy(&seen).contains("listening on") {
            match err.read(&mut byte) {
                Ok(1) => seen.push(byte[0]),
                _ => panic!("tcpdump ended: {}", String::from_utf8_lossy(&seen)),
            }
        }
        child.stderr = Some(err);
        Capture(child)
    }

    /// Stop tcpdump (SIGTERM: it flushes and closes the file).
    pub fn stop(self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        wait_at_most(self.0, Duration::from_secs(10));
    }
}

pub fn json(out: &Output, who: &str) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{who} failed:\n{}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{who} --report json: {e}:\n{}", text(&out.stdout)))
}

/// The number at `path` in `v`.
pub fn u(v: &Value, path: &[&str]) -> u64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_u64()
        .unwrap_or_else(|| panic!("{} is not a number in {v}", path.join(".")))
}

/// A program running in a namespace whose stderr is read as it comes (to
/// wait for a line it prints), stdout too (a pipe left unread would stop
/// it once full); killed on drop if it still runs, so a failed assertion
/// leaves nothing behind.
pub struct Running {
    who: String,
    child: Option<Child>,
    stderr: Arc<Mutex<String>>,
    readers: Option<(JoinHandle<Vec<u8>>, JoinHandle<()>)>,
}

impl Running {
    /// `ip netns exec NS PROGRAM ARGS...`; `who` names it in messages.
    pub fn start(_wire: &Wire, ns: &str, who: &str, program: &str, args: &[&str]) -> Running {
        Running::start_in(ns, who, program, args)
    }

    /// As [`Running::start`], in any namespace.
    pub fn start_in(ns: &str, who: &str, program: &str, args: &[&str]) -> Running {
        let mut child = spawn_in(ns, program, args);
        let mut out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let stdout = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let lines = std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        });
        Running {
            who: who.to_string(),
            child: Some(child),
            stderr,
            readers: Some((stdout, lines)),
        }
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// True while it runs.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().expect("wait for child").is_none())
    }

    /// The first stderr line containing `needle`; fails when the program
    /// ends without printing it or `cap` passes (a cap on a hang, never a
    /// pass criterion).
    pub fn wait_for_line(&mut self, needle: &str, cap: Duration) -> String {
        let give_up = Instant::now() + cap;
        loop {
            if let Some(l) = self.stderr().lines().find(|l| l.contains(needle)) {
                return l.to_string();
            }
            let ended = !self.running();
            assert!(
                !ended && Instant::now() < give_up,
                "{}: no line with {needle:?} ({}); stderr:\n{}",
                self.who,
                if ended { "it ended" } else { "gave up waiting" },
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGINT (a clean stop: the report is still written), then its output.
    pub fn interrupt(self, cap: Duration) -> Output {
        if let Some(c) = &self.child {
            let pid = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        }
        self.finish(cap)
    }

    /// Wait for it to end (at most `cap`: then it is killed and the test
    /// fails); its output, stderr included.
    pub fn finish(mut self, cap: Duration) -> Output {
        let give_up = Instant::now() + cap;
        while self.running() {
            assert!(
                Instant::now() < give_up,
                "{}: still running after {cap:?} (killed); stderr:\n{}",
                self.who,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut child = self.child.take().expect("still there");
        let status = child.wait().expect("collect the exit status");
        let (stdout, lines) = self.readers.take().expect("read once");
        let stdout = stdout.join().unwrap_or_default();
        let _ = lines.join();
        Output {
            status,
            stdout,
            stderr: self.stderr().into_bytes(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Real-time flags for a talker whose frames must not be late.
pub const RT: [&str; 6] = ["--cpu", "1", "--priority", "80", "--wake", "hybrid"];

/// A cycle of `cycle_us`: class 7 open for the first `class7_us` with one
/// frame at 10 us, best effort for the rest. The tests use wide windows so
/// that a noisy VM's wake-ups do not make frames late on their own, and
/// "no late frame" is about the protocol sharing the ring (control
/// plane, PTP). `extra`: sections appended (e.g. `[control]`).
pub fn wide_schedule(cycle_us: u64, class7_us: u64, extra: &str) -> String {
    format!(
        r#"[schedule]
clock = "tai"
base_time = 0
cycle_time = "{cycle_us}us"

[[schedule.entry]]
gates = [7]
interval = "{class7_us}us"

[[schedule.entry]]
gates = [0, 1, 2, 3]
interval = "{be}us"

[link]
speed = "1Gbps"

[[stream]]
name = "sensor"
traffic_class = 7
vlan_id = 100
dst_mac = "91:e0:f0:00:fe:00"
frame_size = 128
offset = "10us"
{extra}"#,
        be = cycle_us - class7_us
    )
}
