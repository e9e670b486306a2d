#!/usr/bin/env bash
# Round trip across a veth pair: sockperf's UDP ping-pong (busy-polling
# sockets) against takt-talker + takt-listener --mirror over packet: and
# xdp:, at the same rate and wire frame size, the rows taking turns in one
# run.
#
#   sudo latency-tests/rtt/run.sh [--no-build] [--out DIR] [--secs S] [--rounds N]
#                                 [--rate N] [--rows "sockperf packet xdp"] [--quick]
#
# Namespaces takt-rtt-<pid>-a / -b joined by a veth pair (10.84.0.1/24 in
# a, 10.84.0.2/24 in b), deleted on exit, also on Ctrl-C or failure. The
# pinging side (sockperf ping-pong, takt-talker) runs in a on CPU 0, the
# answering side (sockperf server, takt-listener --mirror) in b on CPU 1,
# both SCHED_FIFO 80. analyze.py prints the table and draws rtt.svg. Not a
# test: it prints figures; nothing here runs in CI.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"

# ---------------------------------------------------------------- settings
secs=${TAKT_RTT_SECS:-10}            # per row and round
rounds=${TAKT_RTT_ROUNDS:-2}
rate=${TAKT_RTT_RATE:-1000}          # round trips per second, every row
frame=${TAKT_RTT_FRAME:-64}          # Ethernet frame incl. FCS, every row
rows=${TAKT_RTT_ROWS:-sockperf packet xdp}
ping_cpu=${TAKT_RTT_PING_CPU:-0}     # sockperf ping-pong / takt-talker
echo_cpu=${TAKT_RTT_ECHO_CPU:-1}     # sockperf server / takt-listener --mirror
prio=${TAKT_RTT_PRIO:-80}
busy_us=${TAKT_RTT_BUSY_POLL:-50}    # sockperf --lls, takt's busy-poll flag
wake=${TAKT_RTT_WAKE:-hybrid}        # takt-talker and the mirror: --wake
gap_us=${TAKT_RTT_GAP_US:-30}        # takt: return slot - forward launch, us
process=${TAKT_RTT_MIRROR_PROCESS:-2us} # takt-listener --mirror-process (takt: 10us)
frames_log=${TAKT_RTT_FRAMES_LOG:-1} # 1: takt rows write --frames-log (exact percentiles)
port=11111

usage() {
    cat <<'EOF'
usage: latency-tests/rtt/run.sh [--no-build] [--out DIR] [--secs S] [--rounds N]
                                [--rate N] [--rows LIST] [--quick]

As root: builds takt-talker and takt-listener (release), joins two new
network namespaces with a veth pair and measures the round trip, the rows
taking turns: sockperf ping-pong against a sockperf server (UDP, busy-poll:
--lls 50 --nonblocked), and takt-talker against takt-listener --mirror on
packet: and xdp:. Same rate and wire frame size for every row; pinging side
on CPU 0, answering side on CPU 1, SCHED_FIFO 80. Prints the table; results
go to latency-tests/results/rtt/<time>/. Default: 2 rounds x 3 rows x 10 s.

  --no-build   use the binaries already in target/release/
  --out DIR    results folder (default latency-tests/results/rtt/YYYYmmdd-HHMMSS)
  --secs S     seconds per row and round (TAKT_RTT_SECS, 10)
  --rounds N   rounds of all rows (TAKT_RTT_ROUNDS, 2)
  --rate N     round trips per second (TAKT_RTT_RATE, 1000; divides 1e9)
  --rows LIST  rows, of sockperf packet xdp (TAKT_RTT_ROWS, all three)
  --quick      smoke run: 2 s per row, 1 round

Environment: TAKT_RTT_SECS, TAKT_RTT_ROUNDS, TAKT_RTT_RATE,
TAKT_RTT_FRAME (64: Ethernet frame with FCS, 64..1518), TAKT_RTT_ROWS,
TAKT_RTT_PING_CPU (0), TAKT_RTT_ECHO_CPU (1), TAKT_RTT_PRIO (80),
TAKT_RTT_BUSY_POLL (us, 50), TAKT_RTT_WAKE (spin), TAKT_RTT_GAP_US (30:
takt's return slot after the forward launch), TAKT_RTT_MIRROR_PROCESS
(2us: takt-listener --mirror-process), TAKT_RTT_FRAMES_LOG (1: takt
rows write --frames-log for exact percentiles; 0: report histograms only),
TAKT_RTT_OUT.
See latency-tests/rtt/README.md.
EOF
}

build=1
out=${TAKT_RTT_OUT:-}
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --no-build) build=0; shift ;;
        --out) [ $# -ge 2 ] || { usage >&2; exit 2; }; out=$2; shift 2 ;;
        --secs) [ $# -ge 2 ] || { usage >&2; exit 2; }; secs=$2; shift 2 ;;
        --rounds) [ $# -ge 2 ] || { usage >&2; exit 2; }; rounds=$2; shift 2 ;;
        --rate) [ $# -ge 2 ] || { usage >&2; exit 2; }; rate=$2; shift 2 ;;
        --rows) [ $# -ge 2 ] || { usage >&2; exit 2; }; rows=$2; shift 2 ;;
        --quick) secs=2; rounds=1; shift ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

