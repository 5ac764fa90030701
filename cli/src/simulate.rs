//! `rulekit simulate` (SPEC §5).

use crate::Failure;
use crate::aws::Aws;
use crate::input::{date_arg, read_automations, read_events};
use chrono::NaiveDate;
use shared::adapters::{MemoryPublisher, MemoryStore};
use shared::app::simulate::{
    SimulationPlan, SimulationReport, conflicting_event_ids, simulate, store_config,
};
use shared::domain::{AutomationsFile, Event, Outcome};
use shared::ports::{
    ActionPublisher, AutomationAdmin, AutomationStore, CandidateSource, CustomerStore,
    DecisionStore,
};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Events, one JSON object per line.
    #[arg(long)]
    events: PathBuf,
    /// Tenant settings and automations (JSON).
    #[arg(long)]
    automations: PathBuf,
    /// First local date to evaluate (YYYY-MM-DD).
    #[arg(long, value_parser = date_arg)]
    from: NaiveDate,
    /// Last local date to evaluate, inclusive.
    #[arg(long, value_parser = date_arg)]
    to: NaiveDate,
    /// Also print the skipped decisions, each with its reason.
    #[arg(long)]
    explain: bool,
    /// Where state is kept while replaying.
    #[arg(long, value_enum, default_value_t = StoreKind::Memory)]
    store: StoreKind,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum StoreKind {
    /// The embedded in-memory store.
    Memory,
    /// DynamoDB and SNS at the endpoint the AWS environment names (tables and topics from
    /// `rulekit setup`; use a fresh table, since a simulation adds to what is there).
    Dynamodb,
}

pub fn run(args: Args) -> Result<(), Failure> {
    if args.to < args.from {
        return Err(Failure::Input(format!(
            "--to {} is before --from {}\n",
            args.to, args.from
        )));
    }
    let config = read_automations(&args.automations).map_err(|e| Failure::Input(e.to_string()))?;
    let numbered = read_events(&args.events).map_err(|e| Failure::Input(e.to_string()))?;
    let (lines, events): (Vec<usize>, Vec<Event>) = numbered.into_iter().unzip();
    let conflicts = conflicting_event_ids(&events);
    if !conflicts.is_empty() {
        let msg: String = conflicts
            .iter()
            .map(|&(first, again)| {
                format!(
                    "{}:{}: event_id: {:?} was already used for a different event on line {}\n",
                    args.events.display(),
                    lines[again],
                    events[again].event_id().as_str(),
                    lines[first]
                )
            })
            .collect();
        return Err(Failure::Input(msg));
    }

    let plan = SimulationPlan {
        events: &events,
        config: &config,
        from: args.from,
        to: args.to,
    };
    let report = crate::block_on(async {
        match args.store {
            StoreKind::Memory => {
                replay(&MemoryStore::new(), &MemoryPublisher::new(), &config, plan).await
            }
            StoreKind::Dynamodb => {
                let aws = Aws::from_env().await?;
                replay(&aws.store().await?, &aws.publisher().await?, &config, plan).await
            }
        }
    })?;
    print_report(&args, &report, &events, &lines)
}

async fn replay<S, P>(
    store: &S,
    publisher: &P,
    config: &AutomationsFile,
    plan: SimulationPlan<'_>,
) -> Result<SimulationReport, Failure>
where
    S: CustomerStore + CandidateSource + AutomationStore + AutomationAdmin + DecisionStore,
    P: ActionPublisher,
{
    store_config(store, config, plan.from)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    simulate(store, publisher, plan)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))
}

fn print_report(
    args: &Args,
    report: &SimulationReport,
    events: &[Event],
    lines: &[usize],
) -> Result<(), Failure> {
    let write_error = |e: std::io::Error| Failure::Runtime(format!("cannot write: {e}"));
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut printed = 0usize;
    for d in &report.decisions {
        if !args.explain && matches!(d.outcome, Outcome::Skipped { .. }) {
            continue;
        }
        let line = serde_json::to_string(&d.row())
            .map_err(|e| Failure::Runtime(format!("cannot write a decision: {e}")))?;
        writeln!(out, "{line}").map_err(write_error)?;
        printed += 1;
    }
    out.flush().map_err(write_error)?;

    let fired = report
        .decisions
        .iter()
        .filter(|d| d.outcome == Outcome::Fired)
        .count();
    eprintln!(
        "rulekit: events {} (accepted {}, duplicates {}, rejected {}); runs {}; firings {}; \
         messages published {} in {} calls; guardrail alerts {}; rows printed {}",
        events.len(),
        report.accepted,
        report.duplicates,
        report.rejected.len(),
        report.runs,
        fired,
        report.executed.messages,
        report.executed.publish_calls,
        report.alerts,
        printed,
    );
    if report.rejected.is_empty() {
        Ok(())
    } else {
        let msg: String = report
            .rejected
            .iter()
            .map(|(i, reason)| format!("{}:{}: {reason}\n", args.events.display(), lines[*i]))
            .collect();
        Err(Failure::Input(msg))
    }
}
