//! Lambda `execute`: carries out pending firings through SNS. Wiring only: the rules are in
//! `shared`.

use execute::config::Config;
use execute::handler::{Deps, handle};
use lambda_runtime::{Error, run, service_fn};
use shared::adapters::aws::{TrustRoots, load_sdk_config};
use shared::adapters::{DynamoStore, SnsPublisher, SqsDeadLetters};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    // Clients are built once per process, not per invocation.
    let sdk = load_sdk_config(TrustRoots::Amazon).await;
    let deps = Deps {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.names),
        publisher: SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), config.topics),
        failed: SqsDeadLetters::new(
            aws_sdk_sqs::Client::new(&sdk),
            config.failed_firings_queue_url,
        ),
        batch: config.batch,
    };
    run(service_fn(|event| handle(&deps, event, chrono::Utc::now()))).await
}
