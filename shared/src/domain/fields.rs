//! Reading JSON input field by field, so that every rejection names the field and the reason.
//!
//! serde's derive stops at the first problem and words it for programmers; operators need every
//! problem of a document at once, each with the path of the field it concerns
//! (`trigger.thresholds_days[1]`). The readers here collect [`FieldError`]s instead of failing.

use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

/// One problem with one field of an input document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Path of the field, e.g. `balance.amount_minor` or `automations[2].trigger.catch_up_days`.
    pub field: String,
    /// Why it was rejected, in words an operator can act on.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem found in one document, in the order they were found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldErrors(pub Vec<FieldError>);

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}

/// `parent.child`, or `child` at the top level.
pub fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// `parent[index]`.
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// Short name of a JSON value's type, for messages like "must be a string, got a number".
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What an integer too large for any integer type is called in messages: JSON readers turn
/// such a literal into a float, whose digits would be misleading to print.
pub const OUT_OF_RANGE: &str = "a number far outside that range";

/// Whether `n` is a number no 64-bit integer can hold (a long integer literal, or a float
/// such as `1e29`): out of range, rather than "a decimal", whatever its notation.
pub fn is_beyond_integers(n: &serde_json::Number) -> bool {
    n.is_f64() && n.as_f64().is_some_and(|x| x.abs() >= i64::MAX as f64)
}

/// Collects the problems of one document while its fields are read.
#[derive(Debug, Default)]
pub struct Reader {
    errors: Vec<FieldError>,
}

impl Reader {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    pub fn error_count(&self) -> usize {
        self.errors.len()
    }

    /// The value read, or every problem found while reading it.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, FieldErrors> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(FieldErrors(self.errors)),
        }
    }

    /// `v` as an object whose keys are all in `allowed`; unknown keys are errors, because a
    /// misspelt optional field would otherwise be silently replaced by its default.
    pub fn object<'v>(
        &mut self,
        path: &str,
        v: &'v Value,
        allowed: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Value::Object(map) = v else {
            let at = if path.is_empty() { "document" } else { path };
            self.error(at, format!("must be an object, got {}", type_name(v)));
            return None;
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.error(
                    join(path, key),
                    format!("unknown field; expected one of: {}", allowed.join(", ")),
                );
            }
        }
        Some(map)
    }

    /// A field that must be present (and not null).
    pub fn required<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'v Value> {
        match obj.get(key) {
            None | Some(Value::Null) => {
                self.error(join(path, key), "is required");
                None
            }
            Some(v) => Some(v),
        }
    }

    /// A field that may be absent or null.
    pub fn optional<'v>(&self, obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// A string of 1..=`max_len` characters with no control characters.
    pub fn text<'v>(&mut self, path: &str, v: &'v Value, max_len: usize) -> Option<&'v str> {
        let Value::String(s) = v else {
            self.error(path, format!("must be a string, got {}", type_name(v)));
            return None;
        };
        let chars = s.chars().count();
        if chars == 0 || s.trim().is_empty() {
            self.error(path, "must not be empty");
            None
        } else if chars > max_len {
            self.error(
                path,
                format!("must be at most {max_len} characters, got {chars}"),
            );
            None
        } else if s.chars().any(char::is_control) {
            self.error(path, "must not contain control characters");
            None
        } else {
            Some(s)
        }
    }

    /// A tenant, customer or automation id (see [`crate::domain::ids::is_valid_id`]).
    pub fn id<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v str> {
        let Value::String(s) = v else {
            self.error(path, format!("must be a string, got {}", type_name(v)));
            return None;
        };
        if crate::domain::ids::is_valid_id(s) {
            Some(s)
        } else {
            self.error(path, crate::domain::ids::ID_RULE);
            None
        }
    }

    /// An integer in `min..=max`; decimals (even `12.0`) and strings are refused, because an
    /// amount or a day count that arrives as a float has already lost its exactness somewhere.
    pub fn integer(&mut self, path: &str, v: &Value, min: i64, max: i64) -> Option<i64> {
        let Value::Number(n) = v else {
            self.error(path, format!("must be an integer, got {}", type_name(v)));
            return None;
        };
        let Some(i) = n.as_i64() else {
            if is_beyond_integers(n) {
                self.error(
                    path,
                    format!("must be between {min} and {max}, got {OUT_OF_RANGE}"),
                );
            } else if n.is_f64() {
                self.error(path, format!("must be an integer, got the decimal {n}"));
            } else {
                self.error(path, format!("must be between {min} and {max}, got {n}"));
            }
            return None;
        };
        if !(min..=max).contains(&i) {
            self.error(path, format!("must be between {min} and {max}, got {i}"));
            return None;
        }
        Some(i)
    }

    pub fn boolean(&mut self, path: &str, v: &Value) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            _ => {
                self.error(path, format!("must be true or false, got {}", type_name(v)));
                None
            }
        }
    }

    pub fn array<'v>(&mut self, path: &str, v: &'v Value, max_len: usize) -> Option<&'v [Value]> {
        let Value::Array(items) = v else {
            self.error(path, format!("must be an array, got {}", type_name(v)));
            return None;
        };
        if items.len() > max_len {
            self.error(
                path,
                format!("must have at most {max_len} items, got {}", items.len()),
            );
            return None;
        }
        Some(items)
    }

    /// One of a fixed set of words, e.g. a mode or an operator.
    pub fn choice<T: Copy>(&mut self, path: &str, v: &Value, options: &[(&str, T)]) -> Option<T> {
        let Value::String(s) = v else {
            self.error(path, format!("must be a string, got {}", type_name(v)));
            return None;
        };
        match options.iter().find(|(name, _)| name == s) {
            Some((_, value)) => Some(*value),
            None => {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                self.error(
                    path,
                    format!("unknown value {s:?}; expected one of: {}", names.join(", ")),
                );
                None
            }
        }
    }
}
