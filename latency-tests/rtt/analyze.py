#!/usr/bin/env python3
"""Tables and plot of one latency-tests/rtt/run.sh run.

    python3 latency-tests/rtt/analyze.py RESULTS_DIR [--svg FILE]

Prints (markdown) the round trip per row and round -- sockperf ping-pong,
takt mirror over packet:, takt mirror over xdp: -- at p50/p90/p99/p99.9/
max, each takt row's p99 as a ratio to the sockperf round it ran beside,
the rounds pooled, and the one-way figures: takt's end to end (A - S, the
mirror's frames) beside sockperf's round trip / 2. With --svg it draws the
round trip as percentile curves (x: "nines" axis, y: us, log), one per row,
rounds pooled. Standard library only.

Exact values where every sample is at hand: sockperf's --full-log and
takt's --frames-log files (nearest rank). A takt row without a frames log
falls back to its JSON report (HDR histogram, 3 significant figures), per
round only.
"""

import json
import math
import os
import pathlib
import re
import struct
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
import svgplot  # noqa: E402
from svgplot import chart, document, esc, machine_line, nines, read_text, steal, title_lines  # noqa: E402

LABELS = {"sockperf": "sockperf (UDP, busy poll)", "packet": "takt mirror packet:",
          "xdp": "takt mirror xdp:"}
