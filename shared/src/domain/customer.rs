//! A customer's state and its past-due episodes (SPEC §3), as a fold over the customer's events
//! in [`EventKey`] order.
//!
//! The state is compact and bounded: the latest balance, the current episode under each
//! continuity policy, the last ended episode, the subscriptions and the profile. It is stored as
//! one item per customer, so it keeps no event history. An event that sorts after everything
//! applied so far is applied in O(1) ([`CustomerState::apply`]); a balance event that sorts
//! earlier (late or backdated data) can change where the current episode starts, which only the
//! customer's log can tell, so the caller replays the log ([`CustomerState::replay`]). Both paths
//! run the same fold step, which is why any arrival order gives the state of the sorted log.

use super::aging::{Charge, Charges};
use super::cancellation::{self, Cancellations, Fact};
use super::event::{CustomerProfile, Event, EventBody, EventKey, SubscriptionStatus};
use super::ids::{CustomerId, TenantId};
use super::invoice::{Invoices, PaymentStop};
use super::money::Money;
use super::normalize::{Change as NormalizationChange, Metadata, Normalization, Normalized};
use super::quiet::{Quiet, QuietAt};
use std::sync::Arc;
use thiserror::Error;

/// Subscriptions kept per customer; a larger number is refused to keep the state bounded.
pub const MAX_SUBSCRIPTIONS: usize = 50;

/// How an automation reads "continuously past due" (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Continuity {
    /// The episode lasts while the balance stays below zero; partial payments do not restart it.
    NegativeBalance,
    /// Any increase of a negative balance restarts the clock (and begins a new episode).
    NoImprovement,
}

impl Continuity {
    pub const ALL: [(&'static str, Continuity); 2] = [
        ("negative_balance", Self::NegativeBalance),
        ("no_improvement", Self::NoImprovement),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NegativeBalance => "negative_balance",
            Self::NoImprovement => "no_improvement",
        }
    }
}

/// The latest balance: the balance after the last event in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancePoint {
    pub key: EventKey,
    pub balance: Money,
}

/// A past-due episode that is still running. Its identity is the key of the event it started
/// at, which is how firings name the episode they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    pub start: EventKey,
}

/// Why an episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The balance came back to exactly zero.
    Paid,
    /// The balance went above zero: the customer now holds a credit.
    Credited,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Credited => "credited",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedEpisode {
    pub start: EventKey,
    pub end: EventKey,
    pub reason: EndReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    pub id: String,
    pub status: SubscriptionStatus,
    /// The key of the event that set `status`; an older event for this subscription is ignored.
    pub updated: EventKey,
}

/// What applying one event changed, for adapters that maintain indexes only on transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Change {
    pub episode_started: bool,
    pub episode_ended: bool,
    /// The `no_improvement` clock (re)started at this event.
    pub clock_restarted: bool,
}

impl Change {
    /// What differs between two states of one customer: used after a replay, where the
    /// change is not one fold step.
    pub fn between(before: &CustomerState, after: &CustomerState) -> Self {
        let start = |s: &CustomerState, c| s.episode(c).map(|e| e.start.clone());
        let moved = |c| start(before, c) != start(after, c);
        Self {
            episode_started: after.past_due.is_some() && moved(Continuity::NegativeBalance),
            episode_ended: before.past_due.is_some() && after.past_due.is_none(),
            clock_restarted: after.clock.is_some() && moved(Continuity::NoImprovement),
        }
    }

    /// Whether an episode start under either policy moved.
    pub fn moves_an_episode(self) -> bool {
        self.episode_started || self.episode_ended || self.clock_restarted
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApplyError {
    /// A balance or payment event sorts before the latest of its kind already applied: the
    /// state must be replayed from the customer's log instead.
    #[error("event sorts before the latest applied event of its kind; replay the customer's log")]
    OutOfOrder,
    #[error("the customer already has {MAX_SUBSCRIPTIONS} subscriptions")]
    TooManySubscriptions,
    #[error("the customer already has {} disputes", super::quiet::MAX_DISPUTES)]
    TooManyDisputes,
    #[error(
        "the customer already has {} invoices with a failed payment outstanding",
        super::invoice::MAX_OPEN_INVOICES
    )]
    TooManyInvoices,
    #[error("the event is for customer {found}, not {expected}")]
    WrongCustomer { expected: String, found: String },
}

