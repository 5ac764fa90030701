//! In-memory adapter: every port over maps behind one mutex. It is the embedded store of the
//! `rulekit` command (a backtest of a million customers runs on it) and the fast store of
//! unit tests, and it keeps the same contract as the DynamoDB adapter (`e2e::contract`).
//!
//! Its layout follows the table's access paths, so that every call costs what the call asks
//! for, never a walk of everything stored: customers by tenant, each with its event log and
//! its decisions; an event-id index per tenant; the episode-start indexes, the dates index and
//! the outbox as ordered sets, kept as the table's indexes are (on each write that moves them).

use crate::adapters::dynamodb::keys::shard;
use crate::domain::aging::AgingTable;
use crate::domain::clock::{ClockKind, StartIndex};
use crate::domain::decision::Settled;
use crate::domain::event::EventBody;
use crate::domain::normalize::ChangeRecord;
use crate::domain::outcome::ClockStop;
use crate::domain::{
    Automation, AutomationId, Continuity, CustomerId, CustomerState, Event, EventId, EventKey,
    FieldErrors, TenantId, TenantSettings,
};
use crate::ports::{
    ActionPublisher, AdminStore, AuditEntry, AutomationAdmin, AutomationStore, CandidateSource,
    CommitOutcome, CustomerStore, DeadLetters, DecisionStore, FailedFirings, FiringRecord,
    FiringStatus, NormalizationStore, OutcomeStore, OutgoingMessage, PublishError, RESOLVE_CHUNK,
    RecordOutcome, ReportRecords, RunCheckpoints, ScanPage, Segment, SegmentProgress, SkipCount,
    StateCommit, StoreError, StoredAutomation, Versioned, WriteOutcome,
};
use chrono::{DateTime, NaiveDate, Utc};
use fnv::FnvHashMap as HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

/// A decision's key under its customer: one per (automation, episode, threshold).
type FiringKey = (AutomationId, EventKey, u16);

/// An outbox entry, in the order the executor takes firings: run date, then tenant, customer
/// and firing key (the DynamoDB outbox's sort key reads the same).
type OutboxKey = (NaiveDate, TenantId, CustomerId, FiringKey);

/// An event as its customer's log keeps it: the tenant and the customer are the log's.
#[derive(Debug, Clone, PartialEq)]
struct LoggedEvent {
    key: EventKey,
    received_at: DateTime<Utc>,
    body: EventBody,
}

impl LoggedEvent {
    fn event(&self, state: &CustomerState) -> Event {
        Event {
            tenant_id: state.tenant_id.clone(),
            customer_id: state.customer_id.clone(),
            key: self.key.clone(),
            received_at: self.received_at,
            body: self.body.clone(),
        }
    }
}

#[derive(Debug, PartialEq)]
struct Customer {
    state: Versioned<CustomerState>,
    log: Vec<LoggedEvent>,
    /// The customer's stopped clocks, one per clock (kind, id, start).
    stops: Vec<ClockStop>,
}

/// One customer's decisions by key, each with the order it was recorded in (for
/// [`MemoryStore::firing_records`]). A sorted vector: a customer has a handful of decisions,
/// and a map's node is sized for eleven (most of a backtest's memory, were it a `BTreeMap`).
/// The key is the record's own (`firing_key`), not stored beside it.
#[derive(Debug, Default, PartialEq)]
struct Firings(Vec<(u64, FiringRecord)>);

/// A firing's key, borrowed from its record.
fn key_of(record: &FiringRecord) -> (&AutomationId, &EventKey, u16) {
    let d = &record.decision;
    (&d.automation_id, &d.episode, d.threshold_days)
}

impl Firings {
    fn position(&self, key: &FiringKey) -> Result<usize, usize> {
        let key = (&key.0, &key.1, key.2);
        self.0.binary_search_by(|(_, r)| key_of(r).cmp(&key))
    }

    fn get(&self, key: &FiringKey) -> Option<&(u64, FiringRecord)> {
        self.position(key).ok().map(|i| &self.0[i])
    }

    fn get_mut(&mut self, key: &FiringKey) -> Option<&mut (u64, FiringRecord)> {
        self.position(key).ok().map(|i| &mut self.0[i])
    }

    /// Inserts unless its key is there; whether it inserted.
    fn insert_new(&mut self, key: &FiringKey, value: (u64, FiringRecord)) -> bool {
        match self.position(key) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, value);
                true
            }
        }
    }

    fn values(&self) -> impl Iterator<Item = &(u64, FiringRecord)> {
        self.0.iter()
    }
}

