//! toml's own errors, reworded: which table an unknown key was in and which
//! keys are allowed there, which type a key wanted, and what to write
//! instead of TOML that does not parse.

use super::raw::{self, Failure};
use super::Located;
use std::ops::Range;

/// The positioned, reworded message for a failed `raw::parse`.
pub(super) fn describe(failure: &Failure, text: &str) -> Located {
    match failure {
        Failure::Syntax(e) => syntax(e.message(), text, e.span().unwrap_or(0..0)),
        Failure::Shape(e) => {
            let span = e.span().unwrap_or(0..0);
            let path = key_path(e);
            let message = shape_message(e.message(), &path, snippet(text, &span));
            Located { span, message }
        }
    }
}

/// toml keeps an error's key path private and prints it (as "in `a.b`")
/// only when no input is attached, so read it from there.
fn key_path(e: &toml::de::Error) -> Vec<String> {
    let mut e = e.clone();
    e.set_input(None);
    let shown = e.to_string();
    let path = shown
        .lines()
        .filter_map(|l| l.strip_prefix("in `")?.strip_suffix('`'))
        .next_back()
        .unwrap_or("");
    path.split('.')
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

fn snippet<'t>(text: &'t str, span: &Range<usize>) -> &'t str {
    text.get(span.clone()).unwrap_or("")
}

/// Tables that are arrays of tables, written `[[name]]`.
const ARRAYS_OF_TABLES: [&str; 3] = ["schedule.entry", "admin.entry", "stream"];

/// "in [schedule]", "in [[stream]]", or "at the top level".
fn place(path: &[String]) -> String {
    let joined = path.join(".");
    if joined.is_empty() {
        "at the top level".to_owned()
    } else if ARRAYS_OF_TABLES.contains(&joined.as_str()) {
        format!("in [[{joined}]]")
    } else {
        format!("in [{joined}]")
    }
}

fn table_name(path: &[String]) -> String {
    let joined = path.join(".");
    if joined.is_empty() {
        "the top level".to_owned()
    } else if ARRAYS_OF_TABLES.contains(&joined.as_str()) {
        format!("[[{joined}]]")
    } else {
        format!("[{joined}]")
    }
}

fn allowed_keys(path: &[String]) -> &'static [&'static str] {
    match path.join(".").as_str() {
        "" => raw::TOP_KEYS,
        "schedule" => raw::SCHEDULE_KEYS,
        "admin" => raw::ADMIN_KEYS,
        "schedule.entry" | "admin.entry" => raw::ENTRY_KEYS,
        "link" => raw::LINK_KEYS,
        "stream" => raw::STREAM_KEYS,
        "control" => raw::CONTROL_KEYS,
        "ptp" => raw::PTP_KEYS,
        "frer" => raw::FRER_KEYS,
        _ => &[],
    }
}

/// [`key_example`], for the table at `path`: `[frer] ports` holds names
/// where a stream's `ports` holds indices.
fn example_in(key: &str, path: &[String]) -> Option<&'static str> {
    if key == "ports" && path.first().is_some_and(|t| t == "frer") {
        return Some("ports = [\"a\", \"b\"]");
    }
    key_example(key)
}

