//! Schedule change requests (`config::parse_change`): when the new list
//! takes over, what runs before and after, and one test per refusal with
//! the line and column it points at. Texts start right after `r#"`, so the
//! first line of the literal is line 1.

mod common;

use takt_scheduler::config::{parse_change, parse_str, Change, ConfigError, Diagnostic, Loaded};
use takt_scheduler::Schedule;

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

/// 1 ms cycle: class 7 for 100us (the sensor frame at 10us), then classes
/// 0..=3 for 900us.
const RUNNING: &str = r#"[schedule]
cycle_time = "1ms"
[[schedule.entry]]
gates = [7]
interval = "100us"
[[schedule.entry]]
gates = [0, 1, 2, 3]
interval = "900us"
[[stream]]
name = "sensor"
traffic_class = 7
vlan_id = 100
dst_mac = "91:e0:f0:00:fe:00"
frame_size = 128
offset = "10us"
[control]
address = "10.77.0.1/24"
"#;

/// A 500us cycle with the same stream and control plane (base 10 ms).
const REQUEST: &str = r#"[schedule]
base_time = "10ms"
cycle_time = "500us"
[[schedule.entry]]
gates = [7]
interval = "50us"
[[schedule.entry]]
gates = [0, 1, 2, 3]
interval = "450us"
[link]
speed = "1Gbps"
[[stream]]
name = "sensor"
traffic_class = 7
vlan_id = 100
dst_mac = "91:e0:f0:00:fe:00"
frame_size = 128
offset = "10us"
[control]
address = "10.77.0.1/24"
"#;