impl ApplyError {
    /// The event field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::TooManySubscriptions => "subscription.id",
            Self::TooManyDisputes => "dispute.id",
            Self::TooManyInvoices => "payment.invoice_id",
            Self::OutOfOrder | Self::WrongCustomer { .. } => "customer_id",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerState {
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    pub balance: Option<BalancePoint>,
    /// The current episode under `negative_balance`.
    pub past_due: Option<Episode>,
    /// The current episode under `no_improvement`: restarts at every increase.
    pub clock: Option<Episode>,
    /// The most recent episode that ended, with why. Boxed: read rarely, and the state is
    /// copied on every read of the store.
    pub last_ended: Option<Box<EndedEpisode>>,
    /// Sorted by id. Shared until changed (`Arc::make_mut`): a state is copied on every read
    /// of the store, and most events leave the subscriptions as they are.
    pub subscriptions: Arc<Vec<SubscriptionState>>,
    /// The latest profile and the event that set it, shared with that event: the raw
    /// profile, as the tenant's systems sent it.
    pub profile: Option<(EventKey, Arc<CustomerProfile>)>,
    /// The profile's metadata under the tenant's normalization rules (SPEC §8.7), with the
    /// rules' version; `None` while the tenant has never set rules. Boxed: most reads never
    /// look at it.
    pub normalized: Option<Box<Normalized>>,
    /// Promises to pay and disputes (SPEC §8.2). Boxed: most customers have none.
    pub quiet: Option<Box<Quiet>>,
    /// Invoices whose payment failed: their payment clocks (SPEC §8.1). Boxed: most
    /// customers have none.
    pub invoices: Option<Box<Invoices>>,
    /// Cancellation requests, their answers and subscription cancellations: what the
    /// cancellation clocks are derived from (SPEC §8.6). Boxed: most customers have none.
    pub cancellations: Option<Box<Cancellations>>,
    /// What is owed, as unpaid charges for aging (SPEC §8.9), in the balance's currency.
    /// Boxed: most customers owe nothing. `None` also for a state stored before charges
    /// were kept ([`CustomerState::unpaid_charges`] covers it).
    pub charges: Option<Box<Charges>>,
}

impl CustomerState {
    pub fn new(tenant_id: TenantId, customer_id: CustomerId) -> Self {
        Self {
            tenant_id,
            customer_id,
            balance: None,
            past_due: None,
            clock: None,
            last_ended: None,
            subscriptions: Arc::new(Vec::new()),
            profile: None,
            normalized: None,
            quiet: None,
            invoices: None,
            cancellations: None,
            charges: None,
        }
    }

    /// The state of a customer's log: its events folded in key order, duplicates ignored.
    pub fn replay<'a>(
        tenant_id: TenantId,
        customer_id: CustomerId,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<Self, ApplyError> {
        let mut sorted: Vec<&Event> = events.into_iter().collect();
        sorted.sort_by(|a, b| a.key.cmp(&b.key));
        sorted.dedup_by(|a, b| a.key == b.key);
        let mut state = Self::new(tenant_id, customer_id);
        for e in sorted {
            state.apply(e)?;
        }
        Ok(state)
    }

    /// Whether `apply` can take `event` without the customer's log.
    pub fn can_apply_in_place(&self, event: &Event) -> bool {
        match (&event.body, &self.balance) {
            (EventBody::BalanceChanged { .. }, Some(last)) => event.key > last.key,
            // Payment clocks depend on the invoice's earlier events: folded in key order.
            (
                EventBody::PaymentFailed(_)
                | EventBody::PaymentSucceeded { .. }
                | EventBody::InvoiceVoided { .. },
                _,
            ) => self.invoices.as_ref().is_none_or(|i| event.key > i.latest),
            _ => true,
        }
    }

