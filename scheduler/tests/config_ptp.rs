//! The `[ptp]` section: one test per rule, each naming the line and column
//! the error points at and the part of the message that says what to
//! change; the values a valid section gives, per profile; and what a
//! schedule change request may do with `[ptp]`.

mod common;

use common::{assert_at, assert_error};
use std::path::PathBuf;
use takt_scheduler::config::{
    load_file, parse_change_with_ptp, parse_str, ConfigError, Diagnostic, PtpMode, PtpProfile,
    PtpSection,
};

/// Class 7 for 250us (stream "sensor" at 0), then classes 0..=3 for
/// 750us (lines 1-12).
const GCL: &str = r#"[schedule]
[[schedule.entry]]
gates = [7]
interval = "250us"
[[schedule.entry]]
gates = [0, 1, 2, 3]
interval = "750us"
[[stream]]
name = "sensor"
traffic_class = 7
vlan_id = 100
dst_mac = "91:e0:f0:00:fe:00"
"#;

/// `GCL`, then `[ptp]` on line 13 and `keys` from line 14 on.
fn with_ptp(keys: &str) -> String {
    format!("{GCL}[ptp]\n{keys}")
}

fn ptp(text: &str) -> Option<PtpSection> {
    match parse_str(text, "t.toml") {
        Ok(l) => l.ptp,
        Err(e) => panic!("{e}\n{text}"),
    }
}

#[test]
fn a_full_section_gives_its_values() {
    let text = with_ptp(
        r#"mode = "slave"
profile = "1588"
domain = 24
priority1 = 100
priority2 = 101
class = 2
log_sync_interval = -4
log_announce_interval = -1
log_delay_interval = 2
announce_receipt_timeout = 5
sync_threshold = "1.5us"
sync_wait = "2s"
guard_band = "30us"
ptp4l_socket = "/run/ptp4l-eth0"
"#,
    );
    assert_eq!(
        ptp(&text),
        Some(PtpSection {
            mode: PtpMode::Slave,
            profile: PtpProfile::Default1588,
            domain: 24,
            priority1: 100,
            priority2: 101,
            class: Some(2),
            log_sync_interval: -4,
            log_announce_interval: -1,
            log_delay_interval: 2,
            announce_receipt_timeout: 5,
            sync_threshold_ns: 1_500,
            sync_wait_ns: 2_000_000_000,
            guard_band_ns: 30_000,
            ptp4l_socket: PathBuf::from("/run/ptp4l-eth0"),
        })
    );
}

#[test]
fn an_empty_section_is_gptp_auto_with_802_1as_defaults() {
    let text = with_ptp("");
    let p = ptp(&text).unwrap();
    assert_eq!(p, PtpSection::defaults(PtpProfile::Gptp));
    assert_eq!((p.mode, p.profile), (PtpMode::Auto, PtpProfile::Gptp));
    assert_eq!((p.priority1, p.priority2), (248, 248));
    assert_eq!(
        (
            p.log_sync_interval,
            p.log_announce_interval,
            p.log_delay_interval
        ),
        (-3, 0, 0)
    );
    assert_eq!(p.announce_receipt_timeout, 3);
    assert_eq!(
        (p.sync_threshold_ns, p.sync_wait_ns),
        (100_000, 30_000_000_000)
    );
    assert_eq!(p.ptp4l_socket, PathBuf::from("/var/run/ptp4l"));
    // Left out, the class is the lowest one that opens: 0 here.
    let loaded = parse_str(&text, "t.toml").unwrap();
    assert_eq!(p.class, None);
    assert_eq!(p.class_in(&loaded.schedule), Some(0));
}

