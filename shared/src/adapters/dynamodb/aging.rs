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
pub(crate) struct AgingItem {
    pk: String,
    sk: String,
    d: NaiveDate,
    /// Per currency: its code and, per bucket, the amount owed and the customers.
    cur: Vec<(String, [(i64, u64); 4])>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SkipsItem {
    pk: String,
    sk: String,
    /// Automation, step, condition and customers skipped.
    s: Vec<(String, String, String, u64)>,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::failed(format!("corrupt aging item: {what}"))
}

impl AgingItem {
    pub(crate) fn from_table(tenant: &TenantId, table: &AgingTable) -> Self {
        Self {
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
        }
    }

    pub(crate) fn into_table(self) -> Result<AgingTable, StoreError> {
        let currencies = self
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
        Ok(AgingTable {
            date: self.d,
            currencies,
        })
    }
}

impl SkipsItem {
    pub(crate) fn from_counts(tenant: &TenantId, date: NaiveDate, skips: &[SkipCount]) -> Self {
        Self {
            pk: keys::tenant_pk(tenant),
            sk: keys::skips_sk(date),
            s: skips
                .iter()
                .map(|k| {
                    let (a, st, c) = (&k.automation_id, &k.step, &k.condition);
                    (a.clone(), st.clone(), c.clone(), k.customers)
                })
                .collect(),
        }
    }

    pub(crate) fn into_counts(self) -> Vec<SkipCount> {
        self.s
            .into_iter()
            .map(|(automation_id, step, condition, customers)| SkipCount {
                automation_id,
                step,
                condition,
                customers,
            })
            .collect()
    }
}

impl ReportRecords for DynamoStore {
    async fn record_aging(&self, tenant: &TenantId, table: &AgingTable) -> Result<(), StoreError> {
        self.put(to_item(&AgingItem::from_table(tenant, table))?)
            .await
    }

    async fn aging_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Option<AgingTable>, StoreError> {
        match self
            .get(keys::tenant_pk(tenant), &keys::aging_sk(date))
            .await?
        {
            Some(item) => from_item::<AgingItem>(item)?.into_table().map(Some),
            None => Ok(None),
        }
    }

    async fn record_skips(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
        skips: &[SkipCount],
    ) -> Result<(), StoreError> {
        self.put(to_item(&SkipsItem::from_counts(tenant, date, skips))?)
            .await
    }

    async fn skips_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Vec<SkipCount>, StoreError> {
        match self
            .get(keys::tenant_pk(tenant), &keys::skips_sk(date))
            .await?
        {
            Some(item) => Ok(from_item::<SkipsItem>(item)?.into_counts()),
            None => Ok(Vec::new()),
        }
    }
}
