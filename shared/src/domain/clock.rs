//! Clocks (SPEC §8.1): what starts and stops an automation's count of days. A clock is
//! identified by the key of the event it started at, and that key is the clock's part of the
//! firing key (`decision::FiringKey::episode`), so a step fires once per clock whatever the
//! kind. The past-due clock runs while the customer is continuously past due under a
//! continuity policy (SPEC §3): its two policies are two clocks of one kind. The payment and
//! cancellation clocks of §8.1 join as variants, each with its start, its stops and its index.

use super::customer::{Continuity, CustomerState, Episode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClockKind {
    /// The past-due episode under a continuity policy.
    PastDue(Continuity),
}

impl ClockKind {
    /// The `trigger.type` naming the kind.
    pub fn trigger_type(self) -> &'static str {
        match self {
            Self::PastDue(_) => "past_due",
        }
    }

    /// The customer's running clock of this kind: what its steps count days on.
    pub fn running(self, customer: &CustomerState) -> Option<&Episode> {
        match self {
            Self::PastDue(continuity) => customer.episode(continuity),
        }
    }

    /// The continuity policy whose episode index the clock's starts are read from.
    pub fn continuity(self) -> Continuity {
        match self {
            Self::PastDue(continuity) => continuity,
        }
    }
}
