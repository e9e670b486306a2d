#!/usr/bin/env bash
# Run a command inside a QEMU guest that has VFIO and two e1000e (82574L) NICs
# bound to vfio-pci, behind a virtual IOMMU. The host kernel has no VFIO; the
# guest runs Debian's stock kernel (fetched once, never installed on the host)
# from a busybox initramfs that also holds the statically linked takt tools
# and, on request, dynamically linked Debian programs with their libraries.
#
#   latency-tests/vfio-guest/run.sh [--no-build] [-- 'GUEST COMMAND LINE']
#
# The guest command line is run by the guest's busybox sh with NIC_A and NIC_B
# set to the PCI addresses of the two NICs (in PCI order) and TAKT_OUT set to a
# directory whose files are copied back to $OUT/guest-out/. run.sh exits with
# the guest command's exit code. README.md next to this file has the details
# (and why each QEMU flag is there).
#
# Idempotent: packages are installed only when missing, the kernel is fetched
# once into the cache, cargo rebuilds only what changed, the initramfs is
# packed fresh each run (it carries the command) into the run's output folder.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

# ---------------------------------------------------------------- settings
cache=${TAKT_GUEST_CACHE:-$here/.cache}          # guest kernel cache (gitignored)
timeout_s=${TAKT_GUEST_TIMEOUT:-300}             # QEMU is killed after this many seconds
mem_mb=${TAKT_GUEST_MEM:-512}                    # guest RAM
smp=${TAKT_GUEST_SMP:-2}                         # guest CPUs (TCG runs them in parallel: MTTCG)
extra_bins=${TAKT_GUEST_BINS:-}                  # more static binaries for /takt/bin
extra_files=${TAKT_GUEST_FILES:-}                # more files/folders for /takt/
extra_modules=${TAKT_GUEST_MODULES:-}            # more kernel modules to insmod (by name)
kernel_pin=${TAKT_GUEST_KERNEL:-}                # e.g. 6.1.0-56-amd64; empty = resolve with apt
strip_debug=${TAKT_GUEST_STRIP:-1}               # 1: strip debug info from the guest's copies
nic_driver=${TAKT_GUEST_NIC_DRIVER:-vfio-pci}    # vfio-pci; e1000e: both stay kernel interfaces; mixed: A vfio-pci, B e1000e
dyn_bins=${TAKT_GUEST_DYN_BINS:-}                # dynamically linked programs (names or paths), with their libraries
target=x86_64-unknown-linux-gnu                  # named explicitly: see the build step

usage() {
    cat <<'EOF'
usage: latency-tests/vfio-guest/run.sh [--no-build] [-- 'GUEST COMMAND LINE']

Boots a QEMU (TCG) guest with a virtual IOMMU and two e1000e NICs on one hub,
binds both NICs to vfio-pci and runs the command line with busybox sh, with
NIC_A / NIC_B = the NICs' PCI addresses and TAKT_OUT = a folder copied back.
Without a command it lists /dev/vfio. Exits with the command's exit code;
124 when the guest timed out, 125 when it ended without reporting one.

  --no-build   use the static binaries already in target/x86_64-unknown-linux-gnu/release/

Environment: TAKT_GUEST_OUT, TAKT_GUEST_TIMEOUT (300), TAKT_GUEST_MEM (512),
TAKT_GUEST_SMP (2), TAKT_GUEST_BINS, TAKT_GUEST_FILES, TAKT_GUEST_MODULES,
TAKT_GUEST_KERNEL, TAKT_GUEST_STRIP (1), TAKT_GUEST_CACHE,
TAKT_GUEST_NIC_DRIVER (vfio-pci; e1000e leaves both NICs to the kernel's
e1000e driver, up, with IF_A / IF_B = their interface names; mixed binds
NIC A to vfio-pci and leaves NIC B to e1000e, IF_B its name, IF_A empty),
TAKT_GUEST_DYN_BINS (dynamically linked programs, e.g. "ptp4l pmc": copied
with their libraries and loader to the same paths in the guest; ptp4l also
brings linuxptp's gPTP.cfg as /takt/linuxptp/gPTP.cfg).
See latency-tests/vfio-guest/README.md.
EOF
}

build=1
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --no-build) build=0; shift ;;
        --) shift; break ;;
        *) echo "run.sh: unknown argument '$1' (the guest command goes after --)" >&2; usage >&2; exit 2 ;;
    esac
