//! `[ptp]` -> `PtpSection`: how the port takes part in PTP (mode, profile,
//! domain, priorities, message intervals), the traffic class whose gate
//! PTP frames wait for, and when a run counts as in sync. The class is
//! checked against the built schedule: it must open, and it must not be a
//! stream's class, or PTP frames would take the streams' protected window.

use super::build::{at, duration, uint};
use super::control::{class_opens, lowest_open_class};
use super::raw::{Int, RawPtp, Tab};
use super::Located;
use crate::schedule::{Schedule, TRAFFIC_CLASSES};
use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use toml::Spanned;

/// How the port takes part in PTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PtpMode {
    /// No PTP: the schedule runs on the host clock as it is.
    Off,
    /// Follow a master; never become one.
    Slave,
    /// Be the master (grandmaster) of the domain.
    Master,
    /// Run the best master clock algorithm: master or slave as it decides.
    Auto,
    /// Leave PTP to a running ptp4l (linuxptp) and read its state over its
    /// UNIX socket (`ptp4l_socket`).
    Linuxptp,
}

/// Which PTP profile the port speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PtpProfile {
    /// IEEE 802.1AS (gPTP): layer 2, peer-to-peer delay.
    Gptp,
    /// IEEE 1588 default profile, layer 2, end-to-end delay.
    Default1588,
}

impl PtpMode {
    pub const NAMES: [&'static str; 5] = ["off", "slave", "master", "auto", "linuxptp"];

    pub fn as_str(self) -> &'static str {
        match self {
            PtpMode::Off => "off",
            PtpMode::Slave => "slave",
            PtpMode::Master => "master",
            PtpMode::Auto => "auto",
            PtpMode::Linuxptp => "linuxptp",
        }
    }
}

impl PtpProfile {
    pub const NAMES: [&'static str; 2] = ["gptp", "1588"];

    pub fn as_str(self) -> &'static str {
        match self {
            PtpProfile::Gptp => "gptp",
            PtpProfile::Default1588 => "1588",
        }
    }

    /// The standard behind the name, for people.
    pub fn describe(self) -> &'static str {
        match self {
            PtpProfile::Gptp => "IEEE 802.1AS",
            PtpProfile::Default1588 => "IEEE 1588 default profile, L2, end-to-end",
        }
    }

    /// Which delay mechanism `log_delay_interval` paces: peer delay
    /// requests (gPTP) or end-to-end delay requests (1588).
    pub fn delay_mechanism(self) -> &'static str {
        match self {
            PtpProfile::Gptp => "pdelay",
            PtpProfile::Default1588 => "delay_req",
        }
    }
}

impl fmt::Display for PtpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for PtpProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PtpMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(PtpMode::Off),
            "slave" => Ok(PtpMode::Slave),
            "master" => Ok(PtpMode::Master),
            "auto" => Ok(PtpMode::Auto),
            "linuxptp" => Ok(PtpMode::Linuxptp),
            _ => Err(format!(
                "unknown PTP mode \"{s}\": use one of {}",
                PtpMode::NAMES.join(", ")
            )),
        }
    }
}

impl FromStr for PtpProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gptp" => Ok(PtpProfile::Gptp),
            "1588" => Ok(PtpProfile::Default1588),
            _ => Err(format!(
                "unknown PTP profile \"{s}\": use one of {} (gptp = IEEE 802.1AS, 1588 = the IEEE 1588 default profile)",
                PtpProfile::NAMES.join(", ")
            )),
        }
    }
}

/// Where ptp4l listens for management messages unless told otherwise.
pub const DEFAULT_PTP4L_SOCKET: &str = "/var/run/ptp4l";

/// Ranges of the keys, shared by the file and the flags.
pub const DOMAIN_RANGE: RangeInclusive<u8> = 0..=127;
pub const LOG_SYNC_RANGE: RangeInclusive<i8> = -7..=4;
pub const LOG_ANNOUNCE_RANGE: RangeInclusive<i8> = -3..=4;
pub const LOG_DELAY_RANGE: RangeInclusive<i8> = -7..=5;
pub const ANNOUNCE_TIMEOUT_RANGE: RangeInclusive<u8> = 2..=10;

/// A UNIX socket path must fit `sockaddr_un.sun_path` (108 bytes with its NUL).
pub const MAX_SOCKET_PATH_BYTES: usize = 107;

