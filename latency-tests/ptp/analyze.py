#!/usr/bin/env python3
"""Quiet vs PTP flood table of one latency-tests/ptp/run.sh run.

    python3 latency-tests/ptp/analyze.py RESULTS_DIR

Splits the talker's and listener's HdrHistogram interval logs at the
flood's start and end (flood-start.txt, flood-end.txt, realtime) into
"quiet" and "flood" exactly as latency-tests/control/analyze.py does (its
decoder and phase split are imported from there), and prints per phase
frames, tx error / latency p50, p99, p99.9, max (us), late frames (stream
frames missing on the capture, per stream) and the listener's |offset from
the master| (the log's ptp.offset series, from its first lock on); then the
talker's PTP counters (received by type, refused by reason, dropped), what
the flooder sent, how the two add up, and the capture check (PTP frames
from the talker inside the class 7 window). Writes summary.json next to
the logs. Standard library only.
"""

import importlib.util
import json
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
import svgplot  # noqa: E402  (machine line, steal time)

_spec = importlib.util.spec_from_file_location("control_analyze", os.path.join(here, "..", "control", "analyze.py"))
ctl = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ctl)

CYCLE_NS = 1_000_000      # docs/examples/time-sync.toml: cycle_time
CLASS7_END_NS = 100_000   # class 7 window: 0..100 us of each cycle (TAI, base_time 0)
PTP_TYPES = {0x0: "SYNC", 0x1: "DELAY_REQ", 0x2: "PDELAY_REQ", 0x3: "PDELAY_RESP", 0x8: "FOLLOW_UP",
             0x9: "DELAY_RESP", 0xA: "PDELAY_RESP_FOLLOW_UP", 0xB: "ANNOUNCE", 0xC: "SIGNALING",
             0xD: "MANAGEMENT"}


def log_start(path):
    """The log's StartTime (realtime s)."""
    with open(path) as f:
        for line in f:
            if line.startswith("#[StartTime: "):
                return float(line.split()[1])
    return 0.0


def offset_phases(path, flood, from_s):
    """|offset| per phase from ptp.offset and ptp.offset.neg, intervals
    starting at or after from_s (realtime) only: before the first lock the
    slave is still converging."""
    t_start, t_end = flood
    res = {k: {} for k in ("quiet", "flood")}
    dropped = 0
    for tag, t0, t1, counts in ctl.read_log(path):
        if tag not in ("ptp.offset", "ptp.offset.neg"):
            continue
        if t0 < from_s:
            dropped += 1
        elif t1 <= t_start:
            ctl.add(res["quiet"], counts)
        elif t0 >= t_start and t1 <= t_end:
            ctl.add(res["flood"], counts)
        else:
            dropped += 1
    out = {k: ctl.summary(v) for k, v in res.items()}
    out["dropped_intervals"] = dropped
    return out


