#!/usr/bin/env bash
# What a PTP message flood at takt-talker's PTP port does to the
# time-critical streams and to time synchronisation, measured in one run:
# the first half quiet, the second half with `takt-veth-bench ptp-flood`
# (forged and malformed gPTP frames from a foreign port) into the talker.
# Per phase: tx error (talker) and one-way latency (listener) percentiles,
# late frames, the listener's PTP offset; for the run: the talker's PTP
# counters (received by type, refused by reason, dropped), what the flooder
# sent, and a capture check that no PTP frame left inside the streams'
# class 7 window.
#
#   sudo latency-tests/ptp/run.sh [--no-build] [--out DIR] [--duration S] [--rate N] [--kind K]
#
# Namespaces takt-ptp-<pid>-a / -b joined by a veth pair, deleted on exit
# (also on Ctrl-C or failure):
#   a: takt-talker on packet:<veth a>, --ptp master (the grandmaster).
#   b: takt-listener on packet:<veth b>, --ptp slave (synced to the
#      talker), and the flooder on the same interface, sending to a.
# Schedule: docs/examples/time-sync.toml (1 ms cycle, class 7 0..100 us
# with frames at 10 and 50 us, best effort 100 us..1 ms where PTP frames
# go; gPTP). analyze.py prints the table; everything goes to
# latency-tests/results/ptp/<time>/.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"

duration=${TAKT_PTP_DURATION:-30}      # talker run, seconds; the flood is the second half
rate=${TAKT_PTP_RATE:-20000}           # flood frames per second, all kinds
kind=${TAKT_PTP_KIND:-mixed}           # pdelay, garbage, forged-sync, announce, mixed
flood_cpu=${TAKT_PTP_FLOOD_CPU-0}      # taskset for the flooder; empty: unpinned
sched=$root/docs/examples/time-sync.toml

usage() {
    cat <<'EOF'
usage: latency-tests/ptp/run.sh [--no-build] [--out DIR] [--duration S] [--rate N] [--kind K]

As root: builds takt-talker, takt-listener and takt-veth-bench (release),
runs talker (--ptp master) and listener (--ptp slave) across a veth pair
between two namespaces on docs/examples/time-sync.toml for S seconds (30),
with `takt-veth-bench ptp-flood --kind K --rate N` from the listener's
namespace into the talker during the second half, and prints per phase
(quiet / flood) the tx error, latency and PTP offset percentiles and the
talker's PTP counters. Results go to latency-tests/results/ptp/<time>/.

  --no-build    use the binaries already built
  --out DIR     results folder
  --duration S  talker run, whole seconds (30; = TAKT_PTP_DURATION)
  --rate N      flood frames per second (20000; = TAKT_PTP_RATE; 0: as fast
                as the ring takes them)
  --kind K      pdelay, garbage, forged-sync, announce or mixed (mixed;
                = TAKT_PTP_KIND)

Environment: TAKT_PTP_DURATION, TAKT_PTP_RATE, TAKT_PTP_KIND,
TAKT_PTP_FLOOD_CPU (the flooder's CPU list for taskset, default 0, the
listener's; empty: unpinned), TAKT_PTP_OUT.
EOF
}

# User threads at SCHED_FIFO/RR other than the kernel's and process $1's
# ("pid/comm/prio/cpu ..."; empty: none).
other_rt_threads() {
    ps -eLo pid=,cls=,rtprio=,psr=,comm= | awk -v self="${1:-0}" '($2 == "FF" || $2 == "RR") &&
        $1 != self && $5 !~ /^(migration|watchdog|irq\/|rcu|ksoftirqd|cpuhp|idle_inject)/ {
        printf "%s%s/%s/%s/cpu%s", sep, $1, $5, $3, $4; sep = " " }'
}

build=1
out=${TAKT_PTP_OUT:-}
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --no-build) build=0; shift ;;
        --out) [ $# -ge 2 ] || { usage >&2; exit 2; }; out=$2; shift 2 ;;
        --duration) [ $# -ge 2 ] || { usage >&2; exit 2; }; duration=$2; shift 2 ;;
        --rate) [ $# -ge 2 ] || { usage >&2; exit 2; }; rate=$2; shift 2 ;;
        --kind) [ $# -ge 2 ] || { usage >&2; exit 2; }; kind=$2; shift 2 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
if ! [[ $duration =~ ^[0-9]+$ ]] || [ "$duration" -lt 10 ]; then
    die "--duration: whole seconds, at least 10"
fi
[[ $rate =~ ^[0-9]+$ ]] || die "--rate: frames per second, a whole number (0: as fast as possible)"
case $kind in pdelay|garbage|forged-sync|announce|mixed) ;; *) die "--kind: pdelay, garbage, forged-sync, announce or mixed" ;; esac
need_root "network namespaces, AF_PACKET, SCHED_FIFO"
apt_install_missing ip:iproute2 tcpdump:tcpdump taskset:util-linux python3:python3

results_dir ptp

phase "build (release)"
[ "$build" = 0 ] || cargo_release -p takt-tools -p takt-veth-bench
bin=${CARGO_TARGET_DIR:-$root/target}/release
for b in takt-talker takt-listener takt-veth-bench; do
    [ -x "$bin/$b" ] || die "$bin/$b missing (run without --no-build)"
done
phase_done

