//! Metadata normalization over the stored customers (SPEC §8.7): the re-normalization after
//! a rules change, and the preview of rules not yet saved.
//!
//! The re-normalization reads the tenant's customers in [`SEGMENTS`] segments, each resumed
//! from its own checkpoint, and writes only the profiles whose normalized metadata changes,
//! each conditional on the version it read: ingest goes on meanwhile, and a customer an event
//! changed in between is read again and normalized under the rules it now has. It is
//! idempotent: a customer already normalized by the current rules is left alone, so a run
//! stopped anywhere and started again normalizes each customer once. Nothing waits for it:
//! every reader of a profile normalizes a stale one itself (`evaluate`, the customer view).

use super::ingest::MAX_COMMIT_ATTEMPTS;
use crate::domain::normalize::{Cause, ChangeRecord, Normalization, Outcome};
use crate::domain::{CustomerState, TenantId, TenantSettings};
use crate::ports::{
    AutomationStore, CustomerStore, NormalizationStore, Segment, SegmentProgress, StoreError,
    Versioned, WriteOutcome,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// The segments a re-normalization reads in, concurrently.
pub const SEGMENTS: u16 = 4;

/// Items a page of the scan reads (DynamoDB counts every item it evaluates).
pub const PAGE_ITEMS: usize = 1_000;

/// How much of a re-normalization one call does: pages per segment, and no page started
/// after `deadline`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub pages: usize,
    pub page_items: usize,
    pub deadline: Option<std::time::Instant>,
}

impl Budget {
    /// Enough for any tenant: a call that runs until the re-normalization is done.
    pub const UNBOUNDED: Budget = Budget {
        pages: usize::MAX,
        page_items: PAGE_ITEMS,
        deadline: None,
    };

    /// Pages until `deadline`.
    pub fn until(deadline: std::time::Instant) -> Self {
        Self {
            deadline: Some(deadline),
            ..Self::UNBOUNDED
        }
    }

    fn exhausted(&self) -> bool {
        self.deadline
            .is_some_and(|d| std::time::Instant::now() >= d)
    }
}

/// Where a tenant's re-normalization stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The rules version the stored profiles are being brought to.
    pub version: u64,
    /// The checkpoints of that version's segments (fewer than [`SEGMENTS`] before all start).
    pub segments: Vec<SegmentProgress>,
}

impl Status {
    pub fn is_done(&self) -> bool {
        self.version == 0
            || self.segments.iter().filter(|s| s.done).count() == usize::from(SEGMENTS)
    }

    pub fn to_json(&self) -> Value {
        let sum = |f: fn(&SegmentProgress) -> u64| self.segments.iter().map(f).sum::<u64>();
        let state = if self.version == 0 {
            "none"
        } else if self.is_done() {
            "done"
        } else if self.segments.is_empty() {
            "pending"
        } else {
            "running"
        };
        json!({
            "rules_version": self.version,
            "state": state,
            "segments": SEGMENTS,
            "segments_done": self.segments.iter().filter(|s| s.done).count(),
            "customers_read": sum(|s| s.customers),
            "profiles_changed": sum(|s| s.changed),
            "items_read": sum(|s| s.items_read),
            "updated_at": self.segments.iter().map(|s| s.updated_at).max()
                .map(crate::domain::event::format_instant),
        })
    }
}

/// The tenant's re-normalization to `rules`' version: its checkpoints of that version.
pub async fn status<S: NormalizationStore>(
    store: &S,
    tenant: &TenantId,
    rules: &Normalization,
) -> Result<Status, StoreError> {
    let segments = store
        .renormalization(tenant)
        .await?
        .into_iter()
        .filter(|p| p.version == rules.version && p.segment.total == SEGMENTS)
        .collect();
    Ok(Status {
        version: rules.version,
        segments,
    })
}

