//! `takt check` as users run it: the real binary, the real example files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn takt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_takt"))
        .args(args)
        .output()
        .expect("run takt")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples")
}

/// The one example that is invalid on purpose (overbooked; it runs with
/// `takt loopback --allow-overbooking`). Every other example must be valid.
const INVALID_ON_PURPOSE: &str = "overbooked.toml";

/// Every docs/examples/*.toml that should be valid, sorted.
fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("docs/examples exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| p.file_name().is_some_and(|n| n != INVALID_ON_PURPOSE))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "expected at least 3 examples, found {files:?}"
    );
    files
}

fn example(name: &str) -> String {
    examples_dir().join(name).display().to_string()
}

/// The `name = "..."` values of a TOML file's streams, read naively.
fn stream_names(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .expect("read example")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("name = \""))
        .map(|rest| rest.split('"').next().unwrap_or_default().to_string())
        .collect()
}

/// A file in a fresh, uniquely named temp directory; removed on drop.
struct TempFile {
    dir: PathBuf,
    path: PathBuf,
}

impl TempFile {
    fn new(tag: &str, contents: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "takt-check-cli-{}-{tag}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let path = dir.join(format!("{tag}.toml"));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile { dir, path }
    }

    fn path(&self) -> String {
        self.path.display().to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Line 6, column 12 is the value of `interval`.
const ZERO_INTERVAL: &str = "\
[schedule]
cycle_time = \"1ms\"

[[schedule.entry]]
gates = [7]
interval = \"0us\"
";

fn assert_no_panic(out: &Output) {
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "takt panicked:\n{err}");
    assert_ne!(out.status.code(), Some(101), "takt panicked:\n{err}");
}

#[test]
fn every_example_is_valid_and_its_timeline_names_each_stream() {
    for file in examples() {
        let path = file.display().to_string();
        let out = takt(&["check", &path]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{path}:\n{stderr}");
        assert!(!stderr.contains(": error:"), "{path}:\n{stderr}");
        assert!(
            stdout.starts_with(&format!("{path}: valid schedule\n")),
            "{stdout}"
        );
        let names = stream_names(&file);
        assert!(!names.is_empty(), "{path} has no streams");
        for name in names {
            assert!(
                stdout.contains(&format!("stream \"{name}\"")),
                "{path}: stream {name} missing from\n{stdout}"
            );
        }
        for section in [
            "oper gate control list",
            "streams:",
            "utilisation per traffic class",
        ] {
            assert!(
                stdout.contains(section),
                "{path}: no {section:?} in\n{stdout}"
            );
        }
    }
}

/// Entries start at 0, touch each other and end at the cycle time.
fn assert_entries_cover_the_cycle(path: &str, list: &Value) {
    let cycle = list["cycle_time"].as_u64().expect("cycle_time");
    let entries = list["entries"].as_array().expect("entries");
    assert!(!entries.is_empty(), "{path}: no entries");
    let mut at = 0;
    let mut sum = 0;
    for e in entries {
        let (start, end, interval) = (
            e["start"].as_u64().unwrap(),
            e["end"].as_u64().unwrap(),
            e["interval"].as_u64().unwrap(),
        );
        assert_eq!(start, at, "{path}: gap or overlap before {e}");
        assert_eq!(end - start, interval, "{path}: {e}");
        let mask = e["gate_mask"].as_u64().unwrap();
        let from_gates = e["gates"]
            .as_array()
            .unwrap()
            .iter()
            .fold(0, |m, c| m | 1 << c.as_u64().unwrap());
        assert_eq!(mask, from_gates, "{path}: {e}");
        at = end;
        sum += interval;
    }
    assert_eq!(at, cycle, "{path}");
    assert_eq!(sum, cycle, "{path}");
}

#[test]
fn json_of_every_example_is_consistent() {
    for file in examples() {
        let path = file.display().to_string();
        let out = takt(&["check", "--json", &path]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert!(v.is_object(), "one file gives one object");
        assert_eq!(v["file"], path.as_str());
        assert_eq!(v["cycle_time"], v["oper"]["cycle_time"]);
        assert_eq!(v["base_time"], v["oper"]["base_time"]);
        assert_eq!(v["entries"], v["oper"]["entries"]);
        assert_entries_cover_the_cycle(&path, &v["oper"]);
        if !v["admin"].is_null() {
            assert_entries_cover_the_cycle(&path, &v["admin"]);
            assert_eq!(v["switch"]["at"], v["admin"]["base_time"]);
        }
        let streams = v["streams"].as_array().expect("streams");
        assert_eq!(streams.len(), stream_names(&file).len(), "{path}");
        for s in streams {
            let offset = s["offset"].as_u64().unwrap();
            let spacing = s["spacing"].as_u64().unwrap();
            let wire = s["wire_time"].as_u64().unwrap();
            let launches = s["launch_offsets"].as_array().unwrap();
            assert_eq!(
                launches.len() as u64,
                s["frames_per_cycle"].as_u64().unwrap()
            );
            for (i, l) in launches.iter().enumerate() {
                assert_eq!(
                    l.as_u64().unwrap(),
                    offset + i as u64 * spacing,
                    "{path}: {s}"
                );
            }
            let window_end = s["window"]["end"].as_u64().unwrap();
            let last = launches.last().unwrap().as_u64().unwrap();
            assert!(last + wire <= window_end, "{path}: {s}");
        }
        if !v["ptp"].is_null() {
            assert_ptp_class_is_best_effort(&path, &v);
        }
    }
}

/// The PTP class is no stream's, and its windows are exactly the runs of
/// entries that open it.
fn assert_ptp_class_is_best_effort(path: &str, v: &Value) {
    let ptp = &v["ptp"];
    let class = ptp["class"].as_u64().expect("a class");
    for s in v["streams"].as_array().unwrap() {
        assert_ne!(s["traffic_class"].as_u64(), Some(class), "{path}: {s}");
    }
    for (list, windows) in [
        (&v["oper"], &ptp["class_windows"]),
        (&v["admin"], &ptp["admin_class_windows"]),
    ] {
        if list.is_null() {
            assert!(windows.is_null(), "{path}: {windows}");
            continue;
        }
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for e in list["entries"].as_array().unwrap() {
            if e["gate_mask"].as_u64().unwrap() & (1 << class) == 0 {
                continue;
            }
            let (start, end) = (e["start"].as_u64().unwrap(), e["end"].as_u64().unwrap());
            match runs.last_mut() {
                Some(last) if last.1 == start => last.1 = end,
                _ => runs.push((start, end)),
            }
        }
        let got: Vec<(u64, u64)> = windows
            .as_array()
            .unwrap()
            .iter()
            .map(|w| (w["start"].as_u64().unwrap(), w["end"].as_u64().unwrap()))
            .collect();
        assert_eq!(got, runs, "{path}");
    }
}

#[test]
fn json_numbers_match_the_examples() {
    let out = takt(&["check", "--json", &example("two-class-250us.toml")]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["clock"], "tai");
    assert_eq!(v["cycle_time"], 250_000);
    assert_eq!(v["link"]["speed_bps"], 1_000_000_000u64);
    let ends: Vec<u64> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["end"].as_u64().unwrap())
        .collect();
    assert_eq!(ends, [30_000, 80_000, 237_500, 250_000]);
    let motion = &v["streams"][0];
    assert_eq!(motion["name"], "motion-control");
    assert_eq!(motion["dst_mac"], "91:e0:f0:00:fe:01");
    assert_eq!(motion["wire_time"], 1_184);
    assert_eq!(
        motion["launch_offsets"],
        serde_json::json!([1_000, 6_000, 11_000, 16_000])
    );
    assert_eq!(
        motion["window"],
        serde_json::json!({"start": 0, "end": 30_000})
    );
    // safety-io leaves pcp out: it comes from tc_to_pcp; spacing defaults to the wire time.
    let safety = &v["streams"][1];
    assert_eq!(
        (safety["pcp"].as_u64(), safety["spacing"].as_u64()),
        (Some(7), Some(672))
    );

    let out = takt(&["check", "--json", &example("single-stream-1ms.toml")]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["cycle_time"], 1_000_000);
    assert_eq!(v["admin"], Value::Null);
    assert_eq!(v["switch"], Value::Null);

    let out = takt(&["check", "--json", &example("admin-oper-switch.toml")]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["cycle_time"], 500_000);
    assert_eq!(v["cycle_time_extension"], 150_000);
    assert_eq!(v["admin"]["cycle_time"], 250_000);
    assert_eq!(
        v["switch"],
        serde_json::json!({"at": 10_000_100_000u64, "last_oper_cycle": 19_999, "last_oper_start": 9_999_500_000u64})
    );
    assert_eq!(
        v["streams"][1]["admin_window"],
        serde_json::json!({"start": 50_000, "end": 80_000})
    );
}

#[test]
fn the_control_plane_example_shows_its_control_section() {
    let path = example("control-plane.toml");
    let out = takt(&["check", &path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("\ncontrol: 10.77.0.1/24, gateway -, best-effort class 0 (default), status port 9700/udp, guard band 30us\n"),
        "{stdout}"
    );
    // Files without [control] show no control line, and null in JSON.
    let plain = takt(&["check", &example("single-stream-1ms.toml")]);
    assert!(!text(&plain.stdout).contains("control:"));
    let plain = takt(&["check", "--json", &example("single-stream-1ms.toml")]);
    let v: Value = serde_json::from_slice(&plain.stdout).expect("JSON");
    assert_eq!(v["control"], Value::Null);

    let out = takt(&["check", "--json", &path]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        v["control"],
        serde_json::json!({"address": "10.77.0.1", "prefix_len": 24, "gateway": null,
            "best_effort_class": 0, "best_effort_class_default": true,
            "status_port": 9700, "guard_band": 30000, "key_file": null,
            "allow": ["10.77.0.0/24"], "allow_default": true})
    );
}

#[test]
fn the_time_sync_example_shows_its_ptp_section() {
    let path = example("time-sync.toml");
    let out = takt(&["check", &path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("\nptp: auto, gptp (IEEE 802.1AS), domain 0, priority1 248, priority2 248, class 0 (open 100us..1ms), guard band 30us\n     sync every 125ms, announce every 1s (timeout 3), pdelay every 1s; a run starts once |offset| < 100us, waiting up to 30s\n"),
        "{stdout}"
    );
    // Files without [ptp] show no ptp line, and null in JSON.
    let plain = takt(&["check", &example("control-plane.toml")]);
    assert!(!text(&plain.stdout).contains("ptp:"));
    let plain = takt(&["check", "--json", &example("control-plane.toml")]);
    let v: Value = serde_json::from_slice(&plain.stdout).expect("JSON");
    assert_eq!(v["ptp"], Value::Null);

    let out = takt(&["check", "--json", &path]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        v["ptp"],
        serde_json::json!({"mode": "auto", "profile": "gptp", "domain": 0,
            "priority1": 248, "priority2": 248, "class": 0, "class_default": false,
            "class_windows": [{"start": 100_000, "end": 1_000_000}],
            "admin_class_windows": null,
            "log_sync_interval": -3, "sync_interval": 125_000_000,
            "log_announce_interval": 0, "announce_interval": 1_000_000_000,
            "log_delay_interval": 0, "delay_interval": 1_000_000_000,
            "delay_mechanism": "pdelay", "announce_receipt_timeout": 3,
            "sync_threshold": 100_000, "sync_wait": 30_000_000_000u64, "guard_band": 30_000,
            "ptp4l_socket": "/var/run/ptp4l"})
    );
}

#[test]
fn a_ptp_class_shared_with_a_stream_exits_2_at_its_value() {
    let good = std::fs::read_to_string(example("time-sync.toml")).expect("read example");
    let bad_text = good.replace("class = 0 ", "class = 7 ");
    assert_ne!(bad_text, good, "the example sets `class = 0`");
    let bad = TempFile::new("ptp-stream-class", &bad_text);
    let out = takt(&["check", &bad.path()]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    let line = bad_text
        .lines()
        .position(|l| l.starts_with("class = 7"))
        .expect("the class line")
        + 1;
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!("{}:{line}:9: error: PTP frames would share the protected window of stream \"sensor\" (traffic class 7): pick a best-effort class, e.g. 0\n", bad.path())),
        "{err}"
    );
    assert_eq!(text(&out.stdout), "");

    // A misspelt key is named with the keys [ptp] allows.
    let typo = TempFile::new("ptp-typo", &good.replace("sync_wait =", "sync_wiat ="));
    let out = takt(&["check", &typo.path()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("error: unknown key `sync_wiat` in [ptp] (did you mean `sync_wait`?)"),
        "{err}"
    );
}

#[test]
fn json_of_several_files_is_an_array() {
    let files: Vec<String> = examples().iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["check", "--json"];
    args.extend(files.iter().map(String::as_str));
    let out = takt(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let got: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|d| d["file"].as_str().unwrap())
        .collect();
    assert_eq!(got, files);
}

#[test]
fn invalid_file_exits_2_with_a_positioned_error() {
    let bad = TempFile::new("zero-interval", ZERO_INTERVAL);
    let out = takt(&["check", &bad.path()]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!("{}:6:12: error: ", bad.path())),
        "{err}"
    );
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn the_overbooked_example_is_rejected_at_its_spacing() {
    let path = example(INVALID_ON_PURPOSE);
    assert!(
        Path::new(&path).exists(),
        "{path} is gone: drop INVALID_ON_PURPOSE"
    );
    let out = takt(&["check", &path]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    // FILE:LINE:COL of the `spacing` value, which is what to change.
    let spacing_line = std::fs::read_to_string(&path)
        .expect("read example")
        .lines()
        .position(|l| l.starts_with("spacing = "))
        .expect("a spacing line")
        + 1;
    let at = format!("{path}:{spacing_line}:11: error: ");
    assert!(err.starts_with(&at), "expected {at:?} in\n{err}");
    assert!(err.contains("stream \"burst\""), "{err}");
    assert!(err.contains("shorter than one frame on the wire"), "{err}");
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn one_bad_file_among_good_ones_exits_2_and_the_good_ones_print() {
    let bad = TempFile::new("bad-among-good", ZERO_INTERVAL);
    let good = example("single-stream-1ms.toml");
    let out = takt(&["check", &bad.path(), &good]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(&format!("{}:6:12: error: ", bad.path())));
    assert!(text(&out.stdout).starts_with(&format!("{good}: valid schedule\n")));

    let out = takt(&["check", "--json", &good, &bad.path()]);
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["file"], good.as_str());
}

#[test]
fn missing_file_exits_2() {
    let dir = TempFile::new("missing", "");
    let missing = dir.dir.join("does-not-exist.toml").display().to_string();
    let out = takt(&["check", &missing]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with(&format!("{missing}:")), "{err}");
    assert!(err.contains("error: "), "{err}");
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        &["check", "--no-such-flag", "x.toml"][..],
        &["check"][..],
        &[][..],
        &["no-such-command"][..],
    ] {
        let out = takt(args);
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(2), "takt {args:?}");
    }
}

#[test]
fn help_has_an_example_and_the_exit_status() {
    for args in [&["check", "--help"][..], &["--help"][..]] {
        let out = takt(args);
        assert_eq!(out.status.code(), Some(0), "takt {args:?}");
        let help = text(&out.stdout);
        assert!(help.contains("Example"), "{help}");
        assert!(
            help.contains("takt check docs/examples/two-class-250us.toml"),
            "{help}"
        );
    }
    let help = text(&takt(&["check", "--help"]).stdout);
    for status in ["Exit status", "  0  ", "  1  ", "  2  "] {
        assert!(help.contains(status), "{status:?} missing from\n{help}");
    }
}

#[test]
fn frer_example_shows_ports_replication_and_parameters() {
    let path = example("frer.toml");
    let out = takt(&["check", &path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(
        t.contains(
            "ports: needs 2 ports: give --device twice, port 0 first (named 0 \"a\", 1 \"b\")"
        ),
        "{t}"
    );
    assert!(
        t.contains("frer: vector recovery, history 32, reset timeout 1s"),
        "{t}"
    );
    assert!(
        t.contains("    ports 0 \"a\", 1 \"b\", replicated (802.1CB FRER"),
        "{t}"
    );
    assert!(t.contains("    port 0 \"a\"\n"), "{t}");

    let out = takt(&["check", "--json", &path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["ports_needed"], 2);
    let ctl = &v["streams"][0];
    assert_eq!(ctl["name"], "ctl");
    assert_eq!(ctl["ports"], serde_json::json!([0, 1]));
    assert_eq!(ctl["redundancy"], "frer");
    assert_eq!(v["streams"][1]["ports"], serde_json::json!([0]));
    assert_eq!(v["streams"][1]["redundancy"], "none");
    let f = &v["frer"];
    assert_eq!(f["ports"], serde_json::json!(["a", "b"]));
    assert_eq!(f["algorithm"], "vector");
    assert_eq!(f["history_length"], 32);
    assert_eq!(f["reset_timeout"], 1_000_000_000u64);
    assert_eq!(f["individual_recovery"], false);
    assert_eq!(f["take_no_sequence"], false);
    assert_eq!(f["latent_error_detection"], true);
    assert_eq!(f["latent_error_difference"], 4);
    assert_eq!(f["latent_error_period"], 2_000_000_000u64);
    assert_eq!(f["latent_reset_period"], 30_000_000_000u64);

    // A schedule without FRER: one port, no frer, no port lines.
    let plain = example("single-stream-1ms.toml");
    let v: Value =
        serde_json::from_slice(&takt(&["check", "--json", &plain]).stdout).expect("JSON");
    assert_eq!(v["ports_needed"], 1);
    assert!(v["frer"].is_null());
    assert_eq!(v["streams"][0]["redundancy"], "none");
    // The file's path (the checkout's folder) may contain any word.
    let t = text(&takt(&["check", &plain]).stdout).replace(&plain, "FILE");
    assert!(!t.contains("ports") && !t.contains("frer"), "{t}");
}

#[test]
fn frer_errors_point_at_the_value() {
    let f = TempFile::new(
        "frer-bad",
        "[schedule]\n[[schedule.entry]]\ngates = [7]\ninterval = \"1ms\"\n[frer]\nports = [\"a\", \"b\"]\n[[stream]]\nname = \"ctl\"\ntraffic_class = 7\nvlan_id = 1\ndst_mac = \"91:e0:f0:00:fe:00\"\nframe_size = 128\nredundancy = \"frer\"\nports = [\"a\", \"c\"]\n",
    );
    let out = takt(&["check", &f.path()]);
    assert_eq!(out.status.code(), Some(2));
    let e = text(&out.stderr);
    assert!(
        e.contains(&format!(
            "{}:14:15: error: no port is named \"c\"",
            f.path()
        )),
        "{e}"
    );
    assert!(e.contains("\"a\" (port 0), \"b\" (port 1)"), "{e}");
}