# The flood starts half-way and stops 2 s before the talker does, so both
# phases have whole 1 s intervals after the straddling ones are dropped.
half=$((duration / 2))
flood_s=$((duration - half - 2))
pin=()
[ -z "$flood_cpu" ] || pin=(taskset -c "$flood_cpu")
{
    machine_info
    echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || true)"
    echo "duration_s=$duration"
    echo "flood_s=$flood_s"
    echo "flood_rate=$rate"
    echo "flood_kind=$kind"
    echo "flood_cpu=${flood_cpu:-unpinned}"
    echo "schedule=docs/examples/time-sync.toml"
    # TAI - realtime (whole seconds): tcpdump stamps in realtime, the cycle
    # is on TAI (see control/run.sh).
    echo "tai_offset_ns=$(python3 -c 'import time; print(round((time.clock_gettime_ns(time.CLOCK_TAI) - time.time_ns()) / 1e9) * 10**9)')"
    # Real-time threads of other programs: a SCHED_FIFO 80 thread busy on
    # CPU 1 (another test's) holds the talker off its CPU.
    echo "other_rt_threads_start=$(other_rt_threads)"
} >"$out/machine.txt"
grep '^cpu' /proc/stat >"$out/stat-start.txt"

# ---------------------------------------------------------------- namespaces
veth_namespaces ptp tp
for ns in "$ns_a" "$ns_b"; do
    # No IPv6: its solicitations would be stray frames on the capture.
    ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
done
ip -n "$ns_a" link set "$if_a" up
ip -n "$ns_b" link set "$if_b" up
mac_a=$(ip -n "$ns_a" -o link show "$if_a" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
echo "talker_mac=$mac_a" >>"$out/machine.txt"
phase_done

# ---------------------------------------------------------------- run
# Listener on CPU 0 (it busy-polls a whole CPU), talker's data path on
# CPU 1 at SCHED_FIFO 80, as control/run.sh; the flooder on CPU 0 too by
# default, so the kernel's receive work for the flood (veth runs it on the
# sender's CPU) stays off the talker's CPU, as a NIC's interrupts would on
# a tuned host.
phase "run: ${duration} s, quiet for ${half} s, then ptp-flood --kind $kind --rate $rate for ${flood_s} s"
# Capture what arrives on b's veth (what the talker put on the wire) for
# the whole run, for the same reason as control/run.sh: late frames per
# phase, and PTP frames against the class 7 window. `-Q in`: not the
# flood itself.
ip netns exec "$ns_b" tcpdump -i "$if_b" -Q in -U -n -s 96 --time-stamp-precision nano \
    -w "$out/wire.pcap" 2>"$out/tcpdump.err" &
cap_pid=$!
bg+=("$cap_pid")
for _ in $(seq 50); do grep -q "listening on" "$out/tcpdump.err" && break; sleep 0.1; done
ip netns exec "$ns_b" taskset -c 0 "$bin/takt-listener" --schedule "$sched" \
    --device "packet:$if_b" --ptp slave --duration "$((duration + 1))s" \
    --report json --hist-log "$out/listener.hlog" >"$out/listener.json" 2>"$out/listener.err" &
rx_pid=$!
bg+=("$rx_pid")
sleep 0.3 # the listener's socket is open before the first frame
ip netns exec "$ns_a" "$bin/takt-talker" --schedule "$sched" --device "packet:$if_a" \
    --ptp master --cpu 1 --priority 80 --wake hybrid --duration "${duration}s" \
    --report json --hist-log "$out/talker.hlog" >"$out/talker.json" 2>"$out/talker.err" &
tx_pid=$!
bg+=("$tx_pid")
# The machine is shared: note every half second any other program's
# real-time thread (a SCHED_FIFO thread busy on CPU 1 stops the talker;
# analyze.py reports them by phase).
(
    while :; do
        r=$(other_rt_threads "$tx_pid")
        [ -z "$r" ] || echo "$(date +%s.%N) $r"
        sleep 0.5
    done
) >"$out/rt-threads.txt" &
rt_pid=$!
bg+=("$rt_pid")
# The quiet half starts once the talker's loop runs (its rt: line comes
# just before): on this VM the start-up (mlockall, the PTP thread) has
# taken from 0.1 to 9 s.
for _ in $(seq 600); do
    grep -q "rt: " "$out/talker.err" 2>/dev/null && break
    kill -0 "$tx_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q "rt: " "$out/talker.err" || { cat "$out/talker.err" >&2; die "takt-talker did not start"; }

sleep "$half"
date +%s.%N >"$out/flood-start.txt"
ip netns exec "$ns_b" "${pin[@]}" "$bin/takt-veth-bench" ptp-flood --device "packet:$if_b" \
    --kind "$kind" --rate "$rate" --seconds "$flood_s" --json "$out/flood.json" 2>"$out/flood.err" \
    || { cat "$out/flood.err" >&2; die "takt-veth-bench ptp-flood failed"; }
date +%s.%N >"$out/flood-end.txt"
rc_tx=0 rc_rx=0
wait "$tx_pid" || rc_tx=$?
wait "$rx_pid" || rc_rx=$?
kill -TERM "$cap_pid" 2>/dev/null || true # tcpdump flushes the file on SIGTERM
wait "$cap_pid" 2>/dev/null || true
kill "$rt_pid" 2>/dev/null || true
wait "$rt_pid" 2>/dev/null || true
bg=()
# b's transmit drops: flood frames a's receive backlog had no room for.
ip -n "$ns_b" -s -j link show "$if_b" >"$out/link-b.json"
[ "$rc_tx" = 0 ] || { cat "$out/talker.err" >&2; die "takt-talker exit $rc_tx"; }
[ "$rc_rx" = 0 ] || { cat "$out/listener.err" >&2; die "takt-listener exit $rc_rx"; }
grep '^cpu' /proc/stat >"$out/stat-end.txt"
echo "other_rt_threads_end=$(other_rt_threads)" >>"$out/machine.txt"
phase_done

phase "table"
python3 "$here/analyze.py" "$out" | tee "$out/table.md"
echo "results: $out" >&2
phase_done
