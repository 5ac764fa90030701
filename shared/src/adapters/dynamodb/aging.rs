//! What the runs record for the reports (SPEC §8.9): aging tables and the daily runs'
//! `condition_not_met` counts, one item per tenant and date in the tenant's partition
//! (`AGING#<date>`, `SKIPS#<date>`), replaced when the date is recorded again.

use super::keys;
use super::store::{DynamoStore, from_item, to_item};
use crate::domain::aging::{AgingTable, Bucket, CurrencyAging};
use crate::domain::{Currency, TenantId};
use crate::ports::{ReportRecords, SkipCount, StoreError};
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

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SkipsItem {
    pk: String,
    sk: String,
    /// Automation, step, condition and customers skipped.
    s: Vec<(String, String, String, u64)>,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::failed(format!("corrupt aging item: {what}"))
}

impl ReportRecords for DynamoStore {
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

    async fn record_skips(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
        skips: &[SkipCount],
    ) -> Result<(), StoreError> {
        let item = SkipsItem {
            pk: keys::tenant_pk(tenant),
            sk: keys::skips_sk(date),
            s: skips
                .iter()
                .map(|k| {
                    let (a, st, c) = (&k.automation_id, &k.step, &k.condition);
                    (a.clone(), st.clone(), c.clone(), k.customers)
                })
                .collect(),
        };
        self.put(to_item(&item)?).await
    }

    async fn skips_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Vec<SkipCount>, StoreError> {
        let Some(item) = self
            .get(keys::tenant_pk(tenant), &keys::skips_sk(date))
            .await?
        else {
            return Ok(Vec::new());
        };
        let item: SkipsItem = from_item(item)?;
        Ok(item
            .s
            .into_iter()
            .map(|(automation_id, step, condition, customers)| SkipCount {
                automation_id,
                step,
                condition,
                customers,
            })
            .collect())
    }
}
