//! `rulekit simulate` (SPEC §5).

use crate::Failure;
use crate::aws::Aws;
use crate::input::{EventFile, date_arg, read_automations};
use chrono::NaiveDate;
use shared::adapters::{MemoryPublisher, MemoryStore};
use shared::app::report::{IsoWeek, Review, html, weekly_review};
use shared::app::simulate::{
    Observer, Progress, SimulationPlan, SimulationReport, simulate, store_config,
};
use shared::domain::{AutomationsFile, Decision, Event, TenantId};
use shared::ports::{
    ActionPublisher, AdminStore, AutomationAdmin, AutomationStore, CandidateSource, CustomerStore,
    DecisionStore, NormalizationStore, OutcomeStore, ReportRecords, StoreError,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

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
    /// With --store file: the data file to keep the replay in, a new one (a simulation adds
    /// to what a store holds). `rulekit serve --data` opens it afterwards.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Groups of tenants replayed at once, each on a thread and an embedded store of its own
    /// (default: one per core). The output does not depend on it. DynamoDB replays as one.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
    /// Write the metadata change log (SPEC §8.7) to this file, one JSON object per line:
    /// each profile the tenants' normalization rules changed, with every change, by tenant
    /// and date.
    #[arg(long)]
    changes: Option<PathBuf>,
    /// Write the weekly review (SPEC §8.9) of every ISO week the run touches into this
    /// directory: `<tenant>/<week>.json` and `<tenant>/<week>.html`, and an `index.html`.
    #[arg(long)]
    report: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum StoreKind {
    /// The embedded in-memory store.
    Memory,
    /// The embedded store kept in one file on this machine (--data), there after the
    /// command stops.
    File,
    /// DynamoDB and SNS at the endpoint the AWS environment names (tables and topics from
    /// `rulekit setup`; use a fresh table, since a simulation adds to what is there). On a
    /// local emulator, run under scripts/with-emulator: a stock moto_server copies the whole
    /// table for each transaction and does not finish a replay of any size.
    Dynamodb,
}

pub fn run(args: Args) -> Result<(), Failure> {
    if args.to < args.from {
        return Err(Failure::Input(format!(
            "--to {} is before --from {}\n",
            args.to, args.from
        )));
    }
    let data = match (args.store, &args.data) {
        (StoreKind::File, Some(path)) => Some(path.clone()),
        (StoreKind::File, None) => {
            return Err(Failure::Input(
                "--store file keeps the replay in a file: name it with --data PATH\n".to_owned(),
            ));
        }
        (_, Some(_)) => {
            return Err(Failure::Input(
                "--data names the file of --store file; add --store file, or leave --data out\n"
                    .to_owned(),
            ));
        }
        (_, None) => None,
    };
    let started = Instant::now();
    let config = read_automations(&args.automations).map_err(|e| Failure::Input(e.to_string()))?;
    let mut file = EventFile::check(&args.events, Arc::new(Event::from_json))
        .map_err(|e| Failure::Input(e.to_string()))?;
    warn_of_mistakes(&args, &config, &file);
    // The change log is listed by date: the dates events were received on (by the tenants'
    // clocks, a day either side of UTC's).
    let change_dates = args
        .changes
        .as_ref()
        .and(file.received_span())
        .map(|(first, last)| {
            let day = chrono::Duration::days(1);
            ((first - day).date_naive(), (last + day).date_naive())
        });
    let report_weeks = match &args.report {
        Some(_) => IsoWeek::covering(args.from, args.to),
        None => Vec::new(),
    };
    let order = file.arrival_order();
    let arrivals = file
        .stream(order)
        .map_err(|e| Failure::Input(e.to_string()))?;
    let failure = arrivals.failure();

    // Tenants are independent (no store key, index or decision spans two), so on the
    // embedded store each group of tenants replays on a thread and a store of its own; their
    // dates are printed merged, as one replay prints them. DynamoDB is one table: one group.
    let workers = match (args.store, args.threads) {
        (StoreKind::Dynamodb | StoreKind::File, _) => 1,
        (StoreKind::Memory, Some(n)) => usize::from(n),
        (StoreKind::Memory, None) => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let groups = tenant_groups(&file, &config, workers);
    let replaying = groups.iter().filter(|g| g.runs).count();
    let progress = Arc::new(Counters::default());
    let (report, printed) = std::thread::scope(|scope| {
        let (rows, dates) = std::sync::mpsc::sync_channel::<(NaiveDate, Vec<Decision>)>(64);
        // The printer has a thread of its own, so no replay ever waits on this one.
        let explain = args.explain;
        let printing = scope.spawn(move || {
            let stdout = std::io::stdout();
            let mut printer = Printer {
                out: BufWriter::new(stdout.lock()),
                explain,
                printed: 0,
                failed: None,
                waiting: BTreeMap::new(),
                replaying,
            };
            for (date, decisions) in dates {
                printer.take(date, decisions);
            }
            let flushed = printer.out.flush();
            match printer.failed.take().map_or(flushed, Err) {
                Ok(()) => Ok(printer.printed),
                Err(e) => Err(Failure::Runtime(format!("cannot write: {e}"))),
            }
        });
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for group in &groups {
            let (events, arrivals) = std::sync::mpsc::sync_channel::<Vec<(usize, Event)>>(16);
            senders.push(events);
            let config = group.config(&config);
            let (rows, progress, store) = (rows.clone(), progress.clone(), args.store);
            let data = data.clone();
            let (from, to) = (args.from, args.to);
            let extras = Extras {
                change_dates,
                report_weeks: report_weeks.clone(),
            };
            handles.push(scope.spawn(move || {
                let plan = SimulationPlan {
                    config: &config,
                    from,
                    to,
                    arrivals: arrivals.into_iter().flatten(),
                };
                let mut observer = Worker {
                    rows,
                    progress,
                    counted: (0, 0, 0),
                };
                let store = (store, data.as_deref());
                crate::block_on(replay(store, &config, plan, &mut observer, extras))
            }));
        }
        drop(rows);
        // This thread hands each event to its tenant's group, in arrival order.
        let routed = route(arrivals, &groups, senders, &progress, started);
        let mut total = SimulationReport::default();
        let mut changes = Vec::new();
        let mut reviews = Vec::new();
        for handle in handles {
            let (report, outputs) = handle
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
            add(&mut total, report);
            changes.extend(outputs.changes);
            reviews.extend(outputs.reviews);
        }
        if let Some(path) = &args.changes {
            write_changes(path, changes)?;
        }
        if let Some(dir) = &args.report {
            write_reviews(dir, reviews)?;
        }
        routed?;
        let printed = printing
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        Ok::<_, Failure>((total, printed))
    })?;
    if let Some(why) = failure.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(Failure::Runtime(format!(
            "{}: reading it again failed: {why}",
            args.events.display()
        )));
    }
    if report.duplicates > file.repeated {
        eprintln!(
            "rulekit: warning: {} events were in the store before this run (the file repeats \
             only {}): the table holds an earlier run's data, which this run's decisions \
             include; use a fresh table (RULEKIT_TABLE)",
            report.duplicates - file.repeated,
            file.repeated
        );
    }
    summarise(&args, &report, file.len(), printed)
}

/// Says so when the run can only be a mistake: nothing to replay, or events of tenants the
/// automations file does not know (nothing would ever be evaluated for them).
fn warn_of_mistakes(args: &Args, config: &AutomationsFile, file: &EventFile) {
    if file.is_empty() {
        eprintln!(
            "rulekit: warning: {} holds no events: nothing is replayed",
            args.events.display()
        );
    }
    let known = config.tenant_ids();
    for tenant in file.tenants.keys().filter(|t| !known.contains(t)) {
        eprintln!(
            "rulekit: warning: {} has events for tenant {tenant}, which {} gives no settings \
             or automations: nothing is evaluated for it",
            args.events.display(),
            args.automations.display()
        );
    }
}

/// Tenants replayed together, on one thread and one store.
struct Group {
    tenants: BTreeSet<TenantId>,
    /// Whether any of them has runs (settings or automations in the file).
    runs: bool,
}

impl Group {
    /// The automations file, for this group's tenants only.
    fn config(&self, config: &AutomationsFile) -> AutomationsFile {
        AutomationsFile {
            tenants: config
                .tenants
                .iter()
                .filter(|t| self.tenants.contains(&t.tenant_id))
                .cloned()
                .collect(),
            automations: config
                .automations
                .iter()
                .filter(|a| self.tenants.contains(&a.tenant_id))
                .cloned()
                .collect(),
        }
    }
}

/// Up to `workers` groups of tenants with about as many events each (the largest tenants
/// first, each to the lightest group).
fn tenant_groups(file: &EventFile, config: &AutomationsFile, workers: usize) -> Vec<Group> {
    let mut tenants: BTreeMap<TenantId, usize> = file.tenants.clone();
    for tenant in config.tenant_ids() {
        tenants.entry(tenant).or_insert(0);
    }
    let mut by_size: Vec<(TenantId, usize)> = tenants.into_iter().collect();
    by_size.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let count = workers.clamp(1, by_size.len().max(1));
    let mut groups: Vec<(usize, BTreeSet<TenantId>)> = vec![(0, BTreeSet::new()); count];
    for (tenant, events) in by_size {
        if let Some(lightest) = groups.iter_mut().min_by_key(|(load, _)| *load) {
            lightest.0 += events.max(1);
            lightest.1.insert(tenant);
        }
    }
    let configured = config.tenant_ids();
    groups
        .into_iter()
        .map(|(_, tenants)| Group {
            runs: tenants.iter().any(|t| configured.contains(t)),
            tenants,
        })
        .collect()
}

/// Events handed to a group at a time.
const ROUTE_BATCH: usize = 1024;

/// Hands each event to its tenant's group in arrival order, and says how far the replay has
/// come every few seconds.
fn route(
    arrivals: impl Iterator<Item = (usize, Event)>,
    groups: &[Group],
    senders: Vec<SyncSender<Vec<(usize, Event)>>>,
    progress: &Counters,
    started: Instant,
) -> Result<(), Failure> {
    let mut batches: Vec<Vec<(usize, Event)>> = groups.iter().map(|_| Vec::new()).collect();
    let owner = |tenant: &TenantId| groups.iter().position(|g| g.tenants.contains(tenant));
    let mut told = started;
    let gone = || Failure::Runtime("a replay stopped early".to_owned());
    for (line, event) in arrivals {
        let Some(g) = owner(&event.tenant_id) else {
            continue;
        };
        batches[g].push((line, event));
        if batches[g].len() == ROUTE_BATCH {
            senders[g]
                .send(std::mem::take(&mut batches[g]))
                .map_err(|_| gone())?;
        }
        if told.elapsed() >= PROGRESS_EVERY {
            told = Instant::now();
            progress.tell(started);
        }
    }
    for (sender, batch) in senders.iter().zip(batches) {
        sender.send(batch).map_err(|_| gone())?;
    }
    Ok(())
}

/// Progress on stderr, for a run long enough to wonder about: after five seconds, every five.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How far the replays have come, over every group.
#[derive(Default)]
struct Counters {
    runs: AtomicUsize,
    runs_total: AtomicUsize,
    events: AtomicUsize,
    decisions: AtomicUsize,
}

impl Counters {
    fn tell(&self, started: Instant) {
        eprintln!(
            "rulekit: {} of {} daily runs, {} events ingested, {} decisions, {:.0} s",
            self.runs.load(Ordering::Relaxed),
            self.runs_total.load(Ordering::Relaxed),
            self.events.load(Ordering::Relaxed),
            self.decisions.load(Ordering::Relaxed),
            started.elapsed().as_secs_f64()
        );
    }
}

/// One group's observer: its dates go to the printer, its progress to the counters.
struct Worker {
    rows: SyncSender<(NaiveDate, Vec<Decision>)>,
    progress: Arc<Counters>,
    /// What was counted already: (runs, events, decisions).
    counted: (usize, usize, usize),
}

impl Observer for Worker {
    fn decisions(&mut self, date: NaiveDate, decisions: Vec<Decision>) {
        // The printer goes until every group is done: it is there to receive.
        let _ = self.rows.send((date, decisions));
    }

    fn progress(&mut self, p: Progress) {
        let (runs, events, decisions) = self.counted;
        let c = &self.progress;
        if runs == 0 {
            c.runs_total.fetch_add(p.runs_total, Ordering::Relaxed);
        }
        c.runs.fetch_add(p.runs - runs, Ordering::Relaxed);
        c.events.fetch_add(p.events - events, Ordering::Relaxed);
        c.decisions
            .fetch_add(p.decisions - decisions, Ordering::Relaxed);
        self.counted = (p.runs, p.events, p.decisions);
    }
}

/// Prints the dates in order, each once every replaying group has given its decisions of
/// it (each group's already sorted by tenant, and groups share no tenant, so a date's rows
/// are the groups' rows sorted together); skipped rows only with `--explain`.
struct Printer<W: Write> {
    out: W,
    explain: bool,
    printed: usize,
    /// The first write that failed: the replay goes on, and the command fails after it.
    failed: Option<std::io::Error>,
    /// Dates some groups have given: how many, and their decisions.
    waiting: BTreeMap<NaiveDate, (usize, Vec<Decision>)>,
    replaying: usize,
}

impl<W: Write> Printer<W> {
    fn take(&mut self, date: NaiveDate, decisions: Vec<Decision>) {
        let (given, all) = self.waiting.entry(date).or_default();
        *given += 1;
        all.extend(decisions);
        while let Some(entry) = self.waiting.first_entry() {
            if entry.get().0 < self.replaying {
                break;
            }
            let (_, (_, mut decisions)) = entry.remove_entry();
            decisions.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
            self.print(&decisions);
        }
    }

    fn print(&mut self, decisions: &[Decision]) {
        for d in decisions
            .iter()
            .filter(|d| self.explain || d.prints_without_explain())
        {
            if self.failed.is_some() {
                return;
            }
            let written = serde_json::to_writer(&mut self.out, &d.row())
                .map_err(std::io::Error::from)
                .and_then(|()| self.out.write_all(b"\n"));
            match written {
                Ok(()) => self.printed += 1,
                Err(e) => self.failed = Some(e),
            }
        }
    }
}

/// One group's replay, on a store of its own kind.
/// A change-log entry as `--changes` writes it, with what it sorts by (tenant, then the
/// store's order: date, instant, customer).
type LoggedChange = ((TenantId, NaiveDate, usize), String);

/// What a replay reads from its store when it is done, besides the decisions it printed.
struct Extras {
    /// The dates whose metadata change log to list.
    change_dates: Option<(NaiveDate, NaiveDate)>,
    /// The weeks to write a review of.
    report_weeks: Vec<IsoWeek>,
}

#[derive(Default)]
struct Outputs {
    changes: Vec<LoggedChange>,
    reviews: Vec<Review>,
}

/// Replays on the store named, and with `StoreKind::File`, the data file's path.
async fn replay<A, O>(
    (store, data): (StoreKind, Option<&std::path::Path>),
    config: &AutomationsFile,
    plan: SimulationPlan<'_, A>,
    observer: &mut O,
    extras: Extras,
) -> Result<(SimulationReport, Outputs), Failure>
where
    A: Iterator<Item = (usize, Event)>,
    O: Observer,
{
    match store {
        StoreKind::Memory => {
            let publisher = MemoryPublisher::discarding();
            let store = MemoryStore::new();
            replay_on(&store, &publisher, config, plan, observer, extras).await
        }
        StoreKind::File => {
            let path = data.ok_or_else(|| Failure::Input("--store file needs --data\n".into()))?;
            let store = crate::serve::open_data_file(path).await?;
            if store.replayed() > 0 {
                return Err(Failure::Input(format!(
                    "--data {} holds data already, and a simulation adds to what a store \
                     holds: name a new file\n",
                    path.display()
                )));
            }
            let publisher = MemoryPublisher::discarding();
            replay_on(&store, &publisher, config, plan, observer, extras).await
        }
        StoreKind::Dynamodb => {
            let aws = Aws::from_env().await?;
            let (store, publisher) = (aws.store().await?, aws.publisher().await?);
            replay_on(&store, &publisher, config, plan, observer, extras).await
        }
    }
}

async fn replay_on<S, P, A, O>(
    store: &S,
    publisher: &P,
    config: &AutomationsFile,
    plan: SimulationPlan<'_, A>,
    observer: &mut O,
    extras: Extras,
) -> Result<(SimulationReport, Outputs), Failure>
where
    S: CustomerStore
        + CandidateSource
        + AutomationStore
        + AutomationAdmin
        + DecisionStore
        + AdminStore
        + OutcomeStore
        + ReportRecords
        + NormalizationStore,
    P: ActionPublisher,
    A: Iterator<Item = (usize, Event)>,
    O: Observer,
{
    let runtime = |e: StoreError| Failure::Runtime(e.to_string());
    store_config(store, config, plan.from)
        .await
        .map_err(runtime)?;
    let report = simulate(store, publisher, plan, observer)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let mut outputs = Outputs::default();
    let changes = &mut outputs.changes;
    if let Some((first, last)) = extras.change_dates {
        for tenant in config.tenant_ids() {
            for date in first.iter_days().take_while(|d| *d <= last) {
                let listed = store.changes_on(&tenant, date).await.map_err(runtime)?;
                for (n, record) in listed.iter().enumerate() {
                    let mut line = serde_json::json!({"tenant_id": tenant});
                    if let (Some(line), serde_json::Value::Object(rest)) =
                        (line.as_object_mut(), record.to_json())
                    {
                        line.extend(rest);
                    }
                    changes.push(((tenant.clone(), date, n), line.to_string()));
                }
            }
        }
    }
    for tenant in config.tenant_ids() {
        for week in &extras.report_weeks {
            let review = weekly_review(store, &tenant, *week)
                .await
                .map_err(runtime)?;
            outputs.reviews.push(review);
        }
    }
    Ok((report, outputs))
}

/// Writes each review as JSON and HTML under its tenant, and an index of them all.
fn write_reviews(dir: &std::path::Path, mut reviews: Vec<Review>) -> Result<(), Failure> {
    let failed = |path: &std::path::Path, e: std::io::Error| {
        Failure::Runtime(format!("cannot write {}: {e}", path.display()))
    };
    reviews.sort_by(|a, b| (&a.tenant_id, a.week).cmp(&(&b.tenant_id, b.week)));
    let mut index = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\">\
         <title>RuleKit weekly reviews</title></head><body><main><h1>Weekly reviews</h1><ul>",
    );
    for review in &reviews {
        let tenant_dir = dir.join(review.tenant_id.as_str());
        std::fs::create_dir_all(&tenant_dir).map_err(|e| failed(&tenant_dir, e))?;
        let json_path = tenant_dir.join(format!("{}.json", review.week));
        let json = serde_json::to_string_pretty(&review.to_json()).unwrap_or_default() + "\n";
        std::fs::write(&json_path, json).map_err(|e| failed(&json_path, e))?;
        let html_path = tenant_dir.join(format!("{}.html", review.week));
        std::fs::write(&html_path, html::render(review)).map_err(|e| failed(&html_path, e))?;
        index.push_str(&format!(
            "<li><a href=\"{t}/{w}.html\">{t} {w}</a> (<a href=\"{t}/{w}.json\">JSON</a>)</li>",
            t = review.tenant_id.as_str(),
            w = review.week
        ));
    }
    index.push_str("</ul></main></body></html>\n");
    let index_path = dir.join("index.html");
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    std::fs::write(&index_path, index).map_err(|e| failed(&index_path, e))?;
    eprintln!(
        "rulekit: {} weekly reviews written to {}",
        reviews.len(),
        dir.display()
    );
    Ok(())
}

