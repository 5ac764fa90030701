//! `rulekit serve`: the API's router (the very one the `api` Lambda runs) on a local port,
//! over the embedded store or DynamoDB.

use crate::Failure;
use crate::aws::Aws;
use crate::simulate::StoreKind;
use crate::transport::ProblemListener;
use api::identity::IdentitySource;
use shared::adapters::aws::DEFAULT_LOOKBACK_DAYS;
use shared::adapters::{FileStore, MemoryStore};
use shared::app::normalize::{Budget, renormalize_tenants};
use shared::app::schedule::run_scheduled;
use shared::ports::{
    AutomationStore, CandidateSource, CustomerStore, DecisionStore, NormalizationStore,
    ReportRecords, RunCheckpoints, StoreError,
};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Where the data lives: a file on this machine (--data; kept when the command stops),
    /// this process's memory (gone when it stops), or the DynamoDB table the AWS environment
    /// names.
    #[arg(long, value_enum, default_value_t = StoreKind::File)]
    store: StoreKind,
    /// With --store file: the data file, created when there is none [default:
    /// rulekit-data.sqlite, in the current directory].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Accept the caller from the X-Dev-Tenant and X-Dev-Role headers (local use only).
    /// Without it no request is identified, and every route but /v1/openapi.json answers 401.
    #[arg(long)]
    dev_auth: bool,
}

/// The default data file of `rulekit serve`, in the directory it is started from.
const DATA_FILE: &str = "rulekit-data.sqlite";

pub fn run(args: Args) -> Result<(), Failure> {
    if args.data.is_some() && !matches!(args.store, StoreKind::File) {
        return Err(Failure::Input(
            "--data names the file of --store file (the default); leave --data out with \
             another store\n"
                .to_owned(),
        ));
    }
    let identity = if args.dev_auth {
        // The headers name any tenant and any role: whoever reaches the port is every
        // tenant's admin (with --store dynamodb, of the real table). Only this machine may.
        if !args.listen.ip().is_loopback() {
            return Err(Failure::Input(format!(
                "--dev-auth trusts the X-Dev-Tenant and X-Dev-Role headers, so anyone who can \
                 reach {} would be admin of every tenant; with --dev-auth, listen on a \
                 loopback address (127.0.0.1 or [::1])\n",
                args.listen
            )));
        }
        IdentitySource::DevHeaders
    } else {
        IdentitySource::Nobody
    };
    crate::block_on(async {
        // The store first: a missing table or an unreachable endpoint fails here, before
        // anything says the API is up.
        let (router, kept) = match args.store {
            StoreKind::File => {
                let path = args.data.unwrap_or_else(|| PathBuf::from(DATA_FILE));
                let store = open_data_file(&path).await?;
                let kept = format!(
                    "{} ({} writes read back; kept when the command stops)",
                    std::path::absolute(&path).unwrap_or(path).display(),
                    store.replayed()
                );
                tokio::spawn(renormalize_in_background(store.clone()));
                tokio::spawn(run_daily_in_background(store.clone()));
                (api::router(store, identity), kept)
            }
            StoreKind::Memory => {
                let store = MemoryStore::new();
                tokio::spawn(renormalize_in_background(store.clone()));
                tokio::spawn(run_daily_in_background(store.clone()));
                (
                    api::router(store, identity),
                    "this process's memory: nothing is kept when the command stops".to_owned(),
                )
            }
            StoreKind::Dynamodb => {
                let aws = Aws::from_env().await?;
                let store = aws.store().await?;
                tokio::spawn(renormalize_in_background(store.clone()));
                (
                    api::router(store, identity),
                    "the DynamoDB table the AWS environment names".to_owned(),
                )
            }
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Failure::Runtime(format!("cannot listen on {}: {e}", args.listen)))?;
        let address = listener
            .local_addr()
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        // The first line on stderr says where it listens (with --listen 127.0.0.1:0, which
        // port); the second, where the data lives. One write: a caller that reads the first
        // line and closes the pipe then loses nothing it did not want.
        eprint!("rulekit: serving the API on http://{address}\nrulekit: data in {kept}\n");
        axum::serve(ProblemListener(listener), router)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| Failure::Runtime(format!("the server stopped: {e}")))
    })
}

/// Opens the file store at `path` (creating the file when there is none) and reads it back.
pub async fn open_data_file(path: &Path) -> Result<FileStore, Failure> {
    FileStore::open(path).await.map_err(|e| match e {
        StoreError::Failed(reason) => Failure::Runtime(reason),
        e => Failure::Runtime(e.to_string()),
    })
}

/// While serving a store of its own (the file, or memory), what the deployment's schedule
/// does: each tenant's daily run once its run instant has passed, missed dates caught up (from
/// the checkpoint the file keeps), so firings and approvals appear as they would deployed.
/// Nothing carries the firings out here (there is no topic to publish to): they stay
/// `pending`. With --store dynamodb the deployment's own schedule runs them.
async fn run_daily_in_background<S>(store: S)
where
    S: CandidateSource + AutomationStore + DecisionStore + RunCheckpoints + ReportRecords,
{
    // The schedule runs hourly; a run is due once a day per tenant, and a tick that finds
    // none due reads only the tenants and their checkpoints.
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        match run_scheduled(&store, chrono::Utc::now(), DEFAULT_LOOKBACK_DAYS).await {
            Ok(done) => {
                for (tenant, e) in done.failed {
                    tracing::warn!(tenant_id = %tenant, error = %e, "the daily run failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "the daily run could not list the tenants"),
        }
    }
}

/// While serving, what the scheduled function does after its daily runs: a tenant's
/// re-normalization after a rules change goes on, a page per segment every second, so a rules
/// change made through the API reaches the stored customers without waiting for a schedule.
async fn renormalize_in_background<S>(store: S)
where
    S: AutomationStore + CustomerStore + NormalizationStore,
{
    let budget = Budget {
        pages: 1,
        ..Budget::UNBOUNDED
    };
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        match renormalize_tenants(&store, chrono::Utc::now(), budget).await {
            Ok(done) => {
                for (tenant, result) in done {
                    if let Err(e) = result {
                        tracing::warn!(tenant_id = %tenant, error = %e, "re-normalization failed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "re-normalization could not list the tenants"),
        }
    }
}
