//! In-memory adapter: every port over maps behind one mutex. It is the embedded store of the
//! `rulekit` command and the fast store of unit tests; it keeps the same contracts as the
//! DynamoDB adapter (atomic commit of event and state, conditional record of decisions).

use crate::domain::decision::Settled;
use crate::domain::{
    Automation, AutomationId, Continuity, CustomerId, CustomerState, Event, EventId, EventKey,
    FieldErrors, TenantId, TenantSettings,
};
use crate::ports::{
    ActionPublisher, AdminStore, AuditEntry, AutomationAdmin, AutomationStore, CandidateSource,
    CommitOutcome, CustomerStore, DeadLetters, DecisionStore, FailedFirings, FiringRecord,
    FiringStatus, OutgoingMessage, PublishError, RecordOutcome, RunCheckpoints, StateCommit,
    StoreError, StoredAutomation, Versioned, WriteOutcome,
};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// The key a decision is recorded under: one per (automation, customer, episode, threshold)
/// within a tenant.
type DecisionKey = (TenantId, AutomationId, CustomerId, EventKey, u16);

#[derive(Debug, Default)]
struct Inner {
    customers: BTreeMap<TenantId, BTreeMap<CustomerId, Versioned<CustomerState>>>,
    events: HashMap<(TenantId, EventId), Event>,
    events_by_customer: HashMap<(TenantId, CustomerId), Vec<EventId>>,
    settings: BTreeMap<TenantId, Versioned<TenantSettings>>,
    automations: BTreeMap<TenantId, BTreeMap<AutomationId, StoredAutomation>>,
    audit: BTreeMap<TenantId, Vec<AuditEntry>>,
    /// Decisions with the order they were recorded in (the outbox is served oldest first).
    decisions: BTreeMap<DecisionKey, (u64, FiringRecord)>,
    next_sequence: u64,
    checkpoints: BTreeMap<TenantId, NaiveDate>,
}

/// Clones share the data (as clones of the DynamoDB store share the table).
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
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
        let mut all: Vec<&(u64, FiringRecord)> = inner.decisions.values().collect();
        all.sort_by_key(|(seq, _)| *seq);
        all.into_iter().map(|(_, r)| r.clone()).collect()
    }

    /// Every customer state of a tenant, by customer id.
    pub fn customers(&self, tenant: &TenantId) -> Vec<CustomerState> {
        self.lock()
            .customers
            .get(tenant)
            .map(|m| m.values().map(|v| v.value.clone()).collect())
            .unwrap_or_default()
    }
}

fn decision_key(record: &FiringRecord) -> DecisionKey {
    let d = &record.decision;
    (
        d.tenant_id.clone(),
        d.automation_id.clone(),
        d.customer_id.clone(),
        d.episode.clone(),
        d.threshold_days,
    )
}

impl CustomerStore for MemoryStore {
    async fn load_customer(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Option<Versioned<CustomerState>>, StoreError> {
        Ok(self
            .lock()
            .customers
            .get(tenant)
            .and_then(|m| m.get(customer))
            .cloned())
    }

    async fn stored_events(
        &self,
        tenant: &TenantId,
        ids: &[EventId],
    ) -> Result<Vec<Event>, StoreError> {
        let inner = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| inner.events.get(&(tenant.clone(), id.clone())).cloned())
            .collect())
    }

    async fn customer_events(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<Event>, StoreError> {
        let inner = self.lock();
        let ids = inner
            .events_by_customer
            .get(&(tenant.clone(), customer.clone()));
        Ok(ids
            .into_iter()
            .flatten()
            .filter_map(|id| inner.events.get(&(tenant.clone(), id.clone())).cloned())
            .collect())
    }

    async fn commit(&self, commit: StateCommit<'_>) -> Result<CommitOutcome, StoreError> {
        let mut inner = self.lock();
        let tenant = &commit.state.tenant_id;
        let customer = &commit.state.customer_id;
        let event_key = (tenant.clone(), commit.event.event_id().clone());
        if let Some(existing) = inner.events.get(&event_key) {
            return Ok(CommitOutcome::EventExists(Box::new(existing.clone())));
        }
        let current = inner
            .customers
            .get(tenant)
            .and_then(|m| m.get(customer))
            .map(|v| v.version);
        if current != commit.expected_version {
            return Ok(CommitOutcome::VersionConflict);
        }
        inner.events.insert(event_key, commit.event.clone());
        inner
            .events_by_customer
            .entry((tenant.clone(), customer.clone()))
            .or_default()
            .push(commit.event.event_id().clone());
        inner.customers.entry(tenant.clone()).or_default().insert(
            customer.clone(),
            Versioned {
                value: commit.state.clone(),
                version: current.map_or(1, |v| v + 1),
            },
        );
        Ok(CommitOutcome::Committed)
    }
}

