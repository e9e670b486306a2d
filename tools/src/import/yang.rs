//! `takt import yang [FILE|-]`: an RFC 7951 instance of
//! ieee802-dot1q-sched-bridge (or ieee802-dot1dc-sched-if, or a bare
//! gate-parameter-table) as a takt schedule file with no streams. The
//! mapping is in docs/yang.md and crate::yang::sched.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use takt_scheduler::printable;

use crate::yang::{self, MAX_INPUT_BYTES};

pub const AFTER_HELP: &str = "\
Examples:
  takt import yang sched.json -o sched.toml
  takt export yang s.toml | takt import yang -           # round trip
  takt import yang switch.json --interface swp1 -o swp1.toml
  curl -s .../data/ietf-interfaces:interfaces | takt import yang -   # RESTCONF

Reads ietf-interfaces:interfaces/interface[name]/ieee802-dot1q-bridge:bridge-port/
ieee802-dot1q-sched-bridge:gate-parameter-table, interface[name]/
ieee802-dot1dc-sched-if:gate-parameter-table, or a gate-parameter-table on its
own. admin-* becomes [schedule]; with oper-control-list too (a pending change
read from a device), oper-* becomes [schedule] and admin-* [admin]. The clock
is \"tai\" (802.1Qbv times are PTP time). Streams are not in the table: add
[[stream]] tables (docs/schedule-format.md). Mapping: docs/yang.md.

Exit status: 0 written, 1 output failed, 2 malformed instance (the message
names the JSON path) or a schedule takt refuses.";

#[derive(clap::Args, Clone, Debug)]
pub struct YangImportArgs {
    /// RFC 7951 JSON instance; `-` or nothing: standard input
    pub file: Option<PathBuf>,
    /// Write the schedule file here instead of standard output
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// The interface whose table to import, when there are several
    #[arg(long, value_name = "NAME")]
    pub interface: Option<String>,
}

pub fn main(args: &YangImportArgs) -> ExitCode {
    let (name, text) = match read_input(args.file.as_deref()) {
        Ok(x) => x,
        Err((name, e)) => {
            eprintln!("{name}: error: {e}");
            return ExitCode::from(2);
        }
    };
    let toml = match convert(&name, &text, args.interface.as_deref()) {
        Ok((toml, notes)) => {
            for n in notes {
                eprintln!("{name}: note: {n}");
            }
            toml
        }
        Err(e) => {
            eprintln!("{name}:{e}");
            return ExitCode::from(2);
        }
    };
    let written = match &args.output {
        Some(p) => {
            std::fs::write(p, &toml).map_err(|e| format!("cannot write {}: {e}", p.display()))
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(toml.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write the output: {e}"))
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// The instance's text and the name to print in messages.
fn read_input(file: Option<&std::path::Path>) -> Result<(String, String), (String, String)> {
    let (name, reader): (String, Box<dyn Read>) = match file {
        None => ("<stdin>".to_owned(), Box::new(std::io::stdin())),
        Some(p) if p.as_os_str() == "-" => ("<stdin>".to_owned(), Box::new(std::io::stdin())),
        Some(p) => {
            let name = p.display().to_string();
            match std::fs::File::open(p) {
                Ok(f) => (name, Box::new(f)),
                Err(e) => return Err((name, format!("cannot read it: {e}"))),
            }
        }
    };
    let mut bytes = Vec::new();
    if let Err(e) = reader.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes) {
        return Err((name, format!("cannot read it: {e}")));
    }
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err((
            name,
            format!(
                "more than {} MiB: not a gate parameter table takt reads",
                MAX_INPUT_BYTES >> 20
            ),
        ));
    }
    match String::from_utf8(bytes) {
        Ok(t) => Ok((name, t)),
        Err(e) => Err((
            name,
            format!(
                "not UTF-8 text (byte {}): RFC 7951 JSON is UTF-8",
                e.utf8_error().valid_up_to()
            ),
        )),
    }
}

/// The schedule file for an instance, checked by loading it back, and the
/// notes on what was not carried. `Err` is printed after `NAME:` (it
/// starts with a line:col position or a space).
pub fn convert(
    name: &str,
    text: &str,
    interface: Option<&str>,
) -> Result<(String, Vec<String>), String> {
    let imported = yang::import(text, interface).map_err(|e| match e {
        yang::ImportError::NotJson { .. } => format!("{e}"),
        yang::ImportError::Instance(p) => format!(" error: {p}"),
    })?;
    // printable: a TOML comment may hold no control characters
    let mut source = format!("Imported by `takt import yang` from {}", printable(name));
    if let Some(i) = &imported.interface {
        source.push_str(&format!(", interface \"{}\"", printable(i)));
    }
    if let Some(m) = imported.module {
        source.push_str(&format!(" ({m})"));
    }
    source.push_str(".\nClock: tai (802.1Qbv base times are PTP time).");
    let toml = imported.schedule.to_toml(&source);
    if let Err(e) = takt_scheduler::config::parse_str(&toml, "imported schedule") {
        return Err(format!(
            " error: the table is well-formed but takt refuses the schedule it gives: {}\n\
             (the schedule as imported:)\n{toml}",
            e.0.message
        ));
    }
    Ok((toml, imported.notes))
}
