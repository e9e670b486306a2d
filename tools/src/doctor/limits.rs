//! What the process may do: lock its memory (RLIMIT_MEMLOCK, or
//! CAP_IPC_LOCK) and the capabilities a run on the device needs.

use super::check::{Check, Status};
use super::host::Host;
use takt_drivers::DeviceSpec;

/// Linux capability numbers (linux/capability.h).
pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;
pub const CAP_IPC_LOCK: u32 = 14;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_NICE: u32 = 23;
pub const CAP_BPF: u32 = 39;

pub fn cap_name(cap: u32) -> &'static str {
    match cap {
        CAP_NET_ADMIN => "CAP_NET_ADMIN",
        CAP_NET_RAW => "CAP_NET_RAW",
        CAP_IPC_LOCK => "CAP_IPC_LOCK",
        CAP_SYS_ADMIN => "CAP_SYS_ADMIN",
        CAP_SYS_NICE => "CAP_SYS_NICE",
        CAP_BPF => "CAP_BPF",
        _ => "CAP_?",
    }
}

/// The effective capability set (`CapEff:` of /proc/self/status).
pub fn effective_caps(host: &Host) -> Option<u64> {
    let status = host.read("/proc/self/status")?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

fn has(caps: u64, cap: u32) -> bool {
    caps & (1u64 << cap) != 0
}

/// What a run locks with `mlockall` (bytes): the program itself (code,
/// libraries, stacks, allocator slack: tools/tests/memory_estimate.rs
/// measures under 48 MiB) plus the schedule's start-up allocations plus
/// the device's rings and pool.
pub const PROGRAM_BYTES: u64 = 48 << 20;
/// packet: 64 x 64 KiB RX blocks, 512 x 2 KiB TX slots, 1024 x 2000-byte
/// pool (docs/backends.md); xdp:'s UMEM is of the same order.
pub const DEVICE_BYTES: u64 = 8 << 20;

pub fn memlock(limit: Option<(u64, u64)>, caps: Option<u64>, schedule_bytes: Option<u64>) -> Check {
    const ID: &str = "memlock";
    const TITLE: &str = "Locked memory limit";
    let need = PROGRAM_BYTES + DEVICE_BYTES + schedule_bytes.unwrap_or(0);
    let need_text = format!(
        "a run locks about {} MiB{}",
        need >> 20,
        if schedule_bytes.is_some() {
            " with this schedule"
        } else {
            " (--schedule FILE counts its streams too)"
        }
    );
    if caps.is_some_and(|c| has(c, CAP_IPC_LOCK)) {
        return Check::pass(
            ID,
            TITLE,
            format!("CAP_IPC_LOCK: no limit applies; {need_text}"),
        );
    }
    let Some((soft, hard)) = limit else {
        return Check::info(ID, TITLE, "unknown (getrlimit failed)");
    };
    let show = |v: u64| {
        if v == u64::MAX {
            "unlimited".to_string()
        } else {
            format!("{} MiB", v >> 20)
        }
    };
    let found = format!(
        "RLIMIT_MEMLOCK {} (hard {}); {need_text}",
        show(soft),
        show(hard)
    );
    if soft >= need {
        return Check::pass(ID, TITLE, found);
    }
    Check::warn(
        ID,
        TITLE,
        found,
        "ulimit -l unlimited before the run (hard limit: a line `USER - memlock \
         unlimited` in /etc/security/limits.conf), or run as root / with CAP_IPC_LOCK; \
         without it --priority fails at mlockall (--no-mlock runs unlocked)",
    )
}

/// The capabilities a run on `device` needs, each with what for.
pub fn needed(device: Option<&DeviceSpec>) -> Vec<(u32, &'static str)> {
    let mut v = vec![
        (CAP_SYS_NICE, "--priority, SCHED_FIFO"),
        (CAP_IPC_LOCK, "locking memory beyond RLIMIT_MEMLOCK"),
    ];
    match device {
        Some(DeviceSpec::Packet { .. }) | None => {
            v.push((CAP_NET_RAW, "the AF_PACKET socket"));
            v.push((CAP_NET_ADMIN, "qdiscs, --prefer-busy-poll"));
        }
        Some(DeviceSpec::Xdp { .. }) => {
            v.push((CAP_NET_RAW, "the AF_XDP socket"));
            v.push((CAP_NET_ADMIN, "attaching the XDP program"));
            v.push((CAP_BPF, "loading the XDP program"));
        }
        // vfio: needs /dev/vfio/GROUP (file permissions) and pins its DMA
        // memory, which CAP_IPC_LOCK (above) covers.
        Some(DeviceSpec::Vfio { .. }) | Some(DeviceSpec::Sim) => {}
    }
    v
}

pub fn capabilities(caps: Option<u64>, device: Option<&DeviceSpec>) -> Check {
    const ID: &str = "capabilities";
    const TITLE: &str = "Capabilities";
    let Some(caps) = caps else {
        return Check::info(ID, TITLE, "unknown (no CapEff in /proc/self/status)");
    };
    let for_what = match device {
        Some(d) => format!("for {d}"),
        None => "for packet: (--device SPEC checks another backend)".into(),
    };
    let want = needed(device);
    let missing: Vec<&(u32, &str)> = want.iter().filter(|(c, _)| !has(caps, *c)).collect();
    if missing.is_empty() {
        let names: Vec<&str> = want.iter().map(|(c, _)| cap_name(*c)).collect();
        return Check::pass(ID, TITLE, format!("{} {for_what}", names.join(", ")));
    }
    // Without the device's own capability the run cannot open it.
    let device_cap_missing = missing
        .iter()
        .any(|(c, _)| ![CAP_SYS_NICE, CAP_IPC_LOCK].contains(c));
    let status = if device_cap_missing && device.is_some() {
        Status::Fail
    } else {
        Status::Warn
    };
    let list: Vec<String> = missing
        .iter()
        .map(|(c, what)| format!("{} ({what})", cap_name(*c)))
        .collect();
    let setcap: Vec<String> = missing
        .iter()
        .map(|(c, _)| cap_name(*c).trim_start_matches("CAP_").to_lowercase())
        .map(|n| format!("cap_{n}"))
        .collect();
    Check::new(
        ID,
        TITLE,
        status,
        format!("missing {} {for_what}", list.join(", ")),
    )
    .with_fix(format!(
        "run as root, or: setcap {}+ep $(command -v takt-talker) $(command -v takt-listener)",
        setcap.join(",")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::host::fake::FakeHost;

    #[test]
    fn capeff_is_read_from_proc_status() {
        let f = FakeHost::new(&[(
            "proc/self/status",
            "Name:\ttakt\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n",
        )]);
        let caps = effective_caps(&f.host).unwrap();
        assert_eq!(caps, 0x1fffeffffff);
        assert_eq!(capabilities(Some(caps), None).status, Status::Pass);
        assert_eq!(FakeHost::new(&[]).host.read("proc/self/status"), None);
    }

    #[test]
    fn a_device_without_its_capability_fails_a_missing_priority_warns() {
        let xdp: DeviceSpec = "xdp:eth0".parse().unwrap();
        let only_raw = 1u64 << CAP_NET_RAW | 1 << CAP_NET_ADMIN;
        let c = capabilities(Some(only_raw), Some(&xdp));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.found.contains("CAP_BPF (loading the XDP program)"),
            "{}",
            c.found
        );
        assert!(c
            .fix
            .unwrap()
            .contains("setcap cap_sys_nice,cap_ipc_lock,cap_bpf+ep"));
        let packet: DeviceSpec = "packet:eth0".parse().unwrap();
        let c = capabilities(Some(only_raw), Some(&packet));
        assert_eq!(
            c.status,
            Status::Warn,
            "packet: opens; --priority would not"
        );
    }

    #[test]
    fn memlock_passes_with_cap_ipc_lock_or_enough_limit() {
        let mib = 1u64 << 20;
        assert_eq!(
            memlock(Some((8 * mib, 8 * mib)), Some(1 << CAP_IPC_LOCK), None).status,
            Status::Pass
        );
        let c = memlock(Some((8 * mib, 8 * mib)), Some(0), None);
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.found.starts_with("RLIMIT_MEMLOCK 8 MiB (hard 8 MiB)"),
            "{}",
            c.found
        );
        assert!(c.fix.unwrap().starts_with("ulimit -l unlimited"));
        assert_eq!(
            memlock(Some((u64::MAX, u64::MAX)), Some(0), None).status,
            Status::Pass
        );
        // The schedule's share counts.
        assert_eq!(
            memlock(Some((100 * mib, u64::MAX)), Some(0), Some(10 * mib)).status,
            Status::Pass
        );
        assert_eq!(
            memlock(Some((100 * mib, u64::MAX)), Some(0), Some(50 * mib)).status,
            Status::Warn
        );
    }
}
