//! Reading the command's input files, with errors that name the file, the line and the field.
//!
//! An events file can be gigabytes (a backtest of a million customers is about 2 GB), so it
//! is read in chunks and each chunk's lines are parsed on every core; only the parsed events
//! are kept.

use shared::domain::json::{self, JsonError};
use shared::domain::{AutomationsFile, Event, FieldErrors};
use std::fmt;
use std::io::Read;
use std::path::Path;

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

fn cannot_read(path: &Path, e: std::io::Error) -> InputErrors {
    InputErrors(vec![format!("{}: cannot read: {e}", path.display())])
}

/// `FILE:LINE: ...` for a JSON text that could not be read. A repeated key reads
/// `FILE:LINE: field: duplicate key`.
fn json_problem(path: &Path, first_line: usize, e: &JsonError) -> String {
    format!("{}:{}: {e}", path.display(), first_line + e.line() - 1)
}

/// Bytes read from the file at a time; each chunk's lines are parsed in parallel.
const CHUNK: usize = 8 << 20;

/// Events from a JSON Lines file as a replay reads them (`received_at` as written), each with
/// its line number.
pub fn read_events(path: &Path) -> Result<Vec<(usize, Event)>, InputErrors> {
    read_jsonl(path, Event::from_json)
}

/// Every line of a JSON Lines file read by `parse`, with its line number. Blank lines are
/// allowed; a leading byte-order mark is skipped; every bad line is reported, by line and
/// field, and then nothing is returned.
pub fn read_jsonl<T, P>(path: &Path, parse: P) -> Result<Vec<(usize, T)>, InputErrors>
where
    T: Send,
    P: Fn(&serde_json::Value) -> Result<T, FieldErrors> + Sync,
{
    let mut file = std::fs::File::open(path).map_err(|e| cannot_read(path, e))?;
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let mut events = Vec::new();
    let mut errors = Vec::new();
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
        if at_start && buffer.len() >= 3 {
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
            .collect();
        let parsed = parse_lines(&lines, workers, &parse);
        for (offset, result) in parsed.into_iter().enumerate() {
            let line_no = next_line + offset;
            match result {
                Ok(None) => {}
                Ok(Some(event)) => events.push((line_no, event)),
                Err(LineError::Json(e)) => errors.push(json_problem(path, line_no, &e)),
                Err(LineError::Fields(field_errors)) => errors.extend(
                    field_errors
                        .0
                        .iter()
                        .map(|fe| format!("{}:{line_no}: {fe}", path.display())),
                ),
            }
        }
        next_line += lines.len();
        buffer.drain(..complete);
        if end_of_file {
            break;
        }
    }
    if errors.is_empty() {
        Ok(events)
    } else {
        Err(InputErrors(errors))
    }
}

enum LineError {
    Json(JsonError),
    Fields(FieldErrors),
}

/// Reads each line with `read` (a blank one is `None`), on up to `workers` threads, in order.
fn parse_lines<T, P>(lines: &[&[u8]], workers: usize, read: &P) -> Vec<Result<Option<T>, LineError>>
where
    T: Send,
    P: Fn(&serde_json::Value) -> Result<T, FieldErrors> + Sync,
{
    let parse = |line: &[u8]| {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let value = json::parse_bytes(line).map_err(LineError::Json)?;
        read(&value).map(Some).map_err(LineError::Fields)
    };
    let per_worker = lines.len().div_ceil(workers.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .chunks(per_worker)
            .map(|part| scope.spawn(move || part.iter().map(|l| parse(l)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
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
