//! The PTP flags of takt-talker and takt-listener, merged over the schedule
//! file's `[ptp]` section (docs/schedule-format.md), and the host clock test
//! aids `--clock-offset` / `--clock-drift`.

use std::path::PathBuf;

use takt_scheduler::config::{PtpMode, PtpProfile, PtpSection, MAX_SOCKET_PATH_BYTES};
use takt_scheduler::{units, HostSkew, Schedule};

/// Help text for the binaries' after-help.
pub const PTP_HELP: &str = "\
Time synchronisation (--ptp, [ptp] in the schedule file):
  --ptp slave|master|auto runs a PTP port on the device (auto: the best
  master clock algorithm decides), --ptp linuxptp reads the offset of a
  ptp4l running beside takt (--ptp4l-socket), --ptp off turns a file's
  [ptp] off. A talker (slave/auto port, or linuxptp) starts only once
  |offset| < --sync-threshold, waiting at most --sync-wait, else exits 1;
  a listener with its own port starts at once. What is sent or measured
  out of sync is counted apart (unsynced). Each --ptp-* flag overrides
  its [ptp] key; the report has a ptp line (JSON: ptp).
  --clock-offset / --clock-drift run takt's clock off the system clock, as
  a second host's would be, to test synchronisation on one machine.
  e.g. --ptp slave --ptp-class 0 --sync-threshold 50us --clock-offset +5ms";

/// Flags of PTP (each overrides the schedule's `[ptp]`) and the clock aids.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct PtpArgs {
    /// Time synchronisation: off, slave, master, auto (best master clock
    /// algorithm) or linuxptp (follow a running ptp4l) (default: [ptp] mode
    /// of the schedule file, auto when it leaves mode out; off without [ptp])
    #[arg(long = "ptp", value_name = "MODE", value_parser = mode_arg)]
    pub ptp: Option<PtpMode>,
    /// PTP profile: gptp (IEEE 802.1AS) or 1588 (default profile, L2,
    /// end-to-end); its defaults fill what the file leaves out (default:
    /// [ptp] profile, else gptp)
    #[arg(long, value_name = "gptp|1588", value_parser = profile_arg)]
    pub ptp_profile: Option<PtpProfile>,
    /// PTP domain number (default: [ptp] domain, else 0)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=127))]
    pub ptp_domain: Option<u8>,
    /// Best master clock priority1, lower wins (default: [ptp] priority1,
    /// else 248 for gptp, 128 for 1588)
    #[arg(long, value_name = "N")]
    pub ptp_priority1: Option<u8>,
    /// Best master clock priority2, lower wins (default: as priority1)
    #[arg(long, value_name = "N")]
    pub ptp_priority2: Option<u8>,
    /// Traffic class whose gate PTP frames wait for; never a stream's
    /// (default: [ptp] class, else the lowest-numbered class that opens)
    #[arg(long, value_name = "0-7", value_parser = clap::value_parser!(u8).range(0..=7))]
    pub ptp_class: Option<u8>,
    /// Start the run only once |offset from master| is below this, e.g.
    /// 50us (default: [ptp] sync_threshold, else 100us)
    #[arg(long, value_name = "DURATION", value_parser = threshold_arg)]
    pub sync_threshold: Option<u64>,
    /// Refuse to start when not in sync after this long, e.g. 60s
    /// (default: [ptp] sync_wait, else 30s)
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration_ns)]
    pub sync_wait: Option<u64>,
    /// A talker's PTP frame must end this long before its gate closes,
    /// e.g. 30us (default: [ptp] guard_band, else 0; the control plane's
    /// guard band, if larger, applies too)
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration_ns)]
    pub ptp_guard_band: Option<u64>,
    /// --ptp linuxptp: ptp4l's UNIX socket (its uds_address) (default:
    /// [ptp] ptp4l_socket, else /var/run/ptp4l)
    #[arg(long = "ptp4l-socket", value_name = "PATH", value_parser = socket_arg)]
    pub ptp4l_socket: Option<PathBuf>,
    /// Test aid: run takt's clock this far from the system clock, as a
    /// second host's would be, e.g. +5ms or -3ms (with or without PTP)
    #[arg(long, value_name = "SIGNED-DURATION", value_parser = units::parse_signed_duration_ns, allow_hyphen_values = true)]
    pub clock_offset: Option<i64>,
    /// Test aid: and run it this many ppm faster than the system clock,
    /// e.g. 40 or -12.5 (at most 1000 either way)
    #[arg(long, value_name = "PPM", value_parser = drift_arg, allow_hyphen_values = true)]
    pub clock_drift: Option<f64>,
}

