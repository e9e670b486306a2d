//! The schedule file as serde sees it: tables with `deny_unknown_fields`,
//! every value `Spanned` so later checks can point at it. Types here are
//! only as strict as TOML's own types; ranges, units and meaning are checked
//! in `build.rs`, where the key's name and position are at hand.

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use toml::Spanned;

/// A table of the file, with its position (the header, or the inline table).
pub(super) type Tab<T> = Spanned<Table<T>>;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawFile {
    pub schedule: Tab<RawGcl>,
    pub admin: Option<Tab<RawGcl>>,
    pub link: Option<Tab<RawLink>>,
    #[serde(default)]
    pub stream: Vec<Tab<RawStream>>,
    pub control: Option<Tab<RawControl>>,
    pub ptp: Option<Tab<RawPtp>>,
    pub frer: Option<Tab<RawFrer>>,
}

/// `[schedule]` and `[admin]` share one shape; `build.rs` rejects `clock`
/// in `[admin]` and requires its `base_time`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawGcl {
    pub clock: Option<Spanned<String>>,
    pub base_time: Option<Spanned<Duration>>,
    pub cycle_time: Option<Spanned<Duration>>,
    pub cycle_time_extension: Option<Spanned<Duration>>,
    #[serde(default)]
    pub entry: Vec<Tab<RawEntry>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawEntry {
    pub gates: Option<Spanned<Vec<Spanned<Int>>>>,
    pub gate_mask: Option<Spanned<Int>>,
    pub interval: Spanned<Duration>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawLink {
    pub speed: Option<Spanned<String>>,
    pub tc_to_pcp: Option<Spanned<Vec<Spanned<Int>>>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawStream {
    pub name: Spanned<String>,
    pub traffic_class: Spanned<Int>,
    pub vlan_id: Spanned<Int>,
    pub pcp: Option<Spanned<Int>>,
    pub dst_mac: Spanned<String>,
    pub frame_size: Option<Spanned<Int>>,
    pub offset: Option<Spanned<Duration>>,
    pub frames_per_cycle: Option<Spanned<Int>>,
    pub spacing: Option<Spanned<Duration>>,
    /// The name of the stream this one carries back (`takt-listener --mirror`).
    pub return_of: Option<Spanned<String>>,
    /// The ports it leaves and arrives on: indices, or names from
    /// `[frer] ports` (`frer.rs`).
    pub ports: Option<Spanned<Vec<Spanned<PortRef>>>>,
    /// "frer" (replicated on every port of `ports`) or "none".
    pub redundancy: Option<Spanned<String>>,
}

/// `[frer]`: port names and the sequence recovery's parameters; every key
/// is optional (`frer.rs`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawFrer {
    pub ports: Option<Spanned<Vec<Spanned<String>>>>,
    pub algorithm: Option<Spanned<String>>,
    pub history_length: Option<Spanned<Int>>,
    pub reset_timeout: Option<Spanned<Duration>>,
    pub individual_recovery: Option<Spanned<bool>>,
    pub take_no_sequence: Option<Spanned<bool>>,
    pub latent_error_detection: Option<Spanned<bool>>,
    pub latent_error_difference: Option<Spanned<Int>>,
    pub latent_error_period: Option<Spanned<Duration>>,
    pub latent_reset_period: Option<Spanned<Duration>>,
}

/// One item of a stream's `ports`: an index or a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PortRef {
    Index(i128),
    Name(String),
}

/// `[control]`: the control plane's IPv4 interface; `control.rs` checks it.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawControl {
    pub address: Spanned<String>,
    pub gateway: Option<Spanned<String>>,
    pub best_effort_class: Option<Spanned<Int>>,
    pub status_port: Option<Spanned<Int>>,
    pub guard_band: Option<Spanned<Duration>>,
    pub key_file: Option<Spanned<String>>,
    pub allow: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `[ptp]`: time synchronisation; every key is optional (`ptp.rs`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawPtp {
    pub mode: Option<Spanned<String>>,
    pub profile: Option<Spanned<String>>,
    pub domain: Option<Spanned<Int>>,
    pub priority1: Option<Spanned<Int>>,
    pub priority2: Option<Spanned<Int>>,
    pub class: Option<Spanned<Int>>,
    pub log_sync_interval: Option<Spanned<Int>>,
    pub log_announce_interval: Option<Spanned<Int>>,
    pub log_delay_interval: Option<Spanned<Int>>,
    pub announce_receipt_timeout: Option<Spanned<Int>>,
    pub sync_threshold: Option<Spanned<Duration>>,
    pub sync_wait: Option<Spanned<Duration>>,
    pub guard_band: Option<Spanned<Duration>>,
    pub ptp4l_socket: Option<Spanned<String>>,
}

/// A table and nothing else. serde's derived structs also accept an array,
/// taking its items as the fields in order, which would read `[[link]]` as
/// `speed = <the table>`; this wrapper lets only a map through.
#[derive(Debug)]
pub(super) struct Table<T>(pub T);

impl<T> Deref for Table<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Table<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(V(PhantomData)).map(Table)
    }
}

