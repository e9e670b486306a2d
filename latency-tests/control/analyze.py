#!/usr/bin/env python3
"""Quiet vs flood table of one latency-tests/control/run.sh run.

    python3 latency-tests/control/analyze.py RESULTS_DIR

Reads the talker's and listener's HdrHistogram interval logs, splits their
1 s intervals at the flood's start and end (flood-start.txt, flood-end.txt,
realtime) into "quiet" and "flood", drops the interval that straddles a
switch and each log's first interval (start-up: socket open, first ARP), and
prints per phase frames and tx error / latency p50, p99, p99.9, max (us),
the flood/quiet ratios, the run's late frames, ping's statistics and the
capture check (control frames inside the class 7 window). Writes
summary.json next to the logs.

Standard library only: the logs are decoded here (base64 + zlib + the
HdrHistogram V2 encoding, about 40 lines) rather than with the `hdrh` PyPI
package, so a run needs nothing installed; the whole-run percentiles are
checked against the binaries' own JSON reports.
"""

import base64
import json
import math
import os
import re
import struct
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import svgplot  # noqa: E402  (machine line, steal time)

CYCLE_NS = 1_000_000      # docs/examples/control-plane.toml: cycle_time
CLASS7_END_NS = 100_000   # class 7 window: 0..100 us of each cycle (TAI, base_time 0)
PERCENTILES = (50.0, 99.0, 99.9)


# ------------------------------------------------------------ HdrHistogram

def zigzag_leb128(buf, pos):
    """One ZigZag LEB128 value of the V2 encoding (the 9th byte has 8 bits)."""
    v, shift = 0, 0
    for i in range(9):
        b = buf[pos]
        pos += 1
        if i == 8:
            v |= b << 56
            break
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return (v >> 1) ^ -(v & 1), pos


def decode(b64):
    """Interval_Compressed_Histogram -> {highest equivalent value: count}."""
    raw = base64.b64decode(b64)
    cookie, length = struct.unpack(">ii", raw[:8])
    if cookie & ~0xF0 != 0x1C849304:
        raise ValueError("not a compressed V2 histogram (cookie {:#x})".format(cookie))
    d = zlib.decompress(raw[8:8 + length])
    _cookie, payload, _norm, sigfig, lowest, _highest = struct.unpack(">iiiiqq", d[:32])
    # Bucket layout, as HdrHistogram derives it from lowest and sigfig.
    sub_count_mag = math.ceil(math.log2(2 * 10 ** sigfig))
    half_mag = max(sub_count_mag, 1) - 1
    half = 1 << half_mag
    unit = int(math.floor(math.log2(lowest)))
    counts, pos, end, idx = {}, 40, 40 + payload, 0
    while pos < end:
        c, pos = zigzag_leb128(d, pos)
        if c < 0:
            idx += -c  # a run of empty buckets
            continue
        if c:
            bucket = (idx >> half_mag) - 1
            sub = (idx & (half - 1)) + half
            if bucket < 0:
                sub -= half
                bucket = 0
            value = sub << (bucket + unit)
            top = value + (1 << (bucket + unit)) - 1  # highest equivalent value
            counts[top] = counts.get(top, 0) + c
        idx += 1
    return counts


def read_log(path):
    """[(tag, start_realtime_s, end_realtime_s, counts)] of an interval log."""
    base, out = 0.0, []
    with open(path) as f:
        for line in f:
            m = re.match(r"#\[BaseTime: ([0-9.]+)", line)
            if m:
                base = float(m.group(1))
            if not line.startswith("Tag="):
                continue
            tag, start, length, _max, h = line.strip()[4:].split(",")
            t0 = base + float(start)
            out.append((tag, t0, t0 + float(length), decode(h)))
    return out