done
# Several words after -- are joined with spaces, like ssh does.
guest_cmd=${*:-ls -l /dev/vfio}

die() { echo "run.sh: error: $*" >&2; exit 1; }
case $timeout_s in ''|*[!0-9]*) die "TAKT_GUEST_TIMEOUT must be whole seconds, not '$timeout_s'" ;; esac
case $mem_mb in ''|*[!0-9]*) die "TAKT_GUEST_MEM must be MiB, not '$mem_mb'" ;; esac
case $smp in ''|*[!0-9]*) die "TAKT_GUEST_SMP must be a CPU count, not '$smp'" ;; esac
case $nic_driver in
    vfio-pci) ;;
    e1000e|mixed) extra_modules="e1000e $extra_modules" ;;
    *) die "TAKT_GUEST_NIC_DRIVER must be vfio-pci, e1000e or mixed, not '$nic_driver'" ;;
esac

# Output folder of this run.
if [ -n "${TAKT_GUEST_OUT:-}" ]; then
    out=$TAKT_GUEST_OUT
else
    out=$root/latency-tests/results/vfio-guest/$(date +%Y%m%d-%H%M%S)
    [ ! -e "$out" ] || out=$out-$$
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Phases print how long they took.
phase_start=
phase() { phase_start=$EPOCHREALTIME; printf '\n==> %s\n' "$*"; }
phase_done() { awk -v a="$phase_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "    (%.1f s)\n", b - a }'; }

# ---------------------------------------------------------------- 1. packages
# Everything this script needs is checked here; what is missing is installed
# (as root, apt-get update once). Nothing is ever skipped: a tool that can't be
# installed is an error, with or without CI=true.
apt_updated=0
apt_update_once() {
    [ "$apt_updated" = 1 ] && return
    [ "$(id -u)" = 0 ] || die "apt-get update needs root"
    apt-get update -q
    apt_updated=1
}
apt_install() {
    [ "$(id -u)" = 0 ] || die "missing Debian packages: $* — install them or run as root"
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}
pkg_installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/sbin/$1" ] || [ -x "/usr/sbin/$1" ]; }
# The absolute path of program $1 (sbin too: a non-root PATH lacks it).
prog_path() {
    local p
    p=$(command -v "$1" 2>/dev/null) && [ "${p#/}" != "$p" ] && { echo "$p"; return 0; }
    for p in "/usr/sbin/$1" "/sbin/$1"; do [ -x "$p" ] && { echo "$p"; return 0; }; done
    return 1
}
# The Debian package that brings TAKT_GUEST_DYN_BINS program $1.
dyn_package() {
    case $1 in
        ptp4l|pmc|phc2sys|phc_ctl|hwstamp_ctl|ts2phc|timemaster|nsm) echo linuxptp ;;
        *) return 1 ;;
    esac
}

phase "packages"
missing=()
have qemu-system-x86_64 || missing+=(qemu-system-x86)
pkg_installed busybox-static || missing+=(busybox-static)     # /bin/busybox, statically linked
have cpio || missing+=(cpio)
have gzip || missing+=(gzip)
have modinfo || missing+=(kmod)                              # module dependencies
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev) # static glibc for +crt-static
have file || missing+=(file)                                 # checks binaries are static
have strip || missing+=(binutils)                            # strips debug info
have flock || missing+=(util-linux)                          # one kernel fetch at a time
# TAKT_GUEST_DYN_BINS: a name that is not on this machine is installed from
# its package; a path must exist. ptp4l also needs linuxptp for its configs.
for b in $dyn_bins; do
    case $b in
        */*) [ -f "$b" ] || die "TAKT_GUEST_DYN_BINS: '$b' is not a file" ;;
        *)
            if ! prog_path "$b" >/dev/null; then
                pkg=$(dyn_package "$b") ||
                    die "TAKT_GUEST_DYN_BINS: '$b' is not installed and run.sh knows no Debian package for it: install it or give its path"
                missing+=("$pkg")
            fi ;;
    esac
    if [ "${b##*/}" = ptp4l ] && ! pkg_installed linuxptp; then missing+=(linuxptp); fi
