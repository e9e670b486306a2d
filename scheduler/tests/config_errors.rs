//! One test per rule of the schedule file format: each names the exact
//! line and column the error points at and the part of the message that
//! says what to change. Texts start right after `r#"`, so the first line
//! of the literal is line 1.

mod common;

use common::{assert_error, error};
use std::path::Path;
use takt_scheduler::config::{load_file, parse_str};

/// One oper entry opening class 7 for 250us, then 750us for classes 0..=6.
const GCL: &str = r#"[schedule]
[[schedule.entry]]
gates = [7]
interval = "250us"
[[schedule.entry]]
gates = [0, 1, 2, 3, 4, 5, 6]
interval = "750us"
"#;

/// `GCL` (lines 1-7) followed by `more` (from line 8 on).
fn with_gcl(more: &str) -> String {
    format!("{GCL}{more}")
}

// ---- unknown keys ---------------------------------------------------------

#[test]
fn unknown_key_in_schedule() {
    let text = r#"[schedule]
clok = "tai"
[[schedule.entry]]
gates = [7]
interval = "1ms"
"#;
    assert_error(text, 2, 1, "unknown key `clok` in [schedule]");
    let d = error(text);
    assert!(d.message.contains("did you mean `clock`?"), "{}", d.message);
    assert!(
        d.message
            .contains("clock, base_time, cycle_time, cycle_time_extension, entry"),
        "{}",
        d.message
    );
}

#[test]
fn unknown_key_in_entry() {
    let text = r#"[schedule]
[[schedule.entry]]
gates = [7]
  intervall = "1ms"
"#;
    assert_error(
        text,
        4,
        3,
        "unknown key `intervall` in [[schedule.entry]] (did you mean `interval`?): the keys allowed there are gates, gate_mask, interval",
    );
}

#[test]
fn unknown_key_in_admin_entry() {
    let text = r#"[schedule]
[[schedule.entry]]
gates = [7]
interval = "1ms"
[admin]
base_time = "1s"
[[admin.entry]]
gates = [7]
interval = "1ms"
mask = 3
"#;
    assert_error(text, 10, 1, "unknown key `mask` in [[admin.entry]]");
}

#[test]
fn unknown_key_in_stream() {
    let text = with_gcl(
        r#"[[stream]]
name = "a"
traffic_class = 7
vlan_id = 1
dst_mac = "91:e0:f0:00:fe:00"
priority = 7
"#,
    );
    assert_error(&text, 13, 1, "unknown key `priority` in [[stream]]");
    assert!(error(&text)
        .message
        .contains("name, traffic_class, vlan_id, pcp"));
}

#[test]
fn unknown_key_in_inline_link_table() {
    // At the top, before any header opens another table.
    let text = format!("link = {{ speed = \"1Gbps\", sped = 1 }}\n{GCL}");
    assert_error(
        &text,
        1,
        27,
        "unknown key `sped` in [link] (did you mean `speed`?)",
    );
}

#[test]
fn unknown_top_level_table() {
    let text = with_gcl("[links]\nspeed = \"1Gbps\"\n");
    assert_error(
        &text,
        8,
        2,
        "unknown top-level table or key `links` (did you mean `link`?)",
    );
    assert!(error(&text)
        .message
        .contains("[schedule], [admin], [link], [[stream]], [control], [ptp] and [frer]"));
}

#[test]
fn clock_in_admin_is_refused() {
    let text = with_gcl("[admin]\nbase_time = 5\nclock = \"tai\"\n");
    assert_error(&text, 10, 9, "`clock` is set once, in [schedule]");
}

// ---- TOML types -------------------------------------------------------------

#[test]
fn string_where_integer_expected() {
    let text = with_gcl(
        r#"[[stream]]
name = "a"
traffic_class = 7
vlan_id = "100"
dst_mac = "91:e0:f0:00:fe:00"
"#,
    );
    assert_error(
        &text,
        11,
        11,
        "`vlan_id` in [[stream]] must be an integer, not a string: e.g. `vlan_id = 100`",
    );
}