#[derive(Debug, Default, PartialEq)]
struct Tenant {
    settings: Option<Versioned<TenantSettings>>,
    automations: BTreeMap<AutomationId, StoredAutomation>,
    audit: BTreeMap<String, AuditEntry>,
    /// Boxed: a map's table is sized in powers of two, so its slack is a pointer a customer,
    /// not a whole state.
    customers: HashMap<CustomerId, Box<Customer>>,
    firings: HashMap<CustomerId, Firings>,
    /// Which customer's log holds each event id: ids are unique per tenant.
    events: EventIndex,
    /// Episode starts, `[negative_balance, no_improvement]`.
    episodes: [BTreeSet<(DateTime<Utc>, CustomerId)>; 2],
    /// Running payment clocks' starts (one entry per instant, however many invoices), and
    /// cancellation requests' (`StartIndex::KINDS`).
    started: [BTreeSet<(DateTime<Utc>, CustomerId)>; 2],
    past_due: u64,
    /// Customers with a running payment clock, and with a request to cancel unanswered.
    counted: [u64; 2],
    dates: BTreeMap<NaiveDate, BTreeSet<(CustomerId, FiringKey)>>,
    /// Where each customer's latest quiet period ends (as the dates index's releases).
    releases: BTreeSet<(DateTime<Utc>, CustomerId)>,
    /// Firings awaiting approval, by run date (as the table's approvals partition).
    awaiting: BTreeSet<(NaiveDate, CustomerId, FiringKey)>,
    checkpoint: Option<NaiveDate>,
    /// The metadata change log by customer, each entry by instant and cause, and the
    /// tenant-local dates it is listed under (as the dates index's `N#` partitions).
    changes: HashMap<CustomerId, BTreeMap<ChangeKey, ChangeRecord>>,
    change_dates: BTreeSet<(NaiveDate, DateTime<Utc>, CustomerId, String)>,
    /// The re-normalization's checkpoints by segment.
    renormalization: BTreeMap<Segment, SegmentProgress>,
    /// Aging tables recorded, by date.
    aging: BTreeMap<NaiveDate, AgingTable>,
    /// The daily runs' `condition_not_met` counts, by date.
    skips: BTreeMap<NaiveDate, Vec<SkipCount>>,
}

/// A change-log entry's key under its customer: its instant and cause.
type ChangeKey = (DateTime<Utc>, String);

impl Tenant {
    fn log_change(&mut self, record: ChangeRecord) {
        let key = (record.at, record.cause_id());
        self.change_dates.insert((
            record.date,
            record.at,
            record.customer_id.clone(),
            key.1.clone(),
        ));
        self.changes
            .entry(record.customer_id.clone())
            .or_default()
            .insert(key, record);
    }
}

/// Which customer's log holds each of a tenant's event ids, by a 64-bit fingerprint of the
/// id: an entry is the fingerprint and the customer, not the id itself, because a backtest
/// indexes every event it reads. An id whose fingerprint another id took already (about one
/// pair in 10^7 among a million ids) is kept by its text instead. Each answer is a customer
/// whose log is then searched, so a fingerprint alone never decides anything.
#[derive(Debug)]
struct EventIndex {
    by_fingerprint: HashMap<u64, CustomerId>,
    by_id: HashMap<EventId, CustomerId>,
    fingerprint: fn(&EventId) -> u64,
}

impl Default for EventIndex {
    fn default() -> Self {
        Self {
            by_fingerprint: HashMap::default(),
            by_id: HashMap::default(),
            fingerprint: |id| {
                use std::hash::Hasher;
                let mut hasher = fnv::FnvHasher::default();
                hasher.write(id.as_str().as_bytes());
                hasher.finish()
            },
        }
    }
}

impl EventIndex {
    /// The customers whose logs may hold `id`.
    fn holders(&self, id: &EventId) -> impl Iterator<Item = &CustomerId> {
        self.by_fingerprint
            .get(&(self.fingerprint)(id))
            .into_iter()
            .chain(self.by_id.get(id))
    }

    fn insert(&mut self, id: &EventId, customer: CustomerId) {
        use std::collections::hash_map::Entry;
        match self.by_fingerprint.entry((self.fingerprint)(id)) {
            Entry::Vacant(slot) => {
                slot.insert(customer);
            }
            Entry::Occupied(_) => {
                self.by_id.insert(id.clone(), customer);
            }
        }
    }
}

/// Two indexes are equal when they hold the same entries (the fingerprint function is the
/// same code in both).
impl PartialEq for EventIndex {
    fn eq(&self, other: &Self) -> bool {
        self.by_fingerprint == other.by_fingerprint && self.by_id == other.by_id
    }
}

impl Tenant {
    /// The stored event with this id, whichever customer holds it.
    fn event(&self, id: &EventId) -> Option<Event> {
        self.events.holders(id).find_map(|holder| {
            let customer = self.customers.get(holder)?;
            let logged = customer.log.iter().find(|e| e.key.event_id == *id)?;
            Some(logged.event(&customer.state.value))
        })
    }

