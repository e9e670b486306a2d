//! `takt export taprio` and `takt import taprio` as a user runs them: help,
//! exit status, hand-written tc scripts and `tc -j qdisc show` output, and
//! malformed input named at its token.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{assert_no_panic, example, run, text, TempDir};
use takt_scheduler::config;

const TAKT: &str = env!("CARGO_BIN_EXE_takt");

/// `takt import taprio -` with `input` on stdin.
fn import_stdin(input: &str, extra: &[&str]) -> Output {
    let mut child = Command::new(TAKT)
        .args(["import", "taprio", "-"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start takt");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_no_panic(&out);
    out
}

/// A list's base time and (gate mask, interval) pairs.
type List = (u64, Vec<(u8, u64)>);

/// The oper list's base time and entries, and the admin list, of a written
/// schedule file.
fn lists(toml: &str) -> (u64, Vec<(u8, u64)>, Option<List>) {
    let l = config::parse_str(toml, "imported.toml").expect("the output loads");
    let pairs = |g: &takt_scheduler::GateControlList| {
        g.entries()
            .iter()
            .map(|e| (e.gate_mask, e.interval_ns))
            .collect::<Vec<_>>()
    };
    let s = &l.schedule;
    (
        s.oper().base_time_ns(),
        pairs(s.oper()),
        s.admin().map(|a| (a.base_time_ns(), pairs(a))),
    )
}

#[test]
fn help_has_a_worked_example_and_the_exit_status() {
    for cmd in ["export", "import"] {
        let out = run(TAKT, &[cmd, "taprio", "--help"]);
        assert_eq!(out.status.code(), Some(0));
        let help = text(&out.stdout);
        assert!(help.contains("Example:"), "{cmd}: {help}");
        assert!(help.contains("Exit status:"), "{cmd}: {help}");
        assert!(help.contains("sched-entry S"), "{cmd}: {help}");
    }
}

#[test]
fn export_exits_0_with_commands_and_2_on_a_bad_file_or_flag() {
    let out = run(
        TAKT,
        &[
            "export",
            "taprio",
            &example("two-class-250us.toml"),
            "--dev",
            "eth0",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("tc qdisc replace dev eth0 parent root handle 100 taprio num_tc 8 map 0 1 2 3 4 5 6 7 0 0 0 0 0 0 0 0 queues 1@0 1@1 1@2 1@3 1@4 1@5 1@6 1@7 base-time "));
    assert!(lines[0].ends_with(" clockid CLOCK_TAI"));

    let dir = TempDir::new("taprio-cli-export");
    let bad = dir.write("bad.toml", "[schedule]\nclock = \"tai\"\nbase_time = 0\n\n[[schedule.entry]]\ngates = [9]\ninterval = \"1ms\"\n");
    let out = run(TAKT, &["export", "taprio", &bad, "--dev", "eth0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("{bad}:6:")),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());

    let out = run(
        TAKT,
        &["export", "taprio", &example("two-class-250us.toml")],
    );
    assert_eq!(out.status.code(), Some(2), "--dev is required");
    let out = run(
        TAKT,
        &[
            "export",
            "taprio",
            &example("two-class-250us.toml"),
            "--dev",
            "eth0",
            "--etf",
            "--etf-delta",
            "soon",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("soon"));

    // What the kernel's taprio cannot hold: an interval over 32 bits, a
    // cycle over INT_MAX ns.
    for (interval, says) in [("5s", "32-bit"), ("3s", "INT_MAX")] {
        let long = dir.write(
            "long.toml",
            &format!("[schedule]\nclock = \"tai\"\nbase_time = 0\n\n[[schedule.entry]]\ngates = [0]\ninterval = \"{interval}\"\n"),
        );
        let out = run(TAKT, &["export", "taprio", &long, "--dev", "eth0"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).contains(says), "{}", text(&out.stderr));
    }
}

#[test]
fn the_admin_switch_warning_is_printed_and_on_stderr() {
    let out = run(
        TAKT,
        &[
            "export",
            "taprio",
            &example("admin-oper-switch.toml"),
            "--dev",
            "eth0",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(
        stdout.contains(
            "# warning: the admin base-time 10000100000 is not on an oper cycle boundary"
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("warning: the admin base-time 10000100000"),
        "{stderr}"
    );
    let cmds: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(cmds.len(), 2);
    assert!(cmds[1].starts_with("tc qdisc replace dev eth0 parent root handle 100 taprio base-time 10000100000 sched-entry S 80 50000 "));
}

/// Written the way Intel's TSN guides and RTC-Testbench scripts write
/// taprio: variables, continuations, comments, mqprio-style map/queues,
/// txtime-assist flags, 0x masks, an ETF child and other commands around.
const HAND_WRITTEN: &str = r#"#!/bin/sh
# Qbv for the PLC cell: 3 classes on i225 (see the TSN guide)
IFACE=enp1s0
tc qdisc del dev $IFACE root 2>/dev/null
ethtool -L $IFACE combined 4   # one queue per class

tc qdisc replace dev $IFACE parent root handle 100 taprio \
    num_tc 3 \
    map 2 2 1 0 2 2 2 2 2 2 2 2 2 2 2 2 \
    queues 1@0 1@1 2@2 \
    base-time 1000000000 \
    sched-entry S 0x01 300000 \
    sched-entry S 0x02   300000 \
    sched-entry H 04 400000 \
    flags 0x1 \
    txtime-delay 500000 \
    clockid CLOCK_TAI

# launch time for the cyclic queue
tc qdisc replace dev $IFACE parent 100:1 etf \
    clockid CLOCK_TAI delta 500000 offload skip_sock_check
"#;

#[test]
fn a_hand_written_script_imports_to_its_entries() {
    let dir = TempDir::new("taprio-cli-script");
    let script = dir.write("qbv.sh", HAND_WRITTEN);
    let out_path = dir.file("qbv.toml");
    let out = run(TAKT, &["import", "taprio", &script, "-o", &out_path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let toml = std::fs::read_to_string(&out_path).unwrap();
    assert_eq!(
        lists(&toml),
        (
            1_000_000_000,
            vec![(0x01, 300_000), (0x02, 300_000), (0x04, 400_000)],
            None
        )
    );
    assert!(toml.contains("clock = \"tai\""));
    // What was left out, and H read as S, are said in the comments.
    assert!(toml.contains("num_tc 3; map 2 2 1 0"), "{toml}");
    assert!(toml.contains("flags 0x1; txtime-delay 500000"), "{toml}");
    assert!(toml.contains("read as S"), "{toml}");
    assert!(
        toml.contains("other qdiscs skipped: etf (line 20)"),
        "{toml}"
    );
}

/// `tc -j qdisc show dev eth0` of a running taprio (iproute2 6.1's shape).
const SHOW_RUNNING: &str = r#"[{"kind":"taprio","handle":"100:","root":true,"refcnt":9,"options":{"tc":8,"map":[0,1,2,3,4,5,6,7,0,0,0,0,0,0,0,0],"queues":[{"offset":0,"count":1},{"offset":1,"count":1},{"offset":2,"count":1},{"offset":3,"count":1},{"offset":4,"count":1},{"offset":5,"count":1},{"offset":6,"count":1},{"offset":7,"count":1}],"clockid":"TAI","base_time":1700000000000000000,"cycle_time":1000000,"cycle_time_extension":0,"schedule":[{"index":0,"cmd":"S","gatemask":"0x80","interval":100000},{"index":1,"cmd":"S","gatemask":"0x7f","interval":900000}]}},{"kind":"pfifo","handle":"0:","parent":"100:8","options":{"limit":1000}}]"#;

/// The same while a change is pending (iproute2 6.5+ names it `admin`),
/// pretty-printed as `tc -j -p` does, with two devices.
const SHOW_PENDING: &str = r#"[ {
        "kind": "noqueue",
        "dev": "lo",
        "handle": "0:",
        "root": true,
        "refcnt": 2,
        "options": {}
    },{
        "kind": "taprio",
        "dev": "eth1",
        "handle": "100:",
        "root": true,
        "refcnt": 9,
        "options": {
            "tc": 8,
            "map": [ 0,1,2,3,4,5,6,7,0,0,0,0,0,0,0,0 ],
            "queues": [ {
                    "offset": 0,
                    "count": 1
                },{
                    "offset": 1,
                    "count": 1
                } ],
            "clockid": "REALTIME",
            "base_time": 1000,
            "cycle_time": 500000,
            "cycle_time_extension": 10000,
            "schedule": [ {
                    "index": 0,
                    "cmd": "S",
                    "gatemask": "0x3",
                    "interval": 500000
                } ],
            "admin": {
                "base_time": 1700000000000000000,
                "cycle_time": 250000,
                "cycle_time_extension": 0,
                "schedule": [ {
                        "index": 0,
                        "cmd": "S",
                        "gatemask": "0x1",
                        "interval": 50000
                    },{
                        "index": 1,
                        "cmd": "S",
                        "gatemask": "0x2",
                        "interval": 200000
                    } ]
            },
            "max-sdu": [ 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0 ],
            "fp": [ "E","E","E","E","E","E","E","E","E","E","E","E","E","E","E","E" ]
        }
    } ]
"#;

#[test]
fn tc_json_output_imports_with_its_pending_admin_schedule() {
    let out = import_stdin(SHOW_RUNNING, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let toml = text(&out.stdout);
    assert_eq!(
        lists(&toml),
        (
            1_700_000_000_000_000_000,
            vec![(0x80, 100_000), (0x7f, 900_000)],
            None
        )
    );
    assert!(toml.contains("`tc -j qdisc show` output"));

    let out = import_stdin(SHOW_PENDING, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let toml = text(&out.stdout);
    assert_eq!(
        lists(&toml),
        (
            1000,
            vec![(0x03, 500_000)],
            Some((
                1_700_000_000_000_000_000,
                vec![(0x01, 50_000), (0x02, 200_000)]
            ))
        )
    );
    assert!(toml.contains("clock = \"realtime\""));
    assert!(toml.contains("cycle_time_extension = 10000"));
    assert!(toml.contains("device: eth1"));
    // iproute2 6.1 printed the admin object without its name.
    let old = SHOW_PENDING.replace("\"admin\": {", "{");
    let out = import_stdin(&old, &["--dev", "eth1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), toml);
}

#[test]
fn malformed_input_exits_2_naming_the_token() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "tc qdisc add dev eth0 root taprio \\\n  sched-entry S 1ff 1000 clockid CLOCK_TAI\n",
            "<stdin>:2:17: error:",
            "traffic class 8",
        ),
        (
            "tc qdisc add dev eth0 root taprio sched-entry S 01 1000 clockid CLOCK_FOO\n",
            "<stdin>:1:65: error:",
            "CLOCK_FOO",
        ),
        (
            "tc qdisc add dev eth0 root taprio sched-entry Q 01 1000 clockid CLOCK_TAI\n",
            "<stdin>:1:47: error:",
            "`Q`",
        ),
        (
            "tc qdisc add dev eth0 root taprio sched-entry S 01 1000 base-time 1e9 clockid CLOCK_TAI\n",
            "<stdin>:1:67: error:",
            "`1e9`",
        ),
        (
            "tc qdisc add dev eth0 root taprio num_tc 9 sched-entry S 01 1000 clockid CLOCK_TAI\n",
            "<stdin>:1:42: error:",
            "num_tc 9",
        ),
        (
            "tc qdisc add dev eth0 root taprio sched-entry S 01 1000 clockid CLOCK_TAI frobnicate\n",
            "<stdin>:1:75: error:",
            "`frobnicate`",
        ),
        ("# nothing here\n", "<stdin>: error:", "no `tc qdisc"),
        (
            &SHOW_RUNNING.replace("\"0x7f\"", "\"0x17f\""),
            "<stdin>: error: at [0].options.schedule[1].gatemask:",
            "traffic class 8",
        ),
        (
            &SHOW_RUNNING.replace("\"TAI\"", "\"BOOTTIME\""),
            "<stdin>: error: at [0].options.clockid:",
            "BOOTTIME",
        ),
        ("[{\"kind\": \"taprio\"", "<stdin>: error:", "not JSON"),
    ];
    for (input, at, what) in cases {
        let out = import_stdin(input, &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{input}: {err}");
        assert!(err.starts_with(at), "{input}: {err}");
        assert!(err.contains(what), "{input}: {err}");
        assert!(out.stdout.is_empty());
    }
    // Several devices need --dev.
    let out = import_stdin(&SHOW_PENDING.replace("\"noqueue\"", "\"taprio\""), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--dev"));
}

#[test]
fn oversized_input_and_unwritable_output() {
    let dir = TempDir::new("taprio-cli-limits");
    let big = dir.write("big.sh", &"# padding padding padding\n".repeat(200_000));
    let out = run(TAKT, &["import", "taprio", &big]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("MiB"), "{}", text(&out.stderr));

    let script = dir.write(
        "ok.sh",
        "tc qdisc add dev e root taprio sched-entry S 1 1000 clockid CLOCK_TAI\n",
    );
    let nowhere = dir.file("no/such/dir/out.toml");
    let out = run(TAKT, &["import", "taprio", &script, "-o", &nowhere]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    let out = run(TAKT, &["import", "taprio", &dir.file("missing.sh")]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn too_many_entries_are_refused() {
    let mut t = String::from("tc qdisc add dev e root taprio clockid CLOCK_TAI");
    for _ in 0..=takt_scheduler::schedule::MAX_GATE_ENTRIES {
        t.push_str(" sched-entry S 1 1000");
    }
    let out = import_stdin(&t, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("more than 16384"),
        "{}",
        text(&out.stderr)
    );
}

/// A network namespace with a veth of 8 TX queues; deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Self {
        let name = format!("i16taprio-{}", std::process::id());
        let ok = |args: &[&str]| {
            let out = run("ip", args);
            assert_eq!(
                out.status.code(),
                Some(0),
                "ip {args:?}: {}",
                text(&out.stderr)
            );
        };
        ok(&["netns", "add", &name]);
        let ns = Netns(name);
        ok(&[
            "-n",
            &ns.0,
            "link",
            "add",
            "tpv0",
            "numtxqueues",
            "8",
            "type",
            "veth",
            "peer",
            "name",
            "tpv1",
            "numtxqueues",
            "8",
        ]);
        ok(&["-n", &ns.0, "link", "set", "tpv0", "up"]);
        ok(&["-n", &ns.0, "link", "set", "tpv1", "up"]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.0]);
    }
}

/// iproute2's own tc takes every exported line. tc's parser refusing an
/// argument exits 1 ("Unknown argument", "Illegal ..."); the kernel
/// refusing the request exits 2 with "Error: ...". Where the kernel has no
/// taprio (this host) only the parse is checked; where it has one, every
/// line must be installed.
#[test]
fn iproute2_tc_takes_the_exported_lines() {
    if !common::veth::ready("iproute2_tc_takes_the_exported_lines", &["tc", "ip"]) {
        return;
    }
    let ns = Netns::new();
    for (file, extra) in [
        ("two-class-250us.toml", &["--etf"][..]),
        ("admin-oper-switch.toml", &[][..]),
        ("round-trip.toml", &["--etf", "--offload"][..]),
    ] {
        let path = example(file);
        let mut args = vec!["export", "taprio", &path, "--dev", "tpv0"];
        args.extend_from_slice(extra);
        let out = run(TAKT, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let script = text(&out.stdout);
        let mut kernel_has_taprio = None;
        for line in script.lines().filter(|l| !l.starts_with('#')) {
            let out = run("ip", &["netns", "exec", &ns.0, "sh", "-c", line]);
            let err = text(&out.stderr);
            let code = out.status.code();
            assert!(
                code == Some(0) || (code == Some(2) && err.starts_with("Error:")),
                "tc refused {line}\n{err}"
            );
            let has = *kernel_has_taprio.get_or_insert(!err.contains("qdisc kind is unknown"));
            if has && !(extra.contains(&"--offload")) {
                assert_eq!(code, Some(0), "the kernel refused {line}\n{err}");
            }
        }
    }
}
