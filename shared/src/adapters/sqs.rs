//! `SqsDeadLetters`: events that can never be applied go, unchanged, to the ingest queue's
//! dead-letter queue with the reason as message attributes, so nothing is lost and an operator
//! can fix and redrive them.

use crate::adapters::aws::is_retryable;
use crate::domain::FieldErrors;
use crate::ports::{DeadLetters, StoreError};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
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
        .map_err(|e| StoreError::Failed(e.to_string()))
}

impl DeadLetters for SqsDeadLetters {
    async fn send(&self, body: &str, reasons: &FieldErrors) -> Result<(), StoreError> {
        let field = reasons.0.first().map_or("body", |e| e.field.as_str());
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes("rejected_field", attribute(field)?)
            .message_attributes("rejected_reason", attribute(&reasons.to_string())?)
            .send()
            .await
            .map_err(|e| {
                if is_retryable(&e) {
                    StoreError::Unavailable(Box::new(e))
                } else {
                    StoreError::Failed(format!("SendMessage: {}", DisplayErrorContext(&e)))
                }
            })?;
        Ok(())
    }
}
