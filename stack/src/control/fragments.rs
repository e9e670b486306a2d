//! The service's look at IPv4 fragments before smoltcp reassembles them:
//! a request's first fragment carries the UDP header, whose length field
//! gives the whole datagram's size. One over the accepted size is answered
//! at once (the service's error) and its fragments are dropped here, so
//! they never hold one of smoltcp's few reassembly buffers. Pure: frame
//! bytes in, a decision out; fixed memory.

use smoltcp::wire::{IpEndpoint, Ipv4Address};

/// How long the fragments of a refused datagram are dropped after its
/// first one (as long as smoltcp keeps a partial datagram).
pub const BLOCK_NS: u64 = super::REASSEMBLY_TIMEOUT_NS;
/// Refused datagrams whose later fragments are remembered at once.
const BLOCKED: usize = 4;

/// What to do with a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to smoltcp.
    Pass,
    /// The first fragment of a request of `len` payload bytes, more than
    /// the service takes: answer `from` with the error, drop the frame.
    Oversize { from: IpEndpoint, len: usize },
    /// A later fragment of a datagram refused by its first: drop it.
    Drop,
}

/// Datagrams refused by their first fragment, by (source, IP id).
#[derive(Clone, Copy, Debug, Default)]
pub struct Screen {
    blocked: [(u32, u16, u64); BLOCKED],
    next: usize,
}

impl Screen {
    /// Judge `frame` (Ethernet, untagged) received at `now_ns` by the
    /// service at `own:port`, which takes requests of up to `max` bytes.
    pub fn judge(
        &mut self,
        frame: &[u8],
        own: Ipv4Address,
        port: u16,
        max: usize,
        now_ns: u64,
    ) -> Verdict {
        let Some(ip) = frame.get(14..) else {
            return Verdict::Pass;
        };
        if frame[12..14] != [0x08, 0x00] || ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 17 {
            return Verdict::Pass;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let flags = u16::from_be_bytes([ip[6], ip[7]]);
        let (more, offset) = (flags & 0x2000 != 0, flags & 0x1fff);
        if !more && offset == 0 {
            return Verdict::Pass; // not a fragment
        }
        let src = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]);
        let id = u16::from_be_bytes([ip[4], ip[5]]);
        let dst = Ipv4Address::new(ip[16], ip[17], ip[18], ip[19]);
        if dst != own {
            return Verdict::Pass;
        }
        if offset != 0 {
            let hit = self
                .blocked
                .iter()
                .any(|&(s, i, until)| s == src && i == id && now_ns <= until);
            return if hit { Verdict::Drop } else { Verdict::Pass };
        }
        let Some(udp) = ip.get(ihl.max(20)..ihl.max(20) + 8) else {
            return Verdict::Pass;
        };
        let dport = u16::from_be_bytes([udp[2], udp[3]]);
        let len = usize::from(u16::from_be_bytes([udp[4], udp[5]])).saturating_sub(8);
        if dport != port || len <= max {
            return Verdict::Pass;
        }
        self.blocked[self.next] = (src, id, now_ns.saturating_add(BLOCK_NS));
        self.next = (self.next + 1) % BLOCKED;
        let sport = u16::from_be_bytes([udp[0], udp[1]]);
        Verdict::Oversize {
            from: IpEndpoint::new(Ipv4Address::from_bits(src).into(), sport),
            len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);

    fn frag(offset_units: u16, more: bool, udp_len: u16, dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut f[14..];
        ip[0] = 0x45;
        ip[4..6].copy_from_slice(&77u16.to_be_bytes());
        let flags = offset_units | if more { 0x2000 } else { 0 };
        ip[6..8].copy_from_slice(&flags.to_be_bytes());
        ip[9] = 17;
        ip[12..16].copy_from_slice(&[10, 0, 0, 2]);
        ip[16..20].copy_from_slice(&OWN.octets());
        ip[20..22].copy_from_slice(&5555u16.to_be_bytes());
        ip[22..24].copy_from_slice(&dport.to_be_bytes());
        ip[24..26].copy_from_slice(&udp_len.to_be_bytes());
        f
    }

    #[test]
    fn an_oversize_first_fragment_is_refused_and_its_followers_dropped() {
        let mut s = Screen::default();
        let v = s.judge(&frag(0, true, 20_008, 9700), OWN, 9700, 8192, 0);
        assert_eq!(
            v,
            Verdict::Oversize {
                from: IpEndpoint::new(Ipv4Address::new(10, 0, 0, 2).into(), 5555),
                len: 20_000
            }
        );
        assert_eq!(
            s.judge(&frag(185, true, 0, 0), OWN, 9700, 8192, 1),
            Verdict::Drop
        );
        assert_eq!(
            s.judge(&frag(370, false, 0, 0), OWN, 9700, 8192, 1),
            Verdict::Drop
        );
        assert_eq!(
            s.judge(&frag(370, false, 0, 0), OWN, 9700, 8192, BLOCK_NS + 1),
            Verdict::Pass,
            "forgotten after the reassembly timeout"
        );
    }

    #[test]
    fn requests_that_fit_other_ports_and_whole_datagrams_pass() {
        let mut s = Screen::default();
        for f in [
            frag(0, true, 8200, 9700),
            frag(0, true, 20_008, 9701),
            frag(0, false, 20_008, 9700),
            frag(185, true, 0, 0),
        ] {
            assert_eq!(s.judge(&f, OWN, 9700, 8192, 0), Verdict::Pass);
        }
        assert_eq!(
            s.judge(
                &frag(0, true, 20_008, 9700),
                Ipv4Address::new(10, 0, 0, 9),
                9700,
                8192,
                0
            ),
            Verdict::Pass,
            "not for this address"
        );
        assert_eq!(
            s.judge(&[0u8; 20], OWN, 9700, 8192, 0),
            Verdict::Pass,
            "runt"
        );
    }
}
