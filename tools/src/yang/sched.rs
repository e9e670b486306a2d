//! takt's gate lists as ieee802-dot1q-sched's `gate-parameter-table`
//! (grouping sched-parameters), both ways. docs/yang.md has the mapping.
//!
//! takt's oper list is the one running now and its admin list the pending
//! change, which is exactly 802.1Qbv's OperControlList and AdminControlList
//! while a ConfigChange is pending. So a schedule with both lists is written
//! as a device would report it: `oper-*` (state) = takt's oper list,
//! `admin-*` = takt's admin list, `config-pending` true (read back: both
//! lists unless config-pending is false). Without an admin
//! list only the `admin-*` parameters are written: that is the list a
//! `config-change` puts in force.

use takt_scheduler::GateEntry;

use super::out::J;
use super::rational::{ns_to_ptp, ns_to_rational, ptp_to_ns, rational_to_ns};
use super::read::{Node, PathError, Res};
use super::SET_GATE_STATES;
use crate::interchange::{GateList, GateSchedule};

/// admin-gate-states written: all gates open (255, the module's default),
/// the state a port holds while gate-enabled is false. takt has no such
/// state (a schedule always runs), so nothing reads it back.
pub const ADMIN_GATE_STATES: u64 = 255;

/// The gate-parameter-table contents for `gs`. `Err` says which value
/// does not fit the module's types and what to change.
///
/// With `limits`, supported-list-max, supported-cycle-max and
/// supported-interval-max are written as what this schedule needs: the
/// module's `must` statements compare the lists against them, so without
/// them the instance does not validate (docs/yang.md).
pub fn table(gs: &GateSchedule, limits: bool) -> Result<J, String> {
    let mut t = J::obj([
        ("gate-enabled", J::Bool(true)),
        ("admin-gate-states", J::Num(ADMIN_GATE_STATES)),
    ]);
    let (admin, oper) = match &gs.admin {
        Some(a) => (a, Some(&gs.oper)),
        None => (&gs.oper, None),
    };
    let admin_name = if oper.is_some() { "admin" } else { "oper" };
    for (k, v) in list_members("admin", admin, admin_name)? {
        t.push(&k, v);
    }
    t.push("config-change", J::Bool(true));
    if limits {
        let lists: Vec<&GateList> = std::iter::once(&gs.oper).chain(gs.admin.as_ref()).collect();
        let len = lists.iter().map(|l| l.entries.len()).max().unwrap_or(0);
        let cycle = lists.iter().map(|l| l.cycle_time_ns).max().unwrap_or(0);
        let interval = lists
            .iter()
            .flat_map(|l| l.entries.iter().map(|e| e.interval_ns))
            .max()
            .unwrap_or(0);
        // each fits: list_members checked every list's values above
        let (num, den) = ns_to_rational(cycle).unwrap_or((0, 1));
        t.push("supported-list-max", J::Num(len as u64));
        t.push(
            "supported-cycle-max",
            J::obj([
                ("numerator", J::Num(num.into())),
                ("denominator", J::Num(den.into())),
            ]),
        );
        t.push("supported-interval-max", J::Num(interval));
    }
    if let Some(o) = oper {
        for (k, v) in list_members("oper", o, "oper")? {
            t.push(&k, v);
        }
        t.push("config-pending", J::Bool(true));
    }
    Ok(t)
}

