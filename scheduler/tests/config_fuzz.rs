//! `parse_str` never panics, and every diagnostic it returns points inside
//! the text: on arbitrary strings, on mutations of a valid file, and on
//! generated TOML whose keys and values are plausible, wrong, or extreme.

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use takt_scheduler::config::{parse_str, Diagnostic};

/// A valid file touching every table, so that mutations reach every check.
const VALID: &str = r#"[schedule]
clock = "tai"
base_time = "1s"
cycle_time = "1ms"
cycle_time_extension = "10us"
[[schedule.entry]]
gates = [7, 6]
interval = "250us"
[[schedule.entry]]
gate_mask = 0x3f
interval = 750000
[admin]
base_time = 2000000000
[[admin.entry]]
gates = [7, 6]
interval = "100us"
[[admin.entry]]
gates = [0, 1, 2, 3, 4, 5]
interval = "400us"
[link]
speed = "100Mbps"
tc_to_pcp = [0, 1, 2, 3, 4, 5, 6, 7]
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
name = "t"
traffic_class = 6
vlan_id = 1
dst_mac = "01-1b-19-00-00-01"
offset = "50us"
"#;

fn check_position(text: &str, d: &Diagnostic) -> Result<(), TestCaseError> {
    let lines: Vec<&str> = text.split('\n').collect();
    prop_assert!(d.line >= 1 && d.col >= 1, "{d}");
    prop_assert!(d.line <= lines.len(), "line past the end: {d}");
    let line_chars = lines.get(d.line - 1).map_or(0, |l| l.chars().count());
    prop_assert!(d.col <= line_chars + 1, "column past the line end: {d}");
    prop_assert!(!d.message.is_empty(), "empty message at {d}");
    Ok(())
}

/// Load `text`; whatever happens, every position must be inside it.
fn check(text: &str) -> Result<(), TestCaseError> {
    match parse_str(text, "fuzz.toml") {
        Ok(loaded) => {
            for (d, _) in &loaded.warnings {
                check_position(text, d)?;
            }
            Ok(())
        }
        Err(e) => check_position(text, &e.0),
    }
}

#[derive(Clone, Debug)]
enum Edit {
    Insert(prop::sample::Index, char),
    Delete(prop::sample::Index),
    Replace(prop::sample::Index, char),
    DeleteLine(prop::sample::Index),
    DuplicateLine(prop::sample::Index),
}

fn interesting_char() -> BoxedStrategy<char> {
    prop_oneof![
        3 => prop::sample::select(
            "[]{}=,.\"'#\n -_:0123456789xabefsuµ".chars().collect::<Vec<_>>()
        ),
        1 => any::<char>(),
    ]
    .boxed()
}

fn edit() -> impl Strategy<Value = Edit> {
    let i = any::<prop::sample::Index>;
    prop_oneof![
        (i(), interesting_char()).prop_map(|(i, c)| Edit::Insert(i, c)),
        i().prop_map(Edit::Delete),
        (i(), interesting_char()).prop_map(|(i, c)| Edit::Replace(i, c)),
        i().prop_map(Edit::DeleteLine),
        i().prop_map(Edit::DuplicateLine),
    ]
}

/// Apply an edit on characters (never splitting one) or whole lines.
fn apply(text: &str, edit: &Edit) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<&str> = text.split('\n').collect();
    match edit {
        Edit::Insert(i, c) => chars.insert(i.index(chars.len() + 1), *c),
        Edit::Delete(i) if !chars.is_empty() => {
            chars.remove(i.index(chars.len()));
        }
        Edit::Replace(i, c) if !chars.is_empty() => {
            let at = i.index(chars.len());
            chars[at] = *c;
        }
        Edit::DeleteLine(i) => {
            lines.remove(i.index(lines.len()));
            return lines.join("\n");
        }
        Edit::DuplicateLine(i) => {
            let at = i.index(lines.len());
            lines.insert(at, lines[at]);
            return lines.join("\n");
        }
        _ => {}
    }
    chars.into_iter().collect()
}

// ---- generated TOML ---------------------------------------------------------

const HEADERS: &[&str] = &[
    "[schedule]",
    "[[schedule.entry]]",
    "[admin]",
    "[[admin.entry]]",
    "[link]",
    "[[stream]]",
    "[schedule.entry]",
    "[[link]]",
    "[stream]",
    "[bogus]",
    "[[schedule]]",
];

const KEYS: &[&str] = &[
    "clock",
    "base_time",
    "cycle_time",
    "cycle_time_extension",
    "gates",
    "gate_mask",
    "interval",
    "speed",
    "tc_to_pcp",
    "name",
    "traffic_class",
    "vlan_id",
    "pcp",
    "dst_mac",
    "frame_size",
    "offset",
    "frames_per_cycle",
    "spacing",
    "entry",
];

fn int() -> BoxedStrategy<String> {
    prop_oneof![
        (0i64..10).prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "-1",
            "0",
            "7",
            "8",
            "0xff",
            "0x100",
            "255",
            "256",
            "4094",
            "4095",
            "63",
            "1522",
            "1523",
            "1000000",
            "1000001",
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
            "340282366920938463463374607431768211456",
        ])
        .prop_map(str::to_owned),
    ]
    .boxed()
}

