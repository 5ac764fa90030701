//! Quiet periods (SPEC §8.2): while a customer has an open promise to pay or an open dispute,
//! RuleKit sends them nothing. The customer's state keeps the latest promise and, per dispute,
//! the latest opening and closing; like subscriptions and profiles, each is "the newest key
//! wins", so any arrival order gives the sorted log's state.

use super::event::EventKey;
use chrono::{DateTime, Utc};

/// Disputes kept per customer; a larger number is refused to keep the state bounded.
pub const MAX_DISPUTES: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promise {
    /// The `promise_to_pay.created` event; it quiets only the episode it was made in.
    pub key: EventKey,
    pub until: DateTime<Utc>,
    pub amount_minor: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub id: String,
    /// The latest `dispute.opened` and `dispute.closed` of this id.
    pub opened: Option<EventKey>,
    pub closed: Option<EventKey>,
}

impl Dispute {
    /// The instants the dispute keeps the customer quiet: from its opening to its closing (no
    /// end while open; a closing before the latest opening closes nothing).
    fn interval(&self) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
        let opened = self.opened.as_ref()?;
        let end = self
            .closed
            .as_ref()
            .filter(|c| *c > opened)
            .map(|c| c.occurred_at);
        Some((opened.occurred_at, end))
    }
}

/// Whether a customer is quiet at an instant, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuietAt {
    Not,
    /// Quiet until this instant (a promise's `until`, a dispute's closing), as known now.
    Until(DateTime<Utc>),
    /// Quiet with no end known yet (a dispute still open).
    Open,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Quiet {
    pub promise: Option<Promise>,
    /// Sorted by id.
    pub disputes: Vec<Dispute>,
}

impl Quiet {
    pub fn apply_promise(&mut self, key: &EventKey, until: DateTime<Utc>, amount: Option<i64>) {
        if self.promise.as_ref().is_none_or(|p| *key > p.key) {
            self.promise = Some(Promise {
                key: key.clone(),
                until,
                amount_minor: amount,
            });
        }
    }

    /// Records a dispute's opening (`opened`) or closing; `false` when the customer already
    /// has [`MAX_DISPUTES`] others.
    pub fn apply_dispute(&mut self, key: &EventKey, id: &str, opened: bool) -> bool {
        let i = match self.disputes.binary_search_by(|d| d.id.as_str().cmp(id)) {
            Ok(i) => i,
            Err(_) if self.disputes.len() >= MAX_DISPUTES => return false,
            Err(i) => {
                self.disputes.insert(
                    i,
                    Dispute {
                        id: id.to_owned(),
                        opened: None,
                        closed: None,
                    },
                );
                i
            }
        };
        let slot = if opened {
            &mut self.disputes[i].opened
        } else {
            &mut self.disputes[i].closed
        };
        if slot.as_ref().is_none_or(|k| key > k) {
            *slot = Some(key.clone());
        }
        true
    }

    /// The quiet intervals `[from, to)` for an episode that started at `episode`: its own
    /// promise (made in it) and every dispute.
    fn intervals<'a>(
        &'a self,
        episode: &'a EventKey,
    ) -> impl Iterator<Item = (DateTime<Utc>, Option<DateTime<Utc>>)> + 'a {
        let promise = self
            .promise
            .iter()
            .filter(move |p| p.key >= *episode)
            .map(|p| (p.key.occurred_at, Some(p.until)));
        promise.chain(self.disputes.iter().filter_map(Dispute::interval))
    }

    /// Whether the customer is quiet at `t` for the episode that started at `episode`, and
    /// until when: overlapping periods run on into each other.
    pub fn at(&self, episode: &EventKey, t: DateTime<Utc>) -> QuietAt {
        let mut end = t;
        loop {
            let mut later = None;
            for (from, to) in self.intervals(episode) {
                if from <= end && to.is_none_or(|to| end < to) {
                    match to {
                        None => return QuietAt::Open,
                        Some(to) => later = Some(later.map_or(to, |l: DateTime<Utc>| l.max(to))),
                    }
                }
            }
            match later {
                Some(to) => end = to,
                None if end == t => return QuietAt::Not,
                None => return QuietAt::Until(end),
            }
        }
    }

    /// Why the customer is quiet at `t`, in words: the first open period found.
    pub fn reason_at(&self, episode: &EventKey, t: DateTime<Utc>) -> Option<String> {
        if let Some(p) = self
            .promise
            .as_ref()
            .filter(|p| p.key >= *episode && p.key.occurred_at <= t && t < p.until)
        {
            return Some(format!(
                "a promise to pay until {} is open",
                super::event::format_instant(p.until)
            ));
        }
        self.disputes.iter().find_map(|d| {
            let (from, to) = d.interval()?;
            (from <= t && to.is_none_or(|to| t < to)).then(|| format!("dispute {} is open", d.id))
        })
    }

    /// The latest instant a quiet period ends at (a promise's `until`, a dispute's closing):
    /// what the stores index, so the run after a release reads the customer.
    pub fn last_end(&self) -> Option<DateTime<Utc>> {
        let promise = self.promise.as_ref().map(|p| p.until);
        let closed = self
            .disputes
            .iter()
            .filter_map(Dispute::interval)
            .filter_map(|(_, to)| to);
        promise.into_iter().chain(closed).max()
    }

    /// Whether the promise made in the episode that started at `episode` was broken by `t`:
    /// its `until` passed while the episode still runs.
    pub fn broken_promise(&self, episode: &EventKey, t: DateTime<Utc>) -> Option<&Promise> {
        self.promise
            .as_ref()
            .filter(|p| p.key >= *episode && p.until <= t)
    }
}

