//! Names from a schedule file (stream names, paths) as they may be printed:
//! control characters and the Unicode marks that reorder text are escaped,
//! so a name cannot clear a terminal, move its cursor, start a new line
//! that looks like a diagnostic, or hide part of a message.

use std::borrow::Cow;

/// `text` with every control character (C0, DEL, C1) and bidirectional
/// formatting mark written as a Rust escape (`\n`, `\u{1b}`); other text
/// is returned as it is, without copying.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_and_bidi_marks_are_escaped() {
        assert_eq!(printable("camera-1 µs"), "camera-1 µs");
        assert_eq!(printable("a\nb"), "a\\nb");
        assert_eq!(printable("\u{1b}[2J\u{7}"), "\\u{1b}[2J\\u{7}");
        assert_eq!(
            printable("x\u{9b}y\u{202e}z\u{7f}"),
            "x\\u{9b}y\\u{202e}z\\u{7f}"
        );
        assert_eq!(printable("tab\there\r"), "tab\\there\\r");
    }
}
