//! The API's side of the store: versioned documents whose every change is one
//! `TransactWriteItems` with its audit entry, the audit log, and the dates index.

use super::items::{AuditItem, DocumentItem, FiringItem};
use super::keys;
use super::store::{DynamoStore, automation_from_doc, from_item, s, sdk, to_item};
use crate::domain::{AutomationId, TenantId, TenantSettings};
use crate::ports::{
    AdminStore, AuditEntry, FiringRecord, FiringStatus, RESOLVE_CHUNK, StoreError,
    StoredAutomation, Versioned, WriteOutcome,
};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use chrono::NaiveDate;

pub(super) fn build(
    put: aws_sdk_dynamodb::types::builders::PutBuilder,
) -> Result<TransactWriteItem, StoreError> {
    let put = put.build().map_err(|e| StoreError::failed(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

pub(crate) fn settings_from_doc(doc: &str) -> Result<TenantSettings, StoreError> {
    let value: serde_json::Value = serde_json::from_str(doc)
        .map_err(|_| StoreError::failed("stored settings are not JSON".to_owned()))?;
    TenantSettings::from_json(&value)
        .map_err(|e| StoreError::failed(format!("stored settings are not valid: {e}")))
}

fn stored_automation(item: DocumentItem) -> Result<StoredAutomation, StoreError> {
    Ok(StoredAutomation {
        automation: automation_from_doc(&item.doc)?,
        version: item.v,
        archived: item.arch,
    })
}

impl DynamoStore {
    /// A document put conditioned on the stored version (`None`: no item may exist; `Some(0)`:
    /// none may exist either, the defaults being version 0).
    fn versioned_put(
        &self,
        item: &DocumentItem,
        expected: Option<u64>,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = self.put_request(to_item(item)?);
        let put = match expected {
            None | Some(0) => put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", keys::PK),
            Some(v) => put
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "v")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
        };
        build(put)
    }

    fn audit_put(&self, audit: &AuditEntry) -> Result<TransactWriteItem, StoreError> {
        build(
            self.put_request(to_item(&AuditItem::from_entry(audit))?)
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", keys::PK),
        )
    }

    fn tenant_put(&self, tenant: &TenantId) -> Result<TransactWriteItem, StoreError> {
        build(self.put_request(to_item(&super::items::TenantItem {
            pk: keys::TENANTS_PK.to_owned(),
            sk: keys::tenant_sk(tenant),
            t: tenant.to_string(),
        })?))
    }

    /// Runs one transaction; a failed condition (or a conflicting transaction) is a conflict.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<WriteOutcome, StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(e) => {
                let cancelled = match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                        c.cancellation_reasons().iter().any(|r| {
                            matches!(
                                r.code(),
                                Some("ConditionalCheckFailed" | "TransactionConflict")
                            )
                        })
                    }
                    _ => false,
                };
                if cancelled {
                    Ok(WriteOutcome::Conflict)
                } else {
                    Err(sdk("TransactWriteItems", e))
                }
            }
        }
    }
}

impl AdminStore for DynamoStore {
    async fn automation(
        &self,
        tenant: &TenantId,
        id: &AutomationId,
    ) -> Result<Option<StoredAutomation>, StoreError> {
        self.get(keys::tenant_pk(tenant), &keys::automation_sk(id))
            .await?
            .map(|item| stored_automation(from_item(item)?))
            .transpose()
    }

