//! The same simulation on the in-memory store and on DynamoDB + SNS (the emulator) prints the
//! same decisions and carries out the same actions.

use e2e::{Env, fixture};
use serde_json::Value;
use shared::adapters::{MemoryPublisher, MemoryStore};
use shared::app::simulate::{
    SimulationPlan, SimulationReport, in_arrival_order, simulate, store_config,
};
use shared::domain::{AutomationsFile, Decision, Event};
use shared::ports::{
    ActionPublisher, AutomationAdmin, AutomationStore, CandidateSource, CustomerStore,
    DecisionStore, ReportRecords,
};

fn events(name: &str) -> Vec<Event> {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Event::from_json(&serde_json::from_str(l).unwrap()).unwrap())
        .collect()
}

/// The aging-ladder playbook's events: the demo's, with promises and disputes (paths from
/// `tests/fixtures`).
const LADDER_EVENTS: &str = "../../examples/playbooks/aging-ladder.events.jsonl";

fn config(name: &str) -> AutomationsFile {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    AutomationsFile::from_json(&serde_json::from_str(&text).unwrap()).unwrap()
}

async fn replay<S, P>(
    store: &S,
    publisher: &P,
    events: &[Event],
    config: &AutomationsFile,
    from: &str,
    to: &str,
) -> (SimulationReport, Vec<Value>)
where
    S: CustomerStore
        + CandidateSource
        + AutomationStore
        + AutomationAdmin
        + DecisionStore
        + ReportRecords,
    P: ActionPublisher,
{
    let from = from.parse().unwrap();
    store_config(store, config, from).await.unwrap();
    let plan = SimulationPlan {
        config,
        from,
        to: to.parse().unwrap(),
        arrivals: in_arrival_order(events),
    };
    let mut decisions = Vec::new();
    let report = simulate(store, publisher, plan, &mut decisions)
        .await
        .unwrap();
    (report, rows(&decisions))
}

fn rows(decisions: &[Decision]) -> Vec<Value> {
    decisions
        .iter()
        .map(|d| serde_json::to_value(d.row()).unwrap())
        .collect()
}

async fn same_on_both_stores(
    test: &str,
    events_file: &str,
    config_file: &str,
    from: &str,
    to: &str,
) {
    same_events_on_both_stores(test, events(events_file), config_file, from, to).await;
}

async fn same_events_on_both_stores(
    test: &str,
    events: Vec<Event>,
    config_file: &str,
    from: &str,
    to: &str,
) {
    let config = config(config_file);
    let memory = replay(
        &MemoryStore::new(),
        &MemoryPublisher::new(),
        &events,
        &config,
        from,
        to,
    )
    .await;

    let env = Env::new(test).await;
    let dynamo = replay(&env.store(), &env.publisher(), &events, &config, from, to).await;

    let ((memory, memory_rows), (dynamo, dynamo_rows)) = (memory, dynamo);
    assert!(!memory_rows.is_empty());
    assert_eq!(dynamo_rows, memory_rows);
    assert_eq!(dynamo, memory, "the same counts, the same messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_basic_fixture_is_simulated_on_dynamodb_should_match_the_in_memory_run() {
    same_on_both_stores(
        "sim-basic",
        "basic.events.jsonl",
        "basic.automations.json",
        "2026-11-01",
        "2026-12-05",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_multi_tenant_fixture_is_simulated_on_dynamodb_should_match_the_in_memory_run() {
    same_on_both_stores(
        "sim-tenants",
        "tenants.events.jsonl",
        "tenants.automations.json",
        "2026-10-01",
        "2026-11-15",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_aging_ladder_playbook_is_simulated_on_dynamodb_should_match_the_in_memory_run() {
    // One tenant of the demo (100 customers, four months) keeps the emulator's share of the
    // test command to about a minute; `rulekit simulate` runs the whole demo.
    let events: Vec<Event> = events(LADDER_EVENTS)
        .into_iter()
        .filter(|e| e.tenant_id.as_str() == "saas-eu")
        .collect();
    same_events_on_both_stores(
        "sim-ladder",
        events,
        "../../examples/playbooks/aging-ladder.json",
        "2026-08-01",
        "2026-11-30",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_quiet_periods_hold_and_release_steps_on_dynamodb_should_match_the_in_memory_run() {
    same_on_both_stores(
        "sim-quiet",
        "quiet.events.jsonl",
        "quiet.automations.json",
        "2026-11-01",
        "2026-12-05",
    )
    .await;
}
