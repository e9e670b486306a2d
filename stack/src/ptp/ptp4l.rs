//! A client of ptp4l's management socket: what `pmc -u -b 0` does, in
//! process. Requests go from a Unix datagram socket of takt's own (bound
//! to a unique path, removed on drop) to ptp4l's `uds_address`; answers
//! are matched by sequence id, and stale or malformed ones are counted and
//! passed over.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::pmc::{
    self, Body, ClockIdentity, CurrentDataSet, DefaultDataSet, ManagementError, ManagementId,
    PmcError, PortDataSet, PortIdentity, PortPropertiesNp, Requester, Response, TimeStatusNp,
};

/// ptp4l's `uds_address` unless its configuration says otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/ptp4l";

/// What ptp4l's configurations use: 0 (IEEE 1588) and 1 (gPTP.cfg).
const PROBED_TRANSPORT_SPECIFIC: [u8; 2] = [0, 1];

/// Receive buffer: larger than any message ptp4l sends, so a datagram
/// that fills it was cut short.
const RECV_LEN: usize = 2048;

/// Own socket names within this process.
static NEXT_SOCKET: AtomicU32 = AtomicU32::new(0);

/// How to reach ptp4l.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ptp4lOptions {
    /// ptp4l's `domainNumber` (it ignores requests of another domain).
    pub domain: u8,
    /// ptp4l's `transportSpecific`; `None`: try 0 and 1 and keep the one
    /// answered.
    pub transport_specific: Option<u8>,
    /// How long to wait for an answer.
    pub timeout: Duration,
}

impl Default for Ptp4lOptions {
    fn default() -> Self {
        Ptp4lOptions {
            domain: 0,
            transport_specific: None,
            timeout: Duration::from_secs(1),
        }
    }
}

/// Talking to ptp4l failed; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum Ptp4lError {
    #[error(
        "ptp4l is not running ({detail} {path}): start it, e.g. \
         `ptp4l -i eth0 -f /usr/share/doc/linuxptp/configs/gPTP.cfg`, or give --ptp4l-socket \
         (ptp4l's uds_address)"
    )]
    NotRunning { path: PathBuf, detail: &'static str },
    #[error(
        "no permission to send to ptp4l's management socket {path}: run as root \
         (the socket belongs to the user running ptp4l)"
    )]
    PermissionDenied { path: PathBuf },
    #[error(
        "ptp4l at {path} did not answer GET {id} within {} ms{rejected}: if it runs, check that \
         its domainNumber is {domain} and its transportSpecific is {transport_specific} \
         (it ignores requests that differ)", timeout.as_millis()
    )]
    NoAnswer {
        path: PathBuf,
        id: ManagementId,
        timeout: Duration,
        domain: u8,
        /// The values tried, e.g. "0 or 1".
        transport_specific: String,
        /// Empty, or what was received and refused.
        rejected: Rejected,
    },
    #[error("ptp4l at {path} refused GET {id}: {error}")]
    Refused {
        path: PathBuf,
        id: ManagementId,
        error: ManagementError,
    },
    #[error(
        "cannot bind takt's own management socket {path}: {source} (it needs a writable \
         directory: /var/run as root, else the temp directory)"
    )]
    Bind { path: PathBuf, source: io::Error },
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
}

/// Answers refused while waiting (malformed datagrams), for a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rejected {
    pub count: u64,
    pub last: Option<PmcError>,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.last {
            Some(e) if self.count > 0 => {
                write!(
                    f,
                    " ({} malformed answers refused, the last: {e})",
                    self.count
                )
            }
            _ => Ok(()),
        }
    }
}

/// One ptp4l's management socket, from a socket of takt's own.
#[derive(Debug)]
pub struct Ptp4lClient {
    sock: UnixDatagram,
    own: PathBuf,
    server: PathBuf,
    requester: Requester,
    /// Whether `requester.transport_specific` is known (given or answered).
    transport_known: bool,
    timeout: Duration,
    sequence: u16,
    default_ds: DefaultDataSet,
    buf: Box<[u8; RECV_LEN]>,
    rejected: u64,
    last_rejection: Option<PmcError>,
    stale: u64,
}

impl Ptp4lClient {
    /// Connect to ptp4l at `server` with the default options (domain 0,
    /// transportSpecific 0 or 1, 1 s timeout). Asks for DEFAULT_DATA_SET
    /// at once, so an `Ok` means ptp4l answers.
    pub fn connect(server: &Path) -> Result<Self, Ptp4lError> {
        Self::connect_with(server, &Ptp4lOptions::default())
    }

