//! `takt import yang` of instances written by hand from the IEEE modules'
//! structure (tools/tests/fixtures/yang/README.md), malformed instances
//! (exit 2, the JSON path named), `takt export qcc` numbers, and --help.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::{assert_no_panic, example, run, text, TempDir};
use serde_json::{json, Value};
use takt_scheduler::{ClockId, GateEntry};
use takt_tools::interchange::{GateList, GateSchedule};

const TAKT: &str = env!("CARGO_BIN_EXE_takt");

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/yang")
        .join(name)
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

/// `takt import yang - ARGS` with `input` on stdin.
fn import_stdin(input: &[u8], args: &[&str]) -> Output {
    let mut child = Command::new(TAKT)
        .args(["import", "yang", "-"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // a refused oversized input may close stdin early: ignore EPIPE
    let _ = stdin.write_all(input);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_no_panic(&out);
    out
}

/// The gate lists of a schedule file takt wrote.
fn gates_of(toml: &str) -> GateSchedule {
    let loaded = takt_scheduler::config::parse_str(toml, "imported.toml")
        .unwrap_or_else(|e| panic!("{e}\n{toml}"));
    assert!(loaded.schedule.streams().is_empty());
    GateSchedule::from_schedule(&loaded.schedule)
}

fn entry(gates: &[u8], interval_ns: u64) -> GateEntry {
    GateEntry {
        gate_mask: gates.iter().fold(0, |m, c| m | 1 << c),
        interval_ns,
    }
}

#[test]
fn a_hand_written_bridge_port_instance_imports_to_its_entries() {
    let dir = TempDir::new("yang-cli");
    let out_path = dir.file("sw0p1.toml");
    let f = fixture("bridge-port.json");
    let out = run(
        TAKT,
        &[
            "import",
            "yang",
            f.to_str().unwrap(),
            "--interface",
            "sw0p1",
            "-o",
            &out_path,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // the per-class max SDU is read but not carried: said so
    assert!(
        text(&out.stderr).contains("queue-max-sdu-table"),
        "{}",
        text(&out.stderr)
    );
    let written = std::fs::read_to_string(&out_path).unwrap();
    assert!(written.contains("sw0p1"), "{written}");
    assert_eq!(
        gates_of(&written),
        GateSchedule {
            clock: ClockId::Tai,
            oper: GateList {
                base_time_ns: 1_700_000_000_500_000_000,
                cycle_time_ns: 1_000_000,
                cycle_time_extension_ns: 10_000,
                // index order (1, 2, 3), not the order the JSON lists them in
                entries: vec![
                    entry(&[0, 7], 100_000),
                    entry(&[6], 200_000),
                    entry(&[0, 1, 2, 3, 4, 5], 700_000),
                ],
            },
            admin: None,
        }
    );
    // and the other interface
    let out = run(
        TAKT,
        &[
            "import",
            "yang",
            f.to_str().unwrap(),
            "--interface",
            "sw0p2",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let g = gates_of(&text(&out.stdout));
    assert_eq!(
        g.oper.entries,
        vec![entry(&[0, 1, 2, 3, 4, 5, 6, 7], 500_000)]
    );
    assert_eq!(g.oper.cycle_time_ns, 500_000);
}

#[test]
fn several_interfaces_without_a_choice_is_an_error_listing_them() {
    let f = fixture("bridge-port.json");
    let out = run(TAKT, &["import", "yang", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("sw0p1, sw0p2") && err.contains("--interface"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let out = run(
        TAKT,
        &["import", "yang", f.to_str().unwrap(), "--interface", "eth9"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("\"eth9\""),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_dot1dc_wrapping_imports_too() {
    let f = fixture("dot1dc.json");
    let out = run(TAKT, &["import", "yang", f.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let toml = text(&out.stdout);
    assert!(toml.contains("ieee802-dot1dc-sched-if"), "{toml}");
    let g = gates_of(&toml);
    assert_eq!(
        g.oper,
        GateList {
            base_time_ns: 37_000_000_000,
            // 200000/1000000000 s, not in lowest terms
            cycle_time_ns: 200_000,
            cycle_time_extension_ns: 0,
            entries: vec![entry(&[0], 50_000), entry(&[1, 2, 3, 4, 5, 6, 7], 150_000)],
        }
    );
}

#[test]
fn a_bare_table_and_lenient_numbers_are_read() {
    let fx = fixture_json("dot1dc.json");
    let table = fx["ietf-interfaces:interfaces"]["interface"][0]
        ["ieee802-dot1dc-sched-if:gate-parameter-table"]
        .clone();
    let mut bare = table.clone();
    // uint64 as a JSON number, and the unqualified identity name
    bare["admin-base-time"]["seconds"] = json!(37);
    bare["admin-control-list"]["gate-control-entry"][0]["operation-name"] =
        json!("set-gate-states");
    for input in [
        json!({"ieee802-dot1q-sched-bridge:gate-parameter-table": table}),
        bare,
    ] {
        let out = import_stdin(input.to_string().as_bytes(), &[]);
        assert!(out.status.success(), "{input}: {}", text(&out.stderr));
        let g = gates_of(&text(&out.stdout));
        assert_eq!(g.oper.base_time_ns, 37_000_000_000);
        assert_eq!(g.oper.entries.len(), 2);
    }
}

const TABLE: &str = "/ietf-interfaces:interfaces/interface[name='sw0p1']/ieee802-dot1q-bridge:bridge-port/ieee802-dot1q-sched-bridge:gate-parameter-table";

fn sw0p1(v: &mut Value) -> &mut Value {
    &mut v["ietf-interfaces:interfaces"]["interface"][0]["ieee802-dot1q-bridge:bridge-port"]
        ["ieee802-dot1q-sched-bridge:gate-parameter-table"]
}

/// The fixture changed by `edit`, imported for sw0p1: exit 2 and this
/// message on stderr.
fn refused(edit: impl FnOnce(&mut Value), expected: &str) {
    let mut v = fixture_json("bridge-port.json");
    edit(sw0p1(&mut v));
    let out = import_stdin(v.to_string().as_bytes(), &["--interface", "sw0p1"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{expected}: {err}");
    assert!(err.contains(expected), "expected {expected:?} in:\n{err}");
    assert!(out.stdout.is_empty());
}

/// Entry `i` (JSON order) of the fixture's sw0p1 admin list.
fn entry_at(t: &mut Value, i: usize) -> &mut Value {
    &mut t["admin-control-list"]["gate-control-entry"][i]
}

#[test]
fn malformed_instances_exit_2_naming_the_json_path() {
    refused(
        |t| { entry_at(t, 0)["time-interval-value"] = json!("abc") },
        &format!("{TABLE}/admin-control-list/gate-control-entry[index=2]/time-interval-value: expected a uint32 number, found \"abc\""),
    );
    refused(
        |t| { entry_at(t, 1)["gate-states-value"] = json!(256) },
        &format!("{TABLE}/admin-control-list/gate-control-entry[index=1]/gate-states-value: 256 is out of range for uint8"),
    );
    refused(
        |t| entry_at(t, 2)["time-interval-value"] = json!(0),
        "gate-control-entry[index=3]/time-interval-value: time-interval-value is 0",
    );
    refused(
        |t| entry_at(t, 2)["index"] = json!(1),
        "gate-control-entry[index=1]: index 1 appears twice",
    );
    refused(
        |t| entry_at(t, 0)["index"] = json!(-1),
        "gate-control-entry[1]/index: expected a uint32 number, found -1",
    );
    refused(
        |t| { entry_at(t, 0)["operation-name"] = json!("ieee802-dot1q-sched:set-and-hold-mac") },
        "gate-control-entry[index=2]/operation-name: \"ieee802-dot1q-sched:set-and-hold-mac\": takt has no frame preemption",
    );
    refused(
        |t| {
            entry_at(t, 0)
                .as_object_mut()
                .unwrap()
                .remove("gate-states-value");
        },
        "gate-control-entry[index=2]: missing \"gate-states-value\"",
    );
    refused(
        |t| t["admin-control-list"]["gate-control-entry"] = json!([]),
        &format!("{TABLE}/admin-control-list: no gate-control-entry"),
    );
    refused(
        |t| t["admin-cycle-time"] = json!({"numerator": 1, "denominator": 3}),
        &format!("{TABLE}/admin-cycle-time: 1/3 s is not a whole number of nanoseconds"),
    );
    refused(
        |t| t["admin-cycle-time"]["denominator"] = json!(0),
        "admin-cycle-time: denominator is 0",
    );
    refused(
        |t| t["admin-base-time"]["nanoseconds"] = json!(1_000_000_000),
        &format!("{TABLE}/admin-base-time: nanoseconds 1000000000 is not less than 10^9"),
    );
    refused(
        |t| t["admin-base-time"]["seconds"] = json!("12x"),
        "admin-base-time/seconds: expected a uint64 (a string of digits), found \"12x\"",
    );
    refused(
        |t| t["gate-enabled"] = json!(false),
        &format!("{TABLE}/gate-enabled: gate-enabled is false"),
    );
    refused(
        |t| t["admin-control-list"] = json!([1, 2]),
        &format!("{TABLE}/admin-control-list: expected an object, found an array"),
    );
    // well-formed, but a schedule takt refuses: the pending list must start
    // after the one in force
    refused(
        |t| {
            let admin = t["admin-control-list"].clone();
            t["oper-control-list"] = admin;
            t["oper-base-time"] = json!({"seconds": "1800000000", "nanoseconds": 0});
        },
        "takt refuses the schedule it gives: admin base_time",
    );
}

#[test]
fn not_json_too_big_or_empty_exit_2() {
    let out = import_stdin(b"{\n  \"ietf-interfaces:interfaces\": [1,\n", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("<stdin>:3:"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("not valid JSON"));

    let out = import_stdin(b"", &[]);
    assert_eq!(out.status.code(), Some(2));

    let out = import_stdin(
        b"{\"ietf-interfaces:interfaces\": {\"interface\": []}}",
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no interface has a gate-parameter-table"));

    let out = import_stdin(b"{\"something\": 1}", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no gate-parameter-table found"));

    let big = vec![b' '; 5 << 20];
    let out = import_stdin(&big, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("MiB"), "{}", text(&out.stderr));

    let out = run(TAKT, &["import", "yang", "/nonexistent/x.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/x.json"));
}

#[test]
fn a_pending_change_is_written_as_oper_state_and_admin_parameters() {
    let out = run(
        TAKT,
        &["export", "yang", &example("admin-oper-switch.toml")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &v["ietf-interfaces:interfaces"]["interface"][0]["ieee802-dot1q-bridge:bridge-port"]
        ["ieee802-dot1q-sched-bridge:gate-parameter-table"];
    assert_eq!(t["config-pending"], json!(true));
    // admin-oper-switch.toml: oper 500us cycle, admin 250us from 10.0001 s
    assert_eq!(
        t["oper-cycle-time"],
        json!({"numerator": 1, "denominator": 2000})
    );
    assert_eq!(
        t["admin-cycle-time"],
        json!({"numerator": 1, "denominator": 4000})
    );
    assert_eq!(
        t["admin-base-time"],
        json!({"seconds": "10", "nanoseconds": 100_000})
    );
    assert_eq!(
        t["admin-control-list"]["gate-control-entry"][0]["operation-name"],
        json!("ieee802-dot1q-sched:set-gate-states")
    );
}

#[test]
fn a_device_with_no_change_pending_imports_its_oper_list_alone() {
    let out = run(
        TAKT,
        &["export", "yang", &example("admin-oper-switch.toml")],
    );
    let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let both = import_stdin(v.to_string().as_bytes(), &[]);
    assert!(both.status.success(), "{}", text(&both.stderr));
    assert!(gates_of(&text(&both.stdout)).admin.is_some());
    let t = &mut v["ietf-interfaces:interfaces"]["interface"][0]
        ["ieee802-dot1q-bridge:bridge-port"]["ieee802-dot1q-sched-bridge:gate-parameter-table"];
    t["config-pending"] = json!(false);
    let out = import_stdin(v.to_string().as_bytes(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("config-pending is false"));
    let g = gates_of(&text(&out.stdout));
    assert!(g.admin.is_none());
    assert_eq!(g.oper.cycle_time_ns, 500_000);
}

#[test]
fn a_non_tai_schedule_is_exported_with_a_warning() {
    let dir = TempDir::new("yang-cli-clock");
    let f = dir.write(
        "mono.toml",
        "[schedule]\nclock = \"monotonic\"\n[[schedule.entry]]\ngates = [0]\ninterval = 1000\n",
    );
    let out = run(TAKT, &["export", "yang", &f]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("\"monotonic\""),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("TAI"));
}

#[test]
fn an_entry_longer_than_uint32_ns_is_refused_on_export() {
    let dir = TempDir::new("yang-cli-long");
    let f = dir.write(
        "long.toml",
        "[schedule]\nclock = \"tai\"\n[[schedule.entry]]\ngates = [0]\ninterval = \"5s\"\n",
    );
    let out = run(TAKT, &["export", "yang", &f]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("time-interval-value"),
        "{}",
        text(&out.stderr)
    );
}

fn talkers(v: &Value) -> &Vec<Value> {
    v["ieee802-dot1q-cnc-config:cnc-config"]["domain"][0]["cuc"][0]["stream"]
        .as_array()
        .expect("stream list")
}

#[test]
fn qcc_has_one_talker_per_stream_with_the_schedules_numbers() {
    let out = run(
        TAKT,
        &[
            "export",
            "qcc",
            &example("two-class-250us.toml"),
            "--src-mac",
            "00:1b:21:aa:bb:cc",
            "--interface",
            "eth0",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = talkers(&v);
    assert_eq!(s.len(), 3);
    // (stream-id, dst, vid, pcp, frames, max-frame-size, earliest, latest)
    let expected = [
        // motion-control: class 7 window 0..30us; 4 frames 5us apart, 1.184us
        // each: the first may start as late as 30 - 15 - 1.184 us
        (
            "00-1B-21-AA-BB-CC:00-00",
            "91-E0-F0-00-FE-01",
            100,
            7,
            4,
            128 - 22,
            0,
            13_816,
        ),
        (
            "00-1B-21-AA-BB-CC:00-01",
            "91-E0-F0-00-FE-02",
            101,
            7,
            1,
            64 - 22,
            0,
            30_000 - 672,
        ),
        // camera: class 5 window 30..80us; 3 frames 15us apart, 12.336us each
        (
            "00-1B-21-AA-BB-CC:00-02",
            "91-E0-F0-00-FE-10",
            200,
            5,
            3,
            1500,
            30_000,
            80_000 - 30_000 - 12_336,
        ),
    ];
    for (st, (id, dst, vid, pcp, frames, size, earliest, latest)) in s.iter().zip(expected) {
        assert_eq!(st["stream-id"], json!(id));
        let t = &st["talker"];
        assert_eq!(
            t["end-station-interfaces"],
            json!([{"mac-address": "00-1B-21-AA-BB-CC", "interface-name": "eth0"}])
        );
        let dfs = &t["data-frame-specification"];
        assert_eq!(
            dfs[0]["ieee802-mac-addresses"]["destination-mac-address"],
            json!(dst)
        );
        assert_eq!(
            dfs[0]["ieee802-mac-addresses"]["source-mac-address"],
            json!("00-1B-21-AA-BB-CC")
        );
        assert_eq!(
            dfs[1]["ieee802-vlan-tag"],
            json!({"priority-code-point": pcp, "vlan-id": vid})
        );
        let ts = &t["traffic-specification"];
        assert_eq!(ts["interval"], json!({"numerator": 1, "denominator": 4000}));
        assert_eq!(ts["max-frames-per-interval"], json!(frames));
        assert_eq!(ts["max-frame-size"], json!(size));
        assert_eq!(ts["transmission-selection"], json!(0));
        assert_eq!(
            ts["time-aware"],
            json!({"earliest-transmit-offset": earliest, "latest-transmit-offset": latest, "jitter": 0})
        );
        assert_eq!(
            t["user-to-network-requirements"],
            json!({"num-seamless-trees": 1, "max-latency": 250_000})
        );
    }
}

#[test]
fn qcc_frer_streams_ask_for_two_trees_and_flags_are_used() {
    let out = run(
        TAKT,
        &[
            "export",
            "qcc",
            &example("frer.toml"),
            "--jitter",
            "2us",
            "--max-latency",
            "100us",
            "--domain-id",
            "plant",
            "--cuc-id",
            "line3",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // no --src-mac/--interface: said on stderr, end-station-interfaces left out
    assert!(
        text(&out.stderr).contains("end-station-interfaces"),
        "{}",
        text(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &v["ieee802-dot1q-cnc-config:cnc-config"]["domain"][0];
    assert_eq!(d["domain-id"], json!("plant"));
    assert_eq!(d["cuc"][0]["cuc-id"], json!("line3"));
    let s = talkers(&v);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0]["stream-id"], json!("00-00-00-00-00-00:00-00"));
    assert!(s[0]["talker"].get("end-station-interfaces").is_none());
    let trees: Vec<&Value> = s
        .iter()
        .map(|x| &x["talker"]["user-to-network-requirements"]["num-seamless-trees"])
        .collect();
    assert_eq!(trees, [&json!(2), &json!(1)]);
    assert_eq!(
        s[0]["talker"]["user-to-network-requirements"]["max-latency"],
        json!(100_000)
    );
    assert_eq!(
        s[0]["talker"]["traffic-specification"]["time-aware"]["jitter"],
        json!(2000)
    );

    let out = run(
        TAKT,
        &[
            "export",
            "qcc",
            &example("frer.toml"),
            "--src-mac",
            "00:1b:21",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("MAC"), "{}", text(&out.stderr));
}

#[test]
fn help_has_worked_examples() {
    for (cmd, example) in [
        (
            ["export", "yang"],
            "takt export yang docs/examples/two-class-250us.toml",
        ),
        (
            ["import", "yang"],
            "takt import yang sched.json -o sched.toml",
        ),
        (
            ["export", "qcc"],
            "takt export qcc docs/examples/two-class-250us.toml",
        ),
    ] {
        let out = run(TAKT, &[cmd[0], cmd[1], "--help"]);
        assert!(out.status.success());
        let help = text(&out.stdout);
        assert!(
            help.contains("Examples:") && help.contains(example),
            "{help}"
        );
        assert!(help.contains("docs/yang.md"), "{help}");
        assert!(help.contains("Exit status"), "{help}");
    }
}
