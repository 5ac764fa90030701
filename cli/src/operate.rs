//! Operations by hand on the DynamoDB/SNS deployment the AWS environment names, each running
//! the code its Lambda runs: `rulekit ingest` (the ingest function's batch ingest), `rulekit
//! evaluate` (the scheduled run, for one date), `rulekit execute` (the executor's pass) and
//! `rulekit explain` (the API's customer view) and `rulekit report` (the API's weekly review).

use crate::Failure;
use crate::aws::Aws;
use crate::input::{EventFile, date_arg};
use chrono::NaiveDate;
use serde_json::json;
use shared::adapters::SqsDeadLetters;
use shared::app::execute::{execute_pending, publish_guardrail_alerts};
use shared::app::explain::customer_view;
use shared::app::ingest::{IngestError, IngestOutcome, ingest_batch, live_event};
use shared::app::report::{IsoWeek, html, weekly_review};
use shared::app::schedule::run_by_hand;
use shared::domain::{CustomerId, Event, TenantId};
use shared::ports::{AutomationStore, StoreOnly};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct EvaluateArgs {
    /// The tenant-local date to evaluate (YYYY-MM-DD); its run must have come.
    #[arg(long, value_parser = date_arg)]
    date: NaiveDate,
    /// Only this tenant (default: every tenant the daily run visits).
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

#[derive(clap::Args)]
pub struct IngestArgs {
    /// Events, one JSON object per line (SPEC §2).
    file: PathBuf,
}

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// The customer's tenant.
    #[arg(long)]
    tenant: String,
    /// The customer.
    #[arg(long)]
    customer: String,
    /// The tenant-local date to explain (default: today, with the customer as it is now).
    #[arg(long, value_parser = date_arg)]
    date: Option<NaiveDate>,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// The ISO week in the tenant's zone, e.g. 2026-W47.
    #[arg(long, value_parser = week_arg)]
    week: IsoWeek,
    /// Print the HTML page (one self-contained file) instead of the JSON.
    #[arg(long)]
    html: bool,
}

fn week_arg(s: &str) -> Result<IsoWeek, String> {
    IsoWeek::parse(s).ok_or_else(|| format!("{s:?} must be an ISO week as YYYY-Www, e.g. 2026-W47"))
}

fn runtime_error(e: impl std::fmt::Display) -> Failure {
    Failure::Runtime(e.to_string())
}