    /// Applies one event. Subscription and profile events may arrive in any order (the newest
    /// key wins); a balance event must sort after the latest balance (see the module docs).
    pub fn apply(&mut self, event: &Event) -> Result<Change, ApplyError> {
        if event.customer_id != self.customer_id || event.tenant_id != self.tenant_id {
            return Err(ApplyError::WrongCustomer {
                expected: self.customer_id.to_string(),
                found: event.customer_id.to_string(),
            });
        }
        match &event.body {
            EventBody::BalanceChanged { balance, .. } => self.apply_balance(&event.key, *balance),
            EventBody::SubscriptionUpdated {
                subscription_id,
                status,
            } => {
                self.apply_subscription(&event.key, subscription_id, *status)?;
                if *status == SubscriptionStatus::Canceled {
                    self.record_cancellation(&event.key, subscription_id, Fact::Canceled);
                }
                Ok(Change::default())
            }
            EventBody::CustomerUpdated(profile) => {
                if self.profile.as_ref().is_none_or(|p| event.key > p.0) {
                    self.profile = Some((event.key.clone(), profile.clone()));
                }
                Ok(Change::default())
            }
            EventBody::PromiseToPay {
                until,
                amount_minor,
            } => {
                self.quiet_mut()
                    .apply_promise(&event.key, *until, *amount_minor);
                Ok(Change::default())
            }
            EventBody::DisputeOpened { dispute_id } | EventBody::DisputeClosed { dispute_id } => {
                let opened = matches!(event.body, EventBody::DisputeOpened { .. });
                if !self
                    .quiet_mut()
                    .apply_dispute(&event.key, dispute_id, opened)
                {
                    return Err(ApplyError::TooManyDisputes);
                }
                Ok(Change::default())
            }
            EventBody::PaymentFailed(_)
            | EventBody::PaymentSucceeded { .. }
            | EventBody::InvoiceVoided { .. } => self.apply_payment(event),
            EventBody::CancellationRequested(request) => {
                let fact = Fact::Requested(request.clone());
                self.record_cancellation(&event.key, &request.subscription_id, fact);
                Ok(Change::default())
            }
            EventBody::CancellationWithdrawn {
                subscription_id,
                offer_id,
            } => {
                let fact = Fact::Withdrawn {
                    offer_id: offer_id.clone(),
                };
                self.record_cancellation(&event.key, subscription_id, fact);
                Ok(Change::default())
            }
            EventBody::CancellationConfirmed { subscription_id } => {
                self.record_cancellation(&event.key, subscription_id, Fact::Confirmed);
                Ok(Change::default())
            }
        }
    }

    /// Cancellation facts are kept sorted by key, so they apply in place in any order.
    fn record_cancellation(&mut self, key: &EventKey, subscription_id: &str, fact: Fact) {
        self.cancellations
            .get_or_insert_with(Box::default)
            .insert(cancellation::Entry {
                key: key.clone(),
                subscription_id: subscription_id.to_owned(),
                fact,
            });
    }

    /// The fold step for balances: the one place the episode rules of SPEC §3 live.
    fn apply_balance(&mut self, key: &EventKey, balance: Money) -> Result<Change, ApplyError> {
        let previous = match &self.balance {
            Some(last) if *key <= last.key => return Err(ApplyError::OutOfOrder),
            Some(last) => Some(last.balance.amount_minor),
            None => None,
        };
        let now = balance.amount_minor;
        self.age_charges(key, previous, balance);
        let mut change = Change::default();
        match previous {
            // From no history, zero or credit into debt: a new episode under both policies.
            None | Some(0..) if now < 0 => {
                self.past_due = Some(Episode { start: key.clone() });
                self.clock = Some(Episode { start: key.clone() });
                change.episode_started = true;
                change.clock_restarted = true;
            }
            // Still in debt but owing less (partial payment, credit): only the strict clock
            // restarts. Owing the same or more changes nothing (the last arm).
            Some(before) if before < 0 && now < 0 && now > before => {
                self.clock = Some(Episode { start: key.clone() });
                change.clock_restarted = true;
            }
            // Back to zero or credit: the episode ends.
            Some(before) if before < 0 && now >= 0 => {
                if let Some(ep) = self.past_due.take() {
                    self.last_ended = Some(Box::new(EndedEpisode {
                        start: ep.start,
                        end: key.clone(),
                        reason: if now == 0 {
                            EndReason::Paid
                        } else {
                            EndReason::Credited
                        },
                    }));
                }
                self.clock = None;
                change.episode_ended = true;
            }
            _ => {}
        }
        self.balance = Some(BalancePoint {
            key: key.clone(),
            balance,
        });
        Ok(change)
    }

    /// Aging's part of the balance fold: what the customer owes rose (a charge) or fell
    /// (paying the oldest charges first). A balance in another currency than the one before
    /// starts the charges again, as one charge of all that is owed.
    fn age_charges(&mut self, key: &EventKey, previous: Option<i64>, balance: Money) {
        let owed = |minor: i64| minor.min(0).saturating_neg();
        let same_currency = self
            .balance
            .as_ref()
            .is_some_and(|b| b.balance.currency == balance.currency);
        let before = match previous {
            Some(minor) if same_currency => owed(minor),
            _ => {
                self.charges = None;
                0
            }
        };
        let after = owed(balance.amount_minor);
        if before == after {
            return;
        }
        if self.charges.is_none() && before > 0 {
            // Stored before charges were kept: what it owed is one charge, as readers see it.
            let unpaid = self.unpaid_charges().into_owned();
            self.charges = Some(Box::new(Charges {
                unpaid,
                merged_through: None,
            }));
        }
        let charges = self.charges.get_or_insert_with(Box::default);
        charges.owe(before, after, key.occurred_at);
        if charges.unpaid.is_empty() {
            self.charges = None;
        }
    }

