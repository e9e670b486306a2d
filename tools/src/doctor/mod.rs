//! `takt doctor`: one screen of checks of what a real-time TSN run needs
//! from this machine (CPU isolation, RT throttling, power management,
//! clocks, limits, capabilities, the kernel's qdiscs, ptp4l) and, with
//! `--device` / `--schedule`, from the interface (IRQ affinity,
//! coalescing, qdisc, launch time, AF_XDP, MTU). Each check says pass /
//! warn / fail / info, what it found, and the fix. docs/doctor.md
//! describes every check.
//!
//! Files: `check.rs` (a check's verdict), `host.rs` (where the machine is
//! read from: `/` or a fake tree in tests), `cpu.rs`, `power.rs`,
//! `clock.rs`, `limits.rs`, `qdisc.rs`, `ptp.rs`, `irq.rs`, `nic.rs` (the
//! checks), `genl.rs` (generic netlink for ethtool and netdev).

mod check;
mod clock;
mod cpu;
mod genl;
mod host;
mod irq;
mod limits;
mod nic;
mod power;
mod ptp;
mod qdisc;

pub use check::{Check, Status, Summary};

use host::Host;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use takt_drivers::DeviceSpec;
use takt_scheduler::config;

/// Nothing failed (warnings and infos allowed).
pub const EXIT_OK: u8 = 0;
/// At least one check failed.
pub const EXIT_FAILED: u8 = 1;
/// Bad flags, device spec, CPU or schedule file: nothing was checked.
pub const EXIT_BAD_INPUT: u8 = 2;

pub const AFTER_HELP: &str = "\
Checks, each PASS / WARN / FAIL / INFO with what was found and the fix:
  the real-time CPU (isolcpus, nohz_full, rcu_nocbs), RT throttling, CPU
  governor and idle states, clocksource, the kernel's TAI offset, locked
  memory limit, capabilities, taprio and ETF in the kernel, ptp4l; with
  --device packet:IF or xdp:IF also the NIC's IRQ affinity, interrupt
  coalescing, qdisc, launch time, AF_XDP features and MTU (against the
  largest frame of --schedule FILE).

--cpu N: the CPU you give takt-talker/takt-listener --cpu (default: the
first isolated CPU, else the highest-numbered one).

Exit status: 0 when no check failed (warnings allowed), 1 when one did,
2 for bad flags, a bad --device, --cpu or --schedule file.

Example:
  takt doctor --device packet:eth0 --schedule docs/examples/two-class-250us.toml --cpu 1
  takt doctor --json | jq '.checks[] | select(.status != \"pass\")'

docs/doctor.md describes every check, what it reads and why it matters.";

#[derive(clap::Args, Clone, Debug)]
pub struct DoctorArgs {
    /// The device a run would use: packet:IF, xdp:IF[@Q], vfio:ADDR, sim
    #[arg(long, value_name = "SPEC")]
    pub device: Option<String>,
    /// A schedule file: the MTU is checked against its largest frame and
    /// the locked memory against what its run allocates
    #[arg(long, value_name = "FILE")]
    pub schedule: Option<PathBuf>,
    /// The real-time CPU to judge (what you give takt-talker --cpu)
    #[arg(long, value_name = "N")]
    pub cpu: Option<usize>,
    /// ptp4l's management socket (its uds_address) to ask for port states
    #[arg(long, value_name = "PATH", default_value = ptp::PTP4L_SOCKET)]
    pub ptp4l_socket: PathBuf,
    /// Print the checks as JSON (docs/doctor.md)
    #[arg(long)]
    pub json: bool,
}

/// What the checks are about, once the flags are validated.
struct Target {
    cpu: cpu::RtCpu,
    device: Option<DeviceSpec>,
    schedule: Option<(PathBuf, config::Loaded)>,
    ptp4l_socket: PathBuf,
}

