//! `takt check FILE...`: load and validate schedule files; print each valid
//! one as a timeline of one cycle (or, with `--json`, as the normalised
//! schedule); print errors and warnings as `FILE:LINE:COL: error|warning:
//! MESSAGE` on stderr.
//!
//! [`run`] takes the loader and the output streams as arguments so the whole
//! command is testable in-process; [`main`] wires it to the real files,
//! stdout and stderr.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use takt_scheduler::config::{self, ConfigError, Diagnostic, Loaded};
use takt_scheduler::Warning;

use crate::schedule_json::ScheduleJson;
use crate::timeline;
use takt_stack::footprint::Footprint;

/// Every file is a valid schedule (warnings allowed).
pub const EXIT_VALID: u8 = 0;
/// takt could not write its output (stdout closed, disk full, ...).
pub const EXIT_OUTPUT_FAILED: u8 = 1;
/// A file is invalid or unreadable, or the command line is wrong (clap
/// uses 2 for usage errors too).
pub const EXIT_INVALID: u8 = 2;

/// Shown after `takt check --help`.
pub const AFTER_HELP: &str = "\
Example:
  takt check docs/examples/two-class-250us.toml
      Validate one schedule and print one cycle of it: the gate control
      list entries and where they sit in the cycle, each stream's frames
      on the wire, utilisation per traffic class, and the memory a run
      of it allocates at start-up (talker, listener, loopback).
  takt check --json docs/examples/*.toml > schedules.json
      Validate several files and print them as one JSON array (a single
      file prints a single object). Fields: docs/check-json.md.

Errors and warnings go to stderr as
  FILE:LINE:COL: error: MESSAGE
  FILE:LINE:COL: warning: MESSAGE
All files are checked even after an invalid one; valid ones are still printed.

Exit status:
  0  every file is a valid schedule (warnings do not count)
  1  takt could not write its output (e.g. stdout was closed)
  2  a file is invalid or cannot be read, or the command line is wrong";

/// Flags of `takt check`.
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct CheckArgs {
    /// Schedule files (TOML, format in docs/schedule-format.md) to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the normalised schedule as JSON instead of the timeline:
    /// one object for one file, an array for several (valid files only).
    #[arg(long)]
    pub json: bool,
}

/// How many files were valid and invalid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub valid: usize,
    pub invalid: usize,
}

impl Summary {
    pub fn exit_code(&self) -> u8 {
        if self.invalid > 0 {
            EXIT_INVALID
        } else {
            EXIT_VALID
        }
    }
}

/// `takt check` against the real file system, stdout and stderr.
pub fn main(args: &CheckArgs) -> ExitCode {
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut err = io::stderr().lock();
    match run(args, config::load_file, &mut out, &mut err) {
        Ok(summary) => ExitCode::from(summary.exit_code()),
        // `takt check ... | head`: the reader is gone, nobody to tell.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(EXIT_OUTPUT_FAILED),
        Err(e) => {
            let _ = writeln!(err, "takt check: cannot write the output: {e}");
            ExitCode::from(EXIT_OUTPUT_FAILED)
        }
    }
}

/// Check every file in `args.files` with `load`, in order, writing the
/// report to `out` and diagnostics to `err`. An `Err` is only a failure to
/// write; invalid files are counted in the [`Summary`].
pub fn run<L, O, E>(args: &CheckArgs, mut load: L, out: &mut O, err: &mut E) -> io::Result<Summary>
where
    L: FnMut(&Path) -> Result<Loaded, ConfigError>,
    O: Write + ?Sized,
    E: Write + ?Sized,
{
    let mut summary = Summary::default();
    let mut docs = Vec::new();
    for path in &args.files {
        let name = path.display().to_string();
        let loaded = match load(path) {
            Ok(loaded) => loaded,
            Err(e) => {
                writeln!(err, "{e}")?;
                summary.invalid += 1;
                continue;
            }
        };
        summary.valid += 1;
        for (diag, warning) in &loaded.warnings {
            writeln!(err, "{}", warning_line(diag, warning))?;
        }
        if args.json {
            let messages = loaded
                .warnings
                .iter()
                .map(|(d, w)| warning_message(d, w))
                .collect();
            docs.push(
                ScheduleJson::new(&name, &loaded.schedule, messages)
                    .with_control(&loaded.schedule, loaded.control.as_ref())
                    .with_ptp(&loaded.schedule, loaded.ptp.as_ref()),
            );
        } else {
            if summary.valid > 1 {
                writeln!(out)?;
            }
            let text = timeline::render_with_sections(
                &name,
                &loaded.schedule,
                loaded.control.as_ref(),
                loaded.ptp.as_ref(),
            );
            out.write_all(text.as_bytes())?;
            write_memory(out, &loaded)?;
            // Keep stdout and stderr in file order on a terminal.
            out.flush()?;
        }
    }
    if args.json {
        match (args.files.len(), docs.first()) {
            (1, Some(doc)) => serde_json::to_writer_pretty(&mut *out, doc)?,
            (1, None) => {} // the one file was invalid: nothing to print
            _ => serde_json::to_writer_pretty(&mut *out, &docs)?,
        }
        if args.files.len() > 1 || !docs.is_empty() {
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(summary)
}

/// What a run of the schedule allocates at start-up, per program.
fn write_memory<O: Write + ?Sized>(out: &mut O, loaded: &Loaded) -> io::Result<()> {
    let f = Footprint::of(&loaded.schedule);
    let control = if loaded.control.is_some() {
        f.control_bytes
    } else {
        0
    };
    writeln!(out)?;
    writeln!(
        out,
        "memory at start-up ({} per stream, {} of frame table; device rings not included):",
        mib(f.per_stream_bytes),
        mib(f.plan_bytes)
    )?;
    let with_control = if control > 0 { " with [control]" } else { "" };
    for (tool, bytes, logs) in [
        ("takt-talker", f.talker_bytes + control, 1),
        ("takt-listener", f.listener_bytes + control, 1),
        ("takt loopback", f.loopback_bytes, 2),
    ] {
        let suffix = if tool == "takt loopback" {
            ""
        } else {
            with_control
        };
        writeln!(
            out,
            "  {tool:<14} {:>10}{suffix}, +{} with --hist-log",
            mib(bytes),
            mib(logs * f.hist_log_bytes)
        )?;
    }
    Ok(())
}

/// Bytes in MiB, one decimal (KiB below one MiB).
fn mib(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    }
}

/// `FILE:LINE:COL: warning: MESSAGE`.
pub fn warning_line(diag: &Diagnostic, warning: &Warning) -> String {
    format!(
        "{}:{}:{}: warning: {}",
        diag.file,
        diag.line,
        diag.col,
        warning_message(diag, warning)
    )
}

/// The diagnostic's text, or the warning's own when the loader left it empty.
fn warning_message(diag: &Diagnostic, warning: &Warning) -> String {
    if diag.message.is_empty() {
        warning.to_string()
    } else {
        diag.message.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{admin_schedule, two_class_schedule};
    use serde_json::Value;

    fn args(files: &[&str], json: bool) -> CheckArgs {
        CheckArgs {
            files: files.iter().map(PathBuf::from).collect(),
            json,
        }
    }

    /// A loader that knows "two.toml" and "switch.toml"; everything else
    /// fails at 3:5 with the path in the message.
    fn fake_load(path: &Path) -> Result<Loaded, ConfigError> {
        let file = path.display().to_string();
        let schedule = match file.as_str() {
            "two.toml" => two_class_schedule(),
            "switch.toml" => admin_schedule(),
            _ => {
                return Err(ConfigError(Diagnostic {
                    file,
                    line: 3,
                    col: 5,
                    message: "cycle_time is zero".into(),
                }))
            }
        };
        let warnings = schedule
            .warnings()
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let diag = Diagnostic {
                    file: file.clone(),
                    line: 10 + i,
                    col: 1,
                    message: w.to_string(),
                };
                (diag, w.clone())
            })
            .collect();
        Ok(Loaded {
            schedule,
            control: None,
            ptp: None,
            warnings,
        })
    }

    fn check(files: &[&str], json: bool) -> (Summary, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let summary = run(&args(files, json), fake_load, &mut out, &mut err).unwrap();
        (
            summary,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn valid_file_prints_timeline_and_warnings() {
        let (summary, out, err) = check(&["two.toml"], false);
        assert_eq!(
            summary,
            Summary {
                valid: 1,
                invalid: 0
            }
        );
        assert_eq!(summary.exit_code(), EXIT_VALID);
        assert!(out.starts_with("two.toml: valid schedule"), "{out}");
        assert!(out.contains("stream \"control\"") && out.contains("stream \"video\""));
        assert!(
            err.starts_with("two.toml:10:1: warning: oper entry 2 opens gates"),
            "{err}"
        );
    }

    #[test]
    fn invalid_file_does_not_stop_the_others() {
        let (summary, out, err) = check(&["bad.toml", "two.toml"], false);
        assert_eq!(
            summary,
            Summary {
                valid: 1,
                invalid: 1
            }
        );
        assert_eq!(summary.exit_code(), EXIT_INVALID);
        assert!(
            err.contains("bad.toml:3:5: error: cycle_time is zero\n"),
            "{err}"
        );
        assert!(out.starts_with("two.toml: valid schedule"), "{out}");
    }

    #[test]
    fn several_valid_files_are_separated() {
        let (summary, out, _) = check(&["two.toml", "switch.toml"], false);
        assert_eq!(summary.exit_code(), EXIT_VALID);
        assert!(out.contains("\n\nswitch.toml: valid schedule\n"), "{out}");
    }

    #[test]
    fn json_one_file_is_an_object() {
        let (_, out, _) = check(&["two.toml"], true);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["file"], "two.toml");
        assert_eq!(v["cycle_time"], 250_000);
        assert_eq!(v["warnings"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn json_several_files_is_an_array_of_the_valid_ones() {
        let (summary, out, err) = check(&["two.toml", "bad.toml", "switch.toml"], true);
        assert_eq!(summary.exit_code(), EXIT_INVALID);
        assert!(err.contains("bad.toml:3:5: error:"), "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let files: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["file"].as_str().unwrap())
            .collect();
        assert_eq!(files, ["two.toml", "switch.toml"]);
    }

    #[test]
    fn json_single_invalid_file_prints_nothing() {
        let (summary, out, _) = check(&["bad.toml"], true);
        assert_eq!(summary.exit_code(), EXIT_INVALID);
        assert_eq!(out, "");
    }

    #[test]
    fn json_several_invalid_files_print_an_empty_array() {
        let (_, out, _) = check(&["bad.toml", "worse.toml"], true);
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap(),
            Value::Array(vec![])
        );
    }

    #[test]
    fn empty_warning_message_falls_back_to_the_model_text() {
        let w = Warning::EntryNeverRuns {
            which: takt_scheduler::Which::Admin,
            entry: 4,
        };
        let diag = Diagnostic {
            file: "f.toml".into(),
            line: 7,
            col: 3,
            message: String::new(),
        };
        assert_eq!(
            warning_line(&diag, &w),
            "f.toml:7:3: warning: admin entry 4 never runs: cycle_time ends the cycle before it starts"
        );
    }
}
