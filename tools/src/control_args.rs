//! The control-plane flags of takt-talker and takt-listener, merged over
//! the schedule file's `[control]` section, and the set-up of the control
//! plane for a run (docs/control-plane.md).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use takt_drivers::RingDevice;
use takt_scheduler::config::{self, ControlSection, PtpSection, DEFAULT_STATUS_PORT};
use takt_scheduler::{ClockId, Schedule};
use takt_stack::control::auth::{self, Key};
use takt_stack::control::plane::{ControlPlane, PlaneError};
use takt_stack::control::service::{Accepted, Role, ServiceSetup};
use takt_stack::control::{Allowlist, ControlConfig, Ipv4Cidr};
use takt_stack::plan::Until;
use takt_stack::stats::RunStats;

use crate::run::duration_arg;

/// How far ahead of now a schedule change may take over at the earliest:
/// the request's way to the data path, with room for this VM's stalls.
pub const MIN_CHANGE_LEAD_NS: u64 = 100_000_000;

/// Flags of the control plane (each overrides the schedule's `[control]`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ControlArgs {
    /// Answer ARP, ping and the UDP service on this IPv4 address, e.g.
    /// 10.77.0.1/24 (default: [control] address of the schedule file)
    #[arg(long, value_name = "ADDR/PREFIX", value_parser = cidr_arg)]
    pub ip: Option<(Ipv4Addr, u8)>,
    /// Default gateway of the control plane
    #[arg(long, value_name = "ADDR")]
    pub gateway: Option<Ipv4Addr>,
    /// Traffic class whose gate control frames wait for (default: the
    /// lowest-numbered class that opens)
    #[arg(long, value_name = "0-7", value_parser = clap::value_parser!(u8).range(0..=7))]
    pub best_effort_class: Option<u8>,
    /// UDP port of the status / schedule-change service (default 9700)
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub status_port: Option<u16>,
    /// A control frame must end this long before the best-effort gate
    /// closes, e.g. 20us (default 0)
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    pub guard_band: Option<u64>,
    /// File holding the pre-shared key that schedule changes must be
    /// signed with (mode 600); without one the service is read-only
    /// (default: [control] key_file)
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Answer requests only from this network, e.g. 10.77.0.0/24; give it
    /// again for more (default: [control] allow, else the port's subnet)
    #[arg(long, value_name = "NET/PREFIX", value_parser = net_arg)]
    pub allow: Vec<(Ipv4Addr, u8)>,
    /// No control plane, even if the schedule file has a [control] section
    #[arg(long, conflicts_with = "ip")]
    pub no_control: bool,
}

fn net_arg(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, p) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?}: write a network and prefix length, e.g. 10.77.0.0/24"))?;
    let addr: Ipv4Addr = a
        .parse()
        .map_err(|_| format!("{a:?} is not an IPv4 address: write e.g. 10.77.0.0/24"))?;
    let prefix: u8 = p
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| format!("prefix length {p:?}: give 0..=32"))?;
    let net = Ipv4Cidr::new(addr, prefix).network().address();
    if net != addr {
        return Err(format!(
            "{s} has host bits set: write its network, {net}/{prefix}"
        ));
    }
    Ok((addr, prefix))
}

fn cidr_arg(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, p) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?}: write the prefix length too, e.g. 10.77.0.1/24"))?;
    let addr: Ipv4Addr = a
        .parse()
        .map_err(|_| format!("{a:?} is not an IPv4 address: write e.g. 10.77.0.1/24"))?;
    let prefix: u8 = p
        .parse()
        .ok()
        .filter(|p| (1..=32).contains(p))
        .ok_or_else(|| format!("prefix length {p:?}: give 1..=32"))?;
    if addr.is_unspecified() || addr.is_multicast() || addr.is_broadcast() {
        return Err(format!(
            "{addr} cannot be an interface address: give a unicast address"
        ));
    }
    Ok((addr, prefix))
}

/// The control plane's settings after flags and file are merged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlSettings {
    /// What runs: the file's section with the flags applied.
    pub resolved: ControlSection,
    /// The file's section as written, which a schedule change must repeat.
    pub section: Option<ControlSection>,
    /// The key schedule changes are signed with; `None`: read-only.
    pub key: Option<Key>,
}

