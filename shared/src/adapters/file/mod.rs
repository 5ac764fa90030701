//! The file store: the embedded store of `rulekit serve`, kept in one local file.
//!
//! It is the memory store (`adapters::memory`, every port and index) in front of a journal
//! in a SQLite file (`journal`): a write is done on the memory store, and if it changed
//! anything its entry is appended to the file, which is on disk before the write is
//! acknowledged. Opening the file replays the entries in order into an empty memory store,
//! which gives back the store as it was, versions included. So its semantics are the memory
//! store's, which the store contract holds to the DynamoDB adapter's, and what it keeps is the
//! DynamoDB table's items (the entries use the table's item conversions).
//!
//! Writes are serialized and reads wait for the write in progress: nothing is read before it
//! is on disk, so no decision is ever taken on a write that a crash could still lose (the
//! executor never sends a firing the file does not hold). A write whose entry cannot be
//! appended (a full disk) leaves the memory store ahead of the file: the store then refuses
//! every call until it is opened again, from the file.
//!
//! `docs/semantics.md` (The file store) says why SQLite, and what it costs.

mod journal;

use crate::adapters::memory::MemoryStore;
use crate::domain::aging::AgingTable;
use crate::domain::clock::ClockKind;
use crate::domain::decision::Settled;
use crate::domain::normalize::ChangeRecord;
use crate::domain::outcome::ClockStop;
use crate::domain::{
    Automation, AutomationId, CustomerId, CustomerState, Event, EventId, TenantId, TenantSettings,
};
use crate::ports::{
    AdminStore, AuditEntry, AutomationAdmin, AutomationStore, CandidateSource, CommitOutcome,
    CustomerStore, DecisionStore, FiringRecord, FiringStatus, NormalizationStore, OutcomeStore,
    RecordOutcome, ReportRecords, RunCheckpoints, ScanPage, Segment, SegmentProgress, SkipCount,
    StateCommit, StoreError, StoredAutomation, Versioned, WriteOutcome,
};
use chrono::{DateTime, NaiveDate, Utc};
use journal::{Entry, Journal};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Clones share the data and the file.
#[derive(Clone)]
pub struct FileStore {
    memory: MemoryStore,
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    /// Held shared by reads and exclusively by writes, from the memory store's change to the
    /// entry on disk.
    gate: tokio::sync::RwLock<()>,
    journal: Mutex<Journal>,
    /// Why the store stopped answering: an entry that could not be appended.
    failed: OnceLock<String>,
    replayed: u64,
}

impl FileStore {
    /// Opens the data file at `path`, creating it if there is none, and replays it. The file
    /// stays locked to this process until the last clone is dropped.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let journal = Journal::open(path)?;
        let memory = MemoryStore::new();
        let mut replayed = 0;
        let mut after = 0;
        loop {
            let page = journal.page(after)?;
            if page.is_empty() {
                break;
            }
            for (seq, text) in page {
                // Not logged, as the file's own errors are not: opening answers it.
                let replay_error = |e: &dyn std::fmt::Display| {
                    StoreError::Failed(format!(
                        "the data file {}: write {seq} cannot be done again: {e}",
                        path.display()
                    ))
                };
                let entry: Entry = serde_json::from_str(&text).map_err(|e| replay_error(&e))?;
                if !entry.apply(&memory).await.map_err(|e| replay_error(&e))? {
                    // Each entry changed the store when it was written: one that no longer
                    // does means the file is not what this store wrote.
                    return Err(replay_error(
                        &"it changes nothing in the store replayed so far",
                    ));
                }
                after = seq;
                replayed += 1;
            }
        }
        Ok(Self {
            memory,
            shared: Arc::new(Shared {
                path: path.to_owned(),
                gate: tokio::sync::RwLock::new(()),
                journal: Mutex::new(journal),
                failed: OnceLock::new(),
                replayed,
            }),
        })
    }

    /// The memory store the file was replayed into (for reports and tests): reading it
    /// directly does not wait for a write in progress.
    pub fn memory(&self) -> &MemoryStore {
        &self.memory
    }

    /// The writes replayed from the file when it was opened.
    pub fn replayed(&self) -> u64 {
        self.shared.replayed
    }

    fn usable(&self) -> Result<(), StoreError> {
        match self.shared.failed.get() {
            Some(reason) => Err(StoreError::Failed(reason.clone())),
            None => Ok(()),
        }
    }

    async fn read<T>(
        &self,
        read: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let _gate = self.shared.gate.read().await;
        self.usable()?;
        read.await
    }

    /// Does `write` on the memory store and, when `changed` says it changed something,
    /// appends `entry` before answering.
    async fn write<T>(
        &self,
        entry: Entry,
        write: impl Future<Output = Result<T, StoreError>>,
        changed: impl FnOnce(&T) -> bool,
    ) -> Result<T, StoreError> {
        let _gate = self.shared.gate.write().await;
        self.usable()?;
        let outcome = write.await?;
        if changed(&outcome) {
            let journal = self
                .shared
                .journal
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Err(e) = journal.append(&entry) {
                let reason = format!(
                    "the data file {} could not be written ({e}); the last write is not kept: \
                     start rulekit again to read the file",
                    self.shared.path.display()
                );
                let _ = self.shared.failed.set(reason.clone());
                return Err(StoreError::failed(reason));
            }
        }
        Ok(outcome)
    }
}

