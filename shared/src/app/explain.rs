//! Why an automation did or did not fire for one customer on one local date: the firing rule
//! of the daily run, applied to that customer alone and written out in words; and the whole
//! view of a customer that the API (`GET /v1/customers/{id}`) and `rulekit explain` show.

use super::evaluate::history;
use crate::domain::TenantCalendar;
use crate::domain::automation::Action;
use crate::domain::calendar::days_between;
use crate::domain::cancellation::Fact;
use crate::domain::clock::{Clock, ClockKind};
use crate::domain::event::format_instant;
use crate::domain::quiet::PromiseStatus;
use crate::domain::rollout::{Arm, bucket};
use crate::domain::rule::RunContext;
use crate::domain::step::{Step, StepForm};
use crate::domain::{
    Automation, Continuity, CustomerId, CustomerState, Decision, Mode, Outcome, TenantId,
    TenantSettings,
};
use crate::ports::{
    AutomationStore, CustomerStore, DecisionStore, FiringRecord, FiringStatus, StoreError,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

/// The customer, its episodes, subscriptions and firings, and each automation's verdict, as
/// of `date` (JSON; the API's customer resource). Without `date`: the customer now, explained
/// for today (tenant-local). With it: the customer at that date's run instant as known at
/// `now`, from the events that occurred before it (all of them, for a run still to come), so
/// the day counts, the balance and the reasons are those of that date: an episode that began
/// later is not shown, and no count is negative. `as_of` says which instant the state is of.
/// `None` when the tenant has no such customer.
pub async fn customer_view<S>(
    store: &S,
    tenant: &TenantId,
    customer_id: &CustomerId,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<Option<Value>, StoreError>
where
    S: CustomerStore + AutomationStore + DecisionStore,
{
    let Some(current) = store.load_customer(tenant, customer_id).await? else {
        return Ok(None);
    };
    let current = current.value;
    let settings = store.tenant_settings(tenant).await?;
    let calendar = &settings.calendar;
    let (date, as_of) = match date {
        None => (calendar.local_date(now), now),
        Some(d) => (d, calendar.run_instant(d).min(now)),
    };
    let mut customer = if as_of < now {
        let log = store.customer_events(tenant, customer_id).await?;
        CustomerState::replay(
            tenant.clone(),
            customer_id.clone(),
            log.iter().filter(|e| e.occurred_at() < as_of),
        )
        // The stored log was applied once already, so it applies again; a failure here is a
        // corrupt store.
        .map_err(|e| StoreError::failed(format!("the stored log does not replay: {e}")))?
    } else {
        current
    };
    // As the daily run reads it: normalized by the rules in force (SPEC §8.7), also a past
    // date's profile and one the re-normalization has not reached yet.
    if !customer.is_normalized_under(&settings.normalization) {
        customer.normalize_profile(&settings.normalization);
    }
    let customer = customer;

    let episode = |continuity: Continuity| -> Value {
        customer.episode(continuity).map_or(Value::Null, |e| {
            let since = calendar.local_date(e.start.occurred_at);
            json!({
                "started_at": format_instant(e.start.occurred_at),
                "since": since.to_string(),
                "days_past_due": days_between(since, date),
            })
        })
    };
    let mut automations = store.tenant_automations(tenant).await?;
    automations.retain(|a| !a.archived);
    let firings = store.customer_firings(tenant, customer_id).await?;
    let explanations =
        explain_customer(store, &settings, &automations, &customer, &firings, date).await?;
    Ok(Some(json!({
        "customer_id": customer.customer_id,
        "date": date.to_string(),
        "as_of": format_instant(as_of),
        "balance": customer.balance.as_ref().map(|b| json!({
            "amount_minor": b.balance.amount_minor,
            "currency": b.balance.currency.code(),
        })),
        "past_due": customer.is_past_due(),
        "aging": aging_view(&customer, calendar, date),
        "episodes": {
            "negative_balance": episode(Continuity::NegativeBalance),
            "no_improvement": episode(Continuity::NoImprovement),
        },
        "profile": profile_view(&customer),
        "quiet": quiet_view(&customer, as_of),
        "payment_clocks": payment_clocks_view(&customer, &settings, date),
        "cancellations": cancellations_view(&customer),
        "active_subscriptions": customer.subscriptions.iter()
            .filter(|s| s.status.is_active())
            .map(|s| json!({"id": s.id, "status": s.status.as_str()}))
            .collect::<Vec<_>>(),
        "firings": firings.iter().map(FiringRecord::to_json).collect::<Vec<_>>(),
        "explanations": explanations.iter().zip(&automations).map(|(e, a)| {
            let mut v = json!({
                "automation_id": e.automation_id,
                "decisions": e.decisions.iter()
                    .map(|d| serde_json::to_value(d.row()).unwrap_or_default())
                    .collect::<Vec<_>>(),
                "why": e.why,
            });
            if let Some(rollout) = rollout_view(a, &customer, &firings) {
                v["rollout"] = rollout;
            }
            v
        }).collect::<Vec<_>>(),
    })))
}

/// What the customer owes as unpaid charges, oldest first, each with its local date, age and
/// bucket (SPEC §8.9), and whether the oldest were merged to keep the state bounded.
fn aging_view(customer: &CustomerState, calendar: &TenantCalendar, date: NaiveDate) -> Value {
    use crate::domain::aging::{BUCKETS, MAX_CHARGES, bucket_of};
    let Some(balance) = &customer.balance else {
        return Value::Null;
    };
    let currency = balance.balance.currency;
    let charges: Vec<Value> = customer
        .unpaid_charges()
        .iter()
        .map(|c| {
            let day = calendar.local_date(c.at);
            let age = days_between(day, date);
            json!({
                "charged_at": format_instant(c.at),
                "date": day.to_string(),
                "days": age,
                "bucket": BUCKETS[bucket_of(age)].0,
                "unpaid": {"amount_minor": c.unpaid_minor, "currency": currency.code()},
            })
        })
        .collect();
    let merged = customer
        .charges
        .as_ref()
        .and_then(|c| c.merged_through)
        .map(|t| {
            format!(
                "more than {MAX_CHARGES} charges were unpaid at once: those up to {} were merged \
             into the oldest, dated as it is",
                format_instant(t)
            )
        });
    let estimated = customer.charges.is_none() && !charges.is_empty();
    json!({
        "charges": charges,
        "merged": merged,
        "note": estimated.then_some(
            "recorded before charges were kept: all that is owed is dated at the episode's start"
        ),
    })
}

/// The customer's place in an automation's rollout (SPEC §8.8), for systems that join
/// outcomes themselves: its bucket, the arm a clock starting now would take, and the arm
/// each of its clocks was given when first seen.
fn rollout_view(
    automation: &Automation,
    customer: &CustomerState,
    firings: &[FiringRecord],
) -> Option<Value> {
    let rollout = automation.rollout?;
    let b = bucket(&customer.tenant_id, &automation.id, &customer.customer_id);
    let clocks: Vec<Value> = firings
        .iter()
        .map(|r| &r.decision)
        .filter(|d| d.automation_id == automation.id && d.is_assignment())
        .filter_map(|d| {
            Some(json!({
                "clock_id": d.clock_id.as_deref(),
                "started_at": format_instant(d.episode.occurred_at),
                "arm": d.arm?.as_str(),
                "decided_on": d.date.to_string(),
            }))
        })
        .collect();
    Some(json!({
        "bucket": b,
        "cohort_percent": rollout.cohort_percent,
        "holdout_percent": rollout.holdout_percent,
        "arm_for_a_new_clock": rollout.arm(b).as_str(),
        "clocks": clocks,
    }))
}

/// The profile as the tenant's systems sent it (`metadata`), and its metadata as the
/// normalization rules made it (`normalized`), which is what conditions and segments read.
fn profile_view(customer: &CustomerState) -> Value {
    let Some(profile) = customer.profile() else {
        return Value::Null;
    };
    json!({
        "created_at": profile.created_at.map(format_instant),
        "tags": profile.tags,
        "metadata": profile.metadata,
        "normalized": {
            "metadata": customer.metadata(),
            "rules_version": customer.normalized.as_ref().map_or(0, |n| n.version),
        },
    })
}

/// One automation's verdict for the customer on the date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub automation_id: String,
    /// What a run on the date would newly decide, given what is recorded now (nothing is
    /// written).
    pub decisions: Vec<Decision>,
    /// The verdict in words: what was recorded on the date, what a run would decide, or why
    /// there is nothing to decide. Never empty.
    pub why: String,
}

/// Explains every automation of the tenant for `customer` (its state as the run of `date`
/// sees it) on `date`. `recorded` is what the decision store holds for the customer: the
/// decisions recorded on `date` are part of the answer.
pub async fn explain_customer<S: DecisionStore>(
    store: &S,
    settings: &TenantSettings,
    automations: &[Automation],
    customer: &CustomerState,
    recorded: &[FiringRecord],
    date: NaiveDate,
) -> Result<Vec<Explanation>, StoreError> {
    let calendar = &settings.calendar;
    let mut out = Vec::new();
    for automation in automations {
        let ctx = RunContext::new(
            automation,
            automation.active_from.unwrap_or(date),
            calendar,
            date,
        )
        .with_message_spacing(settings.min_days_between_messages)
        .with_declines(&settings.decline_overrides);
        let trigger = &automation.trigger;
        let days =
            |f: fn(&Step) -> String| automation.all_steps().map(f).collect::<Vec<_>>().join(", ");
        // What the automation acts at, in its own words: thresholds (§4) or steps (§8.2).
        let (reached, windows) = match automation.step_form {
            StepForm::Thresholds => {
                let list = days(|s| s.day.to_string());
                (
                    format!("every threshold reached ({list})"),
                    format!("thresholds {list} days"),
                )
            }
            StepForm::Named => {
                let list = days(|s| format!("{:?} at day {}", s.name, s.day));
                (format!("every step due ({list})"), format!("steps {list}"))
            }
        };
        let on_the_date: Vec<&FiringRecord> = recorded
            .iter()
            .filter(|r| r.decision.automation_id == automation.id && r.decision.date == date)
            .collect();
        let mut decisions = Vec::new();
        let mut why = Vec::new();
        if let Some(step) = current_step(automation, customer, recorded, date) {
            why.push(step);
        }
        why.extend(payment_paths(&ctx, customer, recorded, date));
        why.extend(hold_paths(&ctx, customer, recorded, date));
        if !on_the_date.is_empty() {
            let told: Vec<String> = on_the_date
                .iter()
                .map(|r| {
                    format!(
                        "{} ({})",
                        describe(&r.decision, true),
                        r.status.as_str().replace('_', " ")
                    )
                })
                .collect();
            why.push(format!("the run of {date} recorded: {}", told.join("; ")));
        }
        if !automation.enabled && automation.holds() {
            why.push("the automation is disabled: the holds it began still proceed".to_owned());
        } else if !automation.enabled {
            why.push("the automation is disabled".to_owned());
        } else {
            let mut candidates = Vec::new();
            ctx.candidates(customer, &mut candidates);
            let (settled, messaged) = if candidates.is_empty() {
                Default::default()
            } else {
                history(store, &ctx, &customer.customer_id).await?
            };
            for candidate in &candidates {
                let before = decisions.len();
                ctx.decide(customer, candidate, &settled, &messaged, &mut decisions);
                let clock = clock_words(
                    trigger.clock,
                    candidate.clock.id(),
                    candidate.days_past_due,
                    date,
                );
                if decisions.len() > before {
                    let told: Vec<String> = decisions[before..]
                        .iter()
                        .map(|d| describe(d, false))
                        .collect();
                    why.push(format!("{clock}: a run would decide {}", told.join("; ")));
                } else if on_the_date.is_empty() {
                    why.push(format!(
                        "{clock}: {reached} is already settled for this clock"
                    ));
                }
            }
            let mut running = Vec::new();
            trigger
                .clock
                .clocks(customer, trigger.terms(calendar), |c| {
                    // A hold that ended is over, not waiting for a window.
                    let ended = c
                        .hold
                        .is_some_and(|h| calendar.local_date(h.ends_at) < date);
                    if !ended && !candidates.iter().any(|k| k.clock.start == c.start) {
                        running.push((c.id().map(str::to_owned), c.start.occurred_at));
                    }
                });
            for (id, start) in &running {
                let since = calendar.local_date(*start);
                let how = match trigger.clock.continuity() {
                    Some(c) => format!("since {since}, {}", c.as_str()),
                    None => format!("since {since}"),
                };
                why.push(format!(
                    "{} ({how}): no {} window is open ({windows}, catch-up {} days)",
                    clock_words(
                        trigger.clock,
                        id.as_deref(),
                        days_between(since, date),
                        date
                    ),
                    match automation.step_form {
                        StepForm::Thresholds => "threshold",
                        StepForm::Named => "step",
                    },
                    trigger.catch_up_days
                ));
            }
            if candidates.is_empty() && running.is_empty() {
                why.push(match (trigger.clock.continuity(), automation.holds()) {
                    (Some(c), _) => format!("not past due on {date} under {}", c.as_str()),
                    (None, true) => format!("no request to cancel is held on {date}"),
                    (None, false) => format!("no failed payment outstanding on {date}"),
                });
            }
        }
        out.push(Explanation {
            automation_id: automation.id.to_string(),
            decisions,
            why: why.join(". "),
        });
    }
    Ok(out)
}

/// A clock and its day count in words: "12 days past due on D", for a payment clock
/// "invoice in_1 failed 3 days before D", for a cancellation clock "subscription s1 asked
/// to cancel 3 days before D".
fn clock_words(kind: ClockKind, id: Option<&str>, days: i64, date: NaiveDate) -> String {
    match (id, kind) {
        (None, _) => format!("{days} days past due on {date}"),
        (Some(s), ClockKind::CancellationRequested) => {
            format!("subscription {s} asked to cancel {days} days before {date}")
        }
        (Some(i), _) => format!("invoice {i} failed {days} days before {date}"),
    }
}

/// Where each cancellation clock stands on `date` (SPEC §8.6): "subscription s1: hold until
/// 2026-11-09; offered downgrade-basic on 2026-11-02; proceeds on 2026-11-09 unless
/// withdrawn".
fn hold_paths(
    ctx: &RunContext<'_>,
    customer: &CustomerState,
    recorded: &[FiringRecord],
    date: NaiveDate,
) -> Vec<String> {
    let automation = ctx.automation;
    let (true, Some(facts)) = (automation.holds(), &customer.cancellations) else {
        return Vec::new();
    };
    let calendar = ctx.calendar;
    let mut out = Vec::new();
    let holds = facts.holds(automation.trigger.hold_days, calendar);
    let seen = holds
        .iter()
        .filter(|h| h.start.occurred_at <= calendar.run_instant(date));
    // Each subscription's latest hold.
    let latest = seen.clone().filter(|h| {
        !seen
            .clone()
            .any(|l| l.subscription_id() == h.subscription_id() && l.start > h.start)
    });
    for hold in latest {
        let clock = Clock {
            start: hold.start,
            invoice: None,
            hold: Some(*hold),
        };
        let mine: Vec<&FiringRecord> = recorded
            .iter()
            .filter(|r| r.decision.automation_id == automation.id && r.decision.date <= date)
            .filter(|r| clock.owns(&r.decision.settled()))
            .collect();
        let ends = calendar.local_date(hold.ends_at);
        let mut parts = Vec::new();
        match mine.iter().find(|r| r.decision.threshold_days == 0) {
            None => parts.push(format!(
                "the hold is decided at the first run that sees the request ({})",
                calendar.first_due(0, hold.start.occurred_at, hold.since)
            )),
            Some(r) if r.decision.settled().went_on => {
                let would = if r.decision.mode == Mode::DryRun {
                    " (dry run: nothing was sent)"
                } else {
                    ""
                };
                parts.push(format!("hold until {}{would}", hold.until));
            }
            Some(r) => parts.push(format!(
                "no hold: {} on {}",
                describe(&r.decision, true),
                r.decision.date
            )),
        }
        for r in &mine {
            let actions = r
                .decision
                .plan
                .as_deref()
                .map_or(&[][..], |p| &p.actions[..]);
            for (i, action) in actions.iter().enumerate() {
                let Action::Offer { offer_id, .. } = action else {
                    continue;
                };
                let verb = if r.cancelled.iter().any(|c| c.action == i) {
                    "offer cancelled:"
                } else if r.decision.mode == Mode::DryRun {
                    "would have offered"
                } else {
                    "offered"
                };
                parts.push(format!("{verb} {offer_id} on {}", r.decision.date));
            }
        }
        match hold.stop {
            Some((stop, key)) => parts.push(format!(
                "stopped {} on {}",
                stop.as_str(),
                calendar.local_date(key.occurred_at)
            )),
            None if date >= ends => {
                let proceeded = mine.iter().any(|r| {
                    r.decision.threshold_days == automation.trigger.hold_days
                        && r.decision.settled().went_on
                });
                parts.push(match proceeded {
                    true => format!("proceeded on {ends} (hold_ended)"),
                    false => format!("the hold ended on {ends} (hold_ended)"),
                });
            }
            None => parts.push(format!("proceeds on {ends} unless withdrawn")),
        }
        out.push(format!(
            "subscription {}: {}",
            hold.subscription_id(),
            parts.join("; ")
        ));
    }
    out
}

/// The customer's cancellation facts as received: requests, answers and cancellations.
fn cancellations_view(customer: &CustomerState) -> Value {
    let entries = customer.cancellations.iter().flat_map(|c| c.entries.iter());
    Value::Array(
        entries
            .map(|e| {
                let mut v = json!({
                    "subscription_id": e.subscription_id,
                    "occurred_at": format_instant(e.key.occurred_at),
                });
                match &e.fact {
                    Fact::Requested(r) => {
                        v["type"] = json!("requested");
                        v["reason"] = json!(r.reason);
                        v["effective"] = json!(r.effective.as_str());
                        v["period_end"] = json!(r.period_end.map(format_instant));
                    }
                    Fact::Withdrawn { offer_id } => {
                        v["type"] = json!("withdrawn");
                        v["offer_id"] = json!(offer_id);
                    }
                    Fact::Confirmed => v["type"] = json!("confirmed"),
                    Fact::Canceled => v["type"] = json!("subscription_canceled"),
                }
                v
            })
            .collect(),
    )
}

/// Where each payment clock of a segmented automation stands on `date` (SPEC §8.3): "invoice
/// in_1: on the standard path since 2026-11-03; retry-2 due 2026-11-06; last failure
/// insufficient_funds (soft)".
fn payment_paths(
    ctx: &RunContext<'_>,
    customer: &CustomerState,
    recorded: &[FiringRecord],
    date: NaiveDate,
) -> Vec<String> {
    let automation = ctx.automation;
    let mut out = Vec::new();
    let terms = automation.trigger.terms(ctx.calendar);
    automation.trigger.clock.clocks(customer, terms, |clock| {
        let Some(invoice) = clock.invoice else {
            return;
        };
        let mine: Vec<&FiringRecord> = recorded
            .iter()
            .filter(|r| r.decision.automation_id == automation.id && r.decision.date <= date)
            .filter(|r| clock.owns(&r.decision.settled()))
            .collect();
        let mut parts = Vec::new();
        let assigned = mine.iter().find(|r| r.decision.is_assignment());
        let steps: &[Step] = match assigned {
            None if !automation.segments.is_empty() => {
                parts.push("its segment is decided at the first run that sees it".to_owned());
                &[]
            }
            None => &automation.steps,
            Some(r) => match &r.decision.segment {
                None => {
                    parts.push(format!(
                        "on no segment since {} (no_segment)",
                        r.decision.date
                    ));
                    &[]
                }
                Some(name) => {
                    parts.push(format!("on the {name} path since {}", r.decision.date));
                    automation
                        .segments
                        .iter()
                        .find(|s| *s.name == **name)
                        .map_or(&[][..], |s| s.steps.as_slice())
                }
            },
        };
        let since = ctx.calendar.local_date(clock.start.occurred_at);
        let next = steps.iter().find(|s| {
            !mine
                .iter()
                .any(|r| !r.decision.is_assignment() && r.decision.threshold_days == s.day)
        });
        if let Some(step) = next {
            let due = ctx.first_due(step, clock.start.occurred_at, since);
            parts.push(format!("{} due {due}", step.name));
        }
        if let Some(f) = &invoice.latest {
            parts.push(format!(
                "last failure {} ({})",
                f.failure_code.as_deref().unwrap_or("without a code"),
                ctx.category(invoice).as_str()
            ));
        }
        out.push(format!("invoice {}: {}", invoice.id, parts.join("; ")));
    });
    out
}

/// The customer's invoices with a failed payment (SPEC §8.1): each running clock with its
/// attempts and latest failure (its class under the tenant's overrides), and the last one
/// that stopped, with why.
fn payment_clocks_view(
    customer: &CustomerState,
    settings: &TenantSettings,
    date: NaiveDate,
) -> Value {
    let calendar = &settings.calendar;
    let invoices = customer.invoices.iter().flat_map(|i| i.list.iter());
    Value::Array(
        invoices
            .map(|invoice| {
                let running = invoice.clock.as_ref().map(|start| {
                    let since = calendar.local_date(start.occurred_at);
                    json!({
                        "started_at": format_instant(start.occurred_at),
                        "since": since.to_string(),
                        "clock_days": days_between(since, date),
                        "attempts": invoice.attempts,
                    })
                });
                let latest = invoice.latest.as_ref().map(|f| {
                    json!({
                        "amount_minor": f.amount.amount_minor,
                        "currency": f.amount.currency.code(),
                        "attempt": invoice.attempt(),
                        "failure_code": f.failure_code,
                        "advice_code": f.advice_code,
                        "failure_category": invoice.category(&settings.decline_overrides).as_str(),
                    })
                });
                let stopped = invoice.stopped.as_ref().map(|s| {
                    json!({
                        "started_at": format_instant(s.start.occurred_at),
                        "stopped_at": format_instant(s.end.occurred_at),
                        "reason": s.reason.as_str(),
                    })
                });
                json!({
                    "invoice_id": invoice.id,
                    "running": running,
                    "latest_failure": latest,
                    "last_stopped": stopped,
                })
            })
            .collect(),
    )
}

/// The customer's latest promise to pay (with what became of it) and disputes, as of
/// `as_of`: a broken promise shows here (SPEC §8.2).
fn quiet_view(customer: &CustomerState, as_of: DateTime<Utc>) -> Value {
    let Some(quiet) = customer.quiet.as_deref() else {
        return json!({"promise": null, "disputes": []});
    };
    let promise = quiet.promise.as_ref().map(|p| {
        let running = customer.past_due.as_ref().map(|e| &e.start);
        let ended = customer.last_ended.as_deref().map(|e| (&e.start, &e.end));
        json!({
            "made_at": format_instant(p.key.occurred_at),
            "until": format_instant(p.until),
            "amount_minor": p.amount_minor,
            "status": PromiseStatus::of(p, running, ended, as_of).as_str(),
        })
    });
    let disputes: Vec<Value> = quiet
        .disputes
        .iter()
        .map(|d| {
            let open = d
                .opened
                .as_ref()
                .is_some_and(|o| d.closed.as_ref().is_none_or(|c| c < o));
            json!({"id": d.id, "status": if open { "open" } else { "closed" }})
        })
        .collect();
    json!({"promise": promise, "disputes": disputes})
}

/// Where the customer stands on a ladder of named steps on `date`: the last step fired for
/// the current episode (on or before `date`), in words ("on the \"31-60\" step since
/// 2026-12-02, awaiting approval"). `None` for the short form, or before any step fired.
fn current_step(
    automation: &Automation,
    customer: &CustomerState,
    recorded: &[FiringRecord],
    date: NaiveDate,
) -> Option<String> {
    if automation.step_form != StepForm::Named {
        return None;
    }
    // The past-due clock: the customer's episode under the automation's continuity.
    let start = &customer
        .episode(automation.trigger.clock.continuity()?)?
        .start;
    let last = recorded
        .iter()
        .filter(|r| r.decision.automation_id == automation.id && r.decision.date <= date)
        .filter(|r| r.decision.episode >= *start)
        .filter(|r| {
            !matches!(
                r.decision.outcome,
                Outcome::Skipped { .. } | Outcome::Segmented
            )
        })
        .max_by_key(|r| (r.decision.date, r.decision.threshold_days))?;
    let status = match last.status {
        FiringStatus::Sent | FiringStatus::Pending | FiringStatus::Sending => String::new(),
        other => format!(", {}", other.as_str().replace('_', " ")),
    };
    Some(format!(
        "on the {:?} step since {}{status}",
        last.decision.step_name(),
        last.decision.date
    ))
}

/// One decision in words, as a run would take it (`threshold 14 fires`) or as one took it
/// (`step "31-60" fired`), with the reason for a skip.
fn describe(d: &Decision, taken: bool) -> String {
    let n = match &d.step {
        None => format!("threshold {}", d.threshold_days),
        Some(name) => format!("step {name:?}"),
    };
    let late = if d.late { " late" } else { "" };
    match (&d.outcome, taken) {
        (Outcome::Fired, false) => format!("{n} fires{late}"),
        (Outcome::Fired, true) => format!("{n} fired{late}"),
        (Outcome::Held, false) => format!("{n} fires, held by the guardrail"),
        (Outcome::Held, true) => format!("{n} fired, held by the guardrail"),
        (Outcome::AwaitingApproval, false) => format!("{n} fires{late}, awaiting approval"),
        (Outcome::AwaitingApproval, true) => format!("{n} fired{late}, awaiting approval"),
        (Outcome::Holdout, false) => format!("{n} is due, and held out (holdout){late}"),
        (Outcome::Holdout, true) => format!("{n} was due, and held out (holdout){late}"),
        (Outcome::Segmented, false) if d.segment.is_none() => format!(
            "the clock goes in the rollout's {} arm",
            d.arm.map_or("treated", Arm::as_str)
        ),
        (Outcome::Segmented, true) if d.segment.is_none() => format!(
            "the clock went in the rollout's {} arm",
            d.arm.map_or("treated", Arm::as_str)
        ),
        (Outcome::Segmented, false) => format!(
            "the clock goes on the {} path",
            d.segment.as_deref().unwrap_or_default()
        ),
        (Outcome::Segmented, true) => format!(
            "the clock went on the {} path",
            d.segment.as_deref().unwrap_or_default()
        ),
        (Outcome::Skipped { reason, detail }, false) => {
            format!("{n} is skipped ({}: {detail})", reason.code())
        }
        (Outcome::Skipped { reason, detail }, true) => {
            format!("{n} was skipped ({}: {detail})", reason.code())
        }
    }
}
