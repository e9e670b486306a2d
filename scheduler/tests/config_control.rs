//! The `[control]` section: one test per rule, each naming the line and
//! column the error points at and the part of the message that says what
//! to change; plus the values a valid section gives.

mod common;

use common::assert_error;
use std::net::Ipv4Addr;
use takt_scheduler::config::{
    load_file, parse_str, ConfigError, ControlSection, DEFAULT_STATUS_PORT,
};

/// Class 7 for 250us, then classes 2..=6 for 750us (lines 1-7).
const GCL: &str = r#"[schedule]
[[schedule.entry]]
gates = [7]
interval = "250us"
[[schedule.entry]]
gates = [2, 3, 4, 5, 6]
interval = "750us"
"#;

/// `GCL`, then `[control]` on line 8 and `keys` from line 9 on.
fn with_control(keys: &str) -> String {
    format!("{GCL}[control]\n{keys}")
}

fn control(text: &str) -> Option<ControlSection> {
    match parse_str(text, "t.toml") {
        Ok(l) => l.control,
        Err(e) => panic!("{e}\n{text}"),
    }
}

#[test]
fn a_full_section_gives_its_values() {
    let text = with_control(
        r#"address = "10.77.0.1/24"
gateway = "10.77.0.254"
best_effort_class = 3
status_port = 9800
guard_band = "20us"
"#,
    );
    assert_eq!(
        control(&text),
        Some(ControlSection {
            key_file: None,
            allow: Vec::new(),
            address: Ipv4Addr::new(10, 77, 0, 1),
            prefix_len: 24,
            gateway: Some(Ipv4Addr::new(10, 77, 0, 254)),
            best_effort_class: Some(3),
            status_port: 9800,
            guard_band_ns: 20_000,
        })
    );
}

#[test]
fn defaults_of_a_minimal_section() {
    let text = with_control("address = \"192.168.1.7/31\"\n");
    let c = control(&text).unwrap();
    assert_eq!(c.gateway, None);
    assert_eq!(c.best_effort_class, None);
    assert_eq!(c.status_port, DEFAULT_STATUS_PORT);
    assert_eq!(c.status_port, 9700);
    assert_eq!(c.guard_band_ns, 0);
    let loaded = parse_str(&text, "t.toml").unwrap();
    // Left out, the class is the lowest one any entry opens.
    assert_eq!(c.best_effort_class_in(&loaded.schedule), Some(2));
}

#[test]
fn no_section_is_none_and_inline_works() {
    assert_eq!(control(GCL), None);
    let inline = format!("control = {{ address = \"10.0.0.2/8\", status_port = 1 }}\n{GCL}");
    let c = control(&inline).unwrap();
    assert_eq!(
        (c.address, c.prefix_len, c.status_port),
        (Ipv4Addr::new(10, 0, 0, 2), 8, 1)
    );
}

#[test]
fn every_example_still_loads_and_control_plane_has_its_section() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples");
    for name in [
        "single-stream-1ms.toml",
        "two-class-250us.toml",
        "admin-oper-switch.toml",
        "control-plane.toml",
    ] {
        let loaded = load_file(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
        let expect = (name == "control-plane.toml").then(|| ControlSection {
            key_file: None,
            allow: Vec::new(),
            address: Ipv4Addr::new(10, 77, 0, 1),
            prefix_len: 24,
            gateway: None,
            best_effort_class: None,
            status_port: 9700,
            guard_band_ns: 30_000,
        });
        assert_eq!(loaded.control, expect, "{name}");
    }
}

// ---- address ----------------------------------------------------------------

#[test]
fn address_is_required() {
    assert_error(
        &with_control("gateway = \"10.77.0.254\"\n"),
        8,
        1,
        "[control] is missing the required key `address`: add it, e.g. `address = \"10.77.0.1/24\"`",
    );
}

#[test]
fn address_without_prefix_length() {
    assert_error(
        &with_control("address = \"10.77.0.1\"\n"),
        9,
        11,
        "`address` \"10.77.0.1\" has no prefix length: write the prefix length, e.g. 10.77.0.1/24",
    );
}

