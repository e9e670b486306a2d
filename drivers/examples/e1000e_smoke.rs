//! Smoke test of the VFIO e1000e driver on two real (or QEMU) 82574L NICs
//! joined by a wire or a hub, bound to vfio-pci. Run as root, in the QEMU
//! guest of latency-tests/vfio-guest/ (see docs/net-mdev.md):
//!
//! ```text
//! e1000e_smoke NIC_A NIC_B   # frames both ways, VLAN tag, multicast filter,
//!                            # a forged descriptor (IOMMU fault), drop + reopen
//! e1000e_smoke isolation NIC_A NIC_B
//!                            # descriptors forged at the IOVA of a secret in
//!                            # unmapped process memory: the IOMMU must refuse
//!                            # them and later frames must still go out
//! e1000e_smoke stamps NIC_A NIC_B
//!                            # frames asking for transmit stamps: each
//!                            # stamp comes back once, after its tx_burst
//! e1000e_smoke open BDF      # open once and print Ok or the error
//! e1000e_smoke hold BDF      # open and keep it open for 4 s
//! ```
//!
//! Prints one PASS/FAIL line per check and exits 1 when any failed. Needs
//! the `fault-injection` feature (for `forge_tx_descriptor`).

use std::process::ExitCode;
use std::time::{Duration, Instant};
use takt_drivers::e1000e::{E1000e, E1000eOptions};
use takt_drivers::{
    PciAddress, RingDevice, RxBatch, StampSource, TxBatch, TxFrame, TxStamp, TxStampBatch,
};

/// Ethernet frame: dst, src, EtherType 0x88b5, 4-byte sequence, a pattern.
fn frame(dst: [u8; 6], src: [u8; 6], seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f[18..].iter_mut().enumerate() {
        *b = (seq as usize + i) as u8;
    }
    f
}

fn send(dev: &mut E1000e, frames: &[Vec<u8>]) -> usize {
    let mut batch = TxBatch::new();
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    for f in frames {
        let Some(b) = dev.alloc() else { break };
        dev.buf_mut(&b)[..f.len()].copy_from_slice(f);
        let _ = batch.push_back(TxFrame {
            buf: b,
            len: f.len(),
            launch_time_ns: None,
            stamp_tag: None,
        });
        while batch.is_full() && Instant::now() < deadline {
            sent += dev.tx_burst(&mut batch);
        }
    }
    while !batch.is_empty() && Instant::now() < deadline {
        sent += dev.tx_burst(&mut batch);
    }
    while let Some(f) = batch.pop_front() {
        dev.free(f.buf);
    }
    sent
}

fn recv(dev: &mut E1000e, want: usize, wait: Duration) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut out = RxBatch::new();
    let deadline = Instant::now() + wait;
    while got.len() < want && Instant::now() < deadline {
        if dev.rx_burst(&mut out) == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        while let Some(f) = out.pop_front() {
            got.push(dev.buf(&f.buf)[..f.len].to_vec());
            dev.free(f.buf);
        }
    }
    got
}

/// TX buffers completed: poke reclaim with an empty burst.
fn settle(dev: &mut E1000e) {
    std::thread::sleep(Duration::from_millis(100));
    dev.tx_burst(&mut TxBatch::new());
}

struct Checks(u32);

impl Checks {
    fn check(&mut self, name: &str, ok: bool) {
        println!("{} {name}", if ok { "PASS" } else { "FAIL" });
        self.0 += u32::from(!ok);
    }
}

fn open(addr: PciAddress) -> Result<E1000e, String> {
    E1000e::open(addr, E1000eOptions::default()).map_err(|e| format!("open {addr}: {e}"))
}