    /// The unpaid charges aging reads: the state's, or for a past-due state stored before
    /// charges were kept, one charge of all that is owed at the episode's start.
    pub fn unpaid_charges(&self) -> std::borrow::Cow<'_, [Charge]> {
        if let Some(charges) = &self.charges {
            return std::borrow::Cow::Borrowed(&charges.unpaid);
        }
        match (&self.balance, &self.past_due) {
            (Some(b), Some(episode)) if b.balance.amount_minor < 0 => {
                std::borrow::Cow::Owned(vec![Charge {
                    at: episode.start.occurred_at,
                    unpaid_minor: b.balance.amount_minor.saturating_neg(),
                }])
            }
            _ => std::borrow::Cow::Borrowed(&[]),
        }
    }

    /// The fold step for payment clocks (SPEC §8.1), out of line: the balance fold is the hot
    /// path of every replay, and payment events are rarer.
    #[inline(never)]
    fn apply_payment(&mut self, event: &Event) -> Result<Change, ApplyError> {
        if self
            .invoices
            .as_ref()
            .is_some_and(|i| event.key <= i.latest)
        {
            return Err(ApplyError::OutOfOrder);
        }
        // Even a payment of an invoice that never failed is remembered as the latest payment
        // event: a failure of it reported late, with an earlier key, must be folded before it
        // (and so is stopped by it), not start a clock it would never have had.
        let invoices = self
            .invoices
            .get_or_insert_with(|| Box::new(Invoices::new(event.key.clone())));
        match &event.body {
            EventBody::PaymentFailed(failure) => invoices
                .fail(&event.key, failure)
                .map_err(|_| ApplyError::TooManyInvoices)?,
            EventBody::PaymentSucceeded { invoice_id, .. } => {
                invoices.stop(&event.key, invoice_id, PaymentStop::Paid);
            }
            EventBody::InvoiceVoided { invoice_id } => {
                invoices.stop(&event.key, invoice_id, PaymentStop::Voided);
            }
            _ => {}
        }
        Ok(Change::default())
    }

    fn apply_subscription(
        &mut self,
        key: &EventKey,
        id: &str,
        status: SubscriptionStatus,
    ) -> Result<(), ApplyError> {
        match self
            .subscriptions
            .binary_search_by(|s| s.id.as_str().cmp(id))
        {
            Ok(i) => {
                if *key > self.subscriptions[i].updated {
                    let sub = &mut Arc::make_mut(&mut self.subscriptions)[i];
                    sub.status = status;
                    sub.updated = key.clone();
                }
            }
            Err(_) if self.subscriptions.len() >= MAX_SUBSCRIPTIONS => {
                return Err(ApplyError::TooManySubscriptions);
            }
            Err(i) => Arc::make_mut(&mut self.subscriptions).insert(
                i,
                SubscriptionState {
                    id: id.to_owned(),
                    status,
                    updated: key.clone(),
                },
            ),
        }
        Ok(())
    }

    /// The running episode under `continuity`, if the customer is past due.
    pub fn episode(&self, continuity: Continuity) -> Option<&Episode> {
        match continuity {
            Continuity::NegativeBalance => self.past_due.as_ref(),
            Continuity::NoImprovement => self.clock.as_ref(),
        }
    }

    /// The distinct start instants of the customer's running payment clocks: what the
    /// stores' payment-clock index holds for it.
    pub fn payment_clock_starts(
        &self,
    ) -> std::collections::BTreeSet<chrono::DateTime<chrono::Utc>> {
        self.invoices
            .iter()
            .flat_map(|i| i.open())
            .filter_map(|i| i.clock.as_ref().map(|k| k.occurred_at))
            .collect()
    }

    /// The request instants the stores' cancellation index holds for the customer.
    pub fn cancellation_starts(&self) -> std::collections::BTreeSet<chrono::DateTime<chrono::Utc>> {
        self.cancellations
            .as_ref()
            .map(|c| c.request_starts())
            .unwrap_or_default()
    }

