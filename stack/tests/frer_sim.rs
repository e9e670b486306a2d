//! 802.1CB FRER end to end on the simulated wire, without root: `takt
//! loopback`'s engine over two simulated links, each with its own seeded
//! faults, a `frer::Ports` on each end. What the application sees (every
//! frame once, in order, lost only where both copies were) is checked
//! against what each link delivered, recorded by a tap between each
//! listener-side link and its `Ports`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use takt_drivers::sim::{parse_spec, LinkFaults, SimPort};
use takt_drivers::{
    BufId, Counters, DeviceInfo, RingDevice, RxBatch, RxFrame, TxBatch, TxStampBatch,
};
use takt_scheduler::redundancy::{FrerParams, PortMask, Redundancy};
use takt_scheduler::rt::CountingAllocator;
use takt_scheduler::{ClockId, GateControlList, GateEntry, LinkConfig, Schedule, Stream};
use takt_stack::frer::{rtag, RecoveryCounters};
use takt_stack::loopback::{self, End, LoopbackConfig, LoopbackRun};
use takt_stack::plan::Until;
use takt_stack::progress::Progress;
use takt_stack::stats::{FrerMemberReport, FrerStreamReport, StreamStats};
use takt_stack::talker::TalkerOptions;
use takt_stack::wire::StreamFrame;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// One run at a time: each busy-polls one CPU and pins its talker to the
/// other, and a second run beside it would make frames late.
static CPUS: Mutex<()> = Mutex::new(());

fn cpus() -> MutexGuard<'static, ()> {
    CPUS.lock().unwrap_or_else(|e| e.into_inner())
}

/// 1 ms cycle, class 7 open for the first 100 us: stream "ctl" (one
/// 128-byte frame per cycle) replicated on ports 0 and 1; with `bulk`, a
/// second stream on port 1 alone, five frames a cycle (not replicated).
fn schedule(params: FrerParams, bulk: bool) -> Schedule {
    let gcl = GateControlList::new(
        0,
        None,
        0,
        vec![
            GateEntry {
                gate_mask: 0x80,
                interval_ns: 100_000,
            },
            GateEntry {
                gate_mask: 0x01,
                interval_ns: 900_000,
            },
        ],
    )
    .unwrap();
    let mut streams = vec![Stream {
        name: "ctl".into(),
        traffic_class: 7,
        vlan_id: 100,
        pcp: 7,
        dst_mac: [0x91, 0xe0, 0xf0, 0, 0xfe, 0x10],
        frame_size: 128,
        offset_ns: 10_000,
        frames_per_cycle: 1,
        spacing_ns: 0,
    }];
    if bulk {
        streams.push(Stream {
            name: "bulk".into(),
            traffic_class: 0,
            vlan_id: 100,
            pcp: 0,
            dst_mac: [0x91, 0xe0, 0xf0, 0, 0xfe, 0x11],
            frame_size: 1000,
            offset_ns: 200_000,
            frames_per_cycle: 5,
            spacing_ns: 100_000,
        });
    }
    let link = LinkConfig {
        speed_bps: 1_000_000_000,
        tc_to_pcp: LinkConfig::IDENTITY_TC_TO_PCP,
    };
    let n = streams.len();
    let mut ports = vec![PortMask(0b11)];
    let mut frer = vec![true];
    if bulk {
        ports.push(PortMask(0b10));
        frer.push(false);
    }
    assert_eq!(ports.len(), n);
    Schedule::new(ClockId::Monotonic, link, gcl, None, streams)
        .unwrap()
        .with_redundancy(Redundancy {
            ports,
            frer,
            port_names: Vec::new(),
            params,
        })
        .unwrap()
}

fn faults(spec: &str) -> LinkFaults {
    parse_spec(spec).unwrap()
}

