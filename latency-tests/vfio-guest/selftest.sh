#!/usr/bin/env bash
# Proves the guest harness works on this machine, with busybox commands only:
#   - both e1000e NICs are bound to vfio-pci and have /dev/vfio/<group> nodes,
#   - the static takt binary runs in the guest (takt --help, takt check),
#   - the QEMU hub joins the NICs: with both handed to the guest kernel's own
#     e1000e driver, ARP requests sent on NIC A arrive at NIC B, and the host's
#     wire.pcap (the dump of netdev b) holds them.
#
#   latency-tests/vfio-guest/selftest.sh [--no-build]
#
# Exits 0 when all of that holds. Environment as for run.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
export TAKT_GUEST_OUT=${TAKT_GUEST_OUT:-$root/latency-tests/results/vfio-guest/selftest-$(date +%Y%m%d-%H%M%S)}
# The kernel's e1000e driver is only for the wiring check.
export TAKT_GUEST_MODULES="${TAKT_GUEST_MODULES:-} e1000e"

# The guest side (busybox sh). Each check prints "ok: ..." or fails the run.
# shellcheck disable=SC2016 # expanded by the guest's shell, not here
probe='
fail() { echo "SELFTEST-FAIL $*"; exit 1; }
for n in "$NIC_A" "$NIC_B"; do
    g=$(basename "$(readlink "/sys/bus/pci/devices/$n/iommu_group")")
    [ -c "/dev/vfio/$g" ] || fail "no /dev/vfio/$g for $n"
    echo "ok: $n is in IOMMU group $g, /dev/vfio/$g exists"
done
takt --help >/dev/null || fail "takt --help"
echo "ok: takt --help (the static binary runs)"
takt check /takt/docs/examples/two-class-250us.toml >/dev/null || fail "takt check two-class-250us.toml"
echo "ok: takt check /takt/docs/examples/two-class-250us.toml"

# Hub wiring: both NICs from vfio-pci to the kernel e1000e driver.
for n in "$NIC_A" "$NIC_B"; do
    echo "$n" >/sys/bus/pci/drivers/vfio-pci/unbind
    echo >"/sys/bus/pci/devices/$n/driver_override"
    echo "$n" >/sys/bus/pci/drivers/e1000e/bind || fail "bind $n to e1000e"
done
ifa=$(ls "/sys/bus/pci/devices/$NIC_A/net"); ifb=$(ls "/sys/bus/pci/devices/$NIC_B/net")
ip link set "$ifa" up; ip link set "$ifb" up; ip addr add 10.9.0.1/24 dev "$ifa"
i=0
while [ "$(cat "/sys/class/net/$ifa/carrier")$(cat "/sys/class/net/$ifb/carrier")" != 11 ]; do
    i=$((i + 1)); [ $i -le 40 ] || fail "no carrier on $ifa/$ifb"; sleep 0.5
done
echo "SELFTEST-MAC-A $(cat "/sys/class/net/$ifa/address")"
rx0=$(cat "/sys/class/net/$ifb/statistics/rx_packets")
arping -c 3 -I "$ifa" 10.9.0.2 >/dev/null
sleep 1
rx1=$(cat "/sys/class/net/$ifb/statistics/rx_packets")
[ $((rx1 - rx0)) -ge 3 ] || fail "NIC B received $((rx1 - rx0)) frames of the 3 ARP requests NIC A sent"
echo "ok: 3 ARP requests sent on NIC A ($ifa), NIC B ($ifb) received $((rx1 - rx0)) frames"
'

rc=0
"$here/run.sh" "$@" -- "$probe" || rc=$?
[ "$rc" = 0 ] || { echo "selftest: FAILED (run.sh exit $rc)" >&2; exit "$rc"; }

# Host side: the dump of netdev b must hold a broadcast ARP frame from NIC A
# (destination ff:ff:ff:ff:ff:ff, source NIC A's MAC, EtherType 0x0806).
mac=$(tr -d '\r' <"$TAKT_GUEST_OUT/console.log" | sed -n 's/^SELFTEST-MAC-A //p' | tail -n 1)
want="ffffffffffff${mac//:/}0806"
if od -An -v -tx1 "$TAKT_GUEST_OUT/wire.pcap" | tr -d ' \n' | grep -q "$want"; then
    echo "ok: wire.pcap (netdev b) holds NIC A's ARP request ($mac)"
else
    echo "selftest: FAILED: no ARP frame from $mac in $TAKT_GUEST_OUT/wire.pcap" >&2
    exit 1
fi
echo "selftest: all checks passed"
