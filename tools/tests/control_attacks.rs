//! The attacks on the control plane from issue 13, run against the real
//! binaries across a veth pair between two namespaces, the way someone on
//! the same segment would: an unsigned and a broadcast schedule change, a
//! status request forged from an on-link address that does not answer ARP,
//! a stray IP fragment before a (fragmented) change, an oversize request,
//! two services made to bounce datagrams at each other, and a short
//! request that asks for a large reply (reflection). Each run must leave
//! the stream intact and show the refusal, by reason, in the report.
//!
//! Forged frames are written whole (Ethernet, IPv4, UDP) into an AF_PACKET
//! socket in a namespace. Needs root, ip and ping; skips without them, except
//! under CI=true, where it fails.

mod common;

use common::veth::{json, one_at_a_time, ready, u, wide_schedule as schedule, Wire};
use common::{text, wait_at_most, TempDir};
use serde_json::Value;
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Child, Output};
use std::time::Duration;
use takt_drivers::{link, DeviceSpec, TxBatch, TxFrame};
use takt_stack::control::auth::{self, Key};

const TALKER: &str = env!("CARGO_BIN_EXE_takt-talker");
const LISTENER: &str = env!("CARGO_BIN_EXE_takt-listener");
const TAKT: &str = env!("CARGO_BIN_EXE_takt");

/// takt's addresses next to the kernel's 10.80.0.1 (a) and 10.80.0.2 (b).
const TAKT_A: &str = "10.80.0.11";
const TAKT_B: &str = "10.80.0.12";
const PORT: u16 = 9700;
const TOOLS: [&str; 2] = ["ip", "ping"];
const KEY: &str = "the key of the control_attacks tests";

fn write(dir: &TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A key file private to its owner in `dir`; its path.
fn key_file(dir: &TempDir) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = write(dir, "ctl.key", KEY);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn the_key() -> Key {
    Key::from_bytes(KEY.as_bytes()).unwrap()
}

/// takt-talker in namespace a on `packet:tk-a` with a control plane.
fn talker(wire: &Wire, sched: &str, ip: &str, extra: &[&str]) -> Child {
    let ip = format!("{ip}/24");
    let mut args = vec![
        "--schedule",
        sched,
        "--device",
        "packet:tk-a",
        "-q",
        "--report",
        "json",
        "--ip",
        &ip,
    ];
    args.extend_from_slice(extra);
    wire.spawn(&wire.a, TALKER, &args)
}

/// takt-listener in namespace b on `packet:tk-b`.
fn listener(wire: &Wire, sched: &str, extra: &[&str]) -> Child {
    let mut args = vec![
        "--schedule",
        sched,
        "--device",
        "packet:tk-b",
        "-q",
        "--report",
        "json",
    ];
    args.extend_from_slice(extra);
    wire.spawn(&wire.b, LISTENER, &args)
}

fn mac(wire: &Wire, in_a: bool, ifname: &str) -> [u8; 6] {
    let ns = if in_a {
        wire.pair.ns_a()
    } else {
        wire.pair.ns_b()
    };
    ns.run(|| link::mac(ifname)).unwrap().unwrap()
}

/// How long a request that must go unanswered is given to be answered.
const SILENCE: Duration = Duration::from_secs(1);
/// How long a reply that must come may take (a loaded machine).
const PATIENCE: Duration = Duration::from_secs(5);

/// Wait until the control plane at `addr` answers ping from namespace a
/// or b: it is up and polling (ping is not a service request, so the
/// counts in its report stay the attack's).
fn wait_for_service(wire: &Wire, from_a: bool, addr: &str) {
    let ns = if from_a { &wire.a } else { &wire.b };
    for _ in 0..60 {
        let out = wait_at_most(
            wire.spawn(ns, "ping", &["-c", "1", "-W", "1", "-q", addr]),
            Duration::from_secs(30),
        );
        if out.status.success() {
            return;
        }
    }
    panic!("{addr} never answered ping");
}

/// Datagrams from a kernel socket in namespace b to `to`, one after the
/// other: the raw reply to each, `None` when none came within [`SILENCE`].
fn ask_b(
    wire: &Wire,
    to: (&str, u16),
    requests: &[Vec<u8>],
    broadcast: bool,
) -> Vec<Option<Vec<u8>>> {
    ask_b_waiting(wire, to, requests, broadcast, SILENCE)
}

/// As [`ask_b`], waiting `wait` for each reply.
fn ask_b_waiting(
    wire: &Wire,
    to: (&str, u16),
    requests: &[Vec<u8>],
    broadcast: bool,
    wait: Duration,
) -> Vec<Option<Vec<u8>>> {
    let to = (to.0.to_string(), to.1);
    wire.pair
        .ns_b()
        .run(|| {
            let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
            sock.set_broadcast(broadcast).unwrap();
            sock.set_read_timeout(Some(wait)).unwrap();
            requests
                .iter()
                .map(|r| {
                    sock.send_to(r, (to.0.as_str(), to.1)).unwrap();
                    let mut buf = vec![0u8; 65536];
                    let (n, _) = sock.recv_from(&mut buf).ok()?;
                    buf.truncate(n);
                    Some(buf)
                })
                .collect()
        })
        .unwrap()
}

fn parsed(reply: &Option<Vec<u8>>) -> Value {
    let r = reply.as_ref().expect("a reply");
    serde_json::from_slice(r).unwrap_or_else(|e| panic!("{e}: {}", text(r)))
}

/// An IPv4 packet in an Ethernet frame: `flags_offset` is the IP header's
/// flags + fragment offset word, `payload` the IP payload.
fn ipv4_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    flags_offset: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(34 + payload.len());
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = u16::try_from(20 + payload.len()).unwrap();
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&id.to_be_bytes());
    ip[6..8].copy_from_slice(&flags_offset.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17; // UDP
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let sum = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(payload);
    f
}

