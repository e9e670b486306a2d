//! What a round trip through another format must keep, as `takt check
//! --json` shows it: the clock and the gate lists (oper, admin, the switch
//! between them). Streams, link, control, PTP, memory and warnings are
//! left out: tc-taprio and 802.1Q YANG do not carry them.

use serde_json::{Map, Value};

/// The fields of a `takt check --json` object (one file) that the gate
/// formats carry.
pub const GATE_FIELDS: [&str; 8] = [
    "clock",
    "base_time",
    "cycle_time",
    "cycle_time_extension",
    "entries",
    "oper",
    "admin",
    "switch",
];

/// `check_json` cut down to [`GATE_FIELDS`]; compare two of these to judge a
/// round trip.
pub fn gate_view(check_json: &Value) -> Value {
    let mut out = Map::new();
    for k in GATE_FIELDS {
        out.insert(
            k.to_owned(),
            check_json.get(k).cloned().unwrap_or(Value::Null),
        );
    }
    Value::Object(out)
}
