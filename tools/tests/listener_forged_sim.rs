//! Issue 13, findings 7-9, against the real run path (`talker::run_on` and
//! `listener::run_on` on the two ends of the simulated wire): forged stream
//! frames injected among the talker's, and a talker restarted while one
//! listener runs. Each leaves the run intact (every real frame received,
//! none lost, duplicate or reordered) and shows in the report by reason,
//! and the listener's loop makes no heap operation while judging them.

use std::collections::VecDeque;
use std::path::Path;

use takt_drivers::sim::{self, SimClock, SimConfig};
use takt_drivers::{
    BufId, Counters, DeviceInfo, DriverError, RingDevice, RxBatch, RxFrame, TxBatch,
};
use takt_scheduler::{config, ClockId, Schedule};
use takt_stack::plan::Until;
use takt_stack::progress::Progress;
use takt_stack::stats::{json_report, text_report, RunReport};
use takt_stack::talker::TalkerOptions;
use takt_stack::wire::{self, StreamFrameFields, HEADER_LEN};
use takt_tools::listener::{self, ListenerConfig, ListenerRun};
use takt_tools::talker::{self, TalkerConfig, TalkerRun};

const CYCLES: u64 = 400;

#[global_allocator]
static GLOBAL: takt_scheduler::rt::CountingAllocator = takt_scheduler::rt::CountingAllocator;

fn example(name: &str) -> Schedule {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/examples")
        .join(name);
    config::load_file(&path).expect("valid example").schedule
}

fn wire_pair(schedule: &Schedule) -> (sim::SimPort, sim::SimPort) {
    let (a, b, _link) = sim::pair(SimConfig {
        speed_bps: schedule.link().speed_bps,
        propagation_ns: 500,
        clock: SimClock::Real(ClockId::Tai.to_nix()),
        pool_size: 4096,
        buf_size: 2048,
        wire_capacity: 4096,
        ..SimConfig::default()
    });
    (a, b)
}

fn talker_cfg(cycles: u64) -> TalkerConfig {
    TalkerConfig {
        talker: TalkerOptions {
            advance_ns: Some(takt_stack::loopback::SIM_ADVANCE_NS),
            batch: 32,
            until: Until::Cycles(cycles),
            ..TalkerOptions::default()
        },
        backend: "sim".into(),
        ..TalkerConfig::default()
    }
}

fn listener_cfg(until: Until) -> ListenerConfig {
    ListenerConfig {
        until,
        drain_ns: 200_000_000,
        backend: "sim".into(),
        ..ListenerConfig::default()
    }
}

/// One forgery, made from the real frame it follows (same stream, same
/// talker epoch, same addresses: what a sniffer on the segment can copy).
#[derive(Clone, Copy, Debug)]
enum Forgery {
    Sequence(u64),
    /// `u64::MAX` and then 0: a sequence that wraps.
    Wraparound,
    /// The next sequence number, with this transmit time.
    TxNs(u64),
    /// The next sequence number with one padding byte flipped.
    BadPadding,
    /// The next frame cut right after its headers.
    Truncated,
    /// The next frame as header version 1.
    Version1,
    StreamId(u16),
    /// Another talker instance, sequence 0.
    Epoch(u64),
}

/// The listener's device: the sim port, plus forged frames slipped in
/// after the `n`-th real frame of stream 0.
struct Forger<'a> {
    inner: &'a mut sim::SimPort,
    script: Vec<(u64, Forgery)>,
    stream0_seen: u64,
    /// Frames received and forged, not yet handed to the listener.
    pending: VecDeque<RxFrame>,
}