    /// The states of the customers an instant index holds within `windows` (`[from, to)`),
    /// each once, by customer id.
    fn states_in(
        &self,
        index: &BTreeSet<(DateTime<Utc>, CustomerId)>,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Vec<CustomerState> {
        // The smallest id: a window's bounds sit before every customer of their instant.
        let first = CustomerId::new("");
        let mut found: BTreeSet<&CustomerId> = BTreeSet::new();
        for (from, to) in windows.iter().filter(|(f, t)| f < t) {
            let range = (
                Bound::Included((*from, first.clone())),
                Bound::Excluded((*to, first.clone())),
            );
            found.extend(index.range(range).map(|(_, customer)| customer));
        }
        found
            .into_iter()
            .filter_map(|c| self.customers.get(c))
            .map(|c| c.state.value.clone())
            .collect()
    }

    /// Whether the daily run visits the tenant: it has settings or automations stored.
    fn configured(&self) -> bool {
        self.settings.is_some() || !self.automations.is_empty()
    }
}

#[derive(Debug, Default, PartialEq)]
struct Inner {
    tenants: BTreeMap<TenantId, Tenant>,
    outbox: BTreeSet<OutboxKey>,
    next_sequence: u64,
}

/// `log.push(event)`, growing the log by a quarter (at least four) rather than doubling it:
/// a customer's log is most of what a backtest holds, and a doubling leaves a third of it
/// unused on average.
fn push_grown_by_a_quarter(log: &mut Vec<LoggedEvent>, event: LoggedEvent) {
    if log.len() == log.capacity() {
        log.reserve_exact((log.len() / 4).max(4));
    }
    log.push(event);
}

fn policy(continuity: Continuity) -> usize {
    match continuity {
        Continuity::NegativeBalance => 0,
        Continuity::NoImprovement => 1,
    }
}

fn firing_key(record: &FiringRecord) -> FiringKey {
    let d = &record.decision;
    (d.automation_id.clone(), d.episode.clone(), d.threshold_days)
}

fn outbox_key(record: &FiringRecord) -> OutboxKey {
    let d = &record.decision;
    (
        d.date,
        d.tenant_id.clone(),
        d.customer_id.clone(),
        firing_key(record),
    )
}

fn waits(status: FiringStatus) -> bool {
    matches!(status, FiringStatus::Pending | FiringStatus::Sending)
}

impl Inner {
    fn tenant(&self, tenant: &TenantId) -> Option<&Tenant> {
        self.tenants.get(tenant)
    }

    fn tenant_mut(&mut self, tenant: &TenantId) -> &mut Tenant {
        self.tenants.entry(tenant.clone()).or_default()
    }

    fn customer(&self, tenant: &TenantId, customer: &CustomerId) -> Option<&Customer> {
        self.tenant(tenant)?.customers.get(customer).map(|c| &**c)
    }

    /// The stored event with this id in `tenant`, whichever customer holds it.
    fn event(&self, tenant: &TenantId, id: &EventId) -> Option<Event> {
        self.tenant(tenant)?.event(id)
    }

    fn firings(&self, tenant: &TenantId, customer: &CustomerId) -> Option<&Firings> {
        self.tenant(tenant)?.firings.get(customer)
    }

    fn firing(&self, record: &FiringRecord) -> Option<&FiringRecord> {
        let d = &record.decision;
        self.firings(&d.tenant_id, &d.customer_id)?
            .get(&firing_key(record))
            .map(|(_, r)| r)
    }

    /// Stores `next` over the firing it replaces, keeping the outbox in step.
    fn put_firing(&mut self, next: &FiringRecord) {
        let d = &next.decision;
        let stored = self
            .tenants
            .get_mut(&d.tenant_id)
            .and_then(|t| t.firings.get_mut(&d.customer_id))
            .and_then(|f| f.get_mut(&firing_key(next)));
        let Some((_, stored)) = stored else {
            return;
        };
        *stored = next.clone();
        if waits(next.status) {
            self.outbox.insert(outbox_key(next));
        } else {
            self.outbox.remove(&outbox_key(next));
        }
        let awaiting = (d.date, d.customer_id.clone(), firing_key(next));
        let tenant = self.tenant_mut(&d.tenant_id);
        if next.status == FiringStatus::AwaitingApproval {
            tenant.awaiting.insert(awaiting);
        } else {
            tenant.awaiting.remove(&awaiting);
        }
    }
}

/// Clones share the data (as clones of the DynamoDB store share the table).
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

/// Whether two stores hold the same data, every index and the order decisions were recorded
/// in included: how a store rebuilt from its file is checked against the one that wrote it.
impl PartialEq for MemoryStore {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) || *self.lock() == *other.lock()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No code path panics while holding the lock half-way through an update, so the data
        // behind a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every recorded decision, in the order recorded (for reports and tests).
    pub fn firing_records(&self) -> Vec<FiringRecord> {
        let inner = self.lock();
        let mut all: Vec<&(u64, FiringRecord)> = inner
            .tenants
            .values()
            .flat_map(|t| t.firings.values())
            .flat_map(|f| f.values())
            .collect();
        all.sort_by_key(|(seq, _)| *seq);
        all.into_iter().map(|(_, r)| r.clone()).collect()
    }