#[test]
fn integer_where_string_expected() {
    let text = with_gcl(
        r#"[[stream]]
name = 5
"#,
    );
    assert_error(
        &text,
        9,
        8,
        "`name` in [[stream]] must be a string, not an integer",
    );
}

#[test]
fn float_where_duration_expected() {
    let text = r#"[schedule]
[[schedule.entry]]
gates = [7]
interval = 1.5
"#;
    assert_error(
        text,
        4,
        12,
        "`interval` in [[schedule.entry]] must be a duration",
    );
    assert!(error(text).message.contains("not a float"));
}

#[test]
fn date_time_where_duration_expected() {
    let text = with_gcl("[admin]\nbase_time = 2024-01-01T00:00:00Z\n");
    assert_error(&text, 9, 13, "`base_time` in [admin] must be a duration");
    assert!(error(&text).message.contains("not a date-time"));
}

#[test]
fn string_where_gate_class_expected() {
    let text = r#"[schedule]
[[schedule.entry]]
gates = [7, "6"]
interval = "1ms"
"#;
    assert_error(
        text,
        3,
        13,
        "`gates` in [[schedule.entry]] must be an integer, not a string",
    );
}

#[test]
fn stream_written_as_single_table() {
    let text = with_gcl("[stream]\nname = \"a\"\n");
    assert_error(
        &text,
        8,
        1,
        "`stream` at the top level must be an array, not a table",
    );
    assert!(error(&text)
        .message
        .contains("double-bracket header, e.g. [[stream]]"));
}

#[test]
fn single_table_written_as_array_of_tables() {
    let text = with_gcl("[[link]]\nspeed = \"1Gbps\"\n");
    assert_error(
        &text,
        8,
        1,
        "`link` at the top level must be a table, not an array: write [link] with single brackets",
    );
}

#[test]
fn date_time_where_a_table_belongs() {
    let text = format!("link = 1979-05-27\n{GCL}");
    assert_error(
        &text,
        1,
        8,
        "`link` at the top level must be a table, not a date-time",
    );
}

#[test]
fn schedule_that_is_not_a_table() {
    assert_error(
        "schedule = 5\n",
        1,
        12,
        "`schedule` at the top level must be a table, not an integer",
    );
}

#[test]
fn unquoted_duration_is_a_syntax_error_with_a_fix() {
    let text = r#"[schedule]
[[schedule.entry]]
gates = [7]
interval = 250us
"#;
    assert_error(text, 4, 12, "`250us` must be quoted: write \"250us\"");
    let text = text.replace("250us", "1.5ms");
    assert_error(&text, 4, 12, "`1.5ms` must be quoted: write \"1.5ms\"");
}

#[test]
fn toml_syntax_errors_are_positioned() {
    assert_error("[schedule\n", 1, 10, "invalid TOML: unclosed table");
    assert_error(
        "[schedule]\nclock = \"tai\"\nclock = \"tai\"\n",
        3,
        1,
        "`clock` is defined twice",
    );
}

// ---- durations --------------------------------------------------------------

#[test]
fn bad_duration_unit() {
    let text = r#"[schedule]
[[schedule.entry]]
gates = [7]
interval = "250 parsecs"
"#;
    assert_error(text, 4, 12, "`interval`: \"250 parsecs\" is not a duration");
    assert!(error(text).message.contains("(ns, us, ms, s)"));
}

#[test]
fn duration_without_unit_must_be_whole_ns() {
    let text = r#"[schedule]
cycle_time = "1.5"
[[schedule.entry]]
gates = [7]
interval = "2ms"
"#;
    assert_error(text, 2, 14, "`cycle_time`: \"1.5\" is not a duration");
}

#[test]
fn zero_interval() {
    let text = with_gcl("[[schedule.entry]]\ngates = []\ninterval = 0\n");
    assert_error(&text, 10, 12, "`interval` must be positive");
}

#[test]
fn negative_interval() {
    let text = r#"[schedule]
[[schedule.entry]]
gates = [7]
interval = -5
"#;
    assert_error(text, 4, 12, "`interval` must not be negative (it is -5 ns)");
    let text = text.replace("-5", "\"-5us\"");
    assert_error(&text, 4, 12, "`interval` must not be negative");
}

