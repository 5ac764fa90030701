//! Balance, subscription and customer events (SPEC §2): their shape, their validation, and the
//! order they are applied in.

use super::calendar::YEARS;
use super::fields::{self, FieldErrors, Reader, join};
use super::ids::{CustomerId, EventId, MAX_ID_LEN, TenantId};
use super::money::{Currency, MAX_ABS_AMOUNT_MINOR, Money};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Limits that keep one customer's state small (it is stored as one item of about 1 KB).
pub const MAX_METADATA_ENTRIES: usize = 50;
pub const MAX_METADATA_KEY_LEN: usize = 64;
pub const MAX_METADATA_VALUE_LEN: usize = 512;
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_LEN: usize = 64;

/// The position of an event in a customer's log: by `occurred_at`, ties broken by `event_id`
/// (SPEC §2). Every fold over events uses this order, which is what makes the state a function
/// of the set of events rather than of their arrival order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey {
    pub occurred_at: DateTime<Utc>,
    pub event_id: EventId,
}

/// A subscription status as the billing system reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionStatus {
    Active,
    Trialing,
    PastDue,
    Paused,
    Canceled,
    Unpaid,
    Incomplete,
    IncompleteExpired,
}

impl SubscriptionStatus {
    pub const ALL: [(&'static str, SubscriptionStatus); 8] = [
        ("active", Self::Active),
        ("trialing", Self::Trialing),
        ("past_due", Self::PastDue),
        ("paused", Self::Paused),
        ("canceled", Self::Canceled),
        ("unpaid", Self::Unpaid),
        ("incomplete", Self::Incomplete),
        ("incomplete_expired", Self::IncompleteExpired),
    ];

    /// `active`, `trialing` and `past_due` count as an active subscription (SPEC §2): a
    /// `past_due` subscription is still one the customer uses and is billed for.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Active | Self::Trialing | Self::PastDue)
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map(|(name, _)| *name)
            .unwrap_or("unknown")
    }
}

/// Profile facts a `customer.updated` event carries; the latest event replaces them whole.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CustomerProfile {
    pub created_at: Option<DateTime<Utc>>,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventBody {
    /// The customer's balance after a change. `delta_minor` is informational only: the state is
    /// built from absolute balances, which is what makes arrival order irrelevant.
    BalanceChanged {
        balance: Money,
        delta_minor: Option<i64>,
    },
    SubscriptionUpdated {
        subscription_id: String,
        status: SubscriptionStatus,
    },
    /// Shared: rarer and larger than the others (every stored event is this enum's size),
    /// and the customer's state keeps the latest profile as the same allocation.
    CustomerUpdated(Arc<CustomerProfile>),
    /// The customer promised to pay by `until` (SPEC §8.2: a quiet period until then).
    PromiseToPay {
        until: DateTime<Utc>,
        amount_minor: Option<i64>,
    },
    /// A dispute was opened (a quiet period while it is open).
    DisputeOpened {
        dispute_id: String,
    },
    DisputeClosed {
        dispute_id: String,
    },
    /// A payment of an invoice failed (SPEC §8.1): starts the invoice's payment clock, or is
    /// one more attempt of a running one. Shared: the largest body, and rarer than balances.
    PaymentFailed(Arc<PaymentFailure>),
    /// A payment of an invoice succeeded: stops its clock (`paid`).
    PaymentSucceeded {
        invoice_id: String,
        amount: Money,
    },
    /// The invoice was voided: stops its clock (`voided`).
    InvoiceVoided {
        invoice_id: String,
    },
    /// The customer asked to cancel a subscription (SPEC §8.6): starts its cancellation
    /// clock, unless one runs or the request takes effect at once. Shared, as a failure is.
    CancellationRequested(Arc<CancellationRequest>),
    /// The customer withdrew the request (`withdrawn`), or accepted an offer
    /// (`offer_accepted`, when `offer_id` names it).
    CancellationWithdrawn {
        subscription_id: String,
        offer_id: Option<String>,
    },
    /// The customer insisted: the billing system cancels at once (`confirmed`).
    CancellationConfirmed {
        subscription_id: String,
    },
}

/// When a requested cancellation takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effective {
    /// At the end of the paid period: the time before it is the hold.
    PeriodEnd,
    /// At once: nothing is held.
    Immediate,
}

impl Effective {
    pub const ALL: [(&'static str, Effective); 2] = [
        ("period_end", Self::PeriodEnd),
        ("immediate", Self::Immediate),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PeriodEnd => "period_end",
            Self::Immediate => "immediate",
        }
    }
}