def capture(path, mac, tai_off, flood):
    """What the talker put on the wire (b's side, -Q in): stream frames per
    VLAN (launch time in the stream header) and the cycles each is missing
    in, by phase (a late frame is not sent); PTP frames by type and their
    cycle offsets (TAI) against the class 7 window."""
    src = bytes(int(x, 16) for x in mac.split(":"))
    start_tai, end_tai = (int(x * 1e9) + tai_off for x in flood)
    launches, ptp_types, offsets, other = {}, {}, [], 0
    gaps, last = {"quiet": 0, "flood": 0, "after": 0}, None
    for t, f in ctl.pcap_records(path):
        if len(f) < 15 or f[6:12] != src:
            continue
        if last is not None:  # a gap counts in the phase it began in
            tai = last + tai_off
            ph = "quiet" if tai < start_tai else "flood" if tai <= end_tai else "after"
            gaps[ph] = max(gaps[ph], t - last)
        last = t
        if f[12:14] == b"\x81\x00" and len(f) >= 42 and f[16:18] == b"\x88\xb5":
            vid = struct.unpack(">H", f[14:16])[0] & 0x0FFF
            launches.setdefault(vid, []).append(struct.unpack(">Q", f[34:42])[0])
        elif f[12:14] == b"\x88\xf7":
            name = PTP_TYPES.get(f[14] & 0x0F, "reserved")
            ptp_types[name] = ptp_types.get(name, 0) + 1
            offsets.append((t + tai_off) % CYCLE_NS)
        else:
            other += 1
    missing = {"quiet": 0, "flood": 0, "after": 0}
    for vid, ls in launches.items():
        cycles = sorted(set(x // CYCLE_NS for x in ls))
        for a, b in zip(cycles, cycles[1:]):
            for c in range(a + 1, b):
                t = c * CYCLE_NS
                missing["quiet" if t < start_tai else "flood" if t <= end_tai else "after"] += 1
    inside = sorted(o for o in offsets if o < CLASS7_END_NS)
    return {
        "stream_frames": {str(v): len(ls) for v, ls in sorted(launches.items())},
        "missing_stream_frames": missing,
        "longest_gap_ns": gaps,
        "ptp_frames": len(offsets),
        "ptp_by_type": ptp_types,
        "ptp_inside_class7_window": len(inside),
        "ptp_inside_offsets_ns": inside[:20],
        "ptp_cycle_offset_min_ns": min(offsets) if offsets else None,
        "other_frames": other,
    }


def rt_threads(out, flood):
    """Other programs' real-time threads run.sh saw (sampled every 0.5 s),
    by phase: {phase: {"samples": n, "threads": sorted names}}."""
    res = {k: {"samples": 0, "threads": set()} for k in ("quiet", "flood", "after")}
    path = os.path.join(out, "rt-threads.txt")
    if os.path.exists(path):
        for line in open(path):
            parts = line.split()
            if len(parts) < 2:
                continue
            t = float(parts[0])
            ph = "quiet" if t < flood[0] else "flood" if t <= flood[1] else "after"
            res[ph]["samples"] += 1
            res[ph]["threads"].update("/".join(p.split("/")[1:]) for p in parts[1:])
    for r in res.values():
        r["threads"] = sorted(r["threads"])
    return res


def link_drops(out):
    """Flood frames the kernel dropped on the veth pair: b's transmit drops
    (a's receive backlog was full). a's own "rx dropped" is left out: it
    counts frames no kernel protocol took after the sockets had them."""
    try:
        s = json.load(open(os.path.join(out, "link-b.json")))[0]["stats64"]["tx"]
        return {"b_tx_dropped": s.get("dropped", 0)}
    except (OSError, ValueError, KeyError, IndexError):
        return {"b_tx_dropped": None}


def us(ns):
    return "-" if ns is None else "{:.1f}".format(ns / 1000.0)


def pct(s, keys=("p50", "p99", "p99.9", "max")):
    return " / ".join(us(s.get(k)) for k in keys)


def counts(d):
    return ", ".join("{} {}".format(k, v) for k, v in sorted((d or {}).items(), key=lambda kv: -kv[1])) or "none"


def main(out):
    m = svgplot.machine(out)
    flood = tuple(float(open(os.path.join(out, n)).read()) for n in ("flood-start.txt", "flood-end.txt"))
    tx = ctl.phases(ctl.read_log(os.path.join(out, "talker.hlog")), "tx_error", flood)
    rx = ctl.phases(ctl.read_log(os.path.join(out, "listener.hlog")), "latency", flood)
    talker = json.load(open(os.path.join(out, "talker.json")))
    listener = json.load(open(os.path.join(out, "listener.json")))
    fl = json.load(open(os.path.join(out, "flood.json")))
    tp, lp = talker.get("ptp", {}), listener.get("ptp", {})
    lock_ns = lp.get("time_to_first_lock_ns")
    lstart = log_start(os.path.join(out, "listener.hlog"))
    off = offset_phases(os.path.join(out, "listener.hlog"), flood,
                        lstart + (lock_ns / 1e9 if lock_ns is not None else float("inf")))
    cap = capture(os.path.join(out, "wire.pcap"), m["talker_mac"], int(m["tai_offset_ns"]), flood)
    drops = link_drops(out)
    rt = rt_threads(out, flood)

    lines = [
        "PTP flood into the talker: {} ({}), {} s run, flood {:.1f} s: {} at {} frames/s asked, "
        "{:.0f} sent (flooder on CPU {})".format(
            m.get("date"), m.get("commit"), m.get("duration_s"), flood[1] - flood[0], fl.get("kind"),
            fl.get("rate"), fl.get("pps", 0), m.get("flood_cpu")),
        "",
        "| phase | intervals (talker/listener) | frames (talker/listener) | tx error p50 / p99 / p99.9 / max (us) "
        "| latency p50 / p99 / p99.9 / max (us) | late (capture) | listener \\|offset\\| p50 / p99 / max (us), samples |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = []
    for ph in ("quiet", "flood"):
        t, r, o = tx[ph]["summary"], rx[ph]["summary"], off[ph]
        rows.append({"phase": ph, "tx_error_ns": t, "latency_ns": r, "abs_offset_ns": o,
                     "late": cap["missing_stream_frames"][ph],
                     "intervals": [tx[ph]["intervals"], rx[ph]["intervals"]]})
        lines.append("| {} | {} / {} | {} / {} | {} | {} | {} | {}, {} |".format(
            ph, tx[ph]["intervals"], rx[ph]["intervals"], t.get("frames", 0), r.get("frames", 0),
            pct(t), pct(r), cap["missing_stream_frames"][ph], pct(o, ("p50", "p99", "max")),
            o.get("frames", 0)))
    tt, lt = talker.get("total", {}), listener.get("total", {})
    dc = talker.get("device_counters") or {}
    read = tp.get("rx_messages", 0) + tp.get("rx_rejected", 0) + tp.get("rx_dropped", 0)
    kernel = dc.get("rx_drops", 0) + (drops.get("b_tx_dropped") or 0)
    lines += [
        "",
        "- late frames (talker report, whole run): {} of {} sent; missing on the capture: quiet {quiet}, "
        "flood {flood}, after the flood {after}".format(
            tt.get("late"), tt.get("frames_sent"), **cap["missing_stream_frames"]),
        "- listener, whole run: {} received, {} lost, {} reordered, {} duplicates; {} unsynced samples".format(
            lt.get("frames_received"), lt.get("lost"), lt.get("reordered"), lt.get("duplicates"),
            lp.get("unsynced_samples")),
        "- flooder: {} frames ({} Pdelay_Req, {} garbage, {} Sync, {} Follow_Up, {} Announce) as {}".format(
            fl.get("frames"), fl.get("pdelay_req"), fl.get("garbage"), fl.get("sync"), fl.get("follow_up"),
            fl.get("announce"), fl.get("source_port_identity")),
        "- talker PTP port: {}, {} clock steps, {} sync losses; received {} ({}); refused {} ({}); "
        "dropped {} (queue to the PTP thread full)".format(
            tp.get("port_state"), tp.get("clock_steps"), tp.get("sync_losses"), tp.get("rx_messages"),
            counts(tp.get("rx_by_type")), tp.get("rx_rejected"), counts(tp.get("rx_rejected_by_reason")),
            tp.get("rx_dropped")),
        "- talker sent {} ({}); {} dropped, {} tx stamps missing".format(
            tp.get("tx_messages"), counts(tp.get("tx_by_type")), tp.get("tx_dropped"),
            tp.get("tx_stamps_missing")),
        "- accounting: the talker read {} PTP frames (received + refused + dropped) of the flood's {} and the "
        "listener's {}; kernel drops {} (talker's socket {}, veth b tx {})".format(
            read, fl.get("frames"), lp.get("tx_messages"), kernel, dc.get("rx_drops"),
            drops.get("b_tx_dropped")),
        "- listener PTP port: {}, {} clock steps, {} sync losses, locked after {} s; refused {} ({})".format(
            lp.get("port_state"), lp.get("clock_steps"), lp.get("sync_losses"),
            "-" if lock_ns is None else "{:.2f}".format(lock_ns / 1e9), lp.get("rx_rejected"),
            counts(lp.get("rx_rejected_by_reason"))),
        "- capture (b side, frames from the talker): {} PTP frames ({}), {} inside the class 7 window "
        "(cycle offset < 100 us, TAI), earliest offset {} us; stream frames by VLAN {}".format(
            cap["ptp_frames"], counts(cap["ptp_by_type"]), cap["ptp_inside_class7_window"],
            us(cap["ptp_cycle_offset_min_ns"]), cap["stream_frames"]),
        "- machine: {}; load {}; steal over the run: {}".format(
            svgplot.machine_line(m), m.get("loadavg"), svgplot.steal(out) or "-"),
        "- longest time without a frame from the talker on the capture (a stall; it sends every "
        "1 ms): quiet {} ms, flood {} ms".format(
            *("{:.1f}".format(cap["longest_gap_ns"][ph] / 1e6) for ph in ("quiet", "flood"))),
        "- other programs' real-time threads (name/priority/cpu; sampled every 0.5 s): quiet {} samples {}, "
        "flood {} samples {}".format(
            rt["quiet"]["samples"], rt["quiet"]["threads"] or "", rt["flood"]["samples"],
            rt["flood"]["threads"] or ""),
        "- intervals dropped (first one, straddling a switch, after the flood): talker {}, listener {}, "
        "offset {} (also before the first lock)".format(
            tx["dropped_intervals"], rx["dropped_intervals"], off["dropped_intervals"]),
    ]
    print("\n".join(lines))
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"machine": m, "flood_realtime_s": flood, "phases": rows, "late_total": tt.get("late"),
                   "frames_sent": tt.get("frames_sent"), "flood": fl, "talker_ptp": tp, "listener_ptp": lp,
                   "talker_read": read, "kernel_drops": kernel, "link_drops": drops, "capture": cap,
                   "other_rt_threads": rt},
                  f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
