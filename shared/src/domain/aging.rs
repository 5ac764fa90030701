//! Aging, balance forward (SPEC §8.9): what a customer owes, split by how old it is, the way
//! an accountant ages a ledger that has no invoice allocation.
//!
//! With `owed = max(0, −balance)`, every increase of `owed` is a charge at its event's
//! instant, and every decrease pays the oldest unpaid charges first, so the unpaid charges
//! always add up to `owed`. The state keeps them by instant, not by local date: the fold has
//! no time zone (and a tenant may change its zone), so charges of one local date become one
//! when a table is drawn up ([`AgingTable::add`]), which gives the same table as merging them
//! in the fold. Past [`MAX_CHARGES`] the two oldest merge, dated at the older, and the state
//! remembers that it happened so the customer's explanation can say so.

use super::calendar::TenantCalendar;
use super::money::Currency;
use chrono::{DateTime, NaiveDate, Utc};

/// Unpaid charges kept per customer; past it the oldest merge.
pub const MAX_CHARGES: usize = 32;

/// One unpaid charge: what is left of one increase of what the customer owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    pub at: DateTime<Utc>,
    /// The unpaid remainder, in minor units of the balance's currency; always > 0.
    pub unpaid_minor: i64,
}

/// A customer's unpaid charges, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Charges {
    pub unpaid: Vec<Charge>,
    /// The instant of the newest charge merged into the oldest (past [`MAX_CHARGES`]): the
    /// oldest charge's date is then the date of the earliest of them. `None`: never merged
    /// since the customer last owed nothing.
    pub merged_through: Option<DateTime<Utc>>,
}

impl Charges {
    /// What is owed went from `before` to `after` (both ≥ 0, minor units) at instant `at`.
    pub fn owe(&mut self, before: i64, after: i64, at: DateTime<Utc>) {
        if after > before {
            self.unpaid.push(Charge {
                at,
                unpaid_minor: after - before,
            });
            if self.unpaid.len() > MAX_CHARGES {
                let newer = self.unpaid.remove(1);
                self.unpaid[0].unpaid_minor += newer.unpaid_minor;
                self.merged_through = Some(newer.at);
            }
        } else {
            self.pay(before - after);
        }
        if self.unpaid.is_empty() {
            self.merged_through = None;
        }
    }

    /// Pays `amount` off the oldest charges first.
    fn pay(&mut self, mut amount: i64) {
        let mut paid = 0;
        for charge in &mut self.unpaid {
            if amount == 0 {
                break;
            }
            let part = amount.min(charge.unpaid_minor);
            charge.unpaid_minor -= part;
            amount -= part;
            if charge.unpaid_minor == 0 {
                paid += 1;
            }
        }
        self.unpaid.drain(..paid);
    }

    pub fn total_minor(&self) -> i64 {
        self.unpaid.iter().map(|c| c.unpaid_minor).sum()
    }
}

/// The buckets of the table: days since the charge, inclusive (the last has no end).
pub const BUCKETS: [(&str, i64); 4] = [("0-30", 0), ("31-60", 31), ("61-90", 61), ("91+", 91)];

/// The bucket a charge `days` old falls in (a charge dated after the table's date, which
/// only an event from the future gives, counts as 0 days old).
pub fn bucket_of(days: i64) -> usize {
    BUCKETS
        .iter()
        .rposition(|(_, from)| days >= *from)
        .unwrap_or(0)
}

/// One bucket of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bucket {
    /// The unpaid remainder of the bucket's charges.
    pub amount_minor: i64,
    /// Customers whose oldest unpaid charge is in the bucket.
    pub customers: u64,
}

/// The aging of one currency's balances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyAging {
    pub currency: Currency,
    pub buckets: [Bucket; 4],
}

impl CurrencyAging {
    pub fn total_minor(&self) -> i64 {
        self.buckets.iter().map(|b| b.amount_minor).sum()
    }

    pub fn customers(&self) -> u64 {
        self.buckets.iter().map(|b| b.customers).sum()
    }
}

/// A tenant's aging on a local date, per currency (never summed across currencies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgingTable {
    pub date: NaiveDate,
    /// Sorted by currency.
    pub currencies: Vec<CurrencyAging>,
}

impl AgingTable {
    pub fn new(date: NaiveDate) -> Self {
        Self {
            date,
            currencies: Vec::new(),
        }
    }

