//! `[frer]` and a stream's `ports` / `redundancy` (802.1CB FRER,
//! docs/schedule-format.md). Each error points at the value to change.

mod common;

use common::assert_error;
use takt_scheduler::config::{load_file, parse_change, parse_str};
use takt_scheduler::redundancy::{PortMask, RecoveryAlgorithm};

/// Lines 1-4: one entry with class 7 open. A stream header follows at
/// line 5 (`stream` appends its keys from line 6 on).
const GCL: &str = "[schedule]\n[[schedule.entry]]\ngates = [0, 7]\ninterval = \"1ms\"\n";

/// A class-7 stream whose line 6 is `first`, then `more`.
fn stream(first: &str, more: &str) -> String {
    format!(
        "{GCL}[[stream]]\n{first}\nname = \"ctl\"\ntraffic_class = 7\nvlan_id = 1\ndst_mac = \"91:e0:f0:00:fe:00\"\n{more}"
    )
}

#[test]
fn no_keys_means_every_stream_on_port_0() {
    let l = parse_str(&stream("frame_size = 128", ""), "t.toml").unwrap();
    assert_eq!(l.schedule.stream_ports(0), PortMask::FIRST);
    assert!(!l.schedule.has_frer());
    assert_eq!(l.schedule.ports_needed(), 1);
}

#[test]
fn indices_and_names_and_params() {
    let text = format!(
        "{}[frer]\nports = [\"a\", \"b\", \"c\"]\nalgorithm = \"match\"\nhistory_length = 1024\nreset_timeout = \"250ms\"\nindividual_recovery = true\ntake_no_sequence = true\nlatent_error_detection = false\nlatent_error_difference = 3\nlatent_error_period = 1000000\nlatent_reset_period = \"5s\"\n",
        stream(
            "ports = [\"c\", \"a\"]",
            "frame_size = 128\nredundancy = \"frer\"\n[[stream]]\nname = \"be\"\ntraffic_class = 0\nvlan_id = 1\ndst_mac = \"91:e0:f0:00:fe:01\"\noffset = \"100us\"\nports = [1]\n"
        )
    );
    let l = parse_str(&text, "t.toml").unwrap();
    let s = &l.schedule;
    assert_eq!(s.stream_ports(0), PortMask(0b101));
    assert!(s.is_frer(0));
    assert_eq!(s.stream_ports(1), PortMask(0b010));
    assert!(!s.is_frer(1));
    assert_eq!(s.ports_needed(), 3);
    let r = s.redundancy();
    assert_eq!(r.port_names, ["a", "b", "c"]);
    let p = r.params;
    assert_eq!(p.algorithm, RecoveryAlgorithm::Match);
    assert_eq!(p.history_length, 1024);
    assert_eq!(p.reset_timeout_ns, 250_000_000);
    assert!(p.individual_recovery && p.take_no_sequence && !p.latent_error_detection);
    assert_eq!(p.latent_error_difference, 3);
    assert_eq!(p.latent_error_period_ns, 1_000_000);
    assert_eq!(p.latent_reset_period_ns, 5_000_000_000);
}

#[test]
fn a_replicated_stream_without_ports_is_on_every_named_port_or_0_and_1() {
    let l = parse_str(
        &stream("redundancy = \"frer\"", "frame_size = 128\n"),
        "t.toml",
    )
    .unwrap();
    assert_eq!(l.schedule.stream_ports(0), PortMask(0b11));
    let named = format!(
        "{}[frer]\nports = [\"a\", \"b\", \"c\"]\n",
        stream("redundancy = \"frer\"", "frame_size = 128\n")
    );
    let l = parse_str(&named, "t.toml").unwrap();
    assert_eq!(l.schedule.stream_ports(0), PortMask(0b111));
}

#[test]
fn the_example_loads() {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/examples/frer.toml");
    let l = load_file(std::path::Path::new(p)).unwrap();
    let s = &l.schedule;
    let ctl = s.streams().iter().position(|x| x.name == "ctl").unwrap();
    assert!(s.is_frer(ctl));
    assert_eq!(s.stream_ports(ctl), PortMask(0b11));
    assert_eq!(s.ports_needed(), 2);
}

