//! Payment clocks (SPEC §8.1): one per invoice whose payment failed, from its first
//! `payment.failed` until `payment.succeeded` (`paid`) or `invoice.voided` (`voided`). A
//! later failure of a running clock is one more attempt of it; a failure after the clock
//! stopped starts a new one.
//!
//! The customer's state keeps, per invoice, the running clock's start, the latest failure,
//! the instants of its latest failures (what the retry cap counts) and the last stopped
//! clock. Whether a failure starts a clock depends on the events of the invoice before it, so
//! these events are folded in key order: one that sorts before the latest applied is applied
//! by replaying the customer's log, as a late balance is (`CustomerState::can_apply_in_place`).
//! Bounded: at most [`MAX_OPEN_INVOICES`] running clocks (a 21st is refused) and
//! [`MAX_STOPPED_INVOICES`] stopped ones (the oldest stopped is forgotten; a failure of a
//! forgotten invoice starts a new clock, as it would have anyway).

use super::decline::{DeclineOverrides, FailureCategory};
use super::event::{EventKey, PaymentFailure};
use super::money::Money;
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

pub const MAX_OPEN_INVOICES: usize = 20;
pub const MAX_STOPPED_INVOICES: usize = 20;
/// Failure instants kept per invoice: the retry cap's ceiling (the card networks' 20 in 30
/// days), so the cap's count is exact for every cap a tenant may set.
pub const MAX_FAILURES_KEPT: usize = 20;

/// Why a payment clock stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStop {
    Paid,
    Voided,
}

impl PaymentStop {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Voided => "voided",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Paid, Self::Voided]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedClock {
    pub start: EventKey,
    pub end: EventKey,
    pub reason: PaymentStop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: String,
    /// The running clock's start: the first failure since the invoice's last stop.
    pub clock: Option<EventKey>,
    /// The latest failure of the invoice (of the running clock, while one runs).
    pub latest: Option<Arc<PaymentFailure>>,
    /// Failures in the running clock so far.
    pub attempts: u32,
    /// The invoice's latest failures, ascending, at most [`MAX_FAILURES_KEPT`].
    pub failures: Vec<DateTime<Utc>>,
    pub stopped: Option<StoppedClock>,
}

impl Invoice {
    /// The attempt number of the latest failure: the billing system's, else the count of
    /// failures in the running clock.
    pub fn attempt(&self) -> u32 {
        self.latest
            .as_ref()
            .and_then(|f| f.attempt)
            .unwrap_or(self.attempts)
    }

    /// The class of the latest failure under the tenant's overrides.
    pub fn category(&self, overrides: &DeclineOverrides) -> FailureCategory {
        self.latest.as_ref().map_or(FailureCategory::Unknown, |f| {
            overrides.classify(f.failure_code.as_deref(), f.advice_code.as_deref())
        })
    }

    /// Failures in the 30 days up to `now` (what `max_retries_per_30_days` counts).
    pub fn failures_in_30_days(&self, now: DateTime<Utc>) -> usize {
        let since = now - Duration::days(30);
        self.failures
            .iter()
            .filter(|t| **t > since && **t <= now)
            .count()
    }

