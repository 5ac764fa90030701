//! The SQS batch handler: each message is one event (SPEC §2).
//!
//! - applied or a duplicate: acknowledged;
//! - malformed or never applicable (a reused event id, ...): sent unchanged to the dead-letter
//!   queue with its reasons, then acknowledged, so it neither blocks the batch nor comes back;
//! - failed for a reason that may pass (throttling, a timeout, contention): reported in
//!   `batchItemFailures`, so SQS delivers that message again and only that one.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::app::ingest::{IngestError, IngestOutcome, ingest_batch, live_event};
use shared::domain::json::{self, JsonError};
use shared::domain::{Event, FieldError, FieldErrors};
use shared::ports::{AutomationStore, CustomerStore, DeadLetters};

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
    S: CustomerStore + AutomationStore,
    D: DeadLetters,
{
    let mut response = SqsBatchResponse::default();
    for (message, outcome) in process(deps, &event.payload.records).await {
        if outcome == MessageOutcome::Retry {
            response.add_failure(message.message_id.clone().unwrap_or_default());
        }
    }
    Ok(response)
}

/// Applies a delivery's messages as one batch (`app::ingest::ingest_batch`: repeats within it
/// and redeliveries of stored events cost no write). Logs carry ids and outcomes, never amounts
/// or other customer data.
pub async fn process<'m, S, D>(
    deps: &Deps<S, D>,
    messages: &'m [SqsMessage],
) -> Vec<(&'m SqsMessage, MessageOutcome)>
where
    S: CustomerStore + AutomationStore,
    D: DeadLetters,
{
    let mut outcomes = Vec::with_capacity(messages.len());
    let mut parsed: Vec<(&SqsMessage, Event)> = Vec::new();
    for message in messages {
        let body = message.body.as_deref().unwrap_or_default();
        match parse(body, sent_at(message)) {
            Ok(event) => parsed.push((message, event)),
            Err(reasons) => outcomes.push((message, reject(deps, message, reasons).await)),
        }
    }
    let (applied, events): (Vec<&SqsMessage>, Vec<Event>) = parsed.into_iter().unzip();
    let results = ingest_batch(&deps.store, &events).await;
    for ((message, event), result) in applied.into_iter().zip(&events).zip(results) {
        let message_id = message.message_id.as_deref().unwrap_or_default();
        let outcome = match result {
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
                reject(deps, message, FieldErrors(vec![reason])).await
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(message_id, tenant_id = %event.tenant_id, error = %e, outcome = "retry");
                MessageOutcome::Retry
            }
            Err(e) => {
                // Not retryable and not the event's fault (e.g. missing permissions): let SQS
                // redeliver and, in the end, move it to the dead-letter queue by its redrive
                // policy.
                tracing::error!(message_id, tenant_id = %event.tenant_id, error = %e, outcome = "failed");
                MessageOutcome::Retry
            }
        };
        outcomes.push((message, outcome));
    }
    outcomes
}

/// The event in `body`, read as live ingest reads it; SQS's `SentTimestamp` is its arrival
/// (the invocation's time when the attribute is missing).
fn parse(body: &str, sent_at: Option<DateTime<Utc>>) -> Result<Event, FieldErrors> {
    let value: Value = json::parse(body).map_err(|e| {
        FieldErrors(vec![match e {
            JsonError::DuplicateKey { path, .. } => FieldError::new(path, "duplicate key"),
            JsonError::Syntax { .. } => FieldError::new("body", e.to_string()),
        }])
    })?;
    live_event(&value, sent_at.unwrap_or_else(Utc::now))
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
    message: &SqsMessage,
    reasons: FieldErrors,
) -> MessageOutcome {
    let message_id = message.message_id.as_deref().unwrap_or_default();
    let body = message.body.as_deref().unwrap_or_default();
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
