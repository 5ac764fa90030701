//! Store failures against the entry points. A stalled DynamoDB (requests read, never
//! answered) meets bounded timeouts: the API answers 503, the ingest function leaves the
//! message for SQS to deliver again. A stored item that does not read answers 500. Each
//! failure is one log line that carries no customer data.

use aws_lambda_events::event::sqs::SqsEvent;
use e2e::{Env, call_api, emulator_endpoint, proxy, sqs_message};
use lambda_runtime::{Context, LambdaEvent};
use shared::adapters::MemoryDeadLetters;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

/// Log lines written while a guard is held, for the assertions.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures this thread's log lines until the guard is dropped.
    fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test]
async fn when_dynamodb_stalls_should_answer_503_retry_the_event_and_log_each_failure_once() {
    let env = Env::new("stalled").await;
    let stalled = proxy::start(
        &emulator_endpoint(),
        proxy::Faults {
            stall: true,
            ..Default::default()
        },
    )
    .await;
    let (logs, _guard) = Captured::start();

    // Without bounds, each of these would wait as long as the connection lives. Both run at
    // once: each waits out the same operation timeout.
    let bounded = Duration::from_secs(60);
    let api = api::router(
        env.store_via(&stalled.endpoint),
        api::identity::IdentitySource::DevHeaders,
    );
    let deps = ingest::handler::Deps {
        store: env.store_via(&stalled.endpoint),
        dead_letters: MemoryDeadLetters::new(),
    };
    let body = r#"{"event_id":"e1","tenant_id":"t1","customer_id":"cus-secret-42","type":"balance.changed","occurred_at":"2026-11-01T10:00:00Z","balance":{"amount_minor":-987654,"currency":"USD"}}"#;
    let mut batch = SqsEvent::default();
    batch.records = vec![sqs_message("m1", body)];
    let (answered, ingested) = tokio::join!(
        tokio::time::timeout(
            bounded,
            call_api(&api, "GET", "/v1/customers/cus-secret-42", None)
        ),
        tokio::time::timeout(
            bounded,
            ingest::handler::handle(&deps, LambdaEvent::new(batch, Context::default()))
        )
    );
    let (status, problem) = answered.expect("the API answers within its bounds");
    assert_eq!(status.as_u16(), 503, "{problem}");
    assert_eq!(
        problem["detail"],
        "the store is temporarily unavailable: try again"
    );
    let response = ingested
        .expect("the ingest function returns within its bounds")
        .unwrap();
    let failed: Vec<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    assert_eq!(failed, ["m1"], "left for SQS to deliver again");
    assert!(deps.dead_letters.letters().is_empty(), "nothing rejected");

    let lines = logs.lines();
    // The store's own line (the ingest function's per-message outcome line says it too).
    let store = |l: &&String| l.contains("shared::ports: store unreachable");
    assert_eq!(
        lines.iter().filter(store).count(),
        2,
        "one line per failed call (a GetItem, a BatchGetItem):\n{}",
        lines.join("\n")
    );
    for line in &lines {
        assert!(!line.contains("987654"), "an amount in a log line: {line}");
    }
}

#[tokio::test]
async fn when_a_stored_item_does_not_read_should_answer_500_and_log_it_once() {
    let env = Env::new("unreadable").await;
    let (logs, _guard) = Captured::start();
    // An automation whose document is not JSON (written by hand, or by a broken release).
    aws_sdk_dynamodb::Client::new(&env.sdk)
        .put_item()
        .table_name(&env.names.table)
        .item("pk", AttributeValue::S("T#t1".to_owned()))
        .item("sk", AttributeValue::S("A#a1".to_owned()))
        .item("doc", AttributeValue::S("{not json".to_owned()))
        .item("v", AttributeValue::N("1".to_owned()))
        .send()
        .await
        .unwrap();
    let api = api::router(env.store(), api::identity::IdentitySource::DevHeaders);

    let (status, problem) = call_api(&api, "GET", "/v1/automations", None).await;

    assert_eq!(status.as_u16(), 500, "{problem}");
    assert_eq!(problem["detail"], "internal error");
    let lines = logs.lines();
    let failed: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("store request failed"))
        .collect();
    assert_eq!(failed.len(), 1, "{}", lines.join("\n"));
    assert!(
        failed[0].contains("stored automation is not JSON"),
        "{}",
        failed[0]
    );
}
