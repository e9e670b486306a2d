//! A JSON value that keeps its members in the order they were added, so the
//! instances takt writes read top-down as the YANG module lists them
//! (serde_json's map sorts keys, and turning on its `preserve_order`
//! feature would change every other JSON output of the workspace).

use std::fmt::Write;

/// Ordered JSON.
#[derive(Clone, Debug, PartialEq)]
pub enum J {
    Obj(Vec<(String, J)>),
    Arr(Vec<J>),
    Str(String),
    Num(u64),
    Bool(bool),
}

impl J {
    /// An object from `(name, value)` pairs.
    pub fn obj<const N: usize>(members: [(&str, J); N]) -> J {
        J::Obj(
            members
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    pub fn str(s: impl Into<String>) -> J {
        J::Str(s.into())
    }

    /// Adds a member to an object (no-op on anything else).
    pub fn push(&mut self, name: &str, value: J) {
        if let J::Obj(m) = self {
            m.push((name.to_owned(), value));
        }
    }

    /// Pretty-printed, two spaces per level, with a final newline.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        let pad = |out: &mut String, d: usize| {
            for _ in 0..d {
                out.push_str("  ");
            }
        };
        match self {
            J::Obj(m) if m.is_empty() => out.push_str("{}"),
            J::Arr(a) if a.is_empty() => out.push_str("[]"),
            J::Obj(m) => {
                out.push_str("{\n");
                for (i, (k, v)) in m.iter().enumerate() {
                    pad(out, depth + 1);
                    out.push_str(&quote(k));
                    out.push_str(": ");
                    v.write(out, depth + 1);
                    out.push_str(if i + 1 < m.len() { ",\n" } else { "\n" });
                }
                pad(out, depth);
                out.push('}');
            }
            J::Arr(a) => {
                out.push_str("[\n");
                for (i, v) in a.iter().enumerate() {
                    pad(out, depth + 1);
                    v.write(out, depth + 1);
                    out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
                }
                pad(out, depth);
                out.push(']');
            }
            J::Str(s) => out.push_str(&quote(s)),
            J::Num(n) => {
                let _ = write!(out, "{n}");
            }
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        }
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_stay_in_order_and_strings_are_escaped() {
        let mut j = J::obj([("z", J::Num(1)), ("a", J::str("x\"y"))]);
        j.push("m", J::Arr(vec![J::Bool(true)]));
        let text = j.pretty();
        assert_eq!(
            text,
            "{\n  \"z\": 1,\n  \"a\": \"x\\\"y\",\n  \"m\": [\n    true\n  ]\n}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["a"], "x\"y");
    }
}
