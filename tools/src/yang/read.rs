//! Reading an RFC 7951 instance with the JSON path of every value at hand,
//! so each complaint names where it is
//! (`/ietf-interfaces:interfaces/interface[name='eth0']/.../time-interval-value`).

use serde_json::{Map, Value};

/// A malformed instance: where, and what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

pub type Res<T> = Result<T, PathError>;

/// A JSON value and the path that leads to it.
#[derive(Clone, Copy, Debug)]
pub struct At<'a> {
    pub path: &'a str,
    pub value: &'a Value,
}

/// An owned path plus a borrowed value: what `member` and `items` hand out.
#[derive(Clone, Debug)]
pub struct Node<'a> {
    pub path: String,
    pub value: &'a Value,
}

impl<'a> Node<'a> {
    pub fn root(value: &'a Value) -> Self {
        Node {
            path: String::new(),
            value,
        }
    }

    pub fn at(&self) -> At<'_> {
        At {
            path: &self.path,
            value: self.value,
        }
    }

    pub fn error(&self, message: impl Into<String>) -> PathError {
        PathError {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    /// The value as an object.
    pub fn object(&self) -> Res<&'a Map<String, Value>> {
        self.value
            .as_object()
            .ok_or_else(|| self.error(format!("expected an object, found {}", shown(self.value))))
    }

    /// Member `name` of this object, if there is one. Also found written
    /// qualified with `module` (RFC 7951 wants the simple form inside a
    /// module, but some tools qualify every name).
    pub fn member(&self, name: &str, module: Option<&str>) -> Res<Option<Node<'a>>> {
        let obj = self.object()?;
        let found = obj
            .get_key_value(name)
            .or_else(|| module.and_then(|m| obj.get_key_value(format!("{m}:{name}").as_str())));
        Ok(found.map(|(k, v)| Node {
            path: format!("{}/{k}", self.path),
            value: v,
        }))
    }

    /// Member `name`, which must be there.
    pub fn required(&self, name: &str, module: Option<&str>) -> Res<Node<'a>> {
        self.member(name, module)?
            .ok_or_else(|| self.error(format!("missing \"{name}\"")))
    }

    /// The value as an array (a YANG list or leaf-list).
    pub fn array(&self) -> Res<&'a [Value]> {
        self.value.as_array().map(Vec::as_slice).ok_or_else(|| {
            self.error(format!(
                "expected an array (a YANG list), found {}",
                shown(self.value)
            ))
        })
    }

    /// The items of this array, each with the path `[n]` (1-based, as
    /// XPath counts); callers rename them by key once the key is read.
    pub fn items(&self) -> Res<Vec<Node<'a>>> {
        Ok(self
            .array()?
            .iter()
            .enumerate()
            .map(|(i, v)| Node {
                path: format!("{}[{}]", self.path, i + 1),
                value: v,
            })
            .collect())
    }

    /// This list item, its path ending in a key predicate instead of `[n]`.
    pub fn keyed(mut self, predicate: &str) -> Self {
        if let Some(open) = self.path.rfind('[') {
            self.path.truncate(open);
        }
        self.path.push_str(predicate);
        self
    }

    pub fn bool(&self) -> Res<bool> {
        self.value.as_bool().ok_or_else(|| {
            self.error(format!(
                "expected true or false, found {}",
                shown(self.value)
            ))
        })
    }

    pub fn string(&self) -> Res<&'a str> {
        self.value
            .as_str()
            .ok_or_else(|| self.error(format!("expected a string, found {}", shown(self.value))))
    }

    /// An unsigned integer of at most `max`, written as a JSON number
    /// (RFC 7951: uint8/16/32 are numbers).
    pub fn uint(&self, type_name: &str, max: u64) -> Res<u64> {
        match self.value.as_u64() {
            Some(n) if n <= max => Ok(n),
            Some(n) => Err(self.error(format!("{n} is out of range for {type_name} (0..={max})"))),
            None => Err(self.error(format!(
                "expected a {type_name} number, found {}",
                shown(self.value)
            ))),
        }
    }

    pub fn u32(&self) -> Res<u32> {
        self.uint("uint32", u32::MAX.into()).map(|n| n as u32)
    }

    pub fn u8(&self) -> Res<u8> {
        self.uint("uint8", u8::MAX.into()).map(|n| n as u8)
    }

    /// A uint64: RFC 7951 writes it as a string of digits; a JSON number is
    /// accepted too, since some tools write one.
    pub fn u64_lenient(&self) -> Res<u64> {
        match self.value {
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
                .parse::<u64>()
                .map_err(|_| self.error(format!("\"{s}\" is out of range for uint64"))),
            v => v.as_u64().ok_or_else(|| {
                self.error(format!(
                    "expected a uint64 (a string of digits), found {}",
                    shown(v)
                ))
            }),
        }
    }
}

/// A value as it appears in the input, cut short if long.
pub fn shown(v: &Value) -> String {
    let text = match v {
        Value::Object(_) => return "an object".to_owned(),
        Value::Array(_) => return "an array".to_owned(),
        v => v.to_string(),
    };
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(37).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_path_and_the_value_found() {
        let v = json!({"a": {"list": [{"k": 1, "x": "abc"}]}});
        let root = Node::root(&v);
        let a = root.required("a", None).unwrap();
        let items = a.required("list", None).unwrap().items().unwrap();
        let item = items[0].clone().keyed("[k=1]");
        let e = item.required("x", None).unwrap().u32().unwrap_err();
        assert_eq!(
            e.to_string(),
            "/a/list[k=1]/x: expected a uint32 number, found \"abc\""
        );
        assert_eq!(
            a.required("nope", None).unwrap_err().to_string(),
            "/a: missing \"nope\""
        );
    }

    #[test]
    fn uint64_as_string_or_number() {
        for v in [json!("42"), json!(42)] {
            assert_eq!(Node::root(&v).u64_lenient().unwrap(), 42);
        }
        for v in [
            json!("-1"),
            json!("1e3"),
            json!(""),
            json!("99999999999999999999"),
            json!(1.5),
        ] {
            assert!(Node::root(&v).u64_lenient().is_err(), "{v}");
        }
    }

    #[test]
    fn qualified_member_names_are_found_too() {
        let v = json!({"m:x": 3});
        let n = Node::root(&v).member("x", Some("m")).unwrap().unwrap();
        assert_eq!(n.path, "/m:x");
    }
}