/// The largest |--clock-drift|, ppm: far beyond any oscillator (±100 ppm
/// is the worst a crystal is specified for), still a clock a servo can
/// follow.
pub const MAX_DRIFT_PPM: f64 = 1000.0;

fn mode_arg(s: &str) -> Result<PtpMode, String> {
    s.parse()
}

fn profile_arg(s: &str) -> Result<PtpProfile, String> {
    s.parse()
}

fn threshold_arg(s: &str) -> Result<u64, String> {
    match units::parse_duration_ns(s)? {
        0 => Err("the threshold must be positive: a run starts only when |offset| is below it; give e.g. 100us".to_owned()),
        ns => Ok(ns),
    }
}

fn socket_arg(s: &str) -> Result<PathBuf, String> {
    if s.trim().is_empty() {
        return Err(
            "give the path of ptp4l's UNIX socket (its uds_address), e.g. /var/run/ptp4l"
                .to_owned(),
        );
    }
    if s.len() > MAX_SOCKET_PATH_BYTES {
        return Err(format!(
            "a UNIX socket path has at most {MAX_SOCKET_PATH_BYTES} bytes: give a shorter path"
        ));
    }
    Ok(PathBuf::from(s))
}

fn drift_arg(s: &str) -> Result<f64, String> {
    let ppm: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of ppm: write e.g. 40 or -12.5"))?;
    if !ppm.is_finite() || ppm.abs() > MAX_DRIFT_PPM {
        return Err(format!(
            "{s} ppm is out of range: give -{MAX_DRIFT_PPM}..={MAX_DRIFT_PPM} (a real oscillator is within ±100)"
        ));
    }
    Ok(ppm)
}

/// PTP's settings after flags and file are merged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtpSettings {
    /// What runs: the flags applied over the file's section, or over the
    /// profile's defaults when the file has none. Its mode is never off.
    pub section: PtpSection,
    /// The file's section as written, which a schedule change must repeat
    /// (`config::parse_change_with_ptp`).
    pub file: Option<PtpSection>,
}

impl PtpArgs {
    /// Flags over the file's section; None when PTP is off (no section and
    /// no --ptp, or mode off).
    pub fn resolve(&self, section: Option<&PtpSection>) -> Option<PtpSettings> {
        let mode = self.ptp.or(section.map(|s| s.mode))?;
        if mode == PtpMode::Off {
            return None;
        }
        let mut s = match (section, self.ptp_profile) {
            (Some(file), Some(p)) => with_profile(file, p),
            (Some(file), None) => file.clone(),
            (None, p) => PtpSection::defaults(p.unwrap_or(PtpProfile::Gptp)),
        };
        s.mode = mode;
        if let Some(d) = self.ptp_domain {
            s.domain = d;
        }
        if let Some(p) = self.ptp_priority1 {
            s.priority1 = p;
        }
        if let Some(p) = self.ptp_priority2 {
            s.priority2 = p;
        }
        if let Some(c) = self.ptp_class {
            s.class = Some(c);
        }
        if let Some(t) = self.sync_threshold {
            s.sync_threshold_ns = t;
        }
        if let Some(w) = self.sync_wait {
            s.sync_wait_ns = w;
        }
        if let Some(g) = self.ptp_guard_band {
            s.guard_band_ns = g;
        }
        if let Some(p) = &self.ptp4l_socket {
            s.ptp4l_socket = p.clone();
        }
        Some(PtpSettings {
            section: s,
            file: section.cloned(),
        })
    }

    /// The flags' and the file's class, checked against `schedule` as the
    /// loader checks it; Err(message saying what to change) is a bad-input
    /// exit 2.
    pub fn check(settings: &PtpSettings, schedule: &Schedule) -> Result<(), String> {
        let s = &settings.section;
        if s.mode == PtpMode::Off {
            return Ok(());
        }
        s.check_class(schedule).map(drop).map_err(|e| {
            let which = match (s.class, s.class_in(schedule)) {
                (Some(c), _) => format!("PTP class {c} (--ptp-class or [ptp] class)"),
                (None, Some(c)) => format!("PTP class {c}, the default (the lowest that opens)"),
                (None, None) => "PTP class".to_owned(),
            };
            format!("{which}: {e}; give the class with --ptp-class or `class` in [ptp]")
        })
    }

