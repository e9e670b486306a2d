//! The kernel's TSN qdiscs (taprio: the gate list in the kernel; etf:
//! launch time per frame) and the qdiscs on the interface.

use super::check::{Check, Status};
use super::host::Host;
use std::io::Read;
use takt_drivers::packet::etf::QdiscEntry;

/// Whether the running kernel has a qdisc, and how we know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    Yes(String),
    No(String),
    Unknown,
}

/// The kernel's configuration: /boot/config-RELEASE, else /proc/config.gz.
fn kernel_config(host: &Host) -> Option<(String, String)> {
    if let Some(rel) = &host.release {
        let p = format!("/boot/config-{rel}");
        if let Some(text) = host.read(&p) {
            return Some((p, text));
        }
    }
    let gz = std::fs::File::open(host.path("/proc/config.gz")).ok()?;
    let mut text = String::new();
    // A kernel config is a few hundred KiB; cap what a broken file can cost.
    flate2::read::GzDecoder::new(gz)
        .take(16 << 20)
        .read_to_string(&mut text)
        .ok()?;
    Some(("/proc/config.gz".into(), text))
}

/// `CONFIG_NET_SCH_<NAME>`'s value: Some("y"/"m"), Some("") for "is not
/// set", None when the config does not mention it.
fn config_value(config: &str, key: &str) -> Option<String> {
    config.lines().find_map(|l| {
        if let Some(v) = l.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
            Some(v.trim().to_string())
        } else if l.trim() == format!("# {key} is not set") {
            Some(String::new())
        } else {
            None
        }
    })
}

/// Whether qdisc `name` ("taprio", "etf") is in the running kernel.
pub fn support(host: &Host, name: &str, config: Option<&(String, String)>) -> Support {
    let module = format!("sch_{name}");
    if host.exists(&format!("/sys/module/{module}")) {
        return Support::Yes(format!("{module} loaded"));
    }
    let moddir = host.release.as_ref().map(|r| format!("/lib/modules/{r}"));
    if let Some(dir) = &moddir {
        let rel = format!("kernel/net/sched/{module}.ko");
        if host
            .read(&format!("{dir}/modules.builtin"))
            .is_some_and(|b| b.lines().any(|l| l.trim() == rel))
        {
            return Support::Yes("built in".into());
        }
        let sched = host.path(&format!("{dir}/kernel/net/sched"));
        let has_module = std::fs::read_dir(&sched).ok().is_some_and(|d| {
            d.filter_map(Result::ok).any(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&format!("{module}.ko")))
            })
        });
        if has_module {
            return Support::Yes(format!("module {module}"));
        }
    }
    let key = format!("CONFIG_NET_SCH_{}", name.to_uppercase());
    match config.map(|(src, text)| (src, config_value(text, &key))) {
        Some((_, Some(v))) if v == "y" => Support::Yes("built in".into()),
        Some((src, Some(v))) if v == "m" => Support::No(format!(
            "{key}=m in {src} but no {module}.ko under /lib/modules/{}",
            host.release.as_deref().unwrap_or("?")
        )),
        Some((src, Some(_))) => Support::No(format!("{key} is not set ({src})")),
        Some((src, None)) => Support::No(format!("{src} does not mention {key}")),
        None => Support::Unknown,
    }
}

pub fn kernel(host: &Host) -> Check {
    const ID: &str = "kernel-qdiscs";
    const TITLE: &str = "Kernel taprio and ETF";
    let config = kernel_config(host);
    let taprio = support(host, "taprio", config.as_ref());
    let etf = support(host, "etf", config.as_ref());
    let say = |n: &str, s: &Support| match s {
        Support::Yes(how) => format!("{n}: yes ({how})"),
        Support::No(why) => format!("{n}: no ({why})"),
        Support::Unknown => format!("{n}: unknown"),
    };
    let found = format!("{}; {}", say("taprio", &taprio), say("etf", &etf));
    let missing: Vec<&str> = [("taprio", &taprio), ("etf", &etf)]
        .iter()
        .filter(|(_, s)| matches!(s, Support::No(_)))
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        let found = format!(
            "{found}: without them the kernel neither runs the gate list (takt export taprio) \
             nor holds frames to a launch time (packet: falls back to software timing)"
        );
        return Check::fail(
            ID,
            TITLE,
            found,
            "use a kernel with CONFIG_NET_SCH_TAPRIO=m and CONFIG_NET_SCH_ETF=m (Debian's \
             stock kernel has both); docs/qemu-guest.md runs one in a QEMU guest",
        );
    }
    if matches!(taprio, Support::Unknown) || matches!(etf, Support::Unknown) {
        return Check::info(
            ID,
            TITLE,
            format!("{found} (no /boot/config-RELEASE, /proc/config.gz or modules to look at)"),
        );
    }
    Check::pass(ID, TITLE, found)
}

/// How `tc` names a parent handle.
fn place(parent: u32) -> String {
    if parent == u32::MAX {
        "root".into()
    } else {
        format!("parent {:x}:{:x}", parent >> 16, parent & 0xffff)
    }
}

