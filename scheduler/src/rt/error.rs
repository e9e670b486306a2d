//! Why [`super::prepare`] refused, each message naming what to change.

/// A real-time set-up step that failed. [`super::prepare`] has undone the
/// steps before it when it returns one of these.
#[derive(Debug, thiserror::Error)]
pub enum RtError {
    #[error(
        "there is no CPU {cpu} this process may run on: pick one of {}",
        cpu_list(allowed)
    )]
    NoSuchCpu { cpu: usize, allowed: Vec<usize> },
    #[error("cannot pin this thread to CPU {cpu}: {source}")]
    Affinity {
        cpu: usize,
        #[source]
        source: nix::Error,
    },
    #[error("SCHED_FIFO priority {0} is out of range: use 1..=99")]
    BadPriority(u8),
    #[error(
        "SCHED_FIFO {priority} needs CAP_SYS_NICE or RLIMIT_RTPRIO >= {priority} (it is {}): \
         run as root, or `ulimit -r {priority}`, or leave out the priority{} ({source})",
        limit_text(*rlimit_rtprio),
        fifo_hint(*source)
    )]
    Priority {
        priority: u8,
        rlimit_rtprio: u64,
        #[source]
        source: nix::Error,
    },
    #[error(
        "cannot lock memory (mlockall): needs CAP_IPC_LOCK or a larger RLIMIT_MEMLOCK (it is {}): \
         run as root, or `ulimit -l unlimited`, or run without locking memory ({source})",
        limit.map_or_else(|| "unknown".to_string(), bytes_text)
    )]
    Memlock {
        limit: Option<u64>,
        #[source]
        source: nix::Error,
    },
    #[error(
        "cannot hold /dev/cpu_dma_latency at 0 (keeps the CPU out of deep idle states): {source}: {}",
        dma_hint(source)
    )]
    DmaLatency {
        #[source]
        source: std::io::Error,
    },
    #[error(
        "pre-faulting {asked} KiB of stack needs more than the {left} KiB this thread has \
         left (64 KiB kept spare): ask for less, or start the thread with a larger stack \
         (std::thread::Builder::stack_size)",
        asked = asked / 1024,
        left = left / 1024
    )]
    StackTooSmall { asked: usize, left: usize },
    #[error("cannot read this thread's {what}: {source}")]
    ReadBack {
        what: &'static str,
        #[source]
        source: nix::Error,
    },
}

fn dma_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "this kernel or /dev has no such node (no PM QoS, or /dev is not devtmpfs): \
             run without it"
        }
        std::io::ErrorKind::PermissionDenied => {
            "run as root (the node is root-only), or run without it"
        }
        _ => "run without it",
    }
}

/// "unlimited" for RLIM_INFINITY, else the number.
fn limit_text(l: u64) -> String {
    if l == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        l.to_string()
    }
}

fn bytes_text(l: u64) -> String {
    if l == libc::RLIM_INFINITY {
        "unlimited".into()
    } else if l >= 1024 && l.is_multiple_of(1024) {
        format!("{} KiB", l / 1024)
    } else {
        format!("{l} bytes")
    }
}

/// Root can still be refused SCHED_FIFO when RT group scheduling gives the
/// process's cgroup no real-time runtime.
fn fifo_hint(e: nix::Error) -> &'static str {
    if e == nix::Error::EPERM && nix::unistd::geteuid().is_root() {
        "; as root this means the cgroup has no real-time runtime \
         (cpu.rt_runtime_us): move the process to the root cgroup"
    } else {
        ""
    }
}

/// "0-3, 6" style, or "none".
fn cpu_list(cpus: &[usize]) -> String {
    if cpus.is_empty() {
        return "none".into();
    }
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let e = RtError::NoSuchCpu {
            cpu: 7,
            allowed: vec![0, 1, 2, 5],
        };
        assert_eq!(
            e.to_string(),
            "there is no CPU 7 this process may run on: pick one of 0-2, 5"
        );
        let e = RtError::Priority {
            priority: 80,
            rlimit_rtprio: 0,
            source: nix::Error::EPERM,
        };
        let s = e.to_string();
        assert!(
            s.starts_with(
                "SCHED_FIFO 80 needs CAP_SYS_NICE or RLIMIT_RTPRIO >= 80 (it is 0): \
                 run as root, or `ulimit -r 80`"
            ),
            "{s}"
        );
        let e = RtError::Memlock {
            limit: Some(64 * 1024),
            source: nix::Error::ENOMEM,
        };
        let s = e.to_string();
        assert!(
            s.contains("CAP_IPC_LOCK") && s.contains("RLIMIT_MEMLOCK"),
            "{s}"
        );
        assert!(
            s.contains("(it is 64 KiB)") && s.contains("ulimit -l"),
            "{s}"
        );
        assert!(RtError::BadPriority(0).to_string().contains("1..=99"));
        let s = RtError::StackTooSmall {
            asked: 1024 * 1024,
            left: 200 * 1024,
        }
        .to_string();
        assert!(s.starts_with("pre-faulting 1024 KiB of stack needs more than the 200 KiB"));
        assert_eq!(limit_text(libc::RLIM_INFINITY), "unlimited");
        assert_eq!(cpu_list(&[]), "none");
    }
}
