//! `takt import taprio [FILE|-]`: a taprio schedule (tc command text or
//! `tc -j qdisc show` output) as a takt schedule file with no streams
//! (docs/taprio.md). The reading is in `crate::taprio`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use takt_scheduler::config;

use crate::taprio::{self, Imported, MAX_INPUT_BYTES};

pub const AFTER_HELP: &str = "\
Example:
  takt import taprio setup.sh -o qbv.toml
      where setup.sh holds, say,
        tc qdisc replace dev enp1s0 parent root handle 100 taprio \\
            num_tc 3 map 2 2 1 0 2 2 2 2 2 2 2 2 2 2 2 2 \\
            queues 1@0 1@1 2@2 \\
            base-time 1000000000 \\
            sched-entry S 01 300000 \\
            sched-entry S 02 300000 \\
            sched-entry S 04 400000 \\
            clockid CLOCK_TAI
      writes qbv.toml with [schedule] clock = \"tai\", base_time =
      1000000000 and the three entries (gates [0], [1], [2]); lines that
      are not a taprio qdisc command are skipped.
  tc -j qdisc show dev enp1s0 | takt import taprio -
      reads the running qdisc: the oper schedule, and its `admin` one while
      a change is pending.

Input: tc command text (continuations, # comments, sched-entry S|H|R,
masks in hex) or `tc -j qdisc show` JSON (starts with `[`). A second
taprio command with a later base-time becomes [admin]. num_tc, map,
queues, flags, txtime-delay, max-sdu and fp are read and left out (a
comment lists them). Gate mask bit c = takt traffic class c; takt has 8.
Streams are not part of taprio: add [[stream]] tables to the output.

Exit status:
  0  the schedule file was written
  1  it could not be written (-o path, closed stdout)
  2  the input is malformed or is not a schedule takt runs: the error says
     where (FILE:LINE:COL of the token, or the JSON path) and what to change";

#[derive(clap::Args, Clone, Debug)]
pub struct TaprioImportArgs {
    /// tc command text or `tc -j qdisc show` output; `-` or nothing: stdin.
    #[arg(value_name = "FILE|-")]
    pub file: Option<PathBuf>,
    /// Write the schedule file here instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// The device whose taprio to read, when the input has several.
    #[arg(long, value_name = "IF")]
    pub dev: Option<String>,
}

pub fn main(args: &TaprioImportArgs) -> ExitCode {
    let from_stdin = args.file.as_ref().is_none_or(|f| f.as_os_str() == "-");
    let name = if from_stdin {
        "<stdin>".to_owned()
    } else {
        args.file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_default()
    };
    let text = match read_input(args.file.as_ref().filter(|_| !from_stdin)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{name}: error: {e}");
            return ExitCode::from(2);
        }
    };
    let toml = match convert(&text, &name, args.dev.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let written = match &args.output {
        Some(path) => {
            std::fs::write(path, &toml).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(toml.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|e| format!("cannot write the schedule: {e}"))
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// The input text, at most MAX_INPUT_BYTES (+1 to tell), UTF-8.
fn read_input(file: Option<&PathBuf>) -> Result<String, String> {
    let mut bytes = Vec::new();
    let limit = MAX_INPUT_BYTES as u64 + 1;
    match file {
        Some(f) => std::fs::File::open(f)
            .and_then(|h| h.take(limit).read_to_end(&mut bytes))
            .map_err(|e| format!("cannot read it: {e}"))?,
        None => std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read stdin: {e}"))?,
    };
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(format!(
            "the input is larger than {} MiB, more than any taprio schedule takt can hold: give the taprio command or the `tc -j qdisc show` output alone",
            MAX_INPUT_BYTES >> 20
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the input is not UTF-8 text (byte {}): give tc's text or JSON output",
            e.utf8_error().valid_up_to()
        )
    })
}

/// The schedule file for `text` (named `name` in messages), validated by
/// loading it back; or the diagnostic to print.
pub fn convert(text: &str, name: &str, dev: Option<&str>) -> Result<String, String> {
    let imported = taprio::import(text, dev).map_err(|e| e.diagnostic(name))?;
    let toml = imported.gates.to_toml(&source(&imported, name, text));
    // A list takt refuses was already named at its token; this catches what
    // only the whole file shows.
    config::parse_str(&toml, "imported.toml").map_err(|e| {
        format!(
            "{name}: error: the taprio schedule is not one takt runs: {}",
            e.0.message
        )
    })?;
    Ok(toml)
}

fn source(i: &Imported, name: &str, text: &str) -> String {
    let kind = if taprio::is_json(text) {
        "`tc -j qdisc show` output"
    } else {
        "tc command text"
    };
    let mut s = format!("takt import taprio {name} ({kind})");
    for n in &i.notes {
        s.push('\n');
        s.push_str(n);
    }
    s.push_str("\ntaprio traffic class c (gate mask bit c) = takt traffic class c");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_is_a_schedule_file_with_the_notes_as_comments() {
        let t = convert(
            "tc qdisc add dev e taprio num_tc 2 map 0 1 queues 1@0 1@1 sched-entry S 3 1000 clockid CLOCK_TAI\n",
            "s.sh",
            None,
        )
        .unwrap();
        assert!(
            t.starts_with("# takt import taprio s.sh (tc command text)\n# device: e\n"),
            "{t}"
        );
        assert!(t.contains("num_tc 2; map 0 1; queues 1@0 1@1"), "{t}");
        let loaded = config::parse_str(&t, "x").unwrap();
        assert_eq!(loaded.schedule.oper().entries()[0].gate_mask, 3);
    }
}
