//! Reading the command's input files, with errors that name the file, the line and the field.
//!
//! An events file can be gigabytes (a backtest of a million customers is about 2 GB, nine
//! million events), so it is never held whole. It is read twice:
//!
//! 1. [`EventFile::check`] reads every line on every core, keeping of each event only when it
//!    arrived, its line, and fingerprints of its id and payload. Every bad line is reported
//!    (by line and field) and an id reused for another event is found here, before anything
//!    runs.
//! 2. [`EventFile::stream`] reads it again, sequentially, on a thread of its own, and hands
//!    the events out in the order asked for (arrival order for a replay, file order for
//!    `rulekit ingest`), holding only those read ahead of their turn: a file in about arrival
//!    order, as exports are, is streamed in little memory.

use shared::domain::json::{self, JsonError};
use shared::domain::{AutomationsFile, Event, FieldErrors, TenantId};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hasher;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

/// Bad input: every problem found, each ready to print.
#[derive(Debug)]
pub struct InputErrors(pub Vec<String>);

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 50;
        for line in self.0.iter().take(SHOWN) {
            writeln!(f, "{line}")?;
        }
        if self.0.len() > SHOWN {
            writeln!(f, "... and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

impl std::error::Error for InputErrors {}

fn cannot_read(path: &Path, e: impl fmt::Display) -> InputErrors {
    InputErrors(vec![format!("{}: cannot read: {e}", path.display())])
}

/// `FILE:LINE: ...` for a JSON text that could not be read. A repeated key reads
/// `FILE:LINE: field: duplicate key`.
fn json_problem(path: &Path, first_line: usize, e: &JsonError) -> String {
    format!("{}:{}: {e}", path.display(), first_line + e.line() - 1)
}

/// How a line becomes an event: as a replay reads it, or as live ingest does.
pub type ReadEvent = Arc<dyn Fn(&serde_json::Value) -> Result<Event, FieldErrors> + Send + Sync>;

/// Bytes read from the file at a time.
const CHUNK: usize = 8 << 20;

/// The file's lines, chunk by chunk: `f(first line number, lines)`, each line without its
/// end. A leading byte-order mark is skipped.
fn for_each_chunk(
    path: &Path,
    mut f: impl FnMut(usize, &[&[u8]]) -> Result<(), InputErrors>,
) -> Result<(), InputErrors> {
    let mut file = std::fs::File::open(path).map_err(|e| cannot_read(path, e))?;
    let mut buffer: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut next_line = 1;
    let mut at_start = true;
    loop {
        let filled = buffer.len();
        buffer.resize(filled + CHUNK, 0);
        let read = file
            .read(&mut buffer[filled..])
            .map_err(|e| cannot_read(path, e))?;
        buffer.truncate(filled + read);
        let end_of_file = read == 0;
        if at_start && (buffer.len() >= 3 || end_of_file) {
            if buffer.starts_with("\u{feff}".as_bytes()) {
                buffer.drain(..3);
            }
            at_start = false;
        }
        // Whole lines only; the rest waits for the next read.
        let complete = if end_of_file {
            buffer.len()
        } else {
            match buffer.iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                None => continue,
            }
        };
        let lines: Vec<&[u8]> = buffer[..complete]
            .split_inclusive(|b| *b == b'\n')
            .map(|l| {
                let l = l.strip_suffix(b"\n").unwrap_or(l);
                l.strip_suffix(b"\r").unwrap_or(l)
            })
            .collect();
        f(next_line, &lines)?;
        next_line += lines.len();
        buffer.drain(..complete);
        if end_of_file {
            return Ok(());
        }
    }
}

enum LineError {
    Json(JsonError),
    Fields(FieldErrors),
}

/// One line read: `None` when blank.
fn read_line(line: &[u8], read: &ReadEvent) -> Result<Option<Event>, LineError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value = json::parse_bytes(line).map_err(LineError::Json)?;
    read(&value).map(Some).map_err(LineError::Fields)
}

