"""Shared helpers of latency-tests/*/plot.py: results-folder reading and the
SVG percentile chart ("nines" x axis, log y axis, legend). Standard library
only. The plot.py scripts put latency-tests/ on sys.path to import it.
"""

import argparse
import math
import os
import sys


def read_text(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def machine(out):
    """machine.txt of a results folder as a dict (key=value lines)."""
    m = {}
    for line in read_text(os.path.join(out, "machine.txt")).splitlines():
        k, _, v = line.partition("=")
        m[k] = v
    return m


def machine_line(m, preempt=False):
    """'2 CPUs, <model>, KVM guest, kernel 6.1.0' (+ ' PREEMPT...' if asked)."""
    virt = m.get("virt") or "none"
    virt = "no VM" if virt == "none" else virt.upper() + " guest"
    if m.get("container") not in (None, "", "none"):
        virt += " (" + m["container"] + " container)"
    line = "{} CPUs, {}, {}, kernel {}".format(
        m.get("nproc", "?"), m.get("cpu", "?"), virt, m.get("kernel", "?"))
    if preempt:
        line += " " + m.get("preempt", "")
    return line


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


# ------------------------------------------------------------------ SVG

def nines(p):
    """x position of percentile p: 0 -> 0, 90 -> 1, 99 -> 2, ..."""
    if p >= 100.0:
        return None
    return -math.log10(1.0 - p / 100.0)


def esc(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def text(x, y, s, size=11, fill=None):
    """A <text> element; s is escaped."""
    return '<text x="{}" y="{}" font-size="{}"{}>{}</text>'.format(
        x, y, size, ' fill="{}"'.format(fill) if fill else "", esc(s))


def title_lines(el, left, y0, title, subtitles):
    """Bold title at y0 + 20, then grey 11-px lines 17 and 14 px apart."""
    el.append('<text x="{}" y="{}" font-size="15" font-weight="bold">{}</text>'.format(
        left, y0 + 20, esc(title)))
    y = y0 + 37
    for s in subtitles:
        el.append(text(left, y, s, fill="#444"))
        y += 14


def chart(el, cs, left, top, bottom, pw, ylabel, style, ytick="{:g}".format):
    """Percentile curves into el: frame, log y grid (1, 2, 5 per decade),
    nines x grid, a "max" column and the legend right of the frame.
    cs: [(key, label, [(x, y)], max y)]; style(key) -> (color, extra
    attributes of the curve and legend line, e.g. a dash). Returns the y
    of the next free legend line."""
    xmax_n = max([max(x for x, _ in pts) for _, _, pts, _ in cs if pts] + [3.0])
    xmax_n = math.ceil(xmax_n)
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
            el.append('<text x="{}" y="{:.1f}" font-size="11" text-anchor="end">{}</text>'.format(
                left - 5, y + 4, ytick(v)))
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
              'transform="rotate(-90 {} {:.1f})">{}</text>'.format(
                  left - 48, (top + bottom) / 2, left - 48, (top + bottom) / 2, ylabel))
    ly = top + 10
    for key, label, pts, mx in cs:
        color, dash = style(key)
        path = " ".join("{:.1f},{:.1f}".format(X(x), Y(v)) for x, v in pts)
        el.append('<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{}/>'.format(
            path, color, dash))
        for x, v in pts:
            el.append('<circle cx="{:.1f}" cy="{:.1f}" r="2.5" fill="{}"/>'.format(X(x), Y(v), color))
        if pts:
            el.append('<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}" '
                      'stroke-dasharray="4,3"/>'.format(X(pts[-1][0]), Y(pts[-1][1]),
                                                         X(x_of_max), Y(mx), color))
        el.append('<circle cx="{:.1f}" cy="{:.1f}" r="4" fill="none" stroke="{}" '
                  'stroke-width="2"/>'.format(X(x_of_max), Y(mx), color))
        lx = left + pw + 15
        el.append('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="3"{}/>'.format(
            lx, ly, lx + 20, ly, color, dash))
        el.append('<text x="{}" y="{}" font-size="11">{}</text>'.format(lx + 25, ly + 4, esc(label)))
        ly += 18
    return ly


def document(w, h, panels):
    """The SVG file: panels (lists of elements) stacked h apart."""
    el = [e for p in panels for e in p]
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{t}" '
            'viewBox="0 0 {w} {t}" font-family="sans-serif">\n'
            '<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>\n').format(
                w=w, t=h * len(panels), body="\n".join(el))


def main(doc, harness, table, svg):
    """The command line of a plot.py: RESULTS_DIR [--svg FILE]. Prints
    table(out, m) and writes svg(out, m); harness names the run.sh
    (latency-tests/HARNESS/run.sh) in the help."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("results", help="a results folder of latency-tests/{}/run.sh".format(harness))
    ap.add_argument("--svg", help="write the latency plot here")
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(a.results, "machine.txt")):
        sys.exit("plot.py: {} has no machine.txt: not a run.sh results folder".format(a.results))
    m = machine(a.results)
    print(table(a.results, m))
    if a.svg:
        with open(a.svg, "w") as f:
            f.write(svg(a.results, m))