bad() { echo "run.sh: $*" >&2; exit 2; }
for v in secs rounds rate frame ping_cpu echo_cpu prio busy_us gap_us; do
    [[ ${!v} =~ ^[0-9]+$ ]] || bad "$v must be a whole number, not '${!v}'"
done
for v in secs rounds rate prio busy_us gap_us; do
    [ "${!v}" -gt 0 ] || bad "$v must be above 0"
done
[ $((1000000000 % rate)) = 0 ] || bad "--rate $rate must divide 1e9 (one frame per cycle of 1e9/rate ns)"
[ "$frame" -ge 64 ] && [ "$frame" -le 1518 ] || bad "TAKT_RTT_FRAME=$frame: 64..1518 (untagged UDP frame with FCS)"
for r in $rows; do
    case $r in sockperf|packet|xdp) ;; *) bad "--rows: unknown row '$r' (sockperf, packet, xdp)" ;; esac
done
[ -n "$rows" ] || bad "--rows is empty"
ncpu=$(nproc)
[ "$ping_cpu" -lt "$ncpu" ] && [ "$echo_cpu" -lt "$ncpu" ] \
    || bad "TAKT_RTT_PING_CPU/ECHO_CPU ($ping_cpu/$echo_cpu) must be below nproc ($ncpu)"
case $wake in nanosleep|hybrid|spin) ;; *) bad "TAKT_RTT_WAKE=$wake: nanosleep, hybrid or spin" ;; esac

need_root "network namespaces, AF_PACKET, SCHED_FIFO"
for t in ip taskset chrt python3; do
    command -v "$t" >/dev/null || die "'$t' not found (Debian: iproute2, util-linux, python3)"
done
apt_install_missing sockperf:sockperf

# Same bytes on the wire for every row. takt's frame_size counts the
# 802.1Q-tagged frame from destination MAC through FCS; a UDP datagram's
# frame is untagged: 14 Ethernet + 20 IPv4 + 8 UDP + payload + 4 FCS. So the
# UDP payload is frame - 46 (64 B: 18 B), and on the veth (no FCS) both are
# frame - 4 bytes long.
msg=$((frame - 46))
[ "$msg" -ge 14 ] || die "sockperf needs a 14-byte message at least"
cycle_ns=$((1000000000 / rate))
[ $((gap_us * 2000 + 10000)) -lt "$cycle_ns" ] || bad "TAKT_RTT_GAP_US=$gap_us: the return must be in the first half of the ${cycle_ns}-ns cycle"

results_dir rtt

