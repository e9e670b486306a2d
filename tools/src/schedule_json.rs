//! The normalised schedule as JSON, for other tools (`takt check --json`).
//!
//! Every time is an integer number of nanoseconds: absolute times on the
//! schedule clock for base times and the switch, offsets from the cycle
//! start for entries, launches and windows. Field names are a stable
//! interface, documented in `docs/check-json.md`: add fields, never rename.

use serde::Serialize;
use takt_scheduler::config::{log_interval_ns, ControlSection, PtpSection};
use takt_scheduler::schedule::TRAFFIC_CLASSES;
use takt_scheduler::{GateControlList, Schedule, Which, Window};
use takt_stack::footprint::Footprint;

use crate::timeline::{format_mac, launch_offset};

/// One schedule file. The top-level `base_time`, `cycle_time`,
/// `cycle_time_extension` and `entries` repeat `oper`'s, for tools that
/// only care about the list in force first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScheduleJson {
    pub file: String,
    pub clock: &'static str,
    pub base_time: u64,
    pub cycle_time: u64,
    pub cycle_time_extension: u64,
    pub link: LinkJson,
    pub entries: Vec<EntryJson>,
    pub oper: ListJson,
    pub admin: Option<ListJson>,
    pub switch: Option<SwitchJson>,
    pub streams: Vec<StreamJson>,
    pub warnings: Vec<String>,
    /// The `[control]` section; `None` (null) when the file has none.
    pub control: Option<ControlJson>,
    /// The `[ptp]` section; `None` (null) when the file has none.
    pub ptp: Option<PtpJson>,
    /// What a run of this schedule allocates at start-up, in bytes.
    pub memory: MemoryJson,
    /// Ports (`--device`s) a run needs: the highest port any stream uses,
    /// plus one.
    pub ports_needed: usize,
    /// Port names and the sequence recovery's parameters (`[frer]`), when
    /// a stream is replicated or the ports are named; null otherwise.
    pub frer: Option<FrerJson>,
}

/// `[frer]` as it runs (defaults filled in); durations in ns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FrerJson {
    /// Names of ports 0, 1, ...; empty when the file names none.
    pub ports: Vec<String>,
    /// "vector" or "match".
    pub algorithm: &'static str,
    pub history_length: u16,
    pub reset_timeout: u64,
    pub individual_recovery: bool,
    pub take_no_sequence: bool,
    pub latent_error_detection: bool,
    pub latent_error_difference: u32,
    pub latent_error_period: u64,
    pub latent_reset_period: u64,
}

fn frer_json(schedule: &Schedule) -> Option<FrerJson> {
    let r = schedule.redundancy();
    if !schedule.has_frer() && r.port_names.is_empty() {
        return None;
    }
    let p = &r.params;
    Some(FrerJson {
        ports: r.port_names.clone(),
        algorithm: p.algorithm.as_str(),
        history_length: p.history_length,
        reset_timeout: p.reset_timeout_ns,
        individual_recovery: p.individual_recovery,
        take_no_sequence: p.take_no_sequence,
        latent_error_detection: p.latent_error_detection,
        latent_error_difference: p.latent_error_difference,
        latent_error_period: p.latent_error_period_ns,
        latent_reset_period: p.latent_reset_period_ns,
    })
}

/// Bytes a run allocates at start-up (`takt_stack::footprint`); the
/// device's rings are not included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemoryJson {
    pub talker: u64,
    pub listener: u64,
    pub loopback: u64,
    /// Added to a talker or listener by the `[control]` section (counted
    /// whether or not the file has one).
    pub control: u64,
    /// Added to a talker or listener by `--hist-log` (twice to loopback).
    pub hist_log: u64,
    pub per_stream: u64,
    pub plan: u64,
}

impl From<Footprint> for MemoryJson {
    fn from(f: Footprint) -> Self {
        MemoryJson {
            talker: f.talker_bytes,
            listener: f.listener_bytes,
            loopback: f.loopback_bytes,
            control: f.control_bytes,
            hist_log: f.hist_log_bytes,
            per_stream: f.per_stream_bytes,
            plan: f.plan_bytes,
        }
    }
}

