//! `tc -j qdisc show` output, with the field names iproute2's
//! tc/q_taprio.c (taprio_print_opt) writes: per qdisc `kind`, `dev` (when
//! tc was not given one), `options` with `tc`, `map`, `queues`, `clockid`
//! ("TAI", without CLOCK_), `flags` ("0x2"), `txtime_delay`, the oper
//! `base_time`, `cycle_time`, `cycle_time_extension` and `schedule`
//! [{`index`, `cmd`, `gatemask` ("0x81"), `interval`}], and an `admin`
//! object with the same four while a change is pending. iproute2 before
//! 6.5 wrote that admin object without its name (invalid JSON): it is
//! read as `admin` all the same.

use serde_json::{Map, Value};
use takt_scheduler::schedule::MAX_GATE_ENTRIES;
use takt_scheduler::ClockId;

use super::lists::{self, RawEntry, RawList};
use super::parse::parse_unsigned;
use super::{Imported, TaprioError, Where};

/// Read the taprio qdisc in `text`; `dev` picks one when several devices
/// have one.
pub fn read(text: &str, dev: Option<&str>) -> Result<Imported, TaprioError> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(first) => repair_unnamed_admin(text)
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(|| {
                TaprioError::new(
                    Where::Input,
                    format!(
                        "this is not JSON (line {}, column {}: {first}): give the output of `tc -j qdisc show` as it is",
                        first.line(),
                        first.column()
                    ),
                )
            })?,
    };
    let Some(qdiscs) = value.as_array() else {
        return Err(TaprioError::new(
            Where::Json("$".into()),
            "`tc -j qdisc show` prints an array of qdiscs; this is not an array",
        ));
    };
    let mut kinds = Vec::new();
    let mut found: Vec<(usize, Option<&str>, &Map<String, Value>)> = Vec::new();
    for (i, q) in qdiscs.iter().enumerate() {
        let Some(obj) = q.as_object() else {
            return Err(TaprioError::new(
                Where::Json(format!("[{i}]")),
                "a qdisc must be a JSON object",
            ));
        };
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("?");
        kinds.push(kind.to_owned());
        if kind != "taprio" {
            continue;
        }
        let qdev = obj.get("dev").and_then(Value::as_str);
        if dev.is_some_and(|d| qdev.is_some_and(|q| q != d)) {
            continue;
        }
        let Some(options) = obj.get("options").and_then(Value::as_object) else {
            return Err(TaprioError::new(
                Where::Json(format!("[{i}].options")),
                "the taprio qdisc has no `options` object: give `tc -j qdisc show` output of a kernel with taprio",
            ));
        };
        found.push((i, qdev, options));
    }
    let (i, qdev, options) = match found.as_slice() {
        [] => {
            let which = dev.map_or(String::new(), |d| format!(" on device {d}"));
            return Err(TaprioError::new(
                Where::Input,
                format!(
                    "no taprio qdisc{which} in the input (qdiscs: {}): give `tc -j qdisc show dev IF` of the interface with taprio",
                    if kinds.is_empty() { "none".to_owned() } else { kinds.join(", ") }
                ),
            ));
        }
        [one] => *one,
        several => {
            let devs: Vec<String> = several
                .iter()
                .map(|(i, d, _)| format!("[{i}] {}", d.unwrap_or("(no dev field)")))
                .collect();
            return Err(TaprioError::new(
                Where::Input,
                format!(
                    "several taprio qdiscs ({}): pick one with --dev IF, or give `tc -j qdisc show dev IF`",
                    devs.join(", ")
                ),
            ));
        }
    };
    let p = format!("[{i}].options");
    let mut notes = Vec::new();
    if let Some(d) = qdev {
        notes.push(format!("device: {d}"));
    }
    let mut ignored = Vec::new();
    if let Some(tc) = options.get("tc") {
        let n = tc.as_u64().ok_or_else(|| {
            TaprioError::new(
                Where::Json(format!("{p}.tc")),
                "`tc` (num_tc) must be a number",
            )
        })?;
        if n > 8 {
            return Err(TaprioError::new(
                Where::Json(format!("{p}.tc")),
                format!("num_tc {n}: takt has 8 traffic classes; the qdisc must have 8 or fewer"),
            ));
        }
        ignored.push(format!("num_tc {n}"));
    }
    for key in ["map", "queues", "max-sdu", "fp", "txtime_delay"] {
        if let Some(v) = options.get(key) {
            ignored.push(format!("{key} {}", compact(v)));
        }
    }
    let flags = match options.get("flags") {
        None => 0,
        Some(v) => {
            let f = hex_or_number(v, u32::MAX as u64).ok_or_else(|| {
                TaprioError::new(
                    Where::Json(format!("{p}.flags")),
                    format!("flags {v} is not a number such as \"0x2\""),
                )
            })?;
            ignored.push(format!("flags {f:#x}"));
            f
        }
    };
    let clock = match options.get("clockid").map(|c| (c, c.as_str())) {
        None | Some((_, Some("invalid"))) if flags & 2 != 0 => {
            notes.push("no clockid with flags 0x2 (full offload): read as CLOCK_TAI, the PHC's usual time scale".to_owned());
            ClockId::Tai
        }
        Some((_, Some(name))) if name != "invalid" => lists::clock_from_name(name)
            .map_err(|m| TaprioError::new(Where::Json(format!("{p}.clockid")), m))?,
        other => {
            return Err(TaprioError::new(
                Where::Json(format!("{p}.clockid")),
                format!(
                    "clockid {}: takt needs the schedule's clock (TAI, REALTIME or MONOTONIC)",
                    other.map_or("missing".to_owned(), |(v, _)| v.to_string())
                ),
            ))
        }
    };
    if !ignored.is_empty() {
        notes.push(format!(
            "not carried into a takt schedule: {}",
            ignored.join("; ")
        ));
    }
    let has_oper = options
        .get("schedule")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    let admin = match options.get("admin") {
        None => None,
        Some(a) => Some(a.as_object().ok_or_else(|| {
            TaprioError::new(
                Where::Json(format!("{p}.admin")),
                "`admin` must be an object",
            )
        })?),
    };
    let (oper, admin) = match (has_oper, admin) {
        (true, admin) => (
            raw_list(options, &p)?,
            admin
                .map(|a| raw_list(a, &format!("{p}.admin")))
                .transpose()?,
        ),
        (false, Some(a)) => {
            notes.push("the qdisc's schedule had not started yet (only an `admin` schedule): read as the oper list".to_owned());
            (raw_list(a, &format!("{p}.admin"))?, None)
        }
        (false, None) => {
            return Err(TaprioError::new(
                Where::Json(format!("{p}.schedule")),
                "the taprio qdisc has no schedule entries (no `schedule`, no `admin`)",
            ))
        }
    };
    lists::imported(clock, &oper, admin.as_ref(), qdev.map(str::to_owned), notes)
}

