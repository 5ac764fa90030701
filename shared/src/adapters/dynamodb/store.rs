//! `DynamoStore`: the ports over one DynamoDB table (layout in `docs/data-model.md`).

use super::items::{
    CustomerItem, DocumentItem, EventItem, FiringItem, StartedItem, TenantItem, policy_code,
};
use super::keys;
use crate::adapters::aws::{ResourceNames, store_error};
use crate::domain::automation::{Automation, TenantSettings};
use crate::domain::clock::{ClockKind, StartIndex};
use crate::domain::decision::Settled;
use crate::domain::{
    AutomationId, Continuity, CustomerId, CustomerState, Event, EventId, TenantId,
};
use crate::ports::{
    AdminStore, AutomationAdmin, AutomationStore, CandidateSource, CommitOutcome, CustomerStore,
    DecisionStore, FiringRecord, RecordOutcome, RunCheckpoints, StateCommit, StoreError, Versioned,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::builders::PutBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures_util::{StreamExt, stream};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};

/// Instants `[from, to)`.
type Window = (DateTime<Utc>, DateTime<Utc>);

/// A month bucket of a date-keyed index and the window of instants read in it.
type MonthRange = (String, DateTime<Utc>, DateTime<Utc>);

/// One range per window and month bucket it touches, in time order: exact, so no item
/// outside a window is read (queries are cheap; items read are what costs).
fn month_ranges(windows: &[Window]) -> Vec<MonthRange> {
    let mut ranges: Vec<MonthRange> = Vec::new();
    for &(from, to) in windows.iter().filter(|(f, t)| f < t) {
        let last = keys::month_bucket(to - Duration::microseconds(1));
        let mut day = from;
        loop {
            let bucket = keys::month_bucket(day);
            let done = bucket == last;
            if ranges
                .last()
                .is_none_or(|(b, f, _)| *b != bucket || *f != from)
            {
                ranges.push((bucket, from, to));
            }
            if done {
                break;
            }
            day += Duration::days(1);
        }
    }
    ranges
}

/// Month buckets read per round when a long window is walked back from its newest month.
const WALK_MONTHS: usize = 3;

/// The episode-start index of `continuity`: its name, its key attributes, and the partition
/// key of a month bucket and shard.
fn episode_index(
    tenant: &TenantId,
    continuity: Continuity,
) -> (
    &'static str,
    (&'static str, &'static str),
    impl Fn(&str, u16) -> String + '_,
) {
    let (index, pk_name, sk_name) = match continuity {
        Continuity::NegativeBalance => (keys::EPISODES_INDEX, keys::EPISODES_PK, keys::EPISODES_SK),
        Continuity::NoImprovement => (keys::CLOCKS_INDEX, keys::CLOCKS_PK, keys::CLOCKS_SK),
    };
    let pk = move |bucket: &str, shard| {
        keys::episode_index_pk(tenant, policy_code(continuity), bucket, shard)
    };
    (index, (pk_name, sk_name), pk)
}

pub(super) type Item = HashMap<String, AttributeValue>;

/// The store on DynamoDB. Cheap to clone: the client is shared.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(super) client: Client,
    pub(super) table: String,
    pub(super) shards: u16,
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::failed(format!("cannot encode item: {e}")))
}

pub(super) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item)
        .map_err(|e| StoreError::failed(format!("stored item is not readable: {e}")))
}

/// A stored automation document, read back.
pub(crate) fn automation_from_doc(doc: &str) -> Result<Automation, StoreError> {
    automation_from_json(&doc_json(doc)?)
}

fn doc_json(doc: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(doc)
        .map_err(|_| StoreError::failed("stored automation is not JSON".to_owned()))
}

fn automation_from_json(value: &serde_json::Value) -> Result<Automation, StoreError> {
    Automation::from_json(value)
        .map_err(|e| StoreError::failed(format!("stored automation is not valid: {e}")))
}

pub(super) fn sdk<E>(
    operation: &'static str,
    e: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    // Every failed DynamoDB call passes here: one log line each (in the constructors), in
    // every entry point. The description is the operation, the error code and the message,
    // never the request.
    store_error(operation, e)
}

