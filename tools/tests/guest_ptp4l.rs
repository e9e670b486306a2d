//! ptp4l (Debian's linuxptp, dynamically linked) in the QEMU guest beside a
//! VFIO NIC (latency-tests/vfio-guest/run.sh with TAKT_GUEST_NIC_DRIVER=mixed
//! and TAKT_GUEST_DYN_BINS="ptp4l pmc"): NIC A stays bound to vfio-pci for
//! takt, NIC B is the kernel's e1000e interface where ptp4l runs with
//! software timestamps as a free-running slave, read with pmc. This is the
//! set-up in which takt-talker will be ptp4l's grandmaster.
//!
//! Needs root (the harness installs QEMU and linuxptp and boots the guest).
//! Without root the test says so and passes, except under CI=true, where it
//! fails.

mod common;

use common::{guest_possible, pcap_frames, repo};

use std::path::Path;
use std::process::Command;

/// The guest side (busybox sh). Everything it learns goes to files in
/// $TAKT_OUT, judged on the host. ptp4l's copy of gPTP.cfg raises
/// neighborPropDelayThresh (TCG delays would otherwise make a peer
/// "not asCapable") and tx_timestamp_timeout (a TCG guest can take more
/// than the default 1 ms to hand back a software tx timestamp). pmc needs
/// `-t 1`: gPTP.cfg sets transportSpecific 1, and ptp4l ignores management
/// messages whose transportSpecific differs, from its UNIX socket too.
const GUEST_CMD: &str = r#"
o=$TAKT_OUT
echo "IF_A=[$IF_A] IF_B=[$IF_B]" > $o/env.txt
for n in $NIC_A $NIC_B; do
    echo "$n $(basename "$(readlink /sys/bus/pci/devices/$n/driver)") $(basename "$(readlink /sys/bus/pci/devices/$n/iommu_group)")"
done > $o/drivers.txt
ls /dev/vfio > $o/dev-vfio.txt
cat /sys/class/net/$IF_B/address > $o/mac-b.txt
takt-talker --help > $o/talker-help.txt 2>&1; echo $? > $o/talker-help.rc
sed 's/^neighborPropDelayThresh.*/neighborPropDelayThresh 100000000/' /takt/linuxptp/gPTP.cfg > /tmp/gptp.cfg
echo 'tx_timestamp_timeout 100' >> /tmp/gptp.cfg
ptp4l -i $IF_B -f /tmp/gptp.cfg -S --free_running 1 -s -m > $o/ptp4l.log 2>&1 & p=$!
# Ask until ptp4l answers (it needs a moment to open its socket).
i=0
until pmc -u -b 0 -t 1 'GET PORT_DATA_SET' > $o/port-data-set.txt 2>&1 && grep -q portState $o/port-data-set.txt; do
    i=$((i + 1)); [ $i -lt 60 ] && kill -0 $p 2>/dev/null || break; sleep 0.5
done
# Then until it has sent three peer delay requests: each one counted was
# sent and had its software tx timestamp back.
i=0
while pmc -u -b 0 -t 1 'GET PORT_STATS_NP' > $o/port-stats.txt 2>&1; do
    [ "$(sed -n 's/.*tx_Pdelay_Req *//p' $o/port-stats.txt)" -ge 3 ] 2>/dev/null && break
    i=$((i + 1)); [ $i -lt 60 ] && kill -0 $p 2>/dev/null || break; sleep 0.5
done
kill $p; wait $p; echo $? > $o/ptp4l.rc
cat $o/ptp4l.log
"#;

fn read(out: &Path, name: &str) -> String {
    let path = out.join("guest-out").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value after `key` on its line of pmc's answer.
fn pmc_field<'a>(answer: &'a str, key: &str) -> Option<&'a str> {
    answer.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        if words.next() == Some(key) {
            words.next()
        } else {
            None
        }
    })
}

