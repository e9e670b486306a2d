//! Authenticated requests: a pre-shared key, HMAC-SHA256 over the request,
//! and a counter that must grow (docs/control-plane.md, "Authentication").
//!
//! A signed request is one line `auth COUNTER MAC` and then the request
//! itself (`schedule\n<TOML>`). `MAC` is 64 lower-case hex digits of
//! HMAC-SHA256(key, "takt-control-1\n" ADDR ":" PORT "\n" COUNTER "\n"
//! REQUEST), where ADDR:PORT is the service's address as the client sent
//! to it (decimal, e.g. `10.77.0.1:9700`) and COUNTER is the same decimal
//! number as on the first line: nanoseconds since the Unix epoch at
//! signing. Binding the address keeps a datagram signed for one talker from
//! being replayed to another that shares the key. Nothing here allocates.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Read;
use std::net::Ipv4Addr;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

type HmacSha256 = Hmac<Sha256>;

/// What the signed text starts with: a new format gets a new tag.
const DOMAIN: &[u8] = b"takt-control-1\n";
/// The first word of a signed request.
pub const AUTH_WORD: &str = "auth";
/// The longest `auth` line: the word, a 20-digit counter, the tag in hex,
/// two spaces and the newline.
pub const HEADER_MAX_BYTES: usize = AUTH_WORD.len() + 20 + 2 * MAC_BYTES + 3;
/// Bytes of an HMAC-SHA256 tag.
pub const MAC_BYTES: usize = 32;
/// Shortest key accepted (bytes after trimming whitespace): 128 bits.
pub const MIN_KEY_BYTES: usize = 16;
/// Longest key file read.
pub const MAX_KEY_BYTES: usize = 1024;
/// A signature this far from the service's clock (either way) is refused:
/// the client's and the service's CLOCK_REALTIME must agree this well.
pub const WINDOW_NS: u64 = 30_000_000_000;

/// A pre-shared key, read once at start-up.
#[derive(Clone)]
pub struct Key {
    bytes: heapless::Vec<u8, MAX_KEY_BYTES>,
}

/// Equal keys (constant time is not needed: keys are compared only when
/// settings are, never against a request).
impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Key {}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({} bytes)", self.bytes.len())
    }
}

impl Key {
    /// A key from bytes (surrounding ASCII whitespace trimmed); `None`
    /// when shorter than [`MIN_KEY_BYTES`] or longer than [`MAX_KEY_BYTES`].
    pub fn from_bytes(b: &[u8]) -> Option<Key> {
        let b = b.trim_ascii();
        if b.len() < MIN_KEY_BYTES {
            return None;
        }
        heapless::Vec::from_slice(b).ok().map(|bytes| Key { bytes })
    }

    fn mac(&self, to: Ipv4Addr, port: u16, counter: u64, request: &[u8]) -> HmacSha256 {
        // Any key length is valid for HMAC: cannot fail.
        let mut m = HmacSha256::new_from_slice(&self.bytes).expect("HMAC takes any key length");
        let mut num = NumBuf::default();
        m.update(DOMAIN);
        for (i, o) in to.octets().into_iter().enumerate() {
            if i > 0 {
                m.update(b".");
            }
            m.update(num.format(u64::from(o)));
        }
        m.update(b":");
        m.update(num.format(u64::from(port)));
        m.update(b"\n");
        m.update(num.format(counter));
        m.update(b"\n");
        m.update(request);
        m
    }