/// The `[ptp]` section of a schedule file, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtpSection {
    pub mode: PtpMode,
    pub profile: PtpProfile,
    /// PTP domain number, 0..=127.
    pub domain: u8,
    /// Best master clock priorities: lower wins.
    pub priority1: u8,
    pub priority2: u8,
    /// The traffic class whose gate PTP frames wait for; `None` = the
    /// control plane's best-effort default, [`lowest_open_class`].
    pub class: Option<u8>,
    /// log2 of the Sync interval in seconds (-3 = 125 ms).
    pub log_sync_interval: i8,
    pub log_announce_interval: i8,
    /// log2 of the pdelay (gptp) or delay_req (1588) interval in seconds.
    pub log_delay_interval: i8,
    /// Announce intervals without an Announce before the master is
    /// considered gone.
    pub announce_receipt_timeout: u8,
    /// The largest |offset from master| at which a run may start, and
    /// below which the port is "in sync".
    pub sync_threshold_ns: u64,
    /// How long a run waits for sync before refusing to start.
    pub sync_wait_ns: u64,
    /// A talker's PTP frame must end this long before its gate closes
    /// (as `[control] guard_band`: software backends hand a frame to the
    /// wire some microseconds after the decision).
    pub guard_band_ns: u64,
    /// ptp4l's UNIX socket (mode `linuxptp`).
    pub ptp4l_socket: PathBuf,
}

impl PtpSection {
    /// A section with every key left out, for `profile`: gPTP's 802.1AS
    /// defaults or the 1588 default profile's.
    pub fn defaults(profile: PtpProfile) -> Self {
        let (priority, log_sync, log_announce) = match profile {
            PtpProfile::Gptp => (248, -3, 0),
            PtpProfile::Default1588 => (128, 0, 1),
        };
        PtpSection {
            mode: PtpMode::Auto,
            profile,
            domain: 0,
            priority1: priority,
            priority2: priority,
            class: None,
            log_sync_interval: log_sync,
            log_announce_interval: log_announce,
            log_delay_interval: 0,
            announce_receipt_timeout: 3,
            sync_threshold_ns: 100_000,
            sync_wait_ns: 30_000_000_000,
            guard_band_ns: 0,
            ptp4l_socket: PathBuf::from(DEFAULT_PTP4L_SOCKET),
        }
    }

    /// The class PTP frames wait for in `s`: the one given, else the lowest
    /// class that opens.
    pub fn class_in(&self, s: &Schedule) -> Option<u8> {
        self.class.or_else(|| lowest_open_class(s))
    }

    /// The class PTP frames wait for in `s`, if it can carry them: it
    /// exists, opens somewhere in the oper or admin list, and is no
    /// stream's class.
    pub fn check_class(&self, s: &Schedule) -> Result<u8, PtpClassError> {
        let class = self.class_in(s).ok_or(PtpClassError::NoneOpens)?;
        if usize::from(class) >= TRAFFIC_CLASSES {
            return Err(PtpClassError::NoSuchClass(class));
        }
        if !class_opens(s, class) {
            return Err(PtpClassError::NeverOpens(class));
        }
        if let Some(stream) = s.streams().iter().find(|st| st.traffic_class == class) {
            return Err(PtpClassError::StreamClass {
                class,
                stream: stream.name.clone(),
                instead: best_effort_class(s),
            });
        }
        Ok(class)
    }
}

/// A PTP message interval written as log2 of seconds, in ns: -3 -> 125ms.
/// Exact for every interval down to 2^-9 s; saturates past u64.
pub fn log_interval_ns(log2_seconds: i8) -> u64 {
    const SECOND: u64 = 1_000_000_000;
    let shift = u32::from(log2_seconds.unsigned_abs());
    if log2_seconds >= 0 {
        SECOND
            .checked_shl(shift)
            .filter(|v| v >> shift == SECOND)
            .unwrap_or(u64::MAX)
    } else {
        SECOND.checked_shr(shift).unwrap_or(0)
    }
}

/// The lowest class that opens and that no stream uses.
fn best_effort_class(s: &Schedule) -> Option<u8> {
    (0..TRAFFIC_CLASSES as u8)
        .find(|&c| class_opens(s, c) && s.streams().iter().all(|st| st.traffic_class != c))
}

/// Why PTP frames cannot wait for a class of a schedule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PtpClassError {
    #[error("no gate entry of the oper or admin list opens any traffic class, so PTP frames could never be sent: open a best-effort class in some entry")]
    NoneOpens,
    #[error("traffic class {0} does not exist: use a traffic class 0..=7")]
    NoSuchClass(u8),
    #[error("traffic class {0} never opens in this schedule, so PTP frames could never be sent: give a class that a gate entry opens")]
    NeverOpens(u8),
    #[error("PTP frames would share the protected window of stream \"{stream}\" (traffic class {class}): {}", pick(*.instead))]
    StreamClass {
        class: u8,
        stream: String,
        /// The lowest class that opens and no stream uses, if any.
        instead: Option<u8>,
    },
}

