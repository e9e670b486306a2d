//! A VFIO device: its fd, region info, BAR mmap and PCI config space.

use super::bar::Bar;
use super::container::Group;
use super::ioctls::{self, argsz};
use crate::{DriverError, PciAddress};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::FileExt;
use vfio_bindings::bindings::vfio::{
    vfio_device_info, vfio_region_info, VFIO_DEVICE_FLAGS_PCI, VFIO_PCI_CONFIG_REGION_INDEX,
    VFIO_REGION_INFO_FLAG_MMAP, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
};

/// PCI config space: the COMMAND register and its bits (PCI Local Bus spec).
pub const PCI_COMMAND: u64 = 0x04;
pub const PCI_COMMAND_MEMORY: u16 = 1 << 1;
pub const PCI_COMMAND_MASTER: u16 = 1 << 2;

/// Where a region of the device file is and what it allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionInfo {
    pub index: u32,
    pub flags: u32,
    pub size: u64,
    /// Offset of the region in the device fd (for pread/pwrite/mmap).
    pub offset: u64,
}

impl RegionInfo {
    pub fn can_mmap_rw(&self) -> bool {
        let need =
            VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP;
        self.flags & need == need
    }
}

/// An open VFIO PCI device.
#[derive(Debug)]
pub struct VfioDevice {
    file: File,
    addr: PciAddress,
    num_regions: u32,
    config: RegionInfo,
}

impl VfioDevice {
    /// VFIO_GROUP_GET_DEVICE_FD + VFIO_DEVICE_GET_INFO + the config region.
    pub fn open(group: &Group, addr: PciAddress) -> Result<Self, DriverError> {
        let name = CString::new(addr.to_string()).expect("a PCI address has no NUL");
        // SAFETY: VFIO_GROUP_GET_DEVICE_FD reads a NUL-terminated string that
        // lives across the call; the group fd is open.
        let fd = unsafe { ioctls::vfio_group_get_device_fd(group.as_raw_fd(), name.as_ptr()) }
            .map_err(|e| DriverError::Io {
                what: format!(
                    "VFIO_GROUP_GET_DEVICE_FD for {addr} in group {}",
                    group.id()
                ),
                source: e.into(),
            })?;
        // SAFETY: on success the ioctl returned a new fd that nothing else owns.
        let file = unsafe { File::from_raw_fd(fd) };
        let mut info = vfio_device_info {
            argsz: argsz::<vfio_device_info>(),
            ..Default::default()
        };
        // SAFETY: `info` is a valid vfio_device_info living across the call.
        unsafe { ioctls::vfio_device_get_info(file.as_raw_fd(), &mut info) }.map_err(|e| {
            DriverError::Io {
                what: format!("VFIO_DEVICE_GET_INFO for {addr}"),
                source: e.into(),
            }
        })?;
        if info.flags & VFIO_DEVICE_FLAGS_PCI == 0
            || info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX
        {
            return Err(DriverError::Unsupported(format!(
                "{addr}: VFIO does not present it as a PCI device (flags {:#x}, {} regions)",
                info.flags, info.num_regions
            )));
        }
        let mut dev = VfioDevice {
            file,
            addr,
            num_regions: info.num_regions,
            config: RegionInfo {
                index: VFIO_PCI_CONFIG_REGION_INDEX,
                flags: 0,
                size: 0,
                offset: 0,
            },
        };
        dev.config = dev.region_info(VFIO_PCI_CONFIG_REGION_INDEX)?;
        Ok(dev)
    }

    pub fn addr(&self) -> PciAddress {
        self.addr
    }

    /// VFIO_DEVICE_GET_REGION_INFO.
    pub fn region_info(&self, index: u32) -> Result<RegionInfo, DriverError> {
        if index >= self.num_regions {
            return Err(DriverError::Unsupported(format!(
                "{}: no VFIO region {index} (the device has {})",
                self.addr, self.num_regions
            )));
        }
        let mut r = vfio_region_info {
            argsz: argsz::<vfio_region_info>(),
            index,
            ..Default::default()
        };
        // SAFETY: `r` is a valid vfio_region_info living across the call.
        unsafe { ioctls::vfio_device_get_region_info(self.file.as_raw_fd(), &mut r) }.map_err(
            |e| DriverError::Io {
                what: format!("VFIO_DEVICE_GET_REGION_INFO({index}) for {}", self.addr),
                source: e.into(),
            },
        )?;
        Ok(RegionInfo {
            index,
            flags: r.flags,
            size: r.size,
            offset: r.offset,
        })
    }

    /// mmap a BAR region read/write, shared. `min_size` is what the driver
    /// will touch (checked, so a smaller BAR is an error, not a fault).
    pub fn map_bar(&self, index: u32, min_size: u64) -> Result<Bar, DriverError> {
        use nix::sys::mman::{mmap, MapFlags, ProtFlags};
        let r = self.region_info(index)?;
        if !r.can_mmap_rw() || r.size < min_size {
            return Err(DriverError::Unsupported(format!(
                "{}: BAR region {index} is {:#x} bytes with flags {:#x}; need at least {min_size:#x} \
                 bytes, readable, writable and mmap-able",
                self.addr, r.size, r.flags
            )));
        }
        let len = std::num::NonZeroUsize::new(r.size as usize).ok_or_else(|| {
            DriverError::Unsupported(format!("{}: BAR region {index} is empty", self.addr))
        })?;
        let offset = libc::off_t::try_from(r.offset).map_err(|_| {
            DriverError::Unsupported(format!(
                "{}: region offset {:#x} too large",
                self.addr, r.offset
            ))
        })?;
        // SAFETY: a shared mapping of the device fd at the region's offset:
        // it aliases no Rust memory; the Bar becomes its only owner.
        let ptr = unsafe {
            mmap(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                &self.file,
                offset,
            )
        }
        .map_err(|e| DriverError::Io {
            what: format!("mmap BAR region {index} of {}", self.addr),
            source: e.into(),
        })?;
        // SAFETY: just mapped, `len` bytes, read/write, owned by nothing else.
        Ok(unsafe { Bar::from_mmap(ptr.cast(), len.get()) })
    }

    /// Read `N` bytes of PCI config space at `offset` (pread on the config region).
    fn config_read<const N: usize>(&self, offset: u64) -> Result<[u8; N], DriverError> {
        let mut b = [0u8; N];
        self.file
            .read_exact_at(&mut b, self.config.offset + offset)
            .map_err(|e| DriverError::Io {
                what: format!("read PCI config {offset:#x} of {}", self.addr),
                source: e,
            })?;
        Ok(b)
    }

    pub fn config_read_u16(&self, offset: u64) -> Result<u16, DriverError> {
        Ok(u16::from_le_bytes(self.config_read::<2>(offset)?))
    }

    pub fn config_write_u16(&self, offset: u64, value: u16) -> Result<(), DriverError> {
        self.file
            .write_all_at(&value.to_le_bytes(), self.config.offset + offset)
            .map_err(|e| DriverError::Io {
                what: format!("write PCI config {offset:#x} of {}", self.addr),
                source: e,
            })
    }

    /// Set (or clear) bus mastering, read-modify-write of COMMAND. Turning
    /// it on also sets memory-space decoding, which BAR access needs.
    pub fn set_bus_master(&self, on: bool) -> Result<(), DriverError> {
        let cmd = self.config_read_u16(PCI_COMMAND)?;
        let new = if on {
            cmd | PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY
        } else {
            cmd & !PCI_COMMAND_MASTER
        };
        if new != cmd {
            self.config_write_u16(PCI_COMMAND, new)?;
        }
        Ok(())
    }
}
