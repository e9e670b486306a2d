//! A look at what the kernel gives a real-time thread: whether its CPU is
//! isolated (isolcpus, nohz_full, rcu_nocbs), the clocksource, the
//! preemption model and the CPU frequency governor. Read from /sys and
//! /proc only, never fails: what can't be read is `None` (unknown).

use std::path::{Path, PathBuf};

/// What the kernel gives a real-time thread on one CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    /// The CPU is in `isolcpus=` (the scheduler's domains leave it alone).
    pub cpu_isolated: Option<bool>,
    /// The CPU is in `nohz_full=` (no scheduler tick while one task runs).
    pub nohz_full: Option<bool>,
    /// The CPU is in `rcu_nocbs=` (RCU callbacks run elsewhere).
    pub rcu_nocbs: Option<bool>,
    /// The current clocksource, e.g. `tsc`, `kvm-clock`.
    pub clocksource: Option<String>,
    /// `PREEMPT_RT`, `PREEMPT_DYNAMIC`, `PREEMPT` or `none`.
    pub preemption: Option<String>,
    /// The CPU's frequency governor, e.g. `performance` (None: no cpufreq,
    /// as in most VMs).
    pub governor: Option<String>,
}

/// The environment of `cpu` (None: the per-CPU fields are unknown).
pub fn environment(cpu: Option<usize>) -> Environment {
    let version = nix::sys::utsname::uname()
        .ok()
        .map(|u| u.version().to_string_lossy().into_owned());
    Sources {
        sys: "/sys".into(),
        proc: "/proc".into(),
        kernel_version: version,
    }
    .environment(cpu)
}

/// [`environment`] read from other roots than `/sys` and `/proc` (a fake
/// tree in tests of the tools that build on it, e.g. `takt doctor`), with
/// `kernel_version` standing for `uname -v`.
pub fn environment_in(
    sys: &Path,
    proc: &Path,
    kernel_version: Option<String>,
    cpu: Option<usize>,
) -> Environment {
    Sources {
        sys: sys.into(),
        proc: proc.into(),
        kernel_version,
    }
    .environment(cpu)
}

/// Where [`environment`] reads from: the real roots, or a fake tree in tests.
pub(super) struct Sources {
    pub sys: PathBuf,
    pub proc: PathBuf,
    /// `uname -v`, e.g. "#1 SMP PREEMPT_DYNAMIC Debian 6.18.1-1".
    pub kernel_version: Option<String>,
}

impl Sources {
    pub(super) fn environment(&self, cpu: Option<usize>) -> Environment {
        let cmdline = read(&self.proc.join("cmdline"));
        let in_list = |list: Option<Vec<usize>>| cpu.and_then(|c| list.map(|l| l.contains(&c)));
        let cpu_dir = self.sys.join("devices/system/cpu");
        Environment {
            // sysfs knows isolcpus (also when set through cpusets); the
            // others only the command line says.
            cpu_isolated: in_list(
                read(&cpu_dir.join("isolated"))
                    .and_then(|s| parse_cpu_list(&s))
                    .or_else(|| cmdline_cpus(cmdline.as_deref(), "isolcpus")),
            ),
            nohz_full: in_list(
                read(&cpu_dir.join("nohz_full"))
                    .and_then(|s| parse_cpu_list(&s))
                    .or_else(|| cmdline_cpus(cmdline.as_deref(), "nohz_full")),
            ),
            rcu_nocbs: in_list(cmdline_cpus(cmdline.as_deref(), "rcu_nocbs")),
            clocksource: read(
                &self
                    .sys
                    .join("devices/system/clocksource/clocksource0/current_clocksource"),
            ),
            preemption: self.preemption(),
            governor: cpu
                .and_then(|c| read(&cpu_dir.join(format!("cpu{c}/cpufreq/scaling_governor")))),
        }
    }

    fn preemption(&self) -> Option<String> {
        if read(&self.sys.join("kernel/realtime")).as_deref() == Some("1") {
            return Some("PREEMPT_RT".into());
        }
        let v = self.kernel_version.as_deref()?;
        let has = |w: &str| v.split_whitespace().any(|t| t == w);
        Some(
            if has("PREEMPT_RT") {
                "PREEMPT_RT"
            } else if has("PREEMPT_DYNAMIC") {
                "PREEMPT_DYNAMIC"
            } else if has("PREEMPT") {
                "PREEMPT"
            } else {
                "none"
            }
            .into(),
        )
    }
}

