//! The code held to `infra/functions.json`, the one table the SAM template is also checked
//! against (`infra/check_template.py`): each function reads exactly the environment variables
//! the table lists, and its handler, driven through its real event shapes against the local
//! AWS emulator behind a recording proxy, needs exactly the IAM actions the table grants: none
//! missing (it would fail in AWS), none unused (the role would grant more than the code calls).

use aws_lambda_events::event::sqs::SqsEvent;
use e2e::{Env, call_api, emulator_endpoint, event_fixture, proxy, sqs_message};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::adapters::sns::Topics;
use shared::adapters::{SnsPublisher, SqsDeadLetters};
use shared::app::execute::backoff;
use shared::domain::TenantId;
use shared::ports::{AdminStore, AuditEntry, FiringStatus, RunCheckpoints};
use std::cell::RefCell;
use std::collections::BTreeSet;
use synthetic::PastDueTenant;

const TABLE: &str = include_str!("../../../infra/functions.json");

fn table() -> Value {
    serde_json::from_str(TABLE).unwrap()
}

/// The IAM actions the table says a function's code calls.
fn called(function: &str) -> BTreeSet<String> {
    table()["functions"][function]["actions"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|actions| actions.as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

fn env_of(function: &str) -> BTreeSet<String> {
    table()["functions"][function]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The variables a `from_lookup` reads, given plausible values for all of them.
fn variables_read<T, E: std::fmt::Debug>(
    from_lookup: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> Result<T, E>,
) -> BTreeSet<String> {
    let read = RefCell::new(BTreeSet::new());
    let lookup = |name: &str| -> Option<String> {
        read.borrow_mut().insert(name.to_owned());
        Some(match name {
            "RULEKIT_CONSOLE_SIGN_IN_URL" => "https://ops.auth.us-east-1.amazoncognito.com".into(),
            n if n.ends_with("_ARN") => "arn:aws:sns:us-east-1:123456789012:rulekit-topic".into(),
            n if n.ends_with("_URL") => "https://sqs.us-east-1.amazonaws.com/123456789012/q".into(),
            "RULEKIT_INDEX_SHARDS" => "4".into(),
            "RULEKIT_EXECUTE_BATCH" => "100".into(),
            "RULEKIT_LOOKBACK_DAYS" => "7".into(),
            _ => "rulekit".into(),
        })
    };
    from_lookup(&lookup).expect("plausible values configure the function");
    read.into_inner()
}

#[test]
fn when_each_function_starts_should_read_exactly_the_variables_the_table_lists() {
    assert_eq!(
        variables_read(|get| ingest::config::Config::from_lookup(get)),
        env_of("IngestFunction")
    );
    assert_eq!(
        variables_read(|get| evaluate::config::Config::from_lookup(get)),
        env_of("EvaluateFunction")
    );
    assert_eq!(
        variables_read(|get| execute::config::Config::from_lookup(get)),
        env_of("ExecuteFunction")
    );
    assert_eq!(
        variables_read(|get| api::config::Config::from_lookup(get)),
        env_of("ApiFunction")
    );
}

fn balance(id: &str, customer: &str, at: &str, amount: i64) -> Value {
    json!({"event_id": id, "tenant_id": "t1", "customer_id": customer, "type": "balance.changed",
        "occurred_at": at, "balance": {"amount_minor": amount, "currency": "USD"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_ingest_handles_its_batches_should_need_exactly_its_table_entry() {
    let env = Env::new("deploy-ingest").await;
    let (dlq, _) = env.queue("ingest-dlq").await;
    let recording = proxy::start(&emulator_endpoint(), proxy::Faults::default()).await;
    let deps = ingest::handler::Deps {
        store: env.store_via(&recording.endpoint),
        dead_letters: SqsDeadLetters::new(env.sqs_via(&recording.endpoint), dlq),
    };
    let fixture: SqsEvent = event_fixture("ingest", "sqs-mixed-batch.json");
    let first = ingest::handler::handle(&deps, LambdaEvent::new(fixture, Context::default()));
    first.await.unwrap();
    // A late balance event: the customer's log is replayed.
    let mut late = SqsEvent::default();
    late.records = vec![sqs_message(
        "m-late",
        &balance("evt_late", "c1", "2026-10-20T10:00:00Z", -100).to_string(),
    )];
    ingest::handler::handle(&deps, LambdaEvent::new(late, Context::default()))
        .await
        .unwrap();
    assert_eq!(recording.stats.iam_actions(), called("IngestFunction"));
}

/// Tenant t1 (New York, 06:00) with automation a1 that notifies finance and messages the
/// customer, a guardrail that holds everything, normalization rules its stored customers are
/// still to be re-normalized by, and three customers past due since 11-01; the last completed
/// run is 11-14.
async fn tenant(env: &Env) -> shared::adapters::DynamoStore {
    let store = env.store();
    PastDueTenant::new(3, "2026-11-01T17:00:00Z")
        .settings(json!({"timezone": "America/New_York", "evaluation_hour": 6,
            "guardrail": {"min_count": 1, "max_share": 0.01},
            "normalization": {"rules": [{"type": "trim_values"}]}}))
        .actions(json!([{"type": "notify", "channel": "finance"},
                        {"type": "message", "template_id": "reminder-1"}]))
        .seed(&store)
        .await;
    store
        .complete(&TenantId::new("t1"), "2026-11-14".parse().unwrap())
        .await
        .unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_evaluate_and_execute_run_should_each_need_exactly_its_table_entry() {
    let env = Env::new("deploy-run").await;
    let store = tenant(&env).await;

    // The scheduled run: candidates, decisions, the guardrail's hold and its alert.
    let recording = proxy::start(&emulator_endpoint(), proxy::Faults::default()).await;
    let deps = evaluate::handler::Deps {
        store: env.store_via(&recording.endpoint),
        topics: env.publisher_via(&recording.endpoint),
        lookback_days: 7,
    };
    let scheduled: evaluate::handler::ScheduledEvent =
        serde_json::from_value(json!({"scheduled_time": "2026-11-15T11:00:00Z"})).unwrap();
    let summary = evaluate::handler::handle(&deps, LambdaEvent::new(scheduled, Context::default()))
        .await
        .unwrap();
    assert_eq!((summary.held, summary.alerts), (3, 1));

    // The weekly schedule's invocation of the same function: the review to the finance
    // topic, JSON for the queue subscribed to it.
    let finance = env.subscribed_queue("finance", &env.topics.finance).await;
    let weekly: evaluate::handler::ScheduledEvent = serde_json::from_value(
        json!({"job": "weekly_review", "scheduled_time": "2026-11-16T12:00:00Z"}),
    )
    .unwrap();
    let summary = evaluate::handler::handle(&deps, LambdaEvent::new(weekly, Context::default()))
        .await
        .unwrap();
    assert_eq!(summary.reviews_published, 1);
    let delivered = env.drain(&finance).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        (&delivered[0]["type"], &delivered[0]["week"]),
        (&json!("report.weekly"), &json!("2026-W46"))
    );
    assert_eq!(delivered[0]["steps"][0]["this_week"]["held"], 3);
    assert_eq!(recording.stats.iam_actions(), called("EvaluateFunction"));

    // An operator releases them; the executor publishes to finance, but the customer-messages
    // topic is gone, so after every attempt those firings go to the failed-firings queue.
    let held = store
        .firings_on(&TenantId::new("t1"), "2026-11-15".parse().unwrap())
        .await
        .unwrap();
    let audit = AuditEntry {
        tenant_id: TenantId::new("t1"),
        id: "20261115T120000.000000Z-test".into(),
        at: chrono::Utc::now(),
        actor: "test".into(),
        action: "firings.released".into(),
        resource: "firings/a1/2026-11-15".into(),
        before: None,
        after: None,
    };
    assert_eq!(
        store
            .resolve_firings(&held, FiringStatus::Held, FiringStatus::Pending, &audit)
            .await
            .unwrap(),
        3
    );
    let (failed_queue, _) = env.queue("failed-firings").await;
    let recording = proxy::start(&emulator_endpoint(), proxy::Faults::default()).await;
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&env.sdk)
            .endpoint_url(&recording.endpoint)
            .build(),
    );
    let topics = Topics {
        customer_messages: format!("{}-gone", env.topics.customer_messages),
        ..env.topics.clone()
    };
    let deps = execute::handler::Deps {
        store: env.store_via(&recording.endpoint),
        publisher: SnsPublisher::new(sns, topics),
        failed: SqsDeadLetters::new(env.sqs_via(&recording.endpoint), failed_queue),
        batch: 100,
    };
    let mut now = chrono::Utc::now();
    let mut failed = 0;
    for attempt in 1..=shared::app::execute::MAX_ATTEMPTS {
        let sweep = LambdaEvent::new(json!({"sweep": true}), Context::default());
        failed += execute::handler::handle(&deps, sweep, now)
            .await
            .unwrap()
            .report
            .failed;
        now += backoff(attempt);
    }
    assert_eq!(failed, 3);
    assert_eq!(recording.stats.iam_actions(), called("ExecuteFunction"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_api_serves_every_route_should_need_exactly_its_table_entry() {
    let env = Env::new("deploy-api").await;
    tenant(&env).await;
    let recording = proxy::start(&emulator_endpoint(), proxy::Faults::default()).await;
    let router = api::router(
        env.store_via(&recording.endpoint),
        api::identity::IdentitySource::DevHeaders,
    );
    let automation = json!({"id": "a9", "name": "New", "active_from": "2026-10-01", "backfill": true,
        "trigger": {"type": "past_due", "require_active_subscription": false},
        "actions": [{"type": "notify", "channel": "finance"}]});
    let calls = [
        ("POST", "/v1/automations", Some(automation)),
        ("GET", "/v1/automations", None),
        ("GET", "/v1/automations/a9", None),
        (
            "POST",
            "/v1/events",
            Some(json!({"events": [balance("e9", "c9", "2026-11-01T17:00:00Z", -900)]})),
        ),
        (
            "POST",
            "/v1/automations/a9/preview",
            Some(json!({"date": "2026-11-15"})),
        ),
        ("GET", "/v1/customers/c9?date=2026-11-15", None),
        ("GET", "/v1/firings?date=2026-11-15", None),
        (
            "POST",
            "/v1/firings/release",
            Some(json!({"automation_id": "a9", "date": "2026-11-15"})),
        ),
        ("GET", "/v1/audit", None),
        ("GET", "/v1/settings", None),
        (
            "PUT",
            "/v1/settings",
            Some(json!({"timezone": "America/New_York", "evaluation_hour": 6})),
        ),
        (
            "POST",
            "/v1/normalization/preview",
            Some(json!({"rules": [{"type": "key_case", "case": "snake_case"}]})),
        ),
        ("GET", "/v1/normalization/changes?date=2026-11-15", None),
        ("GET", "/v1/normalization/changes?customer_id=c9", None),
        ("GET", "/v1/normalization/status", None),
        ("DELETE", "/v1/automations/a9", None),
    ];
    for (method, path, body) in calls {
        let (status, _) = call_api(&router, method, path, body).await;
        assert!(status.is_success(), "{method} {path}: {status}");
    }
    assert_eq!(recording.stats.iam_actions(), called("ApiFunction"));
}

/// The stream filter of `infra/template.yaml`, as Lambda's event filtering reads it: the
/// subset the template uses (exact strings, `exists`).
fn stream_filter() -> Value {
    let template = include_str!("../../../infra/template.yaml");
    let line = template
        .lines()
        .find_map(|l| l.trim().strip_prefix("- Pattern: '"))
        .expect("the stream mapping has a filter pattern");
    serde_json::from_str(line.trim_end_matches('\'')).expect("the pattern is JSON")
}

/// Whether `record` matches `pattern` (objects nest; an array lists the allowed values, a
/// string or `{"exists": bool}`).
fn matches_filter(pattern: &Value, record: Option<&Value>) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(k, p)| matches_filter(p, record.and_then(|r| r.get(k)))),
        Value::Array(allowed) => allowed.iter().any(|a| match a {
            Value::Object(o) => o.get("exists") == Some(&json!(record.is_some())),
            other => record == Some(other),
        }),
        _ => false,
    }
}

/// An item as a stream record's `NewImage` carries it (DynamoDB JSON).
fn stream_image(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> Value {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    fn value(a: &A) -> Value {
        match a {
            A::S(s) => json!({"S": s}),
            A::N(n) => json!({"N": n}),
            A::Bool(b) => json!({"BOOL": b}),
            A::Null(_) => json!({"NULL": true}),
            A::L(l) => json!({"L": l.iter().map(value).collect::<Vec<_>>()}),
            A::M(m) => {
                json!({"M": m.iter().map(|(k, v)| (k.clone(), value(v))).collect::<serde_json::Map<_, _>>()})
            }
            other => panic!("no such attribute in a firing item: {other:?}"),
        }
    }
    json!({"dynamodb": {"NewImage": item.iter().map(|(k, v)| (k.clone(), value(v)))
        .collect::<serde_json::Map<_, _>>()}})
}

#[test]
fn when_a_firing_is_recorded_claimed_retried_and_sent_should_wake_the_executor_once() {
    use shared::adapters::dynamodb::items::FiringItem;
    let store = shared::adapters::MemoryStore::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(
        PastDueTenant::new(1, "2026-11-01T10:00:00Z").seed_and_evaluate(&store, "2026-11-15"),
    );
    let recorded = store.firing_records().remove(0);
    assert_eq!(recorded.status, FiringStatus::Pending);
    let mut claimed = recorded.clone();
    claimed.status = FiringStatus::Sending;
    claimed.attempts = 1;
    let mut retried = claimed.clone();
    retried.status = FiringStatus::Pending;
    retried.retry_at = Some(chrono::Utc::now() + backoff(1));
    let mut sent = claimed.clone();
    sent.status = FiringStatus::Sent;
    let pattern = stream_filter();
    let wakes: Vec<bool> = [&recorded, &claimed, &retried, &sent]
        .into_iter()
        .map(|record| {
            let item = serde_dynamo::to_item(FiringItem::from_record(record, 4)).unwrap();
            matches_filter(&pattern, Some(&stream_image(&item)))
        })
        .collect();
    assert_eq!(
        wakes,
        [true, false, false, false],
        "only the new pending firing"
    );
}
