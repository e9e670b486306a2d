//! 802.1CB FRER with the real binaries over two paths (docs/redundancy.md):
//! a talker namespace and a listener namespace joined by path A and path B,
//! each two veth pairs with an impairment relay in the root namespace
//! between them (`common/impair.rs`):
//!
//! ```text
//! talker ns [frA0] -- veth -- [root] relay A [root] -- veth -- [frA3] listener ns
//! talker ns [frB0] -- veth -- [root] relay B [root] -- veth -- [frB3] listener ns
//! ```
//!
//! The relays stand in for netem, which this host's kernel does not have
//! (CONFIG_NET_SCH_NETEM is not set): they hold each frame for a delay plus
//! uniform jitter (never reordering within a path) and drop frames with a
//! seeded probability. With netem one would instead join the namespaces
//! directly (frA0 -- frA3) and run in the talker's namespace e.g.
//! `tc qdisc add dev frA0 root netem delay 150us 150us` and
//! `tc qdisc add dev frB0 root netem delay 600us 300us` (reordering), or
//! `tc qdisc add dev frA0 root netem loss 5%` on each path (loss).
//!
//! What a user would notice: over two paths whose copies arrive in either
//! order the application sees every frame once and in order; a path pulled
//! down for 2 s (one, later the other) loses nothing, and the outage shows
//! in that member's counters and the talker's port counters; with 5 % loss
//! on each path the frames lost are exactly those missing from both paths'
//! captures, about 0.25 %; tshark dissects the R-TAG with the same number
//! on both paths.
//!
//! Needs root, ip, tshark (test.sh installs them); under CI=true a missing
//! one fails the test. Namespaces go when each test ends, also on failure.

mod common;

use common::impair::{Impair, Relay, RelayReport};
use common::veth::{json, one_at_a_time, ready, u, wide_schedule, Running, TwoPaths, PATH_IFS};
use common::{text, TempDir};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TALKER: &str = env!("CARGO_BIN_EXE_takt-talker");
const LISTENER: &str = env!("CARGO_BIN_EXE_takt-listener");

/// One stream replicated on ports 0 and 1, `per_ms` frames per 1 ms cycle
/// in a 950 us window: wide, so a noisy VM's wake-ups make few frames late
/// (a late frame is not sent and not counted sent; what is checked is what
/// happens to the frames sent).
fn frer_schedule(per_ms: u32) -> String {
    let keys = if per_ms > 1 {
        format!(
            "frames_per_cycle = {per_ms}\nspacing = \"{}us\"\n",
            400 / per_ms
        )
    } else {
        String::new()
    };
    wide_schedule(
        1000,
        950,
        &format!(
            "{keys}ports = [0, 1]\nredundancy = \"frer\"\n\n[frer]\nhistory_length = {HISTORY}\n"
        ),
    )
}

/// The recovery's history, in frames. The default 32 is too short for a
/// listener that stalls: it takes up to 64 frames from one port before it
/// looks at the other, and a stall of a few tens of milliseconds (this
/// machine has them under load) puts the other port's copies more than 32
/// numbers behind, where they are rogue, not duplicates.
const HISTORY: u64 = 32;

/// tshark on one of the listener's interfaces, writing pcap.
struct Tshark(Running);

impl Tshark {
    fn start(ns: &str, ifname: &str, file: &Path) -> Tshark {
        let f = file.display().to_string();
        let mut r = Running::start_in(
            ns,
            &format!("tshark -i {ifname}"),
            "tshark",
            &["-i", ifname, "-B", "64", "-F", "pcap", "-w", &f],
        );
        r.wait_for_line("Capturing on", Duration::from_secs(30));
        Tshark(r)
    }
    /// SIGINT: tshark writes out what it has and ends.
    fn stop(self) {
        let out = self.0.interrupt(Duration::from_secs(20));
        assert!(out.status.success(), "tshark:\n{}", text(&out.stderr));
    }
}

/// What one run gives back.
struct Run {
    talker: Value,
    listener: Value,
    relays: [RelayReport; 2],
}

