//! `takt control` as users run it: the real binary against a fake server on
//! 127.0.0.1 that answers each request with a fixed reply and records what
//! it got.

mod common;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{assert_no_panic, run, text};
use takt_stack::control::auth::{self, Key};

const TAKT: &str = env!("CARGO_BIN_EXE_takt");

/// A UDP server on 127.0.0.1 that answers request number i (from 0) with
/// `reply(i, request)`, or not at all when that is `None`. It runs until
/// the test process ends.
struct FakeServer {
    addr: String,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl FakeServer {
    fn start<F>(reply: F) -> Self
    where
        F: Fn(usize, &[u8]) -> Option<String> + Send + 'static,
    {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind fake server");
        let addr = sock.local_addr().expect("local addr").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                let request = buf[..n].to_vec();
                let i = {
                    let mut log = log.lock().unwrap();
                    log.push(request.clone());
                    log.len() - 1
                };
                if let Some(answer) = reply(i, &request) {
                    sock.send_to(answer.as_bytes(), from).expect("reply");
                }
            }
        });
        FakeServer { addr, seen }
    }

    fn requests(&self) -> Vec<Vec<u8>> {
        self.seen.lock().unwrap().clone()
    }
}

/// A file in a fresh temp directory.
fn temp_file(tag: &str, contents: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "takt-control-client-{}-{tag}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let path = dir.join(format!("{tag}.toml"));
    std::fs::write(&path, contents).expect("write temp file");
    path
}

const KEY: &str = "a key of more than sixteen bytes";

/// A key file private to its owner (as `takt control` requires).
fn key_file() -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = temp_file("key", KEY);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p.display().to_string()
}

/// The schedule request inside a signed datagram, after checking its
/// signature for `addr`; and its counter.
fn verified(datagram: &[u8], addr: &str) -> (u64, String) {
    let to: std::net::SocketAddrV4 = addr.parse().unwrap();
    let s = auth::parse(datagram).expect("an auth line");
    let key = Key::from_bytes(KEY.as_bytes()).unwrap();
    assert!(
        key.verify(*to.ip(), to.port(), s.counter, s.request, &s.tag),
        "signed with the key for {addr}"
    );
    (s.counter, String::from_utf8(s.request.to_vec()).unwrap())
}

fn takt(args: &[&str]) -> Output {
    let out = run(TAKT, args);
    assert_no_panic(&out);
    out
}

const SCHEDULE: &str = "[schedule]\nbase_time = \"1000s\" # start\ncycle_time = \"1ms\"\n\n[[schedule.entry]]\ngates = [7]\ninterval = \"1ms\"\n";

