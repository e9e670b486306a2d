//! The control plane of the real binaries across a veth pair between two
//! namespaces, on `packet:` and `xdp:` devices: the kernel's arping and
//! ping in the other namespace get answers from takt's address, a status
//! query over UDP returns the report's numbers, a ping flood during a run
//! leaves no stream frame late and no control frame inside the
//! time-critical window (tcpdump timestamps), and a schedule sent over UDP
//! takes over at its base time while a bad one is refused with its
//! line:col.
//!
//! Needs root, ip, tcpdump, ping and arping (test.sh installs them);
//! skips without them, except under CI=true, where it fails.

mod common;

use common::veth::{json, one_at_a_time, ready, u, wide_schedule as schedule, Capture, Wire, RT};
use common::{pcap_records, text, wait_at_most, TempDir};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Output};
use std::time::{Duration, Instant};
use takt_drivers::link;
use takt_stack::control::auth::{self, Key};

const TALKER: &str = env!("CARGO_BIN_EXE_takt-talker");
const LISTENER: &str = env!("CARGO_BIN_EXE_takt-listener");
const TAKT: &str = env!("CARGO_BIN_EXE_takt");

/// takt's address next to the kernel's 10.80.0.1 (a) and 10.80.0.2 (b).
const TAKT_A: &str = "10.80.0.11";
const TAKT_B: &str = "10.80.0.12";
const TOOLS: [&str; 4] = ["ip", "tcpdump", "ping", "arping"];

fn write(dir: &TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn talker(wire: &Wire, sched: &str, dev: &str, extra: &[&str]) -> Child {
    let mut args = vec![
        "--schedule",
        sched,
        "--device",
        dev,
        "-q",
        "--report",
        "json",
    ];
    args.extend_from_slice(extra);
    wire.spawn(&wire.a, TALKER, &args)
}

fn in_b(wire: &Wire, program: &str, args: &[&str]) -> Output {
    wait_at_most(wire.spawn(&wire.b, program, args), Duration::from_secs(60))
}

fn in_a(wire: &Wire, program: &str, args: &[&str]) -> Output {
    wait_at_most(wire.spawn(&wire.a, program, args), Duration::from_secs(60))
}

/// `ping -c N` from a namespace: exit 0, N replies, 0 % loss.
fn assert_pings(out: &Output, n: u32) {
    let s = text(&out.stdout);
    assert!(
        out.status.success()
            && s.contains(&format!("{n} received"))
            && s.contains(" 0% packet loss"),
        "ping: {s}\n{}",
        text(&out.stderr)
    );
}

/// The MAC the kernel learnt for `ip` in namespace `ns` (ARP resolved).
fn neighbour_mac(ns: &str, ip: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["-n", ns, "-j", "neigh", "show", ip])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v[0]["lladdr"].as_str().unwrap_or("").to_owned()
}

fn mac_of(wire: &Wire, ns_a: bool, ifname: &str) -> String {
    let ns = if ns_a {
        wire.pair.ns_a()
    } else {
        wire.pair.ns_b()
    };
    let m = ns.run(|| link::mac(ifname)).unwrap().unwrap();
    takt_drivers::format_mac(m)
}

/// `takt control status` from a namespace, parsed.
fn status(wire: &Wire, in_ns_a: bool, addr: &str) -> Value {
    let out = if in_ns_a {
        in_a(wire, TAKT, &["control", "status", addr])
    } else {
        in_b(wire, TAKT, &["control", "status", addr])
    };
    assert!(
        out.status.success(),
        "takt control status: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status is not JSON: {e}\n{}", text(&out.stdout)))
}

/// The counters and percentiles of each stream agree between a status
/// reply taken after the last frame and the final report.
/// (`cycles` too for a talker; a listener's count the time that passed.)
fn assert_status_matches(status: &Value, report: &Value, metric: &str) {
    let mut keys = vec!["report_version", "device", "backend", "clock", "started_ns"];
    if metric == "tx_error_ns" {
        keys.push("cycles");
    }
    for key in keys {
        assert_eq!(
            status[key], report[key],
            "{key}\nstatus {status}\nreport {report}"
        );
    }
    for part in ["streams", "total"] {
        let (s, r) = (&status[part], &report[part]);
        let pairs: Vec<(&Value, &Value)> = match (s.as_array(), r.as_array()) {
            (Some(a), Some(b)) => {
                assert_eq!(a.len(), b.len());
                a.iter().zip(b).collect()
            }
            _ => vec![(s, r)],
        };
        for (s, r) in pairs {
            for c in [
                "frames_sent",
                "frames_received",
                "lost",
                "duplicates",
                "reordered",
                "late",
                "wrong_vlan",
            ] {
                assert_eq!(s[c], r[c], "{part} {c}\nstatus {s}\nreport {r}");
            }
            assert_eq!(s[metric], r[metric], "{part} {metric}");
        }
    }
}