/// `base_time`, `cycle_time`, `cycle_time_extension`, `schedule` of one
/// object (the options, or `admin`).
fn raw_list(obj: &Map<String, Value>, p: &str) -> Result<RawList, TaprioError> {
    let at = |k: &str| Where::Json(format!("{p}.{k}"));
    // print_lluint writes the kernel's s64 as unsigned: a negative time
    // comes out as 2^64 - |t|.
    let time = |k: &str| -> Result<i128, TaprioError> {
        match obj.get(k) {
            None => Ok(0),
            Some(v) => v
                .as_u64()
                .map(|u| i128::from(u as i64))
                .or_else(|| v.as_i64().map(i128::from))
                .ok_or_else(|| {
                    TaprioError::new(at(k), format!("{k} {v} is not a whole number of ns"))
                }),
        }
    };
    let base_time = time("base_time")?;
    let cycle_time = time("cycle_time")?;
    let ext = time("cycle_time_extension")?;
    for (k, v) in [("cycle_time", cycle_time), ("cycle_time_extension", ext)] {
        if v < 0 {
            return Err(TaprioError::new(at(k), format!("{k} {v} is negative")));
        }
    }
    let schedule = match obj.get("schedule") {
        None => &Vec::new(),
        Some(s) => s
            .as_array()
            .ok_or_else(|| TaprioError::new(at("schedule"), "`schedule` must be an array"))?,
    };
    if schedule.len() > MAX_GATE_ENTRIES {
        return Err(TaprioError::new(
            at("schedule"),
            format!(
                "{} entries, more than the {MAX_GATE_ENTRIES} takt accepts: merge entries",
                schedule.len()
            ),
        ));
    }
    let mut entries = Vec::with_capacity(schedule.len());
    for (j, e) in schedule.iter().enumerate() {
        let ep = format!("{p}.schedule[{j}]");
        let e = e.as_object().ok_or_else(|| {
            TaprioError::new(Where::Json(ep.clone()), "an entry must be an object")
        })?;
        let cmd = match e.get("cmd").map(|c| c.as_str()) {
            None | Some(Some("S")) => 'S',
            Some(Some("H")) => 'H',
            Some(Some("R")) => 'R',
            _ => {
                return Err(TaprioError::new(
                    Where::Json(format!("{ep}.cmd")),
                    format!("cmd {}: taprio's are \"S\", \"H\" and \"R\"", e["cmd"]),
                ))
            }
        };
        let mask_at = Where::Json(format!("{ep}.gatemask"));
        let mask = e
            .get("gatemask")
            .and_then(|m| hex_or_number(m, u32::MAX as u64))
            .ok_or_else(|| {
                TaprioError::new(
                    mask_at.clone(),
                    format!(
                        "gatemask {} is not a mask such as \"0x81\"",
                        e.get("gatemask").unwrap_or(&Value::Null)
                    ),
                )
            })?;
        let interval_at = Where::Json(format!("{ep}.interval"));
        let interval = e
            .get("interval")
            .and_then(Value::as_u64)
            .filter(|&i| i <= u32::MAX as u64)
            .ok_or_else(|| {
                TaprioError::new(
                    interval_at.clone(),
                    format!(
                        "interval {} is not a number of ns up to 4294967295",
                        e.get("interval").unwrap_or(&Value::Null)
                    ),
                )
            })?;
        entries.push(RawEntry {
            cmd,
            mask,
            interval,
            mask_at,
            interval_at,
        });
    }
    Ok(RawList {
        base_time,
        base_time_at: at("base_time"),
        cycle_time: cycle_time as u64,
        cycle_time_at: at("cycle_time"),
        cycle_time_extension: ext as u64,
        entries,
        at: Where::Json(p.to_owned()),
    })
}

