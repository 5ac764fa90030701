//! `rulekit`: RuleKit's code paths on one machine, for demos, backtests and operations by hand.

mod aws;
mod bench;
mod input;
mod operate;
mod serve;
mod setup;
mod simulate;
mod transport;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "rulekit",
    version,
    about = "Past-due automations for billing teams"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What every command that reaches AWS reads, said in its help.
const AWS_ENVIRONMENT: &str = "\
Environment: the standard AWS variables name the endpoint, region and credentials \
(AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE); \
RULEKIT_TABLE (default rulekit), RULEKIT_TOPIC_PREFIX (default rulekit) and \
RULEKIT_INDEX_SHARDS (default 16) name the table and topics `rulekit setup` made. For a \
local emulator, run the command under scripts/with-emulator.";

#[derive(Subcommand)]
enum Command {
    /// Replay events on a virtual clock and print every decision as JSON Lines.
    ///
    /// On the embedded store (the default) nothing is kept after the run. With --store
    /// dynamodb it writes the events, decisions and firings into the table and publishes the
    /// actions to the topics: use a fresh table.
    #[command(after_help = AWS_ENVIRONMENT)]
    Simulate(simulate::Args),
    /// Create the DynamoDB table, its indexes and the SNS topics (idempotent).
    #[command(after_help = AWS_ENVIRONMENT)]
    Setup(setup::Args),
    /// Ingest a file of events into the table, as live ingest does.
    ///
    /// Writes each event and its customer's new state; an event without received_at is
    /// stamped now. Nothing is written unless every line reads.
    #[command(after_help = AWS_ENVIRONMENT)]
    Ingest(operate::IngestArgs),
    /// Run the daily evaluation of a date, as the scheduled function does, and print what it
    /// decided.
    ///
    /// Records the decisions (firings the executor will carry out, guardrail holds announced
    /// on the alerts topic) and moves the tenant's checkpoint; dates missed before it are
    /// caught up, and a date before today's fires late. RULEKIT_LOOKBACK_DAYS (default 7)
    /// bounds the catch-up, as for the function.
    #[command(after_help = AWS_ENVIRONMENT)]
    Evaluate(operate::EvaluateArgs),
    /// Carry out the firings waiting in the outbox through SNS, as the executor does.
    ///
    /// Publishes to the topics and records each firing's outcome in the table.
    #[command(after_help = AWS_ENVIRONMENT)]
    Execute(operate::ExecuteArgs),
    /// Explain one customer: balance, episodes, firings, and why each automation did or did
    /// not fire on a date (the API's customer view). Reads only.
    #[command(after_help = AWS_ENVIRONMENT)]
    Explain(operate::ExplainArgs),
    /// Print a tenant's weekly review (SPEC §8.9) as JSON, or as the HTML page with charts
    /// (the API's `GET /v1/reports/weekly`). Reads only.
    #[command(after_help = AWS_ENVIRONMENT)]
    Report(operate::ReportArgs),
    /// Serve the operators' API (the `api` Lambda's router) on a local port.
    ///
    /// With --store dynamodb it reads and writes the table as the API function does.
    #[command(after_help = AWS_ENVIRONMENT)]
    Serve(serve::Args),
    /// Measure the domain's replay and evaluation throughput on one core.
    Bench(bench::Args),
}

/// How a command failed: bad input (exit 2) or anything else (exit 1).
pub enum Failure {
    Input(String),
    Runtime(String),
}

/// Runs a command's async part on a single-threaded runtime.
pub fn block_on<T>(f: impl std::future::Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the runtime: {e}")))?
        .block_on(f)
}

/// Log lines go to stderr (stdout carries the commands' JSON), warnings and errors only
/// unless `RUST_LOG` says otherwise: a failing store call, for one, is one line.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Simulate(args) => simulate::run(args),
        Command::Setup(args) => setup::run(args),
        Command::Ingest(args) => operate::ingest(args),
        Command::Evaluate(args) => operate::evaluate(args),
        Command::Execute(args) => operate::execute(args),
        Command::Explain(args) => operate::explain(args),
        Command::Report(args) => operate::report(args),
        Command::Serve(args) => serve::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(message)) => {
            eprint!("rulekit: bad input:\n{message}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("rulekit: {message}");
            ExitCode::from(1)
        }
    }
}
