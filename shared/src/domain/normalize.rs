//! Metadata normalization (SPEC §8.7): a tenant's ordered rules, applied to a customer's raw
//! profile metadata, giving the normalized metadata and every change made, or that a
//! report-only rule (`"enforce": false`) would make.
//!
//! The rules are pure functions of the metadata before them, so normalizing a normalized
//! profile changes nothing (each rule is idempotent, `key_case` included: see [`snake_case`]).
//! Where two keys become one, the value of the key that sorts first wins and the change is a
//! `conflict` naming the value dropped.

use super::event::{MAX_METADATA_ENTRIES, MAX_METADATA_KEY_LEN, MAX_METADATA_VALUE_LEN};
use super::fields::{Reader, index, join};
use super::ids::{CustomerId, EventId, TenantId};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const MAX_RULES: usize = 50;
/// Entries of a `map_values` map, values of an `allowed_values` list, keys a rule names.
pub const MAX_RULE_ENTRIES: usize = 200;

/// One rule; `enforce: false` makes it report only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub kind: RuleKind,
    pub enforce: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleKind {
    /// Every key in snake_case ([`snake_case`]).
    KeyCase,
    /// The keys of `from` become `to`.
    RenameKey { from: Vec<String>, to: String },
    /// Leading and trailing white space off the values (of `keys`, or of every key).
    TrimValues { keys: Option<Vec<String>> },
    /// The values lower-cased (of `keys`, or of every key).
    LowercaseValues { keys: Option<Vec<String>> },
    /// A value of `key` found in `map` is replaced by what it maps to.
    MapValues {
        key: String,
        map: BTreeMap<String, String>,
    },
    /// A value of `key` not among `values` becomes `otherwise`, or is removed without it.
    AllowedValues {
        key: String,
        values: Vec<String>,
        otherwise: Option<String>,
    },
    /// `key` gets `value` when it is missing or empty.
    Default { key: String, value: String },
}

impl RuleKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::KeyCase => "key_case",
            Self::RenameKey { .. } => "rename_key",
            Self::TrimValues { .. } => "trim_values",
            Self::LowercaseValues { .. } => "lowercase_values",
            Self::MapValues { .. } => "map_values",
            Self::AllowedValues { .. } => "allowed_values",
            Self::Default { .. } => "default",
        }
    }
}

/// What a rule did to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Changed,
    /// A report-only rule would have changed it; the profile was left as it was.
    WouldChange,
    /// Two keys became one: `before` is the value dropped, `from_key` its key.
    Conflict,
    /// A default was not added: the profile already has the most entries a profile may have.
    LimitReached,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Changed => "changed",
            Self::WouldChange => "would_change",
            Self::Conflict => "conflict",
            Self::LimitReached => "limit_reached",
        }
    }
}

/// One entry of the change log, without what caused it (the caller knows: an event or a
/// re-normalization run, and the rules' version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The rule's place in the list.
    pub rule: usize,
    pub rule_type: &'static str,
    /// The key after the rule.
    pub key: String,
    /// The key before, when the rule renamed it (or the key dropped, for a conflict).
    pub from_key: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub outcome: Outcome,
}

/// A tenant's rules, in order, and the settings version they were last changed at (0: never
/// set). A normalized profile carries the version it was normalized under, so a reader knows
/// when it is stale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalization {
    pub rules: Vec<Rule>,
    pub version: u64,
}

pub type Metadata = BTreeMap<String, String>;

impl Normalization {
    /// The normalized metadata of `raw`, and every change the rules made or would make.
    /// Each rule works in place and allocates only for what it changes: a profile is
    /// normalized on every `customer.updated` event, inside ingest's budget.
    pub fn apply(&self, raw: &Metadata) -> (Metadata, Vec<Change>) {
        let mut metadata = raw.clone();
        let mut log = Vec::with_capacity(8);
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.enforce {
                rule.kind.apply(&mut metadata, i, &mut log);
            } else {
                // Report only: the rule runs on a copy, thrown away.
                let first = log.len();
                rule.kind.apply(&mut metadata.clone(), i, &mut log);
                for c in &mut log[first..] {
                    if c.outcome == Outcome::Changed {
                        c.outcome = Outcome::WouldChange;
                    }
                }
            }
        }
        (metadata, log)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "rules": self.rules.iter().map(Rule::to_json).collect::<Vec<_>>(),
            "version": self.version,
        })
    }
}