#[test]
fn the_1588_profile_brings_its_own_defaults_and_keys_override_them() {
    let p = ptp(&with_ptp("profile = \"1588\"\n")).unwrap();
    assert_eq!(p, PtpSection::defaults(PtpProfile::Default1588));
    assert_eq!((p.priority1, p.priority2), (128, 128));
    assert_eq!((p.log_sync_interval, p.log_announce_interval), (0, 1));
    let p = ptp(&with_ptp("profile = \"1588\"\npriority2 = 7\n")).unwrap();
    assert_eq!((p.priority1, p.priority2), (128, 7));
}

#[test]
fn no_section_is_none_and_inline_works() {
    assert_eq!(ptp(GCL), None);
    let inline = format!("ptp = {{ mode = \"master\", domain = 3 }}\n{GCL}");
    let p = ptp(&inline).unwrap();
    assert_eq!((p.mode, p.domain), (PtpMode::Master, 3));
}

#[test]
fn the_time_sync_example_has_its_section() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples");
    let loaded = load_file(&dir.join("time-sync.toml")).unwrap_or_else(|e| panic!("{e}"));
    let p = loaded.ptp.expect("time-sync.toml has [ptp]");
    assert_eq!(
        (p.mode, p.profile, p.class),
        (PtpMode::Auto, PtpProfile::Gptp, Some(0))
    );
    assert_eq!(p.class_in(&loaded.schedule), Some(0));
    assert!(loaded
        .schedule
        .streams()
        .iter()
        .all(|s| s.traffic_class == 7));
    // The other examples have none.
    for name in ["single-stream-1ms.toml", "control-plane.toml"] {
        let loaded = load_file(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.ptp, None, "{name}");
    }
}

// ---- mode, profile -------------------------------------------------------------

#[test]
fn every_mode_loads() {
    for (name, mode) in [
        ("off", PtpMode::Off),
        ("slave", PtpMode::Slave),
        ("master", PtpMode::Master),
        ("auto", PtpMode::Auto),
        ("linuxptp", PtpMode::Linuxptp),
    ] {
        let p = ptp(&with_ptp(&format!("mode = \"{name}\"\n"))).unwrap();
        assert_eq!(p.mode, mode);
    }
}

#[test]
fn unknown_mode_lists_the_modes() {
    assert_error(
        &with_ptp("mode = \"grandmaster\"\n"),
        14,
        8,
        "`mode`: unknown PTP mode \"grandmaster\": use one of off, slave, master, auto, linuxptp",
    );
}

#[test]
fn unknown_profile_lists_the_profiles() {
    assert_error(
        &with_ptp("profile = \"802.1AS\"\n"),
        14,
        11,
        "`profile`: unknown PTP profile \"802.1AS\": use one of gptp, 1588",
    );
}

// ---- numbers -------------------------------------------------------------------

#[test]
fn domain_out_of_range() {
    assert_error(
        &with_ptp("domain = 128\n"),
        14,
        10,
        "`domain` 128 is out of range: use 0..=127",
    );
    assert_error(
        &with_ptp("domain = -1\n"),
        14,
        10,
        "`domain` -1 is out of range: use 0..=127",
    );
}

#[test]
fn priorities_are_bytes() {
    assert_error(
        &with_ptp("priority1 = 256\n"),
        14,
        13,
        "`priority1` 256 is out of range: use 0..=255",
    );
    assert_error(
        &with_ptp("priority2 = -5\n"),
        14,
        13,
        "`priority2` must not be negative (it is -5): use 0..=255",
    );
    let p = ptp(&with_ptp("priority1 = 0\npriority2 = 255\n")).unwrap();
    assert_eq!((p.priority1, p.priority2), (0, 255));
}

