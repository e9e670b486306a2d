//! The redirect program and its XSKMAP, made with the raw bpf() syscall (no
//! libbpf, no clang): BPF_MAP_CREATE, BPF_MAP_UPDATE_ELEM, BPF_PROG_LOAD of
//! a dozen hand-assembled instructions, BPF_LINK_CREATE to attach it.
//!
//! The program, in C:
//!
//! ```c
//! int takt_xdp(struct xdp_md *ctx) {
//!     if (bpf_xdp_adjust_meta(ctx, -8) == 0) {
//!         __u64 t = bpf_ktime_get_tai_ns();
//!         __u64 *meta = (void *)(long)ctx->data_meta;
//!         if ((void *)(meta + 1) <= (void *)(long)ctx->data)
//!             *meta = t;
//!     }
//!     return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
//! }
//! ```
//!
//! A queue without a socket in the map passes its frames to the stack
//! (XDP_PASS in the flags is the fallback action).

use crate::DriverError;
use std::ffi::c_void;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const BPF_MAP_CREATE: i64 = 0;
const BPF_MAP_UPDATE_ELEM: i64 = 2;
const BPF_PROG_LOAD: i64 = 5;
const BPF_LINK_CREATE: i64 = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// enum bpf_attach_type BPF_XDP.
const BPF_XDP: u32 = 37;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

// Helper ids (enum bpf_func_id).
const FN_REDIRECT_MAP: i32 = 51;
const FN_XDP_ADJUST_META: i32 = 54;
const FN_KTIME_GET_TAI_NS: i32 = 208;
const XDP_PASS: i32 = 2;
/// src_reg of an ld_imm64 whose immediate is a map fd.
const BPF_PSEUDO_MAP_FD: u8 = 1;

/// One eBPF instruction (struct bpf_insn).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}
const fn mov64_reg(dst: u8, src: u8) -> Insn {
    insn(0xbf, dst, src, 0, 0) // BPF_ALU64 | BPF_MOV | BPF_X
}
const fn mov64_imm(dst: u8, imm: i32) -> Insn {
    insn(0xb7, dst, 0, 0, imm) // BPF_ALU64 | BPF_MOV | BPF_K
}
const fn add64_imm(dst: u8, imm: i32) -> Insn {
    insn(0x07, dst, 0, 0, imm) // BPF_ALU64 | BPF_ADD | BPF_K
}
const fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x61, dst, src, off, 0) // BPF_LDX | BPF_MEM | BPF_W
}
const fn stx_dw(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x7b, dst, src, off, 0) // BPF_STX | BPF_MEM | BPF_DW
}
const fn jne_imm(dst: u8, imm: i32, off: i16) -> Insn {
    insn(0x55, dst, 0, off, imm) // BPF_JMP | BPF_JNE | BPF_K
}
const fn jgt_reg(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x2d, dst, src, off, 0) // BPF_JMP | BPF_JGT | BPF_X
}
const fn call(helper: i32) -> Insn {
    insn(0x85, 0, 0, 0, helper) // BPF_JMP | BPF_CALL
}
const EXIT: Insn = insn(0x95, 0, 0, 0, 0);

// struct xdp_md offsets.
const MD_DATA: i16 = 0;
const MD_DATA_META: i16 = 8;
const MD_RX_QUEUE_INDEX: i16 = 16;

/// The program above, with `map_fd` the XSKMAP.
pub(super) fn redirect_program(map_fd: RawFd) -> [Insn; 18] {
    [
        mov64_reg(6, 1),                             // 0: r6 = ctx
        mov64_imm(2, -8),                            // 1
        call(FN_XDP_ADJUST_META),                    // 2: r0 = adjust_meta(ctx, -8)
        jne_imm(0, 0, 8),                            // 3: failed -> 12
        call(FN_KTIME_GET_TAI_NS),                   // 4
        mov64_reg(7, 0),                             // 5: r7 = now (TAI)
        ldx_w(2, 6, MD_DATA),                        // 6: r2 = data
        ldx_w(3, 6, MD_DATA_META),                   // 7: r3 = data_meta
        mov64_reg(4, 3),                             // 8
        add64_imm(4, 8),                             // 9: r4 = data_meta + 8
        jgt_reg(4, 2, 1),                            // 10: past data -> 12
        stx_dw(3, 7, 0),                             // 11: *data_meta = now
        ldx_w(2, 6, MD_RX_QUEUE_INDEX),              // 12: r2 = key
        insn(0x18, 1, BPF_PSEUDO_MAP_FD, 0, map_fd), // 13: r1 = &xsks (ld_imm64)
        insn(0, 0, 0, 0, 0),                         // 14: upper half of the imm64
        mov64_imm(3, XDP_PASS),                      // 15
        call(FN_REDIRECT_MAP),                       // 16
        EXIT,                                        // 17
    ]
}

