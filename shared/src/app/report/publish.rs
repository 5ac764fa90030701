//! The weekly schedule's work: each tenant's review of its last whole week, published to the
//! finance topic as plain text for email subscribers and JSON for queues (SPEC §8.9).

use super::{IsoWeek, Review, weekly_review};
use crate::domain::TenantId;
use crate::ports::{
    ActionPublisher, AdminStore, AutomationStore, CandidateSource, Destination, OutcomeStore,
    OutgoingMessage, PublishError, ReportRecords, StoreError,
};
use chrono::{DateTime, Days, Utc};
use serde_json::{Value, json};

/// SNS takes 256 KiB per message, the email text included; past this the JSON leaves out the
/// exception lists' items (their totals stay) and says so.
pub const MAX_BODY_BYTES: usize = 200 * 1024;

/// What one weekly run did.
#[derive(Debug, Default)]
pub struct Published {
    pub reviews: usize,
    /// Tenants whose review could not be read or published, with why.
    pub failed: Vec<(TenantId, String)>,
}

/// The week a review sent at `now` is about, in `tenant`'s zone: the one before the week of
/// the local date seven days back, so a schedule on Monday at noon UTC (Monday or Tuesday in
/// every zone) reviews the week that just ended everywhere.
pub fn review_week(local_today: chrono::NaiveDate) -> IsoWeek {
    IsoWeek::of(
        local_today
            .checked_sub_days(Days::new(7))
            .unwrap_or(local_today),
    )
}

/// Reviews every tenant's last whole week and publishes each review to the finance topic.
/// A tenant that fails is logged in the result and the others go on.
pub async fn publish_weekly_reviews<S, P>(
    store: &S,
    publisher: &P,
    now: DateTime<Utc>,
) -> Result<Published, StoreError>
where
    S: AutomationStore + AdminStore + OutcomeStore + ReportRecords + CandidateSource,
    P: ActionPublisher,
{
    let mut done = Published::default();
    for tenant in store.tenants().await? {
        match publish_one(store, publisher, &tenant, now).await {
            Ok(()) => done.reviews += 1,
            Err(e) => done.failed.push((tenant, e)),
        }
    }
    Ok(done)
}

async fn publish_one<S, P>(
    store: &S,
    publisher: &P,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> Result<(), String>
where
    S: AutomationStore + AdminStore + OutcomeStore + ReportRecords + CandidateSource,
    P: ActionPublisher,
{
    let settings = store
        .tenant_settings(tenant)
        .await
        .map_err(|e| e.to_string())?;
    let week = review_week(settings.calendar.local_date(now));
    // The week's closing aging table, dated the Monday after it (in a zone already on
    // Tuesday, the states are an hour or two into that day): the next review's opening one.
    super::aging::record_aging(store, tenant, week.next_monday())
        .await
        .map_err(|e| e.to_string())?;
    let review = weekly_review(store, tenant, week)
        .await
        .map_err(|e| e.to_string())?;
    let results = publisher
        .publish_batch(&[review_message(&review)])
        .await
        .map_err(|e: PublishError| e.to_string())?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(e),
        None => Err("the publisher answered nothing".to_owned()),
    }
}

/// The finance-topic message of `review`. Its attributes, for subscription filters, name the
/// tenant and the kind of message only.
pub fn review_message(review: &Review) -> OutgoingMessage {
    OutgoingMessage {
        destination: Destination::Finance,
        id: "0".to_owned(),
        subject: format!("RuleKit weekly review {}", review.week),
        body: bounded_body(review.to_json()),
        summary: review.summary_text(),
        attributes: vec![
            ("tenant_id".to_owned(), review.tenant_id.to_string()),
            ("report_type".to_owned(), "weekly_review".to_owned()),
        ],
    }
}

fn bounded_body(mut body: Value) -> Value {
    body["type"] = json!("report.weekly");
    if body.to_string().len() <= MAX_BODY_BYTES {
        return body;
    }
    if let Some(lists) = body["exceptions"].as_array_mut() {
        for list in lists {
            list["items"] = json!([]);
        }
    }
    body["exception_items_left_out"] = json!(true);
    body
}