/// A UDP header (checksum 0: none) claiming `udp_len` bytes, then `data`.
fn udp(sport: u16, dport: u16, udp_len: usize, data: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + data.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&u16::try_from(udp_len).unwrap().to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    u
}

/// Write `frames` to `ifname` in namespace a or b through an AF_PACKET
/// socket (the kernel's own addresses play no part: any source goes).
fn inject(wire: &Wire, in_a: bool, ifname: &str, frames: &[Vec<u8>]) {
    let ns = if in_a {
        wire.pair.ns_a()
    } else {
        wire.pair.ns_b()
    };
    let spec: DeviceSpec = format!("packet:{ifname}").parse().unwrap();
    ns.run(|| {
        let mut dev = takt_drivers::open(&spec).expect("AF_PACKET socket");
        for f in frames {
            let buf = dev.alloc().expect("a buffer");
            dev.buf_mut(&buf)[..f.len()].copy_from_slice(f);
            let mut batch = TxBatch::new();
            let _ = batch.push_back(TxFrame {
                buf,
                len: f.len(),
                launch_time_ns: None,
                stamp_tag: None,
            });
            assert_eq!(dev.tx_burst(&mut batch), 1, "frame sent");
        }
        // Let the ring drain before the socket closes.
        std::thread::sleep(Duration::from_millis(100));
    })
    .unwrap();
}

fn report(out: Output, who: &str) -> Value {
    json(&out, who)
}

fn refused(r: &Value, why: &str) -> u64 {
    u(r, &["control", "refused", why])
}

/// Start a listener (b) and give it time to open its ring.
fn with_listener(wire: &Wire, sched: &str, duration: &str) -> Child {
    let l = listener(wire, sched, &["--duration", duration]);
    std::thread::sleep(Duration::from_millis(700));
    l
}

