//! The interface's own features: interrupt coalescing (ethtool netlink),
//! launch time and AF_XDP (netdev netlink), and its MTU against the
//! schedule's largest frame.

use super::check::{Check, Status};
use super::genl::{put_attr, Attr, Genl, Reply, NLA_F_NESTED};
use takt_drivers::packet::etf::QdiscEntry;
use takt_drivers::DeviceSpec;

const ETHTOOL_MSG_COALESCE_GET: u8 = 19;
const ETHTOOL_A_COALESCE_HEADER: u16 = 1;
const ETHTOOL_A_HEADER_DEV_NAME: u16 = 2;
const ETHTOOL_A_COALESCE_RX_USECS: u16 = 2;
const ETHTOOL_A_COALESCE_USE_ADAPTIVE_RX: u16 = 12;

const NETDEV_CMD_DEV_GET: u8 = 1;
const NETDEV_A_DEV_IFINDEX: u16 = 1;
const NETDEV_A_DEV_XDP_FEATURES: u16 = 3;
const NETDEV_A_DEV_XSK_FEATURES: u16 = 6;

/// netdev's xdp-features bits (linux/netdev.h).
const XDP_FEATURES: [(u64, &str); 7] = [
    (1, "basic"),
    (2, "redirect"),
    (4, "ndo-xmit"),
    (8, "xsk-zerocopy"),
    (16, "hw-offload"),
    (32, "rx-sg"),
    (64, "ndo-xmit-sg"),
];
const XDP_ACT_REDIRECT: u64 = 2;
const XDP_ACT_XSK_ZEROCOPY: u64 = 8;
/// netdev's xsk-features bits.
const XSK_FEATURES: [(u64, &str); 3] = [
    (1, "tx-timestamp"),
    (2, "tx-checksum"),
    (4, "tx-launch-time-fifo"),
];
const XSK_TX_LAUNCH_TIME: u64 = 4;

/// Interrupt coalescing as ethtool reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coalesce {
    pub rx_usecs: Option<u32>,
    pub adaptive_rx: Option<bool>,
}

/// `ethtool -c IF`: Ok(None) when the driver has no coalescing.
pub fn read_coalesce(ifname: &str) -> Result<Option<Coalesce>, String> {
    let mut g = Genl::open().map_err(|e| format!("netlink: {e}"))?;
    let family = g
        .family("ethtool")
        .map_err(|e| format!("netlink: {e}"))?
        .ok_or("this kernel has no ethtool netlink")?;
    let mut header = Vec::new();
    let mut name = ifname.as_bytes().to_vec();
    name.push(0);
    put_attr(&mut header, ETHTOOL_A_HEADER_DEV_NAME, &name);
    let mut attrs = Vec::new();
    put_attr(
        &mut attrs,
        ETHTOOL_A_COALESCE_HEADER | NLA_F_NESTED,
        &header,
    );
    match g
        .request(family, ETHTOOL_MSG_COALESCE_GET, &attrs)
        .map_err(|e| format!("netlink: {e}"))?
    {
        Reply::Attrs(a) => Ok(Some(coalesce_of(&a))),
        Reply::Errno(e) if e == libc_eopnotsupp() => Ok(None),
        Reply::Errno(e) => Err(format!("ethtool: {}", std::io::Error::from_raw_os_error(e))),
    }
}

fn libc_eopnotsupp() -> i32 {
    nix::errno::Errno::EOPNOTSUPP as i32
}

fn coalesce_of(attrs: &[Attr]) -> Coalesce {
    let find = |k| attrs.iter().find(|a| a.kind == k);
    Coalesce {
        rx_usecs: find(ETHTOOL_A_COALESCE_RX_USECS).and_then(Attr::u32),
        adaptive_rx: find(ETHTOOL_A_COALESCE_USE_ADAPTIVE_RX)
            .and_then(Attr::u8)
            .map(|v| v != 0),
    }
}