fn sys_bpf<T>(cmd: i64, attr: &mut T) -> io::Result<i64> {
    // SAFETY: `attr` is a live, writable bpf_attr prefix of size_of::<T>()
    // bytes (all-zero padding where unused); the kernel reads at most that many.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut c_void,
            std::mem::size_of::<T>() as u32,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

fn fd_of(r: i64) -> OwnedFd {
    // SAFETY: bpf() returned a fresh descriptor (O_CLOEXEC) that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(r as RawFd) }
}

fn needs(device: &str, what: &str, cap: &str) -> DriverError {
    DriverError::DeviceNotReady {
        device: device.into(),
        what: format!("{what} needs {cap} (run as root)"),
    }
}

fn refused(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

/// An XSKMAP with room for keys 0..entries.
pub(super) fn create_xskmap(device: &str, entries: u32) -> Result<OwnedFd, DriverError> {
    let mut name = [0u8; 16];
    name[..9].copy_from_slice(b"takt_xsks");
    let mut attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_XSKMAP,
        key_size: 4,
        value_size: 4,
        max_entries: entries,
        map_name: name,
        ..Default::default()
    };
    match sys_bpf(BPF_MAP_CREATE, &mut attr) {
        Ok(fd) => Ok(fd_of(fd)),
        Err(e) if refused(&e) => Err(needs(
            device,
            "creating the XSKMAP (bpf)",
            "CAP_BPF and CAP_NET_ADMIN",
        )),
        Err(e) => Err(DriverError::Io {
            what: format!("{device}: creating the XSKMAP (bpf BPF_MAP_CREATE)"),
            source: e,
        }),
    }
}

#[repr(C)]
struct MapUpdateAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// xsks[key] = the socket `xsk`.
pub(super) fn xskmap_set(
    device: &str,
    map: &OwnedFd,
    key: u32,
    xsk: &OwnedFd,
) -> Result<(), DriverError> {
    let value = xsk.as_raw_fd() as u32;
    let mut attr = MapUpdateAttr {
        map_fd: map.as_raw_fd() as u32,
        _pad: 0,
        key: &key as *const u32 as u64,
        value: &value as *const u32 as u64,
        flags: 0, // BPF_ANY
    };
    sys_bpf(BPF_MAP_UPDATE_ELEM, &mut attr)
        .map(|_| ())
        .map_err(|e| DriverError::Io {
            what: format!("{device}: putting the socket into the XSKMAP at key {key}"),
            source: e,
        })
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// Load the redirect program for `map`. On a verifier rejection the error
/// carries the verifier's log.
pub(super) fn load_program(device: &str, map: &OwnedFd) -> Result<OwnedFd, DriverError> {
    let insns = redirect_program(map.as_raw_fd());
    let license = c"GPL"; // bpf_ktime_get_tai_ns is GPL-only
    let mut name = [0u8; 16];
    name[..8].copy_from_slice(b"takt_xdp");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        expected_attach_type: BPF_XDP,
        ..Default::default()
    };
    match sys_bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => return Ok(fd_of(fd)),
        Err(e) if refused(&e) => {
            return Err(needs(
                device,
                "loading the XDP program (bpf)",
                "CAP_BPF and CAP_NET_ADMIN",
            ))
        }
        Err(_) => {}
    }
    // Again with the verifier's log, to say why.
    let mut log = vec![0u8; 64 * 1024];
    attr.log_level = 1;
    attr.log_size = log.len() as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    match sys_bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(fd_of(fd)),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err(DriverError::Io {
                what: format!(
                    "{device}: loading the XDP redirect program (verifier log: {})",
                    String::from_utf8_lossy(&log[..end]).trim()
                ),
                source: e,
            })
        }
    }
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// How the program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpAttach {
    /// In the driver (XDP_FLAGS_DRV_MODE).
    Native,
    /// In the generic receive path, after the skb is built (XDP_FLAGS_SKB_MODE).
    Generic,
}