/// Writes the change log, by tenant, date and the order the store lists a date in.
fn write_changes(path: &std::path::Path, mut changes: Vec<LoggedChange>) -> Result<(), Failure> {
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    let mut text = String::new();
    for (_, line) in &changes {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(path, text)
        .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", path.display())))?;
    eprintln!(
        "rulekit: {} profiles changed by normalization rules, logged in {}",
        changes.len(),
        path.display()
    );
    Ok(())
}

/// `total += report`.
fn add(total: &mut SimulationReport, report: SimulationReport) {
    total.accepted += report.accepted;
    total.duplicates += report.duplicates;
    total.rejected.extend(report.rejected);
    total.rejected.sort_by_key(|(line, _)| *line);
    total.executed += report.executed;
    total.alerts += report.alerts;
    total.runs += report.runs;
    total.decisions += report.decisions;
    total.fired += report.fired;
    total.held += report.held;
    total.awaiting_approval += report.awaiting_approval;
}

fn summarise(
    args: &Args,
    report: &SimulationReport,
    events: usize,
    printed: usize,
) -> Result<(), Failure> {
    eprintln!(
        "rulekit: events {} (accepted {}, duplicates {}, rejected {}); runs {}; firings {}; \
         held {}; awaiting approval {}; messages published {} in {} calls; guardrail alerts {}; \
         rows printed {}",
        events,
        report.accepted,
        report.duplicates,
        report.rejected.len(),
        report.runs,
        report.fired,
        report.held,
        report.awaiting_approval,
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
            .map(|(line, reason)| format!("{}:{line}: {reason}\n", args.events.display()))
            .collect();
        Err(Failure::Input(msg))
    }
}
