//! Operations by hand on the DynamoDB/SNS deployment the AWS environment names: `rulekit
//! evaluate` runs one tenant-local date's evaluation, `rulekit execute` carries out what waits
//! in the outbox. Both run the same code as the Lambdas.

use crate::Failure;
use crate::aws::Aws;
use chrono::NaiveDate;
use serde_json::json;
use shared::adapters::SqsDeadLetters;
use shared::app::evaluate::evaluate_tenant_day;
use shared::app::execute::{execute_pending, publish_guardrail_alerts};
use shared::domain::{Outcome, TenantId};
use shared::ports::{AutomationStore, StoreOnly};
use std::io::Write;

#[derive(clap::Args)]
pub struct EvaluateArgs {
    /// The tenant-local date to evaluate (YYYY-MM-DD).
    #[arg(long, value_parser = crate::input::date_arg)]
    date: NaiveDate,
    /// Only this tenant (default: every tenant with automations).
    #[arg(long)]
    tenant: Option<String>,
    /// Also print the skipped decisions, each with its reason.
    #[arg(long)]
    explain: bool,
}

#[derive(clap::Args)]
pub struct ExecuteArgs {
    /// Firings carried out at most.
    #[arg(long, default_value_t = 500)]
    limit: usize,
    /// The SQS queue firings that keep failing are sent to (as the Lambda does); without
    /// it they are only marked `failed` in the store.
    #[arg(long, value_name = "URL")]
    failed_queue_url: Option<String>,
}

fn runtime_error(e: impl std::fmt::Display) -> Failure {
    Failure::Runtime(e.to_string())
}

/// Prints the decisions the run newly made, as `rulekit simulate` does. Decisions an earlier
/// run already recorded are not made again, so evaluating a date twice prints them once.
pub fn evaluate(args: EvaluateArgs) -> Result<(), Failure> {
    crate::block_on(async {
        let aws = Aws::from_env().await?;
        let store = aws.store().await?;
        let tenants = match &args.tenant {
            Some(t) => vec![TenantId::new(t.as_str())],
            None => store.tenants().await.map_err(runtime_error)?,
        };
        let mut out = std::io::stdout().lock();
        for tenant in tenants {
            let report = evaluate_tenant_day(&store, &tenant, args.date, false)
                .await
                .map_err(runtime_error)?;
            if !report.holds.is_empty() {
                publish_guardrail_alerts(&aws.publisher().await?, &report.holds)
                    .await
                    .map_err(runtime_error)?;
            }
            let mut decisions = report.decisions;
            decisions.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
            for d in decisions
                .iter()
                .filter(|d| args.explain || !matches!(d.outcome, Outcome::Skipped { .. }))
            {
                let line = serde_json::to_string(&d.row()).map_err(runtime_error)?;
                writeln!(out, "{line}").map_err(runtime_error)?;
            }
        }
        Ok(())
    })
}

/// Prints what the executor did as JSON.
pub fn execute(args: ExecuteArgs) -> Result<(), Failure> {
    crate::block_on(async {
        let aws = Aws::from_env().await?;
        let store = aws.store().await?;
        let publisher = aws.publisher().await?;
        let now = chrono::Utc::now();
        let r = match args.failed_queue_url {
            Some(url) => {
                let queue = SqsDeadLetters::new(aws.sqs.clone(), url);
                execute_pending(&store, &publisher, &queue, now, args.limit).await
            }
            None => execute_pending(&store, &publisher, &StoreOnly, now, args.limit).await,
        }
        .map_err(runtime_error)?;
        println!("{:#}", json!(r));
        Ok(())
    })
}