/// The flags turned into a target, or the message for exit 2.
fn target(host: &Host, args: &DoctorArgs) -> Result<Target, String> {
    let device = match &args.device {
        None => None,
        Some(s) => {
            let d: DeviceSpec = s.parse().map_err(|e| format!("--device {s}: {e}"))?;
            if let Some(ifname) = interface(&d) {
                if !host.exists(&format!("/sys/class/net/{ifname}")) {
                    return Err(format!(
                        "--device {s}: no interface {ifname} here (`ip link` lists them)"
                    ));
                }
            }
            Some(d)
        }
    };
    let schedule = match &args.schedule {
        None => None,
        Some(p) => Some((p.clone(), config::load_file(p).map_err(|e| e.to_string())?)),
    };
    Ok(Target {
        cpu: cpu::choose(host, args.cpu)?,
        device,
        schedule,
        ptp4l_socket: args.ptp4l_socket.clone(),
    })
}

/// The network interface of a device, if it has one.
fn interface(d: &DeviceSpec) -> Option<&str> {
    match d {
        DeviceSpec::Packet { ifname } | DeviceSpec::Xdp { ifname, .. } => Some(ifname),
        _ => None,
    }
}

/// Every check, in screen order.
fn run_checks(host: &Host, t: &Target) -> Vec<Check> {
    let cpu = t.cpu.cpu;
    let caps = limits::effective_caps(host);
    let schedule_bytes = t.schedule.as_ref().map(|(_, l)| {
        let f = takt_stack::footprint::Footprint::of(&l.schedule);
        f.talker_bytes.max(f.listener_bytes) + f.control_bytes
    });
    let memlock = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_MEMLOCK).ok();
    let ptp4l_bin = std::env::var("PATH")
        .ok()
        .and_then(|p| ptp::find_in_path(&p, "ptp4l"));
    let running = if ptp4l_bin.is_some() {
        ptp::ask(&t.ptp4l_socket)
    } else {
        ptp::Running::No
    };
    let mut checks = vec![
        cpu::isolation(host, cpu),
        cpu::rt_throttling(host),
        power::governor(host, cpu),
        power::idle(host, cpu),
        clock::clocksource(host),
        clock::tai_offset(clock::tai_offset_now()),
        limits::memlock(memlock, caps, schedule_bytes),
        limits::capabilities(caps, t.device.as_ref()),
        qdisc::kernel(host),
        ptp::ptp4l(ptp4l_bin.as_deref(), &t.ptp4l_socket, running),
    ];
    checks.extend(device_checks(host, t));
    checks
}

/// The checks of the interface (or what flag enables them).
fn device_checks(host: &Host, t: &Target) -> Vec<Check> {
    let largest = t
        .schedule
        .as_ref()
        .and_then(|(_, l)| l.schedule.streams().iter().map(|s| s.frame_size).max());
    let titles = [
        ("irq-affinity", "NIC IRQ affinity"),
        ("coalescing", "Interrupt coalescing"),
        ("qdisc", "Interface qdisc"),
        ("launch-time", "Launch time"),
        ("af-xdp", "AF_XDP"),
        ("mtu", "MTU"),
    ];
    let not_applicable = |why: String| -> Vec<Check> {
        titles
            .iter()
            .map(|(id, title)| Check::info(id, title, why.clone()))
            .collect()
    };
    let Some(device) = &t.device else {
        return not_applicable(
            "not checked: --device packet:IF or xdp:IF checks the interface".into(),
        );
    };
    let Some(ifname) = interface(device) else {
        return not_applicable(format!(
            "{device} has no network interface to check (packet:IF and xdp:IF have)"
        ));
    };
    let ifindex = takt_drivers::link::ifindex(ifname).map_err(|e| e.to_string());
    let qdiscs = ifindex
        .clone()
        .and_then(|i| takt_drivers::packet::etf::list_qdiscs(ifname, i).map_err(|e| e.to_string()));
    let netdev = ifindex.clone().and_then(nic::read_netdev);
    let mtu = takt_drivers::link::mtu(ifname).map_err(|e| e.to_string());
    vec![
        irq::affinity(host, ifname, t.cpu.cpu),
        nic::coalescing(ifname, nic::read_coalesce(ifname)),
        qdisc::interface(ifname, qdiscs.as_deref().map_err(Clone::clone)),
        nic::launch_time(device, ifname, &netdev, &qdiscs),
        nic::af_xdp(device, ifname, &netdev),
        nic::mtu(ifname, mtu, largest),
    ]
}