done
if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    echo "installing: ${missing[*]}"
    apt_install "${missing[@]}"
fi
for t in qemu-system-x86_64 cpio gzip modinfo file strip base64 timeout flock; do
    have "$t" || die "'$t' is still missing after installing packages"
done
if ! pkg_installed busybox-static || [ ! -x /bin/busybox ]; then die "busybox-static is still missing"; fi
command -v cargo >/dev/null || die "cargo not found: install Rust (rustup) first"
modinfo=$(command -v modinfo || echo /sbin/modinfo)
echo "qemu: $(qemu-system-x86_64 --version | head -1)"
phase_done

# ---------------------------------------------------------------- 2. guest kernel
# The version is what Debian's metapackage linux-image-amd64 depends on today
# (or TAKT_GUEST_KERNEL). The .deb is unpacked with dpkg -x into the cache.
resolve_kernel() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*\)$/\1/p' | head -1 || true
}
phase "guest kernel"
mkdir -p "$cache"
kver=$kernel_pin
if [ -z "$kver" ]; then
    kver=$(resolve_kernel)
    if [ -z "$kver" ] && [ "$(id -u)" = 0 ]; then apt_update_once; kver=$(resolve_kernel); fi
    if [ -z "$kver" ]; then
        # No package lists (and not root): fall back to the newest cached kernel.
        kver=$(find "$cache" -maxdepth 2 -name .complete -path '*/linux-image-*' 2>/dev/null |
               sed 's|.*/linux-image-\([^/]*\)/.complete|\1|' | sort -V | tail -1)
        [ -n "$kver" ] || die "can't resolve the kernel version: 'apt-cache depends linux-image-amd64' names none (run apt-get update, or set TAKT_GUEST_KERNEL)"
        echo "apt-cache resolves nothing; using the cached $kver"
    fi
fi
kdir=$cache/linux-image-$kver
# One run at a time fetches and unpacks: two started together would unpack
# into the same folder.
exec 9>"$cache/.fetch.lock"
flock 9
if [ -e "$kdir/.complete" ]; then
    echo "cached: $kdir"
else
    dl=$(mktemp -d "$cache/download.XXXXXX")
    # apt's _apt user must be able to write the download folder, or apt warns.
    chmod 0777 "$dl"
    (cd "$dl" && apt-get download -q "linux-image-$kver") ||
        die "apt-get download linux-image-$kver failed (apt-get update? TAKT_GUEST_KERNEL?)"
    rm -rf "$kdir"
    dpkg -x "$dl"/linux-image-"$kver"_*.deb "$kdir"
    rm -rf "$dl"
    touch "$kdir/.complete"
    echo "unpacked into $kdir"
fi
flock -u 9
exec 9>&-
vmlinuz=$kdir/boot/vmlinuz-$kver
moddir=$kdir/lib/modules/$kver
[ -f "$vmlinuz" ] || die "$vmlinuz missing: remove $kdir and run again"
[ -d "$moddir/kernel" ] || die "$moddir/kernel missing: remove $kdir and run again"
echo "kernel $kver"
phase_done

