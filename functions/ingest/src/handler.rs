//! The SQS batch handler: each message is one event (SPEC §2).
//!
//! - applied or a duplicate: acknowledged;
//! - malformed or never applicable (a reused event id, ...): sent unchanged to the dead-letter
//!   queue with its reasons, then acknowledged, so it neither blocks the batch nor comes back;
//! - failed for a reason that may pass (throttling, a timeout, contention): reported in
//!   `batchItemFailures`, so SQS delivers that message again and only that one.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::app::ingest::{IngestError, IngestOutcome, ingest_event};
use shared::domain::event::format_instant;
use shared::domain::{Event, FieldError, FieldErrors};
use shared::ports::{CustomerStore, DeadLetters};

/// Messages of one batch applied at once. Arrival order does not matter (the state is a
/// function of the set of events), and writes to one customer are serialised by its version.
const CONCURRENCY: usize = 8;

pub struct Deps<S, D> {
    pub store: S,
    pub dead_letters: D,
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    Accepted,
    Duplicate,
    /// Sent to the dead-letter queue with these reasons.
    Rejected(FieldErrors),
    /// Left for SQS to deliver again.
    Retry,
}

pub async fn handle<S, D>(
    deps: &Deps<S, D>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error>
where
    S: CustomerStore,
    D: DeadLetters,
{
    let outcomes: Vec<(String, MessageOutcome)> = stream::iter(event.payload.records)
        .map(|message| async move {
            let id = message.message_id.clone().unwrap_or_default();
            (id, process(deps, &message).await)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    for (message_id, outcome) in outcomes {
        if outcome == MessageOutcome::Retry {
            response.add_failure(message_id);
        }
    }
    Ok(response)
}

/// Applies one message. Logs carry ids and outcomes, never amounts or other customer data.
pub async fn process<S, D>(deps: &Deps<S, D>, message: &SqsMessage) -> MessageOutcome
where
    S: CustomerStore,
    D: DeadLetters,
{
    let message_id = message.message_id.as_deref().unwrap_or_default();
    let body = message.body.as_deref().unwrap_or_default();
    let event = match parse(body, sent_at(message)) {
        Ok(event) => event,
        Err(reasons) => return reject(deps, message_id, body, reasons).await,
    };
    match ingest_event(&deps.store, &event).await {
        Ok(IngestOutcome::Accepted(change)) => {
            tracing::info!(
                message_id,
                tenant_id = %event.tenant_id,
                event_id = %event.event_id(),
                episode_moved = change.moves_an_episode(),
                outcome = "accepted"
            );
            MessageOutcome::Accepted
        }
        Ok(IngestOutcome::Duplicate) => {
            tracing::info!(message_id, tenant_id = %event.tenant_id, event_id = %event.event_id(), outcome = "duplicate");
            MessageOutcome::Duplicate
        }
        Err(IngestError::Rejected(reason)) => {
            reject(deps, message_id, body, FieldErrors(vec![reason])).await
        }
        Err(e) if e.is_retryable() => {
            tracing::warn!(message_id, tenant_id = %event.tenant_id, error = %e, outcome = "retry");
            MessageOutcome::Retry
        }
        Err(e) => {
            // Not retryable and not the event's fault (e.g. missing permissions): let SQS
            // redeliver and, in the end, move it to the dead-letter queue by its redrive policy.
            tracing::error!(message_id, tenant_id = %event.tenant_id, error = %e, outcome = "failed");
            MessageOutcome::Retry
        }
    }
}

/// The event in `body`; when it carries no `received_at`, the time SQS received it stands in
/// (live ingest stamps when the system learned of the event).
fn parse(body: &str, sent_at: Option<DateTime<Utc>>) -> Result<Event, FieldErrors> {
    let mut value: Value = serde_json::from_str(body).map_err(|e| {
        FieldErrors(vec![FieldError::new(
            "body",
            format!("not valid JSON: {e}"),
        )])
    })?;
    if let (Value::Object(map), Some(sent)) = (&mut value, sent_at) {
        if !map.contains_key("received_at") {
            // Never before the event itself, even if the producer's clock runs ahead.
            let occurred = map
                .get("occurred_at")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            let stamp = occurred.map_or(sent, |o| o.max(sent));
            map.insert("received_at".into(), Value::String(format_instant(stamp)));
        }
    }
    Event::from_json(&value)
}

fn sent_at(message: &SqsMessage) -> Option<DateTime<Utc>> {
    let millis = message
        .attributes
        .get("SentTimestamp")?
        .parse::<i64>()
        .ok()?;
    DateTime::from_timestamp_millis(millis)
}

async fn reject<S, D: DeadLetters>(
    deps: &Deps<S, D>,
    message_id: &str,
    body: &str,
    reasons: FieldErrors,
) -> MessageOutcome {
    let fields: Vec<&str> = reasons.0.iter().map(|e| e.field.as_str()).collect();
    match deps.dead_letters.send(body, &reasons).await {
        Ok(()) => {
            tracing::warn!(message_id, rejected_fields = ?fields, outcome = "rejected");
            MessageOutcome::Rejected(reasons)
        }
        Err(e) => {
            tracing::error!(message_id, rejected_fields = ?fields, error = %e, outcome = "retry");
            MessageOutcome::Retry
        }
    }
}
