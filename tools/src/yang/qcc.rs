//! A takt stream as a Qcc talker (ieee802-dot1q-tsn-types group-talker),
//! inside the CNC's configuration tree of ieee802-dot1q-cnc-config
//! (cnc-config/domain/cuc/stream[stream-id]/talker). docs/yang.md has the
//! mapping of every leaf.

use takt_scheduler::{Schedule, Which};

use super::out::J;
use super::rational::ns_to_rational;
use super::CNC_CONFIG;

/// 802.3 header (destination, source, EtherType), VLAN tag and FCS: the
/// framing max-frame-size leaves out (46.2.3.5.3 of 802.1Q-2022) and that
/// takt's frame_size (destination MAC through FCS, with the tag) counts.
pub const QCC_FRAMING_BYTES: u32 = 14 + 4 + 4;

/// What the schedule file does not say and the CNC wants.
#[derive(Clone, Debug, Default)]
pub struct TalkerOptions {
    /// The talker's MAC (stream-id, source-mac-address, end-station-interfaces).
    pub src_mac: Option<[u8; 6]>,
    /// The talker's interface name (end-station-interfaces).
    pub interface: Option<String>,
    /// time-aware jitter, ns.
    pub jitter_ns: u32,
    /// max-latency, ns; `None`: one cycle.
    pub max_latency_ns: Option<u64>,
    pub domain_id: String,
    pub cuc_id: String,
}

/// `aa-bb-cc-dd-ee-ff`, as the module's patterns write MACs (IEEE 802
/// canonical form: hyphens, upper case).
pub fn mac_text(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join("-")
}

/// A MAC from `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff`.
pub fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = text.split([':', '-']).collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return Err(format!(
            "\"{text}\" is not a MAC address: write six hex bytes, e.g. 00:1b:21:aa:bb:cc"
        ));
    }
    for (b, p) in mac.iter_mut().zip(&parts) {
        if p.len() != 2 {
            return Err(format!(
                "\"{text}\" is not a MAC address: each byte is two hex digits"
            ));
        }
        *b = u8::from_str_radix(p, 16)
            .map_err(|_| format!("\"{text}\" is not a MAC address: \"{p}\" is not hex"))?;
    }
    Ok(mac)
}

/// Stream ID (stream-id-type, `MAC:UU-UU`): the talker's MAC (all zeros
/// when not given) and the stream's position in the file as the 16-bit
/// unique ID, so the same file always gives the same IDs.
pub fn stream_id(src: Option<&[u8; 6]>, index: usize) -> Result<String, String> {
    let id =
        u16::try_from(index).map_err(|_| format!("stream {index}: more than 65536 streams"))?;
    Ok(format!(
        "{}:{:02X}-{:02X}",
        mac_text(src.unwrap_or(&[0; 6])),
        id >> 8,
        id & 0xff
    ))
}

/// The whole instance: every stream of `s` as one talker.
pub fn instance(s: &Schedule, o: &TalkerOptions) -> Result<J, String> {
    let mut streams = Vec::with_capacity(s.streams().len());
    for i in 0..s.streams().len() {
        streams.push(J::obj([
            ("stream-id", J::str(stream_id(o.src_mac.as_ref(), i)?)),
            ("talker", talker(s, i, o)?),
        ]));
    }
    let cuc = J::obj([
        ("cuc-id", J::str(o.cuc_id.clone())),
        ("stream", J::Arr(streams)),
    ]);
    let domain = J::obj([
        ("domain-id", J::str(o.domain_id.clone())),
        ("cuc", J::Arr(vec![cuc])),
    ]);
    Ok(J::Obj(vec![(
        format!("{CNC_CONFIG}:cnc-config"),
        J::obj([("domain", J::Arr(vec![domain]))]),
    )]))
}