fn string() -> BoxedStrategy<String> {
    prop_oneof![
        prop::sample::select(vec![
            "250us",
            "1ms",
            "1.5ms",
            "0",
            "0ns",
            "-1ms",
            "1.5",
            "20000000000s",
            "18446744073709551615",
            "3µs",
            "1 s",
            "1Gbps",
            "100Mbps",
            "0Mbps",
            "2.5Gbps",
            "tai",
            "monotonic",
            "utc",
            "91:e0:f0:00:fe:00",
            "01-1b-19-00-00-0g",
            "01:1b:19",
            "",
            "control",
        ])
        .prop_map(str::to_owned),
        "[ -~µ]{0,12}",
    ]
    .prop_map(|s| format!("{s:?}"))
    .boxed()
}

fn value() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        4 => int(),
        4 => string(),
        1 => prop::sample::select(vec![
            "true", "1.5", "-0.0", "nan", "inf", "1e400", "1979-05-27T07:32:00Z",
            "1979-05-27", "07:32:00", "{}", "{ gates = [1], interval = 5 }",
        ])
        .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(2, 16, 8, |inner| {
        prop::collection::vec(inner, 0..9).prop_map(|v| format!("[{}]", v.join(", ")))
    })
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![
        8 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
        1 => prop::sample::select(vec!["\"quoted key\"", "a.b", "schedule.clock"])
            .prop_map(str::to_owned),
    ]
    .boxed()
}

fn document() -> impl Strategy<Value = String> {
    let section = (
        prop::sample::select(HEADERS),
        prop::collection::vec((key(), value()), 0..6),
    );
    prop::collection::vec(section, 0..8).prop_map(|sections| {
        let mut text = String::new();
        for (header, pairs) in sections {
            text.push_str(header);
            text.push('\n');
            for (k, v) in pairs {
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        text
    })
}

/// Well-formed files with random but plausible numbers: these get past
/// the parser and into the model's checks (windows, overlaps, switch).
fn plausible_schedule() -> impl Strategy<Value = String> {
    let entry = (any::<u8>(), 1u64..2_000);
    let stream = (0u8..9, 0u64..5_000, 1u32..4, 0u64..3_000, 64u32..1_600);
    (
        prop::collection::vec(entry.clone(), 1..5),
        prop::option::weighted(0.3, 1u64..5_000),
        prop::option::weighted(0.3, 0u64..2_000),
        prop::option::weighted(0.3, (0u64..10_000, prop::collection::vec(entry, 1..3))),
        prop::sample::select(vec!["10Mbps", "100Mbps", "1Gbps"]),
        prop::collection::vec(stream, 0..4),
    )
        .prop_map(|(entries, cycle, ext, admin, speed, streams)| {
            let mut t = String::from("[schedule]\n");
            if let Some(c) = cycle {
                t.push_str(&format!("cycle_time = {}\n", c * 100));
            }
            if let Some(e) = ext {
                t.push_str(&format!("cycle_time_extension = {}\n", e * 100));
            }
            let list = |t: &mut String, table: &str, entries: &[(u8, u64)]| {
                for (mask, interval) in entries {
                    t.push_str(&format!(
                        "[[{table}]]\ngate_mask = {mask}\ninterval = \"{interval}00ns\"\n"
                    ));
                }
            };
            list(&mut t, "schedule.entry", &entries);
            if let Some((base, entries)) = admin {
                t.push_str(&format!("[admin]\nbase_time = {base}00\n"));
                list(&mut t, "admin.entry", &entries);
            }
            t.push_str(&format!("[link]\nspeed = \"{speed}\"\n"));
            for (i, (class, offset, frames, spacing, size)) in streams.into_iter().enumerate() {
                t.push_str(&format!(
                    "[[stream]]\nname = \"s{}\"\ntraffic_class = {class}\nvlan_id = {i}\ndst_mac = \"01:00:00:00:00:0{i}\"\nframe_size = {size}\noffset = \"{offset}00ns\"\nframes_per_cycle = {frames}\nspacing = \"{spacing}00ns\"\n",
                    i % 3
                ));
            }
            t
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn toml_looking_strings(text in "[\\[\\]{}=,.\"'#a-z_0-9 \n:-]{0,200}") {
        check(&text)?;
    }

    #[test]
    fn mutations_of_a_valid_file(edits in prop::collection::vec(edit(), 1..6)) {
        let text = edits.iter().fold(VALID.to_owned(), |t, e| apply(&t, e));
        check(&text)?;
    }

    #[test]
    fn generated_toml(text in document()) {
        check(&text)?;
    }

    #[test]
    fn plausible_schedules(text in plausible_schedule()) {
        check(&text)?;
    }
}

#[test]
fn the_valid_file_is_valid() {
    parse_str(VALID, "valid.toml").unwrap();
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for text in [
        format!("a = {}", "[".repeat(100_000)),
        format!("a = {}", "{ b = ".repeat(100_000)),
        format!("a{} = 1", ".a".repeat(100_000)),
    ] {
        let err = parse_str(&text, "deep.toml").unwrap_err();
        check_position(&text, &err.0).unwrap();
    }
}
