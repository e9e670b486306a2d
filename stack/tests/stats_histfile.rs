//! The cyclictest-format histogram file, read back the way a cyclictest
//! user's script reads it: split on whitespace, `# Name:` summary lines.

use std::collections::BTreeMap;

use takt_stack::stats::{
    save_histfile, us_buckets, write_histfile, HistfileColumn, HistfileOptions, Metric,
    OverflowCycles, StatsError,
};

/// What a typical plotting script extracts.
#[derive(Debug, Default)]
struct Parsed {
    buckets: Vec<(u64, Vec<u64>)>,
    summary: BTreeMap<String, Vec<String>>,
    threads: Vec<Vec<String>>,
    first_line: String,
}

fn parse(text: &str) -> Parsed {
    let mut p = Parsed {
        first_line: text.lines().next().unwrap_or_default().to_string(),
        ..Parsed::default()
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# Thread ") {
            let (_, cycles) = rest.split_once(':').expect("# Thread N:");
            p.threads
                .push(cycles.split_whitespace().map(String::from).collect());
        } else if let Some(rest) = line.strip_prefix("# ") {
            if let Some((name, values)) = rest.split_once(':') {
                p.summary.insert(
                    name.to_string(),
                    values.split_whitespace().map(String::from).collect(),
                );
            }
        } else if !line.is_empty() {
            let mut fields = line.split_whitespace();
            let bucket = fields.next().unwrap().parse().unwrap();
            let counts = fields.map(|f| f.parse().unwrap()).collect();
            p.buckets.push((bucket, counts));
        }
    }
    p
}

fn ints(v: &[String]) -> Vec<i64> {
    v.iter().map(|s| s.parse().unwrap()).collect()
}

