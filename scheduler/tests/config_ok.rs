//! Schedule files that load: the values, defaults and warnings they give.

use takt_scheduler::config::{load_file, parse_str, Loaded};
use takt_scheduler::{ClockId, GateEntry, Slot, Stream, UnusedEntry, Warning, Which};

fn load(text: &str) -> Loaded {
    match parse_str(text, "ok.toml") {
        Ok(l) => l,
        Err(e) => panic!("{e}\n{text}"),
    }
}

const FULL: &str = r#"[schedule]
clock = "monotonic"
base_time = "1000s"
cycle_time = "1ms"
cycle_time_extension = "5us"

[[schedule.entry]]
gates = [7, 6]
interval = "250us"

[[schedule.entry]]
gate_mask = 0x3f
interval = 750000

[admin]
base_time = 1000002500000
cycle_time = "500us"
[[admin.entry]]
gates = [7, 6]
interval = "100us"
[[admin.entry]]
gates = [0, 1, 2, 3, 4, 5]
interval = "400us"

[link]
speed = "100Mbps"
tc_to_pcp = [1, 0, 2, 3, 4, 5, 6, 5]

[[stream]]
name = "control"
traffic_class = 7
vlan_id = 100
pcp = 7
dst_mac = "91:e0:f0:00:fe:00"
frame_size = 128
offset = "10us"
frames_per_cycle = 2
spacing = "20us"

[[stream]]
name = "telemetry"
traffic_class = 6
vlan_id = 4094
dst_mac = "01-1B-19-00-00-01"
offset = "50us"
frames_per_cycle = 3
"#;

#[test]
fn full_file_gives_the_expected_schedule() {
    let loaded = load(FULL);
    let s = &loaded.schedule;
    assert_eq!(s.clock(), ClockId::Monotonic);

    let oper = s.oper();
    assert_eq!(oper.base_time_ns(), 1_000_000_000_000);
    assert_eq!(oper.cycle_time_ns(), 1_000_000);
    assert_eq!(oper.cycle_time_extension_ns(), 5_000);
    assert_eq!(
        oper.entries(),
        [
            GateEntry {
                gate_mask: 0xc0,
                interval_ns: 250_000
            },
            GateEntry {
                gate_mask: 0x3f,
                interval_ns: 750_000
            },
        ]
    );

    let admin = s.admin().expect("admin list");
    assert_eq!(admin.base_time_ns(), 1_000_002_500_000);
    assert_eq!(admin.cycle_time_ns(), 500_000);
    assert_eq!(admin.cycle_time_extension_ns(), 0);
    assert_eq!(
        admin.entries(),
        [
            GateEntry {
                gate_mask: 0xc0,
                interval_ns: 100_000
            },
            GateEntry {
                gate_mask: 0x3f,
                interval_ns: 400_000
            },
        ]
    );

    assert_eq!(s.link().speed_bps, 100_000_000);
    assert_eq!(s.link().tc_to_pcp, [1, 0, 2, 3, 4, 5, 6, 5]);

    assert_eq!(
        s.streams(),
        [
            Stream {
                name: "control".into(),
                traffic_class: 7,
                vlan_id: 100,
                pcp: 7,
                dst_mac: [0x91, 0xe0, 0xf0, 0, 0xfe, 0],
                frame_size: 128,
                offset_ns: 10_000,
                frames_per_cycle: 2,
                spacing_ns: 20_000,
            },
            Stream {
                name: "telemetry".into(),
                traffic_class: 6,
                vlan_id: 4094,
                // tc_to_pcp[6]
                pcp: 6,
                dst_mac: [0x01, 0x1b, 0x19, 0, 0, 1],
                frame_size: 64,
                offset_ns: 50_000,
                frames_per_cycle: 3,
                // Back to back: (64 + 8 + 12) bytes at 100 Mbit/s.
                spacing_ns: 6_720,
            },
        ]
    );
}