fn fingerprint(f: impl FnOnce(&mut fnv::FnvHasher)) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    f(&mut hasher);
    hasher.finish()
}

/// What pass 1 keeps of an event: when it arrived (nanoseconds since 1970, which every year
/// an event may carry, 1970 to 2200, fits in: the order the replay checks), its line, and the
/// fingerprints of its id (with its tenant) and of its payload.
#[derive(Debug, Clone, Copy)]
struct Facts {
    received: i64,
    line: u32,
    id: u64,
    payload: u64,
}

/// An events file, checked: every line reads, no id names two events.
pub struct EventFile {
    path: PathBuf,
    read: ReadEvent,
    /// `(received_at in nanoseconds, line)` of each event, in file order, until an order is
    /// taken.
    events: Vec<(i64, u32)>,
    count: usize,
    /// The tenants the events are for, with how many events each has.
    pub tenants: std::collections::BTreeMap<TenantId, usize>,
    /// Events that repeat an earlier line's event (same id, same payload).
    pub repeated: usize,
    length: u64,
}

impl EventFile {
    /// Pass 1: reads every line with `read`, on every core. Every bad line is reported, by
    /// line and field, and so is an event id used for a different event (which of the two
    /// won would depend on arrival).
    pub fn check(path: &Path, read: ReadEvent) -> Result<EventFile, InputErrors> {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        let mut facts: Vec<Facts> = Vec::new();
        let mut errors = Vec::new();
        let mut tenants = std::collections::BTreeMap::new();
        for_each_chunk(path, |first, lines| {
            let per_worker = lines.len().div_ceil(workers).max(1);
            let read = &read;
            let mut parsed: Vec<Result<Option<Facts>, LineError>> = Vec::new();
            std::thread::scope(|scope| {
                let handles: Vec<_> = lines
                    .chunks(per_worker)
                    .enumerate()
                    .map(|(part, chunk)| {
                        scope.spawn(move || {
                            let mut tenants: fnv::FnvHashMap<TenantId, usize> = Default::default();
                            let facts: Vec<_> = chunk
                                .iter()
                                .enumerate()
                                .map(|(n, line)| {
                                    let number = first + part * per_worker + n;
                                    let Some(e) = read_line(line, read)? else {
                                        return Ok(None);
                                    };
                                    match tenants.get_mut(&e.tenant_id) {
                                        Some(n) => *n += 1,
                                        None => {
                                            tenants.insert(e.tenant_id.clone(), 1);
                                        }
                                    }
                                    Ok(Some(Facts {
                                        received: e
                                            .received_at
                                            .timestamp_nanos_opt()
                                            .unwrap_or(i64::MAX),
                                        line: u32::try_from(number).unwrap_or(u32::MAX),
                                        id: fingerprint(|h| {
                                            h.write(e.tenant_id.as_str().as_bytes());
                                            h.write_u8(0xff);
                                            h.write(e.event_id().as_str().as_bytes());
                                        }),
                                        payload: fingerprint(|h| e.hash_payload(h)),
                                    }))
                                })
                                .collect();
                            (facts, tenants)
                        })
                    })
                    .collect();
                for handle in handles {
                    let (part, seen) = handle
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p));
                    parsed.extend(part);
                    for (tenant, n) in seen {
                        *tenants.entry(tenant).or_insert(0) += n;
                    }
                }
            });
            for (n, result) in parsed.into_iter().enumerate() {
                match result {
                    Ok(Some(f)) => facts.push(f),
                    Ok(None) => {}
                    Err(LineError::Json(e)) => errors.push(json_problem(path, first + n, &e)),
                    Err(LineError::Fields(fe)) => errors.extend(
                        fe.0.iter()
                            .map(|e| format!("{}:{}: {e}", path.display(), first + n)),
                    ),
                }
            }
            Ok(())
        })?;
        if !errors.is_empty() {
            return Err(InputErrors(errors));
        }
        let (conflicts, repeated) = reused_ids(path, &read, &facts)?;
        if !conflicts.is_empty() {
            return Err(InputErrors(conflicts));
        }
        let length = std::fs::metadata(path)
            .map_err(|e| cannot_read(path, e))?
            .len();
        Ok(EventFile {
            path: path.to_owned(),
            read,
            count: facts.len(),
            events: facts.iter().map(|f| (f.received, f.line)).collect(),
            tenants,
            repeated,
            length,
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The first and the last `received_at`, until an order is taken.
    pub fn received_span(
        &self,
    ) -> Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> {
        let at = |n: i64| Some(chrono::DateTime::from_timestamp_nanos(n));
        let first = self.events.iter().map(|e| e.0).min()?;
        let last = self.events.iter().map(|e| e.0).max()?;
        Some((at(first)?, at(last)?))
    }

    /// The line numbers in arrival order (by `received_at`, ties in file order), once: what
    /// pass 1 kept of the events is given up for it.
    pub fn arrival_order(&mut self) -> Vec<u32> {
        let mut order = std::mem::take(&mut self.events);
        order.sort_unstable();
        order.into_iter().map(|(_, line)| line).collect()
    }

    /// The line numbers in file order, once (as [`EventFile::arrival_order`]).
    pub fn file_order(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.events)
            .into_iter()
            .map(|(_, line)| line)
            .collect()
    }

    /// Pass 2: the events of the lines in `order`, read again on a thread of their own.
    pub fn stream(&self, order: Vec<u32>) -> Result<EventStream, InputErrors> {
        let length = std::fs::metadata(&self.path)
            .map_err(|e| cannot_read(&self.path, e))?
            .len();
        if length != self.length {
            return Err(cannot_read(
                &self.path,
                "the file changed since it was checked",
            ));
        }
        let (sender, receiver) = sync_channel(8);
        let (path, read) = (self.path.clone(), self.read.clone());
        std::thread::spawn(move || produce(&path, &read, &sender));
        Ok(EventStream {
            order: order.into_iter(),
            receiver,
            batch: Default::default(),
            ahead: Default::default(),
            failure: Arc::new(Mutex::new(None)),
        })
    }
}