    /// Every customer state of a tenant, by customer id.
    pub fn customers(&self, tenant: &TenantId) -> Vec<CustomerState> {
        let inner = self.lock();
        let mut states: Vec<CustomerState> = inner
            .tenant(tenant)
            .map(|t| {
                t.customers
                    .values()
                    .map(|c| c.state.value.clone())
                    .collect()
            })
            .unwrap_or_default();
        states.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
        states
    }
}

impl CustomerStore for MemoryStore {
    async fn load_customer(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Option<Versioned<CustomerState>>, StoreError> {
        Ok(self
            .lock()
            .customer(tenant, customer)
            .map(|c| c.state.clone()))
    }

    async fn stored_events(
        &self,
        tenant: &TenantId,
        ids: &[EventId],
    ) -> Result<Vec<Event>, StoreError> {
        let inner = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| inner.event(tenant, id))
            .collect())
    }

    async fn customer_events(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .lock()
            .customer(tenant, customer)
            .map(|c| c.log.iter().map(|e| e.event(&c.state.value)).collect())
            .unwrap_or_default())
    }

    async fn commit(&self, commit: StateCommit<'_>) -> Result<CommitOutcome, StoreError> {
        use std::collections::hash_map::Entry;
        let StateCommit {
            event,
            state,
            expected_version,
            started_before,
            normalization,
            stops,
            ..
        } = commit;
        let mut guard = self.lock();
        let tenant = match guard.tenants.get_mut(&state.tenant_id) {
            Some(tenant) => tenant,
            None => guard.tenants.entry(state.tenant_id.clone()).or_default(),
        };
        if let Some(existing) = tenant.event(event.event_id()) {
            return Ok(CommitOutcome::EventExists(Box::new(existing)));
        }
        let customer = tenant.customers.entry(state.customer_id.clone());
        let before = match &customer {
            Entry::Occupied(c) => Some(&c.get().state),
            Entry::Vacant(_) => None,
        };
        if before.map(|b| b.version) != expected_version {
            return Ok(CommitOutcome::VersionConflict);
        }
        let before = before.map(|b| &b.value);
        // The episode indexes and the past-due count move only on transitions, as the
        // table's sparse indexes and counter do.
        for continuity in [Continuity::NegativeBalance, Continuity::NoImprovement] {
            let start = |s: &CustomerState| s.episode(continuity).map(|e| e.start.occurred_at);
            let old = before.and_then(start);
            let new = start(&state);
            if old != new {
                let index = &mut tenant.episodes[policy(continuity)];
                if let Some(old) = old {
                    index.remove(&(old, state.customer_id.clone()));
                }
                if let Some(new) = new {
                    index.insert((new, state.customer_id.clone()));
                }
            }
        }
        // What the state read at `expected_version` indexed, as the caller computed it.
        let (old, new) = (started_before, StartIndex::of(&state));
        for slot in 0..StartIndex::KINDS.len() {
            for gone in old.starts[slot].difference(&new.starts[slot]) {
                tenant.started[slot].remove(&(*gone, state.customer_id.clone()));
            }
            for start in new.starts[slot].difference(&old.starts[slot]) {
                tenant.started[slot].insert((*start, state.customer_id.clone()));
            }
            match (old.counted[slot], new.counted[slot]) {
                (false, true) => tenant.counted[slot] += 1,
                (true, false) => tenant.counted[slot] = tenant.counted[slot].saturating_sub(1),
                _ => {}
            }
        }
        let release = |s: &CustomerState| s.quiet.as_ref().and_then(|q| q.last_end());
        let (old, new) = (before.and_then(release), release(&state));
        if old != new {
            if let Some(old) = old {
                tenant.releases.remove(&(old, state.customer_id.clone()));
            }
            if let Some(new) = new {
                tenant.releases.insert((new, state.customer_id.clone()));
            }
        }
        match (
            before.is_some_and(CustomerState::is_past_due),
            state.is_past_due(),
        ) {
            (false, true) => tenant.past_due += 1,
            (true, false) => tenant.past_due = tenant.past_due.saturating_sub(1),
            _ => {}
        }
        tenant
            .events
            .insert(event.event_id(), state.customer_id.clone());
        let logged = LoggedEvent {
            key: event.key.clone(),
            received_at: event.received_at,
            body: event.body.clone(),
        };
        let next = Versioned {
            value: state,
            version: expected_version.map_or(1, |v| v + 1),
        };
        match customer {
            Entry::Occupied(mut c) => {
                let c = c.get_mut();
                c.state = next;
                push_grown_by_a_quarter(&mut c.log, logged);
                record_stops(&mut c.stops, stops);
            }
            Entry::Vacant(slot) => {
                let mut c = Box::new(Customer {
                    state: next,
                    log: vec![logged],
                    stops: Vec::new(),
                });
                record_stops(&mut c.stops, stops);
                slot.insert(c);
            }
        }
        if let Some(record) = normalization {
            tenant.log_change(record);
        }
        Ok(CommitOutcome::Committed)
    }
}