impl ControlSettings {
    /// `10.77.0.1/24`.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.resolved.address, self.resolved.prefix_len)
    }

    fn config(&self, gated: bool) -> ControlConfig {
        let r = &self.resolved;
        let ipv4 = Ipv4Cidr::new(r.address, r.prefix_len);
        let nets: Vec<Ipv4Cidr> = r.allow.iter().map(|&(a, p)| Ipv4Cidr::new(a, p)).collect();
        // At most MAX_ALLOW: the file and the flag are checked for it.
        let allow = match nets.is_empty() {
            true => Allowlist::subnet_of(ipv4),
            false => Allowlist::new(&nets).unwrap_or(Allowlist::subnet_of(ipv4)),
        };
        ControlConfig {
            allow,
            ipv4: Ipv4Cidr::new(r.address, r.prefix_len),
            gateway: r.gateway,
            best_effort_class: r.best_effort_class,
            gated,
            guard_band_ns: r.guard_band_ns,
            udp_port: Some(r.status_port),
        }
    }

    /// Read the key named by `key_file` (relative to the schedule file's
    /// directory); an error names the file and what to change.
    fn load_key(&mut self, schedule_path: &Path) -> Result<(), String> {
        let Some(file) = &self.resolved.key_file else {
            return Ok(());
        };
        let path = Path::new(file);
        let path = match (path.is_relative(), schedule_path.parent()) {
            (true, Some(dir)) => dir.join(path),
            _ => path.to_path_buf(),
        };
        self.key = Some(auth::load_key(&path)?);
        Ok(())
    }
}

/// A report with the run's fixed parts and one entry per stream, for the
/// control plane's worker to fill in at each status request.
pub fn report_template(
    names: &[&str],
    dev: &dyn RingDevice,
    backend: &str,
    clock: ClockId,
) -> RunStats {
    let mut report = RunStats::new(names.iter().copied());
    report.device = dev.info().name.clone();
    report.backend = backend.to_owned();
    report.clock = clock.as_str().into();
    report
}

impl ControlArgs {
    /// As [`resolve`](Self::resolve), with the key read (a `--key-file`
    /// from the current directory, a `key_file` from the schedule file's).
    pub fn settings(
        &self,
        section: Option<&ControlSection>,
        schedule_path: &Path,
    ) -> Result<Option<ControlSettings>, String> {
        let Some(mut s) = self.resolve(section) else {
            return Ok(None);
        };
        if self.allow.len() > config::MAX_CONTROL_ALLOW {
            return Err(format!(
                "--allow given {} times, more than the {} networks the service checks: merge them into wider prefixes",
                self.allow.len(),
                config::MAX_CONTROL_ALLOW
            ));
        }
        match &self.key_file {
            Some(k) => s.key = Some(auth::load_key(k)?),
            None => s.load_key(schedule_path)?,
        }
        Ok(Some(s))
    }

    /// Flags over the file's section; `None` when there is no address.
    pub fn resolve(&self, section: Option<&ControlSection>) -> Option<ControlSettings> {
        if self.no_control {
            return None;
        }
        let (address, prefix_len) = self
            .ip
            .or_else(|| section.map(|s| (s.address, s.prefix_len)))?;
        let resolved = ControlSection {
            address,
            prefix_len,
            gateway: self.gateway.or(section.and_then(|s| s.gateway)),
            best_effort_class: self
                .best_effort_class
                .or(section.and_then(|s| s.best_effort_class)),
            status_port: self
                .status_port
                .or(section.map(|s| s.status_port))
                .unwrap_or(DEFAULT_STATUS_PORT),
            guard_band_ns: self
                .guard_band
                .or(section.map(|s| s.guard_band_ns))
                .unwrap_or(0),
            key_file: self
                .key_file
                .as_ref()
                .map(|p| p.display().to_string())
                .or(section.and_then(|s| s.key_file.clone())),
            allow: if self.allow.is_empty() {
                section.map(|s| s.allow.clone()).unwrap_or_default()
            } else {
                self.allow.clone()
            },
        };
        Some(ControlSettings {
            resolved,
            section: section.cloned(),
            key: None,
        })
    }
}

/// The schedule a talker runs and when its run ends, as the change
/// validator sees them: set once the run's start is fixed, the schedule
/// replaced by each accepted change.
pub type Running = Arc<Mutex<Option<(Arc<Schedule>, Until)>>>;

