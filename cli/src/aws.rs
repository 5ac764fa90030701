//! The AWS side of the command: configuration from the standard AWS environment and the
//! `RULEKIT_*` names, and the adapters built from it.

use crate::Failure;
use shared::adapters::aws::{ResourceNames, TrustRoots, describe, load_sdk_config};
use shared::adapters::sns::{Topics, find_topics};
use shared::adapters::{DynamoStore, SnsPublisher};

pub struct Aws {
    pub names: ResourceNames,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Aws {
    pub async fn from_env() -> Result<Self, Failure> {
        let names = ResourceNames::from_env().map_err(|e| Failure::Input(format!("{e}\n")))?;
        let sdk = load_sdk_config(TrustRoots::Platform).await;
        if sdk.region().is_none() {
            return Err(Failure::Input(
                "AWS_REGION is not set: name the region of the table and topics (e.g. us-east-1)\n"
                    .to_owned(),
            ));
        }
        Ok(Self {
            names,
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            sns: aws_sdk_sns::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
        })
    }

    /// The store on the table `rulekit setup` made; fails if the table is missing.
    pub async fn store(&self) -> Result<DynamoStore, Failure> {
        let table = &self.names.table;
        self.dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| {
                let missing = e
                    .as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception());
                if missing {
                    Failure::Runtime(format!(
                        "table {table} not found: run `rulekit setup` first"
                    ))
                } else {
                    Failure::Runtime(format!(
                        "cannot reach DynamoDB: {}",
                        describe("DescribeTable", &e)
                    ))
                }
            })?;
        Ok(DynamoStore::new(self.dynamodb.clone(), &self.names))
    }

    pub async fn topics(&self) -> Result<Topics, Failure> {
        find_topics(&self.sns, &self.names)
            .await
            .map_err(|e| Failure::Runtime(e.to_string()))
    }

    pub async fn publisher(&self) -> Result<SnsPublisher, Failure> {
        Ok(SnsPublisher::new(self.sns.clone(), self.topics().await?))
    }
}
