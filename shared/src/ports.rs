//! Ports: what the application needs from storage and messaging, as small traits.
//!
//! Each trait groups what one part of the system asks of a store (customers, candidates,
//! automations, decisions, ...), so a handler's signature says which parts it uses. The shapes
//! fit DynamoDB and SNS: a customer's event and its new state are committed together by one
//! conditional write; decisions are recorded with a write conditional on their key; messages
//! are published in batches. The in-memory adapter implements them all for tests and the CLI.

use crate::domain::clock::ClockKind;
use crate::domain::decision::{Decision, Settled};
use crate::domain::normalize::ChangeRecord;
use crate::domain::outcome::ClockStop;
use crate::domain::{
    Automation, AutomationId, CustomerId, CustomerState, Event, EventId, FieldErrors, TenantId,
    TenantSettings,
};
use chrono::{DateTime, NaiveDate, Utc};
use std::future::Future;
use thiserror::Error;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Error)]
pub enum StoreError {
    /// No answer at all (a timeout, a connection that failed): the store as a whole, not one
    /// item, and the next request will most likely wait as long.
    #[error("store unreachable")]
    Unreachable(#[source] BoxError),
    /// Throttling, a transaction conflict, a 5xx: the same request may succeed later.
    #[error("store temporarily unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else: a bad request, missing permissions, an item that does not decode.
    #[error("store request failed: {0}")]
    Failed(String),
}

impl StoreError {
    /// A failure retrying will not mend (a refused request, an item that does not decode),
    /// logged here, where it is found, so every entry point's log has it once: a reason or an
    /// error code, never an item's content.
    pub fn failed(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        tracing::error!(error = %reason, "store request failed");
        Self::Failed(reason)
    }

    /// A failure that may pass (throttling, a timeout, a 5xx), logged as [`StoreError::failed`]
    /// is: `description` says which call and why, without the request.
    pub fn unavailable(description: &str, source: impl Into<BoxError>) -> Self {
        tracing::warn!(error = %description, "store unavailable");
        Self::Unavailable(source.into())
    }

    /// A store that gave no answer (timeouts, connections), logged as the others are.
    pub fn unreachable(description: &str, source: impl Into<BoxError>) -> Self {
        tracing::warn!(error = %description, "store unreachable");
        Self::Unreachable(source.into())
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Unreachable(_))
    }

    /// Whether the whole store, not one item of it, failed to answer: work not yet started
    /// would wait out the same timeout.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable(_))
    }
}

/// A stored value with the version its conditional writes are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// One event and the customer state after it, written together or not at all. The commit
/// owns the state: a store may keep it as it is.
#[derive(Debug, Clone)]
pub struct StateCommit<'a> {
    pub event: &'a Event,
    pub state: CustomerState,
    /// Whether the customer was past due before this event (stores keep a per-tenant count).
    pub was_past_due: bool,
    /// The customer's payment-clock and cancellation-request starts before this event, and
    /// whether it counted in their guardrail counts: stores move the entries that changed.
    pub started_before: crate::domain::clock::StartIndex,
    /// The version the state was read at; `None` when the customer had no state.
    pub expected_version: Option<u64>,
    /// What normalizing the event's profile changed (SPEC §8.7): the change-log entry,
    /// written with the state.
    pub normalization: Option<ChangeRecord>,
    /// The clocks this event stopped (SPEC §8.9): each written with the state, where a
    /// report finds its decisions' outcomes.
    pub stops: Vec<ClockStop>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed,
    /// The state changed since it was read: read again and retry.
    VersionConflict,
    /// An event with this id is already stored (for this or another customer of the tenant).
    EventExists(Box<Event>),
}

