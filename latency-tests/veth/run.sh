#!/usr/bin/env bash
# takt vs a kernel UDP socket across a veth pair between two network
# namespaces: one-way latency on a schedule, and pps at batch 32, for every
# takt backend in a list and for the UDP baseline, in one run.
#
#   sudo latency-tests/veth/run.sh [--no-build] [--out DIR] [--duration S] [--pps-secs S]
#
# Creates namespaces takt-veth-<pid>-a / -b joined by a veth pair
# (10.79.0.1/24 in a, 10.79.0.2/24 in b) and deletes them on exit, also on
# Ctrl-C or failure. The talkers run in a, the listeners in b. A backend
# whose device fails to open with "not built yet" (as xdp did before the
# AF_XDP backend landed) is recorded as "not built"; any other failure of one row
# is recorded as "failed" and the run goes on. At the end plot.py prints the
# comparison table and writes latency.svg into the results folder.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"

# ---------------------------------------------------------------- settings
duration=${TAKT_VETH_DURATION:-10s}          # latency run length (talker), e.g. 10s, 2.5s
pps_secs=${TAKT_VETH_PPS_SECS:-5}            # pps flood length, seconds
backends=${TAKT_VETH_BACKENDS:-packet xdp}   # takt backends, in table order
schedules=${TAKT_VETH_SCHEDULES:-single-stream-1ms} # docs/examples/<name>.toml
tx_cpu=${TAKT_VETH_TX_CPU:-0}                # talkers / flood senders run here
rx_cpu=${TAKT_VETH_RX_CPU:-1}                # listeners / flood receivers run here
port=7979                                    # UDP baseline port in b
hold_tstamp=${TAKT_VETH_HOLD_TSTAMP:-1}      # 1: same rx timestamp point for every row (see step 3)

usage() {
    cat <<'EOF'
usage: latency-tests/veth/run.sh [--no-build] [--out DIR] [--duration S] [--pps-secs S]

As root: builds takt-talker, takt-listener and takt-veth-bench (release),
joins two new network namespaces with a veth pair and, for each takt backend
and the kernel UDP baseline, runs (a) talker -> listener on a schedule from
docs/examples and (b) a batch-32 flood of minimum-size frames. Prints the
comparison table; results go to latency-tests/results/veth/<time>/.

  --no-build   use the binaries already in target/release/
  --out DIR    results folder (default latency-tests/results/veth/YYYYmmdd-HHMMSS)
  --duration S latency run per row, seconds (10s; = TAKT_VETH_DURATION)
  --pps-secs S pps flood per row, seconds (5; = TAKT_VETH_PPS_SECS)

Environment: TAKT_VETH_DURATION (10s), TAKT_VETH_PPS_SECS (5),
TAKT_VETH_BACKENDS ("packet xdp"), TAKT_VETH_SCHEDULES (single-stream-1ms;
e.g. "single-stream-1ms two-class-250us"), TAKT_VETH_TX_CPU (0),
TAKT_VETH_RX_CPU (1), TAKT_VETH_HOLD_TSTAMP (1), TAKT_VETH_OUT.
See latency-tests/README.md.
EOF
}

