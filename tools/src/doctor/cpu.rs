//! The real-time CPU: which one is judged, whether the kernel leaves it
//! alone (isolcpus, nohz_full, rcu_nocbs), and RT throttling.

use super::check::{Check, Status};
use super::host::Host;

/// The CPU the checks are about and why that one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtCpu {
    pub cpu: usize,
    pub why: String,
}

/// `--cpu N` when given; else the CPU a user would give takt-talker
/// `--cpu`: the first isolated one, or the highest-numbered online one
/// (CPU 0 takes most housekeeping). takt-talker pins nothing without
/// `--cpu`, so there is no CPU it "picks" by itself.
pub fn choose(host: &Host, given: Option<usize>) -> Result<RtCpu, String> {
    let online = host.online_cpus();
    if let Some(cpu) = given {
        if let Some(on) = &online {
            if !on.contains(&cpu) {
                return Err(format!(
                    "--cpu {cpu}: no such online CPU (online: {}); give one of them",
                    list(on)
                ));
            }
        }
        return Ok(RtCpu {
            cpu,
            why: "--cpu".into(),
        });
    }
    if let Some(&cpu) = host.isolated_cpus().unwrap_or_default().first() {
        return Ok(RtCpu {
            cpu,
            why: "the first isolated CPU; --cpu N judges another".into(),
        });
    }
    let cpu = online.and_then(|o| o.last().copied()).unwrap_or(0);
    Ok(RtCpu {
        cpu,
        why: "none is isolated: the highest-numbered CPU, where a real-time thread \
              usually goes; --cpu N judges another"
            .into(),
    })
}

/// A CPU list the way the kernel writes one ("0-2,5").
pub fn list(cpus: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if j > i {
            format!("{}-{}", cpus[i], cpus[j])
        } else {
            cpus[i].to_string()
        });
        i = j + 1;
    }
    out.join(",")
}

/// The online CPUs other than `cpu` (where IRQs and housekeeping go).
pub fn others(host: &Host, cpu: usize) -> Vec<usize> {
    host.online_cpus()
        .unwrap_or_default()
        .into_iter()
        .filter(|&c| c != cpu)
        .collect()
}

pub fn isolation(host: &Host, cpu: usize) -> Check {
    const ID: &str = "cpu-isolation";
    const TITLE: &str = "CPU isolation";
    let env = takt_scheduler::rt::environment_in(
        &host.path("/sys"),
        &host.path("/proc"),
        host.version.clone(),
        Some(cpu),
    );
    let parts = [
        ("isolcpus", env.cpu_isolated),
        ("nohz_full", env.nohz_full),
        ("rcu_nocbs", env.rcu_nocbs),
    ];
    let missing: Vec<&str> = parts
        .iter()
        .filter(|(_, v)| *v == Some(false))
        .map(|(k, _)| *k)
        .collect();
    let unknown = parts.iter().filter(|(_, v)| v.is_none()).count();
    let others = list(&others(host, cpu));
    let irqaffinity = if others.is_empty() {
        String::new()
    } else {
        format!(" irqaffinity={others}")
    };
    if unknown == parts.len() {
        return Check::info(
            ID,
            TITLE,
            format!("CPU {cpu}: unknown (no /proc/cmdline or /sys/devices/system/cpu)"),
        );
    }
    if missing.is_empty() && unknown == 0 {
        return Check::pass(
            ID,
            TITLE,
            format!("CPU {cpu} is in isolcpus, nohz_full and rcu_nocbs"),
        );
    }
    let status = if missing.is_empty() {
        Status::Info
    } else {
        Status::Warn
    };
    let found = if missing.is_empty() {
        format!("CPU {cpu}: some of isolcpus/nohz_full/rcu_nocbs unknown")
    } else {
        format!(
            "CPU {cpu} is not in {}: the scheduler, the tick and RCU callbacks may interrupt \
             the real-time thread",
            missing.join(", ")
        )
    };
    Check::new(ID, TITLE, status, found).with_fix(format!(
        "kernel command line: isolcpus={cpu} nohz_full={cpu} rcu_nocbs={cpu}{irqaffinity}, \
         then reboot and run with --cpu {cpu}"
    ))
}

