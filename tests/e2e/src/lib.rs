//! Helpers for the end-to-end tests: the emulator's endpoint, fresh resources per test, a
//! fault-injecting, request-counting proxy, the fixtures, and calls of the API's router.
//!
//! These tests need the local AWS emulator. `scripts/test` starts moto server and exports
//! `AWS_ENDPOINT_URL`; without it the tests fail (they never skip).

pub mod contract;
pub mod failpoint;
pub mod proxy;

use aws_config::SdkConfig;
use shared::adapters::aws::{ResourceNames, TrustRoots, load_sdk_config};
use shared::adapters::dynamodb::setup::ensure_table;
use shared::adapters::sns::{Topics, ensure_topics};
use shared::adapters::{DynamoStore, SnsPublisher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// The emulator's endpoint; a test that needs it fails when it is not configured.
pub fn emulator_endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "AWS_ENDPOINT_URL is not set: the end-to-end tests run against the local AWS \
             emulator; run scripts/test, which starts moto server"
        ),
    }
}

/// Index shards used by the end-to-end tests: fewer than the default, because the emulator
/// answers each query slowly; the layout is the same.
pub const TEST_INDEX_SHARDS: u16 = 4;

/// Resource names no other test uses.
pub fn unique_names(test: &str) -> ResourceNames {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let prefix = format!("e2e-{test}-{}-{n}", std::process::id());
    ResourceNames {
        table: prefix.clone(),
        topic_prefix: prefix,
        index_shards: TEST_INDEX_SHARDS,
    }
}

/// SDK configuration for the emulator, from the standard AWS environment.
pub async fn sdk_config() -> SdkConfig {
    emulator_endpoint();
    load_sdk_config(TrustRoots::Platform).await
}

/// A fresh table and topics for one test.
pub struct Env {
    pub names: ResourceNames,
    pub sdk: SdkConfig,
    pub topics: Topics,
}

impl Env {
    /// Creates the resources on the emulator.
    pub async fn new(test: &str) -> Self {
        let names = unique_names(test);
        let sdk = sdk_config().await;
        ensure_table(&aws_sdk_dynamodb::Client::new(&sdk), &names.table)
            .await
            .expect("the emulator creates the table");
        let topics = ensure_topics(&aws_sdk_sns::Client::new(&sdk), &names)
            .await
            .expect("the emulator creates the topics");
        Self { names, sdk, topics }
    }

    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&self.sdk), &self.names)
    }

    /// The store, reached through `endpoint` (a proxy) instead of the emulator directly.
    pub fn store_via(&self, endpoint: &str) -> DynamoStore {
        // Set on the service's own config: it takes precedence over `AWS_ENDPOINT_URL`. The
        // proxy injects faults on purpose, so retries back off for milliseconds, not seconds.
        let config = aws_sdk_dynamodb::config::Builder::from(&self.sdk)
            .endpoint_url(endpoint)
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_initial_backoff(std::time::Duration::from_millis(5))
                    .with_max_backoff(std::time::Duration::from_millis(50)),
            )
            .build();
        DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), &self.names)
    }

    pub fn publisher(&self) -> SnsPublisher {
        SnsPublisher::new(aws_sdk_sns::Client::new(&self.sdk), self.topics.clone())
    }

    /// The publisher, reached through `endpoint` (a counting proxy).
    pub fn publisher_via(&self, endpoint: &str) -> SnsPublisher {
        let config = aws_sdk_sns::config::Builder::from(&self.sdk)
            .endpoint_url(endpoint)
            .build();
        SnsPublisher::new(aws_sdk_sns::Client::from_conf(config), self.topics.clone())
    }

    /// A new SQS queue; returns its URL and ARN.
    pub async fn queue(&self, name: &str) -> (String, String) {
        let sqs = self.sqs();
        let url = sqs
            .create_queue()
            .queue_name(format!("{}-{name}", self.names.table))
            .send()
            .await
            .expect("the emulator creates the queue")
            .queue_url
            .unwrap_or_default();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .unwrap_or_default()
            .remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .unwrap_or_default();
        (url, arn)
    }

    /// A new SQS queue subscribed to `topic_arn`; returns its URL. What the topic delivers can
    /// then be read from the queue.
    pub async fn subscribed_queue(&self, name: &str, topic_arn: &str) -> String {
        let (url, arn) = self.queue(name).await;
        self.sns()
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(arn)
            .send()
            .await
            .expect("the emulator subscribes the queue");
        url
    }

    /// Every message in a queue, received and deleted: each body with its message attributes.
    /// A receive may return fewer messages than wait (SQS samples its servers), so this stops
    /// only after a one-second long poll finds nothing.
    pub async fn receive_all(
        &self,
        queue_url: &str,
    ) -> Vec<(String, std::collections::BTreeMap<String, String>)> {
        let sqs = self.sqs();
        let mut received = Vec::new();
        loop {
            let messages = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive")
                .messages
                .unwrap_or_default();
            if messages.is_empty() {
                return received;
            }
            for m in messages {
                let attributes = m
                    .message_attributes()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.string_value().unwrap_or_default().to_owned()))
                    .collect();
                received.push((m.body().unwrap_or_default().to_owned(), attributes));
                if let Some(handle) = m.receipt_handle() {
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("delete");
                }
            }
        }
    }

    /// Every message body delivered to a queue from SNS: the `Message` of each envelope,
    /// parsed as JSON.
    pub async fn drain(&self, queue_url: &str) -> Vec<serde_json::Value> {
        self.receive_all(queue_url)
            .await
            .iter()
            .map(|(body, _)| {
                let envelope: serde_json::Value = serde_json::from_str(body).expect("SNS envelope");
                serde_json::from_str(envelope["Message"].as_str().unwrap_or_default())
                    .expect("message body")
            })
            .collect()
    }

    /// An SQS client reaching the emulator through `endpoint` (a counting proxy).
    pub fn sqs_via(&self, endpoint: &str) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::config::Builder::from(&self.sdk)
            .endpoint_url(endpoint)
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk)
    }
}

