#!/usr/bin/env bash
# What a ping flood on takt's control plane does to the time-critical stream,
# measured in one run: the first half quiet, the second half with `ping -f`
# at the talker's control-plane address. Per phase: tx error (talker) and
# one-way latency (listener) percentiles; for the run: late frames, the ping
# statistics, and a capture check that no control frame left inside the
# class 7 window.
#
#   sudo latency-tests/control/run.sh [--no-build] [--out DIR] [--duration S]
#
# Namespaces takt-ctl-<pid>-a / -b joined by a veth pair, deleted on exit
# (also on Ctrl-C or failure):
#   a: takt-talker on packet:<veth a>, control plane --ip 10.77.0.1/24, no
#      kernel address (takt answers ARP and ping there, not the kernel).
#   b: takt-listener on packet:<veth b> with --no-control (the schedule's
#      [control] address is the talker's), and the kernel's 10.77.0.2/24,
#      which sends the pings and runs tcpdump.
# Schedule: docs/examples/control-plane.toml (1 ms cycle, class 7 0..100 us
# with one frame at 10 us, best effort 100 us..1 ms). analyze.py prints the
# table; everything goes to latency-tests/results/control/<time>/.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"

duration=${TAKT_CTL_DURATION:-30}   # talker run, seconds; the flood is the second half
preload=${TAKT_CTL_PRELOAD:-}       # ping -l N: N requests in flight (plain ping -f: 1)
sched=$root/docs/examples/control-plane.toml
takt_ip=10.77.0.1                   # the talker's control plane (= the file's [control])
kernel_ip=10.77.0.2                 # the kernel's address in b

usage() {
    cat <<'EOF'
usage: latency-tests/control/run.sh [--no-build] [--out DIR] [--duration S]

As root: builds takt-talker and takt-listener (release), runs them across a
veth pair between two namespaces on docs/examples/control-plane.toml for S
seconds (30), with `ping -f` from the listener's namespace at the talker's
control plane (10.77.0.1) during the second half, and prints per phase
(quiet / flood) the tx error and latency percentiles. Results go to
latency-tests/results/control/<time>/.

  --no-build    use the binaries already built
  --out DIR     results folder
  --duration S  talker run, whole seconds (30; = TAKT_CTL_DURATION)

Environment: TAKT_CTL_DURATION (30), TAKT_CTL_PRELOAD (ping -l N; unset:
plain ping -f, one request in flight), TAKT_CTL_OUT.
EOF
}

build=1
out=${TAKT_CTL_OUT:-}
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --no-build) build=0; shift ;;
        --out) [ $# -ge 2 ] || { usage >&2; exit 2; }; out=$2; shift 2 ;;
        --duration) [ $# -ge 2 ] || { usage >&2; exit 2; }; duration=$2; shift 2 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
if ! [[ $duration =~ ^[0-9]+$ ]] || [ "$duration" -lt 10 ]; then
    die "--duration: whole seconds, at least 10"
fi
need_root "network namespaces, AF_PACKET, SCHED_FIFO"
apt_install_missing ip:iproute2 ping:iputils-ping tcpdump:tcpdump taskset:util-linux python3:python3

results_dir control

phase "build (release)"
[ "$build" = 0 ] || cargo_release -p takt-tools
bin=${CARGO_TARGET_DIR:-$root/target}/release
for b in takt-talker takt-listener; do
    [ -x "$bin/$b" ] || die "$bin/$b missing (run without --no-build)"
done
phase_done

# The flood starts half-way and stops 2 s before the talker does, so both
# phases have whole 1 s intervals after the straddling ones are dropped.
half=$((duration / 2))
flood_s=$((duration - half - 2))
{
    machine_info
    echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || true)"
    echo "duration_s=$duration"
    echo "flood_s=$flood_s"
    echo "ping_preload=${preload:-1}"
    echo "schedule=docs/examples/control-plane.toml"
    # TAI - realtime: tcpdump stamps in realtime, the schedule's cycle is on
    # TAI. The kernel's offset is whole seconds (adjtimex ADJ_TAI; 0 when
    # nothing set it), so round the read-out: two clock reads are a few us
    # apart, which matters next to a 100 us window.
    echo "tai_offset_ns=$(python3 -c 'import time; print(round((time.clock_gettime_ns(time.CLOCK_TAI) - time.time_ns()) / 1e9) * 10**9)')"
} >"$out/machine.txt"
grep '^cpu' /proc/stat >"$out/stat-start.txt"