fn config(cycles: u64, links: [&str; 2]) -> LoopbackConfig {
    LoopbackConfig {
        talker: TalkerOptions {
            until: Until::Cycles(cycles),
            // The sim holds each frame until its launch time: queueing
            // 300 ms ahead rides out a loaded 2-CPU machine's stalls.
            advance_ns: Some(300_000_000),
            ..TalkerOptions::default()
        },
        propagation_ns: 500,
        links: links.iter().map(|s| faults(s)).collect(),
        ..LoopbackConfig::default()
    }
}

/// What a listener-side link delivered: takt sequence number, R-TAG
/// number, arrival time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rec {
    seq: u64,
    rtag: Option<u16>,
    rx_ns: u64,
}

type Log = Arc<Mutex<Vec<Rec>>>;

/// A listener-side simulated port that records every stream frame it
/// delivers; with `forge_at`, once that many frames came it also delivers
/// a copy of the last one with its R-TAG number moved half the number
/// space away (a rogue frame: valid takt header, the stream's id).
struct Tap {
    port: SimPort,
    log: Log,
    forge_at: Option<usize>,
}

impl RingDevice for Tap {
    fn info(&self) -> &DeviceInfo {
        self.port.info()
    }
    fn counters(&self) -> Counters {
        self.port.counters()
    }
    fn alloc(&mut self) -> Option<BufId> {
        self.port.alloc()
    }
    fn free(&mut self, buf: BufId) {
        self.port.free(buf)
    }
    fn buf(&self, buf: &BufId) -> &[u8] {
        self.port.buf(buf)
    }
    fn buf_mut(&mut self, buf: &BufId) -> &mut [u8] {
        self.port.buf_mut(buf)
    }
    fn owns(&self, buf: &BufId) -> bool {
        self.port.owns(buf)
    }
    fn tx_burst(&mut self, frames: &mut TxBatch) -> usize {
        self.port.tx_burst(frames)
    }
    fn tx_stamps(&mut self, out: &mut TxStampBatch) -> usize {
        self.port.tx_stamps(out)
    }
    fn rx_burst(&mut self, out: &mut RxBatch) -> usize {
        let before = out.len();
        let n = self.port.rx_burst(out);
        let mut log = self.log.lock().unwrap();
        for f in out.iter().skip(before) {
            let bytes = &self.port.buf(&f.buf)[..f.len];
            if let Ok(frame) = StreamFrame::new_checked(bytes) {
                if frame.stream_id() == 0 {
                    log.push(Rec {
                        seq: frame.sequence(),
                        rtag: frame.rtag_sequence(),
                        rx_ns: f.rx_time_ns,
                    });
                }
            }
        }
        let last = out.back().map(|f| (f.len, f.rx_time_ns));
        if let (Some(at), Some((len, rx_time_ns))) = (self.forge_at, last) {
            if log.len() >= at && !out.is_full() {
                self.forge_at = None;
                let last = log.last().copied().unwrap();
                let src = out.back().map(|f| self.port.buf(&f.buf)[..len].to_vec());
                if let (Some(src), Some(buf)) = (src, self.port.alloc()) {
                    let b = self.port.buf_mut(&buf);
                    b[..len].copy_from_slice(&src);
                    let far = last.rtag.unwrap().wrapping_add(0x8000);
                    rtag::insert(b, len, far).unwrap();
                    let _ = out.push_back(RxFrame {
                        buf,
                        len,
                        rx_time_ns,
                    });
                    return n + 1;
                }
            }
        }
        n
    }
}

/// A run with a tap on each listener-side link (`forge`: on which port to
/// inject the rogue frame, after how many frames).
fn run_tapped(
    s: &Schedule,
    cfg: &LoopbackConfig,
    forge: Option<(usize, usize)>,
) -> (LoopbackRun, [Vec<Rec>; 2]) {
    let logs: [Log; 2] = Default::default();
    let (p, q) = (Progress::default(), Progress::default());
    let run = loopback::run_wrapped(s, cfg, (&p, &q), &mut |end, port, sim| match end {
        End::Talker => Box::new(sim),
        End::Listener => Box::new(Tap {
            port: sim,
            log: Arc::clone(&logs[port]),
            forge_at: forge.filter(|f| f.0 == port).map(|f| f.1),
        }),
    })
    .unwrap();
    let recs = logs.map(|l| std::mem::take(&mut *l.lock().unwrap()));
    (run, recs)
}

