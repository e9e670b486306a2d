//! The VFIO container (an IOMMU context: /dev/vfio/vfio) and groups
//! (`/dev/vfio/<n>`) attached to it, and DMA mapping into the container.

use super::dma::DmaRegion;
use super::ioctls::{self, argsz};
use super::iova::{IovaAllocator, IovaRange, PAGE};
use super::sysfs::{self, VfioPaths};
use crate::{DriverError, PciAddress};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use vfio_bindings::bindings::vfio::{
    vfio_group_status, vfio_iommu_type1_dma_map, vfio_iommu_type1_dma_unmap, VFIO_API_VERSION,
    VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VFIO_GROUP_FLAGS_VIABLE, VFIO_TYPE1_IOMMU,
};

fn io(what: impl Into<String>, e: nix::errno::Errno) -> DriverError {
    DriverError::Io {
        what: what.into(),
        source: e.into(),
    }
}

/// What DMA regions need to outlive their creator: the container file (to
/// unmap) and the IOVA allocator (to give their range back).
#[derive(Debug)]
pub(crate) struct ContainerShared {
    file: File,
    iova: Mutex<IovaAllocator>,
}

impl ContainerShared {
    /// Remove `range` from the IOMMU and give it back to the allocator.
    pub(crate) fn unmap_dma(&self, range: IovaRange) {
        let mut unmap = vfio_iommu_type1_dma_unmap {
            argsz: argsz::<vfio_iommu_type1_dma_unmap>(),
            flags: 0,
            iova: range.start,
            size: range.len,
            data: Default::default(),
        };
        // SAFETY: `unmap` is a valid, initialised vfio_iommu_type1_dma_unmap
        // that lives across the call; the fd is our open container.
        let r = unsafe { ioctls::vfio_iommu_unmap_dma(self.file.as_raw_fd(), &mut unmap) };
        if r.is_ok() {
            if let Ok(mut a) = self.iova.lock() {
                a.free(range);
            }
        }
    }
}

/// An open VFIO container with the type-1 IOMMU.
#[derive(Debug)]
pub struct Container {
    shared: Arc<ContainerShared>,
    iommu_set: bool,
    addr: PciAddress,
}

impl Container {
    /// Open /dev/vfio/vfio, check the API version and type-1 IOMMU support.
    /// `addr` is only for error messages.
    pub fn open(paths: &VfioPaths, addr: &PciAddress) -> Result<Self, DriverError> {
        let path = paths.container_node();
        let file = sysfs::open_node(&path, addr)?;
        let fd = file.as_raw_fd();
        // SAFETY: VFIO_GET_API_VERSION takes no argument; fd is open.
        let version = unsafe { ioctls::vfio_get_api_version(fd) }
            .map_err(|e| io(format!("VFIO_GET_API_VERSION on {}", path.display()), e))?;
        if version != VFIO_API_VERSION as i32 {
            return Err(DriverError::Unsupported(format!(
                "{} speaks VFIO API version {version}, this driver version {VFIO_API_VERSION}: \
                 use a kernel with the standard VFIO API",
                path.display()
            )));
        }
        // SAFETY: VFIO_CHECK_EXTENSION takes the extension number by value.
        let type1 = unsafe { ioctls::vfio_check_extension(fd, VFIO_TYPE1_IOMMU as i32) }
            .map_err(|e| io("VFIO_CHECK_EXTENSION(VFIO_TYPE1_IOMMU)", e))?;
        if type1 != 1 {
            return Err(DriverError::NoIommu {
                addr: addr.to_string(),
                reason: "VFIO has no type-1 IOMMU backend (vfio_iommu_type1 not loaded?)".into(),
            });
        }
        Ok(Container {
            shared: Arc::new(ContainerShared {
                file,
                iova: Mutex::new(IovaAllocator::default()),
            }),
            iommu_set: false,
            addr: *addr,
        })
    }

    /// Put `group` into this container; the first group also selects the
    /// type-1 IOMMU (VFIO_SET_IOMMU needs a group in the container).
    pub fn attach(&mut self, group: &Group) -> Result<(), DriverError> {
        let cfd: libc::c_int = self.shared.file.as_raw_fd();
        // SAFETY: VFIO_GROUP_SET_CONTAINER reads one int (the container fd)
        // through the pointer, which points at a live local.
        unsafe { ioctls::vfio_group_set_container(group.file.as_raw_fd(), &cfd) }.map_err(|e| {
            io(
                format!("VFIO_GROUP_SET_CONTAINER for group {}", group.id),
                e,
            )
        })?;
        if !self.iommu_set {
            // SAFETY: VFIO_SET_IOMMU takes the IOMMU type by value.
            unsafe { ioctls::vfio_set_iommu(cfd, VFIO_TYPE1_IOMMU as i32) }.map_err(|e| {
                if e == nix::errno::Errno::EPERM || e == nix::errno::Errno::EINVAL {
                    DriverError::NoIommu {
                        addr: self.addr.to_string(),
                        reason: format!(
                            "VFIO_SET_IOMMU(TYPE1) failed ({e}): the IOMMU refused the group \
                             (without interrupt remapping vfio_iommu_type1 refuses it: in QEMU \
                             use -M q35,kernel-irqchip=split and intel-iommu,intremap=on)"
                        ),
                    }
                } else {
                    io("VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU)", e)
                }
            })?;
            self.iommu_set = true;
        }
        Ok(())
    }