/// What a `cancellation.requested` event says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CancellationRequest {
    pub subscription_id: String,
    /// Why, as the billing system's cancel flow recorded it (`too_expensive`).
    pub reason: Option<String>,
    pub effective: Effective,
    /// The end of the paid period, when the billing system says: the hold never reaches past it.
    pub period_end: Option<DateTime<Utc>>,
}

/// What a `payment.failed` event says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PaymentFailure {
    pub invoice_id: String,
    /// What the attempt tried to collect (positive).
    pub amount: Money,
    /// The billing system's attempt number, when it sends one.
    pub attempt: Option<u32>,
    /// The processor's decline code, lower-case.
    pub failure_code: Option<String>,
    /// The processor's or network's retry advice.
    pub advice_code: Option<String>,
}

impl EventBody {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::BalanceChanged { .. } => "balance.changed",
            Self::SubscriptionUpdated { .. } => "subscription.updated",
            Self::CustomerUpdated(_) => "customer.updated",
            Self::PromiseToPay { .. } => "promise_to_pay.created",
            Self::DisputeOpened { .. } => "dispute.opened",
            Self::DisputeClosed { .. } => "dispute.closed",
            Self::PaymentFailed(_) => "payment.failed",
            Self::PaymentSucceeded { .. } => "payment.succeeded",
            Self::InvoiceVoided { .. } => "invoice.voided",
            Self::CancellationRequested(_) => "cancellation.requested",
            Self::CancellationWithdrawn { .. } => "cancellation.withdrawn",
            Self::CancellationConfirmed { .. } => "cancellation.confirmed",
        }
    }
}

/// A validated event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    pub key: EventKey,
    /// When the system learned of the event: decides which daily run first sees it.
    pub received_at: DateTime<Utc>,
    pub body: EventBody,
}

impl Event {
    pub fn event_id(&self) -> &EventId {
        &self.key.event_id
    }

    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.key.occurred_at
    }

    /// True when `other` carries the same event: everything but `received_at` is equal.
    /// `received_at` is when this copy arrived, so a redelivery may differ there and is still a
    /// duplicate; any other difference under the same id is a conflict.
    pub fn same_payload(&self, other: &Event) -> bool {
        self.tenant_id == other.tenant_id
            && self.customer_id == other.customer_id
            && self.key == other.key
            && self.body == other.body
    }

    /// Feeds what [`Event::same_payload`] compares (everything but `received_at`) to `state`:
    /// two events with the same payload hash alike, so a file's reused ids can be checked
    /// by fingerprint without holding its events.
    pub fn hash_payload<H: std::hash::Hasher>(&self, state: &mut H) {
        use std::hash::Hash;
        self.tenant_id.hash(state);
        self.customer_id.hash(state);
        self.key.hash(state);
        self.body.hash(state);
    }

    /// Parses and validates one event; every problem is reported with its field path.
    pub fn from_json(v: &Value) -> Result<Event, FieldErrors> {
        parse_event(v)
    }

    /// The canonical JSON form, which [`Event::from_json`] reads back to an equal event.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("event_id".into(), json!(self.key.event_id));
        obj.insert("tenant_id".into(), json!(self.tenant_id));
        obj.insert("customer_id".into(), json!(self.customer_id));
        obj.insert("type".into(), json!(self.body.type_name()));
        obj.insert(
            "occurred_at".into(),
            json!(format_instant(self.key.occurred_at)),
        );
        obj.insert(
            "received_at".into(),
            json!(format_instant(self.received_at)),
        );
        match &self.body {
            EventBody::BalanceChanged {
                balance,
                delta_minor,
            } => {
                let mut b = Map::new();
                b.insert("amount_minor".into(), json!(balance.amount_minor));
                b.insert("currency".into(), json!(balance.currency.code()));
                if let Some(d) = delta_minor {
                    b.insert("delta_minor".into(), json!(d));
                }
                obj.insert("balance".into(), Value::Object(b));
            }
            EventBody::SubscriptionUpdated {
                subscription_id,
                status,
            } => {
                obj.insert(
                    "subscription".into(),
                    json!({"id": subscription_id, "status": status.as_str()}),
                );
            }
            EventBody::PromiseToPay {
                until,
                amount_minor,
            } => {
                let mut p = Map::new();
                p.insert("until".into(), json!(format_instant(*until)));
                if let Some(a) = amount_minor {
                    p.insert("amount_minor".into(), json!(a));
                }
                obj.insert("promise".into(), Value::Object(p));
            }
            EventBody::DisputeOpened { dispute_id } | EventBody::DisputeClosed { dispute_id } => {
                obj.insert("dispute".into(), json!({"id": dispute_id}));
            }
            EventBody::PaymentFailed(f) => {
                let mut p = Map::new();
                p.insert("invoice_id".into(), json!(f.invoice_id));
                p.insert("amount_minor".into(), json!(f.amount.amount_minor));
                p.insert("currency".into(), json!(f.amount.currency.code()));
                if let Some(a) = f.attempt {
                    p.insert("attempt".into(), json!(a));
                }
                if let Some(c) = &f.failure_code {
                    p.insert("failure_code".into(), json!(c));
                }
                if let Some(c) = &f.advice_code {
                    p.insert("advice_code".into(), json!(c));
                }
                obj.insert("payment".into(), Value::Object(p));
            }
            EventBody::PaymentSucceeded { invoice_id, amount } => {
                obj.insert(
                    "payment".into(),
                    json!({"invoice_id": invoice_id, "amount_minor": amount.amount_minor,
                           "currency": amount.currency.code()}),
                );
            }
            EventBody::InvoiceVoided { invoice_id } => {
                obj.insert("invoice".into(), json!({"id": invoice_id}));
            }
            EventBody::CancellationRequested(c) => {
                let mut m = Map::new();
                m.insert("subscription_id".into(), json!(c.subscription_id));
                if let Some(reason) = &c.reason {
                    m.insert("reason".into(), json!(reason));
                }
                m.insert("effective".into(), json!(c.effective.as_str()));
                if let Some(end) = c.period_end {
                    m.insert("period_end".into(), json!(format_instant(end)));
                }
                obj.insert("cancellation".into(), Value::Object(m));
            }
            EventBody::CancellationWithdrawn {
                subscription_id,
                offer_id,
            } => {
                let mut m = Map::new();
                m.insert("subscription_id".into(), json!(subscription_id));
                if let Some(offer) = offer_id {
                    m.insert("offer_id".into(), json!(offer));
                }
                obj.insert("cancellation".into(), Value::Object(m));
            }
            EventBody::CancellationConfirmed { subscription_id } => {
                obj.insert(
                    "cancellation".into(),
                    json!({"subscription_id": subscription_id}),
                );
            }
            EventBody::CustomerUpdated(p) => {
                let mut c = Map::new();
                if let Some(t) = p.created_at {
                    c.insert("created_at".into(), json!(format_instant(t)));
                }
                if !p.metadata.is_empty() {
                    c.insert("metadata".into(), json!(p.metadata));
                }
                if !p.tags.is_empty() {
                    c.insert("tags".into(), json!(p.tags));
                }
                obj.insert("customer".into(), Value::Object(c));
            }
        }
        Value::Object(obj)
    }
}