#[test]
fn log_intervals_have_their_ranges() {
    for (key, bad, range) in [
        ("log_sync_interval", -8i64, "-7..=4"),
        ("log_sync_interval", 5, "-7..=4"),
        ("log_announce_interval", -4, "-3..=4"),
        ("log_announce_interval", 5, "-3..=4"),
        ("log_delay_interval", -8, "-7..=5"),
        ("log_delay_interval", 6, "-7..=5"),
        ("log_delay_interval", 1i64 << 40, "-7..=5"),
    ] {
        let col = key.len() + 4;
        assert_error(
            &with_ptp(&format!("{key} = {bad}\n")),
            14,
            col,
            &format!(
                "`{key}` {bad} is out of range: use {range} (log2 of seconds: -3 = 125ms, 0 = 1s)"
            ),
        );
    }
    let p = ptp(&with_ptp(
        "log_sync_interval = -7\nlog_announce_interval = 4\nlog_delay_interval = 5\n",
    ))
    .unwrap();
    assert_eq!(
        (
            p.log_sync_interval,
            p.log_announce_interval,
            p.log_delay_interval
        ),
        (-7, 4, 5)
    );
}

#[test]
fn announce_receipt_timeout_range() {
    for bad in [1, 11] {
        assert_error(
            &with_ptp(&format!("announce_receipt_timeout = {bad}\n")),
            14,
            28,
            &format!("`announce_receipt_timeout` {bad} is out of range: use 2..=10"),
        );
    }
}

#[test]
fn a_log_interval_written_as_a_string_is_a_type_error() {
    assert_error(
        &with_ptp("log_sync_interval = \"-3\"\n"),
        14,
        21,
        "`log_sync_interval` in [ptp] must be an integer, not a string: e.g. `log_sync_interval = -3`",
    );
}

// ---- durations, socket ---------------------------------------------------------

#[test]
fn sync_threshold_must_be_positive() {
    assert_error(
        &with_ptp("sync_threshold = \"0us\"\n"),
        14,
        18,
        "`sync_threshold` must be positive",
    );
    assert_error(
        &with_ptp("sync_threshold = \"-5us\"\n"),
        14,
        18,
        "`sync_threshold` must not be negative",
    );
    assert_error(
        &with_ptp("sync_threshold = \"fast\"\n"),
        14,
        18,
        "`sync_threshold`: \"fast\" is not a duration",
    );
}

#[test]
fn sync_wait_is_a_duration_and_zero_is_allowed() {
    assert_eq!(ptp(&with_ptp("sync_wait = 0\n")).unwrap().sync_wait_ns, 0);
    assert_eq!(
        ptp(&with_ptp("sync_wait = \"1.5s\"\n"))
            .unwrap()
            .sync_wait_ns,
        1_500_000_000
    );
    assert_error(
        &with_ptp("sync_wait = \"30 seconds\"\n"),
        14,
        13,
        "`sync_wait`",
    );
}

#[test]
fn ptp4l_socket_must_be_a_socket_path() {
    assert_error(
        &with_ptp("ptp4l_socket = \"\"\n"),
        14,
        16,
        "`ptp4l_socket` is empty: give the path of ptp4l's UNIX socket (its uds_address), e.g. \"/var/run/ptp4l\"",
    );
    let long = format!("/run/{}", "x".repeat(120));
    assert_error(
        &with_ptp(&format!("ptp4l_socket = \"{long}\"\n")),
        14,
        16,
        "`ptp4l_socket` is not a UNIX socket path (at most 107 bytes, no NUL)",
    );
}

// ---- class ---------------------------------------------------------------------

#[test]
fn class_past_7() {
    assert_error(
        &with_ptp("class = 8\n"),
        14,
        9,
        "`class` 8 does not exist: use a traffic class 0..=7",
    );
}

#[test]
fn class_that_never_opens() {
    assert_error(
        &with_ptp("class = 5\n"),
        14,
        9,
        "traffic class 5 never opens in this schedule, so PTP frames could never be sent: give a class that a gate entry opens",
    );
}

#[test]
fn class_of_a_stream_is_refused_with_a_best_effort_class_to_pick() {
    assert_error(
        &with_ptp("class = 7\n"),
        14,
        9,
        "PTP frames would share the protected window of stream \"sensor\" (traffic class 7): pick a best-effort class, e.g. 0",
    );
}