build=1
out=${TAKT_VETH_OUT:-}
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --no-build) build=0; shift ;;
        --out) [ $# -ge 2 ] || { usage >&2; exit 2; }; out=$2; shift 2 ;;
        --duration) [ $# -ge 2 ] || { usage >&2; exit 2; }; duration=$2; shift 2 ;;
        --pps-secs) [ $# -ge 2 ] || { usage >&2; exit 2; }; pps_secs=$2; shift 2 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

need_root "network namespaces, AF_PACKET"
for t in ip taskset python3; do
    command -v "$t" >/dev/null || die "'$t' not found (Debian: iproute2, util-linux, python3)"
done
# Durations: seconds with an optional "s" (the listener runs 1 s longer).
secs_of() {
    local v=${1%s}
    [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$2 must be seconds like 10s or 2.5, not '$1'"
    echo "$v"
}
dur_s=$(secs_of "$duration" TAKT_VETH_DURATION)
pps_s=$(secs_of "$pps_secs" TAKT_VETH_PPS_SECS)
listen_s=$(awk -v d="$dur_s" 'BEGIN { print d + 1 }')
flood_rx_s=$(awk -v d="$pps_s" 'BEGIN { print d + 3 }')
ncpu=$(nproc)
if [ "$tx_cpu" -ge "$ncpu" ] || [ "$rx_cpu" -ge "$ncpu" ]; then
    die "TAKT_VETH_TX_CPU/RX_CPU ($tx_cpu/$rx_cpu) must be below nproc ($ncpu)"
fi
for s in $schedules; do
    [ -f "$root/docs/examples/$s.toml" ] || die "no schedule docs/examples/$s.toml (TAKT_VETH_SCHEDULES)"
done

results_dir veth

# ---------------------------------------------------------------- 1. build
phase "build (release)"
if [ "$build" = 1 ]; then
    cargo_release -p takt-tools -p takt-veth-bench
fi
bin=${CARGO_TARGET_DIR:-$root/target}/release
for b in takt-talker takt-listener takt-veth-bench; do
    [ -x "$bin/$b" ] || die "$bin/$b missing (run without --no-build)"
done
phase_done

# ---------------------------------------------------------------- 2. machine
# What the figures ran on, for the table's title and docs/latency.md.
{
    machine_info
    echo "rustc=$(rustc --version 2>/dev/null || true)"
    echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || true)"
    echo "duration_s=$dur_s"
    echo "pps_secs=$pps_s"
    echo "tx_cpu=$tx_cpu"
    echo "rx_cpu=$rx_cpu"
    echo "backends=$backends"
    echo "schedules=$schedules"
    echo "hold_tstamp=$hold_tstamp"
} >"$out/machine.txt"
# CPU time split (user .. steal) at start and end: plot.py shows the
# hypervisor's steal time over the run.
grep '^cpu' /proc/stat >"$out/stat-start.txt"

# ---------------------------------------------------------------- 3. namespaces
veth_namespaces veth tv
for side in "a $ns_a $if_a 10.79.0.1/24" "b $ns_b $if_b 10.79.0.2/24"; do
    # shellcheck disable=SC2086 # split the fields into $1..$4
    set -- $side
    # No IPv6: its router/neighbour solicitations would be stray frames.
    ip netns exec "$2" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$2" link set lo up
    ip -n "$2" addr add "$4" dev "$3"
    ip -n "$2" link set "$3" up
done
# Static neighbours: no ARP exchange inside a measured run.
mac_a=$(ip -n "$ns_a" -o link show "$if_a" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
mac_b=$(ip -n "$ns_b" -o link show "$if_b" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
ip -n "$ns_a" neigh replace 10.79.0.2 lladdr "$mac_b" dev "$if_a" nud permanent
ip -n "$ns_b" neigh replace 10.79.0.1 lladdr "$mac_a" dev "$if_b" nud permanent
echo "$if_a ($mac_a) 10.79.0.1 <-> $if_b ($mac_b) 10.79.0.2" >&2
# Receive timestamps: while any socket has SO_TIMESTAMPNS on, the kernel
# stamps every frame as it enters the receive backlog (veth: netif_rx);
# otherwise AF_PACKET stamps it later, on delivery to its socket. The UDP
# listener turns it on for its own rows, so hold it on for the whole run:
# every row is then stamped at the same point.
if [ "$hold_tstamp" = 1 ]; then
    ip netns exec "$ns_b" "$bin/takt-veth-bench" hold-timestamps &
    bg+=("$!")
fi
phase_done

in_b() { ip netns exec "$ns_b" taskset -c "$rx_cpu" "$@"; }

# Run a receiver in b and a sender in a; both must succeed. $1 = row file
# prefix; receiver command in RX (stdout to RX_OUT), sender in TX (stdout to
# TX_OUT). Both run in the background and are waited for, so a signal to
# this script is handled at once (bash runs traps only between commands).
pair() {
    local pre=$1 rx_pid tx_pid rc_rx=0 rc_tx=0
    # Simple commands, not a function: a function in the
    # background is a subshell, and killing it would not reach the tool.
    ip netns exec "$ns_b" taskset -c "$rx_cpu" "${RX[@]}" >"${RX_OUT:-/dev/null}" 2>"$pre-rx.err" &
    rx_pid=$!
    bg+=("$rx_pid")
    sleep 0.3 # the receiver is bound/open before the first frame
    ip netns exec "$ns_a" taskset -c "$tx_cpu" "${TX[@]}" >"${TX_OUT:-/dev/null}" 2>"$pre-tx.err" &
    tx_pid=$!
    bg+=("$tx_pid")
    wait "$tx_pid" || rc_tx=$?
    wait "$rx_pid" || rc_rx=$?
    bg=("${bg[@]:0:${#bg[@]}-2}")
    [ "$rc_tx" = 0 ] && [ "$rc_rx" = 0 ] && return 0
    if grep -qh "not built yet" "$pre-tx.err" "$pre-rx.err" 2>/dev/null; then
        echo "not built" >"$pre.status"
    else
        echo "failed (sender exit $rc_tx, receiver exit $rc_rx)" >"$pre.status"
        sed 's/^/    /' "$pre-tx.err" "$pre-rx.err" >&2
    fi
    return 1
}

# 'ok', 'not built' or 'failed': opens the device in b without sending.
probe() {
    local pre=$1 spec=$2 rc=0
    in_b "$bin/takt-veth-bench" probe --device "$spec" 2>"$pre-probe.err" || rc=$?
    case $rc in
        0) return 0 ;;
        3) echo "not built" >"$pre.status" ;;
        *) echo "failed: $(head -1 "$pre-probe.err")" >"$pre.status" ;;
    esac
    return 1
}