impl Forger<'_> {
    fn inject(&mut self, real: &StreamFrameFields, len: usize, rx: u64) {
        let Some(&(_, forgery)) = self.script.iter().find(|(n, _)| *n == self.stream0_seen) else {
            return;
        };
        let next = real.sequence + 1;
        let push = |this: &mut Self, f: StreamFrameFields, edit: &dyn Fn(&mut [u8]) -> usize| {
            let buf = this.inner.alloc().expect("a buffer for the forged frame");
            let b = this.inner.buf_mut(&buf);
            wire::encode(b, &f, len).expect("encode forged frame");
            let n = edit(&mut b[..len]);
            this.pending.push_back(RxFrame {
                buf,
                len: n,
                rx_time_ns: rx,
            });
        };
        let with_seq = |s: u64| StreamFrameFields {
            sequence: s,
            ..*real
        };
        let whole = |b: &mut [u8]| b.len();
        match forgery {
            Forgery::Sequence(s) => push(self, with_seq(s), &whole),
            Forgery::Wraparound => {
                push(self, with_seq(u64::MAX), &whole);
                push(self, with_seq(0), &whole);
            }
            Forgery::TxNs(t) => push(
                self,
                StreamFrameFields {
                    tx_ns: t,
                    ..with_seq(next)
                },
                &whole,
            ),
            Forgery::BadPadding => push(self, with_seq(next), &|b: &mut [u8]| {
                b[HEADER_LEN] ^= 0x40;
                b.len()
            }),
            Forgery::Truncated => push(self, with_seq(next), &|_: &mut [u8]| HEADER_LEN),
            Forgery::Version1 => push(self, with_seq(next), &|b: &mut [u8]| {
                b[20] = 1;
                b.len()
            }),
            Forgery::StreamId(id) => push(
                self,
                StreamFrameFields {
                    stream_id: id,
                    ..with_seq(next)
                },
                &whole,
            ),
            Forgery::Epoch(e) => push(
                self,
                StreamFrameFields {
                    epoch: e,
                    ..with_seq(0)
                },
                &whole,
            ),
        }
    }
}

impl RingDevice for Forger<'_> {
    fn info(&self) -> &DeviceInfo {
        self.inner.info()
    }
    fn counters(&self) -> Counters {
        self.inner.counters()
    }
    fn alloc(&mut self) -> Option<BufId> {
        self.inner.alloc()
    }
    fn free(&mut self, buf: BufId) {
        self.inner.free(buf)
    }
    fn buf(&self, buf: &BufId) -> &[u8] {
        self.inner.buf(buf)
    }
    fn owns(&self, buf: &BufId) -> bool {
        self.inner.owns(buf)
    }
    fn buf_mut(&mut self, buf: &BufId) -> &mut [u8] {
        self.inner.buf_mut(buf)
    }
    fn tx_burst(&mut self, frames: &mut TxBatch) -> usize {
        self.inner.tx_burst(frames)
    }
    fn accept_destinations(&mut self, macs: &[[u8; 6]]) -> Result<(), DriverError> {
        self.inner.accept_destinations(macs)
    }
    fn rx_burst(&mut self, out: &mut RxBatch) -> usize {
        if self.pending.is_empty() {
            let mut real = RxBatch::new();
            self.inner.rx_burst(&mut real);
            while let Some(f) = real.pop_front() {
                let fields = wire::decode(&self.inner.buf(&f.buf)[..f.len]).ok();
                let (len, rx) = (f.len, f.rx_time_ns);
                self.pending.push_back(f);
                // Forged frames land right behind the real one they copy.
                if let Some(fields) = fields.filter(|r| r.stream_id == 0) {
                    self.stream0_seen += 1;
                    self.inject(&fields, len, rx);
                }
            }
        }
        let mut n = 0;
        while !out.is_full() {
            let Some(f) = self.pending.pop_front() else {
                break;
            };
            out.push_back(f).expect("not full");
            n += 1;
        }
        n
    }
}

fn run(schedule: &Schedule, script: Vec<(u64, Forgery)>) -> (TalkerRun, ListenerRun) {
    let (mut a, mut b) = wire_pair(schedule);
    // Twice the restart test's cycles: stream 0 sends 3200 frames, so the
    // script (up to its 1100th) runs even if a loaded machine makes some
    // late.
    let rx_cfg = listener_cfg(Until::Cycles(2 * CYCLES));
    let (tx, rx) = std::thread::scope(|s| {
        let rx = s.spawn(|| {
            let mut dev = Forger {
                inner: &mut b,
                script,
                stream0_seen: 0,
                // Sized now: the forger runs inside the counted loop.
                pending: VecDeque::with_capacity(4096),
            };
            listener::run_on(&mut dev, schedule, &rx_cfg, &Progress::default())
        });
        let tx = talker::run_on(
            &mut a,
            schedule,
            &talker_cfg(2 * CYCLES),
            &Progress::default(),
        );
        (tx, rx.join().expect("listener thread"))
    });
    (tx.expect("talker run"), rx.expect("listener run"))
}

/// Every real frame counted once, nothing lost, duplicate or reordered.
fn assert_intact(tx: &TalkerRun, rx: &ListenerRun) {
    for (t, r) in tx.stats.streams.iter().zip(&rx.stats.streams) {
        assert!(t.frames_sent > 0, "{}", t.name);
        assert_eq!(r.frames_received, t.frames_sent, "{}", r.name);
        assert_eq!((r.lost, r.duplicates, r.reordered), (0, 0, 0), "{}", r.name);
        assert_eq!(r.latency_ns.count(), r.frames_received, "{}", r.name);
        // Latency on the sim is wire time + 500 ns (+ a late poll): far
        // below a second, whatever tx_ns the forger wrote.
        let max = r.latency_ns.max().expect("latencies");
        assert!((0..1_000_000_000).contains(&max), "{}: max {max}", r.name);
    }
}

