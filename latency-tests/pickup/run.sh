#!/usr/bin/env bash
# How long a frame waits between the device's receive stamp and the
# listener's code having it ("pickup"), on packet: and xdp:, with and
# without socket busy polling; and the ping round trip to the listener's
# control plane on each. One frame a millisecond: the sparse stream that
# TPACKET_V3's 1 ms block retire timeout used to hold back.
#
#   sudo latency-tests/pickup/run.sh [--no-build] [--out DIR] [--duration S]
#
# Namespaces takt-pk-<pid>-a / -b joined by a veth pair, deleted on exit
# (also on Ctrl-C or failure):
#   a: takt-talker on packet: always (--no-control, CPU 1, SCHED_FIFO 80,
#      --wake hybrid) and the kernel's 10.77.0.1/24, which sends the pings
#      (an AF_XDP talker's program would take the ping replies from the
#      kernel there).
#   b: takt-listener (CPU 0, SCHED_FIFO 70, --wake hybrid) with its control
#      plane at 10.77.0.2/24 (no kernel address there: takt answers).
# Schedule: docs/examples/control-plane.toml (1 ms cycle, one 128-byte
# frame a cycle). Cases, the listener's device: packet, packet + busy poll,
# xdp, xdp + busy poll (--busy-poll 50 --prefer-busy-poll
# --busy-poll-budget 64 on the listener). Per case it
# prints pickup p50/p99/max from the listener's JSON report
# (streams[i].stages.pickup, ns) and the ping RTT p50/p99 of
# `ping -c 200 -i 0.01`. Everything goes to latency-tests/results/pickup/<time>/.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"

duration=${TAKT_PK_DURATION:-6}
sched=$root/docs/examples/control-plane.toml
kernel_ip=10.77.0.1
takt_ip=10.77.0.2
busy=(--busy-poll 50 --prefer-busy-poll --busy-poll-budget 64)

usage() {
    cat <<'USAGE'
usage: latency-tests/pickup/run.sh [--no-build] [--out DIR] [--duration S]

As root: builds takt-talker and takt-listener (release), runs them across a
veth pair between two namespaces on docs/examples/control-plane.toml (one
frame a millisecond) for S seconds (6) per case, on packet: and xdp:, with
and without busy polling, pings the listener's control plane (200 pings,
10 ms apart) during each, and prints per case pickup p50/p99/max and the
ping RTT p50/p99. Results go to latency-tests/results/pickup/<time>/.

  --no-build    use the binaries already built
  --out DIR     results folder
  --duration S  talker run per case, whole seconds, at least 4 (6; = TAKT_PK_DURATION)

Environment: TAKT_PK_DURATION (6), TAKT_PK_OUT.
USAGE
}

build=1
out=${TAKT_PK_OUT:-}
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --no-build) build=0; shift ;;
        --out) [ $# -ge 2 ] || { usage >&2; exit 2; }; out=$2; shift 2 ;;
        --duration) [ $# -ge 2 ] || { usage >&2; exit 2; }; duration=$2; shift 2 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
if ! [[ $duration =~ ^[0-9]+$ ]] || [ "$duration" -lt 4 ]; then
    die "--duration: whole seconds, at least 4"
fi
need_root "network namespaces, AF_PACKET, AF_XDP, SCHED_FIFO"
apt_install_missing ip:iproute2 ping:iputils-ping python3:python3

results_dir pickup

phase "build (release)"
[ "$build" = 0 ] || cargo_release -p takt-tools
bin=${CARGO_TARGET_DIR:-$root/target}/release
for b in takt-talker takt-listener; do
    [ -x "$bin/$b" ] || die "$bin/$b missing (run without --no-build)"
done
phase_done

{
    machine_info
    echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || true)"
    echo "duration_s=$duration"
    echo "schedule=docs/examples/control-plane.toml"
    echo "busy_poll_flags=${busy[*]}"
    echo "net.core.busy_read=$(sysctl -n net.core.busy_read)"
    echo "net.core.busy_poll=$(sysctl -n net.core.busy_poll)"
} >"$out/machine.txt"

