//! [`prepare`]: make the calling thread ready for the data path — pinned,
//! SCHED_FIFO, memory locked, stack pre-faulted, the CPU kept out of deep
//! idle states — and report what it got. Each step is undone again when a
//! later one fails, so a refused set-up leaves the thread as it was.

use super::cpu::{self, cpus_of};
use super::env::{environment, Environment};
use super::error::RtError;
use nix::sys::mman::{mlockall, munlockall, MlockAllFlags};
use nix::sys::resource::{getrlimit, Resource};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// A stack this deep is touched (and, with locked memory, stays resident)
/// before the data path starts, so its first deep call takes no page fault.
/// Well inside a spawned thread's 2 MiB default stack.
pub const DEFAULT_PREFAULT_STACK_BYTES: usize = 512 * 1024;

/// What [`prepare`] should do. `Default` does nothing at all.
#[derive(Clone, Debug, Default)]
pub struct RtConfig {
    /// Pin the calling thread to this CPU (None: leave its affinity).
    pub cpu: Option<usize>,
    /// SCHED_FIFO at this priority, 1..=99 (None: leave the policy).
    pub priority: Option<u8>,
    /// mlockall(MCL_CURRENT | MCL_FUTURE): no page of the process is paged
    /// out, and new ones are resident when mapped. Process-wide.
    pub lock_memory: bool,
    /// Touch this much of the calling thread's stack (0: skip). Keep it
    /// below the thread's stack size.
    pub prefault_stack_bytes: usize,
    /// Hold /dev/cpu_dma_latency at 0 while the [`RtGuard`] lives.
    pub dma_latency: bool,
}

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

/// Keeps what [`prepare`] set up that needs a live handle: the
/// /dev/cpu_dma_latency request, released when the guard is dropped. The
/// affinity, policy and memory lock stay as they are after the drop.
#[derive(Debug)]
pub struct RtGuard {
    report: RtReport,
    _dma_latency: Option<File>,
}

impl RtGuard {
    pub fn report(&self) -> &RtReport {
        &self.report
    }
}

const DMA_LATENCY_PATH: &str = "/dev/cpu_dma_latency";

/// Prepare the calling thread for the data path as `cfg` says: pin it,
/// make it SCHED_FIFO, lock the process's memory (process-wide), pre-fault
/// its stack, hold /dev/cpu_dma_latency at 0. Either every step is done or,
/// on the first that fails, the earlier ones are undone and the error names
/// what is missing.
pub fn prepare(cfg: &RtConfig) -> Result<RtGuard, RtError> {
    prepare_with(cfg, Path::new(DMA_LATENCY_PATH))
}

/// Whether this process's memory was locked by [`prepare`]: a second call
/// (another thread) must not unlock it again when it fails.
static MEMORY_LOCKED: AtomicBool = AtomicBool::new(false);

/// [`prepare`] with the dma latency file elsewhere (tests: a missing one).
pub(super) fn prepare_with(cfg: &RtConfig, dma_path: &Path) -> Result<RtGuard, RtError> {
    // Bad input first: nothing is touched before it is known to be valid.
    if let Some(p) = cfg.priority {
        if !(1..=99).contains(&p) {
            return Err(RtError::BadPriority(p));
        }
    }
    let mut undo = Undo::default();
    let result = apply(cfg, dma_path, &mut undo);
    match result {
        Ok(dma) => {
            let report = read_back(cfg, dma.is_some())?;
            Ok(RtGuard {
                report,
                _dma_latency: dma,
            })
        }
        Err(e) => {
            undo.run();
            Err(e)
        }
    }
}

/// What to put back when a later step fails.
#[derive(Default)]
struct Undo {
    affinity: Option<nix::sched::CpuSet>,
    policy: Option<(libc::c_int, libc::c_int)>,
    unlock: bool,
}

impl Undo {
    /// Restore in reverse order. Best effort: each of these only gives back
    /// what the thread had, which the kernel does not refuse.
    fn run(self) {
        if self.unlock {
            let _ = munlockall();
            MEMORY_LOCKED.store(false, Ordering::SeqCst);
        }
        if let Some((policy, prio)) = self.policy {
            let _ = set_policy(policy, prio);
        }
        if let Some(set) = self.affinity {
            let _ = cpu::set_affinity(&set);
        }
    }
}

fn apply(cfg: &RtConfig, dma_path: &Path, undo: &mut Undo) -> Result<Option<File>, RtError> {
    if let Some(c) = cfg.cpu {
        let before = cpu::current_affinity().map_err(|source| RtError::ReadBack {
            what: "CPU affinity",
            source,
        })?;
        match cpu::pin_to_cpu(c) {
            Ok(()) => undo.affinity = Some(before),
            Err(nix::Error::EINVAL) => {
                return Err(RtError::NoSuchCpu {
                    cpu: c,
                    allowed: process_cpus(&before),
                })
            }
            Err(source) => return Err(RtError::Affinity { cpu: c, source }),
        }
    }
    if let Some(p) = cfg.priority {
        let before = get_policy().map_err(|source| RtError::ReadBack {
            what: "scheduling policy",
            source,
        })?;
        // Reset on fork: threads and processes this one starts later (a
        // helper, a `tc` call) come out SCHED_OTHER, not competing with it.
        set_policy(libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, p.into()).map_err(|source| {
            RtError::Priority {
                priority: p,
                rlimit_rtprio: getrlimit(Resource::RLIMIT_RTPRIO).map_or(0, |(soft, _)| soft),
                source,
            }
        })?;
        undo.policy = Some(before);
    }
    if cfg.lock_memory && !MEMORY_LOCKED.load(Ordering::SeqCst) {
        mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE).map_err(|source| {
            RtError::Memlock {
                limit: getrlimit(Resource::RLIMIT_MEMLOCK)
                    .ok()
                    .map(|(soft, _)| soft),
                source,
            }
        })?;
        MEMORY_LOCKED.store(true, Ordering::SeqCst);
        undo.unlock = true;
    }
    if cfg.prefault_stack_bytes > 0 {
        prefault_stack(cfg.prefault_stack_bytes);
    }
    if cfg.dma_latency {
        return hold_dma_latency(dma_path)
            .map(Some)
            .map_err(|source| RtError::DmaLatency { source });
    }
    Ok(None)
}