#[test]
fn duration_overflowing_u64_ns() {
    let entry = |interval: &str| {
        format!("[schedule]\n[[schedule.entry]]\ngates = [7]\ninterval = {interval}\n")
    };
    for too_long in [
        "\"20000000000s\"",
        "\"18446744073709551616\"",
        "18446744073709551616",
    ] {
        assert_error(
            &entry(too_long),
            4,
            12,
            "`interval` is too long: durations must fit in 64 bits",
        );
    }
    let huge = "1".repeat(60);
    assert_error(
        &entry(&huge),
        4,
        12,
        "`interval` in [[schedule.entry]] is too large",
    );
    // u64::MAX itself is a legal duration, but not a legal cycle: without
    // cycle_time the interval is the cycle, and [schedule] is pointed at.
    assert_error(
        &entry("18446744073709551615"),
        1,
        1,
        "the cycle is 18446744073709551615 ns long, more than the longest takt runs",
    );
}

#[test]
fn interval_sum_overflowing_u64() {
    let text = r#"[schedule]
[[schedule.entry]]
gates = [7]
interval = 18446744073709551615
[[schedule.entry]]
gates = [0]
interval = "1ns"
"#;
    assert_error(
        text,
        7,
        12,
        "the intervals of [schedule] add up to more than 2^64 - 1 ns",
    );
}

// ---- gates ------------------------------------------------------------------

#[test]
fn gates_naming_class_8() {
    let text = r#"[schedule]
[[schedule.entry]]
gates = [0, 8]
interval = "1ms"
"#;
    assert_error(
        text,
        3,
        13,
        "`gates` names traffic class 8, which does not exist: use 0..=7",
    );
}

#[test]
fn gates_naming_a_negative_class() {
    let text = "[schedule]\n[[schedule.entry]]\ngates = [-1]\ninterval = 5\n";
    assert_error(text, 3, 10, "`gates` must not be negative");
}

#[test]
fn gate_mask_over_0xff() {
    let text = r#"[schedule]
[[schedule.entry]]
gate_mask = 0x100
interval = "1ms"
"#;
    assert_error(text, 3, 13, "`gate_mask` 256 is out of range: use 0..=0xff");
}

#[test]
fn both_gates_and_gate_mask() {
    let text = r#"[schedule]
[[schedule.entry]]
gates = [7]
gate_mask = 0x80
interval = "1ms"
"#;
    assert_error(text, 4, 13, "give either `gates` or `gate_mask`, not both");
}

#[test]
fn neither_gates_nor_gate_mask() {
    let text = r#"[schedule]
[[schedule.entry]]
interval = "1ms"
"#;
    assert_error(
        text,
        2,
        1,
        "[[schedule.entry]] has no gates: add `gates = [...]`",
    );
}

// ---- gate control lists -----------------------------------------------------

#[test]
fn empty_entry_list() {
    assert_error(
        "[schedule]\ncycle_time = \"1ms\"\n",
        1,
        1,
        "[schedule] has no entries: add at least one [[schedule.entry]]",
    );
    let text = with_gcl("[admin]\nbase_time = \"1s\"\n");
    assert_error(
        &text,
        8,
        1,
        "[admin] has no entries: add at least one [[admin.entry]]",
    );
}

#[test]
fn cycle_time_longer_than_the_list() {
    let text = r#"[schedule]
cycle_time = "1ms"
cycle_time_extension = "100us"
[[schedule.entry]]
gates = [7]
interval = "800us"
"#;
    assert_error(
        text,
        2,
        14,
        "is longer than the intervals' sum 800000 ns by 200000 ns, more than cycle_time_extension 100000 ns",
    );
    // Enough extension stretches the last entry instead.
    let stretched = text.replace("\"100us\"", "\"200us\"");
    assert!(parse_str(&stretched, "t.toml").is_ok());
}

#[test]
fn zero_cycle_time() {
    let text = "[schedule]\ncycle_time = 0\n[[schedule.entry]]\ngates = [7]\ninterval = 5\n";
    assert_error(text, 2, 14, "cycle_time is zero");
}

