//! `takt doctor` on this machine: the checks a user relies on are there,
//! in text and JSON alike, judged as this machine's own files say; bad
//! flags exit 2 with a message that says what to change.

mod common;

use common::{assert_no_panic, run, text, TempDir};
use serde_json::Value;
use std::collections::BTreeMap;

const TAKT: &str = env!("CARGO_BIN_EXE_takt");

fn doctor(args: &[&str]) -> std::process::Output {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    let out = run(TAKT, &all);
    assert_no_panic(&out);
    out
}

/// id -> status of the text output, read back through the titles the JSON
/// gives for each id.
fn text_statuses(out: &str, json: &Value) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for c in json["checks"].as_array().expect("checks") {
        let title = c["title"].as_str().unwrap();
        let line = out
            .lines()
            .find(|l| {
                l.get(6..)
                    .is_some_and(|r| r.starts_with(&format!("{title}: ")))
            })
            .unwrap_or_else(|| panic!("no line for {title} in:\n{out}"));
        m.insert(
            c["id"].as_str().unwrap().to_string(),
            line[..4].to_lowercase(),
        );
    }
    m
}

fn json_statuses(json: &Value) -> BTreeMap<String, String> {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn check<'a>(json: &'a Value, id: &str) -> &'a Value {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

#[test]
fn text_and_json_list_the_same_checks_judged_as_this_machine_is() {
    let t = doctor(&[]);
    let j = doctor(&["--json"]);
    let json: Value = serde_json::from_slice(&j.stdout).expect("JSON on stdout");
    let out = text(&t.stdout);
    assert_eq!(text_statuses(&out, &json), json_statuses(&json));
    assert_eq!(t.status.code(), j.status.code(), "same verdict, same exit");
    let summary = &json["summary"];
    let fails = summary["fail"].as_u64().unwrap();
    assert_eq!(t.status.code(), Some(if fails > 0 { 1 } else { 0 }));
    assert!(
        out.ends_with(&format!(
            "summary: {} pass, {} warn, {fails} fail, {} info\n",
            summary["pass"], summary["warn"], summary["info"]
        )),
        "{out}"
    );

    // CPU isolation of the CPU judged, as sysfs says.
    let cpu = json["cpu"].as_u64().unwrap() as usize;
    let iso = check(&json, "cpu-isolation");
    let isolated = read("/sys/devices/system/cpu/isolated").unwrap_or_default();
    if isolated.is_empty() {
        assert_eq!(iso["status"], "warn", "{iso}");
        let fix = iso["fix"].as_str().unwrap();
        assert!(
            fix.contains(&format!("isolcpus={cpu} nohz_full={cpu} rcu_nocbs={cpu}")),
            "{fix}"
        );
        assert!(out.contains(&format!("      fix: {fix}\n")));
    }

    // RT throttling, as /proc says.
    let rt = check(&json, "rt-throttling");
    match read("/proc/sys/kernel/sched_rt_runtime_us").as_deref() {
        Some("-1") => assert_eq!(rt["status"], "pass"),
        Some(_) => {
            assert_eq!(rt["status"], "warn");
            assert!(rt["fix"]
                .as_str()
                .unwrap()
                .starts_with("sysctl kernel.sched_rt_runtime_us=-1"));
        }
        None => assert_eq!(rt["status"], "info"),
    }

    // taprio / ETF in the kernel, as its config says (this host has neither).
    let q = check(&json, "kernel-qdiscs");
    let release = nix::sys::utsname::uname()
        .unwrap()
        .release()
        .to_string_lossy()
        .into_owned();
    let has_module = |m: &str| {
        std::path::Path::new(&format!("/sys/module/{m}")).exists()
            || std::fs::read_dir(format!("/lib/modules/{release}/kernel/net/sched")).is_ok_and(
                |d| {
                    d.filter_map(Result::ok)
                        .any(|e| e.file_name().to_string_lossy().starts_with(m))
                },
            )
    };
    let mut config = String::new();
    if let Ok(gz) = std::fs::File::open("/proc/config.gz") {
        use std::io::Read;
        let _ = flate2::read::GzDecoder::new(gz).read_to_string(&mut config);
    }
    if config.contains("# CONFIG_NET_SCH_ETF is not set") && !has_module("sch_etf") {
        assert_eq!(q["status"], "fail", "{q}");
        assert!(q["fix"].as_str().unwrap().contains("CONFIG_NET_SCH_ETF=m"));
        assert!(q["fix"].as_str().unwrap().contains("docs/qemu-guest.md"));
        assert_eq!(t.status.code(), Some(1));
    }

    // Every check has the documented fields.
    for c in json["checks"].as_array().unwrap() {
        for k in ["id", "title", "status", "found"] {
            assert!(c[k].is_string(), "{k} in {c}");
        }
        assert!(c["fix"].is_string() || c["fix"].is_null(), "{c}");
    }
    // Without --device the interface checks say which flag enables them.
    assert_eq!(check(&json, "mtu")["status"], "info");
    assert!(check(&json, "irq-affinity")["found"]
        .as_str()
        .unwrap()
        .contains("--device packet:IF"));
}