/// Relays up, listener (both ports) up, then the talker for `talk_s`
/// seconds with the README's real-time flags; `during` runs while the
/// talker does.
fn run_frer(
    paths: &TwoPaths,
    backend: &str,
    schedule: &str,
    imp: [Impair; 2],
    talk_s: u64,
    during: impl FnOnce(),
) -> Run {
    let relays = [0, 1].map(|i| Relay::start(&paths.root[i].0, &paths.root[i].1, imp[i]));
    let dev = |ifn: &str| match backend {
        "xdp" => format!("xdp:{ifn}@0"),
        _ => format!("packet:{ifn}"),
    };
    let (la, lb) = (dev(PATH_IFS[0][1]), dev(PATH_IFS[1][1]));
    let (ta, tb) = (dev(PATH_IFS[0][0]), dev(PATH_IFS[1][0]));
    let listen = format!("{}ms", talk_s * 1000 + 1500);
    let talk = format!("{talk_s}s");
    let listener = Running::start_in(
        &paths.listener,
        "takt-listener",
        LISTENER,
        &[
            "--schedule",
            schedule,
            "--device",
            &la,
            "--device",
            &lb,
            "--duration",
            &listen,
            "-q",
            "--report",
            "json",
        ],
    );
    // The listener opens its devices and starts polling well within this.
    std::thread::sleep(Duration::from_millis(700));
    let talker = Running::start_in(
        &paths.talker,
        "takt-talker",
        TALKER,
        &[
            "--cpu",
            "0",
            "--priority",
            "80",
            "--wake",
            "hybrid",
            "--schedule",
            schedule,
            "--device",
            &ta,
            "--device",
            &tb,
            "--duration",
            &talk,
            "-q",
            "--report",
            "json",
        ],
    );
    during();
    let cap = Duration::from_secs(talk_s + 40);
    let t = talker.finish(cap);
    let l = listener.finish(cap);
    let [a, b] = relays;
    Run {
        talker: json(&t, "takt-talker"),
        listener: json(&l, "takt-listener"),
        relays: [a.stop(), b.stop()],
    }
}

/// The report's one replicated stream.
fn frer_stream(r: &Value) -> &Value {
    let s = &r["frer"]["streams"][0];
    assert!(s.is_object(), "no frer.streams[0] in\n{r}");
    s
}

fn member(r: &Value, port: usize) -> &Value {
    let m = &frer_stream(r)["members"][port];
    assert!(m.is_object(), "no member {port} in\n{r}");
    m
}

fn port_counter(r: &Value, port: usize, name: &str) -> u64 {
    let p = &r["ports"][port];
    let c = if p["counters"].is_object() {
        &p["counters"]
    } else {
        &p["device_counters"]
    };
    u(c, &[name])
}

fn sent(t: &Value) -> u64 {
    u(&t["streams"][0], &["frames_sent"])
}

fn check_clean(t: &Value, l: &Value) {
    for (r, who) in [(t, "talker"), (l, "listener")] {
        assert_eq!(
            u(r, &["data_path_allocations"]),
            0,
            "{who}: heap operations on the data path\n{r}"
        );
    }
    let late = u(&t["streams"][0], &["late"]);
    assert!(
        late * 10 <= sent(t),
        "{late} late frames: the machine is too busy\n{t}"
    );
}

/// The relays themselves, on a stream that is not replicated (one path):
/// every frame the talker sent is forwarded and arrives, so what the FRER
/// tests see is the paths, not the stand-in for netem.
#[test]
fn the_relay_forwards_every_frame_of_a_plain_stream() {
    if !ready("relay", &["ip"]) {
        return;
    }
    let _serial = one_at_a_time();
    let paths = TwoPaths::new();
    let dir = TempDir::new("frer-relay");
    let schedule = dir.write("plain.toml", &wide_schedule(1000, 500, ""));
    let relay = Relay::start(&paths.root[0].0, &paths.root[0].1, Impair::delay(100, 100));
    let l = Running::start_in(
        &paths.listener,
        "takt-listener",
        LISTENER,
        &[
            "--schedule",
            &schedule,
            "--device",
            "packet:frA3",
            "--duration",
            "3s",
            "-q",
            "--report",
            "json",
        ],
    );
    std::thread::sleep(Duration::from_millis(700));
    let t = Running::start_in(
        &paths.talker,
        "takt-talker",
        TALKER,
        &[
            "--cpu",
            "0",
            "--priority",
            "80",
            "--wake",
            "hybrid",
            "--schedule",
            &schedule,
            "--device",
            "packet:frA0",
            "--duration",
            "1500ms",
            "-q",
            "--report",
            "json",
        ],
    );
    let t = json(&t.finish(Duration::from_secs(30)), "takt-talker");
    let l = json(&l.finish(Duration::from_secs(30)), "takt-listener");
    let r = relay.stop();
    let sent = sent(&t);
    assert!(sent > 1000, "{t}");
    assert_eq!(r.forwarded, sent, "relay: {r:?}");
    assert_eq!((r.dropped, r.tx_failed), (0, 0), "relay: {r:?}");
    assert_eq!(u(&l["streams"][0], &["frames_received"]), sent, "{l}");
    assert_eq!(u(&l["streams"][0], &["lost"]), 0, "{l}");
}

