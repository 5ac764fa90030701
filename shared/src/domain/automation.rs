//! Automations and tenant settings (SPEC §4): their shape, defaults and validation.
//!
//! The file given to `rulekit simulate --automations` and what the API stores per automation
//! have the same shape; both go through [`parse_automation`] so they are validated alike, with
//! every problem reported by field path.

use super::calendar::{DEFAULT_EVALUATION_HOUR, TenantCalendar};
use super::clock::{ClockKind, HoldTerms};
use super::customer::Continuity;
use super::decline::{DeclineOverrides, FailureCategory, parse_overrides};
use super::fields::{self, FieldErrors, Reader, index, join};
use super::ids::{AutomationId, MAX_ID_LEN, TenantId};
use super::money::{Currency, MAX_ABS_AMOUNT_MINOR};
use super::normalize::{Normalization, parse_normalization};
use super::rollout::{Rollout, parse_rollout};
use super::step::{Step, StepForm, parse_actions, parse_steps};
use chrono::NaiveDate;
use chrono_tz::Tz;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub const MAX_THRESHOLD_DAYS: i64 = 3650;
pub const MAX_THRESHOLDS: usize = 10;
pub const MAX_CATCH_UP_DAYS: i64 = 365;
pub const MAX_CONDITIONS: usize = 20;
pub const MAX_ACTIONS: usize = 10;
pub const MAX_NAME_LEN: usize = 200;
pub const DEFAULT_THRESHOLDS: [u16; 2] = [14, 30];
pub const DEFAULT_CATCH_UP_DAYS: u16 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Live,
    /// Decisions are recorded and reported; nothing is carried out.
    DryRun,
}

impl Mode {
    pub const ALL: [(&'static str, Mode); 2] = [("live", Self::Live), ("dry_run", Self::DryRun)];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::DryRun => "dry_run",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The clock the steps count days on (`type`, and for `past_due` its `continuity`).
    pub clock: ClockKind,
    pub require_active_subscription: bool,
    /// How many days after a step is first due a missed or blocked firing may still happen.
    pub catch_up_days: u16,
    /// A cancellation clock's longest hold (1–30 days, SPEC §8.6); 0 for the other clocks.
    pub hold_days: u16,
}

impl Trigger {
    /// The terms the automation's clocks are derived under.
    pub fn terms<'a>(&self, calendar: &'a TenantCalendar) -> HoldTerms<'a> {
        HoldTerms {
            hold_days: self.hold_days,
            calendar,
        }
    }
}

pub const MAX_HOLD_DAYS: i64 = 30;

/// Comparisons for numeric condition fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Lte,
    Gt,
    Gte,
    Eq,
    Ne,
}

impl Cmp {
    const ALL: [(&'static str, Cmp); 6] = [
        ("lt", Self::Lt),
        ("lte", Self::Lte),
        ("gt", Self::Gt),
        ("gte", Self::Gte),
        ("eq", Self::Eq),
        ("ne", Self::Ne),
    ];

    pub fn holds(self, left: i64, right: i64) -> bool {
        match self {
            Self::Lt => left < right,
            Self::Lte => left <= right,
            Self::Gt => left > right,
            Self::Gte => left >= right,
            Self::Eq => left == right,
            Self::Ne => left != right,
        }
    }

    fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, c)| *c == self)
            .map(|(n, _)| *n)
            .unwrap_or_default()
    }
}

/// Numbers a condition can compare, all integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberField {
    /// The balance at the run, in minor units (negative: owed).
    BalanceAmountMinor,
    DaysPastDue,
    /// Whole local days since `customer.created_at`.
    TenureDays,
    ActiveSubscriptions,
    /// Days on the automation's clock (any clock).
    ClockDays,
    /// What the invoice's latest failed payment tried to collect (payment clocks).
    PaymentAmountMinor,
    /// The latest failure's attempt number (payment clocks).
    PaymentAttempt,
}

impl NumberField {
    fn as_str(self) -> &'static str {
        match self {
            Self::BalanceAmountMinor => "balance.amount_minor",
            Self::DaysPastDue => "days_past_due",
            Self::TenureDays => "customer.tenure_days",
            Self::ActiveSubscriptions => "subscriptions.active_count",
            Self::ClockDays => "clock_days",
            Self::PaymentAmountMinor => "payment.amount_minor",
            Self::PaymentAttempt => "payment.attempt",
        }
    }
}

/// Text facts of a payment clock's latest failure a condition can test for membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeField {
    /// `payment.failure_code`, as the processor sent it.
    FailureCode,
    /// `payment.failure_category`, from the decline table and the tenant's overrides.
    FailureCategory,
    /// `cancellation.reason`, as the cancellation request gave it (cancellation clocks).
    CancellationReason,
}

impl CodeField {
    fn as_str(self) -> &'static str {
        match self {
            Self::FailureCode => "payment.failure_code",
            Self::FailureCategory => "payment.failure_category",
            Self::CancellationReason => "cancellation.reason",
        }
    }
}

/// Whose currency a currency condition reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurrencyField {
    Balance,
    /// The invoice's latest failed payment (payment clocks).
    Payment,
}

impl CurrencyField {
    fn as_str(self) -> &'static str {
        match self {
            Self::Balance => "balance.currency",
            Self::Payment => "payment.currency",
        }
    }
}

/// A condition an automation requires, besides the threshold (SPEC §4). Each variant carries
/// only values of the type its field has, so evaluating one cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Number {
        field: NumberField,
        op: Cmp,
        value: i64,
    },
    /// `balance.currency` (or `payment.currency`) is (or, with `negate`, is not) one of
    /// `values`.
    Currency {
        field: CurrencyField,
        values: Vec<Currency>,
        negate: bool,
    },
    /// A payment clock's `failure_code` or `failure_category` is (or is not) one of `values`.
    Code {
        field: CodeField,
        values: Vec<String>,
        negate: bool,
    },
    /// `customer.metadata.<key>`: equal to `value` (or present, when `value` is None).
    Metadata {
        key: String,
        value: Option<String>,
        negate: bool,
    },
    /// `customer.tags` contains `tag`.
    Tag { tag: String, negate: bool },
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number { field, op, value } => {
                write!(f, "{} {} {}", field.as_str(), op.as_str(), value)
            }
            Self::Currency {
                field,
                values,
                negate,
            } => {
                let codes: Vec<&str> = values.iter().map(|c| c.code()).collect();
                let op = if *negate { "not_in" } else { "in" };
                write!(f, "{} {op} [{}]", field.as_str(), codes.join(", "))
            }
            Self::Code {
                field,
                values,
                negate,
            } => {
                let op = if *negate { "not_in" } else { "in" };
                write!(f, "{} {op} [{}]", field.as_str(), values.join(", "))
            }
            Self::Metadata { key, value, negate } => match (value, negate) {
                (Some(v), false) => write!(f, "customer.metadata.{key} eq {v:?}"),
                (Some(v), true) => write!(f, "customer.metadata.{key} ne {v:?}"),
                (None, false) => write!(f, "customer.metadata.{key} exists"),
                (None, true) => write!(f, "customer.metadata.{key} not_exists"),
            },
            Self::Tag { tag, negate } => {
                let op = if *negate { "not_contains" } else { "contains" };
                write!(f, "customer.tags {op} {tag:?}")
            }
        }
    }
}

/// Where a `notify` action sends its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// The tenant's finance team (SNS finance topic).
    Finance,
}