/// "0x81" (print_0xhex) or a plain number.
fn hex_or_number(v: &Value, max: u64) -> Option<u64> {
    match v {
        Value::String(s) => parse_unsigned(s, 16, max),
        other => other.as_u64().filter(|&n| n <= max),
    }
}

/// A short rendering of an ignored value.
fn compact(v: &Value) -> String {
    match v {
        Value::Array(a) => a.iter().map(compact).collect::<Vec<_>>().join(" "),
        Value::Object(o) => match (o.get("count"), o.get("offset")) {
            (Some(c), Some(off)) => format!("{c}@{off}"),
            _ => v.to_string(),
        },
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// iproute2 before 6.5 wrote the admin schedule as an object without a
/// name inside the options object (`..."schedule":[...],{"base_time":...`).
/// Name it `admin`; None when there is no such object.
fn repair_unnamed_admin(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 16);
    // The open containers: an object where a key is due takes no `{`.
    let mut stack: Vec<char> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut changed = false;
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else {
            match c {
                '"' => in_string = true,
                '{' => {
                    if stack.last() == Some(&'{') && out.trim_end().ends_with(',') {
                        out.push_str("\"admin\":");
                        changed = true;
                    }
                    stack.push('{');
                }
                '[' => stack.push('['),
                '}' | ']' => {
                    stack.pop();
                }
                _ => {}
            }
        }
        out.push(c);
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `tc -j qdisc show dev eth0` while a change is pending, as iproute2
    /// 6.5+ prints it (hand-written from taprio_print_opt).
    const PENDING: &str = r#"[{"kind":"taprio","handle":"100:","root":true,"refcnt":9,"options":{"tc":8,"map":[0,1,2,3,4,5,6,7,0,0,0,0,0,0,0,0],"queues":[{"offset":0,"count":1},{"offset":1,"count":1},{"offset":2,"count":1},{"offset":3,"count":1},{"offset":4,"count":1},{"offset":5,"count":1},{"offset":6,"count":1},{"offset":7,"count":1}],"clockid":"TAI","base_time":1000,"cycle_time":500000,"cycle_time_extension":0,"schedule":[{"index":0,"cmd":"S","gatemask":"0x80","interval":50000},{"index":1,"cmd":"S","gatemask":"0xf","interval":450000}],"admin":{"base_time":2000000000,"cycle_time":250000,"cycle_time_extension":20000,"schedule":[{"index":0,"cmd":"S","gatemask":"0x80","interval":100000},{"index":1,"cmd":"S","gatemask":"0x1","interval":150000}]},"max-sdu":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}},{"kind":"pfifo","handle":"0:","parent":"100:1","options":{"limit":1000}}]"#;

    #[test]
    fn a_pending_admin_schedule_is_the_admin_list() {
        let i = read(PENDING, None).unwrap();
        assert_eq!(i.gates.clock, ClockId::Tai);
        assert_eq!(i.gates.oper.entries.len(), 2);
        assert_eq!(i.gates.oper.entries[1].gate_mask, 0x0f);
        let a = i.gates.admin.unwrap();
        assert_eq!(
            (a.base_time_ns, a.cycle_time_extension_ns),
            (2_000_000_000, 20_000)
        );
        assert!(
            i.notes.iter().any(|n| n.contains("queues 1@0 1@1")),
            "{:?}",
            i.notes
        );
    }

    #[test]
    fn iproute2_6_1s_unnamed_admin_object_is_read_as_admin() {
        let old = PENDING.replace("\"admin\":{", "{");
        assert!(serde_json::from_str::<Value>(&old).is_err());
        assert_eq!(read(&old, None).unwrap(), read(PENDING, None).unwrap());
    }

    #[test]
    fn a_schedule_not_started_yet_is_only_admin() {
        // Before its base time the kernel holds the new schedule as admin
        // only; iproute2 6.1 prints zero oper times and no oper entries.
        let t = r#"[{"kind":"taprio","dev":"eth0","options":{"tc":8,"clockid":"REALTIME","base_time":0,"cycle_time":0,"cycle_time_extension":0,{"base_time":5000,"cycle_time":300,"cycle_time_extension":0,"schedule":[{"index":0,"cmd":"S","gatemask":"0x3","interval":300}]}}}]"#;
        let with_empty = t.replace(
            "\"cycle_time_extension\":0,{",
            "\"cycle_time_extension\":0,\"schedule\":[],{",
        );
        for t in [t, with_empty.as_str()] {
            let i = read(t, None).unwrap();
            assert_eq!(i.gates.clock, ClockId::Realtime);
            assert_eq!(i.gates.oper.base_time_ns, 5000);
            assert!(i.gates.admin.is_none());
            assert_eq!(i.device.as_deref(), Some("eth0"));
        }
    }

    #[test]
    fn errors_name_the_json_path() {
        let e = read(&PENDING.replace("\"0xf\"", "\"0x1ff\""), None).unwrap_err();
        assert_eq!(e.at, Where::Json("[0].options.schedule[1].gatemask".into()));
        assert!(e.message.contains("traffic class 8"), "{}", e.message);
        let e = read(
            &PENDING.replace("\"interval\":150000", "\"interval\":\"x\""),
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.at,
            Where::Json("[0].options.admin.schedule[1].interval".into())
        );
        let e = read(&PENDING.replace("\"TAI\"", "\"BOOTTIME\""), None).unwrap_err();
        assert_eq!(e.at, Where::Json("[0].options.clockid".into()));
        let e = read(&PENDING.replace("\"tc\":8", "\"tc\":16"), None).unwrap_err();
        assert!(e.message.contains("num_tc 16"));
        let e = read("[{\"kind\":\"fq_codel\"}]", None).unwrap_err();
        assert!(e.message.contains("fq_codel"), "{}", e.message);
        let e = read("[1,", None).unwrap_err();
        assert!(e.message.contains("not JSON"), "{}", e.message);
    }

    #[test]
    fn several_devices_need_dev() {
        let a = PENDING.replacen(
            "{\"kind\":\"taprio\",",
            "{\"kind\":\"taprio\",\"dev\":\"a\",",
            1,
        );
        let b = a
            .replacen("\"dev\":\"a\"", "\"dev\":\"b\"", 1)
            .replace("\"0x80\",\"interval\":50000", "\"0x40\",\"interval\":50000");
        let both = format!("{},{}", a.trim_end_matches(']'), b.trim_start_matches('['));
        assert!(read(&both, None).unwrap_err().message.contains("--dev"));
        assert_eq!(
            read(&both, Some("b")).unwrap().gates.oper.entries[0].gate_mask,
            0x40
        );
    }

    proptest! {
        #[test]
        fn mangled_json_never_panics(cut in 0usize..1500, junk in "[\\[\\]{}\",:0-9a-z]{0,12}") {
            let mut t: String = PENDING.chars().take(cut).collect();
            t.push_str(&junk);
            t.push_str(&PENDING.chars().skip(cut + 3).collect::<String>());
            let _ = read(&t, None);
        }
    }
}
