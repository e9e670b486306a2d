//! `--device` given more than once: the ports of a talker or listener
//! (port 0 first, in the order given; docs/redundancy.md). The checks that
//! need no device opened (each port its own interface, as many ports as the
//! schedule uses, PTP on one port only), and [`Devices`]: one device as
//! always, or several behind one `frer::Ports`.

use takt_drivers::{DeviceSpec, RingDevice};
use takt_scheduler::Schedule;
use takt_stack::frer::{Ports, PortsError};
use takt_stack::stats::RunStats;

/// Help text shared by the binaries' after-help.
pub const PORTS_HELP: &str = "\
Several ports (--device more than once; docs/redundancy.md):
  Each --device is a port, numbered in the order given (port 0 first). A
  schedule whose streams name ports (`ports = [0, 1]`, `redundancy =
  \"frer\"`) needs --device once per port it uses, no more and no fewer.
  A replicated stream leaves on every port of its set with the same
  802.1CB R-TAG sequence number; the listener passes the first copy and
  discards the rest, and its report has per-port device counters and the
  FRER counters per stream and per member path. The device flags
  (--busy-poll, ...) apply to every port. The control plane (--ip) answers
  on port 0; PTP (--ptp) needs a single port.";

/// What a run drives.
pub enum Devices {
    /// One `--device` (today's path: no `Ports` in between).
    One(Box<dyn RingDevice>),
    /// Several, as one.
    Ports(Box<Ports>),
}

impl Devices {
    pub fn as_dyn(&mut self) -> &mut dyn RingDevice {
        match self {
            Devices::One(d) => d.as_mut(),
            Devices::Ports(p) => p.as_mut(),
        }
    }

    /// Per-port device counters and the FRER counters into `stats` (several
    /// ports only; one device leaves them out, as before).
    pub fn fill_report(&self, stats: &mut RunStats) {
        if let Devices::Ports(p) = self {
            stats.ports = p.port_reports();
            stats.frer = p.frer_report();
        }
    }
}

/// The interface (or PCI function) a spec drives: two ports on one of
/// these would send and receive each other's frames.
fn target(spec: &DeviceSpec) -> String {
    match spec {
        DeviceSpec::Sim => "sim".into(),
        DeviceSpec::Packet { ifname } | DeviceSpec::Xdp { ifname, .. } => ifname.clone(),
        DeviceSpec::Vfio { addr } => addr.to_string(),
    }
}

/// Each port on its own interface: `Err` names the two `--device` given for
/// one (exit 2).
pub fn check_distinct(specs: &[DeviceSpec]) -> Result<(), String> {
    for (i, a) in specs.iter().enumerate() {
        for b in &specs[i + 1..] {
            if target(a) == target(b) {
                return Err(format!(
                    "--device {a} and --device {b} are the same device ({}): give each port \
                     its own interface",
                    target(a)
                ));
            }
        }
    }
    Ok(())
}

/// As many `--device` as the schedule uses ports: `Err` says how many to
/// give (exit 2).
pub fn check_count(schedule: &Schedule, given: usize) -> Result<(), String> {
    let needed = schedule.ports_needed();
    if given == needed {
        return Ok(());
    }
    if given < needed {
        let why = (0..schedule.streams().len())
            .find(|&i| schedule.stream_ports(i).ports_needed() == needed)
            .map(|i| {
                let ports: Vec<String> = schedule
                    .stream_ports(i)
                    .iter()
                    .map(|p| p.to_string())
                    .collect();
                format!(
                    " (stream \"{}\" has ports = [{}])",
                    takt_scheduler::printable::printable(&schedule.streams()[i].name),
                    ports.join(", ")
                )
            })
            .unwrap_or_default();
        return Err(format!(
            "the schedule uses {needed} ports{why} but --device was given {given} {}: give \
             --device {needed} times, port 0 first",
            times(given)
        ));
    }
    Err(format!(
        "--device was given {given} times but the schedule uses {needed} {}: give --device \
         {needed} {}, or put streams on the other ports (`ports = [0, 1]` and `redundancy = \
         \"frer\"` in a [[stream]]; docs/redundancy.md)",
        if needed == 1 { "port" } else { "ports" },
        times(needed)
    ))
}

fn times(n: usize) -> &'static str {
    if n == 1 {
        "time"
    } else {
        "times"
    }
}

/// PTP runs on one port: `Err` says so (exit 2).
pub fn check_ptp(ptp: bool, given: usize) -> Result<(), String> {
    if ptp && given > 1 {
        return Err(format!(
            "--ptp (or the schedule's [ptp] section) with {given} --device: PTP runs on one \
             port only; synchronise the host's clock with ptp4l on one of the interfaces and \
             leave --ptp out (or set mode = \"off\" in [ptp])"
        ));
    }
    Ok(())
}

/// Why `Ports::new` refused, as the binaries print it (exit 2: the fix is
/// in the flags).
pub fn ports_error(e: &PortsError) -> String {
    format!("--device: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(s: &[&str]) -> Vec<DeviceSpec> {
        s.iter().map(|x| x.parse().unwrap()).collect()
    }

    #[test]
    fn one_interface_twice_is_named() {
        assert!(check_distinct(&specs(&["packet:a", "packet:b"])).is_ok());
        assert!(check_distinct(&specs(&["packet:a"])).is_ok());
        for pair in [
            ["packet:a", "packet:a"],
            ["packet:a", "xdp:a@0"],
            ["xdp:a@0", "xdp:a@1"],
            ["sim", "sim"],
        ] {
            let e = check_distinct(&specs(&pair)).unwrap_err();
            assert!(e.contains("same device"), "{pair:?}: {e}");
            assert!(e.contains(&format!("--device {}", pair[1])), "{e}");
        }
    }

    #[test]
    fn ptp_with_several_ports_is_refused() {
        assert!(check_ptp(true, 1).is_ok());
        assert!(check_ptp(false, 2).is_ok());
        let e = check_ptp(true, 2).unwrap_err();
        assert!(e.contains("one port"), "{e}");
    }

    #[test]
    fn one_port_schedule_wants_one_device() {
        let s = crate::fixtures::two_class_schedule();
        assert!(check_count(&s, 1).is_ok());
        let e = check_count(&s, 2).unwrap_err();
        assert!(e.contains("given 2 times"), "{e}");
        assert!(e.contains("give --device 1 time,"), "{e}");
    }
}