fn run(a_addr: PciAddress, b_addr: PciAddress) -> Result<u32, String> {
    let mut c = Checks(0);
    let t = Instant::now();
    let mut a = open(a_addr)?;
    println!("opened A in {:?}: {:?}", t.elapsed(), a.info());
    let mut b = open(b_addr)?;
    println!("opened B: mac {:02x?} {:?}", b.info().mac, b.link_status());
    let (ma, mb) = (a.info().mac, b.info().mac);
    let stock = E1000eOptions::default().rx_ring as usize;

    let frames: Vec<Vec<u8>> = (0..300u32)
        .map(|s| {
            let dst = if s % 2 == 0 { [0xff; 6] } else { mb };
            frame(dst, ma, s, 60 + (s as usize * 97) % 1459)
        })
        .collect();
    let sent = send(&mut a, &frames);
    let got = recv(&mut b, frames.len(), Duration::from_secs(20));
    println!("A->B: sent {sent}, received {}", got.len());
    c.check(
        "A->B broadcast and unicast, 60..1518 bytes, intact and in order",
        got == frames,
    );
    settle(&mut a);
    c.check("A's TX buffers reclaimed", a.outstanding() == stock);

    let back: Vec<Vec<u8>> = (0..100u32).map(|s| frame(ma, mb, s, 200)).collect();
    send(&mut b, &back);
    let got = recv(&mut a, back.len(), Duration::from_secs(20));
    c.check("B->A unicast", got == back);

    let mut tagged = frame([0xff; 6], ma, 7, 128);
    tagged.copy_within(12..124, 16);
    tagged[12..16].copy_from_slice(&[0x81, 0x00, 0xe0, 0x64]); // PCP 7, VID 100
    send(&mut a, std::slice::from_ref(&tagged));
    let got = recv(&mut b, 1, Duration::from_secs(10));
    c.check(
        "802.1Q tag kept in the received frame",
        got.first() == Some(&tagged),
    );

    let m1 = [0x91, 0xe0, 0xf0, 0x00, 0xfe, 0x10];
    let m2 = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01];
    let mc = vec![frame(m1, ma, 1, 100), frame(m2, ma, 2, 100)];
    send(&mut a, &mc);
    let got = recv(&mut b, 2, Duration::from_secs(10));
    c.check(
        "multicast promiscuous (default): both multicast frames",
        got == mc,
    );
    b.set_multicast(&[m1]);
    send(&mut a, &mc);
    let got = recv(&mut b, 2, Duration::from_secs(3));
    c.check(
        "MTA filter: only the listed multicast address",
        got == mc[..1],
    );
    b.set_multicast_promiscuous(true);

    a.forge_tx_descriptor(0xdead_0000, 64)
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(200));
    let after: Vec<Vec<u8>> = (1000..1050u32).map(|s| frame(mb, ma, s, 300)).collect();
    send(&mut a, &after);
    let got = recv(&mut b, after.len(), Duration::from_secs(10));
    c.check(
        "after a descriptor at unmapped IOVA 0xdead0000 the device keeps working",
        got == after,
    );
    settle(&mut a);
    c.check("the forged slot is reclaimed", a.outstanding() == stock);
    println!("counters A {:?}", a.counters());
    println!("counters B {:?}", b.counters());

    drop(a);
    let mut a = open(a_addr)?;
    let again: Vec<Vec<u8>> = (0..20u32).map(|s| frame(mb, ma, s, 500)).collect();
    send(&mut a, &again);
    let got = recv(&mut b, again.len(), Duration::from_secs(10));
    c.check("closed and reopened A sends again", got == again);
    Ok(c.0)
}

/// What a userland bug or attacker might do: point a descriptor at its own
/// memory that was never DMA-mapped. The IOMMU must refuse the read (the
/// guest kernel logs a DMAR fault), the secret must not reach the wire,
/// and frames sent afterwards must arrive as usual.
fn isolation(a_addr: PciAddress, b_addr: PciAddress) -> Result<u32, String> {
    let mut c = Checks(0);
    let mut a = open(a_addr)?;
    let mut b = open(b_addr)?;
    let (ma, mb) = (a.info().mac, b.info().mac);
    let secret: Vec<u8> = b"TAKT-SECRET-PATTERN-"
        .iter()
        .copied()
        .cycle()
        .take(8192)
        .collect();
    let va = secret.as_ptr() as u64;
    // The secret's virtual address (above the vIOMMU's 39 bits on x86-64),
    // and the same address cut to 39 bits (inside the IOVA space, unmapped).
    let iovas = [va, va & ((1 << 39) - 1) & !0xfff];
    println!("ISOLATION secret at va {va:#x}, forging descriptors at {iovas:#x?}");
    let before: Vec<Vec<u8>> = (0..5u32).map(|s| frame(mb, ma, s, 200)).collect();
    send(&mut a, &before);
    c.check(
        "frames before the forgery arrive",
        recv(&mut b, 5, Duration::from_secs(10)) == before,
    );
    for iova in iovas {
        a.forge_tx_descriptor(iova, 1024)
            .map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_millis(200));
    }
    let after: Vec<Vec<u8>> = (5..25u32).map(|s| frame(mb, ma, s, 200)).collect();
    send(&mut a, &after);
    c.check(
        "frames after the forgery arrive",
        recv(&mut b, 20, Duration::from_secs(10)) == after,
    );
    std::hint::black_box(&secret);
    println!("counters A {:?}", a.counters());
    Ok(c.0)
}

