//! link.rs against iproute2: a veth pair between two network namespaces
//! this test creates (VethPair deletes them on drop, also when a test
//! fails), checked with `ip -n NS -j ...`. Needs root; without it the root
//! tests skip with a message, except under CI=true, where they fail.

mod common;

use serde_json::Value;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use takt_drivers::link::{self, Ipv4Net, Netns, VethPair};
use takt_drivers::DriverError;

fn need_root(test: &str) -> bool {
    common::need_root(test, "network namespaces, CAP_NET_ADMIN")
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Fresh namespace names for one test.
fn names() -> (String, String) {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    (format!("takt-l-{pid}-{n}-a"), format!("takt-l-{pid}-{n}-b"))
}

fn pair() -> VethPair {
    let (a, b) = names();
    VethPair::create(&a, &b, "tkl-a", "tkl-b", "10.77.0.1/24", "10.77.0.2/24")
        .expect("creating the veth pair")
}

/// `ip -n NS -j ARGS`, parsed.
fn ip_json(ns: &str, args: &[&str]) -> Value {
    let out = Command::new("ip")
        .args(["-n", ns, "-j"])
        .args(args)
        .output()
        .expect("running ip");
    assert!(
        out.status.success(),
        "ip -n {ns} -j {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ip -j prints JSON")
}

/// The one interface `ip -n NS -j link show IF` reports.
fn ip_link(ns: &str, ifname: &str) -> Value {
    let v = ip_json(ns, &["link", "show", ifname]);
    let arr = v.as_array().expect("a JSON array");
    assert_eq!(arr.len(), 1, "{ns}/{ifname}: {v}");
    arr[0].clone()
}

fn ip_flags_up(link: &Value) -> bool {
    link["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .any(|f| f == "UP")
}

fn mac_string(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn netns_list() -> String {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("running ip netns list");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn listed(list: &str, ns: &str) -> bool {
    list.lines()
        .any(|l| l.split_whitespace().next() == Some(ns))
}

/// Our view of `ifname` in `ns` equals iproute2's, and it has `addr`.
fn check_end(ns: &str, ifname: &str, other_if: &str, addr: Ipv4Net) {
    let (index, mac, up, mtu, other) = Netns::enter(ns, || {
        (
            link::ifindex(ifname).unwrap(),
            link::mac(ifname).unwrap(),
            link::is_up(ifname).unwrap(),
            link::mtu(ifname).unwrap(),
            link::ifindex(other_if),
        )
    })
    .unwrap();
    let j = ip_link(ns, ifname);
    assert_eq!(j["ifindex"].as_u64(), Some(index as u64), "{j}");
    assert_eq!(j["address"].as_str(), Some(mac_string(mac).as_str()), "{j}");
    assert_eq!(j["mtu"].as_u64(), Some(mtu as u64), "{j}");
    assert!(up && ip_flags_up(&j), "{ns}/{ifname} up: {j}");
    assert_eq!(j["link_type"].as_str(), Some("ether"), "{j}");
    // The peer lives in the other namespace, not here.
    match other {
        Err(DriverError::BadSpec { spec, reason }) => {
            assert_eq!(spec, other_if);
            assert!(reason.contains(other_if), "{reason}");
        }
        r => panic!("{other_if} in {ns}: {r:?}"),
    }
    let a = ip_json(ns, &["-4", "addr", "show", ifname]);
    let infos = a[0]["addr_info"].as_array().expect("addr_info");
    assert!(
        infos.iter().any(
            |i| i["local"].as_str() == Some(addr.addr.to_string().as_str())
                && i["prefixlen"].as_u64() == Some(addr.prefix as u64)
        ),
        "{ns}/{ifname} should have {addr}: {a}"
    );
    // IPv6 is off on the test wire: no link-local address.
    let a6 = ip_json(ns, &["-6", "addr", "show", ifname]);
    let none = a6
        .as_array()
        .expect("array")
        .iter()
        .all(|l| l["addr_info"].as_array().is_none_or(|i| i.is_empty()));
    assert!(none, "{ns}/{ifname} has IPv6 addresses: {a6}");
}

#[test]
fn veth_pair_ends_match_iproute2_and_namespaces_go_on_drop() {
    if !need_root("veth_pair_ends_match_iproute2_and_namespaces_go_on_drop") {
        return;
    }
    let p = pair();
    let (a, b) = (p.ns_a().name().to_string(), p.ns_b().name().to_string());
    let list = netns_list();
    assert!(listed(&list, &a) && listed(&list, &b), "{list}");
    assert_eq!(p.addr_a(), "10.77.0.1/24".parse().unwrap());
    check_end(&a, p.if_a(), p.if_b(), p.addr_a());
    check_end(&b, p.if_b(), p.if_a(), p.addr_b());
    // The two ends are different devices.
    let ma = Netns::enter(&a, || link::mac("tkl-a").unwrap()).unwrap();
    let mb = Netns::enter(&b, || link::mac("tkl-b").unwrap()).unwrap();
    assert_ne!(ma, mb);
    drop(p);
    let list = netns_list();
    assert!(!listed(&list, &a) && !listed(&list, &b), "{list}");
}

#[test]
fn set_up_and_set_mtu_are_seen_by_us_and_iproute2() {
    if !need_root("set_up_and_set_mtu_are_seen_by_us_and_iproute2") {
        return;
    }
    let p = pair();
    let ns = p.ns_a().name().to_string();
    let down = p
        .ns_a()
        .run(|| {
            link::set_up("tkl-a", false).unwrap();
            link::is_up("tkl-a").unwrap()
        })
        .unwrap();
    assert!(!down);
    assert!(!ip_flags_up(&ip_link(&ns, "tkl-a")));
    let up = p
        .ns_a()
        .run(|| {
            link::set_up("tkl-a", true).unwrap();
            link::is_up("tkl-a").unwrap()
        })
        .unwrap();
    assert!(up);
    assert!(ip_flags_up(&ip_link(&ns, "tkl-a")));
    let mtu = p
        .ns_a()
        .run(|| {
            link::set_mtu("tkl-a", 1400).unwrap();
            link::mtu("tkl-a").unwrap()
        })
        .unwrap();
    assert_eq!(mtu, 1400);
    assert_eq!(ip_link(&ns, "tkl-a")["mtu"].as_u64(), Some(1400));
    // Calls on a missing interface name it.
    let e = p.ns_a().run(|| link::set_up("tkl-nope", true)).unwrap();
    assert!(
        matches!(&e, Err(DriverError::BadSpec { spec, .. }) if spec == "tkl-nope"),
        "{e:?}"
    );
}

#[test]
fn namespaces_are_deleted_when_the_test_body_panics() {
    if !need_root("namespaces_are_deleted_when_the_test_body_panics") {
        return;
    }
    let mut names = None;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let p = pair();
        names = Some((p.ns_a().name().to_string(), p.ns_b().name().to_string()));
        panic!("a failing test");
    }));
    assert!(r.is_err());
    let (a, b) = names.unwrap();
    let list = netns_list();
    assert!(!listed(&list, &a) && !listed(&list, &b), "{list}");
}

#[test]
fn a_failed_create_leaves_no_namespace_behind() {
    if !need_root("a_failed_create_leaves_no_namespace_behind") {
        return;
    }
    let (a, b) = names();
    // Same interface name twice is refused before anything is created; a
    // name the kernel refuses (16 bytes) too. Both namespaces are then
    // absent.
    assert!(VethPair::create(&a, &b, "tkl-x", "tkl-x", "10.77.0.1/24", "10.77.0.2/24").is_err());
    let long = "a-sixteen-bytes!";
    assert!(VethPair::create(&a, &b, long, "tkl-b", "10.77.0.1/24", "10.77.0.2/24").is_err());
    // The second namespace exists already: the first one is removed again.
    let taken = Netns::add(&b).unwrap();
    let e = VethPair::create(&a, &b, "tkl-a", "tkl-b", "10.77.0.1/24", "10.77.0.2/24");
    assert!(
        matches!(&e, Err(DriverError::BadSpec { reason, .. }) if reason.contains("exists already")),
        "{e:?}"
    );
    let list = netns_list();
    assert!(!listed(&list, &a), "{list}");
    drop(taken);
    assert!(!listed(&netns_list(), &b));
}

#[test]
fn a_missing_interface_is_named() {
    // Reading links needs no privileges; this runs as any user.
    match link::ifindex("takt-nope0") {
        Err(DriverError::BadSpec { spec, reason }) => {
            assert_eq!(spec, "takt-nope0");
            assert!(reason.contains("\"takt-nope0\""), "{reason}");
        }
        r => panic!("{r:?}"),
    }
    assert!(link::mac("").is_err());
}

#[test]
fn addresses_parse_with_clear_errors() {
    let n: Ipv4Net = "10.77.0.1/24".parse().unwrap();
    assert_eq!(n.addr, std::net::Ipv4Addr::new(10, 77, 0, 1));
    assert_eq!(n.prefix, 24);
    assert_eq!(n.to_string(), "10.77.0.1/24");
    for bad in [
        "10.77.0.1",
        "10.77.0/24",
        "10.77.0.1/33",
        "x/8",
        "10.77.0.1/",
    ] {
        let e = bad.parse::<Ipv4Net>().unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(bad) && msg.contains("e.g. 10.77.0.1/24"),
            "{msg}"
        );
    }
}

#[test]
fn without_privileges_the_error_names_the_capability() {
    if nix::unistd::geteuid().is_root() {
        eprintln!("without_privileges_the_error_names_the_capability: skipped: runs as non-root");
        return;
    }
    let e = link::set_up("lo", true).unwrap_err().to_string();
    assert!(e.contains("CAP_NET_ADMIN"), "{e}");
    let (a, b) = names();
    let e = VethPair::create(&a, &b, "tkl-a", "tkl-b", "10.77.0.1/24", "10.77.0.2/24")
        .unwrap_err()
        .to_string();
    assert!(e.contains("CAP_SYS_ADMIN"), "{e}");
    eprintln!("{e}");
}