/// A mark that one conditional write puts on its item. DynamoDB does not tell a write that
/// failed its condition from a retry of a write that succeeded: when an attempt's answer is
/// lost (a timeout, a dropped connection) the SDK sends it again, and the condition then fails
/// on the item the first attempt wrote. Finding its own mark there, the caller knows the write
/// is done. (`TransactWriteItems` has a client token for this, which DynamoDB honours for ten
/// minutes and emulators may not; `PutItem` has none.)
struct WriteToken(String);

impl WriteToken {
    const ATTRIBUTE: &str = "w";

    /// A token no other write has: this process's random seed and a count of its writes.
    fn new() -> Self {
        use std::hash::BuildHasher;
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEED: OnceLock<u64> = OnceLock::new();
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let seed =
            SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0u8));
        Self(format!(
            "{seed:016x}{:x}",
            COUNT.fetch_add(1, Ordering::Relaxed)
        ))
    }

    fn mark(&self, mut item: Item) -> Item {
        item.insert(Self::ATTRIBUTE.to_owned(), s(self.0.clone()));
        item
    }

    /// Whether `item`, found where the write was to go, is this write's.
    fn wrote(&self, item: &Item) -> bool {
        matches!(item.get(Self::ATTRIBUTE), Some(AttributeValue::S(w)) if *w == self.0)
    }
}

/// What a conditional `PutItem` did.
#[derive(Debug, PartialEq, Eq)]
enum Written {
    /// The item is this write's: put now, or by an earlier attempt of the same call.
    Yes,
    /// The condition failed on an item some other write left.
    ConditionFailed,
}

/// Reads a conditional `PutItem`'s answer: a failed condition on an item that carries the
/// call's own `token` is a write done (see [`WriteToken`]).
fn put_outcome(
    result: Result<PutItemOutput, SdkError<PutItemError, HttpResponse>>,
    token: &WriteToken,
) -> Result<Written, StoreError> {
    match result {
        Ok(_) => Ok(Written::Yes),
        Err(e) => match e.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                Ok(if failed.item().is_some_and(|item| token.wrote(item)) {
                    Written::Yes
                } else {
                    Written::ConditionFailed
                })
            }
            _ => Err(sdk("PutItem", e)),
        },
    }
}

fn event_from_item(item: EventItem) -> Result<Event, StoreError> {
    let value: serde_json::Value = serde_json::from_str(&item.ev)
        .map_err(|_| StoreError::failed("stored event is not JSON".to_owned()))?;
    Event::from_json(&value)
        .map_err(|e| StoreError::failed(format!("stored event is not valid: {e}")))
}

impl DynamoStore {
    pub fn new(client: Client, names: &ResourceNames) -> Self {
        Self {
            client,
            table: names.table.clone(),
            shards: names.index_shards,
        }
    }