/// Advances the tenant's re-normalization to its current rules by at most `budget`, every
/// segment at once, and says where it stands. `now` stamps the change log and checkpoints.
pub async fn renormalize<S: CustomerStore + NormalizationStore>(
    store: &S,
    settings: &TenantSettings,
    now: DateTime<Utc>,
    budget: Budget,
) -> Result<Status, StoreError> {
    let tenant = &settings.tenant_id;
    let current = status(store, tenant, &settings.normalization).await?;
    if current.is_done() {
        return Ok(current);
    }
    let runs = (0..SEGMENTS).map(|index| {
        let segment = Segment {
            index,
            total: SEGMENTS,
        };
        let progress = current
            .segments
            .iter()
            .find(|p| p.segment == segment)
            .cloned()
            .unwrap_or(SegmentProgress {
                segment,
                version: settings.normalization.version,
                cursor: None,
                done: false,
                customers: 0,
                changed: 0,
                items_read: 0,
                updated_at: now,
            });
        advance_segment(store, settings, progress, now, budget)
    });
    let segments = futures_util::future::try_join_all(runs).await?;
    Ok(Status {
        version: settings.normalization.version,
        segments,
    })
}

/// Advances the re-normalization of every tenant whose rules changed since its last one was
/// done, within `budget`: what the scheduled function does after the daily runs. One
/// tenant's failure stops no other's; each is returned with its status or its error.
pub async fn renormalize_tenants<S>(
    store: &S,
    now: DateTime<Utc>,
    budget: Budget,
) -> Result<Vec<(TenantId, Result<Status, StoreError>)>, StoreError>
where
    S: AutomationStore + CustomerStore + NormalizationStore,
{
    let mut out = Vec::new();
    for tenant in store.tenants().await? {
        let run = async {
            let settings = store.tenant_settings(&tenant).await?;
            if settings.normalization.version == 0 {
                return Ok(None);
            }
            renormalize(store, &settings, now, budget).await.map(Some)
        };
        match run.await {
            Ok(Some(status)) => out.push((tenant, Ok(status))),
            Ok(None) => {}
            Err(e) => out.push((tenant, Err(e))),
        }
    }
    Ok(out)
}

async fn advance_segment<S: CustomerStore + NormalizationStore>(
    store: &S,
    settings: &TenantSettings,
    mut progress: SegmentProgress,
    now: DateTime<Utc>,
    budget: Budget,
) -> Result<SegmentProgress, StoreError> {
    let tenant = &settings.tenant_id;
    for _ in 0..budget.pages {
        if progress.done || budget.exhausted() {
            break;
        }
        let page = store
            .scan_customers(
                tenant,
                progress.segment,
                progress.cursor.as_deref(),
                budget.page_items,
            )
            .await?;
        for customer in page.customers {
            if renormalize_customer(store, settings, customer, now).await? {
                progress.changed += 1;
            }
            progress.customers += 1;
        }
        progress.items_read += page.items_read;
        progress.done = page.next.is_none();
        progress.cursor = page.next;
        progress.updated_at = now;
        // After the page's writes: a run stopped before this line reads the page again,
        // and finds its customers normalized already.
        store.save_progress(tenant, &progress).await?;
    }
    Ok(progress)
}