#[test]
fn a_default_class_that_is_a_streams_is_refused_at_the_header() {
    // Class 0 opens first and carries "bulk"; classes 1, 2 are best effort.
    let text = r#"[schedule]
[[schedule.entry]]
gates = [0]
interval = "250us"
[[schedule.entry]]
gates = [1, 2]
interval = "750us"
[[stream]]
name = "bulk"
traffic_class = 0
vlan_id = 100
dst_mac = "91:e0:f0:00:fe:00"
[ptp]
mode = "slave"
"#;
    assert_error(
        text,
        13,
        1,
        "[ptp] gives no `class`, and the default (class 0, the lowest that opens) is a stream's class: PTP frames would share the protected window of stream \"bulk\" (traffic class 0): pick a best-effort class, e.g. 1",
    );
    let fixed = text.replace("mode = \"slave\"", "mode = \"slave\"\nclass = 1");
    assert_eq!(ptp(&fixed).unwrap().class, Some(1));
}

#[test]
fn when_every_open_class_carries_a_stream_the_message_says_to_open_one() {
    let text = GCL.replace("gates = [0, 1, 2, 3]", "gates = []");
    assert_error(
        &format!("{text}[ptp]\n"),
        13,
        1,
        "every class that opens carries a stream, so open one that none uses in some entry",
    );
}

#[test]
fn no_class_opens_at_all() {
    let text = r#"[schedule]
[[schedule.entry]]
gates = []
interval = "1ms"
[ptp]
"#;
    assert_error(
        text,
        5,
        1,
        "no gate entry of the oper or admin list opens any traffic class, so PTP frames could never be sent: open a best-effort class in some entry, or remove [ptp]",
    );
}

#[test]
fn a_class_opened_only_by_the_admin_list_counts() {
    let text = format!(
        "{GCL}[admin]\nbase_time = \"1s\"\n[[admin.entry]]\ngates = [7, 5]\ninterval = \"1ms\"\n[ptp]\nclass = 5\n"
    );
    assert_eq!(ptp(&text).unwrap().class, Some(5));
}

#[test]
fn mode_off_keeps_the_section_without_checking_its_class() {
    let p = ptp(&with_ptp("mode = \"off\"\nclass = 7\n")).unwrap();
    assert_eq!((p.mode, p.class), (PtpMode::Off, Some(7)));
    // The range is still checked: 9 is no class on any run.
    assert_error(
        &with_ptp("mode = \"off\"\nclass = 9\n"),
        15,
        9,
        "`class` 9 does not exist",
    );
}

// ---- unknown keys, wrong shapes --------------------------------------------------

#[test]
fn unknown_key_in_ptp_suggests_the_spelling() {
    assert_error(
        &with_ptp("domian = 0\n"),
        14,
        1,
        "unknown key `domian` in [ptp] (did you mean `domain`?): the keys allowed there are mode, profile, domain, priority1, priority2, class, log_sync_interval, log_announce_interval, log_delay_interval, announce_receipt_timeout, sync_threshold, sync_wait, guard_band, ptp4l_socket",
    );
}

#[test]
fn ptp_written_as_an_array_of_tables() {
    assert_error(
        &format!("{GCL}[[ptp]]\n"),
        13,
        1,
        "write [ptp] with single brackets, once",
    );
}

#[test]
fn an_unknown_top_level_table_names_ptp_among_the_allowed() {
    assert_error(
        &format!("{GCL}[pdp]\n"),
        13,
        2,
        "[schedule], [admin], [link], [[stream]], [control], [ptp] and [frer]",
    );
}

// ---- schedule changes -------------------------------------------------------------

const MS: u64 = 1_000_000;

/// A request for `GCL` with another cycle (base 10 ms) and `ptp` after it
/// (line 15 on).
fn request(ptp: &str) -> String {
    let list = GCL.replace("[schedule]\n", "[schedule]\nbase_time = \"10ms\"\n");
    let list = list.replace("interval = \"750us\"", "interval = \"250us\"");
    format!("{list}{ptp}")
}

