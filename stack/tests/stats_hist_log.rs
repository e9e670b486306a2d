//! The HdrHistogram interval log, read back with hdrhistogram's own
//! `IntervalLogIterator` and `Deserializer`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use takt_stack::stats::{stream_slot, IntervalLog, IntervalLogConfig, MetricKind, StatsError};

/// Standard base64 (RFC 4648) decoder, enough for the log's payloads.
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c) << (18 - 6 * i);
        }
        let n = chunk.len() * 6 / 8;
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    out
}

struct Line {
    tag: String,
    start: Duration,
    length: Duration,
    max: f64,
    hist: Histogram<u64>,
}

struct Log {
    start_time: Option<Duration>,
    base_time: Option<Duration>,
    lines: Vec<Line>,
}

fn read_log(bytes: &[u8]) -> Log {
    let mut log = Log {
        start_time: None,
        base_time: None,
        lines: Vec::new(),
    };
    let mut de = Deserializer::new();
    for entry in IntervalLogIterator::new(bytes) {
        match entry.expect("log parses") {
            LogEntry::StartTime(t) => log.start_time = Some(t),
            LogEntry::BaseTime(t) => log.base_time = Some(t),
            LogEntry::Interval(i) => {
                let raw = base64_decode(i.encoded_histogram());
                let hist: Histogram<u64> =
                    de.deserialize(&mut raw.as_slice()).expect("V2 histogram");
                log.lines.push(Line {
                    tag: i.tag().expect("tagged").as_str().to_string(),
                    start: i.start_timestamp(),
                    length: i.duration(),
                    max: i.max(),
                    hist,
                });
            }
        }
    }
    log
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("takt-{name}-{}.hlog", std::process::id()))
}

const SEC: u64 = 1_000_000_000;

#[test]
fn interval_log_round_trips_through_hdrhistogram() {
    let path = temp_path("hlog-roundtrip");
    let start_time = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
    let mut config = IntervalLogConfig::new(start_time);
    config.spare_sets = 4; // enough for every boundary below, whatever the timing
    config.comments.push("takt-listener --hist-log test".into());
    let base = 5 * SEC;
    let mut log = IntervalLog::for_streams(&path, &["s0", "s 1"], base, &config).unwrap();
    assert_eq!(
        log.tags(),
        ["s0.tx_error", "s0.latency", "s_1.tx_error", "s_1.latency"]
    );

    // 3.5 s of fake time, one frame per ms. s0 latency: 10 us + (i % 1000)
    // ns; s_1 tx error: -2000 ..= 1996 ns in seconds 1 and 3, positive else.
    let mut expected: BTreeMap<(String, u64), u64> = BTreeMap::new();
    let mut rotations = 0;
    for i in 0..3500u64 {
        let now = base + i * 1_000_000;
        if log.tick(now) {
            rotations += 1;
        }
        let second = i / 1000;
        log.record_stream(0, MetricKind::Latency, 10_000 + (i % 1000) as i64);
        *expected.entry(("s0.latency".into(), second)).or_default() += 1;
        let tx = if second % 2 == 1 {
            (i % 1000) as i64 * 4 - 2000
        } else {
            (i % 700) as i64
        };
        log.record(stream_slot(1, MetricKind::TxError), tx);
        let tag = if tx < 0 {
            "s_1.tx_error.neg"
        } else {
            "s_1.tx_error"
        };
        *expected.entry((tag.into(), second)).or_default() += 1;
    }
    assert_eq!(rotations, 3);
    let stats = log.finish(base + 3_500_000_000).unwrap();
    assert_eq!(stats.intervals, 4);
    assert_eq!(stats.extended, 0);

    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains("#[Histogram log format version 1.3]\n"));
    assert!(text.contains(
        "\n\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"
    ));
    assert!(text.contains(
        "#[StartTime: 1700000000.250 (seconds since epoch), 2023-11-14T22:13:20.250Z]\n"
    ));
    assert!(text.contains("#takt-listener --hist-log test\n"));

    let parsed = read_log(&bytes);
    assert_eq!(
        parsed.start_time,
        Some(Duration::from_millis(1_700_000_000_250))
    );
    assert_eq!(
        parsed.base_time,
        Some(Duration::from_millis(1_700_000_000_250))
    );
    assert_eq!(stats.histograms as usize, parsed.lines.len());

    let mut got: BTreeMap<(String, u64), u64> = BTreeMap::new();
    for line in &parsed.lines {
        let second = line.start.as_secs();
        assert_eq!(line.start, Duration::from_secs(second), "{}", line.tag);
        let want_len = if second == 3 { 500 } else { 1000 };
        assert_eq!(line.length, Duration::from_millis(want_len));
        // Interval_Max is in ms.
        assert!((line.max - line.hist.max() as f64 / 1e6).abs() < 1e-3);
        if !line.hist.is_empty() {
            *got.entry((line.tag.clone(), second)).or_default() += line.hist.len();
        }
    }
    assert_eq!(got, expected);

    // A tag has a line in every interval where something was recorded
    // under it, and none where nothing was (so logs of two threads that
    // record different metrics merge without empty duplicates); `.neg`
    // lines appear only in intervals with negative values.
    let count = |tag: &str| parsed.lines.iter().filter(|l| l.tag == tag).count();
    assert_eq!(count("s0.latency"), 4);
    assert_eq!(count("s_1.tx_error"), 4);
    assert_eq!(count("s_1.tx_error.neg"), 2);
    assert_eq!(count("s0.tx_error"), 0);
    assert_eq!(count("s_1.latency"), 0);

    // The values survive: s0 latency in second 2 is 10 000 ..= 10 999 ns.
    let l = parsed
        .lines
        .iter()
        .find(|l| l.tag == "s0.latency" && l.start.as_secs() == 2)
        .unwrap();
    assert_eq!(l.hist.min(), 10_000);
    assert!(l.hist.equivalent(l.hist.max(), 10_999));
    assert_eq!(l.hist.value_at_quantile(0.5), 10_503); // 10 499 in bin [10 496, 10 503]
}