    /// The tag of `request` sent to `to:port` with `counter`.
    pub fn sign(&self, to: Ipv4Addr, port: u16, counter: u64, request: &[u8]) -> [u8; MAC_BYTES] {
        self.mac(to, port, counter, request)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Whether `tag` is the tag of `request` (compared in constant time).
    pub fn verify(
        &self,
        to: Ipv4Addr,
        port: u16,
        counter: u64,
        request: &[u8],
        tag: &[u8; MAC_BYTES],
    ) -> bool {
        self.mac(to, port, counter, request)
            .verify_slice(tag)
            .is_ok()
    }
}

/// Why a key file cannot be used (the message names the file and the fix).
pub fn load_key(path: &Path) -> Result<Key, String> {
    let p = path.display();
    // O_NOFOLLOW: the file checked is the file read.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("key_file {p}: cannot open it: {e}"))?;
    let meta = f
        .metadata()
        .map_err(|e| format!("key_file {p}: cannot read its permissions: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "key_file {p} is not a regular file: give a file holding the key"
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "key_file {p} can be read or written by others (mode {:04o}): make it private to its owner, e.g. chmod 600 {p}",
            meta.mode() & 0o7777
        ));
    }
    let mut buf = [0u8; MAX_KEY_BYTES + 1];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("key_file {p}: cannot read it: {e}")),
        }
    }
    if n > MAX_KEY_BYTES {
        return Err(format!("key_file {p} is longer than {MAX_KEY_BYTES} bytes: a key of 32 random bytes is enough, e.g. head -c 32 /dev/urandom | base64 > {p}"));
    }
    Key::from_bytes(&buf[..n]).ok_or_else(|| {
        format!("key_file {p} holds less than {MIN_KEY_BYTES} bytes: give a longer key, e.g. head -c 32 /dev/urandom | base64 > {p}")
    })
}

/// A signed request taken apart: its counter, tag and the request inside.
pub struct Signed<'a> {
    pub counter: u64,
    pub tag: [u8; MAC_BYTES],
    pub request: &'a [u8],
}

/// Split `auth COUNTER MAC\n<request>`; `None` when the first line is not
/// exactly that (a request that does not start with `auth` is not signed:
/// the caller checks the word first).
pub fn parse(datagram: &[u8]) -> Option<Signed<'_>> {
    let nl = datagram.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&datagram[..nl]).ok()?;
    let mut words = line.split(' ');
    if words.next()? != AUTH_WORD {
        return None;
    }
    let counter = words.next()?;
    let hex = words.next()?;
    if words.next().is_some()
        || counter.is_empty()
        || counter.len() > 20
        || !counter.bytes().all(|b| b.is_ascii_digit())
        || hex.len() != 2 * MAC_BYTES
    {
        return None;
    }
    let counter: u64 = counter.parse().ok()?;
    let mut tag = [0u8; MAC_BYTES];
    for (i, t) in tag.iter_mut().enumerate() {
        *t = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(Signed {
        counter,
        tag,
        request: &datagram[nl + 1..],
    })
}

