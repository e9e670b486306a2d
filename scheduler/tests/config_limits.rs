//! The documented limits (docs/schedule-format.md, "Limits"): a schedule
//! whose cycles cannot be represented, or that would make a run hold
//! unbounded memory, is refused at load with the line and column of the
//! key to change. The same loader serves `takt check`, the binaries at
//! start and a control-plane schedule change.

use takt_scheduler::config::{parse_change, parse_str, ConfigError, Diagnostic};
use takt_scheduler::schedule::{
    MAX_BASE_TIME_NS, MAX_CYCLE_FRAMES, MAX_CYCLE_TIME_NS, MAX_FRAMES_PER_CYCLE, MAX_GATE_ENTRIES,
    MAX_STREAMS,
};
use takt_scheduler::Warning;

const STREAM: &str = r#"[[stream]]
name = "s"
traffic_class = 7
vlan_id = 10
dst_mac = "91:e0:f0:00:fe:01"
"#;

fn error(text: &str) -> Diagnostic {
    match parse_str(text, "t.toml") {
        Ok(_) => panic!("accepted, but should not have been:\n{text}"),
        Err(ConfigError(d)) => d,
    }
}

fn assert_error(text: &str, line: usize, col: usize, needle: &str) {
    let d = error(text);
    assert_eq!(
        (d.line, d.col),
        (line, col),
        "{}: {}\n{text}",
        d.line,
        d.message
    );
    assert!(
        d.message.contains(needle),
        "{:?} lacks {needle:?}",
        d.message
    );
}

#[test]
fn a_cycle_of_u64_max_is_refused_at_cycle_time() {
    let text = "[schedule]\ncycle_time = 18446744073709551615\n[[schedule.entry]]\ngates = [7]\ninterval = 18446744073709551615\n";
    assert_error(text, 2, 14, "more than the longest takt runs");
}

#[test]
fn the_longest_cycle_loads_and_one_ns_more_does_not() {
    let at = |ns: u64| format!("[schedule]\n[[schedule.entry]]\ngates = [7]\ninterval = {ns}\n");
    assert!(parse_str(&at(MAX_CYCLE_TIME_NS), "t.toml").is_ok());
    assert_error(&at(MAX_CYCLE_TIME_NS + 1), 1, 1, "60 s");
    // A stretched list reaches past the limit through cycle_time.
    let text = "[schedule]\ncycle_time = \"61s\"\ncycle_time_extension = \"2s\"\n[[schedule.entry]]\ngates = [7]\ninterval = \"60s\"\n";
    assert_error(text, 2, 14, "60 s");
}

#[test]
fn a_base_time_past_2_pow_63_is_refused_at_base_time() {
    let at = |ns: u64| {
        format!(
            "[schedule]\nbase_time = {ns}\n[[schedule.entry]]\ngates = [7]\ninterval = \"1ms\"\n"
        )
    };
    assert!(parse_str(&at(MAX_BASE_TIME_NS), "t.toml").is_ok());
    assert_error(&at(MAX_BASE_TIME_NS + 1), 2, 13, "year 2262");
    assert_error(&at(u64::MAX), 2, 13, "give an earlier base_time");
    // The admin list too.
    let admin = format!(
        "[schedule]\n[[schedule.entry]]\ngates = [7]\ninterval = \"1ms\"\n[admin]\nbase_time = {}\n[[admin.entry]]\ngates = [7]\ninterval = \"1ms\"\n",
        u64::MAX
    );
    assert_error(&admin, 6, 13, "give an earlier base_time");
}

/// The attack: one change request whose cycle overflowed the end of the
/// first admin cycle ended the plan, and the talker exited 0.
#[test]
fn a_change_with_an_unrepresentable_cycle_is_refused_with_its_position() {
    let running = parse_str(
        &format!("[schedule]\n[[schedule.entry]]\ngates = [7]\ninterval = \"1ms\"\n{STREAM}"),
        "running.toml",
    )
    .unwrap();
    let request = format!(
        "[schedule]\ncycle_time = 18446744073709551615\n[[schedule.entry]]\ngates = [7]\ninterval = 18446744073709551615\n{STREAM}"
    );
    let now = 1_000_000_000;
    let d = match parse_change(
        &request,
        "req.toml",
        &running.schedule,
        None,
        now,
        1_000_000,
    ) {
        Ok(c) => panic!("accepted: switch at {}", c.switch_at_ns),
        Err(ConfigError(d)) => d,
    };
    assert_eq!(
        (d.file.as_str(), d.line, d.col),
        ("req.toml", 2, 14),
        "{}",
        d.message
    );
    assert!(
        d.message.contains("more than the longest takt runs"),
        "{}",
        d.message
    );
}