/// A customer's metadata as the rules of `version` made it from the raw profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub version: u64,
    pub metadata: Metadata,
}

/// What made a change-log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// A `customer.updated` event, normalized at ingest.
    Event(EventId),
    /// The re-normalization of the stored customers after the rules changed to
    /// `ChangeRecord::rules_version`.
    Renormalization,
}

/// Days a change-log entry is kept (the table's TTL removes it after).
pub const CHANGE_LOG_DAYS: i64 = 400;

/// One entry of the change log: the changes the rules made to one customer's profile, for
/// one cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    /// When: the event's `received_at`, or when the re-normalization read the customer.
    pub at: DateTime<Utc>,
    /// `at`'s date in the tenant's time zone: the date the log lists it under.
    pub date: NaiveDate,
    pub rules_version: u64,
    pub cause: Cause,
    pub changes: Vec<Change>,
}

impl ChangeRecord {
    /// What the record is unique by, under its customer: the instant and the cause.
    pub fn cause_id(&self) -> String {
        match &self.cause {
            Cause::Event(id) => format!("event:{id}"),
            Cause::Renormalization => format!("renormalization:{}", self.rules_version),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut cause = json!({"type": match self.cause {
            Cause::Event(_) => "event",
            Cause::Renormalization => "renormalization",
        }});
        if let Cause::Event(id) = &self.cause {
            cause["event_id"] = json!(id);
        }
        json!({
            "customer_id": self.customer_id,
            "at": super::event::format_instant(self.at),
            "date": self.date.to_string(),
            "rules_version": self.rules_version,
            "cause": cause,
            "changes": self.changes.iter().map(Change::to_json).collect::<Vec<_>>(),
        })
    }
}

impl Change {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "rule": self.rule,
            "rule_type": self.rule_type,
            "key": self.key,
            "outcome": self.outcome.as_str(),
            "before": self.before,
            "after": self.after,
        });
        if let Some(from) = &self.from_key {
            v["from_key"] = json!(from);
        }
        v
    }

    /// The change as stored: `rule_type` is the rule's, so it is read back from the type name.
    pub fn from_parts(
        rule: usize,
        rule_type: &str,
        key: String,
        from_key: Option<String>,
        before: Option<String>,
        after: Option<String>,
        outcome: &str,
    ) -> Option<Self> {
        Some(Self {
            rule,
            rule_type: RULE_TYPES.iter().find(|(t, _)| *t == rule_type)?.0,
            key,
            from_key,
            before,
            after,
            outcome: [
                Outcome::Changed,
                Outcome::WouldChange,
                Outcome::Conflict,
                Outcome::LimitReached,
            ]
            .into_iter()
            .find(|o| o.as_str() == outcome)?,
        })
    }
}

impl RuleKind {
    /// Applies this rule to `m`, logging each change in `log`.
    fn apply(&self, m: &mut Metadata, rule: usize, log: &mut Vec<Change>) {
        let rule_type = self.type_name();
        let change = |key: &str, b: Option<&str>, a: Option<&str>| Change {
            rule,
            rule_type,
            key: key.to_owned(),
            from_key: None,
            before: b.map(str::to_owned),
            after: a.map(str::to_owned),
            outcome: Outcome::Changed,
        };
        match self {
            Self::KeyCase => rekey(
                m,
                |k| !is_snake_case(k),
                |k| Some(snake_case(k)).filter(|s| s != k),
                (rule, rule_type),
                log,
            ),
            Self::RenameKey { from, to } => {
                let named = |k: &str| from.iter().any(|f| f == k);
                rekey(
                    m,
                    named,
                    |k| named(k).then(|| to.clone()),
                    (rule, rule_type),
                    log,
                );
            }
            Self::TrimValues { keys } | Self::LowercaseValues { keys } => {
                let trim = matches!(self, Self::TrimValues { .. });
                for (k, v) in m.iter_mut() {
                    if keys.as_ref().is_some_and(|ks| !ks.contains(k)) {
                        continue;
                    }
                    let new = if trim {
                        let t = v.trim();
                        (t.len() != v.len()).then(|| t.to_owned())
                    } else if v.is_ascii() {
                        v.bytes()
                            .any(|b| b.is_ascii_uppercase())
                            .then(|| v.to_ascii_lowercase())
                    } else {
                        v.chars()
                            .any(|c| !c.to_lowercase().eq([c]))
                            .then(|| v.to_lowercase())
                    };
                    if let Some(new) = new {
                        // The value replaced is the change's `before`: moved, not copied.
                        let after = new.clone();
                        let before = std::mem::replace(v, new);
                        log.push(Change {
                            before: Some(before),
                            after: Some(after),
                            ..change(k, None, None)
                        });
                    }
                }
            }
            Self::MapValues { key, map } => {
                if let Some(v) = m.get_mut(key)
                    && let Some(to) = map.get(v.as_str()).filter(|to| *to != v)
                {
                    log.push(change(key, Some(v), Some(to)));
                    v.clone_from(to);
                }
            }
            Self::AllowedValues {
                key,
                values,
                otherwise,
            } => match m.get(key) {
                Some(v) if !values.contains(v) && otherwise.as_ref() != Some(v) => {
                    log.push(change(key, Some(v), otherwise.as_deref()));
                    match otherwise {
                        Some(o) => m.insert(key.clone(), o.clone()),
                        None => m.remove(key),
                    };
                }
                _ => {}
            },
            Self::Default { key, value } => {
                let current = m.get(key);
                if current.is_none_or(|v| v.trim().is_empty()) && current != Some(value) {
                    let mut c = change(key, current.map(String::as_str), Some(value));
                    if current.is_none() && m.len() >= MAX_METADATA_ENTRIES {
                        c.outcome = Outcome::LimitReached;
                        c.after = None;
                    } else {
                        m.insert(key.clone(), value.clone());
                    }
                    log.push(c);
                }
            }
        }
    }
}

