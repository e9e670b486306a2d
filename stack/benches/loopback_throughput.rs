//! Frames per second through takt's per-frame software path, on one thread:
//! talker encode -> sim port a tx ring -> simulated wire -> sim port b rx
//! ring -> listener decode. No sleeping and no second thread: the figure is
//! the CPU cost of a frame, not the modelled wire.
//!
//! Per frame, as `talker.rs` and `listener.rs` do it: take a pool buffer,
//! `wire::encode` a whole stream frame (802.1Q tag, fresh sequence number,
//! launch and tx time, padding pattern), record the tx error, queue it;
//! `tx_burst` every `batch` frames; `rx_burst`; `StreamFrame::new_checked`,
//! `padding_ok`, `SeqTracker::record`, record the latency, free the buffer.
//!
//! The sim runs on a `VirtualClock` that the loop sets past the last
//! arrival of each batch, so every frame is receivable at once; launch
//! times are spaced at 1 Gbps line rate and never in the past, so each
//! frame's tx error is 0 and its latency exactly its serialization plus
//! propagation time. The run checks both at the end, and that no frame was
//! lost, duplicated or corrupted.
//!
//! `cargo bench -p takt-stack --bench loopback_throughput` measures (cargo
//! passes `--bench`). Flags after `--`: `--secs S` (default 2) and
//! `--reps N` (default 5) set the length of each timed run and how many
//! there are; `--only 64x1` (repeatable) picks rows by frame size and
//! batch; `--wire-capacity N` sets buffers per port and frames per lane
//! (default 4096, as `takt loopback`); `--no-pin` leaves the thread
//! unpinned (default: pinned to the last allowed CPU). Without `--bench`
//! (`cargo test --all-targets`) it runs each configuration for 10 000
//! frames and checks them, as a smoke test. `--stages` adds the stage
//! stamps' work (docs/reports.md, "Where the time goes") as the talker and
//! listener do it: a clock read for W and one per received batch for A, a
//! transmit stamp asked for every frame and filed in the in-flight table,
//! the stamps collected after each burst, and the wake_error, driver,
//! pickup and end_to_end metrics recorded; run it with and without to see
//! what the stages cost.

use std::hint::black_box;
use std::time::{Duration, Instant};
use takt_drivers::sim::{self, SimClock, SimConfig, SimPort, VirtualClock};
use takt_drivers::{RingDevice, RxBatch, TxBatch, TxFrame, TxStampBatch};
use takt_scheduler::{rt, ClockId};
use takt_stack::seq::{Arrival, SeqTracker};
use takt_stack::stages::{InFlight, StampTable};
use takt_stack::stats::Metric;
use takt_stack::wire::{self, StreamFrame, StreamFrameFields, Vlan, FCS_LEN};

/// Link speed the wire is modelled at (it only sets the timestamps).
const SPEED_BPS: u64 = 1_000_000_000;
const PROPAGATION_NS: u64 = 500;
/// Preamble + SFD and inter-frame gap: wire bytes outside the frame.
const PREAMBLE_IFG_BYTES: u64 = 8 + 12;

/// (buffer length = frame without FCS, batch).
const CONFIGS: [(usize, usize); 4] = [(60, 1), (60, 32), (1518, 1), (1518, 32)];

/// Frames in flight per direction and buffers per port in `takt loopback`
/// (stack/src/loopback.rs); `--wire-capacity` changes both.
const LOOPBACK_CAPACITY: usize = 4096;

/// The same sim set-up as `takt loopback`, on a virtual clock.
fn sim_config(clock: &VirtualClock, capacity: usize) -> SimConfig {
    SimConfig {
        speed_bps: SPEED_BPS,
        propagation_ns: PROPAGATION_NS,
        clock: SimClock::Virtual(clock.clone()),
        pool_size: capacity,
        buf_size: 2048,
        wire_capacity: capacity,
        ..SimConfig::default()
    }
}