#[test]
fn an_unknown_port_name_lists_the_known_ones() {
    let text = format!(
        "{}[frer]\nports = [\"a\", \"b\"]\n",
        stream(
            "ports = [\"a\", \"x\"]",
            "redundancy = \"frer\"\nframe_size = 128\n"
        )
    );
    assert_error(&text, 6, 15, "no port is named \"x\"");
    assert_error(&text, 6, 15, "\"a\" (port 0), \"b\" (port 1)");
}

#[test]
fn a_port_name_without_frer_ports() {
    let text = stream("ports = [\"a\"]", "frame_size = 128\n");
    assert_error(&text, 6, 10, "name the ports in [frer]");
}

#[test]
fn a_port_index_out_of_range() {
    let text = stream(
        "ports = [0, 4]",
        "redundancy = \"frer\"\nframe_size = 128\n",
    );
    assert_error(&text, 6, 13, "port 4 does not exist");
    let text = stream(
        "ports = [0, -1]",
        "redundancy = \"frer\"\nframe_size = 128\n",
    );
    assert_error(&text, 6, 13, "port -1 does not exist");
}

#[test]
fn a_port_listed_twice() {
    let text = stream(
        "ports = [1, 1]",
        "redundancy = \"frer\"\nframe_size = 128\n",
    );
    assert_error(&text, 6, 13, "port 1 is listed twice");
}

#[test]
fn frer_on_one_port() {
    let text = stream("ports = [1]", "redundancy = \"frer\"\nframe_size = 128\n");
    assert_error(&text, 6, 9, "redundancy = \"frer\" on one port");
    assert_error(&text, 6, 9, "ports = [0, 1]");
}

#[test]
fn several_ports_without_frer() {
    let text = stream("ports = [0, 1]", "frame_size = 128\n");
    assert_error(&text, 6, 9, "give it one port, or redundancy = \"frer\"");
}

#[test]
fn no_port_at_all() {
    let text = stream("ports = []", "frame_size = 128\n");
    assert_error(&text, 6, 9, "uses no port");
}

#[test]
fn an_unknown_redundancy() {
    let text = stream("redundancy = \"prp\"", "frame_size = 128\n");
    assert_error(&text, 6, 14, "use \"frer\"");
    assert_error(&text, 6, 14, "or \"none\"");
}

#[test]
fn a_replicated_frame_too_small() {
    let text = stream("frame_size = 64", "redundancy = \"frer\"\n");
    assert_error(&text, 6, 14, "frame_size >= 68");
    // frame_size left out: the default (64) is too small, at the stream.
    let text = stream("redundancy = \"frer\"", "");
    assert_error(&text, 5, 1, "`frame_size` is not set in this [[stream]]");
}

#[test]
fn history_length_out_of_range() {
    for (value, col) in [
        ("0", 18),
        ("1", 18),
        ("4097", 18),
        ("-3", 18),
        ("70000", 18),
    ] {
        let text = format!(
            "{}[frer]\nhistory_length = {value}\n",
            stream("frame_size = 128", "")
        );
        assert_error(&text, 12, col, "use 2..=4096");
    }
}

#[test]
fn an_unknown_algorithm_lists_the_two() {
    let text = format!(
        "{}[frer]\nalgorithm = \"vektor\"\n",
        stream("frame_size = 128", "")
    );
    assert_error(&text, 12, 13, "unknown algorithm \"vektor\"");
    assert_error(&text, 12, 13, "\"vector\"");
    assert_error(&text, 12, 13, "\"match\"");
}

#[test]
fn durations_and_periods() {
    let base = stream("frame_size = 128", "");
    let text = format!("{base}[frer]\nreset_timeout = 0\n");
    assert_error(&text, 12, 17, "reset_timeout must be longer than 0");
    let text = format!("{base}[frer]\nreset_timeout = \"1 fortnight\"\n");
    assert_error(&text, 12, 17, "`reset_timeout`");
    let text =
        format!("{base}[frer]\nlatent_error_period = \"40s\"\nlatent_reset_period = \"30s\"\n");
    assert_error(&text, 12, 23, "at most latent_reset_period");
}