# ---------------------------------------------------------------- 3. static takt binaries
# Naming --target keeps RUSTFLAGS off proc-macros and build scripts, which must
# stay dynamic host binaries. The executables are read from cargo's JSON output.
phase "static takt binaries"
bins=()
if [ "$build" = 1 ]; then
    json=$(mktemp)
    if ! (cd "$root" &&
        RUSTFLAGS="-C target-feature=+crt-static" \
            cargo build --release --target "$target" -p takt-tools \
            --message-format=json-render-diagnostics >"$json"); then
        rm -f "$json"
        die "cargo build failed (see above)"
    fi
    mapfile -t bins < <(sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' "$json")
    rm -f "$json"
    [ ${#bins[@]} -gt 0 ] || die "cargo build produced no executables"
else
    reldir=${CARGO_TARGET_DIR:-$root/target}/$target/release
    mapfile -t bins < <(find "$reldir" -maxdepth 1 -type f -executable -name 'takt*' | sort)
    [ ${#bins[@]} -gt 0 ] || die "--no-build: no takt binaries in $reldir"
fi
for b in $extra_bins; do
    [ -f "$b" ] || die "TAKT_GUEST_BINS: '$b' is not a file"
    bins+=("$b")
done
for b in "${bins[@]}"; do
    # The guest has no libc: a dynamically linked binary would not start.
    file -L "$b" | grep -Eq 'statically linked|static-pie linked' ||
        die "$b is not statically linked: $(file -L -b "$b")"
    echo "$(basename "$b") ($(du -h "$b" | cut -f1))"
done
phase_done

# ---------------------------------------------------------------- 3b. dynamically linked programs
# TAKT_GUEST_DYN_BINS: each program and every file ldd names (libraries and
# the loader, e.g. /lib/x86_64-linux-gnu/libc.so.6, /lib64/ld-linux-x86-64.so.2)
# go to the same paths in the guest: the loader is found at the binary's
# PT_INTERP path and the libraries in its built-in multiarch search path.
dyn_files=()
gptp_cfg=
if [ -n "$dyn_bins" ]; then
    phase "dynamically linked programs"
    have ldd || die "ldd missing (Debian's libc-bin)"
    declare -A dyn_seen=()
    for b in $dyn_bins; do
        case $b in
            */*) p=$(realpath -e -- "$b") ;;
            *) p=$(prog_path "$b") || die "TAKT_GUEST_DYN_BINS: '$b' is still missing after installing packages" ;;
        esac
        # ldd says "not a dynamic executable" (exit 1) for a static one: fine.
        libs=$(ldd "$p" 2>&1 || true)
        if grep -q 'not found' <<<"$libs"; then die "$p: ldd can't find a library: $(grep 'not found' <<<"$libs" | tr -s ' \t' ' ')"; fi
        for f in "$p" $(awk '$2 == "=>" { print $3; next } $1 ~ /^\// { print $1 }' <<<"$libs"); do
            [ -z "${dyn_seen[$f]:-}" ] || continue
            dyn_seen[$f]=1
            dyn_files+=("$f")
        done
        echo "${p##*/}: $p, $(awk '$2 == "=>" || $1 ~ /^\// { n++ } END { print n + 0 }' <<<"$libs") libraries"
        if [ "${p##*/}" = ptp4l ]; then
            # Debian ships the example configs as documentation.
            gptp_cfg=$(dpkg -L linuxptp 2>/dev/null | grep '/gPTP\.cfg$' | head -n 1 || true)
            [ -n "$gptp_cfg" ] && [ -f "$gptp_cfg" ] ||
                die "linuxptp's gPTP.cfg is missing (dpkg -L linuxptp lists '${gptp_cfg:-none}'): is /usr/share/doc excluded by a dpkg path-exclude? Reinstall linuxptp without it"
            echo "ptp4l config: $gptp_cfg -> /takt/linuxptp/gPTP.cfg"
        fi
    done
    phase_done
fi

# ---------------------------------------------------------------- 4. initramfs
phase "initramfs"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# /var/run: ptp4l's and pmc's UNIX sockets live there.
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,var/run,lib/modules,takt/bin,takt/out}
cp /bin/busybox "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"

# Kernel modules: the VFIO ones plus TAKT_GUEST_MODULES, with their
# dependencies first (read with modinfo, so the order follows the kernel:
# for 6.1.0-56 vfio, vfio_iommu_type1, vfio_virqfd, irqbypass, vfio_pci_core,
# vfio_pci). Module names treat - and _ alike; built-in modules are skipped.
declare -A modpath=() modseen=()
while IFS= read -r -d '' f; do
    n=${f##*/}; n=${n%%.ko*}; modpath[${n//-/_}]=$f
done < <(find "$moddir/kernel" -name '*.ko*' -print0)
builtin_has() {
    [ -f "$moddir/modules.builtin" ] && sed 's|.*/||; s|\.ko$||; s|-|_|g' "$moddir/modules.builtin" | grep -qx "$1"
}
modorder=()
resolve_module() {
    local n=${1//-/_} d deps
    [ -z "${modseen[$n]:-}" ] || return 0
    modseen[$n]=1
    if [ -z "${modpath[$n]:-}" ]; then
        builtin_has "$n" && { echo "module $n: built in"; return 0; }
        die "module $n is neither a module nor built into kernel $kver"
    fi
    deps=$("$modinfo" -F depends "${modpath[$n]}")
    for d in ${deps//,/ }; do resolve_module "$d"; done
    modorder+=("$n")
}
for m in vfio_iommu_type1 vfio_pci $extra_modules; do resolve_module "$m"; done
: >"$stage/takt/modules.list"
i=0
for n in "${modorder[@]}"; do
    i=$((i + 1))
    src=${modpath[$n]}
    dst=$(printf '%02d-%s.ko' "$i" "$n")
    case $src in
        *.ko) cp "$src" "$stage/lib/modules/$dst" ;;
        *.ko.xz)
            have xz || apt_install xz-utils
            xz -dc "$src" >"$stage/lib/modules/$dst" ;;
        *.ko.zst)
            have zstd || apt_install zstd
            zstd -qdc "$src" >"$stage/lib/modules/$dst" ;;
        *.ko.gz) gzip -dc "$src" >"$stage/lib/modules/$dst" ;;
        *) die "don't know how to unpack module $src" ;;
    esac
    echo "$dst" >>"$stage/takt/modules.list"
done
echo "modules: ${modorder[*]}"

# The release profile keeps debug info (18 MB a binary); the guest's copies
# lose it (symbols stay, so backtraces still name functions) unless
# TAKT_GUEST_STRIP=0: a 4x smaller initramfs boots faster under TCG.
for b in "${bins[@]}"; do
    cp "$b" "$stage/takt/bin/"
    [ "$strip_debug" = 0 ] || strip --strip-debug "$stage/takt/bin/$(basename "$b")"
done
mkdir -p "$stage/takt/docs/examples"
cp "$root"/docs/examples/*.toml "$stage/takt/docs/examples/"
# TAKT_GUEST_FILES: a path inside the repo keeps its relative path under /takt/,
# any other path lands as /takt/<basename>. Folders are copied whole.
for f in $extra_files; do
    abs=$(cd "$root" && realpath -e -- "$f") || die "TAKT_GUEST_FILES: '$f' does not exist"
    case $abs in
        "$root"/*) rel=${abs#"$root"/} ;;
        *) rel=$(basename "$abs") ;;
    esac
    mkdir -p "$stage/takt/$(dirname "$rel")"
    cp -a "$abs" "$stage/takt/$rel"
done
# Dynamically linked programs and their libraries, dereferenced, same paths.
for f in "${dyn_files[@]}"; do
    mkdir -p "$stage$(dirname "$f")"
    cp -L "$f" "$stage$f"
done
if [ -n "$gptp_cfg" ]; then
    mkdir -p "$stage/takt/linuxptp"
    cp "$gptp_cfg" "$stage/takt/linuxptp/gPTP.cfg"
fi
printf '%s\n' "$guest_cmd" >"$stage/takt/cmd.sh"
printf '%s\n' "$nic_driver" >"$stage/takt/nic_driver"

# /init, run by the guest kernel as PID 1 (busybox sh; no set -e on purpose:
# every step reports its own failure). Markers the host parses start with TAKT-.
cat >"$stage/init" <<'EOF'
#!/bin/sh
# /init of the takt VFIO guest, written by latency-tests/vfio-guest/run.sh.
/bin/busybox --install -s
export PATH=/takt/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/ TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

dmar() { dmesg | grep -i dmar | sed 's/^/TAKT-DMESG /'; }
fail() {
    echo "TAKT-SETUP-FAILED $*"
    dmesg | tail -n 30
    dmar
    poweroff -f
}

[ -r /takt/modules.list ] || fail "the initramfs is incomplete (did it fit in RAM? TAKT_GUEST_MEM)"
while read -r m; do
    insmod "/lib/modules/$m" || fail "insmod $m"
done </takt/modules.list

# Both 82574L NICs (8086:10d3), in PCI order (the glob sorts), to vfio-pci;
# with TAKT_GUEST_NIC_DRIVER=e1000e both are left to the kernel driver and
# up, with mixed only NIC B is (NIC A goes to vfio-pci).
nic_driver=$(cat /takt/nic_driver)
nics=
n=0
IF_A=
IF_B=
for d in /sys/bus/pci/devices/*; do
    if [ "$(cat "$d/vendor")" != 0x8086 ] || [ "$(cat "$d/device")" != 0x10d3 ]; then continue; fi
    bdf=${d##*/}
    n=$((n + 1))
    if [ "$nic_driver" = e1000e ] || { [ "$nic_driver" = mixed ] && [ $n = 2 ]; }; then
        [ -e "$d/driver" ] && [ "$(basename "$(readlink "$d/driver")")" = e1000e ] ||
            fail "$bdf is not bound to e1000e (TAKT_GUEST_NIC_DRIVER=$nic_driver)"
        ifname=$(ls "$d/net" 2>/dev/null | head -n 1)
        [ -n "$ifname" ] || fail "$bdf has no network interface"
        ip link set "$ifname" up || fail "ip link set $ifname up"
        echo "TAKT-NIC $bdf interface $ifname"
        nics="$nics $bdf"
        if [ $n = 1 ]; then IF_A=$ifname; else IF_B=$ifname; fi
        continue
    fi
    # (with mixed, e1000e probed NIC A too when it was loaded: unbound here)
    if [ -e "$d/driver" ] && [ "$(basename "$(readlink "$d/driver")")" != vfio-pci ]; then
        echo "$bdf" >"$d/driver/unbind" || fail "unbind $bdf"
    fi
    echo vfio-pci >"$d/driver_override"
    echo "$bdf" >/sys/bus/pci/drivers_probe
    if [ ! -e "$d/driver" ] || [ "$(basename "$(readlink "$d/driver")")" != vfio-pci ]; then
        fail "$bdf did not bind to vfio-pci"
    fi
    [ -e "$d/iommu_group" ] || fail "$bdf has no IOMMU group (is the vIOMMU on?)"
    group=$(basename "$(readlink "$d/iommu_group")")
    [ -c "/dev/vfio/$group" ] || fail "/dev/vfio/$group missing for $bdf"
    echo "TAKT-NIC $bdf group $group"
    nics="$nics $bdf"
