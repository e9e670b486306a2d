//! Finding an ETF (earliest txtime first) qdisc on an interface, and adding
//! one: rtnetlink, set-up only, never on the data path.
//!
//! An ETF qdisc holds each frame until its launch time minus `delta` and
//! then hands it to the driver; a socket opts in with SO_TXTIME on the
//! qdisc's clock and gives every frame its time in an SCM_TXTIME message.
//! On a single-queue interface ETF is the root qdisc; on a multi-queue one
//! it sits on one queue under mqprio/taprio. This first version accepts an
//! ETF qdisc anywhere on the interface ([`EtfQdisc::place`] says where) and
//! does not steer frames to its queue (no SO_PRIORITY): on a multi-queue
//! interface configure the mqprio map so the socket's priority 0 lands on
//! the ETF queue.

use crate::DriverError;
use futures_util::stream::TryStreamExt;
use rtnetlink::packet_core::{DefaultNla, NetlinkMessage, Nla, NLM_F_ACK, NLM_F_CREATE};
use rtnetlink::packet_core::{NLM_F_REPLACE, NLM_F_REQUEST};
use rtnetlink::packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcOption};
use rtnetlink::packet_route::RouteNetlinkMessage;

/// TCA_ETF_PARMS (linux/pkt_sched.h): the one attribute in ETF's options.
const TCA_ETF_PARMS: u16 = 1;
/// NLA_F_NESTED | NLA_F_NET_BYTEORDER: flags in an attribute's type field.
const NLA_TYPE_MASK: u16 = 0x3fff;
/// `struct tc_etf_qopt` flags.
pub const TC_ETF_DEADLINE_MODE_ON: u32 = 1 << 0;
pub const TC_ETF_OFFLOAD_ON: u32 = 1 << 1;
pub const TC_ETF_SKIP_SOCK_CHECK: u32 = 1 << 2;

/// `struct tc_etf_qopt { s32 delta; s32 clockid; u32 flags; }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EtfParams {
    /// The qdisc dequeues a frame this many ns before its launch time.
    pub delta_ns: i32,
    pub clockid: i32,
    pub flags: u32,
}

impl EtfParams {
    /// The qdisc's clock (ETF takes REALTIME, MONOTONIC, BOOTTIME and TAI).
    pub fn clock(&self) -> Option<nix::time::ClockId> {
        use nix::time::ClockId;
        [
            ClockId::CLOCK_TAI,
            ClockId::CLOCK_REALTIME,
            ClockId::CLOCK_MONOTONIC,
            ClockId::CLOCK_BOOTTIME,
        ]
        .into_iter()
        .find(|c| c.as_raw() == self.clockid)
    }

    pub fn deadline_mode(&self) -> bool {
        self.flags & TC_ETF_DEADLINE_MODE_ON != 0
    }

    pub fn offload(&self) -> bool {
        self.flags & TC_ETF_OFFLOAD_ON != 0
    }

    fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0..4].copy_from_slice(&self.delta_ns.to_ne_bytes());
        b[4..8].copy_from_slice(&self.clockid.to_ne_bytes());
        b[8..12].copy_from_slice(&self.flags.to_ne_bytes());
        b
    }
}

/// An ETF qdisc found on an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EtfQdisc {
    pub params: EtfParams,
    /// `tc`'s parent handle (u32::MAX = root).
    pub parent: u32,
    pub handle: u32,
}

impl EtfQdisc {
    /// Where it sits, as `tc qdisc show` says it: "root" or "parent 100:1".
    pub fn place(&self) -> String {
        if self.parent == u32::MAX {
            "root".into()
        } else {
            format!("parent {:x}:{:x}", self.parent >> 16, self.parent & 0xffff)
        }
    }
}