pub fn coalescing(ifname: &str, c: Result<Option<Coalesce>, String>) -> Check {
    const ID: &str = "coalescing";
    const TITLE: &str = "Interrupt coalescing";
    let fix = format!("ethtool -C {ifname} adaptive-rx off rx-usecs 0");
    match c {
        Err(e) => Check::info(ID, TITLE, format!("{ifname}: unknown ({e})")),
        Ok(None) => Check::info(
            ID,
            TITLE,
            format!("{ifname}: the driver has no interrupt coalescing (veth, lo): nothing to set"),
        ),
        Ok(Some(Coalesce {
            rx_usecs: None,
            adaptive_rx,
        })) => {
            if adaptive_rx == Some(true) {
                Check::warn(ID, TITLE, format!("{ifname}: adaptive-rx on"), fix)
            } else {
                Check::info(ID, TITLE, format!("{ifname}: no rx-usecs setting"))
            }
        }
        Ok(Some(Coalesce {
            rx_usecs: Some(us),
            adaptive_rx,
        })) => {
            let adaptive = adaptive_rx == Some(true);
            if us == 0 && !adaptive {
                Check::pass(ID, TITLE, format!("{ifname}: rx-usecs 0"))
            } else {
                Check::warn(
                    ID,
                    TITLE,
                    format!(
                        "{ifname}: rx-usecs {us}{}: a received frame can wait that long for its \
                         interrupt, and its receive stamp with it",
                        if adaptive { ", adaptive-rx on" } else { "" }
                    ),
                    fix,
                )
            }
        }
    }
}

/// netdev netlink's view of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetdevFeatures {
    pub xdp: u64,
    pub xsk: u64,
}

/// `ynl --family netdev --do dev-get`: Ok(None) when the kernel has no
/// netdev family (before Linux 6.3).
pub fn read_netdev(ifindex: u32) -> Result<Option<NetdevFeatures>, String> {
    let mut g = Genl::open().map_err(|e| format!("netlink: {e}"))?;
    let Some(family) = g.family("netdev").map_err(|e| format!("netlink: {e}"))? else {
        return Ok(None);
    };
    let mut attrs = Vec::new();
    put_attr(&mut attrs, NETDEV_A_DEV_IFINDEX, &ifindex.to_ne_bytes());
    match g
        .request(family, NETDEV_CMD_DEV_GET, &attrs)
        .map_err(|e| format!("netlink: {e}"))?
    {
        Reply::Attrs(a) => {
            let find = |k| a.iter().find(|x| x.kind == k).and_then(Attr::u64);
            Ok(Some(NetdevFeatures {
                xdp: find(NETDEV_A_DEV_XDP_FEATURES).unwrap_or(0),
                xsk: find(NETDEV_A_DEV_XSK_FEATURES).unwrap_or(0),
            }))
        }
        Reply::Errno(e) => Err(format!("netdev: {}", std::io::Error::from_raw_os_error(e))),
    }
}

fn names(bits: u64, table: &[(u64, &str)]) -> String {
    let v: Vec<&str> = table
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(" ")
    }
}

