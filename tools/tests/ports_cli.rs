//! `takt-talker` and `takt-listener` with `--device` more than once (the
//! ports of docs/redundancy.md): what is refused before any device is
//! opened, with exit 2 and a message that says what to give (runs over two
//! ports: frer_veth.rs).

mod common;

use std::process::Output;

use common::{assert_no_panic, example, text, TempDir};

const TALKER: &str = env!("CARGO_BIN_EXE_takt-talker");
const LISTENER: &str = env!("CARGO_BIN_EXE_takt-listener");
const BOTH: [&str; 2] = [TALKER, LISTENER];

fn run(bin: &str, args: &[&str]) -> Output {
    let out = common::run(bin, args);
    assert_no_panic(&out);
    out
}

fn refused(bin: &str, args: &[&str], says: &[&str]) {
    let out = run(bin, args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{bin} {args:?}: {err}");
    for s in says {
        assert!(err.contains(s), "{bin} {args:?}: {s:?} missing from\n{err}");
    }
    assert_eq!(text(&out.stdout), "", "{bin}: a report after a refusal");
}

/// One stream on ports 0 and 1, replicated.
const FRER: &str = r#"[schedule]
clock = "tai"
cycle_time = "1ms"

[[schedule.entry]]
gates = [7]
interval = "100us"

[[schedule.entry]]
gates = [0]
interval = "900us"

[link]
speed = "1Gbps"

[[stream]]
name = "sensor"
traffic_class = 7
vlan_id = 100
dst_mac = "91:e0:f0:00:fe:00"
frame_size = 128
offset = "10us"
ports = [0, 1]
redundancy = "frer"
"#;

#[test]
fn one_device_given_twice_exits_2_naming_both() {
    let schedule = example("single-stream-1ms.toml");
    for bin in BOTH {
        for (a, b) in [
            ("packet:takt-none0", "packet:takt-none0"),
            ("packet:takt-none0", "xdp:takt-none0@0"),
            ("sim", "sim"),
        ] {
            refused(
                bin,
                &["--schedule", &schedule, "--device", a, "--device", b],
                &[
                    &format!("--device {a} and --device {b} are the same device"),
                    "its own interface",
                ],
            );
        }
    }
}

#[test]
fn more_devices_than_the_schedule_has_ports_exits_2() {
    let schedule = example("single-stream-1ms.toml");
    for bin in BOTH {
        refused(
            bin,
            &[
                "--schedule",
                &schedule,
                "--device",
                "packet:takt-none0",
                "--device",
                "packet:takt-none1",
                "--cycles",
                "5",
            ],
            &[
                "--device was given 2 times but the schedule uses 1 port",
                "give --device 1 time",
            ],
        );
    }
}

#[test]
fn fewer_devices_than_the_schedule_has_ports_exits_2_saying_how_many() {
    let dir = TempDir::new("ports-few");
    let file = dir.write("frer.toml", FRER);
    for bin in BOTH {
        refused(
            bin,
            &["--schedule", &file, "--device", "packet:takt-none0"],
            &[
                "the schedule uses 2 ports",
                "stream \"sensor\" has ports = [0, 1]",
                "give --device 2 times, port 0 first",
            ],
        );
    }
}

#[test]
fn ptp_with_two_ports_exits_2_saying_ptp_runs_on_one() {
    let dir = TempDir::new("ports-ptp");
    let file = dir.write("frer.toml", FRER);
    for bin in BOTH {
        refused(
            bin,
            &[
                "--schedule",
                &file,
                "--device",
                "packet:takt-none0",
                "--device",
                "packet:takt-none1",
                "--ptp",
                "master",
            ],
            &["PTP runs on one port only", "leave --ptp out"],
        );
    }
}

#[test]
fn help_has_a_two_port_example() {
    for bin in BOTH {
        let out = run(bin, &["--help"]);
        assert_eq!(out.status.code(), Some(0));
        let help = text(&out.stdout);
        for needle in [
            "--device packet:eth0 --device packet:eth1",
            "docs/examples/frer.toml",
            "Several ports (--device more than once",
            "answers\n  on port 0",
        ] {
            assert!(help.contains(needle), "{bin}: {needle:?} missing");
        }
    }
}
