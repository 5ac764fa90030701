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

// Ids are shared text (`Arc<str>`): a customer's id sits in its state, each of its events and
// each of its decisions, and all of them are cloned on every path (a backtest holds millions),
// so a clone is a count, not a copy.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn new(id: impl AsRef<str>) -> Self {
                Self(Arc::from(id.as_ref()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(Arc::from(s))
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
