# shellcheck shell=bash
# Shared preamble of latency-tests/*/run.sh, sourced after the caller has set
# $root (the repository) and parsed its arguments:
#
#   here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
#   . "$here/../lib.sh"
#
# Defines die, need_root, apt_install_missing, results_dir, phase,
# phase_done, cargo_release and machine_info. Bash only (arrays,
# $EPOCHREALTIME).

: "${root:?lib.sh: set root (the repository) before sourcing it}"

die() { echo "run.sh: error: $*" >&2; exit 1; }

# need_root WHY: stop unless running as root.
need_root() { [ "$(id -u)" = 0 ] || die "needs root ($1): run it with sudo"; }

# apt_install_missing CMD:PKG...: apt-get install each PKG whose CMD is not
# on PATH (an apt-get update and a second try when the first install fails).
apt_install_missing() {
    local need=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
    done
    ((${#need[@]})) || return 0
    command -v apt-get >/dev/null || die "missing ${need[*]}: install them"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null; } \
        || die "apt-get install ${need[*]} failed"
}

# results_dir NAME: create $out (default latency-tests/results/NAME/<time>)
# and make it absolute.
results_dir() {
    if [ -z "$out" ]; then
        out=$root/latency-tests/results/$1/$(date +%Y%m%d-%H%M%S)
        [ ! -e "$out" ] || out=$out-$$
    fi
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
}

phase_start=
phase() { phase_start=$EPOCHREALTIME; printf '\n==> %s\n' "$*" >&2; }
phase_done() { awk -v a="$phase_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "    (%.1f s)\n", b - a }' >&2; }

# cargo_release ARGS...: cargo build --release -q ARGS in $root.
cargo_release() {
    (cd "$root" && cargo build --release -q "$@") || die "cargo build failed"
}

# machine_info: the machine.txt lines every harness records, date to
# clocksource (the caller adds its own settings).
machine_info() {
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "kernel=$(uname -r)"
    echo "uname=$(uname -srvm)"
    echo "nproc=$(nproc)"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    # VM and container separately (systemd-detect-virt alone names the container).
    echo "virt=$(systemd-detect-virt --vm 2>/dev/null || true)"
    echo "container=$(systemd-detect-virt --container 2>/dev/null || true)"
    echo "hypervisor=$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor:[[:space:]]*//p' || true)"
    echo "preempt=$(uname -v | grep -o 'PREEMPT[_A-Z]*' | head -1 || true)"
    echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || true)"
}

# Two namespaces joined by a veth pair: sets ns_a, ns_b (takt-$1-PID-a/b),
# if_a, if_b ($2PIDa/b) and bg=(); on exit (also on failure, Ctrl-C,
# SIGTERM) the background jobs whose pids are in bg are stopped and both
# namespaces deleted.
veth_namespaces() {
    ns_a=takt-$1-$$-a
    ns_b=takt-$1-$$-b
    if_a=$2$$a
    if_b=$2$$b
    bg=()
    trap veth_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    phase "namespaces $ns_a, $ns_b"
    ip netns add "$ns_a"
    ip netns add "$ns_b"
    ip link add "$if_a" netns "$ns_a" type veth peer name "$if_b" netns "$ns_b"
}

veth_cleanup() {
    local p
    for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${bg[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$ns_a" 2>/dev/null || true
    ip netns del "$ns_b" 2>/dev/null || true
}
