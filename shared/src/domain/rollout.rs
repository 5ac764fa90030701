//! Rollout by cohort with a holdout (SPEC §8.8): which customers an automation treats, which
//! it holds out as the comparison, and which it leaves alone while it is rolled out.
//!
//! The bucket is a contract, not an implementation detail: a tenant's data team recomputes
//! it from ids alone (`sha256("<tenant>:<automation>:<customer>")`, the first 8 bytes as a
//! big-endian integer, mod 10000) to join RuleKit's arms with their own outcome data. The
//! holdout is the bottom of the range and the cohort the next part, so raising the cohort
//! only adds customers and the holdout stays the same customers while its share does.

use super::fields::{Reader, join};
use super::ids::{AutomationId, CustomerId, TenantId};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Buckets per automation: percentages are hundredths of it.
pub const BUCKETS: u16 = 10_000;
/// The largest holdout a rollout may keep (SPEC §8.8).
pub const MAX_HOLDOUT_PERCENT: u8 = 50;

/// A customer's bucket for an automation, `0..10000`.
pub fn bucket(tenant: &TenantId, automation: &AutomationId, customer: &CustomerId) -> u16 {
    let mut hash = Sha256::new();
    hash.update(tenant.as_str().as_bytes());
    hash.update(b":");
    hash.update(automation.as_str().as_bytes());
    hash.update(b":");
    hash.update(customer.as_str().as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(BUCKETS)) as u16
}

/// Which side of a rollout a clock is on, decided once at the first run that sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arm {
    /// Its due steps are carried out.
    Treated,
    /// Its due steps are recorded as `holdout` and nothing is carried out: the comparison.
    Holdout,
    /// Outside the cohort: its due steps are skipped `not_in_cohort`.
    NotInCohort,
}

impl Arm {
    pub const ALL: [(&'static str, Arm); 3] = [
        ("treated", Arm::Treated),
        ("holdout", Arm::Holdout),
        ("not_in_cohort", Arm::NotInCohort),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Treated => "treated",
            Self::Holdout => "holdout",
            Self::NotInCohort => "not_in_cohort",
        }
    }

    pub fn parse(code: &str) -> Option<Arm> {
        Self::ALL.iter().find(|(c, _)| *c == code).map(|(_, a)| *a)
    }
}

/// An automation's `rollout`: the share of customers treated and the share held out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    pub cohort_percent: u8,
    pub holdout_percent: u8,
}

impl Default for Rollout {
    /// Everyone treated, nobody held out: what an automation without `rollout` does.
    fn default() -> Self {
        Self {
            cohort_percent: 100,
            holdout_percent: 0,
        }
    }
}

impl Rollout {
    /// The bucket where the holdout ends and the cohort begins.
    fn holdout_end(self) -> u16 {
        u16::from(self.holdout_percent) * 100
    }

    /// The bucket where the cohort ends.
    fn cohort_end(self) -> u16 {
        self.holdout_end() + u16::from(self.cohort_percent) * 100
    }

    /// The arm of a bucket under this rollout.
    pub fn arm(self, bucket: u16) -> Arm {
        if bucket < self.holdout_end() {
            Arm::Holdout
        } else if bucket < self.cohort_end() {
            Arm::Treated
        } else {
            Arm::NotInCohort
        }
    }

    /// Why moving from `self` to `next` is refused, if it is: a change may add customers to
    /// the treated ones, never take one out, and may shrink the holdout but never grow it
    /// (a customer held out was compared as untreated; treating them later is the end of a
    /// comparison, holding out one already treated would corrupt it). Each problem names its
    /// field.
    pub fn change_problems(self, next: Rollout) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if next.holdout_percent > self.holdout_percent {
            problems.push((
                "rollout.holdout_percent",
                format!(
                    "may not grow (it is {}): customers already treated would move into the \
                     holdout; start a new automation for a new comparison",
                    self.holdout_percent
                ),
            ));
        }
        // An empty cohort treats nobody, so nobody can leave it.
        if self.cohort_percent > 0 && next.cohort_end() < self.cohort_end() {
            problems.push((
                "rollout.cohort_percent",
                format!(
                    "holdout_percent + cohort_percent may not fall (it is {}): treated \
                     customers would leave the cohort",
                    self.cohort_end() / 100
                ),
            ));
        }
        problems
    }

    pub fn to_json(self) -> Value {
        json!({
            "cohort_percent": self.cohort_percent,
            "holdout_percent": self.holdout_percent,
        })
    }
}

