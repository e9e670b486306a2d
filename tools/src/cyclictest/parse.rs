//! Reads cyclictest's text output — rt-tests' and takt-cyclictest's alike:
//! the thread lines (`T: 0 (pid) P:.. I:.. C:.. Min: Act: Avg: Max:`, the
//! last one per thread wins, so a captured live display parses too) and the
//! histogram with its `# Total:` .. `# Histogram Overflows:` summary. Lines
//! it does not know (`# /dev/cpu_dma_latency set to 0us`, takt's `#`
//! header, `policy:` lines) are skipped. The compatibility test parses both
//! programs' output with this one parser.

/// One thread's final line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadLine {
    pub index: usize,
    pub tid: i64,
    pub priority: u32,
    pub interval_us: u64,
    pub cycles: u64,
    pub min_us: i64,
    pub act_us: i64,
    pub avg_us: i64,
    pub max_us: i64,
}

/// The histogram section, one column per thread (plus -H's summary column).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// counts[column][bucket_us].
    pub counts: Vec<Vec<u64>>,
    pub total: Vec<u64>,
    pub min_us: Vec<i64>,
    pub avg_us: Vec<i64>,
    pub max_us: Vec<i64>,
    pub overflows: Vec<u64>,
    /// The cycle numbers listed under `# Thread i:`.
    pub overflow_cycles: Vec<Vec<u64>>,
}

/// Everything read from one output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub threads: Vec<ThreadLine>,
    pub histogram: Option<Histogram>,
}

/// A line that looks like cyclictest's but is not, with its number.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}: {text:?}")]
pub struct ParseError {
    pub line: usize,
    pub what: &'static str,
    pub text: String,
}

/// Parses cyclictest or takt-cyclictest output.
pub fn parse(text: &str) -> Result<Output, ParseError> {
    let mut out = Output::default();
    for (n, raw) in text.lines().enumerate() {
        let line = strip_escapes(raw);
        let line = line.trim_end();
        let err = |what| ParseError {
            line: n + 1,
            what,
            text: raw.to_string(),
        };
        if let Some(t) = line.strip_prefix("T:") {
            let t = thread_line(t).ok_or_else(|| err("not a thread line"))?;
            match out.threads.iter_mut().find(|x| x.index == t.index) {
                Some(x) => *x = t,
                None => out.threads.push(t),
            }
        } else if line == "# Histogram" {
            out.histogram = Some(Histogram::default());
        } else if let Some(h) = out.histogram.as_mut() {
            histogram_line(h, line).map_err(err)?;
        }
    }
    out.threads.sort_by_key(|t| t.index);
    Ok(out)
}

/// The live display moves the cursor with `ESC [ n A`: drop such sequences.
fn strip_escapes(line: &str) -> String {
    let mut s = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ params final-byte
            if chars.next() == Some('[') {
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else if c != '\r' {
            s.push(c);
        }
    }
    s
}

/// ` 0 (10584) P:80 I:1000 C:    500 Min:      7 Act:   13 Avg:   17 Max:    1286`
fn thread_line(t: &str) -> Option<ThreadLine> {
    let (index, rest) = t.split_once('(')?;
    let (tid, rest) = rest.split_once(')')?;
    let mut fields = std::collections::HashMap::new();
    let mut key: Option<&str> = None;
    // "P:80" and "C:    500" both: a key ends with ':', its value follows.
    for tok in rest.split_whitespace() {
        match tok.split_once(':') {
            Some((k, v)) if !v.is_empty() => {
                fields.insert(k, v);
            }
            Some((k, _)) => key = Some(k),
            None => {
                fields.insert(key.take()?, tok);
            }
        }
    }
    let num = |k: &str| fields.get(k)?.parse::<i64>().ok();
    Some(ThreadLine {
        index: index.trim().parse().ok()?,
        tid: tid.trim().parse().ok()?,
        priority: u32::try_from(num("P")?).ok()?,
        interval_us: u64::try_from(num("I")?).ok()?,
        cycles: u64::try_from(num("C")?).ok()?,
        min_us: num("Min")?,
        act_us: num("Act")?,
        avg_us: num("Avg")?,
        max_us: num("Max")?,
    })
}

