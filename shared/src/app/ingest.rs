//! Ingest: one validated event into the customer store, correct under duplicates, any arrival
//! order and late data (SPEC §2). The SQS Lambda, the API and the CLI all call [`ingest_event`].

use crate::domain::customer::{ApplyError, Change};
use crate::domain::{CustomerState, Event, FieldError};
use crate::ports::{CommitOutcome, CustomerStore, StateCommit, StoreError};
use thiserror::Error;

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
    /// Whether delivering the same event again may succeed (SQS: report as a batch failure).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Rejected(_) => false,
            Self::Store(e) => e.is_retryable(),
            Self::Contention => true,
        }
    }
}

/// Applies `event` to its customer's state and stores both, exactly once.
pub async fn ingest_event<S: CustomerStore>(
    store: &S,
    event: &Event,
) -> Result<IngestOutcome, IngestError> {
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
        let (after, change) = if before.can_apply_in_place(event) {
            let mut after = before.clone();
            let change = after.apply(event).map_err(rejection)?;
            (after, change)
        } else {
            // A late or repeated balance event: only the customer's log can say where the
            // episode now starts, so the state is rebuilt from it.
            let log = store
                .customer_events(&event.tenant_id, &event.customer_id)
                .await?;
            if let Some(existing) = log.iter().find(|e| e.event_id() == event.event_id()) {
                return same_or_conflict(existing, event);
            }
            let after = CustomerState::replay(
                event.tenant_id.clone(),
                event.customer_id.clone(),
                log.iter().chain([event]),
            )
            .map_err(rejection)?;
            let change = Change::between(&before, &after);
            (after, change)
        };
        let commit = StateCommit {
            event,
            state: &after,
            was_past_due: before.is_past_due(),
            expected_version,
        };
        match store.commit(commit).await? {
            CommitOutcome::Committed => return Ok(IngestOutcome::Accepted(change)),
            CommitOutcome::EventExists(existing) => return same_or_conflict(&existing, event),
            CommitOutcome::VersionConflict => continue,
        }
    }
    Err(IngestError::Contention)
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