/// Lines, numbered, that pass 1 read and pass 2 did not (the file changed between them).
type Batch = Result<Vec<(u32, Event)>, String>;

/// Pass 2's reader: every event of the file, in file order, in batches.
fn produce(path: &Path, read: &ReadEvent, sender: &SyncSender<Batch>) {
    let outcome = for_each_chunk(path, |first, lines| {
        let mut batch = Vec::with_capacity(4096);
        for (n, line) in lines.iter().enumerate() {
            match read_line(line, read) {
                Ok(Some(event)) => {
                    let number = u32::try_from(first + n).unwrap_or(u32::MAX);
                    batch.push((number, event));
                }
                Ok(None) => {}
                Err(_) => {
                    return Err(InputErrors(vec![format!(
                        "{}:{}: the file changed since it was checked",
                        path.display(),
                        first + n
                    )]));
                }
            }
            if batch.len() == 4096 {
                // A receiver gone means the replay stopped: nothing more to read for.
                sender
                    .send(Ok(std::mem::take(&mut batch)))
                    .map_err(|_| InputErrors(Vec::new()))?;
            }
        }
        sender.send(Ok(batch)).map_err(|_| InputErrors(Vec::new()))
    });
    if let Err(e) = outcome {
        let _ = sender.send(Err(e.to_string()));
    }
}

/// The events of a checked file in a chosen order, each numbered by its line.
pub struct EventStream {
    order: std::vec::IntoIter<u32>,
    receiver: Receiver<Batch>,
    /// The batch being read, in file order.
    batch: std::collections::VecDeque<(u32, Event)>,
    /// Events read before their turn.
    ahead: fnv::FnvHashMap<u32, Event>,
    failure: Arc<Mutex<Option<String>>>,
}

