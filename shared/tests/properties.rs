//! Properties over random event sets of every kind (SPEC §2-§4, §8.2's promises and
//! disputes):
//! - any arrival order with any duplicates gives every customer the state of its sorted log,
//!   whose unpaid charges add up to what it owes;
//! - and the same decisions, day by day;
//! - a firing never repeats for the same (automation, customer, episode, threshold), however
//!   many times a day is re-evaluated.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::*;
use proptest::prelude::*;
use serde_json::Value;
use shared::adapters::MemoryStore;
use shared::app::evaluate::evaluate_tenant_day;
use shared::app::ingest::ingest_event;
use shared::domain::{CustomerState, Event, Outcome, TenantId};
use std::collections::{BTreeMap, HashSet};

const CUSTOMERS: usize = 4;

/// One generated event before it gets its id.
#[derive(Debug, Clone)]
enum Spec {
    Balance {
        amount: i64,
    },
    Subscription {
        status: &'static str,
    },
    /// A promise to pay within `days`.
    Promise {
        days: i64,
    },
    /// A dispute of two ids opened or closed.
    Dispute {
        id: &'static str,
        opened: bool,
    },
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        4 => prop::sample::select(vec![-9000i64, -5000, -2500, -100, 0, 0, 400])
            .prop_map(|amount| Spec::Balance { amount }),
        1 => prop::sample::select(vec!["active", "canceled", "trialing", "paused"])
            .prop_map(|status| Spec::Subscription { status }),
        1 => (1i64..15).prop_map(|days| Spec::Promise { days }),
        1 => (prop::sample::select(vec!["dp_1", "dp_2"]), any::<bool>())
            .prop_map(|(id, opened)| Spec::Dispute { id, opened }),
    ]
}

fn origin() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).single().unwrap()
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Up to 40 events over 50 days for a few customers. Reception is delayed by up to 30 days
/// and rounded to whole days, so many events share a `received_at` and their relative order
/// is left to the input order.
fn event_set() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec((0..CUSTOMERS, spec(), 0i64..50 * 24 * 60, 0i64..=30), 1..40).prop_map(
        |items| {
            items
                .into_iter()
                .enumerate()
                .map(|(i, (customer, spec, minute, delay_days))| {
                    let customer = format!("c{customer}");
                    let occurred = origin() + Duration::minutes(minute);
                    let day_after = occurred + Duration::days(delay_days);
                    let received_at = Utc
                        .from_utc_datetime(&day_after.date_naive().and_hms_opt(0, 0, 0).unwrap())
                        .max(occurred);
                    let id = format!("e{i}");
                    let event = match spec {
                        Spec::Balance { amount } => {
                            balance(&id, &customer, &stamp(occurred), amount)
                        }
                        Spec::Subscription { status } => {
                            subscription(&id, &customer, &stamp(occurred), status)
                        }
                        Spec::Promise { days } => serde_json::json!({
                            "event_id": id, "tenant_id": "t1", "customer_id": customer,
                            "type": "promise_to_pay.created", "occurred_at": stamp(occurred),
                            "promise": {"until": stamp(occurred + Duration::days(days))}}),
                        Spec::Dispute {
                            id: dispute,
                            opened,
                        } => serde_json::json!({
                            "event_id": id, "tenant_id": "t1", "customer_id": customer,
                            "type": if opened { "dispute.opened" } else { "dispute.closed" },
                            "occurred_at": stamp(occurred), "dispute": {"id": dispute}}),
                    };
                    received(event, &stamp(received_at))
                })
                .collect()
        },
    )
}

/// The events reordered by `order` with the events at `dups` appended again.
fn shuffled_with_duplicates(
    events: &[Value],
    order: &[usize],
    dups: &[prop::sample::Index],
) -> Vec<Value> {
    let mut out: Vec<Value> = order.iter().map(|&i| events[i].clone()).collect();
    for d in dups {
        let at = d.index(out.len() + 1);
        out.insert(at, events[d.index(events.len())].clone());
    }
    out
}

fn permutation(len: usize) -> impl Strategy<Value = Vec<usize>> {
    Just((0..len).collect::<Vec<_>>()).prop_shuffle()
}

fn with_arrangement() -> impl Strategy<Value = (Vec<Value>, Vec<usize>, Vec<prop::sample::Index>)> {
    event_set().prop_flat_map(|events| {
        let len = events.len();
        (
            Just(events),
            permutation(len),
            prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        )
    })
}

fn sorted_log_states(events: &[Event]) -> BTreeMap<String, CustomerState> {
    let mut by_customer: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
    for e in events {
        by_customer
            .entry(e.customer_id.to_string())
            .or_default()
            .push(e);
    }
    by_customer
        .into_iter()
        .map(|(c, mut log)| {
            log.sort_by(|a, b| a.key.cmp(&b.key));
            let mut state =
                CustomerState::new(log[0].tenant_id.clone(), log[0].customer_id.clone());
            for e in log {
                state.apply(e).expect("sorted log applies in place");
            }
            (c, state)
        })
        .collect()
}