/// The control plane: IPv4 interface and the gate its frames wait for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ControlJson {
    pub address: String,
    pub prefix_len: u8,
    pub gateway: Option<String>,
    /// The class in effect: the file's, or the default.
    pub best_effort_class: Option<u8>,
    /// True when `best_effort_class` was left out of the file.
    pub best_effort_class_default: bool,
    pub status_port: u16,
    pub guard_band: u64,
    /// The pre-shared key's file as written; `None`: read-only (schedule
    /// changes refused).
    pub key_file: Option<String>,
    /// Networks the service answers (`A.B.C.D/N`): the file's, or the
    /// port's own subnet when it gives none.
    pub allow: Vec<String>,
    /// True when `allow` was left out of the file.
    pub allow_default: bool,
}

/// The network `address/prefix_len` is in, as `A.B.C.D/N`.
fn own_subnet(address: std::net::Ipv4Addr, prefix_len: u8) -> String {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix_len.min(32)))
        .unwrap_or(0);
    let net = std::net::Ipv4Addr::from(u32::from(address) & mask);
    format!("{net}/{prefix_len}")
}

/// Time synchronisation: how the port takes part in PTP, the gate its
/// frames wait for, and when a run counts as in sync. Intervals are given
/// as written (log2 seconds) and in ns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PtpJson {
    pub mode: &'static str,
    pub profile: &'static str,
    pub domain: u8,
    pub priority1: u8,
    pub priority2: u8,
    /// The class in effect: the file's, or the default; `None` when none
    /// opens (only possible with mode off).
    pub class: Option<u8>,
    /// True when `class` was left out of the file.
    pub class_default: bool,
    /// The class's open windows in the oper list, offsets in the cycle.
    pub class_windows: Vec<WindowJson>,
    /// The same in the admin list; `None` without one.
    pub admin_class_windows: Option<Vec<WindowJson>>,
    pub log_sync_interval: i8,
    pub sync_interval: u64,
    pub log_announce_interval: i8,
    pub announce_interval: u64,
    pub log_delay_interval: i8,
    pub delay_interval: u64,
    /// "pdelay" (gptp) or "delay_req" (1588): what `delay_interval` paces.
    pub delay_mechanism: &'static str,
    pub announce_receipt_timeout: u8,
    pub sync_threshold: u64,
    pub sync_wait: u64,
    pub guard_band: u64,
    pub ptp4l_socket: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkJson {
    pub speed_bps: u64,
    pub tc_to_pcp: [u8; 8],
}

/// One gate control list with its entries as they run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListJson {
    pub base_time: u64,
    pub cycle_time: u64,
    pub cycle_time_extension: u64,
    pub entries: Vec<EntryJson>,
}

