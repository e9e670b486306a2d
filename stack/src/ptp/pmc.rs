//! PTP management messages as ptp4l's Unix socket speaks them (IEEE
//! 1588-2008 clause 15, plus linuxptp's `_NP` TLVs): a GET request built
//! byte for byte as `pmc` builds it, and the responses takt reads parsed
//! into typed values. Pure and allocation-free; every length and count in
//! a datagram is checked, and what does not fit is a [`PmcError`] naming
//! the field, never a panic.
//!
//! Layout (all big-endian): a 34-byte PTP header, the management fields
//! (target port identity, boundary hops, action) to byte 48, then one TLV:
//! type, length, management id, data.

use std::fmt;

/// The PTP header plus the management message's own fields.
pub const MANAGEMENT_HEADER_LEN: usize = 48;
/// Largest message ptp4l sends or accepts (its `message_data` buffer).
pub const MAX_MESSAGE_LEN: usize = 1500;

const PTP_HEADER_LEN: usize = 34;
const MESSAGE_TYPE_MANAGEMENT: u8 = 0x0d;
const PTP_VERSION: u8 = 2;
const CONTROL_MANAGEMENT: u8 = 0x04;
/// logMessageInterval of management messages.
const LOG_INTERVAL_NONE: u8 = 0x7f;
const TLV_MANAGEMENT: u16 = 0x0001;
const TLV_MANAGEMENT_ERROR_STATUS: u16 = 0x0002;
/// TLV type + length + management id.
const TLV_HEAD_LEN: usize = 6;

/// The management actions (flags field, low nibble).
const ACTION_GET: u8 = 0;
const ACTION_RESPONSE: u8 = 2;

/// The management ids takt asks ptp4l for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ManagementId {
    /// 0x2000: the clock's identity and its number of ports.
    DefaultDataSet,
    /// 0x2001: steps removed, offset from master, mean path delay.
    CurrentDataSet,
    /// 0x2004: per port: state, intervals, delay mechanism, peer delay.
    PortDataSet,
    /// 0xC000: the servo's last offset, its ingress time, the grandmaster.
    TimeStatusNp,
    /// 0xC004: per port: state, timestamping, interface name.
    PortPropertiesNp,
}

impl ManagementId {
    pub const ALL: [ManagementId; 5] = [
        ManagementId::DefaultDataSet,
        ManagementId::CurrentDataSet,
        ManagementId::PortDataSet,
        ManagementId::TimeStatusNp,
        ManagementId::PortPropertiesNp,
    ];

    pub const fn code(self) -> u16 {
        match self {
            ManagementId::DefaultDataSet => 0x2000,
            ManagementId::CurrentDataSet => 0x2001,
            ManagementId::PortDataSet => 0x2004,
            ManagementId::TimeStatusNp => 0xc000,
            ManagementId::PortPropertiesNp => 0xc004,
        }
    }

    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|id| id.code() == code)
    }

    /// As pmc names it.
    pub const fn name(self) -> &'static str {
        match self {
            ManagementId::DefaultDataSet => "DEFAULT_DATA_SET",
            ManagementId::CurrentDataSet => "CURRENT_DATA_SET",
            ManagementId::PortDataSet => "PORT_DATA_SET",
            ManagementId::TimeStatusNp => "TIME_STATUS_NP",
            ManagementId::PortPropertiesNp => "PORT_PROPERTIES_NP",
        }
    }

    /// Answered once per port (true) or once by the clock (false).
    pub const fn per_port(self) -> bool {
        matches!(
            self,
            ManagementId::PortDataSet | ManagementId::PortPropertiesNp
        )
    }

    /// Data bytes of a GET: pmc sends a zeroed data set of the full size
    /// (`pmc_tlv_datalen`), and nothing for ids it has no size for.
    const fn get_data_len(self) -> usize {
        match self {
            ManagementId::DefaultDataSet => DEFAULT_DS_LEN,
            ManagementId::CurrentDataSet => CURRENT_DS_LEN,
            ManagementId::PortDataSet => PORT_DS_LEN,
            ManagementId::TimeStatusNp => TIME_STATUS_LEN,
            ManagementId::PortPropertiesNp => 0,
        }
    }
}

impl fmt::Display for ManagementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const DEFAULT_DS_LEN: usize = 20;
const CURRENT_DS_LEN: usize = 18;
const PORT_DS_LEN: usize = 26;
const TIME_STATUS_LEN: usize = 50;
/// Port identity, state, timestamping, the text's length byte.
const PORT_PROPERTIES_MIN_LEN: usize = 13;
/// Error id, management id, 4 reserved bytes.
const ERROR_STATUS_MIN_LEN: usize = 8;

/// A clock identity; shown as pmc shows it, `001122.fffe.334455`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClockIdentity(pub [u8; 8]);

impl fmt::Display for ClockIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}{:02x}{:02x}.{:02x}{:02x}.{:02x}{:02x}{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]
        )
    }
}

/// A port identity; shown as pmc shows it, `001122.fffe.334455-1`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortIdentity {
    pub clock: ClockIdentity,
    pub port: u16,
}

impl PortIdentity {
    /// Every port of every clock: what pmc targets unless told otherwise.
    pub const ALL: PortIdentity = PortIdentity {
        clock: ClockIdentity([0xff; 8]),
        port: 0xffff,
    };
}

impl fmt::Display for PortIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.clock, self.port)
    }
}

