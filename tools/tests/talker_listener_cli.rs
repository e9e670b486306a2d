//! `takt-talker` and `takt-listener` as users run them: help, exit codes
//! and messages for every kind of bad input (runs themselves:
//! talker_listener_sim.rs, talker_listener_veth.rs, control_veth.rs).

mod common;

use std::process::Output;

use common::{assert_no_panic, example, text, TempDir};

const TALKER: &str = env!("CARGO_BIN_EXE_takt-talker");
const LISTENER: &str = env!("CARGO_BIN_EXE_takt-listener");
const BOTH: [&str; 2] = [TALKER, LISTENER];

fn name(bin: &str) -> &str {
    if bin == TALKER {
        "takt-talker"
    } else {
        "takt-listener"
    }
}

fn run(bin: &str, args: &[&str]) -> Output {
    let out = common::run(bin, args);
    assert_no_panic(&out);
    out
}

/// A valid schedule and `--cycles 5`, with `device`.
fn with_device(bin: &str, device: &str) -> Output {
    let schedule = example("single-stream-1ms.toml");
    run(
        bin,
        &["--schedule", &schedule, "--device", device, "--cycles", "5"],
    )
}

#[test]
fn help_has_an_example_the_devices_and_the_exit_status() {
    for bin in BOTH {
        let out = run(bin, &["--help"]);
        assert_eq!(out.status.code(), Some(0), "{bin}");
        let help = text(&out.stdout);
        for needle in [
            "Example",
            &format!("{} --schedule docs/examples/", name(bin)),
            "--device <SPEC>",
            "xdp:IFNAME@QUEUE",
            "takt loopback",
            "Exit status",
            "  0  ",
            "  1  ",
            "  2  ",
            "--allow-overbooking",
        ] {
            assert!(
                help.contains(needle),
                "{bin}: {needle:?} missing from\n{help}"
            );
        }
        let out = run(bin, &["--version"]);
        assert_eq!(out.status.code(), Some(0), "{bin}");
        assert!(text(&out.stdout).starts_with(name(bin)));
    }
}

#[test]
fn malformed_device_spec_exits_2_naming_it() {
    for bin in BOTH {
        for (spec, reason) in [
            ("bogus", "unknown backend \"bogus\""),
            ("xdp:eth0@x", "queue \"x\" is not a number"),
            ("vfio:zz", "not a PCI address"),
        ] {
            let out = with_device(bin, spec);
            assert_eq!(out.status.code(), Some(2), "{bin} --device {spec}");
            let err = text(&out.stderr);
            assert!(err.contains(&format!("'{spec}'")), "{bin}: {err}");
            assert!(err.contains(reason), "{bin}: {err}");
            assert_eq!(text(&out.stdout), "");
        }
    }
}

#[test]
fn sim_device_exits_2_pointing_to_takt_loopback() {
    for bin in BOTH {
        let out = with_device(bin, "sim");
        assert_eq!(out.status.code(), Some(2), "{bin}");
        let err = text(&out.stderr);
        assert!(err.contains("--device sim"), "{bin}: {err}");
        assert!(err.contains("takt loopback"), "{bin}: {err}");
        assert_eq!(text(&out.stdout), "");
    }
}

#[test]
fn a_device_that_is_not_there_exits_2_naming_it() {
    // No PCI device sits at ff:1f.7 and no interface is called takt-none0
    // on any machine this runs on.
    for bin in BOTH {
        for (spec, name) in [
            ("vfio:0000:ff:1f.7", "0000:ff:1f.7"),
            ("packet:takt-none0", "takt-none0"),
            ("xdp:takt-none0@0", "no network interface \"takt-none0\""),
        ] {
            let out = with_device(bin, spec);
            assert_eq!(out.status.code(), Some(2), "{bin} {spec}");
            let err = text(&out.stderr);
            assert!(err.contains(name), "{bin}: {err}");
            assert_eq!(text(&out.stdout), "");
        }
    }
}

#[test]
fn bad_schedule_exits_2_with_file_line_col() {
    let dir = TempDir::new("bad-schedule");
    // Line 6, column 12 is the value of `interval`.
    let bad = dir.write(
        "zero-interval.toml",
        "[schedule]\ncycle_time = \"1ms\"\n\n[[schedule.entry]]\ngates = [7]\ninterval = \"0us\"\n",
    );
    let missing = dir.file("missing.toml");
    for bin in BOTH {
        let out = run(bin, &["--schedule", &bad, "--device", "xdp:takt-none0@0"]);
        assert_eq!(out.status.code(), Some(2), "{bin}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with(&format!("{bad}:6:12: error: ")),
            "{bin}: {err}"
        );
        assert!(!err.contains("takt-none0"), "schedule before device: {err}");

        let out = run(
            bin,
            &["--schedule", &missing, "--device", "xdp:takt-none0@0"],
        );
        assert_eq!(out.status.code(), Some(2), "{bin}");
        assert!(text(&out.stderr).starts_with(&format!("{missing}:")));
    }
}

