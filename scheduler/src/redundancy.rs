//! Seamless redundancy (IEEE 802.1CB FRER, docs/redundancy.md): which ports
//! each stream leaves and arrives on, which streams are replicated, and the
//! parameters of the listener's sequence recovery.
//!
//! The schedule keeps this beside its streams (as it keeps `return_of`), so
//! a schedule without FRER is exactly what it was: every stream on port 0.

use crate::schedule::Stream;

/// Most ports a talker or listener drives (`--device` given this often).
pub const MAX_PORTS: usize = 4;
/// Smallest `history_length`: 802.1CB's minimum of frerSeqRcvyHistoryLength
/// (with 1, every number but the last passed would be rogue).
pub const MIN_HISTORY_LENGTH: u16 = 2;
/// Largest `history_length` (frerSeqRcvyHistoryLength): the vector
/// recovery's window of sequence numbers remembered behind the newest.
pub const MAX_HISTORY_LENGTH: u16 = 4096;
/// Smallest frame a replicated stream may have: Ethernet (14) + 802.1Q tag
/// (4) + R-TAG (6) + takt header (40) + FCS (4).
pub const MIN_FRER_FRAME_SIZE: u32 = 68;

/// A set of ports by index (bit i = the i-th `--device`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortMask(pub u8);

impl PortMask {
    /// Port 0 alone: every stream of a schedule without `ports`.
    pub const FIRST: PortMask = PortMask(1);

    pub fn contains(self, port: usize) -> bool {
        port < 8 && self.0 & (1 << port) != 0
    }
    pub fn count(self) -> u32 {
        self.0.count_ones()
    }
    /// The ports in order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..8).filter(move |&p| self.contains(p))
    }
    /// The lowest port (the one a non-replicated stream uses).
    pub fn first(self) -> Option<usize> {
        self.iter().next()
    }
    /// Ports needed to carry this set: highest index + 1.
    pub fn ports_needed(self) -> usize {
        8 - self.0.leading_zeros() as usize
    }
}

/// frerSeqRcvyAlgorithm (802.1CB 10.4.1.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RecoveryAlgorithm {
    /// VectorRecoveryAlgorithm (7.4.3.4): a history window; passes
    /// out-of-order frames, eliminates duplicates inside the window.
    #[default]
    Vector,
    /// MatchRecoveryAlgorithm (7.4.3.5): eliminates only a repeat of the
    /// last sequence number passed.
    Match,
}

impl RecoveryAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryAlgorithm::Vector => "vector",
            RecoveryAlgorithm::Match => "match",
        }
    }
}

/// The sequence recovery function's parameters (802.1CB 10.4.1), one set
/// for every replicated stream of the schedule (`[frer]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrerParams {
    /// frerSeqRcvyAlgorithm.
    pub algorithm: RecoveryAlgorithm,
    /// frerSeqRcvyHistoryLength: MIN_HISTORY_LENGTH..=MAX_HISTORY_LENGTH
    /// (vector only).
    pub history_length: u16,
    /// frerSeqRcvyResetMSec, in ns: with nothing passed for this long the
    /// recovery function resets and takes the next frame whatever its number.
    pub reset_timeout_ns: u64,
    /// frerSeqRcvyIndividualRecovery: each member path runs its own
    /// recovery (same algorithm) before the stream's, and its discards are
    /// real (else the member's instance only counts).
    pub individual_recovery: bool,
    /// frerSeqRcvyTakeNoSequence: pass a frame of the stream without an
    /// R-TAG (else it is discarded; counted tagless either way).
    pub take_no_sequence: bool,
    /// frerSeqRcvyLatentErrorDetection.
    pub latent_error_detection: bool,
    /// frerSeqRcvyLatentErrorDifference.
    pub latent_error_difference: u32,
    /// frerSeqRcvyLatentErrorPeriod, ns (the test runs this often).
    pub latent_error_period_ns: u64,
    /// frerSeqRcvyLatentResetPeriod, ns (the base is taken again this often).
    pub latent_reset_period_ns: u64,
}

impl Default for FrerParams {
    /// Vector recovery over a history of 32 (paths may differ by up to 32
    /// frames and still be eliminated), reset after 1 s without a frame
    /// passed, latent error test every 2 s against a base taken every 30 s,
    /// allowing a difference of 4 frames (in flight on the slower path).
    fn default() -> Self {
        FrerParams {
            algorithm: RecoveryAlgorithm::Vector,
            history_length: 32,
            reset_timeout_ns: 1_000_000_000,
            individual_recovery: false,
            take_no_sequence: false,
            latent_error_detection: true,
            // Paths that differ by a few frames in flight are healthy: with
            // 0, a test that falls between two copies signals an error.
            latent_error_difference: 4,
            latent_error_period_ns: 2_000_000_000,
            latent_reset_period_ns: 30_000_000_000,
        }
    }
}