fn render(columns: &[HistfileColumn<'_>], opts: &HistfileOptions) -> String {
    let mut out = Vec::new();
    write_histfile(&mut out, columns, opts).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn byte_exact_small_file() {
    let mut m = Metric::new();
    for v in [100, 1_200, 1_700, 5_000] {
        m.record(v);
    }
    let opts = HistfileOptions {
        buckets: 3,
        histofall: false,
    };
    let text = render(&[HistfileColumn::new(&m)], &opts);
    assert_eq!(
        text,
        "# Histogram\n\
         000000 000001\n\
         000001 000002\n\
         000002 000000\n\
         # Total: 000000003\n\
         # Min Latencies: 00000\n\
         # Avg Latencies: 00002\n\
         # Max Latencies: 00005\n\
         # Histogram Overflows: 00001\n\
         # Histogram Overflow at cycle number:\n\
         # Thread 0: # 00001 others\n\
         \n"
    );
}

/// Column 0: 100 x 5.5 us, 3 x 12.345 us, 2 x -3 us, 999.999 us, 1.5 ms
/// (overflow at cycle 42). Column 1: one value in each of 1 ..= 200 us.
fn two_columns() -> (Metric, Metric, OverflowCycles) {
    let mut c0 = Metric::new();
    let mut oc = OverflowCycles::new(1000, 1000);
    let mut cycle = 0u64;
    let mut rec = |m: &mut Metric, oc: &mut OverflowCycles, v: i64| {
        m.record(v);
        oc.record(cycle, v);
        cycle += 1;
    };
    for _ in 0..100 {
        rec(&mut c0, &mut oc, 5_500);
    }
    for v in [12_345, 12_345, 12_345, -3_000, -3_000, 999_999] {
        rec(&mut c0, &mut oc, v);
    }
    for _ in 106..142 {
        rec(&mut c0, &mut oc, 0);
    }
    rec(&mut c0, &mut oc, 1_500_000); // cycle 142
    let mut c1 = Metric::new();
    for us in 1..=200 {
        c1.record(us * 1000 + 500);
    }
    (c0, c1, oc)
}

#[test]
fn script_reads_buckets_and_summary() {
    let (c0, c1, oc) = two_columns();
    let columns = [
        HistfileColumn::new(&c0).with_overflow_cycles(&oc),
        HistfileColumn::new(&c1),
    ];
    let text = render(&columns, &HistfileOptions::default());
    let p = parse(&text);

    assert_eq!(p.first_line, "# Histogram");
    assert_eq!(p.buckets.len(), 1000);
    for (i, (bucket, counts)) in p.buckets.iter().enumerate() {
        assert_eq!(*bucket, i as u64);
        assert_eq!(counts.len(), 2, "bucket {i}");
    }
    // Bucket lines: "%06d " then "%06lu" tab-separated.
    assert!(
        text.contains("\n000005 000100\t000001\n"),
        "{}",
        &text[..200]
    );
    assert!(text.contains("\n000150 000000\t000001\n"));

    let col = |j: usize| -> Vec<u64> { p.buckets.iter().map(|(_, c)| c[j]).collect() };
    let (b0, b1) = (col(0), col(1));
    assert_eq!(b0[0], 2 + 36); // two negatives + 36 zeros
    assert_eq!(b0[5], 100);
    assert_eq!(b0[12], 3);
    assert_eq!(b0[999], 1);
    assert_eq!(b0.iter().sum::<u64>(), 142);
    assert_eq!(b1[0], 0);
    assert!(b1[1..=200].iter().all(|&c| c == 1));
    assert_eq!(b1.iter().sum::<u64>(), 200);

    assert_eq!(p.summary["Total"], ["000000142", "000000200"]);
    assert_eq!(ints(&p.summary["Min Latencies"]), [-3, 1]);
    assert_eq!(p.summary["Min Latencies"], ["-0003", "00001"]);
    let avg0 = c0.sum() / (i128::from(c0.count()) * 1000);
    assert_eq!(ints(&p.summary["Avg Latencies"]), [avg0 as i64, 101]);
    assert_eq!(p.summary["Max Latencies"], ["01500", "00200"]);
    assert_eq!(ints(&p.summary["Max Latencies"]), [1500, 200]);
    assert_eq!(p.summary["Histogram Overflows"], ["00001", "00000"]);
    assert!(p.summary.contains_key("Histogram Overflow at cycle number"));
    assert_eq!(p.threads, [vec!["00142".to_string()], vec![]]);
    assert!(text.ends_with("# Thread 1:\n\n"));

    // Buckets plus overflows account for every value.
    let (counts, overflows) = us_buckets(&c0, 1000);
    assert_eq!(counts.iter().sum::<u64>() + overflows, c0.count());
}

#[test]
fn histofall_adds_the_summary_column() {
    let (c0, c1, oc) = two_columns();
    let columns = [
        HistfileColumn::new(&c0).with_overflow_cycles(&oc),
        HistfileColumn::new(&c1),
    ];
    let opts = HistfileOptions {
        buckets: 400,
        histofall: true,
    };
    let p = parse(&render(&columns, &opts));
    assert_eq!(p.buckets.len(), 400);
    for (_, counts) in &p.buckets {
        assert_eq!(counts.len(), 3);
        assert_eq!(counts[2], counts[0] + counts[1]);
    }
    // 999.999 us and 1.5 ms overflow a 400 us histogram.
    assert_eq!(p.summary["Total"], ["000000141", "000000200", "000000341"]);
    assert_eq!(p.summary["Min Latencies"].len(), 2);
    assert_eq!(p.summary["Avg Latencies"].len(), 2);
    assert_eq!(p.summary["Max Latencies"], ["01500", "00200", "01500"]);
    assert_eq!(
        p.summary["Histogram Overflows"],
        ["00002", "00000", "00002"]
    );
    // Cycle 106 (999.999 us) and 142 (1.5 ms) overflow 400 us, but the
    // loop's OverflowCycles tracked the 1000 us threshold: one listed, one
    // counted as "others".
    assert_eq!(p.threads[0], ["00142", "#", "00001", "others"]);
}

#[test]
fn overflow_cycles_keep_a_fixed_number() {
    let mut oc = OverflowCycles::new(10, 2);
    for cycle in 0..5 {
        oc.record(cycle, 10_000 + cycle as i64); // all >= 10 us
        oc.record(cycle, 9_999);
    }
    assert_eq!(oc.cycles(), [0, 1]);
    assert_eq!(oc.count(), 5);
}

#[test]
fn bad_bucket_count_and_bad_path_are_errors_naming_the_file() {
    let m = Metric::new();
    let dir = std::env::temp_dir();
    let err = save_histfile(
        &dir.join("takt-hist-zero"),
        &[HistfileColumn::new(&m)],
        &HistfileOptions {
            buckets: 0,
            histofall: false,
        },
    )
    .unwrap_err();
    assert!(matches!(err, StatsError::BadBuckets { buckets: 0, .. }));
    assert!(err.to_string().contains("takt-hist-zero"));

    let bad = dir.join("takt-no-such-dir/hist.txt");
    let err = save_histfile(
        &bad,
        &[HistfileColumn::new(&m)],
        &HistfileOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("takt-no-such-dir/hist.txt"),
        "{err}"
    );
}

#[test]
fn save_histfile_writes_the_file() {
    let (c0, c1, _) = two_columns();
    let path = std::env::temp_dir().join(format!("takt-histfile-{}.txt", std::process::id()));
    let columns = [HistfileColumn::new(&c0), HistfileColumn::new(&c1)];
    save_histfile(&path, &columns, &HistfileOptions::default()).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(text, render(&columns, &HistfileOptions::default()));
    // Without cycle tracking the overflow shows as "others".
    assert!(text.contains("# Thread 0: # 00001 others\n"));
}