veth_namespaces pk pk
for ns in "$ns_a" "$ns_b"; do
    ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
done
ip -n "$ns_a" addr add "$kernel_ip/24" dev "$if_a"
ip -n "$ns_a" link set "$if_a" up
ip -n "$ns_b" link set "$if_b" up # no kernel address: takt's control plane
phase_done

# run_case NAME BACKEND [LISTENER FLAGS...]
run_case() {
    local name=$1 be=$2
    shift 2
    local pre=$out/$name rc_tx=0 rc_rx=0
    phase "$name: ${duration} s"
    ip netns exec "$ns_b" "$bin/takt-listener" --schedule "$sched" --device "$be:$if_b" \
        --ip "$takt_ip/24" --cpu 0 --priority 70 --wake hybrid "$@" \
        --duration "$((duration + 2))s" -q --report json \
        >"$pre-listener.json" 2>"$pre-listener.err" &
    local rx_pid=$!
    bg+=("$rx_pid")
    sleep 0.5 # the listener's socket is open before the first frame
    ip netns exec "$ns_a" "$bin/takt-talker" --schedule "$sched" --device "packet:$if_a" \
        --no-control --cpu 1 --priority 80 --wake hybrid \
        --duration "${duration}s" -q --report json \
        >"$pre-talker.json" 2>"$pre-talker.err" &
    local tx_pid=$!
    bg+=("$tx_pid")
    sleep 1
    ip netns exec "$ns_a" ping -c 200 -i 0.01 -W 1 "$takt_ip" >"$pre-ping.txt" 2>&1 || true
    wait "$tx_pid" || rc_tx=$?
    wait "$rx_pid" || rc_rx=$?
    [ "$rc_tx" = 0 ] || echo "    talker exit $rc_tx: $(tail -n 3 "$pre-talker.err")" >&2
    [ "$rc_rx" = 0 ] || echo "    listener exit $rc_rx: $(tail -n 3 "$pre-listener.err")" >&2
    phase_done
}

run_case packet packet
run_case packet-busy packet "${busy[@]}"
run_case xdp xdp
run_case xdp-busy xdp "${busy[@]}"

phase "results"
python3 - "$out" <<'PY' | tee "$out/summary.txt"
import json, re, sys
out = sys.argv[1]

def us(ns):
    return "-" if ns is None else f"{ns / 1000:.1f}"

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round((len(xs) - 1) * p / 100)))] if xs else None

print(f"{'case':<12} {'frames':>7} {'pickup p50':>11} {'p99':>8} {'max':>8}"
      f" {'latency p50':>12} {'p99':>8}   {'ping p50':>9} {'p99':>8} {'lost':>5}   (us)")
for case in ["packet", "packet-busy", "xdp", "xdp-busy"]:
    try:
        rep = json.load(open(f"{out}/{case}-listener.json"))
    except Exception as e:
        print(f"{case:<12} no listener report ({e.__class__.__name__})")
        continue
    for s in rep.get("streams", []):
        pk = (s.get("stages") or {}).get("pickup") or {}
        lat = s.get("latency_ns") or {}
        frames = s.get("frames_received", "?")
        rtts = []
        try:
            for line in open(f"{out}/{case}-ping.txt"):
                m = re.search(r"time=([0-9.]+) ms", line)
                if m:
                    rtts.append(float(m.group(1)) * 1e6)
        except OSError:
            pass
        lost = 200 - len(rtts)
        print(f"{case:<12} {frames:>7} {us(pk.get('p50')):>11} {us(pk.get('p99')):>8}"
              f" {us(pk.get('max')):>8} {us(lat.get('p50')):>12} {us(lat.get('p99')):>8}"
              f"   {us(pct(rtts, 50)):>9} {us(pct(rtts, 99)):>8} {lost:>5}")
print("pickup: streams[i].stages.pickup (A - R: the listener has the frame minus its")
print("rx stamp); '-' when this listener's report has no stages yet.")
PY
phase_done
echo "results: $out" >&2
