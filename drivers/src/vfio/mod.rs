//! VFIO: a PCI device driven from user space behind the IOMMU.
//!
//! | file | job |
//! |---|---|
//! | `sysfs.rs` | pre-flight checks from sysfs and /dev with fix-naming errors; injectable roots |
//! | `ioctls.rs` | the VFIO ioctls (nix macros over vfio-bindings types) |
//! | `container.rs` | container (/dev/vfio/vfio, type-1 IOMMU), groups, DMA mapping |
//! | `device.rs` | device fd, region info, BAR mmap, PCI config (bus master) |
//! | `bar.rs` | [`Bar`]: volatile, bounds- and alignment-checked 32-bit MMIO; the [`Regs`] trait |
//! | `dma.rs` | [`DmaRegion`]: memory the device may access, volatile words only |
//! | `iova.rs` | [`IovaAllocator`]: page-aligned IOVAs from 0x1000_0000, below 2^39, with guard gaps |
//!
//! Opening, in order: [`preflight`] (sysfs), [`Container::open`] (API
//! version, TYPE1), [`Group::open`] (viable?), [`Container::attach`]
//! (SET_CONTAINER, SET_IOMMU), [`VfioDevice::open`] (device fd, info,
//! config region), [`VfioDevice::map_bar`], [`VfioDevice::set_bus_master`],
//! [`Container::map_dma`]. Everything unmaps and closes on drop.

mod bar;
mod container;
mod device;
mod dma;
mod ioctls;
mod iova;
mod sysfs;

pub use bar::{Bar, Regs};
pub use container::{Container, Group};
pub use device::{RegionInfo, VfioDevice, PCI_COMMAND, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY};
pub use dma::DmaRegion;
pub use iova::{IovaAllocator, IovaRange, GUARD, IOVA_BASE, IOVA_LIMIT, PAGE};
pub use sysfs::{blocking_group_members, bound_driver, preflight, VfioPaths, VFIO_PCI};

#[cfg(test)]
pub(crate) use sysfs::tests::FakeRoot;
