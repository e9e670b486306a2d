//! Why the UDP service refused a datagram, and how many it refused for
//! each reason (the report's `control.refused`, docs/reports.md). Nothing
//! is dropped without being counted here.

use serde::{Deserialize, Serialize};

/// One reason a request was refused. Only `Oversize`, `PadRequest` and
/// `Invalid` (signed, so from someone holding the key) are
/// answered (with a short error); every other refusal gets no reply, so
/// that nobody can make the service send to a third party or bounce
/// datagrams with another service (docs/control-plane.md, threat model).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The sender is outside `[control] allow`.
    NotAllowed,
    /// Sent to a broadcast or multicast address.
    NotUnicast,
    /// Not a request at all (unknown word, a reply, bad `auth` line, ...).
    Malformed,
    /// A schedule change without a signature.
    Unsigned,
    /// A signature that does not verify with the key.
    BadSignature,
    /// A signed request whose counter is not above the last accepted one,
    /// or too far from the service's clock.
    Replayed,
    /// A schedule change to a service that has no key (read-only).
    ReadOnly,
    /// Over the 8192 bytes accepted (answered with an error).
    Oversize,
    /// A status request too short for its reply (answered with how long
    /// it must be).
    PadRequest,
    /// A signed schedule change that does not validate, or that the
    /// talker could not take (answered with the error and its line:col).
    Invalid,
}

/// Refusals by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusals {
    pub not_allowed: u64,
    pub not_unicast: u64,
    pub malformed: u64,
    pub unsigned: u64,
    pub bad_signature: u64,
    pub replayed: u64,
    pub read_only: u64,
    pub oversize: u64,
    pub pad_request: u64,
    #[serde(default)]
    pub invalid: u64,
}

impl Refusals {
    pub fn count(&mut self, r: Refusal) {
        let c = match r {
            Refusal::NotAllowed => &mut self.not_allowed,
            Refusal::NotUnicast => &mut self.not_unicast,
            Refusal::Malformed => &mut self.malformed,
            Refusal::Unsigned => &mut self.unsigned,
            Refusal::BadSignature => &mut self.bad_signature,
            Refusal::Replayed => &mut self.replayed,
            Refusal::ReadOnly => &mut self.read_only,
            Refusal::Oversize => &mut self.oversize,
            Refusal::PadRequest => &mut self.pad_request,
            Refusal::Invalid => &mut self.invalid,
        };
        *c = c.saturating_add(1);
    }

    pub fn total(&self) -> u64 {
        [
            self.not_allowed,
            self.not_unicast,
            self.malformed,
            self.unsigned,
            self.bad_signature,
            self.replayed,
            self.read_only,
            self.oversize,
            self.pad_request,
            self.invalid,
        ]
        .iter()
        .fold(0u64, |a, &b| a.saturating_add(b))
    }

    /// `name n` for each reason counted, for the text report.
    pub fn text(&self) -> String {
        let all = [
            ("not_allowed", self.not_allowed),
            ("not_unicast", self.not_unicast),
            ("malformed", self.malformed),
            ("unsigned", self.unsigned),
            ("bad_signature", self.bad_signature),
            ("replayed", self.replayed),
            ("read_only", self.read_only),
            ("oversize", self.oversize),
            ("pad_request", self.pad_request),
            ("invalid", self.invalid),
        ];
        let parts: Vec<String> = all
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_count() {
        let mut r = Refusals::default();
        r.count(Refusal::Replayed);
        r.count(Refusal::Replayed);
        r.count(Refusal::NotAllowed);
        assert_eq!((r.replayed, r.not_allowed, r.total()), (2, 1, 3));
        assert_eq!(r.text(), "not_allowed 1, replayed 2");
        assert_eq!(Refusals::default().text(), "none");
    }
}