fn load(text: &str) -> Loaded {
    parse_str(text, "running.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn change_at(running: &Loaded, request: &str, now: u64, lead: u64) -> Result<Change, ConfigError> {
    parse_change(
        request,
        "req.toml",
        &running.schedule,
        running.control.as_ref(),
        now,
        lead,
    )
}

fn accept(request: &str, now: u64, lead: u64) -> Change {
    change_at(&load(RUNNING), request, now, lead).unwrap_or_else(|e| panic!("{e}"))
}

fn refuse(request: &str) -> Diagnostic {
    match change_at(&load(RUNNING), request, 5 * MS, MS) {
        Ok(_) => panic!("accepted, but should not have been:\n{request}"),
        Err(ConfigError(d)) => d,
    }
}

#[track_caller]
fn assert_refused(request: &str, line: usize, col: usize, needle: &str) {
    let d = refuse(request);
    assert_eq!(d.file, "req.toml");
    common::assert_at(&d, line, col, needle);
}

fn with_base(base: &str) -> String {
    REQUEST.replace("base_time = \"10ms\"", &format!("base_time = \"{base}\""))
}

// ---- when the new list takes over ---------------------------------------------

#[test]
fn a_base_time_far_enough_ahead_is_kept() {
    let c = accept(REQUEST, 5 * MS, MS);
    assert_eq!((c.requested_base_ns, c.switch_at_ns), (10 * MS, 10 * MS));
    // Exactly now + min_lead is far enough.
    let c = accept(REQUEST, 9 * MS, MS);
    assert_eq!(c.switch_at_ns, 10 * MS);
}

#[test]
fn a_past_base_time_moves_forward_by_whole_cycles_of_the_new_list() {
    let c = accept(&with_base("1.2ms"), 5_300 * US, 0);
    assert_eq!(
        (c.requested_base_ns, c.switch_at_ns),
        (1_200 * US, 5_700 * US)
    );
    let c = accept(&with_base("0"), 5_300 * US, 0);
    assert_eq!(c.switch_at_ns, 5_500 * US);
    // On a boundary of the new grid: that boundary.
    let c = accept(&with_base("0"), 5_500 * US, 0);
    assert_eq!(c.switch_at_ns, 5_500 * US);
}

#[test]
fn a_base_time_inside_the_minimum_lead_moves_forward() {
    let c = accept(&with_base("5.4ms"), 5_300 * US, MS);
    assert_eq!(
        (c.requested_base_ns, c.switch_at_ns),
        (5_400 * US, 6_400 * US)
    );
}

#[test]
fn gates_follow_the_running_list_before_the_switch_and_the_new_one_after() {
    let running = load(RUNNING);
    let c = change_at(&running, &with_base("0"), 5_300 * US, 0).unwrap();
    let new = load(&with_base("0")).schedule;
    let at = c.switch_at_ns;
    let s: &Schedule = &c.schedule;
    assert_eq!(s.switch().map(|sw| sw.at_ns), Some(at));
    for t in (at - 2 * MS..at).step_by(10 * US as usize) {
        assert_eq!(
            s.gate_mask_at(t),
            running.schedule.gate_mask_at(t),
            "t = {t}"
        );
    }
    for t in (at..at + 2 * MS).step_by(10 * US as usize) {
        assert_eq!(s.gate_mask_at(t), new.gate_mask_at(t), "t = {t}");
    }
    // Just before the switch the 1 ms list's best-effort entry runs; at it
    // the new list's class 7 entry starts.
    assert_eq!(s.gate_mask_at(at - 1), 0x0f);
    assert_eq!(s.gate_mask_at(at), 0x80);
    assert_eq!(s.gate_mask_at(at + 50 * US), 0x0f);
    assert_eq!(s.streams(), running.schedule.streams());
}

#[test]
fn a_pending_running_admin_list_is_replaced() {
    let running = load(&RUNNING.replace(
        "[[stream]]",
        "[admin]\nbase_time = \"100ms\"\n[[admin.entry]]\ngates = [7]\ninterval = \"200us\"\n[[admin.entry]]\ngates = [0]\ninterval = \"800us\"\n[[stream]]",
    ));
    let c = change_at(&running, REQUEST, 5 * MS, MS).unwrap();
    assert_eq!(c.schedule.oper(), running.schedule.oper());
    let admin = c.schedule.admin().unwrap();
    assert_eq!(
        (admin.base_time_ns(), admin.cycle_time_ns()),
        (10 * MS, 500 * US)
    );
    // Where the old admin list would have run, the new list runs.
    assert_eq!(c.schedule.gate_mask_at(100 * MS + 150 * US), 0x0f);
}

#[test]
fn a_running_admin_list_already_in_force_becomes_the_oper_list() {
    let running = load(&RUNNING.replace(
        "[[stream]]",
        "[admin]\nbase_time = \"2ms\"\n[[admin.entry]]\ngates = [7]\ninterval = \"200us\"\n[[admin.entry]]\ngates = [0]\ninterval = \"800us\"\n[[stream]]",
    ));
    let c = change_at(&running, REQUEST, 5 * MS, MS).unwrap();
    assert_eq!(Some(c.schedule.oper()), running.schedule.admin());
    assert_eq!(c.schedule.gate_mask_at(9 * MS + 250 * US), 0x01);
    assert_eq!(c.schedule.gate_mask_at(10 * MS + 150 * US), 0x0f);
}

#[test]
fn a_request_without_control_keeps_the_running_one() {
    let request = REQUEST.replace("[control]\naddress = \"10.77.0.1/24\"\n", "");
    assert_eq!(accept(&request, 5 * MS, MS).switch_at_ns, 10 * MS);
}

// ---- refusals ------------------------------------------------------------------

#[test]
fn errors_of_the_request_itself_come_back_as_they_are() {
    assert_refused(
        &REQUEST.replace("interval = \"50us\"", "interval = \"50 parsecs\""),
        6,
        12,
        "`interval`",
    );
}

#[test]
fn an_admin_section_is_refused_at_its_header() {
    let request = REQUEST.replace(
        "[link]",
        "[admin]\nbase_time = \"20ms\"\n[[admin.entry]]\ngates = [7]\ninterval = \"1ms\"\n[link]",
    );
    assert_refused(
        &request,
        10,
        1,
        "a change request carries one list: put the new list in [schedule]; it becomes the admin list",
    );
}

#[test]
fn the_clock_cannot_change() {
    assert_refused(
        &REQUEST.replace("[schedule]\n", "[schedule]\nclock = \"realtime\"\n"),
        2,
        9,
        "the clock cannot change while the talker runs: it is realtime here but tai in the running schedule",
    );
}

#[test]
fn the_link_speed_cannot_change() {
    assert_refused(
        &REQUEST.replace("speed = \"1Gbps\"", "speed = \"100Mbps\""),
        11,
        9,
        "speed is 100Mbps here but 1Gbps in the running schedule",
    );
}

#[test]
fn tc_to_pcp_cannot_change() {
    assert_refused(
        &REQUEST.replace("speed = \"1Gbps\"", "tc_to_pcp = [0, 1, 2, 3, 4, 6, 5, 7]"),
        11,
        29,
        "tc_to_pcp maps class 5 to PCP 6 here but 5 in the running schedule",
    );
}

#[test]
fn a_stream_field_cannot_change() {
    assert_refused(
        &REQUEST.replace("offset = \"10us\"", "offset = \"32us\""),
        18,
        10,
        "streams cannot change while the talker runs: offset is 32us here but 10us in the running schedule",
    );
    assert_refused(
        &REQUEST.replace("vlan_id = 100", "vlan_id = 101"),
        15,
        11,
        "vlan_id is 101 here but 100 in the running schedule",
    );
}

#[test]
fn a_stream_field_left_out_is_compared_with_its_default() {
    assert_refused(
        &REQUEST.replace("frame_size = 128\n", ""),
        12,
        1,
        "frame_size is 64 here but 128 in the running schedule",
    );
}

#[test]
fn an_extra_stream_is_refused_at_its_header() {
    let extra = "[[stream]]\nname = \"extra\"\ntraffic_class = 7\nvlan_id = 100\ndst_mac = \"91:e0:f0:00:fe:01\"\noffset = \"30us\"\n";
    let request = REQUEST.replace("[control]", &format!("{extra}[control]"));
    assert_refused(
        &request,
        19,
        1,
        "streams cannot change while the talker runs: the running schedule has 1 stream(s) and this one is extra: remove it",
    );
}

#[test]
fn a_missing_stream_is_refused_at_the_schedule_header() {
    let request = REQUEST.replace(
        "[[stream]]\nname = \"sensor\"\ntraffic_class = 7\nvlan_id = 100\ndst_mac = \"91:e0:f0:00:fe:00\"\nframe_size = 128\noffset = \"10us\"\n",
        "",
    );
    assert_refused(
        &request,
        1,
        1,
        "this request has 0 stream(s) but the running schedule has 1: give every running [[stream]], unchanged",
    );
}

#[test]
fn the_control_section_cannot_change() {
    assert_refused(
        &REQUEST.replace("10.77.0.1/24", "10.77.0.2/24"),
        19,
        1,
        "[control] cannot change while the talker runs (changing the address is not supported)",
    );
}

#[test]
fn a_control_section_cannot_be_added() {
    let running = load(&RUNNING.replace("[control]\naddress = \"10.77.0.1/24\"\n", ""));
    let d = match change_at(&running, REQUEST, 5 * MS, MS) {
        Ok(_) => panic!("accepted"),
        Err(ConfigError(d)) => d,
    };
    assert_eq!((d.line, d.col), (19, 1));
    assert!(d.message.contains("remove [control]"), "{}", d.message);
}

#[test]
fn a_switch_before_the_running_list_starts_is_refused_at_the_schedule_header() {
    // The running list starts at 100 s; the new one would take over at 10 ms.
    let running = load(&RUNNING.replace("[schedule]\n", "[schedule]\nbase_time = \"100s\"\n"));
    let d = match change_at(&running, REQUEST, 5 * MS, MS) {
        Ok(_) => panic!("accepted"),
        Err(ConfigError(d)) => d,
    };
    assert_eq!((d.line, d.col), (1, 1));
    assert!(
        d.message
            .contains("the new list cannot follow the one in force: admin base_time"),
        "{}",
        d.message
    );
}