# ---------------------------------------------------------------- namespaces
veth_namespaces ctl tc
for ns in "$ns_a" "$ns_b"; do
    # No IPv6: its solicitations would be stray frames on the capture.
    ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
done
ip -n "$ns_a" link set "$if_a" up                       # no kernel address: takt's
ip -n "$ns_b" addr add "$kernel_ip/24" dev "$if_b"
ip -n "$ns_b" link set "$if_b" up
mac_a=$(ip -n "$ns_a" -o link show "$if_a" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
echo "talker_mac=$mac_a" >>"$out/machine.txt"
phase_done

# ---------------------------------------------------------------- run
# Listener on CPU 0 (it busy-polls a whole CPU), talker's data path on
# CPU 1 at SCHED_FIFO 80 (what the control_veth tests use on this VM).
phase "run: ${duration} s, quiet for ${half} s, then ping -f for ${flood_s} s"
# Capture on b's veth for the whole run (what the talker put on the wire; 96
# bytes, ns stamps): the check of control frames against the class 7 window,
# and late frames per phase (cycles without a stream frame). Whole run, not
# just the flood: a capture turns on rx timestamps at the veth's backlog,
# which moves the listener's receive timestamp (see veth/run.sh); it must be
# the same in both phases.
ip netns exec "$ns_b" tcpdump -i "$if_b" -U -n -s 96 --time-stamp-precision nano \
    -w "$out/wire.pcap" 2>"$out/tcpdump.err" &
cap_pid=$!
bg+=("$cap_pid")
for _ in $(seq 50); do grep -q "listening on" "$out/tcpdump.err" && break; sleep 0.1; done
ip netns exec "$ns_b" taskset -c 0 "$bin/takt-listener" --schedule "$sched" \
    --device "packet:$if_b" --no-control --duration "$((duration + 1))s" -q \
    --report json --hist-log "$out/listener.hlog" >"$out/listener.json" 2>"$out/listener.err" &
rx_pid=$!
bg+=("$rx_pid")
sleep 0.3 # the listener's socket is open before the first frame
ip netns exec "$ns_a" "$bin/takt-talker" --schedule "$sched" --device "packet:$if_a" \
    --ip "$takt_ip/24" --cpu 1 --priority 80 --wake hybrid --duration "${duration}s" -q \
    --report json --hist-log "$out/talker.hlog" >"$out/talker.json" 2>"$out/talker.err" &
tx_pid=$!
bg+=("$tx_pid")

sleep "$half"
# -w bounds the flood in time, -c in count (whichever comes first).
date +%s.%N >"$out/flood-start.txt"
ip netns exec "$ns_b" ping -f ${preload:+-l "$preload"} -q -w "$flood_s" -c 1000000 "$takt_ip" >"$out/ping.txt" 2>&1 || true
date +%s.%N >"$out/flood-end.txt"
rc_tx=0 rc_rx=0
wait "$tx_pid" || rc_tx=$?
wait "$rx_pid" || rc_rx=$?
kill -TERM "$cap_pid" 2>/dev/null || true # tcpdump flushes the file on SIGTERM
wait "$cap_pid" 2>/dev/null || true
bg=()
[ "$rc_tx" = 0 ] || { cat "$out/talker.err" >&2; die "takt-talker exit $rc_tx"; }
[ "$rc_rx" = 0 ] || { cat "$out/listener.err" >&2; die "takt-listener exit $rc_rx"; }
grep '^cpu' /proc/stat >"$out/stat-end.txt"
phase_done

phase "table"
python3 "$here/analyze.py" "$out" | tee "$out/table.md"
echo "results: $out" >&2
phase_done