/// RFC 3339 in UTC with the precision the instant needs (`2026-11-01T10:00:00Z`).
pub fn format_instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

const TOP_FIELDS: &[&str] = &[
    "event_id",
    "tenant_id",
    "customer_id",
    "type",
    "occurred_at",
    "received_at",
    "balance",
    "subscription",
    "customer",
    "promise",
    "dispute",
    "payment",
    "invoice",
    "cancellation",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum EventType {
    Balance,
    Subscription,
    Customer,
    Promise,
    DisputeOpened,
    DisputeClosed,
    PaymentFailed,
    PaymentSucceeded,
    InvoiceVoided,
    CancellationRequested,
    CancellationWithdrawn,
    CancellationConfirmed,
}

const EVENT_TYPES: [(&str, EventType); 12] = [
    ("balance.changed", EventType::Balance),
    ("subscription.updated", EventType::Subscription),
    ("customer.updated", EventType::Customer),
    ("promise_to_pay.created", EventType::Promise),
    ("dispute.opened", EventType::DisputeOpened),
    ("dispute.closed", EventType::DisputeClosed),
    ("payment.failed", EventType::PaymentFailed),
    ("payment.succeeded", EventType::PaymentSucceeded),
    ("invoice.voided", EventType::InvoiceVoided),
    ("cancellation.requested", EventType::CancellationRequested),
    ("cancellation.withdrawn", EventType::CancellationWithdrawn),
    ("cancellation.confirmed", EventType::CancellationConfirmed),
];

fn parse_event(v: &Value) -> Result<Event, FieldErrors> {
    let mut r = Reader::new();
    let Some(obj) = r.object("", v, TOP_FIELDS) else {
        return r.finish(None);
    };
    let event_id = r
        .required(obj, "", "event_id")
        .and_then(|v| r.text("event_id", v, MAX_ID_LEN))
        .map(EventId::new);
    let tenant_id = id_field(&mut r, obj, "tenant_id").map(TenantId::new);
    let customer_id = id_field(&mut r, obj, "customer_id").map(CustomerId::new);
    let kind = r
        .required(obj, "", "type")
        .and_then(|t| r.choice("type", t, &EVENT_TYPES));
    let occurred_at = r
        .required(obj, "", "occurred_at")
        .and_then(|t| instant(&mut r, "occurred_at", t));
    let received_at = match r.optional(obj, "received_at") {
        None => occurred_at,
        Some(t) => instant(&mut r, "received_at", t),
    };
    if let (Some(o), Some(rcv)) = (occurred_at, received_at)
        && rcv < o
    {
        r.error(
            "received_at",
            "must not be earlier than occurred_at: an event cannot be learned of before it happens",
        );
    }

    // Each type carries exactly its own payload object.
    let payload_field = |t: EventType| match t {
        EventType::Balance => "balance",
        EventType::Subscription => "subscription",
        EventType::Customer => "customer",
        EventType::Promise => "promise",
        EventType::DisputeOpened | EventType::DisputeClosed => "dispute",
        EventType::PaymentFailed | EventType::PaymentSucceeded => "payment",
        EventType::InvoiceVoided => "invoice",
        EventType::CancellationRequested
        | EventType::CancellationWithdrawn
        | EventType::CancellationConfirmed => "cancellation",
    };
    let body = kind.and_then(|kind| {
        let own = payload_field(kind);
        let mut told = Vec::new();
        for (_, other) in EVENT_TYPES {
            let name = payload_field(other);
            if name != own && obj.contains_key(name) && !told.contains(&name) {
                told.push(name);
                r.error(
                    name,
                    format!("is not allowed on a {:?} event", type_str(kind)),
                );
            }
        }
        let name = payload_field(kind);
        let payload = r.required(obj, "", name)?;
        match kind {
            EventType::Balance => balance_body(&mut r, payload),
            EventType::Subscription => subscription_body(&mut r, payload),
            EventType::Customer => customer_body(&mut r, payload),
            EventType::Promise => promise_body(&mut r, payload, occurred_at),
            EventType::DisputeOpened => dispute_id(&mut r, payload)
                .map(|dispute_id| EventBody::DisputeOpened { dispute_id }),
            EventType::DisputeClosed => dispute_id(&mut r, payload)
                .map(|dispute_id| EventBody::DisputeClosed { dispute_id }),
            EventType::PaymentFailed => payment_failed_body(&mut r, payload),
            EventType::PaymentSucceeded => payment_succeeded_body(&mut r, payload),
            EventType::InvoiceVoided => {
                let obj = r.object("invoice", payload, &["id"])?;
                r.required(obj, "invoice", "id")
                    .and_then(|id| r.text("invoice.id", id, MAX_ID_LEN))
                    .map(|id| EventBody::InvoiceVoided {
                        invoice_id: id.to_owned(),
                    })
            }
            EventType::CancellationRequested => cancellation_requested_body(&mut r, payload),
            EventType::CancellationWithdrawn => {
                let obj = r.object("cancellation", payload, &["subscription_id", "offer_id"])?;
                let subscription_id = cancellation_subscription(&mut r, obj);
                let offer_id = match r.optional(obj, "offer_id") {
                    None => Some(None),
                    Some(o) => r.id("cancellation.offer_id", o).map(|o| Some(o.to_owned())),
                };
                Some(EventBody::CancellationWithdrawn {
                    subscription_id: subscription_id?,
                    offer_id: offer_id?,
                })
            }
            EventType::CancellationConfirmed => {
                let obj = r.object("cancellation", payload, &["subscription_id"])?;
                cancellation_subscription(&mut r, obj)
                    .map(|subscription_id| EventBody::CancellationConfirmed { subscription_id })
            }
        }
    });

    let event = match (
        event_id,
        tenant_id,
        customer_id,
        occurred_at,
        received_at,
        body,
    ) {
        (Some(id), Some(tenant_id), Some(customer_id), Some(o), Some(rcv), Some(body)) => {
            Some(Event {
                tenant_id,
                customer_id,
                key: EventKey {
                    occurred_at: o,
                    event_id: id,
                },
                received_at: rcv,
                body,
            })
        }
        _ => None,
    };
    r.finish(event)
}

fn type_str(t: EventType) -> &'static str {
    EVENT_TYPES
        .iter()
        .find(|(_, k)| *k == t)
        .map(|(n, _)| *n)
        .unwrap_or_default()
}

