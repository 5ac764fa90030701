//! The data file: every write the file store acknowledged, in order, one row each in a SQLite
//! table, appended (and on disk) before the write is acknowledged.
//!
//! An entry holds each value in the form the DynamoDB table stores it (`dynamodb::items`, the
//! same conversions), so the two durable stores keep the same fields and cannot drift in what
//! they keep. Replaying the entries in order into an empty memory store gives back the store
//! that wrote them, versions and every index included: each write is a function of the store
//! before it and of its arguments, which the entry holds.

use crate::adapters::dynamodb::admin::settings_from_doc;
use crate::adapters::dynamodb::aging::{AgingItem, SkipsItem};
use crate::adapters::dynamodb::items::{AuditItem, CustomerItem, FiringItem};
use crate::adapters::dynamodb::normalization::{ChangeItem, ProgressItem};
use crate::adapters::dynamodb::outcomes::StopItem;
use crate::adapters::dynamodb::store::automation_from_doc;
use crate::adapters::memory::MemoryStore;
use crate::domain::aging::AgingTable;
use crate::domain::clock::StartIndex;
use crate::domain::normalize::ChangeRecord;
use crate::domain::{Automation, CustomerState, Event, TenantId, TenantSettings};
use crate::ports::{
    AdminStore, AuditEntry, AutomationAdmin, CommitOutcome, CustomerStore, DecisionStore,
    FiringRecord, FiringStatus, NormalizationStore, RecordOutcome, ReportRecords, RunCheckpoints,
    SegmentProgress, SkipCount, StateCommit, StoreError, StoredAutomation, Versioned, WriteOutcome,
};
use chrono::NaiveDate;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `PRAGMA application_id` of a RuleKit data file ("RKIT"): another SQLite file is refused,
/// never written to.
const APPLICATION_ID: i32 = 0x524B_4954;

/// The entries' format (`PRAGMA user_version`). A file of a newer format is refused: this
/// version could not replay it faithfully.
const FORMAT: i32 = 1;

/// Entries read from the file at a time while replaying it.
const REPLAY_PAGE: i64 = 4096;

/// The indexes' shard count given to the item conversions: it only shapes index keys, which
/// the memory store does not read back.
const SHARDS: u16 = 1;

/// One acknowledged write, with what it needs to be done again.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "write", rename_all = "snake_case")]
pub(super) enum Entry {
    Commit {
        /// The event's canonical JSON.
        event: String,
        state: Box<CustomerItem>,
        expected: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        change: Option<Box<ChangeItem>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        stops: Vec<StopItem>,
    },
    Normalized {
        state: Box<CustomerItem>,
        expected: u64,
        change: Box<ChangeItem>,
    },
    Progress {
        tenant: String,
        progress: ProgressItem,
    },
    PutSettings {
        settings: String,
    },
    PutAutomation {
        automation: String,
    },
    Automation {
        automation: String,
        version: u64,
        archived: bool,
        expected: Option<u64>,
        audit: AuditItem,
    },
    Settings {
        settings: String,
        version: u64,
        audit: AuditItem,
    },
    Resolve {
        firings: Vec<FiringItem>,
        from: String,
        to: String,
        audit: AuditItem,
    },
    Complete {
        tenant: String,
        date: NaiveDate,
    },
    Record {
        firing: Box<FiringItem>,
    },
    Replace {
        current: Box<FiringItem>,
        next: Box<FiringItem>,
    },
    Aging {
        tenant: String,
        table: AgingItem,
    },
    Skips {
        tenant: String,
        date: NaiveDate,
        counts: SkipsItem,
    },
}

fn unreadable(what: &str) -> StoreError {
    StoreError::failed(format!("the data file holds an unreadable {what}"))
}

fn event_from_json(text: &str) -> Result<Event, StoreError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| unreadable("event"))?;
    Event::from_json(&value).map_err(|e| StoreError::failed(format!("a stored event: {e}")))
}

fn status(s: &str) -> Result<FiringStatus, StoreError> {
    FiringStatus::parse(s).ok_or_else(|| unreadable("firing status"))
}

impl Entry {
    pub(super) fn commit(c: &StateCommit<'_>) -> Self {
        let version = c.expected_version.map_or(1, |v| v + 1);
        let tenant = &c.state.tenant_id;
        let customer = &c.state.customer_id;
        Self::Commit {
            event: c.event.to_json().to_string(),
            state: Box::new(CustomerItem::from_state(&c.state, version, SHARDS)),
            expected: c.expected_version,
            change: c
                .normalization
                .as_ref()
                .map(|r| Box::new(ChangeItem::from_record(r, SHARDS))),
            stops: (c.stops.iter())
                .map(|s| StopItem::from_stop(tenant, customer, s))
                .collect(),
        }
    }

    pub(super) fn normalized(state: &CustomerState, expected: u64, record: &ChangeRecord) -> Self {
        Self::Normalized {
            state: Box::new(CustomerItem::from_state(state, expected + 1, SHARDS)),
            expected,
            change: Box::new(ChangeItem::from_record(record, SHARDS)),
        }
    }

