//! Stream names (and other text from a schedule file) with control
//! characters and terminal escape codes are printed escaped, so a schedule
//! cannot clear a terminal or forge a line of output; JSON carries the name
//! exactly, as valid JSON.

mod common;

const TAKT: &str = env!("CARGO_BIN_EXE_takt");

/// ESC [2J (clear screen), then a new line that looks like a diagnostic.
const EVIL_TOML: &str = r#"evil\u001b[2J\nfake.toml:1:1: error: forged"#;
const EVIL: &str = "evil\u{1b}[2J\nfake.toml:1:1: error: forged";
const EVIL_SHOWN: &str = r"evil\u{1b}[2J\nfake.toml:1:1: error: forged";

fn schedule(second_name: &str) -> String {
    format!(
        r#"[schedule]
[[schedule.entry]]
gates = [7]
interval = "100us"

[[stream]]
name = "{EVIL_TOML}"
traffic_class = 7
vlan_id = 10
dst_mac = "91:e0:f0:00:fe:01"

[[stream]]
name = "{second_name}"
traffic_class = 7
vlan_id = 11
dst_mac = "91:e0:f0:00:fe:02"
offset = "10us"
"#
    )
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains('\u{1b}'), "{what} has a raw ESC:\n{text:?}");
    assert!(
        !text.lines().any(|l| l.starts_with("fake.toml")),
        "{what} has a forged line:\n{text}"
    );
}

#[test]
fn check_text_escapes_and_json_keeps_the_name() {
    let dir = common::TempDir::new("names");
    let file = dir.write("evil.toml", &schedule("plain"));
    let out = common::run(TAKT, &["check", &file]);
    common::assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    let stdout = common::text(&out.stdout);
    assert_clean("takt check", &stdout);
    assert!(stdout.contains(EVIL_SHOWN), "{stdout}");

    let out = common::run(TAKT, &["check", "--json", &file]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["streams"][0]["name"], EVIL);
}

#[test]
fn errors_naming_the_stream_escape_it() {
    let dir = common::TempDir::new("names-err");
    // The same name twice: the error quotes it.
    let file = dir.write("dup.toml", &schedule(EVIL_TOML));
    let out = common::run(TAKT, &["check", &file]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = common::text(&out.stderr);
    assert_clean("the error", &stderr);
    assert!(stderr.contains("is defined twice"), "{stderr}");
    assert!(stderr.contains(EVIL_SHOWN), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn run_reports_escape_in_text_and_keep_the_name_in_json() {
    let dir = common::TempDir::new("names-run");
    let file = dir.write("evil.toml", &schedule("plain"));
    let out = common::run(TAKT, &["loopback", &file, "--cycles", "20", "-q"]);
    common::assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    let stdout = common::text(&out.stdout);
    assert_clean("the text report", &stdout);
    assert!(stdout.contains(EVIL_SHOWN), "{stdout}");

    let out = common::run(
        TAKT,
        &[
            "loopback", &file, "--cycles", "20", "-q", "--report", "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let names: Vec<&str> = v["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&EVIL), "{names:?}");
}