#[test]
fn forged_stream_frames_leave_the_counts_intact_and_are_counted_by_reason() {
    let schedule = example("two-class-250us.toml");
    let script = vec![
        (100, Forgery::Sequence(1 << 63)),
        (200, Forgery::Sequence(u64::MAX)),
        // Past the reorder window (1024), so 0 is not a number it judges.
        (1100, Forgery::Wraparound),
        // A number 2^40 behind the real one wraps to near 2^64.
        (400, Forgery::Sequence(400u64.wrapping_sub(1 << 40))),
        (500, Forgery::TxNs(1 << 63)),
        (600, Forgery::BadPadding),
        (700, Forgery::Truncated),
        (800, Forgery::Version1),
        (900, Forgery::StreamId(999)),
        (1000, Forgery::Epoch(0x0BAD_0BAD)),
    ];
    let (tx, rx) = run(&schedule, script);
    assert_intact(&tx, &rx);

    assert_eq!(rx.stats.data_path_allocations, Some(0), "heap operations");
    let s0 = &rx.stats.streams[0];
    // 2^63, u64::MAX, the wrap (u64::MAX, then 0), far behind, tx_ns 2^63,
    // the foreign epoch.
    assert_eq!(s0.rogue, 7, "{s0:?}");
    assert_eq!(s0.bad_padding, 1);
    assert_eq!((s0.restarts, s0.resyncs), (0, 0));
    for s in &rx.stats.streams[1..] {
        assert_eq!(
            (s.rogue, s.bad_padding, s.restarts),
            (0, 0, 0),
            "{}",
            s.name
        );
    }
    assert_eq!(rx.summary.truncated, 1);
    assert_eq!(rx.summary.other_frames, 2, "version 1 and stream 999");

    let text = text_report(&rx.stats);
    assert!(
        text.contains("rejected frames: rogue 7, bad padding 1, truncated 1, other 2; talker restarts 0, resyncs 0"),
        "{text}"
    );
    let json: RunReport = serde_json::from_str(&json_report(&rx.stats)).expect("JSON report");
    let r = json.rx_rejected.expect("rx_rejected in a listener report");
    assert_eq!((r.rogue, r.bad_padding, r.truncated, r.other), (7, 1, 1, 2));
    assert_eq!(json.streams[0].rogue, 7);
    assert_eq!(json.total.lost, 0);
}

/// Finding 8: two talker runs into one listener run. Before the epoch, the
/// second run's numbers (from 0 again) were counted duplicate and reordered.
#[test]
fn a_talker_restart_is_counted_as_a_restart_not_as_duplicates() {
    let schedule = example("two-class-250us.toml");
    let (mut a, mut b) = wire_pair(&schedule);
    // Long enough for both talker runs (100 ms each plus lead).
    let rx_cfg = listener_cfg(Until::Time(3_000_000_000));
    let (tx1, tx2, rx) = std::thread::scope(|s| {
        let rx = s.spawn(|| listener::run_on(&mut b, &schedule, &rx_cfg, &Progress::default()));
        let tx1 = talker::run_on(&mut a, &schedule, &talker_cfg(CYCLES), &Progress::default());
        let tx2 = talker::run_on(&mut a, &schedule, &talker_cfg(CYCLES), &Progress::default());
        (tx1, tx2, rx.join().expect("listener thread"))
    });
    let (tx1, tx2, rx) = (
        tx1.expect("first talker run"),
        tx2.expect("second talker run"),
        rx.expect("listener run"),
    );
    for ((t1, t2), r) in tx1
        .stats
        .streams
        .iter()
        .zip(&tx2.stats.streams)
        .zip(&rx.stats.streams)
    {
        assert_eq!(
            r.frames_received,
            t1.frames_sent + t2.frames_sent,
            "{}",
            r.name
        );
        assert_eq!((r.lost, r.duplicates, r.reordered), (0, 0, 0), "{}", r.name);
        assert_eq!((r.restarts, r.rogue, r.resyncs), (1, 0, 0), "{}", r.name);
    }
    let text = text_report(&rx.stats);
    let streams = rx.stats.streams.len();
    assert!(
        text.contains(&format!("talker restarts {streams}, resyncs 0")),
        "{text}"
    );
}