/// Brings one customer's normalized profile to the tenant's rules; whether it was written.
async fn renormalize_customer<S: CustomerStore + NormalizationStore>(
    store: &S,
    settings: &TenantSettings,
    mut customer: Versioned<CustomerState>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let rules = &settings.normalization;
    for _ in 0..MAX_COMMIT_ATTEMPTS {
        let state = &customer.value;
        if state.is_normalized_under(rules) {
            return Ok(false);
        }
        let mut next = state.clone();
        let changes = next.normalize_profile(rules);
        // A report-only rule's finding (or a conflict, a default not added) is written even
        // when the metadata stays as it was: seeing it on the stored customers is what such a
        // rule is for. The state is written with it, at the new version, so a run started
        // again does not log it twice.
        let reports = changes.iter().any(|c| c.outcome != Outcome::Changed);
        if next.metadata() == state.metadata() && !reports {
            // The new rules make what the old ones made: nothing to write (a reader that
            // sees the old version normalizes it again, to the same).
            return Ok(false);
        }
        let record = ChangeRecord {
            tenant_id: state.tenant_id.clone(),
            customer_id: state.customer_id.clone(),
            at: now,
            date: settings.calendar.local_date(now),
            rules_version: rules.version,
            cause: Cause::Renormalization,
            changes,
        };
        match store
            .write_normalized(&next, customer.version, &record)
            .await?
        {
            WriteOutcome::Written => return Ok(true),
            // An event changed the customer since the scan read it: read it again.
            WriteOutcome::Conflict => {
                match store
                    .load_customer(&state.tenant_id, &state.customer_id)
                    .await?
                {
                    Some(again) => customer = again,
                    None => return Ok(false),
                }
            }
        }
    }
    Err(StoreError::unavailable(
        "re-normalizing a customer",
        "the customer kept changing under the re-normalization",
    ))
}

/// Customers a preview reads at most, and items of the table its scan reads at most (the
/// Scan reads other tenants' items too): beyond either, it says it saw a part, within an API
/// request's time.
pub const PREVIEW_CUSTOMERS: usize = 10_000;
pub const PREVIEW_ITEMS: u64 = 100_000;

/// Changes a preview shows per rule.
pub const PREVIEW_SAMPLE: usize = 5;

/// What `rules` would do to the tenant's stored customers (up to [`PREVIEW_CUSTOMERS`]):
/// per rule, how many profiles it changes (or, report-only, would change) and a sample of
/// its changes; and how many normalized profiles would differ from today's.
pub async fn preview<S: NormalizationStore>(
    store: &S,
    tenant: &TenantId,
    rules: &Normalization,
) -> Result<Value, StoreError> {
    // Per rule: the profiles it changes, and the sample.
    let mut per_rule: Vec<(usize, Vec<Value>)> = vec![(0, Vec::new()); rules.rules.len()];
    let (mut read, mut profiles, mut differ, mut complete) = (0usize, 0usize, 0usize, true);
    let mut items_read = 0u64;
    'segments: for index in 0..SEGMENTS {
        let segment = Segment {
            index,
            total: SEGMENTS,
        };
        let mut cursor: Option<String> = None;
        loop {
            if items_read >= PREVIEW_ITEMS {
                complete = false;
                break 'segments;
            }
            let page = store
                .scan_customers(tenant, segment, cursor.as_deref(), PAGE_ITEMS)
                .await?;
            items_read += page.items_read;
            for customer in &page.customers {
                if read == PREVIEW_CUSTOMERS {
                    complete = false;
                    break 'segments;
                }
                read += 1;
                let state = &customer.value;
                let Some(profile) = state.profile() else {
                    continue;
                };
                profiles += 1;
                let (metadata, changes) = rules.apply(&profile.metadata);
                if Some(&metadata) != state.metadata() {
                    differ += 1;
                }
                let mut counted = None;
                for change in changes {
                    let (customers, sample) = &mut per_rule[change.rule];
                    // A rule's changes come together, in rule order: count each rule once.
                    if counted != Some(change.rule) {
                        counted = Some(change.rule);
                        *customers += 1;
                    }
                    if sample.len() < PREVIEW_SAMPLE {
                        let mut v = change.to_json();
                        v["customer_id"] = json!(state.customer_id);
                        sample.push(v);
                    }
                }
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
    }
    Ok(json!({
        "customers_read": read,
        "profiles_read": profiles,
        "complete": complete,
        "profiles_changed": differ,
        "rules": rules.rules.iter().zip(per_rule).enumerate().map(|(i, (rule, (c, sample)))| json!({
            "rule": i,
            "type": rule.kind.type_name(),
            "enforce": rule.enforce,
            "profiles": c,
            "sample": sample,
        })).collect::<Vec<_>>(),
    }))
}
