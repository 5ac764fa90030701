//! The executor's trigger. It is invoked by the table's stream (filtered to new pending
//! firings) and by a periodic sweep (`{"sweep": true}`); either way it carries out the
//! firings waiting in the outbox, which is the source of truth: a lost or duplicated trigger
//! delays an action or finds nothing to do, but never loses or repeats one (claims make
//! concurrent invocations safe).

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use shared::adapters::emf;
use shared::app::execute::{ExecuteReport, execute_pending};
use shared::ports::{
    ActionPublisher, AutomationStore, CustomerStore, DecisionStore, FailedFirings,
};

pub struct Deps<S, P, F> {
    pub store: S,
    pub publisher: P,
    pub failed: F,
    pub batch: usize,
}

/// The invocation's answer: what started it, and what the pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExecuteSummary {
    pub trigger: &'static str,
    #[serde(flatten)]
    pub report: ExecuteReport,
}

/// `now` is the invocation's time: it decides only which claims have expired.
pub async fn handle<S, P, F>(
    deps: &Deps<S, P, F>,
    event: LambdaEvent<Value>,
    now: DateTime<Utc>,
) -> Result<ExecuteSummary, lambda_runtime::Error>
where
    S: DecisionStore + CustomerStore + AutomationStore,
    P: ActionPublisher,
    F: FailedFirings,
{
    let trigger = if event.payload.get("Records").is_some() {
        "stream"
    } else {
        "sweep"
    };
    let r = execute_pending(&deps.store, &deps.publisher, &deps.failed, now, deps.batch).await?;
    let summary = ExecuteSummary { trigger, report: r };
    // `FiringsFailed` is the one to alarm on: firings that kept failing (each also in the
    // failed-firings queue).
    emf::emit(
        "execute",
        now,
        &[
            ("FiringsSent", r.sent),
            ("FiringsCancelled", r.cancelled),
            ("FiringsFailed", r.failed),
            ("FiringsRetrying", r.retrying),
            ("FiringsRecovered", r.recovered),
            ("ActionsCancelled", r.actions_cancelled),
            ("MessagesPublished", r.messages),
            ("PublishCalls", r.publish_calls),
        ],
    );
    tracing::info!(trigger, ?summary, "executor");
    Ok(summary)
}
