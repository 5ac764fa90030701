//! Identifiers. Each is its own type so that a tenant id can never be passed where a customer id
//! is expected; all are opaque text chosen by the tenant (or by RuleKit for automations).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest identifier accepted, in characters. Keys of stored items are built from these, so
/// the bound also bounds item and key sizes.
pub const MAX_ID_LEN: usize = 128;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
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
                Self(s.to_owned())
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
