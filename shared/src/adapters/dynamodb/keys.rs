//! The table's key layout, in one place (see `docs/data-model.md`).
//!
//! Every partition key of a tenant's own items starts with the tenant (`T#<tenant>`), so no key
//! built for one tenant can reach another's items. The shared partitions (the `TENANTS`
//! registry, the `OUTBOX#` index) carry the tenant inside their sort keys. Identifiers are escaped (`%` → `%25`, `#` → `%23`) so that an id
//! containing `#` can never be read as a key separator.

use crate::domain::{AutomationId, CustomerId, EventId, EventKey, TenantId};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use std::borrow::Cow;

pub const PK: &str = "pk";
pub const SK: &str = "sk";

/// Sparse index of `negative_balance` episodes by the UTC date they started on.
pub const EPISODES_INDEX: &str = "episodes";
pub const EPISODES_PK: &str = "ep_pk";
pub const EPISODES_SK: &str = "ep_sk";
/// Sparse index of `no_improvement` clocks by the UTC date they (re)started on.
pub const CLOCKS_INDEX: &str = "clocks";
pub const CLOCKS_PK: &str = "ck_pk";
pub const CLOCKS_SK: &str = "ck_sk";
/// Sparse index of firings waiting for the executor.
pub const OUTBOX_INDEX: &str = "outbox";
pub const OUTBOX_PK: &str = "ob_pk";
pub const OUTBOX_SK: &str = "ob_sk";
/// Every recorded decision by tenant and local date, for the API's firing lists.
pub const DATES_INDEX: &str = "dates";
pub const DATES_PK: &str = "fd_pk";
pub const DATES_SK: &str = "fd_sk";

pub const STATE_SK: &str = "STATE";
pub const EVENT_ID_SK: &str = "EVENT";
pub const SETTINGS_SK: &str = "SETTINGS";
pub const CHECKPOINT_SK: &str = "CHECKPOINT";
pub const TENANTS_PK: &str = "TENANTS";

pub fn escape(id: &str) -> Cow<'_, str> {
    if id.contains(['#', '%']) {
        Cow::Owned(id.replace('%', "%25").replace('#', "%23"))
    } else {
        Cow::Borrowed(id)
    }
}

pub fn unescape(part: &str) -> String {
    part.replace("%23", "#").replace("%25", "%")
}

/// `T#<tenant>`: the tenant's own items (settings, automations, counters).
pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("T#{}", escape(tenant.as_str()))
}

/// `T#<tenant>#C#<customer>`: one customer's state, event log and firings.
pub fn customer_pk(tenant: &TenantId, customer: &CustomerId) -> String {
    format!(
        "T#{}#C#{}",
        escape(tenant.as_str()),
        escape(customer.as_str())
    )
}

/// The customer's copy of an event, for replays after late data.
pub fn log_sk(event_id: &EventId) -> String {
    format!("E#{}", escape(event_id.as_str()))
}

pub const LOG_SK_PREFIX: &str = "E#";

/// `T#<tenant>#EVENT#<event id>`: makes event ids unique per tenant, whatever the customer.
pub fn event_id_pk(tenant: &TenantId, event_id: &EventId) -> String {
    format!(
        "T#{}#EVENT#{}",
        escape(tenant.as_str()),
        escape(event_id.as_str())
    )
}

pub fn automation_sk(automation: &AutomationId) -> String {
    format!("A#{}", escape(automation.as_str()))
}

pub const AUTOMATION_SK_PREFIX: &str = "A#";

/// `T#<tenant>#D#<date>#<shard>`: a partition of the dates index holding one shard of one
/// local date's decisions (sharded, so a run that decides for a million customers at once is
/// not one hot key).
pub fn dates_pk(tenant: &TenantId, date: NaiveDate, shard: u16) -> String {
    format!("T#{}#D#{date}#{shard:03}", escape(tenant.as_str()))
}

/// The audit entry's sort key under the tenant: its id sorts in time order.
pub fn audit_sk(id: &str) -> String {
    format!("{AUDIT_SK_PREFIX}{}", escape(id))
}

pub const AUDIT_SK_PREFIX: &str = "AUDIT#";

pub fn tenant_sk(tenant: &TenantId) -> String {
    format!("T#{}", escape(tenant.as_str()))
}

pub fn past_due_counter_sk(shard: u16) -> String {
    format!("PASTDUE#{shard:03}")
}

pub const PAST_DUE_COUNTER_PREFIX: &str = "PASTDUE#";

