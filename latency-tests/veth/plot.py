#!/usr/bin/env python3
"""Comparison table and latency plot of one latency-tests/veth/run.sh run.

    python3 latency-tests/veth/plot.py RESULTS_DIR [--svg FILE]

Prints the table (markdown) on stdout and, with --svg, draws the latency
distribution of every takt backend and the UDP baseline as percentile
curves (x: percentile on a "nines" axis, y: one-way latency in us, log).
Standard library only: it reads the JSON files run.sh left (takt's JSON
reports, takt-veth-bench's flood reports and percentile tables).
"""

import argparse
import json
import math
import os
import sys

LABELS = {"packet": "takt packet", "xdp": "takt xdp", "udp": "kernel UDP"}
COLORS = {"packet": "#1f77b4", "xdp": "#2ca02c", "udp": "#d62728"}
EXTRA_COLORS = ["#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_text(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def machine(out):
    m = {}
    for line in read_text(os.path.join(out, "machine.txt")).splitlines():
        k, _, v = line.partition("=")
        m[k] = v
    return m


def machine_line(m):
    virt = m.get("virt") or "none"
    virt = "no VM" if virt == "none" else virt.upper() + " guest"
    if m.get("container") not in (None, "", "none"):
        virt += " (" + m["container"] + " container)"
    return "{} CPUs, {}, {}, kernel {}".format(
        m.get("nproc", "?"), m.get("cpu", "?"), virt, m.get("kernel", "?"))


def steal(out):
    """'cpu0 1.2%, cpu1 0.3%': steal time per CPU between run.sh's start and end."""
    def read(name):
        rows = {}
        for line in read_text(os.path.join(out, name)).splitlines():
            f = line.split()
            if f and f[0] != "cpu" and len(f) > 8:
                rows[f[0]] = [int(x) for x in f[1:]]
        return rows
    a, b = read("stat-start.txt"), read("stat-end.txt")
    parts = []
    for cpu in sorted(a):
        if cpu not in b:
            continue
        d = [y - x for x, y in zip(a[cpu], b[cpu])]
        total = sum(d[:8])  # user nice system idle iowait irq softirq steal
        if total > 0:
            parts.append("{} {:.1f}%".format(cpu, 100.0 * d[7] / total))
    return ", ".join(parts)


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

def nines(p):
    """x position of percentile p: 0 -> 0, 90 -> 1, 99 -> 2, ..."""
    if p >= 100.0:
        return None
    return -math.log10(1.0 - p / 100.0)


def esc(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


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
    el.append('<text x="{}" y="{}" font-size="15" font-weight="bold">{}</text>'.format(
        left, y0 + 20, esc(title)))
    el.append('<text x="{}" y="{}" font-size="11" fill="#444">{}</text>'.format(
        left, y0 + 37, esc(machine_line(m) + "; " + m.get("date", ""))))
    if not cs:
        el.append('<text x="{}" y="{}">no latency data</text>'.format(left, top + 20))
        return el
    xmax_n = max(max(x for x, _ in pts) if pts else 0 for _, _, pts, _ in cs)
    xmax_n = max(3.0, math.ceil(xmax_n))
    x_of_max = xmax_n + 0.6  # the max gets its own column right of the last nine
    vals = [v for _, _, pts, mx in cs for _, v in pts] + [mx for _, _, _, mx in cs]
    lo = 10 ** math.floor(math.log10(min(vals)))
    hi = 10 ** math.ceil(math.log10(max(vals)))
    if hi <= lo:
        hi = lo * 10

    def X(x):
        return left + pw * x / x_of_max

    def Y(v):
        return bottom - (bottom - top) * (math.log10(v) - math.log10(lo)) / (
            math.log10(hi) - math.log10(lo))

    el.append('<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#888"/>'.format(
        left, top, pw, bottom - top))
    # y grid: 1, 2, 5 per decade.
    d = lo
    while d <= hi * 1.0001:
        for k in (1, 2, 5):
            v = d * k
            if v < lo * 0.999 or v > hi * 1.001:
                continue
            y = Y(v)
            el.append('<line x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}" stroke="{}"/>'.format(
                left, y, left + pw, y, "#ccc" if k == 1 else "#eee"))
            label = ("{:g}".format(v))
            el.append('<text x="{}" y="{:.1f}" font-size="11" text-anchor="end">{}</text>'.format(
                left - 5, y + 4, label))
        d *= 10
    # x grid: nines.
    ticks = [(0, "0"), (nines(50), "50"), (1, "90"), (2, "99")]
    for n in range(3, int(xmax_n) + 1):
        ticks.append((n, "99." + "9" * (n - 2)))
    ticks.append((x_of_max, "max"))
    for x, label in ticks:
        el.append('<line x1="{:.1f}" y1="{}" x2="{:.1f}" y2="{}" stroke="#eee"/>'.format(
            X(x), top, X(x), bottom))
        el.append('<text x="{:.1f}" y="{}" font-size="11" text-anchor="middle">{}</text>'.format(
            X(x), bottom + 15, label))
    el.append('<text x="{:.1f}" y="{}" font-size="12" text-anchor="middle">percentile</text>'.format(
        left + pw / 2, bottom + 33))
    el.append('<text x="{}" y="{:.1f}" font-size="12" text-anchor="middle" '
              'transform="rotate(-90 {} {:.1f})">one-way latency (us, log)</text>'.format(
                  left - 48, (top + bottom) / 2, left - 48, (top + bottom) / 2))
    extra = iter(EXTRA_COLORS)
    ly = top + 10
    for be, label, pts, mx in cs:
        color = COLORS.get(be) or next(extra, "#000")
        path = " ".join("{:.1f},{:.1f}".format(X(x), Y(v)) for x, v in pts)
        el.append('<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>'.format(path, color))
        for x, v in pts:
            el.append('<circle cx="{:.1f}" cy="{:.1f}" r="2.5" fill="{}"/>'.format(X(x), Y(v), color))
        if pts:
            el.append('<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}" '
                      'stroke-dasharray="4,3"/>'.format(X(pts[-1][0]), Y(pts[-1][1]),
                                                         X(x_of_max), Y(mx), color))
        el.append('<circle cx="{:.1f}" cy="{:.1f}" r="4" fill="none" stroke="{}" '
                  'stroke-width="2"/>'.format(X(x_of_max), Y(mx), color))
        lx = left + pw + 15
        el.append('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="3"/>'.format(
            lx, ly, lx + 20, ly, color))
        el.append('<text x="{}" y="{}" font-size="11">{}</text>'.format(lx + 25, ly + 4, esc(label)))
        ly += 18
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
    el = []
    for i, s in enumerate(scheds):
        el += svg_panel(out, s, m, i * h, w, h)
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{t}" '
            'viewBox="0 0 {w} {t}" font-family="sans-serif">\n'
            '<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>\n').format(
                w=w, t=h * len(scheds), body="\n".join(el))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", help="a results folder of latency-tests/veth/run.sh")
    ap.add_argument("--svg", help="write the latency plot here")
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(a.results, "machine.txt")):
        sys.exit("plot.py: {} has no machine.txt: not a run.sh results folder".format(a.results))
    m = machine(a.results)
    print(table(a.results, m))
    if a.svg:
        with open(a.svg, "w") as f:
            f.write(svg(a.results, m))


if __name__ == "__main__":
    main()