fn ctl(run: &LoopbackRun) -> &StreamStats {
    &run.stats.streams[0]
}

fn frer(run: &LoopbackRun) -> &FrerStreamReport {
    let f = run.stats.frer.as_ref().expect("a frer report");
    f.streams.iter().find(|s| s.stream == "ctl").unwrap()
}

fn member(run: &LoopbackRun, port: usize) -> &FrerMemberReport {
    frer(run).members.iter().find(|m| m.port == port).unwrap()
}

fn stream_recovery(run: &LoopbackRun) -> RecoveryCounters {
    frer(run)
        .recovery
        .expect("the listener's recovery counters")
}

fn member_recovery(run: &LoopbackRun, port: usize) -> RecoveryCounters {
    member(run, port).recovery.expect("the member's counters")
}

/// Port `p`'s device counters (`stats.ports`: both ends of its pair; the
/// talker's end sends, the listener's receives).
fn talker_port(run: &LoopbackRun, p: usize) -> Counters {
    run.stats.ports[p].counters
}

/// Sequence numbers 0..sent that a link did not deliver.
fn missing(recs: &[Rec], sent: u64) -> BTreeSet<u64> {
    let got: BTreeSet<u64> = recs.iter().map(|r| r.seq).collect();
    (0..sent).filter(|s| !got.contains(s)).collect()
}

/// The longest run of consecutive numbers in `set`: an outage.
fn longest_run(set: &BTreeSet<u64>) -> u64 {
    let (mut best, mut cur, mut prev) = (0, 0, None);
    for &s in set {
        cur = if prev == Some(s.wrapping_sub(1)) {
            cur + 1
        } else {
            1
        };
        best = best.max(cur);
        prev = Some(s);
    }
    best
}

/// Every frame the talker handed over arrived once and in order, but for
/// those no link delivered.
fn assert_once_in_order(run: &LoopbackRun, lost_both: u64) {
    let st = ctl(run);
    assert_eq!(st.late, 0, "a late frame: the host stalled for 50 ms");
    assert_eq!(st.frames_received, st.frames_sent - lost_both, "{st:?}");
    assert_eq!(st.lost, lost_both);
    assert_eq!((st.duplicates, st.reordered, st.rogue), (0, 0, 0), "{st:?}");
    assert_eq!(
        stream_recovery(run).passed,
        st.frames_received,
        "the stream's recovery passed what the application received"
    );
}