#[test]
fn ptp4l_runs_on_the_kernel_nic_beside_a_vfio_nic_in_the_guest() {
    if !guest_possible("ptp4l") {
        return;
    }
    let out = std::env::temp_dir().join(format!("takt-guest-ptp4l-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new(repo().join("latency-tests/vfio-guest/run.sh"))
        .current_dir(repo())
        .env("TAKT_GUEST_OUT", &out)
        .env("TAKT_GUEST_TIMEOUT", "200")
        .env("TAKT_GUEST_NIC_DRIVER", "mixed")
        .env("TAKT_GUEST_DYN_BINS", "ptp4l pmc")
        .arg("--")
        .arg(GUEST_CMD)
        .status()
        .expect("run.sh starts");
    let console = std::fs::read_to_string(out.join("console.txt")).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "guest run failed:\n{console}");

    // Mixed mode: NIC A on vfio-pci with its group's node, NIC B on e1000e
    // as IF_B; IF_A empty.
    let drivers = read(&out, "drivers.txt");
    let rows: Vec<Vec<&str>> = drivers
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{drivers}");
    assert_eq!(rows[0][..2], ["0000:00:02.0", "vfio-pci"], "{drivers}");
    assert_eq!(rows[1][..2], ["0000:00:03.0", "e1000e"], "{drivers}");
    let group = rows[0][2];
    let dev_vfio = read(&out, "dev-vfio.txt");
    assert!(
        dev_vfio.lines().any(|l| l == group),
        "no /dev/vfio/{group}: {dev_vfio}"
    );
    assert!(
        console.contains(&format!("TAKT-NIC 0000:00:02.0 group {group}")),
        "{console}"
    );
    let env = read(&out, "env.txt");
    let if_b = env
        .trim()
        .strip_prefix("IF_A=[] IF_B=[")
        .and_then(|s| s.strip_suffix(']'))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("IF_A should be empty and IF_B set: {env}"));
    assert!(
        console.contains(&format!("TAKT-NIC 0000:00:03.0 interface {if_b}")),
        "{console}"
    );

    // The static takt binaries still run beside the dynamic ones.
    assert_eq!(read(&out, "talker-help.rc").trim(), "0");
    assert!(read(&out, "talker-help.txt").contains("--device"));

    // ptp4l accepted software timestamping on the e1000e interface, came
    // up listening, and was still running when stopped (exit 0 on SIGTERM).
    let log = read(&out, "ptp4l.log");
    for bad in [
        "does not support",
        "timed out while polling for tx timestamp",
        "failed",
    ] {
        assert!(!log.contains(bad), "ptp4l said '{bad}':\n{log}");
    }
    assert!(log.contains("port 1: INITIALIZING to LISTENING"), "{log}");
    assert_eq!(read(&out, "ptp4l.rc").trim(), "0", "{log}");

    // pmc reached it over its UNIX socket: the port on NIC B (its identity
    // is NIC B's MAC with ff:fe in the middle) is LISTENING, nothing being
    // master yet.
    let pds = read(&out, "port-data-set.txt");
    assert_eq!(pmc_field(&pds, "portState"), Some("LISTENING"), "{pds}");
    let mac = read(&out, "mac-b.txt").trim().replace(':', "");
    assert_eq!(mac.len(), 12, "{mac}");
    let identity = format!("{}.fffe.{}-1", &mac[..6], &mac[6..]);
    assert_eq!(
        pmc_field(&pds, "portIdentity"),
        Some(&identity[..]),
        "{pds}"
    );

    // Peer delay requests: ptp4l counts one only when it was sent and its
    // software tx timestamp came back; the capture of NIC B's hub port
    // holds every one (gPTP: 01:80:c2:00:00:0e, EtherType 0x88f7,
    // transportSpecific 1, messageType 2), from NIC B's MAC.
    let stats = read(&out, "port-stats.txt");
    let sent: usize = pmc_field(&stats, "tx_Pdelay_Req")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no tx_Pdelay_Req: {stats}"));
    assert!(
        sent >= 1,
        "ptp4l sent no peer delay request:\n{stats}\n{log}"
    );
    let src: Vec<u8> = (0..6)
        .map(|i| u8::from_str_radix(&mac[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let on_wire = pcap_frames(&out.join("wire.pcap"))
        .iter()
        .filter(|f| {
            f.len() >= 15
                && f[..6] == [0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e]
                && f[6..12] == src[..]
                && f[12..14] == [0x88, 0xf7]
                && f[14] == 0x12
        })
        .count();
    assert!(
        on_wire >= sent,
        "{on_wire} Pdelay_Req on the wire, ptp4l counted {sent}"
    );
    eprintln!(
        "ptp4l on {if_b}: {sent} Pdelay_Req counted, {on_wire} captured; NIC A in group {group}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