    pub fn connect_with(server: &Path, opts: &Ptp4lOptions) -> Result<Self, Ptp4lError> {
        let (sock, own) = bind_own()?;
        let mut client = Ptp4lClient {
            sock,
            own,
            server: server.to_path_buf(),
            requester: Requester {
                // As pmc on a Unix socket: no clock identity, the pid.
                source: PortIdentity {
                    clock: ClockIdentity([0; 8]),
                    port: std::process::id() as u16,
                },
                domain: opts.domain,
                transport_specific: opts.transport_specific.unwrap_or(0),
                boundary_hops: 0,
            },
            transport_known: opts.transport_specific.is_some(),
            timeout: opts.timeout,
            sequence: 0,
            default_ds: DefaultDataSet {
                two_step: false,
                slave_only: false,
                number_ports: 0,
                priority1: 0,
                clock_class: 0,
                priority2: 0,
                clock_identity: ClockIdentity::default(),
                domain: 0,
            },
            buf: Box::new([0; RECV_LEN]),
            rejected: 0,
            last_rejection: None,
            stale: 0,
        };
        client.default_ds = client.default_data_set()?;
        Ok(client)
    }

    pub fn server(&self) -> &Path {
        &self.server
    }

    /// takt's own socket path.
    pub fn own_path(&self) -> &Path {
        &self.own
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// ptp4l's clock identity and port count, as read at connect.
    pub fn clock(&self) -> &DefaultDataSet {
        &self.default_ds
    }

    /// The transportSpecific ptp4l answers to.
    pub fn transport_specific(&self) -> u8 {
        self.requester.transport_specific
    }

    /// Datagrams refused as malformed so far.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Answers to an earlier request (or of another id) passed over.
    pub fn stale(&self) -> u64 {
        self.stale
    }

    /// GET `id` from every port (and the clock): all answers, in arrival
    /// order. Waits for one answer from the clock, or one per port for a
    /// per-port id (or an error status), at most the timeout.
    pub fn get(&mut self, id: ManagementId) -> Result<Vec<Response>, Ptp4lError> {
        let tries: &[u8] = if self.transport_known {
            &[self.requester.transport_specific]
        } else {
            &PROBED_TRANSPORT_SPECIFIC
        };
        // One request per transportSpecific tried, each its own sequence id.
        let mut sent = [(0u16, 0u8); PROBED_TRANSPORT_SPECIFIC.len()];
        for (slot, &ts) in sent.iter_mut().zip(tries) {
            let seq = self.sequence;
            self.sequence = self.sequence.wrapping_add(1);
            self.send(seq, id, ts)?;
            *slot = (seq, ts);
        }
        let sent = &sent[..tries.len()];
        let expected = if id.per_port() {
            usize::from(self.default_ds.number_ports.max(1))
        } else {
            1
        };
        let deadline = Instant::now() + self.timeout;
        let mut answers = Vec::new();
        let mut rejected = Rejected::default();
        while answers.len() < expected {
            let Some(n) = self.recv_until(deadline)? else {
                break;
            };
            if n >= RECV_LEN {
                self.reject(&mut rejected, PmcError::TooLong { max: RECV_LEN - 1 });
                continue;
            }
            let r = match pmc::parse_response(&self.buf[..n]) {
                Ok(r) => r,
                Err(e) => {
                    self.reject(&mut rejected, e);
                    continue;
                }
            };
            let ours = sent.iter().find(|(seq, _)| *seq == r.sequence_id);
            let Some(&(_, ts)) =
                ours.filter(|_| r.target == self.requester.source && r.body.id_code() == id.code())
            else {
                self.stale += 1;
                continue;
            };
            if answers.is_empty() && !self.transport_known {
                self.requester.transport_specific = ts;
                self.transport_known = true;
            }
            if ts != self.requester.transport_specific {
                // The other probe answered too (ignore_transport_specific).
                self.stale += 1;
                continue;
            }
            let refused = matches!(r.body, Body::Error { .. });
            answers.push(r);
            if refused {
                break;
            }
        }
        if answers.is_empty() {
            let tried: Vec<String> = tries.iter().map(u8::to_string).collect();
            return Err(Ptp4lError::NoAnswer {
                path: self.server.clone(),
                id,
                timeout: self.timeout,
                domain: self.requester.domain,
                transport_specific: tried.join(" or "),
                rejected,
            });
        }
        Ok(answers)
    }

    /// DEFAULT_DATA_SET of the clock.
    pub fn default_data_set(&mut self) -> Result<DefaultDataSet, Ptp4lError> {
        let id = ManagementId::DefaultDataSet;
        self.one(id, |b| match b {
            Body::DefaultDataSet(d) => Some(d),
            _ => None,
        })
    }

    /// PORT_DATA_SET of every port.
    pub fn port_data_sets(&mut self) -> Result<Vec<PortDataSet>, Ptp4lError> {
        self.each(ManagementId::PortDataSet, |b| match b {
            Body::PortDataSet(p) => Some(p),
            _ => None,
        })
    }

    /// PORT_PROPERTIES_NP of every port.
    pub fn port_properties(&mut self) -> Result<Vec<PortPropertiesNp>, Ptp4lError> {
        self.each(ManagementId::PortPropertiesNp, |b| match b {
            Body::PortPropertiesNp(p) => Some(p),
            _ => None,
        })
    }

    /// TIME_STATUS_NP of the clock.
    pub fn time_status(&mut self) -> Result<TimeStatusNp, Ptp4lError> {
        self.one(ManagementId::TimeStatusNp, |b| match b {
            Body::TimeStatusNp(t) => Some(t),
            _ => None,
        })
    }

    /// CURRENT_DATA_SET of the clock.
    pub fn current_data_set(&mut self) -> Result<CurrentDataSet, Ptp4lError> {
        self.one(ManagementId::CurrentDataSet, |b| match b {
            Body::CurrentDataSet(c) => Some(c),
            _ => None,
        })
    }

    fn each<T>(
        &mut self,
        id: ManagementId,
        pick: impl Fn(Body) -> Option<T>,
    ) -> Result<Vec<T>, Ptp4lError> {
        let mut out = Vec::new();
        for r in self.get(id)? {
            if let Body::Error { error, .. } = r.body {
                return Err(Ptp4lError::Refused {
                    path: self.server.clone(),
                    id,
                    error,
                });
            }
            out.extend(pick(r.body));
        }
        Ok(out)
    }

    fn one<T>(
        &mut self,
        id: ManagementId,
        pick: impl Fn(Body) -> Option<T>,
    ) -> Result<T, Ptp4lError> {
        let timeout = self.timeout;
        let mut all = self.each(id, pick)?;
        // get() only returns with an answer, and the id matched.
        all.pop().ok_or(Ptp4lError::NoAnswer {
            path: self.server.clone(),
            id,
            timeout,
            domain: self.requester.domain,
            transport_specific: self.requester.transport_specific.to_string(),
            rejected: Rejected::default(),
        })
    }

    fn reject(&mut self, rejected: &mut Rejected, e: PmcError) {
        self.rejected += 1;
        self.last_rejection = Some(e);
        rejected.count += 1;
        rejected.last = Some(e);
    }

    fn send(&mut self, seq: u16, id: ManagementId, ts: u8) -> Result<(), Ptp4lError> {
        let mut msg = [0u8; 128];
        let from = Requester {
            transport_specific: ts,
            ..self.requester
        };
        let n = pmc::build_get(&mut msg, seq, id, &from).map_err(|e| Ptp4lError::Io {
            what: format!("building GET {id}"),
            source: io::Error::other(e),
        })?;
        self.sock
            .set_write_timeout(Some(self.timeout.max(Duration::from_millis(1))))
            .map_err(|e| self.io("setting the send timeout", e))?;
        match self.sock.send_to(&msg[..n], &self.server) {
            Ok(_) => Ok(()),
            Err(e) => Err(match e.kind() {
                io::ErrorKind::NotFound => Ptp4lError::NotRunning {
                    path: self.server.clone(),
                    detail: "no management socket at",
                },
                io::ErrorKind::ConnectionRefused => Ptp4lError::NotRunning {
                    path: self.server.clone(),
                    detail: "nothing listens on the management socket",
                },
                io::ErrorKind::PermissionDenied => Ptp4lError::PermissionDenied {
                    path: self.server.clone(),
                },
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ptp4lError::NoAnswer {
                    path: self.server.clone(),
                    id,
                    timeout: self.timeout,
                    domain: self.requester.domain,
                    transport_specific: ts.to_string(),
                    rejected: Rejected::default(),
                },
                _ => self.io(&format!("sending GET {id}"), e),
            }),
        }
    }

    /// One datagram into `buf` (its length), or `None` at the deadline.
    fn recv_until(&mut self, deadline: Instant) -> Result<Option<usize>, Ptp4lError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.sock
                .set_read_timeout(Some(left))
                .map_err(|e| self.io("setting the receive timeout", e))?;
            match self.sock.recv(&mut self.buf[..]) {
                Ok(n) => return Ok(Some(n)),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io("receiving from ptp4l", e)),
            }
        }
    }

    fn io(&self, what: &str, source: io::Error) -> Ptp4lError {
        Ptp4lError::Io {
            what: format!("{what} ({})", self.server.display()),
            source,
        }
    }
}

