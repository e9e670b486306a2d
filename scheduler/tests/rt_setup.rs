//! `rt::prepare` against the real kernel: every way it can be refused, that
//! a refusal leaves the thread as it was (affinity, policy, memory lock),
//! and, as root, that everything it says it did is what the kernel reports.
//!
//! Without root the tests that need it skip with a message, except under
//! CI=true, where they fail. Steps that change the whole process (mlockall,
//! rlimits, the stop flag) run in a child: this test binary run again with
//! only that test and `TAKT_RT_CHILD` set.
//!
//! Paths no test reaches, and their manual checks: docs/realtime.md.

use std::process::Command;
use takt_scheduler::rt::{self, RtConfig, RtError};
use takt_scheduler::ClockId;

const CHILD: &str = "TAKT_RT_CHILD";

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// True (and a message) when the test must skip for want of root.
fn skip_without_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root and CI=true forbids skipping");
    }
    eprintln!("{test}: skipped, needs root");
    true
}

/// Whether this process is the child run for `test`.
fn am_child(test: &str) -> bool {
    std::env::var(CHILD).as_deref() == Ok(test)
}

/// Run `test` alone in a fresh copy of this binary and require it to pass.
fn run_in_child(test: &str) {
    run_child(Command::new(std::env::current_exe().unwrap()), test)
}

/// `cmd` runs this binary (perhaps through a wrapper); add the arguments
/// that pick `test` and require it to pass.
fn run_child(mut cmd: Command, test: &str) {
    let out = cmd
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child {test} failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "child {test} ran nothing:\n{text}"
    );
}

/// Drop this thread (only) to nobody: no capabilities, the process's rlimits.
fn become_nobody() {
    // SAFETY: setresuid on the calling thread (the raw syscall, unlike
    // glibc's wrapper, leaves the other threads alone); it only lowers
    // privileges.
    let r = unsafe { libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534) };
    assert_eq!(r, 0, "setresuid: {}", std::io::Error::last_os_error());
}

/// The calling thread's policy without the reset-on-fork bit.
fn policy() -> libc::c_int {
    // SAFETY: pid 0 is the calling thread; no pointers.
    let p = unsafe { libc::sched_getscheduler(0) };
    assert!(p >= 0);
    p & !libc::SCHED_RESET_ON_FORK
}

/// A CPU to pin to that changes the thread's affinity when there are two.
fn some_cpu() -> usize {
    *rt::allowed_cpus().last().unwrap()
}

fn on_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

/// On a fresh thread: `setup` (e.g. lower its privileges), then
/// `rt::prepare(&config)`, which must be refused and leave the thread's CPUs
/// as they were. Returns the error and the thread's policy afterwards.
fn refused_on_thread(setup: impl FnOnce() + Send, config: RtConfig) -> (RtError, libc::c_int) {
    on_thread(move || {
        setup();
        let before = rt::allowed_cpus();
        let e = rt::prepare(&config).unwrap_err();
        assert_eq!(rt::allowed_cpus(), before, "the pin was not undone: {e:?}");
        (e, policy())
    })
}

#[test]
fn a_cpu_that_is_not_there_is_refused_naming_the_cpus_there_are() {
    on_thread(|| {
        let before = rt::allowed_cpus();
        let cpu = nix::sched::CpuSet::count();
        let e = rt::prepare(&RtConfig {
            cpu: Some(cpu),
            ..RtConfig::default()
        })
        .unwrap_err();
        assert!(
            matches!(e, RtError::NoSuchCpu { cpu: c, .. } if c == cpu),
            "{e:?}"
        );
        let s = e.to_string();
        assert!(s.contains(&format!("no CPU {cpu}")), "{s}");
        assert!(s.contains(&before[0].to_string()), "{s}");
        assert_eq!(rt::allowed_cpus(), before);
    });
}

#[test]
fn priorities_0_and_100_are_bad_input_and_change_nothing() {
    for p in [0, 100, 255] {
        let (e, _) = refused_on_thread(
            || {},
            RtConfig {
                cpu: Some(some_cpu()),
                priority: Some(p),
                ..RtConfig::default()
            },
        );
        assert!(matches!(e, RtError::BadPriority(q) if q == p), "{e:?}");
        assert!(e.to_string().contains("1..=99"));
    }
}

#[test]
fn nothing_asked_nothing_changed() {
    on_thread(|| {
        let before = rt::allowed_cpus();
        let pol = policy();
        let g = rt::prepare(&RtConfig::default()).unwrap();
        assert_eq!(rt::allowed_cpus(), before);
        assert_eq!(policy(), pol);
        assert!(!g.report().dma_latency_held);
        assert_eq!(g.report().fifo_priority, None);
        assert!(g.report().summary().starts_with("rt: "));
    });
}