# ---------------------------------------------------------------- 1. build
phase "build (release)"
takt_rows=0
for r in $rows; do [ "$r" = sockperf ] || takt_rows=1; done
bin=${CARGO_TARGET_DIR:-$root/target}/release
if [ "$takt_rows" = 1 ]; then
    [ "$build" = 0 ] || cargo_release -p takt-tools --bin takt-talker --bin takt-listener
    for b in takt-talker takt-listener; do
        [ -x "$bin/$b" ] || die "$bin/$b missing (run without --no-build)"
    done
fi
phase_done

# takt's flags as this build names them (they were new when this was
# written): the mirror, and busy polling of the packet:/xdp: sockets.
mirror_flag=() busy_flag=() have_frames_log=0
if [ "$takt_rows" = 1 ]; then
    "$bin/takt-listener" --help 2>&1 | grep -q -- '--mirror' \
        || die "$bin/takt-listener has no --mirror: build a takt with the round-trip mirror"
    mirror_flag=(--mirror)
    if "$bin/takt-talker" --help 2>&1 | grep -q -- '--busy-poll'; then
        busy_flag=(--busy-poll "$busy_us")
    fi
    if [ "$frames_log" = 1 ] && "$bin/takt-talker" --help 2>&1 | grep -q -- '--frames-log'; then
        have_frames_log=1
    fi
fi

# ---------------------------------------------------------------- 2. schedule
# One forward frame ("ping", class 7) per cycle, 10 us into the cycle, and
# its return ("pong", class 6) GAP us later. The mirror sends a return in
# the first return slot after it has the frame (plus its --mirror-process
# allowance, TAKT_RTT_MIRROR_PROCESS), so takt's round trip is the gap plus the return's one
# way delay and pick-up, and a frame that reaches the mirror too late for
# its slot comes back a cycle later (docs/round-trip.md).
sched=$out/round-trip.toml
fwd_ns=10000
ret_ns=$((fwd_ns + gap_us * 1000))
cat >"$sched" <<EOF
# Written by latency-tests/rtt/run.sh: $rate round trips per second,
# $frame-byte frames (destination MAC through FCS, 802.1Q tagged), the
# return ${gap_us} us after the forward frame.
[schedule]
clock = "tai"
base_time = 0
cycle_time = $cycle_ns

[[schedule.entry]]         # the forward window
gates = [7]
interval = $ret_ns

[[schedule.entry]]         # the return window
gates = [6]
interval = $(((cycle_ns - ret_ns) / 2))

[[schedule.entry]]         # best effort
gates = [0, 1, 2, 3, 4, 5]
interval = $((cycle_ns - ret_ns - (cycle_ns - ret_ns) / 2))

[link]
speed = "1Gbps"

[[stream]]
name = "ping"
traffic_class = 7
vlan_id = 100
dst_mac = "91:e0:f0:00:fe:10"
frame_size = $frame
offset = $fwd_ns

[[stream]]
name = "pong"
return_of = "ping"
traffic_class = 6
vlan_id = 100
dst_mac = "91:e0:f0:00:fe:11"
frame_size = $frame
offset = $ret_ns
EOF

# ---------------------------------------------------------------- 3. machine
{
    machine_info
    echo "cmdline=$(cat /proc/cmdline)"
    echo "sockperf=$(sockperf --version 2>&1 | grep -o 'version [^ ]*' | head -1)"
    echo "rustc=$(rustc --version 2>/dev/null || true)"
    echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || true)"
    echo "secs=$secs"
    echo "rounds=$rounds"
    echo "rate=$rate"
    echo "frame=$frame"
    echo "sockperf_msg=$msg"
    echo "rows=$rows"
    echo "ping_cpu=$ping_cpu"
    echo "echo_cpu=$echo_cpu"
    echo "priority=$prio"
    echo "busy_poll_us=$busy_us"
    echo "wake=$wake"
    echo "gap_us=$gap_us"
    echo "mirror_process=$process"
    echo "frames_log=$have_frames_log"
    echo "takt_busy_flag=${busy_flag[*]:-none}"
    echo "sched_rt_runtime_us=$(cat /proc/sys/kernel/sched_rt_runtime_us 2>/dev/null || true)"
} >"$out/machine.txt"
grep '^cpu' /proc/stat >"$out/stat-start.txt"
ps -eo pcpu=,comm= --sort=-pcpu | head -5 >"$out/top-start.txt"
# Real-time user tasks already running (another run's spinning SCHED_FIFO
# thread on CPU 0 or 1 would take the CPU from a row at the same priority).
rt_tasks() { ps -eLo cls=,rtprio=,psr=,pcpu=,comm=,args= | awk '($1 == "FF" || $1 == "RR") && $6 !~ /^\[/'; }
rt_tasks >"$out/rt-start.txt"