/// A port's state, numbered and named as ptp4l does (fsm.h, util.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortState {
    Initializing = 1,
    Faulty = 2,
    Disabled = 3,
    Listening = 4,
    PreMaster = 5,
    Master = 6,
    Passive = 7,
    Uncalibrated = 8,
    Slave = 9,
    /// ptp4l's own extension; its management answers say MASTER instead.
    GrandMaster = 10,
}

impl PortState {
    pub fn from_code(code: u8) -> Option<Self> {
        use PortState::*;
        Some(match code {
            1 => Initializing,
            2 => Faulty,
            3 => Disabled,
            4 => Listening,
            5 => PreMaster,
            6 => Master,
            7 => Passive,
            8 => Uncalibrated,
            9 => Slave,
            10 => GrandMaster,
            _ => return None,
        })
    }

    pub const fn name(self) -> &'static str {
        match self {
            PortState::Initializing => "INITIALIZING",
            PortState::Faulty => "FAULTY",
            PortState::Disabled => "DISABLED",
            PortState::Listening => "LISTENING",
            PortState::PreMaster => "PRE_MASTER",
            PortState::Master => "MASTER",
            PortState::Passive => "PASSIVE",
            PortState::Uncalibrated => "UNCALIBRATED",
            PortState::Slave => "SLAVE",
            PortState::GrandMaster => "GRAND_MASTER",
        }
    }
}

impl fmt::Display for PortState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// portDS.delayMechanism (ptp4l answers E2E for its AUTO).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DelayMechanism {
    E2e,
    P2p,
    NoMechanism,
    Other(u8),
}

impl DelayMechanism {
    fn from_code(code: u8) -> Self {
        match code {
            1 => DelayMechanism::E2e,
            2 => DelayMechanism::P2p,
            0xfe => DelayMechanism::NoMechanism,
            c => DelayMechanism::Other(c),
        }
    }
}

/// How ptp4l timestamps a port's messages (msg.h `timestamp_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timestamping {
    Software,
    Hardware,
    LegacyHw,
    OneStep,
    P2p1Step,
    Other(u8),
}

impl Timestamping {
    fn from_code(code: u8) -> Self {
        match code {
            0 => Timestamping::Software,
            1 => Timestamping::Hardware,
            2 => Timestamping::LegacyHw,
            3 => Timestamping::OneStep,
            4 => Timestamping::P2p1Step,
            c => Timestamping::Other(c),
        }
    }

    /// As pmc prints it.
    pub fn name(self) -> &'static str {
        match self {
            Timestamping::Software => "SOFTWARE",
            Timestamping::Hardware => "HARDWARE",
            Timestamping::LegacyHw => "LEGACY_HW",
            Timestamping::OneStep => "ONESTEP",
            Timestamping::P2p1Step => "P2P1STEP",
            Timestamping::Other(_) => "unknown",
        }
    }
}

/// IEEE 1588 TimeInterval: ns scaled by 2^16.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TimeInterval(pub i64);

impl TimeInterval {
    /// Whole ns, rounded towards minus infinity (pmc prints `>> 16`).
    pub const fn ns(self) -> i64 {
        self.0 >> 16
    }

    pub fn ns_f64(self) -> f64 {
        self.0 as f64 / 65536.0
    }
}

/// IEEE 802.1AS ScaledNs (96 bits), as sent.
///
/// linuxptp 3.1 converts `nanoseconds_lsb` from `nanoseconds_msb` by
/// mistake (tlv.c `scaled_ns_h2n`), so ptp4l's lsb is not the value it
/// holds; it is 0 whenever msb is 0, which is what a local ptp4l sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScaledNs {
    pub nanoseconds_msb: u16,
    pub nanoseconds_lsb: u64,
    pub fractional_nanoseconds: u16,
}

/// DEFAULT_DATA_SET, the parts takt uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultDataSet {
    pub two_step: bool,
    pub slave_only: bool,
    /// Ports of the clock (ptp4l's UDS port is not counted).
    pub number_ports: u16,
    pub priority1: u8,
    pub clock_class: u8,
    pub priority2: u8,
    pub clock_identity: ClockIdentity,
    pub domain: u8,
}

/// CURRENT_DATA_SET.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CurrentDataSet {
    pub steps_removed: u16,
    pub offset_from_master: TimeInterval,
    /// End-to-end mean path delay (0 on a P2P port: see
    /// [`PortDataSet::peer_mean_path_delay`]).
    pub mean_path_delay: TimeInterval,
}

/// PORT_DATA_SET of one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortDataSet {
    pub port_identity: PortIdentity,
    pub port_state: PortState,
    pub log_min_delay_req_interval: i8,
    pub peer_mean_path_delay: TimeInterval,
    pub log_announce_interval: i8,
    pub announce_receipt_timeout: u8,
    pub log_sync_interval: i8,
    pub delay_mechanism: DelayMechanism,
    pub log_min_pdelay_req_interval: i8,
    pub version_number: u8,
}

/// TIME_STATUS_NP: the servo's last sample and the grandmaster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeStatusNp {
    /// Offset from the master of the last sample, ns (0 on a master).
    pub master_offset_ns: i64,
    /// When that sample's Sync arrived, ns on ptp4l's clock; changes with
    /// every new sample (0 on a master).
    pub ingress_time_ns: i64,
    /// Grandmaster rate ratio − 1, scaled by 2^41.
    pub cumulative_scaled_rate_offset: i32,
    pub scaled_last_gm_phase_change: i32,
    pub gm_time_base_indicator: u16,
    pub last_gm_phase_change: ScaledNs,
    /// A slave that hears a grandmaster (a grandmaster says false).
    pub gm_present: bool,
    pub gm_identity: ClockIdentity,
}

