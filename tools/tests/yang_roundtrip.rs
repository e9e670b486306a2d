//! `takt import yang` of `takt export yang` gives the schedule back, as
//! `takt check --json`'s gate view (clock, lists, switch) sees it: every
//! example through the real binary (both wrappings), and 100 generated
//! TAI schedules (cut and stretched cycles, admin lists) in-process.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::gates::{arb_schedule_text, gate_view_of};
use common::{examples_dir, text, TempDir};
use proptest::prelude::*;
use takt_scheduler::ClockId;
use takt_tools::interchange::GateSchedule;
use takt_tools::yang::instance::Wrapping;

const TAKT: &str = env!("CARGO_BIN_EXE_takt");

/// `takt import yang - -o OUT` with `json` on stdin.
fn import(json: &str, out: &str) -> std::process::Output {
    let mut child = Command::new(TAKT)
        .args(["import", "yang", "-", "-o", out])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start takt import yang");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn every_example_comes_back_through_the_binary() {
    let dir = TempDir::new("yang-roundtrip");
    let mut examples: Vec<_> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 7, "examples: {examples:?}");
    let mut round_tripped = 0;
    for path in &examples {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let valid = takt_scheduler::config::load_file(path).is_ok();
        for wrapping in ["bridge", "dot1dc"] {
            let export = Command::new(TAKT)
                .args([
                    "export",
                    "yang",
                    path.to_str().unwrap(),
                    "--wrapping",
                    wrapping,
                ])
                .output()
                .unwrap();
            if !valid {
                // overbooked.toml: `takt check` refuses it, so does export
                assert_eq!(
                    export.status.code(),
                    Some(2),
                    "{name}: {}",
                    text(&export.stderr)
                );
                assert!(text(&export.stderr).contains("error:"), "{name}");
                continue;
            }
            assert!(export.status.success(), "{name}: {}", text(&export.stderr));
            let out = dir.file(&format!("{name}.{wrapping}.toml"));
            let back = import(&text(&export.stdout), &out);
            assert!(
                back.status.success(),
                "{name} ({wrapping}): {}",
                text(&back.stderr)
            );
            assert_eq!(
                gate_view_of(out.as_ref()),
                gate_view_of(path),
                "{name} through YANG ({wrapping}):\n{}",
                text(&export.stdout)
            );
            round_tripped += 1;
        }
    }
    // every valid example, both wrappings; the admin->oper switch among them
    assert!(round_tripped >= 14, "{round_tripped}");
    let switch = examples_dir().join("admin-oper-switch.toml");
    assert!(!gate_view_of(&switch)["admin"].is_null());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]
    #[test]
    fn generated_schedules_come_back(text in arb_schedule_text(&[ClockId::Tai]), dot1dc in any::<bool>()) {
        let dir = TempDir::new("yang-roundtrip-gen");
        let original = dir.write("s.toml", &text);
        let loaded = takt_scheduler::config::load_file(original.as_ref()).unwrap();
        let gates = GateSchedule::from_schedule(&loaded.schedule);
        let wrapping = if dot1dc { Wrapping::Dot1dc } else { Wrapping::Bridge };
        let json = takt_tools::yang::export(&gates, "swp1", wrapping, true).unwrap();
        let imported = takt_tools::yang::import(&json, None).unwrap();
        prop_assert_eq!(&imported.schedule, &gates);
        let back = dir.write("back.toml", &imported.schedule.to_toml("yang round trip"));
        prop_assert_eq!(gate_view_of(back.as_ref()), gate_view_of(original.as_ref()));
    }
}
