//! The text report's `ports` and `frer` blocks (docs/reports.md): one line
//! per port, then the recovery parameters and one row per replicated
//! stream and per member path with the 802.1CB counters and the path's
//! latency.

use std::fmt::Write;

use super::frer::{FrerReport, PortReport};
use super::text::{render_table, write_us3};
use crate::frer::RecoveryCounters;
use takt_scheduler::printable;
use takt_scheduler::units::format_ns;

/// `ports` (only when the run drove more than one), then `frer`.
pub(super) fn write_text(out: &mut String, ports: &[PortReport], frer: Option<&FrerReport>) {
    if ports.len() > 1 {
        out.push('\n');
        let mut rows = vec![[
            "ports",
            "device",
            "tx",
            "rx",
            "tx_drops",
            "rx_drops",
            "link_down",
        ]
        .map(String::from)
        .to_vec()];
        for (i, p) in ports.iter().enumerate() {
            let c = &p.counters;
            rows.push(vec![
                format!("port {i}"),
                printable(&p.device).into_owned(),
                c.tx_frames.to_string(),
                c.rx_frames.to_string(),
                c.tx_drops.to_string(),
                c.rx_drops.to_string(),
                c.link_down.to_string(),
            ]);
        }
        render_table(out, &rows);
    }
    if let Some(f) = frer {
        out.push('\n');
        write_frer(out, f);
    }
}

fn onoff(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

const COLUMNS: [&str; 16] = [
    "frer",
    "device",
    "sent",
    "dropped",
    "passed",
    "discarded",
    "out_of_order",
    "rogue",
    "lost",
    "tagless",
    "resets",
    "latent_errors",
    "latent_resets",
    "p50 (us)",
    "p99 (us)",
    "max (us)",
];

fn write_frer(out: &mut String, f: &FrerReport) {
    let p = &f.params;
    let _ = write!(
        out,
        "frer: {} recovery, history {}, reset timeout {}, individual recovery {}, take no sequence {}, latent error detection {}",
        p.algorithm.as_str(),
        p.history_length,
        format_ns(p.reset_timeout_ns),
        onoff(p.individual_recovery),
        onoff(p.take_no_sequence),
        onoff(p.latent_error_detection),
    );
    if p.latent_error_detection {
        let _ = write!(
            out,
            " (difference {}, period {}, reset period {})",
            p.latent_error_difference,
            format_ns(p.latent_error_period_ns),
            format_ns(p.latent_reset_period_ns)
        );
    }
    out.push('\n');
    let mut rows = vec![COLUMNS.map(String::from).to_vec()];
    let dash = || "-".to_owned();
    let num = |v: Option<u64>| v.map_or_else(dash, |n| n.to_string());
    let us = |v: Option<i64>| {
        v.map_or_else(dash, |ns| {
            let mut s = String::new();
            let _ = write_us3(&mut s, ns);
            s
        })
    };
    for s in &f.streams {
        let mut row = vec![
            printable(&s.stream).into_owned(),
            dash(),
            num(s.generated),
            dash(),
        ];
        row.extend(recovery_cells(s.recovery.as_ref()));
        row.extend([dash(), dash(), dash()]);
        rows.push(row);
        for m in &s.members {
            let mut row = vec![
                format!("  port {}", m.port),
                printable(&m.device).into_owned(),
                num(m.sent),
                num(m.dropped),
            ];
            row.extend(recovery_cells(m.recovery.as_ref()));
            let l = m.latency_ns.as_ref().map(|l| l.summary());
            row.extend([
                us(l.and_then(|l| l.p50)),
                us(l.and_then(|l| l.p99)),
                us(l.and_then(|l| l.max)),
            ]);
            rows.push(row);
        }
    }
    render_table(out, &rows);
}

/// passed .. latent_resets, or dashes where no recovery ran (a talker).
fn recovery_cells(c: Option<&RecoveryCounters>) -> Vec<String> {
    match c {
        Some(c) => [
            c.passed,
            c.discarded,
            c.out_of_order,
            c.rogue,
            c.lost,
            c.tagless,
            c.resets,
            c.latent_errors,
            c.latent_error_resets,
        ]
        .map(|n| n.to_string())
        .to_vec(),
        None => vec!["-".to_owned(); 9],
    }
}