/// An example line for a key, for messages about a missing or mistyped key.
fn key_example(key: &str) -> Option<&'static str> {
    Some(match key {
        "clock" => "clock = \"tai\"",
        "base_time" => "base_time = \"10s\"",
        "cycle_time" => "cycle_time = \"1ms\"",
        "cycle_time_extension" => "cycle_time_extension = \"10us\"",
        "interval" => "interval = \"250us\"",
        "gates" => "gates = [0, 7]",
        "gate_mask" => "gate_mask = 0x81",
        "speed" => "speed = \"1Gbps\"",
        "tc_to_pcp" => "tc_to_pcp = [0, 1, 2, 3, 4, 5, 6, 7]",
        "name" => "name = \"control\"",
        "traffic_class" => "traffic_class = 7",
        "vlan_id" => "vlan_id = 100",
        "pcp" => "pcp = 7",
        "dst_mac" => "dst_mac = \"91:e0:f0:00:fe:00\"",
        "frame_size" => "frame_size = 128",
        "offset" => "offset = \"10us\"",
        "frames_per_cycle" => "frames_per_cycle = 1",
        "spacing" => "spacing = \"20us\"",
        "return_of" => "return_of = \"control\"",
        "ports" => "ports = [0, 1]",
        "redundancy" => "redundancy = \"frer\"",
        "algorithm" => "algorithm = \"vector\"",
        "history_length" => "history_length = 32",
        "reset_timeout" => "reset_timeout = \"1s\"",
        "individual_recovery" => "individual_recovery = false",
        "take_no_sequence" => "take_no_sequence = false",
        "latent_error_detection" => "latent_error_detection = true",
        "latent_error_difference" => "latent_error_difference = 0",
        "latent_error_period" => "latent_error_period = \"2s\"",
        "latent_reset_period" => "latent_reset_period = \"30s\"",
        "address" => "address = \"10.77.0.1/24\"",
        "gateway" => "gateway = \"10.77.0.254\"",
        "best_effort_class" => "best_effort_class = 0",
        "status_port" => "status_port = 9700",
        "guard_band" => "guard_band = \"20us\"",
        "mode" => "mode = \"auto\"",
        "profile" => "profile = \"gptp\"",
        "domain" => "domain = 0",
        "priority1" => "priority1 = 248",
        "priority2" => "priority2 = 248",
        "class" => "class = 0",
        "log_sync_interval" => "log_sync_interval = -3",
        "log_announce_interval" => "log_announce_interval = 0",
        "log_delay_interval" => "log_delay_interval = 0",
        "announce_receipt_timeout" => "announce_receipt_timeout = 3",
        "sync_threshold" => "sync_threshold = \"100us\"",
        "sync_wait" => "sync_wait = \"30s\"",
        "ptp4l_socket" => "ptp4l_socket = \"/var/run/ptp4l\"",
        _ => return None,
    })
}

fn shape_message(msg: &str, path: &[String], snippet: &str) -> String {
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let key = rest.split_once("`, ").map_or(rest, |(k, _)| k);
        if key == raw::DATETIME_KEY {
            // A date-time where a table belongs: `path` is that table.
            if let Some((last, table)) = path.split_last() {
                return wrong_type(last, &place(table), "a date-time", "a table", path);
            }
        }
        return unknown_key(key, path);
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let key = rest.strip_suffix('`').unwrap_or(rest);
        return missing_key(key, path);
    }
    let Some((key, table)) = path.split_last() else {
        return msg.to_owned();
    };
    let place = place(table);
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            let found = found_kind(found, snippet);
            return wrong_type(key, &place, found, expected, path);
        }
    }
    if msg == "integer number overflowed" || msg == raw::TOO_LARGE {
        return format!("`{key}` {place} is too large");
    }
    format!("`{key}` {place}: {msg}")
}

fn unknown_key(key: &str, path: &[String]) -> String {
    let allowed = allowed_keys(path);
    let hint = suggestion(key, allowed)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    if path.is_empty() {
        return format!(
            "unknown top-level table or key `{key}`{hint}: a schedule file has only [schedule], [admin], [link], [[stream]], [control], [ptp] and [frer]"
        );
    }
    let list = allowed.join(", ");
    format!(
        "unknown key `{key}` in {}{hint}: the keys allowed there are {list}",
        table_name(path)
    )
}

fn missing_key(key: &str, path: &[String]) -> String {
    if path.is_empty() && key == "schedule" {
        return "the file has no [schedule] table: add one with at least one [[schedule.entry]] (gates and interval)".to_owned();
    }
    let example = example_in(key, path)
        .map(|e| format!(", e.g. `{e}`"))
        .unwrap_or_default();
    format!(
        "{} is missing the required key `{key}`: add it{example}",
        table_name(path)
    )
}

