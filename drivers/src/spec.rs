//! `--device` strings: `sim`, `packet:eth0`, `xdp:eth0` (every receive
//! queue), `xdp:eth0@0` (one queue), `vfio:0000:00:02.0`.

use crate::{DriverError, RingDevice};
use std::fmt;
use std::str::FromStr;

/// Which backend, on what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The in-process simulated wire.
    Sim,
    /// AF_PACKET (TPACKET_V2 rings) on an interface.
    Packet { ifname: String },
    /// AF_XDP on one queue of an interface (`Some`), or on all (`None`).
    Xdp { ifname: String, queue: Option<u32> },
    /// Intel 82574L bound to vfio-pci.
    Vfio { addr: PciAddress },
}

/// A PCI address `domain:bus:device.function`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciAddress {
    pub domain: u16,
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

impl FromStr for PciAddress {
    type Err = String;
    /// `0000:00:02.0`, or `00:02.0` with domain 0 (as lspci prints it).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "\"{s}\" is not a PCI address: write domain:bus:device.function, e.g. 0000:00:02.0"
            )
        };
        let (head, function) = s.rsplit_once('.').ok_or_else(bad)?;
        let parts: Vec<&str> = head.split(':').collect();
        let (domain, bus, device) = match parts.as_slice() {
            [d, b, dev] => (*d, *b, *dev),
            [b, dev] => ("0", *b, *dev),
            _ => return Err(bad()),
        };
        let hex = |t: &str, digits: usize| {
            (!t.is_empty() && t.len() <= digits && t.bytes().all(|c| c.is_ascii_hexdigit()))
                .then(|| u32::from_str_radix(t, 16).ok())
                .flatten()
                .ok_or_else(bad)
        };
        let addr = PciAddress {
            domain: hex(domain, 4)? as u16,
            bus: hex(bus, 2)? as u8,
            device: hex(device, 2)? as u8,
            function: hex(function, 1)? as u8,
        };
        if addr.device > 0x1f || addr.function > 7 {
            return Err(format!("\"{s}\": device must be 00..1f and function 0..7"));
        }
        Ok(addr)
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Sim => f.write_str("sim"),
            DeviceSpec::Packet { ifname } => write!(f, "packet:{ifname}"),
            DeviceSpec::Xdp {
                ifname,
                queue: Some(q),
            } => write!(f, "xdp:{ifname}@{q}"),
            DeviceSpec::Xdp {
                ifname,
                queue: None,
            } => write!(f, "xdp:{ifname}"),
            DeviceSpec::Vfio { addr } => write!(f, "vfio:{addr}"),
        }
    }
}

const FORMS: &str = "use sim, packet:IFNAME, xdp:IFNAME[@QUEUE] or vfio:DOMAIN:BUS:DEV.FN";

/// Linux interface names: 1..=15 bytes, no '/', ':' or whitespace.
fn ifname(spec: &str, name: &str) -> Result<String, DriverError> {
    let ok = (1..=15).contains(&name.len())
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace());
    if ok {
        Ok(name.to_string())
    } else {
        Err(DriverError::BadSpec {
            spec: spec.into(),
            reason: format!(
                "\"{name}\" is not an interface name (1 to 15 characters, no '/', ':' or spaces)"
            ),
        })
    }
}

impl FromStr for DeviceSpec {
    type Err = DriverError;
    fn from_str(spec: &str) -> Result<Self, DriverError> {
        let bad = |reason: String| DriverError::BadSpec {
            spec: spec.into(),
            reason,
        };
        let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
        match kind {
            "sim" if rest.is_empty() => Ok(DeviceSpec::Sim),
            "sim" => Err(bad("sim takes no argument".into())),
            "packet" => Ok(DeviceSpec::Packet {
                ifname: ifname(spec, rest)?,
            }),
            "xdp" => {
                let (name, queue) = match rest.split_once('@') {
                    Some((name, q)) => (
                        name,
                        Some(q.parse().map_err(|_| {
                            bad(format!(
                                "queue \"{q}\" is not a number: write xdp:IFNAME@QUEUE, e.g. \
                             xdp:eth0@0, or xdp:IFNAME for every queue"
                            ))
                        })?),
                    ),
                    None => (rest, None),
                };
                Ok(DeviceSpec::Xdp {
                    ifname: ifname(spec, name)?,
                    queue,
                })
            }
            "vfio" => Ok(DeviceSpec::Vfio {
                addr: rest.parse().map_err(bad)?,
            }),
            "" => Err(bad(format!("empty: {FORMS}"))),
            other => Err(bad(format!("unknown backend \"{other}\": {FORMS}"))),
        }
    }
}

/// Open a single device. The simulated wire joins two ports in one process,
/// so `sim` is opened with [`crate::sim::pair`] instead.
pub fn open(spec: &DeviceSpec) -> Result<Box<dyn RingDevice>, DriverError> {
    open_for(spec, None)
}

/// As [`open`], with receive rings sized for `load` (what the schedule
/// will send), so a receiver survives a [`crate::RX_STALL_NS`] stall.
pub fn open_for(
    spec: &DeviceSpec,
    load: Option<crate::RxLoad>,
) -> Result<Box<dyn RingDevice>, DriverError> {
    open_tuned(spec, load, &crate::DeviceTuning::default())
}