#[test]
fn frames_per_cycle_of_a_million_is_refused_at_the_key() {
    let text = format!("[schedule]\n[[schedule.entry]]\ngates = [7]\ninterval = \"1s\"\n{STREAM}frames_per_cycle = 1000000\nspacing = 700\n");
    assert_error(&text, 10, 20, &format!("1..={MAX_FRAMES_PER_CYCLE}"));
}

#[test]
fn frames_of_all_streams_in_one_cycle_are_bounded() {
    // Two streams of 40,000 frames: the second one crosses the limit.
    let stream = |i: usize| {
        format!(
            "[[stream]]\nname = \"s{i}\"\ntraffic_class = 7\nvlan_id = 10\ndst_mac = \"91:e0:f0:00:fe:01\"\noffset = {}\nframes_per_cycle = 40000\nspacing = 700\n",
            i * 40_000 * 700
        )
    };
    let text = format!(
        "[schedule]\n[[schedule.entry]]\ngates = [7]\ninterval = \"1s\"\n{}{}",
        stream(0),
        stream(1)
    );
    assert_error(
        &text,
        19,
        20,
        &format!("80000 frames per cycle, more than the {MAX_CYCLE_FRAMES}"),
    );
}

#[test]
fn streams_are_bounded_and_the_first_extra_one_is_named() {
    let mut text = String::from("[schedule]\n[[schedule.entry]]\ngates = [7]\ninterval = \"1s\"\n");
    for i in 0..=MAX_STREAMS {
        text.push_str(&format!(
            "[[stream]]\nname = \"s{i}\"\ntraffic_class = 7\nvlan_id = 10\ndst_mac = \"91:e0:f0:00:fe:01\"\noffset = {}\n",
            i * 1_000
        ));
    }
    // Stream k's header is on line 5 + 6k.
    let d = error(&text);
    assert_eq!((d.line, d.col), (5 + 6 * MAX_STREAMS, 1), "{}", d.message);
    assert!(
        d.message.contains(&format!(
            "{} streams: takt runs at most {MAX_STREAMS}",
            MAX_STREAMS + 1
        )),
        "{}",
        d.message
    );
    assert!(MAX_STREAMS <= usize::from(u16::MAX) + 1, "ids are 16 bits");
}

#[test]
fn gate_entries_are_bounded_and_the_first_extra_one_is_named() {
    let mut text = String::from("[schedule]\n");
    for _ in 0..=MAX_GATE_ENTRIES {
        text.push_str("[[schedule.entry]]\ngates = [7]\ninterval = 10\n");
    }
    // Entry k's header is on line 2 + 3k.
    assert_error(
        &text,
        2 + 3 * MAX_GATE_ENTRIES,
        1,
        &format!("more than the {MAX_GATE_ENTRIES} takt accepts"),
    );
}

#[test]
fn a_first_cycle_more_than_a_minute_ahead_is_a_warning_at_base_time() {
    let now = takt_scheduler::ClockId::Tai.now_ns();
    let at = |base: u64| {
        format!(
            "[schedule]\nbase_time = {base}\n[[schedule.entry]]\ngates = [7]\ninterval = \"1ms\"\n{STREAM}"
        )
    };
    let far = parse_str(&at(now + 3_600_000_000_000), "t.toml").unwrap();
    let (d, w) = far
        .warnings
        .iter()
        .find(|(_, w)| matches!(w, Warning::FirstCycleFar { .. }))
        .expect("a warning for a first cycle an hour away");
    assert_eq!((d.line, d.col), (2, 13));
    assert!(
        d.message.contains("the first cycle starts in"),
        "{}",
        d.message
    );
    assert!(matches!(w, Warning::FirstCycleFar { wait_ns, .. } if *wait_ns > 3_500_000_000_000));
    // Ten seconds ahead (or in the past) is no news.
    for base in [now + 10_000_000_000, 0] {
        let near = parse_str(&at(base), "t.toml").unwrap();
        assert!(near.warnings.is_empty(), "{:?}", near.warnings);
    }
}

#[test]
fn a_file_past_8_mib_is_refused_before_it_is_parsed() {
    let path = std::env::temp_dir().join(format!("takt-limits-big-{}.toml", std::process::id()));
    let mut text = one_entry_schedule();
    text.push_str(
        &"# padding\n".repeat((takt_scheduler::config::MAX_FILE_BYTES / 10 + 1) as usize),
    );
    std::fs::write(&path, &text).unwrap();
    let got = takt_scheduler::config::load_file(&path);
    std::fs::remove_file(&path).unwrap();
    match got {
        Ok(_) => panic!("a {} byte file loaded", text.len()),
        Err(ConfigError(d)) => {
            assert_eq!((d.line, d.col), (1, 1));
            assert!(d.message.contains("larger than 8 MiB"), "{}", d.message);
        }
    }
}

fn one_entry_schedule() -> String {
    format!("[schedule]\n[[schedule.entry]]\ngates = [7]\ninterval = \"1ms\"\n{STREAM}")
}