/// An entry as it runs inside one cycle (after `cycle_time` cut or
/// stretched the list); entries that never run are left out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryJson {
    /// Position of the entry in the file's list, from 0.
    pub index: usize,
    pub start: u64,
    pub end: u64,
    /// `end - start`.
    pub interval: u64,
    pub gate_mask: u8,
    /// The open traffic classes, ascending.
    pub gates: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SwitchJson {
    pub at: u64,
    pub last_oper_cycle: u64,
    pub last_oper_start: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StreamJson {
    pub name: String,
    pub traffic_class: u8,
    pub vlan_id: u16,
    pub pcp: u8,
    pub dst_mac: String,
    pub frame_size: u32,
    pub wire_time: u64,
    pub offset: u64,
    pub frames_per_cycle: u32,
    pub spacing: u64,
    pub launch_offsets: Vec<u64>,
    pub window: WindowJson,
    pub admin_window: Option<WindowJson>,
    /// The forward stream this one carries back (`return_of`), or null.
    pub return_of: Option<String>,
    /// The stream that carries this one back, or null.
    pub returned_by: Option<String>,
    /// The ports (indices, in the order of `--device`) it leaves and
    /// arrives on; `[0]` unless the file says otherwise.
    pub ports: Vec<usize>,
    /// "frer" (one copy per port, with an R-TAG) or "none".
    pub redundancy: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct WindowJson {
    pub start: u64,
    pub end: u64,
}

impl From<Window> for WindowJson {
    fn from(w: Window) -> Self {
        WindowJson {
            start: w.start_ns,
            end: w.end_ns,
        }
    }
}

impl ScheduleJson {
    /// `warnings` are the messages to list (without file positions); use
    /// [`ScheduleJson::from_schedule`] to take them from the schedule.
    pub fn new(file: &str, schedule: &Schedule, warnings: Vec<String>) -> Self {
        let oper = list(schedule.oper());
        let link = schedule.link();
        let has_admin = schedule.admin().is_some();
        let streams = schedule
            .streams()
            .iter()
            .enumerate()
            .map(|(i, s)| StreamJson {
                name: s.name.clone(),
                traffic_class: s.traffic_class,
                vlan_id: s.vlan_id,
                pcp: s.pcp,
                dst_mac: format_mac(&s.dst_mac),
                frame_size: s.frame_size,
                wire_time: link.wire_time_ns(s.frame_size),
                offset: s.offset_ns,
                frames_per_cycle: s.frames_per_cycle,
                spacing: s.spacing_ns,
                launch_offsets: (0..s.frames_per_cycle)
                    .map(|f| launch_offset(s, f))
                    .collect(),
                window: schedule.stream_window_offsets(i, Which::Oper).into(),
                admin_window: has_admin
                    .then(|| schedule.stream_window_offsets(i, Which::Admin).into()),
                return_of: schedule
                    .return_of(i)
                    .map(|f| schedule.streams()[f].name.clone()),
                returned_by: schedule
                    .return_stream(i)
                    .map(|r| schedule.streams()[r].name.clone()),
                ports: schedule.stream_ports(i).iter().collect(),
                redundancy: if schedule.is_frer(i) { "frer" } else { "none" },
            })
            .collect();
        ScheduleJson {
            file: file.to_string(),
            clock: schedule.clock().as_str(),
            base_time: oper.base_time,
            cycle_time: oper.cycle_time,
            cycle_time_extension: oper.cycle_time_extension,
            link: LinkJson {
                speed_bps: link.speed_bps,
                tc_to_pcp: link.tc_to_pcp,
            },
            entries: oper.entries.clone(),
            oper,
            admin: schedule.admin().map(list),
            switch: schedule.switch().map(|sw| SwitchJson {
                at: sw.at_ns,
                last_oper_cycle: sw.last_oper_cycle,
                last_oper_start: sw.last_oper_start_ns,
            }),
            streams,
            warnings,
            memory: Footprint::of(schedule).into(),
            control: None,
            ptp: None,
            ports_needed: schedule.ports_needed(),
            frer: frer_json(schedule),
        }
    }

    /// With the file's `[control]` section (`None`: none in the file).
    pub fn with_control(mut self, schedule: &Schedule, control: Option<&ControlSection>) -> Self {
        self.control = control.map(|c| ControlJson {
            address: c.address.to_string(),
            prefix_len: c.prefix_len,
            gateway: c.gateway.map(|g| g.to_string()),
            best_effort_class: c.best_effort_class_in(schedule),
            best_effort_class_default: c.best_effort_class.is_none(),
            status_port: c.status_port,
            guard_band: c.guard_band_ns,
            key_file: c.key_file.clone(),
            allow: if c.allow.is_empty() {
                vec![own_subnet(c.address, c.prefix_len)]
            } else {
                c.allow.iter().map(|(a, n)| format!("{a}/{n}")).collect()
            },
            allow_default: c.allow.is_empty(),
        });
        self
    }

    /// With the file's `[ptp]` section (`None`: none in the file).
    pub fn with_ptp(mut self, schedule: &Schedule, ptp: Option<&PtpSection>) -> Self {
        self.ptp = ptp.map(|p| {
            let class = p
                .class_in(schedule)
                .filter(|&c| usize::from(c) < TRAFFIC_CLASSES);
            let windows = |g: &GateControlList| -> Vec<WindowJson> {
                class.map_or_else(Vec::new, |c| {
                    g.class_windows(c).iter().map(|&w| w.into()).collect()
                })
            };
            PtpJson {
                mode: p.mode.as_str(),
                profile: p.profile.as_str(),
                domain: p.domain,
                priority1: p.priority1,
                priority2: p.priority2,
                class,
                class_default: p.class.is_none(),
                class_windows: windows(schedule.oper()),
                admin_class_windows: schedule.admin().map(windows),
                log_sync_interval: p.log_sync_interval,
                sync_interval: log_interval_ns(p.log_sync_interval),
                log_announce_interval: p.log_announce_interval,
                announce_interval: log_interval_ns(p.log_announce_interval),
                log_delay_interval: p.log_delay_interval,
                delay_interval: log_interval_ns(p.log_delay_interval),
                delay_mechanism: p.profile.delay_mechanism(),
                announce_receipt_timeout: p.announce_receipt_timeout,
                sync_threshold: p.sync_threshold_ns,
                sync_wait: p.sync_wait_ns,
                guard_band: p.guard_band_ns,
                ptp4l_socket: p.ptp4l_socket.display().to_string(),
            }
        });
        self
    }

    /// With the schedule's own warnings.
    pub fn from_schedule(file: &str, schedule: &Schedule) -> Self {
        let warnings = schedule.warnings().iter().map(|w| w.to_string()).collect();
        Self::new(file, schedule, warnings)
    }
}

fn list(gcl: &GateControlList) -> ListJson {
    ListJson {
        base_time: gcl.base_time_ns(),
        cycle_time: gcl.cycle_time_ns(),
        cycle_time_extension: gcl.cycle_time_extension_ns(),
        entries: gcl
            .slots()
            .iter()
            .map(|s| EntryJson {
                index: s.entry,
                start: s.start_ns,
                end: s.end_ns,
                interval: s.end_ns - s.start_ns,
                gate_mask: s.gate_mask,
                gates: (0..8).filter(|c| s.gate_mask & (1 << c) != 0).collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{admin_schedule, entry, many_frames_schedule, two_class_schedule, GBPS};
    use serde_json::{json, Value};
    use takt_scheduler::config::{PtpMode, PtpProfile};
    use takt_scheduler::ClockId;

    #[test]
    fn two_class_json() {
        let s = two_class_schedule();
        let v = serde_json::to_value(ScheduleJson::from_schedule("two.toml", &s)).unwrap();
        assert_eq!(v["file"], "two.toml");
        assert_eq!(v["clock"], "tai");
        assert_eq!(v["base_time"], 0);
        assert_eq!(v["cycle_time"], 250_000);
        assert_eq!(v["cycle_time_extension"], 0);
        assert_eq!(
            v["link"],
            json!({"speed_bps": 1_000_000_000u64, "tc_to_pcp": [0, 1, 2, 3, 4, 5, 6, 7]})
        );
        assert_eq!(
            v["entries"][0],
            json!({"index": 0, "start": 0, "end": 30_000, "interval": 30_000, "gate_mask": 128, "gates": [7]})
        );
        assert_eq!(v["entries"][3]["gates"], json!([]));
        assert_eq!(v["entries"], v["oper"]["entries"]);
        assert_eq!(v["admin"], Value::Null);
        assert_eq!(v["switch"], Value::Null);
        let control = &v["streams"][0];
        assert_eq!(control["name"], "control");
        assert_eq!(control["dst_mac"], "91:e0:f0:00:fe:01");
        assert_eq!(control["wire_time"], 1_184);
        assert_eq!(
            control["launch_offsets"],
            json!([1_000, 6_000, 11_000, 16_000])
        );
        assert_eq!(control["window"], json!({"start": 0, "end": 30_000}));
        assert_eq!(control["admin_window"], Value::Null);
        assert_eq!(
            v["streams"][1]["window"],
            json!({"start": 30_000, "end": 80_000})
        );
        // The best-effort entry carries no stream: the model warns about it.
        let warnings = v["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].as_str().unwrap().contains("oper entry 2"),
            "{warnings:?}"
        );
    }

    #[test]
    fn admin_json() {
        let s = admin_schedule();
        let v = serde_json::to_value(ScheduleJson::from_schedule("a.toml", &s)).unwrap();
        assert_eq!(v["oper"]["cycle_time_extension"], 150_000);
        assert_eq!(v["admin"]["base_time"], 2_000_100_000u64);
        assert_eq!(v["admin"]["cycle_time"], 200_000);
        assert_eq!(v["admin"]["entries"][1]["end"], 200_000);
        assert_eq!(
            v["switch"],
            json!({"at": 2_000_100_000u64, "last_oper_cycle": 7_999, "last_oper_start": 1_999_750_000u64})
        );
        assert_eq!(
            v["streams"][0]["admin_window"],
            json!({"start": 0, "end": 50_000})
        );
    }

    #[test]
    fn entries_are_slots_as_they_run() {
        // cycle_time 250us cuts a 100+100+100 list: entry 2 runs 50us.
        let oper = takt_scheduler::GateControlList::new(
            0,
            Some(250_000),
            0,
            vec![
                entry(&[7], 100_000),
                entry(&[0], 100_000),
                entry(&[1], 100_000),
            ],
        )
        .unwrap();
        let s = Schedule::new(ClockId::Realtime, GBPS, oper, None, vec![]).unwrap();
        let j = ScheduleJson::from_schedule("cut.toml", &s);
        assert_eq!(j.clock, "realtime");
        let last = j.entries.last().unwrap();
        assert_eq!(
            (last.index, last.start, last.end, last.interval),
            (2, 200_000, 250_000, 50_000)
        );
        assert_eq!(
            j.entries.iter().map(|e| e.interval).sum::<u64>(),
            j.cycle_time
        );
    }

    #[test]
    fn control_json_is_null_without_a_section_and_an_object_with_one() {
        let s = two_class_schedule();
        let v = serde_json::to_value(ScheduleJson::from_schedule("two.toml", &s)).unwrap();
        assert_eq!(v["control"], Value::Null);
        let c = ControlSection {
            key_file: None,
            allow: Vec::new(),
            address: [10, 77, 0, 1].into(),
            prefix_len: 24,
            gateway: None,
            best_effort_class: None,
            status_port: 9700,
            guard_band_ns: 20_000,
        };
        let j = ScheduleJson::from_schedule("two.toml", &s).with_control(&s, Some(&c));
        assert_eq!(
            serde_json::to_value(j).unwrap()["control"],
            json!({"address": "10.77.0.1", "prefix_len": 24, "gateway": null,
                   "best_effort_class": 0, "best_effort_class_default": true,
                   "status_port": 9700, "guard_band": 20_000, "key_file": null,
                   "allow": ["10.77.0.0/24"], "allow_default": true})
        );
        let c = ControlSection {
            key_file: Some("ctl.key".into()),
            allow: vec![([10, 80, 0, 0].into(), 16), ([192, 0, 2, 7].into(), 32)],
            ..c
        };
        let j = ScheduleJson::from_schedule("two.toml", &s).with_control(&s, Some(&c));
        let v = serde_json::to_value(j).unwrap();
        assert_eq!(v["control"]["key_file"], "ctl.key");
        assert_eq!(
            v["control"]["allow"],
            json!(["10.80.0.0/16", "192.0.2.7/32"])
        );
        assert_eq!(v["control"]["allow_default"], false);
    }

    #[test]
    fn ptp_json_is_null_without_a_section_and_every_field_with_one() {
        let s = admin_schedule();
        let v = serde_json::to_value(ScheduleJson::from_schedule("a.toml", &s)).unwrap();
        assert_eq!(v["ptp"], Value::Null);
        let p = PtpSection {
            mode: PtpMode::Slave,
            log_sync_interval: -7,
            ..PtpSection::defaults(PtpProfile::Default1588)
        };
        let j = ScheduleJson::from_schedule("a.toml", &s).with_ptp(&s, Some(&p));
        assert_eq!(
            serde_json::to_value(j).unwrap()["ptp"],
            json!({"mode": "slave", "profile": "1588", "domain": 0,
                   "priority1": 128, "priority2": 128,
                   "class": 0, "class_default": true,
                   "class_windows": [{"start": 50_000, "end": 250_000}],
                   "admin_class_windows": [{"start": 50_000, "end": 200_000}],
                   "log_sync_interval": -7, "sync_interval": 7_812_500,
                   "log_announce_interval": 1, "announce_interval": 2_000_000_000u64,
                   "log_delay_interval": 0, "delay_interval": 1_000_000_000,
                   "delay_mechanism": "delay_req", "announce_receipt_timeout": 3,
                   "sync_threshold": 100_000, "sync_wait": 30_000_000_000u64, "guard_band": 0,
                   "ptp4l_socket": "/var/run/ptp4l"})
        );
        // Without an admin list there are no admin windows; the gPTP
        // profile paces peer delay requests.
        let s = two_class_schedule();
        let p = PtpSection {
            class: Some(3),
            ..PtpSection::defaults(PtpProfile::Gptp)
        };
        let v =
            serde_json::to_value(ScheduleJson::from_schedule("t.toml", &s).with_ptp(&s, Some(&p)))
                .unwrap();
        assert_eq!(
            (&v["ptp"]["class"], &v["ptp"]["class_default"]),
            (&json!(3), &json!(false))
        );
        assert_eq!(v["ptp"]["admin_class_windows"], Value::Null);
        assert_eq!(v["ptp"]["delay_mechanism"], "pdelay");
    }

    #[test]
    fn every_launch_offset_is_listed() {
        let s = many_frames_schedule(1000);
        let j = ScheduleJson::from_schedule("many.toml", &s);
        let offs = &j.streams[0].launch_offsets;
        assert_eq!(offs.len(), 1000);
        assert!(offs.iter().enumerate().all(|(i, &o)| o == i as u64 * 1_000));
    }
}
