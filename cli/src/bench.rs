//! `rulekit bench`: the domain budgets of SPEC §7, measured on one core.
//!
//! - replay: balance events folded into customer states (`CustomerState::replay`), per second;
//! - evaluate: customer-days through the firing rule (candidate test and decision), per second,
//!   customer by customer (the budgeted figure) and date by date (for comparison);
//! - payments: a mix of payment failures (each invoice's clock), retries and successes folded
//!   into the same customers' states, per second, and their customer-days through a
//!   segmented dunning automation (segment decided once, then its steps), per second;
//! - profiles: one profile event per customer applied, and normalized by SPEC §8.7's example
//!   rules, each per second, and the replay's rate with them among the balance events.
//!
//! Input is synthetic and deterministic (a fixed-seed generator), built outside the timed
//! regions in batches so memory stays small at a million customers.

use crate::Failure;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::json;
use shared::domain::automation::{Action, Channel, Trigger};
use shared::domain::clock::ClockKind;
use shared::domain::event::{PaymentFailure, SubscriptionStatus};
use shared::domain::rule::RunContext;
use shared::domain::step::{Step, StepForm};
use shared::domain::{
    Automation, AutomationId, Continuity, Currency, CustomerId, CustomerState, Decision, Event,
    EventBody, EventId, EventKey, Mode, Money, Settled, TenantCalendar, TenantId,
};
use std::time::{Duration as Elapsed, Instant};
use synthetic::SplitMix64;

/// SPEC §7 budgets.
const REPLAY_BUDGET_PER_SEC: f64 = 5_000_000.0;
const EVALUATE_BUDGET_PER_SEC: f64 = 20_000_000.0;
const BATCH: usize = 10_000;

