//! `takt import taprio` of `takt export taprio` gives the schedule back, as
//! `takt check --json` shows its gates: for every example (the real
//! binary) and 100 generated schedules on every clock (in-process).

mod common;

use common::gates::{arb_schedule_text, gate_view_of};
use common::{assert_no_panic, examples_dir, run, text, TempDir};
use proptest::prelude::*;
use takt_scheduler::ClockId;
use takt_tools::import::taprio::convert;
use takt_tools::interchange::GateSchedule;
use takt_tools::taprio::command::{script, EtfOptions, ExportOptions};

const TAKT: &str = env!("CARGO_BIN_EXE_takt");
const ALL_CLOCKS: &[ClockId] = &[ClockId::Tai, ClockId::Monotonic, ClockId::Realtime];

#[test]
fn every_example_survives_export_and_import() {
    let dir = TempDir::new("taprio-roundtrip");
    let mut checked = 0;
    let mut paths: Vec<_> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    for path in paths {
        let p = path.display().to_string();
        // overbooked.toml is wrong on purpose: check (and export) refuse it.
        if run(TAKT, &["check", &p]).status.code() != Some(0) {
            assert!(p.ends_with("overbooked.toml"), "{p} does not check");
            continue;
        }
        for extra in [&[][..], &["--etf", "--offload"][..]] {
            let mut args = vec!["export", "taprio", &p, "--dev", "eth0"];
            args.extend_from_slice(extra);
            let out = run(TAKT, &args);
            assert_no_panic(&out);
            assert_eq!(out.status.code(), Some(0), "{p}: {}", text(&out.stderr));
            let script = dir.write("taprio.sh", &text(&out.stdout));
            let back = dir.file("back.toml");
            let out = run(TAKT, &["import", "taprio", &script, "-o", &back]);
            assert_no_panic(&out);
            assert_eq!(out.status.code(), Some(0), "{p}: {}", text(&out.stderr));
            assert_eq!(
                gate_view_of(back.as_ref()),
                gate_view_of(path.as_ref()),
                "{p} {extra:?}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} examples");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]
    #[test]
    fn generated_schedules_survive_export_and_import(text in arb_schedule_text(ALL_CLOCKS), etf in any::<bool>()) {
        let dir = TempDir::new("taprio-gen");
        let original = dir.write("s.toml", &text);
        let loaded = takt_scheduler::config::load_file(original.as_ref()).unwrap();
        let gates = GateSchedule::from_schedule(&loaded.schedule);
        let opts = ExportOptions {
            dev: "eth0".into(),
            offload: false,
            etf: etf.then_some(EtfOptions { delta_ns: 200_000, classes: 0xff }),
            link_speed_bps: None,
            source: "generated".into(),
        };
        let exported = script(&gates, &opts).unwrap();
        let toml = convert(&exported.text, "gen.sh", None).map_err(TestCaseError::fail)?;
        let back = dir.write("back.toml", &toml);
        prop_assert_eq!(gate_view_of(back.as_ref()), gate_view_of(original.as_ref()));
    }
}