impl Channel {
    pub const ALL: [(&'static str, Channel); 1] = [("finance", Self::Finance)];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Finance => "finance",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A notification to an internal team.
    Notify { channel: Channel },
    /// A message for the customer, rendered downstream from a template.
    Message {
        template_id: String,
        variables: BTreeMap<String, String>,
    },
    /// A command to the tenant's billing system to retry the invoice's payment (commands
    /// topic), re-checked before it is sent (SPEC §8.5).
    RetryPayment,
    /// A recovery offer for a customer asking to cancel (customer-messages topic), sent once
    /// per customer and `offer_id` in 365 days.
    Offer {
        offer_id: String,
        kind: OfferKind,
        template_id: String,
    },
    /// The built-in `hold` step's command (SPEC §8.6): hold the requested cancellation
    /// until the hold's end, computed from the clock under the plan's `hold_days` when sent.
    HoldCancellation,
    /// The built-in `proceed` step's command: the hold is over, cancel if not already.
    ProceedCancellation,
}

/// What an offer proposes instead of cancelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfferKind {
    Downgrade,
    Pause,
    Deferral,
    Discount,
}

impl OfferKind {
    pub const ALL: [(&'static str, OfferKind); 4] = [
        ("downgrade", Self::Downgrade),
        ("pause", Self::Pause),
        ("deferral", Self::Deferral),
        ("discount", Self::Discount),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("", |(n, _)| n)
    }
}

impl Action {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Notify { .. } => "notify",
            Self::Message { .. } => "message",
            Self::RetryPayment => "retry_payment",
            Self::Offer { .. } => "offer",
            Self::HoldCancellation => "hold_cancellation",
            Self::ProceedCancellation => "proceed_cancellation",
        }
    }

    /// Whether the action is a command to the billing system: sent at most once, even when
    /// an executor stopped before it knew whether the command went out.
    pub fn is_command(&self) -> bool {
        matches!(
            self,
            Self::RetryPayment | Self::HoldCancellation | Self::ProceedCancellation
        )
    }

    /// Whether the action reaches the customer (a message or an offer), rather than a team
    /// or the billing system.
    pub fn reaches_the_customer(&self) -> bool {
        matches!(self, Self::Message { .. } | Self::Offer { .. })
    }

    /// Whether RuleKit adds the action to the built-in steps of a cancellation hold (an
    /// automation may not list it).
    pub fn is_built_in(&self) -> bool {
        matches!(self, Self::HoldCancellation | Self::ProceedCancellation)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Automation {
    pub id: AutomationId,
    pub tenant_id: TenantId,
    pub name: String,
    pub enabled: bool,
    pub mode: Mode,
    pub trigger: Trigger,
    pub conditions: Vec<Condition>,
    /// Strictly ascending by day; empty only when the automation has segments.
    pub steps: Vec<Step>,
    pub step_form: StepForm,
    /// Ordered, exclusive paths with their own steps (SPEC §8.3); empty: every clock takes
    /// `steps`.
    pub segments: Vec<Segment>,
    /// First local date whose threshold crossings the automation acts on; when absent, the
    /// caller supplies it (the creation date, or `--from` in a simulation).
    pub active_from: Option<NaiveDate>,
    /// Who is treated, held out or left alone (SPEC §8.8); `None`: everyone treated, and no
    /// clock's arm recorded.
    pub rollout: Option<Rollout>,
    /// Archived: no longer run, except for the `proceed` steps of the holds it began (SPEC
    /// §8.6). Set by the store, never part of the automation's JSON.
    pub archived: bool,
    /// The stored version the run read (0 before it is stored): decisions record it, so a
    /// report splits every figure by version (SPEC §8.9). Set by the store, never part of the
    /// automation's JSON.
    pub version: u64,
}

/// A path of an automation (SPEC §8.3): the clocks whose first run finds `when` holding take
/// its steps for their whole life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    /// Empty: every clock matches.
    pub when: Vec<Condition>,
    pub steps: Vec<Step>,
}

pub const MAX_SEGMENTS: usize = 20;
pub const DEFAULT_MAX_RETRIES_PER_30_DAYS: u8 = 8;
/// The card networks' ceiling on reattempts in 30 days (Visa since 2026-04-18).
pub const MAX_RETRIES_PER_30_DAYS: i64 = 20;

impl Automation {
    /// Every step list of the automation: its segments', or its own.
    pub fn step_lists(&self) -> impl Iterator<Item = &[Step]> {
        let own = self.segments.is_empty().then_some(self.steps.as_slice());
        own.into_iter()
            .chain(self.segments.iter().map(|s| s.steps.as_slice()))
    }

    /// Every step of every list.
    pub fn all_steps(&self) -> impl Iterator<Item = &Step> {
        self.step_lists().flatten()
    }
}

/// The share of past-due customers above which one run's firings are held (SPEC §4.7), in
/// basis points so that the comparison is exact integer arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guardrail {
    pub min_count: u32,
    pub max_share_bp: u32,
}

impl Default for Guardrail {
    fn default() -> Self {
        Self {
            min_count: 50,
            max_share_bp: 2_500,
        }
    }
}

impl Guardrail {
    /// Whether `firing` firings of one automation in one run, out of `past_due` past-due
    /// customers of the tenant, are too many to carry out unreviewed.
    pub fn holds(self, firing: u64, past_due: u64) -> bool {
        firing >= u64::from(self.min_count)
            && firing * 10_000 > u64::from(self.max_share_bp) * past_due
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSettings {
    pub tenant_id: TenantId,
    pub calendar: TenantCalendar,
    pub guardrail: Guardrail,
    /// Days a step that reaches the customer waits after the last message RuleKit sent them
    /// (SPEC §8.2; 0: no spacing).
    pub min_days_between_messages: u16,
    /// Failures of one invoice in 30 days after which no retry is sent (SPEC §8.5).
    pub max_retries_per_30_days: u8,
    /// The tenant's moves of failure codes between decline classes (SPEC §8.1).
    pub decline_overrides: DeclineOverrides,
    /// The rules every profile is normalized by before anything reads it (SPEC §8.7).
    pub normalization: Normalization,
}

impl TenantSettings {
    /// The settings of a tenant that has set none: UTC, 06:00, the default guardrail.
    pub fn defaults(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            calendar: TenantCalendar::default(),
            guardrail: Guardrail::default(),
            min_days_between_messages: 0,
            max_retries_per_30_days: DEFAULT_MAX_RETRIES_PER_30_DAYS,
            decline_overrides: DeclineOverrides::default(),
            normalization: Normalization::default(),
        }
    }
}

/// The `--automations` file: tenant settings and automations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutomationsFile {
    pub tenants: Vec<TenantSettings>,
    pub automations: Vec<Automation>,
}

impl AutomationsFile {
    pub fn from_json(v: &Value) -> Result<Self, FieldErrors> {
        let mut r = Reader::new();
        let Some(obj) = r.object("", v, &["tenants", "automations"]) else {
            return r.finish(None);
        };
        let mut tenants = Vec::new();
        if let Some(list) = r.optional(obj, "tenants") {
            let mut seen = BTreeSet::new();
            for (i, t) in r
                .array("tenants", list, 10_000)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let path = index("tenants", i);
                if let Some(s) = parse_tenant_settings(&mut r, &path, t) {
                    if !seen.insert(s.tenant_id.clone()) {
                        r.error(join(&path, "tenant_id"), "appears twice in tenants");
                    }
                    tenants.push(s);
                }
            }
        }
        let mut automations = Vec::new();
        if let Some(list) = r.required(obj, "", "automations") {
            let mut seen = BTreeSet::new();
            let items = r.array("automations", list, 10_000).unwrap_or_default();
            for (i, a) in items.iter().enumerate() {
                let path = index("automations", i);
                if let Some(a) = parse_automation(&mut r, &path, a) {
                    if !seen.insert((a.tenant_id.clone(), a.id.clone())) {
                        r.error(join(&path, "id"), "appears twice for this tenant");
                    }
                    automations.push(a);
                }
            }
        }
        r.finish(Some(Self {
            tenants,
            automations,
        }))
    }

    /// The settings for `tenant`, or the defaults when the file names none.
    pub fn settings(&self, tenant: &TenantId) -> TenantSettings {
        self.tenants
            .iter()
            .find(|t| &t.tenant_id == tenant)
            .cloned()
            .unwrap_or_else(|| TenantSettings::defaults(tenant.clone()))
    }

    /// Every tenant named by a settings entry or an automation, sorted.
    pub fn tenant_ids(&self) -> Vec<TenantId> {
        let ids: BTreeSet<TenantId> = self
            .tenants
            .iter()
            .map(|t| t.tenant_id.clone())
            .chain(self.automations.iter().map(|a| a.tenant_id.clone()))
            .collect();
        ids.into_iter().collect()
    }
}