#[test]
fn two_lossy_links_with_an_outage_each_lose_only_what_both_lost() {
    let _cpus = cpus();
    let s = schedule(FrerParams::default(), false);
    // 6 s at 1 frame/ms; link 0 down from 1 s to 2.5 s, link 1 from 3.5 s
    // to 5 s (longer than the 1 s reset timeout: each member's recovery
    // starts afresh after its outage).
    let cfg = config(
        6_000,
        [
            "loss=5%,down=1s+1500ms,seed=11",
            "loss=5%,down=3500ms+1500ms,seed=12",
        ],
    );
    let (run, recs) = run_tapped(&s, &cfg, None);
    let sent = ctl(&run).frames_sent;
    assert_eq!(sent, 6_000);
    let (m0, m1) = (missing(&recs[0], sent), missing(&recs[1], sent));
    let both = m0.intersection(&m1).count() as u64;
    println!(
        "missing on link 0: {}, on link 1: {}, on both: {both}",
        m0.len(),
        m1.len()
    );
    // ~5 % + the outage on each link.
    for m in [&m0, &m1] {
        assert!((1_700..=2_000).contains(&m.len()), "{}", m.len());
        assert!(
            (1_495..=1_500).contains(&longest_run(m)),
            "an outage of 1.5 s"
        );
    }
    // Both: 5 % of each outage's 1,500 frames lost on the other link too
    // (~150), and 0.25 % of the 3,000 frames with both links up (~8).
    assert!(
        (100..=220).contains(&both),
        "{both} frames lost on both links"
    );
    assert_once_in_order(&run, both);

    let rec = stream_recovery(&run);
    println!("stream: {rec:?}");
    for p in 0..2 {
        println!("member {p}: {:?}", member_recovery(&run, p));
    }
    let delivered = (recs[0].len() + recs[1].len()) as u64;
    assert_eq!(rec.passed + rec.discarded, delivered, "{rec:?}");
    assert_eq!((rec.rogue, rec.resets), (0, 0), "{rec:?}");
    // Numbers lost on both paths leave the history unseen (but for the
    // last 32, still in it when the run ends).
    let tail = m0.intersection(&m1).filter(|&&n| n + 32 >= sent).count() as u64;
    assert!(
        rec.lost <= both && rec.lost + tail >= both,
        "{rec:?}, {both} on both"
    );
    for (p, m) in [(0, &m0), (1, &m1)] {
        let mr = member_recovery(&run, p);
        // The outage is longer than the reset timeout: the member's
        // recovery resets once, and its numbers are not counted lost.
        assert_eq!(mr.resets, 1, "member {p}: {mr:?}");
        assert_eq!(
            mr.passed + mr.discarded + mr.rogue,
            recs[p].len() as u64,
            "member {p}: every copy that came is counted: {mr:?}"
        );
        let c = talker_port(&run, p);
        let random = m.len() as u64 - c.tx_drops;
        assert!(
            mr.lost <= random && mr.lost + 3 * 32 >= random,
            "member {p}: lost {} of {random} lost outside the outage",
            mr.lost
        );
        let mm = member(&run, p);
        assert_eq!(mm.sent, Some(sent), "port {p} was handed every copy");
        assert_eq!(
            mm.latency_ns.as_ref().map(|l| l.count()),
            Some(recs[p].len() as u64),
            "member {p}: a latency per copy"
        );
        // The talker's port dropped what departed in the outage (1.5 s of
        // frames) and counted the outage; the link lost the rest at random.
        assert_eq!(c.tx_frames + c.tx_drops, sent, "port {p}: {c:?}");
        assert_eq!((c.tx_drops, c.link_down), (1_500, 1), "port {p}: {c:?}");
        let lane = run.links[p].stats().a_to_b;
        assert_eq!(lane.dropped_outage, 1_500);
        assert_eq!(lane.lost_random, random, "link {p}: {lane:?}");
    }
}

/// What a run shows that must repeat with the same seeds.
fn fingerprint(run: &LoopbackRun, recs: &[Vec<Rec>; 2]) -> impl PartialEq + std::fmt::Debug {
    let st = ctl(run);
    let no_latent = |mut c: RecoveryCounters| {
        // The latent error test runs on a timer and may see a copy in flight.
        c.latent_errors = 0;
        c.latent_error_resets = 0;
        c
    };
    (
        (
            st.frames_sent,
            st.frames_received,
            st.lost,
            st.duplicates,
            st.reordered,
        ),
        no_latent(stream_recovery(run)),
        [
            no_latent(member_recovery(run, 0)),
            no_latent(member_recovery(run, 1)),
        ],
        [talker_port(run, 0).tx_drops, talker_port(run, 1).tx_drops],
        [
            missing(&recs[0], st.frames_sent),
            missing(&recs[1], st.frames_sent),
        ],
    )
}

