//! Ingest: one validated event into the customer store, correct under duplicates, any arrival
//! order and late data (SPEC §2). The SQS Lambda, the API and the CLI all call [`ingest_event`],
//! and read what arrives live with [`live_event`].

use crate::domain::clock::StartIndex;
use crate::domain::customer::{ApplyError, Change};
use crate::domain::normalize::{Cause, ChangeRecord};
use crate::domain::outcome;
use crate::domain::{CustomerState, Event, EventBody, FieldError, FieldErrors, TenantSettings};
use crate::ports::{AutomationStore, CommitOutcome, CustomerStore, StateCommit, StoreError};
use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use serde_json::Value;
use thiserror::Error;

/// How far ahead of RuleKit's clock a producer's clock may run: an event dated up to this
/// much after its arrival is taken as having happened on arrival's side of it.
pub const CLOCK_SKEW: Duration = Duration::minutes(5);

/// An event as live ingest (SQS, the API, `rulekit ingest`) reads it, `arrived_at` being when
/// RuleKit received it. `received_at` is when the system learned of the event (SPEC §2): when
/// the event does not say, it is the arrival (never earlier than `occurred_at`, in case the
/// producer's clock runs ahead); when it does, it may be earlier (a relay that learned of the
/// event before passing it on) but not later than the arrival. Neither instant may lie in the
/// future: an event "learned of" in 2199 would be invisible to every daily run until then, and
/// one that "occurred" then would already set the customer's balance.
pub fn live_event(raw: &Value, arrived_at: DateTime<Utc>) -> Result<Event, FieldErrors> {
    let mut event = Event::from_json(raw)?;
    let latest = arrived_at + CLOCK_SKEW;
    let mut errors = Vec::new();
    if event.occurred_at() > latest {
        errors.push(FieldError::new(
            "occurred_at",
            "is in the future: an event is sent after it happens",
        ));
    }
    if raw.get("received_at").is_none_or(Value::is_null) {
        event.received_at = event.occurred_at().max(arrived_at);
    } else if event.received_at > latest {
        errors.push(FieldError::new(
            "received_at",
            "is in the future: it is when the system learned of the event, at the latest when \
             it reached RuleKit (leave it out and RuleKit stamps it)",
        ));
    }
    if errors.is_empty() {
        Ok(event)
    } else {
        Err(FieldErrors(errors))
    }
}

/// Optimistic-concurrency attempts before giving up; each conflict means another writer
/// committed an event of the same customer in between, so progress is being made.
pub const MAX_COMMIT_ATTEMPTS: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    Accepted(Change),
    /// The same event (same id and payload) was already ingested; nothing changed.
    Duplicate,
}

#[derive(Debug, Error)]
pub enum IngestError {
    /// The event can never be applied: retrying it would give the same answer.
    #[error("rejected: {0}")]
    Rejected(FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the customer's state kept changing under {MAX_COMMIT_ATTEMPTS} attempts")]
    Contention,
}

impl IngestError {
    /// The same failure, for another copy of the event it happened to.
    fn again(&self) -> Self {
        match self {
            Self::Rejected(reason) => Self::Rejected(reason.clone()),
            Self::Store(StoreError::Unreachable(e)) => {
                Self::Store(StoreError::Unreachable(e.to_string().into()))
            }
            Self::Store(e) if e.is_retryable() => {
                Self::Store(StoreError::Unavailable(e.to_string().into()))
            }
            Self::Store(e) => Self::Store(StoreError::Failed(e.to_string())),
            Self::Contention => Self::Contention,
        }
    }

    /// Whether delivering the same event again may succeed (SQS: report as a batch failure).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Rejected(_) => false,
            Self::Store(e) => e.is_retryable(),
            Self::Contention => true,
        }
    }
}

