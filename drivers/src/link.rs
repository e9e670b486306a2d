//! Link set-up over rtnetlink: ifindex, MAC, up/down and MTU by interface
//! name, network namespaces, and veth pairs between two namespaces for tests
//! and latency runs. Set-up only: nothing here is ever on the data path.
//!
//! The calls are synchronous. Each one opens a netlink socket in the calling
//! thread's network namespace and drives it on a current-thread tokio
//! runtime built for that call (a few microseconds; both are gone when the
//! call returns, so no socket outlives it in a namespace the thread has
//! since left). To act inside another namespace, run the calls in
//! [`Netns::enter`].
//!
//! Errors reuse the crate's [`DriverError`]: a missing interface is a
//! `BadSpec` naming it, missing privileges a `DeviceNotReady` naming the
//! capability, anything else `Io`.

use crate::DriverError;
use futures_util::stream::TryStreamExt;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::{Handle, LinkUnspec, LinkVeth};
use std::fs::File;
use std::future::Future;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;
use std::str::FromStr;

/// Where `ip netns add` bind-mounts named network namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";

/// Longest interface name the kernel takes (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;

/// ifindex of interface `name` in the calling thread's network namespace.
pub fn ifindex(name: &str) -> Result<u32, DriverError> {
    Ok(get(name)?.header.index)
}

/// MAC address of interface `name`.
pub fn mac(name: &str) -> Result<[u8; 6], DriverError> {
    let link = get(name)?;
    link.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Address(b) if b.len() == 6 => {
                let mut m = [0u8; 6];
                m.copy_from_slice(b);
                Some(m)
            }
            _ => None,
        })
        .ok_or_else(|| {
            DriverError::Unsupported(format!(
                "interface {name} has no 6-byte (Ethernet) MAC address"
            ))
        })
}

/// True when interface `name` is administratively up (IFF_UP, what
/// `ip link set NAME up` sets; the carrier may still be down).
pub fn is_up(name: &str) -> Result<bool, DriverError> {
    Ok(get(name)?.header.flags.contains(LinkFlags::Up))
}

/// True when interface `name` is up with a carrier (IFF_RUNNING: a veth
/// whose peer is down has none).
pub fn has_carrier(name: &str) -> Result<bool, DriverError> {
    Ok(get(name)?.header.flags.contains(LinkFlags::Running))
}

/// MTU of interface `name`.
pub fn mtu(name: &str) -> Result<u32, DriverError> {
    let link = get(name)?;
    link.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Mtu(m) => Some(*m),
            _ => None,
        })
        .ok_or_else(|| DriverError::Unsupported(format!("interface {name} reports no MTU")))
}

/// Bring interface `name` up (`true`) or down (`false`). Needs CAP_NET_ADMIN.
pub fn set_up(name: &str, up: bool) -> Result<(), DriverError> {
    let what = format!(
        "setting interface {name} {}",
        if up { "up" } else { "down" }
    );
    let index = ifindex(name)?;
    run(name, &what, |h| async move {
        let msg = LinkUnspec::new_with_index(index);
        let msg = if up { msg.up() } else { msg.down() };
        h.link().set(msg.build()).execute().await
    })
}

/// Set the MTU of interface `name`. Needs CAP_NET_ADMIN.
pub fn set_mtu(name: &str, mtu: u32) -> Result<(), DriverError> {
    let what = format!("setting the MTU of interface {name} to {mtu}");
    let index = ifindex(name)?;
    run(name, &what, |h| async move {
        let msg = LinkUnspec::new_with_index(index).mtu(mtu).build();
        h.link().set(msg).execute().await
    })
}

/// The link message of interface `name`.
fn get(name: &str) -> Result<LinkMessage, DriverError> {
    if name.is_empty() || name.len() > MAX_IFNAME || name.contains(['/', '\0']) {
        return Err(no_such_interface(name));
    }
    let owned = name.to_string();
    let found = run(
        name,
        &format!("looking up interface {name}"),
        |h| async move { h.link().get().match_name(owned).execute().try_next().await },
    )?;
    found.ok_or_else(|| no_such_interface(name))
}

/// Run one request on a fresh netlink connection in the calling thread's
/// network namespace, on a current-thread runtime built for it.
pub(crate) fn run<T, F, Fut>(ifname: &str, what: &str, f: F) -> Result<T, DriverError>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = Result<T, rtnetlink::Error>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| io_err(format!("{what}: starting the netlink runtime"), e))?;
    rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection()
            .map_err(|e| io_err(format!("{what}: opening a netlink socket"), e))?;
        let conn = tokio::spawn(conn);
        let out = f(handle).await;
        conn.abort();
        out.map_err(|e| netlink_err(ifname, what, e))
    })
}