# ---------------------------------------------------------------- 4. namespaces
veth_namespaces rtt tr
for side in "a $ns_a $if_a 10.84.0.1/24" "b $ns_b $if_b 10.84.0.2/24"; do
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
ip -n "$ns_a" neigh replace 10.84.0.2 lladdr "$mac_b" dev "$if_a" nud permanent
ip -n "$ns_b" neigh replace 10.84.0.1 lladdr "$mac_a" dev "$if_b" nud permanent
echo "$if_a ($mac_a) 10.84.0.1 <-> $if_b ($mac_b) 10.84.0.2" >&2
phase_done

spec_of() { # backend side(a|b)
    local ifn=$if_a
    [ "$2" = b ] && ifn=$if_b
    case $1 in
        xdp) echo "xdp:$ifn@0" ;;
        *) echo "$1:$ifn" ;;
    esac
}

# Run the answering side in b (ECHO, stdout to ECHO_OUT), then the pinging
# side in a (PING, stdout to PING_OUT); the answering side is stopped with
# SIGTERM when it does not end by itself within ECHO_GRACE s of the pinging
# side (a background job of a script ignores SIGINT). Both in the background and waited for, so a signal to this script
# is handled at once. Writes PRE.status: ok or failed (...).
pair() {
    local pre=$1 e_pid p_pid rc_e=0 rc_p=0 t
    ip netns exec "$ns_b" taskset -c "$echo_cpu" "${ECHO[@]}" >"${ECHO_OUT:-/dev/null}" 2>"$pre-echo.err" &
    e_pid=$!
    bg+=("$e_pid")
    sleep 0.5 # bound / device open before the first frame
    # A server that is not bound yet (a loaded machine) would leave the
    # pinging side without answers: wait for it, up to 5 s more.
    if [ -n "${ECHO_PORT:-}" ]; then
        for ((t = 0; t < 50; t++)); do
            ip netns exec "$ns_b" ss -Hlun "sport = :$ECHO_PORT" | grep -q . && break
            sleep 0.1
        done
    fi
    ip netns exec "$ns_a" taskset -c "$ping_cpu" "${PING[@]}" >"${PING_OUT:-/dev/null}" 2>"$pre-ping.err" &
    p_pid=$!
    bg+=("$p_pid")
    wait "$p_pid" || rc_p=$?
    for ((t = 0; t < ECHO_GRACE * 10; t++)); do
        kill -0 "$e_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$e_pid" 2>/dev/null; then
        # Out of SCHED_FIFO first: its exit waits for an RCU grace period
        # (the namespace's mounts), which a real-time task of the same
        # priority spinning on its CPU (another run's) would hold off.
        chrt -o -p 0 "$e_pid" 2>/dev/null || true
        kill -TERM "$e_pid" 2>/dev/null || true
    fi
    wait "$e_pid" || rc_e=$?
    bg=("${bg[@]:0:${#bg[@]}-2}")
    # sockperf's server ends only on a signal: that is its normal end.
    if [ "$ECHO_SIGNALLED_OK" = 1 ] && { [ "$rc_e" = 143 ] || [ "$rc_e" = 130 ]; }; then rc_e=0; fi
    # sockperf ends 0 even when no answer came: it prints no valid duration.
    if [ "$rc_p" = 0 ] && [ -n "${PING_DONE:-}" ] && ! grep -q "$PING_DONE" "${PING_OUT:-/dev/null}"; then
        rc_p="0 but no '$PING_DONE' in its output"
    fi
    if [ "$rc_p" = 0 ] && [ "$rc_e" = 0 ]; then
        echo ok >"$pre.status"
        return 0
    fi
    echo "failed (pinging side exit $rc_p, answering side exit $rc_e)" >"$pre.status"
    sed 's/^/    /' "$pre-ping.err" "$pre-echo.err" >&2
    return 1
}