def summary(counts):
    """frames, p50, p99, p99.9, max (ns; nearest rank, as the reports)."""
    total = sum(counts.values())
    if not total:
        return {"frames": 0}
    s = {"frames": total}
    values = sorted(counts)
    for p in PERCENTILES:
        rank, seen = max(1, math.ceil(p / 100.0 * total)), 0
        for v in values:
            seen += counts[v]
            if seen >= rank:
                s["p{:g}".format(p)] = v
                break
    s["max"] = values[-1]
    return s


def add(into, counts):
    for v, c in counts.items():
        into[v] = into.get(v, 0) + c


def phases(log, metric, flood):
    """Per phase: the added-up histogram of tag *.metric (>= 0 values), the
    intervals used, and the negative values seen (*.metric.neg)."""
    t_start, t_end = flood
    res = {k: {"counts": {}, "intervals": 0, "negatives": 0} for k in ("quiet", "flood", "all")}
    firsts = set()
    dropped = 0
    for tag, t0, t1, counts in log:
        neg = tag.endswith("." + metric + ".neg")
        if not neg and not tag.endswith("." + metric):
            continue
        n = sum(counts.values())
        if neg:
            res["all"]["negatives"] += n
        else:
            add(res["all"]["counts"], counts)
        if tag not in firsts:  # each tag's first interval: start-up
            firsts.add(tag)
            dropped += 0 if neg else 1
            continue
        if t1 <= t_start:
            ph = "quiet"
        elif t0 >= t_start and t1 <= t_end:
            ph = "flood"
        else:
            dropped += 0 if neg else 1  # straddles a switch (or after the flood)
            continue
        if neg:
            res[ph]["negatives"] += n
        else:
            add(res[ph]["counts"], counts)
            res[ph]["intervals"] += 1
    for r in res.values():
        r["summary"] = summary(r.pop("counts"))
    res["dropped_intervals"] = dropped
    return res


# ------------------------------------------------------------ capture