#[test]
fn overbooked_schedule_needs_the_flag() {
    let file = example("overbooked.toml");
    for bin in BOTH {
        let out = run(bin, &["--schedule", &file, "--device", "xdp:takt-none0@0"]);
        assert_eq!(out.status.code(), Some(2), "{bin}");
        assert!(text(&out.stderr).contains(": error: "));
        // Accepted with the flag: it gets as far as the device.
        let out = run(
            bin,
            &[
                "--schedule",
                &file,
                "--device",
                "xdp:takt-none0@0",
                "--allow-overbooking",
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{bin}");
        assert!(text(&out.stderr).contains("no network interface \"takt-none0\""));
    }
}

#[test]
fn bad_flags_exit_2() {
    let schedule = example("single-stream-1ms.toml");
    let s = schedule.as_str();
    for bin in BOTH {
        for args in [
            &[
                "--schedule",
                s,
                "--device",
                "xdp:takt-none0@0",
                "--duration",
                "1s",
                "--cycles",
                "5",
            ][..],
            &["--schedule", s][..],
            &["--device", "xdp:takt-none0@0"][..],
            &[
                "--schedule",
                s,
                "--device",
                "xdp:takt-none0@0",
                "--duration",
                "soon",
            ][..],
            &[
                "--schedule",
                s,
                "--device",
                "xdp:takt-none0@0",
                "--batch",
                "65",
            ][..],
            &[
                "--schedule",
                s,
                "--device",
                "xdp:takt-none0@0",
                "--report",
                "xml",
            ][..],
            &[
                "--schedule",
                s,
                "--device",
                "xdp:takt-none0@0",
                "--no-such-flag",
            ][..],
        ] {
            let out = run(bin, args);
            assert_eq!(out.status.code(), Some(2), "{bin} {args:?}");
            assert!(text(&out.stderr).contains("error:"), "{bin} {args:?}");
            assert_eq!(text(&out.stdout), "");
        }
    }
    let out = run(
        TALKER,
        &[
            "--schedule",
            s,
            "--device",
            "xdp:takt-none0@0",
            "--duration",
            "1s",
            "--cycles",
            "5",
        ],
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("--duration") && err.contains("--cycles"),
        "{err}"
    );
}

/// `ARGS` after a valid schedule and a device that is not there.
fn with_rt_flags(bin: &str, flags: &[&str]) -> Output {
    let schedule = example("single-stream-1ms.toml");
    let mut args = vec!["--schedule", &schedule, "--device", "xdp:takt-none0@0"];
    args.extend_from_slice(flags);
    run(bin, &args)
}

#[test]
fn real_time_flags_parse_and_are_in_the_help() {
    for bin in BOTH {
        let help = text(&run(bin, &["--help"]).stdout);
        for needle in [
            "--cpu <N>",
            "--priority <P>",
            "--wake <MODE>",
            "--margin",
            "--no-mlock",
        ] {
            assert!(help.contains(needle), "{bin}: {needle:?} missing");
        }
        assert!(help.contains("--cpu 1 --priority 80"), "{bin}: no example");
        // Accepted: it gets as far as the device.
        let out = with_rt_flags(bin, &["--wake", "spin", "--margin", "20us"]);
        assert_eq!(out.status.code(), Some(2), "{bin}");
        let err = text(&out.stderr);
        assert!(
            err.contains("no network interface \"takt-none0\""),
            "{bin}: {err}"
        );
    }
}

#[test]
fn bad_real_time_flag_values_exit_2() {
    for bin in BOTH {
        for (flags, says) in [
            (
                &["--wake", "x"][..],
                "unknown wake mode \"x\": use one of nanosleep, hybrid, spin",
            ),
            (&["--priority", "0"][..], "--priority"),
            (&["--priority", "100"][..], "--priority"),
            (&["--margin", "soon"][..], "--margin"),
            (&["--cpu", "one"][..], "--cpu"),
        ] {
            let out = with_rt_flags(bin, flags);
            assert_eq!(out.status.code(), Some(2), "{bin} {flags:?}");
            let err = text(&out.stderr);
            assert!(err.contains(says), "{bin} {flags:?}: {err}");
        }
    }
}

#[test]
fn a_cpu_that_is_not_there_exits_1_before_the_device_is_opened() {
    for bin in BOTH {
        let out = with_rt_flags(bin, &["--cpu", "999"]);
        assert_eq!(out.status.code(), Some(1), "{bin}");
        let err = text(&out.stderr);
        assert!(err.contains("no CPU 999"), "{bin}: {err}");
        assert!(err.contains("pick one of"), "{bin}: {err}");
        assert!(
            !err.contains("takt-none0"),
            "{bin}: device opened first: {err}"
        );
        assert_eq!(text(&out.stdout), "");
    }
}

/// Without root (setpriv to nobody), --priority is refused naming what is
/// missing, exit 1.
#[test]
fn priority_without_privilege_exits_1_naming_cap_sys_nice() {
    if !nix::unistd::geteuid().is_root() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("needs root (to drop to nobody) and CI=true forbids skipping");
        }
        eprintln!("skipped: needs root to drop to nobody with setpriv");
        return;
    }
    let schedule = example("single-stream-1ms.toml");
    for bin in BOTH {
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", bin])
            .args(["--schedule", &schedule, "--device", "xdp:takt-none0@0"])
            .args(["--priority", "80"])
            .output()
            .expect("setpriv (util-linux)");
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(1), "{bin}");
        let err = text(&out.stderr);
        assert!(
            err.contains("SCHED_FIFO 80 needs CAP_SYS_NICE or RLIMIT_RTPRIO >= 80"),
            "{bin}: {err}"
        );
    }
}