#[test]
fn extension_not_shorter_than_cycle() {
    let text = r#"[schedule]
cycle_time_extension = "1ms"
[[schedule.entry]]
gates = [7]
interval = "1ms"
"#;
    assert_error(text, 2, 24, "must be shorter than cycle_time");
}

#[test]
fn admin_base_time_not_after_oper() {
    let text = r#"[schedule]
base_time = "2s"
[[schedule.entry]]
gates = [7]
interval = "1ms"
[admin]
base_time = 2000000000
[[admin.entry]]
gates = [7]
interval = "1ms"
"#;
    assert_error(
        text,
        7,
        13,
        "admin base_time 2000000000 ns is not after the oper base_time",
    );
}

#[test]
fn bad_clock() {
    let text = with_gcl("").replace("[schedule]\n", "[schedule]\nclock = \"utc\"\n");
    assert_error(
        &text,
        2,
        9,
        "unknown clock \"utc\": use one of tai, monotonic, realtime",
    );
}

// ---- link -------------------------------------------------------------------

#[test]
fn bad_link_speed() {
    let text = with_gcl("[link]\nspeed = \"1G\"\n");
    assert_error(&text, 9, 9, "`speed`: \"1G\" is not a link speed");
}

#[test]
fn tc_to_pcp_wrong_length() {
    let text = with_gcl("[link]\ntc_to_pcp = [0, 1, 2]\n");
    assert_error(&text, 9, 13, "`tc_to_pcp` has 3 value(s): give exactly 8");
}

#[test]
fn tc_to_pcp_value_out_of_range() {
    let text = with_gcl("[link]\ntc_to_pcp = [0, 1, 2, 3, 4, 5, 9, 7]\n");
    assert_error(
        &text,
        9,
        32,
        "tc_to_pcp maps traffic class 6 to PCP 9: a PCP is 0..=7",
    );
    let text = with_gcl("[link]\ntc_to_pcp = [0, 1, 2, 3, 4, 5, 6, 300]\n");
    assert_error(&text, 9, 35, "`tc_to_pcp` 300 is out of range");
    let text = with_gcl("[link]\ntc_to_pcp = [0, -1, 2, 3, 4, 5, 6, 7]\n");
    assert_error(&text, 9, 17, "`tc_to_pcp` must not be negative");
}

// ---- streams ----------------------------------------------------------------

/// A class-7 stream at line 8 of a `with_gcl` text; `extra` goes after
/// `dst_mac`, from line 13 on.
fn stream(extra: &str) -> String {
    with_gcl(&format!(
        "[[stream]]\nname = \"ctl\"\ntraffic_class = 7\nvlan_id = 100\ndst_mac = \"91:e0:f0:00:fe:00\"\n{extra}"
    ))
}

#[test]
fn the_stream_helper_is_valid() {
    parse_str(&stream(""), "t.toml").unwrap();
}

#[test]
fn missing_required_key_names_key_and_table() {
    let text = with_gcl("[[stream]]\nname = \"a\"\ntraffic_class = 7\nvlan_id = 1\n");
    assert_error(
        &text,
        8,
        1,
        "[[stream]] is missing the required key `dst_mac`: add it, e.g. `dst_mac = \"91:e0:f0:00:fe:00\"`",
    );
    let text = "[schedule]\n[[schedule.entry]]\ngates = [7]\n";
    assert_error(
        text,
        2,
        1,
        "[[schedule.entry]] is missing the required key `interval`",
    );
}

#[test]
fn missing_schedule_table() {
    assert_error("", 1, 1, "the file has no [schedule] table");
    assert_error(
        "[link]\nspeed = \"1Gbps\"\n",
        1,
        1,
        "the file has no [schedule] table",
    );
}

#[test]
fn missing_admin_base_time() {
    let text = with_gcl("[admin]\n[[admin.entry]]\ngates = [7]\ninterval = 5\n");
    assert_error(
        &text,
        8,
        1,
        "[admin] is missing the required key `base_time`",
    );
}

#[test]
fn stream_class_never_opened() {
    let text = r#"[schedule]
[[schedule.entry]]
gates = [7]
interval = "1ms"
[[stream]]
name = "video"
traffic_class = 5
vlan_id = 10
dst_mac = "01:00:5e:00:00:01"
"#;
    assert_error(
        text,
        7,
        17,
        "stream \"video\": traffic class 5 is never opened by the oper gate control list",
    );
}

