//! What sysfs and /dev say about a PCI device before we open anything: does
//! it exist, is it the NIC we expect, is there an IOMMU group, is it bound
//! to vfio-pci. Each failure is a [`DriverError`] that names the fix.
//!
//! Both roots are injectable ([`VfioPaths`]), so the checks run in tests
//! against a tree in a temporary folder.

use crate::{DriverError, PciAddress};
use std::path::{Path, PathBuf};

/// Where sysfs and /dev are (`/sys` and `/dev` unless a test says otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VfioPaths {
    pub sysfs: PathBuf,
    pub dev: PathBuf,
}

impl Default for VfioPaths {
    fn default() -> Self {
        VfioPaths {
            sysfs: "/sys".into(),
            dev: "/dev".into(),
        }
    }
}

/// The driver vfio wants devices bound to.
pub const VFIO_PCI: &str = "vfio-pci";

impl VfioPaths {
    /// `/sys/bus/pci/devices/<addr>`.
    pub fn device_dir(&self, addr: &PciAddress) -> PathBuf {
        self.sysfs.join("bus/pci/devices").join(addr.to_string())
    }

    /// `/sys/kernel/iommu_groups/<group>/devices`.
    pub fn group_devices_dir(&self, group: u32) -> PathBuf {
        self.sysfs
            .join("kernel/iommu_groups")
            .join(group.to_string())
            .join("devices")
    }

    /// `/dev/vfio/vfio`, the container node.
    pub fn container_node(&self) -> PathBuf {
        self.dev.join("vfio/vfio")
    }

    /// `/dev/vfio/<group>`.
    pub fn group_node(&self, group: u32) -> PathBuf {
        self.dev.join("vfio").join(group.to_string())
    }

    /// The shell commands that bind `addr` to vfio-pci (as root), unbinding
    /// it from `current` first when it has a driver.
    pub fn bind_commands(&self, addr: &PciAddress, current: Option<&str>) -> String {
        let dir = self.device_dir(addr);
        let d = dir.display();
        let pci = self.sysfs.join("bus/pci");
        let mut cmds = format!("`echo {VFIO_PCI} > {d}/driver_override; ");
        if current.is_some() {
            cmds += &format!("echo {addr} > {d}/driver/unbind; ");
        }
        cmds += &format!("echo {addr} > {}/drivers_probe`", pci.display());
        cmds
    }
}

/// Last path component of a symlink's target (`.../drivers/e1000e` -> `e1000e`).
fn link_name(link: &Path) -> Option<String> {
    let target = std::fs::read_link(link).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

fn read_hex_id(path: &Path) -> Option<u16> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim();
    u16::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).ok()
}

/// The driver `addr` is bound to, if any.
pub fn bound_driver(paths: &VfioPaths, addr: &PciAddress) -> Option<String> {
    link_name(&paths.device_dir(addr).join("driver"))
}

/// Other devices in `group` (not `addr`) whose driver keeps the group from
/// being viable, as readable text ("0000:00:1f.2 (ahci)").
pub fn blocking_group_members(paths: &VfioPaths, group: u32, addr: &PciAddress) -> Vec<String> {
    let me = addr.to_string();
    let Ok(entries) = std::fs::read_dir(paths.group_devices_dir(group)) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == me {
                return None;
            }
            match link_name(&e.path().join("driver")) {
                // vfio accepts these next to a vfio-pci device.
                Some(d) if d == VFIO_PCI || d == "pci-stub" || d == "pcieport" => None,
                None => None,
                Some(d) => Some(format!("{name} ({d})")),
            }
        })
        .collect();
    out.sort();
    out
}

/// The checks that need no open file: returns the IOMMU group number.
///
/// In order: the device exists; it is `expect` (vendor, device) when given;
/// it has an IOMMU group; it is bound to vfio-pci; /dev/vfio has the
/// container and the group node.
pub fn preflight(
    paths: &VfioPaths,
    addr: &PciAddress,
    expect: Option<(u16, u16)>,
) -> Result<u32, DriverError> {
    let dir = paths.device_dir(addr);
    if !dir.exists() {
        return Err(DriverError::NoSuchPciDevice {
            addr: addr.to_string(),
            path: dir.display().to_string(),
        });
    }
    if let Some((vendor, device)) = expect {
        let got = (
            read_hex_id(&dir.join("vendor")),
            read_hex_id(&dir.join("device")),
        );
        if let (Some(v), Some(d)) = got {
            if (v, d) != (vendor, device) {
                return Err(DriverError::WrongPciDevice {
                    addr: addr.to_string(),
                    vendor: v,
                    device: d,
                });
            }
        }
    }
    let group_link = dir.join("iommu_group");
    let group = match link_name(&group_link) {
        None => {
            return Err(DriverError::NoIommu {
                addr: addr.to_string(),
                reason: format!("{} is missing", group_link.display()),
            })
        }
        Some(name) => name.parse::<u32>().map_err(|_| DriverError::NoIommu {
            addr: addr.to_string(),
            reason: format!(
                "{} points at \"{name}\", not a group number",
                group_link.display()
            ),
        })?,
    };
    let driver = bound_driver(paths, addr);
    if driver.as_deref() != Some(VFIO_PCI) {
        return Err(DriverError::NotBoundToVfio {
            addr: addr.to_string(),
            fix: paths.bind_commands(addr, driver.as_deref()),
            driver,
        });
    }
    for node in [paths.container_node(), paths.group_node(group)] {
        if !node.exists() {
            return Err(DriverError::NoIommu {
                addr: addr.to_string(),
                reason: format!("{} is missing", node.display()),
            });
        }
    }
    Ok(group)
}