/// Renames the keys of `m` that `rename` names a new key for (`None`: kept); `may_rename`
/// is the cheap test that `rename` can rename a key at all, so a map the rule renames nothing
/// of is left as it is. When two keys end up as one, the value of the one that sorts first
/// (as the keys were before) wins, and the other is logged as a conflict.
fn rekey(
    m: &mut Metadata,
    may_rename: impl Fn(&str) -> bool,
    rename: impl Fn(&str) -> Option<String>,
    (rule, rule_type): (usize, &'static str),
    log: &mut Vec<Change>,
) {
    if !m.keys().any(|k| may_rename(k)) {
        return;
    }
    // In the keys' order as they were, so whichever key sorts first holds the name.
    let mut out = Metadata::new();
    for (k, v) in std::mem::take(m) {
        let target = if may_rename(&k) { rename(&k) } else { None };
        let name = target.as_deref().unwrap_or(&k);
        match out.get(name) {
            None => {
                if let Some(target) = target {
                    log.push(Change {
                        rule,
                        rule_type,
                        key: target.clone(),
                        from_key: Some(k),
                        before: Some(v.clone()),
                        after: Some(v.clone()),
                        outcome: Outcome::Changed,
                    });
                    out.insert(target, v);
                } else {
                    out.insert(k, v);
                }
            }
            Some(kept) => log.push(Change {
                rule,
                rule_type,
                key: name.to_owned(),
                from_key: Some(k.clone()),
                before: Some(v),
                after: Some(kept.clone()),
                outcome: Outcome::Conflict,
            }),
        }
    }
    *m = out;
}

/// Whether `key` is snake_case already by the cheap test: ASCII lower-case letters, digits
/// and single `_` between words. (A key that fails it may still be: [`snake_case`] decides.)
fn is_snake_case(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b[0] != b'_'
        && b[b.len() - 1] != b'_'
        && !key.contains("__")
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// A key in snake_case: words split at separators (any character that is not a letter or a
/// digit), at a lower-case letter or digit followed by an upper-case letter (`planName`,
/// `plan2Tier`), and before the last upper-case letter of a run followed by a lower-case one
/// (`HTTPStatus` → `http_status`, `customerID` → `customer_id`); words lower-cased and joined
/// by `_`, leading and trailing separators dropped. Digits stay with the word before them
/// (`plan2` → `plan2`). A key of separators only is kept as it is. Idempotent: the result has
/// no upper-case letter and no separator but single `_` between words.
pub fn snake_case(key: &str) -> String {
    // One pass, one allocation: a profile's keys are normalized on every profile event.
    let mut out = String::with_capacity(key.len() + 4);
    let mut in_word = false;
    let mut prev: Option<char> = None;
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_alphanumeric() {
            in_word = false;
            prev = Some(c);
            continue;
        }
        let next = chars.peek().copied();
        let hump = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_numeric()
                    || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if (!in_word || hump) && !out.is_empty() {
            out.push('_');
        }
        out.extend(c.to_lowercase());
        in_word = true;
        prev = Some(c);
    }
    if out.is_empty() {
        return key.to_owned();
    }
    out
}

impl Rule {
    pub fn to_json(&self) -> Value {
        let mut v = match &self.kind {
            RuleKind::KeyCase => json!({"case": "snake_case"}),
            RuleKind::RenameKey { from, to } => json!({"from": from, "to": to}),
            RuleKind::TrimValues { keys } | RuleKind::LowercaseValues { keys } => match keys {
                Some(keys) => json!({"keys": keys}),
                None => json!({}),
            },
            RuleKind::MapValues { key, map } => json!({"key": key, "map": map}),
            RuleKind::AllowedValues {
                key,
                values,
                otherwise,
            } => {
                let mut v = json!({"key": key, "values": values});
                if let Some(o) = otherwise {
                    v["otherwise"] = json!(o);
                }
                v
            }
            RuleKind::Default { key, value } => json!({"key": key, "value": value}),
        };
        v["type"] = json!(self.kind.type_name());
        if !self.enforce {
            v["enforce"] = json!(false);
        }
        v
    }
}

const RULE_TYPES: [(&str, u8); 7] = [
    ("key_case", 0),
    ("rename_key", 1),
    ("trim_values", 2),
    ("lowercase_values", 3),
    ("map_values", 4),
    ("allowed_values", 5),
    ("default", 6),
];

/// Reads `normalization` (`{"rules": [...], "version": n}`), reporting every problem under
/// `path`. `version` is what the store wrote (the API sets it: a client's is ignored there);
/// without it, rules count as version 1, so a file's rules are never mistaken for none.
pub fn parse_normalization(r: &mut Reader, path: &str, v: &Value) -> Option<Normalization> {
    let obj = r.object(path, v, &["rules", "version"])?;
    let version = match r.optional(obj, "version") {
        None => None,
        Some(n) => Some(r.integer(&join(path, "version"), n, 0, i64::MAX)? as u64),
    };
    let at = join(path, "rules");
    let list = r.required(obj, path, "rules")?;
    let items = r.array(&at, list, MAX_RULES)?;
    let errors_before = r.error_count();
    let rules: Vec<Option<Rule>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_rule(r, &index(&at, i), item))
        .collect();
    let rules: Vec<Rule> = rules.into_iter().flatten().collect();
    if version == Some(0) && !rules.is_empty() {
        r.error(
            join(path, "version"),
            "must be at least 1 for rules (0 is the version of no rules)",
        );
    }
    let version = version.unwrap_or(u64::from(!rules.is_empty()));
    (r.error_count() == errors_before).then_some(Normalization { rules, version })
}