    /// What the latest failure tried to collect.
    pub fn amount(&self) -> Option<Money> {
        self.latest.as_ref().map(|f| f.amount)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoices {
    /// The latest payment or invoice event applied.
    pub latest: EventKey,
    /// Sorted by id.
    pub list: Vec<Invoice>,
}

/// What a payment event could not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyInvoices;

impl Invoices {
    pub fn new(latest: EventKey) -> Self {
        Self {
            latest,
            list: Vec::new(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&Invoice> {
        self.list
            .binary_search_by(|i| i.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.list[i])
    }

    /// The invoices whose clock is running.
    pub fn open(&self) -> impl Iterator<Item = &Invoice> {
        self.list.iter().filter(|i| i.clock.is_some())
    }

    /// Applies a failure, which must sort after every payment event applied so far.
    pub fn fail(
        &mut self,
        key: &EventKey,
        failure: &Arc<PaymentFailure>,
    ) -> Result<(), TooManyInvoices> {
        let position = self
            .list
            .binary_search_by(|i| i.id.as_str().cmp(&failure.invoice_id));
        let starts = match position {
            Ok(i) => self.list[i].clock.is_none(),
            Err(_) => true,
        };
        if starts && self.open().count() >= MAX_OPEN_INVOICES {
            return Err(TooManyInvoices);
        }
        let i = match position {
            Ok(i) => i,
            Err(i) => {
                self.list.insert(
                    i,
                    Invoice {
                        id: failure.invoice_id.clone(),
                        clock: None,
                        latest: None,
                        attempts: 0,
                        failures: Vec::new(),
                        stopped: None,
                    },
                );
                i
            }
        };
        let invoice = &mut self.list[i];
        if invoice.clock.is_none() {
            invoice.clock = Some(key.clone());
            invoice.attempts = 0;
        }
        invoice.attempts += 1;
        invoice.latest = Some(failure.clone());
        invoice.failures.push(key.occurred_at);
        if invoice.failures.len() > MAX_FAILURES_KEPT {
            invoice.failures.remove(0);
        }
        self.latest = key.clone();
        Ok(())
    }

    /// Applies a payment or a void of `invoice`: its running clock stops with `reason`. A
    /// stop of an invoice with no running clock changes nothing.
    pub fn stop(&mut self, key: &EventKey, invoice: &str, reason: PaymentStop) {
        self.latest = key.clone();
        let Ok(i) = self.list.binary_search_by(|i| i.id.as_str().cmp(invoice)) else {
            return;
        };
        let Some(start) = self.list[i].clock.take() else {
            return;
        };
        self.list[i].stopped = Some(StoppedClock {
            start,
            end: key.clone(),
            reason,
        });
        // Forget the oldest stopped invoices beyond the bound.
        let stopped = self.list.iter().filter(|i| i.clock.is_none()).count();
        if stopped > MAX_STOPPED_INVOICES
            && let Some(oldest) = self
                .list
                .iter()
                .enumerate()
                .filter_map(|(n, i)| {
                    i.stopped
                        .as_ref()
                        .filter(|_| i.clock.is_none())
                        .map(|s| (n, &s.end))
                })
                .min_by(|a, b| a.1.cmp(b.1))
                .map(|(n, _)| n)
        {
            self.list.remove(oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, EventId};

    fn key(minute: i64) -> EventKey {
        EventKey {
            occurred_at: "2026-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
                + Duration::minutes(minute),
            event_id: EventId::new(format!("e{minute}")),
        }
    }

    fn failure(invoice: &str) -> Arc<PaymentFailure> {
        Arc::new(PaymentFailure {
            invoice_id: invoice.to_owned(),
            amount: Money::new(4900, Currency::parse("USD").unwrap()),
            attempt: None,
            failure_code: Some("insufficient_funds".to_owned()),
            advice_code: None,
        })
    }

    #[test]
    fn when_twenty_clocks_run_should_refuse_a_new_invoice_but_not_a_retry_of_a_running_one() {
        let mut invoices = Invoices::new(key(0));
        for n in 0..MAX_OPEN_INVOICES {
            invoices
                .fail(&key(n as i64 + 1), &failure(&format!("in{n:02}")))
                .unwrap();
        }
        assert_eq!(
            invoices.fail(&key(100), &failure("in99")),
            Err(TooManyInvoices)
        );
        assert_eq!(invoices.fail(&key(101), &failure("in00")), Ok(()));
        assert_eq!(invoices.get("in00").unwrap().attempts, 2);
        // Once one stops, a new invoice may start.
        invoices.stop(&key(102), "in01", PaymentStop::Paid);
        assert_eq!(invoices.fail(&key(103), &failure("in99")), Ok(()));
    }

    #[test]
    fn when_more_than_twenty_invoices_stopped_should_forget_the_one_stopped_longest_ago() {
        let mut invoices = Invoices::new(key(0));
        for n in 0..=MAX_STOPPED_INVOICES as i64 {
            let id = format!("in{n:02}");
            invoices.fail(&key(2 * n + 1), &failure(&id)).unwrap();
            invoices.stop(&key(2 * n + 2), &id, PaymentStop::Voided);
        }
        assert_eq!(invoices.list.len(), MAX_STOPPED_INVOICES);
        assert!(
            invoices.get("in00").is_none(),
            "stopped first, forgotten first"
        );
        let last = invoices.get("in20").unwrap();
        assert_eq!(last.stopped.as_ref().unwrap().reason, PaymentStop::Voided);
        // A new failure of the forgotten invoice starts a new clock, as it would have anyway.
        invoices.fail(&key(100), &failure("in00")).unwrap();
        assert_eq!(invoices.get("in00").unwrap().clock, Some(key(100)));
    }

    #[test]
    fn when_an_invoice_keeps_failing_should_keep_its_latest_twenty_failures_for_the_cap() {
        let mut invoices = Invoices::new(key(0));
        for n in 1..=25 {
            invoices.fail(&key(n * 60 * 24), &failure("in1")).unwrap();
        }
        let invoice = invoices.get("in1").unwrap();
        assert_eq!(invoice.failures.len(), MAX_FAILURES_KEPT);
        assert_eq!(invoice.attempts, 25);
        // The failures on days 6 to 25 are kept; on day 25, the 30 days before hold 20.
        assert_eq!(
            invoice.failures_in_30_days(key(25 * 60 * 24).occurred_at),
            20
        );
        assert_eq!(
            invoice.failures_in_30_days(key(60 * 60 * 24).occurred_at),
            0
        );
    }
}
