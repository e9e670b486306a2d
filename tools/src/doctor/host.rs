//! Where the checks read the machine from: `/` on the real one, a fake
//! tree in tests (the same layout: `sys/...`, `proc/...`, `lib/modules/...`,
//! `boot/...`), so every check runs without root against a tree a test
//! writes.

use std::path::{Path, PathBuf};

pub struct Host {
    pub root: PathBuf,
    /// `uname -r`, e.g. "6.18.44"; names the modules dir and boot config.
    pub release: Option<String>,
    /// `uname -v`, for the preemption model.
    pub version: Option<String>,
}

impl Host {
    /// The machine this runs on.
    pub fn real() -> Self {
        let uts = nix::sys::utsname::uname().ok();
        Host {
            root: "/".into(),
            release: uts
                .as_ref()
                .map(|u| u.release().to_string_lossy().into_owned()),
            version: uts.map(|u| u.version().to_string_lossy().into_owned()),
        }
    }

    /// `path` (absolute, as on a real machine) under this host's root.
    pub fn path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// A file's contents, trimmed; None when missing, unreadable or empty.
    pub fn read(&self, path: &str) -> Option<String> {
        read_trimmed(&self.path(path))
    }

    pub fn exists(&self, path: &str) -> bool {
        self.path(path).exists()
    }

    /// The online CPUs (`/sys/devices/system/cpu/online`).
    pub fn online_cpus(&self) -> Option<Vec<usize>> {
        takt_scheduler::rt::parse_cpu_list(&self.read("/sys/devices/system/cpu/online")?)
    }

    /// The CPUs in `isolcpus=` as sysfs lists them.
    pub fn isolated_cpus(&self) -> Option<Vec<usize>> {
        takt_scheduler::rt::parse_cpu_list(&self.read("/sys/devices/system/cpu/isolated")?)
    }
}

pub fn read_trimmed(path: &Path) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

#[cfg(test)]
pub mod fake {
    use super::Host;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    static NEXT: AtomicU32 = AtomicU32::new(0);

    /// A fake machine in a temporary directory, removed on drop.
    pub struct FakeHost {
        pub host: Host,
    }

    impl FakeHost {
        pub fn new(files: &[(&str, &str)]) -> Self {
            let dir: PathBuf = std::env::temp_dir().join(format!(
                "takt-doctor-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let f = FakeHost {
                host: Host {
                    root: dir,
                    release: Some("6.1.0-test".into()),
                    version: Some("#1 SMP PREEMPT_DYNAMIC".into()),
                },
            };
            for (p, text) in files {
                f.write(p, text);
            }
            f
        }

        pub fn write(&self, path: &str, text: &str) {
            let p = self.host.path(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }

    impl Drop for FakeHost {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.host.root);
        }
    }
}