/// Attach `prog` to `ifindex` with a bpf link: `want`, or native first and
/// generic when the driver has no XDP. Closing the returned fd detaches it.
pub(super) fn attach(
    device: &str,
    ifname: &str,
    prog: &OwnedFd,
    ifindex: u32,
    want: Option<XdpAttach>,
) -> Result<(OwnedFd, XdpAttach), DriverError> {
    let try_mode = |mode: XdpAttach| {
        let mut attr = LinkCreateAttr {
            prog_fd: prog.as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: BPF_XDP,
            flags: match mode {
                XdpAttach::Native => XDP_FLAGS_DRV_MODE,
                XdpAttach::Generic => XDP_FLAGS_SKB_MODE,
            },
        };
        sys_bpf(BPF_LINK_CREATE, &mut attr).map(|fd| (fd_of(fd), mode))
    };
    let err = |e: io::Error| attach_error(device, ifname, want, e);
    match want {
        Some(mode) => try_mode(mode).map_err(err),
        None => match try_mode(XdpAttach::Native) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP) | Some(libc::EINVAL)
                ) =>
            {
                try_mode(XdpAttach::Generic).map_err(err)
            }
            r => r.map_err(err),
        },
    }
}

/// What a failed BPF_LINK_CREATE means, and what to do about it.
fn attach_error(device: &str, ifname: &str, want: Option<XdpAttach>, e: io::Error) -> DriverError {
    if refused(&e) {
        return needs(device, "attaching the XDP program", "CAP_NET_ADMIN");
    }
    match e.raw_os_error() {
        // Never suggest removing it: it may be another run's, or
        // another tool's, and taking it away breaks that one.
        Some(libc::EBUSY) | Some(libc::EEXIST) => DriverError::DeviceNotReady {
            device: device.into(),
            what: format!(
                "{ifname} already has an XDP program, which takt leaves alone (another \
                 takt run, or another tool, may be using it): `ip link show {ifname}` and \
                 `bpftool net show dev {ifname}` show it and who attached it; stop that \
                 run or tool, or use another interface or packet:{ifname}"
            ),
        },
        // veth: the MTU of the interface or its peer is more than XDP takes.
        Some(libc::ERANGE) => super::mtu_too_large(
            device,
            ifname,
            &format!(
                "the kernel refused XDP on {ifname} for its MTU (\"Numerical result out of \
                 range\"; on a veth the peer's MTU counts too)"
            ),
        ),
        _ => DriverError::Io {
            what: format!(
                "{device}: attaching the XDP program to {ifname} in {} mode (bpf BPF_LINK_CREATE)",
                match want {
                    Some(XdpAttach::Generic) => "generic",
                    _ => "native",
                }
            ),
            source: e,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_encode_like_the_kernel_headers() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        assert_eq!(std::mem::size_of::<ProgLoadAttr>(), 72);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(std::mem::offset_of!(MapCreateAttr, map_name), 28);
        let p = redirect_program(7);
        assert_eq!(
            p[13],
            Insn {
                code: 0x18,
                regs: 0x11,
                off: 0,
                imm: 7
            }
        );
        // Both jumps land on the redirect (instruction 12).
        assert_eq!(3 + 1 + p[3].off as usize, 12);
        assert_eq!(10 + 1 + p[10].off as usize, 12);
        assert_eq!(p[17], EXIT);
    }

    #[test]
    fn another_program_on_the_interface_is_left_alone() {
        for errno in [libc::EBUSY, libc::EEXIST] {
            let e = attach_error(
                "xdp:eth0@0",
                "eth0",
                None,
                io::Error::from_raw_os_error(errno),
            )
            .to_string();
            assert!(
                e.contains("eth0 already has an XDP program, which takt leaves alone"),
                "{e}"
            );
            assert!(e.contains("bpftool net show dev eth0"), "{e}");
            // Nothing that would detach it.
            for detach in [
                "xdp off",
                "xdpgeneric off",
                "xdpdrv off",
                "bpftool net detach",
            ] {
                assert!(!e.contains(detach), "{e}");
            }
        }
    }
}