#[test]
fn the_admin_list_takes_over_at_its_base_time() {
    // Oper base 1000 s, admin 1000 s + 2.5 ms: two whole oper cycles, then
    // a last one cut at the switch (the 5us extension does not reach).
    let sw = load(FULL).schedule.switch().expect("switch");
    assert_eq!(sw.at_ns, 1_000_002_500_000);
    assert_eq!(sw.last_oper_cycle, 2);
    assert_eq!(sw.last_oper_start_ns, 1_000_002_000_000);
}

const MINIMAL: &str = r#"[schedule]
[[schedule.entry]]
gates = [3]
interval = "300us"
[[schedule.entry]]
gates = []
interval = "200us"

[[stream]]
name = "s"
traffic_class = 3
vlan_id = 0
dst_mac = "00:00:00:00:00:01"
"#;

#[test]
fn defaults() {
    let s = load(MINIMAL).schedule;
    assert_eq!(s.clock(), ClockId::Tai);
    assert_eq!(s.oper().base_time_ns(), 0);
    // cycle_time defaults to the sum of the intervals.
    assert_eq!(s.oper().cycle_time_ns(), 500_000);
    assert_eq!(s.oper().cycle_time_extension_ns(), 0);
    assert!(s.admin().is_none());
    assert_eq!(s.link().speed_bps, 1_000_000_000);
    assert_eq!(s.link().tc_to_pcp, [0, 1, 2, 3, 4, 5, 6, 7]);
    let st = &s.streams()[0];
    assert_eq!(st.pcp, 3, "identity tc_to_pcp");
    assert_eq!(st.frame_size, 64);
    assert_eq!(st.offset_ns, 0);
    assert_eq!(st.frames_per_cycle, 1);
    // One 64-byte frame with preamble, SFD and IFG at 1 Gbit/s.
    assert_eq!(st.spacing_ns, 672);
}

#[test]
fn pcp_default_follows_tc_to_pcp_and_an_explicit_pcp_wins() {
    let text = format!("{MINIMAL}[link]\ntc_to_pcp = [0, 1, 2, 6, 4, 5, 6, 7]\n");
    assert_eq!(load(&text).schedule.streams()[0].pcp, 6);
    let text = text.replace("vlan_id = 0\n", "vlan_id = 0\npcp = 2\n");
    assert_eq!(load(&text).schedule.streams()[0].pcp, 2);
}

#[test]
fn spacing_default_is_one_frame_at_the_link_speed() {
    let text = MINIMAL.replace("vlan_id = 0\n", "vlan_id = 0\nframe_size = 1522\n")
        + "[link]\nspeed = \"2.5Gbps\"\n";
    // (1522 + 20) * 8 bits / 2.5 Gbit/s = 4934.4 ns, rounded up.
    assert_eq!(load(&text).schedule.streams()[0].spacing_ns, 4_935);
}

#[test]
fn durations_in_every_form() {
    for (written, ns) in [
        ("1500", 1_500),
        ("\"1500\"", 1_500),
        ("\"1500ns\"", 1_500),
        ("\"1.5us\"", 1_500),
        ("\"1.5µs\"", 1_500),
        ("\" 1.5 us \"", 1_500),
        ("\"0.0015ms\"", 1_500),
        ("\"2s\"", 2_000_000_000),
        ("18446744073709551615", u64::MAX),
    ] {
        // cycle_time cuts a long interval (a cycle is at most 60 s); a
        // short one is stretched.
        let text = format!(
            "[schedule]\ncycle_time = \"1ns\"\n[[schedule.entry]]\ngates = [0]\ninterval = {written}\n"
        );
        let s = load(&text).schedule;
        assert_eq!(s.oper().entries()[0].interval_ns, ns, "{written}");
    }
}

#[test]
fn gates_and_gate_mask_are_the_same_thing() {
    let gates = load("[schedule]\n[[schedule.entry]]\ngates = [0, 7, 7]\ninterval = 9\n");
    let mask = load("[schedule]\n[[schedule.entry]]\ngate_mask = 0b1000_0001\ninterval = 9\n");
    assert_eq!(gates.schedule.oper(), mask.schedule.oper());
    assert_eq!(gates.schedule.oper().entries()[0].gate_mask, 0x81);
}