    /// Adds one customer's unpaid charges, in `currency`, dated in `calendar`'s zone.
    pub fn add(&mut self, currency: Currency, charges: &[Charge], calendar: &TenantCalendar) {
        let Some(oldest) = charges.first() else {
            return;
        };
        let i = match self
            .currencies
            .binary_search_by(|c| c.currency.cmp(&currency))
        {
            Ok(i) => i,
            Err(i) => {
                self.currencies.insert(
                    i,
                    CurrencyAging {
                        currency,
                        buckets: [Bucket::default(); 4],
                    },
                );
                i
            }
        };
        let age = |at| (self.date - calendar.local_date(at)).num_days();
        let buckets = &mut self.currencies[i].buckets;
        for charge in charges {
            buckets[bucket_of(age(charge.at))].amount_minor += charge.unpaid_minor;
        }
        buckets[bucket_of(age(oldest.at))].customers += 1;
    }

    /// The table of `currency`, if anyone owes in it.
    pub fn currency(&self, currency: Currency) -> Option<&CurrencyAging> {
        self.currencies.iter().find(|c| c.currency == currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, hour, 0, 0).unwrap()
    }

    fn amounts(c: &Charges) -> Vec<i64> {
        c.unpaid.iter().map(|c| c.unpaid_minor).collect()
    }

    #[test]
    fn payments_go_to_the_oldest_charges_first() {
        let mut c = Charges::default();
        c.owe(0, 1000, at(1, 0));
        c.owe(1000, 1500, at(2, 0));
        c.owe(1500, 2500, at(3, 0));
        // 1,200 paid: all of the first charge and 200 of the second.
        c.owe(2500, 1300, at(4, 0));
        assert_eq!(amounts(&c), [300, 1000]);
        assert_eq!(c.unpaid[0].at, at(2, 0));
        assert_eq!(c.total_minor(), 1300);
        c.owe(1300, 0, at(5, 0));
        assert!(c.unpaid.is_empty());
    }

    #[test]
    fn past_the_bound_the_two_oldest_merge_and_it_is_remembered() {
        let mut c = Charges::default();
        for n in 0..MAX_CHARGES as i64 {
            c.owe(n * 10, (n + 1) * 10, at(1, 0) + chrono::Duration::days(n));
        }
        assert_eq!(c.unpaid.len(), MAX_CHARGES);
        assert_eq!(c.merged_through, None);
        let last = at(1, 0) + chrono::Duration::days(40);
        c.owe(320, 330, last);
        assert_eq!(c.unpaid.len(), MAX_CHARGES);
        assert_eq!(c.unpaid[0].at, at(1, 0));
        assert_eq!(c.unpaid[0].unpaid_minor, 20);
        assert_eq!(c.merged_through, Some(at(2, 0)));
        assert_eq!(c.total_minor(), 330);
        // Owing nothing again forgets the merge.
        c.owe(330, 0, last);
        assert_eq!(c.merged_through, None);
    }

    #[test]
    fn buckets_are_inclusive_at_their_ends() {
        let cases = [
            (-1, 0),
            (0, 0),
            (30, 0),
            (31, 1),
            (60, 1),
            (61, 2),
            (90, 2),
            (91, 3),
        ];
        for (days, bucket) in cases {
            assert_eq!(bucket_of(days), bucket, "{days} days");
        }
    }

    #[test]
    fn a_table_counts_each_customer_in_the_bucket_of_its_oldest_charge() {
        let usd = Currency::parse("USD").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        let ny = TenantCalendar::new(chrono_tz::America::New_York, 6);
        let date = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let mut table = AgingTable::new(date);
        // 2026-01-31 03:00 UTC is still January 30 in New York: 31 days before March 2.
        let jan_31_utc = Utc.with_ymd_and_hms(2026, 1, 31, 3, 0, 0).unwrap();
        let recent = Utc.with_ymd_and_hms(2026, 2, 20, 15, 0, 0).unwrap();
        table.add(
            usd,
            &[
                Charge {
                    at: jan_31_utc,
                    unpaid_minor: 700,
                },
                Charge {
                    at: recent,
                    unpaid_minor: 300,
                },
            ],
            &ny,
        );
        table.add(
            usd,
            &[Charge {
                at: recent,
                unpaid_minor: 50,
            }],
            &ny,
        );
        table.add(
            eur,
            &[Charge {
                at: recent,
                unpaid_minor: 9,
            }],
            &ny,
        );
        table.add(usd, &[], &ny);
        let usd_row = table.currency(usd).unwrap();
        assert_eq!(
            usd_row.buckets.map(|b| (b.amount_minor, b.customers)),
            [(350, 1), (700, 1), (0, 0), (0, 0)]
        );
        assert_eq!((usd_row.total_minor(), usd_row.customers()), (1050, 2));
        assert_eq!(table.currencies[0].currency, eur, "sorted by currency");
        assert_eq!(table.currency(eur).unwrap().total_minor(), 9);
    }
}