#[test]
fn address_that_is_not_an_ipv4_address() {
    assert_error(
        &with_control("address = \"10.77.0/24\"\n"),
        9,
        11,
        "\"10.77.0\" is not an IPv4 address: write A.B.C.D/N, e.g. 10.77.0.1/24",
    );
    assert_error(
        &with_control("address = \"fe80::1\"\n"),
        9,
        11,
        "is not A.B.C.D/N: write an IPv4 address and prefix length",
    );
}

#[test]
fn prefix_length_out_of_range() {
    for bad in ["33", "0", "x"] {
        assert_error(
            &with_control(&format!("address = \"10.77.0.1/{bad}\"\n")),
            9,
            11,
            &format!("the prefix length /{bad} is out of range: use 1..=32"),
        );
    }
}

#[test]
fn address_must_be_unicast() {
    for (addr, why) in [
        ("0.0.0.0/24", "is the unspecified address"),
        ("224.0.0.1/24", "is a multicast address"),
        ("255.255.255.255/32", "is the broadcast address"),
        ("10.77.0.255/24", "is the broadcast address of its network"),
    ] {
        assert_error(
            &with_control(&format!("address = \"{addr}\"\n")),
            9,
            11,
            &format!("{why}: give this port's own unicast address"),
        );
    }
    // On a point-to-point /31 both addresses are hosts.
    assert!(control(&with_control("address = \"10.77.0.1/31\"\n")).is_some());
}

// ---- gateway ----------------------------------------------------------------

#[test]
fn gateway_outside_the_network() {
    assert_error(
        &with_control("address = \"10.77.0.1/24\"\ngateway = \"10.78.0.254\"\n"),
        10,
        11,
        "`gateway` 10.78.0.254 is not in 10.77.0.0/24, the network of `address`: give a gateway inside it",
    );
}

#[test]
fn gateway_that_is_not_an_address() {
    assert_error(
        &with_control("address = \"10.77.0.1/24\"\ngateway = \"10.77.0.254/24\"\n"),
        10,
        11,
        "is not an IPv4 address: write A.B.C.D, e.g. 10.77.0.254",
    );
}

// ---- best_effort_class --------------------------------------------------------

#[test]
fn best_effort_class_past_7() {
    assert_error(
        &with_control("address = \"10.77.0.1/24\"\nbest_effort_class = 8\n"),
        10,
        21,
        "`best_effort_class` 8 does not exist: use a traffic class 0..=7",
    );
}

#[test]
fn best_effort_class_that_never_opens() {
    assert_error(
        &with_control("address = \"10.77.0.1/24\"\nbest_effort_class = 1\n"),
        10,
        21,
        "traffic class 1 never opens in this schedule, so control traffic (ARP, ping) could never be sent: give a class that a gate entry opens",
    );
}

#[test]
fn best_effort_class_opened_only_by_the_admin_list_counts() {
    let text = format!(
        "{GCL}[admin]\nbase_time = \"1s\"\n[[admin.entry]]\ngates = [1]\ninterval = \"1ms\"\n[control]\naddress = \"10.77.0.1/24\"\nbest_effort_class = 1\n"
    );
    assert_eq!(control(&text).unwrap().best_effort_class, Some(1));
}

#[test]
fn no_class_opens_at_all() {
    let text = r#"[schedule]
[[schedule.entry]]
gates = []
interval = "1ms"
[control]
address = "10.77.0.1/24"
"#;
    assert_error(
        text,
        5,
        1,
        "no gate entry of the oper or admin list opens any traffic class, so control traffic (ARP, ping) could never be sent",
    );
}

// ---- status_port, guard_band, unknown keys -------------------------------------

#[test]
fn status_port_zero() {
    assert_error(
        &with_control("address = \"10.77.0.1/24\"\nstatus_port = 0\n"),
        10,
        15,
        "`status_port` 0 is not a port: use 1..=65535",
    );
    assert_error(
        &with_control("address = \"10.77.0.1/24\"\nstatus_port = 65536\n"),
        10,
        15,
        "`status_port` 65536 is out of range: use a UDP port 1..=65535",
    );
}

