//! Outcomes (SPEC §8.9): how and when a clock stopped, which is what every firing and
//! holdout decision on it comes to. A stop is a fact of the customer's state (the episode
//! that ended, the invoice paid or voided, the request answered); ingest writes each new one
//! beside the state, so a report reads the stops of the customers its decisions name, never
//! all customers, and finds them even after the bounded state has forgotten them.

use super::cancellation::Fact;
use super::clock::ClockKind;
use super::customer::{CustomerState, EndReason};
use super::decision::Decision;
use super::event::Effective;
use super::event::EventKey;
use super::invoice::PaymentStop;

/// The clocks a stop can belong to: every past-due continuity stops with its episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StopKind {
    PastDue,
    Payment,
    Cancellation,
}

impl StopKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PastDue => "past_due",
            Self::Payment => "payment_failed",
            Self::Cancellation => "cancellation_requested",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        [Self::PastDue, Self::Payment, Self::Cancellation]
            .into_iter()
            .find(|k| k.as_str() == code)
    }

    pub fn of(clock: ClockKind) -> Self {
        match clock {
            ClockKind::PastDue(_) => Self::PastDue,
            ClockKind::PaymentFailed => Self::Payment,
            ClockKind::CancellationRequested => Self::Cancellation,
        }
    }
}

/// How a clock stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum How {
    /// The balance came back to zero, or the invoice was paid.
    Paid,
    /// The balance went above zero.
    Credited,
    Voided,
    /// The customer took back the request to cancel.
    Withdrawn,
    /// The customer accepted a recovery offer instead of cancelling.
    OfferAccepted,
    /// The customer confirmed the cancellation.
    Confirmed,
    /// The subscription was canceled.
    Canceled,
}

impl How {
    const ALL: [How; 7] = [
        How::Paid,
        How::Credited,
        How::Voided,
        How::Withdrawn,
        How::OfferAccepted,
        How::Confirmed,
        How::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Credited => "credited",
            Self::Voided => "voided",
            Self::Withdrawn => "withdrawn",
            Self::OfferAccepted => "offer_accepted",
            Self::Confirmed => "confirmed",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(code: &str) -> Option<How> {
        Self::ALL.into_iter().find(|h| h.as_str() == code)
    }

    /// Whether the stop is a recovery (SPEC §8.9): the money came in, or the customer
    /// stayed. A voided invoice is written off, not recovered.
    pub fn recovered(self) -> bool {
        matches!(
            self,
            Self::Paid | Self::Credited | Self::Withdrawn | Self::OfferAccepted
        )
    }
}

/// One stopped clock of a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockStop {
    pub kind: StopKind,
    /// The invoice of a payment clock, the subscription of a cancellation clock.
    pub clock_id: Option<String>,
    /// The event the clock started at.
    pub start: EventKey,
    /// The event that stopped it.
    pub end: EventKey,
    pub how: How,
    /// The offer a customer accepted.
    pub offer_id: Option<String>,
}

impl ClockStop {
    /// Whether the decision was taken on the clock this stop ended: same kind and id,
    /// decided for a start within the clock (a late event may have moved the start earlier
    /// since, and the `no_improvement` clock restarts within its episode).
    pub fn settles(&self, d: &Decision) -> bool {
        StopKind::of(d.clock) == self.kind
            && d.clock_id.as_deref() == self.clock_id.as_deref()
            && self.start <= d.episode
            && d.episode < self.end
    }
}

/// Every stop the customer's state knows: the last ended episode, each invoice's last stop,
/// and the first answer to each request to cancel at period end.
pub fn stops(state: &CustomerState) -> Vec<ClockStop> {
    stops_where(state, |_, _| true)
}

/// The stops that begin or end at `key`: all an event applied in place can add (a late
/// request to cancel is inserted before its answer, so its stop starts at the event).
pub fn stops_at(state: &CustomerState, key: &EventKey) -> Vec<ClockStop> {
    stops_where(state, |start, end| start == key || end == key)
}

/// The stops whose `(start, end)` the filter admits; only those are copied out.
fn stops_where(
    state: &CustomerState,
    admit: impl Fn(&EventKey, &EventKey) -> bool,
) -> Vec<ClockStop> {
    let mut out = Vec::new();
    if let Some(ended) = state
        .last_ended
        .as_ref()
        .filter(|e| admit(&e.start, &e.end))
    {
        out.push(ClockStop {
            kind: StopKind::PastDue,
            clock_id: None,
            start: ended.start.clone(),
            end: ended.end.clone(),
            how: match ended.reason {
                EndReason::Paid => How::Paid,
                EndReason::Credited => How::Credited,
            },
            offer_id: None,
        });
    }
    for invoice in state.invoices.iter().flat_map(|i| &i.list) {
        if let Some(stopped) = invoice.stopped.as_ref().filter(|s| admit(&s.start, &s.end)) {
            out.push(ClockStop {
                kind: StopKind::Payment,
                clock_id: Some(invoice.id.clone()),
                start: stopped.start.clone(),
                end: stopped.end.clone(),
                how: match stopped.reason {
                    PaymentStop::Paid => How::Paid,
                    PaymentStop::Voided => How::Voided,
                },
                offer_id: None,
            });
        }
    }
    let entries = state.cancellations.iter().flat_map(|c| &c.entries);
    for (i, request) in entries.clone().enumerate() {
        let Fact::Requested(r) = &request.fact else {
            continue;
        };
        if r.effective != Effective::PeriodEnd {
            continue;
        }
        let answer = entries.clone().skip(i + 1).find(|e| {
            e.subscription_id == request.subscription_id && !matches!(e.fact, Fact::Requested(_))
        });
        let Some(answer) = answer.filter(|a| admit(&request.key, &a.key)) else {
            continue;
        };
        let (how, offer_id) = match &answer.fact {
            Fact::Withdrawn { offer_id: None } => (How::Withdrawn, None),
            Fact::Withdrawn { offer_id: Some(o) } => (How::OfferAccepted, Some(o.clone())),
            Fact::Confirmed => (How::Confirmed, None),
            Fact::Canceled | Fact::Requested(_) => (How::Canceled, None),
        };
        out.push(ClockStop {
            kind: StopKind::Cancellation,
            clock_id: Some(request.subscription_id.clone()),
            start: request.key.clone(),
            end: answer.key.clone(),
            how,
            offer_id,
        });
    }
    out
}

/// The stops `after` knows that `before` did not: what a commit writes.
pub fn new_stops(before: &[ClockStop], after: &CustomerState) -> Vec<ClockStop> {
    let mut found = stops(after);
    found.retain(|s| !before.contains(s));
    found
}