#[test]
fn nothing_is_lost_when_spares_run_out() {
    let path = temp_path("hlog-spares");
    let mut config = IntervalLogConfig::new(UNIX_EPOCH + Duration::from_secs(1_000_000));
    config.spare_sets = 1;
    config.interval_ns = 1_000;
    let mut log = IntervalLog::create(&path, &["x".to_string()], 0, &config).unwrap();
    let mut rotations = 0u64;
    for i in 0..20_000u64 {
        log.record(0, i as i64 - 5_000);
        log.record(7, 1); // unknown slot: ignored
        if log.tick(i * 100) {
            rotations += 1;
        }
    }
    let stats = log.finish(2_000_000).unwrap();
    assert_eq!(stats.intervals, rotations + 1);
    let parsed = read_log(&std::fs::read(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
    let total: u64 = parsed.lines.iter().map(|l| l.hist.len()).sum();
    assert_eq!(total, 20_000);
    let neg: u64 = parsed
        .lines
        .iter()
        .filter(|l| l.tag == "x.neg")
        .map(|l| l.hist.len())
        .sum();
    assert_eq!(neg, 5_000);
}

#[test]
fn unwritable_path_is_an_error_naming_it() {
    let config = IntervalLogConfig::new(UNIX_EPOCH);
    let bad = std::env::temp_dir().join("takt-no-such-dir/run.hlog");
    let err = IntervalLog::create(&bad, &[], 0, &config).err().unwrap();
    assert!(matches!(err, StatsError::Io { .. }));
    assert!(
        err.to_string().contains("takt-no-such-dir/run.hlog"),
        "{err}"
    );

    if std::path::Path::new("/dev/full").exists() {
        // Writes fail with ENOSPC: reported, with the path, never a panic.
        let err = IntervalLog::create("/dev/full", &["a".into()], 0, &config)
            .err()
            .expect("writing to /dev/full fails");
        assert!(err.to_string().contains("/dev/full"), "{err}");
    }
}

#[test]
fn a_write_error_mid_run_is_reported_by_finish() {
    // A FIFO whose reader goes away after the header: the writer thread's
    // next write fails (EPIPE). The data path keeps going; finish reports it.
    let path = temp_path("hlog-fifo");
    let _ = std::fs::remove_file(&path);
    match std::process::Command::new("mkfifo").arg(&path).status() {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("skipped: mkfifo not available");
            return;
        }
    }
    let reader = {
        let path = path.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut f = std::fs::File::open(&path).unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&seen).contains("Interval_Compressed_Histogram\"\n") {
                let n = f.read(&mut buf).unwrap();
                assert!(n > 0, "header incomplete");
                seen.extend_from_slice(&buf[..n]);
            }
            // Dropping `f` closes the read end.
        })
    };
    let mut config = IntervalLogConfig::new(UNIX_EPOCH);
    config.interval_ns = 1_000;
    let mut log = IntervalLog::create(&path, &["x".into()], 0, &config).unwrap();
    reader.join().unwrap();

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut now = 0u64;
    // Rotate until the writer has failed and rotation stops finding spares.
    let mut fails_in_a_row = 0;
    while fails_in_a_row < 1000 && std::time::Instant::now() < deadline {
        log.record(0, 42);
        now += 1_000;
        if log.tick(now) {
            fails_in_a_row = 0;
        } else {
            fails_in_a_row += 1;
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    let err = log.finish(now).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(err, StatsError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("hlog-fifo"), "{err}");
}

#[test]
fn forced_rotation_keeps_the_interval_grid() {
    let path = temp_path("hlog-forced");
    let mut config = IntervalLogConfig::new(UNIX_EPOCH);
    config.spare_sets = 4;
    let mut log = IntervalLog::create(&path, &["x".into()], 0, &config).unwrap();
    log.record(0, 1);
    assert!(log.rotate(SEC / 2)); // e.g. on a "dump now" signal
    log.record(0, 2);
    assert!(!log.tick(SEC - 1));
    assert!(log.tick(SEC));
    log.record(0, 3);
    let stats = log.finish(SEC + SEC / 4).unwrap();
    assert_eq!(stats.intervals, 3);
    let parsed = read_log(&std::fs::read(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
    let spans: Vec<(Duration, Duration, u64)> = parsed
        .lines
        .iter()
        .map(|l| (l.start, l.length, l.hist.len()))
        .collect();
    let ms = Duration::from_millis;
    assert_eq!(
        spans,
        [
            (ms(0), ms(500), 1),
            (ms(500), ms(500), 1),
            (ms(1000), ms(250), 1)
        ]
    );
}
