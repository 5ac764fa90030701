//! `SqsDeadLetters`: an SQS dead-letter queue.
//!
//! - Events that can never be applied go, unchanged, to the ingest queue's dead-letter queue
//!   with the reason as message attributes, so nothing is lost and an operator can fix and
//!   redrive them.
//! - Firings that kept failing to publish go to the failed-firings queue as JSON (the firing
//!   record and the last error); the attributes carry only routing facts, no customer data.

use crate::adapters::aws::store_error;
use crate::domain::FieldErrors;
use crate::ports::{DeadLetters, FailedFirings, FiringRecord, StoreError};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;

/// SQS caps a message attribute value at 256 KB; reasons are short, but keep them bounded.
const MAX_REASON_LEN: usize = 1024;

#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    client: Client,
    queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, StoreError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value.chars().take(MAX_REASON_LEN).collect::<String>())
        .build()
        .map_err(|e| StoreError::failed(e.to_string()))
}

impl SqsDeadLetters {
    async fn send_message(
        &self,
        body: &str,
        attributes: &[(&str, &str)],
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body);
        for (name, value) in attributes {
            request = request.message_attributes(*name, attribute(value)?);
        }
        request
            .send()
            .await
            .map_err(|e| store_error("SendMessage", e))?;
        Ok(())
    }
}

impl DeadLetters for SqsDeadLetters {
    async fn send(&self, body: &str, reasons: &FieldErrors) -> Result<(), StoreError> {
        let field = reasons.0.first().map_or("body", |e| e.field.as_str());
        let reason = reasons.to_string();
        self.send_message(
            body,
            &[("rejected_field", field), ("rejected_reason", &reason)],
        )
        .await
    }
}

impl FailedFirings for SqsDeadLetters {
    async fn send(&self, record: &FiringRecord, last_error: &str) -> Result<(), StoreError> {
        let d = &record.decision;
        let body = serde_json::json!({
            "type": "firing.failed",
            "last_error": last_error,
            "firing": record.to_json(),
        });
        self.send_message(
            &body.to_string(),
            &[
                ("tenant_id", d.tenant_id.as_str()),
                ("automation_id", d.automation_id.as_str()),
            ],
        )
        .await
    }
}