#[derive(clap::Args)]
pub struct Args {
    /// Customers to generate.
    #[arg(long, default_value_t = 1_000_000)]
    customers: usize,
    /// Balance events per customer.
    #[arg(long, default_value_t = 8)]
    events_per_customer: usize,
    /// Consecutive local dates each customer is evaluated for.
    #[arg(long, default_value_t = 30)]
    days: u32,
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// One customer's payment events, in order: an invoice about every 30 days; most are paid
/// at once (a `payment.succeeded` alone), one in five fails first (soft declines mostly, some
/// hard or needing the customer), fails again once or twice, and is paid days later or left
/// failing.
fn payment_events(
    tenant: &TenantId,
    n: usize,
    invoices: usize,
    rng: &mut SplitMix64,
) -> Vec<Event> {
    let usd = Currency::parse("USD").unwrap_or_else(|_| unreachable!("USD is in ISO 4217"));
    let customer = CustomerId::new(format!("c{n}"));
    let mut at = start() + Duration::hours(rng.below(24 * 30) as i64);
    let mut events = Vec::new();
    let mut push = |at: DateTime<Utc>, body: EventBody| {
        let k = events.len();
        events.push(Event {
            tenant_id: tenant.clone(),
            customer_id: customer.clone(),
            key: EventKey {
                occurred_at: at,
                event_id: EventId::new(format!("p{n}-{k}")),
            },
            received_at: at,
            body,
        });
    };
    for i in 0..invoices {
        at += Duration::hours(24 * 25 + rng.below(24 * 10) as i64);
        let invoice = format!("in{i}");
        let amount = Money::new(1_000 + rng.below(20_000) as i64, usd);
        let paid = EventBody::PaymentSucceeded {
            invoice_id: invoice.clone(),
            amount,
        };
        if rng.below(100) >= 20 {
            push(at, paid);
            continue;
        }
        let code = [
            "insufficient_funds",
            "do_not_honor",
            "expired_card",
            "stolen_card",
        ][match rng.below(10) {
            0..=5 => 0,
            6..=7 => 1,
            8 => 2,
            _ => 3,
        }];
        let mut t = at;
        for attempt in 1..=1 + rng.below(3) as u32 {
            push(
                t,
                EventBody::PaymentFailed(std::sync::Arc::new(PaymentFailure {
                    invoice_id: invoice.clone(),
                    amount,
                    attempt: Some(attempt),
                    failure_code: Some(code.to_owned()),
                    advice_code: None,
                })),
            );
            t += Duration::hours(24 + rng.below(48) as i64);
        }
        if rng.below(100) < 70 {
            push(t, paid);
        }
    }
    events
}

/// The dunning playbook of the example: hard declines and cards the customer must fix, large
/// invoices, and everyone else, each with its steps.
fn bench_dunning(tenant: &TenantId) -> Result<Automation, Failure> {
    Automation::from_json(&json!({
        "id": "bench-dunning", "tenant_id": tenant, "name": "bench dunning",
        "trigger": {"type": "payment_failed", "catch_up_days": 2},
        "segments": [
            {"name": "customer-action",
             "when": [{"field": "payment.failure_category", "op": "in",
                       "value": ["hard", "action_required"]}],
             "steps": [{"name": "update-card", "day": 0,
                        "actions": [{"type": "message", "template_id": "update-card"}]}]},
            {"name": "large",
             "when": [{"field": "payment.amount_minor", "op": "gte", "value": 15000}],
             "steps": [{"name": "account-manager", "day": 1,
                        "actions": [{"type": "notify", "channel": "finance"}]},
                       {"name": "assisted-retry", "day": 3,
                        "actions": [{"type": "retry_payment"}]}]},
            {"name": "standard",
             "steps": [{"name": "retry-1", "day": 1, "actions": [{"type": "retry_payment"}]},
                       {"name": "retry-2", "day": 4, "actions": [{"type": "retry_payment"}]},
                       {"name": "last-notice", "day": 7,
                        "actions": [{"type": "message", "template_id": "last-notice"}]}]}]}))
    .map_err(|e| Failure::Runtime(format!("the bench's dunning automation is invalid: {e}")))
}

/// One customer's balance events, in order: a charge about every 30 days that most customers
/// pay in full within days, some pay in part and a few leave unpaid. About one customer in
/// six ends past due, as in a typical subscription business.
fn customer_events(
    tenant: &TenantId,
    n: usize,
    per_customer: usize,
    rng: &mut SplitMix64,
) -> Vec<Event> {
    let usd = Currency::parse("USD").unwrap_or_else(|_| unreachable!("USD is in ISO 4217"));
    let customer = CustomerId::new(format!("c{n}"));
    let mut at = start() + Duration::hours(rng.below(24 * 30) as i64);
    let mut balance: i64 = 0;
    (0..per_customer)
        .map(|k| {
            if k % 2 == 0 {
                // The monthly charge.
                at += Duration::hours(24 * 25 + rng.below(24 * 10) as i64);
                balance -= 1_000 + rng.below(9_000) as i64;
            } else {
                // The payment that follows it, if any.
                at += Duration::hours(1 + rng.below(24 * 10) as i64);
                balance = match rng.below(100) {
                    0..=79 => balance.max(0),
                    80..=91 => balance / 2,
                    _ => balance,
                };
            }
            Event {
                tenant_id: tenant.clone(),
                customer_id: customer.clone(),
                key: EventKey {
                    occurred_at: at,
                    event_id: EventId::new(format!("e{n}-{k}")),
                },
                received_at: at,
                body: EventBody::BalanceChanged {
                    balance: Money::new(balance, usd),
                    delta_minor: None,
                },
            }
        })
        .collect()
}

fn bench_automation(tenant: &TenantId) -> Automation {
    Automation {
        id: AutomationId::new("bench"),
        tenant_id: tenant.clone(),
        name: "bench".to_owned(),
        enabled: true,
        mode: Mode::Live,
        trigger: Trigger {
            clock: ClockKind::PastDue(Continuity::NegativeBalance),
            require_active_subscription: true,
            catch_up_days: 3,
            hold_days: 0,
        },
        conditions: Vec::new(),
        steps: Step::from_thresholds(
            &[14, 30],
            &[Action::Notify {
                channel: Channel::Finance,
            }],
        ),
        step_form: StepForm::Thresholds,
        segments: Vec::new(),
        active_from: None,
        rollout: None,
        archived: false,
        version: 0,
    }
}

pub fn run(args: Args) -> Result<(), Failure> {
    if args.customers == 0 || args.events_per_customer == 0 || args.days == 0 {
        return Err(Failure::Input(
            "--customers, --events-per-customer and --days must be positive\n".to_owned(),
        ));
    }
    let tenant = TenantId::new("bench");
    let mut rng = SplitMix64::new(42);
    let subscription = Event {
        tenant_id: tenant.clone(),
        customer_id: CustomerId::new(""),
        key: EventKey {
            occurred_at: start(),
            event_id: EventId::new("s"),
        },
        received_at: start(),
        body: EventBody::SubscriptionUpdated {
            subscription_id: "s1".to_owned(),
            status: SubscriptionStatus::Active,
        },
    };

    // Replay, batch by batch; only the fold is timed.
    let mut states = Vec::with_capacity(args.customers);
    let mut replay_time = Elapsed::ZERO;
    let mut replayed = 0usize;
    for batch_start in (0..args.customers).step_by(BATCH) {
        let batch_end = (batch_start + BATCH).min(args.customers);
        let logs: Vec<Vec<Event>> = (batch_start..batch_end)
            .map(|n| customer_events(&tenant, n, args.events_per_customer, &mut rng))
            .collect();
        let timer = Instant::now();
        for log in &logs {
            let state =
                CustomerState::replay(tenant.clone(), log[0].customer_id.clone(), log.iter())
                    .map_err(|e| Failure::Runtime(format!("replay failed: {e}")))?;
            states.push(state);
        }
        replay_time += timer.elapsed();
        replayed += logs.iter().map(Vec::len).sum::<usize>();
    }
    // Every customer gets an active subscription (untimed) so the rule checks it.
    for state in &mut states {
        let mut sub = subscription.clone();
        sub.customer_id = state.customer_id.clone();
        state
            .apply(&sub)
            .map_err(|e| Failure::Runtime(format!("setup failed: {e}")))?;
    }
    let past_due = states.iter().filter(|s| s.is_past_due()).count();

    // Evaluate every customer on consecutive dates following the generated period.
    let automation = bench_automation(&tenant);
    let calendar = TenantCalendar::new(chrono_tz::America::New_York, 6);
    let first_date: NaiveDate = (start() + Duration::days(150)).date_naive();
    let contexts: Vec<RunContext<'_>> = (0..args.days)
        .map(|day| {
            let date = first_date + Duration::days(i64::from(day));
            RunContext::new(&automation, first_date, &calendar, date)
        })
        .collect();

    // Customer by customer, each over every date while its state is in cache: the domain's
    // own cost, as in a backtest of one customer's history.
    let timer = Instant::now();
    let decided = evaluate_customer_major(&states, &contexts);
    let evaluate_time = timer.elapsed();
    // Date by date, each sweeping the whole population: bounded by memory bandwidth once
    // the states outgrow the cache; reported so the two can be compared in one run.
    let timer = Instant::now();
    let decided_day_major = evaluate_day_major(&states, &contexts);
    let day_major_time = timer.elapsed();
    if decided != decided_day_major {
        return Err(Failure::Runtime(format!(
            "the two evaluation orders disagree: {decided} vs {decided_day_major} decisions"
        )));
    }
    let customer_days = args.customers * args.days as usize;

    // Then the same customers' payment events, folded in (after the past-due evaluation, so
    // that it sees the states it always saw); only the fold is timed.
    let invoices = args.events_per_customer / 2;
    let mut payment_time = Elapsed::ZERO;
    let mut payments = 0usize;
    for batch_start in (0..args.customers).step_by(BATCH) {
        let batch_end = (batch_start + BATCH).min(args.customers);
        let logs: Vec<Vec<Event>> = (batch_start..batch_end)
            .map(|n| payment_events(&tenant, n, invoices.max(1), &mut rng))
            .collect();
        let timer = Instant::now();
        for (state, log) in states[batch_start..batch_end].iter_mut().zip(&logs) {
            for event in log {
                state
                    .apply(event)
                    .map_err(|e| Failure::Runtime(format!("payment fold failed: {e}")))?;
            }
        }
        payment_time += timer.elapsed();
        payments += logs.iter().map(Vec::len).sum::<usize>();
    }
    let open_invoices: usize = states
        .iter()
        .flat_map(|s| s.invoices.iter())
        .map(|i| i.open().count())
        .sum();

    // The dunning automation over the same dates, customer by customer.
    let dunning = bench_dunning(&tenant)?;
    let dunning_first = (start() + Duration::days(30 * invoices.max(1) as i64 - 20)).date_naive();
    let dunning_contexts: Vec<RunContext<'_>> = (0..args.days)
        .map(|day| {
            let date = dunning_first + Duration::days(i64::from(day));
            RunContext::new(&dunning, dunning_first, &calendar, date)
        })
        .collect();
    let timer = Instant::now();
    let dunning_decided = evaluate_customer_major(&states, &dunning_contexts);
    let dunning_time = timer.elapsed();

    // Then one profile per customer, as other systems write them, applied and normalized by
    // SPEC §8.7's example rules: each timed on its own.
    let rules = bench_rules()?;
    let (mut profile_time, mut normalize_time, mut changes) = (Elapsed::ZERO, Elapsed::ZERO, 0);
    for batch_start in (0..args.customers).step_by(BATCH) {
        let batch_end = (batch_start + BATCH).min(args.customers);
        let profiles: Vec<Event> = (batch_start..batch_end)
            .map(|n| profile_event(&tenant, n, &mut rng))
            .collect();
        let states = &mut states[batch_start..batch_end];
        let timer = Instant::now();
        for (state, event) in states.iter_mut().zip(&profiles) {
            state
                .apply(event)
                .map_err(|e| Failure::Runtime(format!("profile fold failed: {e}")))?;
        }
        profile_time += timer.elapsed();
        let timer = Instant::now();
        for state in states.iter_mut() {
            changes += state.normalize_profile(&rules).len();
        }
        normalize_time += timer.elapsed();
    }
    let profiles = args.customers;

    let replay_rate = replayed as f64 / replay_time.as_secs_f64();
    let evaluate_rate = customer_days as f64 / evaluate_time.as_secs_f64();
    let report = json!({
        "customers": args.customers,
        "past_due_customers": past_due,
        "balance_events": replayed,
        "replay_seconds": replay_time.as_secs_f64(),
        "replay_events_per_sec": replay_rate.round(),
        "replay_budget_per_sec": REPLAY_BUDGET_PER_SEC,
        "customer_days": customer_days,
        "decisions": decided,
        "evaluate_seconds": evaluate_time.as_secs_f64(),
        "evaluate_customer_days_per_sec": evaluate_rate.round(),
        "evaluate_day_major_customer_days_per_sec":
            (customer_days as f64 / day_major_time.as_secs_f64()).round(),
        "evaluate_budget_per_sec": EVALUATE_BUDGET_PER_SEC,
        "payment_events": payments,
        "payment_events_per_sec": (payments as f64 / payment_time.as_secs_f64()).round(),
        "open_payment_clocks": open_invoices,
        "dunning_decisions": dunning_decided,
        "dunning_customer_days_per_sec":
            (customer_days as f64 / dunning_time.as_secs_f64()).round(),
        "profile_events": profiles,
        "profile_events_per_sec": (profiles as f64 / profile_time.as_secs_f64()).round(),
        "normalizations_per_sec": (profiles as f64 / normalize_time.as_secs_f64()).round(),
        "normalization_changes": changes,
        // The replay with each customer's profile among its balance events, normalized.
        "replay_with_profiles_events_per_sec": ((replayed + profiles) as f64
            / (replay_time + profile_time + normalize_time).as_secs_f64()).round(),
        "within_budget": replay_rate >= REPLAY_BUDGET_PER_SEC && evaluate_rate >= EVALUATE_BUDGET_PER_SEC,
    });
    println!("{report:#}");
    Ok(())
}

/// SPEC §8.7's example rules.
fn bench_rules() -> Result<shared::domain::normalize::Normalization, Failure> {
    let rules = json!({"rules": [
        {"type": "key_case", "case": "snake_case"},
        {"type": "rename_key", "from": ["plan_name", "tier"], "to": "plan"},
        {"type": "trim_values"},
        {"type": "lowercase_values", "keys": ["plan", "region"]},
        {"type": "map_values", "key": "plan", "map": {"premium": "gold", "prem": "gold"}},
        {"type": "allowed_values", "key": "plan", "values": ["basic", "silver", "gold"],
         "otherwise": "unknown"},
        {"type": "default", "key": "segment", "value": "standard"}]});
    let mut r = shared::domain::fields::Reader::new();
    let parsed = shared::domain::normalize::parse_normalization(&mut r, "", &rules);
    r.finish(parsed)
        .map_err(|e| Failure::Runtime(format!("bench rules: {e}")))
}

/// A customer's profile as another system writes it: four entries, the plan under one of
/// several keys and spellings.
fn profile_event(tenant: &TenantId, n: usize, rng: &mut SplitMix64) -> Event {
    let pick = |rng: &mut SplitMix64, options: &[&str]| {
        options[rng.below(options.len() as u64) as usize].to_owned()
    };
    let metadata = [
        (
            pick(rng, &["plan", "Plan", "plan_name", "PlanName", "tier"]),
            pick(rng, &["gold", "Gold ", " basic", "PREMIUM", "silver"]),
        ),
        (
            pick(rng, &["region", "Region"]),
            pick(rng, &["ny", "NJ", " ct"]),
        ),
        (pick(rng, &["home_club", "homeClub"]), "club-01".to_owned()),
        ("contact".to_owned(), format!("member.{n}")),
    ]
    .into_iter()
    .collect();
    let at = start() + Duration::days(1);
    Event {
        tenant_id: tenant.clone(),
        customer_id: CustomerId::new(format!("c{n}")),
        key: EventKey {
            occurred_at: at,
            event_id: EventId::new(format!("u{n}")),
        },
        received_at: at,
        body: EventBody::CustomerUpdated(std::sync::Arc::new(
            shared::domain::event::CustomerProfile {
                created_at: None,
                metadata,
                tags: Vec::new(),
            },
        )),
    }
}

/// Decides one customer-day; `settled` is what the decision store would hold for the
/// customer, so a threshold fires once rather than on every day of its catch-up window.
fn decide_day(
    ctx: &RunContext<'_>,
    state: &CustomerState,
    settled: &mut Vec<Settled>,
    decisions: &mut Vec<Decision>,
) -> usize {
    let mut candidates = Vec::new();
    ctx.candidates(state, &mut candidates);
    for candidate in &candidates {
        ctx.decide(state, candidate, settled, &[], decisions);
    }
    settled.extend(
        decisions
            .iter()
            .filter(|d| d.is_final())
            .map(Decision::settled),
    );
    let n = decisions.len();
    decisions.clear();
    n
}

fn evaluate_customer_major(states: &[CustomerState], contexts: &[RunContext<'_>]) -> usize {
    let mut decisions = Vec::new();
    let mut settled = Vec::new();
    let mut decided = 0;
    for state in states {
        settled.clear();
        for ctx in contexts {
            decided += decide_day(ctx, state, &mut settled, &mut decisions);
        }
    }
    decided
}

fn evaluate_day_major(states: &[CustomerState], contexts: &[RunContext<'_>]) -> usize {
    let mut settled: Vec<Vec<Settled>> = vec![Vec::new(); states.len()];
    let mut decisions = Vec::new();
    let mut decided = 0;
    for ctx in contexts {
        for (state, settled) in states.iter().zip(&mut settled) {
            decided += decide_day(ctx, state, settled, &mut decisions);
        }
    }
    decided
}