/// Open a /dev node read/write, turning EACCES/EPERM into
/// [`DriverError::PermissionDenied`] and ENOENT into [`DriverError::NoIommu`].
pub fn open_node(path: &Path, addr: &PciAddress) -> Result<std::fs::File, DriverError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => DriverError::PermissionDenied {
                path: path.display().to_string(),
            },
            std::io::ErrorKind::NotFound => DriverError::NoIommu {
                addr: addr.to_string(),
                reason: format!("{} is missing", path.display()),
            },
            _ if e.raw_os_error() == Some(libc::EBUSY) => DriverError::Io {
                what: format!(
                    "open {}: another process has this VFIO group open (only one may)",
                    path.display()
                ),
                source: e,
            },
            _ => DriverError::Io {
                what: format!("open {}", path.display()),
                source: e,
            },
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fake /sys + /dev in a fresh temporary folder, removed on drop.
    pub(crate) struct FakeRoot {
        pub root: PathBuf,
        pub paths: VfioPaths,
    }

    impl Drop for FakeRoot {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    static N: AtomicU32 = AtomicU32::new(0);

    impl FakeRoot {
        pub(crate) fn new() -> Self {
            let root = std::env::temp_dir().join(format!(
                "takt-vfio-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(root.join("sys/bus/pci/devices")).unwrap();
            std::fs::create_dir_all(root.join("dev")).unwrap();
            let paths = VfioPaths {
                sysfs: root.join("sys"),
                dev: root.join("dev"),
            };
            FakeRoot { root, paths }
        }

        /// A PCI device with ids, optionally a driver and an IOMMU group.
        pub(crate) fn device(
            &self,
            addr: &str,
            ids: (u16, u16),
            driver: Option<&str>,
            group: Option<u32>,
        ) -> &Self {
            let sys = &self.paths.sysfs;
            let real = sys.join("devices/pci0000:00").join(addr);
            std::fs::create_dir_all(&real).unwrap();
            std::fs::write(real.join("vendor"), format!("0x{:04x}\n", ids.0)).unwrap();
            std::fs::write(real.join("device"), format!("0x{:04x}\n", ids.1)).unwrap();
            symlink(&real, sys.join("bus/pci/devices").join(addr)).unwrap();
            if let Some(d) = driver {
                let drv = sys.join("bus/pci/drivers").join(d);
                std::fs::create_dir_all(&drv).unwrap();
                symlink(&drv, real.join("driver")).unwrap();
            }
            if let Some(g) = group {
                let gdir = sys.join("kernel/iommu_groups").join(g.to_string());
                std::fs::create_dir_all(gdir.join("devices")).unwrap();
                symlink(&gdir, real.join("iommu_group")).unwrap();
                symlink(&real, gdir.join("devices").join(addr)).unwrap();
            }
            self
        }

        /// /dev/vfio/vfio and /dev/vfio/<group>.
        pub(crate) fn vfio_nodes(&self, group: Option<u32>) -> &Self {
            let v = self.paths.dev.join("vfio");
            std::fs::create_dir_all(&v).unwrap();
            std::fs::write(v.join("vfio"), b"").unwrap();
            if let Some(g) = group {
                std::fs::write(v.join(g.to_string()), b"").unwrap();
            }
            self
        }
    }

    const NIC: (u16, u16) = (0x8086, 0x10d3);

    fn addr(s: &str) -> PciAddress {
        s.parse().unwrap()
    }

    fn check(f: &FakeRoot, a: &str) -> Result<u32, DriverError> {
        preflight(&f.paths, &addr(a), Some(NIC))
    }

    #[test]
    fn a_bound_device_with_a_group_passes() {
        let f = FakeRoot::new();
        f.device("0000:00:02.0", NIC, Some("vfio-pci"), Some(7))
            .vfio_nodes(Some(7));
        assert_eq!(check(&f, "0000:00:02.0").unwrap(), 7);
    }

    #[test]
    fn missing_device_names_the_path_and_lspci() {
        let f = FakeRoot::new();
        let e = check(&f, "0000:00:05.0").unwrap_err().to_string();
        assert!(e.contains("no PCI device 0000:00:05.0"), "{e}");
        assert!(e.contains("bus/pci/devices/0000:00:05.0"), "{e}");
        assert!(e.contains("lspci -D -d 8086:10d3"), "{e}");
    }

    #[test]
    fn wrong_device_says_what_it_is() {
        let f = FakeRoot::new();
        f.device(
            "0000:00:03.0",
            (0x1af4, 0x1000),
            Some("virtio-pci"),
            Some(3),
        );
        let e = check(&f, "0000:00:03.0").unwrap_err().to_string();
        assert!(
            e.contains("is PCI device 1af4:1000, not an Intel 82574L"),
            "{e}"
        );
    }

    #[test]
    fn no_iommu_group_says_boot_with_intel_iommu() {
        let f = FakeRoot::new();
        f.device("0000:00:02.0", NIC, Some("e1000e"), None);
        let e = check(&f, "0000:00:02.0").unwrap_err();
        assert!(matches!(e, DriverError::NoIommu { .. }));
        let e = e.to_string();
        assert!(e.contains("iommu_group is missing"), "{e}");
        assert!(e.contains("intel_iommu=on"), "{e}");
        assert!(e.contains("-device intel-iommu"), "{e}");
    }

    #[test]
    fn bound_to_another_driver_names_the_fix_with_unbind() {
        let f = FakeRoot::new();
        f.device("0000:00:02.0", NIC, Some("e1000e"), Some(4))
            .vfio_nodes(Some(4));
        let e = check(&f, "0000:00:02.0").unwrap_err();
        let DriverError::NotBoundToVfio { ref driver, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(driver.as_deref(), Some("e1000e"));
        let e = e.to_string();
        assert!(
            e.contains("0000:00:02.0 is bound to e1000e, not to vfio-pci"),
            "{e}"
        );
        assert!(e.contains("echo vfio-pci > "), "{e}");
        assert!(e.contains("0000:00:02.0/driver_override"), "{e}");
        assert!(e.contains("echo 0000:00:02.0 > "), "{e}");
        assert!(e.contains("/driver/unbind"), "{e}");
        assert!(e.contains("bus/pci/drivers_probe"), "{e}");
    }

    #[test]
    fn unbound_device_gets_the_fix_without_unbind() {
        let f = FakeRoot::new();
        f.device("0000:00:02.0", NIC, None, Some(4))
            .vfio_nodes(Some(4));
        let e = check(&f, "0000:00:02.0").unwrap_err().to_string();
        assert!(e.contains("is bound to no driver, not to vfio-pci"), "{e}");
        assert!(!e.contains("unbind"), "{e}");
        assert!(e.contains("drivers_probe"), "{e}");
    }

    #[test]
    fn missing_dev_vfio_is_reported_as_no_iommu() {
        let f = FakeRoot::new();
        f.device("0000:00:02.0", NIC, Some("vfio-pci"), Some(9));
        let e = check(&f, "0000:00:02.0").unwrap_err().to_string();
        assert!(e.contains("vfio/vfio is missing"), "{e}");
        assert!(e.contains("intel_iommu=on"), "{e}");
        f.vfio_nodes(None);
        let e = check(&f, "0000:00:02.0").unwrap_err().to_string();
        assert!(e.contains("vfio/9 is missing"), "{e}");
    }

    #[test]
    fn group_members_that_block_viability_are_listed() {
        let f = FakeRoot::new();
        f.device("0000:00:02.0", NIC, Some("vfio-pci"), Some(2))
            .device("0000:00:02.1", (0x8086, 0x1234), Some("ahci"), Some(2))
            .device("0000:00:02.2", (0x8086, 0x1235), Some("vfio-pci"), Some(2))
            .device("0000:00:02.3", (0x8086, 0x1236), None, Some(2));
        let who = blocking_group_members(&f.paths, 2, &addr("0000:00:02.0"));
        assert_eq!(who, vec!["0000:00:02.1 (ahci)".to_string()]);
        let e = DriverError::GroupNotViable {
            addr: "0000:00:02.0".into(),
            group: 2,
            others: who.join(", "),
        }
        .to_string();
        assert!(
            e.contains("IOMMU group 2 of 0000:00:02.0 is not viable"),
            "{e}"
        );
        assert!(e.contains("0000:00:02.1 (ahci)"), "{e}");
    }

    #[test]
    fn open_node_maps_missing_and_forbidden() {
        let f = FakeRoot::new();
        let a = addr("0000:00:02.0");
        let e = open_node(&f.paths.group_node(3), &a)
            .unwrap_err()
            .to_string();
        assert!(e.contains("vfio/3 is missing"), "{e}");
        let e = DriverError::PermissionDenied {
            path: "/dev/vfio/3".into(),
        }
        .to_string();
        assert!(e.contains("run as root"), "{e}");
        assert!(e.contains("chown $USER /dev/vfio/3"), "{e}");
    }

    #[test]
    fn memlock_message_names_the_limit_and_the_fix() {
        let e = DriverError::MemlockTooLow {
            needed: 2 << 20,
            limit: Some(65536),
        }
        .to_string();
        assert!(e.contains("cannot lock 2097152 bytes"), "{e}");
        assert!(e.contains("RLIMIT_MEMLOCK is 65536 bytes"), "{e}");
        assert!(e.contains("ulimit -l"), "{e}");
    }
}