/// The key toml uses to hand a date-time over as a map.
pub(super) const DATETIME_KEY: &str = "$__toml_private_datetime";

/// The keys each table accepts, for "unknown key" messages. A unit test
/// checks these against what serde derives from the structs above.
pub(super) const TOP_KEYS: &[&str] = &[
    "schedule", "admin", "link", "stream", "control", "ptp", "frer",
];
pub(super) const SCHEDULE_KEYS: &[&str] = &[
    "clock",
    "base_time",
    "cycle_time",
    "cycle_time_extension",
    "entry",
];
pub(super) const ADMIN_KEYS: &[&str] =
    &["base_time", "cycle_time", "cycle_time_extension", "entry"];
pub(super) const ENTRY_KEYS: &[&str] = &["gates", "gate_mask", "interval"];
pub(super) const LINK_KEYS: &[&str] = &["speed", "tc_to_pcp"];
pub(super) const CONTROL_KEYS: &[&str] = &[
    "address",
    "gateway",
    "best_effort_class",
    "status_port",
    "guard_band",
    "key_file",
    "allow",
];
pub(super) const PTP_KEYS: &[&str] = &[
    "mode",
    "profile",
    "domain",
    "priority1",
    "priority2",
    "class",
    "log_sync_interval",
    "log_announce_interval",
    "log_delay_interval",
    "announce_receipt_timeout",
    "sync_threshold",
    "sync_wait",
    "guard_band",
    "ptp4l_socket",
];
pub(super) const STREAM_KEYS: &[&str] = &[
    "name",
    "traffic_class",
    "vlan_id",
    "pcp",
    "dst_mac",
    "frame_size",
    "offset",
    "frames_per_cycle",
    "spacing",
    "return_of",
    "ports",
    "redundancy",
];
pub(super) const FRER_KEYS: &[&str] = &[
    "ports",
    "algorithm",
    "history_length",
    "reset_timeout",
    "individual_recovery",
    "take_no_sequence",
    "latent_error_detection",
    "latent_error_difference",
    "latent_error_period",
    "latent_reset_period",
];

/// A TOML integer, wide enough for every integer TOML can hand over (i64,
/// and u64/i128 from the toml crate's lenient parser), so that range
/// checks see the real value instead of a serde overflow message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Int(pub i128);

/// A duration as written: integer ns, or a string with a unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Duration {
    Ns(i128),
    Text(String),
}

pub(super) const TOO_LARGE: &str = "this integer is too large";

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                Ok(Int(v.into()))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Int, E> {
                i128::try_from(v).map(Int).map_err(|_| E::custom(TOO_LARGE))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for PortRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PortRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port index (integer) or a port name (string)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortRef, E> {
                Ok(PortRef::Index(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortRef, E> {
                Ok(PortRef::Index(v.into()))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<PortRef, E> {
                Ok(PortRef::Index(v))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<PortRef, E> {
                i128::try_from(v)
                    .map(PortRef::Index)
                    .map_err(|_| E::custom(TOO_LARGE))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortRef, E> {
                Ok(PortRef::Name(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration (integer ns or a string with a unit)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                Ok(Duration::Ns(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                Ok(Duration::Ns(v.into()))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Duration, E> {
                Ok(Duration::Ns(v))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Duration, E> {
                i128::try_from(v)
                    .map(Duration::Ns)
                    .map_err(|_| E::custom(TOO_LARGE))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Ok(Duration::Text(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parse the text into the raw tables. Syntax errors and shape errors come
/// back separately because only shape errors carry a key path.
pub(super) fn parse(text: &str) -> Result<RawFile, Failure> {
    let de = toml::de::Deserializer::parse(text).map_err(Failure::Syntax)?;
    RawFile::deserialize(de).map_err(Failure::Shape)
}

pub(super) enum Failure {
    /// Not TOML at all.
    Syntax(toml::de::Error),
    /// TOML, but not the tables and types of a schedule file.
    Shape(toml::de::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde's own list of fields, from its "unknown field" message.
    fn serde_fields<T: for<'de> Deserialize<'de>>() -> Vec<String> {
        let err = toml::from_str::<T>("zzz_unknown = 1")
            .err()
            .map(|e| e.message().to_owned());
        let msg = err.unwrap_or_default();
        let (_, expected) = msg.split_once(", expected").unwrap_or_default();
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn key_lists_match_the_structs() {
        assert_eq!(serde_fields::<RawFile>(), TOP_KEYS);
        assert_eq!(serde_fields::<RawGcl>(), SCHEDULE_KEYS);
        assert_eq!(serde_fields::<RawEntry>(), ENTRY_KEYS);
        assert_eq!(serde_fields::<RawLink>(), LINK_KEYS);
        assert_eq!(serde_fields::<RawStream>(), STREAM_KEYS);
        assert_eq!(serde_fields::<RawControl>(), CONTROL_KEYS);
        assert_eq!(serde_fields::<RawPtp>(), PTP_KEYS);
        assert_eq!(serde_fields::<RawFrer>(), FRER_KEYS);
        assert!(ADMIN_KEYS.iter().all(|k| SCHEDULE_KEYS.contains(k)));
    }
}
