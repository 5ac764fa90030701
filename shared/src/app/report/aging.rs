//! The aging table (SPEC §8.9): drawn up from the states of the customers who owe, recorded
//! by the weekly job on its date, and read back for past dates, since states move on.

use crate::domain::aging::{AgingTable, BUCKETS, CurrencyAging};
use crate::domain::clock::ClockKind;
use crate::domain::{Continuity, Money, TenantId};
use crate::ports::{AutomationStore, CandidateSource, ReportRecords, StoreError};
use chrono::{Months, NaiveDate};
use serde_json::{Value, json};

/// How far back the table looks for the start of a customer's past-due episode: the index of
/// episodes is read by month, so the read is bounded. A customer past due for longer is
/// outside the table (by then a write-off, not a collection).
pub const HORIZON_MONTHS: u32 = 60;

/// The tenant's aging on local date `date`, from the states as they are now: every customer
/// past due (whose owed balance is what has charges), one read of the episode index.
pub async fn aging_now<S>(
    store: &S,
    tenant: &TenantId,
    date: NaiveDate,
) -> Result<AgingTable, StoreError>
where
    S: CandidateSource + AutomationStore,
{
    let calendar = store.tenant_settings(tenant).await?.calendar;
    let from = date
        .checked_sub_months(Months::new(HORIZON_MONTHS))
        .unwrap_or(date);
    let to = date.succ_opt().unwrap_or(date);
    let window = (calendar.start_of_day(from), calendar.start_of_day(to));
    let customers = store
        .clocks_started(
            tenant,
            ClockKind::PastDue(Continuity::NegativeBalance),
            &[window],
        )
        .await?;
    let mut table = AgingTable::new(date);
    for customer in &customers {
        if let Some(balance) = &customer.balance {
            table.add(
                balance.balance.currency,
                &customer.unpaid_charges(),
                &calendar,
            );
        }
    }
    Ok(table)
}

/// Draws up the table of `date` and records it: what the weekly job does for its date.
pub async fn record_aging<S>(
    store: &S,
    tenant: &TenantId,
    date: NaiveDate,
) -> Result<AgingTable, StoreError>
where
    S: CandidateSource + AutomationStore + ReportRecords,
{
    let table = aging_now(store, tenant, date).await?;
    store.record_aging(tenant, &table).await?;
    Ok(table)
}

/// The table of `date` for a reader whose local date is `today`: drawn up now for today, the
/// recorded one for an earlier date (`None` when none was recorded).
pub async fn aging_on<S>(
    store: &S,
    tenant: &TenantId,
    date: NaiveDate,
    today: NaiveDate,
) -> Result<Option<AgingTable>, StoreError>
where
    S: CandidateSource + AutomationStore + ReportRecords,
{
    if date == today {
        return aging_now(store, tenant, date).await.map(Some);
    }
    store.aging_on(tenant, date).await
}

fn money(amount_minor: i64, c: &CurrencyAging) -> Value {
    json!({
        "amount_minor": amount_minor,
        "currency": c.currency.code(),
        "amount": Money::new(amount_minor, c.currency).to_decimal_string(),
    })
}

/// The table as the API and the reports give it.
pub fn to_json(table: &AgingTable) -> Value {
    json!({
        "date": table.date.to_string(),
        "currencies": table.currencies.iter().map(|c| json!({
            "currency": c.currency.code(),
            "total": money(c.total_minor(), c),
            "customers": c.customers(),
            "buckets": BUCKETS.iter().zip(&c.buckets).map(|((name, _), b)| json!({
                "bucket": name,
                "owed": money(b.amount_minor, c),
                "customers": b.customers,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Per currency in either table and per bucket: the change of the amount owed and of the
/// customers from `start` to `end` (a currency absent from one counts as zero there).
pub fn change_json(start: &AgingTable, end: &AgingTable) -> Value {
    let mut currencies: Vec<_> = start
        .currencies
        .iter()
        .chain(&end.currencies)
        .map(|c| c.currency)
        .collect();
    currencies.sort();
    currencies.dedup();
    let rows: Vec<Value> = currencies
        .into_iter()
        .map(|currency| {
            let zero = CurrencyAging {
                currency,
                buckets: Default::default(),
            };
            let s = start.currency(currency).unwrap_or(&zero);
            let e = end.currency(currency).unwrap_or(&zero);
            json!({
                "currency": currency.code(),
                "total": money(e.total_minor() - s.total_minor(), e),
                "customers": e.customers() as i64 - s.customers() as i64,
                "buckets": BUCKETS.iter().enumerate().map(|(i, (name, _))| json!({
                    "bucket": name,
                    "owed": money(e.buckets[i].amount_minor - s.buckets[i].amount_minor, e),
                    "customers": e.buckets[i].customers as i64 - s.buckets[i].customers as i64,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!(rows)
}