/// `{prefix}-control-list`, `-cycle-time`, `-cycle-time-extension`,
/// `-base-time` for one list. `takt_name` is the list's name in takt's
/// terms, for messages.
fn list_members(prefix: &str, l: &GateList, takt_name: &str) -> Result<Vec<(String, J)>, String> {
    let mut entries = Vec::with_capacity(l.entries.len());
    for (i, e) in l.entries.iter().enumerate() {
        let interval = u32::try_from(e.interval_ns).map_err(|_| {
            format!(
                "{takt_name} list entry {i} lasts {} ns, more than time-interval-value (uint32) holds \
                 (4294967295 ns): split it into entries of at most 4.29 s",
                e.interval_ns
            )
        })?;
        entries.push(J::obj([
            ("index", J::Num(i as u64)),
            ("operation-name", J::str(SET_GATE_STATES)),
            ("gate-states-value", J::Num(e.gate_mask.into())),
            ("time-interval-value", J::Num(interval.into())),
        ]));
    }
    let (num, den) = ns_to_rational(l.cycle_time_ns).ok_or_else(|| {
        format!(
            "{takt_name} cycle_time {} ns does not fit the module's uint32 numerator/denominator \
             seconds: use a cycle time under 4.29 s or a whole fraction of a second",
            l.cycle_time_ns
        )
    })?;
    let ext = u32::try_from(l.cycle_time_extension_ns).map_err(|_| {
        format!(
            "{takt_name} cycle_time_extension {} ns is more than the module's uint32 ns holds",
            l.cycle_time_extension_ns
        )
    })?;
    let (s, ns) = ns_to_ptp(l.base_time_ns);
    Ok(vec![
        (
            format!("{prefix}-control-list"),
            J::obj([("gate-control-entry", J::Arr(entries))]),
        ),
        (
            format!("{prefix}-cycle-time"),
            J::obj([
                ("numerator", J::Num(num.into())),
                ("denominator", J::Num(den.into())),
            ]),
        ),
        (format!("{prefix}-cycle-time-extension"), J::Num(ext.into())),
        (
            format!("{prefix}-base-time"),
            // uint64 is a string in RFC 7951 (section 6.1)
            J::obj([
                ("seconds", J::str(s.to_string())),
                ("nanoseconds", J::Num(ns.into())),
            ]),
        ),
    ])
}

/// What reading a table found besides the lists: things takt does not
/// carry, said once each.
pub type Notes = Vec<String>;

/// A gate-parameter-table read back. `module` is the module that owns the
/// table's member names (accepted qualified with it too).
pub fn read_table(t: &Node, module: Option<&str>) -> Res<(GateSchedule, Notes)> {
    t.object()?;
    let mut notes = Notes::new();
    match t.member("gate-enabled", module)? {
        Some(n) if !n.bool()? => {
            return Err(n.error(
                "gate-enabled is false: the port runs no gate schedule (every gate held at \
                 admin-gate-states); set it to true to import the control list",
            ))
        }
        Some(_) => {}
        None => notes.push(format!(
            "{}: no gate-enabled (the module's default is false); the control list is imported as if it were true",
            path_or_root(&t.path)
        )),
    }
    if let Some(n) = t.member("admin-gate-states", module)? {
        n.u8()?;
    }
    if let Some(n) = t.member("queue-max-sdu-table", module)? {
        if !n.array()?.is_empty() {
            notes.push(format!(
                "{}: not carried (takt has no per-class maximum SDU)",
                n.path
            ));
        }
    }
    let admin = read_list(t, module, "admin")?;
    let oper = read_list(t, module, "oper")?;
    let pending = match t.member("config-pending", module)? {
        Some(n) => Some(n.bool()?),
        None => None,
    };
    let (oper, admin) = match (oper, admin) {
        (Some(o), Some(a)) if o == a => (o, None),
        // a device that says no change is pending: admin-* is either the
        // list in force already or an edit not yet committed
        (Some(o), Some(_)) if pending == Some(false) => {
            notes.push(format!(
                "{}: config-pending is false: the admin-* list is not a pending change;                  imported the oper-* list alone",
                path_or_root(&t.path)
            ));
            (o, None)
        }
        (Some(o), a) => (o, a),
        (None, Some(a)) => (a, None),
        (None, None) => return Err(t.error(
            "no admin-control-list (nor oper-control-list): the table holds no gate control list",
        )),
    };
    Ok((
        GateSchedule {
            clock: takt_scheduler::ClockId::Tai,
            oper,
            admin,
        },
        notes,
    ))
}

fn path_or_root(p: &str) -> &str {
    if p.is_empty() {
        "/"
    } else {
        p
    }
}