#[test]
fn unsigned_and_broadcast_changes_get_no_reply_and_the_stream_runs_on() {
    if !ready("unsigned change", &TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let wire = Wire::new();
    let dir = TempDir::new("atk");
    let sched = write(&dir, "s.toml", &schedule(2000, 1000, ""));
    let key = key_file(&dir);
    let l = with_listener(&wire, &sched, "6500ms");
    let t = talker(
        &wire,
        &sched,
        TAKT_A,
        &["--duration", "5s", "--key-file", &key],
    );
    wait_for_service(&wire, false, TAKT_A);

    // A cycle of 1000 s: accepted, it would stop the stream at once.
    let stop = format!("schedule\n{}", schedule(1_000_000_000, 1000, ""));
    let unsigned = ask_b(&wire, (TAKT_A, PORT), &[stop.clone().into_bytes()], false);
    // To the broadcast address, even signed for it, as a careless client
    // might: a request for one service is sent to that service only.
    let for_bcast = auth::signed_request(
        &the_key(),
        Ipv4Addr::new(10, 80, 0, 255),
        PORT,
        auth::realtime_ns(),
        stop.as_bytes(),
    );
    let bcast = ask_b(
        &wire,
        ("10.80.0.255", PORT),
        &[stop.into_bytes(), for_bcast],
        true,
    );
    assert_eq!(unsigned, vec![None], "no reply to an unsigned change");
    assert_eq!(bcast, vec![None, None], "no reply to a broadcast one");

    let t = report(wait_at_most(t, Duration::from_secs(30)), "takt-talker");
    let l = report(wait_at_most(l, Duration::from_secs(30)), "takt-listener");
    assert_eq!(u(&t, &["control", "schedule_changes"]), 0, "{t}");
    // 5 s of 2 ms cycles: the stream ran to the end (frames sent or, on
    // a loaded machine, counted late; never cut off by a 1000 s cycle).
    let sent = u(&t, &["total", "frames_sent"]);
    assert!(u(&t, &["cycles"]) >= 2450, "{t}");
    assert!(sent + u(&t, &["total", "late"]) >= 2450, "{t}");
    assert_eq!(u(&l, &["total", "frames_received"]), sent, "{l}");
    assert_eq!(u(&t, &["data_path_allocations"]), 0, "{t}");
    assert_eq!(
        (refused(&t, "unsigned"), refused(&t, "not_unicast")),
        (1, 2),
        "{t}"
    );
}

#[test]
fn a_status_forged_from_an_unresolved_address_leaves_later_replies_flowing() {
    if !ready("spoofed status", &TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let wire = Wire::new();
    let dir = TempDir::new("atk");
    let sched = write(&dir, "s.toml", &schedule(2000, 1000, ""));
    let t = talker(&wire, &sched, TAKT_A, &["--duration", "8s"]);
    wait_for_service(&wire, false, TAKT_A);

    // From 10.80.0.99, on the talker's subnet, which nobody holds: its
    // reply waits for an ARP answer that never comes.
    let mut status = b"status\n".to_vec();
    status.resize(1200, b' ');
    let forged = ipv4_frame(
        mac(&wire, true, "tk-a"),
        mac(&wire, false, "tk-b"),
        Ipv4Addr::new(10, 80, 0, 99),
        TAKT_A.parse().unwrap(),
        0x1234,
        0,
        &udp(5555, PORT, 8 + status.len(), &status),
    );
    inject(&wire, false, "tk-b", &[forged]);
    std::thread::sleep(Duration::from_millis(100));
    for i in 0..5 {
        let out = wait_at_most(
            wire.spawn(&wire.b, TAKT, &["control", "status", TAKT_A]),
            Duration::from_secs(30),
        );
        assert!(
            out.status.success(),
            "status request {i} after the forged one: {}",
            text(&out.stderr)
        );
    }
    let t = report(wait_at_most(t, Duration::from_secs(30)), "takt-talker");
    assert!(u(&t, &["control", "requests"]) >= 6, "{t}");
    assert!(
        u(&t, &["control", "replies_expired"]) >= 1,
        "the forged one's reply\n{t}"
    );
}

#[test]
fn a_stray_fragment_blocks_no_change_and_an_oversize_request_is_refused_at_once() {
    if !ready("fragments", &TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let wire = Wire::new();
    let dir = TempDir::new("atk");
    let key = key_file(&dir);
    let control = format!("\n[control]\naddress = \"{TAKT_A}/24\"\nkey_file = \"{key}\"\n");
    let sched = write(&dir, "s.toml", &schedule(2000, 1000, &control));
    let t = talker(&wire, &sched, TAKT_A, &["--duration", "8s"]);
    wait_for_service(&wire, false, TAKT_A);

    // The first fragment of a 3000-byte datagram whose rest never comes.
    let first = ipv4_frame(
        mac(&wire, true, "tk-a"),
        mac(&wire, false, "tk-b"),
        Ipv4Addr::new(10, 80, 0, 2),
        TAKT_A.parse().unwrap(),
        0x4242,
        0x2000, // more fragments, offset 0
        &udp(5555, PORT, 3000, &[b'#'; 1000]),
    );
    inject(&wire, false, "tk-b", &[first]);

    // A change long enough to travel in three fragments.
    let padding = "# a comment to make the request span several fragments\n".repeat(55);
    let change = write(
        &dir,
        "change.toml",
        &format!("{padding}{}", schedule(4000, 1000, &control)),
    );
    let out = wait_at_most(
        wire.spawn(
            &wire.b,
            TAKT,
            &[
                "control",
                "schedule",
                TAKT_A,
                &change,
                "--key-file",
                &key,
                "--base-time-in",
                "1s",
            ],
        ),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "the change after a stray fragment: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // 20 KB: more than the 8192 accepted and than any reassembly buffer;
    // the error comes back when its first fragment arrives.
    let big = ask_b_waiting(
        &wire,
        (TAKT_A, PORT),
        &[vec![b'#'; 20_000]],
        false,
        PATIENCE,
    );
    let e = parsed(&big[0]);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("request of 20000 bytes is larger than the 8192"),
        "{e}"
    );

    let t = report(wait_at_most(t, Duration::from_secs(30)), "takt-talker");
    assert_eq!(u(&t, &["control", "schedule_changes"]), 1, "{t}");
    assert_eq!(refused(&t, "oversize"), 1, "{t}");
    assert!(u(&t, &["total", "frames_sent"]) > 1000, "{t}");
}

#[test]
fn two_services_cannot_be_made_to_bounce_datagrams() {
    if !ready("bounce loop", &TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let wire = Wire::new();
    let dir = TempDir::new("atk");
    let sched = write(&dir, "s.toml", &schedule(2000, 1000, ""));
    let ip_b = format!("{TAKT_B}/24");
    let l = listener(&wire, &sched, &["--duration", "8s", "--ip", &ip_b]);
    wait_for_service(&wire, true, TAKT_B);
    let t = talker(&wire, &sched, TAKT_A, &["--duration", "5s"]);
    wait_for_service(&wire, false, TAKT_A);

    // An error reply "from" the talker's service to the listener's: if the
    // listener answered it, the talker would answer that, and so on.
    let error = br#"{"error":"unknown request \"hello\": send \"status\""}"#;
    let forged = ipv4_frame(
        mac(&wire, false, "tk-b"),
        mac(&wire, true, "tk-a"),
        TAKT_A.parse().unwrap(),
        TAKT_B.parse().unwrap(),
        0x5151,
        0,
        &udp(PORT, PORT, 8 + error.len(), error),
    );
    inject(&wire, true, "tk-a", &[forged]);

    let t = report(wait_at_most(t, Duration::from_secs(30)), "takt-talker");
    let l = report(wait_at_most(l, Duration::from_secs(30)), "takt-listener");
    assert_eq!(
        u(&t, &["control", "requests"]),
        0,
        "nothing bounced back\n{t}"
    );
    assert_eq!(
        (u(&l, &["control", "requests"]), refused(&l, "malformed")),
        (1, 1),
        "the listener took the one datagram and refused it\n{l}"
    );
}

/// The change of finding 2, signed with the key (so from someone who may
/// change the schedule, by mistake): a cycle of u64::MAX ns overflowed the
/// end of the first admin cycle and ended an endless run. It is refused
/// with its position, the run goes on to its end, and the report counts it.
#[test]
fn a_signed_change_with_a_cycle_of_u64_max_is_refused_and_the_run_goes_on() {
    if !ready("u64::MAX cycle change", &TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let wire = Wire::new();
    let dir = TempDir::new("atk-max");
    let sched = write(&dir, "s.toml", &schedule(2000, 1000, ""));
    let key = key_file(&dir);
    let l = with_listener(&wire, &sched, "6500ms");
    let t = talker(
        &wire,
        &sched,
        TAKT_A,
        &["--duration", "5s", "--key-file", &key],
    );
    wait_for_service(&wire, false, TAKT_A);

    let change = schedule(2000, 1000, "").replace(
        "cycle_time = \"2000us\"",
        "cycle_time = 18446744073709551615",
    );
    assert!(change.contains("18446744073709551615"), "{change}");
    let signed = auth::signed_request(
        &the_key(),
        TAKT_A.parse().unwrap(),
        PORT,
        auth::realtime_ns(),
        format!("schedule\n{change}").as_bytes(),
    );
    let reply = ask_b_waiting(&wire, (TAKT_A, PORT), &[signed], false, PATIENCE);
    let reply = parsed(&reply[0]);
    assert_eq!(reply["accepted"], false, "{reply}");
    let err = reply["error"].as_str().unwrap_or_default();
    assert!(
        err.starts_with("request:4:"),
        "the cycle_time key's line: {err}"
    );

    let t = report(wait_at_most(t, Duration::from_secs(30)), "takt-talker");
    let l = report(wait_at_most(l, Duration::from_secs(30)), "takt-listener");
    assert!(t.get("total").is_some(), "{t}");
    // 5 s of 2 ms cycles: the run went to its end on the old schedule.
    let sent = u(&t, &["total", "frames_sent"]);
    assert!(u(&t, &["cycles"]) >= 2450, "{t}");
    assert!(sent + u(&t, &["total", "late"]) >= 2450, "{t}");
    assert_eq!(u(&l, &["total", "frames_received"]), sent, "{l}");
    assert_eq!(u(&t, &["control", "schedule_changes"]), 0, "{t}");
    assert_eq!(refused(&t, "invalid"), 1, "{t}");
}

#[test]
fn a_short_request_gets_a_short_reply_and_strangers_none() {
    if !ready("reflection", &TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let wire = Wire::new();
    let dir = TempDir::new("atk");
    let sched = write(&dir, "s.toml", &schedule(2000, 1000, ""));
    // No key: read-only.
    let t = talker(&wire, &sched, TAKT_A, &["--duration", "8s"]);
    wait_for_service(&wire, false, TAKT_A);

    let signed = auth::signed_request(
        &the_key(),
        TAKT_A.parse().unwrap(),
        PORT,
        auth::realtime_ns(),
        format!("schedule\n{}", schedule(4000, 1000, "")).as_bytes(),
    );
    let mut replies = ask_b_waiting(
        &wire,
        (TAKT_A, PORT),
        &[b"status".to_vec()],
        false,
        PATIENCE,
    );
    replies.extend(ask_b(&wire, (TAKT_A, PORT), &[signed], false));
    let short = replies[0]
        .as_ref()
        .expect("a short reply to a short status");
    assert!(
        short.len() <= 256,
        "{} bytes for 6: {}",
        short.len(),
        text(short)
    );
    let pad_to = parsed(&replies[0])["pad_to"].as_u64().expect("pad_to") as usize;
    assert_eq!(replies[1], None, "a read-only service takes no change");
    let mut padded = b"status\n".to_vec();
    padded.resize(pad_to, b' ');
    let full = ask_b_waiting(&wire, (TAKT_A, PORT), &[padded], false, PATIENCE);
    let report_len = full[0].as_ref().expect("the report").len();
    assert!(report_len <= 3 * pad_to, "{report_len} bytes for {pad_to}");
    assert!(parsed(&full[0])["streams"].is_array(), "the report");
    eprintln!(
        "reflection: 6-byte status -> {} bytes; {pad_to}-byte status -> {report_len} bytes",
        short.len()
    );

    // A status "from" 192.0.2.7, outside the talker's subnet.
    let mut status = b"status\n".to_vec();
    status.resize(1200, b' ');
    let forged = ipv4_frame(
        mac(&wire, true, "tk-a"),
        mac(&wire, false, "tk-b"),
        Ipv4Addr::new(192, 0, 2, 7),
        TAKT_A.parse().unwrap(),
        0x7777,
        0,
        &udp(5555, PORT, 8 + status.len(), &status),
    );
    inject(&wire, false, "tk-b", &[forged]);

    let t = report(wait_at_most(t, Duration::from_secs(30)), "takt-talker");
    assert_eq!(refused(&t, "pad_request"), 1, "{t}");
    assert_eq!(refused(&t, "read_only"), 1, "{t}");
    assert_eq!(refused(&t, "not_allowed"), 1, "{t}");
}

#[test]
fn a_key_file_others_can_read_stops_the_start_naming_it() {
    if !ready("key file permissions", &TOOLS) {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("atk");
    let key = key_file(&dir);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    // Relative to the schedule file, as [control] key_file is read.
    let sched = write(
        &dir,
        "s.toml",
        &schedule(
            2000,
            1000,
            "\n[control]\naddress = \"10.99.0.1/24\"\nkey_file = \"ctl.key\"\n",
        ),
    );
    for bin in [TALKER, LISTENER] {
        let base = [
            "--schedule",
            sched.as_str(),
            "--device",
            "packet:lo",
            "--cycles",
            "5",
            "-q",
        ];
        for extra in [&[][..], &["--key-file", key.as_str()][..]] {
            let out = common::run(bin, &[&base[..], extra].concat());
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{bin} {extra:?}: {err}");
            assert!(err.contains(&key) && err.contains("chmod 600"), "{err}");
        }
    }
}
