//! What a real-time set-up got: [`RtReport`], its one-line summary, and
//! the warnings that say what keeps latency up on this machine.

use super::env::Environment;
use super::setup::RtConfig;

/// What the calling thread got, read back after the set-up.
#[derive(Clone, Debug)]
pub struct RtReport {
    /// The one CPU the thread may run on (None: more than one).
    pub cpu: Option<usize>,
    /// The thread's SCHED_FIFO priority (None: another policy).
    pub fifo_priority: Option<u8>,
    /// The process's memory is locked (mlockall).
    pub memory_locked: bool,
    /// /dev/cpu_dma_latency is held at 0.
    pub dma_latency_held: bool,
    /// The kernel's side: isolation of `cpu`, clocksource, preemption, governor.
    pub env: Environment,
    /// What keeps latency from being as low as it could be, and the fix.
    pub warnings: Vec<String>,
}

impl RtReport {
    /// One line: "rt: pinned to CPU 1 (not isolated), SCHED_FIFO 80, memory
    /// locked, cpu_dma_latency 0, PREEMPT_DYNAMIC, clocksource tsc, governor -".
    pub fn summary(&self) -> String {
        let pin = match self.cpu {
            Some(c) => format!(
                "pinned to CPU {c} ({})",
                match self.env.cpu_isolated {
                    Some(true) => "isolated",
                    Some(false) => "not isolated",
                    None => "isolation unknown",
                }
            ),
            None => "not pinned".into(),
        };
        let policy = match self.fifo_priority {
            Some(p) => format!("SCHED_FIFO {p}"),
            None => "not SCHED_FIFO".into(),
        };
        let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        format!(
            "rt: {pin}, {policy}, {}, {}, {}, clocksource {}, governor {}",
            if self.memory_locked {
                "memory locked"
            } else {
                "memory not locked"
            },
            if self.dma_latency_held {
                "cpu_dma_latency 0"
            } else {
                "cpu_dma_latency not held"
            },
            dash(&self.env.preemption),
            dash(&self.env.clocksource),
            dash(&self.env.governor),
        )
    }
}

/// What limits latency here, each with the fix.
pub(super) fn warnings(cfg: &RtConfig, cpu: Option<usize>, env: &Environment) -> Vec<String> {
    let mut w = Vec::new();
    if let (Some(c), Some(false)) = (cpu.filter(|_| cfg.cpu.is_some()), env.cpu_isolated) {
        w.push(format!(
            "CPU {c} is not isolated: other tasks and interrupts run there too; for the \
             lowest latency boot with isolcpus={c} nohz_full={c} rcu_nocbs={c}"
        ));
    } else if let (Some(c), Some(true), Some(false)) = (cpu, env.cpu_isolated, env.nohz_full) {
        w.push(format!(
            "CPU {c} is isolated but still ticks: add nohz_full={c} rcu_nocbs={c} to the \
             kernel command line"
        ));
    }
    if let (Some(c), Some(g)) = (cpu, &env.governor) {
        if g != "performance" {
            w.push(format!(
                "CPU {c} runs the {g} frequency governor: wake-ups wait for the clock to \
                 ramp up; `cpupower -c {c} frequency-set -g performance`"
            ));
        }
    }
    if env.preemption.as_deref() == Some("none") {
        w.push(
            "the kernel is not preemptible (no PREEMPT in uname -v): a real-time thread \
             waits for kernel work to finish; use a PREEMPT or PREEMPT_RT kernel"
                .into(),
        );
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(isolated: Option<bool>, nohz: Option<bool>, governor: Option<&str>) -> Environment {
        Environment {
            cpu_isolated: isolated,
            nohz_full: nohz,
            rcu_nocbs: nohz,
            clocksource: Some("tsc".into()),
            preemption: Some("PREEMPT_DYNAMIC".into()),
            governor: governor.map(String::from),
        }
    }

    #[test]
    fn warnings_name_the_fix() {
        let cfg = RtConfig {
            cpu: Some(1),
            ..RtConfig::default()
        };
        let w = warnings(&cfg, Some(1), &env(Some(false), Some(false), None));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("isolcpus=1 nohz_full=1 rcu_nocbs=1"), "{w:?}");
        let w = warnings(
            &cfg,
            Some(1),
            &env(Some(true), Some(false), Some("powersave")),
        );
        assert!(w[0].contains("still ticks"), "{w:?}");
        assert!(w[1].contains("frequency-set -g performance"), "{w:?}");
        assert!(warnings(
            &cfg,
            Some(1),
            &env(Some(true), Some(true), Some("performance"))
        )
        .is_empty());
        // Not pinned on request: isolation is not this run's business.
        let w = warnings(&RtConfig::default(), None, &env(None, None, None));
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn summary_says_what_is_missing() {
        let r = RtReport {
            cpu: None,
            fifo_priority: None,
            memory_locked: false,
            dma_latency_held: false,
            env: env(None, None, None),
            warnings: vec![],
        };
        assert_eq!(
            r.summary(),
            "rt: not pinned, not SCHED_FIFO, memory not locked, cpu_dma_latency not held, \
             PREEMPT_DYNAMIC, clocksource tsc, governor -"
        );
        let r = RtReport {
            cpu: Some(1),
            fifo_priority: Some(80),
            memory_locked: true,
            dma_latency_held: true,
            env: env(Some(false), Some(false), None),
            ..r
        };
        assert_eq!(
            r.summary(),
            "rt: pinned to CPU 1 (not isolated), SCHED_FIFO 80, memory locked, \
             cpu_dma_latency 0, PREEMPT_DYNAMIC, clocksource tsc, governor -"
        );
    }
}