/// What became of a customer's latest promise to pay, as of an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromiseStatus {
    /// Made in the running episode, its `until` still to come.
    Open,
    /// Made in the running episode, its `until` passed: the customer still owes.
    Broken,
    /// Its episode ended by `until`.
    Kept,
    /// Its episode ended, after `until`.
    PaidLate,
    /// Made outside any episode RuleKit still knows of.
    Inactive,
}

impl PromiseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Broken => "broken",
            Self::Kept => "kept",
            Self::PaidLate => "paid_late",
            Self::Inactive => "inactive",
        }
    }

    /// The status of `promise` at `t`, given the running episode's start and the last ended
    /// episode (start, end) of the customer's `negative_balance` reading.
    pub fn of(
        promise: &Promise,
        running: Option<&EventKey>,
        ended: Option<(&EventKey, &EventKey)>,
        t: DateTime<Utc>,
    ) -> Self {
        match (running, ended) {
            (Some(start), _) if promise.key >= *start => {
                if t < promise.until {
                    Self::Open
                } else {
                    Self::Broken
                }
            }
            (_, Some((start, end))) if promise.key >= *start && promise.key < *end => {
                if end.occurred_at <= promise.until {
                    Self::Kept
                } else {
                    Self::PaidLate
                }
            }
            _ => Self::Inactive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventId;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn key(s: &str, id: &str) -> EventKey {
        EventKey {
            occurred_at: at(s),
            event_id: EventId::new(id),
        }
    }

    #[test]
    fn when_a_promise_and_a_dispute_overlap_should_stay_quiet_until_the_later_end() {
        let episode = key("2026-11-01T00:00:00Z", "e0");
        let mut q = Quiet::default();
        q.apply_promise(
            &key("2026-11-03T00:00:00Z", "p1"),
            at("2026-11-10T00:00:00Z"),
            None,
        );
        assert!(q.apply_dispute(&key("2026-11-08T00:00:00Z", "d1"), "dp_1", true));
        assert_eq!(q.at(&episode, at("2026-11-05T00:00:00Z")), QuietAt::Open);
        assert!(q.apply_dispute(&key("2026-11-15T00:00:00Z", "d2"), "dp_1", false));
        assert_eq!(
            q.at(&episode, at("2026-11-05T00:00:00Z")),
            QuietAt::Until(at("2026-11-15T00:00:00Z"))
        );
        assert_eq!(q.at(&episode, at("2026-11-15T00:00:00Z")), QuietAt::Not);
        assert_eq!(q.last_end(), Some(at("2026-11-15T00:00:00Z")));
    }

    #[test]
    fn when_a_promise_was_made_in_an_earlier_episode_should_not_quiet_this_one() {
        let mut q = Quiet::default();
        q.apply_promise(
            &key("2026-10-03T00:00:00Z", "p1"),
            at("2026-11-20T00:00:00Z"),
            None,
        );
        let episode = key("2026-11-01T00:00:00Z", "e9");
        assert_eq!(q.at(&episode, at("2026-11-05T00:00:00Z")), QuietAt::Not);
    }

    #[test]
    fn when_a_dispute_closes_before_its_latest_opening_should_stay_open() {
        let mut q = Quiet::default();
        // Closed, then opened again: in either arrival order, the newest key wins each slot.
        q.apply_dispute(&key("2026-11-09T00:00:00Z", "o2"), "dp_1", true);
        q.apply_dispute(&key("2026-11-05T00:00:00Z", "c1"), "dp_1", false);
        q.apply_dispute(&key("2026-11-01T00:00:00Z", "o1"), "dp_1", true);
        let episode = key("2026-10-01T00:00:00Z", "e0");
        assert_eq!(q.at(&episode, at("2026-11-12T00:00:00Z")), QuietAt::Open);
        assert_eq!(q.at(&episode, at("2026-11-06T00:00:00Z")), QuietAt::Not);
    }
}