#[test]
fn stream_class_out_of_range() {
    assert_error(
        &stream("").replace("traffic_class = 7", "traffic_class = 8"),
        10,
        17,
        "traffic class 8 does not exist: use 0..=7",
    );
    assert_error(
        &stream("").replace("traffic_class = 7", "traffic_class = 256"),
        10,
        17,
        "`traffic_class` 256 is out of range: use 0..=7",
    );
}

/// A 1000-byte frame takes (1000 + 20) * 8 = 8160 ns at 1 Gbit/s, which fits
/// the 10us window, and 81600 ns at 100 Mbit/s, which does not.
#[test]
fn frame_fits_its_window_at_1gbps_but_not_at_100mbps() {
    let text = |speed: &str| {
        format!(
            r#"[schedule]
[[schedule.entry]]
gates = [7]
interval = "10us"
[[schedule.entry]]
gates = [0]
interval = "990us"
[link]
speed = "{speed}"
[[stream]]
name = "big"
traffic_class = 7
vlan_id = 1
dst_mac = "91:e0:f0:00:fe:00"
frame_size = 1000
offset = "0ns"
"#
        )
    };
    assert!(parse_str(&text("1Gbps"), "t.toml").is_ok());
    assert_error(
        &text("100Mbps"),
        16,
        10,
        "stream \"big\": frame 0 launched at 0 ns occupies the wire until 81600 ns (frame + preamble + IFG), after the class 7 gate closes at 10000 ns",
    );
}

#[test]
fn later_frame_not_fitting_points_at_frames_per_cycle() {
    // 64-byte frames take 672 ns; the 250us window holds 372 back to back.
    let text = stream("frames_per_cycle = 400\n");
    assert_error(&text, 13, 20, "frame 372 launched at");
    let fits = stream("frames_per_cycle = 372\n");
    assert!(parse_str(&fits, "t.toml").is_ok());
}

#[test]
fn frame_not_fitting_without_an_offset_points_at_the_stream() {
    let text = stream("frame_size = 1522\n").replace("\"250us\"", "\"1us\"");
    assert_error(
        &text,
        8,
        1,
        "(`offset` is not set in this [[stream]], so its default applies)",
    );
}

#[test]
fn offset_where_the_gate_is_closed() {
    let text = stream("offset = \"300us\"\n");
    assert_error(
        &text,
        13,
        10,
        "offset 300000 ns falls where the gate of traffic class 7 is closed in the oper schedule; its windows are 0..250000",
    );
}

#[test]
fn offset_outside_the_cycle() {
    let text = stream("offset = \"1ms\"\n");
    assert_error(&text, 13, 10, "is not inside the oper cycle of 1000000 ns");
}

#[test]
fn streams_of_one_class_overlapping_on_the_wire() {
    let text = with_gcl(
        r#"[[stream]]
name = "a"
traffic_class = 7
vlan_id = 1
dst_mac = "91:e0:f0:00:fe:00"
offset = "10us"
[[stream]]
name = "b"
traffic_class = 7
vlan_id = 2
dst_mac = "01:1b:19:00:00:01"
offset = "10.5us"
"#,
    );
    assert_error(
        &text,
        19,
        10,
        "stream \"b\" frame 0 (on the wire 10500..11172 ns) overlaps stream \"a\" frame 0",
    );
}

#[test]
fn spacing_shorter_than_a_frame() {
    let text = stream("frames_per_cycle = 2\nspacing = \"100ns\"\n");
    assert_error(
        &text,
        14,
        11,
        "spacing 100 ns is shorter than one frame on the wire (672 ns",
    );
}

#[test]
fn vlan_id_out_of_range() {
    let text = stream("").replace("vlan_id = 100", "vlan_id = 70000");
    assert_error(
        &text,
        11,
        11,
        "`vlan_id` 70000 is out of range: use 0..=4094",
    );
    let text = stream("").replace("vlan_id = 100", "vlan_id = 4095");
    assert_error(&text, 11, 11, "VLAN id 4095 is out of range: use 0..=4094");
    let text = stream("").replace("vlan_id = 100", "vlan_id = -1");
    assert_error(&text, 11, 11, "`vlan_id` must not be negative");
}

