//! `takt import yang` never panics: random JSON, JSON shaped like a gate
//! parameter table with random leaves, the hand-written fixture with one
//! value replaced or removed, and its text cut or with a byte changed.
//! Every outcome is a schedule takt loads or an error (exit 2).

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use takt_tools::import::yang::convert;

fn fixture() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/yang/bridge-port.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The names a gate-parameter-table instance uses, so random objects hit
/// the reader's paths rather than "no table found".
const NAMES: &[&str] = &[
    "ietf-interfaces:interfaces",
    "interface",
    "name",
    "ieee802-dot1q-bridge:bridge-port",
    "ieee802-dot1q-sched-bridge:gate-parameter-table",
    "ieee802-dot1dc-sched-if:gate-parameter-table",
    "gate-parameter-table",
    "gate-enabled",
    "admin-gate-states",
    "admin-control-list",
    "oper-control-list",
    "gate-control-entry",
    "index",
    "operation-name",
    "gate-states-value",
    "time-interval-value",
    "admin-cycle-time",
    "oper-cycle-time",
    "numerator",
    "denominator",
    "admin-cycle-time-extension",
    "admin-base-time",
    "oper-base-time",
    "seconds",
    "nanoseconds",
    "queue-max-sdu-table",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(|n| json!(n)),
        (0u64..2_000_000).prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[0-9]{0,25}".prop_map(Value::String),
        ".{0,12}".prop_map(Value::String),
        Just(json!("ieee802-dot1q-sched:set-gate-states")),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(NAMES), inner), 0..6).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// Paths (as JSON pointers) of every value in `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn import(text: &str) {
    for iface in [None, Some("sw0p1")] {
        if let Ok((toml, _)) = convert("fuzz", text, iface) {
            // what comes out is a schedule takt loads
            takt_scheduler::config::parse_str(&toml, "fuzz.toml").unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_json_never_panics(v in value()) {
        import(&v.to_string());
        let wrapped = json!({"ietf-interfaces:interfaces": {"interface": [
            {"name": "sw0p1", "ieee802-dot1q-bridge:bridge-port": {"ieee802-dot1q-sched-bridge:gate-parameter-table": v}}
        ]}});
        import(&wrapped.to_string());
    }

    #[test]
    fn the_fixture_with_one_value_changed_never_panics(pick in any::<prop::sample::Index>(), new in value(), remove in any::<bool>()) {
        let mut v = fixture();
        let mut all = Vec::new();
        pointers(&v, String::new(), &mut all);
        let p = pick.get(&all).clone();
        if remove && !p.is_empty() {
            let (parent, last) = p.rsplit_once('/').unwrap();
            match v.pointer_mut(parent) {
                Some(Value::Object(m)) => { m.remove(&last.replace("~1", "/").replace("~0", "~")); }
                Some(Value::Array(a)) => { let i: usize = last.parse().unwrap(); a.remove(i); }
                _ => {}
            }
        } else if let Some(x) = v.pointer_mut(&p) {
            *x = new;
        }
        import(&v.to_string());
    }

    #[test]
    fn the_fixture_text_cut_or_changed_never_panics(at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let text = fixture().to_string().into_bytes();
        let i = at.index(text.len());
        let mutated = if cut { text[..i].to_vec() } else {
            let mut t = text.clone();
            t[i] = byte;
            t
        };
        if let Ok(s) = String::from_utf8(mutated) {
            import(&s);
        }
    }
}