/// One stream through one pair of sim ports, with the listener's state.
struct Loop {
    a: SimPort,
    b: SimPort,
    clock: VirtualClock,
    fields: StreamFrameFields,
    len: usize,
    batch: usize,
    /// Launch spacing: the frame, preamble and IFG at line rate.
    period_ns: u64,
    /// Last bit out of the talker's port to last bit in at the listener's:
    /// the latency every frame must show.
    flight_ns: u64,
    next_seq: u64,
    next_launch_ns: u64,
    tx: TxBatch,
    rx: RxBatch,
    tracker: SeqTracker,
    tx_error: Metric,
    latency: Metric,
    bad_frames: u64,
    bad_padding: u64,
    stages: Option<Stages>,
}

/// The stage stamps' state (`--stages`).
struct Stages {
    table: StampTable,
    stamps: TxStampBatch,
    wake_error: Metric,
    driver: Metric,
    pickup: Metric,
    end_to_end: Metric,
}

impl Loop {
    fn new(len: usize, batch: usize, capacity: usize, stages: bool) -> Self {
        let clock = VirtualClock::new(1_000_000_000);
        let cfg = sim_config(&clock, capacity);
        let flight_ns = cfg.serialization_ns(len) + cfg.propagation_ns;
        let wire_bytes = (len + FCS_LEN) as u64 + PREAMBLE_IFG_BYTES;
        let period_ns = (wire_bytes * 8 * 1_000_000_000).div_ceil(SPEED_BPS);
        let (a, b, _link) = sim::pair(cfg);
        let fields = StreamFrameFields {
            dst: [0x91, 0xe0, 0xf0, 0x00, 0xfe, 0x01],
            src: a.info().mac,
            vlan: Some(Vlan {
                pcp: 7,
                dei: false,
                vid: 100,
            }),
            stream_id: 0,
            sequence: 0,
            launch_ns: 0,
            tx_ns: 0,
            tx_hw_timestamp: false,
            epoch: 1,
        };
        Loop {
            a,
            b,
            next_launch_ns: clock.now(),
            clock,
            fields,
            len,
            batch,
            period_ns,
            flight_ns,
            next_seq: 0,
            tx: TxBatch::new(),
            rx: RxBatch::new(),
            tracker: SeqTracker::new(),
            tx_error: Metric::new(),
            latency: Metric::new(),
            bad_frames: 0,
            bad_padding: 0,
            stages: stages.then(|| Stages {
                table: StampTable::new(capacity),
                stamps: TxStampBatch::new(),
                wake_error: Metric::new(),
                driver: Metric::new(),
                pickup: Metric::new(),
                end_to_end: Metric::new(),
            }),
        }
    }

    /// One batch from the talker's side through to the listener's.
    #[inline(never)]
    fn round(&mut self) {
        // Queue ahead, as on a launch-time NIC: never in the past.
        let mut launch = self.next_launch_ns.max(self.clock.now());
        for _ in 0..self.batch {
            let buf = self.a.alloc().expect("tx pool never runs dry here");
            let wake_ns = self.clock.now();
            let tx_ns = self.clock.now().max(launch);
            let fields = StreamFrameFields {
                sequence: self.next_seq,
                launch_ns: launch,
                tx_ns,
                ..self.fields
            };
            if wire::encode(self.a.buf_mut(&buf), &fields, self.len).is_err() {
                panic!("encode refused a valid {}-byte frame", self.len);
            }
            self.tx_error.record(tx_ns as i64 - launch as i64);
            let stamp_tag = self.stages.as_mut().map(|g| {
                g.wake_error.record(wake_ns as i64 - launch as i64);
                let tag = g.table.next_tag();
                let _ = g.table.insert(InFlight {
                    tag,
                    stream: 0,
                    seq: self.next_seq,
                    scheduled_ns: launch,
                    wake_ns,
                    hand_over_ns: tx_ns,
                });
                tag
            });
            let frame = TxFrame {
                buf,
                len: self.len,
                launch_time_ns: Some(launch),
                stamp_tag,
            };
            if self.tx.push_back(frame).is_err() {
                panic!("batch {} exceeds the TxBatch capacity", self.batch);
            }
            self.next_seq += 1;
            launch += self.period_ns;
        }
        let sent = self.a.tx_burst(&mut self.tx);
        assert_eq!(sent, self.batch, "the wire holds a whole batch");
        if let Some(g) = &mut self.stages {
            self.a.tx_stamps(&mut g.stamps);
            while let Some(s) = g.stamps.pop_front() {
                if let Some(f) = g.table.take(s.tag) {
                    g.driver.record(s.time_ns as i64 - f.hand_over_ns as i64);
                }
            }
        }
        // The last frame's last bit is in.
        let last_launch = launch - self.period_ns;
        self.clock.set(last_launch + self.flight_ns);
        self.next_launch_ns = launch;

        self.b.rx_burst(&mut self.rx);
        let app_ns = self.clock.now();
        while let Some(f) = self.rx.pop_front() {
            self.on_frame(f.len, &f.buf, f.rx_time_ns, app_ns);
            self.b.free(f.buf);
        }
    }

