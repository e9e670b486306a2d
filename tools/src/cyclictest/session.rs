//! One takt-cyclictest run: set every thread up (rt::prepare), print the
//! environment header, start them together, show the live lines, stop at
//! -l / -D / a signal, and write the summary, histogram, JSON and interval
//! log.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use takt_scheduler::rt;
use takt_stack::stats::{merge_interval_logs, IntervalLog, IntervalLogConfig, StatsError};

use super::flags::{self, CyclictestArgs};
use super::measure::{self, Shared, ThreadBuffers, ThreadPlan, ThreadResult, CLOCK};
use super::output;
use crate::run::{EXIT_BAD_INPUT, EXIT_OK, EXIT_RUNTIME};

/// How often the main thread looks at the threads (as cyclictest: 10 ms).
const POLL: Duration = Duration::from_millis(10);
/// How often the live lines are redrawn.
const REFRESH: Duration = Duration::from_millis(100);

/// Runs takt-cyclictest with parsed flags; returns the exit code.
pub fn main(args: &CyclictestArgs) -> ExitCode {
    let plans = match args.plan(&flags::allowed_cpus()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("takt-cyclictest: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if let Err(code) = crate::run::catch_signals() {
        return code;
    }
    ExitCode::from(run(args, &plans))
}

/// Set-up outcome a thread sends back before measuring.
type Ready = Result<(usize, String, Vec<String>), String>;

fn run(args: &CyclictestArgs, plans: &[ThreadPlan]) -> u8 {
    let started = SystemTime::now();
    let base_ns = CLOCK.now_ns();
    let shared = Arc::new(Shared::new(plans.len()));

    // Interval logs are made here, so a bad path is reported before anything runs.
    let mut logs = Vec::new();
    for p in plans {
        let Some(path) = &args.hist_log else {
            logs.push(None);
            continue;
        };
        let mut cfg = IntervalLogConfig::new(started);
        cfg.comments
            .push(format!("takt-cyclictest thread {}", p.index));
        let tag = format!("thread{}", p.index);
        // A new `.threadN.part` next to the log, never through a link.
        match IntervalLog::create_part(path, &tag, std::slice::from_ref(&tag), base_ns, &cfg) {
            Ok(l) => logs.push(Some(l)),
            Err(e) => {
                eprintln!("takt-cyclictest: --hist-log: {e}");
                for l in logs.iter().flatten() {
                    let _ = std::fs::remove_file(l.path());
                }
                return EXIT_RUNTIME;
            }
        }
    }

    let (ready_tx, ready_rx) = mpsc::channel::<Ready>();
    let mut handles = Vec::new();
    for (plan, log) in plans.iter().cloned().zip(logs) {
        let index = plan.index;
        let shared = Arc::clone(&shared);
        let ready = ready_tx.clone();
        let bufs = ThreadBuffers::new(&plan, log);
        let spawned = std::thread::Builder::new()
            .name(format!("cyclic{}", plan.index))
            .spawn(move || {
                let guard = match measure::prepare(&plan) {
                    Ok(g) => g,
                    Err(e) => {
                        let _ = ready.send(Err(format!("thread {}: {e}", plan.index)));
                        // Still meet the others at the start line, then leave.
                        shared.stop.store(true, Ordering::Relaxed);
                        shared.start.wait();
                        return None;
                    }
                };
                let r = guard.report();
                let _ = ready.send(Ok((index, r.summary(), r.warnings.clone())));
                drop(ready);
                let result = measure::run_thread(&plan, &shared, bufs);
                drop(guard);
                Some(result)
            });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                eprintln!("takt-cyclictest: cannot start thread {index}: {e}");
                // The threads already started wait at the start line for
                // all of them and cannot be joined: end the process.
                std::process::exit(i32::from(EXIT_RUNTIME));
            }
        }
    }
    drop(ready_tx);

    // Every thread reports its set-up before anyone measures.
    let mut failed = false;
    let mut header = vec![format!(
        "# takt-cyclictest {}: {} thread(s), clock monotonic, wake {}{}",
        env!("CARGO_PKG_VERSION"),
        plans.len(),
        args.wake,
        if args.wake == rt::Wake::Hybrid {
            format!(" (margin {} us)", args.wake_config().margin_ns / 1000)
        } else {
            String::new()
        }
    )];
    let mut ready = Vec::new();
    for _ in plans {
        match ready_rx.recv() {
            Ok(Ok(r)) => ready.push(r),
            Ok(Err(e)) => {
                eprintln!("takt-cyclictest: {e}");
                failed = true;
            }
            Err(_) => failed = true,
        }
    }
    if let Some(w) = spin_throttle_warning(args) {
        header.push(format!("# warning: {w}"));
    }
    ready.sort_by_key(|r| r.0);
    let mut rt_json = Vec::new();
    for (_, summary, warnings) in ready {
        header.push(format!("# {summary}"));
        header.extend(warnings.iter().map(|w| format!("# warning: {w}")));
        rt_json.push(json!({"summary": summary, "warnings": warnings}));
    }
    if failed {
        shared.stop.store(true, Ordering::Relaxed);
    }
    if !failed {
        let mut out = std::io::stdout().lock();
        for l in &header {
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
    }
    shared.start.wait();

    // Wait for the end: loops done (a thread sets stop), -D, or a signal.
    let live = !args.quiet && std::io::stdout().is_terminal() && !failed;
    let until = args
        .duration_ns
        .map(|d| Instant::now() + Duration::from_nanos(d));
    let mut next_draw = Instant::now();
    let mut drawn = false;
    while !shared.stop.load(Ordering::Relaxed) && !rt::stop_requested() {
        if until.is_some_and(|u| Instant::now() >= u) {
            break;
        }
        if live && Instant::now() >= next_draw {
            draw_live(&shared, plans, drawn);
            drawn = true;
            next_draw += REFRESH;
        }
        std::thread::sleep(POLL);
    }
    shared.stop.store(true, Ordering::Relaxed);
    let mut results: Vec<ThreadResult> = handles
        .into_iter()
        .filter_map(|h| h.join().ok().flatten())
        .collect();
    results.sort_by_key(|r| r.index);
    if failed {
        return EXIT_RUNTIME;
    }
    if drawn {
        // Back to the top of the live block, so the final lines replace it.
        print!("\x1b[{}A", plans.len() + 2);
    }
    finish(args, plans, results, started, base_ns, rt_json, drawn)
}