/// Longest interface name ptp4l has (linuxptp's MAX_IFNAME_SIZE, the
/// size of a Unix socket path, which its UDS port's name is).
pub const MAX_IFNAME_LEN: usize = 108;

/// PORT_PROPERTIES_NP of one port (ptp4l answers it on its Unix socket only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortPropertiesNp {
    pub port_identity: PortIdentity,
    pub port_state: PortState,
    pub timestamping: Timestamping,
    /// The port's interface as ptp4l names it (its timestamping label).
    pub interface: heapless::String<MAX_IFNAME_LEN>,
}

/// managementErrorId of a MANAGEMENT_ERROR_STATUS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ManagementError {
    ResponseTooBig,
    NoSuchId,
    WrongLength,
    WrongValue,
    NotSetable,
    NotSupported,
    GeneralError,
    Other(u16),
}

impl ManagementError {
    fn from_code(code: u16) -> Self {
        match code {
            0x0001 => ManagementError::ResponseTooBig,
            0x0002 => ManagementError::NoSuchId,
            0x0003 => ManagementError::WrongLength,
            0x0004 => ManagementError::WrongValue,
            0x0005 => ManagementError::NotSetable,
            0x0006 => ManagementError::NotSupported,
            0xfffe => ManagementError::GeneralError,
            c => ManagementError::Other(c),
        }
    }
}

impl fmt::Display for ManagementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManagementError::ResponseTooBig => f.write_str("RESPONSE_TOO_BIG"),
            ManagementError::NoSuchId => f.write_str("NO_SUCH_ID"),
            ManagementError::WrongLength => f.write_str("WRONG_LENGTH"),
            ManagementError::WrongValue => f.write_str("WRONG_VALUE"),
            ManagementError::NotSetable => f.write_str("NOT_SETABLE"),
            ManagementError::NotSupported => f.write_str("NOT_SUPPORTED"),
            ManagementError::GeneralError => f.write_str("GENERAL_ERROR"),
            ManagementError::Other(c) => write!(f, "error {c:#06x}"),
        }
    }
}

/// What one response carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    DefaultDataSet(DefaultDataSet),
    CurrentDataSet(CurrentDataSet),
    PortDataSet(PortDataSet),
    TimeStatusNp(TimeStatusNp),
    PortPropertiesNp(PortPropertiesNp),
    /// MANAGEMENT_ERROR_STATUS: ptp4l refused the request for `id`.
    Error {
        id: u16,
        error: ManagementError,
    },
    /// A management id takt does not read; its data is not looked at.
    Other {
        id: u16,
    },
}

impl Body {
    /// The management id this answers.
    pub fn id_code(&self) -> u16 {
        match self {
            Body::DefaultDataSet(_) => ManagementId::DefaultDataSet.code(),
            Body::CurrentDataSet(_) => ManagementId::CurrentDataSet.code(),
            Body::PortDataSet(_) => ManagementId::PortDataSet.code(),
            Body::TimeStatusNp(_) => ManagementId::TimeStatusNp.code(),
            Body::PortPropertiesNp(_) => ManagementId::PortPropertiesNp.code(),
            Body::Error { id, .. } | Body::Other { id } => *id,
        }
    }
}

/// One RESPONSE message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub transport_specific: u8,
    pub domain: u8,
    /// The answering port (port 0: the clock itself).
    pub source: PortIdentity,
    pub sequence_id: u16,
    /// Whom it answers: the request's source.
    pub target: PortIdentity,
    pub body: Body,
}

/// Who asks, and in which domain: the header fields of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requester {
    /// pmc on a Unix socket: clock identity 0, port number = its pid.
    pub source: PortIdentity,
    /// ptp4l ignores management messages of another domainNumber.
    pub domain: u8,
    /// ptp4l ignores messages whose transportSpecific differs from its
    /// own (1 with gPTP.cfg) unless `ignore_transport_specific` is set.
    pub transport_specific: u8,
    /// 0: only the ptp4l on the socket answers (`pmc -b 0`); more would
    /// have it forward the request out of its ports.
    pub boundary_hops: u8,
}

/// A datagram that is not a management response takt can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PmcError {
    #[error("{what} needs {need} bytes, {have} are there")]
    TooShort {
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("not a management message (messageType {message_type:#x})")]
    NotManagement { message_type: u8 },
    #[error("PTP version {version}, not 2")]
    Version { version: u8 },
    #[error("messageLength says {declared} bytes, the datagram has {received}")]
    MessageLength { declared: u16, received: usize },
    #[error("management action {action}, not RESPONSE (2)")]
    NotAResponse { action: u8 },
    #[error("TLV type {tlv_type:#06x} is neither MANAGEMENT nor MANAGEMENT_ERROR_STATUS")]
    TlvType { tlv_type: u16 },
    #[error("TLV length {length} does not fit the {room} bytes left in the message")]
    TlvLength { length: u16, room: usize },
    #[error("{id} data is {length} bytes, it should be {expected}")]
    DataLength {
        id: ManagementId,
        length: usize,
        expected: usize,
    },
    #[error("{field} {value} is out of range")]
    BadValue { field: &'static str, value: u32 },
    #[error("datagram longer than the {max} bytes a management message can have")]
    TooLong { max: usize },
    #[error("interface name is not UTF-8")]
    InterfaceName,
    #[error("a {need}-byte request does not fit a {have}-byte buffer")]
    BufferTooSmall { need: usize, have: usize },
}