fn id_field(r: &mut Reader, obj: &Map<String, Value>, key: &str) -> Option<String> {
    let v = r.required(obj, "", key)?;
    r.id(key, v).map(str::to_owned)
}

/// Instants are RFC 3339 with an explicit offset; a date or a local time without a zone is
/// ambiguous by hours, which is enough to move a customer across a day boundary.
fn instant(r: &mut Reader, path: &str, v: &Value) -> Option<DateTime<Utc>> {
    let Value::String(s) = v else {
        r.error(
            path,
            format!("must be a string, got {}", fields::type_name(v)),
        );
        return None;
    };
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => {
            let t = t.with_timezone(&Utc);
            let year = chrono::Datelike::year(&t);
            if YEARS.contains(&year) {
                Some(t)
            } else {
                r.error(
                    path,
                    format!("year {year} is outside {}-{}", YEARS.start(), YEARS.end()),
                );
                None
            }
        }
        Err(_) => {
            r.error(
                path,
                format!(
                    "must be an RFC 3339 timestamp with a time zone, e.g. \"2026-11-01T10:00:00Z\"; got {s:?}"
                ),
            );
            None
        }
    }
}

fn promise_body(
    r: &mut Reader,
    v: &Value,
    occurred_at: Option<DateTime<Utc>>,
) -> Option<EventBody> {
    let obj = r.object("promise", v, &["until", "amount_minor"])?;
    let until = r
        .required(obj, "promise", "until")
        .and_then(|u| instant(r, "promise.until", u))?;
    if occurred_at.is_some_and(|o| until <= o) {
        r.error(
            "promise.until",
            "must be after occurred_at: a promise to pay is for a time to come",
        );
        return None;
    }
    let amount_minor = match r.optional(obj, "amount_minor") {
        None => None,
        Some(a) => match amount(r, "promise.amount_minor", a)? {
            a if a > 0 => Some(a),
            _ => {
                r.error("promise.amount_minor", "must be a positive amount");
                return None;
            }
        },
    };
    Some(EventBody::PromiseToPay {
        until,
        amount_minor,
    })
}