    /// The listener's per-frame work (`Listener::on_frame`).
    #[inline(always)]
    fn on_frame(&mut self, len: usize, buf: &takt_drivers::BufId, rx_ns: u64, app_ns: u64) {
        let Ok(frame) = StreamFrame::new_checked(&self.b.buf(buf)[..len]) else {
            self.bad_frames += 1;
            return;
        };
        if !frame.padding_ok() {
            self.bad_padding += 1;
        }
        if self.tracker.record(frame.sequence()) != Arrival::Duplicate {
            self.latency
                .record((rx_ns as i64).saturating_sub(frame.tx_ns() as i64));
            if let Some(g) = &mut self.stages {
                g.pickup.record(app_ns as i64 - rx_ns as i64);
                g.end_to_end
                    .record(app_ns as i64 - frame.launch_ns() as i64);
            }
        }
    }

    /// Run `rounds` batches; the wall time they took.
    fn timed(&mut self, rounds: u64) -> Duration {
        let t0 = Instant::now();
        for _ in 0..rounds {
            self.round();
        }
        black_box(&self.tracker);
        t0.elapsed()
    }

    /// Everything sent arrived intact, once, in order, with tx error 0 and
    /// the modelled latency. Panics otherwise: the figures would be of a
    /// different path.
    fn check(&self) {
        let t = &self.tracker;
        let n = self.next_seq;
        assert_eq!(
            (self.bad_frames, self.bad_padding),
            (0, 0),
            "corrupted frames"
        );
        assert_eq!(
            (t.unique, t.lost, t.duplicates, t.reordered),
            (n, 0, 0, 0),
            "sequence accounting"
        );
        assert_eq!(self.latency.count(), n);
        let flight = Some(self.flight_ns as i64);
        assert_eq!(
            (self.latency.min(), self.latency.max()),
            (flight, flight),
            "latency is serialization + propagation"
        );
        assert_eq!(
            (self.tx_error.min(), self.tx_error.max()),
            (Some(0), Some(0))
        );
        assert_eq!((self.a.outstanding(), self.b.outstanding()), (0, 0));
        if let Some(g) = &self.stages {
            assert_eq!(g.driver.count(), n, "a transmit stamp for every frame");
            assert_eq!(g.end_to_end.count(), n);
        }
    }
}