    pub(super) async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk("GetItem", e))?;
        Ok(out.item)
    }

    /// The customer keys an instant-sorted index holds within `windows`: one query per
    /// window, UTC month bucket it touches and shard (`pk(bucket, shard)`), run concurrently,
    /// each reading only the entries in its window.
    async fn instants_in(
        &self,
        index: &str,
        names: (&str, &str),
        pk: impl Fn(&str, u16) -> String,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<Vec<String>, StoreError> {
        self.instants_in_ranges(index, names, pk, month_ranges(windows))
            .await
    }

    /// The customer keys an instant-sorted index holds within `ranges` (month bucket, and the
    /// window read in it): one query per range and shard, run concurrently.
    async fn instants_in_ranges(
        &self,
        index: &str,
        (pk_name, sk_name): (&str, &str),
        pk: impl Fn(&str, u16) -> String,
        ranges: Vec<MonthRange>,
    ) -> Result<Vec<String>, StoreError> {
        // Each query: a partition, and the window of instants read in it.
        let queries: Vec<(String, Window)> = ranges
            .into_iter()
            .flat_map(|(bucket, from, to)| {
                (0..self.shards).map(move |shard| (bucket.clone(), shard, (from, to)))
            })
            .map(|(bucket, shard, window)| (pk(&bucket, shard), window))
            .collect();
        let pages: Vec<Result<Vec<Item>, StoreError>> = stream::iter(queries)
            .map(|(pk, (from, to))| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .index_name(index)
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                    .expression_attribute_names("#pk", pk_name)
                    .expression_attribute_names("#sk", sk_name)
                    .expression_attribute_values(":pk", s(pk))
                    .expression_attribute_values(":from", s(keys::instant(from)))
                    .expression_attribute_values(":to", s(keys::instant(to)))
                    .projection_expression("#k")
                    .expression_attribute_names("#k", keys::PK)
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
            })
            .buffer_unordered(QUERY_CONCURRENCY)
            .map(|r| r.map_err(|e| sdk("Query", e)))
            .collect()
            .await;
        let mut keys_found: Vec<String> = Vec::new();
        for page in pages {
            for item in page? {
                if let Some(AttributeValue::S(pk)) = item.get(keys::PK) {
                    keys_found.push(pk.clone());
                }
            }
        }
        keys_found.sort();
        keys_found.dedup();
        Ok(keys_found)
    }

    /// The states of the customers `keys_found` names (partition keys), read from the table,
    /// strongly consistent, that `keep` accepts: an index may lag the table, and the state
    /// read now decides. Indexes hold keys only (or are read for keys only), so that state
    /// updates cost no index read.
    async fn states_where(
        &self,
        keys_found: Vec<String>,
        keep: impl Fn(&CustomerState) -> bool,
    ) -> Result<Vec<CustomerState>, StoreError> {
        let mut states: BTreeMap<CustomerId, CustomerState> = BTreeMap::new();
        let state_keys = keys_found
            .into_iter()
            .map(|pk| (pk, keys::STATE_SK))
            .collect();
        for item in self.batch_get(state_keys).await? {
            let state = from_item::<CustomerItem>(item)?.into_state()?.0;
            if keep(&state) {
                states.insert(state.customer_id.clone(), state);
            }
        }
        Ok(states.into_values().collect())
    }

    /// The past-due customers whose episode started within `ranges` (the aging table's read
    /// spans years of months): the ranges are read from the newest month back, a few months a
    /// round, and the walk stops once it has found as many customers as the tenant's past-due
    /// counters hold, which move in the same transaction as the states. A tenant whose
    /// oldest open episode is recent so reads a few months, not the whole span; when the
    /// index lags the table, the walk reads on to the end.
    async fn walk_past_due(
        &self,
        tenant: &TenantId,
        mut ranges: Vec<MonthRange>,
        keep: impl Fn(&CustomerState) -> bool,
    ) -> Result<Vec<CustomerState>, StoreError> {
        let past_due = self
            .clock_count(tenant, ClockKind::PastDue(Continuity::NegativeBalance))
            .await?;
        ranges.reverse();
        let mut found: BTreeMap<CustomerId, CustomerState> = BTreeMap::new();
        let (index, names, pk) = episode_index(tenant, Continuity::NegativeBalance);
        for round in ranges.chunks(WALK_MONTHS) {
            if found.len() as u64 >= past_due {
                break;
            }
            let keys_found = self
                .instants_in_ranges(index, names, &pk, round.to_vec())
                .await?;
            for state in self.states_where(keys_found, &keep).await? {
                found.insert(state.customer_id.clone(), state);
            }
        }
        Ok(found.into_values().collect())
    }

    /// Every item of the dates index's partitions `pk(shard)`, one query per shard, run
    /// concurrently: a date's decisions or its metadata changes.
    pub(super) async fn query_date_shards(
        &self,
        pk: impl Fn(u16) -> String,
    ) -> Result<Vec<Item>, StoreError> {
        let pages: Vec<Result<Vec<_>, _>> = stream::iter(0..self.shards)
            .map(|shard| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .index_name(keys::DATES_INDEX)
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", keys::DATES_PK)
                    .expression_attribute_values(":pk", s(pk(shard)))
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let mut items = Vec::new();
        for page in pages {
            items.extend(page.map_err(|e| sdk("Query", e))?);
        }
        Ok(items)
    }

    pub(super) async fn query_prefix(
        &self,
        pk: String,
        prefix: &str,
    ) -> Result<Vec<Item>, StoreError> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk("Query", e))
    }

    pub(super) async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| sdk("PutItem", e))?;
        Ok(())
    }

    pub(super) async fn register_tenant(&self, tenant: &TenantId) -> Result<(), StoreError> {
        self.put(to_item(&TenantItem {
            pk: keys::TENANTS_PK.to_owned(),
            sk: keys::tenant_sk(tenant),
            t: tenant.to_string(),
        })?)
        .await
    }

    /// The items at these `(pk, sk)` keys that exist, read with BatchGetItem (100 keys a
    /// request, a few requests at once, strongly consistent), retrying unprocessed keys with
    /// backoff.
    async fn batch_get(&self, keys: Vec<(String, &str)>) -> Result<Vec<Item>, StoreError> {
        let chunks: Vec<Vec<Item>> = keys
            .chunks(100)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|(pk, sk)| {
                        HashMap::from([
                            (keys::PK.to_owned(), s(pk.clone())),
                            (keys::SK.to_owned(), s(*sk)),
                        ])
                    })
                    .collect()
            })
            .collect();
        let results: Vec<Result<Vec<Item>, StoreError>> = stream::iter(chunks)
            .map(|chunk| self.batch_get_chunk(chunk))
            .buffer_unordered(4)
            .collect()
            .await;
        let mut items = Vec::new();
        for r in results {
            items.extend(r?);
        }
        Ok(items)
    }

    async fn batch_get_chunk(&self, mut pending: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        for attempt in 0..8u32 {
            if pending.is_empty() {
                return Ok(items);
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::failed(e.to_string()))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| sdk("BatchGetItem", e))?;
            if let Some(mut responses) = out.responses {
                items.extend(responses.remove(&self.table).unwrap_or_default());
            }
            if let Some(mut unprocessed) = out.unprocessed_keys
                && let Some(rest) = unprocessed.remove(&self.table)
            {
                pending = rest.keys;
            }
        }
        if pending.is_empty() {
            Ok(items)
        } else {
            Err(StoreError::failed(format!(
                "BatchGetItem left {} keys unprocessed after 8 attempts",
                pending.len()
            )))
        }
    }

    pub(super) fn put_request(&self, item: Item) -> PutBuilder {
        Put::builder().table_name(&self.table).set_item(Some(item))
    }
}

