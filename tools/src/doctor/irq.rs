//! The NIC's interrupts against the real-time CPU: an IRQ that may land
//! on it preempts the real-time thread for its handler and softirq.

use super::check::Check;
use super::cpu::list;
use super::host::Host;

/// One interrupt of the NIC and where it may land.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicIrq {
    pub irq: u32,
    pub name: String,
    pub cpus: Option<Vec<usize>>,
}

/// The IRQs of interface `ifname`: /proc/interrupts lines naming it (or
/// its queues, "eth0-TxRx-0"), or naming its device ("virtio2-input.0"),
/// and the device's MSI vectors (the PCI function's msi_irqs).
pub fn nic_irqs(host: &Host, ifname: &str) -> Vec<NicIrq> {
    let dev = host.path(&format!("/sys/class/net/{ifname}/device"));
    let dev = std::fs::canonicalize(&dev).unwrap_or(dev);
    let dev_name = dev
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|_| dev.exists())
        .map(String::from);
    let mut msi: Vec<u32> = Vec::new();
    for dir in [Some(dev.as_path()), dev.parent()].into_iter().flatten() {
        if let Ok(d) = std::fs::read_dir(dir.join("msi_irqs")) {
            msi.extend(
                d.filter_map(Result::ok)
                    .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()),
            );
            break;
        }
    }
    let mut out = Vec::new();
    let table = host.read("/proc/interrupts").unwrap_or_default();
    for line in table.lines() {
        let Some((num, rest)) = line.trim_start().split_once(':') else {
            continue;
        };
        let Ok(irq) = num.parse::<u32>() else {
            continue;
        };
        let names: Vec<&str> = rest
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
            .collect();
        let ours = |t: &&str| {
            let named = |n: &str| {
                *t == n
                    || t.strip_prefix(n)
                        .is_some_and(|r| r.starts_with(['-', '_', '@', ':']))
            };
            named(ifname) || dev_name.as_deref().is_some_and(named)
        };
        let name = names.iter().rev().find(|t| ours(t)).copied();
        if name.is_some() || msi.contains(&irq) {
            let cpus = host
                .read(&format!("/proc/irq/{irq}/smp_affinity_list"))
                .and_then(|l| takt_scheduler::rt::parse_cpu_list(&l));
            out.push(NicIrq {
                irq,
                name: name
                    .map(String::from)
                    .or_else(|| names.last().map(|s| s.to_string()))
                    .unwrap_or_default(),
                cpus,
            });
        }
    }
    out
}

pub fn affinity(host: &Host, ifname: &str, cpu: usize) -> Check {
    const ID: &str = "irq-affinity";
    const TITLE: &str = "NIC IRQ affinity";
    let irqs = nic_irqs(host, ifname);
    if irqs.is_empty() {
        return Check::info(
            ID,
            TITLE,
            format!("{ifname}: no IRQ of it in /proc/interrupts (lo and veth have none)"),
        );
    }
    let on_rt: Vec<&NicIrq> = irqs
        .iter()
        .filter(|i| i.cpus.as_ref().is_none_or(|c| c.contains(&cpu)))
        .collect();
    let describe = |i: &NicIrq| {
        format!(
            "{} ({}) -> {}",
            i.irq,
            i.name,
            i.cpus.as_deref().map_or("?".to_string(), list)
        )
    };
    if on_rt.is_empty() {
        let all: Vec<String> = irqs.iter().map(describe).collect();
        return Check::pass(
            ID,
            TITLE,
            format!("{ifname}: none may land on CPU {cpu}: {}", all.join(", ")),
        );
    }
    let others = list(&super::cpu::others(host, cpu));
    let shown: Vec<String> = on_rt.iter().map(|i| describe(i)).collect();
    let fix = if others.is_empty() {
        "none here: this machine has no other CPU for them".to_string()
    } else {
        let cmds: Vec<String> = on_rt
            .iter()
            .map(|i| format!("echo {others} > /proc/irq/{}/smp_affinity_list", i.irq))
            .collect();
        format!(
            "{}; keep irqbalance off CPU {cpu} (IRQBALANCE_BANNED_CPULIST={cpu}) or stop it; \
             lasting: kernel command line irqaffinity={others}",
            cmds.join("; ")
        )
    };
    Check::warn(
        ID,
        TITLE,
        format!("{ifname}: may land on CPU {cpu}: {}", shown.join(", ")),
        fix,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;
    use crate::doctor::host::fake::FakeHost;

    const INTERRUPTS: &str = "           CPU0       CPU1
 26:          0         16  IO-APIC   4-edge      ttyS0
 37:          0          0 PCI-MSIX-0000:00:03.0   0-edge      virtio2-config
 38:          0      27474 PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0
 39:      20866          0 PCI-MSIX-0000:00:03.0   2-edge      virtio2-output.0
 50:          5          5 PCI-MSI 1-edge      eth1-TxRx-0
 51:          5          5 PCI-MSI 2-edge      eth10-TxRx-0
NMI:          0          0   Non-maskable interrupts
";

    fn host() -> FakeHost {
        let f = FakeHost::new(&[
            ("proc/interrupts", INTERRUPTS),
            ("sys/devices/system/cpu/online", "0-1\n"),
            ("proc/irq/37/smp_affinity_list", "0-1\n"),
            ("proc/irq/38/smp_affinity_list", "1\n"),
            ("proc/irq/39/smp_affinity_list", "0\n"),
            ("proc/irq/50/smp_affinity_list", "0\n"),
            ("proc/irq/51/smp_affinity_list", "1\n"),
            ("sys/devices/pci0000:00/0000:00:03.0/msi_irqs/37", ""),
            (
                "sys/devices/pci0000:00/0000:00:03.0/virtio2/vendor",
                "0x1af4\n",
            ),
        ]);
        std::fs::create_dir_all(f.host.path("sys/class/net/eth0")).unwrap();
        std::os::unix::fs::symlink(
            f.host.path("sys/devices/pci0000:00/0000:00:03.0/virtio2"),
            f.host.path("sys/class/net/eth0/device"),
        )
        .unwrap();
        f
    }

    #[test]
    fn virtio_queues_are_found_by_device_name_and_msi_vectors() {
        let f = host();
        let irqs: Vec<u32> = nic_irqs(&f.host, "eth0").iter().map(|i| i.irq).collect();
        assert_eq!(irqs, vec![37, 38, 39]);
        let c = affinity(&f.host, "eth0", 1);
        assert_eq!(c.status, Status::Warn);
        assert!(c.found.contains("38 (virtio2-input.0) -> 1"), "{}", c.found);
        assert!(
            !c.found.contains("39 "),
            "39 only lands on CPU 0: {}",
            c.found
        );
        let fix = c.fix.unwrap();
        assert!(fix.starts_with("echo 0 > /proc/irq/37/smp_affinity_list; echo 0 > /proc/irq/38/"));
        assert!(fix.contains("irqaffinity=0"));
    }

    #[test]
    fn queues_named_after_the_interface_and_not_its_prefix() {
        let f = host();
        let irqs: Vec<u32> = nic_irqs(&f.host, "eth1").iter().map(|i| i.irq).collect();
        assert_eq!(irqs, vec![50], "eth10 is another interface");
        assert_eq!(affinity(&f.host, "eth1", 1).status, Status::Pass);
        assert_eq!(affinity(&f.host, "lo", 1).status, Status::Info);
    }
}