/// Keeps each stop under its clock: a stop of a clock already there replaces it, as the
/// table's item under the same key does.
fn record_stops(kept: &mut Vec<ClockStop>, stops: Vec<ClockStop>) {
    for stop in stops {
        let same = |k: &ClockStop| {
            (k.kind, &k.clock_id, &k.start) == (stop.kind, &stop.clock_id, &stop.start)
        };
        match kept.iter_mut().find(|k| same(k)) {
            Some(k) => *k = stop,
            None => kept.push(stop),
        }
    }
}

impl OutcomeStore for MemoryStore {
    async fn customer_stops(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<ClockStop>, StoreError> {
        Ok(self
            .lock()
            .customer(tenant, customer)
            .map(|c| c.stops.clone())
            .unwrap_or_default())
    }
}

impl ReportRecords for MemoryStore {
    async fn record_aging(&self, tenant: &TenantId, table: &AgingTable) -> Result<(), StoreError> {
        self.lock()
            .tenant_mut(tenant)
            .aging
            .insert(table.date, table.clone());
        Ok(())
    }

    async fn aging_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Option<AgingTable>, StoreError> {
        Ok(self
            .lock()
            .tenant(tenant)
            .and_then(|t| t.aging.get(&date).cloned()))
    }

    async fn record_skips(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
        skips: &[SkipCount],
    ) -> Result<(), StoreError> {
        self.lock()
            .tenant_mut(tenant)
            .skips
            .insert(date, skips.to_vec());
        Ok(())
    }

    async fn skips_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Vec<SkipCount>, StoreError> {
        Ok(self
            .lock()
            .tenant(tenant)
            .and_then(|t| t.skips.get(&date).cloned())
            .unwrap_or_default())
    }
}

impl NormalizationStore for MemoryStore {
    async fn changes_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let inner = self.lock();
        let Some(t) = inner.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let next = date.succ_opt().unwrap_or(date);
        let bound = |d| {
            (
                d,
                DateTime::<Utc>::MIN_UTC,
                CustomerId::new(""),
                String::new(),
            )
        };
        Ok(t.change_dates
            .range(bound(date)..bound(next))
            .filter_map(|(_, at, customer, cause)| {
                t.changes.get(customer)?.get(&(*at, cause.clone())).cloned()
            })
            .collect())
    }