impl EventStream {
    /// Why the stream ended early, if it did.
    pub fn failure(&self) -> Arc<Mutex<Option<String>>> {
        self.failure.clone()
    }
}

impl Iterator for EventStream {
    type Item = (usize, Event);

    fn next(&mut self) -> Option<(usize, Event)> {
        let line = self.order.next()?;
        if let Some(event) = self.ahead.remove(&line) {
            return Some((line as usize, event));
        }
        loop {
            // In a file in about arrival order the next event wanted is the batch's next.
            while let Some((number, event)) = self.batch.pop_front() {
                if number == line {
                    return Some((line as usize, event));
                }
                self.ahead.insert(number, event);
            }
            match self.receiver.recv() {
                Ok(Ok(batch)) => self.batch.extend(batch),
                Ok(Err(why)) => {
                    *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
                    return None;
                }
                Err(_) => {
                    *self.failure.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(format!("line {line} was not read again"));
                    return None;
                }
            }
        }
    }
}

/// Lines that use one event id for two different events (each with the line that used it
/// first), and how many events repeat an earlier one exactly. Found by fingerprint (sorting
/// 24 bytes per event, not the events); each candidate is then confirmed by reading its two
/// lines again.
fn reused_ids(
    path: &Path,
    read: &ReadEvent,
    facts: &[Facts],
) -> Result<(Vec<String>, usize), InputErrors> {
    let mut by_id: Vec<(u64, u32, u64)> = facts.iter().map(|f| (f.id, f.line, f.payload)).collect();
    by_id.sort_unstable();
    let mut candidates: Vec<(u32, u32)> = Vec::new();
    let mut repeated = 0;
    for group in by_id.chunk_by(|a, b| a.0 == b.0) {
        let (_, first, payload) = group[0];
        for (_, line, p) in &group[1..] {
            if *p == payload {
                repeated += 1;
            } else {
                candidates.push((first, *line));
            }
        }
    }
    if candidates.is_empty() {
        return Ok((Vec::new(), repeated));
    }
    let wanted: std::collections::HashSet<u32> =
        candidates.iter().flat_map(|(a, b)| [*a, *b]).collect();
    let mut events: HashMap<u32, Event> = HashMap::new();
    for_each_chunk(path, |first, lines| {
        for (n, line) in lines.iter().enumerate() {
            let number = u32::try_from(first + n).unwrap_or(u32::MAX);
            if wanted.contains(&number)
                && let Ok(Some(event)) = read_line(line, read)
            {
                events.insert(number, event);
            }
        }
        Ok(())
    })?;
    let conflicts = candidates
        .into_iter()
        .filter_map(|(first, again)| {
            let (a, b) = (events.get(&first)?, events.get(&again)?);
            let same_id = a.tenant_id == b.tenant_id && a.event_id() == b.event_id();
            (same_id && !a.same_payload(b)).then(|| {
                format!(
                    "{}:{again}: event_id: {:?} was already used for a different event on line \
                     {first}",
                    path.display(),
                    b.event_id().as_str(),
                )
            })
        })
        .collect();
    Ok((conflicts, repeated))
}

/// A `--from`/`--to`/`--date` argument: a date in the years events may have.
pub fn date_arg(s: &str) -> Result<chrono::NaiveDate, String> {
    shared::domain::calendar::parse_date(s)
        .ok_or_else(|| format!("{s:?} {}", shared::domain::calendar::DATE_RULE))
}

pub fn read_automations(path: &Path) -> Result<AutomationsFile, InputErrors> {
    let bytes = std::fs::read(path).map_err(|e| cannot_read(path, e))?;
    let value =
        json::parse_bytes(&bytes).map_err(|e| InputErrors(vec![json_problem(path, 1, &e)]))?;
    AutomationsFile::from_json(&value).map_err(|fe| {
        InputErrors(
            fe.0.iter()
                .map(|e| format!("{}: {e}", path.display()))
                .collect(),
        )
    })
}