impl CustomerStore for DynamoStore {
    async fn load_customer(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Option<Versioned<CustomerState>>, StoreError> {
        let Some(item) = self
            .get(keys::customer_pk(tenant, customer), keys::STATE_SK)
            .await?
        else {
            return Ok(None);
        };
        let (value, version) = from_item::<CustomerItem>(item)?.into_state()?;
        Ok(Some(Versioned { value, version }))
    }

    async fn stored_events(
        &self,
        tenant: &TenantId,
        ids: &[EventId],
    ) -> Result<Vec<Event>, StoreError> {
        let mut keys: Vec<(String, &str)> = ids
            .iter()
            .map(|id| (keys::event_id_pk(tenant, id), keys::EVENT_ID_SK))
            .collect();
        // BatchGetItem refuses a repeated key.
        keys.sort();
        keys.dedup();
        self.batch_get(keys)
            .await?
            .into_iter()
            .map(|item| event_from_item(from_item(item)?))
            .collect()
    }

    async fn customer_events(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<Event>, StoreError> {
        self.query_prefix(keys::customer_pk(tenant, customer), keys::LOG_SK_PREFIX)
            .await?
            .into_iter()
            .map(|item| event_from_item(from_item(item)?))
            .collect()
    }

    /// One `TransactWriteItems` request: the event under its id (new ids only), the event in
    /// the customer's log, the state (at the version read), and the tenant's past-due counter
    /// when the customer's past-due status changed.
    async fn commit(&self, commit: StateCommit<'_>) -> Result<CommitOutcome, StoreError> {
        let state = &commit.state;
        let event = commit.event;
        let body = event.to_json().to_string();
        let token = WriteToken::new();
        let by_id = self
            .put_request(token.mark(to_item(&EventItem {
                pk: keys::event_id_pk(&state.tenant_id, event.event_id()),
                sk: keys::EVENT_ID_SK.to_owned(),
                ev: body.clone(),
            })?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::failed(e.to_string()))?;
        let in_log = self
            .put_request(to_item(&EventItem {
                pk: keys::customer_pk(&state.tenant_id, &state.customer_id),
                sk: keys::log_sk(event.event_id()),
                ev: body,
            })?)
            .build()
            .map_err(|e| StoreError::failed(e.to_string()))?;
        let next_version = commit.expected_version.map_or(1, |v| v + 1);
        let state_put = self.put_request(to_item(&CustomerItem::from_state(
            state,
            next_version,
            self.shards,
        ))?);
        let state_put = match commit.expected_version {
            None => state_put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", keys::PK),
            Some(v) => state_put
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "v")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
        }
        .build()
        .map_err(|e| StoreError::failed(e.to_string()))?;

        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(by_id).build())
            .transact_items(TransactWriteItem::builder().put(in_log).build())
            .transact_items(TransactWriteItem::builder().put(state_put).build());
        // The change log of the event's profile, written with the state it describes.
        if let Some(record) = &commit.normalization {
            let put = self
                .put_request(to_item(&super::normalization::ChangeItem::from_record(
                    record,
                    self.shards,
                ))?)
                .build()
                .map_err(|e| StoreError::failed(e.to_string()))?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        // The clocks the event stopped, each under its clock (SPEC §8.9).
        for stop in &commit.stops {
            let put = self
                .put_request(to_item(&super::outcomes::StopItem::from_stop(
                    &state.tenant_id,
                    &state.customer_id,
                    stop,
                ))?)
                .build()
                .map_err(|e| StoreError::failed(e.to_string()))?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        // The payment-clock and cancellation indexes: an item per start instant, moved with
        // the state in the same transaction.
        let started = StartIndex::of(state);
        let before = &commit.started_before;
        let customer_pk = keys::customer_pk(&state.tenant_id, &state.customer_id);
        for slot in 0..StartIndex::KINDS.len() {
            for gone in before.starts[slot].difference(&started.starts[slot]) {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .key(keys::PK, s(customer_pk.clone()))
                    .key(keys::SK, s(keys::started_sk(slot, *gone)))
                    .build()
                    .map_err(|e| StoreError::failed(e.to_string()))?;
                request =
                    request.transact_items(TransactWriteItem::builder().delete(delete).build());
            }
            for start in started.starts[slot].difference(&before.starts[slot]) {
                let item = StartedItem::new(state, slot, *start, self.shards);
                let put = self
                    .put_request(to_item(&item)?)
                    .build()
                    .map_err(|e| StoreError::failed(e.to_string()))?;
                request = request.transact_items(TransactWriteItem::builder().put(put).build());
            }
        }
        // The guardrail's counters move only when a customer starts or stops being counted.
        let shard = keys::shard(&state.customer_id, self.shards);
        let moves = [
            (
                commit.was_past_due,
                state.is_past_due(),
                keys::past_due_counter_sk(shard),
            ),
            (
                before.counted[0],
                started.counted[0],
                keys::started_counter_sk(0, shard),
            ),
            (
                before.counted[1],
                started.counted[1],
                keys::started_counter_sk(1, shard),
            ),
        ];
        for (before, after, sk) in moves.into_iter().filter(|(b, a, _)| b != a) {
            let delta = if after { "1" } else { "-1" };
            let counter = Update::builder()
                .table_name(&self.table)
                .key(keys::PK, s(keys::tenant_pk(&state.tenant_id)))
                .key(keys::SK, s(sk))
                .update_expression("ADD #n :d")
                .expression_attribute_names("#n", "n")
                .expression_attribute_values(":d", AttributeValue::N(delta.to_owned()))
                .build()
                .map_err(|e| StoreError::failed(e.to_string()))?;
            debug_assert_ne!(before, after);
            request = request.transact_items(TransactWriteItem::builder().update(counter).build());
        }

        match request.send().await {
            Ok(_) => Ok(CommitOutcome::Committed),
            Err(e) => {
                let reasons = match &e {
                    SdkError::ServiceError(se) => match se.err() {
                        TransactWriteItemsError::TransactionCanceledException(c) => {
                            Some(c.cancellation_reasons().to_vec())
                        }
                        _ => None,
                    },
                    _ => None,
                };
                let Some(reasons) = reasons else {
                    return Err(sdk("TransactWriteItems", e));
                };
                let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
                if code(0) == "ConditionalCheckFailed" {
                    let existing = match reasons[0].item() {
                        Some(item) => Some(item.clone()),
                        // Not every implementation returns the old item: read it.
                        None => self
                            .batch_get(vec![(
                                keys::event_id_pk(&state.tenant_id, event.event_id()),
                                keys::EVENT_ID_SK,
                            )])
                            .await?
                            .pop(),
                    };
                    return match existing {
                        Some(item) if token.wrote(&item) => Ok(CommitOutcome::Committed),
                        Some(item) => Ok(CommitOutcome::EventExists(Box::new(event_from_item(
                            from_item(item)?,
                        )?))),
                        None => Ok(CommitOutcome::VersionConflict),
                    };
                }
                if code(2) == "ConditionalCheckFailed"
                    || reasons
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict"))
                {
                    return Ok(CommitOutcome::VersionConflict);
                }
                Err(sdk("TransactWriteItems", e))
            }
        }
    }
}

/// Index queries in flight at once for one candidate read.
const QUERY_CONCURRENCY: usize = 16;

impl CandidateSource for DynamoStore {
    /// Queries the episode-start index: one query per window, month bucket it touches and
    /// shard (run concurrently), each reading only the customers whose episode started in
    /// the window.
    async fn clocks_started(
        &self,
        tenant: &TenantId,
        kind: ClockKind,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<Vec<CustomerState>, StoreError> {
        let ranges = month_ranges(windows);
        let keep = |state: &CustomerState| {
            kind.indexed_starts(state)
                .iter()
                .any(|t| windows.iter().any(|(from, to)| (*from..*to).contains(t)))
        };
        // One window of many months is the aging table's read (a daily run reads a narrow
        // window per step, all at once).
        let long_read = windows.len() == 1 && ranges.len() > WALK_MONTHS;
        if kind == ClockKind::PastDue(Continuity::NegativeBalance) && long_read {
            return self.walk_past_due(tenant, ranges, keep).await;
        }
        let keys_found = match kind {
            ClockKind::PastDue(continuity) => {
                let (index, names, pk) = episode_index(tenant, continuity);
                self.instants_in_ranges(index, names, pk, ranges).await?
            }
            ClockKind::PaymentFailed | ClockKind::CancellationRequested => {
                let slot = StartIndex::slot(kind).unwrap_or_default();
                let pk = |bucket: &str, shard| keys::started_index_pk(tenant, slot, bucket, shard);
                self.instants_in_ranges(
                    keys::CLOCKS_INDEX,
                    (keys::CLOCKS_PK, keys::CLOCKS_SK),
                    pk,
                    ranges,
                )
                .await?
            }
        };
        // The index may lag the table: the state read now decides.
        self.states_where(keys_found, keep).await
    }

    /// The quiet releases of the dates index, read as the episode starts are.
    async fn quiet_released(
        &self,
        tenant: &TenantId,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<Vec<CustomerState>, StoreError> {
        let pk = |bucket: &str, shard| keys::release_pk(tenant, bucket, shard);
        let keys_found = self
            .instants_in(
                keys::DATES_INDEX,
                (keys::DATES_PK, keys::DATES_SK),
                pk,
                windows,
            )
            .await?;
        self.states_where(keys_found, |state| {
            state
                .quiet
                .as_ref()
                .and_then(|q| q.last_end())
                .is_some_and(|end| windows.iter().any(|(from, to)| (*from..*to).contains(&end)))
        })
        .await
    }

    async fn clock_count(&self, tenant: &TenantId, kind: ClockKind) -> Result<u64, StoreError> {
        let prefix = match kind {
            ClockKind::PastDue(_) => keys::PAST_DUE_COUNTER_PREFIX,
            ClockKind::PaymentFailed | ClockKind::CancellationRequested => {
                keys::STARTED_COUNTER_PREFIXES[StartIndex::slot(kind).unwrap_or_default()]
            }
        };
        let counters = self.query_prefix(keys::tenant_pk(tenant), prefix).await?;
        let total: i64 = counters
            .iter()
            .filter_map(|item| match item.get("n") {
                Some(AttributeValue::N(n)) => n.parse::<i64>().ok(),
                _ => None,
            })
            .sum();
        Ok(total.max(0) as u64)
    }
}

impl AutomationStore for DynamoStore {
    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        self.query_prefix(keys::TENANTS_PK.to_owned(), "T#")
            .await?
            .into_iter()
            .map(|item| Ok(TenantId::new(from_item::<TenantItem>(item)?.t)))
            .collect()
    }

    async fn tenant_settings(&self, tenant: &TenantId) -> Result<TenantSettings, StoreError> {
        // The API's read of the settings (one GetItem), without the version.
        Ok(AdminStore::settings(self, tenant).await?.value)
    }

    async fn tenant_automations(&self, tenant: &TenantId) -> Result<Vec<Automation>, StoreError> {
        self.query_prefix(keys::tenant_pk(tenant), keys::AUTOMATION_SK_PREFIX)
            .await?
            .into_iter()
            .filter_map(|item| {
                let read = || -> Result<Option<Automation>, StoreError> {
                    let item = from_item::<DocumentItem>(item)?;
                    let doc = doc_json(&item.doc)?;
                    // Of the archived ones only holds are validated and read: their holds
                    // proceed.
                    if item.arch && doc["trigger"]["type"] != "cancellation_requested" {
                        return Ok(None);
                    }
                    Ok(Some(Automation {
                        archived: item.arch,
                        version: item.v,
                        ..automation_from_json(&doc)?
                    }))
                };
                read().transpose()
            })
            .collect()
    }
}

impl AutomationAdmin for DynamoStore {
    async fn put_settings(&self, settings: &TenantSettings) -> Result<(), StoreError> {
        let tenant = &settings.tenant_id;
        self.put_document(tenant, keys::SETTINGS_SK, settings.to_json())
            .await?;
        self.register_tenant(tenant).await
    }

    async fn put_automation(&self, automation: &Automation) -> Result<(), StoreError> {
        let tenant = &automation.tenant_id;
        let sk = keys::automation_sk(&automation.id);
        self.put_document(tenant, &sk, automation.to_json()).await?;
        self.register_tenant(tenant).await
    }
}

impl DynamoStore {
    /// Writes a document unconditionally (a load by hand), moving its version on so an API
    /// client holding the old `ETag` gets a 412 rather than overwriting it.
    async fn put_document(
        &self,
        tenant: &TenantId,
        sk: &str,
        doc: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::tenant_pk(tenant)))
            .key(keys::SK, s(sk))
            .update_expression("SET #doc = :doc, #v = if_not_exists(#v, :zero) + :one REMOVE #arch")
            .expression_attribute_names("#doc", "doc")
            .expression_attribute_names("#v", "v")
            .expression_attribute_names("#arch", "arch")
            .expression_attribute_values(":doc", s(doc.to_string()))
            .expression_attribute_values(":zero", AttributeValue::N("0".to_owned()))
            .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
            .send()
            .await
            .map_err(|e| sdk("UpdateItem", e))?;
        Ok(())
    }
}

impl RunCheckpoints for DynamoStore {
    async fn last_completed(&self, tenant: &TenantId) -> Result<Option<NaiveDate>, StoreError> {
        let Some(item) = self
            .get(keys::tenant_pk(tenant), keys::CHECKPOINT_SK)
            .await?
        else {
            return Ok(None);
        };
        match item.get("d") {
            Some(AttributeValue::S(d)) => d
                .parse()
                .map(Some)
                .map_err(|_| StoreError::failed("stored checkpoint is not a date".to_owned())),
            _ => Err(StoreError::failed(
                "stored checkpoint has no date".to_owned(),
            )),
        }
    }

    /// An update conditioned on the stored date being earlier (ISO dates sort as text).
    async fn complete(&self, tenant: &TenantId, date: NaiveDate) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::tenant_pk(tenant)))
            .key(keys::SK, s(keys::CHECKPOINT_SK))
            .update_expression("SET #d = :d")
            .condition_expression("attribute_not_exists(#d) OR #d < :d")
            .expression_attribute_names("#d", "d")
            .expression_attribute_values(":d", s(date.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk("UpdateItem", e)),
        }
    }
}

