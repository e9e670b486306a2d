#!/usr/bin/env bash
# Proves the guest harness works on this machine, with busybox commands only,
# in one boot in TAKT_GUEST_NIC_DRIVER=mixed mode:
#   - NIC A is bound to vfio-pci and has its /dev/vfio/<group> node,
#   - NIC B is the kernel e1000e interface IF_B, up with a carrier (IF_A empty),
#   - the static takt binary runs in the guest (takt --help, takt check),
#   - the QEMU hub joins the NICs: with NIC A handed to the guest kernel's own
#     e1000e driver too, ARP requests sent on NIC A arrive at NIC B, and the
#     host's wire.pcap (the dump of netdev b) holds them.
#
#   latency-tests/vfio-guest/selftest.sh [--no-build]
#
# Exits 0 when all of that holds. Environment as for run.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
export TAKT_GUEST_OUT=${TAKT_GUEST_OUT:-$root/latency-tests/results/vfio-guest/selftest-$(date +%Y%m%d-%H%M%S)}
export TAKT_GUEST_NIC_DRIVER=mixed

# The guest side (busybox sh). Each check prints "ok: ..." or fails the run.
# shellcheck disable=SC2016 # expanded by the guest's shell, not here
probe='
fail() { echo "SELFTEST-FAIL $*"; exit 1; }
drv() { basename "$(readlink "/sys/bus/pci/devices/$1/driver")"; }
g=$(basename "$(readlink "/sys/bus/pci/devices/$NIC_A/iommu_group")")
[ "$(drv "$NIC_A")" = vfio-pci ] || fail "NIC A $NIC_A is bound to $(drv "$NIC_A"), not vfio-pci"
[ -c "/dev/vfio/$g" ] || fail "no /dev/vfio/$g for $NIC_A"
echo "ok: NIC A $NIC_A is on vfio-pci in IOMMU group $g, /dev/vfio/$g exists"
[ -z "$IF_A" ] || fail "IF_A is [$IF_A] in mixed mode"
[ "$(drv "$NIC_B")" = e1000e ] || fail "NIC B $NIC_B is bound to $(drv "$NIC_B"), not e1000e"
[ "$(ls "/sys/bus/pci/devices/$NIC_B/net")" = "$IF_B" ] || fail "IF_B is [$IF_B], not the interface of NIC B"
[ "$(cat "/sys/class/net/$IF_B/carrier")" = 1 ] || fail "no carrier on $IF_B"
echo "ok: NIC B $NIC_B is the e1000e interface $IF_B, up with a carrier"
takt --help >/dev/null || fail "takt --help"
echo "ok: takt --help (the static binary runs)"
takt check /takt/docs/examples/two-class-250us.toml >/dev/null || fail "takt check two-class-250us.toml"
echo "ok: takt check /takt/docs/examples/two-class-250us.toml"

# Hub wiring: NIC A from vfio-pci to the kernel e1000e driver too.
echo "$NIC_A" >/sys/bus/pci/drivers/vfio-pci/unbind
echo >"/sys/bus/pci/devices/$NIC_A/driver_override"
echo "$NIC_A" >/sys/bus/pci/drivers/e1000e/bind || fail "bind $NIC_A to e1000e"
ifa=$(ls "/sys/bus/pci/devices/$NIC_A/net"); ifb=$IF_B
ip link set "$ifa" up; ip addr add 10.9.0.1/24 dev "$ifa"
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
