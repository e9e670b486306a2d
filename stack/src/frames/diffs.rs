//! The named differences of a record, by the report's definitions: what
//! `takt frames` prints and what `--summary` puts into histograms.

use super::record::{FrameRecord, RecordKind, Stage};

/// A named difference of two stages of one record kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Diff {
    /// tx: H - S.
    TxError,
    /// tx: W - S.
    WakeError,
    /// tx: T - H.
    Driver,
    /// rx: R - H (the report's latency).
    Wire,
    /// rx: A - R (not with a receive-poll rx stamp: R is A then).
    Pickup,
    /// rx: A - S.
    EndToEnd,
    /// return: A - H.
    Rtt,
    /// return: R - H.
    RttDevice,
}

impl Diff {
    pub const ALL: [Diff; 8] = [
        Diff::TxError,
        Diff::WakeError,
        Diff::Driver,
        Diff::Wire,
        Diff::Pickup,
        Diff::EndToEnd,
        Diff::Rtt,
        Diff::RttDevice,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Diff::TxError => "tx_error",
            Diff::WakeError => "wake_error",
            Diff::Driver => "driver",
            Diff::Wire => "wire",
            Diff::Pickup => "pickup",
            Diff::EndToEnd => "end_to_end",
            Diff::Rtt => "rtt",
            Diff::RttDevice => "rtt_device",
        }
    }

    pub fn from_name(s: &str) -> Option<Diff> {
        Diff::ALL.into_iter().find(|d| d.name() == s)
    }

    /// The record kind it belongs to and its (from, to) stages.
    pub const fn definition(self) -> (RecordKind, Stage, Stage) {
        use Stage::*;
        match self {
            Diff::TxError => (RecordKind::Tx, Scheduled, HandOver),
            Diff::WakeError => (RecordKind::Tx, Scheduled, Wake),
            Diff::Driver => (RecordKind::Tx, HandOver, TxStamp),
            Diff::Wire => (RecordKind::Rx, HandOver, RxStamp),
            Diff::Pickup => (RecordKind::Rx, RxStamp, App),
            Diff::EndToEnd => (RecordKind::Rx, Scheduled, App),
            Diff::Rtt => (RecordKind::Return, HandOver, App),
            Diff::RttDevice => (RecordKind::Return, HandOver, RxStamp),
        }
    }

    /// `to - from` of `rec` when it is of this kind and both stages are
    /// there. `rx_stamps` is the header's rx stamp source: pickup is not
    /// measured when it is `receive-poll`.
    pub fn of(self, rec: &FrameRecord, rx_stamps: &str) -> Option<i64> {
        let (kind, from, to) = self.definition();
        if rec.kind != kind || (self == Diff::Pickup && rx_stamps == "receive-poll") {
            return None;
        }
        rec.diff(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_follow_the_kind_and_the_stamp_source() {
        let mut rx = FrameRecord::new(RecordKind::Rx, 0, 1);
        rx.set(Stage::Scheduled, 100);
        rx.set(Stage::HandOver, 110);
        rx.set(Stage::RxStamp, 150);
        rx.set(Stage::App, 175);
        assert_eq!(Diff::Wire.of(&rx, "simulated"), Some(40));
        assert_eq!(Diff::Pickup.of(&rx, "simulated"), Some(25));
        assert_eq!(Diff::Pickup.of(&rx, "receive-poll"), None);
        assert_eq!(Diff::EndToEnd.of(&rx, "simulated"), Some(75));
        assert_eq!(Diff::TxError.of(&rx, "simulated"), None);
        assert_eq!(Diff::RttDevice.of(&rx, "simulated"), None);
        let mut tx = FrameRecord::new(RecordKind::Tx, 0, 1);
        tx.set(Stage::Scheduled, 100);
        tx.set(Stage::HandOver, 90);
        assert_eq!(Diff::TxError.of(&tx, ""), Some(-10));
        assert_eq!(Diff::Driver.of(&tx, ""), None);
        assert_eq!(Diff::from_name("end_to_end"), Some(Diff::EndToEnd));
        assert_eq!(Diff::from_name("latency"), None);
    }
}