/// A sysfs/proc file's contents, trimmed; None when missing or empty.
fn read(path: &Path) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// The CPUs of `KEY=LIST` on the kernel command line; `Some(empty)` when
/// the command line is readable but has no such key. isolcpus may carry
/// flags before the list ("isolcpus=nohz,domain,2-3"): they are skipped.
fn cmdline_cpus(cmdline: Option<&str>, key: &str) -> Option<Vec<usize>> {
    let cmdline = cmdline?;
    let prefix = format!("{key}=");
    let Some(value) = cmdline
        .split_whitespace()
        .filter_map(|w| w.strip_prefix(&prefix))
        .next_back()
    else {
        return Some(Vec::new());
    };
    let list: Vec<&str> = value
        .split(',')
        .filter(|p| p.starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    parse_cpu_list(&list.join(","))
}

/// A kernel CPU list ("0-2,5,8-11" or "0-7:2/4"; empty = none); None when
/// malformed.
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        // "a-b:used/group" keeps `used` CPUs of every `group`.
        let (range, stride) = match part.split_once(':') {
            Some((r, g)) => {
                let (used, group) = g.split_once('/')?;
                (
                    r,
                    Some((used.parse::<usize>().ok()?, group.parse::<usize>().ok()?)),
                )
            }
            None => (part, None),
        };
        let (a, b) = match range.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => {
                let c = range.parse::<usize>().ok()?;
                (c, c)
            }
        };
        if b < a || b - a > 1 << 16 {
            return None;
        }
        for c in a..=b {
            match stride {
                Some((used, group)) if group > 0 && (c - a) % group >= used => {}
                _ => cpus.push(c),
            }
        }
    }
    Some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("0-7:2/4"), Some(vec![0, 1, 4, 5]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn cmdline_keys_skip_isolcpus_flags() {
        let c = Some("BOOT_IMAGE=/vmlinuz isolcpus=nohz,domain,1-2 rcu_nocbs=1 quiet");
        assert_eq!(cmdline_cpus(c, "isolcpus"), Some(vec![1, 2]));
        assert_eq!(cmdline_cpus(c, "rcu_nocbs"), Some(vec![1]));
        assert_eq!(cmdline_cpus(c, "nohz_full"), Some(vec![]));
        assert_eq!(cmdline_cpus(None, "nohz_full"), None);
    }

    fn fake(dir: &Path, files: &[(&str, &str)], version: Option<&str>) -> Sources {
        for (path, text) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        Sources {
            sys: dir.join("sys"),
            proc: dir.join("proc"),
            kernel_version: version.map(String::from),
        }
    }

    #[test]
    fn reads_an_isolated_cpu_from_a_fake_tree() {
        let dir = std::env::temp_dir().join(format!("takt-rt-env-{}", std::process::id()));
        let src = fake(
            &dir,
            &[
                ("sys/devices/system/cpu/isolated", "1\n"),
                ("sys/devices/system/cpu/nohz_full", "1\n"),
                (
                    "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
                    "performance\n",
                ),
                (
                    "sys/devices/system/clocksource/clocksource0/current_clocksource",
                    "tsc\n",
                ),
                ("sys/kernel/realtime", "1\n"),
                ("proc/cmdline", "isolcpus=1 nohz_full=1 rcu_nocbs=1\n"),
            ],
            Some("#1 SMP PREEMPT_DYNAMIC"),
        );
        let env = src.environment(Some(1));
        assert_eq!(
            env,
            Environment {
                cpu_isolated: Some(true),
                nohz_full: Some(true),
                rcu_nocbs: Some(true),
                clocksource: Some("tsc".into()),
                preemption: Some("PREEMPT_RT".into()),
                governor: Some("performance".into()),
            }
        );
        let env0 = src.environment(Some(0));
        assert_eq!(env0.cpu_isolated, Some(false));
        assert_eq!(env0.rcu_nocbs, Some(false));
        assert_eq!(env0.governor, None);
        assert_eq!(src.environment(None).cpu_isolated, None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn preemption_model_from_the_version_string() {
        let dir = std::env::temp_dir().join(format!("takt-rt-pre-{}", std::process::id()));
        for (v, want) in [
            ("#1 SMP PREEMPT_DYNAMIC Debian", "PREEMPT_DYNAMIC"),
            ("#1 SMP PREEMPT_RT Debian", "PREEMPT_RT"),
            ("#1 SMP PREEMPT Tue", "PREEMPT"),
            ("#1 SMP Debian", "none"),
        ] {
            let src = fake(&dir, &[], Some(v));
            assert_eq!(src.environment(None).preemption.as_deref(), Some(want));
        }
        assert_eq!(fake(&dir, &[], None).environment(None).preemption, None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_real_machine_never_fails() {
        // Whatever this machine has, reading it must not panic.
        let env = environment(Some(0));
        assert!(env.preemption.is_some(), "uname always answers");
    }
}
