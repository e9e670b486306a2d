//! What the core tells its owner: port state and servo figures
//! (`CoreStatus`), counters (`CoreCounters`), and names as ptp4l and pmc
//! print them.

use super::frame::{PortId, Rejected};
use super::profile::{msg_type, Timescale};
use statime::observability::port::PortState;

/// ptp4l's name of a port state.
pub fn state_name(state: PortState) -> &'static str {
    match state {
        PortState::Initializing => "INITIALIZING",
        PortState::Faulty => "FAULTY",
        PortState::Disabled => "DISABLED",
        PortState::Listening => "LISTENING",
        PortState::PreMaster => "PRE_MASTER",
        PortState::Master => "MASTER",
        PortState::Passive => "PASSIVE",
        PortState::Uncalibrated => "UNCALIBRATED",
        PortState::Slave => "SLAVE",
    }
}

/// A clock identity as pmc prints it: "001122.fffe.334455".
pub fn clock_identity_string(id: &[u8; 8]) -> String {
    format!(
        "{:02x}{:02x}{:02x}.{:02x}{:02x}.{:02x}{:02x}{:02x}",
        id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7]
    )
}

/// A port identity as ptp4l prints it: "001122.fffe.334455-1".
pub fn port_identity_string(id: &PortId) -> String {
    format!("{}-{}", clock_identity_string(&id.clock), id.port)
}

/// The port now.
#[derive(Clone, Debug, PartialEq)]
pub struct CoreStatus {
    /// ptp4l's name: "LISTENING", "MASTER", "SLAVE", "PASSIVE", "FAULTY".
    pub port_state: &'static str,
    pub port_identity: PortId,
    /// The master's port (SLAVE only).
    pub parent: Option<PortId>,
    /// The grandmaster's clock identity (this clock's own as MASTER; none
    /// while LISTENING or FAULTY).
    pub grandmaster: Option<[u8; 8]>,
    pub steps_removed: u16,
    /// The last measured offset from the master, ns.
    pub last_offset_ns: Option<i64>,
    /// Mean path (1588) or link (gPTP) delay, ns.
    pub mean_delay_ns: Option<i64>,
    /// The servo's frequency correction against the host clock, ppb.
    pub freq_ppb: f64,
    /// SLAVE and locked, or MASTER.
    pub locked: bool,
    /// The timescale the master announces (SLAVE only): ARB masters'
    /// times are compared as they are.
    pub master_timescale: Option<Timescale>,
    /// Event messages sent whose transmit stamp has not come back yet.
    pub stamps_waiting: usize,
}

/// Everything counted since the core started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreCounters {
    /// Messages handed to the port, by messageType.
    pub rx: [u64; 16],
    /// Frames refused, by `Rejected::index()`.
    pub rejected: [u64; Rejected::COUNT],
    /// Frames handed out by `pop_tx`, by messageType.
    pub tx: [u64; 16],
    /// Frames the port wanted sent that did not fit the queue.
    pub tx_dropped: u64,
    /// Event messages whose transmit stamp never came back in time.
    pub tx_stamps_missing: u64,
    /// Stamps for tags not (or no longer) waiting.
    pub tx_stamps_unknown: u64,
    /// Offsets dropped because `take_offsets` was not called in time.
    pub offsets_dropped: u64,
    /// Measurements kept from the servo as implausible (a master time
    /// near the epoch, a delay over a second).
    pub implausible_measurements: u64,
    /// Clock steps the servo asked for and the clock refused (to before
    /// 1970-01-01T00:00:01 or past u64 ns).
    pub refused_steps: u64,
    /// Syncs held back because the last Sync's Follow_Up was not out.
    pub syncs_held: u64,
    /// Times the servo broke down (NaN or overflow inside statime's
    /// filter, from forged measurements) and was started afresh.
    pub servo_resets: u64,
}

impl CoreCounters {
    pub fn rx_total(&self) -> u64 {
        self.rx.iter().sum()
    }

    pub fn tx_total(&self) -> u64 {
        self.tx.iter().sum()
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    pub fn rejected(&self, reason: Rejected) -> u64 {
        self.rejected[reason.index()]
    }

    /// Messages received of one type, by ptp4l's name ("SYNC", ...).
    pub fn rx_of(&self, name: &str) -> u64 {
        msg_type::NAMES
            .iter()
            .position(|n| !n.is_empty() && *n == name)
            .map_or(0, |i| self.rx[i])
    }

    /// One line for a person: what came in by type, what was refused and
    /// why, what went out ("rx 12 (PDELAY_REQ 12), refused 3
    /// (wrong_destination 3), tx 24 (PDELAY_REQ 12, PDELAY_RESP 12)").
    pub fn summary(&self) -> String {
        let by_type = |counts: &[u64; 16]| {
            let parts: Vec<String> = counts
                .iter()
                .zip(msg_type::NAMES)
                .filter(|(n, name)| **n > 0 && !name.is_empty())
                .map(|(n, name)| format!("{name} {n}"))
                .collect();
            if parts.is_empty() {
                String::new()
            } else {
                format!(" ({})", parts.join(", "))
            }
        };
        let refused: Vec<String> = Rejected::ALL
            .iter()
            .filter(|r| self.rejected(**r) > 0)
            .map(|r| format!("{} {}", r.name(), self.rejected(*r)))
            .collect();
        let mut s = format!("rx {}{}", self.rx_total(), by_type(&self.rx));
        if !refused.is_empty() {
            s.push_str(&format!(
                ", refused {} ({})",
                self.rejected_total(),
                refused.join(", ")
            ));
        }
        s.push_str(&format!(", tx {}{}", self.tx_total(), by_type(&self.tx)));
        s
    }

    /// Messages sent of one type, by ptp4l's name.
    pub fn tx_of(&self, name: &str) -> u64 {
        msg_type::NAMES
            .iter()
            .position(|n| !n.is_empty() && *n == name)
            .map_or(0, |i| self.tx[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_print_as_pmc_does() {
        let id = PortId {
            clock: [0x00, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55],
            port: 1,
        };
        assert_eq!(port_identity_string(&id), "001122.fffe.334455-1");
    }
}