/// Path A 150 us + 0..300 us, path B 300 us + 0..600 us: copies arrive in
/// both orders. Every frame once, in order; every second copy discarded.
fn reorder(backend: &str) {
    if !ready(&format!("frer reorder {backend}"), &["ip", "tshark"]) {
        return;
    }
    let _serial = one_at_a_time();
    let paths = TwoPaths::new();
    let dir = TempDir::new("frer-reorder");
    let schedule = dir.write("frer.toml", &frer_schedule(1));
    let run = run_frer(
        &paths,
        backend,
        &schedule,
        [Impair::delay(150, 300), Impair::delay(300, 600)],
        8,
        || {},
    );
    let (t, l) = (&run.talker, &run.listener);
    check_clean(t, l);
    let sent = sent(t);
    assert!(sent >= 7000, "{t}");
    let s = &l["streams"][0];
    assert_eq!(u(s, &["frames_received"]), sent, "{l}");
    for c in ["lost", "duplicates", "reordered"] {
        assert_eq!(u(s, &[c]), 0, "{c}\n{l}");
    }
    let rec = &frer_stream(l)["recovery"];
    assert_eq!(u(rec, &["passed"]), sent, "{l}");
    assert_eq!(u(rec, &["discarded"]), sent, "both copies arrived\n{l}");
    for c in ["rogue", "lost", "latent_errors", "resets"] {
        assert_eq!(u(rec, &[c]), 0, "{c}\n{l}");
    }
    // The talker numbered each frame once and handed a copy to each port.
    let tf = frer_stream(t);
    assert_eq!(u(tf, &["generated"]), sent, "{t}");
    for port in [0, 1] {
        assert_eq!(u(member(t, port), &["sent"]), sent, "{t}");
        assert_eq!(u(member(t, port), &["dropped"]), 0, "{t}");
    }
    let (fa, fb) = (&run.relays[0], &run.relays[1]);
    assert_eq!((fa.forwarded, fb.forwarded), (sent, sent), "{fa:?} {fb:?}");
    let p50 = |port: usize| u(&member(l, port)["latency"], &["p50"]);
    let p99 = |port: usize| u(&member(l, port)["latency"], &["p99"]);
    eprintln!(
        "frer reorder {backend}: sent {sent}, received {}, discarded {}; path A latency p50 {} us p99 {} us, path B p50 {} us p99 {} us",
        u(s, &["frames_received"]),
        u(rec, &["discarded"]),
        p50(0) / 1000,
        p99(0) / 1000,
        p50(1) / 1000,
        p99(1) / 1000
    );
    // Path B is held 150 us + 150 us longer on average: the skew shows.
    assert!(p50(1) > p50(0) + 100_000, "per-member latency\n{l}");
}

#[test]
fn packet_two_paths_that_reorder_every_frame_once_in_order() {
    reorder("packet");
}

#[test]
fn xdp_two_paths_that_reorder_every_frame_once_in_order() {
    reorder("xdp");
}

