//! The executor's trigger. It is invoked by the table's stream (filtered to new pending
//! firings) and by a periodic sweep (`{"sweep": true}`); either way it carries out the
//! firings waiting in the outbox, which is the source of truth: a lost or duplicated trigger
//! delays an action or finds nothing to do, but never loses or repeats one (claims make
//! concurrent invocations safe).

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use shared::app::execute::execute_pending;
use shared::ports::{ActionPublisher, AutomationStore, CustomerStore, DecisionStore};

pub struct Deps<S, P> {
    pub store: S,
    pub publisher: P,
    pub batch: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExecuteSummary {
    pub trigger: &'static str,
    pub sent: usize,
    pub cancelled: usize,
    pub failed: usize,
    pub retrying: usize,
    pub recovered: usize,
    pub messages: usize,
    pub publish_calls: usize,
}

/// `now` is the invocation's time: it decides only which claims have expired.
pub async fn handle<S, P>(
    deps: &Deps<S, P>,
    event: LambdaEvent<Value>,
    now: DateTime<Utc>,
) -> Result<ExecuteSummary, lambda_runtime::Error>
where
    S: DecisionStore + AutomationStore + CustomerStore,
    P: ActionPublisher,
{
    let trigger = if event.payload.get("Records").is_some() {
        "stream"
    } else {
        "sweep"
    };
    let r = execute_pending(&deps.store, &deps.publisher, now, deps.batch).await?;
    let summary = ExecuteSummary {
        trigger,
        sent: r.sent,
        cancelled: r.cancelled,
        failed: r.failed,
        retrying: r.retrying,
        recovered: r.recovered,
        messages: r.messages,
        publish_calls: r.publish_calls,
    };
    // `failed` is the alarm-able metric: firings that kept failing.
    tracing::info!(
        trigger,
        sent = r.sent,
        cancelled = r.cancelled,
        failed = r.failed,
        retrying = r.retrying,
        recovered = r.recovered,
        messages = r.messages,
        publish_calls = r.publish_calls,
        "executor"
    );
    Ok(summary)
}
