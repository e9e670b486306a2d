//! A tiny generic-netlink client for `takt doctor`: resolve a family by
//! name (nlctrl), send one GET, read the reply's attributes. Hand-written
//! messages over netlink-sys's safe socket, so no `unsafe` in tools/. Only
//! flat attributes are read back; what a reply holds that we do not know
//! is skipped, and every length is checked before it is used.

use netlink_sys::{constants::NETLINK_GENERIC, Socket, SocketAddr};
use std::io;
use std::time::Duration;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
/// NLA_F_NESTED | NLA_F_NET_BYTEORDER.
const NLA_FLAGS: u16 = 0xc000;
pub const NLA_F_NESTED: u16 = 0x8000;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;

/// One attribute of a reply: its type (flags masked off) and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub kind: u16,
    pub value: Vec<u8>,
}

impl Attr {
    pub fn u8(&self) -> Option<u8> {
        self.value.first().copied()
    }
    pub fn u16(&self) -> Option<u16> {
        Some(u16::from_ne_bytes(self.value.get(..2)?.try_into().ok()?))
    }
    pub fn u32(&self) -> Option<u32> {
        Some(u32::from_ne_bytes(self.value.get(..4)?.try_into().ok()?))
    }
    pub fn u64(&self) -> Option<u64> {
        Some(u64::from_ne_bytes(self.value.get(..8)?.try_into().ok()?))
    }
}

/// Append attribute `kind` with `value` (padded to 4 bytes) to `out`.
pub fn put_attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + ((4 - len % 4) % 4), 0);
}

/// The attributes in `bytes` (a run of netlink attributes); a malformed
/// tail ends the list.
pub fn parse_attrs(mut bytes: &[u8]) -> Vec<Attr> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([bytes[0], bytes[1]]));
        let kind = u16::from_ne_bytes([bytes[2], bytes[3]]) & !NLA_FLAGS;
        if len < 4 || len > bytes.len() {
            break;
        }
        out.push(Attr {
            kind,
            value: bytes[4..len].to_vec(),
        });
        let padded = (len + 3) & !3;
        bytes = &bytes[padded.min(bytes.len())..];
    }
    out
}

/// What one request got back.
#[derive(Debug)]
pub enum Reply {
    /// The attributes of the (first) answer.
    Attrs(Vec<Attr>),
    /// The kernel refused: errno (positive), e.g. EOPNOTSUPP, ENODEV.
    Errno(i32),
}

/// Read a datagram of netlink messages for sequence `seq`: the first
/// message of `family` gives its attributes, an error message its errno.
pub fn parse_reply(buf: &[u8], family: u16, seq: u32) -> Option<Reply> {
    let mut rest = buf;
    while rest.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes(rest[0..4].try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        let mseq = u32::from_ne_bytes(rest[8..12].try_into().ok()?);
        if len < NLMSG_HDRLEN || len > rest.len() {
            return None;
        }
        let body = &rest[NLMSG_HDRLEN..len];
        if mseq == seq {
            if kind == NLMSG_ERROR && body.len() >= 4 {
                let code = i32::from_ne_bytes(body[0..4].try_into().ok()?);
                if code != 0 {
                    return Some(Reply::Errno(code.saturating_neg()));
                }
            } else if kind == family && body.len() >= GENL_HDRLEN {
                return Some(Reply::Attrs(parse_attrs(&body[GENL_HDRLEN..])));
            } else if kind == NLMSG_DONE {
                return None;
            }
        }
        rest = &rest[((len + 3) & !3).min(rest.len())..];
    }
    None
}

/// A generic netlink socket, with a receive timeout so a silent kernel
/// cannot hang the doctor.
pub struct Genl {
    sock: Socket,
    seq: u32,
}

impl Genl {
    pub fn open() -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_GENERIC)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        let tv = nix::sys::time::TimeVal::new(1, 0);
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::ReceiveTimeout, &tv)
            .map_err(io::Error::from)?;
        Ok(Genl { sock, seq: 1 })
    }

    /// Send command `cmd` with `attrs` to `family` and wait for its answer.
    pub fn request(&mut self, family: u16, cmd: u8, attrs: &[u8]) -> io::Result<Reply> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let len = NLMSG_HDRLEN + GENL_HDRLEN + attrs.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&family.to_ne_bytes());
        msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&[cmd, 1, 0, 0]);
        msg.extend_from_slice(attrs);
        self.sock.send(&msg, 0)?;
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            let mut buf = Vec::with_capacity(65536);
            self.sock.recv(&mut buf, 0)?;
            if let Some(r) = parse_reply(&buf, family, seq) {
                return Ok(r);
            }
        }
        Err(io::Error::new(io::ErrorKind::TimedOut, "no netlink answer"))
    }

    /// The id of generic netlink family `name`; `Ok(None)` when this
    /// kernel has none (e.g. no "netdev" before Linux 6.3).
    pub fn family(&mut self, name: &str) -> io::Result<Option<u16>> {
        let mut attrs = Vec::new();
        let mut z = name.as_bytes().to_vec();
        z.push(0);
        put_attr(&mut attrs, CTRL_ATTR_FAMILY_NAME, &z);
        match self.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, &attrs)? {
            Reply::Attrs(a) => Ok(a
                .iter()
                .find(|a| a.kind == CTRL_ATTR_FAMILY_ID)
                .and_then(Attr::u16)),
            Reply::Errno(_) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_and_bad_lengths_stop() {
        let mut b = Vec::new();
        put_attr(&mut b, 3, &7u64.to_ne_bytes());
        put_attr(&mut b, 2 | NLA_F_NESTED, b"lo\0");
        put_attr(&mut b, 6, &4u64.to_ne_bytes());
        let a = parse_attrs(&b);
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].u64(), Some(7));
        assert_eq!(a[1].kind, 2);
        assert_eq!(a[2].u64(), Some(4));
        // A length past the end ends the list instead of reading beyond it.
        let mut bad = b.clone();
        bad[0] = 200;
        assert!(parse_attrs(&bad).is_empty());
        assert_eq!(a[1].u64(), None, "3 bytes are no u64");
    }

    #[test]
    fn an_error_message_gives_its_errno() {
        let mut m = Vec::new();
        m.extend_from_slice(&36u32.to_ne_bytes());
        m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&9u32.to_ne_bytes());
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(&(-95i32).to_ne_bytes());
        m.extend_from_slice(&[0; 16]);
        assert!(matches!(parse_reply(&m, 30, 9), Some(Reply::Errno(95))));
        assert!(parse_reply(&m, 30, 8).is_none(), "another sequence");
        assert!(parse_reply(&m[..20], 30, 9).is_none(), "truncated");
    }
}
