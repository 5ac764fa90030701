//! Lambda `evaluate`: the scheduled daily run. Wiring only: the rules are in `shared`.

use evaluate::config::Config;
use evaluate::handler::{Deps, handle};
use lambda_runtime::{Error, run, service_fn};
use shared::adapters::aws::{TrustRoots, load_sdk_config};
use shared::adapters::sns::Topics;
use shared::adapters::{DynamoStore, SnsPublisher};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    // Clients are built once per process, not per invocation.
    let sdk = load_sdk_config(TrustRoots::Amazon).await;
    let deps = Deps {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.names),
        topics: SnsPublisher::new(
            aws_sdk_sns::Client::new(&sdk),
            Topics {
                finance: config.finance_topic_arn,
                customer_messages: String::new(),
                commands: String::new(),
                alerts: config.alerts_topic_arn,
            },
        ),
        lookback_days: config.lookback_days,
    };
    run(service_fn(|event| handle(&deps, event))).await
}
