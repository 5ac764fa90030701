//! Identifiers. Each is its own type so that a tenant id can never be passed where a customer id
//! is expected; all are opaque text chosen by the tenant (or by RuleKit for automations).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The longest identifier accepted, in characters. Keys of stored items are built from these, so
/// the bound also bounds item and key sizes.
pub const MAX_ID_LEN: usize = 128;

/// What a tenant, customer or automation id may be, in words (for error messages and docs).
pub const ID_RULE: &str =
    "must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-', and not \".\" or \"..\"";

/// Whether `id` may name a tenant, a customer or an automation: 1 to [`MAX_ID_LEN`] characters
/// of `[A-Za-z0-9._:-]`, and not `.` or `..`. These ids appear in URL paths (`/v1/customers/
/// {id}`), headers (`Location`) and storage keys, so they are kept to characters that mean
/// nothing in any of them: no `?`, `#`, `/` or `%`, no spaces, nothing a path would normalise
/// away. Being ASCII, their length is the same in bytes and in characters. Event and
/// subscription ids are facts from the billing system, never part of a path, and are text.
pub fn is_valid_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The text of an id, stored inline when it is short (as almost every id is: `cus_0000456`,
/// `evt_1NG8Du2eZvKYlo2CUI79vXWy`), shared (`Arc<str>`) when it is not. A customer's id sits
/// in its state, each of its events and each of its decisions, and ids are cloned, hashed and
/// compared on every path (a backtest holds millions of them), so the common case is a
/// 24-byte copy with nothing on the heap: no allocation, no reference count, no pointer to
/// follow.
#[derive(Clone)]
pub struct IdText(Repr);

/// Bytes of text held inline; with the length and the variant's tag the id is 24 bytes, the
/// size of a `String`.
const INLINE: usize = 22;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Arc<str>),
}

impl IdText {
    pub fn new(text: &str) -> Self {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                Self(Repr::Inline { len, bytes })
            }
            _ => Self(Repr::Shared(Arc::from(text))),
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                let text = &bytes[..usize::from(*len)];
                // SAFETY: `new` copied exactly these bytes from a `&str`, so they are UTF-8.
                unsafe { std::str::from_utf8_unchecked(text) }
            }
            Repr::Shared(text) => text,
        }
    }
}

// Equality, order and hashing are the text's, so an id can be looked up by `&str`.
impl PartialEq for IdText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for IdText {}

impl PartialOrd for IdText {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IdText {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for IdText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for IdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for IdText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IdText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::new(&text))
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(IdText);

        impl $name {
            pub fn new(id: impl AsRef<str>) -> Self {
                Self(IdText::new(id.as_ref()))
            }

            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        // Lets a set of ids be searched by text: hashes and orders as the text.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                self.as_str()
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::new(s)
            }
        }
    };
}

id_type!(
    /// A business that bills its own customers; every stored item and query is scoped by it.
    TenantId
);
id_type!(
    /// A tenant's customer, unique within the tenant only.
    CustomerId
);
id_type!(
    /// An event's id, unique within the tenant: a second event with the same id is a duplicate
    /// (same payload) or a conflict (different payload).
    EventId
);
id_type!(
    /// An automation's id, unique within the tenant.
    AutomationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_an_id_is_short_or_long_should_read_hash_and_order_as_its_text() {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let hasher = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
        let long = "x".repeat(INLINE + 1);
        for text in ["", "c1", "évènement", &"y".repeat(INLINE), &long] {
            let id = EventId::new(text);
            assert_eq!(id.as_str(), text);
            assert_eq!(hasher.hash_one(&id), hasher.hash_one(text));
            assert_eq!(
                serde_json::to_string(&id).unwrap(),
                serde_json::to_string(text).unwrap()
            );
        }
        assert!(EventId::new("a") < EventId::new(&long) && EventId::new(&long) < EventId::new("y"));
        assert_eq!(std::mem::size_of::<EventId>(), 24);
    }

    #[test]
    fn when_an_id_has_url_special_characters_or_is_a_dot_segment_should_be_refused() {
        for ok in ["c1", "cus_0001", "a.b:c-d_e", &"x".repeat(MAX_ID_LEN)] {
            assert!(is_valid_id(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a1?ignore",
            "a/b",
            "a#b",
            "50%",
            " a",
            "a ",
            "é",
            "a\u{0}",
            &"x".repeat(MAX_ID_LEN + 1),
        ] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }
}