fn io_err(what: String, source: io::Error) -> DriverError {
    DriverError::Io { what, source }
}

fn needs_net_admin(device: &str, what: &str) -> DriverError {
    DriverError::DeviceNotReady {
        device: device.to_string(),
        what: format!("{what} needs CAP_NET_ADMIN (run as root)"),
    }
}

fn no_such_interface(name: &str) -> DriverError {
    DriverError::BadSpec {
        spec: name.to_string(),
        reason: format!(
            "no network interface \"{name}\" in this network namespace: `ip link` lists the \
             interfaces (`ip -n NAMESPACE link` inside a namespace)"
        ),
    }
}

fn netlink_err(ifname: &str, what: &str, e: rtnetlink::Error) -> DriverError {
    match e {
        rtnetlink::Error::NetlinkError(m) => {
            let source = m.to_io();
            match source.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => needs_net_admin(ifname, what),
                Some(libc::ENODEV) => no_such_interface(ifname),
                _ => io_err(what.to_string(), source),
            }
        }
        other => io_err(what.to_string(), io::Error::other(other.to_string())),
    }
}

/// An IPv4 address with its prefix length, as in "10.77.0.1/24".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl FromStr for Ipv4Net {
    type Err = DriverError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| DriverError::BadSpec {
            spec: s.to_string(),
            reason: format!("{reason}: write an IPv4 address with its prefix, e.g. 10.77.0.1/24"),
        };
        let (addr, prefix) = s.split_once('/').ok_or_else(|| bad("no /PREFIX"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| bad("the prefix length is not 0..=32"))?;
        Ok(Ipv4Net { addr, prefix })
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A named network namespace (like `ip netns add NAME`: a new net namespace
/// bind-mounted at /var/run/netns/NAME), deleted again on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create namespace `name`; it must not exist yet. Needs CAP_SYS_ADMIN
    /// (run as root).
    pub fn add(name: &str) -> Result<Netns, DriverError> {
        check_netns_name(name)?;
        let path = netns_path(name);
        if path.exists() {
            return Err(DriverError::BadSpec {
                spec: name.to_string(),
                reason: format!(
                    "network namespace {name} exists already ({}): pick another name or \
                     delete it with `ip netns del {name}`",
                    path.display()
                ),
            });
        }
        ip_netns(&["add", name])?;
        Ok(Netns {
            name: name.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Run `f` on a thread inside this namespace; see [`Netns::enter`].
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, DriverError> {
        Netns::enter(&self.name, f)
    }

    /// Run `f` on a new thread that has joined the named network namespace
    /// `name` (setns), and return its result. Sockets `f` opens stay in
    /// that namespace. A panic in `f` is passed on to the caller.
    pub fn enter<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> Result<T, DriverError> {
        check_netns_name(name)?;
        let path = netns_path(name);
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => DriverError::BadSpec {
                spec: name.to_string(),
                reason: format!(
                    "no network namespace {name} ({} is missing): `ip netns list` lists them",
                    path.display()
                ),
            },
            _ => io_err(format!("opening {}", path.display()), e),
        })?;
        std::thread::scope(|s| {
            let t = s.spawn(move || {
                nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(
                    |e| match e {
                        nix::errno::Errno::EPERM => DriverError::DeviceNotReady {
                            device: format!("netns {name}"),
                            what: "entering a network namespace needs CAP_SYS_ADMIN \
                                   (run as root)"
                                .into(),
                        },
                        e => io_err(
                            format!("entering network namespace {name} (setns)"),
                            e.into(),
                        ),
                    },
                )?;
                Ok(f())
            });
            match t.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip_netns(&["del", &self.name]);
    }
}

fn netns_path(name: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(name)
}

fn check_netns_name(name: &str) -> Result<(), DriverError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(DriverError::BadSpec {
            spec: name.to_string(),
            reason: "not a network namespace name: use letters, digits, '-' and '_'".into(),
        });
    }
    Ok(())
}

/// `ip netns ARGS` (the namespace part of set-up; links go over rtnetlink).
fn ip_netns(args: &[&str]) -> Result<(), DriverError> {
    let what = format!("ip netns {}", args.join(" "));
    let out = Command::new("ip")
        .arg("netns")
        .args(args)
        .output()
        .map_err(|e| io_err(format!("running `{what}` (is iproute2 installed?)"), e))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if stderr.contains("Permission denied") || stderr.contains("Operation not permitted") {
        return Err(DriverError::DeviceNotReady {
            device: format!("netns {}", args.last().unwrap_or(&"")),
            what: format!("`{what}` needs CAP_SYS_ADMIN and CAP_NET_ADMIN (run as root): {stderr}"),
        });
    }
    Err(io_err(what, io::Error::other(stderr)))
}

/// Two network namespaces joined by a veth pair: `if_a` in `ns_a` with
/// `addr_a`, `if_b` in `ns_b` with `addr_b`, both up. Dropping it deletes
/// both namespaces, which removes the veth.
#[derive(Debug)]
pub struct VethPair {
    // Dropped in this order: b, then a.
    ns_b: Netns,
    ns_a: Netns,
    if_a: String,
    if_b: String,
    addr_a: Ipv4Net,
    addr_b: Ipv4Net,
}

impl VethPair {
    /// Create the namespaces (`ip netns add`), then over rtnetlink, from
    /// threads inside them: the veth pair in `ns_a`, `if_b` moved to
    /// `ns_b`, the addresses ("10.77.0.1/24") and both ends up. Whatever
    /// fails, what was created is deleted again. Needs root.
    pub fn create(
        ns_a: &str,
        ns_b: &str,
        if_a: &str,
        if_b: &str,
        addr_a: &str,
        addr_b: &str,
    ) -> Result<VethPair, DriverError> {
        let addr_a: Ipv4Net = addr_a.parse()?;
        let addr_b: Ipv4Net = addr_b.parse()?;
        for name in [if_a, if_b] {
            if name.is_empty() || name.len() > MAX_IFNAME || name.contains(['/', '\0', ' ']) {
                return Err(DriverError::BadSpec {
                    spec: name.to_string(),
                    reason: format!(
                        "not an interface name: 1..={MAX_IFNAME} bytes, no '/' or spaces"
                    ),
                });
            }
        }
        if if_a == if_b || ns_a == ns_b {
            return Err(DriverError::BadSpec {
                spec: format!("{ns_a}/{if_a} - {ns_b}/{if_b}"),
                reason: "the two ends need different namespaces and interface names".into(),
            });
        }
        let a = Netns::add(ns_a)?;
        let b = Netns::add(ns_b)?;
        // From here on, dropping `a` and `b` (on any error) deletes both.
        let b_file = File::open(netns_path(ns_b))
            .map_err(|e| io_err(format!("opening {}", netns_path(ns_b).display()), e))?;
        let (if_a_s, if_b_s) = (if_a.to_string(), if_b.to_string());
        a.run(move || -> Result<(), DriverError> {
            let what = format!("creating veth pair {if_a_s} - {if_b_s}");
            run(&if_a_s, &what, |h| {
                let msg = LinkVeth::new(&if_a_s, &if_b_s).build();
                async move { h.link().add(msg).execute().await }
            })?;
            let peer = ifindex(&if_b_s)?;
            let fd = b_file.as_raw_fd();
            run(&if_b_s, &format!("moving {if_b_s} into {ns_b}"), |h| {
                let msg = LinkUnspec::new_with_index(peer).setns_by_fd(fd).build();
                async move { h.link().set(msg).execute().await }
            })?;
            drop(b_file);
            add_addr_and_up(&if_a_s, addr_a)
        })??;
        let if_b_s = if_b.to_string();
        b.run(move || add_addr_and_up(&if_b_s, addr_b))??;
        Ok(VethPair {
            ns_b: b,
            ns_a: a,
            if_a: if_a.to_string(),
            if_b: if_b.to_string(),
            addr_a,
            addr_b,
        })
    }

    pub fn ns_a(&self) -> &Netns {
        &self.ns_a
    }
    pub fn ns_b(&self) -> &Netns {
        &self.ns_b
    }
    pub fn if_a(&self) -> &str {
        &self.if_a
    }
    pub fn if_b(&self) -> &str {
        &self.if_b
    }
    pub fn addr_a(&self) -> Ipv4Net {
        self.addr_a
    }
    pub fn addr_b(&self) -> Ipv4Net {
        self.addr_b
    }
}

/// Add `addr` to `ifname` and bring it up (calling thread's namespace),
/// IPv6 off on it first: no router solicitations or neighbour discovery
/// frames on a test wire.
fn add_addr_and_up(ifname: &str, addr: Ipv4Net) -> Result<(), DriverError> {
    let index = ifindex(ifname)?;
    // /proc/sys/net follows the opening thread's network namespace.
    let sysctl = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
    if std::path::Path::new(&sysctl).exists() {
        std::fs::write(&sysctl, "1").map_err(|e| io_err(format!("writing 1 to {sysctl}"), e))?;
    }
    run(
        ifname,
        &format!("adding {addr} to {ifname}"),
        |h| async move {
            h.address()
                .add(index, addr.addr.into(), addr.prefix)
                .execute()
                .await
        },
    )?;
    set_up(ifname, true)
}