fn histogram_line(h: &mut Histogram, line: &str) -> Result<(), &'static str> {
    fn nums<T: std::str::FromStr>(s: &str) -> Result<Vec<T>, &'static str> {
        s.split_whitespace()
            .map(|x| x.parse().map_err(|_| "not a number in a summary line"))
            .collect()
    }
    if let Some(rest) = line.strip_prefix("# ") {
        let Some((name, values)) = rest.split_once(':') else {
            return Ok(());
        };
        match name {
            "Total" => h.total = nums(values)?,
            "Min Latencies" => h.min_us = nums(values)?,
            "Avg Latencies" => h.avg_us = nums(values)?,
            "Max Latencies" => h.max_us = nums(values)?,
            "Histogram Overflows" => h.overflows = nums(values)?,
            _ => {
                if let Some(i) = name.strip_prefix("Thread ") {
                    let i: usize = i.parse().map_err(|_| "bad thread number")?;
                    // " 00860 00864 # 00012 others": the count after '#' is not a cycle.
                    let listed = values.split('#').next().unwrap_or("");
                    if h.overflow_cycles.len() <= i {
                        h.overflow_cycles.resize(i + 1, Vec::new());
                    }
                    h.overflow_cycles[i] = nums(listed)?;
                }
            }
        }
        return Ok(());
    }
    if line.is_empty() || line.starts_with('#') {
        return Ok(());
    }
    let mut f = line.split_whitespace();
    let bucket: usize = match f.next().map(str::parse) {
        Some(Ok(b)) => b,
        _ => return Ok(()), // not a bucket line (trailing output)
    };
    let counts: Vec<u64> = f
        .map(|x| x.parse().map_err(|_| "not a count in a bucket line"))
        .collect::<Result<_, _>>()?;
    if h.counts.is_empty() {
        h.counts = vec![Vec::new(); counts.len()];
    }
    if counts.len() != h.counts.len() || bucket != h.counts[0].len() {
        return Err("bucket line out of step with the ones before");
    }
    for (col, c) in h.counts.iter_mut().zip(counts) {
        col.push(c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // rt-tests 2.40 output, trimmed: `cyclictest ... -q -h 4 -t 2 -a`.
    const HIST: &str = "# /dev/cpu_dma_latency set to 0us\n# Histogram\n\
000000 000000\t000000\n000001 000003\t000001\n000002 000005\t000007\n000003 000000\t000001\n\
# Total: 000000008 000000009\n# Min Latencies: 00001 00001\n# Avg Latencies: 00001 00002\n\
# Max Latencies: 00493 00003\n# Histogram Overflows: 00002 00000\n\
# Histogram Overflow at cycle number:\n# Thread 0: 00860 # 00001 others\n# Thread 1:\n\n";

    #[test]
    fn reads_the_histogram() {
        let o = parse(HIST).unwrap();
        assert!(o.threads.is_empty());
        let h = o.histogram.unwrap();
        assert_eq!(h.counts, vec![vec![0, 3, 5, 0], vec![0, 1, 7, 1]]);
        assert_eq!(h.total, [8, 9]);
        assert_eq!(
            (h.min_us, h.avg_us, h.max_us),
            (vec![1, 1], vec![1, 2], vec![493, 3])
        );
        assert_eq!(h.overflows, [2, 0]);
        assert_eq!(h.overflow_cycles, vec![vec![860], vec![]]);
    }

    #[test]
    fn reads_the_last_thread_line_of_a_live_display() {
        let text = "policy: fifo: loadavg: 0.89 1.17 1.48 3/89 10591\n\n\
T: 0 (    0) P:80 I:1000 C:      0 Min:1000000 Act:    0 Avg:    0 Max:       0\n\
\x1b[4Apolicy: fifo\n\n\
T: 0 (10590) P:80 I:1000 C:      9 Min:     12 Act:   13 Avg:   13 Max:      15\n\
T: 1 (10591) P:80 I:1500 C:      6 Min:     -3 Act:   13 Avg:   12 Max:      15\n";
        let o = parse(text).unwrap();
        assert_eq!(o.threads.len(), 2);
        assert_eq!(
            o.threads[1],
            ThreadLine {
                index: 1,
                tid: 10591,
                priority: 80,
                interval_us: 1500,
                cycles: 6,
                min_us: -3,
                act_us: 13,
                avg_us: 12,
                max_us: 15
            }
        );
        assert_eq!(o.threads[0].cycles, 9);
        assert!(o.histogram.is_none());
    }

    #[test]
    fn says_which_line_is_wrong() {
        let e = parse("# Histogram\n000000 000001\n000001 x\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(parse("T: 0 (1) P:x").is_err());
    }
}