fn wrong_type(key: &str, place: &str, found: &str, expected: &str, path: &[String]) -> String {
    let expected = match expected {
        "a sequence" => "an array",
        e => e,
    };
    let mut msg = format!("`{key}` {place} must be {expected}, not {found}");
    let array_of_tables = ARRAYS_OF_TABLES.contains(&path.join(".").as_str());
    if array_of_tables && found == "a table" {
        msg.push_str(&format!(
            ": write each one under its own double-bracket header, e.g. [[{}]]",
            path.join(".")
        ));
    } else if found == "an array"
        && matches!(
            key,
            "schedule" | "admin" | "link" | "control" | "ptp" | "frer"
        )
    {
        msg.push_str(&format!(": write [{key}] with single brackets, once"));
    } else if let Some(example) = example_in(key, path) {
        msg.push_str(&format!(": e.g. `{example}`"));
    }
    msg
}

/// serde's description of the value found ("string \"x\"", "integer `5`",
/// "map", ...) as a type name. toml hands date-times over as maps, so a
/// "map" that is not written as a table is a date-time.
fn found_kind(found: &str, snippet: &str) -> &'static str {
    let head = found.split([' ', '`']).next().unwrap_or("");
    match head {
        "string" => "a string",
        "integer" => "an integer",
        "floating" => "a float",
        "boolean" => "a boolean",
        "sequence" => "an array",
        "map" if snippet.starts_with(|c: char| c.is_ascii_digit()) => "a date-time",
        "map" => "a table",
        _ => "something else",
    }
}

/// The allowed key closest to a misspelt one, if it is close enough.
fn suggestion<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|&a| (edit_distance(key, a), a))
        .filter(|&(d, a)| d <= 2 && d < a.chars().count())
        .min_by_key(|&(d, _)| d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn syntax(msg: &str, text: &str, span: Range<usize>) -> Located {
    let msg = msg.strip_suffix(", expected nothing").unwrap_or(msg);
    if msg == "duplicate key" {
        let message = format!(
            "invalid TOML: `{}` is defined twice: each key and table may appear only once",
            snippet(text, &span)
        );
        return Located { span, message };
    }
    let about_a_value = [
        "string values must be quoted",
        "invalid boolean",
        "invalid float",
        "invalid integer",
    ]
    .iter()
    .any(|p| msg.starts_with(p));
    let word_span = bare_word(text, span.start);
    let word = snippet(text, &word_span);
    if about_a_value && word.chars().any(|c| c.is_alphabetic()) {
        let message = format!(
            "invalid TOML: `{word}` must be quoted: write \"{word}\" (durations, speeds, names and MACs are strings)"
        );
        return Located {
            span: word_span,
            message,
        };
    }
    Located {
        span,
        message: format!("invalid TOML: {msg}"),
    }
}

/// The unquoted token around byte `at`, e.g. all of `1.5ms` when toml
/// points at its `ms`.
fn bare_word(text: &str, at: usize) -> Range<usize> {
    let part = |c: char| c.is_alphanumeric() || "._:+-µ".contains(c);
    let at = (0..=at.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let (before, after) = text.split_at(at);
    let start = before
        .char_indices()
        .rev()
        .take_while(|&(_, c)| part(c))
        .last()
        .map_or(at, |(i, _)| i);
    let len = after.find(|c: char| !part(c)).unwrap_or(after.len());
    start..at + len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(suggestion("intervl", raw::ENTRY_KEYS), Some("interval"));
        assert_eq!(suggestion("gate", raw::ENTRY_KEYS), Some("gates"));
        assert_eq!(suggestion("zzzz", raw::ENTRY_KEYS), None);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn bare_words_never_slice_inside_a_char() {
        let word = |text: &'static str, at| snippet(text, &bare_word(text, at));
        assert_eq!(word("a = 1.5ms", 7), "1.5ms");
        assert_eq!(word("a = 3µs x", 6), "3µs");
        assert_eq!(word("", 5), "");
        assert_eq!(word("µµ", 1), "µµ");
    }
}