/// takt-talker with a control plane: arping and ping from the other
/// namespace, then a status query after the last frame (while it lingers)
/// that matches its final report.
fn talker_answers(dev: &str) {
    if !ready(&format!("talker control plane on {dev}"), &TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let wire = Wire::new();
    let dir = TempDir::new("ctl");
    let sched = write(&dir, "s.toml", &schedule(2000, 1000, ""));
    let ip = format!("{TAKT_A}/24");
    let started = Instant::now();
    let t = talker(
        &wire,
        &sched,
        dev,
        &["--ip", &ip, "--duration", "2500ms", "--linger", "3s"],
    );
    std::thread::sleep(Duration::from_millis(600));

    let arp = in_b(
        &wire,
        "arping",
        &["-c", "1", "-w", "3", "-I", "tk-b", TAKT_A],
    );
    assert!(
        arp.status.success(),
        "arping: {}{}",
        text(&arp.stdout),
        text(&arp.stderr)
    );
    let ping = in_b(
        &wire,
        "ping",
        &["-c", "100", "-i", "0.01", "-W", "1", "-q", TAKT_A],
    );
    assert_pings(&ping, 100);
    assert_eq!(
        neighbour_mac(&wire.b, TAKT_A),
        mac_of(&wire, true, "tk-a"),
        "ARP: takt's address resolves to the talker's interface"
    );

    // After the last frame (2.5 s from a start 20 ms out), before linger ends.
    let after_run = Duration::from_millis(3300);
    std::thread::sleep(after_run.saturating_sub(started.elapsed()));
    let st = status(&wire, false, TAKT_A);
    let report = json(&wait_at_most(t, Duration::from_secs(30)), "takt-talker");
    assert!(u(&report, &["total", "frames_sent"]) > 1000, "{report}");
    assert_status_matches(&st, &report, "tx_error_ns");
    assert!(u(&report, &["control", "requests"]) >= 1, "{report}");
    assert!(
        u(&report, &["control", "tx_frames"]) >= 101,
        "ARP + 100 echo replies\n{report}"
    );
    assert_eq!(u(&report, &["data_path_allocations"]), 0, "{report}");
}

#[test]
fn packet_talker_answers_arping_ping_and_status() {
    talker_answers("packet:tk-a");
}

#[test]
fn xdp_talker_answers_arping_ping_and_status() {
    talker_answers("xdp:tk-a@0");
}

/// takt-listener with a control plane on `dev` in namespace b: after a
/// talker's run, ping from a, and its status equals its final report.
fn listener_answers(dev: &str) {
    if !ready(&format!("listener control plane on {dev}"), &TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let wire = Wire::new();
    let dir = TempDir::new("ctl");
    let sched = write(&dir, "s.toml", &schedule(2000, 1000, ""));
    let ip = format!("{TAKT_B}/24");
    let l = wire.spawn(
        &wire.b,
        LISTENER,
        &[
            "--schedule",
            &sched,
            "--device",
            dev,
            "-q",
            "--report",
            "json",
            "--duration",
            "5s",
            "--ip",
            &ip,
        ],
    );
    std::thread::sleep(Duration::from_millis(700));
    let t = talker(&wire, &sched, "packet:tk-a", &["--duration", "1500ms"]);
    let t = json(&wait_at_most(t, Duration::from_secs(30)), "takt-talker");

    let ping = in_a(
        &wire,
        "ping",
        &["-c", "100", "-i", "0.01", "-W", "1", "-q", TAKT_B],
    );
    assert_pings(&ping, 100);
    assert_eq!(neighbour_mac(&wire.a, TAKT_B), mac_of(&wire, false, "tk-b"));
    let st = status(&wire, true, TAKT_B);
    let report = json(&wait_at_most(l, Duration::from_secs(30)), "takt-listener");
    assert_eq!(
        u(&report, &["total", "frames_received"]),
        u(&t, &["total", "frames_sent"]),
        "every frame arrived although pings shared the ring\n{report}"
    );
    assert_status_matches(&st, &report, "latency_ns");
    assert_eq!(u(&report, &["data_path_allocations"]), 0, "{report}");
}

#[test]
fn packet_listener_answers_ping_and_status() {
    listener_answers("packet:tk-b");
}

#[test]
fn xdp_listener_answers_ping_and_status() {
    listener_answers("xdp:tk-b@0");
}

/// CLOCK_TAI − CLOCK_REALTIME, whole seconds (the kernel's TAI offset).
fn tai_offset_ns() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    let ns = |c| {
        let t = clock_gettime(c).unwrap();
        t.tv_sec() as i128 * 1_000_000_000 + t.tv_nsec() as i128
    };
    let d = ns(ClockId::CLOCK_TAI) - ns(ClockId::CLOCK_REALTIME);
    ((d + 500_000_000) / 1_000_000_000 * 1_000_000_000) as u64
}

/// Frames from `src` MAC on the capture that are not stream frames, with
/// their capture time on the TAI clock.
fn control_frames(pcap: &Path, src: &[u8; 6]) -> Vec<(u64, Vec<u8>)> {
    let off = tai_offset_ns();
    pcap_records(pcap)
        .into_iter()
        .filter(|(_, f)| f.len() >= 14 && &f[6..12] == src && f[12..14] != [0x81, 0x00])
        .map(|(t, f)| (t + off, f))
        .collect()
}

fn mac_bytes(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

/// This VM stalls even a SCHED_FIFO thread for milliseconds now and then,
/// with or without a control plane (cyclictest sees up to 26 ms;
/// docs/latency.md measures late frames with and without one). A run with
/// late frames is therefore run again, up to 3 runs in all, each failed
/// run's count printed; every other check holds in every run.
fn in_a_run_without_late_frames(what: &str, mut run: impl FnMut() -> u64) {
    let mut late = Vec::new();
    for _ in 0..3 {
        match run() {
            0 => return,
            n => {
                eprintln!("{what}: {n} late frames in this run (a VM stall?); again");
                late.push(n);
            }
        }
    }
    panic!("{what}: late frames in every run: {late:?}");
}

#[test]
fn a_ping_flood_leaves_stream_frames_on_time_and_control_frames_in_best_effort() {
    if !ready("ping flood", &TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    in_a_run_without_late_frames("ping flood", flood_run);
}

/// One talker run with a flood; the late frames it had.
fn flood_run() -> u64 {
    let wire = Wire::new();
    let dir = TempDir::new("ctl");
    // 20 ms cycle, class 7 0..10 ms: a window wider than all but the
    // longest of this VM's stalls; a 30 us guard band.
    let sched = write(
        &dir,
        "s.toml",
        &schedule(
            20_000,
            10_000,
            "\n[control]\naddress = \"10.80.0.11/24\"\nguard_band = \"30us\"\n",
        ),
    );
    let pcap = dir.path().join("wire.pcap");
    let cap = Capture::start(&wire, &pcap);
    let mut args = vec!["--duration", "6s"];
    args.extend_from_slice(&RT);
    let t = talker(&wire, &sched, "packet:tk-a", &args);
    std::thread::sleep(Duration::from_millis(1000));
    let flood = in_b(&wire, "ping", &["-f", "-c", "500", "-W", "1", "-q", TAKT_A]);
    let report = json(&wait_at_most(t, Duration::from_secs(30)), "takt-talker");
    cap.stop();

    let fs = text(&flood.stdout);
    assert!(
        flood.status.success() && fs.contains("500 received"),
        "ping -f: {fs}"
    );
    assert!(u(&report, &["total", "frames_sent"]) > 250, "{report}");
    assert_eq!(u(&report, &["data_path_allocations"]), 0, "{report}");

    // Every control frame on the wire: outside 0..10 ms of its 20 ms cycle.
    let src = mac_bytes(&mac_of(&wire, true, "tk-a"));
    let frames = control_frames(&pcap, &src);
    assert!(
        frames.len() >= 500,
        "echo replies on the capture: {}",
        frames.len()
    );
    let inside: Vec<u64> = frames
        .iter()
        .map(|(t, _)| t % 20_000_000)
        .filter(|&off| off < 10_000_000)
        .collect();
    assert!(
        inside.is_empty(),
        "{} of {} control frames seen inside the class 7 window, at cycle offsets (ns) {:?}",
        inside.len(),
        frames.len(),
        &inside[..inside.len().min(20)]
    );
    u(&report, &["total", "late"])
}

/// The launch times of the stream frames on a capture (tagged frames,
/// stream header at 18, launch_ns at +16).
fn launch_times(pcap: &Path) -> Vec<u64> {
    pcap_records(pcap)
        .into_iter()
        .filter(|(_, f)| f.len() >= 42 && f[12..14] == [0x81, 0x00] && f[16..18] == [0x88, 0xb5])
        .map(|(_, f)| u64::from_be_bytes(f[34..42].try_into().unwrap()))
        .collect()
}

const KEY: &str = "the key of the control_veth tests";

/// A key file private to its owner in `dir`; its path.
fn key_file(dir: &TempDir) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = write(dir, "ctl.key", KEY);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// How long a request that must go unanswered is given to be answered.
const SILENCE: Duration = Duration::from_secs(1);
/// How long a reply that must come may take (a loaded machine).
const PATIENCE: Duration = Duration::from_secs(5);

/// Send each datagram from namespace b to the talker's service, one after
/// the other; the JSON reply to each, `None` when none came within `wait`.
fn ask_b(wire: &Wire, requests: &[Vec<u8>], wait: Duration) -> Vec<Option<Value>> {
    wire.pair
        .ns_b()
        .run(|| {
            let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            sock.set_read_timeout(Some(wait)).unwrap();
            sock.connect((TAKT_A, 9700)).unwrap();
            requests
                .iter()
                .map(|r| {
                    sock.send(r).unwrap();
                    let mut buf = [0u8; 20_000];
                    let n = sock.recv(&mut buf).ok()?;
                    Some(serde_json::from_slice::<Value>(&buf[..n]).expect("JSON reply"))
                })
                .collect()
        })
        .unwrap()
}

fn tai_now_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_TAI).unwrap();
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

#[test]
fn a_schedule_sent_over_udp_takes_over_at_its_base_time_and_a_bad_one_is_refused() {
    if !ready("schedule change", &TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    in_a_run_without_late_frames("schedule change", change_run);
}

/// One talker run with a refused and an accepted change; its late frames
/// (the launch times on the wire are checked in a run without any).
fn change_run() -> u64 {
    let wire = Wire::new();
    let dir = TempDir::new("ctl");
    let key = key_file(&dir);
    let control = format!("\n[control]\naddress = \"10.80.0.11/24\"\nkey_file = \"{key}\"\n");
    // 20 ms cycles with a 12 ms class 7 window, then 10 ms ones with 8 ms:
    // wide enough for all but the longest of this VM's stalls.
    let old = write(&dir, "old.toml", &schedule(20_000, 12_000, &control));
    let pcap = dir.path().join("wire.pcap");
    let cap = Capture::start(&wire, &pcap);
    let l = wire.spawn(
        &wire.b,
        LISTENER,
        &[
            "--schedule",
            &old,
            "--device",
            "packet:tk-b",
            "-q",
            "--report",
            "json",
            "--duration",
            "7500ms",
        ],
    );
    std::thread::sleep(Duration::from_millis(700));
    let mut args = vec!["--duration", "6s"];
    args.extend_from_slice(&RT);
    let t = talker(&wire, &old, "packet:tk-a", &args);
    std::thread::sleep(Duration::from_millis(800));

    // A bad one first: the stream's offset may not change while running.
    // Sent by `takt control` with the key: a refusal with its line proves
    // the signature was taken (an unsigned one gets no reply at all).
    let bad_text =
        schedule(10_000, 8_000, &control).replace("offset = \"10us\"", "offset = \"20us\"");
    let bad_line = bad_text
        .lines()
        .position(|l| l.starts_with("offset"))
        .unwrap()
        + 1;
    let bad = write(&dir, "bad.toml", &bad_text);
    let out = in_b(
        &wire,
        TAKT,
        &["control", "schedule", TAKT_A, &bad, "--key-file", &key],
    );
    assert_eq!(out.status.code(), Some(2), "refused: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("{bad}:{bad_line}:")),
        "the refusal names the file and line {bad_line}: {}",
        text(&out.stderr)
    );

    // Malformed requests: garbage gets no reply, an oversize one its error,
    // a signed broken schedule its line:col; none disturbs the run.
    let k = Key::from_bytes(KEY.as_bytes()).unwrap();
    let signed = |text: &[u8]| {
        auth::signed_request(&k, TAKT_A.parse().unwrap(), 9700, auth::realtime_ns(), text)
    };
    let mut replies = ask_b(&wire, &[b"\xff\xfe\x00 not a request".to_vec()], SILENCE);
    replies.extend(ask_b(
        &wire,
        &[
            vec![b'#'; 9000], // over the 8192 accepted, in 7 IP fragments
            signed(b"schedule\n[schedule\ncycle_time = "),
        ],
        PATIENCE,
    ));
    assert_eq!(replies[0], None, "no reply to garbage");
    let oversize = replies[1].as_ref().expect("the oversize error");
    assert!(
        oversize["error"]
            .as_str()
            .unwrap()
            .contains("larger than the 8192"),
        "{oversize}"
    );
    let broken = replies[2].as_ref().expect("a reply to a signed request");
    assert_eq!(broken["accepted"], false, "{broken}");
    assert!(
        broken["error"].as_str().unwrap().starts_with("request:1:"),
        "{broken}"
    );

    // Then a good one: 10 ms cycles from a whole millisecond 1.5 s ahead,
    // signed; then the very same datagram again, which is refused unanswered.
    let base = (tai_now_ns() + 1_500_000_000) / 1_000_000 * 1_000_000;
    let new_text =
        schedule(10_000, 8_000, &control).replace("base_time = 0", &format!("base_time = {base}"));
    let good = signed(format!("schedule\n{new_text}").as_bytes());
    let mut replies = ask_b(&wire, std::slice::from_ref(&good), PATIENCE);
    replies.extend(ask_b(&wire, &[good], SILENCE));
    let reply = replies[0].as_ref().expect("a reply to the signed change");
    assert_eq!(reply["accepted"], true, "{reply}");
    assert_eq!(
        reply["switch_at_ns"].as_u64(),
        Some(base),
        "switches at the base time asked for"
    );
    assert_eq!(replies[1], None, "the replay gets no reply");

    let t = json(&wait_at_most(t, Duration::from_secs(30)), "takt-talker");
    let l = json(&wait_at_most(l, Duration::from_secs(30)), "takt-listener");
    cap.stop();
    assert_eq!(u(&t, &["control", "schedule_changes"]), 1, "{t}");
    let refused = |why: &str| u(&t, &["control", "refused", why]);
    assert_eq!(
        (
            refused("malformed"),
            refused("oversize"),
            refused("replayed")
        ),
        (1, 1, 1),
        "{t}"
    );
    assert_eq!(
        u(&l, &["total", "frames_received"]),
        u(&t, &["total", "frames_sent"]),
        "{l}"
    );
    assert_eq!(u(&l, &["total", "lost"]), 0, "{l}");
    assert_eq!(u(&t, &["data_path_allocations"]), 0, "{t}");
    let late = u(&t, &["total", "late"]);
    if late > 0 {
        return late; // a frame not sent leaves a gap on the wire
    }

    // On the wire: every 20 ms at +10 us before the base time, every 10 ms
    // at +10 us from it, and none missing around the switch.
    let launches = launch_times(&pcap);
    assert_eq!(launches.len() as u64, u(&t, &["total", "frames_sent"]));
    let (before, after): (Vec<u64>, Vec<u64>) = launches.iter().partition(|&&x| x < base);
    assert!(
        before.len() > 50 && after.len() > 100,
        "{} / {}",
        before.len(),
        after.len()
    );
    for w in before.windows(2) {
        assert_eq!(w[1] - w[0], 20_000_000, "old cycle");
    }
    assert!(before.iter().all(|x| x % 20_000_000 == 10_000));
    assert_eq!(after[0], base + 10_000, "the first frame of the new list");
    assert!(
        base - before.last().unwrap() <= 20_000_000,
        "no gap before the switch"
    );
    for w in after.windows(2) {
        assert_eq!(w[1] - w[0], 10_000_000, "new cycle");
    }
    0
}
