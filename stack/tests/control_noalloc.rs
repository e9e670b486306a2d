//! The control plane's polling path allocates nothing: a talker (and a
//! listener) with a `ControlPlane` runs over the simulated wire on a real
//! clock while a peer smoltcp interface on the other port pings it and sends
//! UDP `status` and `schedule` requests. Every request is answered, and the
//! data-path thread makes no heap operation while doing so (the service
//! worker thread, which formats replies and validates schedules, may).

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::icmp;
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress, IpEndpoint, Ipv4Cidr};
use takt_drivers::sim::{self, SimClock, SimConfig, SimPort};
use takt_scheduler::config::{self, ControlSection};
use takt_scheduler::rt::{allocation_counting_active, count_allocations, CountingAllocator};
use takt_scheduler::{ClockId, Schedule};
use takt_stack::control::auth::{self, Key};
use takt_stack::control::plane::ControlPlane;
use takt_stack::control::service::{Accepted, Role, ServiceSetup};
use takt_stack::control::{ControlConfig, ControlStorage, Iface};
use takt_stack::listener::Listener;
use takt_stack::plan::Until;
use takt_stack::progress::Progress;
use takt_stack::stats::RunStats;
use takt_stack::talker::{Talker, TalkerOptions};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const SERVICE_PORT: u16 = 9700;
const PEER_PORT: u16 = 9701;
const KEY: &[u8] = b"a test key of more than 16 bytes";
const PINGS: usize = 20;
const STATUS_REQUESTS: usize = 4;
/// How long the peer waits for one answer: far more than the round trip
/// (a few ms), so only a lost answer times out, not a stalled VM.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
/// A change takes over at the first cycle start at least this far ahead.
const MIN_CHANGE_LEAD_NS: u64 = 100_000_000;

fn example_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/control-plane.toml")
}

/// docs/examples/control-plane.toml: 1 ms cycle, class 7 for 100 us, best
/// effort for 900 us, one stream, `[control]` at 10.77.0.1/24 (TAI clock).
fn example() -> (Schedule, ControlSection, String) {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let loaded = config::load_file(&example_path()).unwrap();
    (loaded.schedule, loaded.control.unwrap(), text)
}

/// The same file with the class 7 window widened to 150 us.
fn changed(text: &str) -> String {
    let out = text
        .replace("interval = \"100us\"", "interval = \"150us\"")
        .replace("interval = \"900us\"", "interval = \"850us\"");
    assert_ne!(out, text, "the example's entries changed: update the test");
    out
}

fn sim_pair(clock: ClockId) -> (SimPort, SimPort) {
    let (a, b, _link) = sim::pair(SimConfig {
        clock: SimClock::Real(clock.to_nix()),
        pool_size: 1024,
        buf_size: 2048,
        wire_capacity: 1024,
        ..SimConfig::default()
    });
    (a, b)
}

fn control_config(section: &ControlSection, gated: bool) -> ControlConfig {
    ControlConfig {
        gated,
        udp_port: Some(SERVICE_PORT),
        ..ControlConfig::new(Ipv4Cidr::new(section.address, section.prefix_len))
    }
}

fn setup(sched: &Schedule, section: &ControlSection, role: Role) -> ServiceSetup {
    let mut report = RunStats::new(sched.streams().iter().map(|s| s.name.as_str()));
    report.device = "sim:a".into();
    report.backend = "sim".into();
    report.clock = sched.clock().as_str().into();
    ServiceSetup {
        report,
        clock: sched.clock(),
        role,
        address: format!("{}/{}", section.address, section.prefix_len),
        endpoint: (section.address, SERVICE_PORT),
        key: Key::from_bytes(KEY),
    }
}

/// What the peer got back.
#[derive(Debug, Default)]
struct PeerLog {
    echo_replies: usize,
    status_replies: Vec<serde_json::Value>,
    change_reply: Option<serde_json::Value>,
    /// Requests that got no answer within [`ANSWER_TIMEOUT`].
    unanswered: Vec<String>,
    /// takt stream frames the peer's interface saw (and skipped).
    stream_frames: u64,
}

/// A plain smoltcp interface on the other port, polled from its own thread.
struct Peer<'a, 'f> {
    iface: Iface<'a>,
    flags: &'f Flags,
    port: SimPort,
    sched: Schedule,
    target: Ipv4Addr,
    log: PeerLog,
}