    async fn customer_changes(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .tenant(tenant)
            .and_then(|t| t.changes.get(customer))
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn scan_customers(
        &self,
        tenant: &TenantId,
        segment: Segment,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ScanPage, StoreError> {
        let inner = self.lock();
        let Some(t) = inner.tenant(tenant) else {
            return Ok(ScanPage {
                customers: Vec::new(),
                next: None,
                items_read: 0,
            });
        };
        // The segment's customers after the cursor, in id order: a customer is in the
        // segment its id's shard names, as stable as the table's hash.
        let mut ids: Vec<&CustomerId> = t
            .customers
            .keys()
            .filter(|c| cursor.is_none_or(|after| c.as_str() > after))
            .filter(|c| shard(c, segment.total) == segment.index)
            .collect();
        ids.sort_unstable();
        let more = ids.len() > limit.max(1);
        ids.truncate(limit.max(1));
        let customers: Vec<Versioned<CustomerState>> =
            ids.iter().map(|c| t.customers[*c].state.clone()).collect();
        Ok(ScanPage {
            next: more
                .then(|| ids.last().map(|c| c.as_str().to_owned()))
                .flatten(),
            items_read: customers.len() as u64,
            customers,
        })
    }

    async fn write_normalized(
        &self,
        state: &CustomerState,
        expected: u64,
        record: &ChangeRecord,
    ) -> Result<WriteOutcome, StoreError> {
        let mut inner = self.lock();
        let tenant = inner.tenant_mut(&state.tenant_id);
        let Some(customer) = tenant.customers.get_mut(&state.customer_id) else {
            return Ok(WriteOutcome::Conflict);
        };
        if customer.state.version != expected {
            return Ok(WriteOutcome::Conflict);
        }
        customer.state = Versioned {
            value: state.clone(),
            version: expected + 1,
        };
        tenant.log_change(record.clone());
        Ok(WriteOutcome::Written)
    }

    async fn renormalization(&self, tenant: &TenantId) -> Result<Vec<SegmentProgress>, StoreError> {
        Ok(self
            .lock()
            .tenant(tenant)
            .map(|t| t.renormalization.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn save_progress(
        &self,
        tenant: &TenantId,
        progress: &SegmentProgress,
    ) -> Result<(), StoreError> {
        self.lock()
            .tenant_mut(tenant)
            .renormalization
            .insert(progress.segment, progress.clone());
        Ok(())
    }
}

impl CandidateSource for MemoryStore {
    async fn clocks_started(
        &self,
        tenant: &TenantId,
        kind: ClockKind,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<Vec<CustomerState>, StoreError> {
        let inner = self.lock();
        let Some(t) = inner.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let index = match (kind, StartIndex::slot(kind)) {
            (ClockKind::PastDue(continuity), _) => &t.episodes[policy(continuity)],
            (_, Some(slot)) => &t.started[slot],
            (_, None) => return Ok(Vec::new()),
        };
        Ok(t.states_in(index, windows))
    }

    async fn quiet_released(
        &self,
        tenant: &TenantId,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<Vec<CustomerState>, StoreError> {
        let inner = self.lock();
        let Some(t) = inner.tenant(tenant) else {
            return Ok(Vec::new());
        };
        Ok(t.states_in(&t.releases, windows))
    }

    async fn clock_count(&self, tenant: &TenantId, kind: ClockKind) -> Result<u64, StoreError> {
        Ok(self
            .lock()
            .tenant(tenant)
            .map_or(0, |t| match (kind, StartIndex::slot(kind)) {
                (ClockKind::PastDue(_), _) => t.past_due,
                (_, Some(slot)) => t.counted[slot],
                (_, None) => 0,
            }))
    }
}

impl AutomationStore for MemoryStore {
    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        Ok(self
            .lock()
            .tenants
            .iter()
            .filter(|(_, t)| t.configured())
            .map(|(id, _)| id.clone())
            .collect())
    }

    async fn tenant_settings(&self, tenant: &TenantId) -> Result<TenantSettings, StoreError> {
        Ok(AdminStore::settings(self, tenant).await?.value)
    }

    async fn tenant_automations(&self, tenant: &TenantId) -> Result<Vec<Automation>, StoreError> {
        Ok(self
            .lock()
            .tenant(tenant)
            .map(|t| {
                t.automations
                    .values()
                    .filter(|a| !a.archived || a.automation.holds())
                    .map(|a| Automation {
                        archived: a.archived,
                        version: a.version,
                        ..a.automation.clone()
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

impl AutomationAdmin for MemoryStore {
    async fn put_settings(&self, settings: &TenantSettings) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let tenant = inner.tenant_mut(&settings.tenant_id);
        let version = tenant.settings.as_ref().map_or(0, |v| v.version) + 1;
        tenant.settings = Some(Versioned {
            value: settings.clone(),
            version,
        });
        Ok(())
    }

    async fn put_automation(&self, automation: &Automation) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let stored = &mut inner.tenant_mut(&automation.tenant_id).automations;
        let version = stored.get(&automation.id).map_or(0, |a| a.version) + 1;
        stored.insert(
            automation.id.clone(),
            StoredAutomation {
                automation: automation.clone(),
                version,
                archived: false,
            },
        );
        Ok(())
    }
}

impl AdminStore for MemoryStore {
    async fn automation(
        &self,
        tenant: &TenantId,
        id: &AutomationId,
    ) -> Result<Option<StoredAutomation>, StoreError> {
        Ok(self
            .lock()
            .tenant(tenant)
            .and_then(|t| t.automations.get(id))
            .cloned())
    }

    async fn list_automations(
        &self,
        tenant: &TenantId,
        after: Option<&AutomationId>,
        limit: usize,
    ) -> Result<Vec<StoredAutomation>, StoreError> {
        Ok(self
            .lock()
            .tenant(tenant)
            .map(|t| {
                t.automations
                    .values()
                    .filter(|a| !a.archived && after.is_none_or(|after| a.automation.id > *after))
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn write_automation(
        &self,
        next: &StoredAutomation,
        expected: Option<u64>,
        audit: &AuditEntry,
    ) -> Result<WriteOutcome, StoreError> {
        let mut inner = self.lock();
        let tenant = inner.tenant_mut(&next.automation.tenant_id);
        let current = tenant
            .automations
            .get(&next.automation.id)
            .map(|a| a.version);
        if current != expected {
            return Ok(WriteOutcome::Conflict);
        }
        tenant
            .automations
            .insert(next.automation.id.clone(), next.clone());
        tenant.audit.insert(audit.id.clone(), audit.clone());
        Ok(WriteOutcome::Written)
    }

    async fn settings(&self, tenant: &TenantId) -> Result<Versioned<TenantSettings>, StoreError> {
        Ok(self
            .lock()
            .tenant(tenant)
            .and_then(|t| t.settings.clone())
            .unwrap_or_else(|| Versioned {
                value: TenantSettings::defaults(tenant.clone()),
                version: 0,
            }))
    }

    async fn write_settings(
        &self,
        next: &Versioned<TenantSettings>,
        audit: &AuditEntry,
    ) -> Result<WriteOutcome, StoreError> {
        let mut inner = self.lock();
        let tenant = inner.tenant_mut(&next.value.tenant_id);
        let current = tenant.settings.as_ref().map_or(0, |v| v.version);
        if current + 1 != next.version {
            return Ok(WriteOutcome::Conflict);
        }
        tenant.settings = Some(next.clone());
        tenant.audit.insert(audit.id.clone(), audit.clone());
        Ok(WriteOutcome::Written)
    }

    async fn audit_log(
        &self,
        tenant: &TenantId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let inner = self.lock();
        let Some(t) = inner.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let older = match before {
            Some(id) => t
                .audit
                .range::<str, _>((Bound::Unbounded, Bound::Excluded(id))),
            None => t.audit.range::<str, _>(..),
        };
        Ok(older.rev().take(limit).map(|(_, e)| e.clone()).collect())
    }

    async fn firings_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Vec<FiringRecord>, StoreError> {
        let inner = self.lock();
        let Some(t) = inner.tenant(tenant) else {
            return Ok(Vec::new());
        };
        Ok(t.dates
            .get(&date)
            .into_iter()
            .flatten()
            .filter_map(|(customer, key)| t.firings.get(customer)?.get(key))
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn resolve_firings(
        &self,
        held: &[FiringRecord],
        from: FiringStatus,
        to: FiringStatus,
        audit: &AuditEntry,
    ) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let mut moved = 0;
        for (n, chunk) in held.chunks(RESOLVE_CHUNK).enumerate() {
            let still_held: Vec<FiringRecord> = chunk
                .iter()
                .filter_map(|r| inner.firing(r))
                .filter(|r| r.status == from)
                .cloned()
                .collect();
            if still_held.is_empty() {
                continue;
            }
            for record in &still_held {
                let mut next = record.clone();
                next.status = to;
                inner.put_firing(&next);
            }
            moved += still_held.len();
            // One entry per chunk moved, as the table writes one per transaction.
            let mut entry = audit.clone();
            if held.len() > RESOLVE_CHUNK {
                entry.id = format!("{}-{n:04}", audit.id);
            }
            inner
                .tenant_mut(&audit.tenant_id)
                .audit
                .insert(entry.id.clone(), entry);
        }
        Ok(moved)
    }
}

impl RunCheckpoints for MemoryStore {
    async fn last_completed(&self, tenant: &TenantId) -> Result<Option<NaiveDate>, StoreError> {
        Ok(self.lock().tenant(tenant).and_then(|t| t.checkpoint))
    }

    async fn complete(&self, tenant: &TenantId, date: NaiveDate) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let checkpoint = &mut inner.tenant_mut(tenant).checkpoint;
        *checkpoint = Some(checkpoint.map_or(date, |done| done.max(date)));
        Ok(())
    }
}

impl DecisionStore for MemoryStore {
    async fn settled(
        &self,
        tenant: &TenantId,
        automation: &AutomationId,
        customer: &CustomerId,
    ) -> Result<Vec<Settled>, StoreError> {
        Ok(self
            .lock()
            .firings(tenant, customer)
            .map(|f| {
                f.values()
                    .filter(|(_, r)| r.decision.automation_id == *automation)
                    .map(|(_, r)| r.decision.settled())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn customer_firings(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<FiringRecord>, StoreError> {
        Ok(self
            .lock()
            .firings(tenant, customer)
            .map(|f| f.values().map(|(_, r)| r.clone()).collect())
            .unwrap_or_default())
    }

    async fn record(&self, record: &FiringRecord) -> Result<RecordOutcome, StoreError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let d = &record.decision;
        let tenant = inner.tenants.entry(d.tenant_id.clone()).or_default();
        let firings = tenant.firings.entry(d.customer_id.clone()).or_default();
        let key = firing_key(record);
        if !firings.insert_new(&key, (inner.next_sequence, record.clone())) {
            return Ok(RecordOutcome::AlreadyRecorded);
        }
        inner.next_sequence += 1;
        tenant
            .dates
            .entry(d.date)
            .or_default()
            .insert((d.customer_id.clone(), key.clone()));
        if record.status == FiringStatus::AwaitingApproval {
            tenant.awaiting.insert((d.date, d.customer_id.clone(), key));
        }
        if waits(record.status) {
            inner.outbox.insert(outbox_key(record));
        }
        Ok(RecordOutcome::Recorded)
    }

    async fn awaiting_approval(&self, tenant: &TenantId) -> Result<Vec<FiringRecord>, StoreError> {
        let inner = self.lock();
        let Some(t) = inner.tenant(tenant) else {
            return Ok(Vec::new());
        };
        Ok(t.awaiting
            .iter()
            .filter_map(|(_, customer, key)| t.firings.get(customer)?.get(key))
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn pending_firings(&self, limit: usize) -> Result<Vec<FiringRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .outbox
            .iter()
            .filter_map(|(_, tenant, customer, key)| inner.firings(tenant, customer)?.get(key))
            .take(limit)
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn replace_firing(
        &self,
        current: &FiringRecord,
        next: &FiringRecord,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        match inner.firing(current) {
            Some(stored)
                if stored.status == current.status && stored.attempts == current.attempts =>
            {
                inner.put_firing(next);
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(StoreError::failed(
                "update of a firing that was never recorded".to_owned(),
            )),
        }
    }
}

/// Publishes by keeping the messages, in order, with generated message ids (or, for a
/// backtest, by counting them: a million customers' messages are nothing to keep).
#[derive(Debug)]
pub struct MemoryPublisher {
    published: Mutex<Vec<(String, OutgoingMessage)>>,
    keep: bool,
    count: std::sync::atomic::AtomicUsize,
}

impl Default for MemoryPublisher {
    fn default() -> Self {
        Self {
            published: Mutex::default(),
            keep: true,
            count: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl MemoryPublisher {
    pub fn new() -> Self {
        Self::default()
    }

    /// A publisher that keeps no message (`published` stays empty), only gives ids.
    pub fn discarding() -> Self {
        Self {
            keep: false,
            ..Self::default()
        }
    }

    /// Every message published so far with its message id, in publishing order.
    pub fn published(&self) -> Vec<(String, OutgoingMessage)> {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ActionPublisher for MemoryPublisher {
    async fn publish_batch(
        &self,
        batch: &[OutgoingMessage],
    ) -> Result<Vec<Result<String, String>>, PublishError> {
        let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        Ok(batch
            .iter()
            .map(|m| {
                let n = self
                    .count
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1;
                let id = format!("mem-{n}");
                if self.keep {
                    published.push((id.clone(), m.clone()));
                }
                Ok(id)
            })
            .collect())
    }
}

/// Keeps dead letters (rejected events, failed firings) in memory, in order.
#[derive(Debug, Default)]
pub struct MemoryDeadLetters {
    letters: Mutex<Vec<(String, FieldErrors)>>,
    failed: Mutex<Vec<(FiringRecord, String)>>,
}

impl MemoryDeadLetters {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn letters(&self) -> Vec<(String, FieldErrors)> {
        self.letters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The failed firings sent, with their last errors.
    pub fn failed_firings(&self) -> Vec<(FiringRecord, String)> {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl FailedFirings for MemoryDeadLetters {
    async fn send(&self, record: &FiringRecord, last_error: &str) -> Result<(), StoreError> {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((record.clone(), last_error.to_owned()));
        Ok(())
    }
}

impl DeadLetters for MemoryDeadLetters {
    async fn send(&self, body: &str, reasons: &FieldErrors) -> Result<(), StoreError> {
        self.letters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((body.to_owned(), reasons.clone()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_event_ids_share_a_fingerprint_should_still_find_each_holder() {
        let mut index = EventIndex {
            fingerprint: |_| 7,
            ..EventIndex::default()
        };
        for (id, customer) in [("e1", "c1"), ("e2", "c2"), ("e3", "c1")] {
            index.insert(&EventId::new(id), CustomerId::new(customer));
        }
        for (id, customer) in [("e1", "c1"), ("e2", "c2"), ("e3", "c1")] {
            let holders: Vec<&CustomerId> = index.holders(&EventId::new(id)).collect();
            assert!(
                holders.contains(&&CustomerId::new(customer)),
                "{id}: {holders:?}"
            );
        }
    }
}
