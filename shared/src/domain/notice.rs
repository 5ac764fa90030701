//! The content of the messages a firing produces: a structured body for machines and a
//! plain-language summary for people. Attributes for routing are built by the executor and
//! never carry customer data; these bodies may, because they go only to the tenant's topics.

use super::clock::ClockKind;
use super::decision::{Decision, Plan};
use super::money::Money;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub subject: String,
    /// For email and other human readers.
    pub summary: String,
    /// For queues and programs.
    pub body: Value,
}

fn balance_json(balance: Option<Money>) -> Value {
    balance.map_or(
        Value::Null,
        |b| json!({"amount_minor": b.amount_minor, "currency": b.currency.code()}),
    )
}

/// The finance team's notification for one firing.
pub fn finance_notice(decision: &Decision, plan: &Plan, balance: Option<Money>) -> Notice {
    let automation_name = plan.automation_name.as_str();
    let owed = balance
        .filter(|b| b.amount_minor < 0)
        .map(|b| Money::new(-b.amount_minor, b.currency).to_decimal_string());
    let mut summary = match &decision.clock_id {
        None => format!(
            "Customer {} has been past due for {} days (since {}).",
            decision.customer_id, decision.days_past_due, decision.past_due_since
        ),
        Some(invoice) => format!(
            "A payment of invoice {invoice} of customer {} failed {} days ago (on {}).",
            decision.customer_id, decision.days_past_due, decision.past_due_since
        ),
    };
    if let Some(owed) = &owed {
        summary.push_str(&format!(" Amount owed: {owed}."));
    }
    if let Some(segment) = &decision.segment {
        summary.push_str(&format!(" Segment: {segment}."));
    }
    let what = match &decision.step {
        None => format!("for the {}-day threshold", decision.threshold_days),
        Some(step) => format!("step {step:?} (day {})", decision.threshold_days),
    };
    summary.push_str(&format!(
        " Automation \"{}\" ({}) fired {what} on {}{}.",
        automation_name,
        decision.automation_id,
        decision.date,
        if decision.late { ", late" } else { "" }
    ));
    if let Some(owner) = &plan.owner {
        summary.push_str(&format!(" Owner: {owner}."));
    }
    let mut body = json!({
        "type": format!("{}.notification", decision.clock.trigger_type()),
        "tenant_id": decision.tenant_id,
        "automation_id": decision.automation_id,
        "automation_name": automation_name,
        "customer_id": decision.customer_id,
        "date": decision.date,
        "threshold_days": decision.threshold_days,
        "days_past_due": decision.days_past_due,
        "past_due_since": decision.past_due_since,
        "late": decision.late,
        "balance": balance_json(balance),
    });
    with_step(&mut body, decision, plan);
    let subject = match &decision.clock_id {
        None => format!(
            "Past due {} days: {}",
            decision.threshold_days, automation_name
        ),
        Some(_) if decision.clock == ClockKind::CancellationRequested => format!(
            "Cancellation requested {} days ago: {}",
            decision.days_past_due, automation_name
        ),
        Some(_) => format!(
            "Payment failed {} days ago: {}",
            decision.days_past_due, automation_name
        ),
    };
    Notice {
        subject: subject.chars().take(100).collect(),
        summary,
        body,
    }
}

/// The step's name (when the automation names its steps) and owner (when it has one), for
/// the consumers that route on them.
fn with_step(body: &mut Value, decision: &Decision, plan: &Plan) {
    if let Some(step) = &decision.step {
        body["step"] = json!(step);
    }
    if let Some(segment) = &decision.segment {
        body["segment"] = json!(segment);
    }
    if let Some(id) = &decision.clock_id {
        let name = match decision.clock {
            ClockKind::CancellationRequested => "subscription_id",
            _ => "invoice_id",
        };
        body[name] = json!(id);
    }
    if let Some(owner) = &plan.owner {
        body["owner"] = json!(owner);
    }
}

/// A message for the customer, rendered downstream from `template_id`.
pub fn customer_message(
    decision: &Decision,
    plan: &Plan,
    template_id: &str,
    variables: &BTreeMap<String, String>,
    balance: Option<Money>,
) -> Notice {
    let mut body = json!({
            "type": "past_due.customer_message",
            "tenant_id": decision.tenant_id,
            "automation_id": decision.automation_id,
            "customer_id": decision.customer_id,
            "template_id": template_id,
            "variables": variables,
            "threshold_days": decision.threshold_days,
            "days_past_due": decision.days_past_due,
            "past_due_since": decision.past_due_since,
            "balance": balance_json(balance),
    });
    with_step(&mut body, decision, plan);
    Notice {
        subject: format!("Customer message {template_id}"),
        summary: format!(
            "Template {template_id} for customer {} ({} days past due).",
            decision.customer_id, decision.days_past_due
        ),
        body,
    }
}

/// A command to the tenant's billing system (commands topic, SPEC §8.5): `command` and its
/// arguments, with the ids a consumer routes and de-duplicates on (`firing_id` is stable:
/// the same firing's command always carries the same one).
pub fn command(
    decision: &Decision,
    plan: &Plan,
    command: &str,
    firing_id: &str,
    args: &[(&str, Value)],
) -> Notice {
    let mut body = json!({
        "command": command,
        "tenant_id": decision.tenant_id,
        "customer_id": decision.customer_id,
        "automation_id": decision.automation_id,
        "firing_id": firing_id,
        "date": decision.date,
    });
    with_step(&mut body, decision, plan);
    for (name, value) in args {
        body[*name] = value.clone();
    }
    let what = match decision.clock {
        ClockKind::CancellationRequested => "subscription",
        _ => "invoice",
    };
    let on = decision
        .clock_id
        .as_deref()
        .map(|i| format!(" {what} {i}"))
        .unwrap_or_default();
    Notice {
        subject: format!("RuleKit command {command}"),
        summary: format!(
            "{command} for{on} of customer {}, asked by automation {} on {}.",
            decision.customer_id, decision.automation_id, decision.date
        ),
        body,
    }
}

/// A recovery offer for a customer asking to cancel (customer-messages topic, SPEC §8.5).
pub fn offer(
    decision: &Decision,
    plan: &Plan,
    (offer_id, kind, template_id): (&str, &str, &str),
    firing_id: &str,
) -> Notice {
    let mut body = json!({
        "type": "cancellation.offer",
        "tenant_id": decision.tenant_id,
        "automation_id": decision.automation_id,
        "customer_id": decision.customer_id,
        "firing_id": firing_id,
        "offer_id": offer_id,
        "kind": kind,
        "template_id": template_id,
        "date": decision.date,
        "clock_days": decision.days_past_due,
    });
    with_step(&mut body, decision, plan);
    Notice {
        subject: format!("Recovery offer {offer_id}"),
        summary: format!(
            "Offer {offer_id} ({kind}) for customer {}, template {template_id}.",
            decision.customer_id
        ),
        body,
    }
}