    /// `len` bytes (rounded up to pages) of zeroed, pinned memory, mapped
    /// read/write for the device at an IOVA from the allocator.
    pub fn map_dma(&self, len: usize) -> Result<DmaRegion, DriverError> {
        use nix::sys::mman::{madvise, mmap_anonymous, MapFlags, MmapAdvise, ProtFlags};
        let len = (len.max(1) as u64).div_ceil(PAGE) * PAGE;
        let nz =
            std::num::NonZeroUsize::new(len as usize).ok_or_else(|| DriverError::BadOptions {
                device: format!("vfio:{}", self.addr),
                reason: "DMA region of 0 bytes".into(),
            })?;
        let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        let base = MapFlags::MAP_PRIVATE | MapFlags::MAP_POPULATE;
        // SAFETY: a fresh anonymous mapping aliases nothing; it is owned by
        // the DmaRegion built below (or unmapped on every error path).
        let ptr = match unsafe { mmap_anonymous(None, nz, prot, base | MapFlags::MAP_LOCKED) } {
            Ok(p) => p,
            // Over RLIMIT_MEMLOCK without CAP_IPC_LOCK: map it unlocked;
            // VFIO pins the pages itself below (and reports ENOMEM if the
            // limit is too low for that).
            Err(
                nix::errno::Errno::EAGAIN | nix::errno::Errno::EPERM | nix::errno::Errno::ENOMEM,
            ) => {
                // SAFETY: as above.
                unsafe { mmap_anonymous(None, nz, prot, base) }
                    .map_err(|e| io(format!("mmap {len} bytes for DMA"), e))?
            }
            Err(e) => return Err(io(format!("mmap {len} bytes for DMA"), e)),
        };
        let unmap = |ptr: NonNull<libc::c_void>| {
            // SAFETY: the mapping made above, not yet owned by anything else.
            let _ = unsafe { nix::sys::mman::munmap(ptr, len as usize) };
        };
        // A forked child must not share (or copy-on-write) pages the device
        // writes. Best effort: the mapping works without it.
        // SAFETY: advice on our own fresh mapping; changes no contents.
        let _ = unsafe { madvise(ptr, len as usize, MmapAdvise::MADV_DONTFORK) };

        let range = self
            .shared
            .iova
            .lock()
            .ok()
            .and_then(|mut a| a.alloc(len, PAGE));
        let Some(range) = range else {
            unmap(ptr);
            return Err(DriverError::BadOptions {
                device: format!("vfio:{}", self.addr),
                reason: format!(
                    "no room for {len} more bytes in the IOVA space below {:#x}: use a smaller pool",
                    super::iova::IOVA_LIMIT
                ),
            });
        };
        let map = vfio_iommu_type1_dma_map {
            argsz: argsz::<vfio_iommu_type1_dma_map>(),
            flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
            vaddr: ptr.as_ptr() as u64,
            iova: range.start,
            size: range.len,
        };
        // SAFETY: `map` is a valid vfio_iommu_type1_dma_map that lives across
        // the call, describing our own mapping; the fd is our container.
        if let Err(e) = unsafe { ioctls::vfio_iommu_map_dma(self.shared.file.as_raw_fd(), &map) } {
            unmap(ptr);
            if let Ok(mut a) = self.shared.iova.lock() {
                a.free(range);
            }
            return Err(if e == nix::errno::Errno::ENOMEM {
                DriverError::MemlockTooLow {
                    needed: len,
                    limit: memlock_limit(),
                }
            } else {
                io(
                    format!(
                        "VFIO_IOMMU_MAP_DMA of {len} bytes at IOVA {:#x}",
                        range.start
                    ),
                    e,
                )
            });
        }
        // SAFETY: ptr..ptr+len is our anonymous mapping, now mapped in this
        // container at `range`; the region takes sole ownership of both.
        Ok(unsafe { DmaRegion::from_vfio(ptr.cast(), range, Arc::clone(&self.shared)) })
    }
}

/// The soft RLIMIT_MEMLOCK in bytes (`None` = unlimited or unknown).
fn memlock_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, Resource};
    match getrlimit(Resource::RLIMIT_MEMLOCK) {
        Ok((soft, _)) if soft != libc::RLIM_INFINITY => Some(soft),
        _ => None,
    }
}

/// An open VFIO group.
#[derive(Debug)]
pub struct Group {
    file: File,
    id: u32,
}

impl Group {
    /// Open `/dev/vfio/<id>` and check it is viable (every device in it bound
    /// to vfio-pci or to nothing).
    pub fn open(paths: &VfioPaths, id: u32, addr: &PciAddress) -> Result<Self, DriverError> {
        let file = sysfs::open_node(&paths.group_node(id), addr)?;
        let mut status = vfio_group_status {
            argsz: argsz::<vfio_group_status>(),
            flags: 0,
        };
        // SAFETY: `status` is a valid vfio_group_status that lives across the
        // call; the fd is the group we just opened.
        unsafe { ioctls::vfio_group_get_status(file.as_raw_fd(), &mut status) }
            .map_err(|e| io(format!("VFIO_GROUP_GET_STATUS on group {id}"), e))?;
        if status.flags & VFIO_GROUP_FLAGS_VIABLE == 0 {
            let who = sysfs::blocking_group_members(paths, id, addr);
            return Err(DriverError::GroupNotViable {
                addr: addr.to_string(),
                group: id,
                others: if who.is_empty() {
                    "some device in it is bound to another driver".into()
                } else {
                    format!("these are not: {}", who.join(", "))
                },
            });
        }
        Ok(Group { file, id })
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    pub(crate) fn as_raw_fd(&self) -> libc::c_int {
        self.file.as_raw_fd()
    }
}
