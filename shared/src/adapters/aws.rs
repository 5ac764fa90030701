//! AWS configuration shared by every adapter: one SDK config per process, built once at
//! start-up, and the resource names every command and function agrees on.
//!
//! The endpoint, region and credentials come from the standard AWS environment
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...), which is how the tests reach the
//! local emulator with no code change.

use crate::ports::StoreError;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use std::env;
use std::time::Duration;
use thiserror::Error;

/// The root certificates TLS trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustRoots {
    /// Amazon Trust Services' five roots, built in: every AWS service endpoint chains to one.
    /// What the Lambdas use: the platform's store is about 150 files read at every cold start,
    /// most of a 10 ms start-up budget.
    Amazon,
    /// The platform's store: `rulekit` on an operator's machine may reach any endpoint.
    Platform,
}

/// Amazon Root CA 1-4 and Starfield Services Root CA G2, in PEM.
pub const AMAZON_TRUST_ROOTS: &str = include_str!("amazon-trust-roots.pem");

/// How long one connection may take to open. DynamoDB, SNS and SQS answer from the same
/// region in milliseconds; a connection that takes seconds will not come.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one attempt of a call may take, from sending to the whole answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);
/// How long a call may take with its retries. Under API Gateway's 30-second limit with room
/// for a few calls; a stalled service becomes an error (503, a retried event), not a request
/// that hangs until the function is killed.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// Loads the SDK configuration with a single HTTPS client (rustls on ring) trusting `roots`,
/// and the bounded timeouts above for every call.
pub async fn load_sdk_config(roots: TrustRoots) -> SdkConfig {
    let trust = match roots {
        TrustRoots::Amazon => tls::TrustStore::empty().with_pem_certificate(AMAZON_TRUST_ROOTS),
        TrustRoots::Platform => tls::TrustStore::default(),
    };
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a TLS context from a trust store always builds");
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .load()
        .await
}

/// A failed AWS call, said in one line: the operation, then the service's error code and
/// message, or the chain of causes for a call that got no answer. Never the raw response,
/// which can echo the request (and so customer data) back into a log or a dead letter.
pub fn describe<E>(operation: &str, e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::ServiceError(se) => format!(
            "{operation}: {}: {}",
            se.err().code().unwrap_or("unknown error"),
            se.err().message().unwrap_or("no message")
        ),
        other => {
            let mut text = format!("{operation}: {other}");
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
    }
}

/// Whether a failed AWS call may succeed if made again: throttling, timeouts, connection
/// failures, server errors and transaction conflicts. (The SDK has already retried these a few
/// times with backoff; the caller decides whether to try later.)
pub fn is_retryable<E>(e: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => {
            se.raw().status().is_server_error()
                || matches!(
                    se.err().code(),
                    Some(
                        "ThrottlingException"
                            | "Throttling"
                            | "ProvisionedThroughputExceededException"
                            | "RequestLimitExceeded"
                            | "TransactionConflictException"
                            | "TransactionInProgressException"
                            | "InternalServerError"
                            | "ServiceUnavailable"
                            | "KMSThrottlingException"
                    )
                )
        }
        _ => false,
    }
}

/// A failed AWS call of a store adapter as a [`StoreError`], logged once: unreachable when no
/// answer came, unavailable when the answer says "later", failed otherwise.
pub fn store_error<E>(operation: &str, e: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let description = describe(operation, &e);
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            StoreError::unreachable(&description, e)
        }
        _ if is_retryable(&e) => StoreError::unavailable(&description, e),
        _ => StoreError::failed(description),
    }
}

pub const DEFAULT_TABLE: &str = "rulekit";
pub const DEFAULT_TOPIC_PREFIX: &str = "rulekit";
pub const DEFAULT_INDEX_SHARDS: u16 = 16;
pub const MAX_INDEX_SHARDS: u16 = 256;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