/// Applies `event` to its customer's state and stores both, exactly once. A profile event
/// is normalized under the tenant's rules (SPEC §8.7), read for it.
pub async fn ingest_event<S: CustomerStore + AutomationStore>(
    store: &S,
    event: &Event,
) -> Result<IngestOutcome, IngestError> {
    let settings = match event.body {
        EventBody::CustomerUpdated(_) => Some(store.tenant_settings(&event.tenant_id).await?),
        _ => None,
    };
    ingest_under(store, event, settings.as_ref()).await
}

/// [`ingest_event`] with the tenant's settings read already (`None`: the event is not a
/// profile event, which alone needs them).
async fn ingest_under<S: CustomerStore + AutomationStore>(
    store: &S,
    event: &Event,
    settings: Option<&TenantSettings>,
) -> Result<IngestOutcome, IngestError> {
    let mut settings = settings.map(std::borrow::Cow::Borrowed);
    for _ in 0..MAX_COMMIT_ATTEMPTS {
        let current = store
            .load_customer(&event.tenant_id, &event.customer_id)
            .await?;
        let (before, expected_version) = match current {
            Some(v) => (v.value, Some(v.version)),
            None => (
                CustomerState::new(event.tenant_id.clone(), event.customer_id.clone()),
                None,
            ),
        };
        // The customer was normalized by newer rules than those read for the batch (they
        // changed meanwhile): read them again, so a profile is never normalized backwards.
        let newer = |s: &TenantSettings| {
            before
                .normalized
                .as_ref()
                .is_some_and(|n| n.version > s.normalization.version)
        };
        if settings.as_deref().is_some_and(newer) {
            settings = Some(std::borrow::Cow::Owned(
                store.tenant_settings(&event.tenant_id).await?,
            ));
        }
        let was_past_due = before.is_past_due();
        let started_before = StartIndex::of(&before);
        let profile_before = before.profile.as_ref().map(|p| p.0.clone());
        let (mut after, change, stops) = if before.can_apply_in_place(event) {
            // The state read is this attempt's own copy: it is applied to in place.
            let mut after = before;
            let change = after.apply(event).map_err(rejection)?;
            let stops = outcome::stops_at(&after, &event.key);
            (after, change, stops)
        } else {
            // A late or repeated balance event: only the customer's log can say where the
            // episode now starts, so the state is rebuilt from it.
            let log = store
                .customer_events(&event.tenant_id, &event.customer_id)
                .await?;
            if let Some(existing) = log.iter().find(|e| e.event_id() == event.event_id()) {
                return same_or_conflict(existing, event);
            }
            let mut after = CustomerState::replay(
                event.tenant_id.clone(),
                event.customer_id.clone(),
                log.iter().chain([event]),
            )
            .map_err(rejection)?;
            // A balance event moves no profile: the normalized one stays as it was.
            after.normalized = before.normalized.clone();
            let change = Change::between(&before, &after);
            let stops = outcome::new_stops(&outcome::stops(&before), &after);
            (after, change, stops)
        };
        let normalization = match settings.as_deref() {
            Some(settings) if after.profile.as_ref().map(|p| &p.0) != profile_before.as_ref() => {
                normalize_new_profile(&mut after, event, settings)
            }
            _ => None,
        };
        let commit = StateCommit {
            event,
            state: after,
            was_past_due,
            started_before,
            expected_version,
            normalization,
            stops,
        };
        match store.commit(commit).await? {
            CommitOutcome::Committed => return Ok(IngestOutcome::Accepted(change)),
            CommitOutcome::EventExists(existing) => return same_or_conflict(&existing, event),
            CommitOutcome::VersionConflict => continue,
        }
    }
    Err(IngestError::Contention)
}

