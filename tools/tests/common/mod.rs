//! Helpers the CLI tests share: running the real binaries, example paths,
//! temp directories.

#![allow(dead_code)] // each test binary uses its own subset

pub mod gates;
pub mod impair;
pub mod veth;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Run a binary to completion with `args`, stdout and stderr captured.
pub fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {bin}: {e}"))
}

/// Start a binary with stdout and stderr piped.
pub fn spawn(bin: &str, args: &[&str]) -> Child {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {bin}: {e}"))
}

/// Wait for `child` at most `limit`; kill it and fail if it takes longer.
pub fn wait_at_most(mut child: Child, limit: Duration) -> Output {
    let give_up = Instant::now() + limit;
    loop {
        match child.try_wait().expect("wait for child") {
            Some(_) => return child.wait_with_output().expect("collect output"),
            None if Instant::now() >= give_up => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("collect output");
                panic!(
                    "still running after {limit:?}; killed. stderr:\n{}",
                    text(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

pub fn assert_no_panic(out: &Output) {
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "panicked:\n{err}");
    assert_ne!(out.status.code(), Some(101), "panicked:\n{err}");
}

pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples")
}

pub fn example(name: &str) -> String {
    examples_dir().join(name).display().to_string()
}

/// A fresh, uniquely named directory under the system temp dir; removed
/// (with everything in it) on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "takt-tools-test-{}-{tag}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `name` inside the directory, as a string for a command line.
    pub fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    /// Write `contents` to `name` inside the directory; its path.
    pub fn write(&self, name: &str, contents: &str) -> String {
        let path = self.file(name);
        std::fs::write(&path, contents).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether a QEMU guest test can run here (root); says why it skips, and
/// panics under CI=true, where skipping is not allowed.
pub fn guest_possible(what: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let msg = format!("the {what} guest test needs root (it installs QEMU and boots a guest)");
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("skipped: {msg}");
    false
}

/// A JSON file, parsed.
pub fn json_file(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

/// Ethernet frames of a classic pcap file (either byte order, us or ns
/// timestamps); a record cut short at the end (capture stopped) is left out.
pub fn pcap_frames(path: &Path) -> Vec<Vec<u8>> {
    pcap_records(path).into_iter().map(|(_, f)| f).collect()
}

/// As [`pcap_frames`], each with its capture time in ns since the epoch
/// (CLOCK_REALTIME).
pub fn pcap_records(path: &Path) -> Vec<(u64, Vec<u8>)> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(b.len() >= 24, "{}: no pcap header", path.display());
    let (le, nanos) = match u32::from_le_bytes(b[0..4].try_into().unwrap()) {
        0xa1b2_c3d4 => (true, false),
        0xa1b2_3c4d => (true, true),
        0xd4c3_b2a1 => (false, false),
        0x4d3c_b2a1 => (false, true),
        m => panic!("{}: not a pcap file (magic {m:#x})", path.display()),
    };
    let u32_at = |o: usize| {
        let w: [u8; 4] = b[o..o + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    assert_eq!(
        u32_at(20),
        1,
        "{}: link type is not Ethernet",
        path.display()
    );
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= b.len() {
        let (sec, frac) = (u64::from(u32_at(at)), u64::from(u32_at(at + 4)));
        let len = u32_at(at + 8) as usize;
        let start = at + 16;
        if start + len > b.len() {
            break;
        }
        let ns = sec * 1_000_000_000 + if nanos { frac } else { frac * 1_000 };
        frames.push((ns, b[start..start + len].to_vec()));
        at = start + len;
    }
    frames
}

/// A takt-drivers example built statically (the guest has no libc of its
/// own), with `features`; returns its path.
pub fn static_drivers_example(name: &str, features: &[&str]) -> PathBuf {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(repo())
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .args(["build", "--release", "--target", "x86_64-unknown-linux-gnu"])
        .args(["-p", "takt-drivers", "--example", name]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    let status = cmd.status().expect("cargo starts");
    assert!(status.success(), "building the {name} example failed");
    target_dir.join(format!("x86_64-unknown-linux-gnu/release/examples/{name}"))
}
