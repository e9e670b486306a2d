#!/usr/bin/env python3
"""Table and plot of one latency-tests/cyclictest/run.sh run.

    python3 latency-tests/cyclictest/plot.py RESULTS_DIR [--svg FILE]

Prints the table (markdown) on stdout: per condition (idle, load) and row
(rt-tests' cyclictest, takt-cyclictest nanosleep / hybrid / spin) the
wake-up latency min/avg/p50/p99/p99.9/max in us and the ratios of each takt
row's p50 and p99 to cyclictest's. With --svg it draws the distributions as
percentile curves (x: percentile on a "nines" axis, y: latency in us, log).
Standard library only. Both programs' histograms are read the same way:
the cyclictest histogram format (1-us buckets, "# Min/Avg/Max Latencies",
"# Histogram Overflows"), the rounds of a row added up; percentiles are the
1-us bucket that holds them (so 0 means "under 1 us").
"""

import glob
import json
import math
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
import svgplot  # noqa: E402
from svgplot import chart, document, machine_line, nines, read_text, steal, title_lines  # noqa: E402

ROWS = ["cyclictest", "nanosleep", "hybrid", "spin"]
LABELS = {"cyclictest": "rt-tests cyclictest", "nanosleep": "takt nanosleep",
          "hybrid": "takt hybrid", "spin": "takt spin"}
COLORS = {"cyclictest": "#d62728", "nanosleep": "#1f77b4", "hybrid": "#2ca02c",
          "spin": "#9467bd"}
PCTS = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999]


def parse_hist(text):
    """One cyclictest histogram (first column): (counts, summary dict)."""
    counts, summary = [], {}
    for line in text.splitlines():
        if line.startswith("# "):
            name, sep, vals = line[2:].partition(":")
            if sep and name in ("Total", "Min Latencies", "Avg Latencies",
                                "Max Latencies", "Histogram Overflows"):
                summary[name] = [int(v) for v in vals.split()]
            continue
        f = line.split()
        if len(f) >= 2 and f[0].isdigit():
            counts.append(int(f[1]))
    return counts, summary