fn pick(instead: Option<u8>) -> String {
    match instead {
        Some(c) => format!("pick a best-effort class, e.g. {c}"),
        None => "pick a best-effort class: every class that opens carries a stream, so open one that none uses in some entry".to_owned(),
    }
}

// ---- the file ------------------------------------------------------------------

pub(super) fn ptp(raw: &Tab<RawPtp>, schedule: &Schedule) -> Result<PtpSection, Located> {
    let r = raw.get_ref();
    let mode = match &r.mode {
        None => PtpMode::Auto,
        Some(m) => m
            .get_ref()
            .parse()
            .map_err(|e| at(m, format!("`mode`: {e}")))?,
    };
    let profile = match &r.profile {
        None => PtpProfile::Gptp,
        Some(p) => p
            .get_ref()
            .parse()
            .map_err(|e| at(p, format!("`profile`: {e}")))?,
    };
    let mut s = PtpSection {
        mode,
        ..PtpSection::defaults(profile)
    };
    if let Some(v) = &r.domain {
        s.domain = ranged(
            v,
            "domain",
            DOMAIN_RANGE,
            "the PTP domain number; gPTP uses 0",
        )?;
    }
    if let Some(v) = &r.priority1 {
        s.priority1 = uint(
            v,
            "priority1",
            "0..=255 (lower wins the best master clock algorithm)",
        )?;
    }
    if let Some(v) = &r.priority2 {
        s.priority2 = uint(
            v,
            "priority2",
            "0..=255 (lower wins the best master clock algorithm)",
        )?;
    }
    if let Some(v) = &r.class {
        let c: u8 = uint(v, "class", "traffic classes 0..=7")?;
        if usize::from(c) >= TRAFFIC_CLASSES {
            return Err(at(
                v,
                format!("`class` {c} does not exist: use a traffic class 0..=7"),
            ));
        }
        s.class = Some(c);
    }
    if let Some(v) = &r.log_sync_interval {
        s.log_sync_interval = ranged(v, "log_sync_interval", LOG_SYNC_RANGE, LOG2_SECONDS)?;
    }
    if let Some(v) = &r.log_announce_interval {
        s.log_announce_interval =
            ranged(v, "log_announce_interval", LOG_ANNOUNCE_RANGE, LOG2_SECONDS)?;
    }
    if let Some(v) = &r.log_delay_interval {
        s.log_delay_interval = ranged(v, "log_delay_interval", LOG_DELAY_RANGE, LOG2_SECONDS)?;
    }
    if let Some(v) = &r.announce_receipt_timeout {
        s.announce_receipt_timeout = ranged(
            v,
            "announce_receipt_timeout",
            ANNOUNCE_TIMEOUT_RANGE,
            "announce intervals",
        )?;
    }
    if let Some(v) = &r.sync_threshold {
        s.sync_threshold_ns = match duration(v, "sync_threshold")? {
            0 => return Err(at(v, "`sync_threshold` must be positive: a run may start only when |offset| is below it; give e.g. \"100us\"")),
            ns => ns,
        };
    }
    if let Some(v) = &r.sync_wait {
        s.sync_wait_ns = duration(v, "sync_wait")?;
    }
    if let Some(v) = &r.guard_band {
        s.guard_band_ns = duration(v, "guard_band")?;
    }
    if let Some(v) = &r.ptp4l_socket {
        s.ptp4l_socket = socket(v)?;
    }
    if mode != PtpMode::Off {
        check_class(raw, &s, schedule)?;
    }
    Ok(s)
}

const LOG2_SECONDS: &str = "log2 of seconds: -3 = 125ms, 0 = 1s";

/// An integer inside `range`, which fits `T`.
fn ranged<T>(
    v: &Spanned<Int>,
    key: &str,
    range: RangeInclusive<T>,
    unit: &str,
) -> Result<T, Located>
where
    T: TryFrom<i128> + Into<i128> + Copy + fmt::Display,
{
    let n = v.get_ref().0;
    let (lo, hi) = (*range.start(), *range.end());
    if n < lo.into() || n > hi.into() {
        return Err(at(
            v,
            format!("`{key}` {n} is out of range: use {lo}..={hi} ({unit})"),
        ));
    }
    T::try_from(n).map_err(|_| at(v, format!("`{key}` {n} is out of range: use {lo}..={hi}")))
}