fn always<T>(_: &T) -> bool {
    true
}

impl CustomerStore for FileStore {
    async fn load_customer(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Option<Versioned<CustomerState>>, StoreError> {
        self.read(self.memory.load_customer(tenant, customer)).await
    }

    async fn stored_events(
        &self,
        tenant: &TenantId,
        ids: &[EventId],
    ) -> Result<Vec<Event>, StoreError> {
        self.read(self.memory.stored_events(tenant, ids)).await
    }

    async fn customer_events(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<Event>, StoreError> {
        self.read(self.memory.customer_events(tenant, customer))
            .await
    }

    async fn commit(&self, commit: StateCommit<'_>) -> Result<CommitOutcome, StoreError> {
        let entry = Entry::commit(&commit);
        let committed = |o: &CommitOutcome| *o == CommitOutcome::Committed;
        self.write(entry, self.memory.commit(commit), committed)
            .await
    }
}

impl CandidateSource for FileStore {
    async fn clocks_started(
        &self,
        tenant: &TenantId,
        kind: ClockKind,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<Vec<CustomerState>, StoreError> {
        self.read(self.memory.clocks_started(tenant, kind, windows))
            .await
    }

    async fn quiet_released(
        &self,
        tenant: &TenantId,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<Vec<CustomerState>, StoreError> {
        self.read(self.memory.quiet_released(tenant, windows)).await
    }

    async fn clock_count(&self, tenant: &TenantId, kind: ClockKind) -> Result<u64, StoreError> {
        self.read(self.memory.clock_count(tenant, kind)).await
    }
}

impl AutomationStore for FileStore {
    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        self.read(self.memory.tenants()).await
    }

    async fn tenant_settings(&self, tenant: &TenantId) -> Result<TenantSettings, StoreError> {
        self.read(self.memory.tenant_settings(tenant)).await
    }

    async fn tenant_automations(&self, tenant: &TenantId) -> Result<Vec<Automation>, StoreError> {
        self.read(self.memory.tenant_automations(tenant)).await
    }
}

impl AutomationAdmin for FileStore {
    async fn put_settings(&self, settings: &TenantSettings) -> Result<(), StoreError> {
        let entry = Entry::put_settings(settings);
        self.write(entry, self.memory.put_settings(settings), always)
            .await
    }

    async fn put_automation(&self, automation: &Automation) -> Result<(), StoreError> {
        let entry = Entry::put_automation(automation);
        self.write(entry, self.memory.put_automation(automation), always)
            .await
    }
}

fn written(outcome: &WriteOutcome) -> bool {
    *outcome == WriteOutcome::Written
}

impl AdminStore for FileStore {
    async fn automation(
        &self,
        tenant: &TenantId,
        id: &AutomationId,
    ) -> Result<Option<StoredAutomation>, StoreError> {
        self.read(self.memory.automation(tenant, id)).await
    }

    async fn list_automations(
        &self,
        tenant: &TenantId,
        after: Option<&AutomationId>,
        limit: usize,
    ) -> Result<Vec<StoredAutomation>, StoreError> {
        self.read(self.memory.list_automations(tenant, after, limit))
            .await
    }

    async fn write_automation(
        &self,
        next: &StoredAutomation,
        expected: Option<u64>,
        audit: &AuditEntry,
    ) -> Result<WriteOutcome, StoreError> {
        let entry = Entry::automation(next, expected, audit);
        let write = self.memory.write_automation(next, expected, audit);
        self.write(entry, write, written).await
    }

    async fn settings(&self, tenant: &TenantId) -> Result<Versioned<TenantSettings>, StoreError> {
        self.read(self.memory.settings(tenant)).await
    }

    async fn write_settings(
        &self,
        next: &Versioned<TenantSettings>,
        audit: &AuditEntry,
    ) -> Result<WriteOutcome, StoreError> {
        let entry = Entry::settings(next, audit);
        self.write(entry, self.memory.write_settings(next, audit), written)
            .await
    }

    async fn audit_log(
        &self,
        tenant: &TenantId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(self.memory.audit_log(tenant, before, limit))
            .await
    }

    async fn firings_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Vec<FiringRecord>, StoreError> {
        self.read(self.memory.firings_on(tenant, date)).await
    }

    async fn resolve_firings(
        &self,
        firings: &[FiringRecord],
        from: FiringStatus,
        to: FiringStatus,
        audit: &AuditEntry,
    ) -> Result<usize, StoreError> {
        let entry = Entry::resolve(firings, from, to, audit);
        let write = self.memory.resolve_firings(firings, from, to, audit);
        self.write(entry, write, |moved| *moved > 0).await
    }
}

impl NormalizationStore for FileStore {
    async fn changes_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        self.read(self.memory.changes_on(tenant, date)).await
    }

    async fn customer_changes(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        self.read(self.memory.customer_changes(tenant, customer))
            .await
    }

    async fn scan_customers(
        &self,
        tenant: &TenantId,
        segment: Segment,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ScanPage, StoreError> {
        self.read(self.memory.scan_customers(tenant, segment, cursor, limit))
            .await
    }

    async fn write_normalized(
        &self,
        state: &CustomerState,
        expected: u64,
        record: &ChangeRecord,
    ) -> Result<WriteOutcome, StoreError> {
        let entry = Entry::normalized(state, expected, record);
        let write = self.memory.write_normalized(state, expected, record);
        self.write(entry, write, written).await
    }

    async fn renormalization(&self, tenant: &TenantId) -> Result<Vec<SegmentProgress>, StoreError> {
        self.read(self.memory.renormalization(tenant)).await
    }

    async fn save_progress(
        &self,
        tenant: &TenantId,
        progress: &SegmentProgress,
    ) -> Result<(), StoreError> {
        let entry = Entry::progress(tenant, progress);
        self.write(entry, self.memory.save_progress(tenant, progress), always)
            .await
    }
}

impl RunCheckpoints for FileStore {
    async fn last_completed(&self, tenant: &TenantId) -> Result<Option<NaiveDate>, StoreError> {
        self.read(self.memory.last_completed(tenant)).await
    }

    async fn complete(&self, tenant: &TenantId, date: NaiveDate) -> Result<(), StoreError> {
        let entry = Entry::complete(tenant, date);
        self.write(entry, self.memory.complete(tenant, date), always)
            .await
    }
}

impl DecisionStore for FileStore {
    async fn settled(
        &self,
        tenant: &TenantId,
        automation: &AutomationId,
        customer: &CustomerId,
    ) -> Result<Vec<Settled>, StoreError> {
        self.read(self.memory.settled(tenant, automation, customer))
            .await
    }

    async fn customer_firings(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<FiringRecord>, StoreError> {
        self.read(self.memory.customer_firings(tenant, customer))
            .await
    }

    async fn record(&self, record: &FiringRecord) -> Result<RecordOutcome, StoreError> {
        let entry = Entry::record(record);
        let recorded = |o: &RecordOutcome| *o == RecordOutcome::Recorded;
        self.write(entry, self.memory.record(record), recorded)
            .await
    }

    async fn awaiting_approval(&self, tenant: &TenantId) -> Result<Vec<FiringRecord>, StoreError> {
        self.read(self.memory.awaiting_approval(tenant)).await
    }

    async fn pending_firings(&self, limit: usize) -> Result<Vec<FiringRecord>, StoreError> {
        self.read(self.memory.pending_firings(limit)).await
    }

    async fn replace_firing(
        &self,
        current: &FiringRecord,
        next: &FiringRecord,
    ) -> Result<bool, StoreError> {
        let entry = Entry::replace(current, next);
        let write = self.memory.replace_firing(current, next);
        self.write(entry, write, |replaced| *replaced).await
    }
}

impl OutcomeStore for FileStore {
    async fn customer_stops(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<ClockStop>, StoreError> {
        self.read(self.memory.customer_stops(tenant, customer))
            .await
    }
}

impl ReportRecords for FileStore {
    async fn record_aging(&self, tenant: &TenantId, table: &AgingTable) -> Result<(), StoreError> {
        let entry = Entry::aging(tenant, table);
        self.write(entry, self.memory.record_aging(tenant, table), always)
            .await
    }

    async fn aging_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Option<AgingTable>, StoreError> {
        self.read(self.memory.aging_on(tenant, date)).await
    }

    async fn record_skips(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
        skips: &[SkipCount],
    ) -> Result<(), StoreError> {
        let entry = Entry::skips(tenant, date, skips);
        self.write(entry, self.memory.record_skips(tenant, date, skips), always)
            .await
    }

    async fn skips_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Vec<SkipCount>, StoreError> {
        self.read(self.memory.skips_on(tenant, date)).await
    }
}