fn talker(s: &Schedule, i: usize, o: &TalkerOptions) -> Result<J, String> {
    let st = &s.streams()[i];
    let name = &st.name;
    let cycle = s.oper().cycle_time_ns();
    let mut t = J::obj([("stream-rank", J::obj([("rank", J::Num(1))]))]);
    if let (Some(mac), Some(ifname)) = (&o.src_mac, &o.interface) {
        t.push(
            "end-station-interfaces",
            J::Arr(vec![J::obj([
                ("mac-address", J::str(mac_text(mac))),
                ("interface-name", J::str(ifname.clone())),
            ])]),
        );
    }
    let mut macs = J::obj([("destination-mac-address", J::str(mac_text(&st.dst_mac)))]);
    if let Some(src) = &o.src_mac {
        macs.push("source-mac-address", J::str(mac_text(src)));
    }
    t.push(
        "data-frame-specification",
        J::Arr(vec![
            J::obj([("index", J::Num(0)), ("ieee802-mac-addresses", macs)]),
            J::obj([
                ("index", J::Num(1)),
                (
                    "ieee802-vlan-tag",
                    J::obj([
                        ("priority-code-point", J::Num(st.pcp.into())),
                        ("vlan-id", J::Num(st.vlan_id.into())),
                    ]),
                ),
            ]),
        ]),
    );
    let (num, den) = ns_to_rational(cycle).ok_or_else(|| {
        format!("stream \"{name}\": the cycle time {cycle} ns does not fit interval's uint32 numerator/denominator")
    })?;
    let frames = u16::try_from(st.frames_per_cycle).map_err(|_| {
        format!(
            "stream \"{name}\": frames_per_cycle {} is more than max-frames-per-interval (uint16) holds",
            st.frames_per_cycle
        )
    })?;
    let size = st.frame_size.saturating_sub(QCC_FRAMING_BYTES);
    // The window of the stream's class that holds its frames (oper list):
    // the first frame may start at its opening at the earliest, and so late
    // that the last frame still leaves the wire before it closes.
    let w = s.stream_window_offsets(i, Which::Oper);
    let last = st
        .launch_offset_ns(st.frames_per_cycle.saturating_sub(1))
        .unwrap_or(st.offset_ns);
    let span = last - st.offset_ns + s.link().wire_time_ns(st.frame_size);
    let earliest = w.start_ns.min(st.offset_ns);
    let latest = w.end_ns.saturating_sub(span).max(st.offset_ns);
    let fit = |what: &str, v: u64| {
        u32::try_from(v)
            .map_err(|_| format!("stream \"{name}\": {what} {v} ns is more than uint32 ns holds"))
    };
    t.push(
        "traffic-specification",
        J::obj([
            (
                "interval",
                J::obj([
                    ("numerator", J::Num(num.into())),
                    ("denominator", J::Num(den.into())),
                ]),
            ),
            ("max-frames-per-interval", J::Num(frames.into())),
            ("max-frame-size", J::Num(size.into())),
            // Table 8-5: 0 = strict priority, the module's "no algorithm
            // known"; the time-aware container says the rest
            ("transmission-selection", J::Num(0)),
            (
                "time-aware",
                J::obj([
                    (
                        "earliest-transmit-offset",
                        J::Num(fit("earliest-transmit-offset", earliest)?.into()),
                    ),
                    (
                        "latest-transmit-offset",
                        J::Num(fit("latest-transmit-offset", latest)?.into()),
                    ),
                    ("jitter", J::Num(o.jitter_ns.into())),
                ]),
            ),
        ]),
    );
    let trees = if s.is_frer(i) {
        s.stream_ports(i).count().max(2)
    } else {
        1
    };
    let max_latency = o.max_latency_ns.unwrap_or(cycle);
    t.push(
        "user-to-network-requirements",
        J::obj([
            ("num-seamless-trees", J::Num(trees.into())),
            (
                "max-latency",
                J::Num(fit("max-latency", max_latency)?.into()),
            ),
        ]),
    );
    t.push(
        "interface-capabilities",
        J::obj([("vlan-tag-capable", J::Bool(true))]),
    );
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_and_macs_in_the_module_form() {
        assert_eq!(stream_id(None, 0).unwrap(), "00-00-00-00-00-00:00-00");
        let m = parse_mac("00:1b:21:aa:bb:cc").unwrap();
        assert_eq!(stream_id(Some(&m), 258).unwrap(), "00-1B-21-AA-BB-CC:01-02");
        assert!(stream_id(None, 70_000).is_err());
        assert!(parse_mac("00:1b:21:aa:bb").is_err());
        assert!(parse_mac("00:1b:21:aa:bb:zz").is_err());
        assert!(parse_mac("00:1b:21:aa:bb:ccc").is_err());
    }
}