/// Path A down for 2 s, later path B for 2 s: nothing lost; each outage in
/// its member's counters and its talker port's device counters.
fn outages(backend: &str) {
    if !ready(&format!("frer outages {backend}"), &["ip"]) {
        return;
    }
    let _serial = one_at_a_time();
    let paths = TwoPaths::new();
    let dir = TempDir::new("frer-outage");
    let schedule = dir.write("frer.toml", &frer_schedule(1));
    let run = run_frer(
        &paths,
        backend,
        &schedule,
        [Impair::delay(0, 0), Impair::delay(0, 0)],
        10,
        || {
            for path in [0, 1] {
                std::thread::sleep(Duration::from_millis(2500));
                paths.set_talker_link(path, false);
                std::thread::sleep(Duration::from_secs(2));
                paths.set_talker_link(path, true);
            }
        },
    );
    let (t, l) = (&run.talker, &run.listener);
    check_clean(t, l);
    let sent = sent(t);
    let s = &l["streams"][0];
    assert_eq!(u(s, &["frames_received"]), sent, "{l}");
    assert_eq!(u(s, &["lost"]), 0, "{l}");
    assert_eq!(u(s, &["duplicates"]), 0, "{l}");
    for port in [0, 1] {
        let m = &member(l, port)["recovery"];
        // Every copy that came this way, whatever the member's verdict.
        let came = u(m, &["passed"]) + u(m, &["discarded"]) + u(m, &["rogue"]);
        let missing = sent - came;
        eprintln!(
            "frer outages {backend}: port {port}: {came} of {sent} copies came (relay forwarded {}), member resets {} lost {}; talker port {port}: link_down {} tx_drops {}",
            run.relays[port].forwarded,
            u(m, &["resets"]),
            u(m, &["lost"]),
            port_counter(t, port, "link_down"),
            port_counter(t, port, "tx_drops")
        );
        assert_eq!(came, run.relays[port].forwarded, "member {port}\n{l}");
        // 2 s at 1 frame/ms, give or take the link's way down and up.
        assert!(
            (1500..=2600).contains(&missing),
            "path {port}: {missing} missing\n{l}"
        );
        // 2 s of silence is longer than reset_timeout (1 s): the member's
        // recovery reset and took the first number after the outage.
        assert!(u(m, &["resets"]) >= 1, "member {port}: no reset\n{l}");
        assert!(
            port_counter(t, port, "link_down") >= 1,
            "talker port {port}: the outage does not show\n{t}"
        );
        // The copies the member is short of are the ones its talker port
        // could not send (give or take a frame caught on the way down).
        let drops = port_counter(t, port, "tx_drops");
        assert!(
            drops.abs_diff(missing) <= 5,
            "talker port {port}: tx_drops {drops}, member short of {missing}\n{t}"
        );
    }
    // The stream's latent error test saw one path stop delivering.
    assert!(
        u(&frer_stream(l)["recovery"], &["latent_errors"]) >= 1,
        "no latent error\n{l}"
    );
    let passed = u(&frer_stream(l)["recovery"], &["passed"]);
    assert_eq!(passed, sent, "{l}");
}

#[test]
fn packet_each_path_down_for_2s_loses_nothing() {
    outages("packet");
}

#[test]
fn xdp_each_path_down_for_2s_loses_nothing() {
    outages("xdp");
}

/// The R-TAG number and takt sequence of every takt frame of a capture.
fn capture_seqs(pcap: &Path) -> Vec<(u16, u64)> {
    common::pcap_frames(pcap)
        .iter()
        .filter_map(|f| {
            let fr = takt_stack::wire::StreamFrame::new_checked(&f[..]).ok()?;
            Some((fr.rtag_sequence()?, fr.sequence()))
        })
        .collect()
}

/// `tshark -r PCAP -T fields -e ieee8021cb.seq`: the R-TAG numbers as
/// Wireshark's dissector reads them.
fn tshark_seqs(pcap: &Path) -> Vec<u16> {
    let out = Command::new("tshark")
        .args([
            "-r",
            &pcap.display().to_string(),
            "-Y",
            "ieee8021cb",
            "-T",
            "fields",
            "-e",
            "ieee8021cb.seq",
        ])
        .output()
        .expect("tshark -r");
    assert!(out.status.success(), "tshark -r: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| {
            let v = l.trim();
            let n = v
                .strip_prefix("0x")
                .map_or_else(|| v.parse(), |h| u16::from_str_radix(h, 16));
            n.unwrap_or_else(|_| panic!("ieee8021cb.seq {v:?}"))
        })
        .collect()
}