impl Drop for Ptp4lClient {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.own);
    }
}

/// Bind takt's own socket: `/var/run/takt-pmc.PID.N` as pmc binds
/// `/var/run/pmc.PID`, or in the temp directory when /var/run is not
/// writable. A path-named socket, not an abstract one: ptp4l may run in
/// another network namespace, and abstract names are per namespace.
fn bind_own() -> Result<(UnixDatagram, PathBuf), Ptp4lError> {
    let name = format!(
        "takt-pmc.{}.{}",
        std::process::id(),
        NEXT_SOCKET.fetch_add(1, Ordering::Relaxed)
    );
    let mut last = None;
    for dir in [PathBuf::from("/var/run"), std::env::temp_dir()] {
        let path = dir.join(&name);
        // A leftover of an earlier process with our pid.
        let _ = std::fs::remove_file(&path);
        match UnixDatagram::bind(&path) {
            Ok(sock) => {
                // As pmc (UDS_FILEMODE): ptp4l running as another user of
                // the group can answer.
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660));
                return Ok((sock, path));
            }
            Err(e) => last = Some((path, e)),
        }
    }
    let (path, source) = last.expect("two directories were tried");
    Err(Ptp4lError::Bind { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ptp::pmc::{parse_response, PortState};

    /// A fake ptp4l on a socket in a temp directory.
    struct FakePtp4l {
        sock: UnixDatagram,
        path: PathBuf,
    }

    impl FakePtp4l {
        fn new(tag: &str) -> FakePtp4l {
            let path =
                std::env::temp_dir().join(format!("takt-fake-ptp4l.{}.{tag}", std::process::id()));
            let _ = std::fs::remove_file(&path);
            let sock = UnixDatagram::bind(&path).unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            FakePtp4l { sock, path }
        }

        /// The next request: its bytes and who sent it.
        fn request(&self) -> (Vec<u8>, PathBuf) {
            let mut b = [0u8; 256];
            let (n, from) = self.sock.recv_from(&mut b).unwrap();
            (b[..n].to_vec(), from.as_pathname().unwrap().to_path_buf())
        }

        fn answer(&self, to: &Path, msg: &[u8]) {
            self.sock.send_to(msg, to).unwrap();
        }
    }

    impl Drop for FakePtp4l {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// A response to `req` carrying `id`'s data.
    fn response(req: &[u8], ts: u8, port: u16, id: u16, data: &[u8]) -> Vec<u8> {
        let mut m = req[..48].to_vec();
        m[0] = (ts << 4) | 0x0d;
        // target = the request's source; source = the answering port.
        let src = m[20..30].to_vec();
        m[34..44].copy_from_slice(&src);
        m[20..28].copy_from_slice(&[1, 2, 3, 0xff, 0xfe, 4, 5, 6]);
        m[28..30].copy_from_slice(&port.to_be_bytes());
        m[46] = 2;
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&((2 + data.len()) as u16).to_be_bytes());
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(data);
        let len = m.len() as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        m
    }

    fn default_ds(ports: u16) -> Vec<u8> {
        let mut d = vec![0u8; 20];
        d[2..4].copy_from_slice(&ports.to_be_bytes());
        d[8..16].copy_from_slice(&[1, 2, 3, 0xff, 0xfe, 4, 5, 6]);
        d
    }

    fn port_ds(port: u16, state: u8) -> Vec<u8> {
        let mut d = vec![0u8; 26];
        d[..8].copy_from_slice(&[1, 2, 3, 0xff, 0xfe, 4, 5, 6]);
        d[8..10].copy_from_slice(&port.to_be_bytes());
        d[10] = state;
        d[23] = 1;
        d
    }

    #[test]
    fn connect_probes_the_transport_specific_then_collects_one_answer_per_port() {
        let fake = FakePtp4l::new("probe");
        let server = fake.path.clone();
        let t = std::thread::spawn(move || {
            let mut c = Ptp4lClient::connect(&server).unwrap();
            let ports = c.port_data_sets();
            let own = c.own_path().to_path_buf();
            assert!(own.exists());
            let seen = (
                c.transport_specific(),
                c.clock().number_ports,
                ports,
                c.stale(),
                c.rejected(),
            );
            drop(c);
            assert!(!own.exists(), "{} removed on drop", own.display());
            seen
        });
        // Two probes, transportSpecific 0 and 1; only the gPTP one is answered.
        let (p0, from) = fake.request();
        let (p1, _) = fake.request();
        assert_eq!((p0[0], p1[0]), (0x0d, 0x1d));
        let s0 = parse_seq(&p0);
        assert_eq!(parse_seq(&p1), s0.wrapping_add(1));
        // Junk first: counted and passed over.
        fake.answer(&from, b"junk");
        fake.answer(&from, &response(&p1, 1, 0, 0x2000, &default_ds(2)));
        // PORT_DATA_SET: a stale answer (old sequence), then both ports.
        let (req, _) = fake.request();
        assert_eq!(req[0], 0x1d, "only the transportSpecific that answered");
        fake.answer(&from, &response(&p0, 1, 1, 0x2004, &port_ds(1, 9)));
        fake.answer(&from, &response(&req, 1, 1, 0x2004, &port_ds(1, 9)));
        fake.answer(&from, &response(&req, 1, 2, 0x2004, &port_ds(2, 6)));
        let (ts, ports, data_sets, stale, rejected) = t.join().unwrap();
        assert_eq!((ts, ports, stale, rejected), (1, 2, 1, 1));
        let states: Vec<_> = data_sets.unwrap().iter().map(|p| p.port_state).collect();
        assert_eq!(states, [PortState::Slave, PortState::Master]);
    }

    fn parse_seq(req: &[u8]) -> u16 {
        u16::from_be_bytes([req[30], req[31]])
    }

    #[test]
    fn an_error_status_is_a_refusal_naming_the_id() {
        let fake = FakePtp4l::new("refused");
        let opts = Ptp4lOptions {
            transport_specific: Some(0),
            ..Ptp4lOptions::default()
        };
        let server = fake.path.clone();
        let t = std::thread::spawn(move || {
            let mut c = Ptp4lClient::connect_with(&server, &opts).unwrap();
            c.port_properties()
        });
        let (req, from) = fake.request();
        fake.answer(&from, &response(&req, 0, 0, 0x2000, &default_ds(1)));
        let (req, _) = fake.request();
        let mut err = response(&req, 0, 0, 0xc004, &[]);
        err.truncate(48);
        err.extend_from_slice(&[0, 2, 0, 8, 0, 6, 0xc0, 4, 0, 0, 0, 0]);
        let len = err.len() as u16;
        err[2..4].copy_from_slice(&len.to_be_bytes());
        assert!(parse_response(&err).is_ok());
        fake.answer(&from, &err);
        let e = t.join().unwrap().unwrap_err().to_string();
        assert!(
            e.contains("refused GET PORT_PROPERTIES_NP: NOT_SUPPORTED"),
            "{e}"
        );
    }

    #[test]
    fn no_socket_nothing_listening_and_silence_say_what_to_do() {
        let missing = std::env::temp_dir().join(format!("takt-no-ptp4l.{}", std::process::id()));
        let e = Ptp4lClient::connect(&missing).unwrap_err().to_string();
        assert!(
            e.starts_with("ptp4l is not running (no management socket at"),
            "{e}"
        );
        assert!(
            e.contains("--ptp4l-socket") && e.contains("gPTP.cfg"),
            "{e}"
        );

        // A socket file nobody reads any more (ptp4l killed).
        let path = std::env::temp_dir().join(format!("takt-dead-ptp4l.{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        drop(UnixDatagram::bind(&path).unwrap());
        let e = Ptp4lClient::connect(&path).unwrap_err().to_string();
        assert!(
            e.contains("nothing listens on the management socket"),
            "{e}"
        );
        let _ = std::fs::remove_file(&path);

        let silent = FakePtp4l::new("silent");
        let opts = Ptp4lOptions {
            timeout: Duration::from_millis(50),
            ..Ptp4lOptions::default()
        };
        let e = Ptp4lClient::connect_with(&silent.path, &opts)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("did not answer GET DEFAULT_DATA_SET within 50 ms")
                && e.contains("domainNumber is 0 and its transportSpecific is 0 or 1"),
            "{e}"
        );
    }

    #[test]
    fn each_client_binds_its_own_socket() {
        let (_a, pa) = bind_own().unwrap();
        let (_b, pb) = bind_own().unwrap();
        assert_ne!(pa, pb);
        let _ = (std::fs::remove_file(&pa), std::fs::remove_file(&pb));
    }
}