/// A SCHED_FIFO thread that spins never leaves its CPU, and the kernel's
/// real-time throttling then stops it for (period - runtime) every period:
/// 50 ms a second by default, which shows as ~50 ms maxima. Say so up front.
fn spin_throttle_warning(args: &CyclictestArgs) -> Option<String> {
    if args.wake != rt::Wake::Spin || args.priority.is_none() {
        return None;
    }
    let read = |f: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{f}"))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
    };
    let (runtime, period) = (read("sched_rt_runtime_us")?, read("sched_rt_period_us")?);
    (runtime >= 0 && runtime < period).then(|| {
        format!(
            "--wake spin at SCHED_FIFO keeps its CPU busy, and real-time throttling \
             (kernel.sched_rt_runtime_us = {runtime} of {period}) stops it for {} ms every {} ms: \
             expect maxima that long; use --wake hybrid, or give the CPU nothing else to run",
            (period - runtime) / 1000,
            period / 1000
        )
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn policy(plans: &[ThreadPlan]) -> &'static str {
    if plans.iter().any(|p| p.priority.is_some()) {
        "fifo"
    } else {
        "other"
    }
}

/// The first two lines of cyclictest's live block.
fn live_header(plans: &[ThreadPlan]) -> String {
    format!(
        "policy: {}: loadavg: {}          \n\n",
        policy(plans),
        loadavg()
    )
}

/// cyclictest's live block: policy/loadavg, an empty line, one line per
/// thread, then the cursor back up to redraw it in place.
fn draw_live(shared: &Shared, plans: &[ThreadPlan], redraw: bool) {
    let mut s = String::new();
    if redraw {
        s.push_str(&format!("\x1b[{}A", plans.len() + 2));
    }
    s.push_str(&live_header(plans));
    for p in plans {
        let l = &shared.live[p.index];
        let (c, min, act, avg, max) = l.snapshot();
        output::thread_line(
            &mut s,
            p.index,
            l.tid.load(Ordering::Relaxed),
            p.priority.unwrap_or(0),
            p.interval_ns / 1000,
            c,
            output::us(min),
            output::us(act),
            output::us(avg),
            output::us(max),
        );
        s.push_str("\x1b[K\n");
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// The end of a run: thread lines, heap operations, histogram (stdout or
/// --histfile), --json, the merged interval log.
fn finish(
    args: &CyclictestArgs,
    plans: &[ThreadPlan],
    mut results: Vec<ThreadResult>,
    started: SystemTime,
    base_ns: u64,
    rt_json: Vec<serde_json::Value>,
    drawn: bool,
) -> u8 {
    let mut code = EXIT_OK;
    let end_ns = CLOCK.now_ns();
    let mut text = String::new();
    let hist = args.histogram_buckets();
    // cyclictest: with -q and -h only the histogram; else the final lines.
    if !(args.quiet && hist.is_some()) {
        if drawn {
            // The final state of the live block, drawn over it.
            text.push_str(&live_header(plans));
        }
        for r in &results {
            let m = &r.latency;
            let avg = if m.count() > 0 {
                (m.sum() / i128::from(m.count())) as i64
            } else {
                0
            };
            output::thread_line(
                &mut text,
                r.index,
                r.tid,
                plans[r.index].priority.unwrap_or(0),
                r.interval_ns / 1000,
                m.count(),
                output::us(m.min().unwrap_or(0)),
                output::us(r.last_ns),
                output::us(avg),
                output::us(m.max().unwrap_or(0)),
            );
            // Over a live block: clear what its longer lines left.
            text.push_str(if drawn { "\x1b[K\n" } else { "\n" });
        }
    }
    let heap: Option<u64> = results
        .iter()
        .map(|r| r.allocations.map(|a| a.allocs + a.frees))
        .sum();
    match heap {
        Some(n) => text.push_str(&format!("# heap operations in the measurement loop: {n}\n")),
        None => text.push_str("# heap operations in the measurement loop: not counted\n"),
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());

    if let Some((buckets, histofall)) = hist {
        let written =
            match &args.histfile {
                // Replaced, not written through: a link at `path` is not followed.
                Some(path) => takt_stack::stats::out_file::replace(path, |f| {
                    output::write_histogram(f, &results, buckets, histofall)
                })
                .map_err(|source| StatsError::Io {
                    path: path.clone(),
                    source,
                }),
                None => output::write_histogram(&mut out, &results, buckets, histofall).map_err(
                    |source| StatsError::Io {
                        path: "stdout".into(),
                        source,
                    },
                ),
            };
        if let Err(e) = written {
            eprintln!("takt-cyclictest: {e}");
            code = EXIT_RUNTIME;
        }
    }
    if out.flush().is_err() {
        code = EXIT_RUNTIME;
    }
    drop(out);

    if let Some(path) = &args.hist_log {
        let mut parts = Vec::new();
        for r in &mut results {
            if let Some(log) = r.hist_log.take() {
                parts.push(log.path().to_path_buf());
                if let Err(e) = log.finish(end_ns) {
                    eprintln!("takt-cyclictest: --hist-log: {e}");
                    code = EXIT_RUNTIME;
                }
            }
        }
        if let Err(e) = merge_interval_logs(&parts, path) {
            eprintln!("takt-cyclictest: --hist-log: {e}");
            code = EXIT_RUNTIME;
        }
        for p in &parts {
            let _ = std::fs::remove_file(p);
        }
    }

    if let Some(path) = &args.json {
        let cmdline: Vec<String> = std::env::args().collect();
        let run = output::JsonRun {
            cmdline: &cmdline.join(" "),
            start_time: &output::rfc2822_utc(started),
            end_time: &output::rfc2822_utc(SystemTime::now()),
            return_code: code,
            priority: args.priority,
            buckets: hist.map(|(n, _)| n),
            takt: json!({
                "wake": args.wake.to_string(),
                "margin_ns": args.wake_config().margin_ns,
                "clock": "monotonic",
                "elapsed_ns": end_ns.saturating_sub(base_ns),
                "heap_operations_in_measurement_loop": heap,
                "rt": rt_json,
            }),
        };
        let doc = output::json_file(&run, &results);
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        if let Err(e) = takt_stack::stats::write_report_file(path, &text) {
            eprintln!("takt-cyclictest: --json: {e}");
            code = EXIT_RUNTIME;
        }
    }
    code
}