const IDENT: u16 = 0x7a4b;

impl Peer<'_, '_> {
    fn poll(&mut self) {
        let now = self.sched.clock().now_ns();
        self.iface.poll(now, &mut self.port, &self.sched);
    }

    /// Poll until `got` returns something, the timeout passes or the other
    /// end has stopped.
    fn wait_for<R>(
        &mut self,
        what: &str,
        mut got: impl FnMut(&mut Iface<'_>) -> Option<R>,
    ) -> Option<R> {
        let give_up = std::time::Instant::now() + ANSWER_TIMEOUT;
        loop {
            self.poll();
            if let Some(r) = got(&mut self.iface) {
                return Some(r);
            }
            if std::time::Instant::now() > give_up || self.flags.done.load(Ordering::Acquire) {
                self.log.unanswered.push(what.to_owned());
                return None;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    fn ping(&mut self, seq_no: u16) {
        let data = b"takt control noalloc";
        let repr = Icmpv4Repr::EchoRequest {
            ident: IDENT,
            seq_no,
            data,
        };
        let buf = self
            .iface
            .icmp_socket()
            .send(repr.buffer_len(), IpAddress::Ipv4(self.target))
            .unwrap();
        repr.emit(
            &mut Icmpv4Packet::new_unchecked(buf),
            &ChecksumCapabilities::default(),
        );
        let answered = self.wait_for(&format!("ping {seq_no}"), |i| {
            let (bytes, _) = i.icmp_socket().recv().ok()?;
            let pkt = Icmpv4Packet::new_checked(bytes).ok()?;
            let repr = Icmpv4Repr::parse(&pkt, &ChecksumCapabilities::default()).ok()?;
            Some(matches!(
                repr,
                Icmpv4Repr::EchoReply { ident: IDENT, seq_no: s, data: d } if s == seq_no && d == data
            ))
        });
        if answered == Some(true) {
            self.log.echo_replies += 1;
        }
    }

    /// Send a datagram to the service port and wait for the reply (JSON).
    fn request(&mut self, what: &str, body: &[u8]) -> Option<serde_json::Value> {
        let to = IpEndpoint::new(IpAddress::Ipv4(self.target), SERVICE_PORT);
        assert!(self.iface.udp_send(body, to), "peer's UDP buffer full");
        let target = self.target;
        let reply = self.wait_for(what, |i| {
            i.udp_recv(|data, from| {
                assert_eq!(from, IpEndpoint::new(IpAddress::Ipv4(target), SERVICE_PORT));
                data.to_vec()
            })
        })?;
        Some(serde_json::from_slice(&reply).unwrap_or_else(|e| {
            panic!(
                "{what}: reply is not JSON ({e}): {}",
                String::from_utf8_lossy(&reply)
            )
        }))
    }

    /// Send a datagram to the service port that gets no reply (refused).
    fn send_only(&mut self, body: &[u8]) {
        let to = IpEndpoint::new(IpAddress::Ipv4(self.target), SERVICE_PORT);
        assert!(self.iface.udp_send(body, to), "peer's UDP buffer full");
        self.poll();
    }

    /// Pings, status requests and (if given) one schedule change, each
    /// answered before the next; then keep polling until `flags.done`.
    fn script(&mut self, change: Option<&str>) {
        let flags = self.flags;
        self.iface
            .icmp_socket()
            .bind(icmp::Endpoint::Ident(IDENT))
            .unwrap();
        for i in 0..PINGS {
            self.ping(i as u16);
            if i % (PINGS / STATUS_REQUESTS) == 0 {
                // Padded: a reply is at most 3 x its request.
                let mut req = b"status\n".to_vec();
                req.resize(4000, b' ');
                if let Some(v) = self.request("status", &req) {
                    self.log.status_replies.push(v);
                }
            }
            if i == 2 {
                if let Some(text) = change {
                    let body = format!("schedule\n{text}");
                    let key = Key::from_bytes(KEY).unwrap();
                    let signed = auth::signed_request(
                        &key,
                        self.target,
                        SERVICE_PORT,
                        auth::realtime_ns(),
                        body.as_bytes(),
                    );
                    self.log.change_reply = self.request("schedule", &signed);
                    // Refused, unanswered, counted: on the data path too
                    // without allocating.
                    self.send_only(&signed);
                    self.send_only(body.as_bytes());
                    self.send_only(b"{\"error\":\"a reply from someone\"}");
                }
            }
        }
        flags.scripted.store(true, Ordering::Release);
        while !flags.done.load(Ordering::Acquire) {
            self.poll();
            std::thread::sleep(Duration::from_micros(200));
        }
        self.poll();
        self.log.stream_frames = self.iface.counters().stream_frames_skipped;
    }
}

#[derive(Default)]
struct Flags {
    /// The peer's script is through (it only polls from then on).
    scripted: AtomicBool,
    /// The peer may stop.
    done: AtomicBool,
}

/// Run the peer's script on `port` from a new thread of `scope`.
fn spawn_peer<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    port: SimPort,
    sched: Schedule,
    target: Ipv4Addr,
    change: Option<String>,
    flags: &'s Flags,
) -> std::thread::ScopedJoinHandle<'s, PeerLog> {
    scope.spawn(move || {
        let mut storage = Box::<ControlStorage>::default();
        let mut port = port;
        let cfg = ControlConfig {
            gated: false,
            udp_port: Some(PEER_PORT),
            ..ControlConfig::new(Ipv4Cidr::new(PEER_IP, 24))
        };
        let now = sched.clock().now_ns();
        let iface = Iface::new(&mut storage, cfg, &sched, &mut port, now).unwrap();
        let mut peer = Peer {
            iface,
            flags,
            port,
            sched,
            target,
            log: PeerLog::default(),
        };
        peer.script(change.as_deref());
        peer.log
    })
}

fn assert_status_reply(v: &serde_json::Value) {
    let streams = v["streams"]
        .as_array()
        .unwrap_or_else(|| panic!("no streams: {v}"));
    assert_eq!(streams.len(), 1, "{v}");
    assert_eq!(streams[0]["name"], "sensor", "{v}");
    assert!(v["total"].is_object(), "no total: {v}");
}

#[test]
fn talker_answers_ping_status_and_a_schedule_change_without_allocating() {
    assert!(allocation_counting_active());
    let (sched, section, text) = example();
    let clock = sched.clock();
    let (mut a, b) = sim_pair(clock);
    let sched = sched.started_at(clock.now_ns() + 20_000_000);
    let start = sched.oper().base_time_ns();
    let until = Until::Time(start + 2_000_000_000);
    let opts = TalkerOptions {
        until,
        // The sim holds frames until their launch time: queue them (and the
        // control plane's replies) 5 ms ahead, so a stall of the VM costs
        // no reply, and a round trip takes a few ms.
        advance_ns: Some(5_000_000),
        ..TalkerOptions::default()
    };

    // As the talker binary's validator does (tools/src/control_args.rs).
    let running = std::sync::Mutex::new(Arc::new(sched.clone()));
    let running_section = section.clone();
    let validate = Box::new(move |text: &str, now_ns: u64| {
        let mut cur = running.lock().unwrap();
        let change = config::parse_change(
            text,
            "request",
            &cur,
            Some(&running_section),
            now_ns,
            MIN_CHANGE_LEAD_NS,
        )
        .map_err(|e| e.to_string())?;
        let schedule = Arc::new(change.schedule);
        *cur = Arc::clone(&schedule);
        Ok(Accepted {
            schedule,
            until,
            switch_at_ns: change.switch_at_ns,
            requested_base_ns: change.requested_base_ns,
        })
    });
    let plane = ControlPlane::new(
        control_config(&section, true),
        &sched,
        &mut a,
        clock.now_ns(),
        setup(&sched, &section, Role::Talker { validate }),
    )
    .unwrap();
    let mut talker = Talker::new(&sched, &a, opts).with_control(plane);
    let mut stats = RunStats::new(["sensor"]);
    let progress = Progress::default();
    let flags = Flags::default();

    let (counts, log) = std::thread::scope(|s| {
        let peer = spawn_peer(
            s,
            b,
            sched.clone(),
            section.address,
            Some(changed(&text)),
            &flags,
        );
        let (_, counts) = count_allocations(|| talker.run(&mut a, &mut stats.streams, &progress));
        flags.done.store(true, Ordering::Release);
        (counts, peer.join().unwrap())
    });
    let report = talker.take_control().unwrap().finish();

    assert!(
        log.unanswered.is_empty(),
        "unanswered: {:?}",
        log.unanswered
    );
    assert_eq!(log.echo_replies, PINGS);
    assert_eq!(log.status_replies.len(), STATUS_REQUESTS);
    log.status_replies.iter().for_each(assert_status_reply);
    let change = log.change_reply.as_ref().unwrap();
    assert_eq!(change["accepted"], true, "{change}");
    let switch_at = change["switch_at_ns"].as_u64().unwrap();
    assert_eq!(
        talker.schedule().switch().map(|s| s.at_ns),
        Some(switch_at),
        "the talker runs the changed schedule"
    );
    assert_eq!(
        talker.schedule().admin().unwrap().entries()[0].interval_ns,
        150_000
    );
    assert!(stats.streams[0].frames_sent > 0);
    assert!(log.stream_frames > 0, "the peer saw the stream too");

    assert_eq!(report.requests, (STATUS_REQUESTS + 4) as u64);
    assert_eq!(report.schedule_changes, 1);
    let r = report.refused;
    assert_eq!(
        (r.replayed, r.unsigned, r.malformed, r.total()),
        (1, 1, 1, 3),
        "{r:?}"
    );
    assert_eq!((report.requests_dropped, report.replies_dropped), (0, 0));
    // Each ping, request and ARP exchange is at least one frame each way.
    assert!(report.rx_frames > (PINGS + STATUS_REQUESTS + 1) as u64);
    assert!(report.tx_frames > (PINGS + STATUS_REQUESTS + 1) as u64);
    assert_eq!(
        (counts.allocs, counts.frees),
        (0, 0),
        "heap operations in the talker's loop with its control plane"
    );
}

#[test]
fn listener_answers_ping_and_status_without_allocating() {
    assert!(allocation_counting_active());
    let (sched, section, text) = example();
    let clock = sched.clock();
    let (peer_port, mut b) = sim_pair(clock);
    let sched = sched.started_at(clock.now_ns());
    let plane = ControlPlane::new(
        control_config(&section, false),
        &sched,
        &mut b,
        clock.now_ns(),
        setup(&sched, &section, Role::Listener),
    )
    .unwrap();
    let mut listener = Listener::new(&sched, takt_stack::clock::SchedClock::system(sched.clock()))
        .stop_on_signal(false)
        .with_control(plane);
    let mut stats = RunStats::new(["sensor"]);
    let progress = Progress::default();
    let (flags, deadline) = (Flags::default(), AtomicU64::new(0));

    let (counts, log) = std::thread::scope(|s| {
        let rx = s.spawn(|| {
            count_allocations(|| listener.run(&mut b, &mut stats.streams, &deadline, &progress)).1
        });
        // A listener refuses changes: the peer's request is answered so.
        let peer = spawn_peer(
            s,
            peer_port,
            sched.clone(),
            section.address,
            Some(changed(&text)),
            &flags,
        );
        // The peer waits for each answer, so all came before the deadline.
        while !flags.scripted.load(Ordering::Acquire) && !peer.is_finished() {
            std::thread::sleep(Duration::from_millis(10));
        }
        deadline.store(clock.now_ns() + 10_000_000, Ordering::Release);
        let counts = rx.join().unwrap();
        flags.done.store(true, Ordering::Release);
        (counts, peer.join().unwrap())
    });
    let report = listener.take_control().unwrap().finish();

    assert!(
        log.unanswered.is_empty(),
        "unanswered: {:?}",
        log.unanswered
    );
    assert_eq!(log.echo_replies, PINGS);
    assert_eq!(log.status_replies.len(), STATUS_REQUESTS);
    log.status_replies.iter().for_each(assert_status_reply);
    let change = log.change_reply.as_ref().unwrap();
    assert_eq!(change["accepted"], false, "{change}");
    assert!(
        change["error"].as_str().unwrap().contains("listener"),
        "{change}"
    );
    assert_eq!(report.requests, (STATUS_REQUESTS + 4) as u64);
    assert_eq!(report.schedule_changes, 0);
    let r = report.refused;
    assert_eq!((r.replayed, r.unsigned, r.malformed), (1, 1, 1), "{r:?}");
    assert_eq!((report.requests_dropped, report.replies_dropped), (0, 0));
    assert_eq!(
        (counts.allocs, counts.frees),
        (0, 0),
        "heap operations in the listener's loop with its control plane"
    );
}