/// `auth COUNTER MAC\n` + `request` (the client's side; allocates).
pub fn signed_request(key: &Key, to: Ipv4Addr, port: u16, counter: u64, request: &[u8]) -> Vec<u8> {
    let tag = key.sign(to, port, counter, request);
    let mut out = format!("{AUTH_WORD} {counter} ").into_bytes();
    for b in tag {
        out.extend_from_slice(format!("{b:02x}").as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(request);
    out
}

/// Why a correctly signed request is still refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stale {
    /// Its counter is not above the last one accepted (a replay).
    Replayed,
    /// Its counter is more than [`WINDOW_NS`] from the service's clock.
    OutOfWindow,
}

/// The counters seen: each signed request's must be above the last one
/// accepted, and near the service's clock. It starts at the service's
/// start, so a datagram signed before a restart cannot be replayed after.
#[derive(Clone, Copy, Debug)]
pub struct ReplayGuard {
    last: u64,
}

impl ReplayGuard {
    pub fn new(start_ns: u64) -> Self {
        ReplayGuard { last: start_ns }
    }

    /// Take `counter` at `now_ns` (both ns since the Unix epoch).
    pub fn check(&mut self, counter: u64, now_ns: u64) -> Result<(), Stale> {
        if counter <= self.last {
            return Err(Stale::Replayed);
        }
        if counter.abs_diff(now_ns) > WINDOW_NS {
            return Err(Stale::OutOfWindow);
        }
        self.last = counter;
        Ok(())
    }
}

/// CLOCK_REALTIME in ns since the Unix epoch (0 before it).
pub fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Decimal digits of a u64 without allocating.
#[derive(Default)]
struct NumBuf([u8; 20]);

impl NumBuf {
    fn format(&mut self, mut v: u64) -> &[u8] {
        let mut i = self.0.len();
        loop {
            i -= 1;
            self.0[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        &self.0[i..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::from_bytes(b"0123456789abcdef0123\n").unwrap()
    }

    #[test]
    fn a_signed_request_verifies_only_unchanged_and_for_its_address() {
        let to = Ipv4Addr::new(10, 77, 0, 1);
        let d = signed_request(&key(), to, 9700, 42, b"schedule\nx = 1");
        let s = parse(&d).unwrap();
        assert_eq!((s.counter, s.request), (42, &b"schedule\nx = 1"[..]));
        assert!(key().verify(to, 9700, 42, s.request, &s.tag));
        assert!(!key().verify(to, 9700, 43, s.request, &s.tag), "counter");
        assert!(!key().verify(to, 9701, 42, s.request, &s.tag), "port");
        assert!(!key().verify(Ipv4Addr::new(10, 77, 0, 2), 9700, 42, s.request, &s.tag));
        assert!(
            !key().verify(to, 9700, 42, b"schedule\nx = 2", &s.tag),
            "body"
        );
        let other = Key::from_bytes(b"another key of 16+ bytes").unwrap();
        assert!(!other.verify(to, 9700, 42, s.request, &s.tag), "key");
    }

    #[test]
    fn the_mac_is_hmac_sha256_of_the_documented_text() {
        // The text as docs/control-plane.md writes it out, MACed in one go.
        let k = key();
        let text = b"takt-control-1\n10.77.0.1:9700\n7\nstatus";
        let mut m = HmacSha256::new_from_slice(b"0123456789abcdef0123").unwrap();
        m.update(text);
        let want: [u8; 32] = m.finalize().into_bytes().into();
        assert_eq!(
            k.sign(Ipv4Addr::new(10, 77, 0, 1), 9700, 7, b"status"),
            want
        );
    }

    #[test]
    fn malformed_auth_lines_are_not_signed_requests() {
        let h = "ab".repeat(32);
        for bad in [
            "auth 1\nstatus".to_string(),
            format!("auth x {h}\nstatus"),
            format!("auth 1 {h} extra\nstatus"),
            format!("auth 1 {}\nstatus", &h[..62]),
            format!("auth 1 {}zz\nstatus", &h[..62]),
            format!("auth 99999999999999999999999 {h}\nstatus"),
            format!("auth 1 {h}"),
            format!("sign 1 {h}\nstatus"),
        ] {
            assert!(parse(bad.as_bytes()).is_none(), "{bad}");
        }
        assert!(parse(format!("auth 1 {h}\n").as_bytes()).is_some());
    }

    #[test]
    fn counters_must_grow_and_stay_near_the_clock() {
        let now = 1_000 * WINDOW_NS;
        let mut g = ReplayGuard::new(now - 1);
        assert_eq!(
            g.check(now - 1, now),
            Err(Stale::Replayed),
            "signed before start"
        );
        assert_eq!(g.check(now + 5, now), Ok(()));
        assert_eq!(
            g.check(now + 5, now),
            Err(Stale::Replayed),
            "the same again"
        );
        assert_eq!(g.check(now + 4, now), Err(Stale::Replayed));
        assert_eq!(g.check(now + WINDOW_NS + 1, now), Err(Stale::OutOfWindow));
        assert_eq!(g.check(now + 6, now), Ok(()));
    }

    #[test]
    fn keys_are_trimmed_and_at_least_16_bytes() {
        assert!(Key::from_bytes(b"  short  ").is_none());
        assert!(Key::from_bytes(&[b'k'; MAX_KEY_BYTES + 1]).is_none());
        let mut n = NumBuf::default();
        assert_eq!(n.format(0), b"0");
        assert_eq!(n.format(u64::MAX), b"18446744073709551615");
    }

    #[test]
    fn key_files_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("takt-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("key");
        std::fs::write(&p, "0123456789abcdef0123\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = load_key(&p).unwrap_err();
        assert!(e.contains("chmod 600") && e.contains("0640"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load_key(&p).is_ok());
        std::fs::write(&p, "short").unwrap();
        assert!(load_key(&p).unwrap_err().contains("less than 16"));
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(load_key(&link).unwrap_err().contains("cannot open"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