/// Launch time: an ETF qdisc (packet:) or the driver's AF_XDP launch time
/// (xsk-features tx-launch-time-fifo, for xdp:).
pub fn launch_time(
    device: &DeviceSpec,
    ifname: &str,
    netdev: &Result<Option<NetdevFeatures>, String>,
    qdiscs: &Result<Vec<QdiscEntry>, String>,
) -> Check {
    const ID: &str = "launch-time";
    const TITLE: &str = "Launch time";
    let etf = qdiscs
        .as_ref()
        .ok()
        .and_then(|q| q.iter().find(|q| q.kind == "etf"));
    let xsk = netdev.as_ref().ok().copied().flatten().map(|n| n.xsk);
    let xsk_text = match (netdev, xsk) {
        (Err(e), _) => format!("xsk-features unknown ({e})"),
        (Ok(None), _) => "no netdev netlink in this kernel".into(),
        (_, Some(x)) => format!("xsk-features: {}", names(x, &XSK_FEATURES)),
        _ => String::new(),
    };
    let etf_text = match (qdiscs, etf) {
        (Err(_), _) => "qdiscs unknown".to_string(),
        (Ok(_), Some(q)) => format!(
            "ETF qdisc (delta {} ns{})",
            q.etf.map_or(0, |p| p.delta_ns),
            if q.etf.is_some_and(|p| p.offload()) {
                ", offload"
            } else {
                ""
            }
        ),
        (Ok(_), None) => "no ETF qdisc".to_string(),
    };
    let found = format!("{ifname}: {etf_text}; {xsk_text}");
    let xsk_launch = xsk.is_some_and(|x| x & XSK_TX_LAUNCH_TIME != 0);
    let ok = match device {
        DeviceSpec::Xdp { .. } => xsk_launch,
        _ => etf.is_some(),
    };
    if ok {
        return Check::pass(ID, TITLE, found);
    }
    let fix = match device {
        DeviceSpec::Xdp { .. } => {
            "a NIC whose driver offers AF_XDP launch time (igc, stmmac on Linux 6.15+), \
             or packet: with an ETF qdisc"
                .to_string()
        }
        _ => format!(
            "tc qdisc replace dev {ifname} root etf clockid CLOCK_TAI delta 200000 \
             (offload on a NIC that has it: add `offload`; needs sch_etf)"
        ),
    };
    Check::new(
        ID,
        TITLE,
        Status::Warn,
        format!(
            "{found}: frames leave when the talker wakes, not at a time the kernel holds them to"
        ),
    )
    .with_fix(fix)
}

/// AF_XDP: what xdp: gets on this driver.
pub fn af_xdp(
    device: &DeviceSpec,
    ifname: &str,
    netdev: &Result<Option<NetdevFeatures>, String>,
) -> Check {
    const ID: &str = "af-xdp";
    const TITLE: &str = "AF_XDP";
    let xdp = match netdev {
        Err(e) => return Check::info(ID, TITLE, format!("{ifname}: unknown ({e})")),
        Ok(None) => {
            return Check::info(
                ID,
                TITLE,
                format!("{ifname}: no netdev netlink in this kernel"),
            )
        }
        Ok(Some(n)) => n.xdp,
    };
    let found = format!("{ifname}: xdp-features: {}", names(xdp, &XDP_FEATURES));
    if !matches!(device, DeviceSpec::Xdp { .. }) {
        return Check::info(ID, TITLE, format!("{found} (matters for xdp:{ifname})"));
    }
    if xdp & XDP_ACT_XSK_ZEROCOPY != 0 {
        Check::pass(ID, TITLE, format!("{found}: zero copy"))
    } else if xdp & XDP_ACT_REDIRECT != 0 {
        Check::warn(
            ID,
            TITLE,
            format!("{found}: driver mode, copy (no xsk-zerocopy)"),
            "a NIC with AF_XDP zero copy (ice, i40e, igc, mlx5, stmmac) for the shortest path",
        )
    } else {
        Check::warn(
            ID,
            TITLE,
            format!("{found}: no native XDP redirect: AF_XDP runs in generic (skb) mode"),
            "a NIC whose driver has native XDP, or packet: (same path, simpler)",
        )
    }
}

/// What the MTU does not count of a schedule frame: destination and source
/// MAC and EtherType (14), the VLAN tag (4: AF_PACKET allows it on top of
/// the MTU) and the FCS (4, added by the NIC).
pub const MTU_OVERHEAD: u32 = 22;

