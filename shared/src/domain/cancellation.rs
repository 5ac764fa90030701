//! Cancellation clocks (SPEC §8.1, §8.6): one per subscription whose customer asked to cancel,
//! from the request until the customer withdraws it (`withdrawn`, or `offer_accepted` when the
//! withdrawal names an offer), insists (`confirmed`), the subscription becomes `canceled`
//! (`canceled`), or the hold ends (`hold_ended`).
//!
//! When the hold ends depends on the automation (`trigger.hold_days`) and the tenant's
//! calendar, not only on events, so the customer's state keeps the facts, not the clocks: the
//! latest [`MAX_FACTS`] cancellation events and subscription cancellations, sorted by key.
//! Inserting into a sorted, de-duplicated list keeps the newest facts whatever the arrival
//! order, so no replay is ever needed. [`Cancellations::holds`] derives the clocks from the
//! facts for one `hold_days`: a request starts a clock unless one runs (a repeated request
//! changes nothing) or it takes effect at once (nothing is held); a request after a hold ended
//! starts a new clock.

use super::calendar::{TenantCalendar, days_between};
use super::event::{CancellationRequest, Effective, EventKey};
use chrono::{DateTime, Days, NaiveDate, Utc};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Facts kept per customer: the newest, by event key. A customer asks to cancel a few times
/// in a lifetime; what falls out is long over.
pub const MAX_FACTS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    Requested(Arc<CancellationRequest>),
    Withdrawn {
        offer_id: Option<String>,
    },
    Confirmed,
    /// The subscription became `canceled` (a `subscription.updated` event).
    Canceled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: EventKey,
    pub subscription_id: String,
    pub fact: Fact,
}

/// Why a cancellation clock stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Withdrawn,
    OfferAccepted,
    Confirmed,
    Canceled,
    HoldEnded,
}

impl Stop {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Withdrawn => "withdrawn",
            Self::OfferAccepted => "offer_accepted",
            Self::Confirmed => "confirmed",
            Self::Canceled => "canceled",
            Self::HoldEnded => "hold_ended",
        }
    }

    fn of(fact: &Fact) -> Option<Self> {
        match fact {
            Fact::Requested(_) => None,
            Fact::Withdrawn { offer_id: None } => Some(Self::Withdrawn),
            Fact::Withdrawn { offer_id: Some(_) } => Some(Self::OfferAccepted),
            Fact::Confirmed => Some(Self::Confirmed),
            Fact::Canceled => Some(Self::Canceled),
        }
    }
}

/// One cancellation clock under an automation's `hold_days`.
#[derive(Debug, Clone, Copy)]
pub struct Hold<'s> {
    /// The request it started at: its identity.
    pub start: &'s EventKey,
    pub request: &'s CancellationRequest,
    /// Local date of the request.
    pub since: NaiveDate,
    /// The instant the billing system cancels by itself: the run of day `hold_days`, or the
    /// end of the paid period when that is earlier (never before the request).
    pub cancel_at: DateTime<Utc>,
    /// Local date of `cancel_at`: the hold's last day, when the `proceed` step fires.
    pub until: NaiveDate,
    /// `until` as days on the clock.
    pub until_day: u16,
    /// The run the `proceed` step is first due at, where the hold ends.
    pub ends_at: DateTime<Utc>,
    /// The event that stopped the clock before its hold ended, and why.
    pub stop: Option<(Stop, &'s EventKey)>,
}

impl<'s> Hold<'s> {
    pub fn subscription_id(&self) -> &'s str {
        &self.request.subscription_id
    }

    fn new(
        start: &'s EventKey,
        request: &'s CancellationRequest,
        hold_days: u16,
        calendar: &TenantCalendar,
    ) -> Self {
        let since = calendar.local_date(start.occurred_at);
        let last = since
            .checked_add_days(Days::new(u64::from(hold_days)))
            .unwrap_or(NaiveDate::MAX);
        let mut cancel_at = calendar.run_instant(last);
        if let Some(end) = request.period_end {
            cancel_at = cancel_at.min(end);
        }
        let cancel_at = cancel_at.max(start.occurred_at);
        let until = calendar.local_date(cancel_at);
        let until_day = u16::try_from(days_between(since, until).clamp(0, i64::from(hold_days)))
            .unwrap_or(hold_days);
        let ends_at = calendar.run_instant(calendar.first_due(until_day, start.occurred_at, since));
        Hold {
            start,
            request,
            since,
            cancel_at,
            until,
            until_day,
            ends_at,
            stop: None,
        }
    }
}

/// A customer's cancellation facts, sorted by key, at most [`MAX_FACTS`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cancellations {
    pub entries: Vec<Entry>,
}

impl Cancellations {
    /// Adds a fact in key order (a key already there changes nothing). When the list is
    /// full, a cancellation that repeats the one before it (a billing system reporting a
    /// canceled subscription again) goes first, else the oldest fact.
    pub fn insert(&mut self, entry: Entry) {
        let Err(at) = self.entries.binary_search_by(|e| e.key.cmp(&entry.key)) else {
            return;
        };
        self.entries.insert(at, entry);
        if self.entries.len() > MAX_FACTS {
            let repeated = (0..self.entries.len()).find(|&i| {
                let e = &self.entries[i];
                e.fact == Fact::Canceled
                    && self.entries[..i]
                        .iter()
                        .rfind(|p| p.subscription_id == e.subscription_id)
                        .is_some_and(|p| p.fact == Fact::Canceled)
            });
            self.entries.remove(repeated.unwrap_or(0));
        }
    }

