//! Lambda `api`: the operators' HTTP API behind API Gateway (HTTP API, JWT authorizer).
//! Wiring only: the routes are in the library.

use api::config::Config;
use api::identity::IdentitySource;
use lambda_http::{Error, run};
use shared::adapters::DynamoStore;
use shared::adapters::aws::{TrustRoots, load_sdk_config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    // Clients are built once per process, not per invocation.
    let sdk = load_sdk_config(TrustRoots::Amazon).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.names);
    let identity = IdentitySource::Jwt(config.claims);
    run(api::router_with_console(store, identity, config.console)).await
}