def pcap_records(path):
    """(realtime ns, frame bytes) of a nanosecond pcap."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0xA1B23C4D:
        e = "<"
    elif magic == 0x4D3CB2A1:
        e = ">"
    else:
        raise ValueError("{}: not a nanosecond pcap".format(path))
    pos, out = 24, []
    while pos + 16 <= len(data):
        sec, nsec, incl, _orig = struct.unpack(e + "IIII", data[pos:pos + 16])
        out.append((sec * 10 ** 9 + nsec, data[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    return out


def capture(path, mac, tai_off, flood):
    """Control frames from the talker's MAC (untagged) and where in the cycle
    (TAI) they were captured; stream frames' capture - launch time (how late
    the capture stamps a frame after takt sent it); and the cycles with no
    stream frame on the wire, per phase: a late frame is not sent, so these
    are the late frames (plus any the capture dropped: see tcpdump.err)."""
    src = bytes(int(x, 16) for x in mac.split(":"))
    offsets, kinds, delays, launches = [], {}, [], []
    for t, f in pcap_records(path):
        if len(f) < 14 or f[6:12] != src:
            continue
        tai = t + tai_off
        if f[12:14] == b"\x81\x00":
            if len(f) >= 42 and f[16:18] == b"\x88\xb5":  # stream header: launch_ns at 34
                launch = struct.unpack(">Q", f[34:42])[0]
                delays.append(tai - launch)
                launches.append(launch)
            continue
        offsets.append(tai % CYCLE_NS)
        kind = {b"\x08\x06": "arp", b"\x08\x00": "ipv4"}.get(f[12:14], f[12:14].hex())
        kinds[kind] = kinds.get(kind, 0) + 1
    inside = sorted(o for o in offsets if o < CLASS7_END_NS)
    delays.sort()
    # Missing cycles between the first and the last stream frame captured.
    start_tai, end_tai = (int(x * 1e9) + tai_off for x in flood)
    missing = {"quiet": 0, "flood": 0, "after": 0}
    cycles = sorted(set(launch // CYCLE_NS for launch in launches))
    for a, b in zip(cycles, cycles[1:]):
        for c in range(a + 1, b):
            t = c * CYCLE_NS
            missing["quiet" if t < start_tai else "flood" if t <= end_tai else "after"] += 1
    return {
        "control_frames": len(offsets),
        "by_type": kinds,
        "inside_class7_window": len(inside),
        "inside_offsets_ns": inside[:20],
        "cycle_offset_min_ns": min(offsets) if offsets else None,
        "cycle_offset_max_ns": max(offsets) if offsets else None,
        "stream_frames": len(delays),
        "stream_capture_delay_ns": {
            "p50": delays[len(delays) // 2] if delays else None,
            "max": delays[-1] if delays else None,
        },
        "cycles_without_stream_frame": missing,
    }


# ------------------------------------------------------------ ping, table

def ping_stats(path):
    text = open(path).read() if os.path.exists(path) else ""
    s = {}
    m = re.search(r"(\d+) packets transmitted, (\d+) received.*?([\d.]+)% packet loss(?:, time (\d+)ms)?", text)
    if m:
        s.update(sent=int(m.group(1)), received=int(m.group(2)), loss_pct=float(m.group(3)))
        if m.group(4):
            s["time_ms"] = int(m.group(4))
    m = re.search(r"rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms", text)
    if m:
        s.update(zip(("rtt_min_ms", "rtt_avg_ms", "rtt_max_ms", "rtt_mdev_ms"), map(float, m.groups())))
    return s


def us(ns):
    return "-" if ns is None else "{:.1f}".format(ns / 1000.0)


def ratio(a, b):
    return "-" if not a or b is None else "{:.2f}".format(b / a)


def main(out):
    m = {}
    for line in open(os.path.join(out, "machine.txt")):
        k, _, v = line.strip().partition("=")
        m[k] = v
    flood = tuple(float(open(os.path.join(out, n)).read()) for n in ("flood-start.txt", "flood-end.txt"))
    tx = phases(read_log(os.path.join(out, "talker.hlog")), "tx_error", flood)
    rx = phases(read_log(os.path.join(out, "listener.hlog")), "latency", flood)
    talker = json.load(open(os.path.join(out, "talker.json")))
    listener = json.load(open(os.path.join(out, "listener.json")))
    ping = ping_stats(os.path.join(out, "ping.txt"))
    cap = capture(os.path.join(out, "wire.pcap"), m["talker_mac"], int(m["tai_offset_ns"]), flood)

    # Cross-check the decoder: the whole run from the log against the reports.
    check = {}
    for who, res, rep, key in (("talker", tx, talker, "tx_error_ns"), ("listener", rx, listener, "latency_ns")):
        r = rep.get("total", {}).get(key, {})
        check[who] = {"log": res["all"]["summary"], "report": r}

    rows = []
    lines = [
        "Ping flood on the control plane: {} ({}), {} s run, flood {:.1f} s (ping -f, {} in flight)".format(
            m.get("date"), m.get("commit"), m.get("duration_s"), flood[1] - flood[0], m.get("ping_preload")),
        "",
        "| phase | intervals (talker/listener) | frames (talker/listener) | tx error p50 / p99 / p99.9 / max (us) | latency p50 / p99 / p99.9 / max (us) |",
        "|---|---|---|---|---|",
    ]
    for ph in ("quiet", "flood"):
        t, r = tx[ph]["summary"], rx[ph]["summary"]
        rows.append({"phase": ph, "tx_error_ns": t, "latency_ns": r,
                     "intervals": [tx[ph]["intervals"], rx[ph]["intervals"]],
                     "negatives": [tx[ph]["negatives"], rx[ph]["negatives"]]})
        lines.append("| {} | {} / {} | {} / {} | {} | {} |".format(
            ph, tx[ph]["intervals"], rx[ph]["intervals"], t.get("frames", 0), r.get("frames", 0),
            " / ".join(us(t.get(k)) for k in ("p50", "p99", "p99.9", "max")),
            " / ".join(us(r.get(k)) for k in ("p50", "p99", "p99.9", "max"))))
    tq, tf, rq, rf = tx["quiet"]["summary"], tx["flood"]["summary"], rx["quiet"]["summary"], rx["flood"]["summary"]
    lines.append("| flood / quiet | | | p99 x{}, max x{} | p99 x{}, max x{} |".format(
        ratio(tq.get("p99"), tf.get("p99")), ratio(tq.get("max"), tf.get("max")),
        ratio(rq.get("p99"), rf.get("p99")), ratio(rq.get("max"), rf.get("max"))))
    tt, lt = talker.get("total", {}), listener.get("total", {})
    ctl = talker.get("control", {})
    lines += [
        "",
        "- late frames (talker, whole run: the report has only a total): {} of {} sent".format(
            tt.get("late"), tt.get("frames_sent")),
        "- cycles without a stream frame on the capture (= late frames, by phase): quiet {quiet}, "
        "flood {flood}, after the flood {after}".format(**cap["cycles_without_stream_frame"]),
        "- listener, whole run: {} received, {} lost, {} reordered, {} duplicates".format(
            lt.get("frames_received"), lt.get("lost"), lt.get("reordered"), lt.get("duplicates")),
        "- ping -f: {} sent, {} received ({}% loss) in {} ms; rtt min/avg/max/mdev {}/{}/{}/{} ms".format(
            ping.get("sent"), ping.get("received"), ping.get("loss_pct"), ping.get("time_ms"),
            ping.get("rtt_min_ms"), ping.get("rtt_avg_ms"), ping.get("rtt_max_ms"), ping.get("rtt_mdev_ms")),
        "- talker control plane: {}".format(json.dumps(ctl, sort_keys=True)),
        "- capture (b side, whole run): {} control frames from the talker ({}), {} inside the "
        "class 7 window (cycle offset < 100 us, TAI); offsets {}..{} us; stream frames captured {} "
        "(capture - launch p50 {} us, max {} us)".format(
            cap["control_frames"], ", ".join("{} {}".format(v, k) for k, v in sorted(cap["by_type"].items())),
            cap["inside_class7_window"], us(cap["cycle_offset_min_ns"]), us(cap["cycle_offset_max_ns"]),
            cap["stream_frames"], us(cap["stream_capture_delay_ns"]["p50"]), us(cap["stream_capture_delay_ns"]["max"])),
        "- machine: {}; steal over the run: {}".format(svgplot.machine_line(m), svgplot.steal(out) or "-"),
        "- negative values (.neg tags), whole run: tx error {}, latency {}".format(
            tx["all"]["negatives"], rx["all"]["negatives"]),
        "- intervals dropped (first one, straddling a switch, after the flood): talker {}, listener {}".format(
            tx["dropped_intervals"], rx["dropped_intervals"]),
        "- decoder check, whole run p99 / max (us): tx error log {} / {} vs report {} / {}; "
        "latency log {} / {} vs report {} / {}".format(
            us(check["talker"]["log"].get("p99")), us(check["talker"]["log"].get("max")),
            us(check["talker"]["report"].get("p99")), us(check["talker"]["report"].get("max")),
            us(check["listener"]["log"].get("p99")), us(check["listener"]["log"].get("max")),
            us(check["listener"]["report"].get("p99")), us(check["listener"]["report"].get("max"))),
    ]
    print("\n".join(lines))
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"machine": m, "flood_realtime_s": flood, "phases": rows,
                   "late_total": tt.get("late"), "frames_sent": tt.get("frames_sent"),
                   "listener_total": {k: lt.get(k) for k in ("frames_received", "lost", "reordered", "duplicates")},
                   "ping": ping, "control": ctl, "capture": cap, "decoder_check": check}, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