/// The names of RuleKit's AWS resources. Every command uses these defaults unless `RULEKIT_*`
/// variables override them (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceNames {
    /// `RULEKIT_TABLE`.
    pub table: String,
    /// `RULEKIT_TOPIC_PREFIX`: topics are `<prefix>-finance`, `<prefix>-customer-messages`,
    /// `<prefix>-commands`, `<prefix>-alerts`.
    pub topic_prefix: String,
    /// `RULEKIT_INDEX_SHARDS`: shards of the date-keyed indexes. Readers and writers must agree;
    /// changing it needs the indexed items rewritten.
    pub index_shards: u16,
}

impl ResourceNames {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// The names from any variable lookup (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let index_shards = match get("RULEKIT_INDEX_SHARDS") {
            None => DEFAULT_INDEX_SHARDS,
            Some(v) => match v.parse::<u16>() {
                Ok(n) if (1..=MAX_INDEX_SHARDS).contains(&n) => n,
                _ => {
                    return Err(ConfigError {
                        variable: "RULEKIT_INDEX_SHARDS",
                        reason: format!(
                            "must be a whole number from 1 to {MAX_INDEX_SHARDS}, got {v:?}"
                        ),
                    });
                }
            },
        };
        let non_empty = |variable: &'static str, default: &str| match get(variable) {
            None => Ok(default.to_owned()),
            Some(v) if !v.trim().is_empty() => Ok(v),
            Some(_) => Err(ConfigError {
                variable,
                reason: "must not be empty".to_owned(),
            }),
        };
        Ok(Self {
            table: non_empty("RULEKIT_TABLE", DEFAULT_TABLE)?,
            topic_prefix: non_empty("RULEKIT_TOPIC_PREFIX", DEFAULT_TOPIC_PREFIX)?,
            index_shards,
        })
    }

    pub fn topic_name(&self, channel: &str) -> String {
        format!("{}-{channel}", self.topic_prefix)
    }
}

/// Missed local dates the daily run catches up by default, and at most.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 7;
pub const MAX_LOOKBACK_DAYS: u32 = 60;

/// `RULEKIT_LOOKBACK_DAYS`, as the function and `rulekit evaluate` read it.
pub fn lookback_days(get: &impl Fn(&str) -> Option<String>) -> Result<u32, ConfigError> {
    match get("RULEKIT_LOOKBACK_DAYS") {
        None => Ok(DEFAULT_LOOKBACK_DAYS),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_LOOKBACK_DAYS).contains(&n) => Ok(n),
            _ => Err(ConfigError {
                variable: "RULEKIT_LOOKBACK_DAYS",
                reason: format!("must be a whole number from 1 to {MAX_LOOKBACK_DAYS}, got {v:?}"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use std::collections::HashMap;

    #[test]
    fn the_built_in_roots_are_amazons_five_certificates() {
        let certificates = CertificateDer::pem_slice_iter(AMAZON_TRUST_ROOTS.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("every block parses");
        assert_eq!(certificates.len(), 5);
        // Each names its issuer in clear in the DER: Amazon for the four roots, Starfield for
        // the cross-signer older clients chain to.
        let names = |needle: &[u8]| {
            certificates
                .iter()
                .filter(|c| c.as_ref().windows(needle.len()).any(|w| w == needle))
                .count()
        };
        assert_eq!(names(b"Amazon Root CA"), 4);
        assert_eq!(
            names(b"Starfield Services Root Certificate Authority - G2"),
            1
        );
    }

    fn names(vars: &[(&str, &str)]) -> Result<ResourceNames, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ResourceNames::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn when_nothing_is_set_should_use_the_default_names() {
        let n = names(&[]).unwrap();
        assert_eq!(n.table, "rulekit");
        assert_eq!(n.topic_name("finance"), "rulekit-finance");
        assert_eq!(n.index_shards, DEFAULT_INDEX_SHARDS);
    }

    #[test]
    fn when_the_shard_count_is_not_a_number_in_range_should_name_the_variable() {
        for bad in ["0", "-1", "lots", "257"] {
            let err = names(&[("RULEKIT_INDEX_SHARDS", bad)]).unwrap_err();
            assert_eq!(err.variable, "RULEKIT_INDEX_SHARDS");
        }
    }
}