#[test]
fn cycle_time_truncates_and_extension_stretches() {
    let base = "[schedule]\ncycle_time = \"1ms\"\n[[schedule.entry]]\ngates = [0]\ninterval = \"600us\"\n[[schedule.entry]]\ngates = [1]\ninterval = \"600us\"\n";
    let slots = |text: &str| load(text).schedule.oper().slots().to_vec();
    assert_eq!(
        slots(base),
        [
            Slot {
                start_ns: 0,
                end_ns: 600_000,
                gate_mask: 1,
                entry: 0
            },
            Slot {
                start_ns: 600_000,
                end_ns: 1_000_000,
                gate_mask: 2,
                entry: 1
            },
        ]
    );
    let stretched = base.replace("\"1ms\"", "\"1.3ms\"\ncycle_time_extension = \"100us\"");
    assert_eq!(slots(&stretched)[1].end_ns, 1_300_000);
}

#[test]
fn warnings_point_at_their_entry() {
    let text = r#"[schedule]
cycle_time = "1ms"
[[schedule.entry]]
gates = [7]
interval = "500us"
[[schedule.entry]]
gates = [0]
interval = "500us"
[[schedule.entry]]
gates = [1]
interval = "500us"

[[stream]]
name = "s"
traffic_class = 7
vlan_id = 1
dst_mac = "91:e0:f0:00:fe:00"
"#;
    let loaded = load(text);
    let found: Vec<_> = loaded
        .warnings
        .iter()
        .map(|(d, w)| (d.line, d.col, w.clone()))
        .collect();
    assert_eq!(
        found,
        [
            (
                9,
                1,
                Warning::EntryNeverRuns {
                    which: Which::Oper,
                    entry: 2
                }
            ),
            (
                6,
                1,
                Warning::EntryWithoutStream {
                    which: Which::Oper,
                    entries: vec![UnusedEntry {
                        entry: 1,
                        gate_mask: 1
                    }]
                }
            ),
        ]
    );
    let (d, w) = &loaded.warnings[0];
    assert_eq!(d.message, w.to_string());
    assert_eq!(
        d.warning(),
        "ok.toml:9:1: warning: oper entry 2 never runs: cycle_time ends the cycle before it starts"
    );
}

#[test]
fn admin_warnings_point_at_admin_entries() {
    // MINIMAL is 13 lines; the second admin entry's header is line 19.
    let text = format!("{MINIMAL}[admin]\nbase_time = 9\n[[admin.entry]]\ngates = [3]\ninterval = \"1us\"\n[[admin.entry]]\ngates = [4]\ninterval = \"1us\"\n");
    let found: Vec<_> = load(&text)
        .warnings
        .iter()
        .map(|(d, w)| (d.line, d.col, w.clone()))
        .collect();
    assert_eq!(
        found,
        [(
            19,
            1,
            Warning::EntryWithoutStream {
                which: Which::Admin,
                entries: vec![UnusedEntry {
                    entry: 1,
                    gate_mask: 0x10
                }]
            }
        )]
    );
}

#[test]
fn inline_tables_work_too() {
    let text = r#"schedule = { base_time = 5, entry = [ { gates = [0], interval = "1ms" }, { gates = [1], interval = "1ms" } ] }
stream = [ { name = "a", traffic_class = 0, vlan_id = 1, dst_mac = "01:00:00:00:00:00" } ]
"#;
    let loaded = load(text);
    assert_eq!(loaded.schedule.oper().base_time_ns(), 5);
    let (d, _) = &loaded.warnings[0];
    assert_eq!((d.line, d.col), (1, 74));
}

#[test]
fn the_longest_cycle_at_the_latest_base_time_with_extension_and_admin_loads() {
    // switch_point adds cycle_time and its extension: this must not wrap.
    let text = r#"[schedule]
base_time = 9223372036854775797
cycle_time_extension = 1
[[schedule.entry]]
gates = [7]
interval = "60s"
[admin]
base_time = 9223372036854775807
[[admin.entry]]
gates = [7]
interval = 10
"#;
    let sw = load(text).schedule.switch().expect("switch");
    assert_eq!(
        (sw.last_oper_cycle, sw.last_oper_start_ns),
        (0, 9_223_372_036_854_775_797)
    );
}