struct Opts {
    bench: bool,
    secs: f64,
    reps: usize,
    pin: bool,
    capacity: usize,
    /// Rows to run, as "FRAMExBATCH" (e.g. "64x1"); empty = all.
    only: Vec<String>,
    /// With the stage stamps' work.
    stages: bool,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        bench: false,
        secs: 2.0,
        reps: 5,
        pin: true,
        capacity: LOOPBACK_CAPACITY,
        only: Vec::new(),
        stages: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => o.bench = true,
            "--no-pin" => o.pin = false,
            "--stages" => o.stages = true,
            "--secs" => o.secs = args.next().and_then(|v| v.parse().ok()).unwrap_or(o.secs),
            "--reps" => o.reps = args.next().and_then(|v| v.parse().ok()).unwrap_or(o.reps),
            "--wire-capacity" => {
                o.capacity = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(o.capacity)
                    .max(CONFIGS.iter().map(|c| c.1).max().unwrap_or(1))
            }
            "--only" => o.only.extend(args.next()),
            // libtest flags cargo may pass (--nocapture, filters): ignored.
            _ => {}
        }
    }
    o.reps = o.reps.max(1);
    o
}

fn first_line_with(path: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

fn kernel() -> String {
    std::process::Command::new("uname")
        .arg("-srvm")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// ns per `clock_gettime(CLOCK_TAI)`: what the real-clock talker pays per
/// `now_ns()` on top of the figures above (median of `reps`).
fn clock_read_ns(reps: usize, calls: u64) -> f64 {
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            let mut acc = 0u64;
            for _ in 0..calls {
                acc = acc.wrapping_add(black_box(ClockId::Tai).now_ns());
            }
            black_box(acc);
            t0.elapsed().as_nanos() as f64 / calls as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// (steal, total) clock ticks of one CPU (`None`: all) from /proc/stat:
/// how much of the time the hypervisor ran something else on it.
fn cpu_ticks(cpu: Option<usize>) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let name = cpu.map_or("cpu".to_string(), |c| format!("cpu{c}"));
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    // user nice system idle iowait irq softirq steal (guest time is in user).
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|f| f.parse().ok())
        .collect();
    (v.len() == 8).then(|| (v[7], v.iter().sum()))
}

/// Time this thread has spent on a CPU, ns (/proc/thread-self/schedstat):
/// compared with the wall time, how long other tasks of this guest had the
/// CPU during a timed run.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

struct Row {
    len: usize,
    batch: usize,
    /// Mpps of each timed run, sorted.
    mpps: Vec<f64>,
    frames_per_run: u64,
    /// Share of the timed runs' CPU time the hypervisor stole, if known.
    steal_pct: Option<f64>,
    /// Share of the timed runs' wall time this thread was on a CPU.
    on_cpu_pct: Option<f64>,
}

fn measure(len: usize, batch: usize, o: &Opts, cpu: Option<usize>) -> Row {
    let mut l = Loop::new(len, batch, o.capacity, o.stages);
    // Warm up (caches, branch predictors, page faults of the lanes and
    // pools) and calibrate: double the rounds until a quarter of `--secs`
    // (at most 0.5 s) has passed.
    let warm = Duration::from_secs_f64((o.secs / 4.0).min(0.5));
    let mut rounds = 64u64;
    let (mut done, mut spent) = (0u64, Duration::ZERO);
    while spent < warm {
        spent += l.timed(rounds);
        done += rounds;
        rounds *= 2;
    }
    let rounds_per_sec = done as f64 / spent.as_secs_f64();
    let rounds = ((rounds_per_sec * o.secs) as u64).max(1);
    let ticks0 = cpu_ticks(cpu);
    let oncpu0 = thread_cpu_ns();
    let mut wall = Duration::ZERO;
    let mut mpps: Vec<f64> = (0..o.reps)
        .map(|_| {
            let d = l.timed(rounds);
            wall += d;
            (rounds * batch as u64) as f64 / d.as_secs_f64() / 1e6
        })
        .collect();
    let on_cpu_pct = match (oncpu0, thread_cpu_ns()) {
        (Some(c0), Some(c1)) if !wall.is_zero() => {
            Some((c1.saturating_sub(c0) as f64 * 100.0 / wall.as_nanos() as f64).min(100.0))
        }
        _ => None,
    };
    let steal_pct = match (ticks0, cpu_ticks(cpu)) {
        (Some((s0, t0)), Some((s1, t1))) if t1 > t0 => {
            Some((s1 - s0) as f64 * 100.0 / (t1 - t0) as f64)
        }
        _ => None,
    };
    l.check();
    mpps.sort_by(f64::total_cmp);
    Row {
        len,
        batch,
        mpps,
        frames_per_run: rounds * batch as u64,
        steal_pct,
        on_cpu_pct,
    }
}

fn smoke_test() {
    for (len, batch) in CONFIGS {
        let mut l = Loop::new(len, batch, LOOPBACK_CAPACITY, true);
        l.timed((10_000 / batch) as u64);
        l.check();
    }
    println!(
        "loopback_throughput: smoke test passed ({} configurations); \
         `cargo bench -p takt-stack --bench loopback_throughput` measures",
        CONFIGS.len()
    );
}

fn main() {
    let o = parse_args();
    if !o.bench {
        smoke_test();
        return;
    }
    let ncpu = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = if o.pin {
        rt::allowed_cpus()
            .last()
            .copied()
            .filter(|&c| rt::pin_to_cpu(c).is_ok())
    } else {
        None
    };
    println!("takt loopback_throughput: talker encode -> sim ring -> listener decode, one thread");
    println!(
        "machine: {} CPUs, {}",
        ncpu,
        first_line_with("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown CPU".into())
    );
    println!("kernel:  {}", kernel());
    println!(
        "thread:  {}; {} timed runs of ~{} s per row after a warm-up",
        cpu.map_or("not pinned".to_string(), |c| format!("pinned to CPU {c}")),
        o.reps,
        o.secs,
    );
    println!(
        "sim:     1 Gbps, {} ns propagation, virtual clock, {} buffers per port and frames per lane{}",
        PROPAGATION_NS,
        o.capacity,
        if o.capacity == LOOPBACK_CAPACITY {
            " (as takt loopback)"
        } else {
            ""
        }
    );
    println!();
    println!(
        "{:>6} {:>6} {:>6} {:>13} {:>17} {:>9} {:>12} {:>11} {:>7} {:>6}",
        "frame",
        "buffer",
        "batch",
        "Mpps median",
        "Mpps min..max",
        "ns/frame",
        "Gbit/s wire",
        "frames/run",
        "on CPU",
        "steal"
    );
    for (len, batch) in CONFIGS {
        let name = format!("{}x{}", len + FCS_LEN, batch);
        if !o.only.is_empty() && !o.only.contains(&name) {
            continue;
        }
        let r = measure(len, batch, &o, cpu);
        let med = r.mpps[r.mpps.len() / 2];
        let wire_bits = ((r.len + FCS_LEN) as u64 + PREAMBLE_IFG_BYTES) * 8;
        println!(
            "{:>6} {:>6} {:>6} {:>13.3} {:>17} {:>9.1} {:>12.1} {:>11} {:>7} {:>6}",
            r.len + FCS_LEN,
            r.len,
            r.batch,
            med,
            format!("{:.3}..{:.3}", r.mpps[0], r.mpps[r.mpps.len() - 1]),
            1e3 / med,
            med * wire_bits as f64 / 1e3,
            r.frames_per_run,
            r.on_cpu_pct.map_or("?".to_string(), |p| format!("{p:.1}%")),
            r.steal_pct.map_or("?".to_string(), |p| format!("{p:.1}%"))
        );
    }
    println!();
    println!(
        "reference: clock_gettime(CLOCK_TAI) = {:.1} ns per call (the real-clock talker reads it about twice per frame; not in the rows above)",
        clock_read_ns(o.reps, 2_000_000)
    );
    println!(
        "Gbit/s wire: link speed these frame rates would fill, counting preamble, FCS and IFG"
    );
    println!("on CPU: share of the timed runs' wall time this thread ran (the rest: other tasks had the CPU)");
    println!(
        "steal: share of the timed runs' time the hypervisor gave the {} to another guest (/proc/stat)",
        cpu.map_or("CPUs".to_string(), |c| format!("CPU {c}"))
    );
}