/// The invoice id and the positive amount of a payment event.
fn payment_common(r: &mut Reader, obj: &Map<String, Value>) -> (Option<String>, Option<Money>) {
    let invoice_id = r
        .required(obj, "payment", "invoice_id")
        .and_then(|i| r.text("payment.invoice_id", i, MAX_ID_LEN))
        .map(str::to_owned);
    let amount_minor = r
        .required(obj, "payment", "amount_minor")
        .and_then(|a| amount(r, "payment.amount_minor", a))
        .and_then(|a| {
            if a > 0 {
                Some(a)
            } else {
                r.error(
                    "payment.amount_minor",
                    format!(
                        "must be a positive amount (what the payment tried to collect), got {a}"
                    ),
                );
                None
            }
        });
    let currency = r.required(obj, "payment", "currency").and_then(|c| {
        let code = r.text("payment.currency", c, 3)?;
        Currency::parse(code)
            .map_err(|reason| r.error("payment.currency", reason))
            .ok()
    });
    let money = amount_minor.zip(currency).map(|(a, c)| Money::new(a, c));
    (invoice_id, money)
}

fn payment_failed_body(r: &mut Reader, v: &Value) -> Option<EventBody> {
    let obj = r.object(
        "payment",
        v,
        &[
            "invoice_id",
            "amount_minor",
            "currency",
            "attempt",
            "failure_code",
            "advice_code",
        ],
    )?;
    let (invoice_id, amount) = payment_common(r, obj);
    let mut ok = true;
    let attempt = match r.optional(obj, "attempt") {
        None => None,
        Some(a) => match r.integer("payment.attempt", a, 1, 1_000) {
            Some(a) => Some(a as u32),
            None => {
                ok = false;
                None
            }
        },
    };
    let mut code = |key: &str| -> Option<String> {
        let path = format!("payment.{key}");
        let value = r.optional(obj, key)?;
        let text = r.text(&path, value, super::decline::MAX_CODE_LEN);
        match text {
            Some(c) if super::decline::is_code(c) => Some(c.to_owned()),
            Some(_) => {
                r.error(path, super::decline::CODE_RULE);
                ok = false;
                None
            }
            None => {
                ok = false;
                None
            }
        }
    };
    let failure_code = code("failure_code");
    let advice_code = code("advice_code");
    if !ok {
        return None;
    }
    Some(EventBody::PaymentFailed(Arc::new(PaymentFailure {
        invoice_id: invoice_id?,
        amount: amount?,
        attempt,
        failure_code,
        advice_code,
    })))
}

fn payment_succeeded_body(r: &mut Reader, v: &Value) -> Option<EventBody> {
    let obj = r.object("payment", v, &["invoice_id", "amount_minor", "currency"])?;
    let (invoice_id, amount) = payment_common(r, obj);
    Some(EventBody::PaymentSucceeded {
        invoice_id: invoice_id?,
        amount: amount?,
    })
}