COLORS = {"sockperf": "#d62728", "packet": "#1f77b4", "xdp": "#2ca02c"}
# (key in takt's summary, percentile)
POINTS = [("min", 0.0), ("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9)]
# Percentiles drawn from exact samples.
FINE = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999]

# docs/frames-log.md, version 1.
FRAMES_MAGIC, TRAILER_MAGIC = b"TAKTFRMS", b"TAKTEND\0"
KIND_RX, KIND_RETURN = 2, 3
FLAG_COUNTED = 0x01
S, H, A = 0, 2, 5


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


def frames_diffs(path, kind, late, early):
    """Exact `late - early` (ns) of the counted records of `kind` in a
    frames log (docs/frames-log.md), or None when the file is missing or
    not a frames log. A record without both stages is skipped."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if len(data) < 64 or data[:8] != FRAMES_MAGIC:
        return None
    (hlen,) = struct.unpack_from("<I", data, 12)
    if hlen < 64 or hlen % 64 or hlen > len(data):
        return None
    out = []
    for off in range(hlen, len(data) - 63, 64):
        if data[off:off + 8] == TRAILER_MAGIC:
            break
        k, present, flags = data[off], data[off + 1], data[off + 2]
        if k != kind or not flags & FLAG_COUNTED:
            continue
        if not (present >> late) & 1 or not (present >> early) & 1:
            continue
        t = struct.unpack_from("<6Q", data, off + 16)
        out.append(t[late] - t[early])
    return out


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
    lost = None
    m = re.search(r"# dropped messages = (\d+)", text)
    if m:
        lost = int(m.group(1))
    sent = None
    m = re.search(r"\[Valid Duration\] RunTime=[\d.]+ sec; SentMessages=(\d+)", text)
    if m:
        sent = int(m.group(1))
    return {"status": "ok", "sent": sent, "returned": len(rtt), "lost": lost,
            "rtt": summary_of(rtt), "rtt_samples": rtt,
            "one_way": summary_of([v / 2.0 for v in rtt]),
            "one_way_samples": [v / 2.0 for v in rtt], "one_way_label": "rtt / 2",
            "outliers": sum(1 for v in rtt if v > threshold) if threshold else None,
            "source": "exact"}


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
    d = {
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
        "one_way": e2e or {},
        "one_way_label": "end to end A - S",
        "tx_late": fwd.get("late"),
        "allocs": [(tx or {}).get("data_path_allocations"), (rx or {}).get("data_path_allocations")],
        "source": "report",
    }
    # Exact figures from the frames logs, when the run wrote them.
    rtt = frames_diffs(pre + "-talker.frames", KIND_RETURN, A, H)
    if rtt:
        d["rtt"], d["rtt_samples"], d["source"] = summary_of(rtt), rtt, "exact"
        d["rtt_report"] = rt.get("rtt") or {}
    ow = frames_diffs(pre + "-listener.frames", KIND_RX, A, S)
    if ow:
        d["one_way"], d["one_way_samples"] = summary_of(ow), ow
    return d


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
                tx = read_json(os.path.join(out, "rows", "{}.{}-talker.json".format(row, r)))
                fwd = forward_stream(tx)
                if fwd and fwd["round_trip"].get("outlier_threshold_ns"):
                    return fwd["round_trip"]["outlier_threshold_ns"]
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


def all_data(out, m):
    thr = threshold_of(out, m)
    rows, rounds = rows_of(m), rounds_of(m)
    data = {(row, r): round_data(out, row, r, thr) for row in rows for r in range(1, rounds + 1)}
    return thr, data


def pooled(data, row, rounds):
    """The row's rounds pooled, when every round that ran has exact samples."""
    ok = [data[(row, r)] for r in range(1, rounds + 1) if data[(row, r)]["status"] == "ok"]
    if not ok or any("rtt_samples" not in d for d in ok):
        return None
    p = {"status": "ok", "rounds": len(ok)}
    for k in ("sent", "returned", "lost", "outliers"):
        vals = [d.get(k) for d in ok]
        p[k] = None if any(v is None for v in vals) else sum(vals)
    p["rtt_samples"] = [v for d in ok for v in d["rtt_samples"]]
    p["rtt"] = summary_of(p["rtt_samples"])
    if all("one_way_samples" in d for d in ok):
        p["one_way"] = summary_of([v for d in ok for v in d["one_way_samples"]])
    p["one_way_label"] = ok[0]["one_way_label"]
    return p


def us(ns):
    return "-" if ns is None else "{:.1f}".format(ns / 1000.0)


def n(x):
    return "-" if x is None else "{:,}".format(x)


def rtt_cells(d, base_p99):
    rt = d["rtt"]
    ratio = "-"
    if base_p99 and rt.get("p99") is not None:
        ratio = "{:.2f}".format(rt["p99"] / base_p99)
    return [n(d.get("sent")), n(d.get("returned")), n(d.get("lost")), n(d.get("outliers")),
            us(rt.get("p50")), us(rt.get("p90")), us(rt.get("p99")), us(rt.get("p999")),
            us(rt.get("max")), ratio]


def table(out, m):
    rows, rounds = rows_of(m), rounds_of(m)
    thr, data = all_data(out, m)
    lines = ["Round trip over veth: takt mirror vs sockperf",
             "machine: " + machine_line(m),
             "run: {} UTC, {} round(s) x {} s per row, {} round trips/s, {}-byte frames "
             "(sockperf -m {}), pinging side CPU {}, answering side CPU {}, SCHED_FIFO {}, "
             "busy poll {} us (takt: {}), takt-talker --wake {}, takt return slot {} us after "
             "the forward launch, --mirror-process {}; load avg before: {}".format(
                 m.get("date", "?"), m.get("rounds", "?"), m.get("secs", "?"), m.get("rate", "?"),
                 m.get("frame", "?"), m.get("sockperf_msg", "?"), m.get("ping_cpu", "?"),
                 m.get("echo_cpu", "?"), m.get("priority", "?"), m.get("busy_poll_us", "?"),
                 m.get("takt_busy_flag", "?"), m.get("wake", "?"), m.get("gap_us", "?"),
                 m.get("mirror_process", "?"), m.get("loadavg", "?"))]
    st = steal(out)
    if st:
        lines.append("steal time (hypervisor ran another guest) over the run: " + st)
    others = read_text(os.path.join(out, "rt-start.txt"))
    if others:
        lines.append("real-time tasks of other work at the start: " + "; ".join(
            " ".join(line.split()[:5]) for line in others.splitlines()))
    head = ("| row | round | sent | returned | lost | over {} | rtt p50 | p90 | p99 | p99.9 "
            "| max | p99 / sockperf p99 |".format(
                "{:g} us".format(thr / 1000.0) if thr else "threshold"))
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    lines += ["", "Round trip (us), each round:", "", head, rule]
    for r in range(1, rounds + 1):
        base = data.get(("sockperf", r), {})
        base_p99 = base.get("rtt", {}).get("p99") if base.get("status") == "ok" else None
        for row in rows:
            d = data[(row, r)]
            cells = [LABELS.get(row, row), str(r)]
            if d["status"] != "ok":
                lines.append("| " + " | ".join(cells + [d["status"]] + ["-"] * 9) + " |")
                continue
            lines.append("| " + " | ".join(
                cells + rtt_cells(d, base_p99 if row != "sockperf" else None)) + " |")
    pools = {row: pooled(data, row, rounds) for row in rows}
    if any(pools.values()) and rounds > 1:
        lines += ["", "Round trip (us), rounds pooled:", "", head.replace("| round ", "| rounds "),
                  rule]
        base = pools.get("sockperf")
        base_p99 = base["rtt"].get("p99") if base else None
        for row in rows:
            p = pools[row]
            if p:
                lines.append("| " + " | ".join(
                    [LABELS.get(row, row), str(p["rounds"])]
                    + rtt_cells(p, base_p99 if row != "sockperf" else None)) + " |")
    lines += ["", "One way (us): takt end to end A - S at the mirror beside sockperf's "
              "round trip / 2:", "",
              "| row | round | measure | p50 | p99 | p99.9 | max |",
              "|---|---|---|---:|---:|---:|---:|"]
    for r in list(range(1, rounds + 1)) + (["all"] if rounds > 1 else []):
        for row in rows:
            d = pools[row] if r == "all" else data[(row, r)]
            if not d or d["status"] != "ok" or not d.get("one_way"):
                continue
            ow = d["one_way"]
            lines.append("| {} | {} | {} | {} | {} | {} | {} |".format(
                LABELS.get(row, row), r, d["one_way_label"], us(ow.get("p50")), us(ow.get("p99")),
                us(ow.get("p999")), us(ow.get("max"))))
    extra = []
    for (row, r), d in sorted(data.items()):
        if d.get("status") == "ok" and row != "sockperf":
            mi = d.get("mirror") or {}
            rep = d.get("rtt_report")
            extra.append("- {} round {}: not sent by the talker (late) {}; mirror sent {}, late "
                         "(not sent) {}, queue full {}, no buffer {}; returns late {}, duplicates "
                         "{}; data_path_allocations talker/mirror {}{}".format(
                             LABELS.get(row, row), r, n(d.get("tx_late")), n(mi.get("sent")),
                             n(mi.get("late")), n(mi.get("queue_full")), n(mi.get("no_buffer")),
                             n(d.get("late")), n(d.get("duplicates")),
                             "/".join("-" if a is None else str(a) for a in d["allocs"]),
                             "; report rtt p50/p99/max {}/{}/{} us".format(
                                 us(rep.get("p50")), us(rep.get("p99")), us(rep.get("max")))
                             if rep else ""))
    if extra:
        lines += [""] + extra
    srcs = sorted({d.get("source") for (row, _), d in data.items()
                   if row != "sockperf" and d.get("status") == "ok"})
    lines += ["",
              "sockperf: rtt = the client's receive time - its send time, exact (nearest rank "
              "over its --full-log, after its warm-up). takt: the talker's rtt = A - H (after "
              "the receive poll that returned the frame - the frame's handover time), {}, over "
              "the frames that came back. lost: sent and never back within --rtt-timeout. over: "
              "round trips above takt's outlier threshold (--rtt-outlier). p99 / sockperf p99: "
              "against the sockperf row of the same round (or pooled).".format(
                  "exact from its --frames-log" if srcs == ["exact"]
                  else "from its JSON report (HDR, 3 significant figures)" if srcs == ["report"]
                  else "exact where a --frames-log was written, else from its JSON report")]
    return "\n".join(lines)


# ------------------------------------------------------------------ plot

def curve(d):
    """[(x, us)], max us: at FINE percentiles from exact samples, else at
    the summary's points."""
    rt = d.get("rtt") or {}
    count = rt.get("count") or 0
    pts = []
    samples = d.get("rtt_samples")
    if samples:
        s = sorted(samples)
        for p in FINE:
            # Leave out percentiles finer than the sample count resolves.
            if p > 0 and 1.0 / (1.0 - p / 100.0) > count:
                continue
            pts.append((nines(p), max(rank(s, p), 1) / 1000.0))
    else:
        for k, p in POINTS:
            v = rt.get(k)
            if v is None or (count and p > 0 and 1.0 / (1.0 - p / 100.0) > count):
                continue
            pts.append((nines(p), max(v, 1) / 1000.0))
    mx = rt.get("max")
    return pts, (max(mx, 1) / 1000.0 if mx is not None else None)


def svg(out, m):
    rows, rounds = rows_of(m), rounds_of(m)
    _, data = all_data(out, m)
    w, h = 860, 440
    left, right, top, bottom = 70, 240, 64, h - 50
    el = []
    title_lines(el, left, 0, "Round trip over veth: takt mirror vs sockperf ping-pong",
                [machine_line(m) + "; " + m.get("date", "") + "; {} round trips/s, {}-byte "
                 "frames".format(m.get("rate", "?"), m.get("frame", "?"))])
    cs, failed = [], []
    for row in rows:
        p = pooled(data, row, rounds)
        runs = [(p, "all")] if p else [(data[(row, r)], r) for r in range(1, rounds + 1)]
        for d, r in runs:
            if d["status"] != "ok":
                failed.append("{} r{}: {}".format(LABELS.get(row, row), r, d["status"]))
                continue
            pts, mx = curve(d)
            if not pts or mx is None:
                continue
            label = "{}{} ({:,})".format(LABELS.get(row, row), "" if r == "all" else " r{}".format(r),
                                         d["rtt"].get("count", 0))
            cs.append(((row, r), label, pts, mx))
    if not cs:
        el.append('<text x="{}" y="{}">no round-trip data</text>'.format(left, top + 20))
        return document(w, h, [el])

    def style(key):
        row, r = key
        dash = "" if r in ("all", 1) else ' stroke-dasharray="6,3"'
        return COLORS.get(row, "#000"), dash

    ly = chart(el, cs, left, top, bottom, w - left - right, "round trip (us, log)", style)
    for f in failed:
        el.append('<text x="{}" y="{}" font-size="11" fill="#888">{}</text>'.format(
            w - right + 15, ly + 4, esc(f[:40])))
        ly += 18
    return document(w, h, [el])


if __name__ == "__main__":
    svgplot.main(__doc__, "rtt", table, svg)
