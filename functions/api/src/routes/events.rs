//! `POST /v1/events`: a batch of events through the same ingest as the SQS function, with a
//! result per event.

use super::json;
use crate::identity::Caller;
use crate::problem::Problem;
use crate::request::{JsonBody, NoQuery};
use crate::{ApiStore, State};
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use shared::app::ingest::{IngestError, IngestOutcome, ingest_batch, live_event};
use shared::domain::{Event, FieldError};

/// Events per request at most (the body limit applies too).
pub const MAX_EVENTS: usize = 500;

pub async fn ingest<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    _: NoQuery,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let events = batch(&body)?;
    // Like SQS's SentTimestamp: the moment the batch reached RuleKit.
    let arrived_at = chrono::Utc::now();

    // Read every event first; the valid ones of the caller's tenant are ingested together.
    let mut results: Vec<Option<Value>> = vec![None; events.len()];
    let mut valid: Vec<(usize, Event)> = Vec::with_capacity(events.len());
    for (i, raw) in events.iter().enumerate() {
        match live_event(raw, arrived_at) {
            Ok(event) if event.tenant_id == caller.tenant => valid.push((i, event)),
            Ok(_) => {
                let error = FieldError::new("tenant_id", "must be your own tenant");
                results[i] = Some(rejected(i, raw, &[error]));
            }
            Err(errors) => results[i] = Some(rejected(i, raw, &errors.0)),
        }
    }
    let (indexes, events_in): (Vec<usize>, Vec<Event>) = valid.into_iter().unzip();
    let outcomes = ingest_batch(&state.store, &events_in).await;
    for (i, outcome) in indexes.into_iter().zip(outcomes) {
        let raw = &events[i];
        results[i] = Some(match outcome {
            Ok(IngestOutcome::Accepted(_)) => result(i, raw, "accepted"),
            Ok(IngestOutcome::Duplicate) => result(i, raw, "duplicate"),
            Err(IngestError::Rejected(e)) => rejected(i, raw, &[e]),
            Err(IngestError::Store(e)) if !e.is_retryable() => return Err(e.into()),
            // Throttled or contended: nothing of this event was written, and the client sends
            // it again (resending accepted ones is harmless: they come back `duplicate`).
            Err(_) => result(i, raw, "retry"),
        });
    }
    let results: Vec<Value> = results.into_iter().flatten().collect();
    Ok(json(StatusCode::OK, json!({ "results": results })))
}

/// The body's events: `{"events": [...]}` and nothing else, at most [`MAX_EVENTS`].
fn batch(body: &Value) -> Result<&Vec<Value>, Problem> {
    let Value::Object(obj) = body else {
        return Err(Problem::invalid_field(
            "",
            "must be a JSON object: {\"events\": [...]}",
        ));
    };
    if let Some(unknown) = obj.keys().find(|k| *k != "events") {
        return Err(Problem::invalid_field(
            unknown,
            "unknown field (known: events)",
        ));
    }
    let events = obj
        .get("events")
        .and_then(Value::as_array)
        .ok_or_else(|| Problem::invalid_field("events", "is required: an array of events"))?;
    if events.len() > MAX_EVENTS {
        return Err(Problem::invalid_field(
            "events",
            format!(
                "at most {MAX_EVENTS} events per request, got {}",
                events.len()
            ),
        ));
    }
    Ok(events)
}

fn result(i: usize, raw: &Value, outcome: &str) -> Value {
    json!({"index": i, "event_id": raw.get("event_id"), "result": outcome})
}

fn rejected(i: usize, raw: &Value, errors: &[FieldError]) -> Value {
    json!({
        "index": i,
        "event_id": raw.get("event_id"),
        "result": "rejected",
        "errors": errors.iter()
            .map(|e| json!({"field": format!("events[{i}].{}", e.field), "message": e.message}))
            .collect::<Vec<_>>(),
    })
}