fn socket(v: &Spanned<String>) -> Result<PathBuf, Located> {
    let path = v.get_ref();
    if path.trim().is_empty() {
        return Err(at(v, format!("`ptp4l_socket` is empty: give the path of ptp4l's UNIX socket (its uds_address), e.g. \"{DEFAULT_PTP4L_SOCKET}\"")));
    }
    if path.contains('\0') || path.len() > MAX_SOCKET_PATH_BYTES {
        return Err(at(v, format!("`ptp4l_socket` is not a UNIX socket path (at most {MAX_SOCKET_PATH_BYTES} bytes, no NUL): give a shorter path, e.g. \"{DEFAULT_PTP4L_SOCKET}\"")));
    }
    Ok(PathBuf::from(path))
}

/// The class at the value that set it, or at `[ptp]` when the default
/// was taken.
fn check_class(raw: &Tab<RawPtp>, s: &PtpSection, schedule: &Schedule) -> Result<(), Located> {
    let Err(e) = s.check_class(schedule) else {
        return Ok(());
    };
    match (&raw.get_ref().class, &e) {
        (Some(v), _) => Err(at(v, e.to_string())),
        (None, PtpClassError::NoneOpens) => Err(at(raw, format!("{e}, or remove [ptp]"))),
        (None, PtpClassError::StreamClass { class, .. }) => Err(at(
            raw,
            format!("[ptp] gives no `class`, and the default (class {class}, the lowest that opens) is a stream's class: {e} (set it with `class`)"),
        )),
        (None, _) => Err(at(raw, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_errors_list_them() {
        for name in PtpMode::NAMES {
            let m: PtpMode = name.parse().unwrap();
            assert_eq!((m.as_str(), m.to_string()), (name, name.to_owned()));
        }
        for name in PtpProfile::NAMES {
            let p: PtpProfile = name.parse().unwrap();
            assert_eq!((p.as_str(), p.to_string()), (name, name.to_owned()));
        }
        let e = "Slave".parse::<PtpMode>().unwrap_err();
        assert_eq!(
            e,
            "unknown PTP mode \"Slave\": use one of off, slave, master, auto, linuxptp"
        );
        let e = "802.1as".parse::<PtpProfile>().unwrap_err();
        assert!(e.contains("use one of gptp, 1588"), "{e}");
    }

    #[test]
    fn defaults_differ_per_profile() {
        let g = PtpSection::defaults(PtpProfile::Gptp);
        let d = PtpSection::defaults(PtpProfile::Default1588);
        assert_eq!(
            (
                g.priority1,
                g.priority2,
                g.log_sync_interval,
                g.log_announce_interval
            ),
            (248, 248, -3, 0)
        );
        assert_eq!(
            (
                d.priority1,
                d.priority2,
                d.log_sync_interval,
                d.log_announce_interval
            ),
            (128, 128, 0, 1)
        );
        for s in [&g, &d] {
            assert_eq!(s.mode, PtpMode::Auto);
            assert_eq!((s.domain, s.class, s.log_delay_interval), (0, None, 0));
            assert_eq!(s.announce_receipt_timeout, 3);
            assert_eq!(
                (s.sync_threshold_ns, s.sync_wait_ns),
                (100_000, 30_000_000_000)
            );
            assert_eq!(s.ptp4l_socket, PathBuf::from("/var/run/ptp4l"));
        }
    }

    #[test]
    fn log_intervals_in_ns() {
        assert_eq!(log_interval_ns(0), 1_000_000_000);
        assert_eq!(log_interval_ns(-3), 125_000_000);
        assert_eq!(log_interval_ns(-7), 7_812_500);
        assert_eq!(log_interval_ns(4), 16_000_000_000);
        assert_eq!(log_interval_ns(i8::MAX), u64::MAX);
        assert_eq!(log_interval_ns(i8::MIN), 0);
    }

    #[test]
    fn stream_class_message_suggests_a_class_or_says_to_open_one() {
        let e = PtpClassError::StreamClass {
            class: 7,
            stream: "sensor".into(),
            instead: Some(2),
        };
        assert_eq!(e.to_string(), "PTP frames would share the protected window of stream \"sensor\" (traffic class 7): pick a best-effort class, e.g. 2");
        let e = PtpClassError::StreamClass {
            class: 7,
            stream: "sensor".into(),
            instead: None,
        };
        assert!(e.to_string().contains("open one that none uses"), "{e}");
    }
}
