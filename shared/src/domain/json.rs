//! Reading JSON text strictly: one reader for every input RuleKit parses (event files, the
//! automations file, API bodies, SQS messages).
//!
//! serde_json accepts an object that names a key twice and keeps the last value, so
//! `"mode":"dry_run","mode":"live"` would be stored as live, and an event with two
//! `amount_minor` would fire on whichever came second. RFC 8259 leaves duplicates to the
//! reader; a billing input is never meant to carry two values for one field, so here a
//! repeated key is an error that names its path. A leading byte-order mark (which some
//! editors and Windows tools write) is ignored, as RFC 8259 §8.1 allows.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;

/// Why a JSON text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at all (or not UTF-8): the position and serde_json's description.
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// An object names the key at `path` twice (`balance.amount_minor`, `automations[0].mode`).
    DuplicateKey {
        path: String,
        line: usize,
        column: usize,
    },
}

impl JsonError {
    /// The line (1-based) the problem was found on.
    pub fn line(&self) -> usize {
        match self {
            Self::Syntax { line, .. } | Self::DuplicateKey { line, .. } => *line,
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax { message, .. } => write!(f, "not valid JSON: {message}"),
            Self::DuplicateKey { path, .. } => write!(f, "{path}: duplicate key"),
        }
    }
}

impl std::error::Error for JsonError {}

const BOM: &str = "\u{feff}";

/// Parses one JSON document, refusing repeated object keys; a leading BOM is skipped.
pub fn parse(text: &str) -> Result<Value, JsonError> {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = ValueSeed {
        path: None,
        duplicate: &duplicate,
    };
    let result = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    result.map_err(|e| match duplicate.take() {
        Some(path) => JsonError::DuplicateKey {
            path,
            line: e.line(),
            column: e.column(),
        },
        None => JsonError::Syntax {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        },
    })
}

/// Parses bytes that should be UTF-8 JSON (an HTTP body, a queue message).
pub fn parse_bytes(bytes: &[u8]) -> Result<Value, JsonError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(e) => {
            let before = &bytes[..e.valid_up_to()];
            let line = 1 + before.iter().filter(|b| **b == b'\n').count();
            let column = 1 + before.iter().rev().take_while(|b| **b != b'\n').count();
            Err(JsonError::Syntax {
                line,
                column,
                message: format!("not UTF-8 (at byte {})", e.valid_up_to()),
            })
        }
    }
}

/// Where in the document a value sits, kept as borrowed links so that no path is built
/// unless a duplicate is found.
#[derive(Clone, Copy)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

struct PathNode<'a> {
    parent: Option<&'a PathNode<'a>>,
    segment: Segment<'a>,
}

fn render(node: Option<&PathNode<'_>>) -> String {
    let mut segments = Vec::new();
    let mut at = node;
    while let Some(n) = at {
        segments.push(n.segment);
        at = n.parent;
    }
    let mut path = String::new();
    for segment in segments.into_iter().rev() {
        match segment {
            Segment::Key(k) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
            }
            Segment::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    path
}

#[derive(Clone, Copy)]
struct ValueSeed<'a> {
    path: Option<&'a PathNode<'a>>,
    /// The path of the first repeated key, for the caller to report.
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            let node = PathNode {
                parent: self.path,
                segment: Segment::Index(items.len()),
            };
            let seed = ValueSeed {
                path: Some(&node),
                duplicate: self.duplicate,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let node = PathNode {
                parent: self.path,
                segment: Segment::Key(&key),
            };
            let seed = ValueSeed {
                path: Some(&node),
                duplicate: self.duplicate,
            };
            let value = map.next_value_seed(seed)?;
            if object.contains_key(&key) {
                let path = render(Some(&node));
                let error = de::Error::custom(format!("{path}: duplicate key"));
                self.duplicate.replace(Some(path));
                return Err(error);
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn when_a_key_is_repeated_should_name_its_path_and_line() {
        let err = parse("{\"mode\":\"dry_run\",\n\"mode\":\"live\"}").unwrap_err();
        assert_eq!(
            err,
            JsonError::DuplicateKey {
                path: "mode".to_owned(),
                line: 2,
                column: err_column(&err)
            }
        );
        let nested = parse(
            r#"{"events":[{"balance":{"amount_minor":-1,"amount_minor":-2,"currency":"USD"}}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            nested.to_string(),
            "events[0].balance.amount_minor: duplicate key"
        );
    }

    fn err_column(e: &JsonError) -> usize {
        match e {
            JsonError::Syntax { column, .. } | JsonError::DuplicateKey { column, .. } => *column,
        }
    }

    #[test]
    fn when_the_text_is_valid_should_read_what_serde_json_reads() {
        let text = r#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"c":18446744073709551615}"#;
        assert_eq!(
            parse(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        assert_eq!(parse("\u{feff}{\"a\":1}").unwrap(), json!({"a": 1}));
    }

    #[test]
    fn when_the_text_is_not_json_or_not_utf8_should_say_where() {
        let err = parse("{\"a\":1}\n{").unwrap_err();
        assert!(matches!(err, JsonError::Syntax { line: 2, .. }), "{err:?}");
        let err = parse_bytes(b"{\"a\":\"\xff\"}").unwrap_err();
        assert!(err.to_string().contains("not UTF-8 (at byte 6)"), "{err}");
    }
}
