#!/usr/bin/env bash
# rt-tests' cyclictest and takt-cyclictest side by side in one run, with the
# same flags, alternating, idle and under load: cyclictest, takt-cyclictest
# --wake nanosleep (the same measurement), --wake hybrid and --wake spin.
#
#   sudo latency-tests/cyclictest/run.sh [--no-build] [--bin-dir DIR] [--out DIR]
#                                        [--loops N] [--rounds N]
#
# Each row runs ROUNDS times for LOOPS wake-ups, the rows taking turns (and
# each round starting one row later), so slow drifts of a noisy machine and
# the after-effects of one row on the next hit every row alike; a row's
# histograms are added up. Then the same under stress-ng
# (bounded with --timeout). plot.py prints the table (min/avg/p50/p99/max,
# ratios of takt-nanosleep to cyclictest) and draws the distributions.
# Installs rt-tests and stress-ng with apt-get when they are missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"

# ---------------------------------------------------------------- settings
loops=${TAKT_CT_LOOPS:-5000}         # wake-ups per row and round
rounds=${TAKT_CT_ROUNDS:-4}          # rounds of all rows, per condition
interval=${TAKT_CT_INTERVAL:-1000}   # us
prio=${TAKT_CT_PRIO:-80}
cpu=${TAKT_CT_CPU:-1}                # the measurement thread's CPU
buckets=${TAKT_CT_BUCKETS:-1000}     # -h: 1-us buckets
margin=${TAKT_CT_MARGIN:-50}         # hybrid margin, us
load=${TAKT_CT_LOAD:---cpu 2}        # stress-ng stressors (both CPUs by default)
conditions=${TAKT_CT_CONDITIONS:-idle load}

usage() {
    cat <<'EOF2'
usage: latency-tests/cyclictest/run.sh [--no-build] [--bin-dir DIR] [--out DIR] [--loops N] [--rounds N]

As root: builds takt-cyclictest (release) and runs, alternating, rt-tests'
cyclictest and takt-cyclictest (nanosleep, hybrid, spin) with the same flags
(-m -p 80 -i 1000 -l LOOPS -q -h 1000 -t 1 -a 1), idle and under stress-ng.
Prints the table; results go to latency-tests/results/cyclictest/<time>/.
Default: 4 rounds x 4 rows x 2 conditions x 5 s, about 3 minutes.

  --no-build    use target/release/takt-cyclictest as it is
  --bin-dir DIR take takt-cyclictest from DIR (implies --no-build)
  --out DIR     results folder
  --loops N     wake-ups per row and round (TAKT_CT_LOOPS, 5000)
  --rounds N    rounds per condition (TAKT_CT_ROUNDS, 4)

Environment: TAKT_CT_LOOPS, TAKT_CT_ROUNDS, TAKT_CT_INTERVAL (us, 1000),
TAKT_CT_PRIO (80), TAKT_CT_CPU (1), TAKT_CT_BUCKETS (1000), TAKT_CT_MARGIN
(us, 50), TAKT_CT_LOAD (stress-ng stressors, "--cpu 2"), TAKT_CT_CONDITIONS
("idle load"), TAKT_CT_OUT.
EOF2
}

