//! Reading the command's input files, with errors that name the file, the line and the field.

use shared::domain::{AutomationsFile, Event};
use std::fmt;
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

fn read(path: &Path) -> Result<String, InputErrors> {
    std::fs::read_to_string(path)
        .map_err(|e| InputErrors(vec![format!("{}: cannot read: {e}", path.display())]))
}

/// Events from a JSON Lines file, with the line number of each. Blank lines are allowed.
pub fn read_events(path: &Path) -> Result<Vec<(usize, Event)>, InputErrors> {
    let text = read(path)?;
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                errors.push(format!("{}:{line_no}: not valid JSON: {e}", path.display()));
                continue;
            }
        };
        match Event::from_json(&value) {
            Ok(e) => events.push((line_no, e)),
            Err(field_errors) => errors.extend(
                field_errors
                    .0
                    .iter()
                    .map(|fe| format!("{}:{line_no}: {fe}", path.display())),
            ),
        }
    }
    if errors.is_empty() {
        Ok(events)
    } else {
        Err(InputErrors(errors))
    }
}

pub fn read_automations(path: &Path) -> Result<AutomationsFile, InputErrors> {
    let text = read(path)?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        InputErrors(vec![format!(
            "{}:{}: not valid JSON: {e}",
            path.display(),
            e.line()
        )])
    })?;
    AutomationsFile::from_json(&value).map_err(|fe| {
        InputErrors(
            fe.0.iter()
                .map(|e| format!("{}: {e}", path.display()))
                .collect(),
        )
    })
}