/// The `{prefix}-*` list of a table, if its control list is there.
fn read_list(t: &Node, module: Option<&str>, prefix: &str) -> Res<Option<GateList>> {
    let Some(cl) = t.member(&format!("{prefix}-control-list"), module)? else {
        return Ok(None);
    };
    let mut entries: Vec<(u32, GateEntry)> = Vec::new();
    let items = match cl.member("gate-control-entry", module)? {
        Some(list) => list.items()?,
        None => Vec::new(),
    };
    for item in items {
        item.object()?;
        let index = item.required("index", module)?.u32()?;
        let item = item.keyed(&format!("[index={index}]"));
        if entries.iter().any(|(i, _)| *i == index) {
            return Err(item.error(format!(
                "index {index} appears twice: gate-control-entry is keyed by index"
            )));
        }
        let op = item.required("operation-name", module)?;
        check_operation(&op)?;
        let mask = item.required("gate-states-value", module)?.u8()?;
        let iv = item.required("time-interval-value", module)?;
        let interval = iv.u32()?;
        if interval == 0 {
            return Err(iv.error("time-interval-value is 0: every entry must last at least 1 ns"));
        }
        entries.push((
            index,
            GateEntry {
                gate_mask: mask,
                interval_ns: interval.into(),
            },
        ));
    }
    if entries.is_empty() {
        return Err(cl.error("no gate-control-entry: takt needs at least one entry"));
    }
    // Entries run in index order (802.1Q 8.6.9.4.2); the JSON order is not
    // meaningful for a keyed list.
    entries.sort_by_key(|(i, _)| *i);
    let entries: Vec<GateEntry> = entries.into_iter().map(|(_, e)| e).collect();
    let sum: u64 = entries.iter().map(|e| e.interval_ns).sum();

    let cycle_time_ns = match t.member(&format!("{prefix}-cycle-time"), module)? {
        None => sum,
        Some(c) => {
            let num = c.required("numerator", module)?.u32()?;
            let den = c.required("denominator", module)?.u32()?;
            let ns = rational_to_ns(num, den).map_err(|m| c.error(m))?;
            if ns == 0 {
                return Err(c.error("the cycle time is 0: give the cycle's length"));
            }
            ns
        }
    };
    let cycle_time_extension_ns =
        match t.member(&format!("{prefix}-cycle-time-extension"), module)? {
            None => 0,
            Some(n) => n.u32()?.into(),
        };
    let base_time_ns = match t.member(&format!("{prefix}-base-time"), module)? {
        None => 0,
        Some(b) => {
            b.object()?;
            let s = match b.member("seconds", module)? {
                Some(n) => n.u64_lenient()?,
                None => 0,
            };
            let ns = match b.member("nanoseconds", module)? {
                Some(n) => n.u32()?,
                None => 0,
            };
            ptp_to_ns(s, ns).map_err(|m| b.error(m))?
        }
    };
    Ok(Some(GateList {
        base_time_ns,
        cycle_time_ns,
        cycle_time_extension_ns,
        entries,
    }))
}

fn check_operation(op: &Node) -> Res<()> {
    let name = op.string()?;
    // RFC 7951 6.8: an identity from another module than the leaf's is
    // written qualified; the bare name is accepted too.
    let local = name.strip_prefix("ieee802-dot1q-sched:").unwrap_or(name);
    match local {
        "set-gate-states" => Ok(()),
        "set-and-hold-mac" | "set-and-release-mac" => Err(op.error(format!(
            "\"{name}\": takt has no frame preemption (802.1Qbu hold/release); \
             use {SET_GATE_STATES}"
        ))),
        _ => Err(op.error(format!(
            "unknown operation \"{name}\": expected \"{SET_GATE_STATES}\""
        ))),
    }
}

/// A `PathError` for a message about the whole instance.
pub fn root_error(message: impl Into<String>) -> PathError {
    PathError {
        path: String::new(),
        message: message.into(),
    }
}