fn parse_rule(r: &mut Reader, path: &str, v: &Value) -> Option<Rule> {
    let all = [
        "type",
        "enforce",
        "case",
        "from",
        "to",
        "keys",
        "key",
        "map",
        "values",
        "otherwise",
        "value",
    ];
    let obj = r.object(path, v, &all)?;
    let kind = r
        .required(obj, path, "type")
        .and_then(|t| r.choice(&join(path, "type"), t, &RULE_TYPES))?;
    let own: &[&str] = match kind {
        0 => &["case"],
        1 => &["from", "to"],
        2 | 3 => &["keys"],
        4 => &["key", "map"],
        5 => &["key", "values", "otherwise"],
        _ => &["key", "value"],
    };
    let type_name = RULE_TYPES[usize::from(kind)].0;
    for key in obj
        .keys()
        .filter(|k| !["type", "enforce"].contains(&k.as_str()) && !own.contains(&k.as_str()))
    {
        r.error(
            join(path, key),
            format!("is not allowed on a {type_name:?} rule"),
        );
    }
    let enforce = match r.optional(obj, "enforce") {
        None => Some(true),
        Some(b) => r.boolean(&join(path, "enforce"), b),
    };
    let key = |r: &mut Reader, name: &str| {
        r.required(obj, path, name)
            .and_then(|k| meta_key(r, &join(path, name), k))
    };
    let value = |r: &mut Reader, name: &str| {
        r.required(obj, path, name)
            .and_then(|v| meta_value(r, &join(path, name), v))
    };
    // A list of 1 to MAX_RULE_ENTRIES keys or values, each read by `item`.
    let list = |r: &mut Reader,
                name: &str,
                empty: &str,
                item: fn(&mut Reader, &str, &Value) -> Option<String>|
     -> Option<Vec<String>> {
        let at = join(path, name);
        let list = r.required(obj, path, name)?;
        let items = r.array(&at, list, MAX_RULE_ENTRIES)?;
        if items.is_empty() {
            r.error(&at, empty);
            return None;
        }
        let parsed: Vec<Option<String>> = items
            .iter()
            .enumerate()
            .map(|(i, v)| item(r, &index(&at, i), v))
            .collect();
        parsed.into_iter().collect()
    };
    let keys = |r: &mut Reader, name: &str| list(r, name, "must name at least one key", meta_key);
    let kind = match kind {
        0 => r
            .required(obj, path, "case")
            .and_then(|c| r.choice(&join(path, "case"), c, &[("snake_case", ())]))
            .map(|()| RuleKind::KeyCase),
        1 => {
            let from = keys(r, "from");
            let to = key(r, "to");
            if let (Some(from), Some(to)) = (&from, &to)
                && from.contains(to)
            {
                r.error(
                    join(path, "from"),
                    format!("names {to:?}, the key it renames to"),
                );
            }
            match (from, to) {
                (Some(from), Some(to)) => Some(RuleKind::RenameKey { from, to }),
                _ => None,
            }
        }
        2 | 3 => {
            let keys = match r.optional(obj, "keys") {
                None => Some(None),
                Some(_) => keys(r, "keys").map(Some),
            };
            keys.map(|keys| match kind {
                2 => RuleKind::TrimValues { keys },
                _ => RuleKind::LowercaseValues { keys },
            })
        }
        4 => {
            let key = key(r, "key");
            let map = r
                .required(obj, path, "map")
                .and_then(|m| value_map(r, &join(path, "map"), m));
            match (key, map) {
                (Some(key), Some(map)) => Some(RuleKind::MapValues { key, map }),
                _ => None,
            }
        }
        5 => {
            let key = key(r, "key");
            let values = list(r, "values", "must allow at least one value", meta_value);
            let otherwise = match r.optional(obj, "otherwise") {
                None => Some(None),
                Some(_) => value(r, "otherwise").map(Some),
            };
            match (key, values, otherwise) {
                (Some(key), Some(values), Some(otherwise)) => Some(RuleKind::AllowedValues {
                    key,
                    values,
                    otherwise,
                }),
                _ => None,
            }
        }
        _ => {
            let key = key(r, "key");
            let value = value(r, "value");
            match (key, value) {
                (Some(key), Some(value)) => Some(RuleKind::Default { key, value }),
                _ => None,
            }
        }
    };
    Some(Rule {
        kind: kind?,
        enforce: enforce?,
    })
}