/// Runs what the scheduled Lambda runs with `--date` as the date due, for each tenant: the
/// dates missed before it are caught up, each date before today's is late, the checkpoint
/// moves, and guardrail holds are announced. Prints the decisions it newly made, as `rulekit
/// simulate` does; decisions an earlier run recorded are not made again.
pub fn evaluate(args: EvaluateArgs) -> Result<(), Failure> {
    let lookback = shared::adapters::aws::lookback_days(&|name| std::env::var(name).ok())
        .map_err(|e| Failure::Input(format!("{e}\n")))?;
    crate::block_on(async {
        let aws = Aws::from_env().await?;
        let store = aws.store().await?;
        let tenants = match &args.tenant {
            Some(t) => vec![TenantId::new(t)],
            None => store.tenants().await.map_err(runtime_error)?,
        };
        let now = chrono::Utc::now();
        let mut decisions = Vec::new();
        let mut holds = Vec::new();
        let mut not_yet = Vec::new();
        let mut failed = Vec::new();
        // As the schedule does: one tenant's failure stops no other tenant's run, and the
        // holds of the runs that were done are announced.
        for tenant in tenants {
            match run_by_hand(&store, &tenant, args.date, now, lookback).await {
                Err(e) => failed.push(format!("{tenant}: {e}")),
                Ok(None) => not_yet.push(tenant),
                Ok(Some(run)) => {
                    for report in run.reports {
                        holds.extend(report.holds);
                        decisions.extend(report.decisions);
                    }
                }
            }
        }
        if !holds.is_empty() {
            publish_guardrail_alerts(&aws.publisher().await?, &holds)
                .await
                .map_err(runtime_error)?;
        }
        decisions.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let mut out = std::io::stdout().lock();
        for d in decisions
            .iter()
            .filter(|d| args.explain || d.prints_without_explain())
        {
            let line = serde_json::to_string(&d.row()).map_err(runtime_error)?;
            writeln!(out, "{line}").map_err(runtime_error)?;
        }
        if !failed.is_empty() {
            Err(Failure::Runtime(format!(
                "the run failed for {} (the other tenants' runs are done)",
                failed.join("; ")
            )))
        } else if not_yet.is_empty() {
            Ok(())
        } else {
            let names: Vec<&str> = not_yet.iter().map(TenantId::as_str).collect();
            Err(Failure::Input(format!(
                "--date {}: the run of that date has not come yet for {} (it would fire \
                 thresholds before their day)\n",
                args.date,
                names.join(", ")
            )))
        }
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

/// Events ingested per batch, as many as the API takes in one request.
const INGEST_BATCH: usize = 500;

/// Batches still throttled are tried again this many times, waiting longer each time.
const INGEST_ROUNDS: u32 = 5;

/// Ingests a file as live ingest does (each event stamped with its arrival unless it says
/// when it was received): nothing is written unless every line reads; then each event is
/// accepted, a duplicate, or rejected (conflicts, by line). Prints the counts as JSON.
pub fn ingest(args: IngestArgs) -> Result<(), Failure> {
    let arrived_at = chrono::Utc::now();
    let path = args.file.display().to_string();
    let mut file = EventFile::check(&args.file, Arc::new(move |v| live_event(v, arrived_at)))
        .map_err(|e| Failure::Input(e.to_string()))?;
    if file.is_empty() {
        eprintln!("rulekit: warning: {path} holds no events");
    }
    let order = file.file_order();
    let mut events = file
        .stream(order)
        .map_err(|e| Failure::Input(e.to_string()))?;
    crate::block_on(async {
        let aws = Aws::from_env().await?;
        let store = aws.store().await?;
        warn_of_unknown_tenants(&store, file.tenants.keys(), &path).await?;
        let (mut accepted, mut duplicates, mut not_ingested) = (0usize, 0usize, 0usize);
        let mut rejected = Vec::new();
        loop {
            let mut pending: Vec<(usize, Event)> = events.by_ref().take(INGEST_BATCH).collect();
            if pending.is_empty() {
                break;
            }
            for round in 0..INGEST_ROUNDS {
                if pending.is_empty() {
                    break;
                }
                if round > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(200 << round)).await;
                }
                let batch: Vec<Event> = pending.iter().map(|(_, e)| e.clone()).collect();
                let outcomes = ingest_batch(&store, &batch).await;
                let mut again = Vec::new();
                for ((line, event), outcome) in pending.into_iter().zip(outcomes) {
                    match outcome {
                        Ok(IngestOutcome::Accepted(_)) => accepted += 1,
                        Ok(IngestOutcome::Duplicate) => duplicates += 1,
                        Err(IngestError::Rejected(reason)) => {
                            rejected.push(format!("{path}:{line}: {reason}\n"));
                        }
                        Err(e) if e.is_retryable() => again.push((line, event)),
                        Err(e) => return Err(runtime_error(e)),
                    }
                }
                pending = again;
            }
            not_ingested += pending.len();
        }
        if let Some(why) = events
            .failure()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            return Err(Failure::Runtime(format!(
                "{path}: reading it again failed: {why}"
            )));
        }
        println!(
            "{:#}",
            json!({"accepted": accepted, "duplicates": duplicates,
                   "rejected": rejected.len(), "not_ingested": not_ingested})
        );
        if not_ingested > 0 {
            return Err(Failure::Runtime(format!(
                "{not_ingested} events were still throttled after {INGEST_ROUNDS} tries: run \
                 the same file again (what was ingested comes back as duplicates)"
            )));
        }
        if rejected.is_empty() {
            Ok(())
        } else {
            Err(Failure::Input(rejected.concat()))
        }
    })
}

/// Says so when events name a tenant the daily run would not evaluate: one with no
/// automations (a typo in `tenant_id`, or a tenant not set up yet).
async fn warn_of_unknown_tenants<S: AutomationStore>(
    store: &S,
    tenants: impl Iterator<Item = &TenantId>,
    file: &str,
) -> Result<(), Failure> {
    for tenant in tenants {
        if store
            .tenant_automations(tenant)
            .await
            .map_err(runtime_error)?
            .iter()
            .all(|a| a.archived)
        {
            eprintln!(
                "rulekit: warning: {file} has events for tenant {tenant}, which has no \
                 automations: they are stored, and nothing evaluates them"
            );
        }
    }
    Ok(())
}

/// Prints the customer as the API's `GET /v1/customers/{id}` shows it, as JSON.
pub fn explain(args: ExplainArgs) -> Result<(), Failure> {
    crate::block_on(async {
        let aws = Aws::from_env().await?;
        let store = aws.store().await?;
        let tenant = TenantId::new(&args.tenant);
        let view = customer_view(
            &store,
            &tenant,
            &CustomerId::new(&args.customer),
            args.date,
            chrono::Utc::now(),
        )
        .await
        .map_err(runtime_error)?
        .ok_or_else(|| {
            Failure::Runtime(format!(
                "tenant {} has no customer {}",
                args.tenant, args.customer
            ))
        })?;
        println!("{view:#}");
        Ok(())
    })
}

/// Prints the weekly review of one tenant and week as the deployment holds it now, as `GET
/// /v1/reports/weekly` answers it. Reads only.
pub fn report(args: ReportArgs) -> Result<(), Failure> {
    crate::block_on(async {
        let aws = Aws::from_env().await?;
        let store = aws.store().await?;
        let tenant = TenantId::new(&args.tenant);
        let review = weekly_review(&store, &tenant, args.week)
            .await
            .map_err(runtime_error)?;
        if args.html {
            println!("{}", html::render(&review));
        } else {
            println!("{:#}", review.to_json());
        }
        Ok(())
    })
}