/// The tenant's count of customers with a running payment clock (`PAYFAIL#`), or with a
/// request to cancel unanswered (`CANCEL#`), per shard: by `StartIndex` slot.
pub fn started_counter_sk(slot: usize, shard: u16) -> String {
    format!("{}{shard:03}", STARTED_COUNTER_PREFIXES[slot])
}

pub const STARTED_COUNTER_PREFIXES: [&str; 2] = ["PAYFAIL#", "CANCEL#"];

/// An instant as fixed-width text that sorts in time order.
pub fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Width of [`instant`] for years 1000-9999.
const INSTANT_LEN: usize = 27;

/// An event key as one string: `<instant>#<event id>` (the id unescaped: the instant has a
/// fixed width, so the split is unambiguous).
pub fn event_key(key: &EventKey) -> String {
    format!("{}#{}", instant(key.occurred_at), key.event_id)
}

pub fn parse_event_key(s: &str) -> Option<EventKey> {
    let (at, rest) = (s.get(..INSTANT_LEN)?, s.get(INSTANT_LEN..)?);
    let id = rest.strip_prefix('#')?;
    let occurred_at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
    Some(EventKey {
        occurred_at,
        event_id: EventId::new(id),
    })
}

/// The firing of `automation` for an episode and a threshold. Sorted under the automation, so
/// one query returns what is settled for a customer and an automation.
pub fn firing_sk(automation: &AutomationId, episode: &EventKey, threshold: u16) -> String {
    format!(
        "F#{}#{}#{}#{threshold:04}",
        escape(automation.as_str()),
        instant(episode.occurred_at),
        escape(episode.event_id.as_str())
    )
}

/// A stopped clock under its customer (SPEC §8.9): by kind, clock id (`-` for none: ids are
/// never empty) and start, so a stop written again lands on the same item.
/// A recorded aging table's sort key in its tenant's partition.
pub fn aging_sk(date: NaiveDate) -> String {
    format!("AGING#{date}")
}

/// A daily run's recorded skip counts' sort key in its tenant's partition.
pub fn skips_sk(date: NaiveDate) -> String {
    format!("SKIPS#{date}")
}

pub fn stop_sk(kind: &str, clock_id: Option<&str>, start: &EventKey) -> String {
    format!(
        "O#{kind}#{}#{}#{}",
        clock_id.map_or(Cow::Borrowed("-"), escape),
        instant(start.occurred_at),
        escape(start.event_id.as_str())
    )
}

pub const STOP_SK_PREFIX: &str = "O#";

/// The prefix every firing's sort key starts with, under its customer.
pub const FIRING_SK_PREFIX: &str = "F#";

pub fn firing_sk_prefix(automation: &AutomationId) -> String {
    format!("F#{}#", escape(automation.as_str()))
}

/// A stable shard for a customer: FNV-1a, so every process and version agrees.
pub fn shard(customer: &CustomerId, shards: u16) -> u16 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in customer.as_str().bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(shards.max(1))) as u16
}

/// The month bucket (UTC, `YYYY-MM`) of an instant. Episode-index partitions are monthly:
/// the sort key (the start instant) already narrows every query to its window, so a finer
/// bucket would only multiply the queries, while a same-day burst is spread by the shards
/// whatever the bucket size.
pub fn month_bucket(t: DateTime<Utc>) -> String {
    t.format("%Y-%m").to_string()
}

/// Partition of the episode-start indexes: one per tenant, policy, UTC month and shard.
/// `policy` is `NB` (negative_balance) or `NI` (no_improvement).
pub fn episode_index_pk(tenant: &TenantId, policy: &str, month: &str, shard: u16) -> String {
    format!("T#{}#{policy}#{month}#{shard:03}", escape(tenant.as_str()))
}

/// Sort key in the episode-start indexes: the start instant, then the customer.
pub fn episode_index_sk(start: DateTime<Utc>, customer: &CustomerId) -> String {
    format!("{}#{}", instant(start), escape(customer.as_str()))
}

/// The customer's entry in the index of payment clocks (`PC#`, `StartIndex` slot 0) or
/// cancellation requests (`CR#`, slot 1) that started at `start` (one per instant, however
/// many invoices or subscriptions): an item of its own under the customer, since a customer
/// has up to 20 clocks and an item is indexed once.
pub fn started_sk(slot: usize, start: DateTime<Utc>) -> String {
    format!("{}{}", STARTED_SK_PREFIXES[slot], instant(start))
}