#[test]
fn sched_fifo_without_privilege_names_cap_sys_nice_and_unpins() {
    if skip_without_root("sched_fifo_without_privilege_names_cap_sys_nice_and_unpins") {
        return;
    }
    let rtprio = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_RTPRIO)
        .unwrap()
        .0;
    if rtprio >= 80 {
        eprintln!("skipped: RLIMIT_RTPRIO is {rtprio}, so nobody may use SCHED_FIFO 80");
        return;
    }
    let (e, pol) = refused_on_thread(
        become_nobody,
        RtConfig {
            cpu: Some(some_cpu()),
            priority: Some(80),
            ..RtConfig::default()
        },
    );
    assert!(matches!(e, RtError::Priority { priority: 80, .. }), "{e:?}");
    let s = e.to_string();
    for needle in ["CAP_SYS_NICE", "RLIMIT_RTPRIO >= 80", "ulimit -r 80"] {
        assert!(s.contains(needle), "{needle:?} missing: {s}");
    }
    assert_eq!(pol, libc::SCHED_OTHER);
}

#[test]
fn cpu_dma_latency_without_root_is_refused_and_undone() {
    if skip_without_root("cpu_dma_latency_without_root_is_refused_and_undone") {
        return;
    }
    let (e, _) = refused_on_thread(
        become_nobody,
        RtConfig {
            cpu: Some(some_cpu()),
            dma_latency: true,
            ..RtConfig::default()
        },
    );
    assert!(matches!(e, RtError::DmaLatency { .. }), "{e:?}");
    assert!(e.to_string().contains("/dev/cpu_dma_latency"), "{e}");
}

/// Drop one capability from the calling thread's effective set (capsets
/// are per thread).
fn drop_effective_capability(cap: u32) {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522; // _LINUX_CAPABILITY_VERSION_3
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: header and two data words, as capget with version 3 expects.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    assert_eq!(r, 0, "capget: {}", std::io::Error::last_os_error());
    data[(cap / 32) as usize].effective &= !(1 << (cap % 32));
    // SAFETY: as above; it only lowers this thread's effective set.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    assert_eq!(r, 0, "capset: {}", std::io::Error::last_os_error());
}

const CAP_IPC_LOCK: u32 = 14;

fn assert_memlock_error(e: &RtError) {
    assert!(
        matches!(
            e,
            RtError::Memlock {
                limit: Some(65536),
                ..
            }
        ),
        "{e:?}"
    );
    let s = e.to_string();
    for needle in ["RLIMIT_MEMLOCK", "CAP_IPC_LOCK", "64 KiB", "ulimit -l"] {
        assert!(s.contains(needle), "{needle:?} missing: {s}");
    }
}

/// Child in its own mount namespace with an empty tmpfs on /dev: no
/// /dev/cpu_dma_latency. Refused naming the node, the pin undone.
#[test]
fn a_missing_cpu_dma_latency_node_is_named_and_undone() {
    const NAME: &str = "a_missing_cpu_dma_latency_node_is_named_and_undone";
    if skip_without_root(NAME) {
        return;
    }
    if !am_child(NAME) {
        let mut cmd = Command::new("unshare");
        cmd.args([
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs none /dev && exec \"$0\" \"$@\"",
        ])
        .arg(std::env::current_exe().unwrap());
        return run_child(cmd, NAME);
    }
    assert!(!std::path::Path::new("/dev/cpu_dma_latency").exists());
    let (e, pol) = refused_on_thread(
        || {},
        RtConfig {
            cpu: Some(some_cpu()),
            priority: Some(10),
            dma_latency: true,
            ..RtConfig::default()
        },
    );
    match &e {
        RtError::DmaLatency { source } => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
        }
        other => panic!("{other:?}"),
    }
    let s = e.to_string();
    assert!(
        s.contains("/dev/cpu_dma_latency") && s.contains("no such node"),
        "{s}"
    );
    assert_eq!(pol, libc::SCHED_OTHER, "SCHED_FIFO was not undone");
}