#[test]
fn the_same_seeds_give_the_same_run_and_another_seed_another() {
    let _cpus = cpus();
    let s = schedule(FrerParams::default(), false);
    let links = |seed: u64| {
        [
            format!("loss=5%,down=1s+500ms,seed={seed}"),
            format!("loss=5%,down=2s+500ms,seed={}", seed + 1),
        ]
    };
    let go = |seed| {
        let l = links(seed);
        let cfg = config(3_000, [&l[0], &l[1]]);
        // A frame the host made late shifts every draw after it: run again.
        for _ in 0..3 {
            let (run, recs) = run_tapped(&s, &cfg, None);
            if ctl(&run).late == 0 {
                return (fingerprint(&run, &recs), recs);
            }
        }
        panic!("three runs with late frames");
    };
    let (a, recs_a) = go(7);
    println!("{a:?}");
    let (b, _) = go(7);
    assert_eq!(a, b, "same seeds, same counters and the same frames lost");
    let (c, recs_c) = go(99);
    let sent = 3_000;
    assert_ne!(
        missing(&recs_a[0], sent),
        missing(&recs_c[0], sent),
        "another seed loses other frames"
    );
    assert_ne!(a, c);
}

#[test]
fn copies_that_arrive_in_either_order_pass_once_and_in_order() {
    let _cpus = cpus();
    let s = schedule(FrerParams::default(), false);
    // Link 1 is 150 us slower on average (100 us + 0..300 us against
    // 0..200 us): its copy comes first sometimes, second mostly.
    let cfg = config(
        2_000,
        ["jitter=200us,seed=1", "delay=100us,jitter=300us,seed=2"],
    );
    let (run, recs) = run_tapped(&s, &cfg, None);
    let sent = ctl(&run).frames_sent;
    assert_eq!(sent, 2_000);
    assert_eq!((recs[0].len(), recs[1].len()), (2_000, 2_000));
    let first_on = |a: &[Rec], b: &[Rec]| {
        a.iter()
            .zip(b)
            .filter(|(x, y)| {
                assert_eq!(x.seq, y.seq);
                x.rx_ns < y.rx_ns
            })
            .count()
    };
    let (link0_first, link1_first) = (first_on(&recs[0], &recs[1]), first_on(&recs[1], &recs[0]));
    println!("link 0 first: {link0_first}, link 1 first: {link1_first}");
    assert!(link0_first >= 100 && link1_first >= 100);
    assert_once_in_order(&run, 0);
    let rec = stream_recovery(&run);
    assert_eq!((rec.passed, rec.discarded), (sent, sent), "{rec:?}");
    assert_eq!((rec.rogue, rec.lost, rec.resets), (0, 0, 0), "{rec:?}");
    // The path skew shows in the members' latencies.
    let p50 = |p| {
        member(&run, p)
            .latency_ns
            .as_ref()
            .unwrap()
            .value_at_percentile(50.0)
            .unwrap()
    };
    let skew = p50(1) - p50(0);
    assert!(
        (100_000..=200_000).contains(&skew),
        "median path skew {skew} ns"
    );
}

#[test]
fn a_rogue_frame_is_counted_and_resets_nothing() {
    let _cpus = cpus();
    let s = schedule(FrerParams::default(), false);
    let cfg = config(2_000, ["", ""]);
    let (run, recs) = run_tapped(&s, &cfg, Some((1, 700)));
    let sent = ctl(&run).frames_sent;
    assert_eq!(sent, 2_000);
    assert_once_in_order(&run, 0);
    let rec = stream_recovery(&run);
    assert_eq!((rec.rogue, rec.resets), (1, 0), "{rec:?}");
    assert_eq!((rec.passed, rec.discarded, rec.lost), (sent, sent, 0));
    let m1 = member_recovery(&run, 1);
    assert_eq!((m1.rogue, m1.resets), (1, 0), "{m1:?}");
    assert_eq!(recs[1].len(), 2_000, "the forged frame is not a delivery");
}

