//! Aging tables as recorded (SPEC §8.9): one item per tenant and date, `AGING#<date>` in the
//! tenant's partition, replaced when the date is recorded again.

use super::keys;
use super::store::{DynamoStore, from_item, to_item};
use crate::domain::aging::{AgingTable, Bucket, CurrencyAging};
use crate::domain::{Currency, TenantId};
use crate::ports::{AgingSnapshots, StoreError};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AgingItem {
    pk: String,
    sk: String,
    d: NaiveDate,
    /// Per currency: its code and, per bucket, the amount owed and the customers.
    cur: Vec<(String, [(i64, u64); 4])>,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::failed(format!("corrupt aging item: {what}"))
}

impl AgingSnapshots for DynamoStore {
    async fn record_aging(&self, tenant: &TenantId, table: &AgingTable) -> Result<(), StoreError> {
        let item = AgingItem {
            pk: keys::tenant_pk(tenant),
            sk: keys::aging_sk(table.date),
            d: table.date,
            cur: table
                .currencies
                .iter()
                .map(|c| {
                    let buckets = c.buckets.map(|b| (b.amount_minor, b.customers));
                    (c.currency.code().to_owned(), buckets)
                })
                .collect(),
        };
        self.put(to_item(&item)?).await
    }

    async fn aging_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Option<AgingTable>, StoreError> {
        let Some(item) = self
            .get(keys::tenant_pk(tenant), &keys::aging_sk(date))
            .await?
        else {
            return Ok(None);
        };
        let item: AgingItem = from_item(item)?;
        let currencies = item
            .cur
            .into_iter()
            .map(|(code, buckets)| {
                Ok(CurrencyAging {
                    currency: Currency::parse(&code).map_err(|_| corrupt("currency"))?,
                    buckets: buckets.map(|(amount_minor, customers)| Bucket {
                        amount_minor,
                        customers,
                    }),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(AgingTable {
            date: item.d,
            currencies,
        }))
    }
}