/// A metadata key as a profile may have it (SPEC §2).
fn meta_key(r: &mut Reader, path: &str, v: &Value) -> Option<String> {
    r.text(path, v, MAX_METADATA_KEY_LEN).map(str::to_owned)
}

fn meta_value(r: &mut Reader, path: &str, v: &Value) -> Option<String> {
    r.text(path, v, MAX_METADATA_VALUE_LEN).map(str::to_owned)
}

fn value_map(r: &mut Reader, path: &str, v: &Value) -> Option<BTreeMap<String, String>> {
    let Value::Object(m) = v else {
        r.error(path, "must be an object of values");
        return None;
    };
    if m.is_empty() || m.len() > MAX_RULE_ENTRIES {
        r.error(
            path,
            format!("must map 1 to {MAX_RULE_ENTRIES} values, got {}", m.len()),
        );
        return None;
    }
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (from, to) in m {
        let at = join(path, from);
        match (
            meta_value(r, &at, &Value::String(from.clone())),
            meta_value(r, &at, to),
        ) {
            (Some(f), Some(t)) => {
                out.insert(f, t);
            }
            _ => ok = false,
        }
    }
    // A value mapped to one the map maps again would change on every pass.
    for (from, to) in &out {
        if to != from && out.get(to).is_some_and(|again| again != to) {
            r.error(
                join(path, from),
                format!("maps to {to:?}, which the map maps again: a value is mapped once"),
            );
            ok = false;
        }
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fields::FieldErrors;

    fn rules(v: Value) -> Result<Normalization, FieldErrors> {
        let mut r = Reader::new();
        let n = parse_normalization(&mut r, "normalization", &v);
        r.finish(n)
    }

    fn metadata(pairs: &[(&str, &str)]) -> Metadata {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// `(rule, key, from_key, before, after, outcome)` of a change.
    type Logged<'a> = (
        usize,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
    );

    fn log(changes: &[Change]) -> Vec<Logged<'_>> {
        changes
            .iter()
            .map(|c| {
                (
                    c.rule,
                    c.key.as_str(),
                    c.from_key.as_deref(),
                    c.before.as_deref(),
                    c.after.as_deref(),
                    c.outcome.as_str(),
                )
            })
            .collect()
    }

    #[test]
    fn when_keys_are_snake_cased_should_split_words_as_specified_and_be_idempotent() {
        let cases = [
            ("planName", "plan_name"),
            ("PlanName", "plan_name"),
            ("HTTPStatus", "http_status"),
            ("customerID", "customer_id"),
            ("plan2Tier", "plan2_tier"),
            ("plan2", "plan2"),
            ("Plan Name", "plan_name"),
            ("plan-name", "plan_name"),
            ("plan.name", "plan_name"),
            ("  Plan__Name  ", "plan_name"),
            ("PLAN", "plan"),
            ("already_snake", "already_snake"),
            ("Ünïcode Key", "ünïcode_key"),
            ("---", "---"),
        ];
        for (raw, expected) in cases {
            assert_eq!(snake_case(raw), expected, "{raw}");
            assert_eq!(snake_case(expected), expected, "idempotent on {expected}");
        }
    }

    #[test]
    fn when_the_spec_rules_clean_a_messy_profile_should_log_each_change_and_change_nothing_twice() {
        let n = rules(json!({"rules": [
            {"type": "key_case", "case": "snake_case"},
            {"type": "rename_key", "from": ["plan_name", "tier"], "to": "plan"},
            {"type": "trim_values"},
            {"type": "lowercase_values", "keys": ["plan", "region"]},
            {"type": "map_values", "key": "plan", "map": {"premium": "gold", "prem": "gold"}},
            {"type": "allowed_values", "key": "plan", "values": ["basic", "silver", "gold"],
             "otherwise": "unknown"},
            {"type": "default", "key": "segment", "value": "standard"}]}))
        .unwrap();
        let raw = metadata(&[("Plan Name", " Premium"), ("Region", "EU ")]);
        let (clean, changes) = n.apply(&raw);
        assert_eq!(
            clean,
            metadata(&[("plan", "gold"), ("region", "eu"), ("segment", "standard")])
        );
        assert_eq!(
            log(&changes),
            [
                (
                    0,
                    "plan_name",
                    Some("Plan Name"),
                    Some(" Premium"),
                    Some(" Premium"),
                    "changed"
                ),
                (
                    0,
                    "region",
                    Some("Region"),
                    Some("EU "),
                    Some("EU "),
                    "changed"
                ),
                (
                    1,
                    "plan",
                    Some("plan_name"),
                    Some(" Premium"),
                    Some(" Premium"),
                    "changed"
                ),
                (
                    2,
                    "plan",
                    None,
                    Some(" Premium"),
                    Some("Premium"),
                    "changed"
                ),
                (2, "region", None, Some("EU "), Some("EU"), "changed"),
                (3, "plan", None, Some("Premium"), Some("premium"), "changed"),
                (3, "region", None, Some("EU"), Some("eu"), "changed"),
                (4, "plan", None, Some("premium"), Some("gold"), "changed"),
                (6, "segment", None, None, Some("standard"), "changed"),
            ]
        );
        let (again, none) = n.apply(&clean);
        assert_eq!(again, clean);
        assert!(none.is_empty(), "{none:?}");
    }

    #[test]
    fn when_two_keys_become_one_should_keep_the_first_sorted_and_log_the_value_dropped() {
        let n = rules(json!({"rules": [
            {"type": "key_case", "case": "snake_case"},
            {"type": "rename_key", "from": ["tier"], "to": "plan"}]}))
        .unwrap();
        let raw = metadata(&[("Plan", "gold"), ("plan", "silver"), ("tier", "basic")]);
        let (clean, changes) = n.apply(&raw);
        assert_eq!(clean, metadata(&[("plan", "gold")]));
        assert_eq!(
            log(&changes),
            [
                (
                    0,
                    "plan",
                    Some("Plan"),
                    Some("gold"),
                    Some("gold"),
                    "changed"
                ),
                (
                    0,
                    "plan",
                    Some("plan"),
                    Some("silver"),
                    Some("gold"),
                    "conflict"
                ),
                (
                    1,
                    "plan",
                    Some("tier"),
                    Some("basic"),
                    Some("gold"),
                    "conflict"
                ),
            ]
        );
    }

    #[test]
    fn when_a_rule_only_reports_should_log_what_it_would_change_and_leave_the_profile() {
        let n = rules(json!({"rules": [
            {"type": "lowercase_values", "enforce": false},
            {"type": "map_values", "key": "plan", "map": {"Gold": "gold-plus"}}]}))
        .unwrap();
        let (clean, changes) = n.apply(&metadata(&[("plan", "Gold")]));
        // The second rule sees the profile as the first left it: unchanged.
        assert_eq!(clean, metadata(&[("plan", "gold-plus")]));
        assert_eq!(
            log(&changes),
            [
                (0, "plan", None, Some("Gold"), Some("gold"), "would_change"),
                (1, "plan", None, Some("Gold"), Some("gold-plus"), "changed"),
            ]
        );
    }

    #[test]
    fn when_values_are_not_allowed_or_missing_should_replace_remove_or_default_them() {
        let n = rules(json!({"rules": [
            {"type": "allowed_values", "key": "plan", "values": ["basic", "gold"],
             "otherwise": "unknown"},
            {"type": "allowed_values", "key": "region", "values": ["eu"]},
            {"type": "default", "key": "segment", "value": "standard"},
            {"type": "default", "key": "plan", "value": "basic"}]}))
        .unwrap();
        let (clean, changes) = n.apply(&metadata(&[("plan", "platinum"), ("region", "us")]));
        assert_eq!(
            clean,
            metadata(&[("plan", "unknown"), ("segment", "standard")])
        );
        assert_eq!(
            log(&changes),
            [
                (
                    0,
                    "plan",
                    None,
                    Some("platinum"),
                    Some("unknown"),
                    "changed"
                ),
                (1, "region", None, Some("us"), None, "changed"),
                (2, "segment", None, None, Some("standard"), "changed"),
            ],
            "a default never replaces a value"
        );
        // A default is never the 51st entry.
        let full: Metadata = (0..MAX_METADATA_ENTRIES)
            .map(|i| (format!("k{i:02}"), "v".to_owned()))
            .collect();
        let (same, changes) = n.apply(&full);
        assert_eq!(same.len(), MAX_METADATA_ENTRIES);
        assert_eq!(
            log(&changes).iter().map(|c| (c.1, c.5)).collect::<Vec<_>>(),
            [("segment", "limit_reached"), ("plan", "limit_reached")]
        );
    }

    #[test]
    fn when_rules_are_wrong_should_name_every_field_and_why() {
        let err = rules(json!({"rules": [
            {"type": "key_case", "case": "camelCase"},
            {"type": "rename_key", "from": ["plan", "tier"], "to": "plan"},
            {"type": "map_values", "key": "plan", "map": {"premium": "gold", "gold": "platinum"}},
            {"type": "allowed_values", "key": "plan", "values": []},
            {"type": "default", "key": "", "value": "x", "keys": ["a"]},
            {"type": "uppercase_values"},
            {"type": "trim_values", "enforce": "no"}]}))
        .unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "normalization.rules[0].case",
                "normalization.rules[1].from",
                "normalization.rules[2].map.premium",
                "normalization.rules[3].values",
                "normalization.rules[4].keys",
                "normalization.rules[4].key",
                "normalization.rules[5].type",
                "normalization.rules[6].enforce",
            ],
            "{err}"
        );
    }

    #[test]
    fn when_written_as_json_and_read_back_should_be_equal() {
        let v = json!({"rules": [
            {"type": "key_case", "case": "snake_case"},
            {"type": "rename_key", "from": ["tier"], "to": "plan"},
            {"type": "trim_values", "keys": ["plan"]},
            {"type": "lowercase_values"},
            {"type": "map_values", "key": "plan", "map": {"prem": "gold"}},
            {"type": "allowed_values", "key": "plan", "values": ["gold"], "enforce": false},
            {"type": "default", "key": "segment", "value": "standard"}]});
        let n = rules(v).unwrap();
        assert_eq!(rules(n.to_json()).unwrap(), n);
    }
}