/// 5 % loss on each path, independently: the application loses exactly the
/// frames missing from both paths' captures, about 0.25 % of them; tshark
/// reads the same R-TAG numbers on both paths, each the frame's takt
/// sequence mod 65536.
#[test]
fn packet_5_percent_loss_on_each_path_loses_what_both_lost() {
    if !ready("frer loss", &["ip", "tshark"]) {
        return;
    }
    let _serial = one_at_a_time();
    let paths = TwoPaths::new();
    let dir = TempDir::new("frer-loss");
    let schedule = dir.write("frer.toml", &frer_schedule(2));
    let caps = [dir.path().join("a.pcap"), dir.path().join("b.pcap")];
    let sharks = [0, 1].map(|i| Tshark::start(&paths.listener, PATH_IFS[i][1], &caps[i]));
    let run = run_frer(
        &paths,
        "packet",
        &schedule,
        [Impair::loss(0.05, 0x5eeda), Impair::loss(0.05, 0x5eedb)],
        10,
        || {},
    );
    for s in sharks {
        s.stop();
    }
    let (t, l) = (&run.talker, &run.listener);
    check_clean(t, l);
    let sent = sent(t);
    assert!(sent >= 19_000, "{t}");

    // The captures: each path's frames, R-TAG = takt sequence mod 2^16.
    let seen: Vec<BTreeSet<u16>> = caps
        .iter()
        .zip(&run.relays)
        .map(|(c, r)| {
            let frames = capture_seqs(c);
            for (rtag, seq) in &frames {
                assert_eq!(u64::from(*rtag), seq % 65536, "{}", c.display());
            }
            let rtags: Vec<u16> = frames.iter().map(|(r, _)| *r).collect();
            assert_eq!(
                rtags,
                r.forwarded_seqs,
                "{}: the capture is what the relay forwarded",
                c.display()
            );
            assert_eq!(
                tshark_seqs(c),
                rtags,
                "{}: tshark's ieee8021cb.seq",
                c.display()
            );
            rtags.into_iter().collect()
        })
        .collect();
    // Same numbers on both paths where neither lost the frame.
    let last = u16::try_from(sent - 1).expect("fewer than 65536 frames");
    let both: Vec<u16> = (0..=last)
        .filter(|q| seen[0].contains(q) && seen[1].contains(q))
        .collect();
    let missing_both = (0..=last)
        .filter(|q| !seen[0].contains(q) && !seen[1].contains(q))
        .count() as u64;
    assert!(
        both.len() as u64 > sent * 85 / 100,
        "{} on both paths",
        both.len()
    );

    let lost = u(&l["streams"][0], &["lost"]);
    let received = u(&l["streams"][0], &["frames_received"]);
    let expected = sent as f64 * 0.05 * 0.05;
    let sigma = (sent as f64 * 0.0025 * 0.9975).sqrt();
    eprintln!(
        "frer loss: sent {sent}, path A dropped {} path B dropped {}, missing from both captures {missing_both}, lost to the application {lost} (expected {expected:.1} +- {sigma:.1}), received {received}",
        run.relays[0].dropped, run.relays[1].dropped
    );
    assert_eq!(
        lost, missing_both,
        "lost vs missing from both captures\n{l}"
    );
    // 802.1CB's lost counts numbers once they leave the history window
    // (32 behind the newest): the last few of the run are not counted yet.
    // The last HISTORY numbers of the run never leave the window, so
    // 802.1CB's lost has not counted them yet.
    let counted = |q: &u16| u64::from(*q) + HISTORY < sent;
    let missing_early = (0..=last)
        .filter(|q| counted(q) && !seen[0].contains(q) && !seen[1].contains(q))
        .count() as u64;
    let stream_lost = u(&frer_stream(l)["recovery"], &["lost"]);
    assert!(
        (missing_early..=lost).contains(&stream_lost),
        "frer stream lost {stream_lost}: not in {missing_early}..={lost}\n{l}"
    );
    for port in [0, 1] {
        let member_lost = u(&member(l, port)["recovery"], &["lost"]);
        let r = &run.relays[port];
        let early = r.dropped_seqs.iter().filter(|q| counted(q)).count() as u64;
        eprintln!(
            "frer loss: member {port}: lost {member_lost}, relay dropped {}",
            r.dropped
        );
        assert!(
            (early..=r.dropped).contains(&member_lost),
            "member {port}: lost {member_lost}: not in {early}..={}\n{l}",
            r.dropped
        );
    }
    assert_eq!(received + lost, sent, "{l}");
    assert_eq!(u(&l["streams"][0], &["duplicates"]), 0, "{l}");
    assert!(
        (missing_both as f64 - expected).abs() <= 5.0 * sigma,
        "{missing_both} lost on both paths, expected {expected:.1} +- 5 x {sigma:.1}"
    );
}