/// Write a 0 us request; the kernel keeps it while the file stays open.
fn hold_dma_latency(path: &Path) -> std::io::Result<File> {
    let mut f = File::options().read(true).write(true).open(path)?;
    f.write_all(&0i32.to_ne_bytes())?;
    Ok(f)
}

/// The CPUs a pin could name: this thread's mask before pinning, widened
/// to the online CPUs the process may use (another thread may be pinned
/// elsewhere already).
fn process_cpus(thread: &nix::sched::CpuSet) -> Vec<usize> {
    let listed = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .and_then(|l| super::env::parse_cpu_list(l.trim()))
        });
    let mut cpus = cpus_of(thread);
    for c in listed.unwrap_or_default() {
        if !cpus.contains(&c) {
            cpus.push(c);
        }
    }
    cpus.sort_unstable();
    cpus
}

/// Touch `bytes` of stack below the caller, a chunk per frame, so the
/// pages exist (and, with MCL_FUTURE, stay resident) before the data path
/// needs them.
#[inline(never)]
fn prefault_stack(bytes: usize) {
    const CHUNK: usize = 16 * 1024;
    let chunk = std::hint::black_box([0u8; CHUNK]);
    if bytes > CHUNK {
        prefault_stack(bytes - CHUNK);
    }
    // Used after the call, so the frame (and its chunk) can't be elided
    // or turned into a loop.
    std::hint::black_box(&chunk);
}

/// The calling thread's policy (with its SCHED_RESET_ON_FORK bit) and priority.
fn get_policy() -> Result<(libc::c_int, libc::c_int), nix::Error> {
    // SAFETY: pid 0 is the calling thread; no pointers are passed.
    let policy = unsafe { libc::sched_getscheduler(0) };
    if policy < 0 {
        return Err(nix::Error::last());
    }
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid, writable sched_param for the call.
    if unsafe { libc::sched_getparam(0, &mut param) } < 0 {
        return Err(nix::Error::last());
    }
    Ok((policy, param.sched_priority))
}

/// Set the calling thread's policy and priority.
fn set_policy(policy: libc::c_int, priority: libc::c_int) -> Result<(), nix::Error> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param
    // that outlives the call.
    if unsafe { libc::sched_setscheduler(0, policy, &param) } < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// The thread as it is now, and the warnings that go with it.
fn read_back(cfg: &RtConfig, dma_latency_held: bool) -> Result<RtReport, RtError> {
    let mask = cpu::current_affinity().map_err(|source| RtError::ReadBack {
        what: "CPU affinity",
        source,
    })?;
    let cpus = cpus_of(&mask);
    let cpu = (cpus.len() == 1).then(|| cpus[0]);
    let (policy, prio) = get_policy().map_err(|source| RtError::ReadBack {
        what: "scheduling policy",
        source,
    })?;
    let fifo_priority =
        (policy & !libc::SCHED_RESET_ON_FORK == libc::SCHED_FIFO).then_some(prio as u8);
    let env = environment(cpu);
    let warnings = warnings(cfg, cpu, &env);
    Ok(RtReport {
        cpu,
        fifo_priority,
        memory_locked: MEMORY_LOCKED.load(Ordering::SeqCst),
        dma_latency_held,
        env,
        warnings,
    })
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
    fn a_missing_dma_latency_file_is_named_and_the_pin_undone() {
        std::thread::spawn(|| {
            let before = cpu::current_affinity().unwrap();
            let root = nix::unistd::geteuid().is_root();
            let cfg = RtConfig {
                cpu: cpus_of(&before).last().copied(),
                // SCHED_FIFO only where it is granted; undone as well.
                priority: root.then_some(5),
                dma_latency: true,
                ..RtConfig::default()
            };
            let e = prepare_with(&cfg, Path::new("/nonexistent/cpu_dma_latency")).unwrap_err();
            match &e {
                RtError::DmaLatency { source } => {
                    assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
                }
                other => panic!("{other:?}"),
            }
            assert!(e.to_string().contains("/dev/cpu_dma_latency"));
            assert_eq!(cpus_of(&cpu::current_affinity().unwrap()), cpus_of(&before));
            assert_eq!(
                get_policy().unwrap().0 & !libc::SCHED_RESET_ON_FORK,
                libc::SCHED_OTHER
            );
        })
        .join()
        .unwrap();
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
