//! [`prepare`]: make the calling thread ready for the data path — pinned,
//! SCHED_FIFO, memory locked, stack pre-faulted, the CPU kept out of deep
//! idle states — and report what it got. Each step is undone again when a
//! later one fails, so a refused set-up leaves the thread as it was.

use super::cpu::{self, cpus_of};
use super::env::environment;
use super::error::RtError;
use super::policy::{get_policy, set_policy};
use super::report::{warnings, RtReport};
use super::stack::{prefault_stack, stack_left, STACK_SPARE};
use nix::sys::mman::{mlockall, munlockall, MlockAllFlags};
use nix::sys::resource::{getrlimit, Resource};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

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
    if cfg.prefault_stack_bytes > 0 {
        if let Some(left) = stack_left() {
            if cfg.prefault_stack_bytes.saturating_add(STACK_SPARE) > left {
                return Err(RtError::StackTooSmall {
                    asked: cfg.prefault_stack_bytes,
                    left,
                });
            }
        }
    }
    // One set-up at a time: the memory lock is the process's, and two
    // threads must agree on who locked it (and may unlock it again).
    let _one_at_a_time = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let mut undo = Undo::default();
    let result = apply(cfg, dma_path, &mut undo)
        .and_then(|dma| read_back(cfg, dma.is_some()).map(|report| (report, dma)));
    match result {
        Ok((report, dma)) => Ok(RtGuard {
            report,
            _dma_latency: dma,
        }),
        Err(e) => {
            // The dma latency request (if any) was dropped with the result.
            undo.run();
            Err(e)
        }
    }
}

static SETUP: Mutex<()> = Mutex::new(());

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_prefault_deeper_than_the_stack_is_refused_before_anything_changes() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let before = cpus_of(&cpu::current_affinity().unwrap());
                let cfg = RtConfig {
                    cpu: before.last().copied(),
                    prefault_stack_bytes: 1024 * 1024,
                    ..RtConfig::default()
                };
                let e = prepare(&cfg).unwrap_err();
                assert!(
                    matches!(e, RtError::StackTooSmall { asked, left }
                    if asked == 1024 * 1024 && left < 256 * 1024),
                    "{e:?}"
                );
                assert_eq!(cpus_of(&cpu::current_affinity().unwrap()), before);
                // As much as is allowed is touched without overflowing.
                let fits = RtConfig {
                    prefault_stack_bytes: stack_left().unwrap() - STACK_SPARE - 4096,
                    ..RtConfig::default()
                };
                prepare(&fits).unwrap();
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn the_default_prefault_fits_a_default_thread() {
        std::thread::spawn(|| {
            let left = stack_left().expect("glibc knows the stack");
            assert!(left > DEFAULT_PREFAULT_STACK_BYTES + STACK_SPARE, "{left}");
            prepare(&RtConfig {
                prefault_stack_bytes: DEFAULT_PREFAULT_STACK_BYTES,
                ..RtConfig::default()
            })
            .unwrap();
        })
        .join()
        .unwrap();
    }
}