/// As [`open_for`], with `tuning` (busy polling, XDP need-wakeup) applied
/// to the `packet:` and `xdp:` sockets. A tuning the backend has no use
/// for is refused ([`tuning_applies`] says which).
pub fn open_tuned(
    spec: &DeviceSpec,
    load: Option<crate::RxLoad>,
    tuning: &crate::DeviceTuning,
) -> Result<Box<dyn RingDevice>, DriverError> {
    tuning_applies(spec, tuning)?;
    let xdp = || crate::xdp::XdpOptions {
        busy_poll: tuning.busy_poll,
        need_wakeup: tuning.xdp_need_wakeup.unwrap_or(true),
        ..crate::xdp::XdpOptions::for_load(load)
    };
    match spec {
        DeviceSpec::Sim => Err(DriverError::Unsupported(
            "sim joins two ports in one process: run talker and listener together with `takt loopback`".into(),
        )),
        DeviceSpec::Packet { ifname } => Ok(Box::new(crate::packet::PacketDevice::open(
            ifname,
            crate::packet::PacketOptions {
                busy_poll: tuning.busy_poll,
                ..crate::packet::PacketOptions::for_load(load)
            },
        )?)),
        DeviceSpec::Xdp {
            ifname,
            queue: Some(q),
        } => Ok(Box::new(crate::xdp::XdpDevice::open(ifname, *q, xdp())?)),
        DeviceSpec::Xdp {
            ifname,
            queue: None,
        } => Ok(Box::new(crate::xdp::XdpDevice::open_all(ifname, xdp())?)),
        DeviceSpec::Vfio { addr } => Ok(Box::new(crate::e1000e::E1000e::open(
            *addr,
            crate::e1000e::E1000eOptions::default(),
        )?)),
    }
}

/// Whether `tuning` means anything on `spec`'s backend: busy polling on
/// `packet:` and `xdp:`, need-wakeup on `xdp:` only. `Unsupported` (bad
/// input) names the setting and the backends that take it.
pub fn tuning_applies(spec: &DeviceSpec, tuning: &crate::DeviceTuning) -> Result<(), DriverError> {
    let (packet, xdp) = match spec {
        DeviceSpec::Packet { .. } => (true, false),
        DeviceSpec::Xdp { .. } => (true, true),
        _ => (false, false),
    };
    if !tuning.busy_poll.is_off() && !packet {
        return Err(DriverError::Unsupported(format!(
            "busy polling is for packet: and xdp: devices, not {spec}: leave the busy-poll \
             flags out"
        )));
    }
    if tuning.xdp_need_wakeup.is_some() && !xdp {
        return Err(DriverError::Unsupported(format!(
            "need-wakeup is an AF_XDP setting, not one of {spec}: leave --xdp-need-wakeup out"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!("sim".parse::<DeviceSpec>().unwrap(), DeviceSpec::Sim);
        assert_eq!(
            "packet:eth0".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Packet {
                ifname: "eth0".into()
            }
        );
        assert_eq!(
            "xdp:veth-a@3".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Xdp {
                ifname: "veth-a".into(),
                queue: Some(3)
            }
        );
        assert_eq!(
            "xdp:eth1".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Xdp {
                ifname: "eth1".into(),
                queue: None
            }
        );
        let v: DeviceSpec = "vfio:0000:00:02.0".parse().unwrap();
        assert_eq!(v.to_string(), "vfio:0000:00:02.0");
        assert_eq!(
            "vfio:03:00.1".parse::<DeviceSpec>().unwrap().to_string(),
            "vfio:0000:03:00.1"
        );
        for s in ["packet:eth0", "xdp:eth0@0", "xdp:eth0", "sim"] {
            assert_eq!(s.parse::<DeviceSpec>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_specs_with_a_reason() {
        for (s, needle) in [
            ("", "empty"),
            ("eth0", "unknown backend \"eth0\""),
            ("packet:", "not an interface name"),
            ("packet:averyveryverylongname", "not an interface name"),
            ("packet:a/b", "not an interface name"),
            ("xdp:eth0@x", "queue \"x\" is not a number"),
            ("vfio:00:02", "not a PCI address"),
            ("vfio:0000:00:20.0", "device must be"),
            ("vfio:0000:00:02.8", "function 0..7"),
            ("vfio:zz:00:02.0", "not a PCI address"),
            ("sim:x", "no argument"),
        ] {
            let e = s.parse::<DeviceSpec>().unwrap_err().to_string();
            assert!(e.contains(needle), "{s:?}: {e}");
            assert!(e.contains(&format!("\"{s}\"")), "{s:?}: {e}");
        }
    }

    #[test]
    fn xdp_opens_the_af_xdp_driver() {
        let e = open(&"xdp:takt-none0@0".parse().unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("not built yet"), "{e}");
        assert!(e.contains("no network interface \"takt-none0\""), "{e}");
    }

    #[test]
    fn packet_opens_the_af_packet_driver() {
        let e = open(&"packet:takt-none0".parse().unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no network interface \"takt-none0\""), "{e}");
    }

    #[test]
    fn vfio_opens_the_e1000e_driver() {
        // No VFIO device on a build host: whatever is (or is not) at this
        // address, the e1000e driver answers with a precise error.
        let e = open(&"vfio:0000:00:1f.7".parse().unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("not built yet"), "{e}");
        assert!(e.contains("0000:00:1f.7"), "{e}");
    }
}