done
export IF_A IF_B
# The emulated link comes up a moment after the interface does: wait up to
# 5 s for the carrier of each kernel interface.
for ifname in $IF_A $IF_B; do
    for _ in $(seq 50); do
        [ "$(cat "/sys/class/net/$ifname/carrier" 2>/dev/null)" = 1 ] && break
        sleep 0.1
    done
done
# shellcheck disable=SC2086 # split the list into $1 $2
set -- $nics
[ $# -eq 2 ] || fail "expected 2 e1000e NICs (8086:10d3), found $#"
export NIC_A="$1" NIC_B="$2" TAKT_OUT=/takt/out

echo "TAKT-GUEST-START"
cd /
sh /takt/cmd.sh
code=$?
echo "TAKT-GUEST-EXIT $code"

# From here on only emergencies go to the console, so nothing splits the dumps.
echo 1 >/proc/sys/kernel/printk
dmar
if [ -n "$(ls -A /takt/out)" ]; then
    echo "TAKT-OUT-BEGIN"
    tar -C /takt/out -cf - . | gzip | base64
    echo "TAKT-OUT-END"
fi
poweroff -f
EOF
chmod 0755 "$stage/init"

# The guest unpacks the initramfs into RAM; a too big one fails half-way.
staged_mb=$(du -sm "$stage" | cut -f1)
[ $((staged_mb * 2)) -le "$mem_mb" ] ||
    die "the initramfs holds ${staged_mb} MiB, more than half of the guest's ${mem_mb} MiB: raise TAKT_GUEST_MEM or trim TAKT_GUEST_FILES / TAKT_GUEST_BINS"

initrd=$out/initrd.gz
(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
    cpio --null -o -H newc --owner=0:0 --quiet) | gzip -1 >"$initrd"
echo "$initrd ($(du -h "$initrd" | cut -f1))"
phase_done

# ---------------------------------------------------------------- 5. boot
# As measured on these machines: TCG (nested KVM boots hang), q35 with the split
# irqchip that intremap=on needs (vfio_iommu_type1 refuses the group without
# interrupt remapping), the vIOMMU before the NICs, two e1000e on one hub,
# and a dump of everything netdev b sees (frames NIC A sends included).
# no_timer_check: the kernel's early check that the timer interrupt arrives
# through the remapped IO-APIC counts ticks over a busy-wait, which a TCG
# vCPU starved by a loaded host fails ("Kernel panic - not syncing: timer
# doesn't work through Interrupt-remapped IO-APIC"); the timer works.
# shellcheck disable=SC2054 # the commas are inside QEMU option values
qemu=(qemu-system-x86_64
    -accel tcg -M q35,kernel-irqchip=split -cpu max -m "$mem_mb" -smp "$smp"
    -device intel-iommu,intremap=on
    -kernel "$vmlinuz" -initrd "$initrd"
    -append "console=ttyS0 intel_iommu=on quiet panic=-1 no_timer_check"
    -nographic -no-reboot
    -netdev hubport,id=a,hubid=0 -netdev hubport,id=b,hubid=0
    -device e1000e,netdev=a,romfile= -device e1000e,netdev=b,romfile=
    -object filter-dump,id=f0,netdev=b,file="$out/wire.pcap")
# The command line, quoted only where the shell needs it, for reruns by hand.
for arg in "${qemu[@]}"; do
    case $arg in
        *[!A-Za-z0-9_,=./:+-]*) printf "'%s' " "$arg" ;;
        *) printf '%s ' "$arg" ;;
    esac