impl CandidateSource for MemoryStore {
    async fn episodes_started(
        &self,
        tenant: &TenantId,
        continuity: Continuity,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<Vec<CustomerState>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .customers
            .get(tenant)
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|v| {
                v.value.episode(continuity).is_some_and(|e| {
                    windows
                        .iter()
                        .any(|(from, to)| (*from..*to).contains(&e.start.occurred_at))
                })
            })
            .map(|v| v.value.clone())
            .collect())
    }

    async fn past_due_count(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let inner = self.lock();
        Ok(inner.customers.get(tenant).map_or(0, |m| {
            m.values().filter(|v| v.value.is_past_due()).count() as u64
        }))
    }
}

impl AutomationStore for MemoryStore {
    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        Ok(self.lock().automations.keys().cloned().collect())
    }

    async fn tenant_settings(&self, tenant: &TenantId) -> Result<TenantSettings, StoreError> {
        Ok(AdminStore::settings(self, tenant).await?.value)
    }

    async fn tenant_automations(&self, tenant: &TenantId) -> Result<Vec<Automation>, StoreError> {
        Ok(self
            .lock()
            .automations
            .get(tenant)
            .map(|m| {
                m.values()
                    .filter(|a| !a.archived)
                    .map(|a| a.automation.clone())
                    .collect()
            })
            .unwrap_or_default())
    }
}

impl AutomationAdmin for MemoryStore {
    async fn put_settings(&self, settings: &TenantSettings) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let version = inner
            .settings
            .get(&settings.tenant_id)
            .map_or(0, |v| v.version)
            + 1;
        inner.settings.insert(
            settings.tenant_id.clone(),
            Versioned {
                value: settings.clone(),
                version,
            },
        );
        Ok(())
    }

    async fn put_automation(&self, automation: &Automation) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let stored = inner
            .automations
            .entry(automation.tenant_id.clone())
            .or_default();
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
            .automations
            .get(tenant)
            .and_then(|m| m.get(id))
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
            .automations
            .get(tenant)
            .map(|m| {
                m.values()
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
        let tenant = &next.automation.tenant_id;
        let current = inner
            .automations
            .get(tenant)
            .and_then(|m| m.get(&next.automation.id))
            .map(|a| a.version);
        if current != expected {
            return Ok(WriteOutcome::Conflict);
        }
        inner
            .automations
            .entry(tenant.clone())
            .or_default()
            .insert(next.automation.id.clone(), next.clone());
        inner
            .audit
            .entry(tenant.clone())
            .or_default()
            .push(audit.clone());
        Ok(WriteOutcome::Written)
    }

    async fn settings(&self, tenant: &TenantId) -> Result<Versioned<TenantSettings>, StoreError> {
        Ok(self
            .lock()
            .settings
            .get(tenant)
            .cloned()
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
        let tenant = &next.value.tenant_id;
        let current = inner.settings.get(tenant).map_or(0, |v| v.version);
        if current + 1 != next.version {
            return Ok(WriteOutcome::Conflict);
        }
        inner.settings.insert(tenant.clone(), next.clone());
        inner
            .audit
            .entry(tenant.clone())
            .or_default()
            .push(audit.clone());
        Ok(WriteOutcome::Written)
    }

    async fn audit_log(
        &self,
        tenant: &TenantId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let inner = self.lock();
        let mut entries: Vec<AuditEntry> = inner.audit.get(tenant).cloned().unwrap_or_default();
        entries.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(entries
            .into_iter()
            .filter(|e| before.is_none_or(|b| e.id.as_str() < b))
            .take(limit)
            .collect())
    }

    async fn firings_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Vec<FiringRecord>, StoreError> {
        Ok(self
            .lock()
            .decisions
            .iter()
            .filter(|((t, ..), (_, r))| t == tenant && r.decision.date == date)
            .map(|(_, (_, r))| r.clone())
            .collect())
    }

    async fn resolve_held(
        &self,
        held: &[FiringRecord],
        to: FiringStatus,
        audit: &AuditEntry,
    ) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let mut moved = 0;
        for record in held {
            let stored = inner.decisions.get_mut(&decision_key(record));
            if let Some((_, stored)) = stored.filter(|(_, r)| r.status == FiringStatus::Held) {
                stored.status = to;
                moved += 1;
            }
        }
        if moved > 0 {
            inner
                .audit
                .entry(audit.tenant_id.clone())
                .or_default()
                .push(audit.clone());
        }
        Ok(moved)
    }
}