run_sockperf() { # prefix
    local pre=$1
    ECHO=(chrt -f "$prio" sockperf server -i 10.84.0.2 -p "$port" --lls "$busy_us" --nonblocked)
    PING=(chrt -f "$prio" sockperf ping-pong -i 10.84.0.2 -p "$port" -m "$msg" --mps "$rate"
        -t "$secs" --lls "$busy_us" --nonblocked --full-rtt --full-log "$pre-full.csv")
    ECHO_OUT=$pre-echo.out PING_OUT=$pre-ping.out ECHO_GRACE=0 ECHO_SIGNALLED_OK=1
    ECHO_PORT=$port PING_DONE='Valid Duration'
    printf '%s\n' "${ECHO[*]}" "${PING[*]}" >"$pre.cmd"
    pair "$pre"
}

run_takt() { # prefix backend
    local pre=$1 be=$2
    # The mirror runs 2 s longer than the talker: it is up before the first
    # frame and answers the last; then it ends by itself.
    ECHO=("$bin/takt-listener" --schedule "$sched" --device "$(spec_of "$be" b)" "${mirror_flag[@]}"
        --mirror-process "$process"
        --duration "$((secs + 2))s" -q --report json --cpu "$echo_cpu" --priority "$prio" --wake "$wake"
        "${busy_flag[@]}")
    PING=("$bin/takt-talker" --schedule "$sched" --device "$(spec_of "$be" a)"
        --duration "${secs}s" -q --report json --cpu "$ping_cpu" --priority "$prio" --wake "$wake"
        "${busy_flag[@]}")
    if [ "$have_frames_log" = 1 ]; then
        # Every frame's stage times: exact percentiles, rounds pooled.
        ECHO+=(--frames-log "$pre-listener.frames")
        PING+=(--frames-log "$pre-talker.frames")
    fi
    ECHO_OUT=$pre-listener.json PING_OUT=$pre-talker.json ECHO_GRACE=4 ECHO_SIGNALLED_OK=0
    ECHO_PORT= PING_DONE=
    printf '%s\n' "${ECHO[*]}" "${PING[*]}" >"$pre.cmd"
    pair "$pre"
}

# ---------------------------------------------------------------- 5. rounds
read -r -a row_list <<<"$rows"
nrows=${#row_list[@]}
dir=$out/rows
mkdir -p "$dir"
for r in $(seq 1 "$rounds"); do
    # Round r starts with row r-1: no row always follows the same one.
    for k in $(seq 0 $((nrows - 1))); do
        row=${row_list[$(((r - 1 + k) % nrows))]}
        phase "round $r/$rounds: $row (${secs} s)"
        pre=$dir/$row.$r
        case $row in
            sockperf) run_sockperf "$pre" || true ;;
            *) run_takt "$pre" "$row" || true ;;
        esac
        echo "    $row: $(cat "$pre.status")" >&2
        phase_done
    done
done

# ---------------------------------------------------------------- 6. table + plot
phase "table and plot"
grep '^cpu' /proc/stat >"$out/stat-end.txt"
ps -eo pcpu=,comm= --sort=-pcpu | head -5 >"$out/top-end.txt"
rt_tasks >"$out/rt-end.txt"
python3 "$here/analyze.py" "$out" --svg "$out/rtt.svg" | tee "$out/table.md"
echo "results: $out" >&2
phase_done