done >"$out/qemu-cmdline.txt"
echo >>"$out/qemu-cmdline.txt"
printf '%s\n' "$guest_cmd" >"$out/guest-cmd.sh"

if [ "$(printf '%s\n' "$guest_cmd" | wc -l)" -gt 1 ]; then
    phase "boot and run (timeout ${timeout_s}s): $out/guest-cmd.sh"
else
    phase "boot and run (timeout ${timeout_s}s): $guest_cmd"
fi
# The serial console is QEMU's stdout: shown live and kept in console.log.
# QEMU's own stderr (vtd translation failures, ...) goes to qemu.log.
# --foreground keeps QEMU in the terminal's process group, so Ctrl-C stops it.
set +e
timeout --foreground --kill-after=10 "$timeout_s" "${qemu[@]}" </dev/null 2>"$out/qemu.log" | tee "$out/console.log"
status=("${PIPESTATUS[@]}")
set -e
phase_done

# ---------------------------------------------------------------- 6. results
tr -d '\r' <"$out/console.log" >"$out/console.txt"
if [ -s "$out/qemu.log" ]; then
    echo "qemu stderr ($out/qemu.log):"
    head -n 20 "$out/qemu.log" | sed 's/^/    /'
fi
if sed -n '/^TAKT-OUT-BEGIN$/,/^TAKT-OUT-END$/p' "$out/console.txt" | grep -q TAKT-OUT-END; then
    mkdir -p "$out/guest-out"
    sed -n '/^TAKT-OUT-BEGIN$/,/^TAKT-OUT-END$/{/^TAKT-OUT-/d;p}' "$out/console.txt" |
        base64 -d | tar -xzf - -C "$out/guest-out" ||
        echo "run.sh: warning: could not unpack the guest's TAKT_OUT files" >&2
fi

echo
grep -ao 'TAKT-NIC .*' "$out/console.txt" || true
grep -ao 'TAKT-SETUP-FAILED .*' "$out/console.txt" || true
code=$(grep -ao 'TAKT-GUEST-EXIT [0-9]*' "$out/console.txt" | tail -n 1 | cut -d' ' -f2 || true)
echo "console:  $out/console.log"
echo "wire:     $out/wire.pcap"
[ ! -d "$out/guest-out" ] || echo "guest-out: $out/guest-out/"
if [ -z "${TAKT_GUEST_OUT:-}" ]; then
    ln -sfn "$(basename "$out")" "$(dirname "$out")/latest"
fi

if [ -n "$code" ]; then
    echo "guest command exited $code"
    exit "$code"
fi
if [ "${status[0]}" = 124 ] || [ "${status[0]}" = 137 ]; then
    echo "run.sh: error: the guest did not finish within ${timeout_s}s (TAKT_GUEST_TIMEOUT); QEMU was killed" >&2
    exit 124
fi
echo "run.sh: error: the guest ended without TAKT-GUEST-EXIT (QEMU exit ${status[0]}): see $out/console.log" >&2
exit 125
