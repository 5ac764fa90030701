//! The handler with a real SQS event fixture, on the in-memory adapters. (The same batch runs
//! against the local AWS emulator in the workspace's end-to-end tests.)

use aws_lambda_events::event::sqs::SqsEvent;
use ingest::config::Config;
use ingest::handler::{Deps, handle};
use lambda_runtime::{Context, LambdaEvent};
use shared::adapters::{MemoryDeadLetters, MemoryStore};
use shared::domain::{
    Automation, CustomerId, CustomerState, Event, EventId, TenantId, TenantSettings,
};
use shared::ports::{
    AutomationStore, CommitOutcome, CustomerStore, StateCommit, StoreError, Versioned,
};

/// The in-memory store, except that commits for customer `c-flaky` fail as if DynamoDB were
/// throttling.
struct FlakyStore(MemoryStore);

impl CustomerStore for FlakyStore {
    async fn load_customer(
        &self,
        t: &TenantId,
        c: &CustomerId,
    ) -> Result<Option<Versioned<CustomerState>>, StoreError> {
        self.0.load_customer(t, c).await
    }
    async fn stored_events(&self, t: &TenantId, ids: &[EventId]) -> Result<Vec<Event>, StoreError> {
        self.0.stored_events(t, ids).await
    }
    async fn customer_events(
        &self,
        t: &TenantId,
        c: &CustomerId,
    ) -> Result<Vec<Event>, StoreError> {
        self.0.customer_events(t, c).await
    }
    async fn commit(&self, commit: StateCommit<'_>) -> Result<CommitOutcome, StoreError> {
        if commit.state.customer_id.as_str() == "c-flaky" {
            return Err(StoreError::Unavailable("throttled".into()));
        }
        self.0.commit(commit).await
    }
}

impl AutomationStore for FlakyStore {
    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        self.0.tenants().await
    }
    async fn tenant_settings(&self, t: &TenantId) -> Result<TenantSettings, StoreError> {
        self.0.tenant_settings(t).await
    }
    async fn tenant_automations(&self, t: &TenantId) -> Result<Vec<Automation>, StoreError> {
        self.0.tenant_automations(t).await
    }
}

fn fixture() -> SqsEvent {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sqs-mixed-batch.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn deps() -> Deps<FlakyStore, MemoryDeadLetters> {
    Deps {
        store: FlakyStore(MemoryStore::new()),
        dead_letters: MemoryDeadLetters::new(),
    }
}

async fn run(deps: &Deps<FlakyStore, MemoryDeadLetters>, event: SqsEvent) -> Vec<String> {
    let response = handle(deps, LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    let mut ids: Vec<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn when_a_batch_mixes_good_duplicate_malformed_conflicting_and_throttled_events_should_report_only_the_throttled_one()
 {
    let deps = deps();
    assert_eq!(run(&deps, fixture()).await, vec!["m-flaky"]);

    // The malformed, unparseable and conflicting events went to the dead-letter queue,
    // unchanged, each with the field it failed on.
    let letters = deps.dead_letters.letters();
    let mut fields: Vec<&str> = letters.iter().map(|(_, r)| r.0[0].field.as_str()).collect();
    fields.sort();
    assert_eq!(fields, vec!["balance.amount_minor", "body", "event_id"]);
    let original = &fixture().records[3];
    assert!(
        letters
            .iter()
            .any(|(body, _)| Some(body) == original.body.as_ref())
    );

    // The good events are applied once; the duplicate changed nothing.
    let state = deps
        .store
        .0
        .load_customer(&TenantId::new("t1"), &CustomerId::new("c1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.version, 2, "two events applied");
    assert_eq!(
        state.value.balance.as_ref().unwrap().balance.amount_minor,
        -5000
    );
    assert!(state.value.has_active_subscription());
}

#[tokio::test]
async fn when_an_event_has_no_received_at_should_stamp_when_sqs_received_it() {
    let deps = deps();
    run(&deps, fixture()).await;
    let events = deps
        .store
        .0
        .customer_events(&TenantId::new("t1"), &CustomerId::new("c1"))
        .await
        .unwrap();
    let stamped = events
        .iter()
        .find(|e| e.event_id().as_str() == "evt_81")
        .unwrap();
    assert_eq!(
        stamped.received_at.to_rfc3339(),
        "2026-11-01T10:00:02+00:00"
    );
    // An event that carries received_at keeps it.
    let kept = events
        .iter()
        .find(|e| e.event_id().as_str() == "evt_82")
        .unwrap();
    assert_eq!(kept.received_at.to_rfc3339(), "2026-09-01T00:00:05+00:00");
}

#[tokio::test]
async fn when_the_same_batch_is_delivered_again_should_change_nothing() {
    let deps = deps();
    run(&deps, fixture()).await;
    let before = deps.store.0.customers(&TenantId::new("t1"));
    assert_eq!(run(&deps, fixture()).await, vec!["m-flaky"]);
    assert_eq!(deps.store.0.customers(&TenantId::new("t1")), before);
}

#[test]
fn when_the_dead_letter_queue_is_not_configured_should_name_the_variable() {
    let err = Config::from_lookup(|_| None).unwrap_err();
    assert_eq!(err.variable, "RULEKIT_INGEST_DLQ_URL");
    let ok = Config::from_lookup(|k| (k == "RULEKIT_INGEST_DLQ_URL").then(|| "https://q".into()))
        .unwrap();
    assert_eq!(ok.names.table, "rulekit");
}