/// Reads a `rollout` object; a field left out keeps its value in `base` (the defaults for a
/// new automation, the current rollout for a promotion).
pub fn parse_rollout(r: &mut Reader, path: &str, v: &Value, base: Rollout) -> Option<Rollout> {
    let obj = r.object(path, v, &["cohort_percent", "holdout_percent"])?;
    let percent = |r: &mut Reader, key: &str, max: u8, default: u8| match r.optional(obj, key) {
        None => Some(default),
        Some(p) => r
            .integer(&join(path, key), p, 0, i64::from(max))
            .map(|p| p as u8),
    };
    let cohort = percent(r, "cohort_percent", 100, base.cohort_percent);
    let holdout = percent(
        r,
        "holdout_percent",
        MAX_HOLDOUT_PERCENT,
        base.holdout_percent,
    );
    let (cohort, holdout) = (cohort?, holdout?);
    if u16::from(cohort) + u16::from(holdout) > 100 {
        r.error(
            join(path, "cohort_percent"),
            format!(
                "cohort_percent + holdout_percent must be at most 100, got {cohort} + {holdout}"
            ),
        );
        return None;
    }
    Some(Rollout {
        cohort_percent: cohort,
        holdout_percent: holdout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Computed with Python's hashlib, independently of this code:
    /// `int.from_bytes(hashlib.sha256(f"{t}:{a}:{c}".encode()).digest()[:8], "big") % 10000`.
    const VECTORS: &[(&str, &str, &str, u16)] = &[
        ("gym-north", "past-due-14-30", "cus_0001", 7456),
        ("t1", "a1", "c1", 3323),
        ("saas-eu", "dunning", "cus_Q.9-x", 7932),
        ("acme", "aging:ladder", "cus:9", 8514),
        ("gym-north", "gym-gold-call-14", "cus_0042", 8233),
    ];

    #[test]
    fn when_ids_are_hashed_should_give_the_buckets_python_computes() {
        for &(t, a, c, expected) in VECTORS {
            let got = bucket(
                &TenantId::new(t),
                &AutomationId::new(a),
                &CustomerId::new(c),
            );
            assert_eq!(got, expected, "{t}:{a}:{c}");
        }
    }

    #[test]
    fn when_a_bucket_is_placed_should_fall_in_holdout_then_cohort_then_outside() {
        let r = Rollout {
            cohort_percent: 10,
            holdout_percent: 10,
        };
        for (b, arm) in [
            (0, Arm::Holdout),
            (999, Arm::Holdout),
            (1000, Arm::Treated),
            (1999, Arm::Treated),
            (2000, Arm::NotInCohort),
            (9999, Arm::NotInCohort),
        ] {
            assert_eq!(r.arm(b), arm, "bucket {b}");
        }
        assert!((0..BUCKETS).all(|b| Rollout::default().arm(b) == Arm::Treated));
    }

    #[test]
    fn when_many_customers_are_bucketed_should_give_each_arm_its_share() {
        let r = Rollout {
            cohort_percent: 30,
            holdout_percent: 10,
        };
        let (t, a) = (TenantId::new("t1"), AutomationId::new("a1"));
        let mut counts = [0u32; 3];
        for i in 0..20_000 {
            let b = bucket(&t, &a, &CustomerId::new(format!("cus_{i}")));
            counts[r.arm(b) as usize] += 1;
        }
        // Binomial standard deviations are 42 (10%) and 65 (30%): 5 of them either side.
        assert!(
            (1_790..=2_210).contains(&counts[Arm::Holdout as usize]),
            "{counts:?}"
        );
        assert!(
            (5_675..=6_325).contains(&counts[Arm::Treated as usize]),
            "{counts:?}"
        );
    }

    fn read(v: Value) -> Result<Rollout, Vec<String>> {
        let mut r = Reader::new();
        let got = parse_rollout(&mut r, "rollout", &v, Rollout::default());
        r.finish(got)
            .map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn when_percentages_are_read_should_refuse_each_out_of_range_one_by_its_field() {
        assert_eq!(
            read(json!({"cohort_percent": 10, "holdout_percent": 10})),
            Ok(Rollout {
                cohort_percent: 10,
                holdout_percent: 10
            })
        );
        assert_eq!(
            read(json!({"holdout_percent": 5})),
            Err(vec![
                "rollout.cohort_percent: cohort_percent + holdout_percent must be at most \
                 100, got 100 + 5"
                    .to_owned()
            ])
        );
        let errors = read(json!({"cohort_percent": 101, "holdout_percent": 51})).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("rollout.cohort_percent: must be between 0 and 100"));
        assert!(errors[1].starts_with("rollout.holdout_percent: must be between 0 and 50"));
        let errors = read(json!({"cohort_percent": 12.5, "share": 1})).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("rollout.share: unknown field"))
        );
        assert!(errors.iter().any(|e| e.contains("decimal 12.5")));
    }

    #[test]
    fn when_a_change_would_take_customers_out_of_treatment_should_be_refused() {
        let r = |c, h| Rollout {
            cohort_percent: c,
            holdout_percent: h,
        };
        assert!(r(10, 10).change_problems(r(50, 10)).is_empty());
        assert!(r(10, 10).change_problems(r(20, 0)).is_empty());
        let fields = |a: Rollout, b: Rollout| -> Vec<&str> {
            a.change_problems(b).into_iter().map(|(f, _)| f).collect()
        };
        assert_eq!(fields(r(50, 10), r(40, 10)), ["rollout.cohort_percent"]);
        assert_eq!(fields(r(10, 10), r(10, 0)), ["rollout.cohort_percent"]);
        assert_eq!(fields(r(90, 0), r(80, 10)), ["rollout.holdout_percent"]);
    }

    proptest! {
        /// The validation admits a change exactly when no bucket leaves treatment and none
        /// joins the holdout; and customers' arms follow their buckets, so the same holds for
        /// them. Keeping the holdout's share keeps the holdout.
        #[test]
        fn promotion_never_takes_a_treated_customer_out_nor_moves_the_holdout(
            (h1, c1) in (0u8..=50).prop_flat_map(|h| (Just(h), 0..=100 - h)),
            (h2, c2) in (0u8..=50).prop_flat_map(|h| (Just(h), 0..=100 - h)),
            customers in proptest::collection::vec("[a-z0-9_]{1,12}", 1..40),
        ) {
            let (before, after) = (
                Rollout { cohort_percent: c1, holdout_percent: h1 },
                Rollout { cohort_percent: c2, holdout_percent: h2 },
            );
            let keeps = |b: u16| {
                let (was, is) = (before.arm(b), after.arm(b));
                (was != Arm::Treated || is == Arm::Treated)
                    && (is != Arm::Holdout || was == Arm::Holdout)
            };
            let admitted = before.change_problems(after).is_empty();
            prop_assert_eq!(admitted, (0..BUCKETS).all(keeps));
            if admitted {
                let (t, a) = (TenantId::new("t1"), AutomationId::new("a1"));
                for c in customers {
                    let b = bucket(&t, &a, &CustomerId::new(c));
                    prop_assert!(keeps(b));
                    if h1 == h2 {
                        prop_assert_eq!(before.arm(b) == Arm::Holdout, after.arm(b) == Arm::Holdout);
                    }
                }
            }
        }

        /// Raising only the cohort never removes a treated customer.
        #[test]
        fn raising_the_cohort_only_adds_customers(c1 in 0u8..=90, up in 0u8..=10, h in 0u8..=10) {
            let before = Rollout { cohort_percent: c1, holdout_percent: h };
            let after = Rollout { cohort_percent: (c1 + up).min(100 - h), holdout_percent: h };
            prop_assert!(before.change_problems(after).is_empty());
            for b in (0..BUCKETS).step_by(37) {
                if before.arm(b) == Arm::Treated {
                    prop_assert_eq!(after.arm(b), Arm::Treated);
                }
                prop_assert_eq!(before.arm(b) == Arm::Holdout, after.arm(b) == Arm::Holdout);
            }
        }
    }
}
