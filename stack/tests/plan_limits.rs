//! No schedule the loader accepts can end a talker's plan early: at the
//! latest base time and the longest cycle, through a change that switches
//! there, the plan goes on cycle after cycle. (A change whose cycle
//! overflowed once ended the plan, and the talker exited 0.)

use std::sync::Arc;
use takt_scheduler::config::{parse_change, parse_str};
use takt_scheduler::schedule::{MAX_BASE_TIME_NS, MAX_CYCLE_TIME_NS};
use takt_stack::plan::{duration_end_ns, Plan, Until};

const STREAM: &str = r#"[[stream]]
name = "s"
traffic_class = 7
vlan_id = 10
dst_mac = "91:e0:f0:00:fe:01"
"#;

fn one_list(keys: &str, interval: &str) -> String {
    format!("[schedule]\n{keys}[[schedule.entry]]\ngates = [7]\ninterval = {interval}\n{STREAM}")
}

#[test]
fn a_change_to_the_longest_cycle_at_the_latest_base_time_keeps_the_plan_going() {
    let running = parse_str(&one_list("", "\"1ms\""), "running.toml").unwrap();
    let request = one_list(
        &format!("base_time = {MAX_BASE_TIME_NS}\n"),
        &MAX_CYCLE_TIME_NS.to_string(),
    );
    let now = MAX_BASE_TIME_NS - 5_000_000;
    let change = parse_change(
        &request,
        "req.toml",
        &running.schedule,
        None,
        now,
        1_000_000,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(change.switch_at_ns, MAX_BASE_TIME_NS);
    let mut plan = Plan::new(Arc::new(change.schedule), Until::Forever);
    plan.resume_at(now, &[0]).unwrap();
    let launches: Vec<u64> = plan.by_ref().take(20).map(|p| p.launch_ns).collect();
    // Old 1 ms cycles up to the switch, then one frame per 60 s cycle.
    assert_eq!(launches.len(), 20);
    assert!(launches.windows(2).all(|w| w[0] < w[1]), "{launches:?}");
    let admin: Vec<u64> = launches
        .iter()
        .copied()
        .filter(|&l| l >= MAX_BASE_TIME_NS)
        .collect();
    assert_eq!(admin.len(), 15, "{launches:?}");
    for (k, l) in admin.iter().enumerate() {
        assert_eq!(*l, MAX_BASE_TIME_NS + k as u64 * MAX_CYCLE_TIME_NS);
    }
    // Far on: a million cycles later the plan still has frames.
    let far = MAX_BASE_TIME_NS + 1_000_000 * MAX_CYCLE_TIME_NS;
    plan.resume_at(far, &[0]).unwrap();
    assert_eq!(plan.next().map(|p| p.launch_ns), Some(far));
}

#[test]
fn a_duration_counts_from_the_first_cycle_unless_a_base_time_puts_it_far_away() {
    let soon = parse_str(&one_list("", "\"1ms\""), "t.toml")
        .unwrap()
        .schedule;
    let begin = 10_000_500_000;
    let s = soon.started_at(begin);
    assert_eq!(s.oper().base_time_ns(), 10_001_000_000);
    assert_eq!(duration_end_ns(&s, begin, 3_000), 10_001_003_000);
    let far = parse_str(&one_list("base_time = \"100s\"\n", "\"1ms\""), "t.toml")
        .unwrap()
        .schedule;
    let s = far.started_at(begin);
    assert_eq!(s.oper().base_time_ns(), 100_000_000_000);
    assert_eq!(duration_end_ns(&s, begin, 3_000), begin + 3_000);
}
