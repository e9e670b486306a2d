//! A [`GateSchedule`] written as a takt schedule file (docs/schedule-format.md):
//! `[schedule]` and its entries, `[admin]` when there is one, and no
//! streams (no other format knows them). Times are integer nanoseconds, so
//! the file reads back exactly.

use std::fmt::Write;

use super::{GateList, GateSchedule};

impl GateSchedule {
    /// The schedule file. `source` says where it came from; it is written as
    /// a comment at the top (one line per line of `source`).
    pub fn to_toml(&self, source: &str) -> String {
        let mut out = String::new();
        for line in source.lines() {
            let _ = writeln!(out, "# {line}");
        }
        out.push_str(
            "#\n# Gate schedule only: streams, link speed and the control plane are not\n\
             # carried by this format; add [[stream]] tables (docs/schedule-format.md).\n\n",
        );
        let _ = writeln!(out, "[schedule]");
        let _ = writeln!(out, "clock = \"{}\"", self.clock.as_str());
        write_list(&mut out, "schedule", &self.oper);
        if let Some(admin) = &self.admin {
            let _ = writeln!(out, "\n[admin]");
            write_list(&mut out, "admin", admin);
        }
        out
    }
}

fn write_list(out: &mut String, table: &str, list: &GateList) {
    let _ = writeln!(out, "base_time = {}", list.base_time_ns);
    let _ = writeln!(out, "cycle_time = {}", list.cycle_time_ns);
    let _ = writeln!(
        out,
        "cycle_time_extension = {}",
        list.cycle_time_extension_ns
    );
    for e in &list.entries {
        let gates: Vec<String> = (0..8u8)
            .filter(|c| e.gate_mask & (1 << c) != 0)
            .map(|c| c.to_string())
            .collect();
        let _ = writeln!(out, "\n[[{table}.entry]]");
        let _ = writeln!(out, "gates = [{}]", gates.join(", "));
        let _ = writeln!(out, "interval = {}", e.interval_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use takt_scheduler::config;

    #[test]
    fn a_written_schedule_loads_back_to_the_same_gates() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../docs/examples/admin-oper-switch.toml"),
        )
        .unwrap();
        let loaded = config::parse_str(&text, "switch.toml").unwrap();
        let gates = GateSchedule::from_schedule(&loaded.schedule);
        let back = config::parse_str(&gates.to_toml("test"), "back.toml").unwrap();
        assert_eq!(GateSchedule::from_schedule(&back.schedule), gates);
        assert!(back.schedule.streams().is_empty());
    }
}