/// ETF's parameters from the payload of its TCA_OPTIONS attribute (a run
/// of netlink attributes, one of which is TCA_ETF_PARMS); `None` when it
/// holds none, or a short one.
pub fn parse_etf_options(nest: &[u8]) -> Option<EtfParams> {
    let mut rest = nest;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > rest.len() {
            return None;
        }
        let value = &rest[4..len];
        if kind == TCA_ETF_PARMS && value.len() >= 12 {
            let word = |i: usize| [value[i], value[i + 1], value[i + 2], value[i + 3]];
            return Some(EtfParams {
                delta_ns: i32::from_ne_bytes(word(0)),
                clockid: i32::from_ne_bytes(word(4)),
                flags: u32::from_ne_bytes(word(8)),
            });
        }
        let padded = (len + 3) & !3;
        rest = &rest[padded.min(rest.len())..];
    }
    None
}

/// The first ETF qdisc on interface `ifname` (index `ifindex`), if any.
pub fn find_etf(ifname: &str, ifindex: u32) -> Result<Option<EtfQdisc>, DriverError> {
    let what = format!("listing the qdiscs of {ifname}");
    let msgs: Vec<TcMessage> = crate::link::run(ifname, &what, |h| async move {
        h.qdisc()
            .get()
            .index(ifindex as i32)
            .execute()
            .try_collect()
            .await
    })?;
    Ok(msgs
        .iter()
        .filter(|m| m.header.index == ifindex as i32)
        .find_map(etf_of))
}

/// One qdisc of an interface, as `tc qdisc show dev IF` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QdiscEntry {
    /// e.g. "taprio", "etf", "mqprio", "noqueue", "pfifo_fast".
    pub kind: String,
    /// `tc`'s parent handle (u32::MAX = root).
    pub parent: u32,
    pub handle: u32,
    /// The ETF parameters when `kind` is "etf".
    pub etf: Option<EtfParams>,
}

/// Every qdisc of interface `ifname` (index `ifindex`), root first as the
/// kernel dumps them (set-up and diagnostics only: `takt doctor`).
pub fn list_qdiscs(ifname: &str, ifindex: u32) -> Result<Vec<QdiscEntry>, DriverError> {
    let what = format!("listing the qdiscs of {ifname}");
    let msgs: Vec<TcMessage> = crate::link::run(ifname, &what, |h| async move {
        h.qdisc()
            .get()
            .index(ifindex as i32)
            .execute()
            .try_collect()
            .await
    })?;
    Ok(msgs
        .iter()
        .filter(|m| m.header.index == ifindex as i32)
        .filter_map(|m| {
            let kind = m.attributes.iter().find_map(|a| match a {
                TcAttribute::Kind(k) => Some(k.clone()),
                _ => None,
            })?;
            Some(QdiscEntry {
                kind,
                parent: u32::from(m.header.parent),
                handle: u32::from(m.header.handle),
                etf: etf_of(m).map(|e| e.params),
            })
        })
        .collect())
}

/// The ETF qdisc a qdisc dump message describes, if it is one.
fn etf_of(m: &TcMessage) -> Option<EtfQdisc> {
    let is_etf = m
        .attributes
        .iter()
        .any(|a| matches!(a, TcAttribute::Kind(k) if k == "etf"));
    if !is_etf {
        return None;
    }
    // rtnetlink does not know ETF: its options arrive as one raw attribute.
    let params = m.attributes.iter().find_map(|a| match a {
        TcAttribute::Options(opts) => opts.iter().find_map(|o| match o {
            TcOption::Other(nla) => {
                let mut raw = vec![0u8; nla.value_len()];
                nla.emit_value(&mut raw);
                parse_etf_options(&raw)
            }
            _ => None,
        }),
        _ => None,
    })?;
    Some(EtfQdisc {
        params,
        parent: u32::from(m.header.parent),
        handle: u32::from(m.header.handle),
    })
}