#[test]
fn pcp_out_of_range() {
    assert_error(
        &stream("pcp = 8\n"),
        13,
        7,
        "stream \"ctl\": PCP 8 is out of range: use 0..=7",
    );
    assert_error(
        &stream("pcp = 1000\n"),
        13,
        7,
        "`pcp` 1000 is out of range: use 0..=7",
    );
}

#[test]
fn frame_size_out_of_range() {
    assert_error(
        &stream("frame_size = 63\n"),
        13,
        14,
        "frame_size 63 bytes is out of range: use 64..=1522",
    );
    assert_error(&stream("frame_size = 1523\n"), 13, 14, "use 64..=1522");
}

#[test]
fn frames_per_cycle_zero() {
    assert_error(
        &stream("frames_per_cycle = 0\n"),
        13,
        20,
        "frames_per_cycle must be 1..=65536, not 0",
    );
}

#[test]
fn malformed_mac() {
    for (mac, why) in [
        ("01:1b:19:00:00", "it has 5 byte(s), not 6"),
        ("91:e0:f0:00:fe:00:00", "it has 7 byte(s), not 6"),
        ("01-1b:19:00:00:00", "it mixes ':' and '-'"),
        ("01:1b:19:00:00:0g", "\"0g\" is not two hex digits"),
        ("1:1b:19:00:00:00", "\"1\" is not two hex digits"),
        ("011b.1900.0000", "it has 1 byte(s), not 6"),
        ("", "it has 1 byte(s), not 6"),
    ] {
        let text = stream("").replace("91:e0:f0:00:fe:00", mac);
        let d = error(&text);
        assert_eq!((d.line, d.col), (12, 11), "{mac}: {}", d.message);
        assert!(
            d.message
                .contains(&format!("`dst_mac` \"{mac}\" is not a MAC address ({why})")),
            "{}",
            d.message
        );
        assert!(
            d.message.contains("e.g. \"91:e0:f0:00:fe:00\""),
            "{}",
            d.message
        );
    }
}

#[test]
fn duplicate_stream_names() {
    let text = stream("offset = \"100us\"\n[[stream]]\nname = \"ctl\"\ntraffic_class = 7\nvlan_id = 1\ndst_mac = \"01:1b:19:00:00:01\"\n");
    assert_error(
        &text,
        15,
        8,
        "stream \"ctl\" is defined twice (first as stream 0)",
    );
}

#[test]
fn empty_stream_name() {
    let text = stream("").replace("name = \"ctl\"", "name = \"\"");
    assert_error(&text, 9, 8, "`name` is blank");
    let text = stream("").replace("name = \"ctl\"", "name = \"  \"");
    assert_error(&text, 9, 8, "`name` is blank");
}

#[test]
fn stream_that_does_not_fit_the_admin_list() {
    let text = stream(
        r#"[admin]
base_time = "1s"
[[admin.entry]]
gates = [0]
interval = "1ms"
"#,
    );
    assert_error(
        &text,
        10,
        17,
        "traffic class 7 is never opened by the admin gate control list",
    );
}

// ---- files ------------------------------------------------------------------

#[test]
fn unreadable_file() {
    let err = load_file(Path::new("/nonexistent/takt.toml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/takt.toml:1:1: error: cannot read the schedule file: No such file or directory (os error 2)"
    );
}

#[test]
fn file_that_is_not_utf8() {
    let path = std::env::temp_dir().join(format!("takt-config-{}.toml", std::process::id()));
    std::fs::write(&path, b"[schedule]\nclock = \"t\xffai\"\n").unwrap();
    let err = load_file(&path).unwrap_err().0;
    std::fs::remove_file(&path).ok();
    assert_eq!((err.line, err.col), (2, 11));
    assert!(err.message.contains("not UTF-8"), "{}", err.message);
}

#[test]
fn error_display_is_file_line_col() {
    let err = parse_str("[schedule]\nclok = 1\n", "x.toml").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("x.toml:2:1: error: unknown key `clok`"),
        "{err}"
    );
}
