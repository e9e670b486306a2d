//! `[control]` -> `ControlSection`: the control plane's IPv4 address,
//! gateway, best-effort class, status port and guard band. Checked against
//! the built schedule, since the class must open somewhere and the guard
//! band must leave room in a cycle.

use super::build::{at, duration, uint};
use super::raw::{Duration, Int, RawControl, Tab};
use super::Located;
use crate::schedule::{GateControlList, Schedule, TRAFFIC_CLASSES};
use crate::units::format_ns;
use std::net::Ipv4Addr;
use toml::Spanned;

/// UDP port of the status/schedule-change service when `status_port` is
/// left out.
pub const DEFAULT_STATUS_PORT: u16 = 9700;
/// Most networks `allow` may list (the service checks each request
/// against all of them, in fixed memory).
pub const MAX_ALLOW: usize = 16;

/// The control plane of a schedule file (`[control]`), validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlSection {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    /// As written; `None` = [`lowest_open_class`] of the schedule.
    pub best_effort_class: Option<u8>,
    pub status_port: u16,
    /// A control frame must end (with preamble, FCS and IFG) at least this
    /// long before the best-effort gate closes.
    pub guard_band_ns: u64,
    /// The pre-shared key's file as written (relative paths are taken
    /// from the schedule file's directory); `None`: the service is
    /// read-only, schedule changes are refused.
    pub key_file: Option<String>,
    /// Networks the service answers, as address and prefix length; empty:
    /// the port's own subnet.
    pub allow: Vec<(Ipv4Addr, u8)>,
}

impl ControlSection {
    /// The class control frames wait for: the one written, else the
    /// lowest-numbered class that opens in `schedule`.
    pub fn best_effort_class_in(&self, schedule: &Schedule) -> Option<u8> {
        self.best_effort_class
            .or_else(|| lowest_open_class(schedule))
    }
}

/// The lowest-numbered traffic class that some entry of the oper or admin
/// list opens (entries cut away by `cycle_time` do not count).
pub fn lowest_open_class(schedule: &Schedule) -> Option<u8> {
    (0..TRAFFIC_CLASSES as u8).find(|&c| class_opens(schedule, c))
}

/// Whether `class`'s gate opens anywhere in the oper or admin list.
pub fn class_opens(schedule: &Schedule, class: u8) -> bool {
    let open = |g: &GateControlList| !g.class_windows(class).is_empty();
    open(schedule.oper()) || schedule.admin().is_some_and(open)
}

pub(super) fn control(
    raw: &Tab<RawControl>,
    schedule: &Schedule,
) -> Result<ControlSection, Located> {
    let r = raw.get_ref();
    let (address, prefix_len) = address(&r.address)?;
    let gateway = r
        .gateway
        .as_ref()
        .map(|g| gateway(g, address, prefix_len))
        .transpose()?;
    let best_effort_class = match &r.best_effort_class {
        Some(c) => Some(best_effort_class(c, schedule)?),
        None if lowest_open_class(schedule).is_none() => {
            return Err(at(raw, "no gate entry of the oper or admin list opens any traffic class, so control traffic (ARP, ping) could never be sent: open a class in some entry, or remove [control]"));
        }
        None => None,
    };
    let status_port = match &r.status_port {
        None => DEFAULT_STATUS_PORT,
        Some(p) => match uint::<u16>(p, "status_port", "a UDP port 1..=65535")? {
            0 => {
                return Err(at(
                    p,
                    format!("`status_port` 0 is not a port: use 1..=65535, or leave it out for {DEFAULT_STATUS_PORT}"),
                ))
            }
            n => n,
        },
    };
    let guard_band_ns = match &r.guard_band {
        None => 0,
        Some(g) => guard_band(g, schedule)?,
    };
    let key_file = match &r.key_file {
        Some(k) if k.get_ref().trim().is_empty() => {
            return Err(at(k, "`key_file` is empty: give the path of a file holding the key (chmod 600), or leave it out for a read-only service"));
        }
        Some(k) => Some(k.get_ref().clone()),
        None => None,
    };
    let allow = match &r.allow {
        None => Vec::new(),
        Some(list) => allow(list)?,
    };
    Ok(ControlSection {
        address,
        prefix_len,
        gateway,
        best_effort_class,
        status_port,
        guard_band_ns,
        key_file,
        allow,
    })
}

