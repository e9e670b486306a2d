//! Two network namespaces joined by a veth pair, for the tests that run
//! the real binaries across it: who may run them, one at a time, tcpdump
//! on the far end, and reading the JSON reports.

use super::{text, wait_at_most};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
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
        Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("ip netns exec {ns} {program}: {e}"))
    }

    pub fn set_link(&self, up: bool) {
        self.pair
            .ns_a()
            .run(|| link::set_up("tk-a", up))
            .expect("enter namespace a")
            .expect("set tk-a up/down");
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
        use std::io::Read;
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