fn cancellation_subscription(r: &mut Reader, obj: &Map<String, Value>) -> Option<String> {
    r.required(obj, "cancellation", "subscription_id")
        .and_then(|id| r.text("cancellation.subscription_id", id, MAX_ID_LEN))
        .map(str::to_owned)
}

fn cancellation_requested_body(r: &mut Reader, v: &Value) -> Option<EventBody> {
    let obj = r.object(
        "cancellation",
        v,
        &["subscription_id", "reason", "effective", "period_end"],
    )?;
    let subscription_id = cancellation_subscription(r, obj);
    // Reasons are codes a condition tests (`cancellation.reason`): the decline codes' shape.
    let reason = match r.optional(obj, "reason") {
        None => Some(None),
        Some(v) => match r.text("cancellation.reason", v, super::decline::MAX_CODE_LEN) {
            Some(c) if super::decline::is_code(c) => Some(Some(c.to_owned())),
            Some(_) => {
                r.error("cancellation.reason", super::decline::CODE_RULE);
                None
            }
            None => None,
        },
    };
    let effective = r
        .required(obj, "cancellation", "effective")
        .and_then(|e| r.choice("cancellation.effective", e, &Effective::ALL));
    let period_end = match r.optional(obj, "period_end") {
        None => Some(None),
        Some(t) => instant(r, "cancellation.period_end", t).map(Some),
    };
    Some(EventBody::CancellationRequested(Arc::new(
        CancellationRequest {
            subscription_id: subscription_id?,
            reason: reason?,
            effective: effective?,
            period_end: period_end?,
        },
    )))
}

fn dispute_id(r: &mut Reader, v: &Value) -> Option<String> {
    let obj = r.object("dispute", v, &["id"])?;
    r.required(obj, "dispute", "id")
        .and_then(|id| r.text("dispute.id", id, MAX_ID_LEN))
        .map(str::to_owned)
}

fn balance_body(r: &mut Reader, v: &Value) -> Option<EventBody> {
    let obj = r.object("balance", v, &["amount_minor", "currency", "delta_minor"])?;
    let amount_minor = r
        .required(obj, "balance", "amount_minor")
        .and_then(|a| amount(r, "balance.amount_minor", a));
    let currency = r.required(obj, "balance", "currency").and_then(|c| {
        let code = r.text("balance.currency", c, 3)?;
        Currency::parse(code)
            .map_err(|reason| r.error("balance.currency", reason))
            .ok()
    });
    let delta = r
        .optional(obj, "delta_minor")
        .map(|d| amount(r, "balance.delta_minor", d));
    let delta_minor = match delta {
        None => None,
        Some(None) => return None,
        Some(Some(d)) => Some(d),
    };
    Some(EventBody::BalanceChanged {
        balance: Money::new(amount_minor?, currency?),
        delta_minor,
    })
}

fn amount(r: &mut Reader, path: &str, v: &Value) -> Option<i64> {
    let Value::Number(n) = v else {
        r.error(
            path,
            format!(
                "must be an integer number of minor units, got {}",
                fields::type_name(v)
            ),
        );
        return None;
    };
    if fields::is_beyond_integers(n) {
        r.error(
            path,
            format!(
                "must be between -10^15 and 10^15 minor units, got {}",
                fields::OUT_OF_RANGE
            ),
        );
        return None;
    }
    if n.is_f64() {
        r.error(
            path,
            format!("must be an integer number of minor units (e.g. cents), got the decimal {n}"),
        );
        return None;
    }
    match n.as_i64() {
        Some(i) if i.abs() <= MAX_ABS_AMOUNT_MINOR => Some(i),
        _ => {
            r.error(
                path,
                format!("must be between -10^15 and 10^15 minor units, got {n}"),
            );
            None
        }
    }
}

fn subscription_body(r: &mut Reader, v: &Value) -> Option<EventBody> {
    let obj = r.object("subscription", v, &["id", "status"])?;
    let id = r
        .required(obj, "subscription", "id")
        .and_then(|i| r.text("subscription.id", i, MAX_ID_LEN))
        .map(str::to_owned);
    let status = r
        .required(obj, "subscription", "status")
        .and_then(|s| r.choice("subscription.status", s, &SubscriptionStatus::ALL));
    Some(EventBody::SubscriptionUpdated {
        subscription_id: id?,
        status: status?,
    })
}