#[test]
fn status_prints_the_report_pretty_in_its_key_order() {
    let server = FakeServer::start(|_, _| {
        Some(r#"{"report_version":1,"device":"packet:veth0","streams":[{"name":"control","lost":0}],"total":{}}"#.into())
    });
    let out = takt(&["control", "status", &server.addr, "--timeout", "2s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "{\n  \"report_version\": 1,\n  \"device\": \"packet:veth0\",\n  \"streams\": [\n    {\n      \"name\": \"control\",\n      \"lost\": 0\n    }\n  ],\n  \"total\": {}\n}\n"
    );
    // Padded to 1200 bytes: a reply is at most 3 x its request.
    let mut padded = b"status\n".to_vec();
    padded.resize(1200, b' ');
    assert_eq!(server.requests(), vec![padded]);
}

#[test]
fn a_status_too_long_for_the_padding_is_asked_again_padded_as_told() {
    let server = FakeServer::start(|i, _| {
        Some(match i {
            0 => r#"{"error":"the reply is 6000 bytes: pad the request","pad_to":2000}"#.into(),
            _ => r#"{"cycles":9}"#.into(),
        })
    });
    let out = takt(&["control", "status", &server.addr, "--timeout", "2s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "{\n  \"cycles\": 9\n}\n");
    let sizes: Vec<usize> = server.requests().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![1200, 2000]);
    assert!(server.requests()[1].starts_with(b"status\n"));
}

#[test]
fn a_lost_reply_is_asked_for_again() {
    // The first request goes unanswered, as if the reply were lost.
    let server = FakeServer::start(|i, _| (i > 0).then(|| r#"{"cycles":7}"#.into()));
    let out = takt(&[
        "control",
        "status",
        &server.addr,
        "--timeout",
        "300ms",
        "--retries",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "{\n  \"cycles\": 7\n}\n");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn an_error_reply_to_status_exits_1_with_the_error() {
    let server = FakeServer::start(|_, _| Some(r#"{"error":"unknown request"}"#.into()));
    let out = takt(&["control", "status", &server.addr]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("refused the request: unknown request"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn no_reply_exits_1_after_every_try() {
    // Bound but silent: each try waits out its timeout.
    let server = FakeServer::start(|_, _| None);
    let start = Instant::now();
    let out = takt(&[
        "control",
        "status",
        &server.addr,
        "--timeout",
        "200ms",
        "--retries",
        "3",
    ]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "no reply from {} after 3 tries of 200ms: is takt-talker (or takt-listener) running with --ip 127.0.0.1/24",
            server.addr
        )),
        "{err}"
    );
    assert_eq!(server.requests().len(), 3);
    assert!(took >= Duration::from_millis(600), "gave up after {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn nothing_listening_exits_1_within_the_tries() {
    // A port nobody holds: the host answers "port unreachable".
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let start = Instant::now();
    let out = takt(&[
        "control",
        "schedule",
        &addr,
        "/dev/null",
        "--timeout",
        "200ms",
        "--key-file",
        &key_file(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(start.elapsed() < Duration::from_secs(5));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "no reply from {addr} after 3 tries of 200ms: 127.0.0.1 answered \"port unreachable\", so nothing listens on UDP port {port} there"
        )),
        "{err}"
    );
}

#[test]
fn an_accepted_schedule_exits_0() {
    let server = FakeServer::start(|_, _| {
        Some(
            r#"{"accepted":true,"switch_at_ns":1000000250000,"requested_base_ns":1000000000000}"#
                .into(),
        )
    });
    let file = temp_file("accepted", SCHEDULE);
    let key = key_file();
    let out = takt(&[
        "control",
        "schedule",
        &server.addr,
        &file.display().to_string(),
        "--key-file",
        &key,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "accepted: switches at 1000000250000 (TAI ns; requested 1000000000000)\n"
    );
    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        verified(&sent[0], &server.addr).1,
        format!("schedule\n{SCHEDULE}")
    );
}

#[test]
fn each_try_of_a_schedule_is_signed_with_a_new_counter() {
    // The first request goes unanswered: the second must not be a replay.
    let server = FakeServer::start(|i, _| {
        (i > 0).then(|| r#"{"accepted":true,"switch_at_ns":1,"requested_base_ns":1}"#.into())
    });
    let file = temp_file("retry", SCHEDULE);
    let key = key_file();
    let name = file.display().to_string();
    let args = [
        "control",
        "schedule",
        &server.addr,
        &name,
        "--key-file",
        &key,
    ];
    let out = takt(&[&args[..], &["--timeout", "300ms"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    let (a, b) = (
        verified(&sent[0], &server.addr),
        verified(&sent[1], &server.addr),
    );
    assert_eq!(a.1, b.1, "the same request");
    assert!(b.0 > a.0, "counters {} then {}", a.0, b.0);
    let now = auth::realtime_ns();
    assert!(
        now.abs_diff(a.0) < 60_000_000_000,
        "a counter from the clock"
    );
}

#[test]
fn a_schedule_without_a_private_key_is_not_sent() {
    use std::os::unix::fs::PermissionsExt;
    let server = FakeServer::start(|_, _| Some(r#"{"accepted":true}"#.into()));
    let file = temp_file("nokey", SCHEDULE);
    let name = file.display().to_string();
    let out = takt(&["control", "schedule", &server.addr, &name]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--key-file"),
        "{}",
        text(&out.stderr)
    );
    let key = key_file();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = takt(&[
        "control",
        "schedule",
        &server.addr,
        &name,
        "--key-file",
        &key,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&key) && err.contains("chmod 600"), "{err}");
    thread::sleep(Duration::from_millis(100));
    assert!(server.requests().is_empty());
}

#[test]
fn a_refused_schedule_is_reported_against_the_file() {
    let server = FakeServer::start(|_, _| {
        Some(r#"{"accepted":false,"error":"request:3:14: error: cycle_time is zero"}"#.into())
    });
    let file = temp_file("refused", SCHEDULE);
    let name = file.display().to_string();
    let key = key_file();
    let out = takt(&[
        "control",
        "schedule",
        &server.addr,
        &name,
        "--key-file",
        &key,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!("{name}:3:14: error: cycle_time is zero\n")
    );
    assert_eq!(text(&out.stdout), "");

    let out = takt(&[
        "control",
        "schedule",
        &server.addr,
        &name,
        "--json",
        "--key-file",
        &key,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stdout),
        "{\"accepted\":false,\"error\":\"request:3:14: error: cycle_time is zero\"}\n"
    );
}

#[test]
fn base_time_in_sends_now_plus_the_delay_and_nothing_else_changed() {
    let server = FakeServer::start(|_, _| {
        Some(r#"{"accepted":true,"switch_at_ns":1,"requested_base_ns":1}"#.into())
    });
    let file = temp_file("base-time-in", SCHEDULE);
    let out = takt(&[
        "control",
        "schedule",
        &server.addr,
        &file.display().to_string(),
        "--base-time-in",
        "2s",
        "--key-file",
        &key_file(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sent = verified(&server.requests()[0], &server.addr).1;
    let lines: Vec<&str> = sent.lines().collect();
    let whole = format!("schedule\n{SCHEDULE}");
    let expected: Vec<&str> = whole.lines().collect();
    assert_eq!(lines.len(), expected.len());
    for (i, (got, want)) in lines.iter().zip(&expected).enumerate() {
        if i != 2 {
            assert_eq!(got, want);
        }
    }
    let base: u64 = lines[2]
        .strip_prefix("base_time = ")
        .and_then(|rest| rest.strip_suffix(" # start"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("base_time line: {:?}", lines[2]));
    // Not read back against CLOCK_TAI here (std has no TAI clock): TAI is
    // ahead of the Unix time by leap seconds, and well past 1000 s.
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(base > 1_000_000_000_000, "{base}");
    assert!(base.abs_diff(unix) < 3_600_000_000_000, "{base} vs {unix}");
}

#[test]
fn an_oversize_file_is_refused_without_sending() {
    let server = FakeServer::start(|_, _| Some(r#"{"accepted":true}"#.into()));
    let big = format!("{SCHEDULE}{}", "# padding\n".repeat(900));
    let file = temp_file("oversize", &big);
    let name = file.display().to_string();
    let key = key_file();
    let out = takt(&[
        "control",
        "schedule",
        &server.addr,
        &name,
        "--key-file",
        &key,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("{name} is {} bytes", big.len())) && err.contains("at most 8092"),
        "{err}"
    );
    thread::sleep(Duration::from_millis(100));
    assert!(server.requests().is_empty());
}

#[test]
fn an_unreadable_file_exits_2() {
    let server = FakeServer::start(|_, _| Some(r#"{"accepted":true}"#.into()));
    let out = takt(&["control", "schedule", &server.addr, "/nonexistent/new.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read /nonexistent/new.toml"),
        "{}",
        text(&out.stderr)
    );
    assert!(server.requests().is_empty());
}

#[test]
fn bad_addresses_and_flags_exit_2_saying_what_to_write() {
    for addr in ["talker.local", "10.77.0.1:99999", "10.77.0"] {
        let out = takt(&["control", "status", addr]);
        assert_eq!(out.status.code(), Some(2), "{addr}");
        let err = text(&out.stderr);
        assert!(
            err.contains("write A.B.C.D or A.B.C.D:PORT"),
            "{addr}: {err}"
        );
    }
    let out = takt(&["control", "status", "127.0.0.1", "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("must be more than 0"));
    let out = takt(&["control", "status", "127.0.0.1", "--retries", "0"]);
    assert_eq!(out.status.code(), Some(2));
}
