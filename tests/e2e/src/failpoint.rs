//! A store wrapper that makes the executor stop between publishing and recording, as if its
//! process were killed there.

use shared::domain::{
    Automation, AutomationId, CustomerId, CustomerState, Event, EventId, Settled, TenantId,
    TenantSettings,
};
use shared::ports::{
    AutomationStore, CommitOutcome, CustomerStore, DecisionStore, FiringRecord, FiringStatus,
    RecordOutcome, StateCommit, StoreError, Versioned,
};
use std::sync::atomic::{AtomicBool, Ordering};

/// `S`, except that while armed, recording the outcome of a claimed firing fails: the
/// executor has published and stops before it can say so.
pub struct StopsAfterPublishing<S> {
    pub inner: S,
    armed: AtomicBool,
}

impl<S> StopsAfterPublishing<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            armed: AtomicBool::new(false),
        }
    }

    pub fn arm(&self, armed: bool) {
        self.armed.store(armed, Ordering::SeqCst);
    }
}

impl<S: CustomerStore> CustomerStore for StopsAfterPublishing<S> {
    async fn load_customer(
        &self,
        t: &TenantId,
        c: &CustomerId,
    ) -> Result<Option<Versioned<CustomerState>>, StoreError> {
        self.inner.load_customer(t, c).await
    }
    async fn stored_events(&self, t: &TenantId, ids: &[EventId]) -> Result<Vec<Event>, StoreError> {
        self.inner.stored_events(t, ids).await
    }
    async fn customer_events(
        &self,
        t: &TenantId,
        c: &CustomerId,
    ) -> Result<Vec<Event>, StoreError> {
        self.inner.customer_events(t, c).await
    }
    async fn commit(&self, commit: StateCommit<'_>) -> Result<CommitOutcome, StoreError> {
        self.inner.commit(commit).await
    }
}

impl<S: AutomationStore> AutomationStore for StopsAfterPublishing<S> {
    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        self.inner.tenants().await
    }
    async fn tenant_settings(&self, t: &TenantId) -> Result<TenantSettings, StoreError> {
        self.inner.tenant_settings(t).await
    }
    async fn tenant_automations(&self, t: &TenantId) -> Result<Vec<Automation>, StoreError> {
        self.inner.tenant_automations(t).await
    }
}

impl<S: DecisionStore> DecisionStore for StopsAfterPublishing<S> {
    async fn settled(
        &self,
        t: &TenantId,
        a: &AutomationId,
        c: &CustomerId,
    ) -> Result<Vec<Settled>, StoreError> {
        self.inner.settled(t, a, c).await
    }
    async fn customer_firings(
        &self,
        t: &TenantId,
        c: &CustomerId,
    ) -> Result<Vec<FiringRecord>, StoreError> {
        self.inner.customer_firings(t, c).await
    }
    async fn record(&self, r: &FiringRecord) -> Result<RecordOutcome, StoreError> {
        self.inner.record(r).await
    }
    async fn awaiting_approval(&self, t: &TenantId) -> Result<Vec<FiringRecord>, StoreError> {
        self.inner.awaiting_approval(t).await
    }
    async fn pending_firings(&self, limit: usize) -> Result<Vec<FiringRecord>, StoreError> {
        self.inner.pending_firings(limit).await
    }
    async fn replace_firing(
        &self,
        current: &FiringRecord,
        next: &FiringRecord,
    ) -> Result<bool, StoreError> {
        if current.status == FiringStatus::Sending && self.armed.load(Ordering::SeqCst) {
            return Err(StoreError::Failed("the executor stopped".into()));
        }
        self.inner.replace_firing(current, next).await
    }
}

/// `times` times over: an executor stops after publishing one firing (its pass fails), and
/// the next, once the claim's lease has passed, recovers that firing and finishes it.
pub async fn stop_and_recover<S, P>(store: &StopsAfterPublishing<S>, publisher: &P, times: usize)
where
    S: CustomerStore + DecisionStore + AutomationStore,
    P: shared::ports::ActionPublisher,
{
    stop_and_recover_at(store, publisher, times, chrono::Utc::now()).await;
}

/// [`stop_and_recover`], the first executor starting at `now` (a simulated instant).
pub async fn stop_and_recover_at<S, P>(
    store: &StopsAfterPublishing<S>,
    publisher: &P,
    times: usize,
    mut now: chrono::DateTime<chrono::Utc>,
) where
    S: CustomerStore + DecisionStore + AutomationStore,
    P: shared::ports::ActionPublisher,
{
    use shared::app::execute::{LEASE, execute_pending};
    use shared::ports::StoreOnly;
    for _ in 0..times {
        store.arm(true);
        assert!(
            execute_pending(store, publisher, &StoreOnly, now, 1)
                .await
                .is_err()
        );
        now += LEASE + chrono::Duration::seconds(1);
        store.arm(false);
        let recovered = execute_pending(store, publisher, &StoreOnly, now, 1)
            .await
            .unwrap();
        assert_eq!(recovered.recovered, 1);
    }
}