pub const STARTED_SK_PREFIXES: [&str; 2] = ["PC#", "CR#"];

/// Partition of the payment-clock (`PF`) or cancellation (`CR`) index, in the clocks index
/// beside `no_improvement`'s `NI` partitions: per tenant, UTC month and shard.
pub fn started_index_pk(tenant: &TenantId, slot: usize, month: &str, shard: u16) -> String {
    episode_index_pk(tenant, ["PF", "CR"][slot], month, shard)
}

/// Partition of the dates index that holds the tenant's quiet releases (customers, by the
/// instant their latest quiet period ends), per UTC month and shard like the episode indexes.
/// Firings use the other partitions of the index (`dates_pk`), which never start with `Q#`.
pub fn release_pk(tenant: &TenantId, month: &str, shard: u16) -> String {
    format!("Q#{}#{month}#{shard:03}", escape(tenant.as_str()))
}

/// Sort key of a quiet release: the instant, then the customer.
pub fn release_sk(end: DateTime<Utc>, customer: &CustomerId) -> String {
    episode_index_sk(end, customer)
}

/// A change-log entry's sort key under its customer: the instant, then the cause.
pub fn change_sk(at: DateTime<Utc>, cause: &str) -> String {
    format!("{CHANGE_SK_PREFIX}{}#{}", instant(at), escape(cause))
}

pub const CHANGE_SK_PREFIX: &str = "N#";

/// Partition of the dates index holding one shard of a tenant-local date's change-log
/// entries (beside the firings' `D#` partitions).
pub fn changes_pk(tenant: &TenantId, date: NaiveDate, shard: u16) -> String {
    format!("T#{}#N#{date}#{shard:03}", escape(tenant.as_str()))
}

/// Sort key of a change-log entry in the dates index: the instant, the customer, the cause.
pub fn changes_sk(at: DateTime<Utc>, customer: &CustomerId, cause: &str) -> String {
    format!(
        "{}#{}#{}",
        instant(at),
        escape(customer.as_str()),
        escape(cause)
    )
}

/// The re-normalization's checkpoint of one segment, under the tenant.
pub fn renormalization_sk(segment: u16) -> String {
    format!("{RENORMALIZATION_SK_PREFIX}{segment:03}")
}

pub const RENORMALIZATION_SK_PREFIX: &str = "RENORM#";

/// Partition of the outbox index.
pub fn outbox_pk(shard: u16) -> String {
    format!("OUTBOX#{shard:03}")
}

/// The tenant's partition of the outbox index that holds its firings awaiting approval: work
/// waiting for a person, beside the executor's shards (which never read it).
pub fn approvals_pk(tenant: &TenantId) -> String {
    format!("APPROVALS#{}", escape(tenant.as_str()))
}

/// Sort key in the outbox: oldest run date first.
pub fn outbox_sk(date: NaiveDate, customer_pk: &str, firing_sk: &str) -> String {
    format!("{date}#{customer_pk}#{firing_sk}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_an_id_contains_separators_should_not_collide_with_another_key() {
        let a = customer_pk(&TenantId::new("t#C#x"), &CustomerId::new("y"));
        let b = customer_pk(&TenantId::new("t"), &CustomerId::new("x#C#y"));
        assert_ne!(a, b);
        assert_eq!(unescape(&escape("50%#off")), "50%#off");
    }

    #[test]
    fn when_an_event_key_is_encoded_should_decode_to_the_same_key_and_sort_in_time_order() {
        let k = |t: &str, id: &str| EventKey {
            occurred_at: DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc),
            event_id: EventId::new(id),
        };
        let a = k("2026-11-01T10:00:00.5Z", "e#1");
        assert_eq!(parse_event_key(&event_key(&a)), Some(a.clone()));
        let b = k("2026-11-01T10:00:01Z", "a");
        assert!(event_key(&a) < event_key(&b));
    }

    #[test]
    fn when_a_million_customers_are_sharded_should_spread_them_evenly() {
        let shards = 16u16;
        let mut counts = vec![0u32; shards as usize];
        for n in 0..1_000_000 {
            counts[shard(&CustomerId::new(format!("cus_{n}")), shards) as usize] += 1;
        }
        let (min, max) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
        // A uniform spread puts 62,500 in each; allow 2%.
        assert!(f64::from(max) / f64::from(min) < 1.02, "{counts:?}");
    }
}