/// Write a GET for `id` into `buf`, exactly as pmc does (`-b 0` with
/// `boundary_hops` 0, target all ports); the message's length.
pub fn build_get(
    buf: &mut [u8],
    sequence_id: u16,
    id: ManagementId,
    from: &Requester,
) -> Result<usize, PmcError> {
    let data_len = id.get_data_len();
    let len = MANAGEMENT_HEADER_LEN + TLV_HEAD_LEN + data_len;
    let have = buf.len();
    let msg = buf
        .get_mut(..len)
        .ok_or(PmcError::BufferTooSmall { need: len, have })?;
    msg.fill(0);
    msg[0] = (from.transport_specific << 4) | MESSAGE_TYPE_MANAGEMENT;
    msg[1] = PTP_VERSION;
    msg[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    msg[4] = from.domain;
    write_port_identity(&mut msg[20..30], &from.source);
    msg[30..32].copy_from_slice(&sequence_id.to_be_bytes());
    msg[32] = CONTROL_MANAGEMENT;
    msg[33] = LOG_INTERVAL_NONE;
    write_port_identity(&mut msg[34..44], &PortIdentity::ALL);
    msg[44] = from.boundary_hops;
    msg[45] = from.boundary_hops;
    msg[46] = ACTION_GET;
    msg[48..50].copy_from_slice(&TLV_MANAGEMENT.to_be_bytes());
    msg[50..52].copy_from_slice(&((2 + data_len) as u16).to_be_bytes());
    msg[52..54].copy_from_slice(&id.code().to_be_bytes());
    Ok(len)
}

fn write_port_identity(out: &mut [u8], p: &PortIdentity) {
    out[..8].copy_from_slice(&p.clock.0);
    out[8..10].copy_from_slice(&p.port.to_be_bytes());
}

/// Parse one datagram from ptp4l's management socket.
pub fn parse_response(datagram: &[u8]) -> Result<Response, PmcError> {
    let mut r = Reader::new(datagram, "the PTP header");
    if datagram.len() < PTP_HEADER_LEN {
        return Err(PmcError::TooShort {
            what: "the PTP header",
            need: PTP_HEADER_LEN,
            have: datagram.len(),
        });
    }
    let tsmt = r.u8()?;
    if tsmt & 0x0f != MESSAGE_TYPE_MANAGEMENT {
        return Err(PmcError::NotManagement {
            message_type: tsmt & 0x0f,
        });
    }
    let version = r.u8()? & 0x0f;
    if version != PTP_VERSION {
        return Err(PmcError::Version { version });
    }
    let declared = r.u16()?;
    let msg_len = usize::from(declared);
    if msg_len > datagram.len() {
        return Err(PmcError::MessageLength {
            declared,
            received: datagram.len(),
        });
    }
    if msg_len < MANAGEMENT_HEADER_LEN + 4 {
        return Err(PmcError::TooShort {
            what: "a management message with a TLV",
            need: MANAGEMENT_HEADER_LEN + 4,
            have: msg_len,
        });
    }
    // What follows messageLength (padding) is not part of the message.
    let mut r = Reader::new(&datagram[..msg_len], "the management header");
    r.skip(4)?;
    let domain = r.u8()?;
    r.skip(15)?; // reserved, flags, correction, reserved
    let source = r.port_identity()?;
    let sequence_id = r.u16()?;
    r.skip(2)?; // control, logMessageInterval
    let target = r.port_identity()?;
    r.skip(2)?; // boundary hops
    let action = r.u8()? & 0x0f;
    if action != ACTION_RESPONSE {
        return Err(PmcError::NotAResponse { action });
    }
    r.skip(1)?;
    r.what = "the TLV header";
    let tlv_type = r.u16()?;
    let length = r.u16()?;
    let room = r.left();
    if usize::from(length) > room {
        return Err(PmcError::TlvLength { length, room });
    }
    let mut tlv = Reader::new(r.take(usize::from(length))?, "the TLV");
    let body = match tlv_type {
        TLV_MANAGEMENT => {
            tlv.what = "a management TLV";
            let id = tlv.u16()?;
            parse_data(id, tlv.rest())?
        }
        TLV_MANAGEMENT_ERROR_STATUS => {
            tlv.what = "MANAGEMENT_ERROR_STATUS";
            if tlv.left() < ERROR_STATUS_MIN_LEN {
                return Err(PmcError::TooShort {
                    what: "MANAGEMENT_ERROR_STATUS",
                    need: ERROR_STATUS_MIN_LEN,
                    have: tlv.left(),
                });
            }
            let error = ManagementError::from_code(tlv.u16()?);
            let id = tlv.u16()?;
            Body::Error { id, error }
        }
        t => return Err(PmcError::TlvType { tlv_type: t }),
    };
    Ok(Response {
        transport_specific: tsmt >> 4,
        domain,
        source,
        sequence_id,
        target,
        body,
    })
}

fn expect_len(id: ManagementId, data: &[u8], expected: usize) -> Result<(), PmcError> {
    if data.len() == expected {
        Ok(())
    } else {
        Err(PmcError::DataLength {
            id,
            length: data.len(),
            expected,
        })
    }
}

fn port_state(code: u8) -> Result<PortState, PmcError> {
    PortState::from_code(code).ok_or(PmcError::BadValue {
        field: "port state",
        value: u32::from(code),
    })
}

fn parse_data(code: u16, data: &[u8]) -> Result<Body, PmcError> {
    let Some(id) = ManagementId::from_code(code) else {
        return Ok(Body::Other { id: code });
    };
    let mut r = Reader::new(data, id.name());
    Ok(match id {
        ManagementId::DefaultDataSet => {
            expect_len(id, data, DEFAULT_DS_LEN)?;
            let flags = r.u8()?;
            r.skip(1)?;
            let number_ports = r.u16()?;
            let priority1 = r.u8()?;
            let clock_class = r.u8()?;
            r.skip(3)?; // accuracy, variance
            let priority2 = r.u8()?;
            let clock_identity = r.clock_identity()?;
            let domain = r.u8()?;
            Body::DefaultDataSet(DefaultDataSet {
                two_step: flags & 1 != 0,
                slave_only: flags & 2 != 0,
                number_ports,
                priority1,
                clock_class,
                priority2,
                clock_identity,
                domain,
            })
        }
        ManagementId::CurrentDataSet => {
            expect_len(id, data, CURRENT_DS_LEN)?;
            Body::CurrentDataSet(CurrentDataSet {
                steps_removed: r.u16()?,
                offset_from_master: TimeInterval(r.i64()?),
                mean_path_delay: TimeInterval(r.i64()?),
            })
        }
        ManagementId::PortDataSet => {
            expect_len(id, data, PORT_DS_LEN)?;
            Body::PortDataSet(PortDataSet {
                port_identity: r.port_identity()?,
                port_state: port_state(r.u8()?)?,
                log_min_delay_req_interval: r.i8()?,
                peer_mean_path_delay: TimeInterval(r.i64()?),
                log_announce_interval: r.i8()?,
                announce_receipt_timeout: r.u8()?,
                log_sync_interval: r.i8()?,
                delay_mechanism: DelayMechanism::from_code(r.u8()?),
                log_min_pdelay_req_interval: r.i8()?,
                version_number: r.u8()?,
            })
        }
        ManagementId::TimeStatusNp => {
            expect_len(id, data, TIME_STATUS_LEN)?;
            Body::TimeStatusNp(TimeStatusNp {
                master_offset_ns: r.i64()?,
                ingress_time_ns: r.i64()?,
                cumulative_scaled_rate_offset: r.i32()?,
                scaled_last_gm_phase_change: r.i32()?,
                gm_time_base_indicator: r.u16()?,
                last_gm_phase_change: ScaledNs {
                    nanoseconds_msb: r.u16()?,
                    nanoseconds_lsb: r.u64()?,
                    fractional_nanoseconds: r.u16()?,
                },
                gm_present: r.i32()? != 0,
                gm_identity: r.clock_identity()?,
            })
        }
        ManagementId::PortPropertiesNp => {
            if data.len() < PORT_PROPERTIES_MIN_LEN {
                return Err(PmcError::DataLength {
                    id,
                    length: data.len(),
                    expected: PORT_PROPERTIES_MIN_LEN,
                });
            }
            let port_identity = r.port_identity()?;
            let state = port_state(r.u8()?)?;
            let timestamping = Timestamping::from_code(r.u8()?);
            let text_len = usize::from(r.u8()?);
            // As tlv.c: the text, padded to an even length, ends the data.
            let padded = (PORT_PROPERTIES_MIN_LEN + text_len + 1) & !1;
            expect_len(id, data, padded)?;
            if text_len > MAX_IFNAME_LEN {
                return Err(PmcError::BadValue {
                    field: "interface name length",
                    value: text_len as u32,
                });
            }
            let text = r.take(text_len)?;
            let name = core::str::from_utf8(text).map_err(|_| PmcError::InterfaceName)?;
            let mut interface = heapless::String::new();
            interface.push_str(name).map_err(|_| PmcError::BadValue {
                field: "interface name length",
                value: text_len as u32,
            })?;
            Body::PortPropertiesNp(PortPropertiesNp {
                port_identity,
                port_state: state,
                timestamping,
                interface,
            })
        }
    })
}

/// Big-endian reads that fail instead of panicking.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, at: 0, what }
    }

    fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.at)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PmcError> {
        let end = self.at.checked_add(n);
        let s = end
            .and_then(|end| self.buf.get(self.at..end))
            .ok_or(PmcError::TooShort {
                what: self.what,
                need: self.at.saturating_add(n),
                have: self.buf.len(),
            })?;
        self.at += n;
        Ok(s)
    }

    fn rest(&mut self) -> &'a [u8] {
        let s = self.buf.get(self.at..).unwrap_or(&[]);
        self.at = self.buf.len();
        s
    }

    fn skip(&mut self, n: usize) -> Result<(), PmcError> {
        self.take(n).map(|_| ())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PmcError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, PmcError> {
        Ok(self.array::<1>()?[0])
    }
    fn i8(&mut self) -> Result<i8, PmcError> {
        Ok(self.u8()? as i8)
    }
    fn u16(&mut self) -> Result<u16, PmcError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32, PmcError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, PmcError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, PmcError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    fn clock_identity(&mut self) -> Result<ClockIdentity, PmcError> {
        Ok(ClockIdentity(self.array()?))
    }
    fn port_identity(&mut self) -> Result<PortIdentity, PmcError> {
        Ok(PortIdentity {
            clock: self.clock_identity()?,
            port: self.u16()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Captured with `strace -e sendto,recvfrom -xx pmc -u -b 0 -t 1 -s SOCK
    // 'GET ID'` against linuxptp 3.1.1: a gPTP.cfg slave (free_running, on
    // veth `pmcfxB`, clock ce0b65.fffe.58f815) and its grandmaster (`pmcfxA`,
    // c65ef1.fffe.489f30). pmc's pid was the low bytes in the source port.
    const SL_GET_PORT_DATA_SET: &str = "1d02005000000000000000000000000000000000000000000000000054350000047fffffffffffffffffffff000000000001001c20040000000000000000000000000000000000000000000000000000";
    const SL_PORT_DATA_SET: &str = "1d02005000000000000000000000000000000000ce0b65fffe58f81500010000047f00000000000000005435000002000001001c2004ce0b65fffe58f8150001090000000000051d00000003fd020002";
    const GM_PORT_DATA_SET: &str = "1d02005000000000000000000000000000000000c65ef1fffe489f3000010000047f00000000000000005445000002000001001c2004c65ef1fffe489f30000106000000000003a300000003fd020002";
    const SL_GET_TIME_STATUS: &str = "1d02006800000000000000000000000000000000000000000000000054580000047fffffffffffffffffffff0000000000010034c0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
    const SL_TIME_STATUS: &str = "1d02006800000000000000000000000000000000ce0b65fffe58f81500000000047f000000000000000054580000020000010034c000000000000000035618edb0bdfb1733040002da1800000000000000000000000000000000000000000001c65ef1fffe489f30";
    const GM_TIME_STATUS: &str = "1d02006800000000000000000000000000000000c65ef1fffe489f3000000000047f0000000000000000546f0000020000010034c000000000000000000000000000000000000000000000000000000000000000000000000000000000000000c65ef1fffe489f30";
    const SL_GET_PORT_PROPERTIES: &str = "1d02003600000000000000000000000000000000000000000000000054880000047fffffffffffffffffffff0000000000010002c004";
    const SL_PORT_PROPERTIES: &str = "1d02004a00000000000000000000000000000000ce0b65fffe58f81500010000047f000000000000000054880000020000010016c004ce0b65fffe58f8150001090006706d6366784200";
    const GM_PORT_PROPERTIES: &str = "1d02004a00000000000000000000000000000000c65ef1fffe489f3000010000047f000000000000000054a30000020000010016c004c65ef1fffe489f300001060006706d6366784100";
    const SL_GET_CURRENT_DATA_SET: &str = "1d02004800000000000000000000000000000000000000000000000054ca0000047fffffffffffffffffffff00000000000100142001000000000000000000000000000000000000";
    const SL_CURRENT_DATA_SET: &str = "1d02004800000000000000000000000000000000ce0b65fffe58f81500000000047f000000000000000054ca00000200000100142001000100000000055f00000000000000000000";
    const SL_GET_DEFAULT_DATA_SET: &str = "1d02004a00000000000000000000000000000000000000000000000073ca0000047fffffffffffffffffffff000000000001001620000000000000000000000000000000000000000000";
    const SL_DEFAULT_DATA_SET: &str = "1d02004a00000000000000000000000000000000ce0b65fffe58f81500000000047f000000000000000073ca0000020000010016200003000001f8fffefffff8ce0b65fffe58f8150000";
    /// `TARGET ce0b65.fffe.58f815-5` then `GET PORT_DATA_SET`: no such port.
    const SL_ERROR_WRONG_VALUE: &str = "1d02003c00000000000000000000000000000000ce0b65fffe58f81500000000047f0000000000000000552300000200000200080004200400000000";

    const SLAVE: ClockIdentity = ClockIdentity([0xce, 0x0b, 0x65, 0xff, 0xfe, 0x58, 0xf8, 0x15]);
    const GM: ClockIdentity = ClockIdentity([0xc6, 0x5e, 0xf1, 0xff, 0xfe, 0x48, 0x9f, 0x30]);

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn pmc(pid: u16) -> Requester {
        Requester {
            source: PortIdentity {
                clock: ClockIdentity([0; 8]),
                port: pid,
            },
            domain: 0,
            transport_specific: 1,
            boundary_hops: 0,
        }
    }

    fn parse(s: &str) -> Response {
        parse_response(&hex(s)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn get_requests_are_byte_for_byte_what_pmc_sends() {
        for (id, seq_pid, bytes) in [
            (ManagementId::PortDataSet, 0x5435, SL_GET_PORT_DATA_SET),
            (ManagementId::TimeStatusNp, 0x5458, SL_GET_TIME_STATUS),
            (
                ManagementId::PortPropertiesNp,
                0x5488,
                SL_GET_PORT_PROPERTIES,
            ),
            (
                ManagementId::CurrentDataSet,
                0x54ca,
                SL_GET_CURRENT_DATA_SET,
            ),
            (
                ManagementId::DefaultDataSet,
                0x73ca,
                SL_GET_DEFAULT_DATA_SET,
            ),
        ] {
            let mut buf = [0xaa; MAX_MESSAGE_LEN];
            let n = build_get(&mut buf, 0, id, &pmc(seq_pid)).unwrap();
            assert_eq!(&buf[..n], &hex(bytes)[..], "{id}");
        }
        let mut small = [0u8; 60];
        assert_eq!(
            build_get(&mut small, 0, ManagementId::TimeStatusNp, &pmc(1)),
            Err(PmcError::BufferTooSmall {
                need: 104,
                have: 60
            })
        );
    }

    #[test]
    fn the_sequence_id_domain_and_transport_specific_go_where_ptp4l_reads_them() {
        let mut buf = [0; 128];
        let from = Requester {
            domain: 24,
            transport_specific: 0,
            ..pmc(7)
        };
        let n = build_get(&mut buf, 0xbeef, ManagementId::CurrentDataSet, &from).unwrap();
        assert_eq!(
            (buf[0], buf[4], &buf[30..32]),
            (0x0d, 24, &[0xbe, 0xef][..])
        );
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]) as usize, n);
    }

    #[test]
    fn port_data_sets_of_a_slave_and_a_master() {
        let r = parse(SL_PORT_DATA_SET);
        assert_eq!((r.sequence_id, r.transport_specific, r.domain), (0, 1, 0));
        assert_eq!(r.source.to_string(), "ce0b65.fffe.58f815-1");
        assert_eq!(r.target.port, 0x5435);
        let Body::PortDataSet(p) = r.body else {
            panic!("{:?}", r.body)
        };
        assert_eq!(p.port_identity.to_string(), "ce0b65.fffe.58f815-1");
        assert_eq!(p.port_state, PortState::Slave);
        assert_eq!(p.peer_mean_path_delay, TimeInterval(0x51d_0000));
        assert_eq!(p.peer_mean_path_delay.ns(), 1309);
        assert_eq!(
            (
                p.log_min_delay_req_interval,
                p.log_announce_interval,
                p.announce_receipt_timeout,
                p.log_sync_interval,
                p.log_min_pdelay_req_interval,
                p.version_number
            ),
            (0, 0, 3, -3, 0, 2)
        );
        assert_eq!(p.delay_mechanism, DelayMechanism::P2p);

        let Body::PortDataSet(m) = parse(GM_PORT_DATA_SET).body else {
            panic!()
        };
        assert_eq!(
            (m.port_state, m.port_identity.clock),
            (PortState::Master, GM)
        );
        assert_eq!(m.peer_mean_path_delay.ns(), 931);
    }

    #[test]
    fn time_status_of_a_slave_and_of_the_grandmaster_itself() {
        let Body::TimeStatusNp(t) = parse(SL_TIME_STATUS).body else {
            panic!()
        };
        assert_eq!(t.master_offset_ns, 854);
        assert_eq!(t.ingress_time_ns, 0x18ed_b0bd_fb17_3304);
        assert_eq!(t.cumulative_scaled_rate_offset, 0x0002_da18);
        assert_eq!(
            (t.scaled_last_gm_phase_change, t.gm_time_base_indicator),
            (0, 0)
        );
        assert_eq!(t.last_gm_phase_change, ScaledNs::default());
        assert!(t.gm_present);
        assert_eq!(t.gm_identity.to_string(), "c65ef1.fffe.489f30");

        let gm = parse(GM_TIME_STATUS);
        assert_eq!(gm.source.to_string(), "c65ef1.fffe.489f30-0");
        let Body::TimeStatusNp(t) = gm.body else {
            panic!()
        };
        assert_eq!((t.master_offset_ns, t.ingress_time_ns), (0, 0));
        assert!(!t.gm_present, "a grandmaster does not count itself");
        assert_eq!(t.gm_identity, GM);
    }

    #[test]
    fn port_properties_name_the_interface() {
        let Body::PortPropertiesNp(p) = parse(SL_PORT_PROPERTIES).body else {
            panic!()
        };
        assert_eq!(p.port_identity.clock, SLAVE);
        assert_eq!(p.port_state, PortState::Slave);
        assert_eq!(p.timestamping, Timestamping::Software);
        assert_eq!(p.interface.as_str(), "pmcfxB");
        let Body::PortPropertiesNp(p) = parse(GM_PORT_PROPERTIES).body else {
            panic!()
        };
        assert_eq!(
            (p.port_state, p.interface.as_str()),
            (PortState::Master, "pmcfxA")
        );
    }

    #[test]
    fn current_and_default_data_sets() {
        let Body::CurrentDataSet(c) = parse(SL_CURRENT_DATA_SET).body else {
            panic!()
        };
        assert_eq!(c.steps_removed, 1);
        // pmc: offsetFromMaster 1375.0, meanPathDelay 0.0 (P2P).
        assert_eq!(c.offset_from_master.ns_f64(), 1375.0);
        assert_eq!(c.mean_path_delay, TimeInterval(0));
        let Body::DefaultDataSet(d) = parse(SL_DEFAULT_DATA_SET).body else {
            panic!()
        };
        assert_eq!(
            d,
            DefaultDataSet {
                two_step: true,
                slave_only: true,
                number_ports: 1,
                priority1: 248,
                clock_class: 255,
                priority2: 248,
                clock_identity: SLAVE,
                domain: 0,
            }
        );
    }

    #[test]
    fn an_error_status_says_which_id_was_refused_and_why() {
        let r = parse(SL_ERROR_WRONG_VALUE);
        assert_eq!(
            r.body,
            Body::Error {
                id: 0x2004,
                error: ManagementError::WrongValue
            }
        );
        assert_eq!(r.body.id_code(), ManagementId::PortDataSet.code());
    }

    #[test]
    fn every_cut_short_response_is_an_error() {
        for s in [
            SL_PORT_DATA_SET,
            SL_TIME_STATUS,
            SL_PORT_PROPERTIES,
            SL_CURRENT_DATA_SET,
            SL_DEFAULT_DATA_SET,
            SL_ERROR_WRONG_VALUE,
        ] {
            let b = hex(s);
            for n in 0..b.len() {
                assert!(parse_response(&b[..n]).is_err(), "{n} bytes of {s}");
            }
        }
    }

    #[test]
    fn malformed_fields_are_named() {
        let set = |s: &str, at: usize, v: &[u8]| {
            let mut b = hex(s);
            b[at..at + v.len()].copy_from_slice(v);
            parse_response(&b)
        };
        assert_eq!(
            set(SL_TIME_STATUS, 0, &[0x10]),
            Err(PmcError::NotManagement { message_type: 0 })
        );
        assert_eq!(
            set(SL_TIME_STATUS, 1, &[0x01]),
            Err(PmcError::Version { version: 1 })
        );
        assert_eq!(
            set(SL_TIME_STATUS, 2, &[0x00, 0x69]),
            Err(PmcError::MessageLength {
                declared: 105,
                received: 104
            })
        );
        assert_eq!(
            set(SL_TIME_STATUS, 46, &[0x00]),
            Err(PmcError::NotAResponse { action: 0 })
        );
        assert_eq!(
            set(SL_TIME_STATUS, 48, &[0x00, 0x03]),
            Err(PmcError::TlvType { tlv_type: 3 })
        );
        assert_eq!(
            set(SL_TIME_STATUS, 50, &[0x00, 0x35]),
            Err(PmcError::TlvLength {
                length: 0x35,
                room: 0x34
            })
        );
        // A TIME_STATUS_NP one byte short inside a message that ends there.
        let mut b = hex(SL_TIME_STATUS);
        b.pop();
        b[2..4].copy_from_slice(&103u16.to_be_bytes());
        b[50..52].copy_from_slice(&0x33u16.to_be_bytes());
        assert_eq!(
            parse_response(&b),
            Err(PmcError::DataLength {
                id: ManagementId::TimeStatusNp,
                length: 49,
                expected: 50
            })
        );
        assert_eq!(
            set(SL_PORT_DATA_SET, 64, &[11]),
            Err(PmcError::BadValue {
                field: "port state",
                value: 11
            })
        );
        // The interface name's length byte pointing past the data.
        assert!(matches!(
            set(SL_PORT_PROPERTIES, 66, &[9]),
            Err(PmcError::DataLength { .. })
        ));
        assert_eq!(
            set(SL_PORT_PROPERTIES, 67, &[0xff]),
            Err(PmcError::InterfaceName)
        );
        // A name longer than ptp4l can have.
        let mut b = hex(SL_PORT_PROPERTIES);
        b.truncate(67);
        b.extend([b'x'; 109]);
        b[66] = 109;
        b[50..52].copy_from_slice(&124u16.to_be_bytes());
        b[2..4].copy_from_slice(&176u16.to_be_bytes());
        assert_eq!(
            parse_response(&b),
            Err(PmcError::BadValue {
                field: "interface name length",
                value: 109
            })
        );
        b[66] = 108;
        b.push(0);
        b[50..52].copy_from_slice(&124u16.to_be_bytes());
        let Body::PortPropertiesNp(p) = parse_response(&b[..176]).unwrap().body else {
            panic!()
        };
        assert_eq!(p.interface.len(), 108);
        assert!(PmcError::TlvLength { length: 9, room: 4 }
            .to_string()
            .contains("TLV length 9"));
    }

    #[test]
    fn unknown_ids_are_passed_over_and_trailing_bytes_ignored() {
        let mut b = hex(SL_CURRENT_DATA_SET);
        b[52..54].copy_from_slice(&0x2002u16.to_be_bytes());
        assert_eq!(parse_response(&b).unwrap().body, Body::Other { id: 0x2002 });
        let mut b = hex(SL_CURRENT_DATA_SET);
        b.extend_from_slice(&[0xee; 9]);
        assert!(matches!(
            parse_response(&b).unwrap().body,
            Body::CurrentDataSet(_)
        ));
    }

    #[test]
    fn names_are_ptp4ls() {
        let names: Vec<_> = (0..=11)
            .filter_map(PortState::from_code)
            .map(PortState::name)
            .collect();
        assert_eq!(
            names,
            [
                "INITIALIZING",
                "FAULTY",
                "DISABLED",
                "LISTENING",
                "PRE_MASTER",
                "MASTER",
                "PASSIVE",
                "UNCALIBRATED",
                "SLAVE",
                "GRAND_MASTER"
            ]
        );
        assert_eq!(PortIdentity::ALL.to_string(), "ffffff.ffff.ffffff-65535");
        assert_eq!(TimeInterval(-1).ns(), -1, "rounds down, as pmc's >> 16");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_response(&b);
        }

        #[test]
        fn mutated_responses_never_panic(
            which in 0usize..7,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
        ) {
            let s = [SL_PORT_DATA_SET, SL_TIME_STATUS, SL_PORT_PROPERTIES, SL_CURRENT_DATA_SET,
                     SL_DEFAULT_DATA_SET, SL_ERROR_WRONG_VALUE, GM_PORT_PROPERTIES][which];
            let mut b = hex(s);
            for (at, v) in edits {
                let i = at % b.len();
                b[i] = v;
            }
            b.truncate(cut % (b.len() + 1));
            if let Ok(r) = parse_response(&b) {
                // Whatever passed fits the datagram it came from.
                prop_assert!(b.len() >= MANAGEMENT_HEADER_LEN + 4);
                let _ = r.body.id_code();
            }
        }
    }
}