spec_of() { # backend side(a|b)
    local ifn=$if_a
    [ "$2" = b ] && ifn=$if_b
    case $1 in
        xdp) echo "xdp:$ifn@0" ;;
        *) echo "$1:$ifn" ;;
    esac
}

# ---------------------------------------------------------------- 4. latency
for s in $schedules; do
    sched=$root/docs/examples/$s.toml
    dir=$out/latency/$s
    mkdir -p "$dir"
    for be in $backends; do
        phase "latency: $s, takt $be (${dur_s} s)"
        pre=$dir/$be
        if probe "$pre" "$(spec_of "$be" b)"; then
            RX=("$bin/takt-listener" --schedule "$sched" --device "$(spec_of "$be" b)"
                --duration "${listen_s}s" -q --report json --hist-log "$pre-listener.hlog")
            TX=("$bin/takt-talker" --schedule "$sched" --device "$(spec_of "$be" a)"
                --duration "${dur_s}s" -q --report json --hist-log "$pre-talker.hlog")
            RX_OUT=$pre-listener.json TX_OUT=$pre-talker.json
            if pair "$pre"; then
                "$bin/takt-veth-bench" percentiles --hist-log "$pre-listener.hlog" --json "$pre-percentiles.json"
                echo ok >"$pre.status"
            fi
        fi
        echo "    $be: $(cat "$pre.status")" >&2
        phase_done
    done
    phase "latency: $s, kernel UDP (${dur_s} s)"
    pre=$dir/udp
    RX=("$bin/takt-veth-bench" udp-listener --schedule "$sched" --bind "10.79.0.2:$port"
        --duration "${listen_s}s" --report-json "$pre-listener.json" --hist-log "$pre-listener.hlog")
    RX_OUT=/dev/null TX_OUT=/dev/null
    TX=("$bin/takt-veth-bench" udp-talker --schedule "$sched" --dest "10.79.0.2:$port"
        --duration "${dur_s}s" --report-json "$pre-talker.json" --hist-log "$pre-talker.hlog")
    if pair "$pre"; then
        "$bin/takt-veth-bench" percentiles --hist-log "$pre-listener.hlog" --json "$pre-percentiles.json"
        echo ok >"$pre.status"
    fi
    echo "    udp: $(cat "$pre.status")" >&2
    phase_done
done

# ---------------------------------------------------------------- 5. pps
dir=$out/pps
mkdir -p "$dir"
for be in $backends; do
    phase "pps: takt $be, batch 32, ${pps_s} s"
    pre=$dir/$be
    if probe "$pre" "$(spec_of "$be" b)"; then
        RX=("$bin/takt-veth-bench" flood-rx --device "$(spec_of "$be" b)" --secs "$flood_rx_s" --json "$pre-rx.json")
        RX_OUT=/dev/null TX_OUT=/dev/null
        TX=("$bin/takt-veth-bench" flood-tx --device "$(spec_of "$be" a)" --secs "$pps_s" --batch 32 --json "$pre-tx.json")
        pair "$pre" && echo ok >"$pre.status"
    fi
    echo "    $be: $(cat "$pre.status")" >&2
    phase_done
done
phase "pps: kernel UDP, sendmmsg/recvmmsg batch 32, ${pps_s} s"
pre=$dir/udp
RX=("$bin/takt-veth-bench" flood-udp-rx --bind "10.79.0.2:$port" --secs "$flood_rx_s" --batch 32 --json "$pre-rx.json")
RX_OUT=/dev/null TX_OUT=/dev/null
TX=("$bin/takt-veth-bench" flood-udp-tx --dest "10.79.0.2:$port" --secs "$pps_s" --batch 32 --json "$pre-tx.json")
pair "$pre" && echo ok >"$pre.status"
# Datagrams the kernel dropped for a full socket buffer, in b.
ip netns exec "$ns_b" cat /proc/net/snmp >"$pre-snmp.txt" 2>/dev/null || true
echo "    udp: $(cat "$pre.status")" >&2
phase_done

# ---------------------------------------------------------------- 6. table + plot
phase "table and plot"
grep '^cpu' /proc/stat >"$out/stat-end.txt"
python3 "$here/plot.py" "$out" --svg "$out/latency.svg" | tee "$out/table.md"
echo "results: $out" >&2
phase_done
