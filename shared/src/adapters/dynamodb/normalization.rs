//! The metadata change log and the re-normalization's reads and writes (SPEC §8.7).
//!
//! A change-log entry is one item under its customer (`N#<instant>#<cause>`), listed by
//! tenant-local date in the dates index (`T#<tenant>#N#<date>#<shard>`), and removed by the
//! table's TTL after [`CHANGE_LOG_DAYS`]. The re-normalization reads the customers with a
//! parallel Scan, one segment per checkpoint item under the tenant (`RENORM#<segment>`): the
//! one read of the whole table, since no index lists a tenant's customers and a job that
//! visits each of them once is what a Scan is for.

use super::admin::build;
use super::items::CustomerItem;
use super::keys;
use super::store::{DynamoStore, Item, from_item, s, sdk, to_item};
use crate::domain::normalize::{CHANGE_LOG_DAYS, Cause, Change, ChangeRecord};
use crate::domain::{CustomerId, EventId, TenantId};
use crate::ports::{
    NormalizationStore, ScanPage, Segment, SegmentProgress, StoreError, Versioned, WriteOutcome,
};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeItem {
    pub pk: String,
    pub sk: String,
    pub fd_pk: String,
    pub fd_sk: String,
    pub t: String,
    pub c: String,
    pub at: DateTime<Utc>,
    pub d: NaiveDate,
    pub rv: u64,
    /// The event that caused the changes; absent for the re-normalization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ev: Option<String>,
    pub ch: Vec<ChangeAttr>,
    /// When the table's TTL removes the entry (seconds since the epoch).
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeAttr {
    pub r: usize,
    pub ty: String,
    pub k: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<String>,
    pub o: String,
}

impl ChangeItem {
    pub(crate) fn from_record(r: &ChangeRecord, shards: u16) -> Self {
        let cause = r.cause_id();
        Self {
            pk: keys::customer_pk(&r.tenant_id, &r.customer_id),
            sk: keys::change_sk(r.at, &cause),
            fd_pk: keys::changes_pk(&r.tenant_id, r.date, keys::shard(&r.customer_id, shards)),
            fd_sk: keys::changes_sk(r.at, &r.customer_id, &cause),
            t: r.tenant_id.to_string(),
            c: r.customer_id.to_string(),
            at: r.at,
            d: r.date,
            rv: r.rules_version,
            ev: match &r.cause {
                Cause::Event(id) => Some(id.to_string()),
                Cause::Renormalization => None,
            },
            ch: r
                .changes
                .iter()
                .map(|c| ChangeAttr {
                    r: c.rule,
                    ty: c.rule_type.to_owned(),
                    k: c.key.clone(),
                    fk: c.from_key.clone(),
                    b: c.before.clone(),
                    a: c.after.clone(),
                    o: c.outcome.as_str().to_owned(),
                })
                .collect(),
            expires_at: (r.at + Duration::days(CHANGE_LOG_DAYS)).timestamp(),
        }
    }

    pub(crate) fn into_record(self) -> Result<ChangeRecord, StoreError> {
        let changes = self
            .ch
            .into_iter()
            .map(|c| {
                Change::from_parts(c.r, &c.ty, c.k, c.fk, c.b, c.a, &c.o)
                    .ok_or_else(|| StoreError::failed("stored change is not readable"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ChangeRecord {
            tenant_id: TenantId::new(self.t),
            customer_id: CustomerId::new(self.c),
            at: self.at,
            date: self.d,
            rules_version: self.rv,
            cause: match self.ev {
                Some(id) => Cause::Event(EventId::new(id)),
                None => Cause::Renormalization,
            },
            changes,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ProgressItem {
    pk: String,
    sk: String,
    seg: u16,
    of: u16,
    v: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cur: Option<String>,
    done: bool,
    n: u64,
    chg: u64,
    read: u64,
    at: DateTime<Utc>,
}

/// A scan's position as a cursor: the last key it evaluated, as JSON.
impl ProgressItem {
    pub(crate) fn from_progress(tenant: &TenantId, p: &SegmentProgress) -> Self {
        Self {
            pk: keys::tenant_pk(tenant),
            sk: keys::renormalization_sk(p.segment.index),
            seg: p.segment.index,
            of: p.segment.total,
            v: p.version,
            cur: p.cursor.clone(),
            done: p.done,
            n: p.customers,
            chg: p.changed,
            read: p.items_read,
            at: p.updated_at,
        }
    }

    pub(crate) fn into_progress(self) -> SegmentProgress {
        SegmentProgress {
            segment: Segment {
                index: self.seg,
                total: self.of,
            },
            version: self.v,
            cursor: self.cur,
            done: self.done,
            customers: self.n,
            changed: self.chg,
            items_read: self.read,
            updated_at: self.at,
        }
    }
}

fn cursor_of(key: &Item) -> Option<String> {
    let text = |name: &str| match key.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    serde_json::to_string(&[text(keys::PK)?, text(keys::SK)?]).ok()
}

fn start_key(cursor: &str) -> Result<Item, StoreError> {
    let [pk, sk]: [String; 2] = serde_json::from_str(cursor)
        .map_err(|_| StoreError::failed("the re-normalization's cursor is not readable"))?;
    Ok(Item::from([
        (keys::PK.to_owned(), s(pk)),
        (keys::SK.to_owned(), s(sk)),
    ]))
}

impl NormalizationStore for DynamoStore {
    async fn changes_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let mut records = self
            .query_date_shards(|shard| keys::changes_pk(tenant, date, shard))
            .await?
            .into_iter()
            .map(|item| from_item::<ChangeItem>(item)?.into_record())
            .collect::<Result<Vec<_>, _>>()?;
        records.sort_by(|a, b| (a.at, &a.customer_id).cmp(&(b.at, &b.customer_id)));
        Ok(records)
    }

    async fn customer_changes(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        self.query_prefix(keys::customer_pk(tenant, customer), keys::CHANGE_SK_PREFIX)
            .await?
            .into_iter()
            .map(|item| from_item::<ChangeItem>(item)?.into_record())
            .collect()
    }

    async fn scan_customers(
        &self,
        tenant: &TenantId,
        segment: Segment,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ScanPage, StoreError> {
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .segment(i32::from(segment.index))
            .total_segments(i32::from(segment.total.max(1)))
            .limit(i32::try_from(limit.clamp(1, 10_000)).unwrap_or(10_000))
            .filter_expression("#sk = :state AND #t = :t")
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_names("#t", "t")
            .expression_attribute_values(":state", s(keys::STATE_SK))
            .expression_attribute_values(":t", s(tenant.as_str()))
            .set_exclusive_start_key(cursor.map(start_key).transpose()?)
            .send()
            .await
            .map_err(|e| sdk("Scan", e))?;
        let customers = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let (value, version) = from_item::<CustomerItem>(item)?.into_state()?;
                Ok(Versioned { value, version })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(ScanPage {
            customers,
            next: out.last_evaluated_key.as_ref().and_then(cursor_of),
            items_read: u64::try_from(out.scanned_count).unwrap_or(0),
        })
    }

    async fn write_normalized(
        &self,
        state: &crate::domain::CustomerState,
        expected: u64,
        record: &ChangeRecord,
    ) -> Result<WriteOutcome, StoreError> {
        // The whole state item, as ingest writes it: its index attributes are derived from
        // the state, which only the normalized profile changed.
        let put = self
            .put_request(to_item(&CustomerItem::from_state(
                state,
                expected + 1,
                self.shards,
            ))?)
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "v")
            .expression_attribute_values(":v", AttributeValue::N(expected.to_string()));
        let log = self.put_request(to_item(&ChangeItem::from_record(record, self.shards))?);
        self.transact(vec![build(put)?, build(log)?]).await
    }

    async fn renormalization(&self, tenant: &TenantId) -> Result<Vec<SegmentProgress>, StoreError> {
        self.query_prefix(keys::tenant_pk(tenant), keys::RENORMALIZATION_SK_PREFIX)
            .await?
            .into_iter()
            .map(|item| Ok(from_item::<ProgressItem>(item)?.into_progress()))
            .collect()
    }

    async fn save_progress(
        &self,
        tenant: &TenantId,
        p: &SegmentProgress,
    ) -> Result<(), StoreError> {
        let item = ProgressItem::from_progress(tenant, p);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?))
            .send()
            .await
            .map_err(|e| sdk("PutItem", e))?;
        Ok(())
    }
}