#[test]
fn guard_band_not_a_duration() {
    assert_error(
        &with_control("address = \"10.77.0.1/24\"\nguard_band = \"20 parsecs\"\n"),
        10,
        14,
        "`guard_band`",
    );
}

#[test]
fn guard_band_not_shorter_than_the_cycle() {
    assert_error(
        &with_control("address = \"10.77.0.1/24\"\nguard_band = \"1ms\"\n"),
        10,
        14,
        "`guard_band` 1ms is not shorter than the cycle (1ms)",
    );
}

#[test]
fn unknown_key_in_control() {
    let text = with_control("address = \"10.77.0.1/24\"\nstatus-port = 9700\n");
    assert_error(
        &text,
        10,
        1,
        "unknown key `status-port` in [control] (did you mean `status_port`?): the keys allowed there are address, gateway, best_effort_class, status_port, guard_band, key_file, allow",
    );
}

#[test]
fn key_file_and_allow_give_their_values() {
    let c = control(&with_control(
        "address = \"10.77.0.1/24\"\nkey_file = \"ctl.key\"\nallow = [\"10.77.0.0/24\", \"192.0.2.5/32\", \"0.0.0.0/0\"]\n",
    ))
    .unwrap();
    assert_eq!(c.key_file.as_deref(), Some("ctl.key"));
    assert_eq!(
        c.allow,
        vec![
            (Ipv4Addr::new(10, 77, 0, 0), 24),
            (Ipv4Addr::new(192, 0, 2, 5), 32),
            (Ipv4Addr::UNSPECIFIED, 0)
        ]
    );
    let none = control(&with_control("address = \"10.77.0.1/24\"\n")).unwrap();
    assert_eq!(
        (none.key_file, none.allow),
        (None, vec![]),
        "read-only, own subnet"
    );
}

#[test]
fn allow_entries_are_networks() {
    let at = |list: &str| with_control(&format!("address = \"10.77.0.1/24\"\nallow = [{list}]\n"));
    assert_error(
        &at("\"10.77.0.0/24\", \"10.77.0.1/24\""),
        10,
        26,
        "`allow` entry \"10.77.0.1/24\" has host bits set: write its network, \"10.77.0.0/24\"",
    );
    assert_error(&at("\"10.77.0.0\""), 10, 10, "is not A.B.C.D/N");
    assert_error(&at("\"10.77.0.0/33\""), 10, 10, "is not A.B.C.D/N");
    assert_error(&at(""), 10, 9, "`allow` lists no network");
    let many: Vec<String> = (0..17).map(|i| format!("\"10.{i}.0.0/16\"")).collect();
    assert_error(
        &at(&many.join(", ")),
        10,
        9,
        "more than the 16 the service checks",
    );
}

#[test]
fn key_file_empty() {
    assert_error(
        &with_control("address = \"10.77.0.1/24\"\nkey_file = \" \"\n"),
        10,
        12,
        "`key_file` is empty",
    );
}

// ---- no input panics ----------------------------------------------------------

proptest::proptest! {
    /// Any values in [control] load or give a positioned error.
    #[test]
    fn any_control_values_load_or_give_an_error(
        address in "[0-9./a-z: ]{0,20}",
        gateway in "[0-9./a-z: ]{0,16}",
        class in -3i64..300,
        port in -3i64..70000,
        guard in "[0-9.]{0,6}(ns|us|ms|s|)",
    ) {
        let text = with_control(&format!(
            "address = {address:?}\ngateway = {gateway:?}\nbest_effort_class = {class}\nstatus_port = {port}\nguard_band = {guard:?}\n"
        ));
        if let Err(ConfigError(d)) = parse_str(&text, "t.toml") {
            proptest::prop_assert!((9..=13).contains(&d.line), "{}:{}: {}", d.line, d.col, d.message);
        }
    }
}