/// Child (rlimits are per process): RLIMIT_MEMLOCK 64 KiB refuses the
/// mlockall of a thread without CAP_IPC_LOCK, and what was done before it
/// (the pin; SCHED_FIFO for a root thread) is undone.
#[test]
fn memlock_too_low_names_rlimit_memlock_and_undoes_fifo_and_pin() {
    const NAME: &str = "memlock_too_low_names_rlimit_memlock_and_undoes_fifo_and_pin";
    if skip_without_root(NAME) {
        return;
    }
    if !am_child(NAME) {
        return run_in_child(NAME);
    }
    use nix::sys::resource::{setrlimit, Resource};
    setrlimit(Resource::RLIMIT_MEMLOCK, 64 * 1024, 64 * 1024).unwrap();
    // As nobody: the pin is undone.
    let (e, _) = refused_on_thread(
        become_nobody,
        RtConfig {
            cpu: Some(some_cpu()),
            lock_memory: true,
            ..RtConfig::default()
        },
    );
    assert_memlock_error(&e);
    // As root without CAP_IPC_LOCK: SCHED_FIFO is granted, then undone.
    let (e, pol) = refused_on_thread(
        || drop_effective_capability(CAP_IPC_LOCK),
        RtConfig {
            cpu: Some(some_cpu()),
            priority: Some(10),
            lock_memory: true,
            ..RtConfig::default()
        },
    );
    assert_memlock_error(&e);
    assert_eq!(pol, libc::SCHED_OTHER, "SCHED_FIFO was not undone");
}

/// Child (mlockall is process-wide): everything at once, read back from
/// the kernel.
#[test]
fn as_root_everything_applies_and_reads_back() {
    const NAME: &str = "as_root_everything_applies_and_reads_back";
    if skip_without_root(NAME) {
        return;
    }
    if !am_child(NAME) {
        return run_in_child(NAME);
    }
    on_thread(|| {
        let cpu = some_cpu();
        let guard = rt::prepare(&RtConfig {
            cpu: Some(cpu),
            priority: Some(10),
            lock_memory: true,
            prefault_stack_bytes: 256 * 1024,
            dma_latency: true,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let r = guard.report();
        assert_eq!(r.cpu, Some(cpu));
        assert_eq!(r.fifo_priority, Some(10));
        assert!(r.memory_locked && r.dma_latency_held);
        // What the kernel says.
        assert_eq!(rt::allowed_cpus(), vec![cpu]);
        assert_eq!(policy(), libc::SCHED_FIFO);
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let vmlck = status
            .lines()
            .find_map(|l| l.strip_prefix("VmLck:"))
            .unwrap()
            .trim();
        assert_ne!(vmlck, "0 kB", "mlockall locked nothing");
        let held = std::fs::read("/dev/cpu_dma_latency").unwrap();
        assert_eq!(i32::from_ne_bytes(held[..4].try_into().unwrap()), 0);
        let s = r.summary();
        for needle in [
            format!("pinned to CPU {cpu}").as_str(),
            "SCHED_FIFO 10",
            "memory locked",
            "cpu_dma_latency 0",
        ] {
            assert!(s.contains(needle), "{needle:?} missing: {s}");
        }
        // A thread it starts is not real-time (reset on fork).
        assert_eq!(on_thread(policy), libc::SCHED_OTHER);
        // A second prepare on another thread keeps the lock.
        drop(guard);
        on_thread(|| {
            let g = rt::prepare(&RtConfig {
                lock_memory: true,
                ..RtConfig::default()
            })
            .unwrap();
            assert!(g.report().memory_locked);
        });
    });
    // SAFETY: no pointers; this child process ends right after.
    assert_eq!(unsafe { libc::munlockall() }, 0);
}

extern "C" fn ignore(_: libc::c_int) {}

/// Child (the stop flag is process-wide and stays set): a signal ends a
/// nanosleep or hybrid wait early; a requested stop ends a spin.
#[test]
fn a_signal_or_a_stop_ends_a_wait_early() {
    const NAME: &str = "a_signal_or_a_stop_ends_a_wait_early";
    if !am_child(NAME) {
        return run_in_child(NAME);
    }
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(ignore),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing, which is async-signal-safe.
    unsafe { sigaction(Signal::SIGUSR1, &action) }.unwrap();
    use std::os::unix::thread::JoinHandleExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let c = ClockId::Monotonic;
    for mode in [rt::Wake::Nanosleep, rt::Wake::Hybrid, rt::Wake::Spin] {
        let done = Arc::new(AtomicBool::new(false));
        let waiter = {
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let t = c.now_ns() + 60_000_000_000;
                let wake = rt::WakeConfig {
                    mode,
                    margin_ns: 1_000_000,
                };
                let woke = rt::wait_until(c, t, wake);
                done.store(true, Ordering::SeqCst);
                (woke, t)
            })
        };
        // Keep signalling until it wakes: the first signal may come before
        // the sleep starts.
        while !done.load(Ordering::SeqCst) {
            if mode == rt::Wake::Spin {
                rt::request_stop();
            } else {
                // SAFETY: the thread is alive until joined below, so its
                // pthread_t is valid; SIGUSR1's handler does nothing.
                unsafe { libc::pthread_kill(waiter.as_pthread_t(), libc::SIGUSR1) };
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let (woke, t) = waiter.join().unwrap();
        assert!(woke < t, "{mode}: did not return early");
    }
}
