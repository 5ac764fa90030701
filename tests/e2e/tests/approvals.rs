//! Approvals end to end on the local emulator: events in over the API, the daily run records
//! firings awaiting approval, an admin approves one and rejects the other over the API, and
//! the executor carries out only the approved one, to the SNS subscribers of its owner.

use e2e::{Env, call_api};
use serde_json::json;
use shared::app::evaluate::evaluate_tenant_day;
use shared::app::execute::execute_pending;
use shared::domain::TenantId;
use shared::ports::StoreOnly;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_an_admin_approves_one_firing_and_rejects_another_should_deliver_only_the_approved_to_its_owner()
 {
    let env = Env::new("approvals").await;
    // Each team subscribes to its own work with a filter policy on the `owner` attribute.
    let team_queue = |name: &'static str, owner: &'static str| {
        let env = &env;
        async move {
            let (url, arn) = env.queue(name).await;
            env.sns()
                .subscribe()
                .topic_arn(&env.topics.finance)
                .protocol("sqs")
                .endpoint(arn)
                .attributes("FilterPolicy", json!({"owner": [owner]}).to_string())
                .send()
                .await
                .expect("the emulator subscribes the queue");
            url
        }
    };
    let finance_lead = team_queue("finance-lead", "finance-lead").await;
    let collections = team_queue("collections", "collections").await;

    let api = api::router(env.store(), api::identity::IdentitySource::DevHeaders);
    let today = chrono::Utc::now().date_naive();
    let (status, body) = call_api(
        &api,
        "POST",
        "/v1/automations",
        Some(json!({"id": "ladder", "name": "Aging ladder",
            "active_from": (today - chrono::Days::new(60)).to_string(), "backfill": true,
            "trigger": {"type": "past_due", "require_active_subscription": false},
            "steps": [{"name": "31-60", "day": 31, "owner": "finance-lead",
                       "approval": {"when": [{"field": "balance.amount_minor", "op": "lte",
                                              "value": -500000}]},
                       "actions": [{"type": "notify", "channel": "finance"}]}]})),
    )
    .await;
    assert_eq!(status.as_u16(), 201, "{body}");
    let start = format!("{}T10:00:00Z", today - chrono::Days::new(31));
    let balance = |id: &str, customer: &str, amount: i64| {
        json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
               "type": "balance.changed", "occurred_at": start,
               "balance": {"amount_minor": amount, "currency": "USD"}})
    };
    let (status, body) = call_api(
        &api,
        "POST",
        "/v1/events",
        Some(json!({"events": [balance("e1", "c1", -750_000), balance("e2", "c2", -900_000)]})),
    )
    .await;
    assert_eq!(status.as_u16(), 200, "{body}");

    let store = env.store();
    let tenant = TenantId::new("t1");
    evaluate_tenant_day(&store, &tenant, today, None)
        .await
        .unwrap();
    let (_, waiting) = call_api(&api, "GET", "/v1/firings?status=awaiting_approval", None).await;
    let items = waiting["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2, "{waiting}");
    let id = |customer: &str| {
        items
            .iter()
            .find(|f| f["customer_id"] == customer)
            .and_then(|f| f["firing_id"].as_str())
            .unwrap()
            .to_owned()
    };
    let path = |customer: &str, answer: &str| format!("/v1/firings/{}/{answer}", id(customer));
    let (status, approved) = call_api(&api, "POST", &path("c1", "approve"), None).await;
    assert_eq!(
        (status.as_u16(), &approved["status"]),
        (200, &json!("pending"))
    );
    let (status, rejected) = call_api(&api, "POST", &path("c2", "reject"), None).await;
    assert_eq!(
        (status.as_u16(), &rejected["status"]),
        (200, &json!("rejected"))
    );
    let (status, _) = call_api(&api, "POST", &path("c2", "approve"), None).await;
    assert_eq!(status.as_u16(), 409, "a rejected firing stays rejected");

    let report = execute_pending(
        &store,
        &env.publisher(),
        &StoreOnly,
        chrono::Utc::now(),
        100,
    )
    .await
    .unwrap();
    assert_eq!((report.sent, report.messages), (1, 1));
    let delivered = env.receive_all(&finance_lead).await;
    assert_eq!(
        delivered.len(),
        1,
        "one message for the one approved firing"
    );
    // SNS delivers to SQS in its envelope, message attributes included.
    let envelope: serde_json::Value = serde_json::from_str(&delivered[0].0).unwrap();
    let attribute = |name: &str| envelope["MessageAttributes"][name]["Value"].clone();
    assert_eq!(
        (attribute("owner"), attribute("step")),
        (json!("finance-lead"), json!("31-60"))
    );
    let message: serde_json::Value =
        serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message["customer_id"], "c1");
    assert!(
        env.receive_all(&collections).await.is_empty(),
        "not their work"
    );

    let (_, audit) = call_api(&api, "GET", "/v1/audit", None).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["firing.rejected", "firing.approved", "automation.created"]
    );
}
