//! Clocks (SPEC §8.1): what starts and stops an automation's count of days. A clock is
//! identified by the key of the event it started at, and that key is the clock's part of the
//! firing key (`decision::FiringKey::episode`), so a step fires once per clock whatever the
//! kind. The past-due clock runs while the customer is continuously past due under a
//! continuity policy (SPEC §3): its two policies are two clocks of one kind, one per
//! customer. The payment clock runs per invoice whose payment failed, so a customer may have
//! several at once, each named by its invoice.

use super::customer::{Continuity, CustomerState};
use super::event::EventKey;
use super::invoice::Invoice;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClockKind {
    /// The past-due episode under a continuity policy.
    PastDue(Continuity),
    /// An invoice's failed payment, until it is paid or voided.
    PaymentFailed,
}

/// One running clock of a customer.
#[derive(Debug, Clone, Copy)]
pub struct Clock<'s> {
    /// The event it started at: its identity.
    pub start: &'s EventKey,
    /// The invoice of a payment clock.
    pub invoice: Option<&'s Invoice>,
}

impl Clock<'_> {
    /// The id a clock is named by besides its start (`clock_id`): the invoice, for a payment
    /// clock; none for past due.
    pub fn id(&self) -> Option<&str> {
        self.invoice.map(|i| i.id.as_str())
    }
}

impl ClockKind {
    /// The `trigger.type` naming the kind.
    pub fn trigger_type(self) -> &'static str {
        match self {
            Self::PastDue(_) => "past_due",
            Self::PaymentFailed => "payment_failed",
        }
    }

    /// The customer's running clocks of this kind, in the order of their id: what steps count
    /// days on.
    pub fn clocks<'s>(self, customer: &'s CustomerState, mut each: impl FnMut(Clock<'s>)) {
        match self {
            Self::PastDue(continuity) => {
                if let Some(e) = customer.episode(continuity) {
                    each(Clock {
                        start: &e.start,
                        invoice: None,
                    });
                }
            }
            Self::PaymentFailed => {
                for invoice in customer.invoices.iter().flat_map(|i| i.open()) {
                    if let Some(start) = &invoice.clock {
                        each(Clock {
                            start,
                            invoice: Some(invoice),
                        });
                    }
                }
            }
        }
    }

    /// Whether the clock that started at `start` (of invoice `id`, for a payment clock) is
    /// still running, or one that began earlier and still runs (after late data moved its
    /// start): what the executor re-checks before it sends.
    pub fn still_running(
        self,
        customer: &CustomerState,
        id: Option<&str>,
        start: &EventKey,
    ) -> bool {
        match self {
            Self::PastDue(continuity) => customer
                .episode(continuity)
                .is_some_and(|e| e.start <= *start),
            Self::PaymentFailed => customer
                .invoices
                .as_ref()
                .and_then(|i| i.get(id.unwrap_or_default()))
                .and_then(|i| i.clock.as_ref())
                .is_some_and(|s| s <= start),
        }
    }

    /// The continuity policy of a past-due clock.
    pub fn continuity(self) -> Option<Continuity> {
        match self {
            Self::PastDue(continuity) => Some(continuity),
            Self::PaymentFailed => None,
        }
    }

    /// The clock as stored beside a decision: `None` for the default (`negative_balance`),
    /// else its continuity or trigger type.
    pub fn code(self) -> Option<&'static str> {
        match self {
            Self::PastDue(Continuity::NegativeBalance) => None,
            Self::PastDue(c) => Some(c.as_str()),
            Self::PaymentFailed => Some(self.trigger_type()),
        }
    }

    /// Reads [`ClockKind::code`] back.
    pub fn from_code(code: Option<&str>) -> Option<Self> {
        match code {
            None => Some(Self::PastDue(Continuity::NegativeBalance)),
            Some("payment_failed") => Some(Self::PaymentFailed),
            Some(c) => Continuity::ALL
                .iter()
                .find(|(n, _)| *n == c)
                .map(|(_, c)| Self::PastDue(*c)),
        }
    }

    /// Whether the clock is the customer's past-due episode (whose rows keep SPEC §5's
    /// meaning of `days_past_due`).
    pub fn is_past_due(self) -> bool {
        matches!(self, Self::PastDue(_))
    }
}
