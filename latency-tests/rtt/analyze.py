#!/usr/bin/env python3
"""Tables and plot of one latency-tests/rtt/run.sh run.

    python3 latency-tests/rtt/analyze.py RESULTS_DIR [--svg FILE]

Prints (markdown) the round trip per row and round -- sockperf ping-pong,
takt mirror over packet:, takt mirror over xdp: -- at p50/p99/p99.9/max,
each takt row's p99 as a ratio to the sockperf round it ran beside, and the
one-way figures: takt's end to end (A - S, the mirror's listener report)
beside sockperf's round trip / 2. With --svg it draws the round trip as
percentile curves (x: "nines" axis, y: us, log), one per row and round.
Standard library only.

sockperf's figures are exact (nearest rank over its --full-log samples);
takt's come from its JSON reports (HDR histograms, 3 significant figures).
Both are drawn at the points takt's report has: min, p50, p90, p99,
p99.9 and max.
"""

import json
import math
import os
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
import svgplot  # noqa: E402
from svgplot import chart, document, esc, machine_line, nines, read_text, steal, title_lines  # noqa: E402

LABELS = {"sockperf": "sockperf (UDP, busy poll)", "packet": "takt mirror packet:",
          "xdp": "takt mirror xdp:"}
COLORS = {"sockperf": "#d62728", "packet": "#1f77b4", "xdp": "#2ca02c"}
DASHES = ["", ' stroke-dasharray="6,3"', ' stroke-dasharray="2,3"', ' stroke-dasharray="8,3,2,3"']
# (key in takt's summary, percentile) of the points every row is shown at.
POINTS = [("min", 0.0), ("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9)]


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def rank(sorted_vals, p):
    """Nearest-rank percentile p (0..100) of a sorted list."""
    if not sorted_vals:
        return None
    if p <= 0:
        return sorted_vals[0]
    k = math.ceil(p / 100.0 * len(sorted_vals))
    return sorted_vals[min(max(k, 1), len(sorted_vals)) - 1]


def summary_of(vals):
    """takt's summary layout (ns) from exact values."""
    s = sorted(vals)
    if not s:
        return {"count": 0}
    d = {k: rank(s, p) for k, p in POINTS}
    d["max"] = s[-1]
    d["mean"] = sum(s) / len(s)
    d["count"] = len(s)
    return d


def sockperf_round(pre, threshold):
    """sockperf's samples (rtt, ns) from its --full-log, and its counters;
    outliers: samples above threshold (ns), takt's criterion."""
    rtt = []
    try:
        with open(pre + "-full.csv") as f:
            for line in f:
                # "packet, txTime(sec), rxTime(sec), rtt(usec)" rows
                m = re.match(r"\s*(\d+),\s*([\d.]+),\s*([\d.]+),\s*([\d.]+)\s*$", line)
                if m:
                    rtt.append(int(round(float(m.group(4)) * 1000.0)))
    except OSError:
        return {"status": "no --full-log"}
    text = read_text(pre + "-ping.out")
    lost = dup = ooo = None
    m = re.search(r"# dropped messages = (\d+); # duplicated messages = (\d+); "
                  r"# out-of-order messages = (\d+)", text)
    if m:
        lost, dup, ooo = (int(x) for x in m.groups())
    sent = None
    m = re.search(r"\[Valid Duration\] RunTime=[\d.]+ sec; SentMessages=(\d+); ReceivedMessages=(\d+)", text)
    if m:
        sent = int(m.group(1))
    rtt_s = summary_of(rtt)
    half = summary_of([v / 2.0 for v in rtt])
    return {"status": "ok", "sent": sent, "returned": len(rtt), "lost": lost,
            "duplicates": dup, "reordered": ooo, "rtt": rtt_s, "one_way": half,
            "one_way_label": "rtt / 2",
            "outliers": sum(1 for v in rtt if v > threshold) if threshold else None}


def forward_stream(report):
    """The talker report's stream with a round_trip object (the forward one)."""
    for s in (report or {}).get("streams", []):
        if isinstance(s.get("round_trip"), dict):
            return s
    return None


def takt_round(pre):
    tx = read_json(pre + "-talker.json")
    rx = read_json(pre + "-listener.json")
    fwd = forward_stream(tx)
    if fwd is None:
        return {"status": "no round_trip in the talker's report"}
    rt = fwd["round_trip"]
    e2e = None
    for s in (rx or {}).get("streams", []):
        if s.get("name") == fwd.get("name"):
            e2e = (s.get("stages") or {}).get("end_to_end")
    return {
        "status": "ok",
        "sent": fwd.get("frames_sent"),
        "returned": rt.get("returned"),
        "lost": rt.get("lost"),
        "late": rt.get("late"),
        "duplicates": rt.get("duplicates"),
        "outliers": rt.get("outliers"),
        "threshold": rt.get("outlier_threshold_ns"),
        "mirror": (rx or {}).get("mirror") or {},
        "rtt": rt.get("rtt") or {},
        "rtt_device": rt.get("rtt_device") or {},
        "one_way": e2e or {},
        "one_way_label": "end to end A - S",
        "tx_late": fwd.get("late"),
        "allocs": [(tx or {}).get("data_path_allocations"), (rx or {}).get("data_path_allocations")],
    }


def rows_of(m):
    return m.get("rows", "sockperf packet xdp").split()


def rounds_of(m):
    try:
        return int(m.get("rounds", "1"))
    except ValueError:
        return 1


def threshold_of(out, m):
    """takt's outlier threshold (ns) from the run's talker reports, else
    its default: 2 cycles."""
    for row in rows_of(m):
        for r in range(1, rounds_of(m) + 1):
            if row != "sockperf":
                d = takt_round(os.path.join(out, "rows", "{}.{}".format(row, r)))
                if d.get("threshold"):
                    return d["threshold"]
    try:
        return 2 * 1000000000 // int(m.get("rate", "1000"))
    except (ValueError, ZeroDivisionError):
        return None


def round_data(out, row, r, threshold=None):
    pre = os.path.join(out, "rows", "{}.{}".format(row, r))
    status = read_text(pre + ".status", "missing")
    if status != "ok":
        return {"status": status}
    return sockperf_round(pre, threshold) if row == "sockperf" else takt_round(pre)


def us(ns):
    return "-" if ns is None else "{:.1f}".format(ns / 1000.0)


def n(x):
    return "-" if x is None else "{:,}".format(x)


def table(out, m):
    rows, rounds = rows_of(m), rounds_of(m)
    thr = threshold_of(out, m)
    data = {(row, r): round_data(out, row, r, thr) for row in rows for r in range(1, rounds + 1)}
    lines = ["Round trip over veth: takt mirror vs sockperf",
             "machine: " + machine_line(m),
             "run: {} UTC, {} round(s) x {} s per row, {} round trips/s, {}-byte frames "
             "(sockperf -m {}), pinging side CPU {}, answering side CPU {}, SCHED_FIFO {}, "
             "busy poll {} us (takt: {}), takt-talker --wake {}, takt return slot {} us after "
             "the forward launch; load avg before: {}".format(
                 m.get("date", "?"), m.get("rounds", "?"), m.get("secs", "?"), m.get("rate", "?"),
                 m.get("frame", "?"), m.get("sockperf_msg", "?"), m.get("ping_cpu", "?"),
                 m.get("echo_cpu", "?"), m.get("priority", "?"), m.get("busy_poll_us", "?"),
                 m.get("takt_busy_flag", "?"), m.get("wake", "?"), m.get("gap_us", "?"),
                 m.get("loadavg", "?"))]
    st = steal(out)
    if st:
        lines.append("steal time (hypervisor ran another guest) over the run: " + st)
    lines += ["", "Round trip (us):", "",
              "| row | round | sent | returned | lost | over {} | rtt p50 | p90 | p99 | p99.9 "
              "| max | p99 / sockperf p99 |".format("{:g} us".format(thr / 1000.0) if thr else "threshold"),
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in range(1, rounds + 1):
        base = data.get(("sockperf", r), {})
        base_p99 = base.get("rtt", {}).get("p99") if base.get("status") == "ok" else None
        for row in rows:
            d = data[(row, r)]
            cells = [LABELS.get(row, row), str(r)]
            if d["status"] != "ok":
                lines.append("| " + " | ".join(cells + [d["status"]] + ["-"] * 9) + " |")
                continue
            rt = d["rtt"]
            ratio = "-"
            if row != "sockperf" and base_p99 and rt.get("p99") is not None:
                ratio = "{:.2f}".format(rt["p99"] / base_p99)
            cells += [n(d.get("sent")), n(d.get("returned")), n(d.get("lost")),
                      n(d.get("outliers")), us(rt.get("p50")), us(rt.get("p90")), us(rt.get("p99")),
                      us(rt.get("p999")), us(rt.get("max")), ratio]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "One way (us): takt end to end A - S (the mirror's listener report) beside "
              "sockperf's round trip / 2:", "",
              "| row | round | measure | p50 | p99 | p99.9 | max |",
              "|---|---:|---|---:|---:|---:|---:|"]
    for r in range(1, rounds + 1):
        for row in rows:
            d = data[(row, r)]
            if d["status"] != "ok":
                continue
            ow = d.get("one_way") or {}
            lines.append("| {} | {} | {} | {} | {} | {} | {} |".format(
                LABELS.get(row, row), r, d["one_way_label"], us(ow.get("p50")), us(ow.get("p99")),
                us(ow.get("p999")), us(ow.get("max"))))
    extra = []
    for (row, r), d in sorted(data.items()):
        if d.get("status") == "ok" and row != "sockperf":
            mi = d.get("mirror") or {}
            extra.append("{} round {}: not sent by the talker (late) {}; mirror sent {}, late "
                         "(not sent) {}, queue full {}, no buffer {}; returns late {}, duplicates "
                         "{}; data_path_allocations talker/mirror {}".format(
                             LABELS.get(row, row), r, n(d.get("tx_late")), n(mi.get("sent")),
                             n(mi.get("late")), n(mi.get("queue_full")), n(mi.get("no_buffer")),
                             n(d.get("late")), n(d.get("duplicates")),
                             "/".join("-" if a is None else str(a) for a in d["allocs"])))
    if extra:
        lines += [""] + extra
    lines += ["",
              "sockperf: exact nearest-rank percentiles of its --full-log samples (after its "
              "warm-up); rtt = the client's receive time - its send time (user space). takt: "
              "the talker's round_trip.rtt = A - H (HDR, 3 significant figures), over the "
              "frames that came back; lost: sent, never came back within --rtt-timeout. "
              "over: round trips above takt's outlier threshold (--rtt-outlier). "
              "p99 / sockperf p99: against the sockperf row of the same round."]
    return "\n".join(lines)


# ------------------------------------------------------------------ plot

def curve(d):
    """[(x, us)], max us from a summary (ns)."""
    rt = d.get("rtt") or {}
    pts = []
    for k, p in POINTS:
        v = rt.get(k)
        if v is None:
            continue
        # Leave out percentiles finer than the sample count resolves.
        if rt.get("count") and p > 0 and 1.0 / (1.0 - p / 100.0) > rt["count"]:
            continue
        pts.append((nines(p), max(v, 1) / 1000.0))
    mx = rt.get("max")
    return pts, (max(mx, 1) / 1000.0 if mx is not None else None)


def svg(out, m):
    rows, rounds = rows_of(m), rounds_of(m)
    w, h = 860, 440
    left, right, top, bottom = 70, 240, 50 + 14, h - 50
    el = []
    title_lines(el, left, 0, "Round trip over veth: takt mirror vs sockperf ping-pong",
                [machine_line(m) + "; " + m.get("date", "") + "; {} round trips/s, {}-byte frames".format(
                    m.get("rate", "?"), m.get("frame", "?"))])
    cs, failed = [], []
    for row in rows:
        for r in range(1, rounds + 1):
            d = round_data(out, row, r)
            if d["status"] != "ok":
                failed.append("{} r{}: {}".format(LABELS.get(row, row), r, d["status"]))
                continue
            pts, mx = curve(d)
            if not pts or mx is None:
                continue
            label = "{} r{} ({:,})".format(LABELS.get(row, row), r, d["rtt"].get("count", 0))
            cs.append(((row, r), label, pts, mx))
    if not cs:
        el.append('<text x="{}" y="{}">no round-trip data</text>'.format(left, top + 20))
        return document(w, h, [el])

    def style(key):
        row, r = key
        return COLORS.get(row, "#000"), DASHES[(r - 1) % len(DASHES)]

    ly = chart(el, cs, left, top, bottom, w - left - right, "round trip (us, log)", style)
    for f in failed:
        el.append('<text x="{}" y="{}" font-size="11" fill="#888">{}</text>'.format(
            left + w - left - right + 15, ly + 4, esc(f[:40])))
        ly += 18
    return document(w, h, [el])


if __name__ == "__main__":
    svgplot.main(__doc__, "rtt", table, svg)
