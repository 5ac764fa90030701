//! Stopped clocks (SPEC §8.9): one item per clock under its customer, `O#<kind>#<clock
//! id>#<start>`, put in the transaction of the event that stopped it. A report reads a
//! customer's with one query on the prefix `O#`.

use super::keys;
use super::store::{DynamoStore, from_item};
use crate::domain::outcome::{ClockStop, How, StopKind};
use crate::domain::{CustomerId, TenantId};
use crate::ports::{OutcomeStore, StoreError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StopItem {
    pub pk: String,
    pub sk: String,
    pub t: String,
    pub c: String,
    /// `past_due`, `payment_failed` or `cancellation_requested`.
    pub k: String,
    /// The invoice or subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// The event the clock started at and the one that stopped it (`keys::event_key`).
    pub st: String,
    pub en: String,
    pub how: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<String>,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::failed(format!("corrupt stop item: {what}"))
}

impl StopItem {
    pub(crate) fn from_stop(tenant: &TenantId, customer: &CustomerId, stop: &ClockStop) -> Self {
        Self {
            pk: keys::customer_pk(tenant, customer),
            sk: keys::stop_sk(stop.kind.as_str(), stop.clock_id.as_deref(), &stop.start),
            t: tenant.to_string(),
            c: customer.to_string(),
            k: stop.kind.as_str().to_owned(),
            cid: stop.clock_id.clone(),
            st: keys::event_key(&stop.start),
            en: keys::event_key(&stop.end),
            how: stop.how.as_str().to_owned(),
            offer: stop.offer_id.clone(),
        }
    }

    pub(crate) fn into_stop(self) -> Result<ClockStop, StoreError> {
        Ok(ClockStop {
            kind: StopKind::parse(&self.k).ok_or_else(|| corrupt("kind"))?,
            clock_id: self.cid,
            start: keys::parse_event_key(&self.st).ok_or_else(|| corrupt("start"))?,
            end: keys::parse_event_key(&self.en).ok_or_else(|| corrupt("end"))?,
            how: How::parse(&self.how).ok_or_else(|| corrupt("how"))?,
            offer_id: self.offer,
        })
    }
}

impl OutcomeStore for DynamoStore {
    async fn customer_stops(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<ClockStop>, StoreError> {
        self.query_prefix(keys::customer_pk(tenant, customer), keys::STOP_SK_PREFIX)
            .await?
            .into_iter()
            .map(|item| from_item::<StopItem>(item)?.into_stop())
            .collect()
    }
}
