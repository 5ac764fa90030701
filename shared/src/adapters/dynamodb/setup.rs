//! Creating the table and its indexes (idempotent), for `rulekit setup` and the tests. In AWS
//! the SAM template creates the same table.

use super::keys;
use crate::adapters::aws::describe;
use crate::ports::StoreError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
};
use std::time::Duration;

fn failed(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::failed(format!("{what}: {e}"))
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| failed("key schema", e))
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| failed("attribute definition", e))
}

fn index(
    name: &str,
    pk: &str,
    sk: &str,
    projection: ProjectionType,
) -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(pk, KeyType::Hash)?)
        .key_schema(key(sk, KeyType::Range)?)
        .projection(Projection::builder().projection_type(projection).build())
        .build()
        .map_err(|e| failed("index", e))
}

/// Creates `table` unless it exists, and waits until it is active. Returns whether it was
/// created by this call.
pub async fn ensure_table(client: &Client, table: &str) -> Result<bool, StoreError> {
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(keys::PK, KeyType::Hash)?)
        .key_schema(key(keys::SK, KeyType::Range)?)
        // Episode indexes hold keys only: a state update that moves no episode then costs no
        // index write, and the daily run reads the few candidates' states from the table.
        .global_secondary_indexes(index(
            keys::EPISODES_INDEX,
            keys::EPISODES_PK,
            keys::EPISODES_SK,
            ProjectionType::KeysOnly,
        )?)
        .global_secondary_indexes(index(
            keys::CLOCKS_INDEX,
            keys::CLOCKS_PK,
            keys::CLOCKS_SK,
            ProjectionType::KeysOnly,
        )?)
        // The outbox is read whole by the executor; firing items change rarely.
        .global_secondary_indexes(index(
            keys::OUTBOX_INDEX,
            keys::OUTBOX_PK,
            keys::OUTBOX_SK,
            ProjectionType::All,
        )?)
        // The API lists a date's decisions with their status: one query, no reads back.
        .global_secondary_indexes(index(
            keys::DATES_INDEX,
            keys::DATES_PK,
            keys::DATES_SK,
            ProjectionType::All,
        )?)
        // The executor is fed by the stream of firing items.
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .map_err(|e| failed("stream", e))?,
        );
    for name in [
        keys::PK,
        keys::SK,
        keys::EPISODES_PK,
        keys::EPISODES_SK,
        keys::CLOCKS_PK,
        keys::CLOCKS_SK,
        keys::OUTBOX_PK,
        keys::OUTBOX_SK,
        keys::DATES_PK,
        keys::DATES_SK,
    ] {
        request = request.attribute_definitions(string_attribute(name)?);
    }
    let created = match request.send().await {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_in_use_exception()) =>
        {
            false
        }
        Err(e) => return Err(StoreError::failed(describe("CreateTable", &e))),
    };
    for _ in 0..120 {
        let out = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| StoreError::failed(describe("DescribeTable", &e)))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(created);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(StoreError::failed(format!(
        "table {table} did not become active"
    )))
}
