//! The schedule file every import writes: for generated gate schedules
//! (every clock, cut and stretched cycles, admin lists), writing the gate
//! lists back out as a schedule file keeps `takt check --json`'s gate view.

mod common;

use common::gates::{arb_schedule_text, gate_view_of};
use proptest::prelude::*;
use takt_scheduler::ClockId;
use takt_tools::interchange::GateSchedule;

const ALL_CLOCKS: &[ClockId] = &[ClockId::Tai, ClockId::Monotonic, ClockId::Realtime];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]
    #[test]
    fn written_gate_lists_read_back_the_same(text in arb_schedule_text(ALL_CLOCKS)) {
        let dir = common::TempDir::new("schedule-writer");
        let original = dir.write("s.toml", &text);
        let loaded = takt_scheduler::config::load_file(original.as_ref()).unwrap();
        let written = GateSchedule::from_schedule(&loaded.schedule).to_toml("test");
        let back = dir.write("back.toml", &written);
        prop_assert_eq!(gate_view_of(back.as_ref()), gate_view_of(original.as_ref()));
    }
}