/// Normalizes the profile `event` just set, returning the change-log entry when the rules
/// changed (or would change) anything.
fn normalize_new_profile(
    state: &mut CustomerState,
    event: &Event,
    settings: &TenantSettings,
) -> Option<ChangeRecord> {
    let rules = &settings.normalization;
    let changes = state.normalize_profile(rules);
    (!changes.is_empty()).then(|| ChangeRecord {
        tenant_id: event.tenant_id.clone(),
        customer_id: event.customer_id.clone(),
        at: event.received_at,
        date: settings.calendar.local_date(event.received_at),
        rules_version: rules.version,
        cause: Cause::Event(event.event_id().clone()),
        changes,
    })
}

/// Customers of one batch applied at once. Events of one customer are applied one after
/// the other, in log order, so they never contend for its version and never need a replay
/// among themselves.
pub const BATCH_CONCURRENCY: usize = 16;

/// Ingests a batch (an API request, an SQS delivery): the result of each event, in input
/// order. Before anything is written, events repeated within the batch are answered from the
/// batch (a duplicate, or a conflict when the payload differs), and redeliveries of stored
/// events from one read of the store per tenant; the rest are grouped by customer, each
/// group applied in log order, up to [`BATCH_CONCURRENCY`] customers at a time.
pub async fn ingest_batch<S: CustomerStore + AutomationStore>(
    store: &S,
    events: &[Event],
) -> Vec<Result<IngestOutcome, IngestError>> {
    use std::collections::{BTreeMap, HashMap};
    let mut results: Vec<Option<Result<IngestOutcome, IngestError>>> =
        events.iter().map(|_| None).collect();

    // Repeated within the batch: the first copy goes on; another payload under its id is a
    // conflict now, and the same payload shares the first copy's fate, at the end.
    let mut first: HashMap<(&crate::domain::TenantId, &crate::domain::EventId), usize> =
        HashMap::new();
    let mut repeats: Vec<(usize, usize)> = Vec::new();
    for (i, event) in events.iter().enumerate() {
        match first.entry((&event.tenant_id, event.event_id())) {
            std::collections::hash_map::Entry::Occupied(o) => {
                let original = *o.get();
                if events[original].same_payload(event) {
                    repeats.push((i, original));
                }
                results[i] = Some(same_or_conflict(&events[original], event));
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(i);
            }
        }
    }

    // Already stored: one read per tenant of the batch.
    let mut by_tenant: BTreeMap<&crate::domain::TenantId, Vec<usize>> = BTreeMap::new();
    for &i in first.values() {
        by_tenant.entry(&events[i].tenant_id).or_default().push(i);
    }
    for (tenant, indexes) in &by_tenant {
        let ids: Vec<crate::domain::EventId> = indexes
            .iter()
            .map(|&i| events[i].event_id().clone())
            .collect();
        match store.stored_events(tenant, &ids).await {
            Ok(stored) => {
                let stored: HashMap<&crate::domain::EventId, &Event> =
                    stored.iter().map(|e| (e.event_id(), e)).collect();
                for &i in indexes {
                    if let Some(existing) = stored.get(events[i].event_id()) {
                        results[i] = Some(same_or_conflict(existing, &events[i]));
                    }
                }
            }
            Err(e) => {
                // Nothing of these events was written: each is to be sent again.
                let failed = IngestError::Store(e);
                for &i in indexes {
                    results[i] = Some(Err(failed.again()));
                }
            }
        }
    }

    // The settings of each tenant with a profile event to apply (their normalization rules),
    // read once for the batch. A tenant whose settings cannot be read has its profile events
    // answered "retry": nothing of them is written.
    let mut settings: HashMap<&crate::domain::TenantId, TenantSettings> = HashMap::new();
    for (tenant, indexes) in &by_tenant {
        let profiles: Vec<usize> = indexes
            .iter()
            .copied()
            .filter(|&i| results[i].is_none())
            .filter(|&i| matches!(events[i].body, EventBody::CustomerUpdated(_)))
            .collect();
        if profiles.is_empty() {
            continue;
        }
        match store.tenant_settings(tenant).await {
            Ok(s) => {
                settings.insert(tenant, s);
            }
            Err(e) => {
                let failed = IngestError::Store(e);
                for i in profiles {
                    results[i] = Some(Err(failed.again()));
                }
            }
        }
    }
    let settings = &settings;

    // The rest, by customer, each customer's events in log order.
    let mut by_customer: BTreeMap<
        (&crate::domain::TenantId, &crate::domain::CustomerId),
        Vec<usize>,
    > = BTreeMap::new();
    for (i, event) in events.iter().enumerate() {
        if results[i].is_none() {
            by_customer
                .entry((&event.tenant_id, &event.customer_id))
                .or_default()
                .push(i);
        }
    }
    // Once the store gives no answer (each call bounded by the SDK's timeouts), the events
    // not yet started are answered "retry" without trying: a store that stalls midway costs
    // the batch one timeout, not one per customer, and the request ends in time. Throttling
    // is not that: it is one hot key's, and the other customers' events go on.
    let unavailable = std::sync::atomic::AtomicBool::new(false);
    let unavailable = &unavailable;
    let applied: Vec<Vec<(usize, Result<IngestOutcome, IngestError>)>> =
        futures_util::stream::iter(by_customer.into_values())
            .map(|mut indexes| async move {
                indexes.sort_by(|&a, &b| events[a].key.cmp(&events[b].key));
                let mut out = Vec::with_capacity(indexes.len());
                for i in indexes {
                    if unavailable.load(std::sync::atomic::Ordering::Relaxed) {
                        out.push((i, Err(not_tried())));
                        continue;
                    }
                    let event = &events[i];
                    let result = match event.body {
                        EventBody::CustomerUpdated(_) => match settings.get(&event.tenant_id) {
                            Some(s) => ingest_under(store, event, Some(s)).await,
                            // Answered above: its tenant's settings could not be read.
                            None => Err(IngestError::Contention),
                        },
                        _ => ingest_under(store, event, None).await,
                    };
                    if matches!(&result, Err(IngestError::Store(e)) if e.is_unreachable()) {
                        unavailable.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    out.push((i, result));
                }
                out
            })
            .buffer_unordered(BATCH_CONCURRENCY)
            .collect()
            .await;
    for (i, result) in applied.into_iter().flatten() {
        results[i] = Some(result);
    }
    for (i, original) in repeats {
        results[i] = Some(match &results[original] {
            // Stored (now or before): this copy changes nothing.
            Some(Ok(_)) => Ok(IngestOutcome::Duplicate),
            Some(Err(e)) => Err(e.again()),
            None => Err(IngestError::Contention),
        });
    }
    // Every event was answered above; `Contention` ("send it again") is only the safe reading
    // of a gap.
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(IngestError::Contention)))
        .collect()
}