def row_data(out, cond, row):
    """The row's rounds added up, or a status string when none ran."""
    counts, n, overflows, mins, maxs, avg_sum, rounds = [], 0, 0, [], [], 0.0, 0
    p99_ns, round_p99 = [], []
    failed = []
    def round_of(path):
        return int(path.rsplit(".", 2)[-2])
    for st in sorted(glob.glob(os.path.join(out, cond, row + ".*.status")), key=round_of):
        pre = st[:-len(".status")]
        if read_text(st) != "ok":
            failed.append(read_text(st))
            continue
        c, s = parse_hist(read_text(pre + ".hist"))
        if not c or "Total" not in s:
            failed.append("no histogram")
            continue
        one = {"counts": c, "n": s["Total"][0] + s["Histogram Overflows"][0]}
        round_p99.append(percentile(one, 99))
        if len(counts) < len(c):
            counts += [0] * (len(c) - len(counts))
        for i, v in enumerate(c):
            counts[i] += v
        k = s["Total"][0] + s["Histogram Overflows"][0]
        n += k
        overflows += s["Histogram Overflows"][0]
        mins.append(s["Min Latencies"][0])
        maxs.append(s["Max Latencies"][0])
        avg_sum += s["Avg Latencies"][0] * k
        rounds += 1
        try:
            with open(pre + ".json") as f:
                ns = json.load(f)["thread"]["0"]["takt"]["latency_ns"]
            p99_ns.append(ns["p99"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    if not rounds:
        return failed[0] if failed else "not run"
    return {"counts": counts, "n": n, "overflows": overflows, "min": min(mins),
            "max": max(maxs), "avg": avg_sum / n if n else 0.0, "rounds": rounds,
            "failed": len(failed), "p99_ns": max(p99_ns) if p99_ns else None,
            "round_p99": round_p99}


def percentile(d, p):
    """The 1-us bucket holding percentile p; None when it is an overflow."""
    want = math.ceil(d["n"] * p / 100.0) if p > 0 else 1
    seen = 0
    for b, c in enumerate(d["counts"]):
        seen += c
        if seen >= want:
            return b
    return None


def fmt(v, buckets):
    return ">={}".format(buckets) if v is None else str(v)


def ratio(a, b):
    if a is None or b is None:
        return "-"
    if b == 0:
        return "-" if a else "1.00"
    return "{:.2f}".format(a / b)


def conditions(m):
    return m.get("conditions", "idle load").split()


def table(out, m):
    buckets = int(m.get("buckets", "1000"))
    lines = [
        "cyclictest vs takt-cyclictest, wake-up latency (us), `{}`, {} rounds x {} loops per row, rows alternating".format(
            m.get("flags", "?"), m.get("rounds", "?"), m.get("loops", "?")),
        "",
        "Machine: {}; {}.".format(machine_line(m, preempt=True), m.get("date", "")),
        "Load: idle = nothing added; load = `{}`. Steal time over the run: {}.".format(
            m.get("load", "?"), steal(out) or "-"),
        "",
        "| condition | run | samples | min | avg | p50 | p99 | p99.9 | max | over {} us | p50 / cyclictest | p99 / cyclictest | p99 of each round | p99 ns (takt HDR, worst round) |".format(buckets),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cond in conditions(m):
        base = row_data(out, cond, "cyclictest")
        for row in ROWS:
            d = row_data(out, cond, row)
            if isinstance(d, str):
                lines.append("| {} | {} | {} | | | | | | | | | | | |".format(cond, LABELS[row], d))
                continue
            p50, p99, p999 = (percentile(d, p) for p in (50, 99, 99.9))
            if row == "cyclictest" or isinstance(base, str):
                r50 = r99 = "-"
            else:
                r50 = ratio(p50, percentile(base, 50))
                r99 = ratio(p99, percentile(base, 99))
            p99_ns = "-" if d["p99_ns"] is None else "{:,}".format(d["p99_ns"])
            rounds = " ".join(fmt(v, buckets) for v in d["round_p99"])
            lines.append("| {} | {} | {:,} | {} | {:.1f} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                cond, LABELS[row], d["n"], d["min"], d["avg"], fmt(p50, buckets),
                fmt(p99, buckets), fmt(p999, buckets), d["max"], d["overflows"], r50, r99,
                rounds, p99_ns))
    lines += ["", "p50/p99/p99.9: the 1-us bucket holding the percentile (0 = under 1 us); "
              "avg: the per-run \"# Avg Latencies\" (truncated us), weighted by samples; "
              "p99 of each round: the spread between rounds is the noise the ratios sit in; "
              "p99 ns: takt-cyclictest's own p99 at 3 significant figures, the worst of the rounds."]
    return "\n".join(lines)


# ------------------------------------------------------------------ plot

def curves(out, cond):
    """(row, label, [(x, us)], max us) per row that ran. A bucket b is
    drawn at b + 0.5 us (its middle), so the log axis can show bucket 0."""
    res = []
    for row in ROWS:
        d = row_data(out, cond, row)
        if isinstance(d, str):
            continue
        pts = []
        for p in PCTS:
            x = nines(p)
            if 10 ** x > d["n"]:
                continue  # finer than the samples resolve
            b = percentile(d, p)
            if b is not None:
                pts.append((x, b + 0.5))
        res.append((row, "{} ({:,})".format(LABELS[row], d["n"]), pts, max(d["max"], 0) + 0.5))
    return res


def svg_panel(out, cond, m, y0, w, h):
    cs = curves(out, cond)
    left, right, top, bottom = 70, 210, y0 + 64, y0 + h - 50
    pw = w - left - right
    el = []
    title = "Wake-up latency, {} ({})".format(cond, "nothing added" if cond == "idle" else m.get("load", ""))
    title_lines(el, left, y0, title, [
        machine_line(m, preempt=True) + "; " + m.get("date", ""),
        "every row: " + m.get("flags", "") + " --histfile; rounds: "
        + m.get("rounds", "?") + ", rows taking turns"])
    if not cs:
        el.append('<text x="{}" y="{}">no data</text>'.format(left, top + 20))
        return el

    def style(row):
        return COLORS[row], ' stroke-dasharray="6,3"' if row == "cyclictest" else ""

    ly = chart(el, cs, left, top, bottom, pw, "wake-up latency (us, log)", style,
               ytick=lambda v: "{:g}".format(v) if v < 1 else "{:,.0f}".format(v))
    el.append('<text x="{}" y="{}" font-size="10" fill="#666">1-us buckets, drawn at</text>'.format(
        left + pw + 15, ly + 10))
    el.append('<text x="{}" y="{}" font-size="10" fill="#666">their middle (0 -> 0.5)</text>'.format(
        left + pw + 15, ly + 23))
    return el


def svg(out, m):
    w, h = 840, 420
    return document(w, h, [svg_panel(out, c, m, i * h, w, h)
                           for i, c in enumerate(conditions(m))])


if __name__ == "__main__":
    svgplot.main(__doc__, "cyclictest", table, svg)