    /// How takt's clock differs from the system clock (--clock-offset,
    /// --clock-drift); zero without them.
    pub fn host_skew(&self) -> HostSkew {
        // Checked to ±1000 ppm by the parser, so the product fits.
        let drift_ppb = self
            .clock_drift
            .map_or(0, |ppm| (ppm * 1000.0).round() as i64);
        HostSkew {
            offset_ns: self.clock_offset.unwrap_or(0),
            drift_ppb,
        }
    }
}

/// `file` spoken in another profile: what the file gives stays, what it
/// left at its profile's default takes the new profile's default. (A key
/// written out with its profile's default value counts as left out.)
fn with_profile(file: &PtpSection, profile: PtpProfile) -> PtpSection {
    let old = PtpSection::defaults(file.profile);
    let new = PtpSection::defaults(profile);
    PtpSection {
        profile,
        priority1: pick(file.priority1, old.priority1, new.priority1),
        priority2: pick(file.priority2, old.priority2, new.priority2),
        log_sync_interval: pick(
            file.log_sync_interval,
            old.log_sync_interval,
            new.log_sync_interval,
        ),
        log_announce_interval: pick(
            file.log_announce_interval,
            old.log_announce_interval,
            new.log_announce_interval,
        ),
        log_delay_interval: pick(
            file.log_delay_interval,
            old.log_delay_interval,
            new.log_delay_interval,
        ),
        announce_receipt_timeout: pick(
            file.announce_receipt_timeout,
            old.announce_receipt_timeout,
            new.announce_receipt_timeout,
        ),
        ..file.clone()
    }
}