fn change(running: &str, request: &str) -> Result<(), Diagnostic> {
    let running = parse_str(running, "running.toml").unwrap_or_else(|e| panic!("{e}"));
    parse_change_with_ptp(
        request,
        "req.toml",
        &running.schedule,
        running.control.as_ref(),
        running.ptp.as_ref(),
        5 * MS,
        MS,
    )
    .map(drop)
    .map_err(|ConfigError(d)| d)
}

#[test]
fn a_change_repeating_or_leaving_out_ptp_is_accepted() {
    let running = with_ptp("domain = 3\n");
    assert_eq!(change(&running, &request("[ptp]\ndomain = 3\n")), Ok(()));
    assert_eq!(change(&running, &request("")), Ok(()));
}

#[test]
fn a_change_of_a_ptp_value_is_refused_at_it() {
    let running = with_ptp("domain = 3\n");
    let d = change(&running, &request("[ptp]\ndomain = 4\n")).unwrap_err();
    assert_at(
        &d,
        15,
        10,
        "[ptp] cannot change while the talker runs: domain is 4 here but 3 in the running schedule: give the running [ptp] section unchanged, or leave it out",
    );
    // A key left out is compared with its default, at the header.
    let d = change(&running, &request("[ptp]\n")).unwrap_err();
    assert_at(
        &d,
        14,
        1,
        "domain is 0 here (not set in this [ptp], so its default applies) but 3 in the running schedule",
    );
}

#[test]
fn a_ptp_section_cannot_be_added_while_running() {
    let d = change(GCL, &request("[ptp]\n")).unwrap_err();
    assert_at(
        &d,
        14,
        1,
        "the running schedule has no [ptp] section and one cannot be added while the talker runs: remove [ptp]",
    );
    // Through the plain parse_change too: it is for talkers without [ptp].
    let running = parse_str(GCL, "running.toml").unwrap();
    let refused = takt_scheduler::config::parse_change(
        &request("[ptp]\n"),
        "req.toml",
        &running.schedule,
        None,
        5 * MS,
        MS,
    );
    assert!(refused.is_err());
}

#[test]
fn a_change_leaving_out_ptp_must_still_open_its_class() {
    let running = with_ptp("class = 2\n");
    let closed = request("").replace("gates = [0, 1, 2, 3]", "gates = [0, 1, 3]");
    let d = change(&running, &closed).unwrap_err();
    assert_at(
        &d,
        1,
        1,
        "the new list does not suit the running [ptp] section: traffic class 2 never opens in this schedule",
    );
    // With PTP off the class does not matter.
    assert_eq!(
        change(&with_ptp("mode = \"off\"\nclass = 2\n"), &closed),
        Ok(())
    );
}

// ---- no input panics ----------------------------------------------------------

proptest::proptest! {
    /// Any values in [ptp] load or give a positioned error inside it.
    #[test]
    fn any_ptp_values_load_or_give_an_error(
        mode in "[a-z]{0,9}",
        domain in -3i64..300,
        class in -3i64..12,
        log_sync in -20i64..20,
        timeout in -3i64..300,
        threshold in "-?[0-9.]{0,6}(ns|us|ms|s|)",
        socket in "[/a-z0-9]{0,130}",
    ) {
        let text = with_ptp(&format!(
            "mode = {mode:?}\ndomain = {domain}\nclass = {class}\nlog_sync_interval = {log_sync}\nannounce_receipt_timeout = {timeout}\nsync_threshold = {threshold:?}\nptp4l_socket = {socket:?}\n"
        ));
        if let Err(ConfigError(d)) = parse_str(&text, "t.toml") {
            proptest::prop_assert!((14..=20).contains(&d.line), "{}:{}: {}", d.line, d.col, d.message);
        }
    }
}