/// An SQS record as Lambda delivers it to the ingest function, carrying `body`, sent on
/// 2027-01-01: after everything the tests' events say they occurred or were received.
pub fn sqs_message(id: &str, body: &str) -> aws_lambda_events::event::sqs::SqsMessage {
    serde_json::from_value(serde_json::json!({
        "messageId": id, "receiptHandle": format!("rh-{id}"), "body": body,
        "eventSource": "aws:sqs", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:rulekit-ingest",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1798761600000"},
        "messageAttributes": {}
    }))
    .expect("a well-formed SQS record")
}

/// A path for a test's data file (the file store's), under the system's temporary directory
/// and named by the test and the process; whatever a previous run left there is removed.
pub fn scratch_data_file(test: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("rulekit-{test}-{}.sqlite", std::process::id()));
    remove_data_file(&path);
    path
}

/// Removes a data file and the write-ahead log SQLite keeps beside it while it is open.
pub fn remove_data_file(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
}

/// A file under the workspace's `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name)
}

/// A Lambda's real event fixture, `functions/<function>/fixtures/<name>`, parsed: the same
/// files the functions' own handler tests use.
pub fn event_fixture<T: serde::de::DeserializeOwned>(function: &str, name: &str) -> T {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../functions")
        .join(function)
        .join("fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Calls the API's router as an admin of tenant t1 (the `--dev-auth` headers), with an
/// optional JSON body: the status and the JSON answer (`null` when there is none). A PUT
/// replaces whatever is current (`If-Match: *`): these calls test the store, not
/// preconditions.
pub async fn call_api(
    router: &axum::Router,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (axum::http::StatusCode, serde_json::Value) {
    let if_match = (method == "PUT").then_some("*");
    call_api_with(router, method, path, if_match, body).await
}

/// [`call_api`] with the `If-Match` header given (or none).
pub async fn call_api_with(
    router: &axum::Router,
    method: &str,
    path: &str,
    if_match: Option<&str>,
    body: Option<serde_json::Value>,
) -> (axum::http::StatusCode, serde_json::Value) {
    use tower::ServiceExt;
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("x-dev-tenant", "t1")
        .header("x-dev-role", "admin")
        .header("content-type", "application/json");
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    let request = request
        .body(body.map_or_else(axum::body::Body::empty, |b| {
            axum::body::Body::from(b.to_string())
        }))
        .expect("a well-formed request");
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the whole answer");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}
