//! `POST /v1/events`: a batch of events through the same ingest as the SQS function, with a
//! result per event.

use super::json;
use crate::identity::Caller;
use crate::problem::Problem;
use crate::request::JsonBody;
use crate::{ApiStore, State};
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use shared::app::ingest::{IngestError, IngestOutcome, ingest_event};
use shared::domain::Event;
use shared::domain::event::format_instant;

/// Events per request at most (the body limit applies too).
pub const MAX_EVENTS: usize = 500;

pub async fn ingest<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let events = match &body {
        Value::Object(obj) if obj.len() == 1 => obj.get("events").and_then(Value::as_array),
        _ => None,
    }
    .ok_or_else(|| Problem::invalid_field("events", "the body must be {\"events\": [...]}"))?;
    if events.len() > MAX_EVENTS {
        return Err(Problem::invalid_field(
            "events",
            format!(
                "at most {MAX_EVENTS} events per request, got {}",
                events.len()
            ),
        ));
    }
    let received_at = format_instant(chrono::Utc::now());
    let mut results = Vec::with_capacity(events.len());
    for (i, raw) in events.iter().enumerate() {
        let mut raw = raw.clone();
        // Like SQS's SentTimestamp: the moment it reached RuleKit, unless the event says.
        if let Value::Object(obj) = &mut raw {
            obj.entry("received_at")
                .or_insert_with(|| json!(received_at));
        }
        let event_id = raw.get("event_id").cloned().unwrap_or(Value::Null);
        let rejected = |errors: Vec<(String, String)>| {
            json!({
                "index": i,
                "event_id": event_id,
                "result": "rejected",
                "errors": errors.iter()
                    .map(|(f, m)| json!({"field": format!("events[{i}].{f}"), "message": m}))
                    .collect::<Vec<_>>(),
            })
        };
        let event = match Event::from_json(&raw) {
            Ok(e) => e,
            Err(errors) => {
                let errors = errors.0.into_iter().map(|e| (e.field, e.message)).collect();
                results.push(rejected(errors));
                continue;
            }
        };
        if event.tenant_id != caller.tenant {
            results.push(rejected(vec![(
                "tenant_id".to_owned(),
                "must be your own tenant".to_owned(),
            )]));
            continue;
        }
        let result = match ingest_event(&state.store, &event).await {
            Ok(IngestOutcome::Accepted(_)) => {
                json!({"index": i, "event_id": event_id, "result": "accepted"})
            }
            Ok(IngestOutcome::Duplicate) => {
                json!({"index": i, "event_id": event_id, "result": "duplicate"})
            }
            Err(IngestError::Rejected(e)) => rejected(vec![(e.field, e.message)]),
            Err(IngestError::Store(e)) if !e.is_retryable() => return Err(e.into()),
            // Throttled or contended: nothing of this event was written, and the client sends
            // it again (resending accepted ones is harmless: they come back `duplicate`).
            Err(_) => json!({"index": i, "event_id": event_id, "result": "retry"}),
        };
        results.push(result);
    }
    Ok(json(StatusCode::OK, json!({ "results": results })))
}