/// Thresholds 3/7/14 (the short form), or named steps with a day-0 message, an approval at
/// day 14 for balances of 50.00 owed or more, and the tenant spacing messages 5 days apart.
fn config_for(continuity: &str, require_active_subscription: bool, steps: bool) -> Value {
    let mut cfg = config(
        "America/New_York",
        6,
        serde_json::json!({"continuity": continuity, "thresholds_days": [3, 7, 14], "catch_up_days": 3,
                           "require_active_subscription": require_active_subscription}),
        serde_json::json!({}),
    );
    if steps {
        let a = &mut cfg["automations"][0];
        a["trigger"]
            .as_object_mut()
            .unwrap()
            .remove("thresholds_days");
        a.as_object_mut().unwrap().remove("actions");
        a["steps"] = serde_json::json!([
            {"name": "reminder", "day": 0,
             "actions": [{"type": "message", "template_id": "reminder"}]},
            {"name": "notice", "day": 7, "owner": "collections",
             "actions": [{"type": "notify", "channel": "finance"},
                         {"type": "message", "template_id": "notice"}]},
            {"name": "escalation", "day": 14, "owner": "finance-lead",
             "approval": {"when": [{"field": "balance.amount_minor", "op": "lte", "value": -5000}]},
             "actions": [{"type": "notify", "channel": "finance"}]}]);
        cfg["tenants"][0]["min_days_between_messages"] = serde_json::json!(5);
    }
    cfg
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_arrival_order_with_duplicates_gives_the_state_of_the_sorted_log(
        (events, order, dups) in with_arrangement()
    ) {
        let arrival = parse_events(&shuffled_with_duplicates(&events, &order, &dups));
        let store = MemoryStore::new();
        for e in &arrival {
            block_on(ingest_event(&store, e)).expect("ingest");
        }
        let expected = sorted_log_states(&parse_events(&events));
        let stored: BTreeMap<String, CustomerState> = store
            .customers(&TenantId::new("t1"))
            .into_iter()
            .map(|s| (s.customer_id.to_string(), s))
            .collect();
        // Aging's charges (SPEC §8.9) are what is owed, split: oldest first, none empty.
        for state in stored.values() {
            let owed = state.balance.as_ref().map_or(0, |b| (-b.balance.amount_minor).max(0));
            let charges = state.unpaid_charges();
            prop_assert_eq!(charges.iter().map(|c| c.unpaid_minor).sum::<i64>(), owed);
            prop_assert!(charges.iter().all(|c| c.unpaid_minor > 0));
            prop_assert!(charges.windows(2).all(|w| w[0].at <= w[1].at));
        }
        prop_assert_eq!(stored, expected);
    }

    #[test]
    fn any_arrival_order_with_duplicates_gives_the_same_decisions(
        (events, order, dups) in with_arrangement(),
        continuity in prop::sample::select(vec!["negative_balance", "no_improvement"]),
        require_active_subscription in any::<bool>(),
        steps in any::<bool>(),
    ) {
        let cfg = config_for(continuity, require_active_subscription, steps);
        let in_order = run(&events, &cfg, "2026-10-01", "2026-11-25").rows();
        let arrival = shuffled_with_duplicates(&events, &order, &dups);
        let shuffled = run(&arrival, &cfg, "2026-10-01", "2026-11-25").rows();
        prop_assert_eq!(in_order, shuffled);
    }

    #[test]
    fn a_firing_never_repeats_however_often_a_day_is_evaluated(
        events in event_set(),
        continuity in prop::sample::select(vec!["negative_balance", "no_improvement"]),
        reruns in prop::collection::vec((0i64..56, 1usize..4), 1..12),
        steps in any::<bool>(),
    ) {
        // Without the subscription requirement most episodes fire, which is what is tested.
        let cfg = config_for(continuity, false, steps);
        let run = run(&events, &cfg, "2026-10-01", "2026-11-25");
        let taken = |d: &shared::domain::Decision| {
            matches!(d.outcome, Outcome::Fired | Outcome::AwaitingApproval)
        };
        let mut fired: Vec<_> = run.decisions.iter().filter(|d| taken(d)).cloned().collect();
        let tenant = TenantId::new("t1");
        for (day, times) in reruns {
            let date = chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap() + Duration::days(day);
            for _ in 0..times {
                let report = block_on(evaluate_tenant_day(&run.store, &tenant, date, None)).unwrap();
                fired.extend(report.decisions.into_iter().filter(|d| taken(d)));
            }
        }
        let mut seen = HashSet::new();
        for d in &fired {
            let key = (d.automation_id.clone(), d.customer_id.clone(), d.episode.clone(), d.threshold_days);
            prop_assert!(seen.insert(key), "fired twice: {:?}", d);
        }
        // Each live firing was carried out once: every message published is one delivery of
        // one action of a recorded firing, and no action was delivered twice.
        let records = run.store.firing_records();
        // The simulation's firings (the reruns above record theirs, which no executor ran).
        let simulated: HashSet<_> = run.decisions.iter()
            .filter(|d| d.outcome == Outcome::Fired)
            .map(|d| d.key())
            .collect();
        let mut delivered = 0;
        for r in &records {
            let actions: HashSet<usize> = r.deliveries.iter().map(|d| d.action).collect();
            prop_assert_eq!(actions.len(), r.deliveries.len(), "an action delivered twice: {:?}", r);
            delivered += r.deliveries.len();
            if simulated.contains(&r.decision.key()) {
                // Carried out by the executor after its run; a finance notice always goes,
                // a customer message only while the customer still owes.
                let plan = r.decision.plan.as_deref().expect("a firing keeps its plan");
                let notices = plan.actions.iter().filter(|a| !a.reaches_the_customer()).count();
                prop_assert!(r.deliveries.len() >= notices, "not carried out: {:?}", r);
            }
        }
        prop_assert_eq!(run.publisher.published().len(), delivered);
    }
}