#[test]
fn load_file_reads_the_file() {
    let path = std::env::temp_dir().join(format!("takt-config-ok-{}.toml", std::process::id()));
    std::fs::write(&path, MINIMAL).unwrap();
    let loaded = load_file(&path);
    std::fs::remove_file(&path).ok();
    assert_eq!(loaded.unwrap().schedule, load(MINIMAL).schedule);
}

/// docs/schedule-format.md's full example must stay a valid schedule.
#[test]
fn the_documented_example_loads() {
    let doc = include_str!("../../docs/schedule-format.md");
    let example = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a ```toml block in docs/schedule-format.md");
    let loaded = load(example);
    assert_eq!(loaded.schedule.streams().len(), 2);
    assert!(loaded.schedule.admin().is_some());
    // As the document says: one best-effort warning per list.
    let which: Vec<_> = loaded
        .warnings
        .iter()
        .map(|(_, w)| match w {
            Warning::EntryWithoutStream { which, entries }
                if entries.len() == 1 && entries[0].entry == 1 =>
            {
                *which
            }
            other => panic!("unexpected warning {other}"),
        })
        .collect();
    assert_eq!(which, [Which::Oper, Which::Admin]);
}

/// Three best-effort windows (entries 1, 3, 5; classes 0 and 1) between
/// class 3's windows, no stream in them.
const THREE_BEST_EFFORT: &str = r#"[schedule]
[[schedule.entry]]
gates = [3]
interval = "100us"
[[schedule.entry]]
gates = [0]
interval = "100us"
[[schedule.entry]]
gates = [3]
interval = "100us"
[[schedule.entry]]
gates = [0, 1]
interval = "100us"
[[schedule.entry]]
gates = [3]
interval = "100us"
[[schedule.entry]]
gates = [1]
interval = "100us"

[[stream]]
name = "a"
traffic_class = 3
vlan_id = 0
dst_mac = "00:00:00:00:00:01"

[[stream]]
name = "b"
traffic_class = 3
vlan_id = 0
dst_mac = "00:00:00:00:00:02"
offset = "200us"

[[stream]]
name = "c"
traffic_class = 3
vlan_id = 0
dst_mac = "00:00:00:00:00:03"
offset = "400us"
"#;

#[test]
fn several_unused_windows_give_one_warning_at_the_first() {
    let loaded = load(THREE_BEST_EFFORT);
    let found: Vec<_> = loaded
        .warnings
        .iter()
        .map(|(d, w)| (d.line, w.clone()))
        .collect();
    let unused = |entry, gate_mask| UnusedEntry { entry, gate_mask };
    assert_eq!(
        found,
        [(
            5,
            Warning::EntryWithoutStream {
                which: Which::Oper,
                entries: vec![unused(1, 0x01), unused(3, 0x03), unused(5, 0x02)]
            }
        )]
    );
    assert_eq!(
        loaded.warnings[0].0.message,
        "3 oper entries open gates but no stream sends in them (fine for best-effort windows): 1 (0x01), 3 (0x03), 5 (0x02)"
    );
}

#[test]
fn windows_the_control_plane_or_ptp_sends_in_are_not_unused() {
    // [control] waits for the lowest class that opens (0): entries 1 and 3.
    let control = format!("{THREE_BEST_EFFORT}\n[control]\naddress = \"10.1.0.1/24\"\n");
    let warned: Vec<_> = load(&control)
        .warnings
        .into_iter()
        .map(|(_, w)| w)
        .collect();
    assert_eq!(
        warned,
        [Warning::EntryWithoutStream {
            which: Which::Oper,
            entries: vec![UnusedEntry {
                entry: 5,
                gate_mask: 0x02
            }]
        }]
    );
    // Control on class 0 and PTP on class 1: every window is used.
    let both = format!("{control}best_effort_class = 0\n[ptp]\nclass = 1\n");
    let loaded = load(&both);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}
