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

#[derive(Subcommand)]
enum Command {
    /// Replay events on a virtual clock and print every decision as JSON Lines.
    Simulate(simulate::Args),
    /// Create the DynamoDB table, its indexes and the SNS topics (idempotent).
    Setup(setup::Args),
    /// Evaluate one tenant-local date on DynamoDB and print the decisions it made.
    Evaluate(operate::EvaluateArgs),
    /// Carry out the firings waiting in the outbox through SNS.
    Execute(operate::ExecuteArgs),
    /// Serve the operators' API (the `api` Lambda's router) on a local port.
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
        Command::Evaluate(args) => operate::evaluate(args),
        Command::Execute(args) => operate::execute(args),
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