const TENANT_FIELDS: &[&str] = &[
    "tenant_id",
    "timezone",
    "evaluation_hour",
    "guardrail",
    "min_days_between_messages",
    "max_retries_per_30_days",
    "decline_overrides",
    "normalization",
];

pub const MAX_DAYS_BETWEEN_MESSAGES: i64 = 365;

/// Reads one tenant's settings; absent fields take their defaults.
pub fn parse_tenant_settings(r: &mut Reader, path: &str, v: &Value) -> Option<TenantSettings> {
    let obj = r.object(path, v, TENANT_FIELDS)?;
    let tenant_id = id_field(r, obj, path, "tenant_id").map(TenantId::new);
    let mut calendar = TenantCalendar::default();
    let mut ok = true;
    if let Some(tz) = r.optional(obj, "timezone") {
        let field = join(path, "timezone");
        match r.text(&field, tz, 64).map(str::parse::<Tz>) {
            Some(Ok(tz)) => calendar.timezone = tz,
            Some(Err(_)) => {
                r.error(
                    field,
                    "unknown time zone; expected an IANA name such as \"America/New_York\"",
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    calendar.evaluation_hour = match r.optional(obj, "evaluation_hour") {
        None => DEFAULT_EVALUATION_HOUR,
        Some(h) => match r.integer(&join(path, "evaluation_hour"), h, 0, 23) {
            Some(h) => h as u8,
            None => {
                ok = false;
                DEFAULT_EVALUATION_HOUR
            }
        },
    };
    let guardrail = match r.optional(obj, "guardrail") {
        None => Some(Guardrail::default()),
        Some(g) => parse_guardrail(r, &join(path, "guardrail"), g),
    };
    let spacing = optional_integer(
        r,
        obj,
        path,
        "min_days_between_messages",
        (0, 0, MAX_DAYS_BETWEEN_MESSAGES),
    )
    .map(|d| d as u16);
    let retries = optional_integer(
        r,
        obj,
        path,
        "max_retries_per_30_days",
        (
            i64::from(DEFAULT_MAX_RETRIES_PER_30_DAYS),
            1,
            MAX_RETRIES_PER_30_DAYS,
        ),
    )
    .map(|n| n as u8);
    let overrides = match r.optional(obj, "decline_overrides") {
        None => Some(DeclineOverrides::default()),
        Some(o) => parse_overrides(r, &join(path, "decline_overrides"), o),
    };
    let normalization = match r.optional(obj, "normalization") {
        None => Some(Normalization::default()),
        Some(n) => parse_normalization(r, &join(path, "normalization"), n),
    };
    match (
        tenant_id,
        guardrail,
        spacing,
        retries,
        overrides,
        normalization,
        ok,
    ) {
        (
            Some(tenant_id),
            Some(guardrail),
            Some(min_days_between_messages),
            Some(max_retries_per_30_days),
            Some(decline_overrides),
            Some(normalization),
            true,
        ) => Some(TenantSettings {
            tenant_id,
            calendar,
            guardrail,
            min_days_between_messages,
            max_retries_per_30_days,
            decline_overrides,
            normalization,
        }),
        _ => None,
    }
}

/// An optional whole number field of `obj`: `(default, min, max)`; `None` after an error.
fn optional_integer(
    r: &mut Reader,
    obj: &Map<String, Value>,
    path: &str,
    key: &str,
    (default, min, max): (i64, i64, i64),
) -> Option<i64> {
    match r.optional(obj, key) {
        None => Some(default),
        Some(v) => r.integer(&join(path, key), v, min, max),
    }
}

fn parse_guardrail(r: &mut Reader, path: &str, v: &Value) -> Option<Guardrail> {
    let obj = r.object(path, v, &["min_count", "max_share"])?;
    let mut g = Guardrail::default();
    // Both fields are read before giving up, so every problem is reported at once.
    let mut ok = true;
    if let Some(m) = r.optional(obj, "min_count") {
        match r.integer(&join(path, "min_count"), m, 1, 1_000_000_000) {
            Some(m) => g.min_count = m as u32,
            None => ok = false,
        }
    }
    if let Some(s) = r.optional(obj, "max_share") {
        let field = join(path, "max_share");
        // A ratio, not money: read as a decimal and kept as whole basis points.
        match s.as_f64() {
            Some(x) if x > 0.0 && x <= 1.0 => g.max_share_bp = (x * 10_000.0).round() as u32,
            _ => {
                r.error(field, "must be a number greater than 0 and at most 1");
                ok = false;
            }
        }
    }
    ok.then_some(g)
}

const AUTOMATION_FIELDS: &[&str] = &[
    "id",
    "tenant_id",
    "name",
    "enabled",
    "mode",
    "trigger",
    "conditions",
    "actions",
    "steps",
    "segments",
    "active_from",
    "rollout",
];

const TRIGGER_FIELDS: &[&str] = &[
    "type",
    "thresholds_days",
    "require_active_subscription",
    "continuity",
    "catch_up_days",
    "hold_days",
];

/// Reads and validates one automation, reporting every problem under `path`.
pub fn parse_automation(r: &mut Reader, path: &str, v: &Value) -> Option<Automation> {
    let errors_before = r.error_count();
    let obj = r.object(path, v, AUTOMATION_FIELDS)?;
    let id = id_field(r, obj, path, "id").map(AutomationId::new);
    let tenant_id = id_field(r, obj, path, "tenant_id").map(TenantId::new);
    let name = r
        .required(obj, path, "name")
        .and_then(|n| r.text(&join(path, "name"), n, MAX_NAME_LEN))
        .map(str::to_owned);
    let enabled = match r.optional(obj, "enabled") {
        None => Some(true),
        Some(b) => r.boolean(&join(path, "enabled"), b),
    };
    let mode = match r.optional(obj, "mode") {
        None => Some(Mode::Live),
        Some(m) => r.choice(&join(path, "mode"), m, &Mode::ALL),
    };
    let trigger = r
        .required(obj, path, "trigger")
        .and_then(|t| parse_trigger(r, &join(path, "trigger"), t));
    let steps = parse_step_form(r, obj, path);
    let segments = match r.optional(obj, "segments") {
        None => Some(Vec::new()),
        Some(s) => parse_segments(r, &join(path, "segments"), s),
    };
    let conditions = match r.optional(obj, "conditions") {
        None => Some(Vec::new()),
        Some(c) => parse_list(
            r,
            &join(path, "conditions"),
            c,
            MAX_CONDITIONS,
            parse_condition,
        ),
    };
    let active_from = match r.optional(obj, "active_from") {
        None => Some(None),
        Some(d) => date(r, &join(path, "active_from"), d).map(Some),
    };
    let rollout = match r.optional(obj, "rollout") {
        None => Some(None),
        Some(v) => parse_rollout(r, &join(path, "rollout"), v, Rollout::default()).map(Some),
    };
    if let (Some(trigger), Some((steps, form))) = (&trigger, &steps) {
        check_catch_up(r, path, trigger.catch_up_days, steps, *form);
    }
    if let (Some(trigger), Some(segments)) = (&trigger, &segments) {
        for (i, segment) in segments.iter().enumerate() {
            let at = index(&join(path, "segments"), i);
            check_catch_up(
                r,
                &at,
                trigger.catch_up_days,
                &segment.steps,
                StepForm::Named,
            );
        }
    }
    if let (Some(trigger), Some(conditions), Some((steps, form)), Some(segments)) =
        (&trigger, &conditions, &steps, &segments)
    {
        check_fields(r, path, trigger.clock, conditions, (steps, *form), segments);
    }
    let holds = trigger
        .as_ref()
        .filter(|t| t.clock == ClockKind::CancellationRequested)
        .map(|t| t.hold_days);
    if let (Some(hold_days), Some((steps, _)), Some(segments)) = (holds, &steps, &segments) {
        check_hold_steps(r, &join(path, "steps"), hold_days, steps);
        for (i, segment) in segments.iter().enumerate() {
            let at = join(&index(&join(path, "segments"), i), "steps");
            check_hold_steps(r, &at, hold_days, &segment.steps);
        }
    }
    if r.error_count() > errors_before {
        return None;
    }
    let (mut steps, step_form) = steps?;
    let mut segments = segments?;
    if let Some(hold_days) = holds {
        if segments.is_empty() {
            add_hold_steps(&mut steps, hold_days);
        }
        for segment in &mut segments {
            add_hold_steps(&mut segment.steps, hold_days);
        }
    }
    Some(Automation {
        id: id?,
        tenant_id: tenant_id?,
        name: name?,
        enabled: enabled?,
        mode: mode?,
        trigger: trigger?,
        conditions: conditions?,
        steps,
        step_form,
        segments,
        active_from: active_from?,
        rollout: rollout?,
        archived: false,
        version: 0,
    })
}

/// A cancellation hold's steps (SPEC §8.6): the built-in `hold` at day 0 (a step named
/// `hold` there adds its actions to it) and `proceed` on the hold's last day are RuleKit's;
/// the automation's own steps fall inside the hold. The hold is sent at its first run or
/// never, so it takes no approval.
fn check_hold_steps(r: &mut Reader, path: &str, hold_days: u16, steps: &[Step]) {
    for (i, step) in steps.iter().enumerate() {
        let at = index(path, i);
        if step.name == "proceed" {
            r.error(
                join(&at, "name"),
                "proceed is the built-in step on the hold's last day: an automation does not list it",
            );
        } else if step.name == "hold" && step.day != 0 {
            r.error(join(&at, "day"), "the hold step is at day 0");
        } else if step.name != "hold" && step.day == 0 {
            r.error(
                join(&at, "day"),
                "day 0 is the built-in hold step's: name the step \"hold\" to add its actions to it",
            );
        } else if step.day >= hold_days {
            r.error(
                join(&at, "day"),
                format!(
                    "must be before hold_days ({hold_days}): nothing fires after the hold, and its \
                     last day is the built-in proceed step's"
                ),
            );
        }
        if step.name == "hold" && step.actions.len() >= MAX_ACTIONS {
            r.error(
                join(&at, "actions"),
                format!(
                    "the hold step takes at most {} actions of its own: its hold_cancellation is \
                     one of its {MAX_ACTIONS}",
                    MAX_ACTIONS - 1
                ),
            );
        }
        if step.name == "hold" && step.approval.is_some() {
            r.error(
                join(&at, "approval"),
                "the hold is sent at its first run or never: it takes no approval",
            );
        }
    }
}

/// Adds the built-in `hold` and `proceed` steps to a validated list.
fn add_hold_steps(steps: &mut Vec<Step>, hold_days: u16) {
    let hold = Action::HoldCancellation;
    match steps.first_mut() {
        Some(first) if first.day == 0 => first.actions.insert(0, hold),
        _ => steps.insert(
            0,
            Step {
                name: "hold".to_owned(),
                day: 0,
                owner: None,
                approval: None,
                actions: vec![hold],
            },
        ),
    }
    steps.push(Step {
        name: "proceed".to_owned(),
        day: hold_days,
        owner: None,
        approval: None,
        actions: vec![Action::ProceedCancellation],
    });
}

/// Refuses a condition on a field the automation's clock does not have (SPEC §8.4): it would
/// otherwise be silently false. Looks at the automation's conditions, the segments' `when`
/// and every step's `approval.when`.
fn check_fields(
    r: &mut Reader,
    path: &str,
    clock: ClockKind,
    conditions: &[Condition],
    (steps, form): (&[Step], StepForm),
    segments: &[Segment],
) {
    let mut check = |r: &mut Reader, at: String, list: &[Condition]| {
        for (i, c) in list.iter().enumerate() {
            if let Some(why) = c.missing_on(clock) {
                r.error(join(&index(&at, i), "field"), why);
            }
        }
    };
    check(r, join(path, "conditions"), conditions);
    let approvals = |r: &mut Reader,
                     at: &str,
                     steps: &[Step],
                     check: &mut dyn FnMut(&mut Reader, String, &[Condition])| {
        for (i, step) in steps.iter().enumerate() {
            if let Some(a) = &step.approval {
                check(r, join(&join(&index(at, i), "approval"), "when"), &a.when);
            }
        }
    };
    approvals(r, &join(path, "steps"), steps, &mut check);
    for (i, segment) in segments.iter().enumerate() {
        let at = index(&join(path, "segments"), i);
        check(r, join(&at, "when"), &segment.when);
        approvals(r, &join(&at, "steps"), &segment.steps, &mut check);
    }
    // A retry needs an invoice, an offer a cancellation request; the hold's commands are
    // RuleKit's own.
    // The short form's steps all take the automation's own actions: named once.
    let own = match form {
        StepForm::Thresholds => (path.to_owned(), &steps[..steps.len().min(1)]),
        StepForm::Named => (join(path, "steps"), steps),
    };
    let lists = std::iter::once(own).chain(segments.iter().enumerate().map(|(i, s)| {
        (
            join(&index(&join(path, "segments"), i), "steps"),
            &s.steps[..],
        )
    }));
    for (at, steps) in lists {
        for (i, step) in steps.iter().enumerate() {
            let step_at = match form {
                StepForm::Thresholds if at == path => path.to_owned(),
                _ => index(&at, i),
            };
            for (j, action) in step.actions.iter().enumerate() {
                let why = match action {
                    Action::RetryPayment if clock != ClockKind::PaymentFailed => {
                        "retry_payment is only for a payment_failed trigger: it retries the clock's invoice"
                    }
                    Action::Offer { .. } if clock != ClockKind::CancellationRequested => {
                        "offer is only for a cancellation_requested trigger: it answers a request to cancel"
                    }
                    a if a.is_built_in() => {
                        "is added by RuleKit to the built-in hold and proceed steps: an automation does not list it"
                    }
                    _ => continue,
                };
                r.error(join(&index(&join(&step_at, "actions"), j), "type"), why);
            }
        }
    }
}

fn parse_segments(r: &mut Reader, path: &str, v: &Value) -> Option<Vec<Segment>> {
    let items = r.array(path, v, MAX_SEGMENTS)?;
    if items.is_empty() {
        r.error(path, "must name at least one segment");
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    let mut names = BTreeSet::new();
    let mut catch_all: Option<String> = None;
    for (i, item) in items.iter().enumerate() {
        let at = index(path, i);
        let Some(obj) = r.object(&at, item, &["name", "when", "steps"]) else {
            ok = false;
            continue;
        };
        let name = r
            .required(obj, &at, "name")
            .and_then(|n| r.text(&join(&at, "name"), n, super::step::MAX_STEP_NAME_LEN))
            .map(str::to_owned);
        if let Some(n) = &name
            && !names.insert(n.clone())
        {
            r.error(join(&at, "name"), "appears twice in segments");
            ok = false;
        }
        let when = match r.optional(obj, "when") {
            None => Some(Vec::new()),
            Some(w) => parse_list(r, &join(&at, "when"), w, MAX_CONDITIONS, parse_condition),
        };
        if let Some(first) = &catch_all {
            r.error(
                &at,
                format!(
                    "can never match: segment {first:?} before it has no when and takes every clock"
                ),
            );
            ok = false;
        }
        if when.as_ref().is_some_and(Vec::is_empty) && catch_all.is_none() {
            catch_all = name.clone().or(Some(String::new()));
        }
        let steps = r
            .required(obj, &at, "steps")
            .and_then(|s| parse_steps(r, &join(&at, "steps"), s));
        match (name, when, steps) {
            (Some(name), Some(when), Some(steps)) => out.push(Segment { name, when, steps }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// The steps, in whichever of the two forms the automation is written (never both): the
/// short form's `trigger.thresholds_days` (default 14 and 30) and automation-level `actions`,
/// or top-level `steps`.
fn parse_step_form(
    r: &mut Reader,
    obj: &Map<String, Value>,
    path: &str,
) -> Option<(Vec<Step>, StepForm)> {
    let trigger = obj.get("trigger").and_then(Value::as_object);
    let thresholds = trigger.and_then(|t| r.optional(t, "thresholds_days"));
    let holds = trigger.and_then(|t| t.get("type")).and_then(Value::as_str)
        == Some("cancellation_requested");
    if holds {
        // A hold's steps are named: its built-in ones are, and a threshold means nothing there.
        let mut both = false;
        for (key, field) in [
            ("actions", "actions"),
            ("thresholds_days", "trigger.thresholds_days"),
        ] {
            let given = match key {
                "actions" => r.optional(obj, key).is_some(),
                _ => thresholds.is_some(),
            };
            if given {
                r.error(
                    join(path, field),
                    "a cancellation_requested automation names its steps (steps or segments), \
                     beside the built-in hold and proceed",
                );
                both = true;
            }
        }
        if both {
            return None;
        }
        if !obj.contains_key("steps") && !obj.contains_key("segments") {
            return Some((Vec::new(), StepForm::Named));
        }
    }
    if obj.contains_key("segments") {
        let mut both = false;
        for (key, field) in [
            ("steps", "steps".to_owned()),
            ("actions", "actions".to_owned()),
        ] {
            if r.optional(obj, key).is_some() {
                r.error(
                    join(path, &field),
                    "an automation has steps (or thresholds_days and actions) or segments, not \
                     both: with segments, each segment names its steps",
                );
                both = true;
            }
        }
        if thresholds.is_some() {
            r.error(
                join(path, "trigger.thresholds_days"),
                "an automation has thresholds_days or segments, not both",
            );
            both = true;
        }
        return (!both).then_some((Vec::new(), StepForm::Named));
    }
    if let Some(steps) = r.optional(obj, "steps") {
        let mut both = false;
        if thresholds.is_some() {
            r.error(
                join(path, "trigger.thresholds_days"),
                "an automation has thresholds_days and actions, or steps, not both",
            );
            both = true;
        }
        if r.optional(obj, "actions").is_some() {
            r.error(
                join(path, "actions"),
                "an automation has thresholds_days and actions, or steps, not both: with \
                 steps, each step names its actions",
            );
            both = true;
        }
        let steps = parse_steps(r, &join(path, "steps"), steps)?;
        return (!both).then_some((steps, StepForm::Named));
    }
    let days = match thresholds {
        None => Some(DEFAULT_THRESHOLDS.to_vec()),
        Some(t) => parse_thresholds(r, &join(path, "trigger.thresholds_days"), t),
    };
    let actions = r
        .required(obj, path, "actions")
        .and_then(|a| parse_actions(r, &join(path, "actions"), a));
    Some((
        Step::from_thresholds(&days?, &actions?),
        StepForm::Thresholds,
    ))
}

/// A catch-up window reaching past the next step would let one clock fire twice over, so it
/// must fit in the smallest gap between consecutive steps.
fn check_catch_up(r: &mut Reader, path: &str, catch_up_days: u16, steps: &[Step], form: StepForm) {
    let Some((lo, hi)) = steps
        .windows(2)
        .map(|w| (&w[0], &w[1]))
        .min_by_key(|(a, b)| b.day - a.day)
    else {
        return;
    };
    let gap = hi.day - lo.day;
    if catch_up_days > gap {
        let between = match form {
            StepForm::Thresholds => format!("thresholds {} and {}", lo.day, hi.day),
            StepForm::Named => format!("steps {:?} and {:?}", lo.name, hi.name),
        };
        r.error(
            join(path, "trigger.catch_up_days"),
            format!("must not be larger than the {gap}-day gap between {between}"),
        );
    }
}

fn parse_trigger(r: &mut Reader, path: &str, v: &Value) -> Option<Trigger> {
    let obj = r.object(path, v, TRIGGER_FIELDS)?;
    let kind = r.required(obj, path, "type").and_then(|t| {
        r.choice(
            &join(path, "type"),
            t,
            &[
                ("past_due", ClockKind::PastDue(Continuity::NegativeBalance)),
                ("payment_failed", ClockKind::PaymentFailed),
                ("cancellation_requested", ClockKind::CancellationRequested),
            ],
        )
    });
    let past_due = kind.is_none_or(ClockKind::is_past_due);
    // Only a past-due clock needs an active subscription by default (SPEC §8.1).
    let require_active_subscription = match r.optional(obj, "require_active_subscription") {
        None => Some(past_due),
        Some(b) => r.boolean(&join(path, "require_active_subscription"), b),
    };
    let continuity = match r.optional(obj, "continuity") {
        None => Some(Continuity::NegativeBalance),
        Some(_) if !past_due => {
            r.error(
                join(path, "continuity"),
                "is only for a past_due trigger: the other clocks run until their own events stop them",
            );
            None
        }
        Some(c) => r.choice(&join(path, "continuity"), c, &Continuity::ALL),
    };
    let catch_up_days = match r.optional(obj, "catch_up_days") {
        None => Some(DEFAULT_CATCH_UP_DAYS),
        Some(c) => r
            .integer(&join(path, "catch_up_days"), c, 0, MAX_CATCH_UP_DAYS)
            .map(|c| c as u16),
    };
    let holds = kind == Some(ClockKind::CancellationRequested);
    let hold_days = match r.optional(obj, "hold_days") {
        None if holds => {
            r.error(
                join(path, "hold_days"),
                "is required for a cancellation_requested trigger: the days (1-30) a cancellation is held",
            );
            None
        }
        None => Some(0),
        Some(_) if !holds && kind.is_some() => {
            r.error(
                join(path, "hold_days"),
                "is only for a cancellation_requested trigger",
            );
            None
        }
        Some(d) => r
            .integer(&join(path, "hold_days"), d, 1, MAX_HOLD_DAYS)
            .map(|d| d as u16),
    };
    let clock = match (kind, continuity) {
        (Some(ClockKind::PastDue(_)), Some(continuity)) => Some(ClockKind::PastDue(continuity)),
        // The clock is known even when a continuity was wrongly given, so the fields of the
        // conditions are still checked against it and every problem is reported at once.
        (Some(k), _) if !k.is_past_due() => Some(k),
        _ => None,
    };
    Some(Trigger {
        clock: clock?,
        require_active_subscription: require_active_subscription?,
        catch_up_days: catch_up_days?,
        // A wrong hold_days is reported; the rest is still checked, steps against no limit
        // (the automation is refused anyway).
        hold_days: hold_days.unwrap_or(u16::MAX),
    })
}

fn parse_thresholds(r: &mut Reader, path: &str, v: &Value) -> Option<Vec<u16>> {
    let items = r.array(path, v, MAX_THRESHOLDS)?;
    if items.is_empty() {
        r.error(path, "must name at least one threshold");
        return None;
    }
    let mut out: Vec<u16> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let field = index(path, i);
        match r.integer(&field, item, 1, MAX_THRESHOLD_DAYS) {
            Some(n) => {
                let n = n as u16;
                if out.last().is_some_and(|prev| *prev >= n) {
                    r.error(field, "thresholds must be in strictly ascending order");
                    ok = false;
                }
                out.push(n);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn parse_list<T>(
    r: &mut Reader,
    path: &str,
    v: &Value,
    max: usize,
    item: fn(&mut Reader, &str, &Value) -> Option<T>,
) -> Option<Vec<T>> {
    let items = r.array(path, v, max)?;
    let parsed: Vec<Option<T>> = items
        .iter()
        .enumerate()
        .map(|(i, x)| item(r, &index(path, i), x))
        .collect();
    parsed.into_iter().collect()
}

pub(crate) fn parse_condition(r: &mut Reader, path: &str, v: &Value) -> Option<Condition> {
    let obj = r.object(path, v, &["field", "op", "value"])?;
    let field = r
        .required(obj, path, "field")
        .and_then(|f| r.text(&join(path, "field"), f, 200))?;
    let op = r
        .required(obj, path, "op")
        .and_then(|o| r.text(&join(path, "op"), o, 20))?;
    let op_path = join(path, "op");
    let value_path = join(path, "value");
    let value = r.optional(obj, "value");

    let number_field = match field {
        "balance.amount_minor" => Some(NumberField::BalanceAmountMinor),
        "days_past_due" => Some(NumberField::DaysPastDue),
        "customer.tenure_days" => Some(NumberField::TenureDays),
        "subscriptions.active_count" => Some(NumberField::ActiveSubscriptions),
        "clock_days" => Some(NumberField::ClockDays),
        "payment.amount_minor" => Some(NumberField::PaymentAmountMinor),
        "payment.attempt" => Some(NumberField::PaymentAttempt),
        _ => None,
    };
    if let Some(field) = number_field {
        let op = r.choice(&op_path, &Value::String(op.into()), &Cmp::ALL)?;
        let Some(v) = value else {
            r.error(value_path, "is required");
            return None;
        };
        let value = r.integer(&value_path, v, -MAX_ABS_AMOUNT_MINOR, MAX_ABS_AMOUNT_MINOR)?;
        return Some(Condition::Number { field, op, value });
    }
    let code_field = match field {
        "payment.failure_code" => Some(CodeField::FailureCode),
        "payment.failure_category" => Some(CodeField::FailureCategory),
        "cancellation.reason" => Some(CodeField::CancellationReason),
        _ => None,
    };
    if let Some(field) = code_field {
        let (values, negate) =
            membership(
                r,
                op,
                &op_path,
                value,
                &value_path,
                |r, p, item| match field {
                    CodeField::FailureCategory => r
                        .choice(p, item, &FailureCategory::ALL)
                        .map(|c| c.as_str().to_owned()),
                    CodeField::FailureCode | CodeField::CancellationReason => {
                        let code = r.text(p, item, super::decline::MAX_CODE_LEN)?;
                        if !super::decline::is_code(code) {
                            r.error(p, super::decline::CODE_RULE);
                            return None;
                        }
                        Some(code.to_owned())
                    }
                },
            )?;
        return Some(Condition::Code {
            field,
            values,
            negate,
        });
    }
    let currency_field = match field {
        "balance.currency" => Some(CurrencyField::Balance),
        "payment.currency" => Some(CurrencyField::Payment),
        _ => None,
    };
    if let Some(currency_field) = currency_field {
        let (values, negate) = membership(r, op, &op_path, value, &value_path, |r, p, item| {
            let code = r.text(p, item, 3)?;
            Currency::parse(code)
                .map_err(|reason| r.error(p, reason))
                .ok()
        })?;
        return Some(Condition::Currency {
            field: currency_field,
            values,
            negate,
        });
    }
    if let Some(key) = field.strip_prefix("customer.metadata.") {
        if key.is_empty() {
            r.error(
                join(path, "field"),
                "must name a metadata key after customer.metadata.",
            );
            return None;
        }
        let (needs_value, negate) = match op {
            "eq" => (true, false),
            "ne" => (true, true),
            "exists" => (false, false),
            "not_exists" => (false, true),
            _ => {
                r.error(op_path, "must be one of: eq, ne, exists, not_exists");
                return None;
            }
        };
        let value = match (needs_value, value) {
            (true, Some(v)) => Some(r.text(&value_path, v, 512)?.to_owned()),
            (true, None) => {
                r.error(value_path, "is required");
                return None;
            }
            (false, Some(_)) => {
                r.error(value_path, format!("must be absent with op {op:?}"));
                return None;
            }
            (false, None) => None,
        };
        return Some(Condition::Metadata {
            key: key.to_owned(),
            value,
            negate,
        });
    }
    if field == "customer.tags" {
        let negate = match op {
            "contains" => false,
            "not_contains" => true,
            _ => {
                r.error(op_path, "must be one of: contains, not_contains");
                return None;
            }
        };
        let Some(v) = value else {
            r.error(value_path, "is required");
            return None;
        };
        let tag = r.text(&value_path, v, 64)?.to_owned();
        return Some(Condition::Tag { tag, negate });
    }
    r.error(
        join(path, "field"),
        format!(
            "unknown field {field:?}; expected one of: balance.amount_minor, balance.currency, \
             days_past_due, clock_days, customer.tenure_days, subscriptions.active_count, \
             customer.metadata.<key>, customer.tags, payment.amount_minor, payment.attempt, \
             payment.currency, payment.failure_code, payment.failure_category"
        ),
    );
    None
}

/// A membership test's values and whether it is negated: `eq`/`ne` take one value, `in`/
/// `not_in` a list of them, each read by `item`.
fn membership<T>(
    r: &mut Reader,
    op: &str,
    op_path: &str,
    value: Option<&Value>,
    value_path: &str,
    mut item: impl FnMut(&mut Reader, &str, &Value) -> Option<T>,
) -> Option<(Vec<T>, bool)> {
    let (negate, list) = match op {
        "eq" => (false, false),
        "ne" => (true, false),
        "in" => (false, true),
        "not_in" => (true, true),
        _ => {
            r.error(op_path, "must be one of: eq, ne, in, not_in");
            return None;
        }
    };
    let Some(v) = value else {
        r.error(value_path, "is required");
        return None;
    };
    if !list {
        return Some((vec![item(r, value_path, v)?], negate));
    }
    let items = r.array(value_path, v, 200)?;
    let mut values = Vec::with_capacity(items.len());
    for (i, x) in items.iter().enumerate() {
        values.push(item(r, &index(value_path, i), x)?);
    }
    Some((values, negate))
}

/// The action types, by the index `parse_action` reads them with.
const ACTION_TYPES: [(&str, usize); 6] = [
    ("notify", 0),
    ("message", 1),
    ("retry_payment", 2),
    ("offer", 3),
    ("hold_cancellation", 4),
    ("proceed_cancellation", 5),
];

pub(crate) fn parse_action(r: &mut Reader, path: &str, v: &Value) -> Option<Action> {
    let obj = r.object(
        path,
        v,
        &[
            "type",
            "channel",
            "template_id",
            "variables",
            "offer_id",
            "kind",
        ],
    )?;
    let kind = r
        .required(obj, path, "type")
        .and_then(|t| r.choice(&join(path, "type"), t, &ACTION_TYPES))?;
    let type_name = ACTION_TYPES[kind].0;
    // Each type takes only its own fields.
    let own: &[&str] = match kind {
        0 => &["channel"],
        1 => &["channel", "template_id", "variables"],
        3 => &["offer_id", "kind", "template_id"],
        _ => &[],
    };
    for key in obj
        .keys()
        .filter(|k| *k != "type" && !own.contains(&k.as_str()))
    {
        r.error(
            join(path, key),
            format!("is not allowed on a {type_name:?} action"),
        );
    }
    match kind {
        3 => {
            let offer_id = r
                .required(obj, path, "offer_id")
                .and_then(|o| r.id(&join(path, "offer_id"), o))
                .map(str::to_owned);
            let offer_kind = r
                .required(obj, path, "kind")
                .and_then(|k| r.choice(&join(path, "kind"), k, &OfferKind::ALL));
            let template_id = r
                .required(obj, path, "template_id")
                .and_then(|t| r.text(&join(path, "template_id"), t, MAX_ID_LEN))
                .map(str::to_owned);
            return Some(Action::Offer {
                offer_id: offer_id?,
                kind: offer_kind?,
                template_id: template_id?,
            });
        }
        4 => return Some(Action::HoldCancellation),
        5 => return Some(Action::ProceedCancellation),
        _ => {}
    }
    if kind == 2 {
        return Some(Action::RetryPayment);
    }
    if kind == 0 {
        let channel = r
            .required(obj, path, "channel")
            .and_then(|c| r.choice(&join(path, "channel"), c, &Channel::ALL))?;
        return Some(Action::Notify { channel });
    }
    if let Some(c) = r.optional(obj, "channel") {
        r.choice(&join(path, "channel"), c, &[("customer_messages", ())]);
    }
    let template_id = r
        .required(obj, path, "template_id")
        .and_then(|t| r.text(&join(path, "template_id"), t, MAX_ID_LEN))?
        .to_owned();
    let mut variables = BTreeMap::new();
    if let Some(vars) = r.optional(obj, "variables") {
        // Template variables are free-form names, so the map is read as it is.
        let vpath = join(path, "variables");
        match vars {
            Value::Object(m) if m.len() <= 50 => {
                for (k, val) in m {
                    if let Some(s) = r.text(&join(&vpath, k), val, 512) {
                        variables.insert(k.clone(), s.to_owned());
                    }
                }
            }
            _ => r.error(vpath, "must be an object of at most 50 string values"),
        }
    }
    Some(Action::Message {
        template_id,
        variables,
    })
}

fn id_field(r: &mut Reader, obj: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
    let v = r.required(obj, path, key)?;
    r.id(&join(path, key), v).map(str::to_owned)
}

fn date(r: &mut Reader, path: &str, v: &Value) -> Option<NaiveDate> {
    let Value::String(s) = v else {
        r.error(
            path,
            format!("must be a date string, got {}", fields::type_name(v)),
        );
        return None;
    };
    match super::calendar::parse_date(s) {
        Some(d) => Some(d),
        None => {
            r.error(path, format!("{}, got {s:?}", super::calendar::DATE_RULE));
            None
        }
    }
}

// ---- Canonical JSON: what stores keep and the API returns; `parse_*` reads it back. ----

impl Automation {
    pub fn to_json(&self) -> Value {
        let t = &self.trigger;
        let mut obj = json!({
            "id": self.id,
            "tenant_id": self.tenant_id,
            "name": self.name,
            "enabled": self.enabled,
            "mode": self.mode.as_str(),
            "trigger": {
                "type": t.clock.trigger_type(),
                "require_active_subscription": t.require_active_subscription,
                "catch_up_days": t.catch_up_days,
            },
            "conditions": self.conditions.iter().map(Condition::to_json).collect::<Vec<_>>(),
        });
        if let Some(continuity) = t.clock.continuity() {
            obj["trigger"]["continuity"] = json!(continuity.as_str());
        }
        if t.clock == ClockKind::CancellationRequested {
            obj["trigger"]["hold_days"] = json!(t.hold_days);
        }
        match self.step_form {
            _ if !self.segments.is_empty() => {
                obj["segments"] = json!(
                    self.segments
                        .iter()
                        .map(|s| {
                            let mut v = json!({
                                "name": s.name,
                                "steps": own_steps_json(&s.steps),
                            });
                            if !s.when.is_empty() {
                                v["when"] = json!(
                                    s.when.iter().map(Condition::to_json).collect::<Vec<_>>()
                                );
                            }
                            v
                        })
                        .collect::<Vec<_>>()
                );
            }
            StepForm::Thresholds => {
                let days: Vec<u16> = self.steps.iter().map(|s| s.day).collect();
                obj["trigger"]["thresholds_days"] = json!(days);
                // Every step of the short form takes the same actions.
                obj["actions"] = json!(
                    self.steps[0]
                        .actions
                        .iter()
                        .map(Action::to_json)
                        .collect::<Vec<_>>()
                );
            }
            StepForm::Named => {
                let steps = own_steps_json(&self.steps);
                // A hold with no steps of its own has only the built-in ones.
                if !steps.is_empty() || t.clock != ClockKind::CancellationRequested {
                    obj["steps"] = json!(steps);
                }
            }
        }
        if let Some(d) = self.active_from {
            obj["active_from"] = json!(d.to_string());
        }
        if let Some(rollout) = self.rollout {
            obj["rollout"] = rollout.to_json();
        }
        obj
    }

    /// Whether the automation's clocks are cancellation holds.
    pub fn holds(&self) -> bool {
        self.trigger.clock == ClockKind::CancellationRequested
    }

    /// Reads an automation in the canonical (or file) form.
    pub fn from_json(v: &Value) -> Result<Automation, FieldErrors> {
        let mut r = Reader::new();
        let a = parse_automation(&mut r, "", v);
        r.finish(a)
    }
}

/// A step list as the automation wrote it: without the built-in actions of a hold, and
/// without a built-in step left with none.
fn own_steps_json(steps: &[Step]) -> Vec<Value> {
    steps
        .iter()
        .filter(|s| s.actions.iter().any(|a| !a.is_built_in()))
        .map(|s| {
            let mut own = s.clone();
            own.actions.retain(|a| !a.is_built_in());
            own.to_json()
        })
        .collect()
}

impl Condition {
    /// Why the condition's field does not exist on `clock`'s automations, if it does not.
    pub fn missing_on(&self, clock: ClockKind) -> Option<String> {
        let field = match self {
            Self::Number { field, .. } => field.as_str(),
            Self::Currency { field, .. } => field.as_str(),
            Self::Code { field, .. } => field.as_str(),
            Self::Metadata { .. } | Self::Tag { .. } => return None,
        };
        let payment_only = field.starts_with("payment.");
        let cancellation_only = field.starts_with("cancellation.");
        match clock {
            _ if payment_only && clock != ClockKind::PaymentFailed => Some(format!(
                "{field} exists only for a payment_failed trigger: a {} clock has no failed payment",
                clock.trigger_type()
            )),
            _ if cancellation_only && clock != ClockKind::CancellationRequested => Some(format!(
                "{field} exists only for a cancellation_requested trigger: a {} clock has no \
                 cancellation request",
                clock.trigger_type()
            )),
            ClockKind::PaymentFailed | ClockKind::CancellationRequested
                if field == "days_past_due" =>
            {
                Some(format!(
                    "days_past_due exists only for a past_due trigger; use clock_days for the days \
                     on the {} clock",
                    clock.trigger_type()
                ))
            }
            _ => None,
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Self::Number { field, op, value } => {
                json!({"field": field.as_str(), "op": op.as_str(), "value": value})
            }
            Self::Currency {
                field,
                values,
                negate,
            } => {
                let codes: Vec<&str> = values.iter().map(|c| c.code()).collect();
                let op = if *negate { "not_in" } else { "in" };
                json!({"field": field.as_str(), "op": op, "value": codes})
            }
            Self::Code {
                field,
                values,
                negate,
            } => {
                let op = if *negate { "not_in" } else { "in" };
                json!({"field": field.as_str(), "op": op, "value": values})
            }
            Self::Metadata { key, value, negate } => {
                let field = format!("customer.metadata.{key}");
                match (value, negate) {
                    (Some(v), false) => json!({"field": field, "op": "eq", "value": v}),
                    (Some(v), true) => json!({"field": field, "op": "ne", "value": v}),
                    (None, false) => json!({"field": field, "op": "exists"}),
                    (None, true) => json!({"field": field, "op": "not_exists"}),
                }
            }
            Self::Tag { tag, negate } => {
                let op = if *negate { "not_contains" } else { "contains" };
                json!({"field": "customer.tags", "op": op, "value": tag})
            }
        }
    }
}

impl Action {
    pub fn to_json(&self) -> Value {
        // Serializing to a `Value` cannot fail: every key is text.
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// An action's canonical JSON, written straight to its output (a backtest prints millions),
/// `type` first.
impl serde::Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", self.type_name())?;
        match self {
            Self::Notify { channel } => map.serialize_entry("channel", channel.as_str())?,
            Self::Message {
                template_id,
                variables,
            } => {
                map.serialize_entry("template_id", template_id)?;
                map.serialize_entry("variables", variables)?;
            }
            Self::RetryPayment | Self::HoldCancellation | Self::ProceedCancellation => {}
            Self::Offer {
                offer_id,
                kind,
                template_id,
            } => {
                map.serialize_entry("offer_id", offer_id)?;
                map.serialize_entry("kind", kind.as_str())?;
                map.serialize_entry("template_id", template_id)?;
            }
        }
        map.end()
    }
}

impl TenantSettings {
    pub fn to_json(&self) -> Value {
        json!({
            "tenant_id": self.tenant_id,
            "timezone": self.calendar.timezone.name(),
            "evaluation_hour": self.calendar.evaluation_hour,
            "guardrail": {
                "min_count": self.guardrail.min_count,
                // Basis points back to the ratio people write; exact for whole basis points.
                "max_share": f64::from(self.guardrail.max_share_bp) / 10_000.0,
            },
            "min_days_between_messages": self.min_days_between_messages,
            "max_retries_per_30_days": self.max_retries_per_30_days,
            "decline_overrides": self.decline_overrides.to_json(),
            "normalization": self.normalization.to_json(),
        })
    }

    pub fn from_json(v: &Value) -> Result<TenantSettings, FieldErrors> {
        let mut r = Reader::new();
        let s = parse_tenant_settings(&mut r, "", v);
        r.finish(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Value {
        json!({"tenants":[{"tenant_id":"t1","timezone":"Europe/Berlin","evaluation_hour":7,
                           "guardrail":{"min_count":10,"max_share":0.1}}],
               "automations":[{"id":"a1","tenant_id":"t1","name":"All the parts",
                 "mode":"dry_run","active_from":"2026-11-01",
                 "trigger":{"type":"past_due","thresholds_days":[7,21],"continuity":"no_improvement",
                            "catch_up_days":2,"require_active_subscription":false},
                 "conditions":[{"field":"balance.amount_minor","op":"lte","value":-1000},
                               {"field":"balance.currency","op":"in","value":["EUR","USD"]},
                               {"field":"customer.metadata.plan","op":"eq","value":"gold"},
                               {"field":"customer.metadata.region","op":"not_exists"},
                               {"field":"customer.tags","op":"not_contains","value":"staff"},
                               {"field":"customer.tenure_days","op":"gte","value":90}],
                 "actions":[{"type":"notify","channel":"finance"},
                            {"type":"message","template_id":"reminder-1","variables":{"tone":"kind"}}]}]})
    }

    #[test]
    fn when_written_as_canonical_json_and_read_back_should_be_equal() {
        let parsed = AutomationsFile::from_json(&file()).unwrap();
        let a = &parsed.automations[0];
        assert_eq!(&Automation::from_json(&a.to_json()).unwrap(), a);
        let s = &parsed.tenants[0];
        assert_eq!(&TenantSettings::from_json(&s.to_json()).unwrap(), s);
    }

    #[test]
    fn when_fields_are_omitted_should_take_the_spec_defaults() {
        let a = Automation::from_json(&json!({"id":"a","tenant_id":"t","name":"n",
            "trigger":{"type":"past_due"},"actions":[{"type":"notify","channel":"finance"}]}))
        .unwrap();
        assert!(a.enabled);
        assert_eq!(a.mode, Mode::Live);
        let days: Vec<u16> = a.steps.iter().map(|s| s.day).collect();
        assert_eq!(days, [14, 30]);
        assert_eq!(a.step_form, StepForm::Thresholds);
        assert!(a.trigger.require_active_subscription);
        assert_eq!(
            a.trigger.clock,
            ClockKind::PastDue(Continuity::NegativeBalance)
        );
        assert_eq!(a.trigger.catch_up_days, 3);
        assert!(a.conditions.is_empty());
        assert_eq!(a.active_from, None);
    }

    #[test]
    fn when_the_catch_up_window_is_larger_than_a_gap_should_reject_it() {
        let err = Automation::from_json(&json!({"id":"a","tenant_id":"t","name":"n",
            "trigger":{"type":"past_due","thresholds_days":[14,16,30],"catch_up_days":3},
            "actions":[{"type":"notify","channel":"finance"}]}))
        .unwrap_err();
        assert_eq!(err.0[0].field, "trigger.catch_up_days");
        assert!(
            err.0[0]
                .message
                .contains("2-day gap between thresholds 14 and 16")
        );
    }

    #[test]
    fn when_thresholds_are_empty_out_of_range_or_repeated_should_name_each() {
        for (thresholds, field) in [
            (json!([]), "trigger.thresholds_days"),
            (json!([0]), "trigger.thresholds_days[0]"),
            (json!([14, 3651]), "trigger.thresholds_days[1]"),
            (json!([14, 14]), "trigger.thresholds_days[1]"),
        ] {
            let err = Automation::from_json(&json!({"id":"a","tenant_id":"t","name":"n",
                "trigger":{"type":"past_due","thresholds_days":thresholds},
                "actions":[{"type":"notify","channel":"finance"}]}))
            .unwrap_err();
            assert_eq!(err.0[0].field, field, "{err}");
        }
    }

    #[test]
    fn when_steps_are_closer_than_the_catch_up_window_should_name_the_two_steps() {
        let err = Automation::from_json(&json!({"id":"a","tenant_id":"t","name":"n",
            "trigger":{"type":"past_due","catch_up_days":5},
            "steps":[{"name":"first","day":0,"actions":[{"type":"notify","channel":"finance"}]},
                     {"name":"second","day":3,"actions":[{"type":"notify","channel":"finance"}]}]}))
        .unwrap_err();
        assert_eq!(err.0[0].field, "trigger.catch_up_days");
        assert!(
            err.0[0]
                .message
                .contains("3-day gap between steps \"first\" and \"second\""),
            "{err}"
        );
    }

    #[test]
    fn when_an_automation_has_thresholds_and_steps_should_refuse_both_forms() {
        let err = Automation::from_json(&json!({"id":"a","tenant_id":"t","name":"n",
            "trigger":{"type":"past_due","thresholds_days":[14]},
            "steps":[{"name":"s","day":1,"actions":[{"type":"notify","channel":"finance"}]}]}))
        .unwrap_err();
        assert_eq!(err.0[0].field, "trigger.thresholds_days", "{err}");
    }

    #[test]
    fn when_an_automation_names_its_steps_should_write_them_back_as_given() {
        let v = json!({"id":"a","tenant_id":"t","name":"n","trigger":{"type":"past_due"},
            "steps":[{"name":"s","day":0,"owner":"billing",
                      "actions":[{"type":"notify","channel":"finance"}]}]});
        let a = Automation::from_json(&v).unwrap();
        assert_eq!(a.step_form, StepForm::Named);
        let back = a.to_json();
        assert_eq!(back["steps"], v["steps"]);
        assert!(back.get("actions").is_none() && back["trigger"].get("thresholds_days").is_none());
        assert_eq!(Automation::from_json(&back).unwrap(), a);
    }

    #[test]
    fn when_the_guardrail_share_is_exceeded_with_enough_firings_should_hold() {
        let g = Guardrail::default();
        assert!(!g.holds(49, 49), "below min_count");
        assert!(g.holds(50, 199), "50 of 199 is above 25%");
        assert!(!g.holds(50, 200), "50 of 200 is exactly 25%, not more");
    }
}
