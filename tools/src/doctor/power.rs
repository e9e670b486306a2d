//! The real-time CPU's power management: its frequency governor and its
//! idle states (a deep idle state takes tens to hundreds of microseconds
//! to leave, which a sleeping talker pays on every wake-up).

use super::check::Check;
use super::host::Host;

pub fn governor(host: &Host, cpu: usize) -> Check {
    const ID: &str = "cpu-governor";
    const TITLE: &str = "CPU frequency governor";
    let dir = format!("/sys/devices/system/cpu/cpu{cpu}/cpufreq");
    match host.read(&format!("{dir}/scaling_governor")) {
        Some(g) if g == "performance" => Check::pass(ID, TITLE, format!("CPU {cpu}: performance")),
        Some(g) => Check::warn(
            ID,
            TITLE,
            format!("CPU {cpu}: {g}: the clock speed changes under the real-time thread"),
            format!(
                "cpupower -c {cpu} frequency-set -g performance (or echo performance > \
                 {dir}/scaling_governor)"
            ),
        ),
        None => Check::info(
            ID,
            TITLE,
            format!("CPU {cpu}: no cpufreq (a VM, or a fixed clock): nothing to set"),
        ),
    }
}

/// One idle state of a CPU.
struct IdleState {
    index: usize,
    name: String,
    latency_us: Option<u64>,
    disabled: bool,
}

fn idle_states(host: &Host, cpu: usize) -> Option<Vec<IdleState>> {
    let dir = host.path(&format!("/sys/devices/system/cpu/cpu{cpu}/cpuidle"));
    let mut states: Vec<IdleState> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let index: usize = name.strip_prefix("state")?.parse().ok()?;
            let p = |f: &str| format!("/sys/devices/system/cpu/cpu{cpu}/cpuidle/{name}/{f}");
            Some(IdleState {
                index,
                name: host.read(&p("name")).unwrap_or_else(|| name.clone()),
                latency_us: host.read(&p("latency")).and_then(|l| l.parse().ok()),
                disabled: host.read(&p("disable")).as_deref() == Some("1"),
            })
        })
        .collect();
    states.sort_by_key(|s| s.index);
    Some(states)
}

/// Idle states deeper than C1 (index 2 and up: state0 is POLL, state1 C1
/// or the hypervisor's halt) that are enabled.
pub fn idle(host: &Host, cpu: usize) -> Check {
    const ID: &str = "cpu-idle";
    const TITLE: &str = "CPU idle states";
    let Some(states) = idle_states(host, cpu) else {
        return Check::info(
            ID,
            TITLE,
            format!("CPU {cpu}: no cpuidle (a VM without it, or idle=poll): nothing to set"),
        );
    };
    let names: Vec<String> = states.iter().map(|s| s.name.clone()).collect();
    let deep: Vec<String> = states
        .iter()
        .filter(|s| s.index >= 2 && !s.disabled)
        .map(|s| match s.latency_us {
            Some(l) => format!("{} ({l} us to leave)", s.name),
            None => s.name.clone(),
        })
        .collect();
    if deep.is_empty() {
        return Check::pass(
            ID,
            TITLE,
            format!(
                "CPU {cpu}: {}: nothing deeper than C1 enabled",
                if names.is_empty() {
                    "no states".to_string()
                } else {
                    names.join(", ")
                }
            ),
        );
    }
    Check::warn(
        ID,
        TITLE,
        format!(
            "CPU {cpu}: deeper than C1 enabled: {}. takt-talker/takt-listener --priority hold \
             /dev/cpu_dma_latency at 0 while they run (not with --no-dma-latency), which \
             keeps the CPUs out of them during a run only",
            deep.join(", ")
        ),
        "cpupower idle-set -D 0 (disables every state that takes time to leave), or \
         kernel command line: processor.max_cstate=1 intel_idle.max_cstate=1",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;
    use crate::doctor::host::fake::FakeHost;

    #[test]
    fn performance_passes_others_warn_none_is_info() {
        let f = FakeHost::new(&[(
            "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
            "performance\n",
        )]);
        assert_eq!(governor(&f.host, 1).status, Status::Pass);
        assert_eq!(governor(&f.host, 0).status, Status::Info);
        f.write(
            "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
            "powersave\n",
        );
        let c = governor(&f.host, 1);
        assert_eq!(c.status, Status::Warn);
        assert!(c.fix.unwrap().contains("frequency-set -g performance"));
    }

    #[test]
    fn enabled_deep_idle_states_warn_disabled_ones_pass() {
        let d = "sys/devices/system/cpu/cpu1/cpuidle";
        let f = FakeHost::new(&[
            (&format!("{d}/state0/name"), "POLL\n"),
            (&format!("{d}/state0/disable"), "0\n"),
            (&format!("{d}/state1/name"), "C1\n"),
            (&format!("{d}/state1/disable"), "0\n"),
            (&format!("{d}/state2/name"), "C6\n"),
            (&format!("{d}/state2/latency"), "133\n"),
            (&format!("{d}/state2/disable"), "0\n"),
        ]);
        let c = idle(&f.host, 1);
        assert_eq!(c.status, Status::Warn);
        assert!(c.found.contains("C6 (133 us to leave)"), "{}", c.found);
        assert!(c.fix.unwrap().starts_with("cpupower idle-set -D 0"));
        f.write(&format!("{d}/state2/disable"), "1\n");
        let c = idle(&f.host, 1);
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(c.found.contains("POLL, C1, C6"));
        assert_eq!(idle(&f.host, 0).status, Status::Info, "no cpuidle dir");
    }
}