build=1
bin=
out=${TAKT_CT_OUT:-}
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --no-build) build=0; shift ;;
        --bin-dir) [ $# -ge 2 ] || { usage >&2; exit 2; }; bin=$2; build=0; shift 2 ;;
        --out) [ $# -ge 2 ] || { usage >&2; exit 2; }; out=$2; shift 2 ;;
        --loops) [ $# -ge 2 ] || { usage >&2; exit 2; }; loops=$2; shift 2 ;;
        --rounds) [ $# -ge 2 ] || { usage >&2; exit 2; }; rounds=$2; shift 2 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

need_root "SCHED_FIFO, mlockall"
for v in loops rounds interval prio cpu buckets margin; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
[ "$cpu" -lt "$(nproc)" ] || die "TAKT_CT_CPU=$cpu: this machine has CPUs 0..$(($(nproc) - 1))"
command -v python3 >/dev/null || die "python3 not found (Debian: python3)"

# rt-tests and stress-ng from Debian when missing.
apt_install_missing cyclictest:rt-tests stress-ng:stress-ng

results_dir cyclictest

# ---------------------------------------------------------------- 1. build
phase "build (release)"
if [ "$build" = 1 ]; then
    cargo_release -p takt-tools --bin takt-cyclictest
fi
bin=${bin:-${CARGO_TARGET_DIR:-$root/target}/release}
takt=$bin/takt-cyclictest
[ -x "$takt" ] || die "$takt missing (run without --no-build)"
phase_done

# ---------------------------------------------------------------- 2. machine
secs_per_run=$(awk -v l="$loops" -v i="$interval" 'BEGIN { printf "%d", l * i / 1e6 + 0.999 }')
{
    machine_info
    echo "cmdline=$(cat /proc/cmdline)"
    echo "cyclictest=$(cyclictest --help 2>&1 | head -1)"
    echo "stress_ng=$(stress-ng --version 2>&1 | head -1)"
    echo "rustc=$(rustc --version 2>/dev/null || true)"
    echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || true)"
    echo "loops=$loops"
    echo "rounds=$rounds"
    echo "interval_us=$interval"
    echo "priority=$prio"
    echo "cpu_measured=$cpu"
    echo "buckets=$buckets"
    echo "margin_us=$margin"
    echo "load=stress-ng $load, started 1 s before each run, --timeout $((secs_per_run + 5))s"
    echo "conditions=$conditions"
    echo "flags=-m -p $prio -i $interval -l $loops -q -h $buckets -t 1 -a $cpu"
} >"$out/machine.txt"
grep '^cpu' /proc/stat >"$out/stat-start.txt"
# Other work on the machine while this runs (e.g. builds in other sessions).
ps -eo pcpu=,comm= --sort=-pcpu | head -5 >"$out/top-start.txt"

bg=()
cleanup() {
    local p
    for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${bg[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- 3. runs
flags=(-m -p "$prio" -i "$interval" -l "$loops" -q -h "$buckets" -t 1 -a "$cpu")
rows=(cyclictest nanosleep hybrid spin)
command_of() { # row -> the command, one word per line
    case $1 in
        cyclictest) printf '%s\n' cyclictest "${flags[@]}" ;;
        nanosleep) printf '%s\n' "$takt" "${flags[@]}" --wake nanosleep ;;
        hybrid) printf '%s\n' "$takt" "${flags[@]}" --wake hybrid --margin "$margin" ;;
        spin) printf '%s\n' "$takt" "${flags[@]}" --wake spin ;;
    esac
}
for cond in $conditions; do
    dir=$out/$cond
    mkdir -p "$dir"
    for r in $(seq 1 "$rounds"); do
        # Round r starts with row r-1: no row always follows the same one.
        for k in 0 1 2 3; do
            row=${rows[$(((r - 1 + k) % 4))]}
            phase "$cond, round $r/$rounds: $row (${secs_per_run} s)"
            mapfile -t cmd < <(command_of "$row")
            stress=
            if [ "$cond" = load ]; then
                # shellcheck disable=SC2086 # $load is a list of stressor flags
                stress-ng $load --timeout "$((secs_per_run + 5))s" --quiet >/dev/null 2>&1 &
                stress=$!
                bg+=("$stress")
                sleep 1 # the stressors are running before the measurement starts
            fi
            echo "${cmd[*]}" >"$dir/$row.$r.cmd"
            rc=0
            extra=()
            # takt's JSON has the ns percentiles of its HDR histogram too.
            [ "$row" = cyclictest ] || extra=(--json "$dir/$row.$r.json")
            "${cmd[@]}" --histfile="$dir/$row.$r.hist" "${extra[@]}" >"$dir/$row.$r.out" 2>"$dir/$row.$r.err" || rc=$?
            if [ -n "$stress" ]; then
                kill "$stress" 2>/dev/null || true
                wait "$stress" 2>/dev/null || true
                bg=("${bg[@]:0:${#bg[@]}-1}")
            fi
            if [ "$rc" != 0 ]; then
                echo "failed (exit $rc)" >"$dir/$row.$r.status"
                sed 's/^/    /' "$dir/$row.$r.err" >&2
            else
                echo ok >"$dir/$row.$r.status"
            fi
            phase_done
        done
    done
done

# ---------------------------------------------------------------- 4. table + plot
phase "table and plot"
grep '^cpu' /proc/stat >"$out/stat-end.txt"
ps -eo pcpu=,comm= --sort=-pcpu | head -5 >"$out/top-end.txt"
python3 "$here/plot.py" "$out" --svg "$out/latency.svg" | tee "$out/table.md"
echo "results: $out" >&2
phase_done
