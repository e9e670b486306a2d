//! Shell-like command text split into commands of words, each word with
//! the line and column where it starts: what tc scripts need and no more
//! (`#` comments, backslash-newline continuations, '...' and "..." quotes,
//! `;` `&&` `||` `|` between commands). Variables are not expanded: a word
//! such as `$IFACE` stays as written, and is an error only where a number
//! is needed.

use super::{TaprioError, Where};

/// One word and where it starts (1-based line, column in characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub line: usize,
    pub col: usize,
}

impl Word {
    pub fn at(&self) -> Where {
        Where::Text {
            line: self.line,
            col: self.col,
        }
    }
}

/// The commands of `text`, each a list of words (empty commands left out).
pub fn commands(text: &str) -> Result<Vec<Vec<Word>>, TaprioError> {
    let mut out = Vec::new();
    let mut cmd: Vec<Word> = Vec::new();
    let mut word: Option<Word> = None;
    let (mut line, mut col) = (1usize, 1usize);
    let mut chars = text.chars().peekable();

    fn end_word(word: &mut Option<Word>, cmd: &mut Vec<Word>) {
        if let Some(w) = word.take() {
            cmd.push(w);
        }
    }
    fn end_command(word: &mut Option<Word>, cmd: &mut Vec<Word>, out: &mut Vec<Vec<Word>>) {
        end_word(word, cmd);
        if !cmd.is_empty() {
            out.push(std::mem::take(cmd));
        }
    }
    let start = |word: &mut Option<Word>, line, col| {
        word.get_or_insert_with(|| Word {
            text: String::new(),
            line,
            col,
        });
    };

    while let Some(c) = chars.next() {
        let (here_line, here_col) = (line, col);
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
        match c {
            '\\' => match chars.next() {
                Some('\n') => {
                    line += 1;
                    col = 1;
                }
                Some(next) => {
                    col += 1;
                    start(&mut word, here_line, here_col);
                    if let Some(w) = word.as_mut() {
                        w.text.push(next);
                    }
                }
                None => {}
            },
            '#' if word.is_none() => {
                // A comment runs to the end of the line; the newline ends
                // the command as usual.
                while let Some(&n) = chars.peek() {
                    if n == '\n' {
                        break;
                    }
                    chars.next();
                    col += 1;
                }
            }
            ' ' | '\t' | '\r' => end_word(&mut word, &mut cmd),
            '\n' | ';' | '&' | '|' => end_command(&mut word, &mut cmd, &mut out),
            '\'' | '"' => {
                start(&mut word, here_line, here_col);
                let mut closed = false;
                while let Some(n) = chars.next() {
                    if n == '\n' {
                        line += 1;
                        col = 1;
                    } else {
                        col += 1;
                    }
                    if n == c {
                        closed = true;
                        break;
                    }
                    let n = if c == '"' && n == '\\' && matches!(chars.peek(), Some('"' | '\\')) {
                        col += 1;
                        chars.next().unwrap_or(n)
                    } else {
                        n
                    };
                    if let Some(w) = word.as_mut() {
                        w.text.push(n);
                    }
                }
                if !closed {
                    return Err(TaprioError::new(
                        Where::Text {
                            line: here_line,
                            col: here_col,
                        },
                        format!("this {c} quote is never closed: close it or remove it"),
                    ));
                }
            }
            _ => {
                start(&mut word, here_line, here_col);
                if let Some(w) = word.as_mut() {
                    w.text.push(c);
                }
            }
        }
    }
    end_command(&mut word, &mut cmd, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<Vec<String>> {
        commands(text)
            .unwrap()
            .into_iter()
            .map(|c| c.into_iter().map(|w| w.text).collect())
            .collect()
    }

    #[test]
    fn continuations_comments_and_separators() {
        let t = "# set up\ntc qdisc add dev eth0 \\\n    taprio  num_tc 2 # two classes\nethtool -L eth0 tx 8; ip link set eth0 up && echo ok\n";
        assert_eq!(
            texts(t),
            [
                vec!["tc", "qdisc", "add", "dev", "eth0", "taprio", "num_tc", "2"],
                vec!["ethtool", "-L", "eth0", "tx", "8"],
                vec!["ip", "link", "set", "eth0", "up"],
                vec!["echo", "ok"],
            ]
        );
    }

    #[test]
    fn words_know_where_they_start() {
        let c = commands("tc qdisc \\\n  add\tdev 'my if'").unwrap();
        let w = &c[0];
        assert_eq!((w[2].text.as_str(), w[2].line, w[2].col), ("add", 2, 3));
        assert_eq!((w[4].text.as_str(), w[4].line, w[4].col), ("my if", 2, 11));
    }

    #[test]
    fn a_hash_inside_a_word_is_not_a_comment_and_quotes_must_close() {
        assert_eq!(texts("a#b c"), [vec!["a#b", "c"]]);
        let e = commands("tc \"taprio").unwrap_err();
        assert_eq!(e.at, Where::Text { line: 1, col: 4 });
    }
}