/// A talker's control plane: gated, accepting schedule changes checked
/// against `running`.
#[allow(clippy::too_many_arguments)]
pub fn talker_plane(
    settings: &ControlSettings,
    ptp: Option<&PtpSection>,
    schedule: &Schedule,
    dev: &mut dyn RingDevice,
    now_ns: u64,
    report: RunStats,
    running: Running,
) -> Result<ControlPlane, PlaneError> {
    let section = settings.section.clone();
    let ptp = ptp.cloned();
    let validate = Box::new(move |text: &str, now_ns: u64| {
        let mut cur = running.lock().unwrap_or_else(|e| e.into_inner());
        let Some((run, until)) = cur.clone() else {
            return Err("request:1:1: error: the talker has not started yet: send it again".into());
        };
        let change = config::parse_change_with_ptp(
            text,
            "request",
            &run,
            section.as_ref(),
            ptp.as_ref(),
            now_ns,
            MIN_CHANGE_LEAD_NS,
        )
        .map_err(|e| e.to_string())?;
        let schedule = Arc::new(change.schedule);
        *cur = Some((Arc::clone(&schedule), until));
        Ok(Accepted {
            schedule,
            until,
            switch_at_ns: change.switch_at_ns,
            requested_base_ns: change.requested_base_ns,
        })
    });
    plane(
        settings,
        schedule,
        dev,
        now_ns,
        report,
        Role::Talker { validate },
        true,
    )
}

/// A listener's control plane: frames go at once (its port sends nothing
/// on a schedule), schedule changes are refused.
pub fn listener_plane(
    settings: &ControlSettings,
    schedule: &Schedule,
    dev: &mut dyn RingDevice,
    now_ns: u64,
    report: RunStats,
) -> Result<ControlPlane, PlaneError> {
    plane(
        settings,
        schedule,
        dev,
        now_ns,
        report,
        Role::Listener,
        false,
    )
}

fn plane(
    settings: &ControlSettings,
    schedule: &Schedule,
    dev: &mut dyn RingDevice,
    now: u64,
    report: RunStats,
    role: Role,
    talker: bool,
) -> Result<ControlPlane, PlaneError> {
    let setup = ServiceSetup {
        report,
        clock: schedule.clock(),
        role,
        address: settings.cidr(),
        endpoint: (settings.resolved.address, settings.resolved.status_port),
        key: settings.key.clone(),
    };
    ControlPlane::new(settings.config(talker), schedule, dev, now, setup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section() -> ControlSection {
        ControlSection {
            key_file: None,
            allow: Vec::new(),
            address: Ipv4Addr::new(10, 0, 0, 1),
            prefix_len: 24,
            gateway: Some(Ipv4Addr::new(10, 0, 0, 254)),
            best_effort_class: Some(2),
            status_port: 7000,
            guard_band_ns: 5_000,
        }
    }

    #[test]
    fn flags_override_the_file_and_no_address_means_no_control_plane() {
        let none = ControlArgs::default();
        assert_eq!(none.resolve(None), None, "no address anywhere");
        let from_file = none.resolve(Some(&section())).unwrap();
        assert_eq!(from_file.cidr(), "10.0.0.1/24");
        assert_eq!(from_file.resolved, section(), "the file as it is");
        let flags = ControlArgs {
            ip: Some((Ipv4Addr::new(10, 77, 0, 1), 16)),
            status_port: Some(9999),
            guard_band: Some(0),
            ..ControlArgs::default()
        };
        let s = flags.resolve(Some(&section())).unwrap();
        let r = &s.resolved;
        assert_eq!(
            (s.cidr().as_str(), r.status_port, r.guard_band_ns),
            ("10.77.0.1/16", 9999, 0)
        );
        assert_eq!(
            r.gateway,
            Some(Ipv4Addr::new(10, 0, 0, 254)),
            "kept from the file"
        );
        assert_eq!(s.section, Some(section()), "what a change must repeat");
        let only_flags = flags.resolve(None).unwrap();
        assert_eq!(only_flags.resolved.status_port, 9999);
        assert_eq!(only_flags.resolved.best_effort_class, None);
        let off = ControlArgs {
            no_control: true,
            ..ControlArgs::default()
        };
        assert_eq!(off.resolve(Some(&section())), None);
    }

    #[test]
    fn addresses_need_a_prefix_and_must_be_unicast() {
        assert_eq!(cidr_arg("10.1.2.3/8"), Ok((Ipv4Addr::new(10, 1, 2, 3), 8)));
        assert!(cidr_arg("10.1.2.3").unwrap_err().contains("prefix length"));
        assert!(cidr_arg("10.1.2.3/33").unwrap_err().contains("1..=32"));
        assert!(cidr_arg("224.0.0.1/4").unwrap_err().contains("unicast"));
        assert!(cidr_arg("ten/8").unwrap_err().contains("not an IPv4"));
    }
}