/// Customer states and the event log they are folded from.
pub trait CustomerStore: Send + Sync {
    fn load_customer(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> impl Future<Output = Result<Option<Versioned<CustomerState>>, StoreError>> + Send;

    /// The stored events among `ids` (ids of `tenant`'s events, any customer), in any order:
    /// how a batch finds its redeliveries with one read instead of one per event.
    fn stored_events(
        &self,
        tenant: &TenantId,
        ids: &[EventId],
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    /// Every stored event of the customer, in any order: read only to replay after a late
    /// balance event.
    fn customer_events(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    /// Stores the event and the new state atomically, if the event id is new and the state is
    /// still at `expected_version`.
    fn commit(
        &self,
        commit: StateCommit<'_>,
    ) -> impl Future<Output = Result<CommitOutcome, StoreError>> + Send;
}

/// The daily run's reads: candidates by episode start, without touching anyone else.
pub trait CandidateSource: Send + Sync {
    /// Customers of `tenant` with a running clock of `kind` (the episode under a continuity
    /// policy, an invoice's payment clock) that started in one of the windows (`[from, to)`
    /// instants), each customer once.
    fn clocks_started(
        &self,
        tenant: &TenantId,
        kind: ClockKind,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> impl Future<Output = Result<Vec<CustomerState>, StoreError>> + Send;

    /// Customers whose latest quiet period (a promise to pay, a dispute) ends within one of
    /// `windows` (`[from, to)` instants): the runs after a release read them, whatever
    /// their episode's start.
    fn quiet_released(
        &self,
        tenant: &TenantId,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> impl Future<Output = Result<Vec<CustomerState>, StoreError>> + Send;

    /// How many of the tenant's customers have a running clock of `kind` now (the guardrail's
    /// denominator): past due (under either continuity: a customer is past due under both at
    /// once), or with a failed payment outstanding.
    fn clock_count(
        &self,
        tenant: &TenantId,
        kind: ClockKind,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Tenant settings and automations.
pub trait AutomationStore: Send + Sync {
    /// The tenants that have stored settings or an automation (archived ones included): the
    /// tenants the daily run visits. A tenant with only events is not among them.
    fn tenants(&self) -> impl Future<Output = Result<Vec<TenantId>, StoreError>> + Send;

    /// The tenant's settings, or the defaults when it has set none.
    fn tenant_settings(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<TenantSettings, StoreError>> + Send;

    /// The tenant's automations that are not archived, and its archived cancellation
    /// automations with `archived` set: those still proceed with the holds they began (SPEC
    /// §8.6).
    fn tenant_automations(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<Automation>, StoreError>> + Send;
}

/// Writes of tenant settings and automations. (The API adds versions and the audit log.)
pub trait AutomationAdmin: Send + Sync {
    fn put_settings(
        &self,
        settings: &TenantSettings,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn put_automation(
        &self,
        automation: &Automation,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// An automation as the API keeps it: with its version (the `ETag`) and whether it was
/// archived (an archived automation no longer runs and is kept for the audit trail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAutomation {
    pub automation: Automation,
    pub version: u64,
    pub archived: bool,
}

/// One change to a tenant's configuration or held firings: who, when, what, before and after.
/// It is written in the same transaction as the change it records.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub tenant_id: TenantId,
    /// Unique, and sorting in time order after `at`.
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// `automation.created`, `automation.replaced`, `automation.archived`,
    /// `settings.replaced`, `firings.released`, `firings.discarded`, `firing.approved`,
    /// `firing.rejected`.
    pub action: String,
    /// What changed, e.g. `automations/a1`, `settings`, `firings/a1/2026-11-15`,
    /// `firings/<firing_id>`.
    pub resource: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Whether a conditional write happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// The stored version is not the one the write expected (or the item exists already).
    Conflict,
}

/// What the API reads and changes: versioned automations and settings, each change with its
/// audit entry in one transaction, the audit log, and the firings of a date.
pub trait AdminStore: Send + Sync {
    /// One automation, archived or not.
    fn automation(
        &self,
        tenant: &TenantId,
        id: &AutomationId,
    ) -> impl Future<Output = Result<Option<StoredAutomation>, StoreError>> + Send;

    /// The tenant's automations that are not archived, by id, after `after`, at most `limit`.
    fn list_automations(
        &self,
        tenant: &TenantId,
        after: Option<&AutomationId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredAutomation>, StoreError>> + Send;

    /// Writes `next` if the stored version is `expected` (`None`: none may exist), with
    /// `audit`, atomically.
    fn write_automation(
        &self,
        next: &StoredAutomation,
        expected: Option<u64>,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<WriteOutcome, StoreError>> + Send;

    /// The tenant's settings and their version (0 while the defaults apply).
    fn settings(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Versioned<TenantSettings>, StoreError>> + Send;

    /// Writes `next` (version `next.version`) if the stored version is `next.version - 1`,
    /// with `audit`, atomically.
    fn write_settings(
        &self,
        next: &Versioned<TenantSettings>,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<WriteOutcome, StoreError>> + Send;

    /// The audit log, newest first, strictly older than the entry `before` (an entry id).
    fn audit_log(
        &self,
        tenant: &TenantId,
        before: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;

    /// Every decision recorded for the tenant-local `date`, by automation and customer.
    fn firings_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> impl Future<Output = Result<Vec<FiringRecord>, StoreError>> + Send;

    /// Moves each of `firings` that is still `from` to `to` (held: `pending` to release,
    /// `discarded`; awaiting approval: `pending` to approve, `rejected`), with `audit`,
    /// atomically per transaction of at most [`RESOLVE_CHUNK`] firings (when there are
    /// several, each writes its own copy of `audit`, its id suffixed with the chunk's number).
    /// Firings no longer `from` are left alone. Returns how many moved.
    fn resolve_firings(
        &self,
        firings: &[FiringRecord],
        from: FiringStatus,
        to: FiringStatus,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// Firings moved per transaction when held firings are released or discarded (DynamoDB takes
/// 100 writes per transaction: these and the audit entry).
pub const RESOLVE_CHUNK: usize = 99;

/// One of the parts a re-normalization reads the stored customers in, each on its own and
/// resumed from its own checkpoint (a DynamoDB parallel Scan's segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Segment {
    pub index: u16,
    pub total: u16,
}

/// One page of a segment's customers.
#[derive(Debug, Clone)]
pub struct ScanPage {
    pub customers: Vec<Versioned<CustomerState>>,
    /// Where the next page starts; `None` after the segment's last page.
    pub next: Option<String>,
    /// Items the store read for the page (DynamoDB: every item of the table it scanned,
    /// the customers' or not), for the cost report.
    pub items_read: u64,
}

/// How far the re-normalization to a rules version got in one segment: its checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentProgress {
    pub segment: Segment,
    /// The rules version this progress is for; a checkpoint of an older one starts over.
    pub version: u64,
    /// Where the segment resumes; `None` before its first page and after its last.
    pub cursor: Option<String>,
    pub done: bool,
    /// Customers read, and those whose normalized profile changed (each written once).
    pub customers: u64,
    pub changed: u64,
    pub items_read: u64,
    pub updated_at: DateTime<Utc>,
}

/// The metadata change log and what the re-normalization reads and writes (SPEC §8.7).
pub trait NormalizationStore: Send + Sync {
    /// The change-log entries listed under the tenant-local `date`, by instant, then customer.
    fn changes_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> impl Future<Output = Result<Vec<ChangeRecord>, StoreError>> + Send;

    /// One customer's change-log entries, oldest first.
    fn customer_changes(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> impl Future<Output = Result<Vec<ChangeRecord>, StoreError>> + Send;

    /// One page of the tenant's stored customers in `segment`, from `cursor` (`None`: the
    /// segment's start); `limit` bounds the items read for the page. Every customer is in
    /// exactly one segment of a given total.
    fn scan_customers(
        &self,
        tenant: &TenantId,
        segment: Segment,
        cursor: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<ScanPage, StoreError>> + Send;

    /// Stores `state` (its normalized profile changed) as version `expected + 1` if the
    /// customer is still at `expected`, with `record`, atomically.
    fn write_normalized(
        &self,
        state: &CustomerState,
        expected: u64,
        record: &ChangeRecord,
    ) -> impl Future<Output = Result<WriteOutcome, StoreError>> + Send;

    /// The re-normalization's checkpoints, one per segment it has started.
    fn renormalization(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<SegmentProgress>, StoreError>> + Send;

    fn save_progress(
        &self,
        tenant: &TenantId,
        progress: &SegmentProgress,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The last local date each tenant's daily run completed, so missed dates are caught up.
pub trait RunCheckpoints: Send + Sync {
    fn last_completed(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<chrono::NaiveDate>, StoreError>> + Send;

    /// Records `date` as completed, unless a later date already is (checkpoints never move
    /// back, whatever the order concurrent runs finish in).
    fn complete(
        &self,
        tenant: &TenantId,
        date: chrono::NaiveDate,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    Recorded,
    /// A decision with the same key (tenant, automation, customer, episode, threshold) exists:
    /// another run, a retry or a concurrent invocation got there first.
    AlreadyRecorded,
}

/// Where a firing is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FiringStatus {
    /// Live and waiting for the executor.
    Pending,
    /// Claimed by an executor that is publishing its actions (`in_flight`). A claim older than
    /// the executor's lease means that executor stopped mid-way: the next one recovers it.
    Sending,
    /// Held by the guardrail until an operator releases or discards it.
    Held,
    Sent,
    /// Not carried out because it no longer applied (e.g. the customer paid meanwhile).
    Cancelled,
    Failed,
    /// Held by the guardrail, then discarded by an operator: never carried out.
    Discarded,
    /// A `dry_run` automation's firing: recorded, never carried out.
    DryRun,
    /// A final skip (superseded, missed window, not retroactive): recorded so it is decided once.
    Settled,
    /// Waiting for an admin's approval (SPEC §8.2); approved, it becomes `pending`.
    AwaitingApproval,
    /// Its approval was refused: never carried out.
    Rejected,
    /// Its approval was not given in time: never carried out.
    Expired,
}

impl FiringStatus {
    pub const ALL: [FiringStatus; 12] = [
        Self::Pending,
        Self::Sending,
        Self::Held,
        Self::Sent,
        Self::Cancelled,
        Self::Failed,
        Self::Discarded,
        Self::DryRun,
        Self::Settled,
        Self::AwaitingApproval,
        Self::Rejected,
        Self::Expired,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Held => "held",
            Self::Sent => "sent",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Discarded => "discarded",
            Self::DryRun => "dry_run",
            Self::Settled => "settled",
            Self::AwaitingApproval => "awaiting_approval",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }
}

/// A recorded final decision and, for firings, how carrying it out went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiringRecord {
    pub decision: Decision,
    pub status: FiringStatus,
    /// Publishing attempts that did not deliver every action.
    pub attempts: u32,
    /// The actions carried out so far, so a retry never repeats one. An action listed twice
    /// was published twice: an executor stopped after publishing and before recording it.
    pub deliveries: Vec<Delivery>,
    /// When the current claim was taken (status `sending`).
    pub claimed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// After a failed attempt (status `pending`): not tried again before this instant.
    pub retry_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Actions the current claim is publishing.
    pub in_flight: Vec<usize>,
    /// Actions whose publication is unknown because their executor stopped mid-way. Customer
    /// messages and commands among them are never sent again; finance notifications are, so
    /// one listed here and in `deliveries` may have been received twice.
    pub unconfirmed: Vec<usize>,
    /// Actions the executor's re-checks cancelled (SPEC §8.5), with why: never sent.
    pub cancelled: Vec<CancelledAction>,
}

/// An action of a firing not carried out because it no longer applied when it was to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelledAction {
    /// Index of the action in the firing's plan.
    pub action: usize,
    /// `clock_stopped`, `hard_decline`, `action_required`, `retry_cap`, `offer_already_made`,
    /// `hold_ended` or `no_hold` (`app::recheck`).
    pub reason: String,
}

impl FiringRecord {
    /// The record as operators read it (dead letters, the API): the decision's fields as
    /// `rulekit simulate` prints them, then how carrying it out went.
    pub fn to_json(&self) -> serde_json::Value {
        use crate::domain::event::format_instant;
        let mut json = serde_json::to_value(self.decision.row()).unwrap_or_default();
        let extra = serde_json::json!({
            "episode": {
                "occurred_at": format_instant(self.decision.episode.occurred_at),
                "event_id": self.decision.episode.event_id,
            },
            "status": self.status.as_str(),
            "attempts": self.attempts,
            "deliveries": self.deliveries.iter()
                .map(|d| serde_json::json!({"action": d.action, "message_id": d.message_id}))
                .collect::<Vec<_>>(),
            "unconfirmed": self.unconfirmed,
            "cancelled": self.cancelled.iter()
                .map(|c| serde_json::json!({"action": c.action, "reason": c.reason}))
                .collect::<Vec<_>>(),
            "retry_at": self.retry_at.map(format_instant),
            "firing_id": self.decision.key().firing_id(),
        });
        if let (Some(json), serde_json::Value::Object(extra)) = (json.as_object_mut(), extra) {
            json.extend(extra);
            if let Some(last) = self.decision.approval_expires_on() {
                json.insert("approval_expires_on".into(), last.to_string().into());
            }
        }
        json
    }
}

/// One action of a firing carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Index of the action in the firing's plan (`Plan::actions`).
    pub action: usize,
    /// The publisher's message id.
    pub message_id: String,
}

/// Final decisions, recorded exactly once per key: the firing ledger and the executor's outbox.
pub trait DecisionStore: Send + Sync {
    /// What is already settled for this automation and customer (any episode).
    fn settled(
        &self,
        tenant: &TenantId,
        automation: &crate::domain::AutomationId,
        customer: &CustomerId,
    ) -> impl Future<Output = Result<Vec<Settled>, StoreError>> + Send;

    /// Every recorded decision for a customer (all automations), with how carrying it out went.
    fn customer_firings(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> impl Future<Output = Result<Vec<FiringRecord>, StoreError>> + Send;

    /// Records a final decision unless one with its key exists.
    fn record(
        &self,
        record: &FiringRecord,
    ) -> impl Future<Output = Result<RecordOutcome, StoreError>> + Send;

    /// The tenant's firings awaiting an admin's approval, oldest run date first: read from
    /// an index that holds only them, so the read grows with the approvals waiting.
    fn awaiting_approval(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<FiringRecord>, StoreError>> + Send;

    /// Firings waiting for the executor (`pending`, and `sending` ones whose claim may have
    /// been abandoned), oldest first, at most `limit`.
    fn pending_firings(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<FiringRecord>, StoreError>> + Send;

    /// Replaces the stored firing `current` with `next` if it is unchanged (same status and
    /// attempts): how an executor claims a firing and records the outcome, so that two
    /// executors never both carry out one claim. Returns whether it was replaced.
    fn replace_firing(
        &self,
        current: &FiringRecord,
        next: &FiringRecord,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The clocks that stopped, by customer (SPEC §8.9): what a report reads its decisions'
/// outcomes from. A stop is kept under its clock (kind, id and start), so writing it again
/// changes nothing.
pub trait OutcomeStore: Send + Sync {
    /// Every stop recorded for the customer, any clock.
    fn customer_stops(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> impl Future<Output = Result<Vec<ClockStop>, StoreError>> + Send;
}

/// What the runs record for the reports, which the states and decisions kept cannot give
/// back later (SPEC §8.9):
/// - aging tables as they stood: the table of a past date cannot be drawn up again from
///   states that have moved on, so the weekly job records the tenant's table on its date;
/// - the `condition_not_met` skips of each daily run, counted: such a skip is not final, so
///   no decision of it is stored.
///
/// Recording a date again replaces what it held, so a run retried counts once.
pub trait ReportRecords: Send + Sync {
    fn record_aging(
        &self,
        tenant: &TenantId,
        table: &crate::domain::aging::AgingTable,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn aging_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> impl Future<Output = Result<Option<crate::domain::aging::AgingTable>, StoreError>> + Send;

    fn record_skips(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
        skips: &[SkipCount],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The counts recorded for `date` (empty when none were).
    fn skips_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> impl Future<Output = Result<Vec<SkipCount>, StoreError>> + Send;
}

/// How many customers one run skipped because a condition of a step did not hold.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SkipCount {
    pub automation_id: String,
    pub step: String,
    /// The condition, as the decision's detail names it (`conditions[0] (…) is false`).
    pub condition: String,
    pub customers: u64,
}

/// Where events that can never be applied go, unchanged, with the reasons: nothing is lost,
/// and an operator can fix and replay them.
pub trait DeadLetters: Send + Sync {
    fn send(
        &self,
        body: &str,
        reasons: &FieldErrors,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where firings go that kept failing to publish, so an operator sees them in one place (and
/// an alarm fires on the queue) and can act on them; the store keeps them marked `failed`.
pub trait FailedFirings: Send + Sync {
    fn send(
        &self,
        record: &FiringRecord,
        last_error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// No failed-firings queue (runs by hand, simulations): a firing that keeps failing is only
/// marked `failed` in the store, where it stays listed.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreOnly;

impl FailedFirings for StoreOnly {
    async fn send(&self, _: &FiringRecord, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Where a message goes; each is its own SNS topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
    Finance,
    CustomerMessages,
    /// Commands to the tenant's billing system (`retry_payment`, ...).
    Commands,
    Alerts,
}

impl Destination {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Finance => "finance",
            Self::CustomerMessages => "customer-messages",
            Self::Commands => "commands",
            Self::Alerts => "alerts",
        }
    }
}

/// One message to publish. Attributes are for subscription filter policies and never carry
/// customer data; the body may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub destination: Destination,
    /// Unique per message within a batch (SNS PublishBatch entry id).
    pub id: String,
    pub subject: String,
    pub body: serde_json::Value,
    /// Plain-language text for human subscribers (email).
    pub summary: String,
    pub attributes: Vec<(String, String)>,
}

#[derive(Debug, Error)]
pub enum PublishError {
    #[error("publisher temporarily unavailable")]
    Unavailable(#[source] BoxError),
    #[error("publish failed: {0}")]
    Failed(String),
}

/// Publishes messages in batches (SNS PublishBatch takes up to 10 per call).
pub trait ActionPublisher: Send + Sync {
    /// The largest batch one call accepts.
    const MAX_BATCH: usize = 10;

    /// Publishes `batch` (at most `MAX_BATCH` messages to one destination) and returns, per
    /// message in order, the publisher's message id or why it failed.
    fn publish_batch(
        &self,
        batch: &[OutgoingMessage],
    ) -> impl Future<Output = Result<Vec<Result<String, String>>, PublishError>> + Send;
}