fn customer_body(r: &mut Reader, v: &Value) -> Option<EventBody> {
    let obj = r.object("customer", v, &["created_at", "metadata", "tags"])?;
    let mut ok = true;
    let created_at = match r.optional(obj, "created_at") {
        None => None,
        Some(t) => {
            let parsed = instant(r, "customer.created_at", t);
            ok &= parsed.is_some();
            parsed
        }
    };
    let mut metadata = BTreeMap::new();
    if let Some(m) = r.optional(obj, "metadata") {
        match m {
            Value::Object(map) if map.len() <= MAX_METADATA_ENTRIES => {
                for (k, val) in map {
                    let path = join("customer.metadata", k);
                    if k.is_empty() || k.chars().count() > MAX_METADATA_KEY_LEN {
                        r.error(
                            &path,
                            format!("keys must be 1 to {MAX_METADATA_KEY_LEN} characters"),
                        );
                        ok = false;
                    } else if let Some(s) = r.text(&path, val, MAX_METADATA_VALUE_LEN) {
                        metadata.insert(k.clone(), s.to_owned());
                    } else {
                        ok = false;
                    }
                }
            }
            Value::Object(map) => {
                r.error(
                    "customer.metadata",
                    format!(
                        "must have at most {MAX_METADATA_ENTRIES} entries, got {}",
                        map.len()
                    ),
                );
                ok = false;
            }
            other => {
                r.error(
                    "customer.metadata",
                    format!(
                        "must be an object of strings, got {}",
                        fields::type_name(other)
                    ),
                );
                ok = false;
            }
        }
    }
    let mut tags = Vec::new();
    if let Some(t) = r.optional(obj, "tags") {
        match r.array("customer.tags", t, MAX_TAGS) {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    match r.text(&fields::index("customer.tags", i), item, MAX_TAG_LEN) {
                        Some(s) => tags.push(s.to_owned()),
                        None => ok = false,
                    }
                }
            }
            None => ok = false,
        }
    }
    // Tags are a set: their order and repetitions carry no meaning.
    tags.sort();
    tags.dedup();
    ok.then(|| {
        EventBody::CustomerUpdated(Arc::new(CustomerProfile {
            created_at,
            metadata,
            tags,
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(v: Value) -> Vec<(String, String)> {
        Event::from_json(&v)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    }

    fn balance_event(amount: Value) -> Value {
        json!({"event_id":"e1","tenant_id":"t1","customer_id":"c1","type":"balance.changed",
               "occurred_at":"2026-11-01T10:00:00Z","balance":{"amount_minor":amount,"currency":"USD"}})
    }

    #[test]
    fn when_an_event_is_valid_should_parse_and_default_received_at_to_occurred_at() {
        let e = Event::from_json(&balance_event(json!(-5000))).unwrap();
        assert_eq!(e.received_at, e.occurred_at());
        assert!(matches!(
            e.body,
            EventBody::BalanceChanged { balance, .. } if balance.amount_minor == -5000
        ));
    }

    #[test]
    fn when_the_amount_is_a_float_should_reject_naming_the_field() {
        let errs = errors_of(balance_event(json!(-50.5)));
        assert_eq!(errs[0].0, "balance.amount_minor");
        assert!(errs[0].1.contains("decimal"), "{errs:?}");
        // Even a float with no fraction is refused: the producer is sending floats.
        assert_eq!(
            errors_of(balance_event(json!(-50.0)))[0].0,
            "balance.amount_minor"
        );
    }

    #[test]
    fn when_the_amount_is_beyond_ten_to_the_fifteen_should_reject() {
        let errs = errors_of(balance_event(json!(1_000_000_000_000_001_i64)));
        assert_eq!(errs[0].0, "balance.amount_minor");
        assert!(errs[0].1.contains("10^15"));
        assert!(Event::from_json(&balance_event(json!(-1_000_000_000_000_000_i64))).is_ok());
    }

    #[test]
    fn when_the_amount_is_a_string_should_reject() {
        assert_eq!(
            errors_of(balance_event(json!("-50")))[0].0,
            "balance.amount_minor"
        );
    }

    #[test]
    fn when_the_currency_is_unknown_should_reject_naming_the_field() {
        let mut v = balance_event(json!(-1));
        v["balance"]["currency"] = json!("ABC");
        let errs = errors_of(v);
        assert_eq!(errs[0].0, "balance.currency");
        assert!(errs[0].1.contains("unknown currency"));
    }

    #[test]
    fn when_several_fields_are_wrong_should_report_every_one() {
        let v = json!({"event_id":"","tenant_id":"t1","type":"balance.changed",
                       "occurred_at":"yesterday","balance":{"amount_minor":1.5,"currency":"usd"},
                       "extra":1});
        let fields: Vec<String> = errors_of(v).into_iter().map(|(f, _)| f).collect();
        for expected in [
            "extra",
            "event_id",
            "customer_id",
            "occurred_at",
            "balance.amount_minor",
            "balance.currency",
        ] {
            assert!(
                fields.iter().any(|f| f == expected),
                "{expected} missing in {fields:?}"
            );
        }
    }

    #[test]
    fn when_received_before_it_occurred_should_reject() {
        let mut v = balance_event(json!(-1));
        v["received_at"] = json!("2026-11-01T09:59:59Z");
        assert_eq!(errors_of(v)[0].0, "received_at");
    }

    #[test]
    fn when_a_payload_of_another_type_is_present_should_reject() {
        let mut v = balance_event(json!(-1));
        v["subscription"] = json!({"id":"s1","status":"active"});
        assert_eq!(errors_of(v)[0].0, "subscription");
    }

    #[test]
    fn when_a_promise_or_dispute_is_malformed_should_name_the_field() {
        let promise = |p: Value| {
            json!({"event_id":"e4","tenant_id":"t1","customer_id":"c1",
                   "type":"promise_to_pay.created","occurred_at":"2026-09-10T00:00:00Z",
                   "promise":p})
        };
        for (payload, field) in [
            (json!({}), "promise.until"),
            (json!({"until":"2026-09-01T00:00:00Z"}), "promise.until"),
            (
                json!({"until":"2026-09-20T00:00:00Z","amount_minor":0}),
                "promise.amount_minor",
            ),
            (
                json!({"until":"2026-09-20T00:00:00Z","note":"x"}),
                "promise.note",
            ),
        ] {
            assert_eq!(errors_of(promise(payload.clone()))[0].0, field, "{payload}");
        }
        let dispute = json!({"event_id":"e5","tenant_id":"t1","customer_id":"c1",
            "type":"dispute.closed","occurred_at":"2026-09-10T00:00:00Z","dispute":{}});
        assert_eq!(errors_of(dispute)[0].0, "dispute.id");
        let mut both = promise(json!({"until":"2026-09-20T00:00:00Z"}));
        both["dispute"] = json!({"id":"dp_1"});
        assert_eq!(errors_of(both)[0].0, "dispute");
    }

    #[test]
    fn when_the_subscription_status_is_unknown_should_list_the_known_ones() {
        let v = json!({"event_id":"e2","tenant_id":"t1","customer_id":"c1",
                       "type":"subscription.updated","occurred_at":"2026-09-01T00:00:00Z",
                       "subscription":{"id":"s1","status":"cancelled"}});
        let errs = errors_of(v);
        assert_eq!(errs[0].0, "subscription.status");
        assert!(errs[0].1.contains("canceled"));
    }

    #[test]
    fn when_written_and_read_back_should_be_equal() {
        let samples = [
            balance_event(json!(-5000)),
            json!({"event_id":"e2","tenant_id":"t1","customer_id":"c1",
                   "type":"subscription.updated","occurred_at":"2026-09-01T00:00:00.250Z",
                   "received_at":"2026-09-02T00:00:00+02:00",
                   "subscription":{"id":"s1","status":"past_due"}}),
            json!({"event_id":"e3","tenant_id":"t1","customer_id":"c1","type":"customer.updated",
                   "occurred_at":"2026-09-01T00:00:00Z",
                   "customer":{"created_at":"2024-01-01T00:00:00Z","metadata":{"plan":"gold"},
                               "tags":["vip","gym-a","vip"]}}),
            json!({"event_id":"e4","tenant_id":"t1","customer_id":"c1",
                   "type":"promise_to_pay.created","occurred_at":"2026-09-01T00:00:00Z",
                   "promise":{"until":"2026-09-20T00:00:00Z","amount_minor":5000}}),
            json!({"event_id":"e5","tenant_id":"t1","customer_id":"c1","type":"dispute.opened",
                   "occurred_at":"2026-09-01T00:00:00Z","dispute":{"id":"dp_1"}}),
            json!({"event_id":"e6","tenant_id":"t1","customer_id":"c1","type":"dispute.closed",
                   "occurred_at":"2026-09-03T00:00:00Z","dispute":{"id":"dp_1"}}),
        ];
        for v in samples {
            let e = Event::from_json(&v).unwrap();
            assert_eq!(Event::from_json(&e.to_json()).unwrap(), e);
        }
    }

    #[test]
    fn when_only_received_at_differs_should_be_the_same_payload() {
        let a = Event::from_json(&balance_event(json!(-1))).unwrap();
        let mut b = a.clone();
        b.received_at += chrono::Duration::hours(1);
        assert!(a.same_payload(&b));
        let mut c = a.clone();
        c.body = EventBody::BalanceChanged {
            balance: Money::new(-2, Currency::parse("USD").unwrap()),
            delta_minor: None,
        };
        assert!(!a.same_payload(&c));
    }
}