fn address(v: &Spanned<String>) -> Result<(Ipv4Addr, u8), Located> {
    let text = v.get_ref().trim();
    let Some((ip, prefix)) = text.split_once('/') else {
        let message = if text.parse::<Ipv4Addr>().is_ok() {
            format!("`address` \"{text}\" has no prefix length: write the prefix length, e.g. 10.77.0.1/24")
        } else {
            format!("`address` \"{text}\" is not A.B.C.D/N: write an IPv4 address and prefix length, e.g. 10.77.0.1/24")
        };
        return Err(at(v, message));
    };
    let ip: Ipv4Addr = ip.parse().map_err(|_| {
        at(v, format!("`address` \"{text}\": \"{ip}\" is not an IPv4 address: write A.B.C.D/N, e.g. 10.77.0.1/24"))
    })?;
    let prefix_len = match prefix.parse::<u8>() {
        Ok(n @ 1..=32) => n,
        _ => {
            return Err(at(v, format!("`address` \"{text}\": the prefix length /{prefix} is out of range: use 1..=32, e.g. 10.77.0.1/24")));
        }
    };
    let not_unicast = if ip.is_unspecified() {
        Some("is the unspecified address")
    } else if ip.is_multicast() {
        Some("is a multicast address")
    } else if ip.is_broadcast() {
        Some("is the broadcast address")
    } else if prefix_len < 31 && ip == network_broadcast(ip, prefix_len) {
        Some("is the broadcast address of its network")
    } else {
        None
    };
    match not_unicast {
        Some(why) => Err(at(v, format!("`address` {ip}/{prefix_len} {why}: give this port's own unicast address, e.g. 10.77.0.1/24"))),
        None => Ok((ip, prefix_len)),
    }
}

fn allow(list: &Spanned<Vec<Spanned<String>>>) -> Result<Vec<(Ipv4Addr, u8)>, Located> {
    let nets = list.get_ref();
    if nets.is_empty() {
        return Err(at(list, "`allow` lists no network, so no request would ever be answered: list the networks of the hosts that may ask, e.g. [\"10.77.0.0/24\"], or leave it out for the port's own subnet"));
    }
    if nets.len() > MAX_ALLOW {
        return Err(at(list, format!("`allow` lists {} networks, more than the {MAX_ALLOW} the service checks: merge them into wider prefixes", nets.len())));
    }
    nets.iter().map(allowed_net).collect()
}

fn allowed_net(v: &Spanned<String>) -> Result<(Ipv4Addr, u8), Located> {
    let text = v.get_ref().trim();
    let bad = || {
        at(v, format!("`allow` entry \"{text}\" is not A.B.C.D/N: write a network and prefix length, e.g. \"10.77.0.0/24\" (or \"10.77.0.5/32\" for one host)"))
    };
    let (ip, prefix) = text.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let prefix_len = match prefix.parse::<u8>() {
        Ok(n @ 0..=32) => n,
        _ => return Err(bad()),
    };
    let net = network(ip, prefix_len);
    if net != ip {
        return Err(at(v, format!("`allow` entry \"{text}\" has host bits set: write its network, \"{net}/{prefix_len}\"")));
    }
    Ok((ip, prefix_len))
}

fn mask(prefix_len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0)
}

fn network(ip: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip) & mask(prefix_len))
}

fn network_broadcast(ip: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip) | !mask(prefix_len))
}

fn gateway(v: &Spanned<String>, address: Ipv4Addr, prefix_len: u8) -> Result<Ipv4Addr, Located> {
    let text = v.get_ref().trim();
    let gw: Ipv4Addr = text.parse().map_err(|_| {
        at(
            v,
            format!("`gateway` \"{text}\" is not an IPv4 address: write A.B.C.D, e.g. 10.77.0.254"),
        )
    })?;
    let net = network(address, prefix_len);
    if network(gw, prefix_len) != net {
        return Err(at(v, format!("`gateway` {gw} is not in {net}/{prefix_len}, the network of `address`: give a gateway inside it, or widen the address's prefix length")));
    }
    Ok(gw)
}

fn best_effort_class(v: &Spanned<Int>, schedule: &Schedule) -> Result<u8, Located> {
    let class: u8 = uint(v, "best_effort_class", "traffic classes 0..=7")?;
    if usize::from(class) >= TRAFFIC_CLASSES {
        return Err(at(
            v,
            format!("`best_effort_class` {class} does not exist: use a traffic class 0..=7"),
        ));
    }
    if !class_opens(schedule, class) {
        return Err(at(v, format!("traffic class {class} never opens in this schedule, so control traffic (ARP, ping) could never be sent: give a class that a gate entry opens")));
    }
    Ok(class)
}

fn guard_band(v: &Spanned<Duration>, schedule: &Schedule) -> Result<u64, Located> {
    let ns = duration(v, "guard_band")?;
    // The shortest cycle in force bounds every best-effort window.
    let cycle = schedule
        .admin()
        .map_or(u64::MAX, |a| a.cycle_time_ns())
        .min(schedule.oper().cycle_time_ns());
    if ns >= cycle {
        return Err(at(v, format!("`guard_band` {} is not shorter than the cycle ({}): no control frame could ever be sent; give a margin of a few us, e.g. \"20us\"", format_ns(ns), format_ns(cycle))));
    }
    Ok(ns)
}
