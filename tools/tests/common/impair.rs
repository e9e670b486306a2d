//! A userland impairment relay: a thread that moves frames one way between
//! two `packet:` devices (takt's own driver) in the root namespace, holding
//! each for `delay` + uniform(0..`jitter`) and dropping each with
//! probability `loss` from a seeded PRNG.
//!
//! It stands in for netem, which this host's kernel does not have
//! (CONFIG_NET_SCH_NETEM is not set). With netem one would run, on the
//! talker's end of the path, e.g.
//! `tc qdisc add dev vA0 root netem delay 200us 100us loss 5%`.
//! Unlike netem with jitter the relay never reorders within a path (each
//! frame leaves no earlier than the one before it), so reordering comes
//! only from the two paths, as it would between two real links.
//!
//! It counts what it forwarded and dropped and records the 802.1CB R-TAG
//! sequence numbers of what it forwarded and dropped (the loss check).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use takt_drivers::{DeviceSpec, RingDevice, RxBatch, TxBatch, TxFrame};

/// How one path is impaired.
#[derive(Clone, Copy, Debug)]
pub struct Impair {
    pub delay: Duration,
    pub jitter: Duration,
    /// Probability of a drop, 0.0..=1.0.
    pub loss: f64,
    pub seed: u64,
}

impl Impair {
    pub fn delay(delay_us: u64, jitter_us: u64) -> Impair {
        Impair {
            delay: Duration::from_micros(delay_us),
            jitter: Duration::from_micros(jitter_us),
            loss: 0.0,
            seed: 1,
        }
    }
    pub fn loss(loss: f64, seed: u64) -> Impair {
        Impair {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss,
            seed,
        }
    }
}

/// What a relay did.
#[derive(Clone, Debug, Default)]
pub struct RelayReport {
    pub forwarded: u64,
    pub dropped: u64,
    /// R-TAG sequence numbers of the frames forwarded / dropped, in order.
    pub forwarded_seqs: Vec<u16>,
    pub dropped_seqs: Vec<u16>,
    /// Frames the out device had no room for (a test machine problem).
    pub tx_failed: u64,
}

/// A running relay; stops (and is joined) on drop.
pub struct Relay {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<RelayReport>>,
}

/// splitmix64: small, seeded, good enough for drop decisions and jitter.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The R-TAG sequence number of an 802.1Q-tagged frame carrying one
/// (EtherType 0xF1C1 right after the VLAN tag).
pub fn rtag_seq(f: &[u8]) -> Option<u16> {
    (f.len() >= 22 && f[12..14] == [0x81, 0x00] && f[16..18] == [0xf1, 0xc1])
        .then(|| u16::from_be_bytes([f[20], f[21]]))
}

fn now_ns(dev: &dyn RingDevice) -> u64 {
    let id = dev
        .info()
        .clock
        .unwrap_or(nix::time::ClockId::CLOCK_REALTIME);
    let t = nix::time::clock_gettime(id).expect("clock_gettime");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

impl Relay {
    /// Forward from `from` to `to` (interface names in the calling
    /// thread's namespace, both up) until dropped or stopped. Panics if
    /// either cannot be opened.
    pub fn start(from: &str, to: &str, imp: Impair) -> Relay {
        let stop = Arc::new(AtomicBool::new(false));
        let (from, to) = (from.to_string(), to.to_string());
        let flag = Arc::clone(&stop);
        // Opened here and handed over ready: a frame the talker sends
        // before the relay listens would be lost to the test, not the path.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name(format!("relay-{from}"))
            .spawn(move || {
                let open = |i: &str| {
                    let spec = DeviceSpec::Packet {
                        ifname: i.to_string(),
                    };
                    takt_drivers::spec::open(&spec)
                        .unwrap_or_else(|e| panic!("relay: open packet:{i}: {e}"))
                };
                let mut rx = open(&from);
                let mut tx = open(&to);
                let _ = ready_tx.send(());
                relay(&mut *rx, &mut *tx, imp, &flag)
            })
            .expect("start relay thread");
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("relay opened its devices");
        Relay {
            stop,
            handle: Some(handle),
        }
    }

    /// Stop it; what it did.
    pub fn stop(mut self) -> RelayReport {
        self.stop.store(true, Ordering::Relaxed);
        let h = self.handle.take().expect("joined once");
        h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn relay(
    rx: &mut dyn RingDevice,
    tx: &mut dyn RingDevice,
    imp: Impair,
    stop: &AtomicBool,
) -> RelayReport {
    let mut rng = Rng(imp.seed);
    let delay = imp.delay.as_nanos() as u64;
    let jitter = imp.jitter.as_nanos() as u64;
    let mut report = RelayReport::default();
    // (due, frame): FIFO, due never decreasing.
    let mut held: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
    let mut last_due = 0u64;
    let mut batch = RxBatch::new();
    while !stop.load(Ordering::Relaxed) {
        rx.rx_burst(&mut batch);
        while let Some(f) = batch.pop_front() {
            let bytes = rx.buf(&f.buf)[..f.len].to_vec();
            let arrived = f.rx_time_ns;
            rx.free(f.buf);
            let seq = rtag_seq(&bytes);
            if imp.loss > 0.0 && rng.unit() < imp.loss {
                report.dropped += 1;
                report.dropped_seqs.extend(seq);
                continue;
            }
            let extra = if jitter > 0 { rng.next() % jitter } else { 0 };
            let due = (arrived + delay + extra).max(last_due);
            last_due = due;
            held.push_back((due, bytes));
        }
        let now = now_ns(rx);
        let mut out = TxBatch::new();
        let mut seqs: Vec<Option<u16>> = Vec::new();
        while held.front().is_some_and(|(due, _)| *due <= now) && !out.is_full() {
            let (_, bytes) = held.pop_front().expect("a frame");
            let Some(buf) = tx.alloc() else {
                report.tx_failed += 1;
                continue;
            };
            tx.buf_mut(&buf)[..bytes.len()].copy_from_slice(&bytes);
            seqs.push(rtag_seq(&bytes));
            let _ = out.push_back(TxFrame {
                buf,
                len: bytes.len(),
                launch_time_ns: None,
                stamp_tag: None,
            });
        }
        if !out.is_empty() {
            tx.tx_burst(&mut out);
            // tx_burst takes from the front and leaves what found no room.
            let sent = seqs.len() - out.len();
            report.forwarded += sent as u64;
            report
                .forwarded_seqs
                .extend(seqs[..sent].iter().flatten().copied());
            while let Some(f) = out.pop_front() {
                report.tx_failed += 1;
                tx.free(f.buf);
            }
        }
        // Sleep until the next frame is due (or one arrives): the machine
        // has two cores shared with the talker and the listener.
        let wait = match held.front() {
            Some((due, _)) => due.saturating_sub(now_ns(rx)),
            None => 5_000_000,
        };
        if wait > 20_000 && !rx.wait_rx(wait - 10_000) {
            std::thread::sleep(Duration::from_nanos(wait - 10_000));
        }
    }
    report
}
