//! `return_of`: a stream that carries another back (docs/round-trip.md).
//! Each error points at the `return_of` value.

mod common;

use common::assert_error;
use takt_scheduler::config::{load_file, parse_str};

const HEAD: &str = r#"[schedule]
[[schedule.entry]]
gates = [7]
interval = "250us"
[[schedule.entry]]
gates = [6]
interval = "250us"
[[schedule.entry]]
gates = [0]
interval = "500us"
[[stream]]
name = "ping"
traffic_class = 7
vlan_id = 1
dst_mac = "91:e0:f0:00:fe:00"
frame_size = 128
"#;

/// `HEAD` (lines 1-17) then a return stream whose line 18 is `ret` and
/// whose other keys follow.
fn with_return(ret: &str, more: &str) -> String {
    format!(
        "{HEAD}[[stream]]\n{ret}\nname = \"pong\"\ntraffic_class = 6\nvlan_id = 1\ndst_mac = \"91:e0:f0:00:fe:01\"\noffset = \"260us\"\n{more}"
    )
}

#[test]
fn the_pairing_is_in_the_schedule() {
    let l = parse_str(
        &with_return("return_of = \"ping\"", "frame_size = 128\n"),
        "t.toml",
    )
    .unwrap();
    let s = &l.schedule;
    assert_eq!(s.return_of(1), Some(0));
    assert_eq!(s.return_of(0), None);
    assert_eq!(s.return_stream(0), Some(1));
    assert!(s.has_returns());
}

#[test]
fn the_example_loads() {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/examples/round-trip.toml"
    );
    let l = load_file(std::path::Path::new(p)).unwrap();
    assert_eq!(l.schedule.return_of(1), Some(0));
}

#[test]
fn unknown_name() {
    let t = with_return("return_of = \"pnig\"", "frame_size = 128\n");
    assert_error(&t, 18, 13, "no stream is named \"pnig\"");
    assert_error(&t, 18, 13, "one of \"ping\"");
}

#[test]
fn of_itself() {
    let t = with_return("return_of = \"pong\"", "frame_size = 128\n");
    assert_error(&t, 18, 13, "cannot be the return of itself");
}

#[test]
fn a_return_of_a_return() {
    let t = with_return(
        "return_of = \"ping\"",
        "frame_size = 128\n[[stream]]\nreturn_of = \"pong\"\nname = \"back\"\ntraffic_class = 6\nvlan_id = 1\ndst_mac = \"91:e0:f0:00:fe:02\"\noffset = \"300us\"\nframe_size = 128\n",
    );
    assert_error(&t, 26, 13, "\"pong\" is itself a return stream");
}

#[test]
fn two_returns_of_one_stream() {
    let t = with_return(
        "return_of = \"ping\"",
        "frame_size = 128\n[[stream]]\nreturn_of = \"ping\"\nname = \"back\"\ntraffic_class = 6\nvlan_id = 1\ndst_mac = \"91:e0:f0:00:fe:02\"\noffset = \"300us\"\nframe_size = 128\n",
    );
    assert_error(&t, 26, 13, "already has a return stream (\"pong\")");
}

#[test]
fn frame_size_and_frames_per_cycle_must_match() {
    let t = with_return("return_of = \"ping\"", "frame_size = 256\n");
    assert_error(&t, 18, 13, "give both the same frame_size");
    let t = with_return(
        "return_of = \"ping\"",
        "frame_size = 128\nframes_per_cycle = 2\n",
    );
    assert_error(&t, 18, 13, "give both the same frames_per_cycle");
}