pub fn rt_throttling(host: &Host) -> Check {
    const ID: &str = "rt-throttling";
    const TITLE: &str = "RT throttling";
    let Some(runtime) = host.read("/proc/sys/kernel/sched_rt_runtime_us") else {
        return Check::info(
            ID,
            TITLE,
            "unknown (no /proc/sys/kernel/sched_rt_runtime_us)",
        );
    };
    let period = host
        .read("/proc/sys/kernel/sched_rt_period_us")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1_000_000);
    match runtime.parse::<i64>() {
        Ok(-1) => Check::pass(ID, TITLE, "off (sched_rt_runtime_us = -1)"),
        Ok(r) if r >= 0 => {
            let paused_ms = (period - r).max(0) / 1000;
            Check::warn(
                ID,
                TITLE,
                format!(
                    "on: sched_rt_runtime_us = {r} of every {period}: a SCHED_FIFO thread that \
                     never sleeps (--wake spin) is paused ~{paused_ms} ms each {} ms",
                    period / 1000
                ),
                "sysctl kernel.sched_rt_runtime_us=-1 (lasting: \
                 echo kernel.sched_rt_runtime_us=-1 > /etc/sysctl.d/90-takt.conf)",
            )
        }
        _ => Check::info(
            ID,
            TITLE,
            format!("unknown (sched_rt_runtime_us = {runtime:?})"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::host::fake::FakeHost;

    #[test]
    fn an_isolated_cpu_passes_and_is_the_default() {
        let f = FakeHost::new(&[
            ("sys/devices/system/cpu/online", "0-3\n"),
            ("sys/devices/system/cpu/isolated", "2-3\n"),
            ("sys/devices/system/cpu/nohz_full", "2-3\n"),
            (
                "proc/cmdline",
                "quiet isolcpus=2-3 nohz_full=2-3 rcu_nocbs=2-3\n",
            ),
        ]);
        let cpu = choose(&f.host, None).unwrap();
        assert_eq!(cpu.cpu, 2);
        let c = isolation(&f.host, 2);
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert_eq!(c.fix, None);
        let c = isolation(&f.host, 0);
        assert_eq!(c.status, Status::Warn);
        assert_eq!(
            c.fix.as_deref(),
            Some(
                "kernel command line: isolcpus=0 nohz_full=0 rcu_nocbs=0 irqaffinity=1-3, \
                 then reboot and run with --cpu 0"
            )
        );
    }

    #[test]
    fn without_isolation_the_last_cpu_is_judged_and_warned_about() {
        let f = FakeHost::new(&[
            ("sys/devices/system/cpu/online", "0-1\n"),
            ("sys/devices/system/cpu/isolated", "\n"),
            ("proc/cmdline", "quiet\n"),
        ]);
        assert_eq!(choose(&f.host, None).unwrap().cpu, 1);
        assert!(choose(&f.host, Some(5))
            .unwrap_err()
            .contains("online: 0-1"));
        let c = isolation(&f.host, 1);
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.found.contains("isolcpus, nohz_full, rcu_nocbs"),
            "{}",
            c.found
        );
        assert!(c
            .fix
            .unwrap()
            .contains("isolcpus=1 nohz_full=1 rcu_nocbs=1 irqaffinity=0"));
    }

    #[test]
    fn nothing_readable_is_unknown_not_an_error() {
        let f = FakeHost::new(&[]);
        assert_eq!(isolation(&f.host, 0).status, Status::Info);
        assert_eq!(rt_throttling(&f.host).status, Status::Info);
        assert_eq!(choose(&f.host, None).unwrap().cpu, 0);
    }

    #[test]
    fn rt_throttling_off_passes_on_warns_with_the_sysctl() {
        let f = FakeHost::new(&[("proc/sys/kernel/sched_rt_runtime_us", "-1\n")]);
        assert_eq!(rt_throttling(&f.host).status, Status::Pass);
        f.write("proc/sys/kernel/sched_rt_runtime_us", "950000\n");
        f.write("proc/sys/kernel/sched_rt_period_us", "1000000\n");
        let c = rt_throttling(&f.host);
        assert_eq!(c.status, Status::Warn);
        assert!(c.found.contains("~50 ms each 1000 ms"), "{}", c.found);
        assert!(c
            .fix
            .unwrap()
            .starts_with("sysctl kernel.sched_rt_runtime_us=-1"));
        f.write("proc/sys/kernel/sched_rt_runtime_us", "lots\n");
        assert_eq!(rt_throttling(&f.host).status, Status::Info);
    }

    #[test]
    fn cpu_lists_are_written_like_the_kernel() {
        assert_eq!(list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(list(&[]), "");
    }
}
