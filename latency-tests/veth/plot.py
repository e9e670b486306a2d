#!/usr/bin/env python3
"""Comparison table and latency plot of one latency-tests/veth/run.sh run.

    python3 latency-tests/veth/plot.py RESULTS_DIR [--svg FILE]

Prints the table (markdown) on stdout and, with --svg, draws the latency
distribution of every takt backend and the UDP baseline as percentile
curves (x: percentile on a "nines" axis, y: one-way latency in us, log).
Standard library only: it reads the JSON files run.sh left (takt's JSON
reports, takt-veth-bench's flood reports and percentile tables).
"""

import json
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
import svgplot  # noqa: E402
from svgplot import chart, document, esc, machine_line, nines, read_text, steal, title_lines  # noqa: E402

LABELS = {"packet": "takt packet", "xdp": "takt xdp", "udp": "kernel UDP"}
COLORS = {"packet": "#1f77b4", "xdp": "#2ca02c", "udp": "#d62728"}
EXTRA_COLORS = ["#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def row_order(m):
    return m.get("backends", "packet xdp").split() + ["udp"]


def us(ns):
    return "-" if ns is None else "{:.1f}".format(ns / 1000.0)


def kpps(x):
    return "-" if x is None else "{:,.0f}".format(x)


def latency_row(out, sched, be):
    """Figures of one latency row, or its status when it did not run."""
    base = os.path.join(out, "latency", sched, be)
    status = read_text(base + ".status", "missing")
    if status != "ok":
        return {"status": status}
    tx = read_json(base + "-talker.json") or {}
    rx = read_json(base + "-listener.json") or {}
    t, r = tx.get("total", {}), rx.get("total", {})
    lat = r.get("latency_ns", {})
    sent, got = t.get("frames_sent", 0), r.get("frames_received", 0)
    return {
        "status": "ok",
        "sent": sent,
        "received": got,
        "lost": max(sent - got, 0),
        "late": t.get("late", 0),
        "p50": lat.get("p50"),
        "p99": lat.get("p99"),
        "p999": lat.get("p999"),
        "max": lat.get("max"),
        "tx_p99": t.get("tx_error_ns", {}).get("p99"),
        "pct": read_json(base + "-percentiles.json"),
    }


def pps_row(out, be):
    base = os.path.join(out, "pps", be)
    status = read_text(base + ".status", "missing")
    if status != "ok":
        return {"status": status}
    tx = read_json(base + "-tx.json") or {}
    rx = read_json(base + "-rx.json") or {}
    return {"status": "ok", "tx": tx.get("pps"), "rx": rx.get("pps"),
            "tx_frames": tx.get("frames"), "rx_frames": rx.get("frames")}


def table(out, m):
    lines = []
    scheds = m.get("schedules", "single-stream-1ms").split()
    lines.append("veth between namespaces: takt vs a kernel UDP socket")
    lines.append("machine: " + machine_line(m))
    lines.append("run: {} UTC, latency {} s per row, pps {} s per row, "
                 "talker/sender on CPU {}, listener/receiver on CPU {}, load avg before: {}".format(
                     m.get("date", "?"), m.get("duration_s", "?"), m.get("pps_secs", "?"),
                     m.get("tx_cpu", "?"), m.get("rx_cpu", "?"), m.get("loadavg", "?")))
    st = steal(out)
    if st:
        lines.append("steal time (hypervisor ran another guest) over the run: " + st)
    pps = {be: pps_row(out, be) for be in row_order(m)}
    for sched in scheds:
        lines.append("")
        lines.append("schedule docs/examples/{}.toml; pps: 64-byte frames, batch 32".format(sched))
        lines.append("")
        lines.append("| backend | pps sent | pps received | frames sent | received | lost | late "
                     "| latency p50 (us) | p99 | p99.9 | max |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for be in row_order(m):
            name = LABELS.get(be, "takt " + be)
            p = pps[be]
            lr = latency_row(out, sched, be)
            cells = [name]
            if p["status"] == "ok":
                got = kpps(p["rx"])
                tx_n, rx_n = p["tx_frames"] or 0, p["rx_frames"] or 0
                if tx_n > rx_n:
                    pct = 100.0 * (tx_n - rx_n) / tx_n
                    got += " ({}% lost)".format("<0.1" if pct < 0.1 else "{:.1f}".format(pct))
                cells += [kpps(p["tx"]), got]
            else:
                cells += [p["status"], "-"]
            if lr["status"] == "ok":
                cells += [str(lr["sent"]), str(lr["received"]), str(lr["lost"]), str(lr["late"]),
                          us(lr["p50"]), us(lr["p99"]), us(lr["p999"]), us(lr["max"])]
            else:
                cells += [lr["status"]] + ["-"] * 7
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("pps sent: frames the sender handed over per second (takt: tx_burst of 32 "
                 "minimum-size takt frames; UDP: sendmmsg of 32 18-byte datagrams = 64-byte "
                 "frames). pps received: frames the receiver got per second between its first "
                 "and last frame (takt: rx_burst; UDP: recvmmsg, 32 per call); (n% lost): "
                 "frames sent that never arrived (ring or socket buffer full).")
    lines.append("latency: rx timestamp - tx time stamped in the frame by the talker just "
                 "before handing it over, both on the schedule clock. rx timestamp: the kernel's "
                 "as the frame enters the receive backlog (packet, UDP); takt's XDP program "
                 "(bpf_ktime_get_tai_ns) at the receiving veth's XDP hook (xdp). lost = sent - received. late: takt drops a frame that would "
                 "leave after its window closed (not sent); the UDP talker sends it anyway "
                 "and counts it.")
    return "\n".join(lines)


# ------------------------------------------------------------------ plot

def curves(out, sched, m):
    """(backend, label, [(x, us)], x of max) per row with a percentile table."""
    res = []
    for be in row_order(m):
        lr = latency_row(out, sched, be)
        pct = lr.get("pct") if lr["status"] == "ok" else None
        if not pct or not pct.get("points"):
            continue
        count = pct.get("count", 0)
        pts = []
        for pt in pct["points"]:
            x = nines(pt["p"])
            # Leave out percentiles finer than the sample count resolves.
            if x is None or (count and 10 ** x > count):
                continue
            pts.append((x, max(pt["ns"], 1) / 1000.0))
        max_us = max(pct["points"][-1]["ns"], 1) / 1000.0
        res.append((be, "{} ({:,} frames)".format(LABELS.get(be, be), count), pts, max_us))
    return res


def svg_panel(out, sched, m, y0, w, h):
    """One chart at vertical offset y0; returns SVG elements."""
    cs = curves(out, sched, m)
    left, right, top, bottom = 70, 200, y0 + 50, y0 + h - 50
    pw = w - left - right
    el = []
    title = "One-way latency over veth, docs/examples/{}.toml".format(sched)
    title_lines(el, left, y0, title, [machine_line(m) + "; " + m.get("date", "")])
    if not cs:
        el.append('<text x="{}" y="{}">no latency data</text>'.format(left, top + 20))
        return el
    extra = iter(EXTRA_COLORS)

    def style(be):
        return COLORS.get(be) or next(extra, "#000"), ""

    ly = chart(el, cs, left, top, bottom, pw, "one-way latency (us, log)", style)
    for be in row_order(m):
        st = latency_row(out, sched, be)["status"]
        if st != "ok":
            lx = left + pw + 15
            el.append('<text x="{}" y="{}" font-size="11" fill="#888">{}: {}</text>'.format(
                lx, ly + 4, esc(LABELS.get(be, be)), esc(st)))
            ly += 18
    return el


def svg(out, m):
    scheds = m.get("schedules", "single-stream-1ms").split()
    w, h = 820, 420
    return document(w, h, [svg_panel(out, s, m, i * h, w, h) for i, s in enumerate(scheds)])


if __name__ == "__main__":
    svgplot.main(__doc__, "veth", table, svg)