    pub(super) fn progress(tenant: &TenantId, progress: &SegmentProgress) -> Self {
        Self::Progress {
            tenant: tenant.to_string(),
            progress: ProgressItem::from_progress(tenant, progress),
        }
    }

    pub(super) fn put_settings(settings: &TenantSettings) -> Self {
        Self::PutSettings {
            settings: settings.to_json().to_string(),
        }
    }

    pub(super) fn put_automation(automation: &Automation) -> Self {
        Self::PutAutomation {
            automation: automation.to_json().to_string(),
        }
    }

    pub(super) fn automation(
        next: &StoredAutomation,
        expected: Option<u64>,
        audit: &AuditEntry,
    ) -> Self {
        Self::Automation {
            automation: next.automation.to_json().to_string(),
            version: next.version,
            archived: next.archived,
            expected,
            audit: AuditItem::from_entry(audit),
        }
    }

    pub(super) fn settings(next: &Versioned<TenantSettings>, audit: &AuditEntry) -> Self {
        Self::Settings {
            settings: next.value.to_json().to_string(),
            version: next.version,
            audit: AuditItem::from_entry(audit),
        }
    }

    pub(super) fn resolve(
        firings: &[FiringRecord],
        from: FiringStatus,
        to: FiringStatus,
        audit: &AuditEntry,
    ) -> Self {
        Self::Resolve {
            firings: (firings.iter())
                .map(|r| FiringItem::from_record(r, SHARDS))
                .collect(),
            from: from.as_str().to_owned(),
            to: to.as_str().to_owned(),
            audit: AuditItem::from_entry(audit),
        }
    }

    pub(super) fn complete(tenant: &TenantId, date: NaiveDate) -> Self {
        Self::Complete {
            tenant: tenant.to_string(),
            date,
        }
    }

    pub(super) fn record(record: &FiringRecord) -> Self {
        Self::Record {
            firing: Box::new(FiringItem::from_record(record, SHARDS)),
        }
    }

    pub(super) fn replace(current: &FiringRecord, next: &FiringRecord) -> Self {
        Self::Replace {
            current: Box::new(FiringItem::from_record(current, SHARDS)),
            next: Box::new(FiringItem::from_record(next, SHARDS)),
        }
    }

    pub(super) fn aging(tenant: &TenantId, table: &AgingTable) -> Self {
        Self::Aging {
            tenant: tenant.to_string(),
            table: AgingItem::from_table(tenant, table),
        }
    }

    pub(super) fn skips(tenant: &TenantId, date: NaiveDate, skips: &[SkipCount]) -> Self {
        Self::Skips {
            tenant: tenant.to_string(),
            date,
            counts: SkipsItem::from_counts(tenant, date, skips),
        }
    }

    /// Does the write again on `memory`; whether it changed what it changed the first time
    /// (an entry is only appended for a write that changed something).
    pub(super) async fn apply(self, memory: &MemoryStore) -> Result<bool, StoreError> {
        Ok(match self {
            Self::Commit {
                event,
                state,
                expected,
                change,
                stops,
            } => {
                let event = event_from_json(&event)?;
                let (state, _) = state.into_state()?;
                // What the commit read before its event, as ingest computed it: the stored
                // state at `expected`, which the commit is conditioned on.
                let before = memory
                    .load_customer(&state.tenant_id, &state.customer_id)
                    .await?
                    .map(|v| v.value)
                    .unwrap_or_else(|| {
                        CustomerState::new(state.tenant_id.clone(), state.customer_id.clone())
                    });
                let commit = StateCommit {
                    event: &event,
                    was_past_due: before.is_past_due(),
                    started_before: StartIndex::of(&before),
                    expected_version: expected,
                    normalization: change.map(|c| c.into_record()).transpose()?,
                    stops: (stops.into_iter())
                        .map(StopItem::into_stop)
                        .collect::<Result<_, _>>()?,
                    state,
                };
                memory.commit(commit).await? == CommitOutcome::Committed
            }
            Self::Normalized {
                state,
                expected,
                change,
            } => {
                let (state, _) = state.into_state()?;
                let record = change.into_record()?;
                memory.write_normalized(&state, expected, &record).await? == WriteOutcome::Written
            }
            Self::Progress { tenant, progress } => {
                let tenant = TenantId::new(tenant);
                memory
                    .save_progress(&tenant, &progress.into_progress())
                    .await?;
                true
            }
            Self::PutSettings { settings } => {
                memory.put_settings(&settings_from_doc(&settings)?).await?;
                true
            }
            Self::PutAutomation { automation } => {
                memory
                    .put_automation(&automation_from_doc(&automation)?)
                    .await?;
                true
            }
            Self::Automation {
                automation,
                version,
                archived,
                expected,
                audit,
            } => {
                let next = StoredAutomation {
                    automation: automation_from_doc(&automation)?,
                    version,
                    archived,
                };
                let audit = audit.into_entry(&next.automation.tenant_id)?;
                memory.write_automation(&next, expected, &audit).await? == WriteOutcome::Written
            }
            Self::Settings {
                settings,
                version,
                audit,
            } => {
                let next = Versioned {
                    value: settings_from_doc(&settings)?,
                    version,
                };
                let audit = audit.into_entry(&next.value.tenant_id)?;
                memory.write_settings(&next, &audit).await? == WriteOutcome::Written
            }
            Self::Resolve {
                firings,
                from,
                to,
                audit,
            } => {
                let firings = (firings.into_iter())
                    .map(FiringItem::into_record)
                    .collect::<Result<Vec<_>, _>>()?;
                let tenant = match firings.first() {
                    Some(f) => f.decision.tenant_id.clone(),
                    None => return Err(unreadable("resolution without firings")),
                };
                let audit = audit.into_entry(&tenant)?;
                let moved = memory
                    .resolve_firings(&firings, status(&from)?, status(&to)?, &audit)
                    .await?;
                moved > 0
            }
            Self::Complete { tenant, date } => {
                memory.complete(&TenantId::new(tenant), date).await?;
                true
            }
            Self::Record { firing: f } => {
                memory.record(&f.into_record()?).await? == RecordOutcome::Recorded
            }
            Self::Replace { current, next } => {
                memory
                    .replace_firing(&current.into_record()?, &next.into_record()?)
                    .await?
            }
            Self::Aging { tenant, table } => {
                let tenant = TenantId::new(tenant);
                memory.record_aging(&tenant, &table.into_table()?).await?;
                true
            }
            Self::Skips {
                tenant,
                date,
                counts,
            } => {
                let tenant = TenantId::new(tenant);
                memory
                    .record_skips(&tenant, date, &counts.into_counts())
                    .await?;
                true
            }
        })
    }
}