    /// The customer's cancellation clocks under `hold_days`, by subscription then start.
    pub fn holds(&self, hold_days: u16, calendar: &TenantCalendar) -> Vec<Hold<'_>> {
        let mut done: Vec<Hold<'_>> = Vec::new();
        let mut open: Vec<Hold<'_>> = Vec::new();
        for entry in &self.entries {
            let current = open
                .iter()
                .position(|h| h.subscription_id() == entry.subscription_id);
            match &entry.fact {
                Fact::Requested(request) => {
                    if request.effective == Effective::Immediate {
                        continue; // nothing is held
                    }
                    if let Some(i) = current {
                        let h = &open[i];
                        if h.stop.is_none() && entry.key.occurred_at < h.ends_at {
                            continue; // a repeated request while the hold runs
                        }
                        done.push(open.remove(i));
                    }
                    open.push(Hold::new(&entry.key, request, hold_days, calendar));
                }
                fact => {
                    if let Some(h) = current.map(|i| &mut open[i])
                        && h.stop.is_none()
                        && entry.key.occurred_at < h.ends_at
                    {
                        h.stop = Stop::of(fact).map(|s| (s, &entry.key));
                    }
                }
            }
        }
        done.extend(open);
        done.sort_by(|a, b| (a.subscription_id(), a.start).cmp(&(b.subscription_id(), b.start)));
        done
    }

    /// The first event after `start` that stops a clock of the subscription: what the
    /// executor re-checks before it sends (whatever the hold's length, any such event means
    /// the customer answered).
    pub fn stopped_after(&self, subscription_id: &str, start: &EventKey) -> Option<Stop> {
        self.entries
            .iter()
            .filter(|e| e.key > *start && e.subscription_id == subscription_id)
            .find_map(|e| Stop::of(&e.fact))
    }

    /// The instants of the requests that take effect at period end: what the stores'
    /// cancellation index holds for the customer. Whether one starts a clock, and when its
    /// hold ends, depends on `hold_days`, so all are kept and the rule decides; the daily
    /// run reads only the requests of the last `hold_days + catch_up_days` days.
    pub fn request_starts(&self) -> BTreeSet<DateTime<Utc>> {
        self.requests().map(|e| e.key.occurred_at).collect()
    }

    /// Whether a request has had no answer yet (the guardrail's count of customers asking
    /// to cancel).
    pub fn is_waiting(&self) -> bool {
        self.requests()
            .any(|e| self.stopped_after(&e.subscription_id, &e.key).is_none())
    }

    fn requests(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(
            |e| matches!(&e.fact, Fact::Requested(r) if r.effective == Effective::PeriodEnd),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventId;

    fn entry(n: u32, sub: &str, fact: Fact) -> Entry {
        Entry {
            key: EventKey {
                occurred_at: DateTime::from_timestamp(1_790_000_000 + i64::from(n) * 3600, 0)
                    .unwrap(),
                event_id: EventId::new(format!("e{n:03}")),
            },
            subscription_id: sub.to_owned(),
            fact,
        }
    }

    fn request(sub: &str) -> Fact {
        Fact::Requested(Arc::new(CancellationRequest {
            subscription_id: sub.to_owned(),
            reason: None,
            effective: Effective::PeriodEnd,
            period_end: None,
        }))
    }

    #[test]
    fn when_a_canceled_subscription_is_reported_again_and_again_should_keep_the_open_request() {
        let mut facts = Cancellations::default();
        facts.insert(entry(0, "s1", Fact::Canceled));
        facts.insert(entry(1, "s2", request("s2")));
        for n in 2..100 {
            facts.insert(entry(n, "s1", Fact::Canceled));
        }
        assert_eq!(facts.entries.len(), MAX_FACTS);
        let holds = facts.holds(7, &TenantCalendar::default());
        assert_eq!(holds.len(), 1, "s2's request is kept");
        assert_eq!(holds[0].subscription_id(), "s2");
        assert!(holds[0].stop.is_none());
    }

    #[test]
    fn when_facts_arrive_in_any_order_should_give_the_same_clocks() {
        let all = [
            entry(0, "s1", request("s1")),
            entry(30, "s1", Fact::Withdrawn { offer_id: None }),
            entry(40, "s1", request("s1")),
            entry(50, "s1", request("s1")),
            entry(300, "s1", request("s1")),
            entry(310, "s2", request("s2")),
            entry(320, "s2", Fact::Confirmed),
        ];
        let derive = |order: &[usize]| {
            let mut facts = Cancellations::default();
            for &i in order {
                facts.insert(all[i].clone());
            }
            let holds = facts.holds(7, &TenantCalendar::default());
            holds
                .iter()
                .map(|h| (h.start.clone(), h.stop.map(|(s, k)| (s, k.clone()))))
                .collect::<Vec<_>>()
        };
        let sorted = derive(&[0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(derive(&[6, 4, 2, 0, 5, 3, 1, 1, 4]), sorted);
        // s1: answered, then asked again (a repeat inside that hold), then again after its end;
        // s2: confirmed.
        let stops: Vec<Option<Stop>> = sorted
            .iter()
            .map(|(_, s)| s.as_ref().map(|s| s.0))
            .collect();
        assert_eq!(
            stops,
            [Some(Stop::Withdrawn), None, None, Some(Stop::Confirmed)]
        );
        assert_eq!(
            sorted[1].0, all[2].key,
            "the repeat at 50 is part of the hold from 40"
        );
        assert_eq!(sorted[2].0, all[4].key);
    }
}