    async fn list_automations(
        &self,
        tenant: &TenantId,
        after: Option<&AutomationId>,
        limit: usize,
    ) -> Result<Vec<StoredAutomation>, StoreError> {
        // Automation ids sort as their escaped keys do, so the page starts after `after`'s key.
        let mut out = Vec::new();
        let mut start = after.map(keys::automation_sk);
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(":pk", s(keys::tenant_pk(tenant)))
                .expression_attribute_values(":prefix", s(keys::AUTOMATION_SK_PREFIX))
                .consistent_read(true)
                .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000));
            if let Some(sk) = &start {
                query = query
                    .exclusive_start_key(keys::PK, s(keys::tenant_pk(tenant)))
                    .exclusive_start_key(keys::SK, s(sk.clone()));
            }
            let page = query.send().await.map_err(|e| sdk("Query", e))?;
            for item in page.items.unwrap_or_default() {
                let item: DocumentItem = from_item(item)?;
                start = Some(item.sk.clone());
                if !item.arch && out.len() < limit {
                    out.push(stored_automation(item)?);
                }
            }
            if out.len() >= limit || page.last_evaluated_key.is_none() {
                return Ok(out);
            }
        }
    }

    async fn write_automation(
        &self,
        next: &StoredAutomation,
        expected: Option<u64>,
        audit: &AuditEntry,
    ) -> Result<WriteOutcome, StoreError> {
        let a = &next.automation;
        let item = DocumentItem {
            pk: keys::tenant_pk(&a.tenant_id),
            sk: keys::automation_sk(&a.id),
            doc: a.to_json().to_string(),
            v: next.version,
            arch: next.archived,
        };
        self.transact(vec![
            self.versioned_put(&item, expected)?,
            self.audit_put(audit)?,
            self.tenant_put(&a.tenant_id)?,
        ])
        .await
    }

    async fn settings(&self, tenant: &TenantId) -> Result<Versioned<TenantSettings>, StoreError> {
        match self.get(keys::tenant_pk(tenant), keys::SETTINGS_SK).await? {
            None => Ok(Versioned {
                value: TenantSettings::defaults(tenant.clone()),
                version: 0,
            }),
            Some(item) => {
                let item: DocumentItem = from_item(item)?;
                Ok(Versioned {
                    value: settings_from_doc(&item.doc)?,
                    version: item.v,
                })
            }
        }
    }

    async fn write_settings(
        &self,
        next: &Versioned<TenantSettings>,
        audit: &AuditEntry,
    ) -> Result<WriteOutcome, StoreError> {
        let tenant = &next.value.tenant_id;
        let item = DocumentItem {
            pk: keys::tenant_pk(tenant),
            sk: keys::SETTINGS_SK.to_owned(),
            doc: next.value.to_json().to_string(),
            v: next.version,
            arch: false,
        };
        self.transact(vec![
            self.versioned_put(&item, Some(next.version.saturating_sub(1)))?,
            self.audit_put(audit)?,
            self.tenant_put(tenant)?,
        ])
        .await
    }

    async fn audit_log(
        &self,
        tenant: &TenantId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let (condition, bound) = match before {
            Some(id) => (
                "#pk = :pk AND #sk BETWEEN :prefix AND :bound",
                keys::audit_sk(id),
            ),
            None => ("#pk = :pk AND begins_with(#sk, :prefix)", String::new()),
        };
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(condition)
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(keys::tenant_pk(tenant)))
            .expression_attribute_values(":prefix", s(keys::AUDIT_SK_PREFIX))
            .scan_index_forward(false)
            .consistent_read(true)
            // One more, for the bound itself (BETWEEN includes it).
            .limit(i32::try_from(limit.clamp(1, 1000) + 1).unwrap_or(1001));
        if before.is_some() {
            query = query.expression_attribute_values(":bound", s(bound.clone()));
        }
        let page = query.send().await.map_err(|e| sdk("Query", e))?;
        page.items
            .unwrap_or_default()
            .into_iter()
            .map(from_item::<AuditItem>)
            .filter(|item| item.as_ref().map_or(true, |i| i.sk != bound))
            .take(limit)
            .map(|item| item?.into_entry(tenant))
            .collect()
    }

    async fn firings_on(
        &self,
        tenant: &TenantId,
        date: NaiveDate,
    ) -> Result<Vec<FiringRecord>, StoreError> {
        self.query_date_shards(|shard| keys::dates_pk(tenant, date, shard))
            .await?
            .into_iter()
            .map(|item| from_item::<FiringItem>(item)?.into_record())
            .collect()
    }

    async fn resolve_firings(
        &self,
        held: &[FiringRecord],
        from: FiringStatus,
        to: FiringStatus,
        audit: &AuditEntry,
    ) -> Result<usize, StoreError> {
        let mut moved = 0;
        for (n, chunk) in held.chunks(RESOLVE_CHUNK).enumerate() {
            let mut entry = audit.clone();
            if held.len() > RESOLVE_CHUNK {
                entry.id = format!("{}-{n:04}", audit.id);
            }
            // Each firing moves only if it is still `from`; one that is not (another operator
            // got there first) cancels the chunk, which is then retried without it.
            let mut pending: Vec<&FiringRecord> = chunk.iter().collect();
            let mut attempts = 0;
            while !pending.is_empty() {
                attempts += 1;
                if attempts > 5 {
                    return Err(StoreError::failed(
                        "firings kept changing while being resolved".to_owned(),
                    ));
                }
                let mut items = vec![self.audit_put(&entry)?];
                for record in &pending {
                    let mut next = (*record).clone();
                    next.status = to;
                    items.push(build(
                        self.put_request(to_item(&FiringItem::from_record(&next, self.shards))?)
                            .condition_expression("#st = :from")
                            .expression_attribute_names("#st", "st")
                            .expression_attribute_values(":from", s(from.as_str())),
                    )?);
                }
                if self.transact(items).await? == WriteOutcome::Written {
                    moved += pending.len();
                    break;
                }
                // Keep those still held, as read now.
                let mut still = Vec::new();
                for record in pending {
                    let d = &record.decision;
                    let item = self
                        .get(
                            keys::customer_pk(&d.tenant_id, &d.customer_id),
                            &keys::firing_sk(&d.automation_id, &d.episode, d.threshold_days),
                        )
                        .await?;
                    let held_now = match item {
                        Some(item) => from_item::<FiringItem>(item)?.st == from.as_str(),
                        None => false,
                    };
                    if held_now {
                        still.push(record);
                    }
                }
                pending = still;
            }
        }
        Ok(moved)
    }
}