/// An event of a batch left alone once the store did not answer for another.
fn not_tried() -> IngestError {
    IngestError::Store(StoreError::Unreachable(
        "not tried: the store did not answer for an earlier event of the batch".into(),
    ))
}

fn same_or_conflict(existing: &Event, event: &Event) -> Result<IngestOutcome, IngestError> {
    if existing.same_payload(event) {
        Ok(IngestOutcome::Duplicate)
    } else {
        Err(IngestError::Rejected(FieldError::new(
            "event_id",
            format!(
                "{:?} was already used for a different event; event ids must not be reused",
                event.event_id().as_str()
            ),
        )))
    }
}

fn rejection(e: ApplyError) -> IngestError {
    IngestError::Rejected(FieldError::new(e.field(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A store that finds no stored event, then gives no answer for any customer: counts the
    /// customer reads tried.
    struct StallsAfterLookup(std::sync::atomic::AtomicUsize);

    impl CustomerStore for StallsAfterLookup {
        async fn load_customer(
            &self,
            _: &crate::domain::TenantId,
            _: &crate::domain::CustomerId,
        ) -> Result<Option<crate::ports::Versioned<CustomerState>>, StoreError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(StoreError::Unreachable("timed out".into()))
        }
        async fn stored_events(
            &self,
            _: &crate::domain::TenantId,
            _: &[crate::domain::EventId],
        ) -> Result<Vec<Event>, StoreError> {
            Ok(Vec::new())
        }
        async fn customer_events(
            &self,
            _: &crate::domain::TenantId,
            _: &crate::domain::CustomerId,
        ) -> Result<Vec<Event>, StoreError> {
            unreachable!("no state was read")
        }
        async fn commit(&self, _: StateCommit<'_>) -> Result<CommitOutcome, StoreError> {
            unreachable!("no state was read")
        }
    }

    /// Balance events read no settings.
    impl AutomationStore for StallsAfterLookup {
        async fn tenants(&self) -> Result<Vec<crate::domain::TenantId>, StoreError> {
            unreachable!("not read by ingest")
        }
        async fn tenant_settings(
            &self,
            _: &crate::domain::TenantId,
        ) -> Result<TenantSettings, StoreError> {
            unreachable!("balance events read no settings")
        }
        async fn tenant_automations(
            &self,
            _: &crate::domain::TenantId,
        ) -> Result<Vec<crate::domain::Automation>, StoreError> {
            unreachable!("not read by ingest")
        }
    }

    #[tokio::test]
    async fn when_the_store_stalls_after_the_lookup_should_not_try_every_customer() {
        let events: Vec<Event> = (0..500)
            .map(|n| {
                Event::from_json(&event(json!({"event_id": format!("e{n}"),
                    "customer_id": format!("c{}", n % 100),
                    "occurred_at": format!("2026-11-01T10:{:02}:00Z", n / 100)})))
                .unwrap()
            })
            .collect();
        let store = StallsAfterLookup(Default::default());
        let results = ingest_batch(&store, &events).await;
        assert!(
            results
                .iter()
                .all(|r| r.as_ref().is_err_and(IngestError::is_retryable))
        );
        let tried = store.0.load(std::sync::atomic::Ordering::Relaxed);
        // Each try waits out the SDK's timeouts: at most one round of concurrent customers.
        assert!(tried <= BATCH_CONCURRENCY, "{tried} customer reads tried");
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn event(extra: Value) -> Value {
        let mut v = json!({"event_id": "e1", "tenant_id": "t1", "customer_id": "c1",
            "type": "balance.changed", "occurred_at": "2026-11-01T10:00:00Z",
            "balance": {"amount_minor": -5000, "currency": "USD"}});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    #[test]
    fn when_live_ingest_reads_an_event_should_stamp_its_arrival_unless_it_says_earlier() {
        let arrived = at("2026-11-01T10:00:02Z");
        assert_eq!(
            live_event(&event(json!({})), arrived).unwrap().received_at,
            arrived
        );
        let relayed = event(json!({"received_at": "2026-11-01T10:00:01Z"}));
        assert_eq!(
            live_event(&relayed, arrived).unwrap().received_at,
            at("2026-11-01T10:00:01Z")
        );
        // A producer whose clock runs a minute ahead: learned of no earlier than it happened.
        let ahead = event(json!({"occurred_at": "2026-11-01T10:01:00Z"}));
        assert_eq!(
            live_event(&ahead, arrived).unwrap().received_at,
            at("2026-11-01T10:01:00Z")
        );
    }

    #[test]
    fn when_live_ingest_reads_an_event_from_the_future_should_refuse_it_naming_the_field() {
        let arrived = at("2026-11-01T10:00:02Z");
        let fields = |v: Value| -> Vec<String> {
            live_event(&v, arrived)
                .unwrap_err()
                .0
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(
            fields(event(json!({"received_at": "2199-01-01T00:00:00Z"}))),
            vec!["received_at"]
        );
        assert_eq!(
            fields(event(json!({"occurred_at": "2026-11-02T10:00:00Z"}))),
            vec!["occurred_at"]
        );
    }
}