#[test]
fn packet_lo_gets_the_interface_checks() {
    let j = doctor(&["--device", "packet:lo", "--json", "--cpu", "0"]);
    assert!(
        matches!(j.status.code(), Some(0 | 1)),
        "{}",
        text(&j.stderr)
    );
    let json: Value = serde_json::from_slice(&j.stdout).expect("JSON");
    assert_eq!(json["device"], "packet:lo");
    assert_eq!(json["cpu"], 0);
    // lo has no IRQs and no coalescing: said, not failed.
    assert_eq!(check(&json, "irq-affinity")["status"], "info");
    assert_eq!(check(&json, "coalescing")["status"], "info");
    let mtu = check(&json, "mtu")["found"].as_str().unwrap().to_string();
    assert!(mtu.starts_with("lo: 65536"), "{mtu}");
    let qdisc = check(&json, "qdisc")["found"].as_str().unwrap().to_string();
    assert!(qdisc.starts_with("lo: noqueue root"), "{qdisc}");
    let t = doctor(&["--device", "packet:lo", "--cpu", "0"]);
    assert_eq!(t.status.code(), j.status.code());
    assert!(text(&t.stdout).starts_with("takt doctor: CPU 0 (--cpu), device packet:lo\n"));
}

#[test]
fn a_schedule_sets_the_frame_the_mtu_must_carry() {
    let dir = TempDir::new("doctor-mtu");
    let s = dir.write(
        "big.toml",
        "[schedule]\ncycle_time = \"1ms\"\n[[schedule.entry]]\ngates = [7]\ninterval = \"1ms\"\n\
         [[stream]]\nname = \"a\"\ntraffic_class = 7\nvlan_id = 10\n\
         dst_mac = \"91:e0:f0:00:fe:01\"\nframe_size = 1522\n",
    );
    let j = doctor(&["--device", "packet:lo", "--schedule", &s, "--json"]);
    let json: Value = serde_json::from_slice(&j.stdout).expect("JSON");
    let mtu = check(&json, "mtu");
    assert_eq!(mtu["status"], "pass", "lo's 65536 carries 1500: {mtu}");
    assert!(mtu["found"]
        .as_str()
        .unwrap()
        .contains("frame_size 1522 needs 1500"));
}

#[test]
fn bad_input_exits_2_and_says_what_to_change() {
    let out = doctor(&["--device", "carrier-pigeon:eth0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("packet:IFNAME"), "{err}");
    assert_eq!(text(&out.stdout), "");

    let out = doctor(&["--device", "packet:takt-nope0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no interface takt-nope0"));

    let out = doctor(&["--cpu", "4096"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no such online CPU"));

    let out = doctor(&["--frobnicate"]);
    assert_eq!(out.status.code(), Some(2));

    let dir = TempDir::new("doctor-bad");
    let bad = dir.write(
        "bad.toml",
        "[schedule]\ncycle_time = \"1ms\"\n[[schedule.entry]]\ngates = [7]\ninterval = \"0ns\"\n",
    );
    let out = doctor(&["--schedule", &bad]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{bad}:5:12: error: ")), "{err}");
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn help_has_a_worked_example_and_the_exit_status() {
    let out = run(TAKT, &["doctor", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert!(
        help.contains("takt doctor --device packet:eth0 --schedule"),
        "{help}"
    );
    assert!(help.contains("Exit status: 0 when no check failed"));
    assert!(help.contains("docs/doctor.md"));
}

/// A running ptp4l (software timestamps, on one end of a veth pair in a
/// namespace of this test's own, its management socket in a temp dir):
/// the doctor reads its port state through the socket, as pmc would.
#[test]
fn a_running_ptp4l_is_asked_for_its_port_state() {
    if !common::veth::ready("a_running_ptp4l_is_asked_for_its_port_state", &["ptp4l"]) {
        return;
    }
    let pid = std::process::id();
    let dir = TempDir::new("doctor-ptp4l");
    let socket = dir.file("ptp4l.sock");
    let cfg = dir.write(
        "ptp4l.cfg",
        &format!("[global]\nuds_address\t{socket}\nannounceReceiptTimeout\t2\n"),
    );
    let pair = takt_drivers::link::VethPair::create(
        &format!("takt-doctor-{pid}-a"),
        &format!("takt-doctor-{pid}-b"),
        "dr-a",
        "dr-b",
        "10.84.0.1/24",
        "10.84.0.2/24",
    )
    .expect("veth pair between two namespaces");
    let mut ptp4l = common::veth::spawn_in(
        pair.ns_a().name(),
        "ptp4l",
        &["-i", "dr-a", "-S", "-f", &cfg],
    );
    let ptp4l_check = || {
        let j = doctor(&["--json", "--ptp4l-socket", &socket]);
        let json: Value = serde_json::from_slice(&j.stdout).expect("JSON");
        check(&json, "ptp4l").clone()
    };
    // A lone ptp4l listens, then (no Announce heard) takes over as master:
    // generous limit for a loaded machine, never a pass criterion.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    let last = loop {
        let c = ptp4l_check();
        let found = c["found"].as_str().unwrap().to_string();
        if found.contains("running: port 1 ") {
            // Each state judged as documented.
            let good = ["SLAVE", "MASTER", "GRAND_MASTER", "PASSIVE"]
                .iter()
                .any(|s| found.ends_with(&format!("port 1 {s}")));
            assert_eq!(c["status"], if good { "pass" } else { "warn" }, "{c}");
        }
        seen.push(found.clone());
        if c["status"] == "pass" || std::time::Instant::now() > deadline {
            break c;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    let _ = ptp4l.kill();
    let out = ptp4l.wait_with_output();
    assert_eq!(
        last["status"],
        "pass",
        "ptp4l never became master; doctor saw {seen:?}; ptp4l said {:?}",
        out.map(|o| text(&o.stdout) + &text(&o.stderr))
    );
    assert!(last["found"].as_str().unwrap().contains("MASTER"), "{last}");
    drop(pair);
    // Gone: not running, said as info.
    let c = ptp4l_check();
    assert_eq!(c["status"], "info", "{c}");
    assert!(c["found"].as_str().unwrap().contains("not running"), "{c}");
}