#[test]
fn history_length_decides_whether_a_late_copy_is_rogue_or_a_duplicate() {
    let _cpus = cpus();
    // Link 1 is 6.5 ms (six and a half frames) behind link 0.
    let cfg = config(1_500, ["", "delay=6500us"]);
    let short = FrerParams {
        history_length: 4,
        ..FrerParams::default()
    };
    let (run, _) = run_tapped(&schedule(short, false), &cfg, None);
    let sent = ctl(&run).frames_sent;
    assert_once_in_order(&run, 0);
    let rec = stream_recovery(&run);
    println!("history 4: {rec:?}");
    // Link 1's copy of n comes after link 0's n + 6: outside a history of 4
    // (but for the last few, which link 0 has not overtaken).
    assert_eq!(rec.passed, sent, "{rec:?}");
    assert_eq!(rec.rogue + rec.discarded, sent, "{rec:?}");
    assert!(rec.rogue >= sent - 8, "{rec:?}");

    let long = FrerParams {
        history_length: 64,
        ..FrerParams::default()
    };
    let (run, _) = run_tapped(&schedule(long, false), &cfg, None);
    let sent = ctl(&run).frames_sent;
    assert_once_in_order(&run, 0);
    let rec = stream_recovery(&run);
    println!("history 64: {rec:?}");
    assert_eq!(
        (rec.passed, rec.discarded, rec.rogue),
        (sent, sent, 0),
        "{rec:?}"
    );
}

#[test]
fn reset_timeout_decides_when_numbers_after_a_silence_pass() {
    let _cpus = cpus();
    // Both links down together for 1 s: nothing reaches the listener.
    let cfg = config(4_000, ["down=1s+1s", "down=1s+1s"]);
    let with = |reset_ms: u64| {
        let p = FrerParams {
            reset_timeout_ns: reset_ms * 1_000_000,
            ..FrerParams::default()
        };
        run_tapped(&schedule(p, false), &cfg, None)
    };
    // Shorter than the silence: the recovery resets during it and takes
    // the first number after it.
    let (run, recs) = with(300);
    let sent = ctl(&run).frames_sent;
    let m0 = missing(&recs[0], sent);
    assert_eq!(m0.len(), 1_000);
    assert_eq!(m0, missing(&recs[1], sent));
    assert_once_in_order(&run, 1_000);
    let rec = stream_recovery(&run);
    println!("reset timeout 300 ms: {rec:?}");
    assert_eq!((rec.resets, rec.rogue), (1, 0), "{rec:?}");

    // Longer: the numbers after the silence are too far ahead of the
    // history: both copies of each are rogue until the timer runs out, 2 s
    // after the last pass (~1 s of frames lost to the application), then
    // the recovery resets and takes the next.
    let (run, _) = with(2_000);
    let st = ctl(&run);
    let rec = stream_recovery(&run);
    println!("reset timeout 2 s: {rec:?}");
    assert_eq!(rec.resets, 1, "{rec:?}");
    assert!((1_800..=2_200).contains(&rec.rogue), "{rec:?}");
    assert_eq!(rec.passed, st.frames_received);
    let lost = sent - 1_000 - st.frames_received;
    assert!(lost.abs_diff(rec.rogue / 2) <= 1, "{lost} lost: {rec:?}");
    assert_eq!((st.duplicates, st.reordered), (0, 0));
}

#[test]
fn replication_and_elimination_allocate_nothing_on_either_data_path() {
    let _cpus = cpus();
    // A replicated stream and a second one on port 1 alone, 6,000 frames a
    // second, lossy links: every path of Ports runs.
    let s = schedule(FrerParams::default(), true);
    let cfg = config(2_000, ["loss=2%,seed=3", "loss=2%,delay=20us,seed=4"]);
    let (p, q) = (Progress::default(), Progress::default());
    let run = loopback::run(&s, &cfg, (&p, &q)).unwrap();
    assert_eq!(
        run.stats.data_path_allocations,
        Some(0),
        "heap operations on the talker's and listener's threads"
    );
    let st = ctl(&run);
    assert_eq!(st.frames_sent, 2_000);
    let rec = stream_recovery(&run);
    assert!(rec.discarded > 1_800 && rec.passed > 1_990, "{rec:?}");
    let bulk = &run.stats.streams[1];
    assert_eq!(bulk.frames_sent, 10_000);
    assert!(bulk.frames_received > 9_500, "{bulk:?}");
}
