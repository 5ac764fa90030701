//! The executor's handler with the real trigger fixtures, on the in-memory adapters. (The same
//! handler runs against the local AWS emulator in tests/e2e.)

use execute::config::Config;
use execute::handler::{Deps, handle};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use shared::adapters::{MemoryDeadLetters, MemoryPublisher, MemoryStore};
use synthetic::PastDueTenant;

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Customer c000 past due since 11-01, evaluated on 11-15: one pending firing (notify finance).
async fn one_pending_firing() -> MemoryStore {
    let store = MemoryStore::new();
    PastDueTenant::new(1, "2026-11-01T10:00:00Z")
        .seed_and_evaluate(&store, "2026-11-15")
        .await;
    store
}

#[tokio::test]
async fn when_triggered_by_the_stream_or_the_sweep_should_carry_out_each_firing_once() {
    let deps = Deps {
        store: one_pending_firing().await,
        publisher: MemoryPublisher::new(),
        failed: MemoryDeadLetters::new(),
        batch: 500,
    };
    let now = chrono::Utc::now();
    let stream = handle(
        &deps,
        LambdaEvent::new(fixture("dynamodb-stream-event.json"), Context::default()),
        now,
    )
    .await
    .unwrap();
    assert_eq!((stream.trigger, stream.report.sent), ("stream", 1));
    let sweep = handle(
        &deps,
        LambdaEvent::new(fixture("sweep-event.json"), Context::default()),
        now,
    )
    .await
    .unwrap();
    assert_eq!((sweep.trigger, sweep.report.sent), ("sweep", 0));
    assert_eq!(deps.publisher.published().len(), 1);
}

#[test]
fn when_a_topic_arn_is_missing_should_name_the_variable() {
    let err = Config::from_lookup(|k| match k {
        "RULEKIT_FINANCE_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:f".into()),
        _ => None,
    })
    .unwrap_err();
    assert_eq!(err.variable, "RULEKIT_CUSTOMER_MESSAGES_TOPIC_ARN");
}

#[test]
fn when_the_failed_firings_queue_is_missing_should_name_the_variable() {
    let err = Config::from_lookup(|k| match k {
        "RULEKIT_FAILED_FIRINGS_QUEUE_URL" => None,
        k if k.ends_with("_TOPIC_ARN") => Some(format!("arn:aws:sns:us-east-1:123456789012:{k}")),
        _ => None,
    })
    .unwrap_err();
    assert_eq!(err.variable, "RULEKIT_FAILED_FIRINGS_QUEUE_URL");
}
