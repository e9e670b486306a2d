//! `takt frames --printf-format FMT`: the format's parser and one record's
//! line. Conversions (docs/frames-log.md):
//!
//! `%S %W %H %T %R %A` a stage's time (ns), `-` when absent;
//! `%d{X-Y}` stage X minus stage Y (ns), e.g. `%d{A-S}`;
//! `%{name}` a named difference (tx_error, wire, pickup, ...);
//! `%s` stream name, `%i` stream index, `%q` sequence number, `%k` kind,
//! `%f` flags (names joined by `+`), `%%` a percent sign;
//! `\n`, `\t`, `\\` a newline, a tab, a backslash.

use std::fmt::Write;

use takt_stack::frames::{flag_names, Diff, FrameRecord, FramesHeader, Stage};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Stage(Stage),
    /// `to - from`.
    Difference {
        to: Stage,
        from: Stage,
    },
    Named(Diff),
    Stream,
    StreamIndex,
    Seq,
    Kind,
    Flags,
}

/// A parsed format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format(pub Vec<Piece>);

fn stage(c: char) -> Option<Stage> {
    Stage::ALL.into_iter().find(|s| s.letter() == c)
}

fn names() -> String {
    Diff::ALL.map(Diff::name).join(", ")
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(fmt: &str) -> Result<Format, String> {
        let mut out = Vec::new();
        let mut text = String::new();
        let mut it = fmt.char_indices().peekable();
        while let Some((at, c)) = it.next() {
            match c {
                '\\' => match it.next() {
                    Some((_, 'n')) => text.push('\n'),
                    Some((_, 't')) => text.push('\t'),
                    Some((_, '\\')) => text.push('\\'),
                    Some((_, o)) => {
                        return Err(format!(
                            "unknown escape \\{o} at character {}: use \\n, \\t or \\\\",
                            at + 1
                        ))
                    }
                    None => return Err("the format ends in a lone \\: write \\\\".into()),
                },
                '%' => {
                    let Some((_, k)) = it.next() else {
                        return Err(
                            "the format ends in a lone %: write %% for a percent sign".into()
                        );
                    };
                    let piece = match k {
                        '%' => {
                            text.push('%');
                            continue;
                        }
                        's' => Piece::Stream,
                        'i' => Piece::StreamIndex,
                        'q' => Piece::Seq,
                        'k' => Piece::Kind,
                        'f' => Piece::Flags,
                        'd' | '{' => {
                            if k == 'd' && it.next().map(|(_, c)| c) != Some('{') {
                                return Err(format!(
                                    "%d at character {} needs two stages in braces, e.g. %d{{A-S}}",
                                    at + 1
                                ));
                            }
                            let mut inner = String::new();
                            loop {
                                match it.next() {
                                    Some((_, '}')) => break,
                                    Some((_, c)) => inner.push(c),
                                    None => {
                                        return Err(format!(
                                            "%{} at character {} has no closing }}",
                                            if k == 'd' { "d{" } else { "{" },
                                            at + 1
                                        ))
                                    }
                                }
                            }
                            if k == 'd' {
                                let cs: Vec<char> = inner.chars().collect();
                                match cs.as_slice() {
                                    [x, '-', y] => match (stage(*x), stage(*y)) {
                                        (Some(to), Some(from)) => Piece::Difference { to, from },
                                        _ => {
                                            return Err(format!(
                                                "%d{{{inner}}}: stages are S W H T R A, e.g. %d{{A-S}}"
                                            ))
                                        }
                                    },
                                    _ => {
                                        return Err(format!(
                                            "%d{{{inner}}}: write two stages as X-Y, e.g. %d{{A-S}} (A minus S)"
                                        ))
                                    }
                                }
                            } else {
                                match Diff::from_name(&inner) {
                                    Some(d) => Piece::Named(d),
                                    None => {
                                        return Err(format!(
                                            "%{{{inner}}}: no such difference; known: {}",
                                            names()
                                        ))
                                    }
                                }
                            }
                        }
                        c => match stage(c) {
                            Some(s) => Piece::Stage(s),
                            None => {
                                return Err(format!(
                                    "unknown conversion %{c} at character {}: known are %S %W %H %T %R %A, \
                                     %d{{X-Y}}, %{{name}}, %s %i %q %k %f and %%",
                                    at + 1
                                ))
                            }
                        },
                    };
                    if !text.is_empty() {
                        out.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    out.push(piece);
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            out.push(Piece::Text(text));
        }
        Ok(Format(out))
    }
}

fn num(out: &mut String, v: Option<impl std::fmt::Display>) {
    match v {
        Some(v) => {
            let _ = write!(out, "{v}");
        }
        None => out.push('-'),
    }
}

impl Format {
    /// Append `rec`'s line to `out`. `names`: the header's stream names,
    /// already escaped for a terminal.
    pub fn render(
        &self,
        out: &mut String,
        rec: &FrameRecord,
        header: &FramesHeader,
        names: &[String],
    ) {
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Stage(s) => num(out, rec.get(*s)),
                Piece::Difference { to, from } => num(out, rec.diff(*from, *to)),
                Piece::Named(d) => num(out, d.of(rec, &header.rx_stamps)),
                Piece::Stream => {
                    out.push_str(names.get(usize::from(rec.stream)).map_or("-", |s| s))
                }
                Piece::StreamIndex => num(out, Some(rec.stream)),
                Piece::Seq => num(out, Some(rec.seq)),
                Piece::Kind => out.push_str(rec.kind.as_str()),
                Piece::Flags => {
                    let f: Vec<_> = flag_names(rec.flags).collect();
                    out.push_str(&f.join("+"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use takt_stack::frames::{RecordKind, FLAG_COUNTED, FLAG_UNSYNCED};

    #[test]
    fn a_format_renders_times_differences_names_and_escapes() {
        let f: Format = r"%s/%i #%q %k [%f] S=%S W=%W %d{A-S} %{wire} %{pickup} 100%%\t|\n"
            .parse()
            .unwrap();
        let mut r = FrameRecord::new(RecordKind::Rx, 1, 42);
        r.flags = FLAG_COUNTED | FLAG_UNSYNCED;
        r.set(Stage::Scheduled, 1000);
        r.set(Stage::HandOver, 1010);
        r.set(Stage::RxStamp, 1500);
        r.set(Stage::App, 1600);
        let h = FramesHeader {
            rx_stamps: "receive-poll".into(),
            ..FramesHeader::default()
        };
        let mut out = String::new();
        f.render(&mut out, &r, &h, &["a".into(), "b".into()]);
        assert_eq!(
            out,
            "b/1 #42 rx [counted+unsynced] S=1000 W=- 600 490 - 100%\t|\n"
        );
    }

    #[test]
    fn bad_formats_say_what_to_write() {
        for (fmt, says) in [
            ("%x", "unknown conversion %x at character 1"),
            ("ab%", "lone %"),
            ("%d", "needs two stages"),
            ("%d{A-Z}", "stages are S W H T R A"),
            ("%d{AS}", "write two stages as X-Y"),
            ("%d{A-S", "no closing }"),
            ("%{latency}", "no such difference; known: tx_error"),
            ("\\q", "unknown escape \\q"),
            ("x\\", "lone \\"),
        ] {
            let e = fmt.parse::<Format>().unwrap_err();
            assert!(e.contains(says), "{fmt}: {e}");
        }
        assert_eq!("".parse::<Format>().unwrap(), Format(vec![]));
    }
}