/// Now on the device's clock (CLOCK_TAI for the e1000e), ns.
fn now_on(dev: &E1000e) -> u64 {
    let clock = dev.info().clock.unwrap_or(nix::time::ClockId::CLOCK_TAI);
    let t = nix::time::clock_gettime(clock).expect("clock_gettime");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// Transmit stamps (`StampSource::Completion`): 40 frames from A to B in
/// bursts of 4, the first of each burst asking for a stamp tagged with its
/// sequence. Every stamp must come back once (tx_stamps polls DD), no
/// other, each at or after the time taken before its tx_burst.
fn stamps(a_addr: PciAddress, b_addr: PciAddress) -> Result<u32, String> {
    let mut c = Checks(0);
    let mut a = open(a_addr)?;
    let mut b = open(b_addr)?;
    let (ma, mb) = (a.info().mac, b.info().mac);
    c.check(
        "tx stamps from completions, rx stamps from the receive poll",
        a.info().caps.tx_stamps == StampSource::Completion
            && a.info().caps.rx_stamps == StampSource::ReceivePoll,
    );
    let frames: Vec<Vec<u8>> = (0..40u32).map(|s| frame(mb, ma, s, 100)).collect();
    let mut before = Vec::new();
    let mut batch = TxBatch::new();
    for burst in frames.chunks(4) {
        for f in burst {
            let seq = u32::from_be_bytes([f[14], f[15], f[16], f[17]]);
            let buf = a.alloc().ok_or("A's pool is empty")?;
            a.buf_mut(&buf)[..f.len()].copy_from_slice(f);
            let _ = batch.push_back(TxFrame {
                buf,
                len: f.len(),
                launch_time_ns: None,
                stamp_tag: seq.is_multiple_of(4).then_some(seq),
            });
        }
        before.push(now_on(&a));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !batch.is_empty() && Instant::now() < deadline {
            a.tx_burst(&mut batch);
        }
    }
    let mut got: Vec<TxStamp> = Vec::new();
    let mut out = TxStampBatch::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 10 && Instant::now() < deadline {
        a.tx_stamps(&mut out);
        got.extend(out.iter().copied());
        out.clear();
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(100));
    a.tx_stamps(&mut out);
    got.extend(out.iter().copied());
    let mut tags: Vec<u32> = got.iter().map(|s| s.tag).collect();
    tags.sort_unstable();
    println!("STAMPS {} of 10: {tags:?}", got.len());
    c.check(
        "one stamp per stamped frame, none for the others",
        tags == (0..10).map(|i| i * 4).collect::<Vec<u32>>(),
    );
    let after_send = got
        .iter()
        .all(|s| s.time_ns >= before[(s.tag / 4) as usize]);
    for s in &got {
        println!(
            "STAMP tag {} {} ns after the time before its tx_burst",
            s.tag,
            s.time_ns as i64 - before[(s.tag / 4) as usize] as i64
        );
    }
    c.check(
        "each stamp at or after the time before its tx_burst",
        after_send && !got.is_empty(),
    );
    let received = recv(&mut b, frames.len(), Duration::from_secs(10));
    c.check("B received the 40 frames in order", received == frames);
    c.check("no stamp lost", a.counters().tx_stamps_lost == 0);
    println!("counters A {:?}", a.counters());
    Ok(c.0)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = |s: &str| -> Result<PciAddress, String> { s.parse() };
    let result = match args.as_slice() {
        [mode, bdf] if mode == "open" || mode == "hold" => addr(bdf).map(|a| {
            match open(a) {
                Ok(_dev) => {
                    println!("open {a}: ok");
                    if mode == "hold" {
                        std::thread::sleep(Duration::from_secs(4));
                    }
                }
                Err(e) => println!("{e}"),
            }
            0
        }),
        [mode, a, b] if mode == "isolation" => {
            addr(a).and_then(|a| addr(b).and_then(|b| isolation(a, b)))
        }
        [mode, a, b] if mode == "stamps" => {
            addr(a).and_then(|a| addr(b).and_then(|b| stamps(a, b)))
        }
        [a, b] => addr(a).and_then(|a| addr(b).and_then(|b| run(a, b))),
        _ => Err(
            "usage: e1000e_smoke NIC_A NIC_B | isolation NIC_A NIC_B | stamps NIC_A NIC_B | \
             open BDF | hold BDF"
                .into(),
        ),
    };
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(n) => {
            println!("{n} checks failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            println!("FAIL {e}");
            ExitCode::FAILURE
        }
    }
}