#[derive(Serialize)]
struct JsonReport<'a> {
    cpu: usize,
    cpu_chosen_by: &'a str,
    device: Option<String>,
    schedule: Option<String>,
    checks: &'a [Check],
    summary: Summary,
}

/// The text report: a header, one line per check (and its fix), a summary.
pub fn render_text(header: &str, checks: &[Check]) -> String {
    let mut s = format!("{header}\n");
    for c in checks {
        s.push_str(&format!("{}  {}: {}\n", c.status.word(), c.title, c.found));
        if let Some(fix) = &c.fix {
            s.push_str(&format!("      fix: {fix}\n"));
        }
    }
    let n = Summary::of(checks);
    s.push_str(&format!(
        "summary: {} pass, {} warn, {} fail, {} info\n",
        n.pass, n.warn, n.fail, n.info
    ));
    s
}

pub fn main(args: &DoctorArgs) -> ExitCode {
    let host = Host::real();
    let t = match target(&host, args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("takt doctor: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let checks = run_checks(&host, &t);
    let summary = Summary::of(&checks);
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        let report = JsonReport {
            cpu: t.cpu.cpu,
            cpu_chosen_by: &t.cpu.why,
            device: t.device.as_ref().map(ToString::to_string),
            schedule: t.schedule.as_ref().map(|(p, _)| p.display().to_string()),
            checks: &checks,
            summary,
        };
        serde_json::to_writer_pretty(&mut out, &report)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out))
    } else {
        let mut header = format!("takt doctor: CPU {} ({})", t.cpu.cpu, t.cpu.why);
        if let Some(d) = &t.device {
            header.push_str(&format!(", device {d}"));
        }
        if let Some((p, _)) = &t.schedule {
            header.push_str(&format!(", schedule {}", p.display()));
        }
        out.write_all(render_text(&header, &checks).as_bytes())
    };
    if written.is_err() {
        // The reader is gone (`| head`) or stdout is closed: nobody to tell.
        return ExitCode::from(EXIT_FAILED);
    }
    ExitCode::from(if summary.fail > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_one_line_per_check_and_an_indented_fix() {
        let checks = vec![
            Check::pass("a", "Alpha", "good"),
            Check::warn("b", "Beta", "meh", "do this"),
        ];
        let t = render_text("takt doctor: CPU 1", &checks);
        assert_eq!(
            t,
            "takt doctor: CPU 1\nPASS  Alpha: good\nWARN  Beta: meh\n      fix: do this\n\
             summary: 1 pass, 1 warn, 0 fail, 0 info\n"
        );
    }

    #[test]
    fn without_a_device_the_interface_checks_name_the_flag() {
        let f = host::fake::FakeHost::new(&[("sys/devices/system/cpu/online", "0-1\n")]);
        let t = Target {
            cpu: cpu::choose(&f.host, None).unwrap(),
            device: None,
            schedule: None,
            ptp4l_socket: ptp::PTP4L_SOCKET.into(),
        };
        let checks = device_checks(&f.host, &t);
        assert_eq!(checks.len(), 6);
        for c in &checks {
            assert_eq!(c.status, Status::Info);
            assert!(c.found.contains("--device packet:IF"), "{c:?}");
        }
        let t = Target {
            device: Some(DeviceSpec::Sim),
            ..t
        };
        assert!(device_checks(&f.host, &t)[0]
            .found
            .contains("sim has no network interface"));
    }

    #[test]
    fn a_missing_interface_or_cpu_is_bad_input() {
        let f = host::fake::FakeHost::new(&[("sys/devices/system/cpu/online", "0-1\n")]);
        let args = |device: Option<&str>, cpu| DoctorArgs {
            device: device.map(String::from),
            schedule: None,
            cpu,
            ptp4l_socket: ptp::PTP4L_SOCKET.into(),
            json: false,
        };
        let e = target(&f.host, &args(Some("packet:nope0"), None))
            .err()
            .unwrap();
        assert!(e.contains("no interface nope0"), "{e}");
        assert!(target(&f.host, &args(Some("carrier-pigeon"), None)).is_err());
        assert!(target(&f.host, &args(None, Some(7))).is_err());
        assert!(target(&f.host, &args(Some("sim"), Some(1))).is_ok());
    }
}