/// The interface's qdiscs: a taprio or etf one (or mqprio to hang ETF
/// under) is what a TSN run wants.
pub fn interface(ifname: &str, qdiscs: Result<&[QdiscEntry], String>) -> Check {
    const ID: &str = "qdisc";
    const TITLE: &str = "Interface qdisc";
    let qdiscs = match qdiscs {
        Ok(q) => q,
        Err(e) => return Check::info(ID, TITLE, format!("{ifname}: unknown ({e})")),
    };
    let shown: Vec<String> = qdiscs
        .iter()
        .map(|q| format!("{} {}", q.kind, place(q.parent)))
        .collect();
    let listed = if shown.is_empty() {
        "none".to_string()
    } else {
        shown.join(", ")
    };
    let tsn: Vec<&str> = qdiscs
        .iter()
        .map(|q| q.kind.as_str())
        .filter(|k| matches!(*k, "taprio" | "etf"))
        .collect();
    if !tsn.is_empty() {
        return Check::pass(ID, TITLE, format!("{ifname}: {listed}"));
    }
    let status = Status::Warn;
    Check::new(
        ID,
        TITLE,
        status,
        format!("{ifname}: {listed}: no taprio or etf, so frames leave when the talker sends them"),
    )
    .with_fix(format!(
        "takt export taprio FILE --dev {ifname} prints the tc taprio command for a schedule \
         (docs/taprio.md); for launch times only: tc qdisc replace dev {ifname} root etf \
         clockid CLOCK_TAI delta 200000"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::host::fake::FakeHost;

    #[test]
    fn not_set_in_the_config_fails_with_the_kernel_to_use() {
        let f = FakeHost::new(&[(
            "boot/config-6.1.0-test",
            "CONFIG_NET_SCH_TBF=y\n# CONFIG_NET_SCH_ETF is not set\n# CONFIG_NET_SCH_TAPRIO is not set\n",
        )]);
        let c = kernel(&f.host);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.found
                .contains("taprio: no (CONFIG_NET_SCH_TAPRIO is not set"),
            "{}",
            c.found
        );
        assert!(c.fix.unwrap().contains("CONFIG_NET_SCH_TAPRIO=m"));
    }

    #[test]
    fn modules_on_disk_or_built_in_pass() {
        let f = FakeHost::new(&[
            (
                "lib/modules/6.1.0-test/kernel/net/sched/sch_taprio.ko.xz",
                "",
            ),
            (
                "lib/modules/6.1.0-test/modules.builtin",
                "kernel/net/sched/sch_etf.ko\n",
            ),
        ]);
        let c = kernel(&f.host);
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(c.found.contains("taprio: yes (module sch_taprio)"));
        assert!(c.found.contains("etf: yes (built in)"));
    }

    #[test]
    fn a_module_in_the_config_but_not_on_disk_fails_and_nothing_is_unknown() {
        let f = FakeHost::new(&[(
            "boot/config-6.1.0-test",
            "CONFIG_NET_SCH_ETF=m\nCONFIG_NET_SCH_TAPRIO=y\n",
        )]);
        let c = kernel(&f.host);
        assert_eq!(c.status, Status::Fail);
        assert!(c
            .found
            .contains("CONFIG_NET_SCH_ETF=m in /boot/config-6.1.0-test but no sch_etf.ko"));
        let empty = FakeHost::new(&[]);
        assert_eq!(kernel(&empty.host).status, Status::Info);
    }

    #[test]
    fn proc_config_gz_is_read() {
        use std::io::Write;
        let f = FakeHost::new(&[]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"CONFIG_NET_SCH_ETF=y\nCONFIG_NET_SCH_TAPRIO=y\n")
            .unwrap();
        std::fs::create_dir_all(f.host.path("proc")).unwrap();
        std::fs::write(f.host.path("proc/config.gz"), gz.finish().unwrap()).unwrap();
        assert_eq!(kernel(&f.host).status, Status::Pass);
    }

    #[test]
    fn the_interface_qdisc_taprio_passes_noqueue_warns() {
        let q = |kind: &str, parent| QdiscEntry {
            kind: kind.into(),
            parent,
            handle: 0,
            etf: None,
        };
        let c = interface("eth0", Ok(&[q("taprio", u32::MAX)]));
        assert_eq!(c.status, Status::Pass);
        assert_eq!(c.found, "eth0: taprio root");
        let c = interface("eth0", Ok(&[q("mqprio", u32::MAX), q("etf", 0x0100_0001)]));
        assert_eq!(c.status, Status::Pass);
        assert!(c.found.contains("etf parent 100:1"));
        let c = interface("lo", Ok(&[q("noqueue", u32::MAX)]));
        assert_eq!(c.status, Status::Warn);
        assert!(c.fix.unwrap().contains("takt export taprio FILE --dev lo"));
        assert_eq!(interface("lo", Err("EPERM".into())).status, Status::Info);
    }
}