pub fn mtu(ifname: &str, mtu: Result<u32, String>, largest_frame: Option<u32>) -> Check {
    const ID: &str = "mtu";
    const TITLE: &str = "MTU";
    let mtu = match mtu {
        Ok(m) => m,
        Err(e) => return Check::info(ID, TITLE, format!("{ifname}: unknown ({e})")),
    };
    let Some(frame) = largest_frame else {
        return Check::info(
            ID,
            TITLE,
            format!("{ifname}: {mtu} (--schedule FILE compares it with the largest frame)"),
        );
    };
    let need = frame.saturating_sub(MTU_OVERHEAD);
    let found = format!(
        "{ifname}: {mtu}; the largest frame_size {frame} needs {need} \
         (frame_size - 22: MAC header, VLAN tag, FCS)"
    );
    if mtu >= need {
        Check::pass(ID, TITLE, found)
    } else {
        Check::fail(
            ID,
            TITLE,
            found,
            format!("ip link set dev {ifname} mtu {need}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalescing_zero_passes_some_warns_none_is_info() {
        let c = |rx, ad| {
            Ok(Some(Coalesce {
                rx_usecs: rx,
                adaptive_rx: ad,
            }))
        };
        assert_eq!(
            coalescing("eth0", c(Some(0), Some(false))).status,
            Status::Pass
        );
        let w = coalescing("eth0", c(Some(3), None));
        assert_eq!(w.status, Status::Warn);
        assert!(w.found.contains("rx-usecs 3"));
        assert_eq!(w.fix.unwrap(), "ethtool -C eth0 adaptive-rx off rx-usecs 0");
        assert_eq!(
            coalescing("eth0", c(Some(0), Some(true))).status,
            Status::Warn
        );
        assert_eq!(coalescing("veth0", Ok(None)).status, Status::Info);
        assert_eq!(coalescing("x", Err("EPERM".into())).status, Status::Info);
    }

    #[test]
    fn coalesce_attributes_are_read() {
        let a = vec![
            Attr {
                kind: 2,
                value: 8u32.to_ne_bytes().to_vec(),
            },
            Attr {
                kind: 12,
                value: vec![1],
            },
        ];
        assert_eq!(
            coalesce_of(&a),
            Coalesce {
                rx_usecs: Some(8),
                adaptive_rx: Some(true)
            }
        );
    }

    #[test]
    fn launch_time_from_etf_on_packet_and_xsk_on_xdp() {
        let packet: DeviceSpec = "packet:eth0".parse().unwrap();
        let xdp: DeviceSpec = "xdp:eth0".parse().unwrap();
        let etf = QdiscEntry {
            kind: "etf".into(),
            parent: u32::MAX,
            handle: 0,
            etf: None,
        };
        let nd = Ok(Some(NetdevFeatures { xdp: 7, xsk: 0 }));
        assert_eq!(
            launch_time(&packet, "eth0", &nd, &Ok(vec![etf])).status,
            Status::Pass
        );
        let c = launch_time(&packet, "eth0", &nd, &Ok(vec![]));
        assert_eq!(c.status, Status::Warn);
        assert!(c
            .fix
            .unwrap()
            .starts_with("tc qdisc replace dev eth0 root etf"));
        assert_eq!(
            launch_time(&xdp, "eth0", &nd, &Ok(vec![])).status,
            Status::Warn
        );
        let lt = Ok(Some(NetdevFeatures { xdp: 15, xsk: 5 }));
        let c = launch_time(&xdp, "eth0", &lt, &Ok(vec![]));
        assert_eq!(c.status, Status::Pass);
        assert!(
            c.found.contains("tx-timestamp tx-launch-time-fifo"),
            "{}",
            c.found
        );
        assert_eq!(af_xdp(&xdp, "eth0", &lt).status, Status::Pass);
        assert_eq!(af_xdp(&xdp, "eth0", &nd).status, Status::Warn);
        assert_eq!(af_xdp(&packet, "eth0", &nd).status, Status::Info);
    }

    #[test]
    fn mtu_against_the_largest_frame() {
        assert_eq!(mtu("eth0", Ok(1500), Some(1522)).status, Status::Pass);
        let c = mtu("eth0", Ok(1000), Some(1522));
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.fix.unwrap(), "ip link set dev eth0 mtu 1500");
        assert_eq!(mtu("eth0", Ok(1500), None).status, Status::Info);
    }
}