    pub fn is_past_due(&self) -> bool {
        self.past_due.is_some()
    }

    pub fn active_subscription_count(&self) -> usize {
        self.subscriptions
            .iter()
            .filter(|s| s.status.is_active())
            .count()
    }

    pub fn has_active_subscription(&self) -> bool {
        self.subscriptions.iter().any(|s| s.status.is_active())
    }

    pub fn profile(&self) -> Option<&CustomerProfile> {
        self.profile.as_ref().map(|p| &*p.1)
    }

    /// The metadata conditions, segments and reports read: normalized when the tenant has
    /// rules, the raw profile's otherwise.
    pub fn metadata(&self) -> Option<&Metadata> {
        match &self.normalized {
            Some(n) => Some(&n.metadata),
            None => self.profile().map(|p| &p.metadata),
        }
    }

    /// Whether the normalized profile is the one `rules` make (a customer without a profile
    /// has nothing to normalize).
    pub fn is_normalized_under(&self, rules: &Normalization) -> bool {
        self.profile.is_none() || self.normalized.as_ref().map_or(0, |n| n.version) == rules.version
    }

    /// Normalizes the raw profile under `rules`, returning every change made or reported.
    pub fn normalize_profile(&mut self, rules: &Normalization) -> Vec<NormalizationChange> {
        let Some(profile) = self.profile() else {
            self.normalized = None;
            return Vec::new();
        };
        if rules.version == 0 {
            self.normalized = None;
            return Vec::new();
        }
        let (metadata, changes) = rules.apply(&profile.metadata);
        self.normalized = Some(Box::new(Normalized {
            version: rules.version,
            metadata,
        }));
        changes
    }

    fn quiet_mut(&mut self) -> &mut Quiet {
        self.quiet.get_or_insert_with(Box::default)
    }

    /// Whether the customer is quiet at `t` for the episode that started at `episode`.
    pub fn quiet_at(&self, episode: &EventKey, t: chrono::DateTime<chrono::Utc>) -> QuietAt {
        self.quiet
            .as_ref()
            .map_or(QuietAt::Not, |q| q.at(episode, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balance(id: &str, at: &str, amount: i64, currency: &str) -> Event {
        Event::from_json(&serde_json::json!({"event_id": id, "tenant_id": "t1",
            "customer_id": "c1", "type": "balance.changed", "occurred_at": at,
            "balance": {"amount_minor": amount, "currency": currency}}))
        .expect("a valid balance event")
    }

    fn unpaid(state: &CustomerState) -> Vec<(String, i64)> {
        state
            .unpaid_charges()
            .iter()
            .map(|c| (c.at.format("%m-%d").to_string(), c.unpaid_minor))
            .collect()
    }

    #[test]
    fn a_state_stored_before_charges_were_kept_ages_all_it_owed_from_its_episode() {
        let mut state = CustomerState::new(TenantId::new("t1"), CustomerId::new("c1"));
        state
            .apply(&balance("e1", "2026-09-01T10:00:00Z", -5000, "USD"))
            .unwrap();
        // As read from a store item written before `chg` existed.
        state.charges = None;
        assert_eq!(unpaid(&state), [("09-01".to_owned(), 5000)]);
        state
            .apply(&balance("e2", "2026-10-01T10:00:00Z", -6000, "USD"))
            .unwrap();
        assert_eq!(
            unpaid(&state),
            [("09-01".to_owned(), 5000), ("10-01".to_owned(), 1000)]
        );
        state
            .apply(&balance("e3", "2026-10-05T10:00:00Z", -500, "USD"))
            .unwrap();
        assert_eq!(unpaid(&state), [("10-01".to_owned(), 500)]);
    }

    #[test]
    fn a_balance_in_another_currency_starts_the_charges_again() {
        let mut state = CustomerState::new(TenantId::new("t1"), CustomerId::new("c1"));
        for e in [
            balance("e1", "2026-09-01T10:00:00Z", -5000, "USD"),
            balance("e2", "2026-10-01T10:00:00Z", -3000, "EUR"),
        ] {
            state.apply(&e).unwrap();
        }
        assert_eq!(unpaid(&state), [("10-01".to_owned(), 3000)]);
        state
            .apply(&balance("e3", "2026-10-02T10:00:00Z", 200, "EUR"))
            .unwrap();
        assert!(unpaid(&state).is_empty() && state.charges.is_none());
    }
}
