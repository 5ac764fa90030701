//! Clocks (SPEC §8.1): what starts and stops an automation's count of days. A clock is
//! identified by the key of the event it started at, and that key is the clock's part of the
//! firing key (`decision::FiringKey::episode`), so a step fires once per clock whatever the
//! kind. The past-due clock runs while the customer is continuously past due under a
//! continuity policy (SPEC §3): its two policies are two clocks of one kind, one per
//! customer. The payment clock runs per invoice whose payment failed, so a customer may have
//! several at once, each named by its invoice. The cancellation clock runs per subscription
//! whose customer asked to cancel, for the hold the automation gives (`hold_days`), so it is
//! derived from the customer's facts under the automation's terms ([`HoldTerms`]).

use super::calendar::TenantCalendar;
use super::cancellation::Hold;
use super::customer::{Continuity, CustomerState};
use super::decision::Settled;
use super::event::EventKey;
use super::invoice::Invoice;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClockKind {
    /// The past-due episode under a continuity policy.
    PastDue(Continuity),
    /// An invoice's failed payment, until it is paid or voided.
    PaymentFailed,
    /// A subscription's cancellation request, until it is answered or its hold ends.
    CancellationRequested,
}

/// What a cancellation clock depends on besides the events: the automation's `hold_days`
/// and the tenant's calendar (the other clocks ignore them).
#[derive(Debug, Clone, Copy)]
pub struct HoldTerms<'a> {
    pub hold_days: u16,
    pub calendar: &'a TenantCalendar,
}

/// One running clock of a customer.
#[derive(Debug, Clone, Copy)]
pub struct Clock<'s> {
    /// The event it started at: its identity.
    pub start: &'s EventKey,
    /// The invoice of a payment clock.
    pub invoice: Option<&'s Invoice>,
    /// The hold of a cancellation clock.
    pub hold: Option<Hold<'s>>,
}

impl<'s> Clock<'s> {
    /// The id a clock is named by besides its start (`clock_id`): the invoice of a payment
    /// clock, the subscription of a cancellation clock; none for past due.
    pub fn id(&self) -> Option<&'s str> {
        match (self.invoice, &self.hold) {
            (Some(invoice), _) => Some(invoice.id.as_str()),
            (None, Some(hold)) => Some(hold.subscription_id()),
            (None, None) => None,
        }
    }

    /// Whether an earlier run's decision was for this clock: for its id and a start at or
    /// after its own (a late event may have moved the start earlier since), and for a hold
    /// before its end (a subscription's later hold is another clock).
    pub fn owns(&self, settled: &Settled) -> bool {
        settled.is_for(self.id(), self.start)
            && self
                .hold
                .is_none_or(|h| settled.episode.occurred_at < h.ends_at)
    }
}

/// The customer's entries in the stores' indexes of clock starts beside the past-due
/// episodes (payment clocks, cancellation requests), and whether the customer counts in each
/// kind's guardrail count: what a commit moves when they change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartIndex {
    pub starts: [std::collections::BTreeSet<chrono::DateTime<chrono::Utc>>; 2],
    pub counted: [bool; 2],
}

impl StartIndex {
    /// The kinds indexed, in the order of `starts` and `counted`.
    pub const KINDS: [ClockKind; 2] = [ClockKind::PaymentFailed, ClockKind::CancellationRequested];

    pub fn of(customer: &CustomerState) -> Self {
        let starts = Self::KINDS.map(|k| k.indexed_starts(customer));
        // A customer with a running payment clock has its start indexed; a request indexed
        // may have been answered, so that count asks the facts.
        let counted = [
            !starts[0].is_empty(),
            customer
                .cancellations
                .as_ref()
                .is_some_and(|c| c.is_waiting()),
        ];
        Self { starts, counted }
    }

    /// Where a kind's entries are, if it is indexed here.
    pub fn slot(kind: ClockKind) -> Option<usize> {
        Self::KINDS.iter().position(|k| *k == kind)
    }
}

impl ClockKind {
    /// The `trigger.type` naming the kind.
    pub fn trigger_type(self) -> &'static str {
        match self {
            Self::PastDue(_) => "past_due",
            Self::PaymentFailed => "payment_failed",
            Self::CancellationRequested => "cancellation_requested",
        }
    }

    /// The customer's running clocks of this kind, in the order of their id: what steps count
    /// days on.
    pub fn clocks<'s>(
        self,
        customer: &'s CustomerState,
        terms: HoldTerms<'_>,
        mut each: impl FnMut(Clock<'s>),
    ) {
        match self {
            Self::PastDue(continuity) => {
                if let Some(e) = customer.episode(continuity) {
                    each(Clock {
                        start: &e.start,
                        invoice: None,
                        hold: None,
                    });
                }
            }
            Self::CancellationRequested => {
                let Some(facts) = &customer.cancellations else {
                    return;
                };
                for hold in facts.holds(terms.hold_days, terms.calendar) {
                    if hold.stop.is_none() {
                        each(Clock {
                            start: hold.start,
                            invoice: None,
                            hold: Some(hold),
                        });
                    }
                }
            }
            Self::PaymentFailed => {
                for invoice in customer.invoices.iter().flat_map(|i| i.open()) {
                    if let Some(start) = &invoice.clock {
                        each(Clock {
                            start,
                            invoice: Some(invoice),
                            hold: None,
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
            // Any answer after the request stops it, whatever the hold's length.
            Self::CancellationRequested => customer.cancellations.as_ref().is_some_and(|c| {
                c.entries.iter().any(|e| e.key == *start)
                    && c.stopped_after(id.unwrap_or_default(), start).is_none()
            }),
        }
    }

    /// The start instants the stores index the customer's clocks of this kind by: a superset
    /// of the running clocks' starts (the rule decides).
    pub fn indexed_starts(
        self,
        customer: &CustomerState,
    ) -> std::collections::BTreeSet<chrono::DateTime<chrono::Utc>> {
        match self {
            Self::PastDue(continuity) => customer
                .episode(continuity)
                .map(|e| e.start.occurred_at)
                .into_iter()
                .collect(),
            Self::PaymentFailed => customer.payment_clock_starts(),
            Self::CancellationRequested => customer.cancellation_starts(),
        }
    }

    /// The continuity policy of a past-due clock.
    pub fn continuity(self) -> Option<Continuity> {
        match self {
            Self::PastDue(continuity) => Some(continuity),
            Self::PaymentFailed | Self::CancellationRequested => None,
        }
    }

    /// The clock as stored beside a decision: `None` for the default (`negative_balance`),
    /// else its continuity or trigger type.
    pub fn code(self) -> Option<&'static str> {
        match self {
            Self::PastDue(Continuity::NegativeBalance) => None,
            Self::PastDue(c) => Some(c.as_str()),
            Self::PaymentFailed | Self::CancellationRequested => Some(self.trigger_type()),
        }
    }

    /// Reads [`ClockKind::code`] back.
    pub fn from_code(code: Option<&str>) -> Option<Self> {
        match code {
            None => Some(Self::PastDue(Continuity::NegativeBalance)),
            Some("payment_failed") => Some(Self::PaymentFailed),
            Some("cancellation_requested") => Some(Self::CancellationRequested),
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
