//! `takt frames FILE`: a frames log (`--frames-log`) as CSV (one row per
//! record), as lines of a printf-style format, or with `--summary` the
//! report's per-stream histograms recomputed from the records.

use std::borrow::Cow;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use takt_scheduler::printable;
use takt_stack::frames::{
    flag_names, Diff, Ending, FrameRecord, FramesHeader, FramesReader, ReadError, RecordKind,
    Stage, FLAG_COUNTED, FLAG_DUPLICATE, FLAG_LATE, FLAG_UNSYNCED,
};
use takt_stack::stats::{write_us3, Metric, Summary};

use crate::frames_printf::Format;
use crate::run::{ReportFormat, EXIT_BAD_INPUT, EXIT_OK, EXIT_RUNTIME};

const TOOL: &str = "takt frames";

pub const AFTER_HELP: &str = "\
Examples:
  takt loopback docs/examples/two-class-250us.toml --duration 2s --frames-log run.frames
  takt frames run.frames > run.csv
      One CSV row per record: kind (tx, rx, return, mirror), stream, seq,
      flags (counted+unsynced+late+duplicate+outlier), the stage times
      S W H T R A in ns (empty: not seen at that end), then the named
      differences tx_error (H-S), wake_error (W-S), driver (T-H), wire (R-H),
      pickup (A-R), end_to_end (A-S), rtt (A-H) and rtt_device (R-H) where
      the record's kind defines them.
  takt frames run.frames --printf-format '%s %q %d{A-S}\\n'
      One line per record: stream name, sequence number and A minus S in ns
      (`-` when a stage is absent), e.g. `ctl 17 48211`.
      %S %W %H %T %R %A  a stage's time (ns)
      %d{X-Y}            stage X minus stage Y (ns), e.g. %d{R-H}
      %{name}            a named difference: tx_error, wake_error, driver,
                         wire, pickup, end_to_end, rtt, rtt_device
      %s %i %q %k %f     stream name, stream index, seq, kind, flags
      %%  \\n  \\t  \\\\     a percent sign, newline, tab, backslash
  takt frames run.frames --summary --report json
      The run report's per-stream histograms (tx_error_ns, latency_ns,
      latency_unsynced_ns, stages.<name>) recomputed from the records with
      FLAG_COUNTED, under the run report's key names.

A file cut short (the run was killed) is read up to its last whole record;
a note on stderr says how many. Layout: docs/frames-log.md.

Exit status:
  0  the file was read (also a file cut short)
  1  the output could not be written
  2  bad input: the file is missing, not a frames log, or damaged, or a
     flag or the --printf-format is wrong";

/// Flags of `takt frames`.
#[derive(clap::Args, Clone, Debug)]
pub struct FramesCmdArgs {
    /// A frames log written with --frames-log
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// One line per record in this format instead of CSV (see below)
    #[arg(long, value_name = "FMT", conflicts_with = "summary")]
    pub printf_format: Option<String>,
    /// Recompute the report's per-stream histograms from the records
    #[arg(long)]
    pub summary: bool,
    /// Output of --summary
    #[arg(long, value_enum, default_value = "text", requires = "summary")]
    pub report: ReportFormat,
}

/// Why the command stopped.
enum Failure {
    Input(String),
    Output(std::io::Error),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Output(e)
    }
}