impl DecisionStore for DynamoStore {
    async fn settled(
        &self,
        tenant: &TenantId,
        automation: &AutomationId,
        customer: &CustomerId,
    ) -> Result<Vec<Settled>, StoreError> {
        self.query_prefix(
            keys::customer_pk(tenant, customer),
            &keys::firing_sk_prefix(automation),
        )
        .await?
        .into_iter()
        .map(|item| {
            Ok(from_item::<FiringItem>(item)?
                .into_record()?
                .decision
                .settled())
        })
        .collect()
    }

    async fn customer_firings(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<FiringRecord>, StoreError> {
        self.query_prefix(keys::customer_pk(tenant, customer), keys::FIRING_SK_PREFIX)
            .await?
            .into_iter()
            .map(|item| from_item::<FiringItem>(item)?.into_record())
            .collect()
    }

    async fn record(&self, record: &FiringRecord) -> Result<RecordOutcome, StoreError> {
        let token = WriteToken::new();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(
                token.mark(to_item(&FiringItem::from_record(record, self.shards))?),
            ))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        Ok(match put_outcome(result, &token)? {
            Written::Yes => RecordOutcome::Recorded,
            Written::ConditionFailed => RecordOutcome::AlreadyRecorded,
        })
    }

    async fn awaiting_approval(&self, tenant: &TenantId) -> Result<Vec<FiringRecord>, StoreError> {
        // The outbox index keeps the whole item, and its sort key starts with the run date.
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::OUTBOX_INDEX)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::OUTBOX_PK)
            .expression_attribute_values(":pk", s(keys::approvals_pk(tenant)))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk("Query", e))?;
        items
            .into_iter()
            .map(|item| from_item::<FiringItem>(item)?.into_record())
            .collect()
    }

    async fn pending_firings(&self, limit: usize) -> Result<Vec<FiringRecord>, StoreError> {
        let mut items: Vec<FiringItem> = Vec::new();
        for shard in 0..self.shards {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::OUTBOX_INDEX)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", keys::OUTBOX_PK)
                .expression_attribute_values(":pk", s(keys::outbox_pk(shard)))
                .limit(i32::try_from(limit.min(1000)).unwrap_or(1000))
                .send()
                .await
                .map_err(|e| sdk("Query", e))?;
            for item in page.items.unwrap_or_default() {
                items.push(from_item(item)?);
            }
        }
        items.sort_by(|a, b| a.ob_sk.cmp(&b.ob_sk));
        items
            .into_iter()
            .take(limit)
            .map(FiringItem::into_record)
            .collect()
    }

    async fn replace_firing(
        &self,
        current: &FiringRecord,
        next: &FiringRecord,
    ) -> Result<bool, StoreError> {
        let token = WriteToken::new();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(
                token.mark(to_item(&FiringItem::from_record(next, self.shards))?),
            ))
            .condition_expression("#st = :st AND #att = :att")
            .expression_attribute_names("#st", "st")
            .expression_attribute_names("#att", "att")
            .expression_attribute_values(":st", s(current.status.as_str()))
            .expression_attribute_values(":att", AttributeValue::N(current.attempts.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        Ok(put_outcome(result, &token)? == Written::Yes)
    }
}
