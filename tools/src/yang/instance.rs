//! Where the gate-parameter-table sits in an instance: under
//! `ietf-interfaces:interfaces/interface[name]`, either inside
//! `ieee802-dot1q-bridge:bridge-port` (ieee802-dot1q-sched-bridge: a
//! bridge port) or directly (ieee802-dot1dc-sched-if: any interface of an
//! 802.1DC system), or on its own.

use super::out::J;
use super::read::{Node, Res};
use super::{BRIDGE, DOT1DC_SCHED_IF, INTERFACES, SCHED_BRIDGE};

/// Which augmentation carries the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Wrapping {
    /// ieee802-dot1q-sched-bridge: interface/bridge-port/gate-parameter-table
    Bridge,
    /// ieee802-dot1dc-sched-if: interface/gate-parameter-table
    Dot1dc,
}

/// The whole instance: one interface holding `table`.
pub fn wrap(table: J, interface: &str, w: Wrapping) -> J {
    let mut iface = J::obj([
        ("name", J::str(interface)),
        // mandatory in ietf-interfaces; bridge-port's `when` accepts it
        ("type", J::str("iana-if-type:ethernetCsmacd")),
    ]);
    match w {
        Wrapping::Bridge => iface.push(
            &format!("{BRIDGE}:bridge-port"),
            J::Obj(vec![(
                format!("{SCHED_BRIDGE}:gate-parameter-table"),
                table,
            )]),
        ),
        Wrapping::Dot1dc => iface.push(&format!("{DOT1DC_SCHED_IF}:gate-parameter-table"), table),
    }
    J::Obj(vec![(
        format!("{INTERFACES}:interfaces"),
        J::obj([("interface", J::Arr(vec![iface]))]),
    )])
}

/// A gate-parameter-table found in an instance.
#[derive(Clone, Debug)]
pub struct Found<'a> {
    /// The interface it belongs to, if it is inside one.
    pub interface: Option<String>,
    /// The module whose augmentation holds it (`None`: a bare table).
    pub module: Option<&'static str>,
    pub table: Node<'a>,
}

const TABLE: &str = "gate-parameter-table";

/// Every gate-parameter-table in the instance, in document order.
pub fn find_tables<'a>(root: &Node<'a>) -> Res<Vec<Found<'a>>> {
    let obj = root.object()?;
    if let Some(ifs) = root.member(&format!("{INTERFACES}:interfaces"), None)? {
        let mut found = Vec::new();
        let Some(list) = ifs.member("interface", Some(INTERFACES))? else {
            return Ok(found);
        };
        for item in list.items()? {
            item.object()?;
            let name = item
                .required("name", Some(INTERFACES))?
                .string()?
                .to_owned();
            let item = item.keyed(&key_predicate(&name));
            if let Some(bp) = item.member(&format!("{BRIDGE}:bridge-port"), None)? {
                if let Some(t) = bp.member(&format!("{SCHED_BRIDGE}:{TABLE}"), None)? {
                    found.push(Found {
                        interface: Some(name.clone()),
                        module: Some(SCHED_BRIDGE),
                        table: t,
                    });
                }
            }
            if let Some(t) = item.member(&format!("{DOT1DC_SCHED_IF}:{TABLE}"), None)? {
                found.push(Found {
                    interface: Some(name.clone()),
                    module: Some(DOT1DC_SCHED_IF),
                    table: t,
                });
            }
        }
        return Ok(found);
    }
    for module in [SCHED_BRIDGE, DOT1DC_SCHED_IF] {
        if let Some(t) = root.member(&format!("{module}:{TABLE}"), None)? {
            return Ok(vec![Found {
                interface: None,
                module: Some(module),
                table: t,
            }]);
        }
    }
    if let Some(t) = root.member(TABLE, None)? {
        return Ok(vec![Found {
            interface: None,
            module: None,
            table: t,
        }]);
    }
    // The table's own members at the top: a bare gate-parameter-table.
    let members = ["admin-control-list", "oper-control-list", "gate-enabled"];
    if members.iter().any(|m| obj.contains_key(*m)) {
        return Ok(vec![Found {
            interface: None,
            module: None,
            table: root.clone(),
        }]);
    }
    Err(root.error(format!(
        "no gate-parameter-table found: expected \"{INTERFACES}:interfaces\" (interface/\
         {BRIDGE}:bridge-port/{SCHED_BRIDGE}:{TABLE}, or interface/{DOT1DC_SCHED_IF}:{TABLE}), \
         a \"{SCHED_BRIDGE}:{TABLE}\" object, or the table's own members"
    )))
}

/// `[name='eth0']`, quoted so that the name's own quotes survive (XPath
/// has no escapes: a name with `'` is put in `"`).
fn key_predicate(name: &str) -> String {
    if name.contains('\'') {
        format!("[name=\"{name}\"]")
    } else {
        format!("[name='{name}']")
    }
}
