//! `SnsPublisher`: publishes messages to the finance, customer-messages, commands and alerts
//! topics with
//! `PublishBatch` (up to 10 per call), structured so email subscribers read the plain-language
//! summary and queue subscribers the JSON body.

use crate::adapters::aws::{ResourceNames, describe, is_retryable};
use crate::ports::{ActionPublisher, Destination, OutgoingMessage, PublishError};
use aws_sdk_sns::Client;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use serde_json::json;
use std::collections::HashMap;

/// The topic ARN of each destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    pub finance: String,
    pub customer_messages: String,
    /// Commands to the tenant's billing system.
    pub commands: String,
    pub alerts: String,
}

impl Topics {
    pub fn arn(&self, destination: Destination) -> &str {
        match destination {
            Destination::Finance => &self.finance,
            Destination::CustomerMessages => &self.customer_messages,
            Destination::Commands => &self.commands,
            Destination::Alerts => &self.alerts,
        }
    }
}

/// Creates the four topics unless they exist (CreateTopic is idempotent) and returns their
/// ARNs.
pub async fn ensure_topics(client: &Client, names: &ResourceNames) -> Result<Topics, PublishError> {
    let mut arns = Vec::new();
    for destination in [
        Destination::Finance,
        Destination::CustomerMessages,
        Destination::Commands,
        Destination::Alerts,
    ] {
        let out = client
            .create_topic()
            .name(names.topic_name(destination.as_str()))
            .send()
            .await
            .map_err(|e| PublishError::Failed(describe("CreateTopic", &e)))?;
        arns.push(out.topic_arn.unwrap_or_default());
    }
    let [finance, customer_messages, commands, alerts] = <[String; 4]>::try_from(arns)
        .map_err(|_| PublishError::Failed("expected four topics".to_owned()))?;
    Ok(Topics {
        finance,
        customer_messages,
        commands,
        alerts,
    })
}

#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: Client,
    topics: Topics,
}

impl SnsPublisher {
    pub fn new(client: Client, topics: Topics) -> Self {
        Self { client, topics }
    }

    fn entry(message: &OutgoingMessage) -> Result<PublishBatchRequestEntry, PublishError> {
        // MessageStructure=json: each protocol reads its own key, "default" for the rest.
        let structured = json!({
            "default": message.body.to_string(),
            "email": message.summary,
        });
        let attributes: HashMap<String, MessageAttributeValue> = message
            .attributes
            .iter()
            .map(|(name, value)| {
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(value)
                    .build()
                    .map(|v| (name.clone(), v))
                    .map_err(|e| PublishError::Failed(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        PublishBatchRequestEntry::builder()
            .id(&message.id)
            .message(structured.to_string())
            .message_structure("json")
            .subject(&message.subject)
            .set_message_attributes(Some(attributes))
            .build()
            .map_err(|e| PublishError::Failed(e.to_string()))
    }
}

impl ActionPublisher for SnsPublisher {
    async fn publish_batch(
        &self,
        batch: &[OutgoingMessage],
    ) -> Result<Vec<Result<String, String>>, PublishError> {
        let Some(first) = batch.first() else {
            return Ok(Vec::new());
        };
        if batch.iter().any(|m| m.destination != first.destination) {
            return Err(PublishError::Failed(
                "a batch must go to one destination".to_owned(),
            ));
        }
        let topic = self.topics.arn(first.destination);
        if topic.is_empty() {
            return Err(PublishError::Failed(format!(
                "no topic configured for {}",
                first.destination.as_str()
            )));
        }
        let entries = batch
            .iter()
            .map(Self::entry)
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .publish_batch()
            .topic_arn(topic)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                if is_retryable(&e) {
                    PublishError::Unavailable(Box::new(e))
                } else {
                    PublishError::Failed(describe("PublishBatch", &e))
                }
            })?;
        let mut results: HashMap<String, Result<String, String>> = HashMap::new();
        for ok in out.successful.unwrap_or_default() {
            if let (Some(id), Some(message_id)) = (ok.id, ok.message_id) {
                results.insert(id, Ok(message_id));
            }
        }
        for failed in out.failed.unwrap_or_default() {
            let reason = format!("{}: {}", failed.code, failed.message.unwrap_or_default());
            results.insert(failed.id, Err(reason));
        }
        Ok(batch
            .iter()
            .map(|m| {
                results
                    .remove(&m.id)
                    .unwrap_or_else(|| Err("no result for this message".to_owned()))
            })
            .collect())
    }
}

/// Finds the three topics `rulekit setup` made, without creating anything.
pub async fn find_topics(client: &Client, names: &ResourceNames) -> Result<Topics, PublishError> {
    let arns: Vec<String> = client
        .list_topics()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| PublishError::Failed(describe("ListTopics", &e)))?
        .into_iter()
        .filter_map(|t| t.topic_arn)
        .collect();
    let find = |destination: Destination| {
        let name = names.topic_name(destination.as_str());
        arns.iter()
            .find(|arn| arn.rsplit(':').next() == Some(name.as_str()))
            .cloned()
            .ok_or_else(|| {
                PublishError::Failed(format!("topic {name} not found: run `rulekit setup` first"))
            })
    };
    Ok(Topics {
        finance: find(Destination::Finance)?,
        customer_messages: find(Destination::CustomerMessages)?,
        commands: find(Destination::Commands)?,
        alerts: find(Destination::Alerts)?,
    })
}