/// The open data file, locked to this process.
pub(super) struct Journal {
    connection: Connection,
}

/// A failure of the data file itself (it cannot be opened, is not RuleKit's, is in use),
/// named with its path. Not logged: it is the answer to opening the file, which the caller
/// reports.
fn file_error(path: &Path, what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Failed(format!("the data file {}: {what}: {e}", path.display()))
}

impl Journal {
    /// Opens (or creates) the file and locks it for this process alone: a second process on
    /// the same file would keep a copy of its own, and the two would diverge.
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let connection =
            Connection::open(path).map_err(|e| file_error(path, "cannot be opened", e))?;
        let fail = |what: &'static str| move |e: rusqlite::Error| file_error(path, what, e);
        // A write is acknowledged once its row is in the write-ahead log and the log is on
        // disk (`synchronous = FULL` syncs it at each commit): a process killed, or a machine
        // that loses power, after the acknowledgement keeps the write.
        connection
            .pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(fail("cannot be locked"))?;
        let application: i32 = connection
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::DatabaseBusy =>
                {
                    file_error(path, "is in use by another process", e)
                }
                e => file_error(path, "is not a SQLite database", e),
            })?;
        let tables: i64 = connection
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(fail("cannot be read"))?;
        if tables > 0 && application != APPLICATION_ID {
            return Err(file_error(
                path,
                "is not a RuleKit data file",
                "another program's SQLite database; name a new file",
            ));
        }
        let format: i32 = connection
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(fail("cannot be read"))?;
        if format > FORMAT {
            return Err(file_error(
                path,
                "was written by a newer rulekit",
                format!("format {format}, this rulekit reads format {FORMAT} and older"),
            ));
        }
        let mode: String = connection
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(fail("cannot be opened for writing"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(file_error(path, "cannot keep a write-ahead log", mode));
        }
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(fail("cannot be opened for writing"))?;
        // An exclusive transaction takes the lock, and `locking_mode = EXCLUSIVE` keeps it
        // until the connection closes.
        connection
            .execute_batch(&format!(
                "BEGIN EXCLUSIVE;
                 PRAGMA application_id = {APPLICATION_ID};
                 PRAGMA user_version = {FORMAT};
                 CREATE TABLE IF NOT EXISTS journal (
                     seq INTEGER PRIMARY KEY,
                     entry TEXT NOT NULL
                 ) STRICT;
                 COMMIT;"
            ))
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::DatabaseBusy =>
                {
                    file_error(path, "is in use by another process", e)
                }
                e => file_error(path, "cannot be written", e),
            })?;
        Ok(Self { connection })
    }

    /// The entries after `after` (a sequence number), at most a page of them, in order.
    pub(super) fn page(&self, after: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let read = |e: rusqlite::Error| StoreError::failed(format!("the data file: {e}"));
        let mut statement = self
            .connection
            .prepare("SELECT seq, entry FROM journal WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .map_err(read)?;
        let rows = statement
            .query_map([after, REPLAY_PAGE], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(read)?;
        rows.collect::<Result<_, _>>().map_err(read)
    }

    /// Appends `entry`; it is on disk when this returns.
    pub(super) fn append(&self, entry: &Entry) -> Result<(), String> {
        let text = serde_json::to_string(entry).map_err(|e| e.to_string())?;
        self.connection
            .execute("INSERT INTO journal (entry) VALUES (?1)", [text])
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