/// Ports and replication of every stream, and the recovery parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redundancy {
    /// Per stream: the ports it is sent and received on.
    pub ports: Vec<PortMask>,
    /// Per stream: replicated with an R-TAG on each of its ports
    /// (`redundancy = "frer"`), eliminated at the listener.
    pub frer: Vec<bool>,
    /// Names of the ports (`[frer] ports = ["a", "b"]`), by index; empty:
    /// ports are only numbered.
    pub port_names: Vec<String>,
    pub params: FrerParams,
}

impl Redundancy {
    /// Every stream on port 0, none replicated.
    pub fn none(streams: usize) -> Self {
        Redundancy {
            ports: vec![PortMask::FIRST; streams],
            frer: vec![false; streams],
            port_names: Vec::new(),
            params: FrerParams::default(),
        }
    }
}

/// Why a redundancy set-up is refused. `stream` is a position in the
/// schedule's streams.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedundancyError {
    #[error("{what} has {have} entries for {want} streams")]
    Length {
        what: &'static str,
        have: usize,
        want: usize,
    },
    #[error("stream \"{name}\" uses no port: give it at least one in `ports`")]
    NoPort { stream: usize, name: String },
    #[error("stream \"{name}\" names port {port}: takt drives at most {MAX_PORTS} ports (0..={})", MAX_PORTS - 1)]
    PortOutOfRange {
        stream: usize,
        name: String,
        port: usize,
    },
    #[error("stream \"{name}\" has redundancy = \"frer\" on one port: replication needs two or more, e.g. ports = [0, 1]")]
    OnePort { stream: usize, name: String },
    #[error("stream \"{name}\" is not replicated but has {count} ports: give it one port, or redundancy = \"frer\"")]
    SeveralPortsWithoutFrer {
        stream: usize,
        name: String,
        count: u32,
    },
    #[error("stream \"{name}\" has frame_size {have}: a replicated frame carries a 6-byte R-TAG, so give it frame_size >= {MIN_FRER_FRAME_SIZE}")]
    FrameTooSmall {
        stream: usize,
        name: String,
        have: u32,
    },
    #[error("history_length {0} is out of range: use {MIN_HISTORY_LENGTH}..={MAX_HISTORY_LENGTH}")]
    HistoryLength(u16),
    #[error("reset_timeout must be longer than 0")]
    ZeroResetTimeout,
    #[error("latent_error_period must be longer than 0 and at most latent_reset_period")]
    LatentPeriods,
}

impl RedundancyError {
    /// The stream the error is about, if one.
    pub fn stream(&self) -> Option<usize> {
        match *self {
            RedundancyError::NoPort { stream, .. }
            | RedundancyError::PortOutOfRange { stream, .. }
            | RedundancyError::OnePort { stream, .. }
            | RedundancyError::SeveralPortsWithoutFrer { stream, .. }
            | RedundancyError::FrameTooSmall { stream, .. } => Some(stream),
            _ => None,
        }
    }
}

/// Check `r` against `streams`.
pub fn check(streams: &[Stream], r: &Redundancy) -> Result<(), RedundancyError> {
    for (what, have) in [("ports", r.ports.len()), ("frer", r.frer.len())] {
        if have != streams.len() {
            return Err(RedundancyError::Length {
                what,
                have,
                want: streams.len(),
            });
        }
    }
    for (i, s) in streams.iter().enumerate() {
        let (mask, frer) = (r.ports[i], r.frer[i]);
        let name = || s.name.clone();
        if mask.count() == 0 {
            return Err(RedundancyError::NoPort {
                stream: i,
                name: name(),
            });
        }
        if mask.ports_needed() > MAX_PORTS {
            return Err(RedundancyError::PortOutOfRange {
                stream: i,
                name: name(),
                port: mask.ports_needed() - 1,
            });
        }
        if frer && mask.count() < 2 {
            return Err(RedundancyError::OnePort {
                stream: i,
                name: name(),
            });
        }
        if !frer && mask.count() > 1 {
            return Err(RedundancyError::SeveralPortsWithoutFrer {
                stream: i,
                name: name(),
                count: mask.count(),
            });
        }
        if frer && s.frame_size < MIN_FRER_FRAME_SIZE {
            return Err(RedundancyError::FrameTooSmall {
                stream: i,
                name: name(),
                have: s.frame_size,
            });
        }
    }
    let p = &r.params;
    if !(MIN_HISTORY_LENGTH..=MAX_HISTORY_LENGTH).contains(&p.history_length) {
        return Err(RedundancyError::HistoryLength(p.history_length));
    }
    if p.reset_timeout_ns == 0 {
        return Err(RedundancyError::ZeroResetTimeout);
    }
    if p.latent_error_detection
        && (p.latent_error_period_ns == 0 || p.latent_error_period_ns > p.latent_reset_period_ns)
    {
        return Err(RedundancyError::LatentPeriods);
    }
    Ok(())
}