fn pick<T: PartialEq>(have: T, old_default: T, new_default: T) -> T {
    if have == old_default {
        new_default
    } else {
        have
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{two_class_schedule, GBPS};
    use clap::Parser;
    use takt_scheduler::config::DEFAULT_PTP4L_SOCKET;
    use takt_scheduler::{ClockId, GateControlList, GateEntry};

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        ptp: PtpArgs,
    }

    fn parse(args: &[&str]) -> Result<PtpArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("t").chain(args.iter().copied())).map(|c| c.ptp)
    }

    fn flags(args: &[&str]) -> PtpArgs {
        parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// A bad-input exit (2) whose message says `needle`.
    #[track_caller]
    fn refused(args: &[&str], needle: &str) {
        match parse(args) {
            Ok(p) => panic!("{args:?} accepted: {p:?}"),
            Err(e) => {
                assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
                let text = e.to_string();
                assert!(text.contains(needle), "{args:?}: {needle:?} not in {text}");
            }
        }
    }

    fn file() -> PtpSection {
        PtpSection {
            mode: PtpMode::Slave,
            domain: 5,
            priority1: 100,
            class: Some(2),
            sync_threshold_ns: 20_000,
            ..PtpSection::defaults(PtpProfile::Gptp)
        }
    }

    #[test]
    fn every_flag_parses() {
        let p = flags(&[
            "--ptp",
            "master",
            "--ptp-profile",
            "1588",
            "--ptp-domain",
            "127",
            "--ptp-priority1",
            "0",
            "--ptp-priority2",
            "255",
            "--ptp-class",
            "3",
            "--sync-threshold",
            "1.5us",
            "--sync-wait",
            "2s",
            "--ptp4l-socket",
            "/run/ptp4l-b",
            "--clock-offset",
            "-3ms",
            "--clock-drift",
            "-12.5",
        ]);
        assert_eq!(p.ptp, Some(PtpMode::Master));
        assert_eq!(p.ptp_profile, Some(PtpProfile::Default1588));
        assert_eq!(
            (p.ptp_domain, p.ptp_priority1, p.ptp_priority2, p.ptp_class),
            (Some(127), Some(0), Some(255), Some(3))
        );
        assert_eq!(
            (p.sync_threshold, p.sync_wait),
            (Some(1_500), Some(2_000_000_000))
        );
        assert_eq!(p.ptp4l_socket, Some(PathBuf::from("/run/ptp4l-b")));
        assert_eq!(
            (p.clock_offset, p.clock_drift),
            (Some(-3_000_000), Some(-12.5))
        );
        for mode in PtpMode::NAMES {
            assert_eq!(flags(&["--ptp", mode]).ptp.map(PtpMode::as_str), Some(mode));
        }
        let none = flags(&[]);
        assert!(none.ptp.is_none() && none.clock_offset.is_none());
    }

    #[test]
    fn bad_values_exit_2_saying_what_to_give() {
        refused(
            &["--ptp", "grandmaster"],
            "use one of off, slave, master, auto, linuxptp",
        );
        refused(&["--ptp-profile", "802.1as"], "use one of gptp, 1588");
        refused(&["--ptp-domain", "128"], "0..=127");
        refused(&["--ptp-priority1", "256"], "256");
        refused(&["--ptp-class", "8"], "0..=7");
        refused(&["--sync-threshold", "0"], "the threshold must be positive");
        refused(&["--sync-threshold", "5 parsecs"], "is not a duration");
        refused(&["--sync-wait=-1s"], "is not a duration");
        refused(&["--ptp4l-socket", ""], "ptp4l's UNIX socket");
        refused(&["--ptp4l-socket", &"/x".repeat(60)], "at most 107 bytes");
        refused(&["--clock-offset", "3h"], "is not a signed duration");
        refused(&["--clock-offset", "--5ms"], "is not a signed duration");
        refused(&["--clock-offset", "-10000000000s"], "is out of range");
        refused(&["--clock-drift", "fast"], "is not a number of ppm");
        refused(&["--clock-drift", "NaN"], "out of range");
        refused(&["--clock-drift", "inf"], "out of range");
    }

    #[test]
    fn signed_offsets_in_every_spelling() {
        for (arg, ns) in [
            (&["--clock-offset", "+5ms"][..], 5_000_000),
            (&["--clock-offset", "-3ms"][..], -3_000_000),
            (&["--clock-offset=-250us"][..], -250_000),
            (&["--clock-offset", "250us"][..], 250_000),
            (&["--clock-offset", "0"][..], 0),
        ] {
            let p = flags(arg);
            assert_eq!(p.clock_offset, Some(ns), "{arg:?}");
            assert_eq!(p.host_skew().offset_ns, ns, "{arg:?}");
        }
    }

    #[test]
    fn drift_is_ppm_up_to_1000_either_way_and_becomes_ppb() {
        for (ppm, ppb) in [
            ("40", 40_000),
            ("-12.5", -12_500),
            ("1000", 1_000_000),
            ("-1000", -1_000_000),
            ("0.0004", 0),
        ] {
            assert_eq!(
                flags(&["--clock-drift", ppm]).host_skew().drift_ppb,
                ppb,
                "{ppm}"
            );
        }
        for bad in ["1000.001", "-1001", "1e9"] {
            refused(&["--clock-drift", bad], "out of range: give -1000..=1000");
        }
        assert_eq!(flags(&[]).host_skew(), HostSkew::default());
    }

    #[test]
    fn ptp_is_off_without_a_section_or_flag_and_with_ptp_off() {
        assert_eq!(flags(&[]).resolve(None), None);
        // Values alone do not turn PTP on.
        assert_eq!(flags(&["--ptp-domain", "3"]).resolve(None), None);
        assert_eq!(flags(&["--ptp", "off"]).resolve(Some(&file())), None);
        let off = PtpSection {
            mode: PtpMode::Off,
            ..file()
        };
        assert_eq!(flags(&[]).resolve(Some(&off)), None);
        // --ptp turns a file's `mode = "off"` back on, with its values.
        let on = flags(&["--ptp", "slave"]).resolve(Some(&off)).unwrap();
        assert_eq!(on.section, file());
        assert_eq!(on.file, Some(off));
    }

    #[test]
    fn flags_override_the_file_and_keep_the_rest() {
        let s = flags(&[]).resolve(Some(&file())).unwrap();
        assert_eq!(s.section, file(), "the file as it is");
        let s = flags(&[
            "--ptp",
            "auto",
            "--ptp-domain",
            "7",
            "--ptp-class",
            "0",
            "--sync-wait",
            "1s",
            "--ptp4l-socket",
            "/run/p",
        ])
        .resolve(Some(&file()))
        .unwrap();
        let r = &s.section;
        assert_eq!(
            (r.mode, r.domain, r.class, r.sync_wait_ns),
            (PtpMode::Auto, 7, Some(0), 1_000_000_000)
        );
        assert_eq!(r.ptp4l_socket, PathBuf::from("/run/p"));
        assert_eq!(
            (r.priority1, r.sync_threshold_ns),
            (100, 20_000),
            "kept from the file"
        );
        assert_eq!(s.file, Some(file()), "what a change must repeat");
    }

    #[test]
    fn without_a_file_the_profile_defaults_apply() {
        let g = flags(&["--ptp", "master"]).resolve(None).unwrap();
        assert_eq!(
            g.section,
            PtpSection {
                mode: PtpMode::Master,
                ..PtpSection::defaults(PtpProfile::Gptp)
            }
        );
        assert_eq!(g.file, None);
        let d = flags(&["--ptp", "slave", "--ptp-profile", "1588"])
            .resolve(None)
            .unwrap()
            .section;
        assert_eq!(
            (
                d.profile,
                d.priority1,
                d.priority2,
                d.log_sync_interval,
                d.log_announce_interval
            ),
            (PtpProfile::Default1588, 128, 128, 0, 1)
        );
        assert_eq!(d.ptp4l_socket, PathBuf::from(DEFAULT_PTP4L_SOCKET));
    }

    #[test]
    fn another_profile_replaces_only_the_defaults_the_file_left() {
        // The file gives priority1 (100) and leaves the rest at gPTP's defaults.
        let s = flags(&["--ptp-profile", "1588"])
            .resolve(Some(&file()))
            .unwrap()
            .section;
        assert_eq!(s.profile, PtpProfile::Default1588);
        assert_eq!(s.priority1, 100, "given by the file");
        assert_eq!(s.priority2, 128, "1588's default");
        assert_eq!((s.log_sync_interval, s.log_announce_interval), (0, 1));
        assert_eq!(
            (s.domain, s.class, s.sync_threshold_ns),
            (5, Some(2), 20_000)
        );
        // Flags still win over the new defaults.
        let s = flags(&["--ptp-profile", "1588", "--ptp-priority2", "9"])
            .resolve(Some(&file()))
            .unwrap()
            .section;
        assert_eq!(s.priority2, 9);
        // The same profile again changes nothing.
        let s = flags(&["--ptp-profile", "gptp"])
            .resolve(Some(&file()))
            .unwrap();
        assert_eq!(s.section, file());
    }

    #[test]
    fn check_refuses_a_streams_class_and_one_that_never_opens() {
        // Class 7 and 5 carry streams, 0..=3 are best effort, 4 never opens.
        let sched = two_class_schedule();
        let settings = |args: &[&str]| flags(args).resolve(None).unwrap();
        assert_eq!(
            PtpArgs::check(&settings(&["--ptp", "auto"]), &sched),
            Ok(())
        );
        assert_eq!(
            PtpArgs::check(&settings(&["--ptp", "auto", "--ptp-class", "3"]), &sched),
            Ok(())
        );
        let e =
            PtpArgs::check(&settings(&["--ptp", "auto", "--ptp-class", "7"]), &sched).unwrap_err();
        assert_eq!(e, "PTP class 7 (--ptp-class or [ptp] class): PTP frames would share the protected window of stream \"control\" (traffic class 7): pick a best-effort class, e.g. 0; give the class with --ptp-class or `class` in [ptp]");
        let e =
            PtpArgs::check(&settings(&["--ptp", "auto", "--ptp-class", "4"]), &sched).unwrap_err();
        assert!(e.contains("traffic class 4 never opens"), "{e}");
        // The default class is checked too: here class 5 opens first and
        // carries a stream.
        let oper = GateControlList::new(
            0,
            None,
            0,
            vec![
                GateEntry {
                    gate_mask: 1 << 5,
                    interval_ns: 50_000,
                },
                GateEntry {
                    gate_mask: 1 << 6,
                    interval_ns: 50_000,
                },
            ],
        )
        .unwrap();
        let video = crate::fixtures::stream("video", 5, 128, 0, 1, 0);
        let sched = Schedule::new(ClockId::Tai, GBPS, oper, None, vec![video]).unwrap();
        let e = PtpArgs::check(&settings(&["--ptp", "slave"]), &sched).unwrap_err();
        assert!(
            e.starts_with("PTP class 5, the default (the lowest that opens): PTP frames would share the protected window of stream \"video\""),
            "{e}"
        );
        assert!(e.contains("e.g. 6"), "{e}");
    }
}
