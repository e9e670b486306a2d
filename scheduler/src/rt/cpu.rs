//! Which CPUs the calling thread may run on, and pinning it to one.

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// Pin the calling thread to one CPU.
pub fn pin_to_cpu(cpu: usize) -> Result<(), nix::Error> {
    let mut set = CpuSet::new();
    set.set(cpu)?;
    sched_setaffinity(Pid::from_raw(0), &set)
}

/// CPUs the calling thread may run on, in order.
pub fn allowed_cpus() -> Vec<usize> {
    current_affinity().map_or_else(|_| Vec::new(), |set| cpus_of(&set))
}

/// The calling thread's affinity mask.
pub(super) fn current_affinity() -> Result<CpuSet, nix::Error> {
    sched_getaffinity(Pid::from_raw(0))
}

/// Put back an affinity mask read with [`current_affinity`].
pub(super) fn set_affinity(set: &CpuSet) -> Result<(), nix::Error> {
    sched_setaffinity(Pid::from_raw(0), set)
}

/// The CPUs in a mask, in order.
pub(super) fn cpus_of(set: &CpuSet) -> Vec<usize> {
    (0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_to_an_allowed_cpu_and_refuses_a_missing_one() {
        let cpus = allowed_cpus();
        assert!(!cpus.is_empty());
        std::thread::spawn(move || {
            pin_to_cpu(cpus[0]).unwrap();
            assert_eq!(allowed_cpus(), vec![cpus[0]]);
            assert!(pin_to_cpu(CpuSet::count()).is_err());
        })
        .join()
        .unwrap();
    }
}