pub fn main(args: &FramesCmdArgs) -> ExitCode {
    let format = match args.printf_format.as_deref().map(str::parse::<Format>) {
        Some(Err(e)) => {
            eprintln!("{TOOL}: --printf-format: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
        Some(Ok(f)) => Some(f),
        None => None,
    };
    let path = &args.file;
    let shown = printable(&path.display().to_string()).into_owned();
    let mut reader = match FramesReader::open(path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{TOOL}: {shown}: {}", open_hint(&e));
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = if args.summary {
        summary(&mut reader, args.report, path, &mut out)
    } else {
        rows(&mut reader, format.as_ref(), &mut out)
    }
    .and_then(|()| out.flush().map_err(Failure::from));
    match result {
        Ok(()) => {
            if let Some(Ending::Cut { partial_bytes }) = reader.ending() {
                eprintln!(
                    "{TOOL}: {shown} was cut short (no trailer: the run did not finish it): \
                     {} whole records read, {partial_bytes} bytes of a partial record ignored",
                    reader.records_read()
                );
            }
            ExitCode::from(EXIT_OK)
        }
        // `takt frames F | head`: not a failure.
        Err(Failure::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::from(EXIT_OK)
        }
        Err(Failure::Output(e)) => {
            eprintln!("{TOOL}: cannot write the output: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
        Err(Failure::Input(e)) => {
            let _ = out.flush();
            eprintln!("{TOOL}: {shown}: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn open_hint(e: &ReadError) -> String {
    match e {
        ReadError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            "no such file (write one with --frames-log FILE on a run)".into()
        }
        other => other.to_string(),
    }
}

fn next<R: std::io::Read>(r: &mut FramesReader<R>) -> Result<Option<FrameRecord>, Failure> {
    r.next_record()
        .map_err(|e| Failure::Input(format!("{e}; the records before it were read")))
}

/// The CSV header row.
pub fn csv_header() -> String {
    let mut h = String::from("kind,stream,seq,flags");
    for s in Stage::ALL {
        h.push(',');
        h.push(s.letter());
    }
    for d in Diff::ALL {
        h.push(',');
        h.push_str(d.name());
    }
    h
}

/// A CSV field, quoted when it must be (RFC 4180).
fn csv_field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// One CSV row (no newline).
pub fn csv_row(rec: &FrameRecord, header: &FramesHeader, names: &[String]) -> String {
    use std::fmt::Write as _;
    let name = names
        .get(usize::from(rec.stream))
        .map_or("", String::as_str);
    let flags: Vec<_> = flag_names(rec.flags).collect();
    let mut row = format!(
        "{},{},{},{}",
        rec.kind.as_str(),
        csv_field(name),
        rec.seq,
        flags.join("+")
    );
    for s in Stage::ALL {
        row.push(',');
        if let Some(t) = rec.get(s) {
            let _ = write!(row, "{t}");
        }
    }
    for d in Diff::ALL {
        row.push(',');
        if let Some(v) = d.of(rec, &header.rx_stamps) {
            let _ = write!(row, "{v}");
        }
    }
    row
}

fn rows<R: std::io::Read>(
    reader: &mut FramesReader<R>,
    format: Option<&Format>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let header = reader.header().clone();
    // Names from a schedule file: escaped, so a control character in one
    // cannot rewrite the terminal.
    let names: Vec<String> = header
        .streams
        .iter()
        .map(|n| printable(n).into_owned())
        .collect();
    if format.is_none() {
        writeln!(out, "{}", csv_header())?;
    }
    let mut line = String::new();
    while let Some(rec) = next(reader)? {
        match format {
            Some(f) => {
                line.clear();
                f.render(&mut line, &rec, &header, &names);
                out.write_all(line.as_bytes())?;
            }
            None => writeln!(out, "{}", csv_row(&rec, &header, &names))?,
        }
    }
    Ok(())
}

/// The histograms `--summary` keeps beyond the named differences.
const WIRE_UNSYNCED: usize = Diff::ALL.len();
const END_TO_END_UNSYNCED: usize = Diff::ALL.len() + 1;
const METRICS: usize = Diff::ALL.len() + 2;

fn metric_name(i: usize) -> &'static str {
    match i {
        WIRE_UNSYNCED => "wire_unsynced",
        END_TO_END_UNSYNCED => "end_to_end_unsynced",
        _ => Diff::ALL[i].name(),
    }
}

/// One stream's counts and histograms, each allocated on its first value
/// (a histogram is about 440 KiB).
#[derive(Default)]
struct StreamSummary {
    frames_sent: u64,
    late: u64,
    frames_received: u64,
    duplicates: u64,
    unsynced: u64,
    rogue: u64,
    returned: u64,
    metrics: [Option<Box<Metric>>; METRICS],
}

impl StreamSummary {
    fn record(&mut self, i: usize, v: Option<i64>) {
        if let Some(v) = v {
            self.metrics[i]
                .get_or_insert_with(|| Box::new(Metric::new()))
                .record(v);
        }
    }

    /// The report's definitions (docs/frames-log.md, "--summary").
    fn add(&mut self, rec: &FrameRecord, rx_stamps: &str) {
        let unsynced = rec.flags & FLAG_UNSYNCED != 0;
        match rec.kind {
            RecordKind::Tx if rec.flags & FLAG_LATE != 0 => self.late += 1,
            RecordKind::Tx => self.frames_sent += 1,
            RecordKind::Rx if rec.flags & FLAG_DUPLICATE != 0 => self.duplicates += 1,
            RecordKind::Rx if rec.flags & FLAG_COUNTED != 0 => self.frames_received += 1,
            // Neither counted nor a duplicate: a frame not believed.
            RecordKind::Rx => self.rogue += 1,
            RecordKind::Return => self.returned += 1,
            RecordKind::Mirror => {}
        }
        if unsynced && matches!(rec.kind, RecordKind::Tx | RecordKind::Rx) {
            self.unsynced += 1;
        }
        if rec.flags & FLAG_COUNTED == 0 {
            return;
        }
        for d in Diff::ALL {
            let v = d.of(rec, rx_stamps);
            let i = match d {
                Diff::Wire if unsynced => WIRE_UNSYNCED,
                Diff::EndToEnd if unsynced => END_TO_END_UNSYNCED,
                _ => d as usize,
            };
            self.record(i, v);
        }
    }

    fn merge(&mut self, o: &StreamSummary) {
        self.frames_sent += o.frames_sent;
        self.late += o.late;
        self.frames_received += o.frames_received;
        self.duplicates += o.duplicates;
        self.unsynced += o.unsynced;
        self.rogue += o.rogue;
        self.returned += o.returned;
        for (m, om) in self.metrics.iter_mut().zip(&o.metrics) {
            if let Some(om) = om {
                m.get_or_insert_with(|| Box::new(Metric::new())).merge(om);
            }
        }
    }

    /// As the run report's `stages.<name>`: the stages, the device stamp
    /// source in it, the summary.
    fn stage(&self, i: usize, header: &FramesHeader) -> StageJson {
        let d = match i {
            WIRE_UNSYNCED => Diff::Wire,
            END_TO_END_UNSYNCED => Diff::EndToEnd,
            _ => Diff::ALL[i],
        };
        let (_, from, to) = d.definition();
        let source = match d {
            Diff::Driver => Some(header.tx_stamps.clone()),
            Diff::Wire | Diff::Pickup => Some(header.rx_stamps.clone()),
            _ => None,
        };
        StageJson {
            from: from.letter().to_string(),
            to: to.letter().to_string(),
            source,
            summary: self.summary(i),
        }
    }

    fn summary(&self, i: usize) -> Summary {
        self.metrics[i]
            .as_ref()
            .map_or_else(Summary::default, |m| m.summary())
    }

    fn report(&self, name: &str, header: &FramesHeader) -> StreamJson {
        StreamJson {
            name: name.to_string(),
            frames_sent: self.frames_sent,
            late: self.late,
            frames_received: self.frames_received,
            duplicates: self.duplicates,
            unsynced: self.unsynced,
            rogue: self.rogue,
            returned: self.returned,
            tx_error_ns: self.summary(Diff::TxError as usize),
            latency_ns: self.summary(Diff::Wire as usize),
            latency_unsynced_ns: self.summary(WIRE_UNSYNCED),
            stages: (0..METRICS)
                .map(|i| (metric_name(i), self.stage(i, header)))
                .collect(),
        }
    }
}

/// One stream under the run report's key names.
#[derive(Serialize)]
struct StreamJson {
    name: String,
    frames_sent: u64,
    late: u64,
    frames_received: u64,
    duplicates: u64,
    unsynced: u64,
    /// rx records neither counted nor duplicates: frames not believed.
    rogue: u64,
    /// Return records (mirror round trips).
    returned: u64,
    tx_error_ns: Summary,
    latency_ns: Summary,
    latency_unsynced_ns: Summary,
    stages: std::collections::BTreeMap<&'static str, StageJson>,
}

/// One named difference: `to - from`, as the run report's stages.
#[derive(Serialize)]
struct StageJson {
    from: String,
    to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(flatten)]
    summary: Summary,
}

/// The whole `--summary --report json` document.
#[derive(Serialize)]
struct SummaryJson {
    file: String,
    end: &'static str,
    clock: String,
    device: String,
    rx_stamps: String,
    tx_stamps: String,
    created_unix_ns: u64,
    records: u64,
    /// True when the file has its trailer (the run finished writing it).
    complete: bool,
    /// Records the run dropped (ring full), from the trailer (null: cut).
    dropped: Option<u64>,
    streams: Vec<StreamJson>,
    total: StreamJson,
}

fn summary<R: std::io::Read>(
    reader: &mut FramesReader<R>,
    report: ReportFormat,
    path: &Path,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let header = reader.header().clone();
    let mut streams: Vec<StreamSummary> = header
        .streams
        .iter()
        .map(|_| StreamSummary::default())
        .collect();
    while let Some(rec) = next(reader)? {
        // The reader checked the index against the header.
        if let Some(s) = streams.get_mut(usize::from(rec.stream)) {
            s.add(&rec, &header.rx_stamps);
        }
    }
    let mut total = StreamSummary::default();
    for s in &streams {
        total.merge(s);
    }
    let dropped = match reader.ending() {
        Some(Ending::Complete(t)) => Some(t.dropped),
        _ => None,
    };
    match report {
        ReportFormat::Json => {
            let doc = SummaryJson {
                file: path.display().to_string(),
                end: header.end.as_str(),
                clock: header.clock.clone(),
                device: header.device.clone(),
                rx_stamps: header.rx_stamps.clone(),
                tx_stamps: header.tx_stamps.clone(),
                created_unix_ns: header.created_unix_ns,
                records: reader.records_read(),
                complete: dropped.is_some(),
                dropped,
                streams: streams
                    .iter()
                    .zip(&header.streams)
                    .map(|(s, n)| s.report(n, &header))
                    .collect(),
                total: total.report("total", &header),
            };
            let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
            writeln!(out, "{text}")?;
        }
        ReportFormat::Text => {
            let text = summary_text(&header, reader.records_read(), dropped, &streams, &total);
            out.write_all(text.as_bytes())?;
        }
    }
    Ok(())
}

fn summary_text(
    header: &FramesHeader,
    records: u64,
    dropped: Option<u64>,
    streams: &[StreamSummary],
    total: &StreamSummary,
) -> String {
    use std::fmt::Write as _;
    let p = |s: &str| printable(s).into_owned();
    let mut out = format!(
        "takt frames: {} log, device {}, clock {}, rx stamps {}, tx stamps {}\n",
        header.end.as_str(),
        p(&header.device),
        p(&header.clock),
        p(&header.rx_stamps),
        p(&header.tx_stamps)
    );
    match dropped {
        Some(d) => {
            let _ = writeln!(out, "{records} records (complete; {d} dropped by the run)");
        }
        None => {
            let _ = writeln!(out, "{records} records (cut short: no trailer)");
        }
    }
    out.push_str("times in microseconds (us), 3 decimals = 1 ns\n\n");
    let mut all: Vec<(String, &StreamSummary)> = header
        .streams
        .iter()
        .map(|n| p(n))
        .zip(streams.iter())
        .collect();
    all.push(("total".into(), total));
    let mut rows = vec![[
        "stream",
        "sent",
        "late",
        "received",
        "duplicates",
        "unsynced",
        "rogue",
        "returned",
    ]
    .map(String::from)
    .to_vec()];
    for (n, s) in &all {
        rows.push(vec![
            n.clone(),
            s.frames_sent.to_string(),
            s.late.to_string(),
            s.frames_received.to_string(),
            s.duplicates.to_string(),
            s.unsynced.to_string(),
            s.rogue.to_string(),
            s.returned.to_string(),
        ]);
    }
    takt_stack::stats::render_table(&mut out, &rows);
    let us = |v: Option<i64>| {
        v.map_or_else(
            || "-".to_string(),
            |ns| {
                let mut s = String::new();
                let _ = write_us3(&mut s, ns);
                s
            },
        )
    };
    for i in 0..METRICS {
        if total.metrics[i].is_none() {
            continue;
        }
        let title = format!("{} (us)", metric_name(i));
        let mut rows = vec![takt_stack::stats::summary_header(&[title.as_str()])];
        for (n, s) in &all {
            let m = s.summary(i);
            rows.push(vec![
                n.clone(),
                us(m.min),
                us(m.p50),
                us(m.p90),
                us(m.p99),
                us(m.p999),
                us(m.max),
                us(m.mean.map(|x| x.round() as i64)),
                m.count.to_string(),
                m.overflows.to_string(),
            ]);
        }
        out.push('\n');
        takt_stack::stats::render_table(&mut out, &rows);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_quote_names_and_leave_absent_stages_empty() {
        let h = FramesHeader {
            rx_stamps: "simulated".into(),
            streams: vec!["a,b \"x\"".into()],
            ..FramesHeader::default()
        };
        let mut r = FrameRecord::new(RecordKind::Rx, 0, 9);
        r.flags = FLAG_COUNTED;
        r.set(Stage::Scheduled, 10);
        r.set(Stage::HandOver, 12);
        r.set(Stage::RxStamp, 20);
        r.set(Stage::App, 25);
        assert_eq!(
            csv_header(),
            "kind,stream,seq,flags,S,W,H,T,R,A,tx_error,wake_error,driver,wire,pickup,end_to_end,rtt,rtt_device"
        );
        assert_eq!(
            csv_row(&r, &h, &h.streams),
            "rx,\"a,b \"\"x\"\"\",9,counted,10,,12,,20,25,,,,8,5,15,,"
        );
    }

    #[test]
    fn the_summary_follows_the_reports_definitions() {
        let mut s = StreamSummary::default();
        let mut tx = FrameRecord::new(RecordKind::Tx, 0, 1);
        tx.flags = FLAG_COUNTED;
        tx.set(Stage::Scheduled, 100);
        tx.set(Stage::Wake, 95);
        tx.set(Stage::HandOver, 103);
        s.add(&tx, "simulated");
        let mut late = FrameRecord::new(RecordKind::Tx, 0, 2);
        late.flags = FLAG_LATE;
        late.set(Stage::Scheduled, 200);
        s.add(&late, "simulated");
        let mut rx = FrameRecord::new(RecordKind::Rx, 0, 1);
        rx.flags = FLAG_COUNTED | FLAG_UNSYNCED;
        rx.set(Stage::Scheduled, 100);
        rx.set(Stage::HandOver, 103);
        rx.set(Stage::RxStamp, 150);
        rx.set(Stage::App, 170);
        s.add(&rx, "receive-poll");
        let mut dup = rx;
        dup.flags = FLAG_DUPLICATE;
        s.add(&dup, "receive-poll");
        let mut rogue = rx;
        rogue.flags = 0;
        s.add(&rogue, "receive-poll");
        let j = s.report("a", &FramesHeader::default());
        assert_eq!((j.frames_sent, j.late), (1, 1));
        assert_eq!((j.frames_received, j.duplicates, j.unsynced), (1, 1, 1));
        assert_eq!(j.rogue, 1);
        assert_eq!(j.tx_error_ns.max, Some(3));
        assert_eq!(j.stages["wake_error"].summary.max, Some(-5));
        assert_eq!(
            (
                j.stages["wake_error"].from.as_str(),
                j.stages["wake_error"].to.as_str()
            ),
            ("S", "W")
        );
        assert_eq!(j.stages["driver"].summary.count, 0);
        // Out of sync: into the unsynced histograms, not wire / end_to_end.
        assert_eq!(j.latency_ns.count, 0);
        assert_eq!(j.latency_unsynced_ns.max, Some(47));
        assert_eq!(j.stages["end_to_end_unsynced"].summary.max, Some(70));
        // receive-poll: R is when userland looked, so no pickup.
        assert_eq!(j.stages["pickup"].summary.count, 0);
    }
}