#[test]
fn port_names_blank_twice_or_too_many() {
    let base = stream("frame_size = 128", "");
    let text = format!("{base}[frer]\nports = [\"a\", \"a\"]\n");
    assert_error(&text, 12, 15, "named twice");
    let text = format!("{base}[frer]\nports = [\"a\", \" \"]\n");
    assert_error(&text, 12, 15, "blank");
    let text = format!("{base}[frer]\nports = [\"a\", \"b\", \"c\", \"d\", \"e\"]\n");
    assert_error(&text, 12, 30, "at most 4");
}

#[test]
fn unknown_keys_are_refused_with_the_list() {
    let base = stream("frame_size = 128", "");
    let text = format!("{base}[frer]\nhistory_lenght = 8\n");
    assert_error(&text, 12, 1, "did you mean `history_length`?");
    assert_error(&text, 12, 1, "latent_reset_period");
    let text = stream("port = [0]", "frame_size = 128\n");
    assert_error(&text, 6, 1, "did you mean `ports`?");
}

#[test]
fn wrong_types() {
    let base = stream("frame_size = 128", "");
    let text = format!("{base}[frer]\nindividual_recovery = \"yes\"\n");
    assert_error(&text, 12, 23, "must be a boolean");
    let text = stream(
        "ports = [0.5, 1]",
        "frame_size = 128\nredundancy = \"frer\"\n",
    );
    assert_error(&text, 6, 10, "port index");
}

const NOW: u64 = 1_000_000_000;

#[test]
fn a_change_request_keeps_ports_and_replication() {
    let running_text = stream(
        "ports = [0, 1]",
        "frame_size = 128\nredundancy = \"frer\"\n",
    );
    let running = parse_str(&running_text, "run.toml").unwrap().schedule;
    let c = parse_change(&running_text, "req.toml", &running, None, NOW, 0).unwrap();
    assert!(c.schedule.is_frer(0));
    assert_eq!(c.schedule.stream_ports(0), PortMask(0b11));
    let changed = stream(
        "ports = [0, 2]",
        "frame_size = 128\nredundancy = \"frer\"\n",
    );
    let e = parse_change(&changed, "req.toml", &running, None, NOW, 0).unwrap_err();
    assert_eq!((e.0.line, e.0.col), (6, 9), "{}", e.0.message);
    assert!(e.0.message.contains("cannot change while the talker runs"));
}

#[test]
fn a_mistyped_ports_gets_the_example_of_its_table() {
    let base = stream("frame_size = 128", "");
    let text = format!("{base}[frer]\nports = \"a\"\n");
    assert_error(&text, 12, 9, "e.g. `ports = [\"a\", \"b\"]`");
    let text = stream("ports = 1", "frame_size = 128\n");
    assert_error(&text, 6, 9, "e.g. `ports = [0, 1]`");
}

/// Streams on different ports share no wire: the same slot on port 0 and
/// port 1 is fine, the same slot twice on one port is an overlap.
#[test]
fn overlaps_are_judged_per_port() {
    let two = |second_ports: &str| {
        format!(
            "{GCL}[[stream]]\nname = \"a\"\ntraffic_class = 7\nvlan_id = 1\ndst_mac = \"91:e0:f0:00:fe:00\"\nframe_size = 128\nports = [0]\n\
             [[stream]]\nname = \"b\"\ntraffic_class = 7\nvlan_id = 1\ndst_mac = \"91:e0:f0:00:fe:01\"\nframe_size = 128\nports = {second_ports}\n"
        )
    };
    let l = parse_str(&two("[1]"), "t.toml").expect("different ports: no overlap");
    assert_eq!(l.schedule.ports_needed(), 2);
    let e = parse_str(&two("[0]"), "t.toml").unwrap_err().to_string();
    assert!(e.contains("overlap"), "{e}");
    assert!(e.contains("t.toml:12:"), "points at stream b: {e}");
}
