//! The VFIO ioctls, declared with nix's macros over vfio-bindings' types.
//!
//! Every VFIO ioctl is `_IO(VFIO_TYPE, VFIO_BASE + n)` (no size encoded;
//! the structs carry `argsz`), hence the `_bad` forms with
//! `request_code_none!`. Numbers from linux/vfio.h.

use libc::{c_char, c_int};
use nix::{
    ioctl_none, ioctl_readwrite_bad, ioctl_write_int_bad, ioctl_write_ptr_bad, request_code_none,
};
use vfio_bindings::bindings::vfio::{
    vfio_device_info, vfio_group_status, vfio_iommu_type1_dma_map, vfio_iommu_type1_dma_unmap,
    vfio_region_info, VFIO_BASE, VFIO_TYPE,
};

ioctl_none!(vfio_get_api_version, VFIO_TYPE, VFIO_BASE);
ioctl_write_int_bad!(
    vfio_check_extension,
    request_code_none!(VFIO_TYPE, VFIO_BASE + 1)
);
ioctl_write_int_bad!(vfio_set_iommu, request_code_none!(VFIO_TYPE, VFIO_BASE + 2));
ioctl_readwrite_bad!(
    vfio_group_get_status,
    request_code_none!(VFIO_TYPE, VFIO_BASE + 3),
    vfio_group_status
);
ioctl_write_ptr_bad!(
    vfio_group_set_container,
    request_code_none!(VFIO_TYPE, VFIO_BASE + 4),
    c_int
);
ioctl_write_ptr_bad!(
    vfio_group_get_device_fd,
    request_code_none!(VFIO_TYPE, VFIO_BASE + 6),
    c_char
);
ioctl_readwrite_bad!(
    vfio_device_get_info,
    request_code_none!(VFIO_TYPE, VFIO_BASE + 7),
    vfio_device_info
);
ioctl_readwrite_bad!(
    vfio_device_get_region_info,
    request_code_none!(VFIO_TYPE, VFIO_BASE + 8),
    vfio_region_info
);
ioctl_write_ptr_bad!(
    vfio_iommu_map_dma,
    request_code_none!(VFIO_TYPE, VFIO_BASE + 13),
    vfio_iommu_type1_dma_map
);
ioctl_readwrite_bad!(
    vfio_iommu_unmap_dma,
    request_code_none!(VFIO_TYPE, VFIO_BASE + 14),
    vfio_iommu_type1_dma_unmap
);

/// `argsz` of a VFIO struct.
pub(crate) fn argsz<T>() -> u32 {
    std::mem::size_of::<T>() as u32
}

#[cfg(test)]
mod tests {
    /// The request numbers match linux/vfio.h: `_IO(';', 100 + n)` is
    /// `(0x3b << 8) | (100 + n)` on x86 and arm (no size, no direction bits).
    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[allow(clippy::unnecessary_cast)] // ioctl_num_type is u32 on 32-bit targets
    fn request_codes_match_the_kernel_header() {
        use nix::request_code_none;
        use vfio_bindings::bindings::vfio::{VFIO_BASE, VFIO_TYPE};
        assert_eq!(request_code_none!(VFIO_TYPE, VFIO_BASE) as u64, 0x3b64);
        assert_eq!(request_code_none!(VFIO_TYPE, VFIO_BASE + 6) as u64, 0x3b6a);
        assert_eq!(request_code_none!(VFIO_TYPE, VFIO_BASE + 13) as u64, 0x3b71);
        assert_eq!(request_code_none!(VFIO_TYPE, VFIO_BASE + 14) as u64, 0x3b72);
    }
}