#[test]
fn bad_control_plane_flags_exit_2_saying_what_to_write() {
    let schedule = example("two-class-250us.toml");
    for bin in BOTH {
        for (flag, value, says) in [
            ("--ip", "10.77.0.1", "prefix length"),
            ("--ip", "10.77.0.1/40", "1..=32"),
            ("--ip", "224.0.0.1/4", "unicast"),
            ("--best-effort-class", "8", "8"),
            ("--status-port", "0", "0"),
            ("--guard-band", "soon", "soon"),
        ] {
            let args = [
                "--schedule",
                &schedule,
                "--device",
                "packet:lo",
                "--cycles",
                "5",
                flag,
                value,
            ];
            let out = run(bin, &args);
            assert_eq!(out.status.code(), Some(2), "{} {flag} {value}", name(bin));
            let err = text(&out.stderr);
            assert!(
                err.contains(flag) && err.contains(says),
                "{flag} {value}: {err}"
            );
        }
    }
}

#[test]
fn a_best_effort_class_that_never_opens_exits_2_naming_it() {
    if !nix::unistd::geteuid().is_root() {
        // Opening packet:lo needs CAP_NET_RAW, and that comes first.
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("needs root, and CI=true forbids skipping");
        }
        eprintln!("skipped: needs root (packet:lo)");
        return;
    }
    let schedule = example("two-class-250us.toml");
    for bin in BOTH {
        let out = run(
            bin,
            &[
                "--schedule",
                &schedule,
                "--device",
                "packet:lo",
                "--cycles",
                "5",
                "-q",
                "--ip",
                "10.99.0.1/24",
                "--best-effort-class",
                "6",
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}: {}",
            name(bin),
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("traffic class 6 never opens"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn bad_ptp_settings_exit_2_before_the_device_is_opened() {
    let schedule = example("time-sync.toml");
    // The device does not exist: a PTP error must come first (exit 2,
    // naming what to change), and nothing about the device.
    for bin in BOTH {
        for (flags, says) in [
            (
                &["--ptp", "slave", "--ptp-class", "7"][..],
                "stream \"sensor\"",
            ),
            (&["--ptp", "sometimes"][..], "sometimes"),
            (&["--ptp-profile", "ieee1588v3"][..], "ieee1588v3"),
            (&["--clock-offset", "soon"][..], "--clock-offset"),
            (&["--clock-drift", "5000"][..], "--clock-drift"),
            (&["--sync-threshold", "fast"][..], "--sync-threshold"),
        ] {
            let mut args = vec!["--schedule", &schedule, "--device", "packet:takt-none0"];
            args.extend_from_slice(flags);
            let out = run(bin, &args);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{} {flags:?}: {err}", name(bin));
            assert!(
                err.contains(says),
                "{} {flags:?} should name {says}: {err}",
                name(bin)
            );
            assert!(
                !err.contains("takt-none0"),
                "{} {flags:?}: {err}",
                name(bin)
            );
        }
    }
}

#[test]
fn the_help_explains_time_synchronisation() {
    for bin in BOTH {
        let help = text(&run(bin, &["--help"]).stdout);
        for flag in [
            "--ptp <",
            "--ptp-profile",
            "--sync-threshold",
            "--sync-wait",
            "--clock-offset",
            "--ptp4l-socket",
        ] {
            assert!(help.contains(flag), "{}: no {flag} in --help", name(bin));
        }
        assert!(help.contains("--ptp slave"), "{}: a PTP example", name(bin));
    }
}
