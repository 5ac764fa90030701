//! Lambda `ingest`: SQS batches of events into the customer store. Wiring only: the rules are
//! in `shared`.

use ingest::config::Config;
use ingest::handler::{Deps, handle};
use lambda_runtime::{Error, run, service_fn};
use shared::adapters::aws::{TrustRoots, load_sdk_config};
use shared::adapters::{DynamoStore, SqsDeadLetters};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    // Clients are built once per process, not per invocation.
    let sdk = load_sdk_config(TrustRoots::Amazon).await;
    let deps = Deps {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.names),
        dead_letters: SqsDeadLetters::new(
            aws_sdk_sqs::Client::new(&sdk),
            config.dead_letter_queue_url,
        ),
    };
    run(service_fn(|event| handle(&deps, event))).await
}