impl RunCheckpoints for MemoryStore {
    async fn last_completed(&self, tenant: &TenantId) -> Result<Option<NaiveDate>, StoreError> {
        Ok(self.lock().checkpoints.get(tenant).copied())
    }

    async fn complete(&self, tenant: &TenantId, date: NaiveDate) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let entry = inner.checkpoints.entry(tenant.clone()).or_insert(date);
        *entry = (*entry).max(date);
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
        let inner = self.lock();
        Ok(inner
            .decisions
            .iter()
            .filter(|((t, a, c, _, _), _)| t == tenant && a == automation && c == customer)
            .map(|(_, (_, r))| r.decision.settled())
            .collect())
    }

    async fn customer_firings(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<FiringRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .decisions
            .iter()
            .filter(|((t, _, c, _, _), _)| t == tenant && c == customer)
            .map(|(_, (_, r))| r.clone())
            .collect())
    }

    async fn record(&self, record: &FiringRecord) -> Result<RecordOutcome, StoreError> {
        let mut inner = self.lock();
        let key = decision_key(record);
        if inner.decisions.contains_key(&key) {
            return Ok(RecordOutcome::AlreadyRecorded);
        }
        let seq = inner.next_sequence;
        inner.next_sequence += 1;
        inner.decisions.insert(key, (seq, record.clone()));
        Ok(RecordOutcome::Recorded)
    }

    async fn pending_firings(&self, limit: usize) -> Result<Vec<FiringRecord>, StoreError> {
        let inner = self.lock();
        let mut pending: Vec<&(u64, FiringRecord)> = inner
            .decisions
            .values()
            .filter(|(_, r)| matches!(r.status, FiringStatus::Pending | FiringStatus::Sending))
            .collect();
        pending.sort_by_key(|(seq, _)| *seq);
        Ok(pending
            .into_iter()
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
        match inner.decisions.get_mut(&decision_key(current)) {
            Some((_, stored))
                if stored.status == current.status && stored.attempts == current.attempts =>
            {
                *stored = next.clone();
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(StoreError::Failed(
                "update of a firing that was never recorded".to_owned(),
            )),
        }
    }
}

/// Publishes by keeping the messages, in order, with generated message ids.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    published: Mutex<Vec<(String, OutgoingMessage)>>,
}

impl MemoryPublisher {
    pub fn new() -> Self {
        Self::default()
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
                let id = format!("mem-{}", published.len() + 1);
                published.push((id.clone(), m.clone()));
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