/// `tc qdisc replace dev IFNAME root etf clockid CLOCK delta DELTA [deadline_mode]`
/// over rtnetlink. Needs CAP_NET_ADMIN and a kernel with sch_etf.
pub fn add_root_etf(ifname: &str, params: EtfParams) -> Result<(), DriverError> {
    let what = format!("adding an ETF qdisc on {ifname} (kernel module sch_etf)");
    let index = crate::link::ifindex(ifname)?;
    crate::link::run(ifname, &what, |mut h| async move {
        let mut msg = TcMessage::with_index(index as i32);
        msg.header.parent = TcHandle::ROOT;
        msg.attributes.push(TcAttribute::Kind("etf".into()));
        msg.attributes
            .push(TcAttribute::Options(vec![TcOption::Other(
                DefaultNla::new(TCA_ETF_PARMS, params.to_bytes().to_vec()),
            )]));
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewQueueDiscipline(msg));
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
        let mut resp = h.request(req)?;
        while let Some(m) = futures_util::StreamExt::next(&mut resp).await {
            if let rtnetlink::packet_core::NetlinkPayload::Error(e) = m.payload {
                if e.code.is_some() {
                    return Err(rtnetlink::Error::NetlinkError(e));
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TCA_OPTIONS payload as `tc qdisc add ... etf clockid CLOCK_TAI delta
    /// 200000 deadline_mode` dumps it: one TCA_ETF_PARMS of 12 bytes.
    fn dumped(delta: i32, clockid: i32, flags: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&16u16.to_ne_bytes());
        b.extend_from_slice(&TCA_ETF_PARMS.to_ne_bytes());
        b.extend_from_slice(&delta.to_ne_bytes());
        b.extend_from_slice(&clockid.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b
    }

    #[test]
    fn etf_parameters_are_read_from_the_netlink_attribute() {
        let p = parse_etf_options(&dumped(200_000, 11, TC_ETF_DEADLINE_MODE_ON)).unwrap();
        assert_eq!(p.delta_ns, 200_000);
        assert_eq!(p.clock(), Some(nix::time::ClockId::CLOCK_TAI));
        assert!(p.deadline_mode() && !p.offload());
        // Behind another attribute (padded to 4 bytes), with the nested flag set.
        let mut b = vec![5, 0, 9, 0, 0xff, 0, 0, 0];
        let mut etf = dumped(-5, 1, TC_ETF_OFFLOAD_ON);
        etf[3] |= 0x80;
        b.extend_from_slice(&etf);
        let p = parse_etf_options(&b).unwrap();
        assert_eq!((p.delta_ns, p.clockid), (-5, 1));
        assert_eq!(p.clock(), Some(nix::time::ClockId::CLOCK_MONOTONIC));
        assert!(p.offload());
        // What we emit is what we read back.
        let q = EtfParams {
            delta_ns: 300,
            clockid: 11,
            flags: 0,
        };
        let mut b = dumped(0, 0, 0);
        b[4..].copy_from_slice(&q.to_bytes());
        assert_eq!(parse_etf_options(&b), Some(q));
    }

    #[test]
    fn short_or_foreign_attributes_give_nothing() {
        assert_eq!(parse_etf_options(&[]), None);
        assert_eq!(parse_etf_options(&dumped(1, 11, 0)[..12]), None);
        let mut other = dumped(1, 11, 0);
        other[2] = 2;
        assert_eq!(parse_etf_options(&other), None);
        assert_eq!(parse_etf_options(&[3, 0, 1, 0]), None);
        assert_eq!(parse_etf_options(&[200, 0, 1, 0, 0, 0, 0, 0]), None);
        // An unknown clock id is carried, not guessed.
        assert_eq!(parse_etf_options(&dumped(1, 99, 0)).unwrap().clock(), None);
    }

    #[test]
    fn the_place_reads_like_tc() {
        let q = |parent| EtfQdisc {
            params: EtfParams {
                delta_ns: 0,
                clockid: 11,
                flags: 0,
            },
            parent,
            handle: 0x8001_0000,
        };
        assert_eq!(q(u32::MAX).place(), "root");
        assert_eq!(q(0x0100_0002).place(), "parent 100:2");
    }
}
