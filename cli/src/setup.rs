//! `rulekit setup`: creates the table, its indexes and the SNS topics at the endpoint the
//! standard AWS environment names. Idempotent; prints what exists as JSON.

use crate::Failure;
use crate::aws::Aws;
use serde_json::json;
use shared::adapters::dynamodb::setup::ensure_table;
use shared::adapters::sns::ensure_topics;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<(), Failure> {
    crate::block_on(async {
        let aws = Aws::from_env().await?;
        let created = ensure_table(&aws.dynamodb, &aws.names.table)
            .await
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        let topics = ensure_topics(&aws.sns, &aws.names)
            .await
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        let report = json!({
            "table": {"name": aws.names.table, "created": created},
            "index_shards": aws.names.index_shards,
            "topics": {
                "finance": topics.finance,
                "customer-messages": topics.customer_messages,
                "commands": topics.commands,
                "alerts": topics.alerts,
            },
        });
        println!("{report:#}");
        Ok(())
    })
}
