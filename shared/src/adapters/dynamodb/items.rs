//! Stored item shapes and their mapping to domain values. Items are plain serde structs turned
//! into DynamoDB attribute maps by `serde_dynamo`; attribute names are short because they count
//! toward the item size (a typical customer item stays well under 1 KB).

use super::keys;
use crate::domain::aging::{Charge, Charges};
use crate::domain::cancellation::{self, Cancellations, Fact};
use crate::domain::clock::ClockKind;
use crate::domain::customer::{BalancePoint, EndReason, EndedEpisode, Episode, SubscriptionState};
use crate::domain::decision::{Decision, Outcome, Plan, SkipReason};
use crate::domain::event::{
    CancellationRequest, CustomerProfile, Effective, PaymentFailure, SubscriptionStatus,
};
use crate::domain::invoice::{Invoice, Invoices, PaymentStop, StoppedClock};
use crate::domain::normalize::Normalized;
use crate::domain::quiet::{Dispute, Promise, Quiet};
use crate::domain::rollout::Arm;
use crate::domain::{
    AutomationId, Continuity, Currency, CustomerId, CustomerState, EventKey, Mode, Money, TenantId,
};
use crate::ports::{AuditEntry, CancelledAction, Delivery, FiringRecord, FiringStatus, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn corrupt(what: &str) -> StoreError {
    StoreError::failed(format!("stored item is not readable: {what}"))
}

fn key(s: &str) -> Result<EventKey, StoreError> {
    keys::parse_event_key(s).ok_or_else(|| corrupt("event key"))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BalanceAttr {
    /// Event key of the latest balance.
    pub k: String,
    /// Amount in minor units.
    pub m: i64,
    pub cur: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndedAttr {
    pub s: String,
    pub e: String,
    /// `paid` or `credited`.
    pub r: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriptionAttr {
    pub id: String,
    pub st: String,
    pub k: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileAttr {
    pub k: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NormalizedAttr {
    pub v: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub m: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PromiseAttr {
    pub k: String,
    pub u: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DisputeAttr {
    pub id: String,
    /// Event keys of the latest opening and closing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub o: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c: Option<String>,
}

/// One customer's state, with the keys of the episode indexes it belongs to while past due,
/// and of the quiet-release entry in the dates index once it has a quiet period.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomerItem {
    pub pk: String,
    pub sk: String,
    /// Optimistic-concurrency version: every commit requires the version it read.
    pub v: u64,
    pub t: String,
    pub c: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bal: Option<BalanceAttr>,
    /// Start of the `negative_balance` episode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pd: Option<String>,
    /// Start of the `no_improvement` clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<EndedAttr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subs: Vec<SubscriptionAttr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prof: Option<ProfileAttr>,
    /// The normalized metadata and the rules' version (SPEC §8.7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nm: Option<NormalizedAttr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ep_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ep_sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ck_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ck_sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr: Option<PromiseAttr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dsp: Vec<DisputeAttr>,
    /// The dates index also holds, per customer, where its latest quiet period ends
    /// (`keys::release_pk`, `keys::release_sk`), so the run after a release finds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fd_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fd_sk: Option<String>,
    /// The latest payment or invoice event applied (payment clocks are folded in order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invl: Option<String>,
    /// Invoices whose payment failed, with their clocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inv: Vec<InvoiceAttr>,
    /// Cancellation facts, in key order (`domain::cancellation`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cx: Vec<CancellationAttr>,
    /// Unpaid charges for aging (`domain::aging`), oldest first: instant (microseconds since
    /// the epoch) and unpaid minor units.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chg: Vec<(i64, i64)>,
    /// When the oldest charges were merged: the newest merged charge's instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chm: Option<i64>,
}

/// One cancellation fact: `f` is `r` (requested), `w` (withdrawn), `c` (confirmed) or `x`
/// (the subscription became canceled).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancellationAttr {
    pub k: String,
    pub s: String,
    pub f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rs: Option<String>,
    /// `i` when the request took effect at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ef: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pe: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub o: Option<String>,
}

impl CancellationAttr {
    fn of(e: &cancellation::Entry) -> Self {
        let mut attr = Self {
            k: keys::event_key(&e.key),
            s: e.subscription_id.clone(),
            f: String::new(),
            rs: None,
            ef: None,
            pe: None,
            o: None,
        };
        attr.f = match &e.fact {
            Fact::Requested(r) => {
                attr.rs = r.reason.clone();
                attr.ef = (r.effective == Effective::Immediate).then(|| "i".to_owned());
                attr.pe = r.period_end;
                "r"
            }
            Fact::Withdrawn { offer_id } => {
                attr.o = offer_id.clone();
                "w"
            }
            Fact::Confirmed => "c",
            Fact::Canceled => "x",
        }
        .to_owned();
        attr
    }

    fn into_entry(self) -> Result<cancellation::Entry, StoreError> {
        let fact = match self.f.as_str() {
            "r" => Fact::Requested(Arc::new(CancellationRequest {
                subscription_id: self.s.clone(),
                reason: self.rs,
                effective: match self.ef.as_deref() {
                    None => Effective::PeriodEnd,
                    Some("i") => Effective::Immediate,
                    Some(_) => return Err(corrupt("cancellation effective")),
                },
                period_end: self.pe,
            })),
            "w" => Fact::Withdrawn { offer_id: self.o },
            "c" => Fact::Confirmed,
            "x" => Fact::Canceled,
            _ => return Err(corrupt("cancellation fact")),
        };
        Ok(cancellation::Entry {
            key: key(&self.k)?,
            subscription_id: self.s,
            fact,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvoiceAttr {
    pub id: String,
    /// The running clock's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ck: Option<String>,
    /// The latest failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lf: Option<FailureAttr>,
    /// Failures in the running clock.
    pub n: u32,
    /// The latest failures' instants, microseconds since the epoch, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub f: Vec<i64>,
    /// The last stopped clock: start, end and `paid` or `voided`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub st: Option<EndedAttr>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailureAttr {
    pub m: i64,
    pub cur: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ac: Option<String>,
}

/// The customer's items in the payment-clock and cancellation indexes (`keys::started_sk`):
/// one per start instant, keys only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartedItem {
    pub pk: String,
    pub sk: String,
    pub ck_pk: String,
    pub ck_sk: String,
}

impl StartedItem {
    /// The entry of `StartIndex` slot `slot` at `start`.
    pub fn new(state: &CustomerState, slot: usize, start: DateTime<Utc>, shards: u16) -> Self {
        let shard = keys::shard(&state.customer_id, shards);
        let month = keys::month_bucket(start);
        Self {
            pk: keys::customer_pk(&state.tenant_id, &state.customer_id),
            sk: keys::started_sk(slot, start),
            ck_pk: keys::started_index_pk(&state.tenant_id, slot, &month, shard),
            ck_sk: keys::episode_index_sk(start, &state.customer_id),
        }
    }
}

/// Index partition policy codes.
pub fn policy_code(continuity: Continuity) -> &'static str {
    match continuity {
        Continuity::NegativeBalance => "NB",
        Continuity::NoImprovement => "NI",
    }
}

impl CustomerItem {
    pub fn from_state(state: &CustomerState, version: u64, shards: u16) -> Self {
        let shard = keys::shard(&state.customer_id, shards);
        let index = |continuity: Continuity| {
            state.episode(continuity).map(|e| {
                let start = e.start.occurred_at;
                (
                    keys::episode_index_pk(
                        &state.tenant_id,
                        policy_code(continuity),
                        &keys::month_bucket(start),
                        shard,
                    ),
                    keys::episode_index_sk(start, &state.customer_id),
                )
            })
        };
        let (ep_pk, ep_sk) = index(Continuity::NegativeBalance).unzip();
        let (ck_pk, ck_sk) = index(Continuity::NoImprovement).unzip();
        let quiet = state.quiet.as_deref();
        let (fd_pk, fd_sk) = quiet
            .and_then(|q| q.last_end())
            .map(|end| {
                (
                    keys::release_pk(&state.tenant_id, &keys::month_bucket(end), shard),
                    keys::release_sk(end, &state.customer_id),
                )
            })
            .unzip();
        Self {
            pk: keys::customer_pk(&state.tenant_id, &state.customer_id),
            sk: keys::STATE_SK.to_owned(),
            v: version,
            t: state.tenant_id.to_string(),
            c: state.customer_id.to_string(),
            bal: state.balance.as_ref().map(|b| BalanceAttr {
                k: keys::event_key(&b.key),
                m: b.balance.amount_minor,
                cur: b.balance.currency.code().to_owned(),
            }),
            pd: state.past_due.as_ref().map(|e| keys::event_key(&e.start)),
            clk: state.clock.as_ref().map(|e| keys::event_key(&e.start)),
            end: state.last_ended.as_ref().map(|e| EndedAttr {
                s: keys::event_key(&e.start),
                e: keys::event_key(&e.end),
                r: e.reason.as_str().to_owned(),
            }),
            subs: state
                .subscriptions
                .iter()
                .map(|s| SubscriptionAttr {
                    id: s.id.clone(),
                    st: s.status.as_str().to_owned(),
                    k: keys::event_key(&s.updated),
                })
                .collect(),
            prof: state.profile.as_ref().map(|p| ProfileAttr {
                k: keys::event_key(&p.0),
                created: p.1.created_at,
                meta: p.1.metadata.clone(),
                tags: p.1.tags.clone(),
            }),
            nm: state.normalized.as_ref().map(|n| NormalizedAttr {
                v: n.version,
                m: n.metadata.clone(),
            }),
            ep_pk,
            ep_sk,
            ck_pk,
            ck_sk,
            pr: quiet.and_then(|q| q.promise.as_ref()).map(|p| PromiseAttr {
                k: keys::event_key(&p.key),
                u: p.until,
                m: p.amount_minor,
            }),
            dsp: quiet
                .map(|q| {
                    q.disputes
                        .iter()
                        .map(|d| DisputeAttr {
                            id: d.id.clone(),
                            o: d.opened.as_ref().map(keys::event_key),
                            c: d.closed.as_ref().map(keys::event_key),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            fd_pk,
            fd_sk,
            invl: state.invoices.as_ref().map(|i| keys::event_key(&i.latest)),
            inv: state
                .invoices
                .iter()
                .flat_map(|i| i.list.iter())
                .map(|i| InvoiceAttr {
                    id: i.id.clone(),
                    ck: i.clock.as_ref().map(keys::event_key),
                    lf: i.latest.as_ref().map(|f| FailureAttr {
                        m: f.amount.amount_minor,
                        cur: f.amount.currency.code().to_owned(),
                        at: f.attempt,
                        fc: f.failure_code.clone(),
                        ac: f.advice_code.clone(),
                    }),
                    n: i.attempts,
                    f: i.failures.iter().map(DateTime::timestamp_micros).collect(),
                    st: i.stopped.as_ref().map(|s| EndedAttr {
                        s: keys::event_key(&s.start),
                        e: keys::event_key(&s.end),
                        r: s.reason.as_str().to_owned(),
                    }),
                })
                .collect(),
            cx: state
                .cancellations
                .iter()
                .flat_map(|c| c.entries.iter())
                .map(CancellationAttr::of)
                .collect(),
            chg: state
                .charges
                .iter()
                .flat_map(|c| c.unpaid.iter())
                .map(|c| (c.at.timestamp_micros(), c.unpaid_minor))
                .collect(),
            chm: state
                .charges
                .as_ref()
                .and_then(|c| c.merged_through)
                .map(|t| t.timestamp_micros()),
        }
    }

    pub fn into_state(self) -> Result<(CustomerState, u64), StoreError> {
        let balance = match self.bal {
            None => None,
            Some(b) => Some(BalancePoint {
                key: key(&b.k)?,
                balance: Money::new(
                    b.m,
                    Currency::parse(&b.cur).map_err(|_| corrupt("currency"))?,
                ),
            }),
        };
        let episode = |k: Option<String>| -> Result<Option<Episode>, StoreError> {
            k.map(|k| Ok(Episode { start: key(&k)? })).transpose()
        };
        let last_ended = match self.end {
            None => None,
            Some(e) => Some(Box::new(EndedEpisode {
                start: key(&e.s)?,
                end: key(&e.e)?,
                reason: match e.r.as_str() {
                    "paid" => EndReason::Paid,
                    "credited" => EndReason::Credited,
                    _ => return Err(corrupt("end reason")),
                },
            })),
        };
        let subscriptions = self
            .subs
            .into_iter()
            .map(|s| {
                let status = SubscriptionStatus::ALL
                    .iter()
                    .find(|(name, _)| *name == s.st)
                    .map(|(_, st)| *st)
                    .ok_or_else(|| corrupt("subscription status"))?;
                Ok(SubscriptionState {
                    id: s.id,
                    status,
                    updated: key(&s.k)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let profile = match self.prof {
            None => None,
            Some(p) => Some((
                key(&p.k)?,
                Arc::new(CustomerProfile {
                    created_at: p.created,
                    metadata: p.meta,
                    tags: p.tags,
                }),
            )),
        };
        let promise = self
            .pr
            .map(|p| -> Result<Promise, StoreError> {
                Ok(Promise {
                    key: key(&p.k)?,
                    until: p.u,
                    amount_minor: p.m,
                })
            })
            .transpose()?;
        let disputes = self
            .dsp
            .into_iter()
            .map(|d| -> Result<Dispute, StoreError> {
                let k = |k: Option<String>| k.map(|k| key(&k)).transpose();
                Ok(Dispute {
                    id: d.id,
                    opened: k(d.o)?,
                    closed: k(d.c)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let quiet = (promise.is_some() || !disputes.is_empty())
            .then(|| Box::new(Quiet { promise, disputes }));
        let invoices = match self.invl {
            None => None,
            Some(latest) => {
                let list = self
                    .inv
                    .into_iter()
                    .map(invoice)
                    .collect::<Result<Vec<_>, _>>()?;
                Some(Box::new(Invoices {
                    latest: key(&latest)?,
                    list,
                }))
            }
        };
        let cancellations = if self.cx.is_empty() {
            None
        } else {
            let entries = self
                .cx
                .into_iter()
                .map(CancellationAttr::into_entry)
                .collect::<Result<Vec<_>, _>>()?;
            Some(Box::new(Cancellations { entries }))
        };
        let instant =
            |t: i64| DateTime::from_timestamp_micros(t).ok_or_else(|| corrupt("charge instant"));
        let charges = if self.chg.is_empty() {
            None
        } else {
            let unpaid = self
                .chg
                .into_iter()
                .map(|(t, unpaid_minor)| {
                    Ok(Charge {
                        at: instant(t)?,
                        unpaid_minor,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Some(Box::new(Charges {
                unpaid,
                merged_through: self.chm.map(instant).transpose()?,
            }))
        };
        let state = CustomerState {
            charges,
            invoices,
            cancellations,
            tenant_id: TenantId::new(self.t),
            customer_id: CustomerId::new(self.c),
            balance,
            past_due: episode(self.pd)?,
            clock: episode(self.clk)?,
            last_ended,
            subscriptions: Arc::new(subscriptions),
            profile,
            normalized: self.nm.map(|n| {
                Box::new(Normalized {
                    version: n.v,
                    metadata: n.m,
                })
            }),
            quiet,
        };
        Ok((state, self.v))
    }
}

fn invoice(i: InvoiceAttr) -> Result<Invoice, StoreError> {
    let latest = match i.lf {
        None => None,
        Some(f) => Some(Arc::new(PaymentFailure {
            invoice_id: i.id.clone(),
            amount: Money::new(
                f.m,
                Currency::parse(&f.cur).map_err(|_| corrupt("currency"))?,
            ),
            attempt: f.at,
            failure_code: f.fc,
            advice_code: f.ac,
        })),
    };
    let failures =
        i.f.into_iter()
            .map(|t| DateTime::from_timestamp_micros(t).ok_or_else(|| corrupt("failure instant")))
            .collect::<Result<Vec<_>, _>>()?;
    let stopped = match i.st {
        None => None,
        Some(s) => Some(StoppedClock {
            start: key(&s.s)?,
            end: key(&s.e)?,
            reason: PaymentStop::parse(&s.r).ok_or_else(|| corrupt("stop reason"))?,
        }),
    };
    Ok(Invoice {
        clock: i.ck.as_deref().map(key).transpose()?,
        id: i.id,
        latest,
        attempts: i.n,
        failures,
        stopped,
    })
}

/// An event, stored twice: once under its id (unique per tenant) and once in its customer's log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventItem {
    pub pk: String,
    pub sk: String,
    /// The event's canonical JSON.
    pub ev: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryAttr {
    pub a: usize,
    pub id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelAttr {
    pub a: usize,
    pub r: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OwedAttr {
    pub m: i64,
    pub cur: String,
}

/// A final decision: a firing (with its execution status) or a settled skip.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FiringItem {
    pub pk: String,
    pub sk: String,
    pub t: String,
    pub c: String,
    pub a: String,
    pub date: NaiveDate,
    pub thr: u16,
    pub dpd: i64,
    pub since: NaiveDate,
    pub ep: String,
    pub mode: String,
    /// `fired`, `held`, `awaiting_approval` or `skipped`.
    pub out: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Decided after the step was first due.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    /// The step's name, when the automation names its steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// What the customer owed at the run: minor units and currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owed: Option<OwedAttr>,
    /// A firing's plan (`domain::decision::Plan`) as canonical JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The clock (`ClockKind::code`), absent for `negative_balance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ck: Option<String>,
    /// The clock's id (a payment clock's invoice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// The clock's segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seg: Option<String>,
    /// The clock's rollout arm (`treated`, `holdout`, `not_in_cohort`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
    /// The automation's version decided under (absent: before versions were recorded).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub av: u64,
    /// Actions the executor cancelled, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cx: Vec<CancelAttr>,
    pub st: String,
    pub att: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub del: Vec<DeliveryAttr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fl: Vec<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unc: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ob_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ob_sk: Option<String>,
    /// The dates index: every decision, by tenant and local date.
    pub fd_pk: String,
    pub fd_sk: String,
}

impl FiringItem {
    pub fn from_record(r: &FiringRecord, shards: u16) -> Self {
        let d = &r.decision;
        let pk = keys::customer_pk(&d.tenant_id, &d.customer_id);
        let sk = keys::firing_sk(&d.automation_id, &d.episode, d.threshold_days);
        let (out, reason, detail) = match &d.outcome {
            Outcome::Fired => ("fired", None, None),
            Outcome::Held => ("held", None, None),
            Outcome::AwaitingApproval => ("awaiting_approval", None, None),
            Outcome::Holdout => ("holdout", None, None),
            Outcome::Segmented => ("segmented", None, None),
            Outcome::Skipped { reason, detail } => (
                "skipped",
                Some(reason.code().to_owned()),
                Some(detail.clone()),
            ),
        };
        // Only firings waiting for the executor (in its shards) or for an approval (in the
        // tenant's approvals partition) are in the outbox: the index stays as small as the
        // backlog.
        let ob_pk = match r.status {
            FiringStatus::Pending | FiringStatus::Sending => {
                Some(keys::outbox_pk(keys::shard(&d.customer_id, shards)))
            }
            FiringStatus::AwaitingApproval => Some(keys::approvals_pk(&d.tenant_id)),
            _ => None,
        };
        let ob_sk = ob_pk.is_some().then(|| keys::outbox_sk(d.date, &pk, &sk));
        Self {
            t: d.tenant_id.to_string(),
            c: d.customer_id.to_string(),
            a: d.automation_id.to_string(),
            date: d.date,
            thr: d.threshold_days,
            dpd: d.days_past_due,
            since: d.past_due_since,
            ep: keys::event_key(&d.episode),
            mode: d.mode.as_str().to_owned(),
            out: out.to_owned(),
            reason,
            detail,
            late: d.late,
            step: d.step.as_deref().map(str::to_owned),
            owed: d.owed.map(|m| OwedAttr {
                m: m.amount_minor,
                cur: m.currency.code().to_owned(),
            }),
            plan: d.plan.as_ref().map(|p| p.to_json().to_string()),
            ck: d.clock.code().map(str::to_owned),
            cid: d.clock_id.as_deref().map(str::to_owned),
            seg: d.segment.as_deref().map(str::to_owned),
            arm: d.arm.map(|a| a.as_str().to_owned()),
            av: d.automation_version,
            cx: r
                .cancelled
                .iter()
                .map(|c| CancelAttr {
                    a: c.action,
                    r: c.reason.clone(),
                })
                .collect(),
            st: r.status.as_str().to_owned(),
            att: r.attempts,
            del: r
                .deliveries
                .iter()
                .map(|x| DeliveryAttr {
                    a: x.action,
                    id: x.message_id.clone(),
                })
                .collect(),
            claimed: r.claimed_at,
            retry: r.retry_at,
            fl: r.in_flight.clone(),
            unc: r.unconfirmed.clone(),
            ob_pk,
            ob_sk,
            fd_pk: keys::dates_pk(&d.tenant_id, d.date, keys::shard(&d.customer_id, shards)),
            fd_sk: format!("{sk}#{}", keys::escape(d.customer_id.as_str())),
            pk,
            sk,
        }
    }

    pub fn into_record(self) -> Result<FiringRecord, StoreError> {
        let outcome = match self.out.as_str() {
            "fired" => Outcome::Fired,
            "held" => Outcome::Held,
            "awaiting_approval" => Outcome::AwaitingApproval,
            "holdout" => Outcome::Holdout,
            "segmented" => Outcome::Segmented,
            "skipped" => Outcome::Skipped {
                reason: self
                    .reason
                    .as_deref()
                    .and_then(SkipReason::from_code)
                    .ok_or_else(|| corrupt("skip reason"))?,
                detail: self.detail.unwrap_or_default(),
            },
            _ => return Err(corrupt("outcome")),
        };
        let mode = Mode::ALL
            .iter()
            .find(|(name, _)| *name == self.mode)
            .map(|(_, m)| *m)
            .ok_or_else(|| corrupt("mode"))?;
        let owed = match self.owed {
            None => None,
            Some(o) => Some(Money::new(
                o.m,
                Currency::parse(&o.cur).map_err(|_| corrupt("currency"))?,
            )),
        };
        let plan = match self.plan {
            None => None,
            Some(text) => {
                let value: serde_json::Value =
                    serde_json::from_str(&text).map_err(|_| corrupt("plan"))?;
                Some(Arc::new(
                    Plan::from_json(&value).map_err(|_| corrupt("plan"))?,
                ))
            }
        };
        // A firing carries its plan; one without is not something this version wrote.
        if plan.is_none()
            && matches!(
                outcome,
                Outcome::Fired | Outcome::Held | Outcome::AwaitingApproval
            )
        {
            return Err(corrupt("a firing without its plan"));
        }
        let arm = match self.arm.as_deref() {
            None => None,
            Some(code) => Some(Arm::parse(code).ok_or_else(|| corrupt("arm"))?),
        };
        // A firing stored before decisions named their clock (`ck`) has it in its plan.
        let clock = match (&self.ck, &plan) {
            (None, Some(plan)) => plan.clock,
            (code, _) => ClockKind::from_code(code.as_deref()).ok_or_else(|| corrupt("clock"))?,
        };
        Ok(FiringRecord {
            decision: Decision {
                date: self.date,
                tenant_id: TenantId::new(self.t),
                customer_id: CustomerId::new(self.c),
                automation_id: AutomationId::new(self.a),
                threshold_days: self.thr,
                days_past_due: self.dpd,
                past_due_since: self.since,
                episode: key(&self.ep)?,
                mode,
                outcome,
                late: self.late,
                step: self.step.map(Arc::from),
                owed,
                plan,
                clock,
                clock_id: self.cid.map(Arc::from),
                segment: self.seg.map(Arc::from),
                arm,
                automation_version: self.av,
            },
            status: FiringStatus::parse(&self.st).ok_or_else(|| corrupt("status"))?,
            attempts: self.att,
            deliveries: self
                .del
                .into_iter()
                .map(|x| Delivery {
                    action: x.a,
                    message_id: x.id,
                })
                .collect(),
            claimed_at: self.claimed,
            retry_at: self.retry,
            in_flight: self.fl,
            cancelled: self
                .cx
                .into_iter()
                .map(|c| CancelledAction {
                    action: c.a,
                    reason: c.r,
                })
                .collect(),
            unconfirmed: self.unc,
        })
    }
}

/// A tenant document (settings or automation) kept as canonical JSON text, with its version
/// (the API's `ETag`; writes through the API are conditioned on it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocumentItem {
    pub pk: String,
    pub sk: String,
    pub doc: String,
    #[serde(default)]
    pub v: u64,
    /// An archived automation: kept, no longer run or listed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub arch: bool,
}

/// One audit entry under its tenant; `before`/`after` are canonical JSON text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditItem {
    pub pk: String,
    pub sk: String,
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub res: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl AuditItem {
    pub fn from_entry(e: &AuditEntry) -> Self {
        Self {
            pk: keys::tenant_pk(&e.tenant_id),
            sk: keys::audit_sk(&e.id),
            id: e.id.clone(),
            at: e.at,
            actor: e.actor.clone(),
            action: e.action.clone(),
            res: e.resource.clone(),
            before: e.before.as_ref().map(|v| v.to_string()),
            after: e.after.as_ref().map(|v| v.to_string()),
        }
    }

    pub fn into_entry(self, tenant: &TenantId) -> Result<AuditEntry, StoreError> {
        let json = |text: Option<String>| {
            text.map(|t| serde_json::from_str(&t).map_err(|_| corrupt("audit document")))
                .transpose()
        };
        Ok(AuditEntry {
            tenant_id: tenant.clone(),
            id: self.id,
            at: self.at,
            actor: self.actor,
            action: self.action,
            resource: self.res,
            before: json(self.before)?,
            after: json(self.after)?,
        })
    }
}

/// The registry entry that makes a tenant visible to the daily run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantItem {
    pub pk: String,
    pub sk: String,
    pub t: String,
}
